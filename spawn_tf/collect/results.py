"""The leaderboard: each run's metrics.json, ranked by one metric (DESIGN §7).

Only current outputs count: a run's folder is the run's own only when its status.json names the
run's current fingerprint (a run whose configuration changed keeps its old files until it runs
again). By default only current `success` runs are ranked. Reading is one GET of status.json per
run and one of metrics.json per run that qualifies (S3 has no batch read), all at once; ranking is
pure. A metric that is missing, not a number or NaN puts the run in `unranked`, never at the
bottom of the ranking as if it were a value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, Aws, error_text, is_missing, map_on_threads
from spawn_tf.collect.observe import list_keys
from spawn_tf.collect.progress import Last, parse
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.diagnostics import did_you_mean
from spawn_tf.errors import SpawnError
from spawn_tf.manifest import RunRecord

_STATUSES = frozenset(str(status) for status in contract.Status)


class Mode(StrEnum):
    MAX = "max"  # higher is better (accuracy)
    MIN = "min"  # lower is better (loss)


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """A run's metrics file: its content, or why there is none (`missing`, or what went wrong)."""

    run: RunRecord
    values: Mapping[str, Any] | None
    problem: str | None  # None when read; "no <file>" when absent; else the error
    status: str = ""  # the run's standing (see `standing`) when its metrics were read
    absent: bool = False  # there is no metrics file (as opposed to one that could not be read or is not an object)


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """What a run's status.json says of its outputs: a status of the run's current configuration, or why not."""

    run: RunRecord
    status: str  # a contract.Status, or STALE (an earlier fingerprint), or unknown (unreadable)
    problem: str | None = None  # the read error, when status.json could not be read


@dataclass(frozen=True, slots=True)
class LastReports:
    """Each run's last progress report of the ranking metric (run -> Last); `read` false when they could not be listed."""

    read: bool
    last: Mapping[str, Last] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ranked:
    rank: int
    metrics: Metrics
    value: int | float  # as the metrics file has it, or the last progress report of the metric
    source: str = contract.METRICS_FILE  # where the value is from: the metrics file's name, or "progress step N"
    reported: Last | None = None  # the progress report it is from, when the metrics file does not have it


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaderboard:
    metric: str
    mode: Mode
    ranked: tuple[Ranked, ...]  # best first
    unranked: tuple[tuple[Metrics, str], ...]  # (run, why it has no rank), in the sweep's order

    @property
    def from_progress(self) -> bool:
        """Some value is a run's last progress report: every output then says where each value is from."""
        return any(entry.reported is not None for entry in self.ranked)


def standing(run: RunRecord, record: Any) -> str:
    """A run's standing from its status.json (None: there is none): the status it names when it names the
    run's current fingerprint; STALE when it names another; pending when there is none."""
    if record is None:
        return str(contract.Status.PENDING)
    if not isinstance(record, Mapping) or record.get("fingerprint") != run.fingerprint:
        return contract.STALE
    status = record.get("status")
    return status if isinstance(status, str) and status in _STATUSES else str(contract.Status.UNKNOWN)


def read_current(sweep: SweepRecord, aws: Aws, file_name: str, wanted: frozenset[str]) -> tuple[tuple[Standing, ...], tuple[Metrics, ...], tuple[str, ...]]:
    """Every run's standing, the metrics files of the runs whose standing is `wanted` (both in the sweep's
    order), and the read errors that are not "no such file".

    When no status.json at all can be read for an error other than its absence, that error is raised.
    """
    s3 = aws.s3(sweep.results.region)
    bucket = sweep.results.bucket
    errors: list[BaseException] = []

    def get(key: str) -> tuple[bytes | None, str | None]:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read(), None
        except AWS_ERRORS as exc:
            if is_missing(exc):
                return None, None
            errors.append(exc)
            return None, f"s3://{bucket}/{key}: {error_text(exc)}"

    def read(run: RunRecord) -> tuple[Standing, Metrics | None]:
        body, problem = get(sweep.results.run_folder(run.name) + contract.STATUS_FILE)
        if problem:
            return Standing(run=run, status=str(contract.Status.UNKNOWN), problem=problem), None
        try:
            record = json.loads(body) if body is not None else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = {}  # an unreadable record names no fingerprint: nothing in the folder is known to be current
        status = standing(run, record)
        if status not in wanted:
            return Standing(run=run, status=status), None
        return Standing(run=run, status=status), _metrics(run, status, file_name, *get(sweep.results.run_folder(run.name) + file_name))

    found = map_on_threads(read, sweep.runs)
    if errors and len(errors) >= len(found):
        raise errors[0]
    standings = tuple(standing_ for standing_, _ in found)
    metrics = tuple(entry for _, entry in found if entry is not None)
    problems = [s.problem for s in standings if s.problem] + [m.problem for m in metrics if m.problem and m.problem.startswith("s3://")]
    return standings, metrics, tuple(problems)


def _metrics(run: RunRecord, status: str, file_name: str, body: bytes | None, problem: str | None) -> Metrics:
    if problem is not None:
        return Metrics(run=run, values=None, problem=problem, status=status)
    if body is None:
        return Metrics(run=run, values=None, problem=f"no {file_name}", status=status, absent=True)
    try:
        values = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Metrics(run=run, values=None, problem=f"{file_name} is not JSON ({exc})", status=status)
    if not isinstance(values, dict):
        return Metrics(run=run, values=None, problem=f"{file_name} is not a JSON object", status=status)
    return Metrics(run=run, values=values, problem=None, status=status)


def last_reports(sweep: SweepRecord, aws: Aws, metric: str, found: Iterable[Metrics]) -> tuple[LastReports | None, str | None]:
    """The last progress report of `metric` of each run whose metrics file is absent or lacks it, from one
    listing of S/_progress/<metric>/ (every step); none when no run needs it (None). And why it could not be read."""
    needed = [m.run.name for m in found if m.absent or (m.values is not None and metric_value(m.values, metric) is None)]
    if not needed or not contract.METRIC_NAME_PATTERN.fullmatch(metric):  # a name no report can have has none
        return (LastReports(read=True) if needed else None), None
    results = sweep.results
    prefix = contract.progress_prefix(results.folder, metric)
    try:
        reports = parse(results.folder, list_keys(aws, results.bucket, results.region, prefix))
    except AWS_ERRORS as exc:
        return LastReports(read=False), f"s3://{results.bucket}/{prefix} could not be read: {error_text(exc)}"
    return LastReports(read=True, last={run: last for run in needed if (last := reports.last(run, metric)) is not None}), None


def left_out(standings: Iterable[Standing], wanted: frozenset[str]) -> dict[str, int]:
    """Runs not considered for ranking, by standing (stale, failed, pending, ...), most first."""
    tally: dict[str, int] = {}
    for entry in standings:
        if entry.status not in wanted:
            tally[entry.status] = tally.get(entry.status, 0) + 1
    return dict(sorted(tally.items(), key=lambda item: (-item[1], item[0])))


def metric_missing(board: Leaderboard, found: list[Metrics], metric: str, metrics_file: str, reported: LastReports | None = None) -> SpawnError | None:
    """A metric no run has (a typo) is an error, and an earlier best-results.json stays; None when some run was ranked."""
    if not found or board.ranked:
        return None
    names = metric_names(found)
    hint = did_you_mean(metric, names, cutoff=0.6)
    nor = " or a progress report of it" if reported is not None and reported.read else ""
    return SpawnError(f"none of the {len(found)} runs ranked has a numeric '{metric}' in {metrics_file}{nor}",
                      f"{hint + ' ' if hint else ''}the runs' metrics are: {', '.join(names)}" if names else None)  # fmt: skip


def metric_names(all_metrics: Iterable[Metrics]) -> list[str]:
    """Every metric the runs have, nested ones as dotted paths (`eval.loss`): the did-you-mean of a metric no run has."""
    names: set[str] = set()

    def walk(values: Mapping[str, Any], prefix: str) -> None:
        for key, value in values.items():
            names.add(prefix + str(key))
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")

    for metrics in all_metrics:
        if metrics.values is not None:
            walk(metrics.values, "")
    return sorted(names)


def metric_value(values: Mapping[str, Any], metric: str) -> Any:
    """`metric` in a metrics object: a top-level key, or a dotted path into nested objects (`eval.loss`)."""
    if metric in values:
        return values[metric]
    current: Any = values
    for part in metric.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def rank(all_metrics: Iterable[Metrics], metric: str, mode: Mode, reported: LastReports | None = None, *,
         file_name: str = contract.METRICS_FILE) -> Leaderboard:  # fmt: skip
    """Runs with a numeric `metric`, best first (ties keep the sweep's order), and the others apart.

    A run whose metrics file is absent or lacks the metric is ranked by its last progress report of
    it, from `reported` (None: progress reports were not consulted).
    """
    scored: list[tuple[int | float, Metrics, Last | None]] = []
    unranked: list[tuple[Metrics, str]] = []
    for metrics in all_metrics:
        found = _score(metrics, metric, reported)
        if isinstance(found, str):
            unranked.append((metrics, found))
        else:
            scored.append((found[0], metrics, found[1]))
    sign = -1 if mode is Mode.MAX else 1
    scored.sort(key=lambda item: (sign * item[0], item[1].run.index))
    ranked = tuple(Ranked(rank=position, metrics=metrics, value=value, reported=last,
                          source=file_name if last is None else f"progress step {last.step}")
                   for position, (value, metrics, last) in enumerate(scored, 1))  # fmt: skip
    return Leaderboard(metric=metric, mode=mode, ranked=ranked, unranked=tuple(unranked))


def _score(metrics: Metrics, metric: str, reported: LastReports | None) -> tuple[int | float, Last | None] | str:
    """The run's value of `metric` from its metrics file, else from its last progress report (that report); else why it has none."""
    if metrics.values is None and not metrics.absent:
        return metrics.problem or "no metrics"
    value = None if metrics.values is None else metric_value(metrics.values, metric)
    if value is None:
        missing = metrics.problem if metrics.values is None else f"no '{metric}'"
        if reported is None:
            return missing or "no metrics"
        if not reported.read:
            return f"{missing}; its progress reports could not be read"
        last = reported.last.get(metrics.run.name)
        return (last.value, last) if last is not None else f"{missing}, and no progress report of it"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"'{metric}' is {json.dumps(value)}, not a number"
    return value, None


def ranked_document(entry: Ranked, *, metric: str | None = None, source: bool = False) -> tuple[dict[str, Any], list[str]]:
    """One ranked run, as `--format json` prints it and best-results.json keeps it; and its name clashes.

    The how-to's analysis reads `r['name']`, a metric and the parameters from the top level, so
    they are all there, beside `params` and `metrics` as they are. A name taken twice keeps, at the
    top level, spawn-tf's own field first, then the parameter (what the run was given); a metric
    under a taken name that differs from what is there is reported and stays under `metrics`.
    With `source`, a `source` field says where the ranking value is from; a value from a progress
    report is at the top level under `metric`'s name (`metrics` keeps the metrics file as it is).
    """
    run = entry.metrics.run
    metrics = _strict_json(dict(entry.metrics.values or {}))
    params = json.loads(json.dumps(dict(run.params)))  # as plain JSON values, as the file will hold them
    document: dict[str, Any] = {"rank": entry.rank, "name": run.name, "status": entry.metrics.status, "index": run.index,
                                "region": run.region, "fingerprint": run.fingerprint, **({"source": entry.source} if source else {})}  # fmt: skip
    own = {*document, "params", "metrics"}
    clashes = []
    for key, value in params.items():
        if key in own:
            clashes.append(f"{run.name}: parameter '{key}' is also a field of best-results.json; it is under 'params' only")
        else:
            document[key] = value
    top = metrics if entry.reported is None or metric is None else {**metrics, metric: entry.value}
    for key, value in top.items():
        if key in own and key not in document:  # `params` or `metrics`
            clashes.append(f"{run.name}: metric '{key}' is also a field of best-results.json; it is under 'metrics' only")
        elif key not in document:
            document[key] = value
        elif document[key] != value:
            which = "parameter" if key in params and key not in own else "field"
            clashes.append(f"{run.name}: metric '{key}' = {json.dumps(value)} differs from the {which} '{key}' = "
                           f"{json.dumps(document[key])}; the top level keeps the {which}, the metric is under 'metrics'")  # fmt: skip
    return {**document, "params": params, "metrics": metrics}, clashes


def _strict_json(value: Any) -> Any:
    """NaN and infinities (which Python's JSON reader accepts) as strings: the output stays JSON that every reader takes."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict_json(item) for item in value]
    return value
