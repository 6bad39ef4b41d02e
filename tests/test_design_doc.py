"""docs/design.md names only modules and files that exist: the layout block's tree, every
backticked path (``api/store/leases.py``) and every backticked dotted name under the project's
packages (``workers.jobs.runner.JobRunner``: its module must exist). A rename that forgets the
document fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"
TOP = ("nas", "workers", "api", "bench", "scripts", "tests", "migrations", "docs", "data")
TOP += ("examples",)
RUNTIME = ("tmp/", "artifacts/", "data/bench/", "data/oracles/")
"""Folders made by running things (or holding their outputs), named in prose as places."""


def layout_paths(text: str) -> list[str]:
    """The files and folders of the "Layout" code block, each as a path from the root."""
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    found, parents = [], []
    for line in block.splitlines():
        entry = re.match(r"^( *)(\S+?)(?:\s{2,}|$)", line)
        if not entry or len(entry.group(1)) > 8:
            continue  # a wrapped description
        name, depth = entry.group(2), len(entry.group(1)) // 2
        if not (name.endswith(("/", ".py", ".yml", ".toml", ".ini", ".md"))):
            continue
        parents = parents[:depth]
        found.append("".join(parents) + name)
        if name.endswith("/"):
            parents.append(name)
    return found


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`\s]+)`", text)


def module_exists(dotted: str) -> bool:
    """Some prefix of ``a.b.c`` of two or more parts is a module file or a package."""
    parts = dotted.split(".")
    for n in range(len(parts), 1, -1):
        path = ROOT.joinpath(*parts[:n])
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return True
    return False


def test_the_layout_block_names_files_that_exist() -> None:
    paths = layout_paths(DESIGN.read_text())
    assert len(paths) > 20, paths  # the parser still reads the block
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docs/design.md's layout names what does not exist: {missing}"


def test_backticked_paths_and_modules_exist() -> None:
    missing = []
    for token in backticked(DESIGN.read_text()):
        token = token.rstrip(".,:;")
        if re.fullmatch(r"[\w.-]+(/[\w.-]+)+/?", token) and token.split("/")[0] in TOP:
            if not token.startswith(RUNTIME) and not (ROOT / token).exists():
                missing.append(token)
        elif re.fullmatch(r"(nas|workers|api)(\.\w+)+", token) and not module_exists(token):
            missing.append(token)
    assert not missing, f"docs/design.md names what does not exist: {missing}"


def test_the_checks_can_fail() -> None:
    assert layout_paths("## Layout\n```\nnas/\n  gone.py   x\n```\n") == ["nas/", "nas/gone.py"]
    assert not module_exists("workers.no_such_module") and module_exists("workers.jobs.runner.X")
