"""Tables: rich's on a terminal, plain columns on a pipe (stable for awk and grep)."""

from __future__ import annotations

import io

from spawn_tf.collect import show


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_drawn_table_and_a_pipe_plain_columns() -> None:
    rows = [["stage1-coarse", "completed", "4/4"], ["stage2-fine", "open", "1/4"]]
    terminal, pipe = Terminal(), io.StringIO()
    show.table(["sweep", "status", "finished"], rows, title="Sweeps", stream=terminal)
    show.table(["sweep", "status", "finished"], rows, title="Sweeps", stream=pipe)
    assert "SWEEP" in terminal.getvalue() and "┏━" in terminal.getvalue() and "│ stage2-fine   │ open" in terminal.getvalue()
    assert pipe.getvalue() == (
        "Sweeps\n"
        "SWEEP          STATUS     FINISHED\n"
        "stage1-coarse  completed  4/4\n"
        "stage2-fine    open       1/4\n"
    )


def test_progress_is_silent_on_a_pipe_and_drawn_on_a_terminal() -> None:
    pipe, terminal = io.StringIO(), Terminal()
    with show.progress("collecting", stream=pipe) as update:
        update(1, 2)
    with show.progress("collecting", stream=terminal) as update:
        update(2, 2)
    assert pipe.getvalue() == ""
    assert "collecting" in terminal.getvalue()
