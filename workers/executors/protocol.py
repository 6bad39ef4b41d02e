"""The JSON-lines protocol between ``LocalExecutor`` and its ``python -m
workers.executors.trial_process`` workers.

A worker serves many trials, one at a time, and keeps its data cache warm between them.

stdin, parent -> worker: ``TrialJob`` lines (JSON objects), one whenever the worker is idle;
while a trial runs, decision lines ``continue T N`` or ``stop T N`` (``T``: the trial, ``N``: the
epoch they answer) or ``stop T``. Closing stdin tells an idle worker to exit.

The Ray bridge (``python -m workers.executors.ray_bridge``) speaks the same lines for many trials
at once:
``TrialJob`` lines at any time, decisions, and ``cancel T``; its ``started`` names its
``capacity`` and a lost-worker ``error`` is marked ``retryable``. It also writes ``capacity``
(N) when the cluster's nodes change what it runs at once, and ``waiting`` (T, ``notice``) when a
trial waits for a node that can host it ("a node with 0.25 GPU"; no notice: it waits no more).

stdout, worker -> parent: one ``Message`` per line: ``started`` (pid) once, ``heartbeat`` every
few seconds, and per trial ``progress`` (an ``EpochReport``) lines then ``result`` (a
``TrialResult``) or ``error`` (a traceback summary), each naming its trial.

Only plain values cross: requests, reports and results are pydantic models dumped to JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from nas.job import DatasetRef
from nas.trial import EpochReport, TrialRequest, TrialResult

MessageType = Literal["started", "progress", "heartbeat", "result", "error", "capacity", "waiting"]
STOP = "stop"
CONTINUE = "continue"
CANCEL = "cancel"


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
    trial_id: int | None = None
    pid: int | None = None
    report: EpochReport | None = None
    result: TrialResult | None = None
    error: str | None = None
    capacity: int | None = None  # ``started``, ``capacity`` of the Ray bridge: trials at once
    retryable: bool = False  # ``error``: the worker was lost, the trial may run again
    notice: str | None = None  # ``waiting``: what the trial waits for (None: no more)

    def to_line(self) -> str:
        payload: dict[str, Any] = {"type": self.type}
        if self.trial_id is not None:
            payload["trial_id"] = self.trial_id
        if self.pid is not None:
            payload["pid"] = self.pid
        if self.report is not None:
            payload["report"] = self.report.model_dump(mode="json")
        if self.result is not None:
            payload["result"] = self.result.model_dump(mode="json")
        if self.error is not None:
            payload["error"] = self.error
        if self.capacity is not None:
            payload["capacity"] = self.capacity
        if self.retryable:
            payload["retryable"] = True
        if self.notice is not None:
            payload["notice"] = self.notice
        return json.dumps(payload, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str | bytes) -> Message:
        try:
            payload = json.loads(line)
            kind = payload["type"]
            raw_trial = payload.get("trial_id")
            trial_id = int(raw_trial) if raw_trial is not None else None
            if kind == "started":
                capacity = payload.get("capacity")
                return cls(
                    "started",
                    pid=int(payload["pid"]),
                    capacity=int(capacity) if capacity is not None else None,
                )
            if kind == "progress":
                report = EpochReport.model_validate(payload["report"])
                return cls("progress", trial_id, report=report)
            if kind == "heartbeat":
                return cls("heartbeat")
            if kind == "capacity":
                return cls("capacity", capacity=int(payload["capacity"]))
            if kind == "waiting":
                notice = payload.get("notice")
                return cls("waiting", trial_id, notice=str(notice) if notice is not None else None)
            if kind == "result":
                result = TrialResult.model_validate(payload["result"])
                return cls("result", trial_id, result=result)
            if kind == "error":
                retryable = bool(payload.get("retryable", False))
                return cls("error", trial_id, error=str(payload["error"]), retryable=retryable)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"bad message: {exc}") from exc
        raise ProtocolError(f"unknown message type {kind!r}")


def decision_line(trial_id: int, stop: bool, epoch: int | None = None) -> str:
    """The parent's answer to a progress report of ``trial_id`` (``epoch`` omitted: any)."""
    word = STOP if stop else CONTINUE
    return f"{word} {trial_id}\n" if epoch is None else f"{word} {trial_id} {epoch}\n"


def parse_decision(line: str) -> tuple[int, bool, int | None] | None:
    """``(trial_id, stop, epoch)`` of a decision line; None for anything else."""
    parts = line.split()
    if len(parts) not in (2, 3) or parts[0] not in (STOP, CONTINUE):
        return None
    try:
        numbers = [int(p) for p in parts[1:]]
    except ValueError:
        return None
    epoch = numbers[1] if len(numbers) > 1 else None
    return numbers[0], parts[0] == STOP, epoch


def is_job_line(line: str) -> bool:
    """Whether a stdin line is a ``TrialJob`` (JSON object) rather than a decision."""
    return line.lstrip().startswith("{")


def cancel_line(trial_id: int) -> str:
    """Tell the Ray bridge to drop ``trial_id`` (no completion follows)."""
    return f"{CANCEL} {trial_id}\n"


def parse_cancel(line: str) -> int | None:
    """The trial of a ``cancel T`` line; None for anything else."""
    parts = line.split()
    if len(parts) != 2 or parts[0] != CANCEL or not parts[1].isdigit():
        return None
    return int(parts[1])
