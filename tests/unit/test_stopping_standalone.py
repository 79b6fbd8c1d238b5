"""spawn_tf/stopping.py is shipped to the instance as it is (an S3 code object run by the agent's python3):
it must import only the standard library, nothing of spawn_tf, and use nothing newer than Python 3.9.

The checks read the source with `ast`: Python 3.9's grammar (`feature_version`), then what that grammar
accepts but 3.9 cannot run: `X | Y` evaluated outside annotations (types joined at run time), dataclass
options of 3.10 (slots, kw_only, match_args), and names of the standard library added after 3.9.
Each check is also shown to catch a module that breaks it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from spawn_tf import stopping

SOURCE = Path(stopping.__file__)
OLDEST = (3, 9)

# Standard library names added after 3.9: modules, attributes of a module, builtins' keywords.
NEWER_MODULES = {"tomllib", "wsgiref.types"}
NEWER_NAMES = {
    "itertools": {"pairwise", "batched"},
    "math": {"cbrt", "exp2", "sumprod"},
    "statistics": {"correlation", "covariance", "linear_regression"},
    "typing": {"TypeAlias", "ParamSpec", "Concatenate", "TypeGuard", "Self", "LiteralString", "Never", "assert_never",
               "assert_type", "reveal_type", "dataclass_transform", "Required", "NotRequired", "Unpack", "TypeVarTuple", "override"},
    "dataclasses": {"KW_ONLY"},
    "enum": {"StrEnum", "ReprEnum", "verify", "member", "nonmember"},
    "datetime": {"UTC"},
    "contextlib": {"aclosing", "chdir"},
    "operator": {"call"},
}  # fmt: skip
NEWER_BUILTINS = {"aiter", "anext", "ExceptionGroup", "BaseExceptionGroup", "EncodingWarning"}
NEWER_KEYWORDS = {
    "zip": {"strict"},  # 3.10
    "dataclass": {"slots", "kw_only", "match_args"},  # 3.10
    "field": {"kw_only"},
    "bisect": {"key"},  # bisect_* and insort_* gained key in 3.10
    "bisect_left": {"key"},
    "bisect_right": {"key"},
    "insort": {"key"},
    "insort_left": {"key"},
    "insort_right": {"key"},
}
NEWER_METHODS = {"bit_count"}  # int.bit_count: 3.10


def annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (never evaluated under `from __future__ import annotations`)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.arg):
            annotation = node.annotation
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotation = node.returns
        else:
            continue
        if annotation is not None:
            inside.update(id(part) for part in ast.walk(annotation))
    return inside


def called_name(call: ast.Call) -> str | None:
    function = call.func
    return function.id if isinstance(function, ast.Name) else function.attr if isinstance(function, ast.Attribute) else None


def imported_modules(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
    return found


def problems(source: str) -> list[str]:
    """Why `source` could not be shipped as the rule's module: empty when it can."""
    try:
        tree = ast.parse(source, feature_version=OLDEST)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: not Python {OLDEST[0]}.{OLDEST[1]} syntax: {exc.msg}"]
    return [*import_problems(tree), *newer_uses(tree)]


def import_problems(tree: ast.Module) -> list[str]:
    found = []
    for module in imported_modules(tree):
        top = module.split(".")[0]
        if module.startswith(".") or top not in sys.stdlib_module_names:
            found.append(f"imports {module}: not the standard library")
        elif module in NEWER_MODULES or top in NEWER_MODULES:
            found.append(f"imports {module}: newer than {OLDEST}")
    return found


def newer_uses(tree: ast.Module) -> list[str]:
    """What 3.9's grammar accepts but 3.9 cannot run."""
    future = any(isinstance(node, ast.ImportFrom) and node.module == "__future__" and any(a.name == "annotations" for a in node.names)
                 for node in tree.body)  # fmt: skip
    in_annotations = annotation_nodes(tree) if future else set()
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        # The rule has no bit operations: a `|` evaluated at all is types joined, which 3.9 cannot do.
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) not in in_annotations:
            found.append(f"line {line}: '|' evaluated at run time (types joined with | need 3.10)")
        elif isinstance(node, ast.ImportFrom) and node.module in NEWER_NAMES:
            found.extend(
                f"line {line}: {node.module}.{a.name} is newer than {OLDEST}" for a in node.names if a.name in NEWER_NAMES[node.module]
            )
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr in NEWER_NAMES.get(node.value.id, ()):
            found.append(f"line {line}: {node.value.id}.{node.attr} is newer than {OLDEST}")
        elif isinstance(node, ast.Attribute) and node.attr in NEWER_METHODS:
            found.append(f"line {line}: .{node.attr} is newer than {OLDEST}")
        elif isinstance(node, ast.Name) and node.id in NEWER_BUILTINS:
            found.append(f"line {line}: {node.id} is newer than {OLDEST}")
        elif isinstance(node, ast.Call) and (name := called_name(node)) in NEWER_KEYWORDS:
            found.extend(f"line {line}: {name}({k.arg}=...) is newer than {OLDEST}" for k in node.keywords if k.arg in NEWER_KEYWORDS[name])
    return found


def test_the_rule_module_is_standalone_python_3_9() -> None:
    assert problems(SOURCE.read_text(encoding="utf-8")) == []


def test_the_rule_module_runs_without_spawn_tf(tmp_path: Path) -> None:
    """Copied alone into a folder and run by an interpreter that sees no site-packages and no PYTHONPATH."""
    (tmp_path / "stopping.py").write_bytes(SOURCE.read_bytes())
    script = (
        "import importlib.util, sys, stopping\n"
        "rule = stopping.Rule.from_settings({'metric': 'loss', 'mode': 'min'})\n"
        "reports = [stopping.parse_entry(n, w) for n, w in (('a=1.0,1.0,1.0', 1), ('b=2.0,2.0,2.0', 1), ('c=3.0', 1), ('me=9.0', 2))]\n"
        "verdict = stopping.decide(rule, 'me', 1, reports)\n"
        "print(verdict.stop, verdict.cutoff, importlib.util.find_spec('spawn_tf'), sorted(m for m in sys.modules if 'spawn' in m))\n"
    )
    command = [sys.executable, "-E", "-s", "-S", "-c", script]  # -c: the folder it runs in comes first on sys.path
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "True 2.0 None []\n", "")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("match x:\n    case 1:\n        pass\n", "not Python 3.9 syntax"),
        ("import spawn_tf.contract\n", "imports spawn_tf.contract: not the standard library"),
        ("from spawn_tf import contract\n", "imports spawn_tf: not the standard library"),
        ("from . import contract\n", "imports .: not the standard library"),
        ("import yaml\n", "imports yaml: not the standard library"),
        ("import tomllib\n", "imports tomllib: newer than (3, 9)"),
        ("x = isinstance(1, int | None)\n", "'|' evaluated at run time"),
        ("def f(x: int | None) -> None:\n    pass\n", "'|' evaluated at run time"),  # no `from __future__ import annotations`
        ("from dataclasses import dataclass\n@dataclass(frozen=True, slots=True)\nclass A:\n    x: int\n", "dataclass(slots=...)"),
        ("import dataclasses\n@dataclasses.dataclass(kw_only=True)\nclass A:\n    x: int\n", "dataclass(kw_only=...)"),
        ("pairs = list(zip([1], [2], strict=True))\n", "zip(strict=...)"),
        ("import itertools\npairs = itertools.pairwise([1, 2])\n", "itertools.pairwise is newer"),
        ("from itertools import pairwise\n", "itertools.pairwise is newer"),
        ("from typing import TypeAlias\n", "typing.TypeAlias is newer"),
        ("n = (5).bit_count()\n", ".bit_count is newer"),
        ("x = anext\n", "anext is newer"),
    ],
)  # fmt: skip
def test_the_checks_catch_what_3_9_cannot_run(source: str, expected: str) -> None:
    assert any(expected in problem for problem in problems(source)), problems(source)


def test_the_checks_let_3_9_code_pass() -> None:
    source = (
        "from __future__ import annotations\n"
        "import math\nfrom dataclasses import dataclass\n"
        "@dataclass(frozen=True)\nclass A:\n    x: int | None = None\n"
        "def f(a: list[int] | None = None) -> dict[str, int] | None:\n    return {'n': math.lcm(2, 3)} if a else None\n"
        "text = 'run=1'.removeprefix('run=')\n"  # str.removeprefix is 3.9
        "flags = 1 & 2\n"
    )
    assert problems(source) == []
