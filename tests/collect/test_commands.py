"""bootstrap, list-sweeps and wait; and the seed how-to's own shell lines, run with bash and the real jq."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from moto_layout import DEFAULT_BUCKET, REGION

from spawn_tf import contract
from spawn_tf.cli import main
from spawn_tf.pipeline import compile_file

STAGE = """\
sweep: {sweep}
defaults:
  instance_type: t3.micro
  ttl: 1h
  command: python3 train.py
params:
  - {{name: run-023, learning_rate: 0.1}}
  - {{name: run-024, learning_rate: 0.01}}
  - {{name: run-045, learning_rate: 0.001}}
  - {{name: run-078, learning_rate: 0.0001}}
"""


def applied(layout, sweep_id: str):
    """A sweep reporting to the default bucket, with the manifests `terraform apply` uploads.

    The bucket is made plainly: bootstrap's TLS-only policy refuses moto's plain HTTP (as AWS would).
    """
    sweep = layout(STAGE.format(sweep=sweep_id), name=f"{sweep_id}.yaml", create_bucket=False)
    with contextlib.suppress(sweep.aws.s3.exceptions.BucketAlreadyOwnedByYou):
        sweep.aws.s3.create_bucket(Bucket=sweep.bucket)
    _, files = compile_file(sweep.sweep_file)
    assert files is not None
    for path, content in files.items():
        if path.name == contract.ROOT_MANIFEST_FILE:
            sweep.put(contract.manifest_key(sweep.folder, path.parts[0]), content)
    return sweep


def test_bootstrap_makes_a_private_encrypted_bucket_and_can_run_again(aws, collector_env) -> None:
    result = CliRunner().invoke(main, ["bootstrap"])
    assert result.exit_code == 0, result.output
    assert f"s3://{DEFAULT_BUCKET} ({REGION}): created" in result.stderr
    block = aws.s3.get_public_access_block(Bucket=DEFAULT_BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    rule = aws.s3.get_bucket_encryption(Bucket=DEFAULT_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(aws.s3.get_bucket_policy(Bucket=DEFAULT_BUCKET)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert aws.s3.get_bucket_ownership_controls(Bucket=DEFAULT_BUCKET)["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    again = CliRunner().invoke(main, ["bootstrap"])
    assert again.exit_code == 0 and again.stderr == f"s3://{DEFAULT_BUCKET} ({REGION}): already there; left as it is\n"
    with pytest.raises(aws.s3.exceptions.ClientError, match="Forbidden"):  # moto applies the policy: plain HTTP is refused
        aws.s3.put_object(Bucket=DEFAULT_BUCKET, Key="x", Body=b"")

    elsewhere = CliRunner().invoke(main, ["bootstrap", "--region", "eu-west-1"])
    bucket = contract.DEFAULT_RESULTS_BUCKET.format(account_id="123456789012", region="eu-west-1")
    assert elsewhere.exit_code == 0 and aws.s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"


def test_bootstrap_leaves_an_existing_bucket_as_it_is(aws, collector_env) -> None:
    aws.s3.create_bucket(Bucket="team-results")
    rules = {"Rules": [{"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3}}]}
    aws.s3.put_bucket_lifecycle_configuration(Bucket="team-results", LifecycleConfiguration=rules)
    result = CliRunner().invoke(main, ["bootstrap", "--bucket", "team-results"])
    assert result.exit_code == 0, result.output
    assert "already there; left as it is" in result.stderr
    assert "spawn-tf: warning: s3://team-results: public access is not fully blocked" in result.stderr
    assert aws.s3.get_bucket_lifecycle_configuration(Bucket="team-results")["Rules"][0]["ID"] == "expire"
    with pytest.raises(aws.s3.exceptions.ClientError):
        aws.s3.get_bucket_policy(Bucket="team-results")


def test_list_sweeps_and_a_sweep_by_id(layout, aws) -> None:
    stage1, stage2 = applied(layout, "stage1-coarse"), applied(layout, "stage2-fine")
    stage1.put_many([item for run in ("run-023", "run-024", "run-045", "run-078") for item in stage1.finished(run, "success", 0)])
    stage2.put_many(stage2.finished("run-023", "failed", 1))
    stage3 = applied(layout, "stage3-cancelled")
    assert CliRunner().invoke(main, ["cancel", str(stage3.sweep_file), "--all"]).exit_code == 0
    result = CliRunner().invoke(main, ["list-sweeps"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["SWEEP", "STATUS", "FINAL", "REGIONS", "UPDATED"]
    assert [line[:4] for line in lines[1:]] == [["stage1-coarse", "completed", "4/4", "us-east-1"], ["stage2-fine", "running", "1/4", "us-east-1"],
                                                ["stage3-cancelled", "completed", "4/4", "us-east-1"]]  # fmt: skip
    listed = json.loads(CliRunner().invoke(main, ["list-sweeps", "--json"]).stdout)
    assert [(entry["sweep"], entry["final"], entry["runs"]) for entry in listed] == [("stage1-coarse", 4, 4), ("stage2-fine", 1, 4),
                                                                                     ("stage3-cancelled", 4, 4)]  # fmt: skip

    stage2.put(contract.manifest_key(stage2.folder, "broken"), b"{not json")
    broken = CliRunner().invoke(main, ["list-sweeps"])
    assert broken.exit_code == 3 and "_manifest/broken.json: not JSON" in broken.stderr
    assert [line.split()[0] for line in broken.stdout.splitlines()[1:]] == ["stage1-coarse", "stage3-cancelled"]
    assert CliRunner().invoke(main, ["status", "stage2-fine"]).exit_code == 1
    stage2.aws.s3.delete_object(Bucket=stage2.bucket, Key=contract.manifest_key(stage2.folder, "broken"))

    by_id = CliRunner().invoke(main, ["status", "stage2-fine", "--json"])  # no file: the manifests in S3
    assert by_id.exit_code == 0, by_id.output
    assert {item["run"]: item["status"] for item in json.loads(by_id.stdout)["instances"]}["run-023"] == "failed"
    missing = CliRunner().invoke(main, ["status", "stage3"])
    assert missing.exit_code == 1, missing.output
    assert missing.stderr.startswith(f"spawn-tf: error: no sweep 'stage3' found; looked in:\n    s3://{DEFAULT_BUCKET}/sweeps/stage3/ "
                                     "(the account's default bucket): not there\n")  # fmt: skip


@pytest.fixture
def spawn_tf_on_path(tmp_path: Path, collector_env: dict[str, str]) -> dict[str, str]:
    """An environment whose `spawn-tf` is this checkout's, as a user's shell would have it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "spawn-tf"
    launcher.write_text(f"#!/bin/sh\nexec '{sys.executable}' -c 'from spawn_tf.cli import main; main()' \"$@\"\n")
    launcher.chmod(0o755)
    return {**os.environ, **collector_env, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(Path(__file__).parents[2])}


def test_the_seed_how_tos_shell_lines_work_verbatim(layout, spawn_tf_on_path, tmp_path) -> None:
    """"Resume Failed Sweeps" and "Parallel Sweeps with Dependencies", with `spawn` spelt `spawn-tf`."""
    assert shutil.which("jq"), "jq is installed by .ci/run"
    sweep = applied(layout, "sweep-20260127-abc123")
    items = sweep.finished("run-024", "success", 0) + sweep.finished("run-023", "failed", 1)
    items += sweep.finished("run-045", "failed", 137) + sweep.finished("run-078", "timeout", None)
    sweep.put_many(items)
    stage1 = applied(layout, "stage1-coarse")
    stage1.put_many([item for run in ("run-023", "run-024", "run-045", "run-078") for item in stage1.finished(run, "success", 0)])

    script = """\
set -euo pipefail
spawn-tf status sweep-20260127-abc123 --json > sweep-status.json

# Extract failed parameter names
jq -r '.instances[] | select(.exit_code != 0) | .parameter_name' sweep-status.json > failed.txt

SWEEP1=$(spawn-tf list-sweeps | grep stage1 | awk '{print $1}')
while true; do
  STATUS=$(spawn-tf status $SWEEP1 --json | jq -r '.status')
  if [ "$STATUS" = "completed" ]; then
    break
  fi
  echo "Waiting for stage 1... ($STATUS)"
  sleep 60
done
spawn-tf collect-results $SWEEP1 --output stage1-results/
echo "$SWEEP1 $STATUS"
"""
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=spawn_tf_on_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "failed.txt").read_text().splitlines() == ["run-023", "run-045", "run-078"]
    assert result.stdout.strip() == "stage1-coarse completed"
    assert sorted(path.name for path in (tmp_path / "stage1-results").iterdir()) == ["run-023", "run-024", "run-045", "run-078"]


def test_wait_exit_codes(layout) -> None:
    sweep = layout(STAGE.format(sweep="waiting"))
    sweep.put_many(sweep.finished("run-023", "success", 0))
    timed_out = CliRunner().invoke(main, ["wait", str(sweep.sweep_file), "--timeout", "1s", "--interval", "1"])
    assert timed_out.exit_code == 2 and "gave up waiting after 1s" in timed_out.stderr
    assert "sweep waiting: running (4 runs: 3 pending, 1 success)" in timed_out.stderr
    sweep.put_many(sweep.finished("run-024", "success", 0) + sweep.finished("run-045", "stopped", 0) + sweep.finished("run-078", "success", 0))
    assert CliRunner().invoke(main, ["wait", str(sweep.sweep_file)]).exit_code == 0

    failing = layout(STAGE.format(sweep="failing"), name="failing.yaml", create_bucket=False)
    failing.put_many([item for run in ("run-023", "run-024", "run-045") for item in failing.finished(run, "success", 0)])
    assert CliRunner().invoke(main, ["cancel", str(failing.sweep_file), "--run", "run-078"]).exit_code == 0
    result = CliRunner().invoke(main, ["wait", str(failing.sweep_file)])
    assert result.exit_code == 1, result.output
    assert "spawn-tf: run-078: cancelled" in result.stderr
    bad = CliRunner().invoke(main, ["wait", str(sweep.sweep_file), "--timeout", "soon"])
    assert bad.exit_code == 2 and "'soon' is not a duration" in bad.output


def test_without_credentials_the_commands_say_so_and_stop(layout, monkeypatch) -> None:
    sweep = layout(STAGE.format(sweep="creds").replace("defaults:", "results: s3://spawn-test-bucket/sweeps\ndefaults:"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for command in (["status", "--json"], ["wait"], ["results", "--sort-by", "loss", "--no-save"]):
        result = CliRunner().invoke(main, [command[0], str(sweep.sweep_file), *command[1:]])
        assert (result.exit_code, result.stdout) == (1, ""), (command, result.output)
        assert "spawn-tf: error: no AWS credentials" in result.stderr


def test_a_sweep_id_in_a_named_results_location(layout) -> None:
    text = STAGE.format(sweep="elsewhere").replace("defaults:", "results: s3://spawn-test-bucket/team/sweeps\ndefaults:")
    sweep = layout(text)
    _, files = compile_file(sweep.sweep_file)
    sweep.put_many([(contract.manifest_key(sweep.folder, path.parts[0]), content) for path, content in files.items() if path.name == contract.ROOT_MANIFEST_FILE])
    sweep.put_many(sweep.finished("run-045", "success", 0))
    where = ["--results", "s3://spawn-test-bucket/team/sweeps"]
    listed = CliRunner().invoke(main, ["list-sweeps", *where])
    assert listed.stdout.splitlines()[1].split()[:3] == ["elsewhere", "running", "1/4"]
    result = CliRunner().invoke(main, ["status", "elsewhere", *where, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == {"pending": 3, "success": 1}
    bad = CliRunner().invoke(main, ["status", "elsewhere", "--results", "http://nope"])
    assert bad.exit_code == 1 and "--results 'http://nope' is not s3://BUCKET/PREFIX" in bad.stderr


def test_a_bare_id_finds_a_sweep_with_its_own_results_location(layout, tmp_path, monkeypatch) -> None:
    """compile remembers where each sweep reports (an index of the user's), so `status ID` needs no --results;
    $SPAWN_TF_RESULTS is the location of ids the index does not know; a miss names every place looked."""
    sweep = layout(STAGE.format(sweep="custom").replace("defaults:", "results: s3://spawn-test-bucket/team/sweeps\ndefaults:"))
    build = tmp_path / "build"
    compiled = CliRunner().invoke(main, ["compile", str(sweep.sweep_file), "-o", str(build)])
    assert compiled.exit_code == 0, compiled.output
    for manifest in sorted((build / "custom").glob(f"*/{contract.ROOT_MANIFEST_FILE}")):  # what `terraform apply` uploads
        sweep.put(contract.manifest_key(sweep.folder, manifest.parent.name), manifest.read_bytes())
    sweep.put_many(sweep.finished("run-045", "success", 0))

    for command in (["status", "custom", "--json"], ["wait", "custom", "--timeout", "1s", "--interval", "1"],
                    ["collect-results", "custom", "-o", str(tmp_path / "out")]):  # fmt: skip
        result = CliRunner().invoke(main, command)
        assert "no sweep" not in result.stderr, (command, result.output)
    status = CliRunner().invoke(main, ["status", "custom", "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout)["counts"] == {"pending": 3, "success": 1}
    index = json.loads(Path(os.environ[contract.ENV_SWEEP_INDEX]).read_text())
    assert index["sweeps"]["custom"] == {"sweep": "custom", "bucket": "spawn-test-bucket", "prefix": "team/sweeps",
                                         "bucket_region": "us-east-1", "home_region": "us-east-1", "build": str((build / "custom").resolve())}  # fmt: skip

    # Compiled elsewhere (an empty index): $SPAWN_TF_RESULTS says where ids report.
    monkeypatch.setenv(contract.ENV_SWEEP_INDEX, str(tmp_path / "other-index.json"))
    missing = CliRunner().invoke(main, ["status", "custom"])
    assert missing.exit_code == 1
    assert f"looked in:\n    s3://{DEFAULT_BUCKET}/sweeps/custom/ (the account's default bucket): NoSuchBucket" in missing.stderr
    monkeypatch.setenv(contract.ENV_DEFAULT_RESULTS, "s3://spawn-test-bucket/team/sweeps")
    assert CliRunner().invoke(main, ["status", "custom", "--json"]).exit_code == 0
    listed = CliRunner().invoke(main, ["list-sweeps"])
    assert listed.exit_code == 0 and listed.stdout.splitlines()[1].split()[0] == "custom"
    gone = CliRunner().invoke(main, ["status", "nowhere"])
    assert gone.exit_code == 1
    assert gone.stderr.splitlines()[1:3] == ["    s3://spawn-test-bucket/team/sweeps/nowhere/ ($SPAWN_TF_RESULTS): not there",
                                             f"    s3://{DEFAULT_BUCKET}/sweeps/nowhere/ (the account's default bucket): NoSuchBucket: "
                                             "The specified bucket does not exist"]  # fmt: skip
    monkeypatch.setenv(contract.ENV_DEFAULT_RESULTS, "s3://b/p")
    bad = CliRunner().invoke(main, ["status", "nowhere"])
    assert bad.exit_code == 1
    assert ("spawn-tf: error: $SPAWN_TF_RESULTS 's3://b/p' is not s3://BUCKET/PREFIX: "
            "the bucket name 'b' has 1 characters; bucket names have 3 to 63") in bad.stderr  # fmt: skip


def test_the_index_is_bounded_and_survives_damage(tmp_path, monkeypatch) -> None:
    from spawn_tf import sweep_index

    path = tmp_path / "state" / "sweeps.json"
    monkeypatch.setenv(contract.ENV_SWEEP_INDEX, str(path))
    for n in range(contract.MAX_SWEEP_INDEX_ENTRIES + 5):
        assert sweep_index.remember(f"s-{n}", bucket=None, prefix="sweeps", bucket_region="eu-west-1", home_region="eu-west-1",
                                    build_dir=tmp_path / f"s-{n}") is None  # fmt: skip
    kept = json.loads(path.read_text())["sweeps"]
    assert len(kept) == contract.MAX_SWEEP_INDEX_ENTRIES and "s-4" not in kept and "s-5" in kept
    assert sweep_index.recall("s-1004").bucket is None and sweep_index.recall("s-0") is None
    path.write_text("{broken")
    assert sweep_index.recall("s-5") is None
    assert sweep_index.remember("again", bucket="b-b-b", prefix="", bucket_region="us-east-1", home_region="us-east-1", build_dir=tmp_path) is None
    assert list(json.loads(path.read_text())["sweeps"]) == ["again"]
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    monkeypatch.setenv(contract.ENV_SWEEP_INDEX, "/proc/no/sweeps.json")
    problem = sweep_index.remember("x", bucket=None, prefix="", bucket_region="us-east-1", home_region="us-east-1", build_dir=tmp_path)
    assert problem is not None and problem.startswith("/proc/no/sweeps.json: the index of compiled sweeps was not updated")


def test_sweeps_compiled_together_that_report_to_different_default_buckets_are_named() -> None:
    from spawn_tf.sweep_index import scattered_default_buckets

    assert scattered_default_buckets([("a.yaml", None, "us-east-1"), ("b.yaml", "team", "eu-west-1")]) is None
    assert scattered_default_buckets([("a.yaml", None, "us-east-1"), ("b.yaml", None, "us-east-1")]) is None
    assert scattered_default_buckets([("us.yaml", None, "us-east-1"), ("eu.yaml", None, "eu-west-1")]) == (
        "these sweeps report to 2 different default buckets, one per home region (defaults.region): "
        "eu.yaml -> s3://spawn-tf-<account-id>-eu-west-1; us.yaml -> s3://spawn-tf-<account-id>-us-east-1; "
        "set the same `results: s3://BUCKET/PREFIX` in each to keep their results together"
    )


def test_list_sweeps_takes_an_id_or_a_glob(layout) -> None:
    """The how-to's `list-sweeps | grep stage1` also matches stage1-coarse-retry (retry -o's default id): a filter names one."""
    applied(layout, "stage1-coarse")
    applied(layout, "stage1-coarse-retry")
    applied(layout, "stage2-fine")
    every = CliRunner().invoke(main, ["list-sweeps"])
    assert [line.split()[0] for line in every.stdout.splitlines() if "stage1" in line] == ["stage1-coarse", "stage1-coarse-retry"]
    exact = CliRunner().invoke(main, ["list-sweeps", "stage1-coarse"])
    assert exact.exit_code == 0, exact.output
    assert [line.split()[0] for line in exact.stdout.splitlines() if "stage1" in line] == ["stage1-coarse"]
    glob = CliRunner().invoke(main, ["list-sweeps", "stage1-*", "stage2-fine", "--json"])
    assert [entry["sweep"] for entry in json.loads(glob.stdout)] == ["stage1-coarse", "stage1-coarse-retry", "stage2-fine"]
    none = CliRunner().invoke(main, ["list-sweeps", "stage1"])
    assert none.exit_code == 1 and none.stdout == ""
    assert f"spawn-tf: error: no sweep in s3://{DEFAULT_BUCKET}/sweeps/ matches 'stage1'" in none.stderr


def test_no_network_fails_at_once_naming_the_endpoint(layout, collector_env, monkeypatch) -> None:
    """Fake keys and nothing listening (a closed port on 127.0.0.1): exit 1 within seconds, not 3 after half a minute of retries."""
    sweep = layout(STAGE.format(sweep="offline").replace("defaults:", "results: s3://spawn-test-bucket/sweeps\ndefaults:"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    for command in (["status", str(sweep.sweep_file), "--json"], ["status", "offline"], ["list-sweeps"], ["wait", str(sweep.sweep_file)]):
        started = time.monotonic()
        result = CliRunner().invoke(main, command)
        assert time.monotonic() - started < 10, command
        assert (result.exit_code, result.stdout) == (1, ""), (command, result.output)
        assert result.stderr.startswith(f"spawn-tf: error: cannot connect to AWS at {closed}"), (command, result.stderr)
        assert "hint: check the network (a proxy, a VPN), and AWS_ENDPOINT_URL if it is set" in result.stderr
