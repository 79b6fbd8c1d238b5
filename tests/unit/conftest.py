"""Fixtures for unit tests: sweep files written to a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from spawn_tf import Checked, check_file

WriteSweep = Callable[..., Path]
CheckSweep = Callable[..., Checked]

# Settings that keep a test sweep free of unrelated warnings.
QUIET_DEFAULTS = "defaults:\n  instance_type: m7i.large\n  ttl: 2h\n  user_data: ./train.sh\n"


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


def codes(checked: Checked) -> list[tuple[str, int | None, int | None]]:
    """(code, line, column) of each diagnostic, in report order."""
    return [(d.code, d.span.line if d.span else None, d.span.col if d.span else None) for d in checked.diagnostics]
