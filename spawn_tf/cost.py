"""Worst-case cost of a sweep's runs from a price table, the expected cost and spot saving, and the budget gate. Pure.

Worst case of a run = its ttl in hours x the most an hour can cost: the on-demand price for an
on-demand run; for a spot run, its spot_max_price, or else the on-demand price, which is as high as
a spot price goes (AWS's default maximum). The expected cost prices spot hours at the current spot
price (under the cap). Both cover one attempt of each run, not relaunches after interruptions or
retried failures, nor storage and transfer. A run without a ttl has no worst case (unbounded); a
run whose price the table lacks is unpriced. Nothing is guessed. Money is `Decimal` throughout and
rounded to cents only for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from spawn_tf import contract
from spawn_tf.contract import Market
from spawn_tf.diagnostics import Diagnostic, error
from spawn_tf.expand import setting_path
from spawn_tf.load import Document
from spawn_tf.model import Run, Sweep
from spawn_tf.prices import PriceTable
from spawn_tf.render import markdown_table, text_table

# Said wherever a cost is shown without a price source (cost, diff).
NO_PRICES_NOTE = f"no prices: pass --prices FILE or --live, or name budget.{contract.BUDGET_PRICES} in the sweep"

_SECONDS_PER_HOUR = Decimal(3600)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True, kw_only=True)
class CostLine:
    """The runs of one region, instance type and market."""

    region: str
    instance_type: str
    spot: bool
    runs: int
    unbounded_runs: int  # runs without a ttl: not in the worst case
    hours: Decimal  # the bounded runs' ttl, summed
    hourly_usd: Decimal | None  # the most an hour can cost (the highest, when spot_max_price caps some runs)
    worst_case_usd: Decimal | None  # None: unpriced
    expected_usd: Decimal | None  # at the current spot price (on-demand runs: the worst case); None when unknown
    on_demand_usd: Decimal | None  # the same hours at the on-demand price; None when unknown
    first_run: str  # the first run of the line, to place a diagnostic

    @property
    def priced(self) -> bool:
        return self.worst_case_usd is not None

    @property
    def bounded_runs(self) -> int:
        return self.runs - self.unbounded_runs

    @property
    def unbounded(self) -> bool:
        """No run of the line has a ttl: it has no amount at all, not $0.00."""
        return self.bounded_runs == 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CostEstimate:
    source: str  # where the prices came from
    notes: tuple[str, ...]  # what the price source could not answer
    lines: tuple[CostLine, ...]  # sorted by region, instance type, market (on-demand first)

    @property
    def worst_case_usd(self) -> Decimal:
        """The sum over priced lines (see `complete`)."""
        return sum((line.worst_case_usd for line in self.lines if line.worst_case_usd is not None), Decimal(0))

    @property
    def expected_usd(self) -> Decimal | None:
        """At current spot prices, when every line has one."""
        if any(line.expected_usd is None for line in self.lines):
            return None
        return sum((line.expected_usd for line in self.lines if line.expected_usd is not None), Decimal(0))

    @property
    def unpriced(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if not line.priced)

    @property
    def unbounded_runs(self) -> int:
        return sum(line.unbounded_runs for line in self.lines)

    @property
    def unpriced_runs(self) -> int:
        """Runs with a ttl but no price (runs without a ttl count as unbounded, priced or not)."""
        return sum(line.bounded_runs for line in self.lines if not line.priced)

    @property
    def amount_runs(self) -> int:
        """The runs `worst_case_usd` covers: with a ttl and a price."""
        return sum(line.bounded_runs for line in self.lines if line.priced)

    @property
    def complete(self) -> bool:
        """Every run is priced and bounded: the worst case is the whole sweep's."""
        return not self.unpriced_runs and not self.unbounded_runs

    @property
    def bound(self) -> str:
        """'bounded' (complete), 'unbounded' (a run has no ttl), or 'unpriced' (a run with a ttl has no price)."""
        return "unbounded" if self.unbounded_runs else "unpriced" if self.unpriced_runs else "bounded"

    @property
    def spot_saving_usd(self) -> tuple[Decimal, Decimal] | None:
        """(on-demand cost, expected spot cost) over the spot lines where both are known, or None."""
        known = [line for line in self.lines if line.spot and not line.unbounded and line.expected_usd is not None and line.on_demand_usd is not None]
        if not known:
            return None
        on_demand = sum((line.on_demand_usd for line in known if line.on_demand_usd is not None), Decimal(0))
        spot = sum((line.expected_usd for line in known if line.expected_usd is not None), Decimal(0))
        return on_demand, spot


def estimate_cost(runs: Iterable[Run], prices: PriceTable) -> CostEstimate:
    """Group the runs by (region, instance type, market) of their worst candidate and price each group's ttl hours."""
    groups: dict[tuple[str, str, bool], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.region, *_worst_candidate(run, prices)), []).append(run)
    lines = [_line(key, members, prices) for key, members in groups.items()]
    lines.sort(key=lambda line: (line.region, line.instance_type, line.spot))
    return CostEstimate(source=prices.source, notes=prices.notes, lines=tuple(lines))


def unpriced_estimate(runs: Iterable[Run]) -> CostEstimate:
    """Every run listed without a price, for a sweep with no price source and no budget: nothing guessed."""
    return estimate_cost(runs, PriceTable(source="no price source", prices={}, notes=(NO_PRICES_NOTE,)))


def _line(key: tuple[str, str, bool], runs: Sequence[Run], prices: PriceTable) -> CostLine:
    region, instance_type, spot = key
    price = prices.get(region, instance_type)
    on_demand = price.on_demand_usd if price else None
    spot_now = price.spot_usd if price else None
    # Runs with the same cap share a price: sum their seconds, multiply once.
    seconds_by_cap: dict[Decimal | None, int] = {}
    unbounded = 0
    for run in runs:
        if run.settings.ttl_seconds is None:
            unbounded += 1
        else:
            cap = Decimal(run.settings.spot_max_price_usd) if spot and run.settings.spot_max_price_usd else None
            seconds_by_cap[cap] = seconds_by_cap.get(cap, 0) + run.settings.ttl_seconds
    seconds = sum(seconds_by_cap.values())
    # A line of unbounded runs only costs 0 hours: at the uncapped price, so it is unpriced when that is unknown.
    uncapped = {None: _highest_hour(spot, None, on_demand)}
    highest = {cap: _highest_hour(spot, cap, on_demand) for cap in seconds_by_cap} or uncapped
    current = {cap: _current_hour(spot, cap, spot_now, on_demand) for cap in seconds_by_cap} or uncapped
    return CostLine(
        region=region,
        instance_type=instance_type,
        spot=spot,
        runs=len(runs),
        unbounded_runs=unbounded,
        hours=Decimal(seconds) / _SECONDS_PER_HOUR,
        hourly_usd=None if None in highest.values() else max(highest.values()),  # type: ignore[type-var]
        worst_case_usd=_cost(highest, seconds_by_cap),
        expected_usd=_cost(current, seconds_by_cap),
        on_demand_usd=None if on_demand is None else on_demand * seconds / _SECONDS_PER_HOUR,
        first_run=runs[0].name,
    )


def _worst_candidate(run: Run, prices: PriceTable) -> tuple[str, bool]:
    """(instance type, spot) of the run's candidate whose hour can cost the most (DESIGN §13): a run that may fall back
    to a larger type or to on-demand is priced as if it did. A candidate without a price wins: the run is unpriced."""
    settings = run.settings
    options = [(instance_type, market is Market.SPOT) for market in settings.markets for instance_type in settings.instance_types]
    if len(options) == 1:
        return options[0]
    cap = Decimal(settings.spot_max_price_usd) if settings.spot_max_price_usd else None

    def hour(option: tuple[str, bool]) -> Decimal | None:
        price = prices.get(run.region, option[0])
        return _highest_hour(option[1], cap, None if price is None else price.on_demand_usd)

    hours = {option: hour(option) for option in reversed(options)}  # on a tie the later one: on-demand, the type tried last
    unpriced = [option for option, price in hours.items() if price is None]
    return unpriced[-1] if unpriced else max(hours, key=lambda option: hours[option] or Decimal(0))


def _highest_hour(spot: bool, cap: Decimal | None, on_demand: Decimal | None) -> Decimal | None:
    """The most an hour can cost: a spot price rises to the cap, and never above on-demand."""
    if not spot or cap is None:
        return on_demand
    return cap if on_demand is None else min(cap, on_demand)


def _current_hour(spot: bool, cap: Decimal | None, spot_now: Decimal | None, on_demand: Decimal | None) -> Decimal | None:
    if not spot:
        return on_demand
    return None if spot_now is None else spot_now if cap is None else min(spot_now, cap)


def _cost(hourly: dict[Decimal | None, Decimal | None], seconds_by_cap: dict[Decimal | None, int]) -> Decimal | None:
    """Hours x price over the cap groups; None when a group has no price."""
    if None in hourly.values():
        return None
    return sum((price * seconds_by_cap.get(cap, 0) for cap, price in hourly.items() if price is not None), Decimal(0)) / _SECONDS_PER_HOUR


def usd(amount: Decimal) -> str:
    """'$1,234.57': rounded to cents, half up."""
    return f"${amount.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


# --- budget ------------------------------------------------------------------------------------


def budget_diagnostics(sweep: Sweep, document: Document, runs: Sequence[Run], estimate: CostEstimate) -> Iterator[Diagnostic]:
    """With a budget: an error when the worst case exceeds it, or cannot be known (unpriced runs)."""
    budget = sweep.budget
    assert budget is not None, "called for sweeps with a budget"
    by_name = {run.name: run for run in runs}
    for line in estimate.unpriced:
        path = setting_path(sweep, document, by_name[line.first_run], "instance_type")
        why = " (a spot hour can cost as much)" if line.spot else ""
        hint = "add its on_demand price to the price file" + (", or cap the spot price with spot_max_price" if line.spot else "")
        yield error("unpriced-instance-type", f"no on-demand price for {line.instance_type} in {line.region}{why} in {estimate.source}",
                    document.span(path), f"{hint}; a budget cannot be checked against a guess")  # fmt: skip
    if estimate.worst_case_usd > budget.max_usd:
        alone = " for the priced runs alone" if estimate.unpriced else ""
        worst, limit = usd(estimate.worst_case_usd), usd(budget.max_usd)
        if worst == limit:  # over by less than a cent: show the amounts whole
            worst, limit = f"${estimate.worst_case_usd.normalize():f}", f"${budget.max_usd.normalize():f}"
        yield error("over-budget", f"the worst-case cost {worst}{alone} exceeds the budget of {limit}",
                    document.span(("budget", contract.BUDGET_MAX_USD)),
                    "lower ttl or the number of runs, use smaller instance types, or raise budget.max_usd; "
                    "'spawn-tf cost FILE' shows where the cost goes")  # fmt: skip


def no_prices_diagnostic(document: Document) -> Diagnostic:
    return error("no-prices", "the sweep has a budget, but no prices to check it with", document.span(("budget",), key=True),
                 f"name a price file beside the sweep (budget: {{{contract.BUDGET_MAX_USD}: N, {contract.BUDGET_PRICES}: prices.csv}}) "
                 "or pass --prices FILE; 'spawn-tf cost FILE --live --save-prices prices.csv' writes one")  # fmt: skip


# --- output ------------------------------------------------------------------------------------


def estimate_as_json(estimate: CostEstimate, budget_usd: Decimal | None) -> dict[str, Any]:
    """Amounts as strings of exact decimals (JSON numbers would be floats)."""

    def text(amount: Decimal | None) -> str | None:
        return None if amount is None else str(amount.quantize(_CENT, rounding=ROUND_HALF_UP))

    def amount(line: CostLine, value: Decimal | None) -> str | None:
        return None if line.unbounded else text(value)  # a line without any ttl has no amount, not 0.00

    saving = estimate.spot_saving_usd
    return {
        "source": estimate.source,
        "notes": list(estimate.notes),
        # The whole sweep's worst case, or null when it has none: `worst_case` says why, `priced_usd` what is known.
        "worst_case_usd": text(estimate.worst_case_usd) if estimate.complete else None,
        "worst_case": estimate.bound,
        "priced_usd": text(estimate.worst_case_usd) if estimate.amount_runs else None,
        "priced_runs": estimate.amount_runs,
        "unpriced_runs": estimate.unpriced_runs,
        "expected_usd": text(estimate.expected_usd) if estimate.complete else None,
        "complete": estimate.complete,
        "budget_usd": text(budget_usd),
        "within_budget": None if budget_usd is None else estimate.complete and estimate.worst_case_usd <= budget_usd,
        "spot_saving": None
        if saving is None
        else {"on_demand_usd": text(saving[0]), "spot_usd": text(saving[1]), "saving_usd": text(saving[0] - saving[1])},
        "unbounded_runs": estimate.unbounded_runs,
        "lines": [
            {
                "region": line.region,
                "instance_type": line.instance_type,
                "market": _market(line.spot),
                "runs": line.runs,
                "unbounded_runs": line.unbounded_runs,
                "priced": line.priced,
                "hours": None if line.unbounded else str(line.hours.quantize(_CENT, rounding=ROUND_HALF_UP)),
                "hourly_usd": None if line.hourly_usd is None else str(line.hourly_usd),
                "worst_case_usd": amount(line, line.worst_case_usd),  # of the runs with a ttl
                "expected_usd": amount(line, line.expected_usd),
                "on_demand_usd": amount(line, line.on_demand_usd),
            }
            for line in estimate.lines
        ],
    }


def _market(spot: bool) -> str:
    return "spot" if spot else "on-demand"


def render_estimate(estimate: CostEstimate, budget_usd: Decimal | None, *, markdown: bool) -> str:
    """A table per (region, instance type, market), then the total, the spot saving and the budget."""
    header = ["region", "instance type", "market", "runs", "hours", "USD/h at most", "worst case", "expected", "on-demand equivalent"]
    rows = [
        [
            line.region,
            line.instance_type,
            _market(line.spot),
            str(line.runs) + (f" ({line.unbounded_runs} without ttl)" if line.unbounded_runs else ""),
            "unbounded" if line.unbounded else _plus_unbounded(line, f"{line.hours.quantize(_CENT, rounding=ROUND_HALF_UP):,}"),
            "unpriced" if line.hourly_usd is None else str(line.hourly_usd),
            _line_amount(line, line.worst_case_usd, "unpriced"),
            _line_amount(line, line.expected_usd, "-"),
            _line_amount(line, line.on_demand_usd, "-"),
        ]
        for line in estimate.lines
    ]
    table = markdown_table(header, rows) if markdown else text_table(header, rows)
    summary = [f"**{line}**" if markdown and i == 0 else line for i, line in enumerate(summary_lines(estimate, budget_usd))]
    return table + "\n" + "\n".join(f"- {line}" if markdown else line for line in summary) + "\n"


def _line_amount(line: CostLine, amount: Decimal | None, unknown: str) -> str:
    """A line's amount: 'unbounded' when no run has a ttl (never $0.00), '+ unbounded' when some have none."""
    if line.unbounded:
        return "unbounded"
    return unknown if amount is None else _plus_unbounded(line, usd(amount))


def _plus_unbounded(line: CostLine, shown: str) -> str:
    return f"{shown} + unbounded" if line.unbounded_runs else shown


def _runs(count: int) -> str:
    return f"{count} run{'' if count == 1 else 's'}"


def _total(estimate: CostEstimate) -> str:
    """'worst case: $12.34', or why there is none ('unbounded: …', 'unknown: …') and what the known part costs."""
    if estimate.complete:
        return f"worst case: {usd(estimate.worst_case_usd)}"
    reasons = []
    if estimate.unbounded_runs:
        reasons.append(f"{_runs(estimate.unbounded_runs)} without a ttl")
    if estimate.unpriced_runs:
        listed = ", ".join(f"{line.instance_type} {_market(line.spot)} in {line.region}" for line in estimate.unpriced if not line.unbounded)
        reasons.append(f"{_runs(estimate.unpriced_runs)} unpriced ({listed})")
    known = f"; {usd(estimate.worst_case_usd)} for the rest ({_runs(estimate.amount_runs)})" if estimate.amount_runs else ""
    return f"worst case: {'unbounded' if estimate.unbounded_runs else 'unknown'}: {', '.join(reasons)}{known}"


def summary_lines(estimate: CostEstimate, budget_usd: Decimal | None) -> list[str]:
    """The total (first), the expected spot saving, the budget's verdict, the price source and its notes."""
    lines = [_total(estimate)]
    # Without a ttl a run has no expected cost either: the amounts below cover the runs with one.
    partial = " (runs with a ttl only)" if estimate.unbounded_runs else ""
    if estimate.expected_usd is not None and estimate.amount_runs and any(line.spot for line in estimate.lines):
        lines.append(f"expected at current spot prices: {usd(estimate.expected_usd)}{partial}")
    saving = estimate.spot_saving_usd
    if saving is not None and saving[0] > 0:
        on_demand, spot = saving
        share = ((on_demand - spot) / on_demand * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        lines.append(f"expected spot saving: {usd(on_demand - spot)} ({share} %) against {usd(on_demand)} on demand{partial}")
    if budget_usd is not None:
        verdict = "cannot be checked" if not estimate.complete else "within" if estimate.worst_case_usd <= budget_usd else "EXCEEDED"
        lines.append(f"budget: {usd(budget_usd)}, {verdict}")
    lines.append(f"prices: {estimate.source}")
    lines.extend(f"note: {note}" for note in estimate.notes)
    lines.append("worst case = ttl x the most an hour can cost (spot: spot_max_price, else on-demand), one attempt per run; "
                 "relaunches, storage and transfer are extra")  # fmt: skip
    return lines
