"""The one reader of a stored job: ``Job.spec`` (the submitted ``JobSpec`` as JSON) parsed back
into ``nas.job.JobSpec``, so api/ reads typed fields and the rules beside them (run keys,
budget shares, validation sizes), never the JSON's keys.

A spec parses once per distinct text (a small LRU cache; a job's spec changes only when its
budget is extended, which also bumps its ``version``). A stored spec that lacks a field added
since parses with that field's default, as it always did. One that does not parse (stored by
another version of the code) raises ``StoredSpecError`` naming the job and the field, rather
than being read by guesswork. The parsed spec is shared between callers: read it, never change
its lists or dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from nas.job import JobSpec

CACHED_SPECS = 256


class StoredSpecError(RuntimeError):
    """A stored job spec does not parse as this code's ``JobSpec``: the server (or the client
    that read it) and the store disagree, not the user's input."""


@lru_cache(maxsize=CACHED_SPECS)
def _parse(text: str) -> JobSpec:
    return JobSpec.parse(json.loads(text))


def stored_spec(data: Mapping[str, Any], job_id: int | None = None) -> JobSpec:
    """The ``JobSpec`` of a stored job (``data``: ``Job.spec``, or a ``JobOut``'s ``spec``);
    ``StoredSpecError`` when it does not parse."""
    try:
        return _parse(json.dumps(data, sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError) as exc:  # JobError is a ValueError
        whose = f"job {job_id}" if job_id is not None else "a job"
        raise StoredSpecError(
            f"{whose}: its stored spec does not parse ({exc}); was it stored by another "
            "version of nas?"
        ) from None
