"""The build-side commands of `spawn-tf` (validate, expand, schema, compile, cost, diff, userdata); the group and its
error handling are in cli_base.py; the collector's commands (cli_collect.py) and launch's (cli_launch.py) are
registered on the same group when one of them is called (cli_base.py names them).

Results go to stdout (only JSON with --json); diagnostics and summaries go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from spawn_tf import contract
from spawn_tf.cli_base import count, main, one_shot, program, report, warn, write_file
from spawn_tf.contract import ExitCode
from spawn_tf.diagnostics import Diagnostic, did_you_mean, has_errors, summary
from spawn_tf.errors import SpawnError
from spawn_tf.pipeline import Checked, check_file, compile_lazily

__all__ = ["main"]


def _derived_id_note(checked: Checked) -> str:
    """Names the sweep id made from the file name (not a warning: --strict must not fail a file for its name)."""
    return f", sweep id '{checked.derived_id}' from the file name" if checked.derived_id and checked.sweep is not None else ""


def _failed(diagnostics: Sequence[Diagnostic], strict: bool) -> bool:
    return has_errors(diagnostics) or (strict and bool(diagnostics))


_SWEEP_FILE = click.Path(dir_okay=False, path_type=Path)


def _param_file_option(command: Any) -> Any:
    """`--param-file FILE`, spawn's spelling of a sweep file argument (the how-to's `spawn launch --param-file`)."""
    return click.option("--param-file", "param_files", multiple=True, type=_SWEEP_FILE, metavar="FILE",
                        help="A sweep file, as spawn's --param-file (same as the FILE argument; repeat for more).")(command)  # fmt: skip


def _sweep_files(files: tuple[Path, ...], param_files: tuple[Path, ...], *, most: int | None = None) -> tuple[Path, ...]:
    """The sweep files of a command: its FILE arguments, then any --param-file."""
    every = (*files, *param_files)
    if not every:
        raise click.UsageError("no sweep file: give FILE (or --param-file FILE)")
    if most is not None and len(every) > most:
        raise click.UsageError(f"one sweep file at a time, not {len(every)}")
    return every


@main.command()
@click.argument("files", nargs=-1, type=_SWEEP_FILE)
@_param_file_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as JSON on stdout.")
def validate(files: tuple[Path, ...], param_files: tuple[Path, ...], strict: bool, as_json: bool) -> None:
    """Check sweep files; report every problem with its place."""
    one_shot()
    results = []
    failed = False
    for path in _sweep_files(files, param_files):
        checked = check_file(path)
        bad = _failed(checked.diagnostics, strict)
        failed = failed or bad
        runs = len(checked.runs) if checked.runs is not None else None
        results.append({"file": str(path), "valid": not bad, "runs": runs, "diagnostics": [d.as_json() for d in checked.diagnostics]})
        if not as_json:
            report(checked.diagnostics)
            counted = summary(checked.diagnostics)
            verdict = f"{runs} run{'' if runs == 1 else 's'}" if runs is not None and not bad else "invalid"
            click.echo(f"{path}: {verdict}{_derived_id_note(checked)}" + (f" ({counted})" if counted else ""), err=True)
    if as_json:
        click.echo(json.dumps({"files": results}, indent=2, ensure_ascii=False))
    sys.exit(ExitCode.FAILED if failed else ExitCode.OK)


@main.command()
@click.argument("file", required=False, type=_SWEEP_FILE)
@_param_file_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "yaml"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def expand(file: Path | None, param_files: tuple[Path, ...], fmt: str, strict: bool) -> None:
    """Show the runs a sweep file launches, in order."""
    one_shot()
    from spawn_tf.render import render_runs

    [file] = _sweep_files((file,) if file is not None else (), param_files, most=1)
    checked = check_file(file)
    report(checked.diagnostics)
    if checked.runs is None or _failed(checked.diagnostics, strict):
        click.echo(f"{file}: invalid ({summary(checked.diagnostics)})", err=True)
        sys.exit(ExitCode.FAILED)
    runs = checked.runs
    del checked  # rendering needs no source positions: a YAML file's node tree can go first
    click.echo(render_runs(runs, fmt), nl=False)


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
@click.argument("files", nargs=-1, type=_SWEEP_FILE)
@_param_file_option
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=Path("build"), show_default=True,
              help="Folder to write <sweep>/ into.")  # fmt: skip
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the folder differs from what the sweep compiles to.")
@click.option("--require-backend", is_flag=True, help="Fail unless terraform.backend is set (for pipelines that apply).")
@click.option("--prices", type=_PRICES, help="Price file for the budget check (default: the sweep's budget.prices).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def compile_command(
    *,
    files: tuple[Path, ...],
    param_files: tuple[Path, ...],
    output: Path,
    check: bool,
    require_backend: bool,
    prices: Path | None,
    strict: bool,
) -> None:
    """Compile sweep files into Terraform roots under OUTPUT/<sweep>/.

    Every file is checked before any is written: one with errors, or two with one sweep id, and
    nothing is written. Compile replaces or removes only the files it wrote (its record,
    OUTPUT/<sweep>/.spawn-tf-files.json): state, .terraform/ and files of your own stay.
    """
    one_shot()
    from spawn_tf.builds import place_builds
    from spawn_tf.emit.staging import WriteError

    sweep_files = _sweep_files(files, param_files)
    compiled = [_compile_one(file, require_backend=require_backend, prices=prices, strict=strict) for file in sweep_files]
    placement = place_builds(output, sweep_files, compiled)
    for clash in placement.clashes:
        click.echo(f"{clash.file}: error: sweep id '{clash.sweep_id}' is also the id of {clash.first}", err=True)
        click.echo("  hint: give each sweep file its own 'sweep:' id", err=True)
    if placement.failures:
        if len(sweep_files) > 1:
            failures = placement.failures
            click.echo(f"nothing written: {failures} of {len(sweep_files)} sweep files {'has' if failures == 1 else 'have'} errors", err=True)
        sys.exit(ExitCode.FAILED)
    try:
        if check:
            results = [_check_build(build) for build in placement.builds]  # every build reported, not up to the first difference
            sys.exit(ExitCode.OK if all(results) else ExitCode.FAILED)
        for build in placement.builds:
            _write_build(build)
        _warn_scattered(placement.builds)
    except WriteError as exc:
        raise SpawnError(f"{exc.path}: {exc.reason}", exc.hint) from None
    sys.exit(ExitCode.OK)


Compiled = tuple[Any, Any]  # (Checked, what makes the compiled files: pipeline.Emitter)


def _compile_one(file: Path, *, require_backend: bool, prices: Path | None, strict: bool) -> Compiled | None:
    checked, files = compile_lazily(file, require_backend=require_backend, prices=prices)
    report(checked.diagnostics)
    if files is None or checked.plan is None or _failed(checked.diagnostics, strict):
        click.echo(f"{file}: not compiled ({summary(checked.diagnostics)})", err=True)
        return None
    return checked, files


def _check_build(build: Any) -> bool:
    from spawn_tf.emit.files import checked_survey, tree_differences

    destination, file = build.destination, build.file
    update = checked_survey(destination, build.files.terraform(), build.files.manifests)  # each file compared as it is made
    differences = tree_differences(destination, update)
    for line in differences:
        click.echo(f"{destination}: {line}", err=True)
    _notices(destination, update, written=False)
    click.echo(f"{destination}: {'differs from' if differences else 'matches'} {file}", err=True)
    return not differences


def _write_build(build: Any) -> None:
    from spawn_tf.emit.files import write_tree
    from spawn_tf.sweep_index import report_location

    destination, file, checked = build.destination, build.file, build.checked
    update = write_tree(destination, build.files.terraform(), build.files.manifests)  # each file written as it is made
    plan = checked.plan
    _remember(plan, destination)
    if checked.derived_id:
        click.echo(f"{file}: sweep id '{checked.derived_id}' from the file name (set 'sweep:' to choose another)", err=True)
    runs = len(checked.runs or ())
    click.echo(f"{destination}: {count(runs, 'run')} in {_roots_summary(plan.roots)}", err=True)
    _notices(destination, update, written=True)
    click.echo(f"{destination}: reports to {report_location(plan.results_bucket, plan.sweep_folder, plan.home_region)}", err=True)
    largest = max((root.largest for root in checked.sizes.values()), key=lambda size: size.size)
    form = "compressed" if largest.compressed else "raw"
    click.echo(f"user-data: largest {largest.size} of {contract.MAX_USER_DATA_BYTES} bytes ({form}, run {largest.run.name})", err=True)


def _warn_scattered(builds: Sequence[Any]) -> None:
    """The how-to's one-file-per-region sweeps land in one default bucket per region unless they share `results:`."""
    from spawn_tf.sweep_index import scattered_default_buckets

    warning = scattered_default_buckets([(str(b.file), b.checked.plan.results_bucket, b.checked.plan.home_region) for b in builds])
    warn([warning] if warning else [])


LISTED_ROOTS = 8  # above this many roots, compile's summary gives counts instead of every root


def _roots_summary(roots: Sequence[Any]) -> str:
    """'1 root: us-east-1 (3)', or for many roots one readable line of counts (sweep.json has each run's root)."""
    if len(roots) <= LISTED_ROOTS:
        return f"{count(len(roots), 'root')}: " + ", ".join(f"{root.name} ({len(root.runs)})" for root in roots)
    sizes = [len(root.runs) for root in roots]
    regions = len({root.region for root in roots})
    each = count(max(sizes), "run") if min(sizes) == max(sizes) else f"{min(sizes)} to {max(sizes)} runs"
    return f"{len(roots)} roots in {count(regions, 'region')}, {each} each ({roots[0].name} … {roots[-1].name})"


def _notices(destination: Path, update: Any, *, written: bool) -> None:
    """One line each: the user's files Terraform loads beside compile's, roots no longer compiled, an old compile's leftovers."""
    if update.user_files:
        shown = ", ".join(str(path) for path in update.user_files[:LISTED_ROOTS])
        more = len(update.user_files) - LISTED_ROOTS
        shown += f" and {more} more" if more > 0 else ""
        click.echo(f"{destination}: Terraform also loads files compile did not write (left as they are): {shown}", err=True)
    for orphan in update.orphans:
        root = destination / orphan.name
        if orphan.holds_state:
            click.echo(f"{root}: no longer compiled, and its state may still hold resources: run `terraform -chdir={root} destroy`, "
                       f"or `spawn-tf destroy {destination}` (`spawn-tf launch` destroys it after confirmation); "
                       "compile keeps its files until its state is empty", err=True)  # fmt: skip
        elif written:
            kept = f"; kept what compile did not write: {', '.join(orphan.left)}" if orphan.left else ""
            click.echo(f"{root}: no longer compiled; its files are removed{kept}", err=True)
    for folder in update.legacy:
        click.echo(f"{folder}: left by an interrupted compile of an earlier spawn-tf; it may hold a root's terraform.tfstate: "
                   "move any state file back into its root, then delete the folder", err=True)  # fmt: skip


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
    from spawn_tf.prices import live_prices

    return live_prices(fetched if fetched is not None else [])


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
    report(checked.diagnostics)
    if save_prices is not None and fetched:
        write_file(save_prices, render_price_file(fetched[0]).encode())
        click.echo(f"{save_prices}: {len(fetched[0].prices)} prices saved", err=True)
    if estimate is None and (checked.runs is None or has_errors(checked.diagnostics)):
        sys.exit(ExitCode.FAILED)
    if estimate is None:  # no price source and no budget
        from spawn_tf.cost import unpriced_estimate

        estimate = unpriced_estimate(checked.runs)
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
    from spawn_tf.pipeline import check_source, diff_checked

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
        old = None if raw is None else check_source(raw, new_path.name, old_source, new_path.parent)  # workdirs: as they are now
    else:
        old, old_source = check_file(files[0]), str(files[0])
    new = check_file(new_path)
    # The old side's warnings are not news; its errors stop the comparison.
    both = [*(old.diagnostics if old is not None and has_errors(old.diagnostics) else ()), *new.diagnostics]
    result, found = diff_checked(old, new, new_path, old_source=old_source, prices=prices, fetch=_fetcher(live, prices))
    report([*both, *found])
    if result is None:
        click.echo(f"spawn-tf: cannot compare ({summary([*both, *found])})", err=True)
        sys.exit(ExitCode.FAILED)
    if as_json or fmt == "json":
        click.echo(json.dumps(diff_as_json(result), indent=2, ensure_ascii=False))
    else:
        click.echo(render_diff(result, markdown=fmt == "markdown", limit=limit), nl=False)


def _account_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not contract.ACCOUNT_ID_PATTERN.fullmatch(value):
        raise click.BadParameter(f"'{value}' is not an AWS account id: those are 12 digits, e.g. 123456789012")
    return value


@main.command()
@click.argument("file", type=_SWEEP_FILE)
@click.option("--run", "run_name", required=True, help="The run whose user-data to print.")
@click.option("--account-id", callback=_account_id, help="AWS account id (12 digits), for the default results bucket (12 zeros without it).")
def userdata(file: Path, run_name: str, account_id: str | None) -> None:
    """Print the exact user-data a run's instance receives (uncompressed)."""
    from spawn_tf.userdata import user_data

    checked = check_file(file)
    if checked.plan is None or checked.runs is None:
        report(checked.diagnostics)
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


def _remember(plan: Any, destination: Path) -> None:
    """Record where a compiled sweep reports, so that `status ID` and the rest find it by its id alone."""
    from spawn_tf.sweep_index import remember

    problem = remember(plan.sweep.id, bucket=plan.results_bucket, prefix=plan.results_prefix, bucket_region=plan.bucket_region,
                       home_region=plan.home_region, build_dir=destination)  # fmt: skip
    warn([problem] if problem else [])


run = program(main)  # the `spawn-tf` program (pyproject's console script)
if __name__ == "__main__":  # `python3 -m spawn_tf.cli`, as the tests run it
    run()
