"""`spawn-tf record-apply ROOT`: `terraform apply -json | spawn-tf record-apply ROOT` writes launch's capacity markers (DESIGN §13).

The stream is a recorded-shape one (tests/support/apply_stream.py); the candidates come from the state
a stand-in `terraform show -json` prints; the markers go to moto server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apply_stream import (
    ERRORS,
    FOLDER,
    NO_AMI,
    NO_CAPACITY,
    NO_SPOT,
    ONE_ROOT,
    PLANNED,
    T0,
    event,
    expected_markers,
    failing_apply,
    instance,
    lines,
    write_apply_stand_in,
)
from click.testing import CliRunner, Result
from offline_build import BUCKET, cli, sweep_text
from sandbox import Aws

from spawn_tf import contract
from spawn_tf.cli import main

MARKERS = f"{FOLDER}/{contract.CONTROL_CAPACITY}/"


@pytest.fixture
def build(tmp_path: Path, launch_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """build/lt of the three runs of one root, compiled; a stand-in terraform on PATH whose state holds PLANNED's candidates."""
    monkeypatch.setenv("STAND_IN_LOG", str(tmp_path / "calls.jsonl"))
    stand_in(launch_env, PLANNED)
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text(ONE_ROOT))
    assert cli("compile", sweep, "-o", tmp_path / "build").exit_code == 0
    return tmp_path / "build" / "lt"


def stand_in(launch_env: dict[str, str], state: dict[str, int]) -> None:
    write_apply_stand_in(Path(launch_env["bin"]) / "terraform", lines(failing_apply(ERRORS)), runs=list(ONE_ROOT),
                         plan_candidates=PLANNED, state_candidates=state)  # fmt: skip


def record(root: Path | str, stream: str) -> Result:
    return CliRunner().invoke(main, ["record-apply", str(root)], input=stream, catch_exceptions=False)


def calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_same_stream_through_record_apply_writes_the_markers_launch_writes(
    build: Path, tmp_path: Path, launch_env: dict[str, str], results_s3: Aws
) -> None:
    launched = cli("launch", build, "--auto-approve", "--ignore-quota")
    assert launched.exit_code == contract.ExitCode.PARTIAL, launched.stderr
    by_launch = results_s3.s3_tree(BUCKET, MARKERS)
    assert set(by_launch) == expected_markers(build, PLANNED, {"a": T0, "b": T0 + 1})
    results_s3.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in by_launch]})
    result = record(build / "us-east-1", lines(failing_apply(ERRORS)))
    assert result.exit_code == 1, result.stderr  # the apply had errors
    assert results_s3.s3_tree(BUCKET, MARKERS) == by_launch
    root = (build / "us-east-1").resolve()
    assert calls(tmp_path)[-1] == [f"-chdir={root}", "show", "-json"]  # the state, read after the stream ended
    assert f"{instance('a')}: Creation errored after 1s" in result.stdout.splitlines()  # the human lines, as they came
    assert '"@message"' not in result.stdout
    assert f"{build / 'us-east-1'}: error: {instance('c')}: {NO_AMI}\n" in result.stderr
    assert (
        f"{build / 'us-east-1'}: no capacity for run 'a' on candidate 2 (InsufficientInstanceCapacity): marker s3://{BUCKET}/"
        in result.stderr
    )


def test_recording_the_same_stream_again_writes_the_same_keys(build: Path, results_s3: Aws) -> None:
    stream = lines(failing_apply(ERRORS))
    assert record(build / "us-east-1", stream).exit_code == 1
    first = results_s3.s3_tree(BUCKET, MARKERS)
    assert record(build / "us-east-1", stream).exit_code == 1
    assert results_s3.s3_tree(BUCKET, MARKERS) == first and len(first) == 2


def test_a_run_missing_from_the_states_candidates_is_reported_not_guessed(build: Path, launch_env: dict[str, str], results_s3: Aws) -> None:
    stand_in(launch_env, {"a": 2, "c": 1})  # no terraform_data.candidate["b"] in the state
    result = record(build / "us-east-1", lines(failing_apply(ERRORS)))
    assert result.exit_code == 1
    assert set(results_s3.s3_tree(BUCKET, MARKERS)) == expected_markers(build, PLANNED, {"a": T0})
    assert (
        f'error (a capacity error, no marker: no {contract.CANDIDATE_RESOURCE}["b"] in the plan or state): {instance("b")}: {NO_SPOT}'
        in result.stderr
    )


def test_an_apply_without_errors_exits_0_and_reads_no_state(build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: no call to AWS either
    done = [
        event("version", "Terraform 1.15.5", T0),
        event("change_summary", "Apply complete! Resources: 3 added, 0 changed, 0 destroyed.", T0),
    ]
    result = record(build / "us-east-1", lines(done))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Terraform 1.15.5\nApply complete! Resources: 3 added, 0 changed, 0 destroyed.\n"
    assert calls(tmp_path) == []


def test_only_unrelated_errors_exit_1_with_them_named_and_no_marker(build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    result = record(build / "us-east-1", lines(failing_apply({"c": NO_AMI})))
    assert result.exit_code == 1
    assert result.stderr == f"{build / 'us-east-1'}: error: {instance('c')}: {NO_AMI}\n"
    assert calls(tmp_path) == []


def test_a_stream_that_is_not_json_is_printed_then_refused(build: Path) -> None:
    result = record(build / "us-east-1", "Apply complete! Resources: 3 added, 0 changed, 0 destroyed.\n")
    assert result.exit_code == 1
    assert result.stdout == "Apply complete! Resources: 3 added, 0 changed, 0 destroyed.\n"
    assert "no `terraform apply -json` event on stdin: no marker written" in result.stderr
    assert "hint: pipe the apply's JSON output in" in result.stderr


@pytest.mark.parametrize("where", ["elsewhere", "build/lt/eu-west-1"])
def test_a_folder_that_is_not_a_root_of_the_build_is_refused_after_the_whole_stream(build: Path, tmp_path: Path, where: Any) -> None:
    (tmp_path / where).mkdir(parents=True)
    stream = lines(failing_apply({"a": NO_CAPACITY}))
    result = record(tmp_path / where, stream)
    assert result.exit_code == 1
    assert f"{instance('a')}: Creation errored after 1s" in result.stdout  # read to its end: Terraform never meets a closed pipe
    assert "not a root of" in result.stderr


def test_markers_that_cannot_be_written_are_named_with_why_and_exit_3(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = record(build / "us-east-1", lines(failing_apply(ERRORS)))
    assert result.exit_code == contract.ExitCode.PARTIAL
    other, *capacity = result.stderr.splitlines()
    assert other == f"{build / 'us-east-1'}: error: {instance('c')}: {NO_AMI}"
    why = f"{build / 'us-east-1'}: error (a capacity error, no marker: cannot connect to AWS at http://127.0.0.1:9/"
    assert [line.startswith(why) for line in capacity] == [True, True]
    assert capacity[0].endswith(f"): {instance('a')}: {NO_CAPACITY}") and capacity[1].endswith(f"): {instance('b')}: {NO_SPOT}")
