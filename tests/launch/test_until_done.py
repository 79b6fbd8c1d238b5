"""launch --until-done: rounds of apply with the embedded Terraform, the status read from moto server (DESIGN §7, §10).

launch runs as its own process, as a user runs it: the test writes S3's control keys between rounds and
sends SIGINT to its process group, as a terminal's Ctrl-C does.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imds import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from offline_build import BUCKET, THREE, cli, state_resources, sweep_text, write_stand_in
from sandbox import Aws

from spawn_tf import contract, manifest
from spawn_tf.launch.lock import build_lock

REPO = Path(__file__).resolve().parents[2]
FOLDER = "sweeps/lt"


@pytest.fixture
def moto_env(aws: Aws, launch_env: dict[str, str]) -> dict[str, str]:
    aws.s3.create_bucket(Bucket=BUCKET)
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": aws.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": aws.region, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    })  # fmt: skip
    env.pop("AWS_PROFILE", None)
    return env


class Launch:
    """`spawn-tf launch ... --until-done` running in a session of its own; its stderr read line by line."""

    def __init__(self, build: Path, env: dict[str, str], *extra: str) -> None:
        self._start(["launch", str(build), "--until-done", "--auto-approve", "--local-state-ok", *extra], env)

    @classmethod
    def plain(cls, args: list[str], env: dict[str, str]) -> Launch:
        """Any spawn-tf command line, e.g. a launch without --until-done."""
        launch = cls.__new__(cls)
        launch._start(args, env)
        return launch

    def _start(self, args: list[str], env: dict[str, str]) -> None:
        argv = [sys.executable, "-m", "spawn_tf.cli", *args]
        self.process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if wanted(line):
                return line
        raise AssertionError("not seen; stderr so far:\n" + "\n".join(self.lines))

    def end(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # as a terminal does: to launch's process group, not Terraform's


@pytest.fixture
def started(moto_env: dict[str, str]) -> Iterator[Callable[..., Launch]]:
    launches: list[Launch] = []

    def start(build: Path, *extra: str) -> Launch:
        launches.append(Launch(build, moto_env, *extra))
        return launches[-1]

    yield start
    for launch in launches:
        if launch.process.poll() is None:
            launch.process.kill()
            launch.process.wait()


def _done_keys(build: Path) -> list[str]:
    runs = manifest.runs(json.loads((build / contract.MANIFEST_FILE).read_text()))
    return [contract.done_key(FOLDER, contract.run_key(run.name, run.fingerprint), "success", 0) for run in runs]


def _terraform_processes(build: Path) -> list[str]:
    """Command lines of live processes that name the build (a Terraform at work in one of its roots)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and str(build) in line and "-chdir=" in line:
            found.append(line)
    return found


def _eventually(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never came true"
        time.sleep(0.05)


def _no_state_lock(build: Path) -> bool:
    return not list(build.glob("*/.terraform.tfstate.lock.info"))


def test_rounds_stop_once_every_run_has_a_done_marker(compiled: Any, started: Callable[..., Launch], aws: Aws) -> None:
    build = compiled({"a": THREE["a"], "b": THREE["b"]})
    launch = started(build, "--every", "1s")
    launch.wait_for(lambda line: line == "round 1: lt: 0 done, 0 running, 2 pending, 0 failed")
    for key in _done_keys(build):
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
    assert launch.end() == 0, "\n".join(launch.lines)
    assert launch.lines[-2:] == ["round 2: lt: 2 done, 0 running, 0 pending, 0 failed", "spawn-tf: every run is final"]
    assert "round 2" in launch.lines and "nothing to apply: every root is as its configuration says" in launch.lines
    second = launch.lines[launch.lines.index("round 2") :]
    assert not [line for line in second if " to launch, " in line and not line.startswith("total:")]  # unchanged roots: no line each
    assert state_resources(build / "eu-west-1") and state_resources(build / "us-east-1")


def test_rounds_stop_when_the_sweep_is_cancelled(compiled: Any, started: Callable[..., Launch], aws: Aws) -> None:
    build = compiled({"a": THREE["a"]})
    launch = started(build, "--every", "1s")
    launch.wait_for(lambda line: line.startswith("round 1: lt:"))
    aws.s3.put_object(Bucket=BUCKET, Key=contract.stop_key(FOLDER), Body=b"")
    assert launch.end() == 1
    assert launch.lines[-1] == "spawn-tf: cancelled: lt"


def test_ctrl_c_between_rounds_ends_at_once_with_no_terraform_running_and_no_lock(compiled: Any, started: Callable[..., Launch]) -> None:
    build = compiled({"a": THREE["a"]})
    launch = started(build, "--every", "10m")
    launch.wait_for(lambda line: line.startswith("round 1: lt:"))
    start = time.monotonic()
    launch.ctrl_c()
    assert launch.end(timeout=30) == contract.ExitCode.INTERRUPTED
    assert time.monotonic() - start < 10  # not a wait for the next round
    assert "spawn-tf: interrupted: no Terraform is running; run the command again to go on" in launch.lines
    assert _terraform_processes(build) == [] and _no_state_lock(build)
    with build_lock(build, "test"):  # the build's own lock is free again
        pass


def test_ctrl_c_during_an_apply_lets_it_finish(compiled: Any, started: Callable[..., Launch]) -> None:
    build = compiled({"a": THREE["a"]})
    launch = started(build, "--every", "10m")
    launch.wait_for(lambda line: line == "lt/eu-west-1: apply")
    launch.ctrl_c()
    assert launch.end(timeout=60) == contract.ExitCode.INTERRUPTED
    log = (build / "eu-west-1" / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG).read_text()
    assert "lt/eu-west-1: applied" in " ".join(launch.lines), "\n".join([*launch.lines, log])  # the apply in flight finished
    assert not any(line.startswith("round 1: lt:") for line in launch.lines)
    assert "terraform_data.aws_instance__run['a']" in state_resources(build / "eu-west-1")
    assert _terraform_processes(build) == [] and _no_state_lock(build)


def test_until_done_with_local_state_needs_local_state_ok(compiled: Any) -> None:
    build = compiled({"a": THREE["a"]})
    result = cli("launch", build, "--until-done", "--auto-approve")
    assert result.exit_code == 1
    assert "--until-done with local state (lt/eu-west-1): a lost state file would launch every active run again" in result.stderr
    assert not (build / "eu-west-1" / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG).exists()  # refused before any Terraform


@pytest.fixture
def slow_stand_in(moto_env: dict[str, str], launch_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A `terraform` on PATH whose apply takes 4 s, and which records being interrupted (SIGINT) or finishing."""
    write_stand_in(Path(launch_env["bin"]) / "terraform")
    return {**moto_env, "PATH": os.environ["PATH"], "STAND_IN_LOG": str(tmp_path / "calls.jsonl"), "STAND_IN_APPLY_SECONDS": "4"}


def test_ctrl_c_never_reaches_terraform_and_the_apply_in_flight_finishes(
    compiled: Any, slow_stand_in: dict[str, str], tmp_path: Path
) -> None:
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}))
    launch = Launch.plain(["launch", str(sweep), "-o", str(tmp_path / "build"), "--auto-approve"], slow_stand_in)
    root = tmp_path / "build" / "lt" / "eu-west-1"
    _eventually((root / "apply-started").exists)  # Terraform is applying, its SIGINT handler set
    launch.ctrl_c()
    assert launch.end(timeout=30) == contract.ExitCode.INTERRUPTED
    assert (root / "apply-finished").exists() and not (root / "apply-interrupted").exists()


def test_a_second_ctrl_c_asks_terraform_to_stop(compiled: Any, slow_stand_in: dict[str, str], tmp_path: Path) -> None:
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text({"a": THREE["a"]}))
    launch = Launch.plain(
        ["launch", str(sweep), "-o", str(tmp_path / "build"), "--auto-approve"], {**slow_stand_in, "STAND_IN_APPLY_SECONDS": "60"}
    )
    launch.wait_for(lambda line: line == "lt/eu-west-1: apply")
    launch.ctrl_c()
    launch.wait_for(lambda line: "interrupted: the Terraform commands in flight finish" in line)
    root = tmp_path / "build" / "lt" / "eu-west-1"
    _eventually((root / "apply-started").exists)  # its SIGINT handler is set
    launch.ctrl_c()
    assert launch.end(timeout=30) == contract.ExitCode.INTERRUPTED
    assert (root / "apply-interrupted").exists() and not (root / "apply-finished").exists()
