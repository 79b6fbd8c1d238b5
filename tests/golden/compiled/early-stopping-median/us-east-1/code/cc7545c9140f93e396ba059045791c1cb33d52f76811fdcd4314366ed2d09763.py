"""Early stopping (DESIGN §12): the verdict on one progress report, from one listing of its step.

A run's agent decides with this module right after `spored report`, and the collector decides again
with it to explain a stop. It is shipped to the instance as it is here (an S3 code object), so it
stays standalone: Python 3.9, the standard library only, nothing from spawn_tf.

Both see the same input: the names and LastModified seconds of the keys under
S/_progress/<metric>/<step>/. Only reports written in an earlier second than the deciding one count,
so a later listing gives the collector the very answer the agent had. Reports of the early-stopping
metric carry the run's running mean and best value in their names (`<run>=<value>,<mean>,<best>`),
so one listing is enough: no GET, no listing of other steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MEDIAN = "median"
ASHA = "asha"
RULES = (MEDIAN, ASHA)
MODES = ("min", "max")
STOP_EXIT = 3  # `spored report`'s exit code when the run must stop (0: go on; 2: a usage error)
STEP_DIGITS = 10  # S/_progress/<metric>/<step:010d>/: listings come in step order
MAX_STEP = 10**STEP_DIGITS - 1
# The early_stopping block's defaults (documented in the schema and the README).
DEFAULTS = {"rule": MEDIAN, "min_step": 1, "min_runs": 3, "grace": 1, "reduction_factor": 3}


@dataclass(frozen=True)
class Rule:
    """A sweep's `early_stopping` block, defaults applied."""

    metric: str
    mode: str  # "min" or "max": which way is better
    rule: str = MEDIAN
    min_step: int = 1  # no verdict on reports of earlier steps
    min_runs: int = 3  # no verdict until this many other runs have reported the step
    grace: int = 1  # asha: the first rung's step
    reduction_factor: int = 3  # asha: rungs at grace * factor^k; the top 1/factor go on

    @classmethod
    def from_settings(cls, settings: dict) -> Rule:
        return cls(**{**DEFAULTS, **settings})

    def settings(self) -> dict:
        return {name: getattr(self, name) for name in ("metric", "mode", "rule", "min_step", "min_runs", "grace", "reduction_factor")}

    def better(self, a: float, b: float) -> bool:
        """a is strictly better than b."""
        return a < b if self.mode == "min" else a > b

    def is_rung(self, step: int) -> bool:
        """asha: step is grace * reduction_factor^k for some k ≥ 0."""
        if step < self.grace or step % self.grace:
            return False
        quotient = step // self.grace
        while quotient % self.reduction_factor == 0:
            quotient //= self.reduction_factor
        return quotient == 1


@dataclass(frozen=True)
class Report:
    """One key under S/_progress/<metric>/<step>/, as read from a listing."""

    run: str
    value: float
    mean: float  # the run's running mean up to this step (its value, when the name carries none)
    best: float  # its best value up to this step (likewise)
    written: int  # LastModified, whole seconds since the epoch


@dataclass(frozen=True)
class Verdict:
    stop: bool
    rule: str
    step: int
    value: float | None  # what was compared: the best so far (median) or the value at the rung (asha)
    cutoff: float | None  # the others' median running mean, or the rung's cut-off; None: no verdict
    runs: int  # the other runs that counted

    def explain(self, rule: Rule) -> str:
        if self.cutoff is None and self.rule == ASHA and not rule.is_rung(self.step):
            return f"step {self.step}: no verdict (not a rung: asha decides at steps {rule.grace} x {rule.reduction_factor}^k)"
        if self.cutoff is None:
            return f"step {self.step}: no verdict ({self.runs} other runs reported it; {rule.min_runs} needed from step {rule.min_step})"
        word = "worse than" if self.stop else "not worse than"
        if self.rule == MEDIAN:
            return f"step {self.step}: best {rule.metric} {number(self.value)} {word} the median {number(self.cutoff)} of {self.runs} other runs' running means"
        return f"rung step {self.step}: {rule.metric} {number(self.value)} {word} the cut-off {number(self.cutoff)} of the top 1/{rule.reduction_factor} of {self.runs + 1} runs"  # fmt: skip


def number(value: float | None) -> str:
    """A value as report keys carry it: the shortest text that reads back as the same float."""
    return repr(float(value))


def median(values: Sequence[float]) -> float:
    """The middle value, or the mean of the middle two (statistics.median, whose module would load decimal into every compile)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def entry_name(run: str, value: float, summary: tuple[float, float] | None = None) -> str:
    """The last part of a report's key: `<run>=<value>`, and `,<mean>,<best>` for the early-stopping metric."""
    name = f"{run}={number(value)}"
    return name if summary is None else f"{name},{number(summary[0])},{number(summary[1])}"


def step_folder(step: int) -> str:
    return str(step).zfill(STEP_DIGITS)


def parse_entry(name: str, written: int) -> Report | None:
    """A report from the last part of its key; None for a name that is not one (never an error)."""
    run, sep, text = name.rpartition("=")
    parts = text.split(",")
    if not run or not sep or len(parts) not in (1, 3):
        return None
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        return None
    if not all(math.isfinite(value) for value in numbers):
        return None
    value = numbers[0]
    mean, best = (numbers[1], numbers[2]) if len(numbers) == 3 else (value, value)
    return Report(run, value, mean, best, written)


def running(history: dict, step: int, rule: Rule) -> tuple[float, float]:
    """(running mean, best) of a run's values at steps up to `step`; history maps step -> value."""
    values = [value for at, value in sorted(history.items()) if at <= step]
    best = values[0]
    for value in values[1:]:
        if rule.better(value, best):
            best = value
    return sum(values) / len(values), best


def latest(reports: Iterable[Report]) -> dict:
    """run -> its latest report (a resumed run may have reported a step twice): latest second, then name order."""
    found = {}
    for report in reports:
        held = found.get(report.run)
        if held is None or (report.written, entry_name(report.run, report.value, (report.mean, report.best))) > (
            held.written, entry_name(held.run, held.value, (held.mean, held.best))):  # fmt: skip
            found[report.run] = report
    return found


def decide(rule: Rule, run: str, step: int, reports: Sequence[Report]) -> Verdict:
    """The verdict on `run`'s report at `step`, given every report listed at that step (its own among them).

    median: from min_step on, stop when the run's best so far is worse than the median of the other
    runs' running means, once min_runs others have reported the step. asha: at a rung from min_step on,
    stop when the run's value is not in the top 1/reduction_factor of the runs recorded at the rung
    (itself included; at least one goes on), once min_runs others have. Ties go on.
    """
    by_run = latest(reports)
    own = by_run.get(run)
    if own is None:
        return Verdict(False, rule.rule, step, None, None, 0)
    # A run reported twice: its latest report older than the deciding one counts.
    others = list(latest(report for report in reports if report.run != run and report.written < own.written).values())
    if rule.rule == ASHA and not rule.is_rung(step):
        return Verdict(False, rule.rule, step, own.value, None, len(others))
    if step < rule.min_step or len(others) < rule.min_runs:
        return Verdict(False, rule.rule, step, own.best if rule.rule == MEDIAN else own.value, None, len(others))
    if rule.rule == MEDIAN:
        cutoff = median([report.mean for report in others])
        return Verdict(rule.better(cutoff, own.best), MEDIAN, step, own.best, cutoff, len(others))
    ranked = sorted([own.value, *(report.value for report in others)], reverse=rule.mode == "max")
    keep = max(1, len(ranked) // rule.reduction_factor)
    cutoff = ranked[keep - 1]
    return Verdict(rule.better(cutoff, own.value), ASHA, step, own.value, cutoff, len(others))
