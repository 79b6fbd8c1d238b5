"""The workload's environment on the instance (DESIGN §11), real bash against moto server: the workdir
archive extracted to a real absolute target, packages, the `python` shim, setup, and `image` runs.

The how-to's own scripts run byte for byte (examples/howto-*.yaml) in a sandbox whose `/app`, `/opt` and
`/usr/local` are private (bubblewrap): `cd /app`, `/checkpoints`, `/results` and `/tmp/eval.json` are real
paths there and nowhere else. `dnf` and `docker` are recording stand-ins (tests/support/workenv_stubs.py);
the archive is put in S3 where Terraform's aws_s3_object would put it.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from workenv_stubs import calls, install_docker, install_package_manager

from spawn_tf import Checked, check_file, contract
from spawn_tf.emit.code import root_code
from spawn_tf.userdata import user_data

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "spawn-test-bucket"
PRIVATE = ("/app", "/opt", "/usr/local")


@dataclass
class Attempt:
    checked: Checked
    run: Any
    sandbox: Any
    keys: dict[str, bytes]

    @property
    def folder(self) -> str:
        assert self.checked.plan is not None
        return self.checked.plan.sweep_folder

    def status(self) -> dict[str, Any]:
        return json.loads(self.keys[f"{self.folder}/{self.run.name}/{contract.STATUS_FILE}"])

    def control(self, name: str) -> list[str]:
        prefix = f"{self.folder}/{name}/{contract.run_key(self.run.name, self.run.fingerprint)}/"
        return sorted(key.removeprefix(prefix) for key in self.keys if key.startswith(prefix))

    def log(self) -> str:
        prefix = f"{self.folder}/{self.run.name}/{contract.LOGS_FOLDER}/"
        return "".join(value.decode() for key, value in sorted(self.keys.items()) if key.startswith(prefix))


def _sweep_file(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Checked:
    if not (tmp_path / "app").exists():
        shutil.copytree(ROOT / "examples" / "app", tmp_path / "app")
    path = tmp_path / name
    path.write_text(text.replace("results: s3://my-sweeps-bucket/sweeps", f"results: s3://{BUCKET}/sweeps"))
    checked = check_file(path)
    assert checked.plan is not None, [d.render() for d in checked.diagnostics]
    return checked


@pytest.fixture
def attempt(aws, instance, agent_sandbox, results_bucket, tmp_path) -> Callable[..., Attempt]:
    """Run one attempt of `run` of a compiled sweep on a new instance: the archives in S3 first (as Terraform puts them)."""

    def run(checked: Checked, name: str, *, upload: bool = True, packages: tuple[str, ...] = (), docker: bool = False,
            instance_type: str = "t3.micro") -> Attempt:  # fmt: skip
        assert checked.plan is not None and checked.runs is not None
        for root in checked.plan.roots:  # the workdir archives (unless `upload` is false) and the helper module
            for object_name, (_, data) in root_code(checked.plan, root).items():
                if upload or not object_name.endswith(contract.ARCHIVE_SUFFIX):
                    key = contract.control_prefix(checked.plan.sweep_folder, contract.CONTROL_CODE) + object_name
                    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        target = next(candidate for candidate in checked.runs if candidate.name == name)
        instance(instance_type=instance_type)
        sandbox = agent_sandbox(private=PRIVATE)
        install_package_manager(sandbox, missing=packages)
        if docker:
            install_docker(sandbox)
        result = sandbox.run(user_data(checked.plan, target), timeout=180)
        assert result.returncode == 0, result
        return Attempt(checked, target, sandbox, aws.s3_tree(BUCKET))

    return run


# --- the how-to's scripts, byte for byte --------------------------------------------------------


def test_the_sandbox_makes_absolute_folders_private(agent_sandbox, instance) -> None:
    instance()
    sandbox = agent_sandbox(private=PRIVATE)
    result = sandbox.run("#!/bin/bash\nset -e\necho code > /app/x\nmkdir /checkpoints\ncommand -v python || echo no-python\n")
    assert result.returncode == 0, result
    assert sandbox.path("/app/x").read_text() == "code\n"
    assert not Path("/app/x").exists() and not Path("/checkpoints").exists()
    assert "no-python" in result.stdout  # as on Amazon Linux 2023: only python3


def test_howto_early_stopping_stops_a_run_above_the_threshold(attempt, aws, tmp_path) -> None:
    aws.s3.create_bucket(Bucket="results")  # the how-to's own bucket, s3://results/$NAME/
    checked = _sweep_file(tmp_path, (ROOT / "examples" / "howto-early-stopping.yaml").read_text())
    assert "aws s3 cp /tmp/eval.json s3://results/$NAME/early-stopped.json" in (checked.runs or ())[0].settings.script
    stopped = attempt(checked, "es-lr-0.01")
    assert (stopped.status()["status"], stopped.control(contract.CONTROL_DONE)) == ("stopped", ["stopped.0"])
    eval_json = json.loads(aws.s3.get_object(Bucket="results", Key="es-lr-0.01/early-stopped.json")["Body"].read())
    assert eval_json["val_loss"] > 1.0
    assert [c["argv"] for c in calls(stopped.sandbox, "packages")] == [["-y", "install", "jq", "bc"]]
    assert stopped.sandbox.path("/app/train.py").read_bytes() == (ROOT / "examples" / "app" / "train.py").read_bytes()
    assert "exceeds threshold 1.0. Stopping early." in stopped.log()
    assert "model.pth" not in json.dumps(aws.s3.list_objects_v2(Bucket="results").get("Contents", []), default=str)


def test_howto_early_stopping_trains_on_below_the_threshold(attempt, aws, tmp_path) -> None:
    aws.s3.create_bucket(Bucket="results")
    checked = _sweep_file(tmp_path, (ROOT / "examples" / "howto-early-stopping.yaml").read_text())
    success = attempt(checked, "es-lr-0.001")
    assert (success.status()["status"], success.control(contract.CONTROL_DONE)) == ("success", ["success.0"])
    model = json.loads(aws.s3.get_object(Bucket="results", Key="es-lr-0.001/model.pth")["Body"].read())
    assert model["epoch"] == 100 and model["val_loss"] < 1.0


def test_howto_dynamic_results_upload_uploads_as_it_completes(attempt, aws, tmp_path) -> None:
    aws.s3.create_bucket(Bucket="my-bucket")
    checked = _sweep_file(tmp_path, (ROOT / "examples" / "howto-dynamic-results-upload.yaml").read_text())
    done = attempt(checked, "run-001")
    assert done.status()["status"] == "success"
    keys = {item["Key"] for item in aws.s3.list_objects_v2(Bucket="my-bucket")["Contents"]}
    assert keys == {"sweep-results/run-001/model.pth", "sweep-results/run-001/metrics.json"}
    metrics = json.loads(aws.s3.get_object(Bucket="my-bucket", Key="sweep-results/run-001/metrics.json")["Body"].read())
    assert (metrics["name"], metrics["learning_rate"], metrics["batch_size"]) == ("run-001", 0.001, 32)


# --- what fails before the script ---------------------------------------------------------------

SETTINGS = """\
sweep: env
results: s3://spawn-test-bucket/sweeps
defaults:
  instance_type: m7i.large
  ttl: 1h
  retry_failed: true
  max_attempts: 2
  workdir: {source: ./app, target: /app}
%s  user_data: |
    #!/bin/bash
    echo "in $PWD with SPAWN_WORKDIR=$SPAWN_WORKDIR"
    python -c 'import sys; print("python is", sys.version_info[0])'
    exit 3
params:
  - name: r1
"""


def _failed_twice(attempt, checked: Checked, **options: Any) -> tuple[Attempt, Attempt]:
    """Two attempts on two instances: the first is retried (retry_failed, max_attempts: 2), the second is final."""
    first = attempt(checked, "r1", **options)
    assert first.status()["status"] == "failed" and first.control(contract.CONTROL_DONE) == []
    second = attempt(checked, "r1", **options)
    assert second.status()["attempt"] == 2 and second.control(contract.CONTROL_DONE) == ["failed.none"]
    return first, second


def test_a_failing_setup_fails_the_attempt_with_reason_setup(attempt, tmp_path) -> None:
    checked = _sweep_file(tmp_path, SETTINGS % "  setup: |\n    echo setting up in $PWD\n    false\n")
    first, second = _failed_twice(attempt, checked)
    assert first.status()["reason"] == second.status()["reason"] == "setup"
    assert "setting up in /app" in first.log() and "python is" not in first.log()


def test_a_failing_package_install_fails_the_attempt_naming_the_error(attempt, tmp_path) -> None:
    checked = _sweep_file(tmp_path, SETTINGS % "  packages: [jq, no-such-package]\n")
    first, _ = _failed_twice(attempt, checked, packages=("no-such-package",))
    reason = first.status()["reason"]
    assert reason.startswith("packages: dnf -y install exited 1") and "Unable to find a match: no-such-package" in reason
    assert len(calls(first.sandbox, "packages")) == 3  # retried


def test_a_workdir_archive_missing_from_s3_fails_the_attempt_with_reason_workdir(attempt, tmp_path) -> None:
    checked = _sweep_file(tmp_path, SETTINGS % "")
    first, _ = _failed_twice(attempt, checked, upload=False)
    assert first.status()["reason"].startswith("workdir: cannot read s3://")


def test_an_archive_that_is_not_the_one_compiled_is_not_extracted(attempt, aws, tmp_path) -> None:
    checked = _sweep_file(tmp_path, SETTINGS % "")
    assert checked.plan is not None and checked.runs is not None
    sha = checked.runs[0].settings.code_sha256
    other = gzip.compress(b"not the tar that was compiled")
    aws.s3.put_object(Bucket=BUCKET, Key=contract.code_key(checked.plan.sweep_folder, str(sha)), Body=other)
    first = attempt(checked, "r1", upload=False)
    assert first.status()["reason"].endswith("is not the archive compiled (sha256 differs)")
    assert not first.sandbox.path("/app").exists() or not any(first.sandbox.path("/app").iterdir())


def test_the_script_starts_in_the_workdir_with_python_and_its_exit_code(attempt, tmp_path) -> None:
    checked = _sweep_file(tmp_path, SETTINGS % "")
    first = attempt(checked, "r1")
    assert (first.status()["status"], first.status()["exit_code"]) == ("failed", 3)
    assert "in /app with SPAWN_WORKDIR=/app" in first.log() and "python is 3" in first.log()


# --- image runs ----------------------------------------------------------------------------------

IMAGE = """\
sweep: img
results: s3://spawn-test-bucket/sweeps
defaults:
  instance_type: %s
  ttl: 1h
  image: %s
  workdir: ./app
  setup: echo setup ran in $PWD
  user_data: |
    #!/bin/bash
    echo "container work in $PWD for $NAME: $GREETING"
    exit 7
params:
  - name: r1
    greeting: "it's \\"quoted\\" $HOME"
"""
ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/trainer:v1"


@pytest.mark.parametrize(("instance_type", "gpus"), [("g5.xlarge", True), ("m7i.large", False)])
def test_an_image_run_runs_setup_and_script_in_docker_run(attempt, tmp_path, instance_type: str, gpus: bool) -> None:
    checked = _sweep_file(tmp_path, IMAGE % (instance_type, "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"))
    done = attempt(checked, "r1", docker=True, instance_type=instance_type)
    assert (done.status()["status"], done.status()["exit_code"]) == ("failed", 7)  # the container's exit code
    pull, run = calls(done.sandbox, "docker")
    assert pull["argv"] == ["pull", "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"]
    assert run["image"] == "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    assert [option for option in run["options"] if option[0] == "--gpus"] == ([["--gpus", "all"]] if gpus else [])
    assert ["--network", "host"] in run["options"] and ["--rm", None] in run["options"]
    assert run["env"]["NAME"] == "r1" and run["env"]["GREETING"] == 'it\'s "quoted" $HOME'
    assert run["env"]["SPAWN_RUN"] == "r1" and "SPAWN_OUTPUT_DIR" in run["env"] and "PATH" not in run["env"]
    mounted = {inside for _, inside in run["mounts"]}
    workdir = contract.DEFAULT_WORKDIR_TARGET
    assert {workdir, contract.DEFAULT_OUTPUT_DIR, "/opt/spawn", "/usr/local/bin/spored"} <= mounted
    assert any(path.endswith("/aws") or "awscli" in path for path in mounted)
    assert ["-w", workdir] in run["options"]
    assert f"setup ran in {workdir}" in done.log() and f"container work in {workdir} for r1: it's \"quoted\" $HOME" in done.log()


def test_an_ecr_image_logs_in_with_the_instance_role(attempt, aws, tmp_path) -> None:
    checked = _sweep_file(tmp_path, IMAGE % ("m7i.large", ECR_IMAGE))
    done = attempt(checked, "r1", docker=True)
    login, pull, _ = calls(done.sandbox, "docker")
    assert login["argv"] == ["login", "--username", "AWS", "--password-stdin", "123456789012.dkr.ecr.us-east-1.amazonaws.com"]
    assert login["password"]
    assert pull["argv"] == ["pull", ECR_IMAGE]
