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


_PRICES = click.Path(dir_okay=False, path_type=Path)


@main.command(name="compile")
@click.argument("files", nargs=-1, required=True, type=_SWEEP_FILE)
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=Path("build"), show_default=True,
              help="Folder to write <sweep>/ into.")  # fmt: skip
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the folder differs from what the sweep compiles to.")
@click.option("--require-backend", is_flag=True, help="Fail unless terraform.backend is set (for pipelines that apply).")
@click.option("--prices", type=_PRICES, help="Price file for the budget check (default: the sweep's budget.prices).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def compile_command(
    *, files: tuple[Path, ...], output: Path, check: bool, require_backend: bool, prices: Path | None, strict: bool
) -> None:
    """Compile sweep files into Terraform roots under OUTPUT/<sweep>/."""
    _one_shot()
    two_cores = len(os.sched_getaffinity(0)) > 1
    written: dict[Path, Path] = {}  # destination -> the file compiled into it
    failed = [
        not _compile_one(
            file,
            output=output,
            check=check,
            require_backend=require_backend,
            prices=prices,
            strict=strict,
            two_cores=two_cores,
            written=written,
        )
        for file in files
    ]
    sys.exit(ExitCode.FAILED if any(failed) else ExitCode.OK)


def _compile_one(
    file: Path,
    *,
    output: Path,
    check: bool,
    require_backend: bool,
    prices: Path | None,
    strict: bool,
    two_cores: bool,
    written: dict[Path, Path],
) -> bool:
    from spawn_tf.emit.files import tree_differences, write_tree

    checked, files = compile_file(file, require_backend=require_backend, two_cores=two_cores, prices=prices)
    _report(checked.diagnostics)
    if files is None or checked.plan is None or _failed(checked.diagnostics, strict):
        click.echo(f"{file}: not compiled ({summary(checked.diagnostics)})", err=True)
        return False
    destination = output / checked.plan.sweep.id
    if destination in written:
        click.echo(f"{file}: error: sweep id '{checked.plan.sweep.id}' is also the id of {written[destination]}", err=True)
        click.echo("  hint: give each sweep file its own 'sweep:' id", err=True)
        return False
    written[destination] = file
    if check:
        differences = tree_differences(destination, files)
        for line in differences:
            click.echo(f"{destination}: {line}", err=True)
        click.echo(f"{destination}: {'differs from' if differences else 'matches'} {file}", err=True)
        return not differences
    write_tree(destination, files)
    plan = checked.plan
    largest = max(checked.sizes, key=lambda size: size.size)
    form = "compressed" if largest.compressed else "raw"
    roots = ", ".join(f"{root.name} ({len(root.runs)})" for root in plan.roots)
    click.echo(f"{destination}: {len(checked.runs or ())} runs in {len(plan.roots)} roots: {roots}", err=True)
    click.echo(f"user-data: largest {largest.size} of {contract.MAX_USER_DATA_BYTES} bytes ({form}, run {largest.run.name})", err=True)
    return True


_REPORT_FORMAT = click.Choice(["text", "markdown", "json"])


def _price_options(command: Any) -> Any:
    """--prices and --live, shared by `cost` and `diff`."""
    command = click.option(
        "--live", is_flag=True, help="Ask AWS for current prices (Price List API, spot price history); needs credentials."
    )(command)
    return click.option("--prices", type=_PRICES, help="Price file (CSV: region,instance_type,on_demand,spot,date). Default: the sweep's budget.prices.")(command)  # fmt: skip


def _fetcher(live: bool, prices: Path | None, fetched: list[Any] | None = None) -> Any:
    """The live price source for --live (boto3 is imported only then), or None."""
    if not live:
        return None
    if prices is not None:
        raise click.UsageError("--live and --prices are two price sources; give one")
    import datetime as dt

    from spawn_tf.prices import aws_clients, fetch_prices

    def fetch(pairs: set[tuple[str, str]]) -> Any:
        table = fetch_prices(pairs, aws_clients(), dt.datetime.now(dt.UTC))
        if fetched is not None:
            fetched.append(table)
        return table

    return fetch


@main.command()
@click.argument("file", type=_SWEEP_FILE)
@_price_options
@click.option("--save-prices", type=click.Path(dir_okay=False, path_type=Path), help="With --live: also write the prices as a price file.")
@click.option("--format", "fmt", type=_REPORT_FORMAT, default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def cost(*, file: Path, prices: Path | None, live: bool, save_prices: Path | None, fmt: str, as_json: bool) -> None:
    """Worst-case cost (runs x ttl x hourly price) per region and instance type, and the spot saving.

    With a budget in the sweep, exit 1 when the estimate exceeds it.
    """
    from spawn_tf.cost import estimate_as_json, render_estimate
    from spawn_tf.pipeline import estimate_file
    from spawn_tf.prices import render_price_file

    if save_prices is not None and not live:
        raise click.UsageError("--save-prices writes the prices read with --live")
    fetched: list[Any] = []
    checked, estimate = estimate_file(check_file(file), file, prices=prices, fetch=_fetcher(live, prices, fetched))
    _report(checked.diagnostics)
    if save_prices is not None and fetched:
        save_prices.write_text(render_price_file(fetched[0]), encoding="utf-8")
        click.echo(f"{save_prices}: {len(fetched[0].prices)} prices saved", err=True)
    if estimate is None:
        if not has_errors(checked.diagnostics):
            click.echo(f"spawn-tf: no prices for {file}", err=True)
            click.echo("  hint: pass --prices FILE or --live, or name budget.prices in the sweep", err=True)
        sys.exit(ExitCode.FAILED)
    budget = checked.sweep.budget.max_usd if checked.sweep and checked.sweep.budget else None
    if as_json or fmt == "json":
        click.echo(json.dumps(estimate_as_json(estimate, budget), indent=2, ensure_ascii=False))
    else:
        click.echo(render_estimate(estimate, budget, markdown=fmt == "markdown"), nl=False)
    sys.exit(ExitCode.FAILED if has_errors(checked.diagnostics) else ExitCode.OK)


@main.command()
@click.argument("files", nargs=-1, required=True, type=_SWEEP_FILE, metavar="[OLD] NEW")
@click.option("--base", "base", metavar="GIT_REF", help="Compare FILE with its version at this commit (e.g. origin/main).")
@_price_options
@click.option("--format", "fmt", type=_REPORT_FORMAT, default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="Most runs listed in text and markdown.")
def diff(*, files: tuple[Path, ...], base: str | None, prices: Path | None, live: bool, fmt: str, as_json: bool, limit: int) -> None:
    """Runs added, removed and changed between OLD and NEW (or NEW and its version at --base), roots touched, cost delta."""
    from spawn_tf.diff import diff_as_json, render_diff
    from spawn_tf.gitref import GitError, read_at_ref
    from spawn_tf.pipeline import Checked, check_source, diff_checked

    if len(files) != (1 if base else 2):
        raise click.UsageError("give OLD NEW, or NEW --base GIT_REF")
    new_path = files[-1]
    old: Checked | None
    if base:
        try:
            raw, old_source = read_at_ref(new_path, base)
        except GitError as exc:
            click.echo(f"spawn-tf: {exc}" + (f"\n  hint: {exc.hint}" if exc.hint else ""), err=True)
            sys.exit(ExitCode.FAILED)
        old = None if raw is None else check_source(raw, new_path.name, old_source)
    else:
        old, old_source = check_file(files[0]), str(files[0])
    new = check_file(new_path)
    # The old side's warnings are not news; its errors stop the comparison.
    both = [*(old.diagnostics if old is not None and has_errors(old.diagnostics) else ()), *new.diagnostics]
    result, found = diff_checked(old, new, new_path, old_source=old_source, prices=prices, fetch=_fetcher(live, prices))
    _report([*both, *found])
    if result is None:
        click.echo(f"spawn-tf: cannot compare ({summary([*both, *found])})", err=True)
        sys.exit(ExitCode.FAILED)
    if as_json or fmt == "json":
        click.echo(json.dumps(diff_as_json(result), indent=2, ensure_ascii=False))
    else:
        click.echo(render_diff(result, markdown=fmt == "markdown", limit=limit), nl=False)


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
