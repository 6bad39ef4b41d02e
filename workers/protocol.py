"""The JSON-lines protocol between ``LocalExecutor`` and ``python -m workers.trial_process``.

stdin, parent -> child: first line a ``TrialJob``; then decision lines ``continue N`` or
``stop N`` (``N``: the epoch they answer) or a bare ``stop``.

stdout, child -> parent: one ``Message`` per line: ``started`` (pid), ``progress`` (an
``EpochReport``), ``heartbeat``, and last ``result`` (a ``TrialResult``) or ``error`` (a
traceback summary).

Only plain values cross: requests, reports and results are pydantic models dumped to JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from nas.job import DatasetRef
from nas.trial import EpochReport, TrialRequest, TrialResult

MessageType = Literal["started", "progress", "heartbeat", "result", "error"]
STOP = "stop"
CONTINUE = "continue"


class ProtocolError(ValueError):
    """A line that is not a valid protocol message."""


@dataclass(frozen=True)
class TrialJob:
    """What the child runs: the first line of its stdin."""

    trial_id: int
    request: TrialRequest
    dataset: DatasetRef

    def to_line(self) -> str:
        payload = {
            "trial_id": self.trial_id,
            "request": self.request.model_dump(mode="json"),
            "dataset": self.dataset.model_dump(mode="json"),
        }
        return json.dumps(payload, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str) -> TrialJob:
        try:
            payload = json.loads(line)
            return cls(
                trial_id=int(payload["trial_id"]),
                request=TrialRequest.model_validate(payload["request"]),
                dataset=DatasetRef.model_validate(payload["dataset"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"bad trial job: {exc}") from exc


@dataclass(frozen=True)
class Message:
    """One line of the child's stdout."""

    type: MessageType
    pid: int | None = None
    report: EpochReport | None = None
    result: TrialResult | None = None
    error: str | None = None

    def to_line(self) -> str:
        payload: dict[str, Any] = {"type": self.type}
        if self.pid is not None:
            payload["pid"] = self.pid
        if self.report is not None:
            payload["report"] = self.report.model_dump(mode="json")
        if self.result is not None:
            payload["result"] = self.result.model_dump(mode="json")
        if self.error is not None:
            payload["error"] = self.error
        return json.dumps(payload, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str | bytes) -> Message:
        try:
            payload = json.loads(line)
            kind = payload["type"]
            if kind == "started":
                return cls("started", pid=int(payload["pid"]))
            if kind == "progress":
                return cls("progress", report=EpochReport.model_validate(payload["report"]))
            if kind == "heartbeat":
                return cls("heartbeat")
            if kind == "result":
                return cls("result", result=TrialResult.model_validate(payload["result"]))
            if kind == "error":
                return cls("error", error=str(payload["error"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"bad message: {exc}") from exc
        raise ProtocolError(f"unknown message type {kind!r}")


def decision_line(stop: bool, epoch: int | None = None) -> str:
    """The parent's answer to a progress report (``epoch`` omitted: applies to any epoch)."""
    word = STOP if stop else CONTINUE
    return f"{word}\n" if epoch is None else f"{word} {epoch}\n"


def parse_decision(line: str) -> tuple[bool, int | None] | None:
    """``(stop, epoch)`` of a decision line; None for anything else."""
    parts = line.split()
    if not parts or parts[0] not in (STOP, CONTINUE):
        return None
    epoch: int | None = None
    if len(parts) > 1:
        try:
            epoch = int(parts[1])
        except ValueError:
            return None
    return parts[0] == STOP, epoch
