"""Capacity failover, decided by real Terraform on compiled roots (offline, DESIGN §13).

Each root reads the zones that offer its instance types, the region's default subnets and the
capacity markers; these tests supply them as data and ask Terraform which candidate each run's
instance uses. The sweep file cannot spell the candidate settings yet here: the tests set them on
the planned runs (`dataclasses.replace`) and emit the roots from that plan.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tfharness as tfh
from offline import compile_sweep, placement_values, plan_root

from spawn_tf import capacity, contract
from spawn_tf.contract import Market
from spawn_tf.emit.files import write_tree
from spawn_tf.emit.terraform import emit_plan
from spawn_tf.plan import Plan

REGIONS = ("eu-west-1", "us-east-1", "us-west-2")
LARGE, XLARGE = "m7i.large", "m7i.xlarge"
SPOT = {
    "market_type": "spot",
    "spot_options": {"instance_interruption_behavior": "terminate", "max_price": None, "spot_instance_type": "one-time"},
}
# One root of three runs: two types over three zones written out of order; spot then on-demand over every zone; neither.
CHANGES = {
    "types": {"alternative_types": (XLARGE,), "zones": ("us-east-1c", "us-east-1a", "us-east-1b")},
    "markets": {"on_demand_fallback": True},
}


def sweep_text(runs: dict[str, str], max_concurrent: int | None = None) -> str:
    """Explicit runs (name -> region) of m7i.large spot instances."""
    rows = "".join(f"  - {{name: {name}, region: {region}, lr: {n}}}\n" for n, (name, region) in enumerate(runs.items()))
    cap = f"max_concurrent: {max_concurrent}\n" if max_concurrent is not None else ""
    return f"sweep: cap\n{cap}defaults:\n  instance_type: {LARGE}\n  ttl: 1h\n  command: ./train.sh\nparams:\n{rows}"


def with_candidates(plan: Plan, changes: dict[str, dict[str, Any]], **sweep: Any) -> Plan:
    """The plan with some runs' candidate settings (and the sweep's) replaced."""
    roots = tuple(
        replace(
            root,
            runs=tuple(
                replace(run, settings=replace(run.settings, **changes[run.name])) if run.name in changes else run for run in root.runs
            ),
        )
        for root in plan.roots
    )
    return replace(plan, roots=roots, sweep=replace(plan.sweep, **sweep))


def build(
    tmp_path: Path, runs: dict[str, str], changes: dict[str, dict[str, Any]], *, max_concurrent: int | None = None, **sweep: Any
) -> tuple[Plan, Path]:
    """Compile the runs, set their candidate settings, and write the roots; returns the plan and its build folder."""
    folder = tmp_path / f"sweep-{time.monotonic_ns()}"
    folder.mkdir()
    checked, _ = compile_sweep(sweep_text(runs, max_concurrent), folder)
    assert checked.plan is not None
    plan = with_candidates(checked.plan, changes, **sweep)
    out = folder / "emitted" / plan.sweep.id
    write_tree(out, emit_plan(plan, checked.exports, checked.sizes))
    return plan, out


class Scenario:
    """What S3 holds (capacity markers, started attempts) and what AWS offers, for one root."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.now = int(time.time())
        self.markers: list[str] = []
        self.attempts: list[str] = []

    def key(self, name: str) -> str:
        run = next(run for root in self.plan.roots for run in root.runs if run.name == name)
        return contract.run_key(run.name, run.fingerprint)

    def mark(self, name: str, *candidates: int, age: int = 60) -> Scenario:
        """Markers on these candidates of the run, written `age` seconds ago."""
        self.markers += [contract.capacity_key(self.plan.sweep_folder, self.key(name), c, self.now - age) for c in candidates]
        return self

    def start(self, name: str) -> Scenario:
        """An attempt of the run began and has no outcome."""
        self.attempts.append(f"{contract.control_prefix(self.plan.sweep_folder, contract.CONTROL_ATTEMPTS)}{self.key(name)}/i-0123")
        return self

    def data(self, root: Path, **placement: Any) -> dict[str, dict[str, Any]]:
        def listing(keys: list[str]) -> dict[str, Any]:
            return {"keys": keys, "common_prefixes": [], "owners": [], "request_charged": ""}

        return {
            **placement_values(root, **placement),
            "aws_s3_objects.capacity": listing(self.markers),
            "aws_s3_objects.attempts": listing(self.attempts),
        }


OUTPUTS = {
    "current": "${local.current_candidate}",
    "waiting": "${local.waiting}",
    "lists": "${{for name, run in local.runs : name => local.candidate_lists[run.candidates]}}",
}


def decide(
    tmp_path: Path,
    root: Path,
    scenario: Scenario,
    state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    **placement: Any,
) -> dict[str, Any]:
    """Terraform's plan of the root: the plan, and its instances, candidate indices and outputs by run.

    placement: `placement_values`' zones and offerings; extra: more data values (each subnet's own zone)."""
    dest = tmp_path / f"off-{root.name}-{time.monotonic_ns()}"
    plan = plan_root(root, dest, state=state, data={**scenario.data(root, **placement), **(extra or {})}, outputs=OUTPUTS)
    inputs = tfh.planned_inputs(plan)

    def by_run(prefix: str) -> dict[str, Any]:
        return {m.group(1): value for address, value in inputs.items() if (m := re.fullmatch(re.escape(prefix) + r'\["(.+)"\]', address))}

    outputs = {name: output["value"] for name, output in plan["planned_values"]["outputs"].items()}
    return {
        "plan": plan,
        "dest": dest,
        "instances": by_run("aws_instance.run"),
        "candidate": by_run(contract.CANDIDATE_RESOURCE),
        **outputs,
    }


def placed(instance: dict[str, Any]) -> tuple[str, str, Any]:
    return instance["instance_type"], instance["subnet_id"], instance["instance_market_options"]


ONE_ROOT = {"types": "us-east-1", "markets": "us-east-1", "plain": "us-east-1"}


def test_markers_on_the_first_three_candidates_place_the_instance_on_the_fourth(tmp_path: Path) -> None:
    plan, out = build(tmp_path, ONE_ROOT, CHANGES)
    decided = decide(tmp_path, out / "us-east-1", Scenario(plan).mark("types", 0, 1, 2).mark("markets", 0, 1, 2))
    # types: m7i.large in c, a, b (0-2), then m7i.xlarge in c, a, b; markets: spot in a, b, c, then on-demand in a, b, c
    assert placed(decided["instances"]["types"]) == (XLARGE, "subnet-us-east-1c", [SPOT])
    assert placed(decided["instances"]["markets"]) == (LARGE, "subnet-us-east-1a", [])  # on-demand: no market options
    assert placed(decided["instances"]["plain"]) == (LARGE, "subnet-us-east-1a", [SPOT])
    assert decided["candidate"] == {"types": 3, "markets": 3, "plain": 0}
    assert [c["market"] for c in decided["lists"]["markets"]] == ["spot"] * 3 + ["on-demand"] * 3


def test_a_root_of_spot_runs_only_writes_the_market_as_a_block(tmp_path: Path) -> None:
    plan, out = build(tmp_path, {"types": "us-east-1", "plain": "us-east-1"}, {"types": CHANGES["types"]})
    instance = json.loads((out / "us-east-1" / "instances.tf.json").read_text())["resource"]["aws_instance"]["run"]
    assert "dynamic" not in instance and instance["instance_market_options"]["market_type"] == "spot"
    decided = decide(tmp_path, out / "us-east-1", Scenario(plan).mark("types", 0))
    assert placed(decided["instances"]["types"]) == (LARGE, "subnet-us-east-1a", SPOT)
    _, on_demand = build(tmp_path, {"plain": "us-east-1"}, {"plain": {"spot": False}})
    instance = json.loads((on_demand / "us-east-1" / "instances.tf.json").read_text())["resource"]["aws_instance"]["run"]
    assert "dynamic" not in instance and "instance_market_options" not in instance


def test_a_marker_older_than_capacity_retry_after_is_ignored(tmp_path: Path) -> None:
    plan, out = build(tmp_path, ONE_ROOT, CHANGES, capacity_retry_after_seconds=600)
    scenario = Scenario(plan).mark("types", 0, age=700).mark("types", 1, age=500)
    scenario.mark("markets", 0, age=500).mark("markets", 2, age=700)
    # a time too far ahead for a Go duration is still a live marker, and a key of another shape no marker at all
    scenario.markers.append(contract.capacity_key(plan.sweep_folder, scenario.key("markets"), 1, 10**15))
    scenario.markers += [f"{contract.capacity_key(plan.sweep_folder, scenario.key('plain'), 0, scenario.now)}/x", f"{scenario.markers[0]}x"]
    decided = decide(tmp_path, out / "us-east-1", scenario)
    assert decided["current"] == {"types": 0, "markets": 2, "plain": 0}
    assert placed(decided["instances"]["types"]) == (LARGE, "subnet-us-east-1c", [SPOT])


def test_a_started_run_keeps_its_candidate_when_its_markers_expire(tmp_path: Path) -> None:
    """The candidate is chosen at launch and after a new marker only: expiring markers move no running instance."""
    plan, out = build(tmp_path, ONE_ROOT, CHANGES, capacity_retry_after_seconds=7200)
    marked = Scenario(plan).mark("types", 0, 1, age=3600)
    launched = decide(tmp_path, out / "us-east-1", marked)
    assert placed(launched["instances"]["types"]) == (LARGE, "subnet-us-east-1b", [SPOT])
    state = tfh.apply(launched["dest"])
    # the same markers, an hour older than capacity_retry_after allows: the same root compiled with 30 minutes
    _, shorter = build(tmp_path, ONE_ROOT, CHANGES, capacity_retry_after_seconds=1800)
    later = decide(tmp_path, shorter / "us-east-1", marked.start("types"), state=state)
    assert later["current"]["types"] == 0  # a launch now would take candidate 0 ...
    changed = {address for address, acts in tfh.actions(later["plan"]).items() if acts not in (["no-op"], ["read"])}
    assert changed == set()  # ... but the running instance stays where it is
    assert later["candidate"]["types"] == 2


def test_a_run_launched_after_its_markers_expired_stays_when_it_starts(tmp_path: Path) -> None:
    """An expired marker of the candidate a run runs on does not count again once the run has started."""
    plan, out = build(tmp_path, ONE_ROOT, CHANGES)
    old = Scenario(plan).mark("types", 0, age=7200)
    launched = decide(tmp_path, out / "us-east-1", old)
    assert launched["candidate"]["types"] == 0
    state = tfh.apply(launched["dest"])
    later = decide(tmp_path, out / "us-east-1", old.start("types"), state=state)
    assert {address for address, acts in tfh.actions(later["plan"]).items() if acts not in (["no-op"], ["read"])} == set()


def test_a_new_candidate_replaces_that_instance_and_no_other(tmp_path: Path) -> None:
    plan, out = build(tmp_path, ONE_ROOT, CHANGES)
    first = decide(tmp_path, out / "us-east-1", Scenario(plan))
    state = tfh.apply(first["dest"])
    again = decide(tmp_path, out / "us-east-1", Scenario(plan), state=state)
    assert {a for a, acts in tfh.actions(again["plan"]).items() if acts != ["no-op"] and not a.startswith("data.")} == set()
    moved = decide(tmp_path, out / "us-east-1", Scenario(plan).mark("markets", 0), state=state)
    changed = {address: acts for address, acts in tfh.actions(moved["plan"]).items() if acts not in (["no-op"], ["read"])}
    assert changed == {
        'aws_instance.run["markets"]': ["delete", "create"],
        f'{contract.CANDIDATE_RESOURCE}["markets"]': ["delete", "create"],
    }
    assert placed(moved["instances"]["markets"]) == (LARGE, "subnet-us-east-1b", [SPOT])


def test_a_root_applied_before_candidates_keeps_its_instances(tmp_path: Path) -> None:
    """Upgrading: the state has no terraform_data.candidate yet; creating it replaces nothing."""
    plan, out = build(tmp_path, ONE_ROOT, CHANGES)
    first = decide(tmp_path, out / "us-east-1", Scenario(plan))
    state = tfh.apply(first["dest"])
    state["resources"] = [r for r in state["resources"] if (r["type"], r["name"]) != tuple(contract.CANDIDATE_RESOURCE.split("."))]
    upgraded = decide(tmp_path, out / "us-east-1", Scenario(plan), state=state)
    actions = tfh.actions(upgraded["plan"])
    assert {actions[f'aws_instance.run["{name}"]'][0] for name in ONE_ROOT} == {"no-op"}
    assert {actions[f'{contract.CANDIDATE_RESOURCE}["{name}"]'][0] for name in ONE_ROOT} == {"create"}


def test_a_run_with_every_candidate_marked_launches_nothing(tmp_path: Path) -> None:
    plan, out = build(tmp_path, ONE_ROOT, CHANGES)
    decided = decide(tmp_path, out / "us-east-1", Scenario(plan).mark("markets", *range(6)).mark("types", 0, 1, 2, 3, 4))
    assert set(decided["instances"]) == set(decided["candidate"]) == {"types", "plain"}
    assert decided["waiting"] == {"markets": True}
    assert decided["current"] == {"types": 5, "markets": None, "plain": 0}
    # a started run never waits: its instance is kept wherever it runs
    assert "markets" in decide(tmp_path, out / "us-east-1", Scenario(plan).mark("markets", *range(6)).start("markets"))["instances"]


def test_zones_that_do_not_offer_a_type_are_left_out(tmp_path: Path) -> None:
    changes = {**CHANGES, "plain": {"instance_type": "m7i.2xlarge"}}
    plan, out = build(tmp_path, ONE_ROOT, changes)
    offered = {LARGE: ["us-east-1a", "us-east-1c"], XLARGE: ["us-east-1b"]}  # m7i.2xlarge nowhere
    decided = decide(tmp_path, out / "us-east-1", Scenario(plan).mark("types", 0, 1), offered=offered)
    assert [(c["instance_type"], c["zone"]) for c in decided["lists"]["types"]] == [
        (LARGE, "us-east-1c"),
        (LARGE, "us-east-1a"),
        (XLARGE, "us-east-1b"),
    ]
    assert placed(decided["instances"]["types"]) == (XLARGE, "subnet-us-east-1b", [SPOT])
    assert decided["lists"]["plain"] == [] and "plain" not in decided["instances"]
    # a run with no candidate at all is a warning of the plan, not an error: the other runs launch
    assert tfh.check_statuses(decided["plan"])["check.capacity"] == "fail"
    [message] = tfh.check_failures(decided["plan"])["check.capacity"]
    assert message.startswith("1 runs have no candidate") and message.endswith(": plain")
    # the offerings asked about are every type of the root's runs, in availability zones
    args = tfh.data_reads(decided["plan"])["data.aws_ec2_instance_type_offerings.zones"]["_args"]
    assert args["location_type"] == "availability-zone"
    assert (args["filter"]["name"], sorted(args["filter"]["values"])) == ("instance-type", sorted([LARGE, XLARGE, "m7i.2xlarge"]))


def test_the_capacity_listing_reads_its_control_prefix_and_fails_when_cut_short(tmp_path: Path) -> None:
    plan, out = build(tmp_path, ONE_ROOT, CHANGES)
    decided = decide(tmp_path, out / "us-east-1", Scenario(plan))
    args = tfh.data_reads(decided["plan"])["data.aws_s3_objects.capacity[0]"]["_args"]  # read while a run is open
    assert (args["prefix"], args["max_keys"]) == (
        contract.control_prefix(plan.sweep_folder, contract.CONTROL_CAPACITY),
        contract.MAX_LISTING_KEYS,
    )
    full = Scenario(plan)
    full.markers = [f"{plan.sweep_folder}/_capacity/x{i}/0.1" for i in range(contract.MAX_LISTING_KEYS)]
    with pytest.raises(tfh.TerraformError, match="capacity listing reached 1000000 keys"):
        decide(tmp_path, out / "us-east-1", full)


def test_the_provider_gives_up_on_a_failing_call_after_max_retries(tmp_path: Path) -> None:
    """An apply without capacity ends in minutes: the provider's own retries are bounded (DESIGN §13)."""

    def max_retries(out: Path) -> int:
        return json.loads((out / "us-east-1" / "terraform.tf.json").read_text())["provider"]["aws"]["max_retries"]

    assert max_retries(build(tmp_path, ONE_ROOT, {})[1]) == contract.DEFAULT_PROVIDER_MAX_RETRIES
    assert max_retries(build(tmp_path, ONE_ROOT, {}, provider_max_retries=2)[1]) == 2


def test_what_chooses_candidates_is_known_at_plan_time(tmp_path: Path) -> None:
    """Only data sources and literals decide the candidates (they feed local.active): no managed resource, no depends_on."""
    _, out = build(tmp_path, ONE_ROOT, CHANGES)
    network = json.loads((out / "us-east-1" / "network.tf.json").read_text())
    # vpcs and candidates (the placement of the launched instances, read by their arguments only) feed no for_each
    text = json.dumps({"data": network["data"], "locals": {k: v for k, v in network["locals"].items() if k not in ("vpcs", "candidates")}})
    assert "depends_on" not in text
    assert [m.group(0) for m in re.finditer(r"(?<![\w.])(aws_[a-z0-9_]+|terraform_data)\.[a-z0-9_]+", text)] == []


def active(tmp_path: Path, plan: Plan, out: Path, scenario: Scenario) -> set[str]:
    return {name for root in plan.roots for name in decide(tmp_path, out / root.name, scenario)["instances"]}


def test_max_concurrent_holds_when_a_root_leaves_out_its_waiting_runs(tmp_path: Path) -> None:
    runs = {f"run-{i:02d}": REGIONS[i % 3] for i in range(9)}  # run-00, 03, 06 in eu-west-1
    plan, out = build(tmp_path, runs, {}, max_concurrent=4)
    assert active(tmp_path, plan, out, Scenario(plan)) == {"run-00", "run-01", "run-02", "run-03"}
    # eu-west-1 skips run-00 and takes run-03; the other roots, not knowing, keep the same cut-off
    one = Scenario(plan).mark("run-00", 0, 1, 2)
    assert active(tmp_path, plan, out, one) == {"run-01", "run-02", "run-03"}
    # every run of eu-west-1 waits: it launches none, and the others launch no more than before
    every = Scenario(plan)
    for name in ("run-00", "run-03", "run-06"):
        every.mark(name, 0, 1, 2)
    assert active(tmp_path, plan, out, every) == {"run-01", "run-02"}
    # started runs count in every root's choice alike: with two, two pending places are left (run-00 waits)
    for started in ("run-01", "run-04"):
        every.start(started)
    chosen = active(tmp_path, plan, out, every)
    assert chosen == {"run-01", "run-04", "run-02"} and len(chosen) <= 4


# --- one rule in Python and in Terraform ----------------------------------------------------

POOL = ("m7i.large", "m7i.xlarge", "c7i.large")
ALL_ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")
DEFAULT_ZONES = ("us-east-1a", "us-east-1b", "us-east-1d")  # us-east-1c has no default subnet
SUBNET_ZONES = {
    "subnet-0aaaaaaaaaaaaaaa1": "us-east-1b",
    "subnet-0aaaaaaaaaaaaaaa2": "us-east-1c",
    "subnet-0aaaaaaaaaaaaaaa3": "us-east-1a",
}


def random_settings(rng: random.Random) -> dict[str, Any]:
    types = rng.sample(POOL, rng.randint(1, 3))
    changes: dict[str, Any] = {"instance_type": types[0], "alternative_types": tuple(types[1:])}
    changes["spot"] = rng.random() < 0.8
    changes["on_demand_fallback"] = changes["spot"] and rng.random() < 0.5
    where = rng.choice(("every", "zones", "subnets"))
    if where == "zones":
        changes["zones"] = tuple(rng.sample(ALL_ZONES, rng.randint(1, 4)))
    elif where == "subnets":
        subnets = rng.sample(sorted(SUBNET_ZONES), rng.randint(1, 3))
        changes["subnet_id"], changes["alternative_subnets"] = subnets[0], tuple(subnets[1:])
    return changes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_terraform_and_spawn_tf_capacity_choose_the_same_candidates(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    names = [f"r{i}" for i in range(8)]
    changes = {name: random_settings(rng) for name in names}
    plan, out = build(tmp_path, dict.fromkeys(names, "us-east-1"), changes, capacity_retry_after_seconds=900)
    offered = {t: sorted(rng.sample(ALL_ZONES, rng.randint(0, 4))) for t in POOL}
    scenario = Scenario(plan)
    markers: dict[str, list[capacity.Marker]] = {}
    for name in names:
        if rng.random() < 0.3:
            scenario.start(name)
        for candidate in rng.sample(range(8), rng.randint(0, 6)):
            age = rng.choice((60, 800, 1000, 5000))  # live, live, expired, expired (900 s)
            scenario.mark(name, candidate, age=age)
            markers.setdefault(name, []).append(capacity.Marker(candidate, scenario.now - age))
    subnets = {f"aws_subnet.run[{subnet}]": {"vpc_id": "vpc-1", "availability_zone": zone} for subnet, zone in SUBNET_ZONES.items()}
    decided = decide(tmp_path, out / "us-east-1", scenario, extra=subnets, zones=list(DEFAULT_ZONES), offered=offered)
    started = {name for name in names if any(key.endswith(f"/{scenario.key(name)}/i-0123") for key in scenario.attempts)}
    [root] = plan.roots
    chosen = set()
    for run in root.runs:
        where = capacity.placements(run.settings, {zone: f"subnet-{zone}" for zone in DEFAULT_ZONES}, SUBNET_ZONES)
        expected = capacity.candidates(run.settings, where, offered)
        found = decided["lists"][run.name]
        assert [(c["instance_type"], Market(c["market"]), c["zone"], c["subnet"]) for c in found] == [
            (c.instance_type, c.market, c.placement.zone, c.placement.subnet) for c in expected
        ], run.name
        marked = capacity.live(markers.get(run.name, ()), scenario.now, 900)
        assert decided["current"][run.name] == capacity.current(len(expected), marked), run.name
        chosen.add(decided["current"][run.name])
        # a run waits when it has no candidate left, unless it started: then it keeps its instance
        assert (run.name in decided["instances"]) == (decided["current"][run.name] is not None or run.name in started), run.name
    assert len(chosen) > 1  # the runs' answers differ: the scenario is not one where any rule agrees
