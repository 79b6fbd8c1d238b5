"""Wiring of the `spawn-tf` command: exit codes, stdout versus stderr. Behaviour is tested on the library."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sweep_helpers import QUIET_DEFAULTS, WriteSweep

from spawn_tf import cli
from spawn_tf.cli import main
from spawn_tf.resources import sweep_schema

GOOD = QUIET_DEFAULTS + "params:\n  - {name: a, lr: 1e-4}\n  - {name: b, lr: 0.10}\n"
WARNS = "defaults:\n  instance_type: m7i.large\n  user_data: ./train.sh\nparams:\n  - {name: a}\n"
BAD = QUIET_DEFAULTS + "  spot: 'yes'\nparams:\n  - {name: a}\n"


def test_cli_validate_exit_codes(write_sweep: WriteSweep) -> None:
    runner = CliRunner()
    good, warns, bad = write_sweep(GOOD, "good.yaml"), write_sweep(WARNS, "warns.yaml"), write_sweep(BAD, "bad.yaml")
    assert runner.invoke(main, ["validate", str(good)]).exit_code == 0
    assert runner.invoke(main, ["validate", str(warns)]).exit_code == 0
    assert runner.invoke(main, ["validate", "--strict", str(warns)]).exit_code == 1
    result = runner.invoke(main, ["validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "bad.yaml:5:9: error:" in result.stderr
    assert "good.yaml: 2 runs" in result.stderr


def test_cli_validate_json_is_pure_json_on_stdout(write_sweep: WriteSweep) -> None:
    result = CliRunner().invoke(main, ["validate", "--json", str(write_sweep(BAD))])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    [entry] = report["files"]
    assert entry["valid"] is False and entry["runs"] is None
    assert [(d["code"], d["line"], d["col"], d["severity"]) for d in entry["diagnostics"]] == [("wrong-type", 5, 9, "error")]
    assert result.stderr == ""


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "yaml"])
def test_cli_expand_formats(write_sweep: WriteSweep, fmt: str) -> None:
    result = CliRunner().invoke(main, ["expand", "--format", fmt, str(write_sweep(GOOD))])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    if fmt == "json":
        assert [(r["name"], r["env"]["LR"]) for r in json.loads(result.stdout)] == [("a", "1e-4"), ("b", "0.10")]
    elif fmt == "yaml":
        assert [r["params"]["lr"] for r in yaml.safe_load(result.stdout)] == [0.0001, 0.1]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [(row["name"], row["lr"]) for row in rows] == [("a", "1e-4"), ("b", "0.10")]
    else:
        header, *lines = result.stdout.splitlines()
        assert header.split()[:3] == ["INDEX", "NAME", "REGION"]
        assert [line.split()[1] for line in lines] == ["a", "b"]


def test_cli_expand_refuses_an_invalid_file(write_sweep: WriteSweep) -> None:
    result = CliRunner().invoke(main, ["expand", str(write_sweep(BAD))])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: expected true or false" in result.stderr


def test_cli_schema_prints_the_shipped_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == sweep_schema()


def test_cli_internal_error_is_one_line_unless_debug(write_sweep: WriteSweep, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "check_file", broken)
    path = str(write_sweep(GOOD))
    result = CliRunner().invoke(main, ["validate", path])
    assert result.exit_code == 1
    assert result.stderr == "spawn-tf: internal error: RuntimeError: boom (run again with --debug for a traceback)\n"
    debug = CliRunner().invoke(main, ["--debug", "validate", path])
    assert "Traceback (most recent call last)" in debug.stderr


def test_cli_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "error: no such file" in result.stderr


def test_cli_userdata_account_id_must_be_12_digits(write_sweep: WriteSweep) -> None:
    path = str(write_sweep(GOOD))
    result = CliRunner().invoke(main, ["userdata", path, "--run", "a", "--account-id", "12"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "Invalid value for '--account-id': '12' is not an AWS account id: those are 12 digits, e.g. 123456789012" in result.stderr
    good = CliRunner().invoke(main, ["userdata", path, "--run", "a", "--account-id", "123456789012"])
    assert good.exit_code == 0 and "spawn-tf-123456789012-us-east-1" in good.stdout


def test_cli_names_a_sweep_id_made_from_the_file_name(write_sweep: WriteSweep, tmp_path: Path) -> None:
    path = write_sweep(GOOD, "Stage1_Coarse.yaml")
    runner = CliRunner()
    strict = runner.invoke(main, ["validate", "--strict", str(path)])  # a note, not a warning: --strict passes
    assert strict.exit_code == 0, strict.stderr
    assert f"{path}: 2 runs, sweep id 'stage1-coarse' from the file name\n" in strict.stderr
    compiled = runner.invoke(main, ["compile", "--strict", "-o", str(tmp_path / "build"), str(path)])
    assert compiled.exit_code == 0, compiled.stderr
    assert f"{path}: sweep id 'stage1-coarse' from the file name (set 'sweep:' to choose another)" in compiled.stderr
    assert (tmp_path / "build" / "stage1-coarse" / "sweep.json").is_file()
    plain = runner.invoke(main, ["validate", str(write_sweep(GOOD, "stage1-coarse.yaml"))])
    assert "sweep id" not in plain.stderr  # the name is an id as it stands: nothing to say
