"""Which Terraform launch runs, and how it calls it: a stand-in `terraform` on PATH records every call (DESIGN §10)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from offline_build import THREE, cli, sweep_text, write_stand_in

from spawn_tf import contract
from spawn_tf.errors import SpawnError
from spawn_tf.launch.terraform import EMBEDDED, error_text, find_terraform


@pytest.fixture
def stand_in(launch_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `terraform` on PATH that records its arguments (one JSON list a line) in the returned file."""
    write_stand_in(Path(launch_env["bin"]) / "terraform")
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("STAND_IN_LOG", str(calls))
    return calls


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_launch_calls_terraform_on_path_with_chdir_no_input_and_applies_the_plan_shown(stand_in: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}))
    result = cli("launch", sweep, "-o", tmp_path / "build", "--auto-approve")  # a sweep file: compiled, then launched
    assert result.exit_code == 0, result.stderr
    root = (tmp_path / "build" / "lt" / "eu-west-1").resolve()
    assert f"terraform: {stand_in.parent / 'bin' / 'terraform'} (Terraform 9.9.9, from PATH)" in result.stderr
    plan_file = f"{contract.LAUNCH_FOLDER}/{contract.LAUNCH_PLAN}"
    assert _calls(stand_in) == [
        ["version", "-json"],
        [f"-chdir={root}", "init", "-input=false", "-no-color"],
        [f"-chdir={root}", "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={plan_file}"],
        [f"-chdir={root}", "show", "-json", plan_file],
        [f"-chdir={root}", "apply", "-input=false", "-no-color", "-json", plan_file],  # -json: errors with their addresses (DESIGN §13)
    ]
    assert "total: 1 to launch" in result.stderr
    log = (root / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG).read_text()
    assert "terraform apply -input=false -no-color -json .spawn/launch.tfplan" in log


def test_a_plan_file_changed_after_it_was_shown_is_not_applied(stand_in: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAND_IN_TAMPER", "1")
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}))
    result = cli("launch", sweep, "-o", tmp_path / "build", "--auto-approve")
    assert result.exit_code == 3
    assert "is not the plan that was shown" in result.stderr
    assert [call[1] for call in _calls(stand_in)[1:]] == ["init", "plan", "show"]  # no apply


def test_an_unchanged_root_is_not_initialized_again(stand_in: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}))
    assert cli("launch", "--param-file", sweep, "-o", tmp_path / "build", "--auto-approve").exit_code == 0  # spawn's spelling
    assert cli("launch", tmp_path / "build" / "lt", "--auto-approve").exit_code == 0
    assert [call[1] for call in _calls(stand_in) if call[0] != "version"] == ["init", "plan", "show", "apply", "plan", "show", "apply"]
    (tmp_path / "build" / "lt" / "eu-west-1" / "backend.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    assert cli("launch", tmp_path / "build" / "lt", "--auto-approve").exit_code == 0
    assert [call[1] for call in _calls(stand_in) if call[0] != "version"][7:] == ["init", "plan", "show", "apply"]  # a new backend: init


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_terraform_option_then_the_variable_then_path_then_the_embedded_one(tmp_path: Path) -> None:
    option, variable, on_path = (
        _executable(tmp_path / "a" / "tofu"),
        _executable(tmp_path / "b" / "tf"),
        _executable(tmp_path / "c" / "terraform"),
    )
    env = {contract.ENV_TERRAFORM: str(variable), "PATH": str(on_path.parent)}
    assert find_terraform(str(option), env).argv == (str(option),)
    assert find_terraform(None, env).argv == (str(variable),)
    assert find_terraform(None, {"PATH": str(on_path.parent)}).argv == (str(on_path),)
    embedded = find_terraform(None, {"PATH": str(tmp_path / "empty")})
    assert embedded.source == EMBEDDED and embedded.argv == (sys.executable, "-m", "spawn_tf.launch.embedded")
    assert find_terraform("tofu", {"PATH": os.pathsep.join([str(option.parent), str(on_path.parent)])}).argv == (str(option),)
    with pytest.raises(SpawnError, match="--terraform 'nowhere' is not an executable file"):
        find_terraform("nowhere", {"PATH": str(on_path.parent)})


def test_error_text_keeps_terraforms_error_without_box_drawing(tmp_path: Path) -> None:
    log = tmp_path / "launch.log"
    earlier = "# earlier command\nError: not this one\n"
    log.write_text(
        earlier + "Reading...\n╷\n│ Error: Reference to undeclared local value\n│ \n│   on broken.tf.json line 1:\n╵\n# exit 1\n"
    )
    assert error_text(log, len(earlier.encode())) == "Error: Reference to undeclared local value\non broken.tf.json line 1:"
    log.write_text("no error word\nbut a last line\n")
    assert error_text(log, 0) == "no error word\nbut a last line"


def test_a_command_killed_by_ctrl_c_before_terraform_started_is_started_again(
    stand_in: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Ctrl-C sent to launch's process group just as a child is forked, before its setsid, kills the child
    # before exec: Terraform never ran, so launch starts it again (a Ctrl-C launch passes on itself is never retried).
    monkeypatch.setenv("STAND_IN_DIE_ONCE", "1")
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}))
    result = cli("launch", sweep, "-o", tmp_path / "build", "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert [call[1] for call in _calls(stand_in)[1:]] == ["init", "plan", "show", "apply", "apply"]
    log = (tmp_path / "build" / "lt" / "eu-west-1" / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG).read_text()
    assert "# ended by a Ctrl-C before Terraform started: started again" in log


def test_plan_prints_its_summary_on_stdout_and_applies_nothing(stand_in: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}))
    result = cli("plan", sweep, "-o", tmp_path / "build", "--detailed-exitcode")
    assert result.exit_code == contract.PLAN_CHANGES_EXIT, result.stderr
    assert result.stdout.splitlines() == [
        "lt/eu-west-1: 1 to launch, 0 to replace, 0 to remove (resources: 1 to add, 0 to change, 0 to destroy)",
        "total: 1 to launch, 0 to replace, 0 to remove (resources: 1 to add, 0 to change, 0 to destroy) in 1 root",
    ]
    assert [call[1] for call in _calls(stand_in)[1:]] == ["init", "plan", "show"]


def test_an_invalid_sweep_file_is_exit_1_and_runs_no_terraform(stand_in: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}).replace("instance_type", "instance_typo"))
    result = cli("plan", sweep, "-o", tmp_path / "build", "--detailed-exitcode")
    assert result.exit_code == 1
    assert (
        "error: 'instance_typo' in defaults is not a setting" in result.stderr
        and "nothing launched: 1 sweep file not compiled" in result.stderr
    )
    assert not stand_in.exists() and not (tmp_path / "build").exists()
