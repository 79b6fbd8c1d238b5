"""The pipeline examples: the GitHub Actions workflow parses, and every spawn-tf command in it exists
with the flags and arguments it is given; the example sweep is valid."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from spawn_tf.cli import main
from spawn_tf.pipeline import compile_file

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "sweeps.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _run_scripts(workflow: dict) -> Iterator[str]:
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                yield step["run"]


def _spawn_tf_commands(script: str) -> Iterator[list[str]]:
    """Each `spawn-tf ...` invocation in a shell script, as its argument list (up to an operator or redirection)."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = list(lexer)
        for start in (i for i, word in enumerate(words) if word == "spawn-tf"):
            args = words[start + 1 :]
            end = next((i for i, word in enumerate(args) if set(word) <= set(lexer.punctuation_chars)), len(args))
            yield args[:end]


def _commands() -> list[list[str]]:
    return [args for script in _run_scripts(_workflow()) for args in _spawn_tf_commands(script)]


def test_workflow_parses_with_the_promised_jobs() -> None:
    workflow = _workflow()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert set(workflow["jobs"]) == {"check", "plan", "comment", "apply"}
    apply = workflow["jobs"]["apply"]
    # One group for every apply (push, schedule): two applies never overlap; a pull request's runs have their own.
    assert "'sweeps-apply'" in workflow["concurrency"]["group"] and "concurrency" not in apply
    assert all("needs.check.outputs.roots != '[]'" in workflow["jobs"][job]["if"] for job in ("plan", "apply"))  # no empty matrix
    assert workflow["jobs"]["plan"]["strategy"]["matrix"]["root"] == "${{ fromJSON(needs.check.outputs.roots) }}"
    terraform = [step["run"] for job in ("plan", "apply") for step in workflow["jobs"][job]["steps"] if "run" in step]
    subcommands = [shlex.split(command)[2] for command in terraform]  # terraform -chdir=ROOT SUBCOMMAND ...
    assert subcommands == ["init", "validate", "plan", "init", "apply"]


def test_workflow_uses_the_promised_spawn_tf_commands() -> None:
    used = {(args[0], flag) for args in _commands() for flag in args if flag.startswith("--")}
    assert {("validate", "--strict"), ("compile", "--check"), ("compile", "--require-backend"), ("diff", "--base"),
            ("diff", "--format"), ("cost", "--format")} <= used  # fmt: skip


@pytest.mark.parametrize("args", _commands(), ids=shlex.join)
def test_workflow_spawn_tf_command_exists_with_its_flags(args: list[str]) -> None:
    ctx = click.Context(main)
    command = main.get_command(ctx, args[0])
    assert command is not None, f"no command {args[0]}"
    # Shell variables and globs stand for a file name; click parses exactly as it would at run time.
    concrete = [re.sub(r"\$\w+|\$\{\w+\}|\*", "x", arg) for arg in args[1:]]
    command.make_context(args[0], concrete, parent=ctx)  # raises click.UsageError on an unknown flag or a bad count


def test_command_check_rejects_an_unknown_flag() -> None:
    [args] = list(_spawn_tf_commands('spawn-tf cost "$sweep" --format markdown --budget-only >> comment.md || status=1'))
    assert args == ["cost", "$sweep", "--format", "markdown", "--budget-only"]
    with pytest.raises(click.NoSuchOption):
        test_workflow_spawn_tf_command_exists_with_its_flags(args)


def test_example_sweep_compiles_with_a_backend_within_its_budget() -> None:
    """As the workflow's check job compiles it: remote state required, the budget checked without AWS."""
    checked, files = compile_file(ROOT / "examples" / "ci" / "sweeps" / "lr-search.yaml", require_backend=True)
    assert files is not None and checked.sweep is not None, [d.render() for d in checked.diagnostics]
    assert checked.sweep.backend is not None and checked.sweep.budget is not None and checked.diagnostics == ()
