"""refine: the next stage's sweep file, around a sweep's best runs (DESIGN §7; the arithmetic is spawn_tf/refine.py).

The runs are ranked as `results` ranks them (current `success` runs, by one metric of their
metrics.json); the new file keeps the source sweep file's settings and defaults, read from the file
or from the text sweep.json carries (as `retry -o`), and is checked as `compile` checks before it
is returned.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spawn_tf import contract
from spawn_tf.collect import show
from spawn_tf.collect.aws import Aws, CollectError
from spawn_tf.collect.results import Mode, Ranked, left_out, metric_missing, rank, read_current
from spawn_tf.collect.retry import sweep_file_of
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.errors import SpawnError
from spawn_tf.refine import Axis, Choice, SourceRun, axes, name_template, refine_document, refine_runs


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    metric: str
    mode: Mode
    top: int
    choices: tuple[Choice, ...]
    points: int
    spread: float
    sweep_id: str
    metrics_file: str = contract.METRICS_FILE


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    text: str  # the new sweep file, checked
    runs: int
    top: tuple[str, ...]  # the runs refined around, best first
    axes: tuple[Axis, ...]
    already_run: int  # points left out because a run of the sweep has them (the top runs themselves among them)
    unranked: tuple[str, ...]  # "<run>: <why>" of the runs without the metric
    problems: tuple[str, ...]  # read errors (the ranking is of the runs that could be read)


_RANKED = frozenset({str(contract.Status.SUCCESS)})


def best_runs(record: SweepRecord, aws: Aws, request: Request) -> tuple[tuple[Ranked, ...], tuple[str, ...], tuple[str, ...]]:
    """The top runs (as `results` ranks them), the unranked runs' reasons and the read errors."""
    standings, found, problems = read_current(record, aws, request.metrics_file, _RANKED)
    board = rank(found, request.metric, request.mode)
    missing = metric_missing(board, found, request.metric, request.metrics_file)
    if missing is not None:
        raise missing
    if not board.ranked:
        skipped = show.left_out_line(left_out(standings, _RANKED))
        raise SpawnError(f"no run of {record.id} is ranked yet ({skipped or 'it has no runs'}): refine starts from finished runs",
                         f"`spawn-tf wait {record.id}`, then refine")  # fmt: skip
    unranked = tuple(f"{metrics.run.name}: {why}" for metrics, why in board.unranked)
    return board.ranked[: request.top], unranked, problems


def refine(record: SweepRecord, aws: Aws, request: Request, output: Path) -> Outcome:
    """The next stage's sweep file for `output` (whose folder holds the workdirs it names), checked; nothing is written."""
    from spawn_tf.expand import own_rows
    from spawn_tf.pipeline import check_file

    ranked, unranked, problems = best_runs(record, aws, request)
    with tempfile.TemporaryDirectory(prefix="refine-source-") as scratch:
        source = sweep_file_of(record, Path(scratch))
        checked = check_file(source)
    if checked.sweep is None or checked.runs is None or checked.document is None:
        raise CollectError(f"{source.name} has errors", f"`spawn-tf validate {source.name}` lists them")
    sweep = checked.sweep
    runs = [SourceRun(name=run.name, params=run.params, row=row) for run, row in zip(checked.runs, own_rows(sweep), strict=True)]
    top = _top_runs(runs, ranked, source.name)
    chosen = axes(runs, top, request.choices)
    refined = refine_runs(runs, top, chosen, sweep.defaults, spread=request.spread, points=request.points)
    if not refined.rows:
        raise SpawnError(f"every point around the top {len(top)} runs has been run already ({refined.already_run})",
                         "widen --spread, or add --points, --top or --param")  # fmt: skip
    template = name_template(sweep.name_template, runs, chosen, refined.params)
    document = refine_document(checked.document.data, sweep.defaults, template, refined.rows, request.sweep_id)
    text = _header(source.name, request, top, chosen) + _yaml(document)
    _check(text, output)
    return Outcome(text=text, runs=len(refined.rows), top=tuple(run.name for run in top), axes=chosen, already_run=refined.already_run,
                   unranked=unranked, problems=problems)  # fmt: skip


def _top_runs(runs: Sequence[SourceRun], ranked: Sequence[Ranked], source: str) -> list[SourceRun]:
    by_name = {run.name: run for run in runs}
    missing = [entry.metrics.run.name for entry in ranked if entry.metrics.run.name not in by_name]
    if missing:
        raise SpawnError(f"run {missing[0]} is ranked but {source} has no run of that name",
                         "refine the sweep file the sweep was compiled from")  # fmt: skip
    return [by_name[entry.metrics.run.name] for entry in ranked]


def _header(source: str, request: Request, top: Sequence[SourceRun], chosen: Sequence[Axis]) -> str:
    best = "highest" if request.mode is Mode.MAX else "lowest"
    spreads = ", ".join(f"{axis.name} ({axis.spacing})" for axis in chosen)
    return (f"# The next stage of {source}, written by spawn-tf refine: {request.points} values of {spreads}, spread {request.spread},\n"
            f"# around the top {len(top)} run{'' if len(top) == 1 else 's'} by {request.metric} ({best} first): {', '.join(run.name for run in top)}.\n")  # fmt: skip


def _yaml(document: dict[str, object]) -> str:
    from spawn_tf.render import sweep_yaml

    return sweep_yaml(document)


def _check(text: str, output: Path) -> None:
    """The new file must check as `compile` checks it, where it will be: a refined sweep that does not compile helps nobody."""
    from spawn_tf.pipeline import check_source

    name = output.name if output.suffix else f"{output.name}.yaml"
    checked = check_source(text.encode(), name, str(output), folder=output.parent)
    if checked.plan is None:
        rendered = "\n".join(diagnostic.render() for diagnostic in checked.diagnostics)
        raise SpawnError(f"the refined sweep for {output} does not check; nothing written:\n{rendered}")
