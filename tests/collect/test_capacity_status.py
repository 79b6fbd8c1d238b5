"""`status` shows capacity markers (DESIGN §13) against moto server: a run's live markers, the candidate its
instance is on, and why a pending run waits; `retry` moves a re-opened run's markers to history.

The runs' candidates come from their records in sweep.json (`candidates`, `capacity_retry_after`) and from
the zones moto's EC2 says offer their types: moto offers g5.xlarge and g6.xlarge in us-east-1a-d and f, not e.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.awsrequest
from click.testing import CliRunner
from moto_layout import BUCKET, ec2_client

from spawn_tf import contract
from spawn_tf.capacity import Marker
from spawn_tf.cli import main
from spawn_tf.collect.aws import Aws
from spawn_tf.collect.observe import Key, Observation, Zones
from spawn_tf.collect.reading import read_statuses
from spawn_tf.collect.resolve import resolve
from spawn_tf.collect.status import run_statuses
from spawn_tf.collect.sweep import Results, SweepRecord
from spawn_tf.contract import Status
from spawn_tf.manifest import CandidateSpec, RunRecord, run_records, sweep_manifest
from spawn_tf.pipeline import check_file

RETRY_AFTER = 1800  # the sweep's capacity_retry_after: not the default hour
RUNS = ["r-wait", "r-next", "r-running", "r-expired", "r-done", "r-plain"]
SWEEP = (f"sweep: capacity\nresults: s3://{BUCKET}/sweeps\ndefaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
         "params:\n" + "".join(f"  - name: {run}\n    seed: {i}\n" for i, run in enumerate(RUNS)))  # fmt: skip
CANDIDATES = {
    # us-east-1e offers no g5.xlarge: 2 candidates, both marked
    "r-wait": {"instance_types": ["g5.xlarge"], "markets": ["spot"], "zones": ["us-east-1a", "us-east-1e", "us-east-1b"]},
    # 2 markets x 2 types x 5 zones: 0-4 are spot g5.xlarge in us-east-1a, b, c, d, f
    "r-next": {"instance_types": ["g5.xlarge", "g6.xlarge"], "markets": ["spot", "on-demand"]},
    # spot only: g5.xlarge 0-4, then g6.xlarge 5 (us-east-1a), 6 (us-east-1b), ...
    "r-running": {"instance_types": ["g5.xlarge", "g6.xlarge"], "markets": ["spot"]},
}


def applied(layout, tmp_path: Path, now: int):
    """The sweep compiled, its sweep.json carrying candidates (as compile writes them for runs with an
    alternative) and capacity_retry_after; keys and instances as launch, agents and EC2 leave them."""
    sweep = layout(SWEEP)
    plan = check_file(sweep.sweep_file).plan
    document = sweep_manifest(plan, run_records(plan))
    document["capacity_retry_after"] = RETRY_AFTER
    for record in document["runs"]:
        if record["name"] in CANDIDATES:
            record["candidates"] = CANDIDATES[record["name"]]
    build = tmp_path / "build"
    build.mkdir()
    (build / contract.MANIFEST_FILE).write_text(json.dumps(document))

    def marker(run: str, candidate: int, age: int) -> tuple[str, bytes]:
        return contract.capacity_key(sweep.folder, sweep.key(run), candidate, now - age), b""

    items = [marker("r-wait", 0, 1000), marker("r-wait", 0, 600), marker("r-wait", 1, 300)]
    items += [marker("r-next", candidate, 100) for candidate in range(3)] + [marker("r-next", 3, 2000)]  # 3 has expired
    items += [marker("r-running", candidate, 100) for candidate in range(4)] + [marker("r-running", 4, 5000)]  # expired, but it runs
    items += [marker("r-expired", 0, RETRY_AFTER + 1), marker("r-done", 0, 100)]
    items += sweep.finished("r-done", "success", 0, files=False)
    running = _launch(sweep, "r-running", "g6.xlarge", "us-east-1b")
    items += sweep.attempt("r-running", running)
    sweep.put_many(items)
    return sweep, build


def _launch(sweep, run: str, instance_type: str, zone: str) -> str:
    found = sweep.record.run(run)
    tags = {contract.TAG_SWEEP: sweep.record.id, contract.TAG_RUN: run, contract.TAG_FINGERPRINT: found.fingerprint}
    return ec2_client(sweep.aws, found.region).run_instances(
        ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType=instance_type, Placement={"AvailabilityZone": zone},
        InstanceMarketOptions={"MarketType": "spot"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"][0]["InstanceId"]  # fmt: skip


def _iso(unix_time: int) -> str:
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock(unix_time: int) -> str:
    moment = datetime.fromtimestamp(unix_time, UTC)
    return moment.strftime("%H:%M UTC" if moment.date() == datetime.now(UTC).date() else "%Y-%m-%d %H:%M UTC")


def test_status_json_shows_markers_the_candidate_in_use_and_why_a_run_waits(layout, tmp_path) -> None:
    now = int(time.time())
    _, build = applied(layout, tmp_path, now)
    result = CliRunner().invoke(main, ["status", str(build), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    runs = {item["run"]: item for item in document["instances"]}
    assert {run: item["status"] for run, item in runs.items()} == {"r-wait": "pending", "r-next": "pending", "r-running": "running",
                                                                    "r-expired": "pending", "r-done": "success", "r-plain": "pending"}  # fmt: skip
    # Every candidate marked: it waits until candidate 0's newest marker expires (its older one does not decide).
    assert runs["r-wait"]["capacity"] == {
        "markers": [{"candidate": 0, "at": _iso(now - 1000)}, {"candidate": 0, "at": _iso(now - 600)}, {"candidate": 1, "at": _iso(now - 300)}],
        "retry_at": _iso(now - 600 + RETRY_AFTER), "started": False, "candidates": 2, "candidate": None,
    }  # fmt: skip
    assert runs["r-wait"]["reason"] == f"{contract.CAPACITY_REASON}: every candidate (0-1) without capacity; retried from {_clock(now - 600 + RETRY_AFTER)}"
    # Candidates 0-2 marked, 3's marker expired: the next apply launches 3.
    assert runs["r-next"]["capacity"] == {
        "markers": [{"candidate": candidate, "at": _iso(now - 100)} for candidate in range(3)],
        "retry_at": _iso(now - 100 + RETRY_AFTER), "started": False, "candidates": 20, "candidate": None,
    }  # fmt: skip
    assert runs["r-next"]["reason"] == "capacity: candidates 0-2 without capacity; the next apply tries candidate 3 (g5.xlarge in us-east-1d, spot)"
    # A started run: every marker counts (it stays on its candidate), none moves it; its reason is its own.
    assert runs["r-running"]["capacity"] == {
        "markers": [{"candidate": 4, "at": _iso(now - 5000)}, *[{"candidate": candidate, "at": _iso(now - 100)} for candidate in range(4)]],
        "retry_at": None, "started": True, "candidates": 10,
        "candidate": {"index": 6, "instance_type": "g6.xlarge", "zone": "us-east-1b", "market": "spot"},
    }  # fmt: skip
    assert runs["r-running"]["reason"] == ""
    # No live marker (expired, or the run is final): no capacity object, the reason as before.
    assert [("capacity" in runs[run], runs[run]["reason"]) for run in ("r-expired", "r-done", "r-plain")] == [(False, "")] * 3
    assert list(document) == ["sweep", "status", "results", "total", "counts", "problems", "instances"]
    assert (document["status"], document["counts"]) == ("running", {"pending": 4, "running": 1, "success": 1})

    # The seed's jq lines read the same document as before.
    path = tmp_path / "sweep-status.json"
    path.write_text(result.stdout)
    failed = subprocess.run(["jq", "-r", ".instances[] | select(.exit_code != 0) | .parameter_name", str(path)], capture_output=True, text=True, check=True)
    assert failed.stdout.split() == [run for run in RUNS if run != "r-done"]
    assert subprocess.run(["jq", "-r", ".status", str(path)], capture_output=True, text=True, check=True).stdout == "running\n"


def test_status_table_has_a_line_per_run_with_markers_and_the_count_of_runs_waiting(layout, tmp_path) -> None:
    now = int(time.time())
    sweep, build = applied(layout, tmp_path, now)
    sweep.put(contract.capacity_key(sweep.folder, sweep.key("r-plain"), 0, now - 10))  # r-plain: t3.micro in 5 zones, 0 marked
    result = CliRunner().invoke(main, ["status", str(build)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:2 + len(RUNS)]}
    assert rows["r-wait"][1:] == ["pending", "-", "us-east-1", "-", "0", "-", "-"]  # the table as it was
    assert lines[2 + len(RUNS):] == [
        f"r-wait: capacity: every candidate (0-1) without capacity; retried from {_clock(now - 600 + RETRY_AFTER)}",
        "r-next: capacity: candidates 0-2 without capacity; the next apply tries candidate 3 (g5.xlarge in us-east-1d, spot)",
        "r-running: on candidate 6 (g6.xlarge in us-east-1b, spot); markers on candidates 0-4 do not move it while it runs",
        "r-plain: capacity: candidate 0 without capacity; the next apply tries candidate 1 (t3.micro in us-east-1b, spot)",
        "1 run waiting for capacity",
    ]


def test_markers_are_one_listing_and_the_zones_are_read_only_for_runs_with_live_ones(layout, tmp_path, counting_aws) -> None:
    now = int(time.time())
    sweep, build = applied(layout, tmp_path, now)
    # 1,000 expired markers more: S/_capacity/ takes two pages of 1,000 keys; a one-page reader would miss r-wait's
    sweep.put_many([(contract.capacity_key(sweep.folder, sweep.key("r-expired"), 0, now - RETRY_AFTER - age), b"") for age in range(1000)])
    record = resolve(str(build), Aws())
    aws, calls = counting_aws()
    _, statuses = read_statuses(record, aws, progress=True, capacity=True)
    assert calls == {("ec2", "DescribeInstances"): 1, ("ec2", "DescribeInstances MaxResults=1000"): 1, ("s3", "ListObjectsV2"): 4 + 2,
                     ("ec2", "DescribeInstanceTypeOfferings"): 1, ("ec2", "DescribeSubnets"): 1}  # fmt: skip
    assert [status.run.name for status in statuses if status.capacity is not None] == ["r-wait", "r-next", "r-running"]

    # Only expired markers (and those of a final run): the same listing, no question to EC2 about zones.
    for key in sweep.aws.s3_tree(BUCKET, contract.control_prefix(sweep.folder, contract.CONTROL_CAPACITY)):
        if "/r-expired." not in key and "/r-done." not in key:
            sweep.aws.s3.delete_object(Bucket=BUCKET, Key=key)
    aws, calls = counting_aws()
    _, statuses = read_statuses(record, aws, progress=True, capacity=True)
    assert calls == {("ec2", "DescribeInstances"): 1, ("ec2", "DescribeInstances MaxResults=1000"): 1, ("s3", "ListObjectsV2"): 4 + 2}
    assert [status.capacity for status in statuses] == [None] * len(RUNS)

    # Commands that do not show markers do not list them.
    aws, calls = counting_aws()
    read_statuses(record, aws)
    assert calls[("s3", "ListObjectsV2")] == 3


def test_zones_ec2_will_not_describe_leave_the_marker_only_wording_and_say_why(layout, tmp_path, counting_aws) -> None:
    now = int(time.time())
    _, build = applied(layout, tmp_path, now)
    record = resolve(str(build), Aws())
    aws, _ = counting_aws()

    def refuse(**_: Any) -> tuple[botocore.awsrequest.AWSResponse, dict[str, Any]]:
        error = {"Code": "UnauthorizedOperation", "Message": "You are not authorized to perform this operation."}
        return botocore.awsrequest.AWSResponse("", 403, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}

    aws.session.events.register("before-call.ec2.DescribeInstanceTypeOfferings", refuse)
    observation, statuses = read_statuses(record, aws, progress=True, capacity=True)
    by_run = {status.run.name: status for status in statuses}
    assert (by_run["r-wait"].status, by_run["r-next"].status) == (Status.PENDING, Status.PENDING)
    unknown = "its number of candidates is not known: EC2 in us-east-1 could not be read: UnauthorizedOperation: You are not authorized to perform this operation."
    assert by_run["r-next"].reason == f"capacity: candidates 0-2 without capacity; retried from {_clock(now - 100 + RETRY_AFTER)} ({unknown})"
    assert by_run["r-wait"].reason == f"capacity: candidates 0-1 without capacity; retried from {_clock(now - 600 + RETRY_AFTER)} ({unknown})"
    assert by_run["r-running"].capacity.in_use.index is None and by_run["r-running"].capacity.candidates is None
    assert observation.problems == ()  # the statuses are whole: only the explanation is shorter


def test_retry_moves_a_reopened_runs_markers_to_history(layout, tmp_path) -> None:
    now = int(time.time())
    sweep = layout(SWEEP)
    markers = [contract.capacity_key(sweep.folder, sweep.key(run), 0, now - 60) for run in ("r-wait", "r-next")]
    sweep.put_many([*sweep.finished("r-wait", "failed", 1, files=False), *[(key, b"") for key in markers]])
    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file)])
    assert result.exit_code == 0, result.output
    tree = sweep.aws.s3_tree(BUCKET, sweep.folder + "/")
    history = contract.control_prefix(sweep.folder, contract.CONTROL_HISTORY)
    assert markers[0] not in tree and [key for key in tree if key.startswith(history) and key.endswith(markers[0].removeprefix(sweep.folder))]
    assert markers[1] in tree  # r-next was not re-opened (not final): its marker stays
    document = json.loads(CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"]).stdout)
    runs = {item["run"]: item for item in document["instances"]}
    assert (runs["r-wait"]["status"], runs["r-wait"]["reason"], "capacity" in runs["r-wait"]) == ("pending", "", False)
    assert runs["r-next"]["reason"].startswith("capacity: candidate 0 without capacity; the next apply tries candidate 1 (t3.micro in us-east-1b")


def test_a_markers_rule_is_the_candidate_rules() -> None:
    """Without AWS: keys of another shape are ignored; a marker counts until capacity_retry_after has passed
    (not the default hour); a started (lost) run counts every marker; the newest marker of a candidate decides."""
    run = RunRecord(name="r", index=0, fingerprint="0123456789ab", region="us-east-1", root="us-east-1", instance_type="g5.xlarge", spot=True,
                    max_attempts=3, max_interruptions=2, params={}, candidates=CandidateSpec(("g5.xlarge",), (contract.Market.SPOT,), ("us-east-1a",)))  # fmt: skip
    sweep = SweepRecord(id="p", results=Results(bucket="b", region="us-east-1", folder="sweeps/p"), runs=(run,), sweep_file=None,
                        capacity_retry_after=600)  # fmt: skip
    at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    zones = {"us-east-1": Zones(offered={"g5.xlarge": frozenset({"us-east-1a"})}, default_subnets={"us-east-1a": "subnet-a"})}
    prefix = contract.control_prefix(sweep.results.folder, contract.CONTROL_CAPACITY)

    def shown(ages: list[int], *, extra: tuple = (), attempts: tuple = ()) -> tuple[str, Any]:
        keys = tuple(Key(f"{prefix}{run.key}/0.{int(at.timestamp()) - age}", at, 0) for age in ages) + tuple(Key(f"{prefix}{name}", at, 0) for name in extra)
        observation = Observation(done=(), attempts=attempts, stops=(), instances=(), problems=(), capacity=keys, at=at)
        (status,) = run_statuses(sweep, observation, zones)
        return status.reason, status.capacity and list(status.capacity.markers)

    assert shown([599]) == ("capacity: every candidate (0) without capacity; retried from 12:00 UTC", [Marker(0, int(at.timestamp()) - 599)])
    assert shown([600]) == ("", None)
    assert shown([900, 100])[0] == "capacity: every candidate (0) without capacity; retried from 12:08 UTC"
    assert shown([], extra=(f"{run.key}/x.1", f"{run.key}/0", "other/0.1")) == ("", None)
    lost = (Key(f"{contract.control_prefix(sweep.results.folder, contract.CONTROL_ATTEMPTS)}{run.key}/i-1", at, 0),)
    reason, found = shown([5000], attempts=lost)
    assert reason.startswith("attempt on i-1 ended without an outcome") and found == [Marker(0, int(at.timestamp()) - 5000)]
