"""Error goldens: the one place where the wording of diagnostics is pinned (STYLE.md, Tests).

Each `errors/<case>.<ext>` is validated by the real CLI (compiled, for the cases of the budget gate,
which only compile and cost check, and for the compiles that write, in a scratch folder); its stderr must equal `<case>.stderr` byte for byte and the
exit code must be 1 (0 for cases that only warn). Price files for the budget cases are under
`errors/prices/`. Regenerate with `pytest --update-golden` and review the diff like code.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from spawn_tf.cli import main

CASES = Path(__file__).parent / "errors"
SWEEP_SUFFIXES = (".yaml", ".json", ".csv")
WARNING_ONLY = {"long-ttl.yaml", "script-writes.yaml", "secrets.yaml", "unknown-instance-family.yaml"}
# Budgets are checked against prices by compile (and cost), never by validate.
COMPILED = {"budget-over.yaml", "budget-bad-prices.yaml", "budget-no-prices.yaml"}
# Compiles that write, run in a scratch folder holding a copy of the case: the command line after `spawn-tf`.
WRITTEN = {
    "compile-output-under-a-file.yaml": ["compile", "-o", "compile-output-under-a-file.yaml/build", "compile-output-under-a-file.yaml"],
    "compile-sweep-id-twice.yaml": ["compile", "compile-sweep-id-twice.yaml", "--param-file", "compile-sweep-id-twice.yaml"],
    "compile-disk-full.yaml": ["compile", "compile-disk-full.yaml"],
}
DISK_FULL = {"compile-disk-full.yaml"}  # every file written fails as on a full disk


def _cases() -> list[Path]:
    return sorted(path for path in CASES.iterdir() if path.suffix in SWEEP_SUFFIXES)


@pytest.mark.parametrize("case", _cases(), ids=lambda path: path.name)
def test_error_golden_matches_stderr(case: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    monkeypatch.chdir(CASES)
    command = ["compile", "--check", "-o", "build", case.name] if case.name in COMPILED else ["validate", case.name]
    if case.name in WRITTEN:
        shutil.copy(case, tmp_path / case.name)
        monkeypatch.chdir(tmp_path)
        command = WRITTEN[case.name]
    if case.name in DISK_FULL:
        monkeypatch.setattr(Path, "write_bytes", _disk_full)
    result = CliRunner().invoke(main, command)
    expected_exit = 0 if case.name in WARNING_ONLY else 1
    assert result.exit_code == expected_exit, result.output
    assert result.stdout == ""
    golden = case.with_suffix(".stderr")
    if request.config.getoption("--update-golden"):
        golden.write_text(result.stderr, encoding="utf-8")
    assert result.stderr == golden.read_text(encoding="utf-8")


def _disk_full(path: Path, data: bytes) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write() reports it: without a file name


@pytest.mark.parametrize("case", sorted(WARNING_ONLY))
def test_warning_case_strict_fails(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)
    result = CliRunner().invoke(main, ["validate", "--strict", case])
    assert result.exit_code == 1
    assert ": warning: " in result.stderr


def test_every_case_has_a_golden() -> None:
    stems = {path.stem for path in _cases()}
    goldens = {path.stem for path in CASES.glob("*.stderr")}
    assert stems == goldens
