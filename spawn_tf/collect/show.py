"""How the collector's answers look: tables (rich on a terminal, plain columns when piped) and one-line summaries."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TextIO

from spawn_tf.collect.progress import RunProgress
from spawn_tf.collect.results import Leaderboard, Mode
from spawn_tf.collect.status import RunStatus, counts, iso, sweep_status, waiting_for_capacity
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.contract import Status
from spawn_tf.render import text_table
from spawn_tf.stopping import Rule
from spawn_tf.values import env_text

STATUS_COLUMNS = ("run", "status", "exit", "region", "instance", "attempts", "started", "finished")
# What a terminal too narrow for the whole status table leaves out, first to last: the run, its status and
# progress stay whole (piped output and --json keep every column).
NARROW_DROPS = ("instance", "started", "region", "attempts", "exit", "finished")


def on_terminal(stream: TextIO) -> bool:
    return stream.isatty()


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None, stream: TextIO | None = None,
          drops: Sequence[str] = ()) -> None:  # fmt: skip
    """A table on `stream` (stdout): rich's on a terminal, without the `drops` columns it has no room for; plain,
    stable columns otherwise."""
    stream = stream or sys.stdout
    if on_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        console = Console(file=stream)
        header, rows, hidden = fit(header, rows, console.width, drops)
        caption = f"not shown at this width: {', '.join(hidden)}" if hidden else None
        rich_table = Table(*[column.upper() for column in header], title=title, title_justify="left", header_style="bold",
                           caption=caption, caption_justify="left")  # fmt: skip
        for row in rows:
            rich_table.add_row(*row)
        console.print(rich_table)
        return
    if title:
        stream.write(title + "\n")
    stream.write(text_table(header, rows))


def fit(header: Sequence[str], rows: Sequence[Sequence[str]], width: int, drops: Sequence[str]) -> tuple[list[str], list[list[str]], list[str]]:
    """The columns that fit `width` in a boxed table (a column takes its widest cell and 3 more, the box 1):
    the `drops` columns left out in their order until the rest fits; and those left out."""
    keep = list(range(len(header)))
    hidden: list[str] = []

    def needed() -> int:
        return 1 + sum(3 + max(len(row[i]) for row in [header, *rows]) for i in keep)

    for name in drops:
        if needed() <= width:
            break
        if name in header:
            keep.remove(header.index(name))
            hidden.append(name)
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows], hidden


def summary_line(sweep: SweepRecord, statuses: Sequence[RunStatus]) -> str:
    """`sweep grid-240: running (240 runs: 12 success, 3 failed, 225 pending)`."""
    tally = ", ".join(f"{count} {status}" for status, count in counts(statuses).items())
    return f"sweep {sweep.id}: {sweep_status(statuses)} ({len(statuses)} run{'' if len(statuses) == 1 else 's'}: {tally})"


def status_table(statuses: Sequence[RunStatus], rule: Rule | None) -> tuple[list[str], list[list[str]], list[str]]:
    """The status table: STATUS_COLUMNS, then, once progress is known, STEP (the run's last step) and one metric
    (the early-stopping one, else the first reported) so that it stays narrow; and a line per early stop."""
    header, rows = list(STATUS_COLUMNS), status_rows(statuses)
    asked = [status.progress for status in statuses if status.progress is not None]
    metric = rule.metric if rule is not None else min((name for found in asked for name in found.metrics), default=None)
    if asked and metric is not None:
        header += ["step", metric]
        rows = [[*row, *_progress_cells(status.progress, metric)] for row, status in zip(rows, statuses, strict=True)]
    notes = [f"{status.run.name}: {status.reason}" for status in statuses if status.early_stop is not None]
    return header, rows, notes + capacity_notes(statuses)


def capacity_notes(statuses: Sequence[RunStatus]) -> list[str]:
    """A line per run with live capacity markers (a pending one's `capacity` reason), and how many runs wait for capacity."""
    lines = [f"{status.run.name}: {status.reason if status.status is Status.PENDING else status.capacity.explain()}"
             for status in statuses if status.capacity is not None]  # fmt: skip
    waiting = waiting_for_capacity(statuses)
    return lines + ([f"{waiting} run{'' if waiting == 1 else 's'} waiting for capacity"] if waiting else [])


def _progress_cells(progress: RunProgress | None, metric: str) -> list[str]:
    """The last step and the metric's last value (`@step` when reported at an earlier step); `?` when unread, `-` when none."""
    if progress is None or not progress.read:
        return ["?", "?"]
    last = progress.metrics.get(metric)
    value = "-" if last is None else _number(last.value) + ("" if last.step == progress.step else f"@{last.step}")
    return ["-" if progress.step is None else str(progress.step), value]


def status_rows(statuses: Sequence[RunStatus]) -> list[list[str]]:
    return [
        [
            status.run.name,
            str(status.status),
            "-" if status.exit_code is None else str(status.exit_code),
            status.run.region,
            status.instance_id or "-",
            str(status.attempts),
            _when(status.started_at),
            _when(status.finished_at),
        ]
        for status in statuses
    ]


def _when(moment: datetime | None) -> str:
    return iso(moment) or "-"


@contextmanager
def progress(description: str, stream: TextIO | None = None) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on a terminal (stderr); nothing when piped. Yields `update(done, total)`."""
    stream = stream or sys.stderr
    if not on_terminal(stream):
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=stream), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _leaderboard_rows(board: Leaderboard, top: int) -> tuple[list[str], list[list[Any]]]:
    """Rank, name, status, the metric (and where it is from, when some value is a progress report) and each
    parameter (as exported) of the top runs."""
    shown = board.ranked[:top]
    params = list(dict.fromkeys(key for entry in shown for key in entry.metrics.run.params))
    source = ["source"] if board.from_progress else []
    rows = [[entry.rank, entry.metrics.run.name, entry.metrics.status, entry.value, *([entry.source] if source else []),
             *[entry.metrics.run.params.get(key, "") for key in params]] for entry in shown]  # fmt: skip
    return ["rank", "name", "status", board.metric, *source, *params], rows


def leaderboard(board: Leaderboard, top: int, *, analyzed: int, stream: TextIO | None = None) -> None:
    """The seed's "Top 10 Results" table, then how many runs had the metric and the best one."""
    stream = stream or sys.stdout
    header, rows = _leaderboard_rows(board, top)
    better = "higher" if board.mode is Mode.MAX else "lower"
    cells = [[str(row[0]), row[1], row[2], _number(row[3]), *[env_text(value) for value in row[4:]]] for row in rows]
    table(header, cells, title=f"Top {len(rows)} Results by {board.metric} ({better} is better):", stream=stream)
    if rows:
        stream.write(f"\nAnalyzed {analyzed} experiments, {len(board.ranked)} with {board.metric}\n")
        where = f" ({board.ranked[0].source})" if board.from_progress else ""
        stream.write(f"Best: {rows[0][1]} with {board.metric} = {_number(rows[0][3])}{where}\n")


def left_out_line(tally: dict[str, int]) -> str | None:
    """`3 runs not ranked: 2 stale, 1 failed`, or None when every run was considered."""
    total = sum(tally.values())
    if not total:
        return None
    return f"{total} run{'' if total == 1 else 's'} not ranked: " + ", ".join(f"{count} {status}" for status, count in tally.items())


def leaderboard_csv(board: Leaderboard, top: int) -> str:
    header, rows = _leaderboard_rows(board, top)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue()


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
