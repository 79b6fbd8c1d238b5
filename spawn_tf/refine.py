"""`refine`: the next stage of a sweep, from its best runs (the how-to's "Hierarchical Parameter Sweeps"). Pure.

Around each of the top runs, each chosen numeric parameter takes `points` values spread around the
run's own value, and the runs are every combination of them, the other parameters as the top run
has them. `spread` F sets how far the values reach, the same way down for both spacings:

- linear: evenly from best*(1-F) to best*(1+F) (F = 0.5: 0.0005, 0.00075, 0.001, 0.00125, 0.0015);
- log: evenly in log from best*(1-F) to best/(1-F) (F = 0.5: a factor 2 each way: 0.0005 ... 0.002).

F is below 1, so a positive value stays positive either way. A parameter whose values in the
sweep span more than two decades is spaced in log unless told otherwise (it was searched by
factors: it is refined by factors).
"""

from __future__ import annotations

import itertools
import json
import math
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from spawn_tf import contract
from spawn_tf.contract import ExitCode
from spawn_tf.errors import SpawnError

DEFAULT_POINTS = 5
DEFAULT_SPREAD = 0.5  # the how-to's fine sweep: 0.0005 … 0.0015 around 0.001 (linear)
LOG_SPAN = 100.0  # values spanning more than two decades (max/min) are spaced in log by default
_ROUNDING_SHARE = 20  # a value is rounded by at most 1/20 of the gap to its nearest neighbour
_MAX_DIGITS = 17  # a float's repr never needs more significant digits
_RUN_ROWS = ("name",)  # keys of the top run's row a new run does not inherit: its name comes from name_template
_TEMPLATE_PREFIX = "fine"  # a written name_template's first word, as the how-to's fine-lr-0.0005


class Spacing(StrEnum):
    LINEAR = "linear"
    LOG = "log"


Number = int | float


def offsets(points: int) -> tuple[float, ...]:
    """Where the points sit, from -1 (the low end) to 1 (the high end); the middle one of an odd count is exactly 0."""
    if points < 2:
        raise ValueError("at least 2 points")
    middle = (points - 1) / 2
    return tuple((k - middle) / middle for k in range(points))


def spaced(best: float, spacing: Spacing, spread: float, points: int) -> tuple[float, ...]:
    """The points around `best`, before rounding (see the module's docstring)."""
    if not 0 < spread < 1:
        raise ValueError("spread is between 0 and 1")
    if spacing is Spacing.LOG:
        factor = 1 / (1 - spread)
        return tuple(best * factor**t for t in offsets(points))
    return tuple(best * (1 + spread * t) for t in offsets(points))


def shortest(value: float, tolerance: float) -> float:
    """`value` with the fewest significant digits that stay within `tolerance` of it (0.0007500000000001 → 0.00075)."""
    for digits in range(1, _MAX_DIGITS + 1):
        candidate = float(f"{value:.{digits}g}")
        if abs(candidate - value) <= tolerance:
            return candidate
    return value


def around(best: Number, spacing: Spacing, spread: float, points: int, *, integer: bool, positive: bool) -> tuple[Number, ...]:
    """The distinct values of one parameter around `best`, in increasing order, rounded for people to read.

    Each value moves by at most 1/20 of the gap to its nearest neighbour, so the spacing stays as
    chosen; `best` itself (the middle of an odd count) is kept exactly, to be recognised as run
    already. Integers are rounded to integers, and with `positive`, values that rounding brought to
    zero or below are left out.
    """
    raw = spaced(float(best), spacing, spread, points)
    found: list[Number] = []
    for index, (t, value) in enumerate(zip(offsets(points), raw, strict=True)):
        if t == 0:
            found.append(best)
            continue
        if integer:
            found.append(round(value))
            continue
        gaps = [abs(value - raw[other]) for other in (index - 1, index + 1) if 0 <= other < len(raw)]
        found.append(shortest(value, min(gaps) / _ROUNDING_SHARE))
    return tuple(sorted({value for value in found if value > 0 or not positive}))


def auto_spacing(values: Iterable[Number]) -> Spacing:
    """log for positive values spanning more than two decades, else linear."""
    seen = list(values)
    if seen and min(seen) > 0 and max(seen) / min(seen) > LOG_SPAN:
        return Spacing.LOG
    return Spacing.LINEAR


@dataclass(frozen=True, slots=True)
class Choice:
    """A `--param NAME[:log|:linear]`: the spacing None when it is to be decided from the values."""

    name: str
    spacing: Spacing | None = None


def parse_choice(text: str) -> Choice:
    """`NAME`, `NAME:log` or `NAME:linear` (a parameter's name has no colon: it is an environment variable's)."""
    name, colon, spacing = text.partition(":")
    if not name or (colon and spacing not in tuple(Spacing)):
        raise SpawnError(f"--param '{text}' is not NAME, NAME:log or NAME:linear", exit_code=ExitCode.USAGE)
    return Choice(name, Spacing(spacing) if colon else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRun:
    """A run of the source sweep: its parameters (after defaults) and its own row as written."""

    name: str
    params: Mapping[str, Any]
    row: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Axis:
    """A parameter that refine varies, how, and the kind of values it keeps."""

    name: str
    spacing: Spacing
    integer: bool
    positive: bool


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def axes(runs: Sequence[SourceRun], top: Sequence[SourceRun], choices: Sequence[Choice]) -> tuple[Axis, ...]:
    """The parameters to vary: those chosen, else every numeric one that varies across the sweep's runs."""
    varying = [name for name in _param_order(runs) if _varies_numerically(runs, name) and all(name in run.params for run in top)]
    names = list(dict.fromkeys(choice.name for choice in choices)) or varying
    if not names:
        raise SpawnError("no numeric parameter varies across the sweep's runs: nothing to refine", "name one with --param NAME",
                         exit_code=ExitCode.USAGE)  # fmt: skip
    spacings = {choice.name: choice.spacing for choice in choices}
    found = []
    for name in names:
        for run in top:
            value = run.params.get(name)
            if value is None:
                raise SpawnError(f"'{name}' is not a parameter of run {run.name}", f"its parameters are: {', '.join(run.params)}")
            if not _numeric(value):
                raise SpawnError(f"parameter '{name}' is {json.dumps(value, default=str)} in run {run.name}, not a number",
                                 "refine spreads numeric parameters; leave this one out of --param")  # fmt: skip
        values = [run.params[name] for run in runs if _numeric(run.params.get(name))]
        spacing = spacings.get(name) or auto_spacing(values)
        if spacing is Spacing.LOG and any(run.params[name] <= 0 for run in top):
            raise SpawnError(f"log spacing needs positive values, and '{name}' is {min(run.params[name] for run in top)} in a top run",
                             f"use --param {name}:linear")  # fmt: skip
        found.append(Axis(name=name, spacing=spacing, integer=all(isinstance(value, int) for value in values),
                          positive=all(value > 0 for value in values)))  # fmt: skip
    return tuple(found)


def _param_order(runs: Iterable[SourceRun]) -> list[str]:
    return list(dict.fromkeys(name for run in runs for name in run.params))


def _varies_numerically(runs: Sequence[SourceRun], name: str) -> bool:
    values = [run.params.get(name) for run in runs if name in run.params]
    return all(_numeric(value) for value in values) and len(set(values)) > 1


def identity(params: Mapping[str, Any]) -> str:
    """Parameters compared by value, numbers as numbers (1 and 1.0 alike): a point already run is recognised."""
    return json.dumps({key: float(value) if _numeric(value) else value for key, value in params.items()}, sort_keys=True, default=str)


@dataclass(frozen=True, slots=True, kw_only=True)
class Refined:
    """The new runs (their rows, as a sweep file holds them), and how many points were left out as run already."""

    rows: tuple[dict[str, Any], ...]
    params: tuple[Mapping[str, Any], ...]  # each new run's parameters, for its name
    already_run: int


def refine_runs(runs: Sequence[SourceRun], top: Sequence[SourceRun], chosen: Sequence[Axis], defaults: Mapping[str, Any], *,
                spread: float, points: int) -> Refined:  # fmt: skip
    """Every combination of the chosen parameters' values around each top run, best run first, de-duplicated,
    without the points a run of the sweep has already."""
    run_already = {identity(run.params) for run in runs}
    already, seen = set(), set()
    rows, params = [], []
    for run in top:
        values = [around(run.params[axis.name], axis.spacing, spread, points, integer=axis.integer, positive=axis.positive)
                  for axis in chosen]  # fmt: skip
        for combination in itertools.product(*values):
            new = dict(zip((axis.name for axis in chosen), combination, strict=True))
            point = {**run.params, **new}
            key = identity(point)
            if key in run_already:
                already.add(key)
            if key in run_already or key in seen:
                continue
            seen.add(key)
            rows.append(_row(run.row, new, defaults))
            params.append(point)
    return Refined(rows=tuple(rows), params=tuple(params), already_run=len(already))


def _row(row: Mapping[str, Any], new: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The top run's own row without its name, the new values under the keys as written (`param:` escapes kept)."""
    written = {key.removeprefix(contract.PARAM_ESCAPE_PREFIX): key for key in [*defaults, *row]}
    out = {key: value for key, value in row.items() if key not in _RUN_ROWS}
    for name, value in new.items():
        out[written.get(name, name)] = value
    return out


def name_template(source: str | None, runs: Sequence[SourceRun], chosen: Sequence[Axis], new: Sequence[Mapping[str, Any]]) -> str:
    """The source's name_template when it tells the new runs apart, else one like the how-to's `fine-lr-{learning_rate}`.

    A template tells them apart when it uses `{index}` or every parameter that differs among them.
    """
    differing = {axis.name for axis in chosen}
    differing |= {name for name in _param_order(runs) if len({identity({name: point.get(name)}) for point in new}) > 1}
    if source is not None:
        fields = {field for _, field, _, _ in string.Formatter().parse(source) if field}
        if "index" in fields or differing <= fields:
            return source
    names = [name for name in _param_order(runs) if name in differing]
    short = {name: "".join(word[0] for word in name.replace("-", "_").split("_") if word) if "_" in name or "-" in name else name
             for name in names}  # fmt: skip
    if len(set(short.values())) < len(short):  # two names with the same initials: spelled out
        short = {name: name for name in names}
    return "-".join([_TEMPLATE_PREFIX, *(f"{short[name]}-{{{name}}}" for name in names)])


# Top-level keys refine writes itself; it keeps the others (results, regions, early_stopping, ...) as written.
_REWRITTEN_KEYS = frozenset({"sweep", "defaults", "params", "grid", "random", "name_template"})


def refine_document(document: Mapping[str, Any], defaults: Mapping[str, Any], template: str, rows: Sequence[Mapping[str, Any]],
                    sweep_id: str) -> dict[str, Any]:  # fmt: skip
    """The next stage's sweep file: the source's settings and defaults, the new runs named by `template`."""
    found: dict[str, Any] = {"sweep": sweep_id}
    found.update({key: document[key] for key in contract.SWEEP_KEYS if key in document and key not in _REWRITTEN_KEYS})
    if defaults:
        found["defaults"] = dict(defaults)
    found["name_template"] = template
    found["params"] = [dict(row) for row in rows]
    return found
