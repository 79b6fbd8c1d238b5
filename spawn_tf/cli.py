"""The `spawn-tf` command: parse arguments, call the library, print, exit with a contract code.

Results go to stdout (only JSON with --json); diagnostics and summaries go to stderr.
"""

from __future__ import annotations

import gc
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from spawn_tf import __version__, contract
from spawn_tf.contract import ExitCode
from spawn_tf.diagnostics import Diagnostic, did_you_mean, has_errors, summary
from spawn_tf.pipeline import Checked, check_file, compile_file


class _Group(click.Group):
    """Turns a bug into one line (and a traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader went away (`| head -1`): click ends quietly, exit 1, nothing more written
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
    _one_shot()
    results = []
    failed = False
    for path in _sweep_files(files, param_files):
        checked = check_file(path)
        bad = _failed(checked.diagnostics, strict)
        failed = failed or bad
        runs = len(checked.runs) if checked.runs is not None else None
        results.append({"file": str(path), "valid": not bad, "runs": runs, "diagnostics": [d.as_json() for d in checked.diagnostics]})
        if not as_json:
            _report(checked.diagnostics)
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
    _one_shot()
    from spawn_tf.render import render_runs

    [file] = _sweep_files((file,) if file is not None else (), param_files, most=1)
    checked = check_file(file)
    _report(checked.diagnostics)
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
    _one_shot()
    from spawn_tf.emit.files import WriteError, forking_pays

    sweep_files = _sweep_files(files, param_files)
    fork_manifest = forking_pays()
    compiled = [_compile_one(file, require_backend=require_backend, prices=prices, strict=strict, fork_manifest=fork_manifest) for file in sweep_files]
    builds = _builds(output, sweep_files, compiled)
    if builds is None:
        sys.exit(ExitCode.FAILED)
    try:
        if check:
            results = [_check_build(*build) for build in builds]  # every build reported, not up to the first difference
            sys.exit(ExitCode.OK if all(results) else ExitCode.FAILED)
        for build in builds:
            _write_build(*build)
        _warn_scattered(builds)
    except WriteError as exc:
        click.echo(f"spawn-tf: error: {exc.path}: {exc.reason}", err=True)
        click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(ExitCode.FAILED)
    sys.exit(ExitCode.OK)


Compiled = tuple[Any, dict[Any, bytes]]  # (Checked, the compiled files)
Build = tuple[Path, Path, Any, dict[Any, bytes]]  # (destination, sweep file, Checked, files)


def _compile_one(file: Path, *, require_backend: bool, prices: Path | None, strict: bool, fork_manifest: bool) -> Compiled | None:
    checked, files = compile_file(file, require_backend=require_backend, fork_manifest=fork_manifest, prices=prices)
    _report(checked.diagnostics)
    if files is None or checked.plan is None or _failed(checked.diagnostics, strict):
        click.echo(f"{file}: not compiled ({summary(checked.diagnostics)})", err=True)
        return None
    return checked, files


def _builds(output: Path, sweep_files: Sequence[Path], compiled: Sequence[Compiled | None]) -> list[Build] | None:
    """Where each compiled sweep goes, or None (nothing to write) when a file failed or two files share a sweep id."""
    builds: list[Build] = []
    sources: dict[Path, Path] = {}  # destination -> the file compiled into it
    for file, item in zip(sweep_files, compiled, strict=True):
        if item is None:
            continue
        checked, files = item
        destination = output / checked.plan.sweep.id
        if destination in sources:
            click.echo(f"{file}: error: sweep id '{checked.plan.sweep.id}' is also the id of {sources[destination]}", err=True)
            click.echo("  hint: give each sweep file its own 'sweep:' id", err=True)
            continue
        sources[destination] = file
        builds.append((destination, file, checked, files))
    failures = len(sweep_files) - len(builds)
    if failures == 0:
        return builds
    if len(sweep_files) > 1:
        click.echo(f"nothing written: {failures} of {len(sweep_files)} sweep files {'has' if failures == 1 else 'have'} errors", err=True)
    return None


def _check_build(destination: Path, file: Path, checked: Any, files: dict[Any, bytes]) -> bool:
    from spawn_tf.emit.files import survey, tree_differences

    differences = tree_differences(destination, files)
    for line in differences:
        click.echo(f"{destination}: {line}", err=True)
    _notices(destination, survey(destination, files), written=False)  # readable: tree_differences just read it
    click.echo(f"{destination}: {'differs from' if differences else 'matches'} {file}", err=True)
    return not differences


def _write_build(destination: Path, file: Path, checked: Any, files: dict[Any, bytes]) -> None:
    from spawn_tf.emit.files import write_tree
    from spawn_tf.sweep_index import report_location

    update = write_tree(destination, files)
    plan = checked.plan
    _remember(plan, destination)
    if checked.derived_id:
        click.echo(f"{file}: sweep id '{checked.derived_id}' from the file name (set 'sweep:' to choose another)", err=True)
    runs = len(checked.runs or ())
    click.echo(f"{destination}: {_count(runs, 'run')} in {_roots_summary(plan.roots)}", err=True)
    _notices(destination, update, written=True)
    click.echo(f"{destination}: reports to {report_location(plan.results_bucket, plan.sweep_folder, plan.home_region)}", err=True)
    largest = max(checked.sizes, key=lambda size: size.size)
    form = "compressed" if largest.compressed else "raw"
    click.echo(f"user-data: largest {largest.size} of {contract.MAX_USER_DATA_BYTES} bytes ({form}, run {largest.run.name})", err=True)


def _warn_scattered(builds: Sequence[Build]) -> None:
    """The how-to's one-file-per-region sweeps land in one default bucket per region unless they share `results:`."""
    from spawn_tf.sweep_index import scattered_default_buckets

    warning = scattered_default_buckets([(str(file), checked.plan.results_bucket, checked.plan.home_region) for _, file, checked, _ in builds])
    _warn([warning] if warning else [])


def _count(number: int, word: str) -> str:
    """'1 run', '2 runs'."""
    return f"{number} {word}{'' if number == 1 else 's'}"


LISTED_ROOTS = 8  # above this many roots, compile's summary gives counts instead of every root


def _roots_summary(roots: Sequence[Any]) -> str:
    """'1 root: us-east-1 (3)', or for many roots one readable line of counts (sweep.json has each run's root)."""
    if len(roots) <= LISTED_ROOTS:
        return f"{_count(len(roots), 'root')}: " + ", ".join(f"{root.name} ({len(root.runs)})" for root in roots)
    sizes = [len(root.runs) for root in roots]
    regions = len({root.region for root in roots})
    each = _count(max(sizes), "run") if min(sizes) == max(sizes) else f"{min(sizes)} to {max(sizes)} runs"
    return f"{len(roots)} roots in {_count(regions, 'region')}, {each} each ({roots[0].name} … {roots[-1].name})"


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
                       "then delete the folder (compile keeps its files until then)", err=True)  # fmt: skip
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
    import datetime as dt

    from spawn_tf.prices import aws_clients, fetch_prices

    def fetch(pairs: set[tuple[str, str]]) -> Any:
        from botocore.exceptions import BotoCoreError, NoCredentialsError

        try:
            clients = aws_clients()
        except NoCredentialsError:
            click.echo("spawn-tf: error: --live needs AWS credentials, and there are none", err=True)
            click.echo("  hint: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or give a price file with --prices", err=True)
            sys.exit(ExitCode.FAILED)
        except BotoCoreError as exc:  # a profile that does not exist, a broken config file
            click.echo(f"spawn-tf: error: AWS: {exc}", err=True)
            sys.exit(ExitCode.FAILED)
        table = fetch_prices(pairs, clients, dt.datetime.now(dt.UTC))
        if pairs and not table.prices and table.notes:  # every source failed: an estimate of nothing is no answer
            click.echo("spawn-tf: error: --live read no price from AWS:", err=True)
            for note in table.notes:
                click.echo(f"  {note}", err=True)
            click.echo("  hint: check the credentials and the network, or give a price file with --prices", err=True)
            sys.exit(ExitCode.FAILED)
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
        _write(save_prices, render_price_file(fetched[0]).encode())
        click.echo(f"{save_prices}: {len(fetched[0].prices)} prices saved", err=True)
    if estimate is None and (checked.runs is None or has_errors(checked.diagnostics)):
        sys.exit(ExitCode.FAILED)
    if estimate is None:  # no price source and no budget: every run is listed unpriced, nothing guessed
        from spawn_tf.cost import NO_PRICES_NOTE, estimate_cost
        from spawn_tf.prices import PriceTable

        estimate = estimate_cost(checked.runs, PriceTable(source="no price source", prices={}, notes=(NO_PRICES_NOTE,)))
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


# --- the collector: what runs did (DESIGN §7) -------------------------------------------------


def _sweep_argument(command: Any) -> Any:
    """SWEEP and the options that say where an id's sweep reports."""
    command = click.option("--region", help="Home region: of the default results bucket (default: AWS_REGION, else us-east-1).")(command)
    command = click.option("--results", metavar="s3://BUCKET/PREFIX", help="Where a sweep given by id reports (default: the account's bucket).")(command)
    return click.argument("sweep", metavar="SWEEP")(command)


def _collector(work: Any) -> Any:
    """Runs `work()`; a CollectError is one line and exit 1, an AWS failure that stops everything exit 3."""
    from botocore.exceptions import NoCredentialsError

    from spawn_tf.collect.aws import AWS_ERRORS, CollectError, error_text, no_connection

    try:
        return work()
    except CollectError as exc:
        click.echo(f"spawn-tf: error: {exc}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(ExitCode.FAILED)
    except NoCredentialsError:
        click.echo("spawn-tf: error: no AWS credentials", err=True)
        click.echo("  hint: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run `aws configure`", err=True)
        sys.exit(ExitCode.FAILED)
    except AWS_ERRORS as exc:
        if endpoint := no_connection(exc):
            _unreachable(endpoint)
        click.echo(f"spawn-tf: error: {error_text(exc)}", err=True)
        sys.exit(ExitCode.PARTIAL)


def _unreachable(endpoint: str) -> None:
    click.echo(f"spawn-tf: error: cannot connect to AWS at {endpoint}", err=True)
    click.echo("  hint: check the network (a proxy, a VPN), and AWS_ENDPOINT_URL if it is set", err=True)
    sys.exit(ExitCode.FAILED)


def _resolve(sweep: str, results: str | None, region: str | None) -> Any:
    from spawn_tf.collect.aws import Aws
    from spawn_tf.collect.sweep import resolve

    aws = Aws(region=region)
    return aws, _collector(lambda: resolve(sweep, aws, results=results))


def _remember(plan: Any, destination: Path) -> None:
    """Record where a compiled sweep reports, so that `status ID` and the rest find it by its id alone."""
    from spawn_tf.sweep_index import remember

    problem = remember(plan.sweep.id, bucket=plan.results_bucket, prefix=plan.results_prefix, bucket_region=plan.bucket_region,
                       home_region=plan.home_region, build_dir=destination)  # fmt: skip
    _warn([problem] if problem else [])


def _warn(problems: Sequence[str]) -> None:
    for problem in problems:
        click.echo(f"spawn-tf: warning: {problem}", err=True)


def _read_status(record: Any, aws: Any) -> tuple[Any, Any]:
    from spawn_tf.collect.observe import observe
    from spawn_tf.collect.status import run_statuses

    observation = _collector(lambda: observe(record, aws))
    return observation, run_statuses(record, observation)


@main.command()
@_sweep_argument
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout (only JSON).")
@click.option("--watch", is_flag=True, help="Refresh until every run is final.")
@click.option("--interval", type=click.IntRange(min=1), default=30, show_default=True, help="Seconds between refreshes with --watch.")
def status(*, sweep: str, results: str | None, region: str | None, as_json: bool, watch: bool, interval: int) -> None:
    """Show each run's status: from S3's control keys and the sweep's instances, a few calls per region."""
    import time

    from spawn_tf.collect import show
    from spawn_tf.collect.status import status_document, sweep_status
    from spawn_tf.contract import SweepStatus

    if watch and as_json:
        raise click.UsageError("--watch refreshes a table; use --json alone in scripts")
    aws, record = _resolve(sweep, results, region)
    while True:
        observation, statuses = _read_status(record, aws)
        if as_json:
            click.echo(json.dumps(status_document(record, statuses, observation.problems), indent=2, ensure_ascii=False))
        else:
            if watch and show.on_terminal(sys.stdout):
                click.clear()
            show.table(show.STATUS_COLUMNS, show.status_rows(statuses), title=show.summary_line(record, statuses))
        _warn(observation.problems)
        if not watch or sweep_status(statuses) is SweepStatus.COMPLETED:
            break
        time.sleep(interval)
    sys.exit(ExitCode.PARTIAL if observation.problems else ExitCode.OK)


@main.command()
@_sweep_argument
@click.option("--sort-by", "metric", required=True, help="The metric to rank by: a key of metrics.json (a.b for nested).")
@click.option("--mode", type=click.Choice(["max", "min"]), default="max", show_default=True, help="max: higher is better; min: lower is better (loss).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="How many runs to show and save.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--metrics-file", default=contract.METRICS_FILE, show_default=True, help="The file each run writes in its output folder.")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default=Path(contract.BEST_RESULTS_FILE), show_default=True,
              help="Where to save the top runs as JSON.")  # fmt: skip
@click.option("--no-save", is_flag=True, help="Do not write the --save file.")
@click.option("--status", "wanted", default=str(contract.Status.SUCCESS), show_default=True,
              help="Comma-separated statuses of the runs to rank (of their current configuration), e.g. success,failed.")  # fmt: skip
def results(*, sweep: str, results: str | None, region: str | None, metric: str, mode: str, top: int, fmt: str,
            metrics_file: str, save: Path, no_save: bool, wanted: str) -> None:  # fmt: skip
    """Rank runs by a metric of their metrics.json; runs without it are listed apart.

    Only current outputs are ranked: a run's status.json must name its current fingerprint.
    """
    from spawn_tf.collect import show
    from spawn_tf.collect.results import Mode, left_out, metric_names, rank, ranked_document, read_current

    statuses = frozenset(str(status) for status in _statuses(wanted))
    aws, record = _resolve(sweep, results, region)
    standings, found, problems = _collector(lambda: read_current(record, aws, metrics_file, statuses))
    board = rank(found, metric, Mode(mode))
    skipped = show.left_out_line(left_out(standings, statuses))
    if found and not board.ranked:  # a metric no run has (a typo): an error, and an earlier best-results.json stays
        for metrics, why in board.unranked:
            click.echo(f"spawn-tf: not ranked: {metrics.run.name}: {why}", err=True)
        names = metric_names(found)
        hint = did_you_mean(metric, names, cutoff=0.6)
        click.echo(f"spawn-tf: error: none of the {len(found)} runs ranked has a numeric '{metric}' in {metrics_file}", err=True)
        if names:
            click.echo(f"  hint: {hint + ' ' if hint else ''}the runs' metrics are: {', '.join(names)}", err=True)
        _warn(problems)
        sys.exit(ExitCode.FAILED)
    documents = [ranked_document(entry) for entry in board.ranked[:top]]
    best = [document for document, _ in documents]
    if fmt == "json":
        click.echo(json.dumps(best, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(show.leaderboard_csv(board, top), nl=False)
    else:
        show.leaderboard(board, top, analyzed=len(found))
    for metrics, why in board.unranked:
        click.echo(f"spawn-tf: not ranked: {metrics.run.name}: {why}", err=True)
    if skipped:
        click.echo(f"spawn-tf: {skipped} (only current {', '.join(sorted(statuses))} runs are ranked; --status widens it)", err=True)
    _warn([clash for _, clashes in documents for clash in clashes])
    if not no_save and best:
        _write(save, (json.dumps(best, indent=2, ensure_ascii=False) + "\n").encode())
        click.echo(f"saved the top {len(best)} to {save}", err=True)
    elif not no_save:
        click.echo(f"spawn-tf: no run to rank yet; {save} {'left as it is' if save.exists() else 'not written'}", err=True)
    _warn(problems)
    sys.exit(ExitCode.PARTIAL if problems else ExitCode.OK)


@main.command(name="collect-results")
@_sweep_argument
@click.option("--output", "-o", "output", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to download into: OUTPUT/<run>/... (default: ./<sweep>-results).")  # fmt: skip
def collect_results_command(sweep: str, results: str | None, region: str | None, output: Path | None) -> None:
    """Download every run's folder (logs, status.json, outputs); run again to fetch only what is missing."""
    from spawn_tf.collect import show
    from spawn_tf.collect.download import collect_results

    aws, record = _resolve(sweep, results, region)
    output = output or Path(f"{record.id}-results")
    try:
        with show.progress(f"collecting {record.id}") as update:
            report = _collector(lambda: collect_results(record, aws, output, progress=update))
    except KeyboardInterrupt:
        click.echo(f"spawn-tf: interrupted; files already in {output} are complete, run again to fetch the rest", err=True)
        sys.exit(130)
    megabytes = report.bytes / 1_000_000
    click.echo(f"{output}: {report.downloaded} downloaded ({megabytes:.1f} MB), {report.present} already present", err=True)
    if report.stale:
        names = ", ".join(report.stale[:10]) + (f" and {len(report.stale) - 10} more" if len(report.stale) > 10 else "")
        click.echo(f"{len(report.stale)} run{'' if len(report.stale) == 1 else 's'} with files of an earlier configuration "
                   f"(status.json names another fingerprint, or none): in <run>/{contract.STALE_FOLDER}/: {names}", err=True)  # fmt: skip
    _warn([f"not downloaded: {problem}" for problem in report.failed])
    _warn([f"refused (would land outside {output}): {key}" for key in report.refused])
    sys.exit(ExitCode.PARTIAL if report.failed else ExitCode.OK)


def _statuses_option(command: Any) -> Any:
    names = ", ".join(str(status) for status in contract.UNSUCCESSFUL_STATUSES)
    return click.option("--status", "wanted", default=names.replace(" ", ""), show_default=True,
                        help="Comma-separated statuses of the runs to retry.")(command)  # fmt: skip


@main.command()
@_sweep_argument
@_statuses_option
@click.option("--run", "names", multiple=True, help="Retry this run (final runs only; repeat for more). Overrides --status.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a sweep file of those runs here instead of re-opening them in place.")  # fmt: skip
@click.option("--sweep-id", help="With -o: the new sweep's id (default: <sweep>-retry).")
@click.option("--dry-run", is_flag=True, help="Show which runs would be retried, change nothing.")
def retry(*, sweep: str, results: str | None, region: str | None, wanted: str, names: tuple[str, ...], output: Path | None,
          sweep_id: str | None, dry_run: bool) -> None:  # fmt: skip
    """Run failed runs again: re-open them for the next apply, or write a sweep file of them (-o)."""
    import tempfile
    from datetime import UTC, datetime

    from spawn_tf.collect.retry import reopen, retry_file_text, retry_sweep_id, select

    statuses = _statuses(wanted)
    aws, record = _resolve(sweep, results, region)
    _known_runs(record, names)
    observation, run_statuses = _read_status(record, aws)
    if observation.problems:
        _warn(observation.problems)
        click.echo("spawn-tf: error: not retrying on a partial view of the sweep", err=True)
        sys.exit(ExitCode.PARTIAL)
    chosen = select(run_statuses, statuses, frozenset(names))
    for status in chosen:
        click.echo(f"{status.run.name}\t{status.status}")
    if not chosen:
        click.echo(f"spawn-tf: no final run of {record.id} has status {', '.join(sorted(statuses))}" if not names else
                   "spawn-tf: none of those runs is final", err=True)  # fmt: skip
        sys.exit(ExitCode.OK)
    if dry_run:
        click.echo(f"{_count(len(chosen), 'run')} would be retried (--dry-run: nothing changed)", err=True)
        sys.exit(ExitCode.OK)
    if output is not None:
        new_id = sweep_id or retry_sweep_id(record.id)
        if not contract.SWEEP_ID_PATTERN.fullmatch(new_id):
            raise click.UsageError(f"--sweep-id '{new_id}' is not a sweep id (a-z, 0-9, '-', at most 40 characters)")
        with tempfile.TemporaryDirectory(prefix="retry-source-") as scratch:
            text = _collector(lambda: retry_file_text(_sweep_file_of(record, Path(scratch)), [status.run.name for status in chosen], new_id))
        _write_checked_sweep(output, text)
        click.echo(f"{output}: sweep {new_id} with {_count(len(chosen), 'run')}; compile it with `spawn-tf compile {output}`", err=True)
        sys.exit(ExitCode.OK)
    stop_all = contract.stop_key(record.results.folder)
    if any(key.name == stop_all for key in observation.stops):
        click.echo(f"spawn-tf: error: sweep {record.id} is cancelled as a whole: re-opened runs would not be launched", err=True)
        click.echo(f"  hint: delete s3://{record.results.bucket}/{stop_all} to lift it, then retry", err=True)
        sys.exit(ExitCode.FAILED)
    reopened = _collector(lambda: reopen(record, aws, observation, chosen, datetime.now(UTC)))
    roots = sorted({status.run.root for status in chosen if status.run.name in reopened.runs})
    click.echo(f"re-opened {_count(len(reopened.runs), 'run')}; their records are in {reopened.history}", err=True)
    click.echo(f"the next `terraform apply` in {', '.join(roots)} launches them again", err=True)
    _warn([f"not moved: {problem}" for problem in reopened.failed])
    sys.exit(ExitCode.PARTIAL if reopened.failed else ExitCode.OK)


def _sweep_file_of(record: Any, scratch: Path) -> Path:
    """The sweep file a record came from: as given, or its text from sweep.json written into `scratch` under its name."""
    if record.sweep_file is not None:
        return record.sweep_file
    if record.source is None:
        raise click.UsageError("-o writes runs with their settings, as the sweep file has them, and this sweep's sweep.json does not carry "
                               "the file (compiled by an earlier spawn-tf, or elsewhere): give the sweep file, or its build/<sweep>/sweep.json")  # fmt: skip
    name, text = record.source
    path = scratch / Path(name).name
    path.write_text(text, encoding="utf-8")
    return path


def _statuses(wanted: str) -> frozenset[Any]:
    from spawn_tf.contract import Status

    chosen = {word.strip() for word in wanted.split(",") if word.strip()}
    known = {str(status) for status in Status}
    unknown = sorted(chosen - known)
    if unknown:
        raise click.BadParameter(f"unknown status {', '.join(unknown)}; statuses are {', '.join(str(s) for s in Status)}", param_hint="--status")
    return frozenset(Status(word) for word in chosen)


def _known_runs(record: Any, names: Sequence[str]) -> None:
    for name in names:
        if record.run(name) is None:
            hint = did_you_mean(name, [run.name for run in record.runs], cutoff=0.6)
            raise click.BadParameter(f"no run named '{name}' in sweep {record.id}" + (f" ({hint})" if hint else ""), param_hint="--run")


def _write_checked_sweep(output: Path, text: str) -> None:
    """Write a generated sweep file only if it checks clean: a retry file that does not compile helps nobody."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="retry-check-") as scratch:
        draft = Path(scratch) / (output.name if output.suffix else f"{output.name}.yaml")
        draft.write_text(text, encoding="utf-8")
        checked = check_file(draft, str(output))
    if checked.plan is None:
        _report(checked.diagnostics)
        click.echo(f"spawn-tf: internal error: the retry file for {output} does not check; nothing written", err=True)
        sys.exit(ExitCode.FAILED)
    _write(output, text.encode())


def _write(path: Path, content: bytes) -> None:
    """A file of the user's, written whole or not at all; a folder that cannot take it is an error, not a traceback."""
    from spawn_tf.emit.files import write_atomic

    try:
        write_atomic(path, content)
    except OSError as exc:
        click.echo(f"spawn-tf: error: {path}: {exc.strerror or exc}", err=True)
        sys.exit(ExitCode.FAILED)


@main.command(name="list-sweeps")
@click.argument("patterns", nargs=-1, metavar="[ID_OR_GLOB]...")
@click.option("--results", metavar="s3://BUCKET/PREFIX", help="Where to look (default: $SPAWN_TF_RESULTS, else the account's bucket, prefix sweeps).")
@click.option("--region", help="Home region of the default bucket (default: AWS_REGION, else us-east-1).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def list_sweeps_command(patterns: tuple[str, ...], results: str | None, region: str | None, as_json: bool) -> None:
    """List the sweeps that report to a results location; the first column is the id.

    With ID_OR_GLOB, only the sweeps of that id (exactly) or glob (`'stage1-*'`); none matching is an error.
    """
    from spawn_tf.collect import show
    from spawn_tf.collect.aws import Aws
    from spawn_tf.collect.list_sweeps import list_sweeps
    from spawn_tf.collect.status import iso
    from spawn_tf.collect.sweep import bucket_region, results_location

    aws = Aws(region=region)

    where: list[str] = []

    def read() -> Any:
        bucket, prefix = results_location(aws, results)
        where.append(f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/")
        return list_sweeps(aws, bucket, bucket_region(aws, bucket), prefix, patterns)

    summaries, problems = _collector(read)
    if patterns and not summaries and not problems:
        click.echo(f"spawn-tf: error: no sweep in {where[0]} matches {' or '.join(repr(p) for p in patterns)}", err=True)
        click.echo("  hint: a pattern is an exact id or a glob such as 'stage1-*'; `spawn-tf list-sweeps` lists them all", err=True)
        sys.exit(ExitCode.FAILED)
    if as_json:
        click.echo(json.dumps([{"sweep": s.id, "status": str(s.status), "runs": s.runs, "final": s.final,
                                "regions": list(s.regions), "updated_at": iso(s.updated)} for s in summaries], indent=2))  # fmt: skip
    else:
        rows = [[s.id, str(s.status), f"{s.final}/{s.runs}", ",".join(s.regions), iso(s.updated) or "-"] for s in summaries]
        show.table(["sweep", "status", "final", "regions", "updated"], rows)
    _warn(problems)
    sys.exit(ExitCode.PARTIAL if problems else ExitCode.OK)


@main.command()
@_sweep_argument
@click.option("--timeout", help="Give up after this long (30m, 2h); exit 2.")
@click.option("--interval", type=click.IntRange(min=1), default=60, show_default=True, help="Seconds between checks.")
def wait(sweep: str, results: str | None, region: str | None, timeout: str | None, interval: int) -> None:
    """Wait until every run is final: exit 0 if all succeeded (or stopped themselves), 1 if not, 2 on --timeout,
    3 when the sweep cannot be read (never a wait on what cannot be seen)."""
    import time

    from spawn_tf.collect import show
    from spawn_tf.collect.status import sweep_status
    from spawn_tf.contract import SweepStatus
    from spawn_tf.expand import parse_duration

    try:
        limit = parse_duration(timeout) if timeout is not None else None
    except ValueError:
        raise click.BadParameter(f"'{timeout}' is not a duration such as 90s, 30m or 2h", param_hint="--timeout") from None
    aws, record = _resolve(sweep, results, region)
    deadline = time.monotonic() + limit if limit is not None else None
    last = ""
    while True:
        observation, statuses = _read_status(record, aws)
        line = show.summary_line(record, statuses)
        if line != last:
            click.echo(line, err=True)
            last = line
        if observation.problems:  # botocore has retried already: waiting on a partial view could last forever
            _warn(observation.problems)
            sys.exit(ExitCode.PARTIAL)
        if sweep_status(statuses) is SweepStatus.COMPLETED:
            break
        if deadline is not None and time.monotonic() >= deadline:
            click.echo(f"spawn-tf: gave up waiting after {timeout}", err=True)
            sys.exit(ExitCode.USAGE)
        time.sleep(min(interval, deadline - time.monotonic()) if deadline is not None else interval)
    unsuccessful = [status for status in statuses if status.status not in contract.SUCCESSFUL_STATUSES]
    for status in unsuccessful:
        click.echo(f"spawn-tf: {status.run.name}: {status.status}", err=True)
    sys.exit(ExitCode.FAILED if unsuccessful else ExitCode.OK)


@main.command()
@_sweep_argument
@click.option("--run", "names", multiple=True, help="Cancel this run only (repeat for more).")
@click.option("--all", "every", is_flag=True, help="Cancel the whole sweep without asking (needed when not on a terminal).")
@click.option("--dry-run", is_flag=True, help="Show what would be stopped; write nothing.")
def cancel(*, sweep: str, results: str | None, region: str | None, names: tuple[str, ...], every: bool, dry_run: bool) -> None:
    """Stop runs: running agents end their workload (status stopped) and Terraform launches none of them again.

    Without --run the whole sweep is cancelled: on a terminal after a question, else only with --all.
    """
    from spawn_tf.collect.cancel import cancel as write_stops
    from spawn_tf.collect.cancel import stop_keys

    if names and every:
        raise click.UsageError("--run cancels those runs, --all the whole sweep: give one")
    if not names and not every and not dry_run and not sys.stdin.isatty():
        raise click.UsageError("cancel without --run stops every run of the sweep: add --all to mean it (or --dry-run to see what it would stop)")
    aws, record = _resolve(sweep, results, region)
    _known_runs(record, names)
    if dry_run:
        observation, statuses = _read_status(record, aws)
        _warn(observation.problems)
        chosen = [status for status in statuses if (status.run.name in names if names else True) and not status.final]
        for key in stop_keys(record, names):
            click.echo(f"s3://{record.results.bucket}/{key}")
        for status in chosen:
            click.echo(f"would stop {status.run.name} ({status.status})", err=True)
        click.echo(f"--dry-run: nothing written; {len(chosen)} of {len(names) or len(record.runs)} runs are not final and would stop", err=True)
        sys.exit(ExitCode.OK)
    if not names and not every and not click.confirm(f"Cancel every run of {record.id} ({len(record.runs)} runs)?", err=True):
        click.echo("nothing cancelled", err=True)
        sys.exit(ExitCode.FAILED)
    keys = _collector(lambda: write_stops(record, aws, names))
    for key in keys:
        click.echo(f"s3://{record.results.bucket}/{key}")
    what = f"{len(names)} run{'' if len(names) == 1 else 's'}" if names else "every run"
    click.echo(f"cancelled {what} of {record.id}: running agents stop within seconds; the next apply launches none of them", err=True)


@main.command()
@click.option("--region", help="The bucket's region, the home region of the sweeps that use it (default: AWS_REGION, else us-east-1).")
@click.option("--bucket", help="Bucket name (default: spawn-tf-<account-id>-<region>).")
def bootstrap(region: str | None, bucket: str | None) -> None:
    """Create the default results bucket: private, encrypted, TLS only. Safe to run again."""
    from spawn_tf.collect.aws import Aws
    from spawn_tf.collect.bootstrap import bootstrap as make_bucket

    aws = Aws(region=region)
    made = _collector(lambda: make_bucket(aws, aws.home_region, bucket))
    click.echo(f"s3://{made.name} ({made.region}): {'created' if made.created else 'already there; left as it is'}", err=True)
    _warn([f"s3://{made.name}: {concern}" for concern in made.concerns])
    if bucket:
        click.echo(f"sweeps report there with: results: s3://{made.name}/{contract.DEFAULT_RESULTS_PREFIX}", err=True)


if __name__ == "__main__":  # `python3 -m spawn_tf.cli`, as the tests run it
    main()
