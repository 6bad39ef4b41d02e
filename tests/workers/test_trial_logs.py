"""A failed trial's log: its worker's stderr since the trial began, with the traceback, bounded
to 64 kB (the end kept); each trial of a reused worker gets only its own share."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from nas.job import DatasetRef
from nas.models import preset
from nas.trial import TrialRequest
from workers.executors.interface import Completion, InlineExecutor
from workers.executors.local_workers import LocalExecutor
from workers.executors.processes import LOG_LIMIT, bounded_log, read_since

DATA = DatasetRef(name="synthetic", subset=20)

# A worker that speaks the protocol without torch: trial 1 says hello and fails, trial 2 writes
# 100 kB to stderr and fails, trial 3 writes a little and dies (exit code 3).
FAKE_WORKER = textwrap.dedent(
    """
    import json, os, sys
    out = os.fdopen(os.dup(1), "w", buffering=1)
    out.write(json.dumps({"type": "started", "pid": os.getpid()}) + "\\n")
    for line in sys.stdin:
        trial = json.loads(line)["trial_id"]
        if trial == 1:
            print("hello from trial 1", file=sys.stderr)
        if trial == 2:
            for i in range(2000):
                print(f"noise line {i:05d} " + "x" * 40, file=sys.stderr)
        print("Traceback (most recent call last):", file=sys.stderr)
        print(f"FakeError: trial {trial} went wrong", file=sys.stderr)
        sys.stderr.flush()
        if trial == 3:
            os._exit(3)
        message = {"type": "error", "trial_id": trial, "error": f"FakeError: trial {trial}"}
        out.write(json.dumps(message) + "\\n")
    """
)


@pytest.fixture
def fake_python(tmp_path: Path) -> str:
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {worker} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def request() -> TrialRequest:
    return TrialRequest(spec=preset("resnet_narrow_fmnist"), epochs=1)


def run_one(executor: LocalExecutor, trial_id: int) -> Completion:
    executor.submit(trial_id, request(), DATA, lambda report: False)
    for _ in range(200):
        done = executor.wait(timeout=0.5)
        if done:
            [completion] = done
            return completion
    raise AssertionError(f"trial {trial_id} did not complete")


def test_each_failed_trial_of_a_reused_worker_keeps_its_own_bounded_log(fake_python: str) -> None:
    executor = LocalExecutor(capacity=1, python=fake_python, heartbeat_interval=0.5)
    try:
        first = run_one(executor, 1)
        second = run_one(executor, 2)
        assert executor.workers() == 1  # one worker, reused (a failed trial does not end it)
        died = run_one(executor, 3)
    finally:
        executor.shutdown()

    assert first.error == "FakeError: trial 1" and first.log is not None
    assert first.log.startswith("hello from trial 1")
    assert first.log.rstrip().endswith("FakeError: trial 1 went wrong")

    assert second.log is not None
    assert "hello from trial 1" not in second.log  # only what it wrote itself
    assert len(second.log.encode()) <= LOG_LIMIT < 2000 * 52
    assert second.log.startswith("[... ") and "bytes before this ...]" in second.log
    assert "noise line 01999" in second.log and "noise line 00000" not in second.log
    assert second.log.rstrip().endswith("FakeError: trial 2 went wrong")

    assert died.retryable and died.error is not None and "exit" in died.error
    assert died.log is not None and "noise line" not in died.log
    assert died.log.rstrip().endswith("FakeError: trial 3 went wrong")


def test_a_trial_raising_inline_keeps_its_whole_traceback() -> None:
    executor = InlineExecutor()
    bad = request().model_copy(update={"epochs": 1})
    executor.submit(7, bad, DatasetRef(name="no-such-dataset"), lambda report: False)
    [done] = executor.wait()
    assert done.result is None and done.log is not None
    assert done.log.startswith("Traceback (most recent call last)")
    assert "no-such-dataset" in done.log


def test_logs_are_cut_to_their_last_64_kb_at_a_line() -> None:
    short = "one line\n"
    assert bounded_log(short) == short
    text = "".join(f"line {i} é\n" for i in range(20_000)) + "the end"
    kept = bounded_log(text)
    assert len(kept.encode()) <= LOG_LIMIT
    assert kept.endswith("the end") and "line 19999 é" in kept
    body = kept.split("\n", 1)[1]
    assert body.startswith("line ")  # from a line start
    left_out = int(kept.split()[1])
    assert left_out == len(text.encode()) - len(body.encode())


def test_read_since_reads_only_what_came_after(tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    path.write_bytes(b"before\n")
    with path.open("a+b") as stream:
        start = path.stat().st_size
        stream.write(b"after\n")
        stream.flush()
        assert read_since(stream, start) == "after\n"
        assert read_since(stream, path.stat().st_size) == ""
        stream.write(b"z" * 100 + b"\nlast\n")
        stream.flush()
        tail = read_since(stream, start, limit=64)
        assert len(tail.encode()) <= 64 and tail.endswith("last\n")
