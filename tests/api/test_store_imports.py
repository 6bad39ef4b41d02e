"""The store hands out domain records and knows nothing of HTTP: no module of ``api/store``
imports the HTTP bodies (``api.schemas``), the routers, or the comparison's HTTP-side homes
(``api.live_targets``, once ``api.targets``; ``api.pareto``); what it needs of their rules
comes from ``nas``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "api" / "store"
FORBIDDEN = (
    "api.schemas",
    "api.routers",
    "api.targets",
    "api.live_targets",
    "api.pareto",
    "fastapi",
    "starlette",
)


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN)


def imported(source: str, package: str) -> set[str]:
    """Every module an import statement of ``source`` (a module of ``package``) names, at any
    depth (inside functions and ``TYPE_CHECKING`` blocks too), relative imports resolved;
    ``from a import b`` names both ``a`` and ``a.b`` (``b`` may be a module)."""
    parts = package.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_no_store_module_imports_the_http_layer() -> None:
    modules = sorted(STORE.rglob("*.py"))
    assert len(modules) > 5
    bad = {}
    for path in modules:
        package = ".".join(path.relative_to(ROOT).parts[:-1])
        names = sorted(n for n in imported(path.read_text(), package) if _forbidden(n))
        if names:
            bad[str(path.relative_to(ROOT))] = names
    assert bad == {}


def test_the_scan_sees_every_kind_of_import() -> None:
    source = (
        "import fastapi\n"
        "from api import schemas\n"
        "def f():\n"
        "    from ..targets import run_keys\n"
        "from .rows import Factory\n"
    )
    names = imported(source, "api.store")
    assert {"fastapi", "api.schemas", "api.targets.run_keys", "api.store.rows"} <= names
    assert {n for n in names if _forbidden(n)} == {
        "fastapi",
        "api.schemas",
        "api.targets",
        "api.targets.run_keys",
    }


def test_importing_the_store_loads_no_http_module() -> None:
    """At run time too (the bodies it once exported resolve on first use only)."""
    code = (
        "import sys, api.store\n"
        f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
