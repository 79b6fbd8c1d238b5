"""No import cycles in spawn_tf, counting every import: module level, inside functions, under TYPE_CHECKING.

Pure AST: nothing is imported, so a cycle that only bites at run time (a function-level import) is seen too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spawn_tf

PACKAGE = Path(spawn_tf.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """Every spawn_tf module `name` imports anywhere in its text.

    A package's `__init__` that runs first is not counted as a dependency of its submodules: Python imports it
    before any of them, and it is a cycle only if it imports a module that imports a name of the package.
    """
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from spawn_tf import contract` imports the module, `from spawn_tf import check_file` the package
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module_name(p): imported(ast.parse(p.read_text(encoding="utf-8")), module_name(p), p.name == "__init__.py", known) for p in paths}


def reachable(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


def on_cycles(graph: dict[str, set[str]]) -> list[str]:
    """The modules that, through their imports, import themselves."""
    return sorted(node for node in graph if node in reachable(graph, graph[node]))


def test_the_checker_sees_a_cycle_through_a_function_level_import() -> None:
    source = {"spawn_tf.a": "def f():\n    from spawn_tf import b\n", "spawn_tf.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import spawn_tf.a\n"}
    known = set(source)
    graph = {name: imported(ast.parse(text), name, False, known) for name, text in source.items()}
    assert on_cycles(graph) == ["spawn_tf.a", "spawn_tf.b"]


def test_spawn_tf_has_no_import_cycles() -> None:
    graph = import_graph()
    assert graph.get("spawn_tf.cli"), "the walk found the package's modules and their imports"
    assert on_cycles(graph) == []
