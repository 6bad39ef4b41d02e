"""The documentation and the public API are a contract.

Every ``python`` block of README.md and docs/ runs; every ``nas ...`` line in their code blocks
parses against the real command line; every ``make`` target they name exists; and every name a
package ever exported stays importable (``nas.layers`` without importing torch).
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from api.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PYTHON = {"python", "py", "python3"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its file, the line of its opening fence (1-based), language, lines."""

    path: Path
    line: int
    lang: str
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path, text: str | None = None) -> list[Block]:
    """The fenced code blocks of a markdown file, dedented by their fence's indent."""
    blocks: list[Block] = []
    lines = (path.read_text() if text is None else text).splitlines()
    opened: tuple[int, str, str, str] | None = None  # line index, indent, fence, language
    body: list[str] = []
    for i, line in enumerate(lines):
        if opened is None:
            if match := FENCE.match(line):
                opened = (i, match["indent"], match["fence"], match["lang"].lower())
                body = []
            continue
        start, indent, fence, lang = opened
        stripped = line.strip()
        if stripped.startswith(fence) and not stripped.strip(fence[0]):
            blocks.append(Block(path, start + 1, lang, tuple(body)))
            opened = None
        else:
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
    return blocks


def code_spans(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, text) of every fenced code line and inline code span outside the fences."""
    source = path.read_text() if text is None else text
    lines = source.splitlines()
    found: list[tuple[int, str]] = []
    for block in fenced_blocks(path, source):
        found += [(block.line + 1 + k, line) for k, line in enumerate(block.lines)]
        lines[block.line - 1 : block.line + len(block.lines) + 1] = [""] * (len(block.lines) + 2)
    prose = "\n".join(lines)
    for match in re.finditer(r"`([^`]+)`", prose):
        found.append((prose.count("\n", 0, match.start()) + 1, match[1]))
    return found


def python_blocks() -> list[Block]:
    return [block for path in DOCS for block in fenced_blocks(path) if block.lang in PYTHON]


def cli_lines() -> list[tuple[str, str]]:
    """(where, line) of every line of a fenced block that starts with ``nas ``."""
    return [
        (f"{block.where.rsplit(':', 1)[0]}:{block.line + 1 + k}", line.strip())
        for path in DOCS
        for block in fenced_blocks(path)
        for k, line in enumerate(block.lines)
        if line.strip().startswith("nas ")
    ]


def make_mentions() -> list[tuple[str, str]]:
    """(where, target) of every ``make TARGET`` in a code block or code span."""
    found = []
    for path in DOCS:
        for line, code in code_spans(path):
            command = code.split("#", 1)[0]
            for match in re.finditer(r"(?<![\w-])make((?:\s+[A-Za-z][\w.-]*)+)", command):
                where = f"{path.relative_to(ROOT)}:{line}"
                found += [(where, target) for target in match[1].split()]
    return found


def makefile_targets() -> set[str]:
    """The targets with a rule in the Makefile (``name: ...``, not ``NAME := ...``)."""
    rules = re.findall(r"^([^\s#=:$][^:=]*?)\s*::?(?!=)", (ROOT / "Makefile").read_text(), re.M)
    return {target for rule in rules for target in rule.split() if not target.startswith(".")}


def parse_cli(line: str) -> typer.Context:
    """Parse ``nas ...`` with the real command line's parser (typer's click), invoking nothing:
    walk the sub-commands by name, then let the leaf command parse its options and arguments."""
    words = shlex.split(line, comments=True)  # drops a trailing ``# comment``
    assert words[0] == "nas", line
    command = typer.main.get_command(app)
    context = typer.Context(command, info_name="nas")
    name, args = "nas", words[1:]
    while isinstance(command, TyperGroup):
        if not args or args[0].startswith("-"):
            pytest.fail(f"{line!r}: no sub-command after {context.command_path!r}")
        name, *args = args
        found = command.get_command(context, name)
        if found is None:
            known = ", ".join(command.list_commands(context))
            pytest.fail(f"{line!r}: {context.command_path!r} has no command {name!r} ({known})")
        command = found
        if isinstance(command, TyperGroup):
            context = typer.Context(command, info_name=name, parent=context)
    try:
        return command.make_context(name, args, parent=context)
    except typer.TyperException as exc:  # click's usage errors: unknown option, bad value, ...
        pytest.fail(f"{line!r}: {exc}")


# ---- the extractors themselves (so an empty parametrization cannot pass unnoticed) -----------

SAMPLE = """\
Intro `make lint` and `CI=true make test`.

```python
x = 1
```

- a list item:

  ```
  nas jobs   # a comment
  make run
  ```
"""


def test_extractors_find_blocks_lines_and_targets() -> None:
    path = ROOT / "SAMPLE.md"
    blocks = fenced_blocks(path, SAMPLE)
    assert [(b.line, b.lang, b.lines) for b in blocks] == [
        (3, "python", ("x = 1",)),
        (9, "", ("nas jobs   # a comment", "make run")),
    ]
    assert code_spans(path, SAMPLE) == [
        (4, "x = 1"),
        (10, "nas jobs   # a comment"),
        (11, "make run"),
        (1, "make lint"),
        (1, "CI=true make test"),
    ]
    assert {"install", "lint", "test", "test-all", "run", "bench", "vendor"} <= makefile_targets()
    assert not {"STAMP", "PY", ".PHONY"} & makefile_targets()


def test_the_docs_have_what_these_tests_check() -> None:
    assert any(block.path.name == "README.md" for block in python_blocks())
    assert any(where.startswith("README.md:") for where, _ in cli_lines())
    assert {target for _, target in make_mentions()} >= {"run", "test"}


# ---- the docs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.where)
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    """Runs in a fresh interpreter in a folder of its own whose entries link to the repository's
    (but for the packages, imported from the checkout through PYTHONPATH), so a block reads the
    files it names and a file it writes lands in that folder. Blank lines before the code make
    its traceback's line numbers the markdown file's."""
    for entry in ROOT.iterdir():
        if not entry.name.startswith(".") and not (entry / "__init__.py").exists():
            (tmp_path / entry.name).symlink_to(entry)
    code = "\n" * block.line + "\n".join(block.lines) + "\n"
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.fail(f"{block.where} failed (exit {done.returncode}):\n{done.stderr}")


@pytest.mark.parametrize(("where", "line"), cli_lines(), ids=[where for where, _ in cli_lines()])
def test_cli_line_parses(where: str, line: str) -> None:
    """Options and arguments are parsed and converted (``--top 10`` an int), nothing runs, so
    placeholders such as ``JOB.yaml`` are fine."""
    context = parse_cli(line)
    assert context.command.callback is not None, f"{where}: {line!r} names no command"


@pytest.mark.parametrize(
    ("where", "target"), make_mentions(), ids=[f"{w}:{t}" for w, t in make_mentions()]
)
def test_make_target_exists(where: str, target: str) -> None:
    known = makefile_targets()
    assert target in known, f"{where}: 'make {target}' but the Makefile has {sorted(known)}"


def test_a_bad_cli_line_fails() -> None:
    """The parse is real: an unknown option, a missing argument and an unknown verb fail."""
    parse_cli("nas leaderboard 1 --top 10   # fine")
    for line in ("nas leaderboard 1 --tpo 10", "nas log 1", "nas lederboard 1", "nas keys"):
        with pytest.raises(pytest.fail.Exception):
            parse_cli(line)


# ---- the public API ---------------------------------------------------------------------------

# Every name each package (or the module it replaced) has exported: removing one breaks users.
ONCE_EXPORTED: dict[str, tuple[str, ...]] = {
    "nas": ("__version__",),
    "nas.layers": (
        "DiffStride",
        "SpectralPool",
        "block_names",
        "complexity_regularizer",
        "get_block",
        "register_block",
    ),
    "nas.models": ("Network", "build_model", "preset", "preset_names", "presets"),
    "nas.models.presets": ("preset", "preset_names"),
    "nas.data": (
        "Augment",
        "ImageData",
        "RawImages",
        "batches",
        "load",
        "names",
        "prepare",
        "register",
    ),
    "nas.strategies": (
        "STRATEGIES",
        "SearchStrategy",
        "StrategyContext",
        "TrialRecord",
        "get",
        "names",
        "register",
    ),
    "api.cli": (
        "DEFAULT_SERVER",
        "FINISHED_TRIAL_STATES",
        "FRACTIONS",
        "ApiKey",
        "AsJson",
        "DatabaseUrl",
        "Server",
        "SimulatedStrategy",
        "app",
        "best",
        "cancel",
        "console",
        "err_console",
        "extend",
        "fail",
        "keys_app",
        "keys_create",
        "keys_list",
        "keys_revoke",
        "leaderboard",
        "list_jobs",
        "run",
        "serve",
        "submit",
        "train",
        "trial_log",
    ),
    "api.schemas": (
        "MAX_ERROR_CHARS",
        "MAX_ID",
        "MAX_PAGE",
        "READ_ERRORS",
        "WRITE_ERRORS",
        "BestOut",
        "CompareJob",
        "CompareOut",
        "CompareSeries",
        "Cursor",
        "Curve",
        "ErrorOut",
        "ExtendIn",
        "FieldError",
        "Front",
        "Health",
        "Id",
        "JobOut",
        "JobProgress",
        "JobRecord",
        "JobSummary",
        "LeaderboardOut",
        "Offset",
        "Page",
        "Progress",
        "StrideTrajectory",
        "TrialColumns",
        "TrialLog",
        "TrialOut",
        "TrialRow",
        "TrialSummary",
        "ValidationErrorOut",
        "errors",
    ),
    # the comparison's rules moved to nas/ (nas.pareto, nas.targets, nas.compare, nas.bands,
    # nas.recommend); their old homes re-export them
    "api.pareto": ("ParetoFront", "pareto_front"),
    "api.targets": (
        "IQR_FROM",
        "MAX_MARGIN",
        "MIN_MARGIN",
        "RULE",
        "BandCurve",
        "Target",
        "band_curve",
        "best_of",
        "best_so_far",
        "live_target",
        "quantile",
    ),
    "nas.oracle": ("MIN_MARGIN",),
    "workers.confirm": ("better", "recommendation"),
    "api.store": (
        "CANCELLED",
        "JOB_TRANSITIONS",
        "MAX_EXTENSION",
        "SORT_COLUMNS",
        "TERMINAL_JOB_STATES",
        "Factory",
        "JobList",
        "JobRecord",
        "JobRepository",
        "JobStateName",
        "LeaseLost",
        "LeaseState",
        "ReportList",
        "SqlTrialStore",
        "TrialList",
        "TrialLog",
        "TrialSummary",
        "insert_trials",
    ),
}
PACKAGES = sorted(
    ".".join(init.parent.relative_to(ROOT).parts)
    for top in ("nas", "workers", "api")
    for init in (ROOT / top).rglob("__init__.py")
)


MOVED = {
    # issue 27's renames (nas.moved): the old path imports the new module itself
    "nas.search": "nas.search_space",
    "nas.data.registry": "nas.data.sources",
    "nas.layers.registry": "nas.layers.builders",
    "workers.leaderboard": "workers.jobs.ranking",
    "workers.oracle": "workers.jobs.simulation",
    # the split of workers/ into executors (where trials run) and jobs (running a job)
    "workers.executor": "workers.executors.interface",
    "workers.local_executor": "workers.executors.local_workers",
    "workers.ray_executor": "workers.executors.ray_actors",
    "workers.ray_supervisor": "workers.executors.ray_supervised",
    "workers.ray_bridge": "workers.executors.ray_bridge",
    "workers.processes": "workers.executors.processes",
    "workers.protocol": "workers.executors.protocol",
    "workers.backoff": "workers.executors.backoff",
    "workers.trial_process": "workers.executors.trial_process",
    "workers.trial_entry": "workers.executors.trial_entry",
    **{
        f"workers.{name}": f"workers.jobs.{name}"
        for name in [
            "runner",
            "pool",
            "steps",
            "budget",
            "confirm",
            "store",
            "ranking",
            "simulation",
            "units",
        ]
    },
    "api.leaderboard": "api.live_board",
    "api.leaderboards": "api.board_cache",
    "api.results": "api.result_tables",
    "api.targets": "api.live_targets",
    "api.pareto": "nas.pareto",
    "api.errors": "api.error_responses",
    "api.cli.common": "api.cli.shared",
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_module_imports_from_its_old_path(old: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(MOVED[old])


@pytest.mark.parametrize("module", sorted(ONCE_EXPORTED))
def test_once_exported_names_stay_importable(module: str) -> None:
    found = importlib.import_module(module)
    missing = [name for name in ONCE_EXPORTED[module] if not hasattr(found, name)]
    assert not missing, f"{module} no longer exports {missing}"


@pytest.mark.parametrize("module", PACKAGES)
def test_every_name_in_all_resolves(module: str) -> None:
    found = importlib.import_module(module)
    exported = getattr(found, "__all__", [])
    assert not [name for name in exported if not hasattr(found, name)]
    assert set(exported) <= set(dir(found))


def test_nas_layers_is_torch_free_until_a_layer_is_used() -> None:
    """``import nas.layers`` imports no torch (nor does ``block_names``, from the torch-free
    block rules); ``nas.layers.DiffStride`` loads torch and the class, and keeps it."""
    code = """\
import sys
import nas.layers
assert "torch" not in sys.modules, "import nas.layers imported torch"
assert {"DiffStride", "SpectralPool", "get_block"} <= set(dir(nas.layers))
from nas.layers import block_names
assert "basic" in block_names()
assert "torch" not in sys.modules, "block_names imported torch"
from nas.layers import DiffStride
assert "torch" in sys.modules
import nas.layers.diffstride
assert DiffStride is nas.layers.diffstride.DiffStride is nas.layers.DiffStride
assert "DiffStride" in vars(nas.layers)
try:
    nas.layers.NoSuchLayer
except AttributeError as exc:
    assert "NoSuchLayer" in str(exc)
else:
    raise AssertionError("an unknown name resolved")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    if done.returncode != 0:
        pytest.fail(f"line {done.stderr.rsplit('line ', 1)[-1]}\n{code}")
