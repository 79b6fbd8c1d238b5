"""The `spawn-tf` command: parse arguments, call the library, print, exit with a contract code.

Results go to stdout (only JSON with --json); diagnostics and summaries go to stderr.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from spawn_tf import __version__, contract
from spawn_tf.contract import ExitCode
from spawn_tf.diagnostics import Diagnostic, did_you_mean, has_errors, summary
from spawn_tf.pipeline import check_file, compile_file


class _Group(click.Group):
    """Turns a bug into one line (and a traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
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


def _one_shot() -> None:
    """Switch off the cyclic garbage collector for a command that reads, prints and exits.

    Expansion allocates hundreds of thousands of small objects that live until exit and form no
    cycles; the collector's passes over them cost a third of `validate` at 10,000 runs.
    """
    gc.disable()


def _report(diagnostics: Sequence[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        click.echo(diagnostic.render(), err=True)


def _failed(diagnostics: Sequence[Diagnostic], strict: bool) -> bool:
    return has_errors(diagnostics) or (strict and bool(diagnostics))


_SWEEP_FILE = click.Path(dir_okay=False, path_type=Path)


@main.command()
@click.argument("files", nargs=-1, required=True, type=_SWEEP_FILE)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as JSON on stdout.")
def validate(files: tuple[Path, ...], strict: bool, as_json: bool) -> None:
    """Check sweep files; report every problem with its place."""
    _one_shot()
    results = []
    failed = False
    for path in files:
        checked = check_file(path)
        bad = _failed(checked.diagnostics, strict)
        failed = failed or bad
        runs = len(checked.runs) if checked.runs is not None else None
        results.append({"file": str(path), "valid": not bad, "runs": runs, "diagnostics": [d.as_json() for d in checked.diagnostics]})
        if not as_json:
            _report(checked.diagnostics)
            counted = summary(checked.diagnostics)
            verdict = f"{runs} run{'' if runs == 1 else 's'}" if runs is not None and not bad else "invalid"
            click.echo(f"{path}: {verdict}" + (f" ({counted})" if counted else ""), err=True)
    if as_json:
        click.echo(json.dumps({"files": results}, indent=2, ensure_ascii=False))
    sys.exit(ExitCode.FAILED if failed else ExitCode.OK)


@main.command()
@click.argument("file", type=_SWEEP_FILE)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "yaml"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def expand(file: Path, fmt: str, strict: bool) -> None:
    """Show the runs a sweep file launches, in order."""
    _one_shot()
    from spawn_tf.render import render_runs

    checked = check_file(file)
    _report(checked.diagnostics)
    if checked.runs is None or _failed(checked.diagnostics, strict):
        click.echo(f"{file}: invalid ({summary(checked.diagnostics)})", err=True)
        sys.exit(ExitCode.FAILED)
    click.echo(render_runs(checked.runs, fmt), nl=False)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="json", show_default=True)
def schema(fmt: str) -> None:
    """Print the sweep file's JSON Schema (for editors), or its reference in Markdown."""
    from spawn_tf.resources import resource, sweep_schema

    if fmt == "markdown":
        from spawn_tf.reference import markdown_reference

        click.echo(markdown_reference(sweep_schema()), nl=False)
    else:
        click.echo(resource("schemas", "sweep.schema.json").read_text(encoding="utf-8"), nl=False)


@main.command(name="compile")
@click.argument("file", type=_SWEEP_FILE)
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=Path("build"), show_default=True,
              help="Folder to write <sweep>/ into.")  # fmt: skip
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the folder differs from what the sweep compiles to.")
@click.option("--require-backend", is_flag=True, help="Fail unless terraform.backend is set (for pipelines that apply).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def compile_command(file: Path, output: Path, check: bool, require_backend: bool, strict: bool) -> None:
    """Compile a sweep file into Terraform roots under OUTPUT/<sweep>/."""
    from spawn_tf.emit.files import tree_differences, write_tree

    _one_shot()
    checked, files = compile_file(file, require_backend=require_backend, two_cores=len(os.sched_getaffinity(0)) > 1)
    _report(checked.diagnostics)
    if files is None or checked.plan is None or _failed(checked.diagnostics, strict):
        click.echo(f"{file}: not compiled ({summary(checked.diagnostics)})", err=True)
        sys.exit(ExitCode.FAILED)
    destination = output / checked.plan.sweep.id
    if check:
        differences = tree_differences(destination, files)
        for line in differences:
            click.echo(f"{destination}: {line}", err=True)
        click.echo(f"{destination}: {'differs from' if differences else 'matches'} {file}", err=True)
        sys.exit(ExitCode.FAILED if differences else ExitCode.OK)
    write_tree(destination, files)
    plan = checked.plan
    largest = max(checked.sizes, key=lambda size: size.size)
    form = "compressed" if largest.compressed else "raw"
    roots = ", ".join(f"{root.name} ({len(root.runs)})" for root in plan.roots)
    click.echo(f"{destination}: {len(checked.runs or ())} runs in {len(plan.roots)} roots: {roots}", err=True)
    click.echo(f"user-data: largest {largest.size} of {contract.MAX_USER_DATA_BYTES} bytes ({form}, run {largest.run.name})", err=True)


@main.command()
@click.argument("file", type=_SWEEP_FILE)
@click.option("--run", "run_name", required=True, help="The run whose user-data to print.")
@click.option("--account-id", help="AWS account id, for the default results bucket (12 zeros without it).")
def userdata(file: Path, run_name: str, account_id: str | None) -> None:
    """Print the exact user-data a run's instance receives (uncompressed)."""
    from spawn_tf.userdata import user_data

    checked = check_file(file)
    if checked.plan is None or checked.runs is None:
        _report(checked.diagnostics)
        sys.exit(ExitCode.FAILED)
    run = next((run for run in checked.runs if run.name == run_name), None)
    if run is None:
        names = [run.name for run in checked.runs]
        click.echo(f"spawn-tf: no run named '{run_name}' in {file}", err=True)
        hint = did_you_mean(run_name, names, cutoff=0.6)
        if hint:
            click.echo(f"  hint: {hint}", err=True)
        sys.exit(ExitCode.FAILED)
    sys.stdout.write(user_data(checked.plan, run, account_id))
