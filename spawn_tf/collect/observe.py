"""Read what S3 and EC2 say about a sweep: control listings and the sweep's instances (DESIGN §5, §7).

The calls grow with pages, not runs: one listing of each control prefix (1,000 keys a page) and one
DescribeInstances pagination per region (1,000 instances a page), all at once. The key names carry
the facts (status, exit code, instance id), so no object is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, Aws, error_text, is_missing, map_on_threads

if TYPE_CHECKING:
    from spawn_tf.collect.sweep import SweepRecord
    from spawn_tf.manifest import CandidateSpec


@dataclass(frozen=True, slots=True)
class Key:
    """An S3 key of a listing, and when it was written."""

    name: str
    written: datetime
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """An EC2 instance tagged with the sweep."""

    instance_id: str
    region: str
    run: str
    fingerprint: str
    state: str  # EC2's: pending, running, stopping, stopped, shutting-down, terminated
    status_tag: str | None  # spawn:status, as the agent last set it
    launched: datetime
    # Where and how it runs, as EC2 describes it: its capacity candidate (DESIGN §13).
    instance_type: str | None = None
    zone: str | None = None
    subnet: str | None = None
    market: contract.Market | None = None  # spot when InstanceLifecycle says so, else on-demand


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """Everything read about a sweep at one moment; `problems` names what could not be read."""

    done: tuple[Key, ...]
    attempts: tuple[Key, ...]
    stops: tuple[Key, ...]
    instances: tuple[Instance, ...]
    problems: tuple[str, ...]
    unread_listings: frozenset[str] = frozenset()  # control prefixes (CONTROL_DONE, ...) that could not be listed
    unread_regions: frozenset[str] = frozenset()  # regions whose instances could not be described
    # S/_progress/, when asked for and listed; None when not asked for, or unread (CONTROL_PROGRESS in unread_listings)
    progress: tuple[Key, ...] | None = None
    # S/_capacity/, the same way: the markers of candidates without capacity (DESIGN §13)
    capacity: tuple[Key, ...] | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # when it was read: markers expire against it


@dataclass(frozen=True, slots=True)
class Zones:
    """What EC2 says of a region's zones, to build candidates with as Terraform does; `problem` when it could not say."""

    offered: Mapping[str, frozenset[str]] = field(default_factory=dict)  # instance type -> the zones offering it
    default_subnets: Mapping[str, str] = field(default_factory=dict)  # zone -> its default subnet
    subnet_zones: Mapping[str, str] = field(default_factory=dict)  # subnet -> its zone
    problem: str | None = None


CONTROL_LISTINGS = (contract.CONTROL_DONE, contract.CONTROL_ATTEMPTS, contract.CONTROL_STOP)


def observe(sweep: SweepRecord, aws: Aws, *, instances: bool = True, progress: bool = False, capacity: bool = False) -> Observation:
    """Read the sweep's control listings, its instances (unless `instances` is false), its progress
    reports (when `progress`: one listing of S/_progress/, every metric and step) and its capacity
    markers (when `capacity`: one listing of S/_capacity/), all at once.

    What cannot be read is named in `problems` and the rest is kept; when nothing can be read
    (no credentials, no such bucket and no region answering), the first error is raised instead.
    """
    regions = sweep.regions if instances else ()
    asked = ((contract.CONTROL_PROGRESS,) if progress else ()) + ((contract.CONTROL_CAPACITY,) if capacity else ())
    controls = (*CONTROL_LISTINGS, *asked)
    at = datetime.now(UTC)
    tasks: list[tuple[str, str]] = [("s3", control) for control in controls] + [("ec2", region) for region in regions]

    def read(task: tuple[str, str]) -> tuple[Any, BaseException | None]:
        kind, what = task
        try:
            if kind == "s3":
                return list_keys(aws, sweep.results.bucket, sweep.results.region, contract.control_prefix(sweep.results.folder, what)), None
            return describe_instances(aws, sweep.id, what), None
        except AWS_ERRORS as exc:
            return (), exc

    answers = dict(zip(tasks, map_on_threads(read, tasks), strict=True))
    errors = [(task, error) for task, (_, error) in answers.items() if error is not None]
    if errors and len(errors) == len(tasks):
        raise errors[0][1]
    listings = {control: tuple(answers[("s3", control)][0]) for control in controls}
    unread = frozenset(what for (kind, what), _ in errors if kind == "s3")
    return Observation(
        done=listings[contract.CONTROL_DONE],
        attempts=listings[contract.CONTROL_ATTEMPTS],
        stops=listings[contract.CONTROL_STOP],
        instances=tuple(instance for region in regions for instance in answers[("ec2", region)][0]),
        problems=tuple(_problems(sweep, errors, len(controls))),
        unread_listings=unread,
        unread_regions=frozenset(what for (kind, what), _ in errors if kind == "ec2"),
        progress=listings[contract.CONTROL_PROGRESS] if progress and contract.CONTROL_PROGRESS not in unread else None,
        capacity=listings[contract.CONTROL_CAPACITY] if capacity and contract.CONTROL_CAPACITY not in unread else None,
        at=at,
    )


def _problems(sweep: SweepRecord, errors: list[tuple[tuple[str, str], BaseException]], listings: int) -> list[str]:
    """What could not be read, and how to fix it: one line for the bucket when every one of the `listings` failed alike."""
    results = sweep.results
    s3 = [(what, error) for (kind, what), error in errors if kind == "s3"]
    lines = []
    if len(s3) == listings and len({error_text(error) for _, error in s3}) == 1:
        lines.append(f"s3://{results.bucket}/{results.folder}/ could not be read: {error_text(s3[0][1])}{bucket_hint(results.bucket, results.region, s3[0][1])}")
    else:
        lines += [f"s3://{results.bucket}/{contract.control_prefix(results.folder, what)} could not be read: {error_text(error)}"
                  f"{bucket_hint(results.bucket, results.region, error)}" for what, error in s3]  # fmt: skip
    lines += [f"EC2 in {what} could not be read: {error_text(error)}" for (kind, what), error in errors if kind == "ec2"]
    return lines


def bucket_hint(bucket: str, region: str, error: BaseException) -> str:
    """What to do about a results bucket that cannot be read: make it, or point the sweep at one that exists."""
    if is_missing(error):
        default = bucket == contract.DEFAULT_RESULTS_BUCKET.format(account_id=bucket.removeprefix("spawn-tf-")[:12], region=region)
        command = f"spawn-tf bootstrap --region {region}" + ("" if default else f" --bucket {bucket}")
        return f" (the bucket does not exist: create it with `{command}`, or name another in the sweep's `results:`)"
    if "AccessDenied" in error_text(error) or "Forbidden" in error_text(error) or "403" in error_text(error):
        return f" (these credentials may not read s3://{bucket}: check them, or name another bucket in the sweep's `results:`)"
    return ""


def list_keys(aws: Aws, bucket: str, region: str, prefix: str) -> list[Key]:
    """Every key under `prefix`, 1,000 a page."""
    pages = aws.s3(region).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [Key(item["Key"], item["LastModified"], item["Size"]) for page in pages for item in page.get("Contents", [])]


def describe_instances(aws: Aws, sweep_id: str, region: str) -> list[Instance]:
    """The sweep's instances in a region, in every state: one filtered pagination with the largest pages."""
    pages = aws.ec2(region).get_paginator("describe_instances").paginate(
        Filters=[{"Name": f"tag:{contract.TAG_SWEEP}", "Values": [sweep_id]}],
        PaginationConfig={"PageSize": contract.EC2_PAGE_SIZE},
    )
    found = []
    for page in pages:
        for reservation in page.get("Reservations", []):
            for item in reservation.get("Instances", []):
                tags = {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
                if contract.TAG_RUN not in tags:
                    continue
                found.append(Instance(
                    instance_id=item["InstanceId"], region=region, run=tags[contract.TAG_RUN],
                    fingerprint=tags.get(contract.TAG_FINGERPRINT, ""), state=item["State"]["Name"],
                    status_tag=tags.get(contract.TAG_STATUS), launched=item["LaunchTime"], instance_type=item.get("InstanceType"),
                    zone=item.get("Placement", {}).get("AvailabilityZone"), subnet=item.get("SubnetId"),
                    market=contract.Market.SPOT if item.get("InstanceLifecycle") == "spot" else contract.Market.ON_DEMAND,
                ))  # fmt: skip
    return found


def read_zones(aws: Aws, wanted: Mapping[str, Iterable[CandidateSpec]]) -> dict[str, Zones]:
    """By region, the zones offering the runs' instance types and the subnets they may use, as Terraform reads them
    (DESIGN §13): asked only for runs with live markers, two paginations per region, all regions at once.
    A region that cannot be read (these credentials may not describe EC2) gets its `problem`."""

    def read(region: str) -> Zones:
        specs = list(wanted[region])
        types = sorted({instance_type for spec in specs for instance_type in spec.instance_types})
        named = {subnet for spec in specs for subnet in spec.subnet_ids}
        ec2 = aws.ec2(region)
        try:
            offerings = ec2.get_paginator("describe_instance_type_offerings").paginate(
                LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}])  # fmt: skip
            offered: dict[str, set[str]] = {}
            for page in offerings:
                for offer in page.get("InstanceTypeOfferings", []):
                    offered.setdefault(offer["InstanceType"], set()).add(offer["Location"])
            # Default subnets alone, unless a run names its own: then every subnet (a name's zone is in the same answer).
            filters = [] if named else [{"Name": "default-for-az", "Values": ["true"]}]
            subnets = [subnet for page in ec2.get_paginator("describe_subnets").paginate(Filters=filters) for subnet in page.get("Subnets", [])]
        except AWS_ERRORS as exc:
            return Zones(problem=f"EC2 in {region} could not be read: {error_text(exc)}")
        return Zones(
            offered={instance_type: frozenset(zones) for instance_type, zones in offered.items()},
            default_subnets={subnet["AvailabilityZone"]: subnet["SubnetId"] for subnet in subnets if subnet.get("DefaultForAz")},
            subnet_zones={subnet["SubnetId"]: subnet["AvailabilityZone"] for subnet in subnets},
        )

    regions = sorted(wanted)
    return dict(zip(regions, map_on_threads(read, regions), strict=True))
