"""The test tree stays collectable: pytest's default import mode puts each test directory on
``sys.path`` and imports a test module by its file name, so two test files with one name in
different directories (tests/api/test_x.py and tests/workers/test_x.py) fail collection with
"import file mismatch" on a fresh clone, whichever order the directories are walked in."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent


def test_no_two_test_modules_share_a_file_name() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        by_name[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
