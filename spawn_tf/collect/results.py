"""The leaderboard: each run's metrics.json, ranked by one metric (DESIGN §7).

Reading is one GET per run (the file is the workload's own, and S3 has no batch read), all at once;
ranking is pure. A metric that is missing, not a number or NaN puts the run in `unranked`, never
at the bottom of the ranking as if it were a value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from spawn_tf.collect.aws import AWS_ERRORS, Aws, error_text, in_parallel, is_missing
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.manifest import RunRecord


class Mode(StrEnum):
    MAX = "max"  # higher is better (accuracy)
    MIN = "min"  # lower is better (loss)


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """A run's metrics file: its content, or why there is none (`missing`, or what went wrong)."""

    run: RunRecord
    values: Mapping[str, Any] | None
    problem: str | None  # None when read; "no <file>" when absent; else the error


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


def read_metrics(sweep: SweepRecord, aws: Aws, file_name: str) -> tuple[tuple[Metrics, ...], tuple[str, ...]]:
    """Every run's metrics file, in the sweep's order, and the errors that are not "no such file".

    When no file at all can be read for an error other than its absence, that error is raised.
    """
    s3 = aws.s3(sweep.results.region)
    errors: list[BaseException] = []

    def read(run: RunRecord) -> Metrics:
        key = sweep.results.run_folder(run.name) + file_name
        try:
            body = s3.get_object(Bucket=sweep.results.bucket, Key=key)["Body"].read()
        except AWS_ERRORS as exc:
            if is_missing(exc):
                return Metrics(run=run, values=None, problem=f"no {file_name}")
            errors.append(exc)
            return Metrics(run=run, values=None, problem=f"s3://{sweep.results.bucket}/{key}: {error_text(exc)}")
        try:
            values = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return Metrics(run=run, values=None, problem=f"{file_name} is not JSON ({exc})")
        if not isinstance(values, dict):
            return Metrics(run=run, values=None, problem=f"{file_name} is not a JSON object")
        return Metrics(run=run, values=values, problem=None)

    found = tuple(in_parallel(read, sweep.runs))
    if errors and len(errors) == len(found):
        raise errors[0]
    return found, tuple(metrics.problem for metrics in found if metrics.problem and metrics.problem.startswith("s3://"))


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


def ranked_document(entry: Ranked, metric: str) -> dict[str, Any]:
    """One ranked run, as `--format json` prints it and best-results.json keeps it."""
    run = entry.metrics.run
    return {
        "rank": entry.rank,
        "name": run.name,
        "index": run.index,
        "region": run.region,
        metric: entry.value,
        "params": dict(run.params),
        "metrics": _strict_json(dict(entry.metrics.values or {})),
    }


def _strict_json(value: Any) -> Any:
    """NaN and infinities (which Python's JSON reader accepts) as strings: the output stays JSON that every reader takes."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict_json(item) for item in value]
    return value
