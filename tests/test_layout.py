"""The house's structure, read from the code's imports (all of them, inside functions too): no import
circle, the config at the bottom, inference apart from the training engine, a CLI over the API alone."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "ganforge"
MAX_LINES = 400


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:
                    target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    out.add(full if full in modules else target)
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
        found[name] = {m for m in out if m in modules and m != name}
    return found


def test_no_import_circle():
    graph = imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(nxt) :] + [node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert len(graph) > 80  # the whole package was read


def test_the_config_and_the_registry_import_nothing_above_them():
    graph = imports()
    ground = {"ganforge.errors", "ganforge.files", "ganforge.jsonio", "ganforge.presets", "ganforge.registry"}
    for module, targets in graph.items():
        if module.startswith("ganforge.config"):
            above = {t for t in targets if t not in ground and not t.startswith("ganforge.config")}
            assert not above, f"{module} imports {sorted(above)}"
    assert graph["ganforge.registry"] <= {"ganforge.errors"}


def test_inference_never_imports_the_training_engine():
    for module, targets in imports().items():
        if module.startswith("ganforge.inference"):
            assert not {t for t in targets if t.startswith("ganforge.train")}, module


def test_the_cli_goes_through_the_api():
    """It parses and prints: no training, run-folder, model or metric code of its own."""
    below = ("ganforge.train", "ganforge.runs", "ganforge.models", "ganforge.metrics", "ganforge.losses")
    used = imports()["ganforge.cli"]
    assert "ganforge.api" in used
    assert not {t for t in used if t.startswith(below)}, sorted(used)


def test_no_module_is_over_400_lines():
    long = {p.name: n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long
