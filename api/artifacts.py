"""Where the server keeps trained weights: ``<NAS_ARTIFACT_DIR>/job-<job>/trial-<trial>/``.

Each trial directory is a ``nas.export`` saved model, written by the worker (aside, then renamed
into place). The scheduler decides which trials save (``JobSpec.keep_weights``) and prunes
superseded ones; the export endpoint packages them; deleting a job deletes its directory.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from nas.export import remove_dir

log = logging.getLogger("nas.artifacts")
_TRIAL_DIR = re.compile(r"^trial-(\d+)$")


class Artifacts:
    """The artifact directory (made absolute: workers may run with another working dir)."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def job_dir(self, job_id: int) -> Path:
        return self.root / f"job-{job_id}"

    def trial_dir(self, job_id: int, trial_id: int) -> Path:
        return self.job_dir(job_id) / f"trial-{trial_id}"

    def saved(self, job_id: int) -> dict[int, Path]:
        """The trial directories of a job now on disk (not the hidden ones being written)."""
        try:
            entries = list(self.job_dir(job_id).iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return {}
        found: dict[int, Path] = {}
        for entry in entries:
            match = _TRIAL_DIR.match(entry.name)
            if match and entry.is_dir():
                found[int(match.group(1))] = entry
        return found

    def remove(self, path: Path) -> bool:
        """Delete one trial's (or job's) directory; errors are logged, never raised."""
        try:
            return remove_dir(path)
        except OSError as exc:
            log.warning("cannot delete %s: %s", path, exc)
            return False

    def remove_job(self, job_id: int) -> bool:
        return self.remove(self.job_dir(job_id))
