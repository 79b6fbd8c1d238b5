"""Progress reports as the collector reads them (DESIGN §12): keys of S/_progress/, parsed with spawn_tf.stopping. Pure.

A key S/_progress/<metric>/<step:010d>/<run>=<value>[,<mean>,<best>] is one report; its LastModified,
in whole seconds, is when it was written. A run's last report of a metric is its report at its
highest step (of two at that step, the one stopping.latest keeps). An early stop is explained by
stopping.decide itself, step by step over the run's reports of the rule's metric, each step decided
from the reports listed at that step, as the run's agent decided it: the reports written after the
run's own do not count, so a later listing gives the agent's answer again.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spawn_tf import contract, stopping
from spawn_tf.stopping import Report, Rule, Verdict

if TYPE_CHECKING:
    from spawn_tf.collect.observe import Key

@dataclass(frozen=True, slots=True)
class Last:
    """A run's last report of one metric: the step and the value."""

    step: int
    value: float


@dataclass(frozen=True, slots=True)
class RunProgress:
    """What a run reported: its last step (of any metric) and each metric's last report; `read` false when the listing failed."""

    read: bool
    step: int | None = None  # None: no report (or not read)
    metrics: Mapping[str, Last] = field(default_factory=dict)

    def document(self) -> dict[str, Any] | None:
        """`progress` in `status --json`: {"step", "metrics": {name: {"step", "value"}}}; null when it could not be read."""
        if not self.read:
            return None
        return {"step": self.step, "metrics": {name: {"step": last.step, "value": last.value} for name, last in sorted(self.metrics.items())}}


def seconds(written: datetime) -> int:
    """LastModified as stopping.Report has it: whole seconds since the epoch (S3 lists milliseconds; they are dropped)."""
    return calendar.timegm(written.utctimetuple())


def parse_key(prefix: str, key: Key) -> tuple[str, int, Report] | None:
    """(metric, step, report) of a key under `prefix` (S/_progress/); None for a key that is not a report."""
    if not key.name.startswith(prefix):
        return None
    parts = key.name[len(prefix) :].split("/")
    if len(parts) != 3:
        return None
    metric, folder, entry = parts
    if not contract.METRIC_NAME_PATTERN.fullmatch(metric) or not (folder.isascii() and folder.isdigit()):
        return None
    if stopping.step_folder(int(folder)) != folder:
        return None
    report = stopping.parse_entry(entry, seconds(key.written))
    return None if report is None else (metric, int(folder), report)


class Reports:
    """Every report of one listing, by (metric, step) as the agents list them and by run."""

    def __init__(self, at: Mapping[tuple[str, int], tuple[Report, ...]]) -> None:
        self.at = at
        self._runs: dict[str, dict[str, dict[int, list[Report]]]] = {}
        for (metric, step), reports in at.items():
            for report in reports:
                self._runs.setdefault(report.run, {}).setdefault(metric, {}).setdefault(step, []).append(report)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics reported, in name order."""
        return tuple(sorted({metric for metric, _ in self.at}))

    def last(self, run: str, metric: str) -> Last | None:
        steps = self._runs.get(run, {}).get(metric)
        if not steps:
            return None
        step = max(steps)
        return Last(step, stopping.latest(steps[step])[run].value)

    def of_run(self, run: str) -> RunProgress:
        metrics = {metric: last for metric in self._runs.get(run, {}) if (last := self.last(run, metric)) is not None}
        return RunProgress(read=True, step=max((last.step for last in metrics.values()), default=None), metrics=metrics)

    def early_stop(self, rule: Rule, run: str) -> Verdict | None:
        """The verdict that stopped `run`: the first of its steps, in step order, at which stopping.decide says stop."""
        for step in sorted(self._runs.get(run, {}).get(rule.metric, {})):
            verdict = stopping.decide(rule, run, step, self.at[(rule.metric, step)])
            if verdict.stop:
                return verdict
        return None


def parse(sweep_folder: str, keys: Iterable[Key]) -> Reports:
    """The reports among `keys` (a listing of S/_progress/ or of one metric's prefix); other keys are left out."""
    prefix = contract.progress_prefix(sweep_folder)
    at: dict[tuple[str, int], list[Report]] = {}
    for key in keys:
        found = parse_key(prefix, key)
        if found is not None:
            metric, step, report = found
            at.setdefault((metric, step), []).append(report)
    return Reports({place: tuple(reports) for place, reports in at.items()})


def early_stop_document(verdict: Verdict | None) -> dict[str, Any] | None:
    """`early_stop` in `status --json`: the step, what was compared, the cut-off, the rule and how many other runs counted."""
    if verdict is None:
        return None
    return {"step": verdict.step, "value": verdict.value, "cutoff": verdict.cutoff, "rule": verdict.rule, "runs": verdict.runs}
