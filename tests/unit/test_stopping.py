"""The early-stopping rule (spawn_tf/stopping.py, DESIGN §12) at the edges a wrong rule would move.

Exact verdicts for `median` (a run's best so far against the median of the other runs' running means)
and `asha` (rungs at grace x factor^k, the top 1/factor go on), the names report keys carry, the
"written in an earlier second" rule that makes the agent's and the collector's answers the same, and a
property test against a reference written from the issue's wording.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from spawn_tf import contract, stopping
from spawn_tf.stopping import ASHA, MEDIAN, Report, Rule, Verdict, decide, entry_name, parse_entry, running, step_folder

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "sweep.schema.json"
T = 1_800_000_000  # a LastModified second; the deciding report is written at T, others before it unless said


def report(run: str, value: float, mean: float | None = None, best: float | None = None, written: int = T - 1) -> Report:
    """A report as a listing gives it (through its key's name, as the agent and the collector read it)."""
    summary = None if mean is None else (mean, value if best is None else best)
    parsed = parse_entry(entry_name(run, value, summary), written)
    assert parsed is not None
    return parsed


def others(means: list[float], written: int = T - 1) -> list[Report]:
    """Other runs o0, o1, … whose running means are `means` (their values and bests set apart, so that using them is wrong)."""
    return [report(f"o{i}", -100.0 - i, mean, -200.0 - i, written) for i, mean in enumerate(means)]


def median(**fields: object) -> Rule:
    return Rule(metric="val_loss", mode="min", **{"min_runs": 3, **fields})


def asha(**fields: object) -> Rule:
    return Rule(metric="val_loss", mode="min", rule=ASHA, **{"min_runs": 1, **fields})


# --- the block ---------------------------------------------------------------------------------


def test_the_defaults_are_the_schemas_and_the_rules_own() -> None:
    block = json.loads(SCHEMA.read_text(encoding="utf-8"))["properties"]["early_stopping"]["properties"]
    assert {name: spec["default"] for name, spec in block.items() if "default" in spec} == stopping.DEFAULTS
    assert stopping.DEFAULTS == {"rule": "median", "min_step": 1, "min_runs": 3, "grace": 1, "reduction_factor": 3}
    assert Rule("m", "min") == Rule.from_settings({"metric": "m", "mode": "min"})
    assert set(block["rule"]["enum"]) == set(stopping.RULES) == {MEDIAN, ASHA}
    assert set(block["mode"]["enum"]) == set(stopping.MODES) == {"min", "max"}


def test_settings_round_trip_with_every_field() -> None:
    given_settings = {"metric": "acc", "mode": "max", "rule": "asha", "min_step": 4, "min_runs": 2, "grace": 5, "reduction_factor": 4}
    rule = Rule.from_settings(given_settings)
    assert rule == Rule("acc", "max", ASHA, 4, 2, 5, 4)
    assert rule.settings() == given_settings
    assert list(rule.settings()) == ["metric", "mode", "rule", "min_step", "min_runs", "grace", "reduction_factor"]
    assert Rule.from_settings({"metric": "m", "mode": "min"}).settings() == {"metric": "m", "mode": "min", **stopping.DEFAULTS}


def test_better_is_strict_and_follows_the_mode() -> None:
    low, high = Rule("m", "min"), Rule("m", "max")
    assert (low.better(1.0, 2.0), low.better(2.0, 1.0), low.better(1.0, 1.0)) == (True, False, False)
    assert (high.better(2.0, 1.0), high.better(1.0, 2.0), high.better(1.0, 1.0)) == (True, False, False)


@pytest.mark.parametrize(
    ("grace", "factor", "rungs", "not_rungs"),
    [
        (1, 3, [1, 3, 9, 27, 81, 3**20, 3**40], [0, 2, 4, 6, 8, 18, 26, 28, 2 * 3**5, 3**40 + 3]),  # 3**40: whole numbers, no float
        (5, 2, [5, 10, 20, 40, 5 * 2**30], [0, 1, 2, 4, 15, 25, 30, 45, 60]),
        (4, 2, [4, 8, 16], [2, 1, 12, 24]),  # 2 is a power of 2 but below grace; 12 = 4 x 3
        (10, 3, [10, 30, 90, 270], [1, 3, 9, 20, 60, 100]),
    ],
)  # fmt: skip
def test_rungs_are_grace_times_a_power_of_the_factor(grace: int, factor: int, rungs: list[int], not_rungs: list[int]) -> None:
    rule = asha(grace=grace, reduction_factor=factor)
    assert [step for step in rungs if not rule.is_rung(step)] == []
    assert [step for step in not_rungs if rule.is_rung(step)] == []


# --- report names ------------------------------------------------------------------------------


def test_entry_names_carry_the_shortest_round_trip_text() -> None:
    assert entry_name("r", 0.1) == "r=0.1"
    assert entry_name("r", 2) == "r=2.0"
    assert entry_name("lr-0.001", 1e-05, (0.5, 0.25)) == "lr-0.001=1e-05,0.5,0.25"
    assert entry_name("r", -1.5, (2, 3)) == "r=-1.5,2.0,3.0"
    assert stopping.number(1 / 3) == "0.3333333333333333"
    assert (step_folder(0), step_folder(7), step_folder(stopping.MAX_STEP)) == ("0000000000", "0000000007", "9999999999")
    assert stopping.MAX_STEP == 10**10 - 1
    assert stopping.STOP_EXIT == 3


def test_parse_entry_reads_a_plain_report_and_one_with_its_summary() -> None:
    assert parse_entry("r=1.5", 7) == Report("r", 1.5, 1.5, 1.5, 7)
    assert parse_entry("lr-0.001=3.0,2.0,1.0", 9) == Report("lr-0.001", 3.0, 2.0, 1.0, 9)
    assert parse_entry("r=-2e-05", 0) == Report("r", -2e-05, -2e-05, -2e-05, 0)


def test_parse_entry_takes_the_last_equals_sign() -> None:
    # run names have no '=' (contract.RUN_NAME_PATTERN), but a key written by hand may: the value is after the last one
    assert parse_entry("a=b=1.0", 1) == Report("a=b", 1.0, 1.0, 1.0, 1)
    assert parse_entry("a=b=1.0,2.0,0.5", 1) == Report("a=b", 1.0, 2.0, 0.5, 1)
    assert parse_entry("a,b=1.0", 1) == Report("a,b", 1.0, 1.0, 1.0, 1)


@pytest.mark.parametrize(
    "name",
    ["r", "", "=", "=1.0", "r=", "r=abc", "r=1.0,2.0", "r=1.0,2.0,3.0,4.0", "r=1.0,,2.0", "r=,1.0,2.0", "r=1.0,2.0,",
     "r=nan", "r=inf", "r=-inf", "r=1e999", "r=1.0,nan,1.0", "r=1.0,1.0,inf", "r=1.0,-inf,1.0", "a=b="],
)  # fmt: skip
def test_parse_entry_refuses_what_is_not_a_report(name: str) -> None:
    assert parse_entry(name, 1) is None


@given(
    run=st.from_regex(contract.RUN_NAME_PATTERN, fullmatch=True),
    numbers=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
    summarised=st.booleans(),
    written=st.integers(0, 2**40),
)
def test_entry_name_round_trips_exactly(run: str, numbers: list[float], summarised: bool, written: int) -> None:
    value, mean, best = numbers
    parsed = parse_entry(entry_name(run, value, (mean, best) if summarised else None), written)
    assert parsed == (Report(run, value, mean, best, written) if summarised else Report(run, value, value, value, written))


# --- running mean and best --------------------------------------------------------------------


def test_running_mean_and_best_up_to_the_step() -> None:
    history = {3: 2.0, 1: 3.0, 2: 1.0, 5: 0.5}  # not in step order; step 4 missing
    assert running(history, 3, Rule("m", "min")) == (2.0, 1.0)
    assert running(history, 4, Rule("m", "min")) == (2.0, 1.0)
    assert running(history, 5, Rule("m", "min")) == (1.625, 0.5)
    assert running(history, 3, Rule("m", "max")) == (2.0, 3.0)
    assert running(history, 2, Rule("m", "max")) == (2.0, 3.0)
    assert running(history, 1, Rule("m", "min")) == (3.0, 3.0)
    assert running({1: 4.0, 2: 5.0, 3: 1.0}, 3, Rule("m", "max")) == (10 / 3, 5.0)
    assert running({1: 4.0, 2: 3.0, 3: 5.0}, 3, Rule("m", "min")) == (4.0, 3.0)


# --- median ------------------------------------------------------------------------------------


def test_the_median_of_odd_and_even_counts() -> None:
    assert stopping.median([3.0, 1.0, 2.0]) == 2.0
    assert stopping.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert stopping.median([5.0]) == 5.0
    assert stopping.median([1.0, 9.0]) == 5.0
    assert stopping.median([2.0, 2.0, 1.0, 7.0, 7.0]) == 2.0


def test_median_stops_a_best_worse_than_the_median_of_the_others_running_means() -> None:
    seen = [*others([1.0, 2.0, 3.0]), report("me", 9.0, 9.0, 2.5, written=T)]
    assert decide(median(), "me", 4, seen) == Verdict(True, MEDIAN, 4, 2.5, 2.0, 3)


def test_median_lets_a_best_equal_to_the_median_go_on() -> None:
    assert decide(median(), "me", 4, [*others([1.0, 2.0, 3.0]), report("me", 9.0, 9.0, 2.0, written=T)]) == Verdict(
        False, MEDIAN, 4, 2.0, 2.0, 3
    )
    assert decide(median(), "me", 4, [*others([1.0, 2.0, 3.0]), report("me", 9.0, 9.0, 1.5, written=T)]) == Verdict(
        False, MEDIAN, 4, 1.5, 2.0, 3
    )


def test_median_of_an_even_count_is_the_middle_twos_mean() -> None:
    means = others([4.0, 1.0, 3.0, 2.0])  # median 2.5, not 2 or 3
    assert decide(median(), "me", 2, [*means, report("me", 2.6, written=T)]) == Verdict(True, MEDIAN, 2, 2.6, 2.5, 4)
    assert decide(median(), "me", 2, [*means, report("me", 2.5, written=T)]).stop is False
    assert decide(median(), "me", 2, [*means, report("me", 2.4, written=T)]).stop is False


def test_median_compares_the_runs_own_best_not_its_value_or_mean() -> None:
    seen = [*others([2.0, 2.0, 2.0]), report("me", 5.0, 5.0, 1.0, written=T)]  # fell back to 5, but its best was 1
    assert decide(median(), "me", 3, seen) == Verdict(False, MEDIAN, 3, 1.0, 2.0, 3)
    seen = [*others([2.0, 2.0, 2.0]), report("me", 1.0, 1.0, 3.0, written=T)]  # a best of 3 as carried in the name (whatever the value)
    assert decide(median(), "me", 3, seen).stop is True


def test_median_in_max_mode() -> None:
    rule = Rule("acc", "max", min_runs=3)
    means = others([0.5, 0.7, 0.6])
    assert decide(rule, "me", 1, [*means, report("me", 0.1, 0.1, 0.55, written=T)]) == Verdict(True, MEDIAN, 1, 0.55, 0.6, 3)
    assert decide(rule, "me", 1, [*means, report("me", 0.1, 0.1, 0.6, written=T)]).stop is False
    assert decide(rule, "me", 1, [*means, report("me", 0.1, 0.1, 0.65, written=T)]).stop is False


def test_no_verdict_before_min_step() -> None:
    seen = [*others([1.0, 1.0, 1.0]), report("me", 9.0, 9.5, 8.0, written=T)]
    assert decide(median(min_step=5), "me", 4, seen) == Verdict(False, MEDIAN, 4, 8.0, None, 3)
    assert decide(median(min_step=5), "me", 5, seen) == Verdict(True, MEDIAN, 5, 8.0, 1.0, 3)
    assert decide(median(min_step=0), "me", 0, seen) == Verdict(True, MEDIAN, 0, 8.0, 1.0, 3)


def test_min_runs_counts_the_other_runs_only() -> None:
    two = [*others([1.0, 1.0]), report("me", 9.0, written=T)]  # three runs reported, two of them others
    assert decide(median(min_runs=3), "me", 2, two) == Verdict(False, MEDIAN, 2, 9.0, None, 2)
    assert decide(median(min_runs=2), "me", 2, two) == Verdict(True, MEDIAN, 2, 9.0, 1.0, 2)
    assert decide(median(min_runs=1), "me", 2, [*others([1.0]), report("me", 9.0, written=T)]).stop is True


def test_a_run_that_has_not_reported_the_step_gets_no_verdict() -> None:
    assert decide(median(min_runs=1), "me", 2, others([1.0, 2.0])) == Verdict(False, MEDIAN, 2, None, None, 0)
    assert decide(asha(), "me", 1, []) == Verdict(False, ASHA, 1, None, None, 0)


# --- asha --------------------------------------------------------------------------------------


def rung(values: list[float], written: int = T - 1) -> list[Report]:
    """Other runs at a rung with these values (their means and bests set apart: asha compares values)."""
    return [report(f"o{i}", value, 100.0 + i, -100.0 - i, written) for i, value in enumerate(values)]


def test_asha_keeps_the_top_third_at_a_rung() -> None:
    values = rung([1.0, 2.0, 3.0, 4.0, 5.0])  # six runs with the deciding one: the top 2 go on
    assert decide(asha(), "me", 9, [*values, report("me", 2.5, written=T)]) == Verdict(True, ASHA, 9, 2.5, 2.0, 5)
    assert decide(asha(), "me", 9, [*values, report("me", 1.5, written=T)]) == Verdict(False, ASHA, 9, 1.5, 1.5, 5)
    assert decide(asha(), "me", 9, [*values, report("me", 0.5, written=T)]) == Verdict(False, ASHA, 9, 0.5, 1.0, 5)


def test_asha_ties_at_the_cutoff_go_on() -> None:
    values = rung([1.0, 2.0, 3.0, 4.0, 5.0])
    assert decide(asha(), "me", 3, [*values, report("me", 2.0, written=T)]) == Verdict(False, ASHA, 3, 2.0, 2.0, 5)
    assert decide(asha(), "me", 3, [*rung([1.0, 1.0, 1.0]), report("me", 1.0, written=T)]) == Verdict(False, ASHA, 3, 1.0, 1.0, 3)


def test_asha_keeps_at_least_one() -> None:
    # two runs, factor 3: 2 // 3 is none, but the better one goes on
    assert decide(asha(), "me", 1, [*rung([2.0]), report("me", 1.0, written=T)]) == Verdict(False, ASHA, 1, 1.0, 1.0, 1)
    assert decide(asha(), "me", 1, [*rung([1.0]), report("me", 2.0, written=T)]) == Verdict(True, ASHA, 1, 2.0, 1.0, 1)


def test_asha_with_another_factor() -> None:
    values = rung([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])  # eight runs, factor 2: the top 4 go on
    rule = asha(reduction_factor=2, grace=2)
    assert decide(rule, "me", 8, [*values, report("me", 4.5, written=T)]) == Verdict(True, ASHA, 8, 4.5, 4.0, 7)
    assert decide(rule, "me", 8, [*values, report("me", 3.5, written=T)]) == Verdict(False, ASHA, 8, 3.5, 3.5, 7)


def test_asha_in_max_mode() -> None:
    rule = Rule("acc", "max", rule=ASHA, min_runs=1)
    values = rung([0.1, 0.2, 0.3, 0.4, 0.5])
    assert decide(rule, "me", 1, [*values, report("me", 0.35, written=T)]) == Verdict(True, ASHA, 1, 0.35, 0.4, 5)
    assert decide(rule, "me", 1, [*values, report("me", 0.45, written=T)]) == Verdict(False, ASHA, 1, 0.45, 0.45, 5)


def test_asha_decides_at_rungs_only() -> None:
    values = rung([1.0, 1.0, 1.0])
    own = report("me", 9.0, 5.0, 0.0, written=T)  # asha compares the value at the rung, never the best so far
    assert decide(asha(), "me", 2, [*values, own]) == Verdict(False, ASHA, 2, 9.0, None, 3)
    assert decide(asha(), "me", 3, [*values, own]) == Verdict(True, ASHA, 3, 9.0, 1.0, 3)
    assert decide(asha(grace=2), "me", 1, [*values, own]) == Verdict(False, ASHA, 1, 9.0, None, 3)


def test_asha_waits_for_min_step_and_min_runs() -> None:
    values = [*rung([1.0, 1.0]), report("me", 9.0, 5.0, 0.0, written=T)]
    assert decide(asha(min_step=4), "me", 3, values) == Verdict(False, ASHA, 3, 9.0, None, 2)
    assert decide(asha(min_step=4), "me", 9, values) == Verdict(True, ASHA, 9, 9.0, 1.0, 2)
    assert decide(asha(min_step=9), "me", 9, values).stop is True
    assert decide(asha(min_runs=3), "me", 9, values) == Verdict(False, ASHA, 9, 9.0, None, 2)
    assert decide(asha(min_runs=2), "me", 9, values).stop is True


# --- written earlier ---------------------------------------------------------------------------


def test_only_reports_written_in_an_earlier_second_count() -> None:
    own = report("me", 9.0, written=T)
    earlier, same, later = others([1.0], T - 1)[0], report("s", 1.0, written=T), report("l", 1.0, written=T + 1)
    assert decide(median(min_runs=1), "me", 1, [earlier, same, later, own]) == Verdict(True, MEDIAN, 1, 9.0, 1.0, 1)
    assert decide(median(min_runs=1), "me", 1, [same, later, own]) == Verdict(False, MEDIAN, 1, 9.0, None, 0)


def test_a_later_listing_gives_the_same_verdict() -> None:
    """The agent lists right after its report; the collector lists later, when more runs have reported."""
    at_report = [*others([1.0, 2.0, 3.0]), report("me", 2.5, written=T)]
    later = [*at_report, *[report(f"late{i}", 9.0, written=T + 1 + i) for i in range(5)], report("same", 9.0, written=T)]
    assert decide(median(), "me", 6, later) == decide(median(), "me", 6, at_report) == Verdict(True, MEDIAN, 6, 2.5, 2.0, 3)


def test_a_run_reported_twice_counts_once_with_its_latest_report_before_the_deciding_one() -> None:
    # o0 reported the step twice before (a resumed run): its later report counts, once
    twice = [report("o0", 5.0, written=T - 5), report("o0", 1.0, written=T - 2)]
    # o2 reported again after the deciding report: its earlier one counts
    again = [report("o2", 3.0, written=T - 3), report("o2", 9.0, written=T + 1)]
    seen = [*twice, report("o1", 2.0), *again, report("o3", 4.0), report("me", 2.75, written=T)]
    # means 1, 2, 3, 4: median 2.5 (o0's first report: 3.5; o2's second: 3.0; o0 twice: 3.0)
    assert decide(median(), "me", 2, seen) == Verdict(True, MEDIAN, 2, 2.75, 2.5, 4)


def test_the_deciding_runs_own_report_is_its_latest() -> None:
    # a resumed run reports the step again: its latest report decides, against what was written before it
    seen = [report("me", 5.0, written=T - 10), *others([2.0, 2.0, 2.0], T - 5), report("me", 1.0, written=T)]
    assert decide(median(), "me", 2, seen) == Verdict(False, MEDIAN, 2, 1.0, 2.0, 3)
    assert decide(median(), "me", 2, [*seen, report("me", 3.0, written=T + 1)]) == Verdict(True, MEDIAN, 2, 3.0, 2.0, 3)


def test_two_reports_of_a_run_in_one_second_are_ordered_by_name() -> None:
    # the same second: the greater name is the latest, whichever order the listing gives
    pair = [report("o0", 1.0, written=T - 1), report("o0", 3.0, written=T - 1)]
    for listing in (pair, pair[::-1]):
        assert stopping.latest(listing) == {"o0": pair[1]}
        assert decide(median(min_runs=1), "me", 1, [*listing, report("me", 2.0, written=T)]).cutoff == 3.0
    mine = [report("me", 1.0, written=T), report("me", 3.0, written=T)]
    for listing in (mine, mine[::-1]):
        assert decide(median(min_runs=1), "me", 1, [*others([2.0]), *listing]) == Verdict(True, MEDIAN, 1, 3.0, 2.0, 1)


def test_two_reports_of_a_run_in_one_second_are_ordered_by_their_whole_names() -> None:
    # the same value, another running mean: the names differ after the value, and the greater one is the latest
    low, high = report("o0", 1.0, 1.0, 1.0, written=T - 1), report("o0", 1.0, 2.0, 1.0, written=T - 1)
    for listing in ([low, high], [high, low]):
        assert stopping.latest(listing) == {"o0": high}
        assert decide(median(min_runs=1), "me", 1, [*listing, report("me", 1.5, written=T)]) == Verdict(False, MEDIAN, 1, 1.5, 2.0, 1)


def test_latest_keeps_one_report_per_run() -> None:
    a1, a2, b1 = report("a", 1.0, written=5), report("a", 2.0, written=6), report("b", 3.0, written=1)
    assert stopping.latest([a2, b1, a1]) == {"a": a2, "b": b1}
    assert stopping.latest([a1, a2]) == {"a": a2}
    assert stopping.latest([]) == {}


# --- explanations ------------------------------------------------------------------------------


def test_explanations_name_the_step_the_values_and_the_cutoff() -> None:
    rule = median()
    assert Verdict(True, MEDIAN, 5, 2.5, 2.0, 3).explain(rule) == (
        "step 5: best val_loss 2.5 worse than the median 2.0 of 3 other runs' running means"
    )
    assert Verdict(False, MEDIAN, 5, 2, 2, 3).explain(rule) == (
        "step 5: best val_loss 2.0 not worse than the median 2.0 of 3 other runs' running means"
    )
    assert Verdict(False, MEDIAN, 2, 9.0, None, 1).explain(median(min_step=4)) == (
        "step 2: no verdict (1 other runs reported it; 3 needed from step 4)"
    )
    assert decide(asha(), "me", 4, [*rung([1.0, 2.0, 3.0]), report("me", 9.0, written=T)]).explain(asha()) == (
        "step 4: no verdict (not a rung: asha decides at steps 1 x 3^k)"
    )
    assert decide(asha(grace=2), "me", 1, [report("me", 9.0, written=T)]).explain(asha(grace=2, reduction_factor=4)) == (
        "step 1: no verdict (not a rung: asha decides at steps 2 x 4^k)"
    )
    assert decide(asha(min_runs=4), "me", 3, [*rung([1.0, 2.0, 3.0]), report("me", 9.0, written=T)]).explain(asha(min_runs=4)) == (
        "step 3: no verdict (3 other runs reported it; 4 needed from step 1)"
    )
    assert Verdict(True, ASHA, 9, 2.5, 2.0, 5).explain(asha()) == (
        "rung step 9: val_loss 2.5 worse than the cut-off 2.0 of the top 1/3 of 6 runs"
    )
    assert Verdict(False, ASHA, 9, 1.5, 1.5, 5).explain(asha(reduction_factor=4)) == (
        "rung step 9: val_loss 1.5 not worse than the cut-off 1.5 of the top 1/4 of 6 runs"
    )


# --- against a reference -----------------------------------------------------------------------


def reference(rule: Rule, run: str, step: int, listed: list[tuple[str, int]]) -> tuple[bool, float | None, int]:
    """(stop, cut-off or None, other runs counted), written from the issue's wording with none of the module's helpers.

    A run's report is its latest (by second, then by name) among the keys listed; another run counts with its
    latest report written in an earlier second than that. median: from min_step on, once min_runs other runs
    have reported the step, stop when the run's best so far is worse than the median of the others' running
    averages. asha: at a rung (grace x factor^k), stop when the run is not in the top 1/factor of the runs
    recorded at the rung (at least one goes on). Ties go on.
    """
    reports = []
    for name, written in listed:
        who, _, text = name.rpartition("=")
        numbers = [float(part) for part in text.split(",")]
        reports.append((written, name, who, numbers[0], numbers[-2] if len(numbers) == 3 else numbers[0], numbers[-1]))
    reports.sort()
    mine = [r for r in reports if r[2] == run]
    if not mine:
        return False, None, 0
    own = mine[-1]
    counted = {r[2]: r for r in reports if r[2] != run and r[0] < own[0]}  # sorted: the latest of each run stays
    worse = (lambda a, b: a > b) if rule.mode == "min" else (lambda a, b: a < b)
    rungs = {rule.grace * rule.reduction_factor**k for k in range(64)}
    if (rule.rule == ASHA and step not in rungs) or step < rule.min_step or len(counted) < rule.min_runs:
        return False, None, len(counted)
    if rule.rule == MEDIAN:
        means = sorted(r[4] for r in counted.values())
        middle = len(means) // 2
        cut = means[middle] if len(means) % 2 else (means[middle - 1] + means[middle]) / 2
        return worse(own[5], cut), cut, len(counted)
    values = sorted([own[3], *(r[3] for r in counted.values())], reverse=rule.mode == "max")
    top = values[: max(1, len(values) // rule.reduction_factor)]
    return worse(own[3], top[-1]), top[-1], len(counted)


RUNS = ("a", "b", "c", "d", "e", "f", "g")
SUMMARISED = ("a", "b", "c", "d")  # their keys carry a mean and a best; a run's keys are all of one form, as the agent writes them
VALUES = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, -1.0, 1e-05])  # few values: many ties
KEY = st.tuples(st.sampled_from(RUNS), VALUES, st.tuples(VALUES, VALUES), st.integers(0, 6))  # written in few seconds: many the same
RULES = st.builds(
    Rule, metric=st.just("m"), mode=st.sampled_from(stopping.MODES), rule=st.sampled_from(stopping.RULES),
    min_step=st.integers(0, 4), min_runs=st.integers(1, 5), grace=st.integers(1, 4), reduction_factor=st.integers(2, 4),
)  # fmt: skip


@given(rule=RULES, run=st.sampled_from(RUNS), step=st.integers(0, 40), keys=st.lists(KEY, max_size=14))
@example(rule=Rule("m", "min", min_runs=1), run="a", step=1, keys=[("a", 2.0, (2.0, 2.0), 3), ("b", 1.0, (1.0, 1.0), 3)])  # same second
@example(rule=Rule("m", "min", ASHA, min_runs=1), run="e", step=3, keys=[("e", 1.0, (0.0, 0.0), 3), ("f", 1.0, (0.0, 0.0), 2)])  # a tie
def test_decide_matches_the_reference(rule: Rule, run: str, step: int, keys: list[tuple[str, float, tuple[float, float], int]]) -> None:
    listed = [(entry_name(who, value, summary if who in SUMMARISED else None), written) for who, value, summary, written in keys]
    reports = [parse_entry(name, written) for name, written in listed]
    assert None not in reports
    verdict = decide(rule, run, step, reports)
    assert (verdict.stop, verdict.cutoff, verdict.runs) == reference(rule, run, step, listed)
    assert verdict.rule == rule.rule
    assert verdict.step == step


@given(
    history=st.dictionaries(st.integers(0, 30), st.floats(-1e6, 1e6), min_size=1, max_size=12),
    mode=st.sampled_from(stopping.MODES),
    after=st.integers(0, 30),
)
def test_running_matches_the_reference(history: dict[int, float], mode: str, after: int) -> None:
    step = min(history) + after  # at least one report up to the step; steps may be missing
    values = [history[at] for at in sorted(history) if at <= step]
    mean, best = running(history, step, Rule("m", mode))
    assert math.isclose(mean, sum(values) / len(values), rel_tol=1e-12, abs_tol=1e-9)
    assert best == (min(values) if mode == "min" else max(values))


def test_reports_are_named_within_the_metric_pattern_and_the_key_layout() -> None:
    key = f"{contract.progress_prefix('sweeps/s', 'val_loss')}{step_folder(12)}/{entry_name('lr-0.1', 0.5, (0.75, 0.5))}"
    assert key == "sweeps/s/_progress/val_loss/0000000012/lr-0.1=0.5,0.75,0.5"
    assert re.fullmatch(r"[^/]+", entry_name("lr-0.1", 0.5, (0.75, 0.5)))
