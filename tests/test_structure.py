"""The shape of the code, measured: no import cycle (module level or inside functions), no function over
80 lines, no module that imports a command line, scratchnet never imports torch, and the committed
reports name their data by what it is, never by a directory of the machine that ran them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scratchnet", "torchref", "compare")
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "notebooks" in path.parts:  # walkthrough scripts, not importable modules
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules ``name`` imports anywhere in its body (functions included), resolved to modules.

    ``from pkg import sub`` (``sub`` a module) is an edge to ``pkg.sub`` only: it imports the submodule, and a
    module of ``pkg`` may do so. ``from pkg import NAME`` (a name defined in ``pkg/__init__.py``) is an edge
    to ``pkg``, even from inside ``pkg``: when ``pkg/__init__.py`` imports that module, that is a cycle."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            stem = ".".join(base[: len(base) - node.level + 1]) if node.level else ""
            mod = ".".join(p for p in (stem, node.module or "") if p)
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def test_no_import_cycle_at_module_level_or_inside_functions():
    mods = _modules()
    graph = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    edges = sum(map(len, graph.values()))
    assert len(graph) > 100 and edges > 300, f"the import graph looks empty: {len(graph)} modules, {edges} edges"
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


#: the one module that imports command lines: it runs each command's main() on bad input, in its own process
RUNS_COMMANDS = {"compare.robustness.__main__"}


def test_no_module_imports_a_command_line():
    """A command line is a ``__main__`` module or a report module run as one (``if __name__ == "__main__"``:
    ``python -m compare.seeds``); no other module imports one, so none drags in an argument parser and code that
    shared helpers (``compare.stats``, ``compare.cli``) are for."""
    mods = _modules()
    commands = {n for n, p in mods.items() if n.endswith("__main__") or 'if __name__ == "__main__"' in p.read_text()}
    assert {"compare.seeds", "compare.speedrun", "scratchnet.train.__main__"} <= commands
    for name, path in mods.items():
        if name not in RUNS_COMMANDS:
            bad = set(_imports(name, path, set(mods))) & commands
            assert not bad, f"{name} imports the command line(s) {sorted(bad)}"


def test_no_function_is_longer_than_80_lines():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_scratchnet_never_imports_torch():
    for path in (ROOT / "scratchnet").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m.split(".")[0] in ("torch", "torchvision")], path


#: a directory recorded as where the data was read from
DATA_DIR_FIELD = re.compile(r'"(train_dir|test_dir|data_dir|dir|directory)": "/')


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "reports").rglob("*") if p.suffix in (".json", ".md", ".csv")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_reports_name_the_data_by_what_it_is_not_by_a_machines_directory(path):
    text = path.read_text()
    assert not DATA_DIR_FIELD.search(text), f"{path}: records a data directory"
    assert "/shared/data/" not in text, f"{path}: names the data by a path of the machine that ran it"
