"""Resumable benchmark runs: finished runs appended to a JSON-lines file, one per line.

A bench that trains for hours (the oracle tables, the robustness grid) writes each finished
run here before it goes on, so a killed bench, or one spread over several sittings, resumes
where it stopped. The first line is a header of the settings the runs were made with; a file
made with other settings is refused rather than mixed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

Run = TypeVar("Run", bound=BaseModel)


class Checkpoint(Generic[Run]):
    """Finished runs of type ``model``, looked up by ``key(run)``."""

    def __init__(
        self,
        path: Path,
        header: dict[str, Any],
        model: type[Run],
        key: Callable[[Run], Hashable],
    ) -> None:
        self.path, self.key = path, key
        self.runs: dict[Hashable, Run] = {}
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"header": header}) + "\n")
            return
        text = path.read_text()
        if text and not text.endswith("\n"):
            with path.open("a") as f:  # end a line cut short, so new runs start clean
                f.write("\n")
        lines = text.splitlines()
        found = json.loads(lines[0])["header"] if lines else header
        changed = sorted(k for k in header.keys() | found.keys() if header.get(k) != found.get(k))
        if changed:
            raise SystemExit(
                f"{path} was made with other settings ({', '.join(changed)}); "
                "delete it to start afresh"
            )
        for line in filter(str.strip, lines[1:]):
            try:
                run = model.model_validate_json(line)
            except ValueError:
                continue  # a line cut short by a kill: that run trains again
            self.runs[key(run)] = run

    def get(self, key: Hashable) -> Run | None:
        return self.runs.get(key)

    def add(self, run: Run) -> None:
        """Append one run, flushed to disk before returning."""
        with self.path.open("a") as f:
            f.write(run.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.runs[self.key(run)] = run

    def __len__(self) -> int:
        return len(self.runs)
