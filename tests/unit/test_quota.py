"""The quota preflight's arithmetic (spawn_tf/quota.py): classes, peaks and what is said about them. Pure."""

from __future__ import annotations

import pytest

from spawn_tf.quota import QUOTAS, Market, RunDemand, SweepDemand, peak_vcpus, peaks, quota_for, report, types_by_region

SPOT, ON_DEMAND = Market.SPOT, Market.ON_DEMAND


@pytest.mark.parametrize(
    ("instance_type", "spot", "on_demand"),
    [
        ("t3.micro", "L-34B43A08", "L-1216C47A"),
        ("m7i-flex.large", "L-34B43A08", "L-1216C47A"),
        ("c7gn.large", "L-34B43A08", "L-1216C47A"),
        ("h1.2xlarge", "L-34B43A08", "L-1216C47A"),
        ("d3en.xlarge", "L-34B43A08", "L-1216C47A"),
        ("im4gn.large", "L-34B43A08", "L-1216C47A"),
        ("is4gen.large", "L-34B43A08", "L-1216C47A"),
        ("z1d.large", "L-34B43A08", "L-1216C47A"),
        ("a1.large", "L-34B43A08", "L-1216C47A"),
        ("g5.xlarge", "L-3819A6DF", "L-DB2E81BA"),
        ("g4dn.xlarge", "L-3819A6DF", "L-DB2E81BA"),
        ("gr6.4xlarge", "L-3819A6DF", "L-DB2E81BA"),
        ("vt1.3xlarge", "L-3819A6DF", "L-DB2E81BA"),
        ("p3.2xlarge", "L-7212CCBC", "L-417A185B"),
        ("p4d.24xlarge", "L-7212CCBC", "L-417A185B"),
        ("p5.48xlarge", "L-C4BD4855", "L-417A185B"),
        ("p5en.48xlarge", "L-C4BD4855", "L-417A185B"),
        ("p6-b200.48xlarge", None, "L-417A185B"),  # no spot quota of P6 documented: not checked on spot
        ("inf2.xlarge", "L-B5D1601B", "L-1945791B"),  # inf: not Standard's i
        ("dl1.24xlarge", "L-85EED4F7", "L-6E869C2A"),  # dl: not Standard's d
        ("trn1.2xlarge", "L-6B0D517C", "L-2C3B7624"),  # trn: not Standard's t
        ("f1.2xlarge", "L-88CF9481", "L-74FC7D96"),
        ("x2idn.16xlarge", "L-E3A00192", "L-7295265B"),
        ("u-6tb1.metal", None, "L-43DA4232"),  # high memory: on-demand only
        ("u7i-12tb.224xlarge", None, "L-43DA4232"),
        ("hpc7g.4xlarge", None, None),  # hpc: not Standard's h
        ("mac2.metal", None, None),  # mac: not Standard's m
        ("q9.large", None, None),  # a family no table knows: never Standard
    ],
)
def test_each_family_counts_against_its_documented_quota(instance_type: str, spot: str | None, on_demand: str | None) -> None:
    found = (quota_for(instance_type, SPOT), quota_for(instance_type, ON_DEMAND))
    assert tuple(quota.code if quota else None for quota in found) == (spot, on_demand)
    assert all(quota is None or quota.market is market for quota, market in zip(found, (SPOT, ON_DEMAND), strict=True))


def test_every_quota_code_is_spelled_once() -> None:
    assert len({quota.code for quota in QUOTAS}) == len(QUOTAS)


def test_the_peak_is_every_run_or_the_largest_max_concurrent() -> None:
    assert peak_vcpus([4, 8, 4, 16], None) == 32
    assert peak_vcpus([4, 8, 4, 16], 2) == 24
    assert peak_vcpus([4, 8], 10) == 12
    assert peak_vcpus([], 3) == 0


def _runs(region: str, market: Market, *types: str) -> tuple[RunDemand, ...]:
    return tuple(RunDemand(region=region, market=market, instance_types=(t,)) for t in types)


VCPUS = {"g5.xlarge": 4, "g5.2xlarge": 8, "t3.micro": 2, "hpc7g.4xlarge": 16, "p5.48xlarge": 192}


def test_peaks_per_region_quota_and_market_with_max_concurrent_per_region() -> None:
    sweep = SweepDemand(sweep="s", max_concurrent=3, runs=(
        *_runs("us-east-1", SPOT, "g5.xlarge", "g5.2xlarge", "g5.xlarge", "g5.xlarge", "t3.micro"),
        *_runs("us-east-1", ON_DEMAND, "g5.xlarge", "hpc7g.4xlarge"),
        *_runs("eu-west-1", SPOT, "g5.2xlarge", "g5.2xlarge", "g5.2xlarge", "g5.2xlarge"),
    ))  # fmt: skip
    vcpus = dict.fromkeys(("us-east-1", "eu-west-1"), VCPUS)
    peak, unclassed = peaks([sweep], vcpus)
    assert {(region, quota.code): need for (region, quota), need in peak.items()} == {
        ("us-east-1", "L-3819A6DF"): 8 + 4 + 4,  # the 3 largest of 4 G runs
        ("us-east-1", "L-34B43A08"): 2,
        ("us-east-1", "L-DB2E81BA"): 4,
        ("eu-west-1", "L-3819A6DF"): 24,
    }
    assert [(item.region, item.instance_type, item.market) for item in unclassed] == [("us-east-1", "hpc7g.4xlarge", ON_DEMAND)]


def test_sweeps_checked_together_add_up_and_an_unread_region_is_left_out() -> None:
    one = SweepDemand(sweep="a", max_concurrent=None, runs=_runs("us-east-1", SPOT, "g5.xlarge", "g5.xlarge"))
    two = SweepDemand(sweep="b", max_concurrent=1, runs=(*_runs("us-east-1", SPOT, "g5.2xlarge", "g5.xlarge"), *_runs("eu-west-1", SPOT, "t3.micro")))
    peak, _ = peaks([one, two], {"us-east-1": VCPUS})
    assert {(region, quota.code): need for (region, quota), need in peak.items()} == {("us-east-1", "L-3819A6DF"): 16}
    assert types_by_region([one, two]) == {"eu-west-1": ("t3.micro",), "us-east-1": ("g5.2xlarge", "g5.xlarge")}


def test_a_run_that_may_use_several_types_needs_room_for_its_largest_in_each_quota() -> None:
    run = RunDemand(region="us-east-1", market=SPOT, instance_types=("g5.xlarge", "g5.2xlarge", "t3.micro", "p5.48xlarge"))
    peak, _ = peaks([SweepDemand(sweep="s", max_concurrent=None, runs=(run, run))], {"us-east-1": VCPUS})
    assert {quota.code: need for (_, quota), need in peak.items()} == {"L-3819A6DF": 16, "L-34B43A08": 4, "L-C4BD4855": 384}


def test_the_report_says_need_quota_code_and_the_request_line_in_region_and_class_order() -> None:
    g_spot, standard_on_demand = quota_for("g5.xlarge", SPOT), quota_for("t3.micro", ON_DEMAND)
    assert g_spot is not None and standard_on_demand is not None
    peak = {("us-east-1", standard_on_demand): 8, ("us-east-1", g_spot): 400, ("eu-west-1", g_spot): 4}
    values: dict[tuple[str, str], float | str] = {("us-east-1", "L-1216C47A"): 32.0, ("us-east-1", "L-3819A6DF"): 0.0,
                                                  ("eu-west-1", "L-3819A6DF"): "AccessDeniedException: not allowed"}  # fmt: skip
    found = report(peak, values)
    assert found.lines() == [
        "eu-west-1: G and VT spot: 4 vCPUs needed, quota not read (L-3819A6DF, All G and VT Spot Instance Requests): AccessDeniedException: not allowed",
        "us-east-1: G and VT spot: 400 vCPUs needed, quota 0 (L-3819A6DF, All G and VT Spot Instance Requests): below need",
        "  aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-3819A6DF --desired-value 400 --region us-east-1",
        "us-east-1: Standard on-demand: 8 vCPUs needed, quota 32 (L-1216C47A, Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances): enough",
    ]  # regions in order, then spot before on-demand, each market in the table's order
    assert [finding.quota.code for finding in found.below] == ["L-3819A6DF"]
    assert found.unread == (found.lines()[0],)


def test_a_quota_equal_to_the_need_is_enough() -> None:
    quota = quota_for("g5.xlarge", SPOT)
    assert quota is not None
    assert report({("us-east-1", quota): 4}, {("us-east-1", quota.code): 4.0}).below == ()
    assert len(report({("us-east-1", quota): 5}, {("us-east-1", quota.code): 4.0}).below) == 1
