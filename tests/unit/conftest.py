"""Fixtures for unit tests: sweep files written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import CheckSweep, WriteSweep

from spawn_tf import Checked, check_file


@pytest.fixture
def write_sweep(tmp_path: Path) -> WriteSweep:
    def write(text: str | bytes, name: str = "sweep.yaml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def check(write_sweep: WriteSweep) -> CheckSweep:
    def run(text: str | bytes, name: str = "sweep.yaml") -> Checked:
        return check_file(write_sweep(text, name))

    return run
