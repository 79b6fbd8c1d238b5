"""What `spawn-tf report` shows (DESIGN §14), as one JSON document: the page embeds it and draws every figure from it. Pure.

The reads are `status`'s and `results`' own (collect/observe.py, collect/results.py) and so are the
rules: `status` is `status --json`'s document, `results` the entries `results --format json` prints.
The rest is derived from the same reads without another call: each run's attempts from the
attempts listing (start and end are the keys' LastModified), each run's learning curves from the
progress listing (a step reported twice keeps stopping.latest's report, as `status` does), and the
cost from the sweep's price table. Nothing here depends on the time it runs: an attempt still going
ends, in the timeline, at the newest time any key shows (`as_of`), so the same reads give the same page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from spawn_tf import contract, lifecycle, stopping
from spawn_tf.collect.observe import Observation
from spawn_tf.collect.progress import parse
from spawn_tf.collect.results import Leaderboard, ranked_document
from spawn_tf.collect.status import RunStatus, iso, status_document
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.manifest import RunRecord

FORMAT = 1  # the embedded document's version: a reader of saved pages can tell what it holds
DEFAULT_TOP = 20  # leaderboard rows
DATA_ELEMENT_ID = "spawn-report-data"  # the <script type="application/json"> that holds the document
REPORT_FILE = "{sweep}-report.html"  # the default output, in the current folder (as collect-results' <sweep>-results)
LOST = "lost"  # an attempt that began, has no outcome and whose run is not running: its instance is gone (DESIGN §7)
RUNNING = "running"
_CENT = Decimal("0.01")
_SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ranking:
    """`results`' part of the report: the leaderboard of `metric` over the runs of `statuses`, and what it left out."""

    board: Leaderboard
    statuses: tuple[str, ...]
    left_out: Mapping[str, int]  # standing -> runs not considered (results.left_out)
    top: int = DEFAULT_TOP
    problems: tuple[str, ...] = ()  # what `results`' reads could not read (status.json or metrics files, progress reports)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    """The sweep's price table's answer: `worst_case` (cost.estimate_as_json) and each (region, type) hour's price."""

    worst_case: Mapping[str, Any]
    hourly: Mapping[tuple[str, str, bool], Decimal | None]  # (region, instance type, spot) -> current USD/h, None unknown


def report_document(sweep: SweepRecord, statuses: Sequence[RunStatus], observation: Observation, ranking: Ranking | None,
                    cost: Cost | None) -> dict[str, Any]:  # fmt: skip
    """The whole report as plain JSON values (the parameters' own types, e.g. positioned numbers, are left behind),
    in a fixed order: the page's data, which its figures are drawn from."""
    attempts = attempts_by_run(sweep, statuses, observation)
    document = {
        "format": FORMAT,
        "sweep": sweep.id,
        "status": status_document(sweep, tuple(statuses), observation.problems),
        "ranking": None if ranking is None else ranking_document(ranking),
        "attempts": attempts,
        "as_of": as_of(observation),
        "curves": curves(sweep, observation),
        "early_stopping": None if sweep.early_stopping is None else _rule(sweep.early_stopping),
        "placement": placement(sweep.runs, statuses),
        "cost": None if cost is None else cost_document(sweep, attempts, cost),
    }
    return json.loads(json.dumps(document, ensure_ascii=False))


def _rule(rule: stopping.Rule) -> dict[str, str]:
    return {"metric": rule.metric, "mode": rule.mode, "rule": rule.rule}


def ranking_document(ranking: Ranking) -> dict[str, Any]:
    """`results` entries of the top runs (as `results --format json` prints them), and every ranked run's value for the plots."""
    board = ranking.board
    return {
        "metric": board.metric,
        "mode": str(board.mode),
        "statuses": list(ranking.statuses),
        "results": [ranked_document(entry, metric=board.metric, source=board.from_progress)[0] for entry in board.ranked[: ranking.top]],
        "values": [{"run": entry.metrics.run.name, "value": entry.value, "source": entry.source} for entry in board.ranked],
        "unranked": [{"run": metrics.run.name, "why": why} for metrics, why in board.unranked],
        "left_out": dict(ranking.left_out),
        "problems": list(ranking.problems),
    }


def attempts_by_run(sweep: SweepRecord, statuses: Sequence[RunStatus], observation: Observation) -> dict[str, list[dict[str, Any]]]:
    """run -> its attempts, oldest first: instance, region, start, end and outcome (`running`, or `lost` when its instance is gone)."""
    control = lifecycle.parse(sweep.results.folder, observation.attempts)
    found: dict[str, list[dict[str, Any]]] = {}
    for status in statuses:
        run = status.run
        attempts = control.facts(run.name, run.fingerprint).attempts
        if attempts:
            found[run.name] = [
                _attempt(run, attempt, status, last=position == len(attempts) - 1) for position, attempt in enumerate(attempts)
            ]
    return found


def _attempt(run: RunRecord, attempt: lifecycle.Attempt, status: RunStatus, *, last: bool) -> dict[str, Any]:
    ended = attempt.outcomes[-1][0] if attempt.outcomes else None
    outcome = str(attempt.outcome) if attempt.outcome else RUNNING if last and status.status is contract.Status.RUNNING else LOST
    return {"instance_id": attempt.instance_id, "region": run.region, "instance_type": run.instance_type,
            "began": iso(attempt.first_seen), "ended": iso(ended), "outcome": outcome}  # fmt: skip


def as_of(observation: Observation) -> str | None:
    """The newest time the reads show: where an attempt still going ends in the timeline."""
    keys = (*observation.done, *observation.attempts, *observation.stops, *(observation.progress or ()))
    return iso(max((key.written for key in keys), default=None))


def curves(sweep: SweepRecord, observation: Observation) -> dict[str, dict[str, list[list[float]]]]:
    """metric -> run -> [[step, value], ...] by step: every report of the `_progress/` listing, by status's rules."""
    if observation.progress is None:
        return {}
    reports = parse(sweep.results.folder, observation.progress)
    found: dict[str, dict[str, list[list[float]]]] = {}
    for metric, step in sorted(reports.at):
        for run, report in sorted(stopping.latest(reports.at[(metric, step)]).items()):
            found.setdefault(metric, {}).setdefault(run, []).append([step, report.value])
    return found


def placement(runs: Iterable[RunRecord], statuses: Sequence[RunStatus]) -> dict[str, dict[str, dict[str, int]]]:
    """Runs per region and per instance type, by status: {"region": {region: {status: n}}, "instance_type": {...}}."""
    by: dict[str, dict[str, dict[str, int]]] = {"region": {}, "instance_type": {}}
    for run, status in zip(runs, statuses, strict=True):
        for kind, value in (("region", run.region), ("instance_type", run.instance_type)):
            tally = by[kind].setdefault(value, {})
            tally[str(status.status)] = tally.get(str(status.status), 0) + 1
    return {kind: dict(sorted(values.items())) for kind, values in by.items()}


def cost_document(sweep: SweepRecord, attempts: Mapping[str, list[dict[str, Any]]], cost: Cost) -> dict[str, Any]:
    """Cost so far: each ended attempt's hours at its run's current price (spot or on-demand); and the worst case.

    Attempts still going, lost ones (no outcome: no end known) and those whose price is unknown are counted apart, never as $0.00.
    """
    spent, hours, unpriced, going, lost = Decimal(0), Decimal(0), 0, 0, 0
    for run in sweep.runs:
        hourly = cost.hourly.get((run.region, run.instance_type, bool(run.spot)))
        for attempt in attempts.get(run.name, ()):
            if attempt["ended"] is None:
                going += attempt["outcome"] == RUNNING
                lost += attempt["outcome"] != RUNNING
                continue
            seconds = Decimal(int((_moment(attempt["ended"]) - _moment(attempt["began"])).total_seconds()))
            if hourly is None:
                unpriced += 1
                continue
            hours += seconds / _SECONDS_PER_HOUR
            spent += hourly * seconds / _SECONDS_PER_HOUR
    return {"so_far_usd": str(spent.quantize(_CENT, rounding=ROUND_HALF_UP)), "so_far_hours": str(hours.quantize(_CENT, rounding=ROUND_HALF_UP)),
            "unpriced_attempts": unpriced, "running_attempts": going, "lost_attempts": lost, "worst_case": dict(cost.worst_case)}  # fmt: skip


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def params_and_metric(document: Mapping[str, Any]) -> tuple[list[str], list[tuple[Mapping[str, Any], float, str]]]:
    """The parameter names (in the runs' order) and each ranked run's (params, value, name), best first: what the plots draw."""
    ranking = document.get("ranking")
    if not ranking:
        return [], []
    params = {item["run"]: item["params"] for item in document["status"]["instances"]}
    rows = [(params[item["run"]], item["value"], item["run"]) for item in ranking["values"]]
    return list(dict.fromkeys(name for row in rows for name in row[0])), rows
