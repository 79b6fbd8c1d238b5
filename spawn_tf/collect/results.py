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
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, Aws, error_text, is_missing, map_on_threads
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """What a run's status.json says of its outputs: a status of the run's current configuration, or why not."""

    run: RunRecord
    status: str  # a contract.Status, or STALE (an earlier fingerprint), or unknown (unreadable)
    problem: str | None = None  # the read error, when status.json could not be read


@dataclass(frozen=True, slots=True, kw_only=True)
class Ranked:
    rank: int
    metrics: Metrics
    value: int | float  # as the metrics file has it


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaderboard:
    metric: str
    mode: Mode
    ranked: tuple[Ranked, ...]  # best first
    unranked: tuple[tuple[Metrics, str], ...]  # (run, why it has no rank), in the sweep's order


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
        return Metrics(run=run, values=None, problem=f"no {file_name}", status=status)
    try:
        values = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Metrics(run=run, values=None, problem=f"{file_name} is not JSON ({exc})", status=status)
    if not isinstance(values, dict):
        return Metrics(run=run, values=None, problem=f"{file_name} is not a JSON object", status=status)
    return Metrics(run=run, values=values, problem=None, status=status)


def left_out(standings: Iterable[Standing], wanted: frozenset[str]) -> dict[str, int]:
    """Runs not considered for ranking, by standing (stale, failed, pending, ...), most first."""
    tally: dict[str, int] = {}
    for entry in standings:
        if entry.status not in wanted:
            tally[entry.status] = tally.get(entry.status, 0) + 1
    return dict(sorted(tally.items(), key=lambda item: (-item[1], item[0])))


def metric_missing(board: Leaderboard, found: list[Metrics], metric: str, metrics_file: str) -> SpawnError | None:
    """A metric no run has (a typo) is an error, and an earlier best-results.json stays; None when some run was ranked."""
    if not found or board.ranked:
        return None
    names = metric_names(found)
    hint = did_you_mean(metric, names, cutoff=0.6)
    return SpawnError(f"none of the {len(found)} runs ranked has a numeric '{metric}' in {metrics_file}",
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


def rank(all_metrics: Iterable[Metrics], metric: str, mode: Mode) -> Leaderboard:
    """Runs with a numeric `metric`, best first (ties keep the sweep's order), and the others apart."""
    scored: list[tuple[int | float, Metrics]] = []
    unranked: list[tuple[Metrics, str]] = []
    for metrics in all_metrics:
        if metrics.values is None:
            unranked.append((metrics, metrics.problem or "no metrics"))
            continue
        value = metric_value(metrics.values, metric)
        if value is None:
            unranked.append((metrics, f"no '{metric}'"))
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            unranked.append((metrics, f"'{metric}' is {json.dumps(value)}, not a number"))
        else:
            scored.append((value, metrics))
    sign = -1 if mode is Mode.MAX else 1
    scored.sort(key=lambda item: (sign * item[0], item[1].run.index))
    ranked = tuple(Ranked(rank=position, metrics=metrics, value=value) for position, (value, metrics) in enumerate(scored, 1))
    return Leaderboard(metric=metric, mode=mode, ranked=ranked, unranked=tuple(unranked))


def ranked_document(entry: Ranked) -> tuple[dict[str, Any], list[str]]:
    """One ranked run, as `--format json` prints it and best-results.json keeps it; and its name clashes.

    The how-to's analysis reads `r['name']`, a metric and the parameters from the top level, so
    they are all there, beside `params` and `metrics` as they are. A name taken twice keeps, at the
    top level, spawn-tf's own field first, then the parameter (what the run was given); a metric
    under a taken name that differs from what is there is reported and stays under `metrics`.
    """
    run = entry.metrics.run
    metrics = _strict_json(dict(entry.metrics.values or {}))
    params = json.loads(json.dumps(dict(run.params)))  # as plain JSON values, as the file will hold them
    document: dict[str, Any] = {"rank": entry.rank, "name": run.name, "status": entry.metrics.status, "index": run.index,
                                "region": run.region, "fingerprint": run.fingerprint}  # fmt: skip
    own = {*document, "params", "metrics"}
    clashes = []
    for key, value in params.items():
        if key in own:
            clashes.append(f"{run.name}: parameter '{key}' is also a field of best-results.json; it is under 'params' only")
        else:
            document[key] = value
    for key, value in metrics.items():
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
