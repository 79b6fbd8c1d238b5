"""Error goldens: the one place where the wording of diagnostics is pinned (STYLE.md, Tests).

Each `errors/<case>.<ext>` is validated by the real CLI (compiled, for the cases of the budget gate,
which only compile and cost check, and for the compiles that write, in a scratch folder); its stderr must equal `<case>.stderr` byte for byte and the
exit code must be 1 (0 for cases that only warn). Price files for the budget cases are under
`errors/prices/`. Inputs that are large or not files at all (the limits, a FIFO) are made at test
time by `GENERATED`; their goldens are `errors/generated/<case>.stderr`. Regenerate with
`pytest --update-golden` and review the diff like code.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from spawn_tf import contract
from spawn_tf.cli import main

CASES = Path(__file__).parent / "errors"
SWEEP_SUFFIXES = (".yaml", ".json", ".csv")
WARNING_ONLY = {"long-ttl.yaml", "script-writes.yaml", "secrets.yaml", "unknown-instance-family.yaml",
                "early-stopping-no-reports.yaml", "early-stopping-settings.yaml", "early-stopping-asha.yaml"}  # fmt: skip
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


_RUN = "defaults: {instance_type: m7i.large, ttl: 2h, user_data: ./train.sh}\n"


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


# Made at test time: too large to commit, or not a regular file.
GENERATED: dict[str, Callable[[Path], None]] = {
    "not-a-file.yaml": os.mkfifo,
    "file-too-large.yaml": lambda path: path.write_bytes(b"#" * (contract.MAX_SWEEP_FILE_BYTES + 1)),
    "too-many-values.yaml": _text(_RUN + "grid:\n  x: [" + "0, " * contract.MAX_DOCUMENT_VALUES + "0]\n"),
    "too-many-values-json.json": _text('{"grid": {"x": [' + "0," * contract.MAX_DOCUMENT_VALUES + "0]}}\n"),
    "too-many-keys.yaml": _text(_RUN + "params:\n  - name: a\n" + "".join(f"    p{i}: 1\n" for i in range(contract.MAX_RUN_KEYS))),
    "too-many-keys-json.json": _text('{"params": [{' + ", ".join(f'"p{i}": 1' for i in range(contract.MAX_RUN_KEYS + 1)) + "}]}\n"),
    "too-many-keys-run.yaml": _text(
        "defaults:\n" + "".join(f"  d{i}: 1\n" for i in range(contract.MAX_RUN_KEYS // 2))
        + "params:\n  - name: a\n" + "".join(f"    p{i}: 1\n" for i in range(contract.MAX_RUN_KEYS // 2 + 1))
    ),
    "too-many-keys-in-all.yaml": _text(
        "defaults:\n" + "".join(f"  d{i}: 1\n" for i in range(contract.MAX_RUN_KEYS - 10))
        + "params:\n" + "  - {}\n" * (contract.MAX_EXPANDED_KEYS // (contract.MAX_RUN_KEYS - 10) + 1)
    ),
    "too-many-runs-params.yaml": _text(_RUN + "params:\n" + "  - {}\n" * (contract.MAX_RUNS + 1)),
    "too-many-runs.csv": _text("x\n" + "1\n" * (contract.MAX_RUNS + 1)),
    "too-many-columns.csv": _text(",".join(f"p{i}" for i in range(contract.MAX_RUN_KEYS + 1)) + "\n"),
    "too-many-cells.csv": _text(",".join(f"p{i}" for i in range(100)) + "\n" + ("1," * 99 + "1\n") * (contract.MAX_CSV_CELLS // 100 + 1)),
    "value-too-long.yaml": _text(_RUN + "params:\n  - name: a\n    note: |\n" + "      line\n" * (contract.MAX_VALUE_CHARS // 5 + 1)),
    "value-too-long-json.json": _text('{"params": [{"name": "a", "note": "' + "\\\"" * (contract.MAX_VALUE_CHARS + 1) + '"}]}\n'),
    "too-much-text.yaml": _text(
        "defaults: {instance_type: m7i.large, ttl: 2h, user_data: ./t.sh, data: " + "y" * 100_000 + "}\n"
        + "name_template: r{index}\ngrid:\n  lr: [" + ", ".join(map(str, range(contract.MAX_EXPANDED_CHARS // 100_000 + 1))) + "]\n"
    ),
    "csv-cell-too-long.csv": _text("name,note\na,x\nb," + "y" * (contract.MAX_VALUE_CHARS + 1) + "\n"),
}


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_generated_error_golden_matches_stderr(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.chdir(tmp_path)
    GENERATED[case](tmp_path / case)
    result = CliRunner().invoke(main, ["validate", case])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    golden = CASES / "generated" / Path(case).with_suffix(".stderr").name
    if request.config.getoption("--update-golden"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(result.stderr, encoding="utf-8")
    assert result.stderr == golden.read_text(encoding="utf-8")


def test_every_generated_case_has_a_golden() -> None:
    assert {Path(case).with_suffix(".stderr").name for case in GENERATED} == {path.name for path in (CASES / "generated").glob("*.stderr")}
