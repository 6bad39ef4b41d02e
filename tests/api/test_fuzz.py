"""Property-based fuzzing of the whole OpenAPI surface with schemathesis, against the app on
loopback: no 500 for anything a client can send, every status code documented, every response
body matching its schema, 405s naming every allowed method.

Bounded for ``make test`` (``NAS_FUZZ_EXAMPLES`` cases per operation, default 30, fixed seed);
``bench/fuzz.py`` runs the long version and records its counts in docs/results.md. The
database holds a job with finished trials so that generated ids also reach found jobs. The CLI
runs in a subprocess (its pytest plugin does not support this pytest); its JUnit report says
how many cases ran.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.fuzz_run import fuzz

EXAMPLES = int(os.environ.get("NAS_FUZZ_EXAMPLES", "30"))


def test_no_server_errors_and_responses_match_the_schema(tmp_path: Path) -> None:
    outcome = fuzz(tmp_path, examples=EXAMPLES, seed=0)
    assert outcome.returncode == 0, outcome.report
    assert outcome.operations >= 14, outcome.report  # every operation was exercised
