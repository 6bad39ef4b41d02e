"""The JSON-lines protocol of the local workers and the Ray bridge round-trips every message."""

from __future__ import annotations

import pytest

from workers.executors.protocol import (
    Message,
    ProtocolError,
    cancel_line,
    decision_line,
    is_job_line,
    parse_cancel,
    parse_decision,
)


def test_started_and_error_carry_the_bridge_fields() -> None:
    started = Message.from_line(Message("started", pid=12, capacity=3).to_line())
    assert started == Message("started", pid=12, capacity=3)
    plain = Message.from_line(Message("started", pid=12).to_line())
    assert plain.capacity is None
    lost = Message("error", 7, error="worker died", retryable=True)
    assert Message.from_line(lost.to_line()) == lost
    assert Message.from_line(Message("error", 7, error="boom").to_line()).retryable is False


def test_capacity_and_waiting_round_trip() -> None:
    capacity = Message("capacity", capacity=5)
    assert Message.from_line(capacity.to_line()) == capacity
    waits = Message("waiting", 3, notice="a node with 0.25 GPU")
    assert Message.from_line(waits.to_line()) == waits
    over = Message.from_line(Message("waiting", 3).to_line())  # it waits no more
    assert over.trial_id == 3 and over.notice is None


def test_decisions_and_cancels_are_told_apart() -> None:
    assert parse_decision(decision_line(4, True, 2)) == (4, True, 2)
    assert parse_decision(decision_line(4, False)) == (4, False, None)
    assert parse_cancel(cancel_line(9)) == 9
    assert parse_cancel(decision_line(9, True)) is None
    assert parse_decision(cancel_line(9)) is None
    assert parse_cancel("cancel x") is None and parse_cancel("cancel") is None
    assert not is_job_line(cancel_line(9)) and is_job_line('{"trial_id": 1}')


@pytest.mark.parametrize("line", ["", "{", '{"type": "nope"}', '{"type": "progress"}'])
def test_bad_lines_raise_protocol_error(line: str) -> None:
    with pytest.raises(ProtocolError):
        Message.from_line(line)
