"""What the quota preflight reads from AWS (DESIGN §13): vCPUs from EC2 `describe-instance-types`, values from Service Quotas.

Imported only by the commands that check quotas (preflight, plan, launch): compile never pays for
boto3. Clients come from a `Clients`, so that a caller (a test) can give stubbed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from spawn_tf.collect.aws import AWS_ERRORS, map_on_threads
from spawn_tf.collect.aws import error_text as _error_text
from spawn_tf.quota import SERVICE_CODE, Report, SweepDemand, peaks, report, types_by_region

_BATCH = 100  # DescribeInstanceTypes takes at most 100 instance types a call
# A check before launch must not hold it up: two attempts, short timeouts (the collector's adaptive ten
# attempts can wait minutes on a service that answers 5xx), and no retry at all without a network.
_CONFIG = {"retries": {"mode": "standard", "max_attempts": 2}, "connect_timeout": 5, "read_timeout": 15}
_LONGEST_ERROR = 200  # characters of an AWS error shown
_NOT_APPLIED = "NoSuchResourceException"  # GetServiceQuota has no applied value: the default is the value


@dataclass(frozen=True, slots=True)
class Clients:
    """How the preflight makes its boto3 clients: (service, region) -> client."""

    make: Callable[[str, str], Any]


def default_clients() -> Clients:
    """boto3's default session and credentials."""
    import boto3
    from botocore.config import Config

    from spawn_tf.collect.aws import fail_fast_offline

    session = boto3.session.Session()
    fail_fast_offline(session)
    config = Config(**_CONFIG)
    return Clients(lambda service, region: session.client(service, region_name=region, config=config))


def preflight(sweeps: Sequence[SweepDemand], clients: Clients) -> Report:
    """Each region's peak vCPUs per quota against the quota's value; what could not be read is said, not guessed."""
    vcpus: dict[str, dict[str, int]] = {}
    unread: dict[str, str] = {}
    for region, types in types_by_region(sweeps).items():
        try:
            found = read_vcpus(clients, region, types)
        except botocore.exceptions.NoCredentialsError as exc:  # the same in every region: said once per region, nothing more asked
            return report({}, {}, (), dict.fromkeys(types_by_region(sweeps), error_text(exc)))
        except AWS_ERRORS as exc:
            unread[region] = error_text(exc)
            continue
        missing = sorted(set(types) - set(found))
        if missing:
            unread[region] = f"describe-instance-types gave no vCPUs for {', '.join(missing)}"
        else:
            vcpus[region] = found
    peak, unclassed = peaks(sweeps, vcpus)
    read = map_on_threads(lambda key: read_quota(clients, key[0], key[1].code), list(peak))
    values = {(region, quota.code): value for (region, quota), value in zip(peak, read, strict=True)}
    return report(peak, values, unclassed, unread)


def read_vcpus(clients: Clients, region: str, instance_types: Sequence[str]) -> dict[str, int]:
    """Default vCPUs of each instance type, 100 types a call (never a call per run)."""
    ec2 = clients.make("ec2", region)
    found: dict[str, int] = {}
    for start in range(0, len(instance_types), _BATCH):
        batch = list(instance_types[start : start + _BATCH])
        for page in ec2.get_paginator("describe_instance_types").paginate(InstanceTypes=batch):
            found.update((item["InstanceType"], item["VCpuInfo"]["DefaultVCpus"]) for item in page["InstanceTypes"])
    return found


def error_text(error: BaseException) -> str:
    """The collector's one line for an AWS error, kept to one line (a proxy's or a stand-in's 5xx answer may be a page of HTML)."""
    text = " ".join(_error_text(error).split())
    return text if len(text) <= _LONGEST_ERROR else text[: _LONGEST_ERROR - 1] + "…"


def read_quota(clients: Clients, region: str, code: str) -> float | str:
    """The quota's value in the region, or the error that kept it from being read, in one line."""
    client = clients.make("service-quotas", region)
    try:
        return float(client.get_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=code)["Quota"]["Value"])
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != _NOT_APPLIED:
            return error_text(exc)
    except AWS_ERRORS as exc:
        return error_text(exc)
    try:
        return float(client.get_aws_default_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=code)["Quota"]["Value"])
    except AWS_ERRORS as exc:
        return error_text(exc)
