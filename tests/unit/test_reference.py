from __future__ import annotations

from pathlib import Path

import pytest

from spawn_tf import contract
from spawn_tf.reference import markdown_reference
from spawn_tf.resources import sweep_schema

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- reference:start -->\n", "<!-- reference:end -->"


def test_reference_lists_every_key_once() -> None:
    text = markdown_reference(sweep_schema())
    for key in (*contract.SWEEP_KEYS, *contract.RUN_SETTINGS):
        assert text.count(f"| `{key}` |") == 1, key


def test_readme_reference_is_generated_from_the_schema(request: pytest.FixtureRequest) -> None:
    readme = README.read_text(encoding="utf-8")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    expected = f"{head}{START}{markdown_reference(sweep_schema())}{END}{tail}"
    if request.config.getoption("--update-golden"):
        README.write_text(expected, encoding="utf-8")
    assert readme == expected, "README reference is stale: run pytest --update-golden"
