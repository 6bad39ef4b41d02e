"""One schemathesis run against a seeded app on loopback (used by the test and bench/fuzz.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from api.app import create_app
from api.db.session import upgrade_database
from api.settings import Settings
from tests.fuzz_data import seed_database
from tests.threaded_server import serve_in_thread

# A schema-valid JobSpec can still name an unknown strategy or dataset: 422 is right for it,
# so "schema-valid request rejected" is not a defect here. Everything else is checked.
EXCLUDED_CHECKS = "positive_data_acceptance"


@dataclass(frozen=True)
class FuzzOutcome:
    returncode: int
    operations: int  # operations tested (JUnit test cases)
    cases: int  # generated requests
    failures: int
    report: str  # the end of schemathesis' output


def fuzz(
    root: Path, *, examples: int, seed: int, max_time: float | None = None, workers: int = 1
) -> FuzzOutcome:
    url = f"sqlite:///{root / 'nas.db'}"
    upgrade_database(url)
    seed_database(url)
    settings = Settings(database_url=url, executor="inline", artifact_dir=root / "artifacts")
    junit = root / "junit.xml"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--generation-database",
        "none",
        "--workers",
        str(workers),
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
    ]
    if max_time is not None:
        command += ["--max-time", str(max_time)]
    with serve_in_thread(create_app(settings, scheduler=False)) as base:
        done = subprocess.run(
            [*command, f"{base}/openapi.json"], capture_output=True, text=True, check=False
        )
    output = done.stdout + done.stderr
    match = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) unique failures", output)
    operations = 0
    if junit.exists():
        operations = len(ElementTree.parse(junit).getroot().findall(".//testcase"))
    return FuzzOutcome(
        returncode=done.returncode,
        operations=operations,
        cases=int(match.group(1)) if match else 0,
        failures=int(failures.group(1)) if failures else 0,
        report=output[-12000:],
    )
