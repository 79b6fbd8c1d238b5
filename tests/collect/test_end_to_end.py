"""The whole loop: compile → Terraform decides what to launch → instances in moto → the agent runs → the collector reads back.

`terraform apply` is played by real Terraform planning the compiled roots offline, with the S3
listings read from moto server: the instances it would create are made in moto with the tags and
user-data Terraform computed, and each instance's user-data runs with bash as cloud-init would run
it (the agent sandbox of tests/support/sandbox.py). The collector then reads S3 and EC2 as it reads AWS.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import tfharness as tfh
from click.testing import CliRunner
from moto_layout import BUCKET, ec2_client
from offline import compile_sweep, plan_root
from sandbox import AMI

from spawn_tf import contract
from spawn_tf.cli import main

SWEEP = f"""\
sweep: e2e
results: s3://{BUCKET}/sweeps
regions: [us-east-1, eu-west-1]
max_concurrent: 2
defaults:
  instance_type: t3.micro
  ttl: 1h
  user_data: |
    #!/bin/bash
    echo "training $NAME at $LEARNING_RATE"
    printf '{{"val_loss": %s}}\\n' "$LOSS" > "$SPAWN_OUTPUT_DIR/metrics.json"
    [ "$NAME" != lr-bad ]
params:
  - {{name: lr-0.1, learning_rate: 0.1, loss: 0.50}}
  - {{name: lr-0.01, learning_rate: 0.01, loss: 0.20}}
  - {{name: lr-bad, learning_rate: 10, loss: 0.90}}
  - {{name: lr-0.001, learning_rate: 0.001, loss: 0.30}}
"""


class Cloud:
    """What `terraform apply` and EC2 do for the compiled sweep, against moto server."""

    def __init__(self, aws, build: Path, checked, *, agent_sandbox, imds, scratch: Path) -> None:
        self.aws, self.build, self.checked = aws, build, checked
        self.agent_sandbox, self.imds, self.scratch = agent_sandbox, imds, scratch
        self.folder = checked.plan.sweep_folder
        self.launches: list[str] = []

    def listing(self, control: str) -> dict[str, Any]:
        keys = sorted(self.aws.s3_tree(BUCKET, contract.control_prefix(self.folder, control)))
        return {"keys": keys, "common_prefixes": [], "owners": [], "request_charged": ""}

    def planned(self) -> dict[str, dict[str, Any]]:
        """Each instance Terraform would have, by run, over every root: its planned attributes."""
        data = {f"aws_s3_objects.{name}": self.listing(control)
                for name, control in (("done", contract.CONTROL_DONE), ("attempts", contract.CONTROL_ATTEMPTS), ("stop", contract.CONTROL_STOP))}  # fmt: skip
        instances = {}
        for root in self.checked.plan.roots:
            dest = self.scratch / f"plan-{root.name}-{time.monotonic_ns()}"
            for address, inputs in tfh.planned_inputs(plan_root(self.build / root.name, dest, data=data)).items():
                if match := re.fullmatch(r'aws_instance\.run\["(.+)"\]', address):
                    instances[match.group(1)] = {**inputs, "region": root.region}
            shutil.rmtree(dest)
        return instances

    def apply(self) -> set[str]:
        """Create the planned instances that have none running, and let each one's agent run to the end."""
        planned = self.planned()
        for run, inputs in planned.items():
            ec2 = ec2_client(self.aws, inputs["region"])
            live = ec2.describe_instances(Filters=[{"Name": f"tag:{contract.TAG_RUN}", "Values": [run]},
                                                   {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]  # fmt: skip
            if live:
                continue
            tags = [{"Key": key, "Value": value} for key, value in inputs["tags"].items()]
            instance_id = ec2.run_instances(
                ImageId=AMI, MinCount=1, MaxCount=1, InstanceType=inputs["instance_type"],
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            )["Instances"][0]["InstanceId"]  # fmt: skip
            self.launches.append(run)
            self.imds.instance_id, self.imds.region = instance_id, inputs["region"]
            sandbox = self.agent_sandbox()
            result = sandbox.run(received_user_data(inputs), timeout=120)
            assert result.returncode == 0, result
            assert sandbox.shutdown_log(), "the agent ends with on_complete (terminate)"
            ec2.terminate_instances(InstanceIds=[instance_id])
        return set(planned)


def received_user_data(inputs: dict[str, Any]) -> str:
    """The script cloud-init runs: user_data as is, or user_data_base64 un-gzipped."""
    if inputs.get("user_data"):
        return inputs["user_data"]
    return gzip.decompress(base64.b64decode(inputs["user_data_base64"])).decode()


def status(sweep_file: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["status", str(sweep_file), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("results_bucket", "collector_env")
def test_compile_apply_run_collect_retry(aws, agent_sandbox, imds, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    checked, build = compile_sweep(SWEEP, tmp_path)
    sweep_file = tmp_path / "sweep.yaml"
    cloud = Cloud(aws, build, checked, agent_sandbox=agent_sandbox, imds=imds, scratch=tmp_path)
    assert status(sweep_file)["status"] == "pending"

    # max_concurrent 2: each apply launches the first two open runs; the pending set shrinks as runs finish.
    assert cloud.apply() == {"lr-0.1", "lr-0.01"}
    first = status(sweep_file)
    assert first["status"] == "running"
    assert {item["run"]: item["status"] for item in first["instances"]} == {
        "lr-0.1": "success", "lr-0.01": "success", "lr-bad": "pending", "lr-0.001": "pending"}  # fmt: skip
    assert cloud.apply() == {"lr-bad", "lr-0.001"}
    assert cloud.apply() == set()
    done = status(sweep_file)
    assert done["status"] == "completed"
    by_run = {item["run"]: item for item in done["instances"]}
    assert {run: (item["status"], item["exit_code"], item["attempts"]) for run, item in by_run.items()} == {
        "lr-0.1": ("success", 0, 1), "lr-0.01": ("success", 0, 1), "lr-bad": ("failed", 1, 1), "lr-0.001": ("success", 0, 1)}  # fmt: skip
    assert by_run["lr-bad"]["instance_state"] == "terminated" and by_run["lr-bad"]["region"] in ("us-east-1", "eu-west-1")

    ranked = CliRunner().invoke(main, ["results", str(sweep_file), "--sort-by", "val_loss", "--mode", "min", "--format", "json"])
    assert [entry["name"] for entry in json.loads(ranked.stdout)] == ["lr-0.01", "lr-0.001", "lr-0.1"]  # the agent's status.json: current
    assert "1 run not ranked: 1 failed" in ranked.stderr
    widened = CliRunner().invoke(main, ["results", str(sweep_file), "--sort-by", "val_loss", "--mode", "min", "--status", "success,failed", "--no-save"])
    assert [line.split()[1] for line in widened.stdout.splitlines()[2:6]] == ["lr-0.01", "lr-0.001", "lr-0.1", "lr-bad"]

    collected = CliRunner().invoke(main, ["collect-results", str(sweep_file), "--output", "results"])
    assert collected.exit_code == 0, collected.output
    assert json.loads((tmp_path / "results/lr-0.01/metrics.json").read_text()) == {"val_loss": 0.2}
    assert json.loads((tmp_path / "results/lr-bad/status.json").read_text())["exit_code"] == 1
    assert [path.name[:4] for path in (tmp_path / "results/lr-bad/logs").iterdir()] == ["1-i-"]

    retry_file = CliRunner().invoke(main, ["retry", str(sweep_file), "-o", "retry-sweep.yaml"])
    assert retry_file.exit_code == 0, retry_file.output
    assert [line.split("\t")[0] for line in retry_file.stdout.splitlines()] == ["lr-bad"]
    assert CliRunner().invoke(main, ["compile", "retry-sweep.yaml", "-o", "build"]).exit_code == 0

    # In place: the failed run is open again, and the next apply launches it (and only it) into the same prefix.
    assert CliRunner().invoke(main, ["retry", str(sweep_file)]).exit_code == 0
    assert status(sweep_file)["counts"] == {"pending": 1, "success": 3}
    assert cloud.apply() == {"lr-bad"}
    again = {item["run"]: item for item in status(sweep_file)["instances"]}["lr-bad"]
    assert (again["status"], again["attempts"]) == ("failed", 1)
    assert Counter(cloud.launches) == {"lr-bad": 2, "lr-0.1": 1, "lr-0.01": 1, "lr-0.001": 1}
    logs = aws.s3_tree(BUCKET, f"{cloud.folder}/lr-bad/{contract.LOGS_FOLDER}/")
    assert len(logs) == 2  # one log per attempt, both kept
