"""No import circle between the product's modules, type-only imports included.

The graph is read from the source (``ast``), not from ``sys.modules``: every ``import`` and
``from ... import`` in ``nas/``, ``workers/`` and ``api/`` counts, at the top of a module, in a
function (a registry's lazy loader) and under ``if TYPE_CHECKING:``. An edge goes from a module
to the module it names: ``from pkg import name`` names ``pkg.name`` when that is a module, else
``pkg`` (its ``__init__``); relative imports are resolved. The block kinds' builders, which
``nas.layers.builders`` imports by name (``"module:function"``, ``nas.blocks.catalog``), are
edges too.

One exclusion: importing ``pkg.sub`` also runs ``pkg/__init__.py`` first, and that implicit
edge ``pkg.sub -> pkg`` is not counted (it would make every package whose ``__init__`` imports
one of its submodules a circle by construction). A submodule that imports a *name* of its
package's ``__init__`` (``from pkg import register``) is an explicit edge and is counted.

The layering is checked on the same graph: ``api -> workers -> nas``; ``nas`` imports neither,
``workers`` never imports ``api``, and ``workers.executors`` never imports ``workers.jobs``.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nas", "workers", "api")
Graph = dict[str, set[str]]


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of ``packages`` under ``root`` by dotted name (a package by its own)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """``name`` or its nearest enclosing module that is one of ours (None: not ours)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported(
    module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: Mapping[str, Path]
) -> set[str]:
    """The modules of ours one import statement of ``module`` names."""
    targets: set[str | None] = set()
    if isinstance(node, ast.Import):
        targets = {_known(alias.name, modules) for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        for alias in node.names:
            full = f"{base}.{alias.name}"
            targets.add(full if full in modules else _known(base, modules))
    return {t for t in targets if t is not None and t != module}


def import_graph(modules: Mapping[str, Path]) -> Graph:
    """module -> the modules it imports anywhere in its source."""
    graph: Graph = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= imported(module, path, node, modules)
        graph[module] = edges
    return graph


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One circle (``[a, b, ..., a]``) per strongly connected component of more than one
    module (Tarjan's algorithm), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:  # iterative, so a deep graph cannot overflow
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_circle_in(graph, component) for component in components)


def _circle_in(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """The shortest circle through the component's first module (breadth first)."""
    start = min(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(graph[node] & component):
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if succ not in came_from:
                came_from[succ] = node
                queue.append(succ)
    raise AssertionError(f"no circle through {start}")  # a component always has one


def builder_edges(modules: Mapping[str, Path]) -> Graph:
    """The block builders ``nas.layers.builders`` imports by name, as edges."""
    from nas.blocks.catalog import BUILTINS  # torch-free

    builders = {kind.builder.partition(":")[0] for kind in BUILTINS}
    assert builders <= set(modules), builders - set(modules)
    return {"nas.layers.builders": builders}


def product_graph() -> Graph:
    modules = module_files(ROOT, PACKAGES)
    graph = import_graph(modules)
    for module, edges in builder_edges(modules).items():
        graph[module] |= edges
    return graph


# ---- the product ---------------------------------------------------------------------------


def test_no_import_circle_between_modules() -> None:
    found = circles(product_graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("nas", ("workers", "api")),
        ("workers", ("api",)),
        ("workers.executors", ("workers.jobs",)),
    ],
)
def test_dependencies_point_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    """``api -> workers -> nas``: nas imports neither, workers never imports api; in workers,
    ``jobs -> executors``: where a trial runs knows nothing of the job it belongs to."""
    graph = product_graph()
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if within(module, layer)
        for target in targets
        if any(within(target, package) for package in forbidden)
    )
    assert not wrong, wrong


# ---- the graph reader itself -----------------------------------------------------------------


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_type_only_and_function_level_imports_make_circles(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "p/__init__.py": "",
            "p/a.py": "from p.b import x\n",
            "p/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from p.c import y\n",
            "p/c.py": "def load():\n    from . import a\n",
            "p/d.py": "import p.a\n",
        },
    )
    graph = import_graph(module_files(tmp_path, ["p"]))
    assert graph["p.c"] == {"p.a"} and graph["p.d"] == {"p.a"}
    assert circles(graph) == [["p.a", "p.b", "p.c", "p.a"]]


def test_a_package_init_importing_its_submodules_is_no_circle_unless_they_import_it_back(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "q/__init__.py": "from q.sub import thing\nfrom q import other\n",
            "q/sub.py": "import os\nthing = 1\n",
            "q/other.py": "from .sub import thing\n",
            "r/__init__.py": "def load():\n    from r import plugin\nREGISTRY = {}\n",
            "r/plugin.py": "from r import REGISTRY\n",
        },
    )
    graph = import_graph(module_files(tmp_path, ["q", "r"]))
    assert graph["q"] == {"q.sub", "q.other"} and graph["q.other"] == {"q.sub"}
    assert circles(graph) == [["r", "r.plugin", "r"]]
