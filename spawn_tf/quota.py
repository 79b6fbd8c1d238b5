"""The quota preflight's arithmetic (DESIGN §13): each region's peak vCPUs per EC2 vCPU quota, against its value. Pure.

EC2 caps the vCPUs an account runs at once per region, per class of instance families and per market
(spot and on-demand apart). Reading the quotas and the vCPUs of each type is quota_aws.py's (boto3);
here are the classes, the peak a sweep can reach and what is said about it.

Classes, names and defaults of spot: the Amazon EC2 User Guide, "Spot Instance quotas"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html: DL, F, G and VT, Inf,
"P4, P3 and P2", P5, Standard (A, C, D, H, I, M, R, T, Z), Trn, X; all 0 by default but Standard).
Codes, and the names of on-demand: `aws service-quotas list-service-quotas --service-code ec2` as
printed in public repositories (geyang/jaynes-starter-kit 02_ec2_docker_guide/setup/spot_limit.md
for L-3819A6DF and L-7212CCBC; two full listings of every EC2 quota, name beside code, for each code
here) and the AWS CLI User Guide's get-aws-default-service-quota example (L-1216C47A, "Running
On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"). Families no quota here covers (hpc, mac,
high memory on spot, P beyond 5 on spot, any new letter) are reported as not checked, never counted
as Standard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spawn_tf.contract import Market

SERVICE_CODE = "ec2"  # Service Quotas' name for EC2


@dataclass(frozen=True, slots=True)
class Quota:
    """One EC2 vCPU quota: a class of families in one market."""

    code: str
    name: str  # as the Service Quotas console shows it
    label: str  # the class, short: "G and VT"
    market: Market


def _quotas(market: Market, rows: Iterable[tuple[str, str, str]]) -> dict[str, Quota]:
    return {label: Quota(code, name, label, market) for label, code, name in rows}


_ON_DEMAND = _quotas(Market.ON_DEMAND, (
    ("Standard", "L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
    ("G and VT", "L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("P", "L-417A185B", "Running On-Demand P instances"),
    ("Inf", "L-1945791B", "Running On-Demand Inf instances"),
    ("DL", "L-6E869C2A", "Running On-Demand DL instances"),
    ("F", "L-74FC7D96", "Running On-Demand F instances"),
    ("X", "L-7295265B", "Running On-Demand X instances"),
    ("Trn", "L-2C3B7624", "Running On-Demand Trn instances"),
    ("High Memory", "L-43DA4232", "Running On-Demand High Memory instances"),
))  # fmt: skip
_SPOT = _quotas(Market.SPOT, (
    ("Standard", "L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"),
    ("G and VT", "L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("P", "L-7212CCBC", "All P4, P3 and P2 Spot Instance Requests"),
    ("P5", "L-C4BD4855", "All P5 Spot Instance Requests"),
    ("Inf", "L-B5D1601B", "All Inf Spot Instance Requests"),
    ("DL", "L-85EED4F7", "All DL Spot Instance Requests"),
    ("F", "L-88CF9481", "All F Spot Instance Requests"),
    ("X", "L-E3A00192", "All X Spot Instance Requests"),
    ("Trn", "L-6B0D517C", "All Trn Spot Instance Requests"),
))  # fmt: skip
QUOTAS: tuple[Quota, ...] = (*_SPOT.values(), *_ON_DEMAND.values())
_ORDER = {quota: index for index, quota in enumerate(QUOTAS)}  # what is read and said: by region, then in this order

# A family's letters (before its generation digit) -> its class. `u` (high memory) runs on-demand only;
# the spot classes of P go by generation (P2-P4, P5), so "p" is looked up with its digit.
_CLASS_OF_LETTERS: Mapping[str, str] = {
    **dict.fromkeys(("a", "c", "d", "h", "i", "im", "is", "m", "r", "t", "z"), "Standard"),
    **dict.fromkeys(("g", "gr", "vt"), "G and VT"),
    "p": "P", "inf": "Inf", "dl": "DL", "f": "F", "x": "X", "trn": "Trn", "u": "High Memory",
}  # fmt: skip
_SPOT_P_BY_GENERATION: Mapping[str, str] = {"2": "P", "3": "P", "4": "P", "5": "P5"}
_FAMILY = re.compile(r"([a-z]+)-?(\d?)")


def quota_for(instance_type: str, market: Market) -> Quota | None:
    """The vCPU quota an instance type counts against in a market, or None when no class is known for its family."""
    match = _FAMILY.match(instance_type)
    label = _CLASS_OF_LETTERS.get(match.group(1)) if match else None
    if label is None or match is None:
        return None
    if market is Market.ON_DEMAND:
        return _ON_DEMAND[label]
    if label == "P":
        label = _SPOT_P_BY_GENERATION.get(match.group(2), "")
    return _SPOT.get(label)


# --- demand -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDemand:
    """What one run may hold at once: an instance of one of `instance_types` in `market`, in `region`."""

    region: str
    market: Market
    instance_types: tuple[str, ...]  # every type the run may launch; it needs room for the largest


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepDemand:
    sweep: str
    runs: tuple[RunDemand, ...]
    max_concurrent: int | None  # at most this many runs hold an instance at once, over all regions


@dataclass(frozen=True, slots=True)
class Unclassed:
    """An instance type whose family no quota here covers: its vCPUs are not checked."""

    region: str
    instance_type: str
    market: Market


def types_by_region(sweeps: Iterable[SweepDemand]) -> dict[str, tuple[str, ...]]:
    """The instance types to read the vCPUs of, per region, sorted (one batched call per 100 of them)."""
    found: dict[str, set[str]] = {}
    for sweep in sweeps:
        for run in sweep.runs:
            found.setdefault(run.region, set()).update(run.instance_types)
    return {region: tuple(sorted(types)) for region, types in sorted(found.items())}


def peak_vcpus(needs: Sequence[int], max_concurrent: int | None) -> int:
    """The most vCPUs the runs hold at once: all of them, or the `max_concurrent` largest."""
    largest = sorted(needs, reverse=True)
    return sum(largest if max_concurrent is None else largest[:max_concurrent])


def run_needs(run: RunDemand, vcpus: Mapping[str, int]) -> tuple[dict[Quota, int], list[Unclassed]]:
    """The vCPUs a run needs room for in each quota its types count against: its largest type there."""
    needs: dict[Quota, int] = {}
    unclassed = []
    for instance_type in run.instance_types:
        quota = quota_for(instance_type, run.market)
        if quota is None:
            unclassed.append(Unclassed(run.region, instance_type, run.market))
        else:
            needs[quota] = max(needs.get(quota, 0), vcpus[instance_type])
    return needs, unclassed


def peaks(sweeps: Iterable[SweepDemand], vcpus: Mapping[str, Mapping[str, int]]) -> tuple[dict[tuple[str, Quota], int], set[Unclassed]]:
    """Peak vCPUs per (region, quota) in report order, summed over the sweeps; regions missing from `vcpus` (not read) are left out.

    Per region the runs placed there, at most max_concurrent of them (the largest): each quota must hold
    that many, since the runs that hold instances at once may all be in one region.
    """
    total: dict[tuple[str, Quota], int] = {}
    unclassed: set[Unclassed] = set()
    for sweep in sweeps:
        per_quota: dict[tuple[str, Quota], list[int]] = {}
        for run in sweep.runs:
            if run.region not in vcpus:
                continue
            needs, unknown = run_needs(run, vcpus[run.region])
            unclassed.update(unknown)
            for quota, need in needs.items():
                per_quota.setdefault((run.region, quota), []).append(need)
        for key, needs_there in per_quota.items():
            total[key] = total.get(key, 0) + peak_vcpus(needs_there, sweep.max_concurrent)
    return dict(sorted(total.items(), key=_in_order)), unclassed


def _in_order(item: tuple[tuple[str, Quota], int]) -> tuple[str, int]:
    (region, quota), _ = item
    return region, _ORDER[quota]


# --- findings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A region's quota against the peak: its value, or why it could not be read."""

    region: str
    quota: Quota
    needed: int  # vCPUs
    value: float | None = None
    error: str | None = None

    @property
    def below(self) -> bool:
        return self.value is not None and self.value < self.needed

    def request(self) -> str:
        """The command that asks AWS for enough."""
        return (f"aws service-quotas request-service-quota-increase --service-code {SERVICE_CODE} "
                f"--quota-code {self.quota.code} --desired-value {self.needed} --region {self.region}")  # fmt: skip

    def line(self) -> str:
        head = f"{self.region}: {self.quota.label} {self.quota.market}: {self.needed} vCPUs needed"
        where = f"({self.quota.code}, {self.quota.name})"
        if self.value is None:
            return f"{head}, quota not read {where}: {self.error}"
        return f"{head}, quota {_number(self.value)} {where}: {'below need' if self.below else 'enough'}"

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"region": self.region, "class": self.quota.label, "market": str(self.quota.market),
                                 "quota_code": self.quota.code, "quota_name": self.quota.name, "needed_vcpus": self.needed}  # fmt: skip
        if self.value is None:
            return found | {"quota": None, "error": self.error, "below": None}
        return found | {"quota": _number(self.value), "below": self.below} | ({"request": self.request()} if self.below else {})


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What the preflight found, in (region, class, market) order."""

    findings: tuple[Finding, ...]
    unclassed: tuple[Unclassed, ...] = ()
    unread_regions: tuple[tuple[str, str], ...] = ()  # (region, why): the vCPUs of its types could not be read

    @property
    def below(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.below)

    @property
    def unread(self) -> tuple[str, ...]:
        """Each quota or region that could not be read, in one line."""
        quotas = [finding.line() for finding in self.findings if finding.value is None]
        return (*quotas, *(f"{region}: vCPUs of its instance types not read: {why}" for region, why in self.unread_regions))

    def not_checked(self) -> tuple[str, ...]:
        return tuple(f"{item.region}: {item.instance_type} {item.market}: no vCPU quota is known for its family: not checked"
                     for item in self.unclassed)  # fmt: skip

    def lines(self) -> list[str]:
        """Every finding, each below need followed by the command that asks for more, then what was not checked."""
        shown = []
        for finding in self.findings:
            shown.append(finding.line())
            if finding.below:
                shown.append(f"  {finding.request()}")
        return [*shown, *(f"{region}: vCPUs of its instance types not read: {why}" for region, why in self.unread_regions),
                *self.not_checked()]  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {"quotas": [finding.as_json() for finding in self.findings],
                "not_read": [{"region": region, "error": why} for region, why in self.unread_regions],
                "not_checked": [{"region": item.region, "instance_type": item.instance_type, "market": str(item.market)}
                                for item in self.unclassed]}  # fmt: skip


def report(peak: Mapping[tuple[str, Quota], int], values: Mapping[tuple[str, str], float | str],
           unclassed: Iterable[Unclassed] = (), unread_regions: Mapping[str, str] | None = None) -> Report:  # fmt: skip
    """The findings of `peak` against the quota values read, (region, code) -> value, or the error met reading it."""
    findings = []
    for (region, quota), needed in sorted(peak.items(), key=_in_order):
        value = values[(region, quota.code)]
        if isinstance(value, str):
            findings.append(Finding(region=region, quota=quota, needed=needed, error=value))
        else:
            findings.append(Finding(region=region, quota=quota, needed=needed, value=value))
    return Report(findings=tuple(findings), unclassed=tuple(sorted(unclassed, key=lambda item: (item.region, item.instance_type, item.market))),
                  unread_regions=tuple(sorted((unread_regions or {}).items())))  # fmt: skip
