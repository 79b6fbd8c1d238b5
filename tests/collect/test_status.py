"""`status` against moto server: every status of DESIGN §6 from keys and instances as the agent leaves them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from moto_layout import BUCKET

from spawn_tf import contract, lifecycle
from spawn_tf.cli import main
from spawn_tf.collect.observe import Instance, Key, Observation, observe
from spawn_tf.collect.status import RunStatus, run_statuses, status_document, sweep_status
from spawn_tf.collect.sweep import Results, SweepRecord
from spawn_tf.contract import Status
from spawn_tf.manifest import RunRecord, run_records, sweep_manifest
from spawn_tf.pipeline import check_file

RUNS = ["r-success", "r-failed", "r-stopped", "r-timeout", "r-exhausted", "r-cancelled", "r-interrupted", "r-lost",
        "r-running", "r-booting", "r-out-of-attempts", "r-retrying", "r-pending"]  # fmt: skip

SWEEP = (
    f"sweep: statuses\nresults: s3://{BUCKET}/sweeps\n"
    "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n  retry_failed: true\n"
    "params:\n" + "".join(f"  - name: {run}\n    seed: {i}\n" for i, run in enumerate(RUNS))
)


def lay_out_every_status(layout):
    sweep = layout(SWEEP)
    items = []
    items += sweep.finished("r-success", "success", 0)
    items += sweep.finished("r-failed", "failed", 3)
    items += sweep.finished("r-stopped", "stopped", 0)
    items += sweep.finished("r-timeout", "timeout", None)
    items.append(sweep.done("r-exhausted", "exhausted", None))
    items.append((f"{sweep.folder}/_stop/r-cancelled", b""))
    items += sweep.attempt("r-interrupted", sweep.instance_id(), "interrupted")
    items += sweep.attempt("r-lost", sweep.launch("r-lost", state="terminated"))
    items += sweep.attempt("r-running", sweep.launch("r-running", status_tag="running"))
    booting = sweep.launch("r-booting")  # EC2 lists it; its agent has written nothing yet
    for _ in range(3):  # retry_failed: three failed attempts, no done marker (Terraform launches no fourth)
        items += sweep.attempt("r-out-of-attempts", sweep.instance_id(), "failed")
    items += sweep.attempt("r-retrying", sweep.instance_id(), "failed")
    sweep.put_many(items)
    return sweep, booting


EXPECTED = {  # run: (status, final, exit code)
    "r-success": ("success", True, 0),
    "r-failed": ("failed", True, 3),
    "r-stopped": ("stopped", True, 0),
    "r-timeout": ("timeout", True, None),
    "r-exhausted": ("exhausted", True, None),
    "r-cancelled": ("cancelled", True, None),
    "r-interrupted": ("interrupted", False, None),
    "r-lost": ("interrupted", False, None),
    "r-running": ("running", False, None),
    "r-booting": ("running", False, None),
    "r-out-of-attempts": ("exhausted", True, None),
    "r-retrying": ("failed", False, None),
    "r-pending": ("pending", False, None),
}


def test_status_json_gives_every_status(layout) -> None:
    sweep, booting = lay_out_every_status(layout)
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # stdout holds nothing but the JSON
    found = {item["parameter_name"]: (item["status"], item["final"], item["exit_code"]) for item in document["instances"]}
    assert found == EXPECTED
    assert document["status"] == "running"
    assert document["total"] == len(RUNS)
    assert document["counts"] == {"pending": 1, "running": 2, "success": 1, "failed": 2, "stopped": 1, "timeout": 1,
                                  "interrupted": 2, "exhausted": 2, "cancelled": 1}  # fmt: skip
    by_run = {item["run"]: item for item in document["instances"]}
    assert by_run["r-out-of-attempts"]["attempts"] == 3
    assert by_run["r-out-of-attempts"]["reason"] == "3 failed attempts, 0 interruptions"
    assert "without an outcome" in by_run["r-lost"]["reason"]
    assert by_run["r-lost"]["instance_state"] == "terminated"
    assert by_run["r-running"]["instance_state"] == "running"
    assert by_run["r-running"]["instance_id"].startswith("i-")
    assert by_run["r-success"]["started_at"].endswith("Z")
    assert by_run["r-success"]["finished_at"].endswith("Z")
    assert by_run["r-pending"]["instance_id"] is None
    assert by_run["r-success"]["params"] == {"seed": 0}
    assert [item["index"] for item in document["instances"]] == list(range(len(RUNS)))
    assert (by_run["r-booting"]["instance_id"], by_run["r-booting"]["instance_state"]) == (booting, "running")
    assert {item["run"]: item["fingerprint"] for item in document["instances"]} == {run.name: run.fingerprint for run in sweep.record.runs}
    assert len({item["fingerprint"] for item in document["instances"]}) == len(RUNS)


def test_status_table_on_a_pipe_is_plain_columns(layout) -> None:
    sweep, booting = lay_out_every_status(layout)
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"sweep statuses: running ({len(RUNS)} runs: 1 pending, 2 running, 1 success")
    assert lines[1].split() == ["RUN", "STATUS", "EXIT", "REGION", "INSTANCE", "ATTEMPTS", "STARTED", "FINISHED"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["r-failed"][1:3] == ["failed", "3"]
    assert rows["r-pending"][1:] == ["pending", "-", "us-east-1", "-", "0", "-", "-"]
    assert rows["r-booting"][1:6] == ["running", "-", "us-east-1", booting, "0"]
    assert "\x1b" not in result.stdout  # no terminal colours when piped


def test_status_reads_by_page_never_by_run(layout, counting_aws) -> None:
    """1,200 runs over 3 regions, listings of over 1,000 keys: one DescribeInstances per region and one
    ListObjectsV2 per page of each control prefix (1,000 keys a page), no GET — never a call per run."""
    regions = ["us-east-1", "us-west-2", "eu-west-1"]
    text = (
        f"sweep: big\nresults: s3://{BUCKET}/sweeps\nregions: [{', '.join(regions)}]\nmax_concurrent: 1200\n"
        "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
        "name_template: run-{index:04d}\ngrid:\n  a: [" + ", ".join(map(str, range(120))) + "]\n  b: [" + ", ".join(map(str, range(10))) + "]\n"
    )
    sweep = layout(text)
    names = [run.name for run in sweep.record.runs]
    assert len(names) == 1200 and {run.region for run in sweep.record.runs} == set(regions)
    items = []
    for name in names[:1100]:  # an attempt begun and ended, and the done marker (leases are not read: left out)
        status, code = ("success", 0) if int(name[-4:]) % 10 else ("failed", 1)
        items += [item for item in sweep.attempt(name, sweep.instance_id(), status) if "/_lease/" not in item[0]]
        items.append(sweep.done(name, status, code))
    for name in names[1100:1130]:
        items += sweep.attempt(name, sweep.launch(name, status_tag="running"))[:1]
    sweep.put_many(items)
    listing = sweep.aws.s3.get_paginator("list_objects_v2")
    keys = {control: sum(page.get("KeyCount", 0) for page in listing.paginate(Bucket=BUCKET, Prefix=contract.control_prefix(sweep.folder, control)))
            for control in ("_done", "_attempts", "_stop")}  # fmt: skip
    assert keys == {"_done": 1100, "_attempts": 2230, "_stop": 0}
    pages = sum(max(1, -(-count // 1000)) for count in keys.values())
    assert pages == 6  # 2 + 3 + 1: a per-run reader would make hundreds of calls, a one-page reader would miss keys

    aws, calls = counting_aws()
    statuses = run_statuses(sweep.record, observe(sweep.record, aws))
    document = status_document(sweep.record, statuses, ())
    assert document["counts"] == {"pending": 70, "running": 30, "success": 990, "failed": 110}
    assert calls == {("ec2", "DescribeInstances"): 3, ("ec2", "DescribeInstances MaxResults=1000"): 3, ("s3", "ListObjectsV2"): pages}


def test_completed_when_every_run_is_final(layout) -> None:
    sweep = layout(SWEEP.replace("retry_failed: true", "retry_failed: false"))
    items = []
    for i, run in enumerate(RUNS):
        items += sweep.finished(run, "success" if i % 4 else "failed", 0 if i % 4 else 2)
    sweep.put_many(items)
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"])
    assert json.loads(result.stdout)["status"] == "completed"


def test_an_unreadable_region_or_bucket_gives_the_rest_and_exit_3(layout, tmp_path) -> None:
    sweep = layout(SWEEP, create_bucket=False)  # the bucket does not exist
    sweep.launch("r-running", status_tag="running")
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"])
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    found = {item["run"]: item["status"] for item in document["instances"]}
    # Only the live instance is known; nothing else reads as pending (DESIGN §7), and neither does the sweep.
    assert found.pop("r-running") == "running" and set(found.values()) == {"unknown"}
    assert document["status"] == "unknown" and document["counts"] == {"running": 1, "unknown": len(RUNS) - 1}
    assert len(document["problems"]) == 1
    assert ("spawn-tf: warning: s3://spawn-test-bucket/sweeps/statuses/ could not be read: NoSuchBucket: The specified bucket does not exist "
            "(the bucket does not exist: create it with `spawn-tf bootstrap --region us-east-1 --bucket spawn-test-bucket`, "
            "or name another in the sweep's `results:`)") in result.stderr  # fmt: skip
    table = CliRunner().invoke(main, ["status", str(sweep.sweep_file)])
    assert table.exit_code == 3 and table.stdout.startswith("sweep statuses: unknown (13 runs: 1 running, 12 unknown)")
    waited = CliRunner().invoke(main, ["wait", str(sweep.sweep_file), "--interval", "1"])  # never a loop on what cannot be read
    assert waited.exit_code == 3 and "could not be read" in waited.stderr

    # A region EC2 cannot answer for (moto serves no such region): the S3 side still answers.
    plan = check_file(sweep.sweep_file).plan
    manifest = sweep_manifest(plan, run_records(plan))
    manifest["runs"][0]["region"] = "xx-nowhere-1"
    manifest_path = tmp_path / "build" / "sweep.json"
    manifest_path.parent.mkdir()
    manifest_path.write_text(json.dumps(manifest))
    sweep.aws.s3.create_bucket(Bucket=BUCKET)
    sweep.put_many(sweep.finished("r-failed", "failed", 3))
    result = CliRunner().invoke(main, ["status", str(manifest_path.parent), "--json"])
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    assert [problem.split(" could not be read")[0] for problem in document["problems"]] == ["EC2 in xx-nowhere-1"]
    found = {item["run"]: item for item in document["instances"]}
    assert found["r-failed"]["status"] == "failed"  # its done marker settles it
    assert (found[manifest["runs"][0]["name"]]["status"], found[manifest["runs"][0]["name"]]["reason"]) == ("unknown", "could not read EC2 in xx-nowhere-1")
    assert found["r-pending"]["status"] == "pending" and document["status"] == "unknown"


def test_watch_stops_once_every_run_is_final(layout) -> None:
    sweep = layout(SWEEP.replace("retry_failed: true", "retry_failed: false"))
    sweep.put_many([item for run in RUNS for item in sweep.finished(run, "success", 0, files=False)])
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--watch", "--interval", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"sweep statuses: completed ({len(RUNS)} runs: {len(RUNS)} success)\n")
    refused = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--watch", "--json"])
    assert refused.exit_code == 2 and "use --json alone in scripts" in refused.output


# --- the rules, on generated observations (no AWS) ------------------------------------------------

FOLDER = "sweeps/p"
OUTCOMES = ["success", "failed", "timeout", "interrupted", "stopped"]
DONE = ["success", "failed", "stopped", "timeout", "exhausted", "cancelled"]

run_facts = st.fixed_dictionaries({
    "done": st.none() | st.sampled_from(DONE),
    "outcomes": st.lists(st.none() | st.sampled_from(OUTCOMES), max_size=4),  # None: began, no outcome
    "live": st.booleans(),
    "stopped": st.booleans(),
})  # fmt: skip


def _observe(facts: list[dict]) -> tuple[SweepRecord, Observation]:
    runs = tuple(RunRecord(name=f"r{i}", index=i, fingerprint=f"{i:012x}", region="us-east-1", root="us-east-1", instance_type="t3.micro",
                           max_attempts=3, max_interruptions=2, params={}) for i in range(len(facts)))  # fmt: skip
    at = datetime(2026, 11, 29, tzinfo=UTC)
    done, attempts, stops, instances = [], [], [], []
    for run, fact in zip(runs, facts, strict=True):
        if fact["done"]:
            done.append(Key(contract.done_key(FOLDER, run.key, fact["done"], 0 if fact["done"] == "success" else None), at, 0))
        for n, outcome in enumerate(fact["outcomes"]):
            name = f"{contract.control_prefix(FOLDER, contract.CONTROL_ATTEMPTS)}{run.key}/i-{run.index:04d}{n:04d}"
            attempts.append(Key(name, at + timedelta(minutes=n), 0))
            if outcome:
                attempts.append(Key(f"{name}.{outcome}", at + timedelta(minutes=n, seconds=30), 0))
        if fact["stopped"]:
            stops.append(Key(contract.stop_key(FOLDER, run.name), at, 0))
        if fact["live"]:
            instances.append(Instance(instance_id=f"i-live{run.index:04d}", region="us-east-1", run=run.name, fingerprint=run.fingerprint,
                                      state="running", status_tag="running", launched=at + timedelta(hours=1)))  # fmt: skip
    sweep = SweepRecord(id="p", results=Results(bucket="b", region="us-east-1", folder=FOLDER), runs=runs, sweep_file=None)
    return sweep, Observation(done=tuple(done), attempts=tuple(attempts), stops=tuple(stops), instances=tuple(instances), problems=())


@given(st.lists(run_facts, min_size=1, max_size=6))
def test_each_run_is_decided_by_the_lifecycle_rules_on_its_own_keys(facts) -> None:
    """Every run of a sweep gets what spawn_tf.lifecycle decides on its own keys and instance (the table in
    tests/data/lifecycle.yaml checks those rules against Terraform and the agent), and is final exactly
    when Terraform would launch it no more."""
    sweep, observation = _observe(facts)
    statuses = run_statuses(sweep, observation)
    for status, fact in zip(statuses, facts, strict=True):
        run = status.run
        own = [key for key in (*observation.done, *observation.attempts, *observation.stops) if f"/{run.key}/" in key.name or key.name.endswith(f"/{run.name}")]
        run_facts_ = lifecycle.parse(FOLDER, own).facts(run.name, run.fingerprint)
        instance = next((i for i in observation.instances if i.run == run.name), None)
        limits = lifecycle.Limits(run.max_attempts, run.max_interruptions)
        assert (status.status, status.final, status.reason) == astuple(lifecycle.collector_view(run_facts_, limits, instance))
        assert status.final == (fact["done"] is not None or (not fact["live"] and not lifecycle.is_open(run_facts_, limits)))
        assert status.attempts == len(fact["outcomes"])
    expected = "completed" if all(s.final for s in statuses) else "pending" if all(s.status == "pending" for s in statuses) else "running"
    assert sweep_status(statuses) == expected


def test_a_reader_that_goes_away_ends_the_command_quietly(layout, collector_env) -> None:
    """`spawn-tf status x.yaml | head -1`: a long table into a pipe that closes after one line."""
    text = (f"sweep: long\nresults: s3://{BUCKET}/sweeps\ndefaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
            "name_template: run-{index:04d}\ngrid:\n  seed: [" + ", ".join(map(str, range(3000))) + "]\n")  # fmt: skip
    sweep = layout(text)
    command = f"'{sys.executable}' -c 'from spawn_tf.cli import main; main()' status '{sweep.sweep_file}' 2>stderr.txt | head -1; echo \"${{PIPESTATUS[0]}}\""
    env = {**os.environ, **collector_env, "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run(["bash", "-c", command], cwd=sweep.sweep_file.parent, env=env, capture_output=True, text=True, timeout=120, check=False)
    first, code = result.stdout.splitlines()
    assert first == "sweep long: pending (3000 runs: 3000 pending)"
    assert (sweep.sweep_file.parent / "stderr.txt").read_text() == ""  # no "internal error", no "Exception ignored"
    assert code == "1"


def test_status_json_holds_every_field_of_a_run_and_the_sweep() -> None:
    """`status --json` field by field, the seed's `parameter_name` and `exit_code` among them; times in UTC to the second."""
    run = RunRecord(name="r-1", index=4, fingerprint="0123456789ab", region="eu-west-1", root="eu-west-1", instance_type="t3.micro",
                    max_attempts=3, max_interruptions=2, params={"lr": 0.1})  # fmt: skip
    sweep = SweepRecord(id="sw", results=Results(bucket="b", region="us-east-1", folder="sweeps/sw"), runs=(run,), sweep_file=None)
    status = RunStatus(run=run, status=Status.FAILED, final=True, exit_code=3, attempts=2, instance_id="i-2", instance_state="terminated",
                       started_at=datetime(2026, 12, 1, 2, 3, 4, tzinfo=UTC), finished_at=datetime(2026, 12, 1, 5, 6, 7, tzinfo=UTC),
                       reason="")  # fmt: skip
    assert status_document(sweep, (status,), ["EC2 in eu-west-1: denied"]) == {
        "sweep": "sw",
        "status": "completed",
        "results": "s3://b/sweeps/sw/",
        "total": 1,
        "counts": {"failed": 1},
        "problems": ["EC2 in eu-west-1: denied"],
        "instances": [
            {
                "parameter_name": "r-1", "run": "r-1", "index": 4, "status": "failed", "final": True, "exit_code": 3, "region": "eu-west-1",
                "instance_id": "i-2", "instance_state": "terminated", "attempts": 2, "fingerprint": "0123456789ab", "params": {"lr": 0.1},
                "started_at": "2026-12-01T02:03:04Z", "finished_at": "2026-12-01T05:06:07Z", "reason": "",
            }
        ],
    }  # fmt: skip


def test_the_instance_shown_is_the_newest_live_one_else_the_latest_attempts() -> None:
    run = RunRecord(name="r", index=0, fingerprint="0123456789ab", region="us-east-1", root="us-east-1", instance_type="t3.micro",
                    max_attempts=3, max_interruptions=2, params={})  # fmt: skip
    sweep = SweepRecord(id="p", results=Results(bucket="b", region="us-east-1", folder=FOLDER), runs=(run,), sweep_file=None)
    at = datetime(2026, 12, 1, tzinfo=UTC)

    def instance(instance_id: str, state: str, launched: datetime) -> Instance:
        return Instance(instance_id=instance_id, region="us-east-1", run="r", fingerprint=run.fingerprint, state=state, status_tag=None,
                        launched=launched)  # fmt: skip

    def shown(attempts: list[str], *instances: Instance) -> tuple[str | None, str | None, datetime | None]:
        keys = tuple(Key(f"{contract.control_prefix(FOLDER, contract.CONTROL_ATTEMPTS)}{run.key}/{name}", at + timedelta(minutes=n), 0)
                     for n, name in enumerate(attempts))  # fmt: skip
        (status,) = run_statuses(sweep, Observation(done=(), attempts=keys, stops=(), instances=instances, problems=()))
        return status.instance_id, status.instance_state, status.started_at

    # two live instances (a relaunch while the old one shuts down): the newer, the higher id on a tie
    later = at + timedelta(hours=1)
    assert shown([], instance("i-old", "running", at), instance("i-new", "pending", later)) == ("i-new", "pending", later)
    assert shown([], instance("i-a", "running", at), instance("i-b", "running", at))[0] == "i-b"
    # none live: the instance of the latest attempt, never another one of the run's
    ended = (instance("i-2", "terminated", at), instance("i-1", "terminated", later))
    assert shown(["i-2.interrupted", "i-1", "i-1.interrupted"], *ended) == ("i-1", "terminated", at + timedelta(minutes=1))
    # booting: no attempt yet, started when it was launched
    assert shown([], instance("i-3", "pending", later)) == ("i-3", "pending", later)
