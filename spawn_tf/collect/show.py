"""How the collector's answers look: tables (rich on a terminal, plain columns when piped) and one-line summaries."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

from spawn_tf.collect.status import RunStatus, counts, iso, sweep_status
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.render import text_table

STATUS_COLUMNS = ("run", "status", "exit", "region", "instance", "attempts", "started", "finished")


def on_terminal(stream: TextIO) -> bool:
    return stream.isatty()


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None, stream: TextIO | None = None) -> None:
    """A table on `stream` (stdout): rich's on a terminal; plain, stable columns otherwise."""
    stream = stream or sys.stdout
    if on_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(*[column.upper() for column in header], title=title, title_justify="left", header_style="bold")
        for row in rows:
            rich_table.add_row(*row)
        Console(file=stream).print(rich_table)
        return
    if title:
        stream.write(title + "\n")
    stream.write(text_table(header, rows))


def summary_line(sweep: SweepRecord, statuses: Sequence[RunStatus]) -> str:
    """`sweep grid-240: running (240 runs: 12 success, 3 failed, 225 pending)`."""
    tally = ", ".join(f"{count} {status}" for status, count in counts(statuses).items())
    return f"sweep {sweep.id}: {sweep_status(statuses)} ({len(statuses)} run{'' if len(statuses) == 1 else 's'}: {tally})"


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
