"""spawn_tf/capacity.py: a run's placements, its candidates in order, the live markers and the current candidate (DESIGN §13)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from spawn_tf import contract
from spawn_tf.capacity import Candidate, Marker, Placement, candidates, current, live, placements
from spawn_tf.contract import Arch, Market, OnComplete
from spawn_tf.model import RunSettings

SPOT, ON_DEMAND = Market.SPOT, Market.ON_DEMAND
BASE = RunSettings(
    instance_type="g5.xlarge", arch=Arch.X86_64, spot=True, spot_max_price_usd=None, ttl_seconds=3600, idle_timeout_seconds=None,
    on_complete=OnComplete.TERMINATE, ami=contract.DEFAULT_AMI, volume_size_gib=None, subnet_id=None, security_group_ids=(),
    key_name=None, iam_policy=(), iam_managed_policies=(), iam_instance_profile=None, script="./x", output_dir="/out",
    max_attempts=3, max_interruptions=10, retry_failed=False, tags=(),
)  # fmt: skip
DEFAULT_SUBNETS = {"us-east-1c": "subnet-c", "us-east-1a": "subnet-a", "us-east-1b": "subnet-b"}
SUBNET_ZONES = {"subnet-x": "us-east-1b", "subnet-y": "us-east-1a", "subnet-z": "us-east-1c"}
EVERYWHERE = {"g5.xlarge": {"us-east-1a", "us-east-1b", "us-east-1c"}, "g6.xlarge": {"us-east-1a", "us-east-1b", "us-east-1c"}}


def test_default_subnets_of_every_zone_by_name() -> None:
    assert placements(BASE, DEFAULT_SUBNETS, {}) == (
        Placement("us-east-1a", "subnet-a"), Placement("us-east-1b", "subnet-b"), Placement("us-east-1c", "subnet-c"))  # fmt: skip


def test_zones_narrow_in_the_order_written_and_a_zone_without_a_default_subnet_is_left_out() -> None:
    settings = replace(BASE, zones=("us-east-1c", "us-east-1d", "us-east-1a"))
    assert placements(settings, DEFAULT_SUBNETS, {}) == (Placement("us-east-1c", "subnet-c"), Placement("us-east-1a", "subnet-a"))


def test_a_subnet_list_gives_the_placements_in_its_order() -> None:
    settings = replace(BASE, subnet_id="subnet-z", alternative_subnets=("subnet-x", "subnet-gone"))
    assert placements(settings, DEFAULT_SUBNETS, SUBNET_ZONES) == (Placement("us-east-1c", "subnet-z"), Placement("us-east-1b", "subnet-x"))


def test_candidates_are_market_then_type_then_placement_and_unoffered_zones_are_left_out() -> None:
    settings = replace(BASE, alternative_types=("g6.xlarge",), on_demand_fallback=True)
    where = placements(settings, DEFAULT_SUBNETS, {})
    offered = {"g5.xlarge": {"us-east-1a", "us-east-1c"}, "g6.xlarge": {"us-east-1b"}}
    found = [(c.index, c.instance_type, c.market, c.placement.zone) for c in candidates(settings, where, offered)]
    assert found == [
        (0, "g5.xlarge", SPOT, "us-east-1a"), (1, "g5.xlarge", SPOT, "us-east-1c"), (2, "g6.xlarge", SPOT, "us-east-1b"),
        (3, "g5.xlarge", ON_DEMAND, "us-east-1a"), (4, "g5.xlarge", ON_DEMAND, "us-east-1c"), (5, "g6.xlarge", ON_DEMAND, "us-east-1b"),
    ]  # fmt: skip


def test_a_run_without_alternatives_on_an_on_demand_market() -> None:
    settings = replace(BASE, spot=False, zones=("us-east-1b",))
    assert candidates(settings, placements(settings, DEFAULT_SUBNETS, {}), EVERYWHERE) == (
        Candidate(0, "g5.xlarge", ON_DEMAND, Placement("us-east-1b", "subnet-b")),)  # fmt: skip


def test_no_zone_offering_any_type_leaves_no_candidate() -> None:
    assert candidates(BASE, placements(BASE, DEFAULT_SUBNETS, {}), {"g5.xlarge": {"us-east-1f"}}) == ()


def test_markers_on_the_first_three_of_six_candidates_make_the_fourth_current_until_they_expire() -> None:
    markers = [Marker(0, 1000), Marker(1, 1100), Marker(2, 1200), Marker(2, 400)]
    assert current(6, live(markers, 1500, 3600)) == 3
    # At 4600 candidate 0's marker is exactly an hour old: no longer live.
    assert live(markers, 4600, 3600) == {1, 2}
    assert current(6, live(markers, 4600, 3600)) == 0
    assert current(3, live(markers, 1500, 3600)) is None  # every candidate marked: the run waits


# --- properties ---------------------------------------------------------------------------------

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")
TYPES = ("g5.xlarge", "g6.xlarge", "g5.2xlarge", "g4dn.xlarge")


@st.composite
def run_settings(draw: st.DrawFn) -> RunSettings:
    types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=4, unique=True))
    spot = draw(st.sampled_from(("spot", "on-demand", "auto")))
    zones = draw(st.lists(st.sampled_from(ZONES), max_size=4, unique=True))
    return replace(BASE, instance_type=types[0], alternative_types=tuple(types[1:]), spot=spot != "on-demand",
                   on_demand_fallback=spot == "auto", zones=tuple(zones))  # fmt: skip


offerings = st.dictionaries(st.sampled_from(TYPES), st.sets(st.sampled_from(ZONES)))
default_subnets = st.sets(st.sampled_from(ZONES)).map(lambda zones: {zone: f"subnet-{zone[-1]}" for zone in zones})


@given(run_settings(), default_subnets, offerings)
def test_every_spot_candidate_comes_before_any_on_demand_one_and_types_keep_their_order(
    settings: RunSettings, subnets: dict[str, str], offered: dict[str, set[str]]
) -> None:
    found = candidates(settings, placements(settings, subnets, {}), offered)
    assert [c.index for c in found] == list(range(len(found)))
    markets = [c.market for c in found]
    assert markets == sorted(markets, key=settings.markets.index)
    assert not (ON_DEMAND in markets and SPOT in markets) or settings.on_demand_fallback
    for market in settings.markets:
        of_market = [settings.instance_types.index(c.instance_type) for c in found if c.market is market]
        assert of_market == sorted(of_market)
    assert all(c.placement.zone in offered.get(c.instance_type, ()) for c in found)
    assert len({(c.instance_type, c.market, c.placement) for c in found}) == len(found)
    where = placements(settings, subnets, {})
    assert len(found) == sum(1 for _ in settings.markets for t in settings.instance_types for p in where if p.zone in offered.get(t, ()))


@given(run_settings(), default_subnets)
def test_placements_are_the_written_zones_in_order_or_every_zone_by_name(settings: RunSettings, subnets: dict[str, str]) -> None:
    zones = [p.zone for p in placements(settings, subnets, {})]
    assert zones == [zone for zone in (settings.zones or sorted(subnets)) if zone in subnets]


markers = st.lists(st.builds(Marker, st.integers(0, 7), st.integers(0, 10_000)), max_size=12)


@given(st.integers(0, 8), st.sets(st.integers(0, 10)))
def test_current_is_the_least_unmarked_index(count: int, marked: set[int]) -> None:
    free = [index for index in range(count) if index not in marked]
    assert current(count, marked) == (free[0] if free else None)


@given(markers, st.integers(0, 20_000), st.integers(0, 20_000), st.integers(1, 5000))
def test_markers_only_expire_so_the_current_candidate_only_moves_back(found: list[Marker], now: int, later: int, retry_after: int) -> None:
    later = max(now, later)
    assert live(found, later, retry_after) <= live(found, now, retry_after)
    before, after = (current(8, live(found, moment, retry_after)) for moment in (now, later))
    assert after is not None if before is not None else True
    assert before is None or after <= before
