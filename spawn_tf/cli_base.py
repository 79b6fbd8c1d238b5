"""The `spawn-tf` command group: its options, the one place errors become messages and exit codes, and the printing
helpers its commands share (cli.py holds the build-side commands, cli_collect.py the collector's).

Results go to stdout (only JSON with --json); diagnostics and summaries go to stderr.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from spawn_tf._version import __version__
from spawn_tf.contract import ExitCode
from spawn_tf.diagnostics import Diagnostic
from spawn_tf.errors import SpawnError


class _Group(click.Group):
    """Turns a SpawnError into its message and exit code, and a bug into one line (and a traceback only with --debug).

    The collector's and launch's commands live in modules imported only when one of their commands runs (or help
    lists them): `compile` does not pay for boto3-side or Terraform-driving code it never calls.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_modules: dict[str, str] = {}  # command name -> the module that registers it on this group

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.command_modules:
            importlib.import_module(self.command_modules[cmd_name])
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.command_modules})

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader went away (`| head -1`): click ends quietly, exit 1, nothing more written
            raise
        except SpawnError as exc:
            click.echo(f"spawn-tf: error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - the one place a bug is reported
            if ctx.params.get("debug"):
                traceback.print_exc()
            click.echo(f"spawn-tf: internal error: {type(exc).__name__}: {exc} (run again with --debug for a traceback)", err=True)
            ctx.exit(ExitCode.FAILED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spawn-tf")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors.")
def main(debug: bool) -> None:
    """Compile parameter sweeps into Terraform for AWS spot instances."""


main.command_modules = {
    **dict.fromkeys(("status", "results", "refine", "collect-results", "retry", "list-sweeps", "wait", "cancel", "bootstrap"), "spawn_tf.cli_collect"),
    **dict.fromkeys(("launch", "plan", "destroy"), "spawn_tf.cli_launch"),
    "preflight": "spawn_tf.cli_quota",
    "record-apply": "spawn_tf.cli_record",
    "report": "spawn_tf.cli_report",
}


_PROCESS = {"exit_at_once": False}  # set by one_shot: nothing the process holds is needed after its output


def program(group: click.Group) -> Callable[[], None]:
    """The process's program of a command line (the console script, `python3 -m spawn_tf.cli`): after a one-shot
    command, the process ends as soon as its output is flushed (`one_shot`). Callers of the group itself (tests,
    CliRunner) get click's usual SystemExit."""

    def run() -> None:
        try:
            group.main()
        except SystemExit as end:
            if not _PROCESS["exit_at_once"] or not isinstance(end.code, int | None):
                raise
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except (OSError, ValueError):  # a reader that went away: the exit status says the rest
                os._exit(ExitCode.FAILED)
            os._exit(end.code or 0)

    return run


def one_shot() -> None:
    """Switch off the cyclic garbage collector for a command that reads, prints and exits, and end the process
    without the interpreter's teardown once its output is flushed.

    Expansion allocates hundreds of thousands of small objects that live until exit and form no
    cycles; the collector's passes over them cost a third of `validate` at 10,000 runs, and freeing
    them one by one at exit a quarter of a second at 100,000 runs. Files are written and closed by then.
    """
    gc.disable()
    _PROCESS["exit_at_once"] = True


def report(diagnostics: Sequence[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        click.echo(diagnostic.render(), err=True)


def warn(problems: Sequence[str]) -> None:
    for problem in problems:
        click.echo(f"spawn-tf: warning: {problem}", err=True)


def count(number: int, word: str) -> str:
    """'1 run', '2 runs'."""
    return f"{number} {word}{'' if number == 1 else 's'}"


def write_file(path: Path, content: bytes) -> None:
    """A file of the user's, written whole or not at all; a folder that cannot take it is an error, not a traceback."""
    from spawn_tf.emit.files import write_atomic

    try:
        write_atomic(path, content)
    except OSError as exc:
        raise SpawnError(f"{path}: {exc.strerror or exc}") from None
