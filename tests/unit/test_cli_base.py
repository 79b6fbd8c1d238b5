"""The command group's one error handler: a SpawnError is its message, its hint and its exit code; a bug is one line."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
from click.testing import CliRunner

from spawn_tf.cli import main as cli_main
from spawn_tf.cli_base import _Group
from spawn_tf.contract import ExitCode
from spawn_tf.errors import SpawnError


def _group_raising(error: Exception) -> click.Group:
    @click.group(cls=_Group)
    @click.option("--debug", is_flag=True)
    def group(debug: bool) -> None:
        """A group like spawn-tf's."""

    @group.command()
    def fail() -> None:
        raise error

    return group


def test_a_spawn_error_is_printed_with_its_hint_and_exits_with_its_code() -> None:
    result = CliRunner().invoke(_group_raising(SpawnError("the bucket is gone", "create it", ExitCode.PARTIAL)), ["fail"])
    assert result.exit_code == ExitCode.PARTIAL
    assert result.stderr == "spawn-tf: error: the bucket is gone\n  hint: create it\n"


def test_a_spawn_error_without_a_hint_is_one_line_and_exits_1_by_default() -> None:
    result = CliRunner().invoke(_group_raising(SpawnError("no such sweep")), ["fail"])
    assert result.exit_code == ExitCode.FAILED == 1
    assert result.stderr == "spawn-tf: error: no such sweep\n"


def test_a_bug_is_an_internal_error() -> None:
    result = CliRunner().invoke(_group_raising(KeyError("x")), ["fail"])
    assert result.exit_code == ExitCode.FAILED
    assert result.stderr == "spawn-tf: internal error: KeyError: 'x' (run again with --debug for a traceback)\n"


def test_the_named_exit_codes_keep_their_numbers() -> None:
    assert (ExitCode.TIMEOUT, ExitCode.INTERRUPTED) == (2, 130)  # DESIGN §7: `wait` gives up with 2; Ctrl-C is the shell's 128 + SIGINT


def test_every_command_module_registers_exactly_the_commands_it_is_named_for() -> None:
    """The lazy map and the modules' own registrations agree: no command missing from help, none named twice."""
    modules = set(cli_main.command_modules.values())
    for module in modules:
        importlib.import_module(module)
    registered = {name: command.callback.__module__ for name, command in cli_main.commands.items() if command.callback.__module__ in modules}
    assert registered == cli_main.command_modules


def test_compile_does_not_import_the_collector_or_launch() -> None:
    code = "import sys, spawn_tf.cli; print(sorted(m for m in sys.modules if m.startswith(('spawn_tf.cli_', 'spawn_tf.launch', 'spawn_tf.collect', 'boto'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "['spawn_tf.cli_base']"


def test_a_lazily_registered_command_runs() -> None:
    result = CliRunner().invoke(cli_main, ["plan", "--help"])
    assert result.exit_code == 0 and "--detailed-exitcode" in result.output
