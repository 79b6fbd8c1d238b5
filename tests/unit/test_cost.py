"""Worst-case cost estimates and the budget gate of compile and cost."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from sweep_helpers import QUIET_DEFAULTS, CheckSweep, WriteSweep

from spawn_tf.cli import main
from spawn_tf.cost import CostEstimate, estimate_as_json, estimate_cost, render_estimate, unpriced_estimate, usd
from spawn_tf.pipeline import check_file, compile_file, estimate_file
from spawn_tf.prices import parse_price_file

ROOT = Path(__file__).resolve().parents[2]
# Test values, not AWS prices.
PRICES = """\
region,instance_type,on_demand,spot,date
us-east-1,m7i.large,0.1008,0.0401,2026-11-29
us-east-1,g5.xlarge,1.006,0.4525,2026-11-29
eu-west-1,m7i.large,0.112,,2026-11-29
"""

RUNS = (
    QUIET_DEFAULTS
    + """\
  region: us-east-1
params:
  - {name: a}
  - {name: b, ttl: 30m}
  - {name: c, spot: false}
  - {name: d, instance_type: g5.xlarge, ami: dlami-gpu, spot_max_price: "0.30"}
  - {name: e, region: eu-west-1}
  - {name: f, instance_type: c7i.large}
"""
)


def _estimate(write_sweep: WriteSweep, text: str) -> CostEstimate:
    table, _ = parse_price_file(PRICES, "prices.csv")
    checked = check_file(write_sweep(text))
    assert checked.runs is not None and table is not None
    return estimate_cost(checked.runs, table)


def test_estimate_cost_per_region_type_and_market(write_sweep: WriteSweep) -> None:
    estimate = _estimate(write_sweep, RUNS)
    lines = {(line.region, line.instance_type, line.spot): line for line in estimate.lines}
    spot = lines[("us-east-1", "m7i.large", True)]
    # A spot hour can cost as much as an on-demand one: the worst case; the current spot price: the expected cost.
    assert (spot.runs, spot.hours, spot.worst_case_usd) == (2, Decimal("2.5"), Decimal("0.1008") * Decimal("2.5"))
    assert spot.expected_usd == Decimal("0.0401") * Decimal("2.5") and spot.on_demand_usd == spot.worst_case_usd
    assert lines[("us-east-1", "m7i.large", False)].worst_case_usd == Decimal("0.2016")  # on-demand: 2h x 0.1008
    capped = lines[("us-east-1", "g5.xlarge", True)]
    assert capped.hourly_usd == Decimal("0.30") and capped.worst_case_usd == Decimal("0.60")  # spot_max_price caps the hour
    assert capped.expected_usd == Decimal("0.60")  # the spot price now (0.4525) is above the cap
    no_spot_price = lines[("eu-west-1", "m7i.large", True)]
    assert no_spot_price.worst_case_usd == Decimal("0.224") and no_spot_price.expected_usd is None
    assert not lines[("us-east-1", "c7i.large", True)].priced  # no price at all for c7i.large
    assert not estimate.complete and estimate.expected_usd is None
    assert estimate.worst_case_usd == Decimal("0.252") + Decimal("0.2016") + Decimal("0.60") + Decimal("0.224")


def test_a_spot_run_without_an_on_demand_price_or_cap_is_unpriced(write_sweep: WriteSweep) -> None:
    table, _ = parse_price_file("region,instance_type,on_demand,spot,date\nus-east-1,m7i.large,,0.04,2026-11-29\n", "p.csv")
    checked = check_file(write_sweep(QUIET_DEFAULTS + "  region: us-east-1\nparams:\n  - {name: a}\n  - {name: b, spot_max_price: '0.05'}\n"))
    assert table is not None and checked.runs is not None
    [line] = estimate_cost(checked.runs[:1], table).lines
    assert not line.priced and line.expected_usd == Decimal("0.08")  # the spot price alone bounds nothing
    [capped] = estimate_cost(checked.runs[1:], table).lines
    assert capped.worst_case_usd == Decimal("0.10") and capped.hourly_usd == Decimal("0.05")


def test_estimate_cost_spot_saving_and_unbounded(write_sweep: WriteSweep) -> None:
    text = (
        "defaults:\n  instance_type: m7i.large\n  user_data: ./x.sh\n  region: us-east-1\nparams:\n  - {name: a, ttl: 10h}\n  - {name: b}\n"
    )
    estimate = _estimate(write_sweep, text)
    assert estimate.unbounded_runs == 1 and not estimate.complete
    assert estimate.spot_saving_usd == (Decimal("1.008"), Decimal("0.401"))
    rendered = render_estimate(estimate, None, markdown=False)
    assert "worst case: unbounded: 1 run without a ttl; $1.01 for the rest (1 run)\n" in rendered
    assert "expected at current spot prices: $0.40 (runs with a ttl only)" in rendered
    assert "expected spot saving: $0.61 (60 %) against $1.01 on demand (runs with a ttl only)" in rendered
    assert "$1.01 + unbounded" in rendered


UNBOUNDED = """\
defaults:
  instance_type: m7i.large
  user_data: ./x.sh
  region: us-east-1
params:
  - {name: a}
  - {name: b}
  - {name: c, instance_type: c7i.large, ttl: 1h}
"""


def test_runs_without_ttl_or_price_are_never_zero_dollars(write_sweep: WriteSweep) -> None:
    estimate = _estimate(write_sweep, UNBOUNDED)
    assert (estimate.unbounded_runs, estimate.unpriced_runs, estimate.amount_runs, estimate.bound) == (2, 1, 0, "unbounded")
    for markdown in (False, True):
        rendered = render_estimate(estimate, None, markdown=markdown)
        assert "$0.00" not in rendered
        assert "worst case: unbounded: 2 runs without a ttl, 1 run unpriced (c7i.large spot in us-east-1)" in rendered
    rows = render_estimate(estimate, None, markdown=True).splitlines()
    assert "| us-east-1 | m7i.large | spot | 2 (2 without ttl) | unbounded | 0.1008 | unbounded | unbounded | unbounded |" in rows
    assert "| us-east-1 | c7i.large | spot | 1 | 1.00 | unpriced | unpriced | - | - |" in rows
    report = estimate_as_json(estimate, None)
    assert (report["worst_case_usd"], report["worst_case"], report["priced_usd"], report["expected_usd"]) == (None, "unbounded", None, None)
    assert (report["unbounded_runs"], report["unpriced_runs"], report["spot_saving"]) == (2, 1, None)
    line = next(line for line in report["lines"] if line["instance_type"] == "m7i.large")
    assert (line["hours"], line["worst_case_usd"], line["expected_usd"], line["on_demand_usd"]) == (None, None, None, None)
    priced_only = _estimate(write_sweep, UNBOUNDED.replace("  - {name: a}\n  - {name: b}\n", ""))
    assert estimate_as_json(priced_only, None)["worst_case"] == "unpriced"
    assert "worst case: unknown: 1 run unpriced (c7i.large spot in us-east-1)\n" in render_estimate(priced_only, None, markdown=False)


def test_usd_rounds_half_up_to_cents() -> None:
    assert usd(Decimal("0.005")) == "$0.01" and usd(Decimal("1234.5649")) == "$1,234.56"


def test_compile_over_budget_fails_with_located_error(write_sweep: WriteSweep) -> None:
    write_sweep(PRICES, "prices.csv")
    sweep = write_sweep("budget: {max_usd: 1, prices: prices.csv}\n" + RUNS.replace("  - {name: e, region: eu-west-1}\n", "")
                        .replace("  - {name: f, instance_type: c7i.large}\n", "") + "  - {name: g, instance_type: g5.xlarge, ami: dlami-gpu, ttl: 1h}\n")  # fmt: skip
    checked, files = compile_file(sweep)
    assert files is None
    [over] = [d for d in checked.diagnostics if d.is_error]
    assert over.code == "over-budget" and over.span is not None and (over.span.line, over.span.col) == (1, 19)
    assert over.message == "the worst-case cost $2.06 exceeds the budget of $1.00"


def test_compile_within_budget_and_prices_option(write_sweep: WriteSweep, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other" / "p.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_text(PRICES)
    sweep = write_sweep("budget: {max_usd: 5}\n" + QUIET_DEFAULTS + "params:\n  - {name: a}\n")
    checked, files = compile_file(sweep)
    assert files is None and [d.code for d in checked.diagnostics if d.is_error] == ["no-prices"]
    checked, files = compile_file(sweep, prices=elsewhere)
    assert files is not None, [d.render() for d in checked.diagnostics]


def test_unpriced_type_with_budget_is_an_error_at_its_instance_type(write_sweep: WriteSweep) -> None:
    write_sweep(PRICES, "prices.csv")
    checked, _ = estimate_file(check_file(path := write_sweep("budget: {max_usd: 100, prices: prices.csv}\n" + RUNS)), path)
    errors = [(d.code, d.span.line if d.span else None) for d in checked.diagnostics if d.is_error]
    assert errors == [("unpriced-instance-type", 13)]  # f's c7i.large (eu-west-1 m7i.large has its on-demand price)


def test_budget_without_ttl_is_an_error_in_validate(write_sweep: WriteSweep) -> None:
    sweep = write_sweep("budget: {max_usd: 5}\ndefaults:\n  instance_type: m7i.large\n  user_data: ./x.sh\nparams:\n  - {name: a}\n")
    checked = check_file(sweep)
    assert checked.runs is None
    assert [(d.code, d.span.line) for d in checked.diagnostics if d.span] == [("budget-needs-ttl", 2)]


def test_cli_cost_outputs_and_exit_codes(write_sweep: WriteSweep) -> None:
    prices = write_sweep(PRICES, "prices.csv")
    sweep = write_sweep(QUIET_DEFAULTS + "  region: us-east-1\nparams:\n  - {name: a}\n")
    runner = CliRunner()
    result = runner.invoke(main, ["cost", str(sweep), "--prices", str(prices), "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    report = json.loads(result.stdout)
    assert report["worst_case_usd"] == "0.20" and report["expected_usd"] == "0.08" and report["complete"]
    assert report["lines"][0]["hourly_usd"] == "0.1008"
    unpriced = runner.invoke(main, ["cost", str(sweep)])  # no prices anywhere, no budget: listed unpriced
    assert unpriced.exit_code == 0 and "unpriced" in unpriced.stdout and "note: no prices: pass --prices FILE" in unpriced.stdout
    result = runner.invoke(main, ["cost", str(sweep), "--live", "--prices", str(prices)])
    assert result.exit_code == 2 and "two price sources" in result.stderr
    assert runner.invoke(main, ["cost", str(sweep), "--save-prices", "x.csv"]).exit_code == 2
    over = write_sweep(
        "budget: {max_usd: 0.05, prices: prices.csv}\n" + QUIET_DEFAULTS + "  region: us-east-1\nparams:\n  - {name: a}\n", "over.yaml"
    )
    result = runner.invoke(main, ["cost", str(over), "--format", "markdown"])
    assert result.exit_code == 1
    assert "over.yaml:1:19: error: the worst-case cost $0.20 exceeds the budget of $0.05" in result.stderr
    assert "- budget: $0.05, EXCEEDED" in result.stdout


def test_compile_without_budget_loads_no_pricing_code() -> None:
    """The compile budget (DESIGN §9) has no room for pricing code a sweep does not use."""
    code = (
        "import sys; from pathlib import Path; import spawn_tf.cli; from spawn_tf.pipeline import compile_file; "
        "compile_file(Path(sys.argv[1])); print(sorted(m for m in sys.modules if m in "
        "('spawn_tf.cost', 'spawn_tf.prices', 'spawn_tf.diff', 'spawn_tf.gitref', 'decimal', 'boto3')))"
    )
    example = ROOT / "examples" / "grid-240.yaml"
    result = subprocess.run([sys.executable, "-c", code, str(example)], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_a_price_file_named_by_the_sweep_is_placed_at_its_name(write_sweep: WriteSweep) -> None:
    checked, files = compile_file(write_sweep("budget: {max_usd: 5, prices: nope.csv}\n" + QUIET_DEFAULTS + "params:\n  - {name: a}\n"))
    [missing] = checked.diagnostics
    assert files is None and missing.code == "price-file-not-found" and missing.span is not None
    assert (missing.span.line, missing.span.col) == (1, 30)


def test_a_spot_cap_of_zero_is_refused(write_sweep: WriteSweep) -> None:
    checked = check_file(write_sweep(QUIET_DEFAULTS + "  spot_max_price: '0.00'\nparams:\n  - {name: a}\n"))
    assert checked.runs is None and [d.code for d in checked.diagnostics] == ["bad-format"]


def test_a_budget_over_capped_spot_runs_needs_no_price_file(write_sweep: WriteSweep) -> None:
    text = "budget: {max_usd: 1}\n" + QUIET_DEFAULTS + "  spot_max_price: '0.20'\nparams:\n  - {name: a}\n  - {name: b}\n"
    checked, files = compile_file(write_sweep(text))
    assert files is not None, [d.render() for d in checked.diagnostics]  # 2 runs x 2 h x 0.20 = 0.80
    checked, files = compile_file(write_sweep(text.replace("max_usd: 1", "max_usd: 0.5")))
    assert files is None and [d.message for d in checked.diagnostics] == ["the worst-case cost $0.80 exceeds the budget of $0.50"]


def test_over_budget_by_less_than_a_cent_shows_whole_amounts(write_sweep: WriteSweep) -> None:
    text = "budget: {max_usd: 0.4}\n" + QUIET_DEFAULTS + "  spot_max_price: '0.10025'\nparams:\n  - {name: a}\n  - {name: b}\n"
    checked, _ = compile_file(write_sweep(text))
    assert [d.message for d in checked.diagnostics] == ["the worst-case cost $0.401 exceeds the budget of $0.4"]


def test_without_a_price_source_every_run_is_listed_unpriced(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "grid:\n  lr: [1, 2, 3]\n")
    estimate = unpriced_estimate(checked.runs)
    assert estimate.source == "no price source"
    assert estimate.notes == ("no prices: pass --prices FILE or --live, or name budget.prices in the sweep",)
    assert sum(line.runs for line in estimate.lines) == 3 and not any(line.priced for line in estimate.lines)
