"""Capacity in Terraform: each run's candidates and the one it launches on now (DESIGN §13). Pure.

The rule is spawn_tf/capacity.py's, evaluated by Terraform from what only it reads: the zones that
offer each instance type (`describe-instance-type-offerings`), the region's default subnets, the
zones of the subnets runs name, and the capacity markers in S3. Runs that share their instance
types, markets, zones and subnets share one candidate spec, so each candidate list is computed once
per spec; markers are grouped by run once, so a run's lookup is one map key and its own markers.
The part goes into network.tf.json: like the network, it says where each instance goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spawn_tf import contract
from spawn_tf.emit.hcl import Expr, Template
from spawn_tf.emit.schedule import listed_keys, listing
from spawn_tf.model import Run, RunSettings
from spawn_tf.plan import Plan

EVERY_ZONE = "every-zone"  # a spec without zones or subnets: every zone with a default subnet, by name
# Terraform has no epoch function: a marker's expiry is `timeadd(EPOCH, "<seconds>s")`. Go durations stop at
# about 292 years (int64 nanoseconds), so larger sums are capped here: still in the future (year 2255), so the
# marker stays live, as spawn_tf.capacity.live() says of any time that large.
EPOCH = "1970-01-01T00:00:00Z"
LATEST_EXPIRY_SECONDS = 9_000_000_000

OFFERED = "data.aws_ec2_instance_type_offerings.zones"
PLACEMENTS = (
    "{for key, spec in local.capacity_specs : key => (length(spec.subnets) > 0 "
    "? [for subnet in spec.subnets : {zone = local.subnet_zones[subnet], subnet = subnet}] "
    ": [for zone in (length(spec.zones) > 0 ? spec.zones : sort(keys(local.default_subnets))) : "
    "{zone = zone, subnet = local.default_subnets[zone]} if try(local.default_subnets[zone], null) != null])}"
)
# Market, then instance type, then placement (spawn_tf.capacity.candidates); a zone not offering the type is left out.
CANDIDATE_LISTS = (
    "{for key, spec in local.capacity_specs : key => flatten([for market in spec.markets : [for type in spec.types : "
    "[for place in local.placements[key] : {instance_type = type, market = market, zone = place.zone, subnet = place.subnet} "
    'if try(local.offered["${type} ${place.zone}"], null) != null]]])}'
)


def spec_key(settings: RunSettings) -> str:
    """A candidate spec's name: its markets, types, and subnets or zones, each `|`-joined in order."""
    where = settings.subnet_ids or settings.zones
    return " ".join(("|".join(settings.markets), "|".join(settings.instance_types), "|".join(where) if where else EVERY_ZONE))


@dataclass(frozen=True, slots=True)
class Specs:
    """A root's candidate specs: by key, and each run settings object's key (runs share settings objects)."""

    by_key: Mapping[str, RunSettings]
    of_settings: Mapping[int, str]  # id(settings) -> key

    @classmethod
    def of(cls, runs: Iterable[Run]) -> Specs:
        by_key: dict[str, RunSettings] = {}
        of_settings: dict[int, str] = {}
        for run in runs:
            if id(run.settings) not in of_settings:
                key = of_settings[id(run.settings)] = spec_key(run.settings)
                by_key.setdefault(key, run.settings)
        return cls(by_key, of_settings)

    def key(self, run: Run) -> str:
        return self.of_settings[id(run.settings)]


def capacity(plan: Plan, specs: Specs) -> dict[str, Any]:
    """The data sources, locals and check that choose each run's candidate (`local.candidates`)."""
    settings = specs.by_key.values()
    data: dict[str, Any] = {
        "aws_ec2_instance_type_offerings": {
            "zones": {
                "location_type": "availability-zone",
                "filter": {"name": "instance-type", "values": sorted({t for s in settings for t in s.instance_types})},
            }
        },
        "aws_s3_objects": {"capacity": listing(plan, "capacity", "local.capacity_control")},
    }
    subnets = sorted({subnet for s in settings for subnet in s.subnet_ids})
    default = any(not s.subnet_ids for s in settings)
    subnet_data: dict[str, Any] = {}
    if subnets:  # also the VPC of each network subnet (network.tf.json)
        subnet_data["run"] = {"for_each": Expr(f"toset({json.dumps(subnets)})"), "id": Expr("each.key")}
    if default:
        data["aws_subnets"] = {"default": {"filter": {"name": "default-for-az", "values": ["true"]}}}
        subnet_data["zone"] = {"for_each": Expr("toset(data.aws_subnets.default.ids)"), "id": Expr("each.key")}
    if subnet_data:
        data["aws_subnet"] = subnet_data
    return {"data": data, "locals": _locals(plan, specs.by_key, subnets=bool(subnets), default=default), "check": _check()}


def _locals(plan: Plan, specs: Mapping[str, RunSettings], *, subnets: bool, default: bool) -> dict[str, Any]:
    retry = plan.sweep.capacity_retry_after_seconds
    expiry = f'timeadd("{EPOCH}", "${{min(m.unix_time + {retry}, {LATEST_EXPIRY_SECONDS})}}s")'
    return {
        "capacity_control": contract.control_prefix(plan.sweep_folder, contract.CONTROL_CAPACITY),
        "capacity_pattern": f"^{contract.CAPACITY_MARKER_PATTERN}$",
        "capacity_specs": {
            key: {
                "markets": [market.value for market in s.markets],
                "types": list(s.instance_types),
                "zones": list(s.zones),
                "subnets": list(s.subnet_ids),
            }
            for key, s in sorted(specs.items())
        },
        # "<type> <zone>" -> offered (the pairs of the offerings' parallel lists)
        "offered": Expr(f'{{for i, type in {OFFERED}.instance_types : "${{type}} ${{{OFFERED}.locations[i]}}" => true...}}'),
        "default_subnets": Expr("{for id, subnet in data.aws_subnet.zone : subnet.availability_zone => id}") if default else {},
        "subnet_zones": Expr("{for id, subnet in data.aws_subnet.run : id => subnet.availability_zone}") if subnets else {},
        "placements": Expr(PLACEMENTS),
        "candidate_lists": Expr(CANDIDATE_LISTS),
        # <R>/<candidate>.<unix time>: that candidate had no capacity then
        "capacity_markers": Expr(
            f"[for m in [for key in {listed_keys('capacity')} : regexall(local.capacity_pattern, trimprefix(key, local.capacity_control))] : "
            "{run = m[0][0], candidate = tonumber(m[0][1]), unix_time = tonumber(m[0][2])} if length(m) > 0]"
        ),
        # R -> its live markers' candidates: those younger than capacity_retry_after
        "capacity_live": Expr(f"{{for m in local.capacity_markers : m.run => m.candidate... if timecmp({expiry}, plantimestamp()) > 0}}"),
        # R -> the time of its newest marker: a new one chooses the run's candidate again (terraform_data.candidate)
        "capacity_latest": Expr("{for run, times in {for m in local.capacity_markers : m.run => m.unix_time...} : run => max(times...)}"),
        # run -> the first of its candidates without a live marker, or null (spawn_tf.capacity.current)
        "current_candidate": Expr(
            "{for name, run in local.runs : name => concat([for i in range(length(local.candidate_lists[run.candidates])) : i "
            'if !contains(try(local.capacity_live["${name}.${run.fingerprint}"], []), i)], [null])[0]}'
        ),
        # A run not started with every candidate marked waits. A started run never waits: it keeps its instance.
        "waiting": Expr(
            "{for name, run in local.runs : name => true "
            'if local.current_candidate[name] == null && try(local.started_runs["${name}.${run.fingerprint}"], null) == null}'
        ),
        # The candidate each active run was launched on (terraform_data.candidate keeps it). A started run left
        # without any candidate (its offerings changed) keeps its instance, whose placement is never updated in place.
        "candidates": Expr(
            f"{{for name, run in {contract.ACTIVE_RUNS_LOCAL} : name => try(local.candidate_lists[run.candidates][{contract.CANDIDATE_RESOURCE}[name].input], "
            "{instance_type = local.capacity_specs[run.candidates].types[0], market = local.capacity_specs[run.candidates].markets[0], zone = null, subnet = null})}"
        ),
        "without_candidates": Expr("sort([for name, run in local.runs : name if length(local.candidate_lists[run.candidates]) == 0])"),
    }


def _check() -> dict[str, Any]:
    """A warning, not an error: the other runs still launch."""
    names = Expr('join(", ", slice(local.without_candidates, 0, min(5, length(local.without_candidates))))')
    reason = " runs have no candidate (no zone of this region offers their instance types in their zones or subnets) and launch nothing: "
    return {
        "capacity": {
            "assert": {
                "condition": Expr("length(local.without_candidates) == 0"),
                "error_message": Template((Expr("length(local.without_candidates)"), reason, names)),
            }
        }
    }
