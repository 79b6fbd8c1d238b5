"""Capacity candidates as the sweep file writes them (DESIGN §13): instance types, spot: auto, zones, subnets, the
sweep's capacity_retry_after and terraform.max_retries; read into run settings, checked where they are written, and
kept out of the fingerprint."""

from __future__ import annotations

import pytest
from sweep_helpers import CheckSweep, codes

from spawn_tf import Checked, contract
from spawn_tf.contract import Arch, Market

HEAD = "sweep: cap\nresults: s3://spawn-bucket/sweeps\n"
BASE = HEAD + "defaults:\n  region: us-east-1\n  ttl: 2h\n  command: ./train.sh\n"


def _runs(check: CheckSweep, text: str) -> Checked:
    checked = check(text)
    assert checked.runs is not None, [d.render() for d in checked.diagnostics]
    return checked


def _errors(checked: Checked) -> list[tuple[str, int | None, int | None]]:
    return [(d.code, d.span.line, d.span.col) for d in checked.diagnostics if d.is_error]


@pytest.mark.parametrize(
    ("written", "types"),
    [
        ('"m7i.large|c7i.large|m6i.large"', ("m7i.large", "c7i.large", "m6i.large")),
        ("[m7i.large, c7i.large]", ("m7i.large", "c7i.large")),
        ('[m7i.large, "c7i.large|m7i.large", c7i.large, m6i.large]', ("m7i.large", "c7i.large", "m6i.large")),  # each once, first place kept
        ("m7i.large", ("m7i.large",)),
    ],
)
def test_instance_type_lists_and_spawns_pipes_are_the_types_in_order(check: CheckSweep, written: str, types: tuple[str, ...]) -> None:
    [run] = _runs(check, BASE + f"params:\n  - {{name: a, instance_type: {written}}}\n").runs or ()
    assert run.settings.instance_types == types
    assert (run.settings.instance_type, run.settings.alternative_types) == (types[0], types[1:])


def test_a_family_wildcard_is_every_size_smallest_first_with_a_warning_at_its_entry(check: CheckSweep) -> None:
    checked = _runs(check, BASE + "params:\n  - name: a\n    instance_type: [m7i.large, 'c7i.*']\n")
    [run] = checked.runs or ()
    assert run.settings.instance_types[:5] == ("m7i.large", "c7i.large", "c7i.xlarge", "c7i.2xlarge", "c7i.4xlarge")
    assert run.settings.instance_types[-2:] == ("c7i.metal-24xl", "c7i.metal-48xl")
    assert codes(checked) == [("family-sizes", 9, 32)]  # the list's second item
    assert "differ in price" in checked.diagnostics[0].message and "c7i.large to c7i.metal-48xl" in checked.diagnostics[0].message


def test_each_entry_is_checked_like_a_single_type_at_its_item(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - name: a\n    instance_type:\n      - m7i.large\n      - g5.xlarg\n      - 'gq9.*'\n")
    assert _errors(checked) == [("unknown-instance-type", 11, 9), ("unknown-instance-family", 12, 9)]
    misspelt, family = (d for d in checked.diagnostics if d.is_error)
    assert misspelt.hint is not None and misspelt.hint.startswith("did you mean 'g5.xlarge'?")  # did you mean
    assert "gq9" in family.message and checked.runs is None


def test_a_misspelt_entry_of_a_pipe_names_it(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - {name: a, instance_type: 'g5.xlarge|g6.xlarg'}\n")
    [error] = [d for d in checked.diagnostics if d.is_error]
    assert (error.code, error.message) == ("unknown-instance-type", "unknown instance type 'g6.xlarg': g6 has no such size")


def test_types_of_two_architectures_are_an_error_at_the_first_other_one(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - name: a\n    instance_type: [m7i.large, c7i.large, m7g.large]\n")
    assert _errors(checked) == [("mixed-architectures", 9, 43)]
    assert "m7i.large is x86_64, m7g.large is arm64" in checked.diagnostics[0].message
    graviton = _runs(check, BASE + "params:\n  - {name: a, instance_type: 'm7g.large|c7g.large'}\n")
    assert [run.settings.arch for run in graviton.runs or ()] == [Arch.ARM64]


@pytest.mark.parametrize(("spot", "markets"), [("auto", (Market.SPOT, Market.ON_DEMAND)), ("true", (Market.SPOT,)), ("false", (Market.ON_DEMAND,))])
def test_spot_auto_tries_spot_then_on_demand(check: CheckSweep, spot: str, markets: tuple[Market, ...]) -> None:
    [run] = _runs(check, BASE + f"params:\n  - {{name: a, instance_type: m7i.large, spot: {spot}}}\n").runs or ()
    assert run.settings.markets == markets
    assert run.settings.spot is (spot != "false")


def test_a_wrong_spot_value_names_the_three_choices(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - {name: a, instance_type: m7i.large, spot: sometimes}\n")
    [error] = [d for d in checked.diagnostics if d.is_error]
    assert error.message == "text 'sometimes' is not valid for params[0].spot; expected true, false or auto"
    quoted = check(BASE + "params:\n  - {name: a, instance_type: m7i.large, spot: 'yes'}\n")
    assert [(d.code, d.hint) for d in quoted.diagnostics if d.is_error] == [("wrong-type", "write true or false, without quotes")]


def test_auto_keeps_stop_an_error_and_spot_max_price_meaningful(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - {name: a, instance_type: m7i.large, spot: auto, on_complete: stop, spot_max_price: 0.1}\n")
    assert [d.code for d in checked.diagnostics if d.is_error] == ["stop-needs-on-demand"]
    assert "price-without-spot" not in [d.code for d in checked.diagnostics]


@pytest.mark.parametrize(
    ("written", "zones"),
    [
        ("zones: us-east-1b", ("us-east-1b",)),
        ("zones: [us-east-1c, us-east-1a]", ("us-east-1c", "us-east-1a")),
        ("zones: {us-east-1: [us-east-1d], eu-west-1: eu-west-1a}", ("us-east-1d",)),
        ("az: us-east-1f", ("us-east-1f",)),
        ("availability_zone: [us-east-1a, us-east-1b]", ("us-east-1a", "us-east-1b")),
        ("zones: us-east-1-bos-1a", ("us-east-1-bos-1a",)),  # a Local Zone of the region
    ],
)
def test_zones_in_the_order_written_and_spawns_spellings(check: CheckSweep, written: str, zones: tuple[str, ...]) -> None:
    [run] = _runs(check, BASE + f"params:\n  - {{name: a, instance_type: m7i.large, {written}}}\n").runs or ()
    assert run.settings.zones == zones


def test_a_zone_outside_the_runs_region_is_an_error_at_it(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - name: a\n    instance_type: m7i.large\n    zones: [us-east-1a, us-east-2a, us-east-12a]\n")
    assert _errors(checked) == [("zone-not-in-region", 10, 25), ("zone-not-in-region", 10, 37)]
    assert checked.diagnostics[0].message == "zone 'us-east-2a' is not in the run's region us-east-1"


def test_zones_per_region_in_a_multi_region_sweep(check: CheckSweep) -> None:
    text = HEAD + ("regions: [us-east-1, eu-west-1]\ndefaults:\n  ttl: 2h\n  command: ./x\n  instance_type: m7i.large\n"
                   "  zones: {us-east-1: us-east-1b, eu-west-1: [eu-west-1c, eu-west-1a]}\n"
                   "params:\n" + "".join(f"  - {{name: r{i}}}\n" for i in range(8)))  # fmt: skip
    runs = _runs(check, text).runs or ()
    assert {run.region: run.settings.zones for run in runs} == {"us-east-1": ("us-east-1b",), "eu-west-1": ("eu-west-1c", "eu-west-1a")}
    one = check(text.replace("{us-east-1: us-east-1b, eu-west-1: [eu-west-1c, eu-west-1a]}", "[us-east-1b]"))
    assert {d.code for d in one.diagnostics if d.is_error} == {"zone-not-in-region", "regional-id"}


def test_two_spellings_of_zones_in_one_mapping_are_an_error_at_the_second(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - {name: a, instance_type: m7i.large, az: us-east-1a, availability_zone: us-east-1b}\n")
    assert _errors(checked) == [("same-setting-twice", 8, 57)]
    assert checked.diagnostics[0].message == "'availability_zone' and 'az' in params[0] are the same setting"
    ours = check(BASE + "params:\n  - {name: a, instance_type: m7i.large, zones: us-east-1a, az: us-east-1b}\n")
    assert [d.code for d in ours.diagnostics if d.is_error] == ["same-setting-twice"]


def test_availability_zones_is_not_a_setting_and_points_at_zones(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - {name: a, instance_type: m7i.large, availability_zones: [us-east-1a]}\n")
    [error] = [d for d in checked.diagnostics if d.is_error]
    assert error.code == "unknown-setting" and error.hint is not None and error.hint.startswith("did you mean 'zones'?")


def test_subnet_lists_in_order_and_per_region(check: CheckSweep) -> None:
    listed = "subnet_id: [subnet-0000000b, subnet-0000000a]"
    [run] = _runs(check, BASE + f"params:\n  - {{name: a, instance_type: m7i.large, {listed}}}\n").runs or ()
    assert (run.settings.subnet_id, run.settings.alternative_subnets) == ("subnet-0000000b", ("subnet-0000000a",))
    regional = "subnet_id: {us-east-1: [subnet-0000000c, subnet-0000000d]}"
    [run] = _runs(check, BASE + f"params:\n  - {{name: a, instance_type: m7i.large, {regional}}}\n").runs or ()
    assert run.settings.subnet_ids == ("subnet-0000000c", "subnet-0000000d")
    twice = check(BASE + "params:\n  - {name: a, instance_type: m7i.large, subnet_id: [subnet-0000000a, subnet-0000000a]}\n")
    assert [d.code for d in twice.diagnostics if d.is_error] == ["repeated-value"]


def test_zones_with_subnet_id_is_an_error_at_zones(check: CheckSweep) -> None:
    checked = check(BASE + "params:\n  - name: a\n    instance_type: m7i.large\n    subnet_id: subnet-0000000a\n    zones: us-east-1a\n")
    assert _errors(checked) == [("zones-with-subnet", 11, 12)]


def test_capacity_retry_after_and_max_retries_at_the_top_level(check: CheckSweep) -> None:
    text = BASE + "params:\n  - {name: a, instance_type: m7i.large}\n"
    sweep = _runs(check, text).sweep
    assert sweep is not None
    assert (sweep.capacity_retry_after_seconds, sweep.provider_max_retries) == (3600, 5)
    sweep = _runs(check, "capacity_retry_after: 1h30m\nterraform: {max_retries: 0}\n" + text).sweep
    assert sweep is not None
    assert (sweep.capacity_retry_after_seconds, sweep.provider_max_retries) == (5400, 0)
    assert _errors(check("capacity_retry_after: 0m\n" + text)) == [("zero-duration", 1, 23)]
    assert _errors(check("terraform: {max_retries: 26}\n" + text)) == [("out-of-range", 1, 26)]
    assert _errors(check("capacity_retry_after: 3600\n" + text)) == [("wrong-type", 1, 23)]
    assert [d.code for d in check(BASE + "  capacity_retry_after: 1h\nparams:\n  - {name: a, instance_type: m7i.large}\n").diagnostics
            if d.is_error] == ["misplaced-sweep-key"]  # fmt: skip


def test_alternatives_are_policy_not_identity(check: CheckSweep) -> None:
    plain = _runs(check, BASE + "params:\n  - {name: a, instance_type: g5.xlarge, ami: dlami-gpu}\n").runs or ()
    failover = "instance_type: 'g5.xlarge|g6.xlarge', spot: auto, zones: [us-east-1b, us-east-1a], ami: dlami-gpu"
    subnets = "instance_type: [g5.xlarge, 'g6.*'], subnet_id: [subnet-0000000a, subnet-0000000b], ami: dlami-gpu"
    for written in (failover, subnets):
        [run] = _runs(check, BASE + f"params:\n  - {{name: a, {written}}}\n").runs or ()
        assert run.fingerprint == plain[0].fingerprint
    [other] = _runs(check, BASE + "params:\n  - {name: a, instance_type: 'g6.xlarge|g5.xlarge', ami: dlami-gpu}\n").runs or ()
    assert other.fingerprint != plain[0].fingerprint  # the first type is the run's machine


def test_a_grid_over_instance_type_takes_lists_and_pipes(check: CheckSweep) -> None:
    checked = _runs(check, BASE + "grid:\n  instance_type: [m7i.large, 'c7i.large|m7i.large', [m6i.large, c6i.large]]\n")
    assert [run.settings.instance_types for run in checked.runs or ()] == [
        ("m7i.large",), ("c7i.large", "m7i.large"), ("m6i.large", "c6i.large")]  # fmt: skip
    bad = check(BASE + "grid:\n  instance_type: [m7i.large, 'c7i.large||m7i.large']\n")
    assert _errors(bad) == [("bad-grid-value", 8, 30)]


def test_csv_writes_candidates_in_a_cell_as_pipes(check: CheckSweep) -> None:
    text = 'name,instance_type,spot,zones,ttl,command\na,m7i.large|c7i.large,auto,us-east-1b,1h,./x\nb,m7i.large,true,,1h,./x\n'
    runs = check(text, "sweep.csv").runs or ()
    assert [(run.settings.instance_types, run.settings.markets, run.settings.zones) for run in runs] == [
        (("m7i.large", "c7i.large"), (Market.SPOT, Market.ON_DEMAND), ("us-east-1b",)),
        (("m7i.large",), (Market.SPOT,), ()),
    ]  # fmt: skip


def test_the_contract_lists_zones_as_a_regional_setting_and_spawns_spellings() -> None:
    assert "zones" in contract.RUN_SETTINGS and "zones" in contract.REGIONAL_SETTINGS
    assert {spelling for spelling, ours in contract.SPAWN_SPELLINGS.items() if ours == "zones"} == {"az", "availability_zone"}
    assert "capacity_retry_after" in contract.SWEEP_KEYS
