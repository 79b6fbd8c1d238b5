"""The size rules of the code, checked so that they hold without anyone measuring by hand.

A reader takes in a function whole and a module in one sitting: no function in spawn_tf over 60 lines,
no module of spawn_tf or of the agent's helper over 450 lines, and the CLI's build commands under 400.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spawn_tf

PACKAGE = Path(spawn_tf.__file__).parent
AGENT_HELPER = PACKAGE.parent / "templates"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450
MAX_CLI_LINES = 400
# Every contract constant lives in one module (tag keys, S3 layout, statuses, env names: never spelled twice), a
# list read by lookup rather than in one sitting; its size follows the contract's.
LONGER_BY_RULE = {PACKAGE / "contract.py"}


def modules() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *AGENT_HELPER.rglob("*.py")])


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_measures_see_the_code() -> None:
    assert PACKAGE / "cli.py" in modules()
    assert any(path.is_relative_to(AGENT_HELPER) for path in modules())


def test_no_function_is_over_60_lines() -> None:
    assert [found for path in modules() for found in long_functions(path)] == []


def test_no_module_is_over_450_lines() -> None:
    assert {str(path.relative_to(PACKAGE.parent)): line_count(path) for path in modules() if path not in LONGER_BY_RULE and line_count(path) > MAX_MODULE_LINES} == {}


def test_the_cli_of_the_build_commands_stays_thin() -> None:
    assert line_count(PACKAGE / "cli.py") < MAX_CLI_LINES


def test_a_long_function_is_seen(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = tmp_path / "long.py"
    source.write_text(f"def long():\n{body}\n", encoding="utf-8")
    assert long_functions(source) == [f"{source}:1 long ({MAX_FUNCTION_LINES + 1} lines)"]
    source.write_text(f"def short():\n{body}\n".replace("    x0 = 0\n", ""), encoding="utf-8")
    assert long_functions(source) == []
