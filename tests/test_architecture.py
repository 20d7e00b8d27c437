"""The shape of the code: no import cycles, imports only go down the layers, plugins import only interfaces and
backends, no private names imported across modules, and docs/ARCHITECTURE.md names only things that exist.

Read statically (``ast``), so nothing is imported. A module-level import is one executed when the module is imported
(at the top, or inside a module-level ``if``/``try``/class body); a lazy import is one inside a function. The layers
and their rules are described in docs/ARCHITECTURE.md; ``LAYERS`` below is the same list, bottom first.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "topobench"
# Bottom first: a module may import its own layer and the layers before it, never one after it.
LAYERS = ("core", "backends", "corpus", "datasets", "runs", "metrics", "training", "encoding", "report", "study",
          "service", "cli")
# Upward imports kept on purpose, each inside a function (so importing the lower module never imports the upper one),
# with the reason. docs/ARCHITECTURE.md lists the same ones.
LATE_BOUND = {
    ("topobench.report.html_report", "topobench.study.report"):
        "the HTML report (plot.py --report) adds a page per study, which the study layer draws with the report "
        "layer's helpers",
}
# Layers plugin files may import from: the interfaces and the registry (core) and shared backend helpers.
PLUGIN_LAYERS = ("core", "backends")
PLUGIN_FILES = sorted([*(ROOT / "plugins").rglob("*.py"), ROOT / "tests" / "plugins" / "toy.py"])


@dataclass(frozen=True)
class Import:
    """One ``import`` of a topobench module: who imports what, where, and whether it runs at import time."""

    source: str  # the importing module (or plugin file)
    target: str  # the imported module, as precise as the statement allows (a submodule when one is named)
    line: int
    lazy: bool  # inside a function: runs when the function is called, not when the module is imported


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".") if is_package else source.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: Path, source: str) -> Iterator[Import]:
    """Every import of a topobench module in ``path``, module-level or lazy."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def walk(node: ast.AST, lazy: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                module = _resolve(source, path.name == "__init__.py", child)
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in child.names]
            else:
                yield from walk(child, inner)
                continue
            for target in targets:
                if target == "topobench" or target.startswith("topobench."):
                    yield Import(source, target, child.lineno, lazy)

    yield from walk(tree, False)


ALL_IMPORTS = [imp for name, path in MODULES.items() for imp in imports_of(path, name)]


def layer_of(module: str) -> str | None:
    """``topobench.runs.runner`` → ``runs``; the package root ``topobench`` has no layer (it is below them all)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"a"}}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_imports_are_read_with_their_kind():
    kinds = {(i.target, i.lazy) for i in imports_of(PACKAGE / "report" / "html_report.py",
                                                    "topobench.report.html_report")}
    assert ("topobench.report.export", False) in kinds  # at the top of the module
    assert ("topobench.study.report", True) in kinds  # inside the function that adds the study pages


def test_no_import_cycle_inside_topobench():
    edges: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        if not imp.lazy and imp.target in MODULES:
            edges.setdefault(imp.source, set()).add(imp.target)
    assert find_cycles(edges) == [], "module-level import cycles (break them by moving code down a layer)"


def test_no_import_circle_even_through_lazy_imports():
    # A lazy import that closes a circle (the runner importing the local executor, whose child imported the runner
    # back) still ties two modules together: each must be understood with the other. Only the documented late-bound
    # upward imports may be lazy, and none of them may close a circle either.
    edges: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        if imp.target in MODULES:
            edges.setdefault(imp.source, set()).add(imp.target)
    assert find_cycles(edges) == [], "import circles counting lazy imports (move the shared code down a module)"


def test_every_subpackage_has_a_layer():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(LAYERS), "add the new subpackage to LAYERS here and to docs/ARCHITECTURE.md"
    assert not [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"], "modules belong in a layer"


def test_imports_only_go_down_the_layers():
    upward = []
    for imp in ALL_IMPORTS:
        source, target = layer_of(imp.source), layer_of(imp.target)
        if source is None or target is None or LAYERS.index(target) <= LAYERS.index(source):
            continue
        if imp.lazy and (imp.source, imp.target) in LATE_BOUND:
            continue
        upward.append(f"{MODULES[imp.source].relative_to(ROOT)}:{imp.line} imports {imp.target} "
                      f"({'lazily' if imp.lazy else 'at module level'}): {source} is below {target}")
    assert upward == [], "\n".join(upward)


def test_each_late_bound_import_is_still_there_and_lazy():
    # An exception that is no longer needed must leave the list, so the list stays the truth.
    found = {(i.source, i.target): i.lazy for i in ALL_IMPORTS}
    for pair in LATE_BOUND:
        assert found.get(pair) is True, f"{pair} is listed in LATE_BOUND but is not a lazy import any more"


def test_builder_modules_are_named_not_imported():
    # datasets.store finds the corpus-dataset builder through a table of module names, imported on first use: the
    # other deliberate upward reference (a string, not an import).
    from topobench.datasets.store import BUILDER_MODULES

    for module in BUILDER_MODULES:
        assert module in MODULES and LAYERS.index(layer_of(module)) > LAYERS.index("datasets"), module


def test_plugins_import_only_core_and_backends():
    wrong = []
    for path in PLUGIN_FILES:
        for imp in imports_of(path, "plugin"):
            if layer_of(imp.target) not in PLUGIN_LAYERS:
                wrong.append(f"{path.relative_to(ROOT)}:{imp.line} imports {imp.target}")
    assert wrong == [], "\n".join(wrong)


def test_no_private_name_is_imported_across_modules():
    private = []
    for path in [*MODULES.values(), *PLUGIN_FILES, *(ROOT / "bench").glob("*.py"), *ROOT.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("topobench"):
                names = [a.name for a in node.names if a.name.startswith("_")]
                if names:
                    private.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {', '.join(names)}")
    assert private == [], "\n".join(private)


# --- docs/ARCHITECTURE.md ---------------------------------------------------------------------------------------------

ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
PATH_LIKE = re.compile(r"`([A-Za-z0-9_./-]+\.(?:py|yaml|md|toml))`")
MODULE_LIKE = re.compile(r"`(topobench(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")


def test_architecture_names_only_files_and_modules_that_exist():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    paths = set(PATH_LIKE.findall(text))
    modules = set(MODULE_LIKE.findall(text))
    assert len(paths) > 20 and len(modules) >= 3, "the pattern no longer finds the names: fix the test"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == [], f"docs/ARCHITECTURE.md names files that do not exist: {missing}"
    unknown = []
    for dotted in modules:
        # A module, or an attribute of one (topobench.core.registry.Registry.create).
        parts = dotted.split(".")
        owners = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        owner = next((o for o in owners if o in MODULES), None)
        attrs = parts[len(owner.split(".")):] if owner else []
        if owner is None or (attrs and not re.search(rf"\b(def|class)\s+{attrs[0]}\b|^{attrs[0]}\s*[:=]",
                                                   MODULES[owner].read_text(encoding="utf-8"), re.M)):
            unknown.append(dotted)
    assert unknown == [], f"docs/ARCHITECTURE.md names modules or names that do not exist: {sorted(unknown)}"


def test_architecture_lists_every_layer_and_late_bound_import():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    for layer in LAYERS:
        assert f"`topobench/{layer}/`" in text, layer
    for source, target in LATE_BOUND:
        assert f"`{source}`" in text and f"`{target}`" in text, (source, target)
    assert "`topobench.datasets.store.BUILDER_MODULES`" in text
