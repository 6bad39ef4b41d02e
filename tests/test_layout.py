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


PROJECT = TESTS.parent
SAME_CONCEPT = {
    # one resource in each layer that serves it: the routes, the HTTP bodies, the store, the verb
    "jobs.py": "the jobs resource (api/routers, api/schemas, api/store)",
    "trials.py": "the trials resource (api/schemas, api/store)",
    "leaderboard.py": "the leaderboard resource (api/routers, api/schemas)",
    "results.py": "the results resource (api/routers, api/schemas)",
    "verdict.py": "the verdict: computed (nas), served (routers, schemas), printed (cli)",
    "export.py": "the export: written (nas), served (api/routers)",
    "common.py": "api/schemas/common.py only (the CLI's is api/cli/shared.py)",
    # one block kind: its torch-free rules (nas/blocks) and its torch module (nas/layers)
    **{
        f"{kind}.py": "one block kind's rules and its torch module"
        for kind in ("resnet", "plain", "mbconv", "inception", "fire", "dynamic_conv", "dense")
    },
    # the strategy registered as "diffstride" and the layer it searches with
    "diffstride.py": "the DiffStride layer (nas/layers) and the strategy named after it",
}


def test_no_two_modules_share_a_base_name_for_different_things() -> None:
    """Issue 27: five leaderboards, three registries and two oracles read as one another; a
    base name may repeat only for one concept served in several layers (SAME_CONCEPT)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for top in ("nas", "workers", "api"):
        for path in (PROJECT / top).rglob("*.py"):
            if path.name != "__init__.py":
                by_name[path.name].append(str(path.relative_to(PROJECT)))
    shared = {n: p for n, p in by_name.items() if len(p) > 1 and n not in SAME_CONCEPT}
    assert not shared, f"rename one of each: {shared}"
