"""The collector's commands of `spawn-tf` (DESIGN §7): what runs did. Registered on the group of cli_base.py.

Every AWS module is imported inside the commands: `spawn-tf validate` never loads boto3.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from spawn_tf import contract
from spawn_tf.cli_base import count, main, warn, write_file
from spawn_tf.cli_sweep import collector, read_status, resolve_sweep, sweep_argument, wanted_statuses
from spawn_tf.contract import ExitCode
from spawn_tf.diagnostics import did_you_mean
from spawn_tf.errors import SpawnError
from spawn_tf.refine import DEFAULT_POINTS, DEFAULT_SPREAD


@main.command()
@sweep_argument
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
    aws, record = resolve_sweep(sweep, results, region)
    while True:
        observation, statuses = read_status(record, aws, progress=True, capacity=True)
        if as_json:
            click.echo(json.dumps(status_document(record, statuses, observation.problems), indent=2, ensure_ascii=False))
        else:
            if watch and show.on_terminal(sys.stdout):
                click.clear()
            header, rows, notes = show.status_table(statuses, record.early_stopping)
            show.table(header, rows, title=show.summary_line(record, statuses), drops=show.NARROW_DROPS)
            for note in notes:
                click.echo(note)
        warn(observation.problems)
        if not watch or sweep_status(statuses) is SweepStatus.COMPLETED:
            break
        time.sleep(interval)
    if not as_json:
        _report_hint(sweep)
    sys.exit(ExitCode.PARTIAL if observation.problems else ExitCode.OK)


@main.command()
@sweep_argument
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
    from spawn_tf.collect.results import Mode, last_reports, left_out, metric_missing, rank, ranked_document, read_current

    statuses = frozenset(str(status) for status in wanted_statuses(wanted))
    aws, record = resolve_sweep(sweep, results, region)
    standings, found, problems = collector(lambda: read_current(record, aws, metrics_file, statuses))
    reported, unlisted = collector(lambda: last_reports(record, aws, metric, found))
    problems = (*problems, *([unlisted] if unlisted else []))
    board = rank(found, metric, Mode(mode), reported, file_name=metrics_file)
    tally = left_out(standings, statuses)
    skipped = show.left_out_line(tally)
    missing = metric_missing(board, found, metric, metrics_file, reported)
    if missing is not None:
        for metrics, why in board.unranked:
            click.echo(f"spawn-tf: not ranked: {metrics.run.name}: {why}", err=True)
        warn(problems)
        raise missing
    documents = [ranked_document(entry, metric=metric, source=board.from_progress) for entry in board.ranked[:top]]
    best = [document for document, _ in documents]
    if fmt == "json":
        click.echo(json.dumps(best, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(show.leaderboard_csv(board, top), nl=False)
    else:
        show.leaderboard(board, top, analyzed=len(found))
        _report_hint(sweep, f" --sort-by {shlex.quote(metric)} --mode {mode}")
    for metrics, why in board.unranked:
        click.echo(f"spawn-tf: not ranked: {metrics.run.name}: {why}", err=True)
    if skipped:
        click.echo(f"spawn-tf: {skipped} (only current {', '.join(sorted(statuses))} runs are ranked; {_widen(statuses, tally)})", err=True)
    warn([clash for _, clashes in documents for clash in clashes])
    if not no_save and best:
        write_file(save, (json.dumps(best, indent=2, ensure_ascii=False) + "\n").encode())
        click.echo(f"saved the top {len(best)} to {save}", err=True)
    elif not no_save:
        click.echo(f"spawn-tf: no run to rank yet; {save} {'left as it is' if save.exists() else 'not written'}", err=True)
    warn(problems)
    sys.exit(ExitCode.PARTIAL if problems else ExitCode.OK)


@main.command()
@sweep_argument
@click.option("--sort-by", "metric", required=True, help="The metric to rank by, as `results` ranks: a key of metrics.json (a.b for nested).")
@click.option("--mode", type=click.Choice(["max", "min"]), default="max", show_default=True, help="max: higher is better; min: lower is better (loss).")
@click.option("--top", type=click.IntRange(min=1), default=1, show_default=True, help="Refine around this many of the best runs.")
@click.option("--param", "params", multiple=True, metavar="NAME[:log|:linear]",
              help="A numeric parameter to vary (repeat for more; default: every numeric one that varies). "
                   "Spacing: log when its values span more than two decades, else linear.")  # fmt: skip
@click.option("--points", type=click.IntRange(min=2), default=DEFAULT_POINTS, show_default=True, help="Values per parameter around each top run.")
@click.option("--spread", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=DEFAULT_SPREAD, show_default=True,
              help="How far values reach: linear best*(1-F) ... best*(1+F), log best*(1-F) ... best/(1-F).")  # fmt: skip
@click.option("--metrics-file", default=contract.METRICS_FILE, show_default=True, help="The file each run writes in its output folder.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new sweep file; - for stdout (default: <sweep-id>.yaml beside the sweep file, or here).")  # fmt: skip
@click.option("--sweep-id", help="The new sweep's id (default: <sweep>-fine).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def refine(*, sweep: str, results: str | None, region: str | None, metric: str, mode: str, top: int, params: tuple[str, ...], points: int,
           spread: float, metrics_file: str, output: Path | None, sweep_id: str | None, force: bool) -> None:  # fmt: skip
    """Write the next stage's sweep file: values around the best runs' parameters (coarse -> fine).

    Keeps the sweep's settings and defaults; leaves out points a run of the sweep has already.
    """
    from spawn_tf.collect.refine import Request
    from spawn_tf.collect.refine import refine as refine_sweep
    from spawn_tf.collect.results import Mode
    from spawn_tf.collect.retry import retry_sweep_id
    from spawn_tf.refine import parse_choice

    choices = tuple(parse_choice(text) for text in params)
    aws, record = resolve_sweep(sweep, results, region)
    new_id = sweep_id or retry_sweep_id(record.id, "-fine")
    if not contract.SWEEP_ID_PATTERN.fullmatch(new_id):
        raise click.UsageError(f"--sweep-id '{new_id}' is not a sweep id (a-z, 0-9, '-', at most 40 characters)")
    to_stdout = output == Path("-")
    target = output or (record.sweep_file.parent if record.sweep_file else Path()) / f"{new_id}.yaml"
    if not to_stdout and target.exists() and not force:
        raise SpawnError(f"{target} exists; nothing written", "give another -o, or --force to replace it")
    request = Request(metric=metric, mode=Mode(mode), top=top, choices=choices, points=points, spread=spread, sweep_id=new_id,
                      metrics_file=metrics_file)  # fmt: skip
    outcome = collector(lambda: refine_sweep(record, aws, request, Path(f"{new_id}.yaml") if to_stdout else target))
    for line in outcome.unranked:
        click.echo(f"spawn-tf: not ranked: {line}", err=True)
    if to_stdout:
        click.echo(outcome.text, nl=False)
    else:
        write_file(target, outcome.text.encode())
    where = "stdout" if to_stdout else str(target)
    click.echo(f"{where}: sweep {new_id} with {count(outcome.runs, 'run')} around {', '.join(outcome.top)} "
               f"({', '.join(f'{axis.name}: {axis.spacing}' for axis in outcome.axes)}); "
               f"{count(outcome.already_run, 'point')} already run left out", err=True)  # fmt: skip
    warn(outcome.problems)
    sys.exit(ExitCode.PARTIAL if outcome.problems else ExitCode.OK)


@main.command(name="collect-results")
@sweep_argument
@click.option("--output", "-o", "output", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to download into: OUTPUT/<run>/... (default: ./<sweep>-results).")  # fmt: skip
def collect_results_command(sweep: str, results: str | None, region: str | None, output: Path | None) -> None:
    """Download every run's folder (logs, status.json, outputs); run again to fetch only what is missing."""
    from spawn_tf.collect import show
    from spawn_tf.collect.download import collect_results

    aws, record = resolve_sweep(sweep, results, region)
    output = output or Path(f"{record.id}-results")
    try:
        with show.progress(f"collecting {record.id}") as update:
            report = collector(lambda: collect_results(record, aws, output, progress=update))
    except KeyboardInterrupt:
        click.echo(f"spawn-tf: interrupted; files already in {output} are complete, run again to fetch the rest", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    megabytes = report.bytes / 1_000_000
    click.echo(f"{output}: {report.downloaded} downloaded ({megabytes:.1f} MB), {report.present} already present", err=True)
    if report.stale:
        names = ", ".join(report.stale[:10]) + (f" and {len(report.stale) - 10} more" if len(report.stale) > 10 else "")
        click.echo(f"{len(report.stale)} run{'' if len(report.stale) == 1 else 's'} with files of an earlier configuration "
                   f"(status.json names another fingerprint, or none): in <run>/{contract.STALE_FOLDER}/: {names}", err=True)  # fmt: skip
    warn([f"not downloaded: {problem}" for problem in report.failed])
    warn([f"refused (would land outside {output}): {key}" for key in report.refused])
    sys.exit(ExitCode.PARTIAL if report.failed else ExitCode.OK)


def _statuses_option(command: Any) -> Any:
    names = ", ".join(str(status) for status in contract.UNSUCCESSFUL_STATUSES)
    return click.option("--status", "wanted", default=names.replace(" ", ""), show_default=True,
                        help="Comma-separated statuses of the runs to retry.")(command)  # fmt: skip


@main.command()
@sweep_argument
@_statuses_option
@click.option("--run", "names", multiple=True, help="Retry this run (final runs only; repeat for more). Overrides --status.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a sweep file of those runs here instead of re-opening them in place.")  # fmt: skip
@click.option("--sweep-id", help="With -o: the new sweep's id (default: <sweep>-retry).")
@click.option("--dry-run", is_flag=True, help="Show which runs would be retried, change nothing.")
def retry(*, sweep: str, results: str | None, region: str | None, wanted: str, names: tuple[str, ...], output: Path | None,
          sweep_id: str | None, dry_run: bool) -> None:  # fmt: skip
    """Run failed runs again: re-open them for the next apply, or write a sweep file of them (-o)."""
    from datetime import UTC, datetime

    from spawn_tf.collect.retry import check_not_cancelled, check_whole_view, checked_retry_file, reopen, retry_sweep_id, select

    statuses = wanted_statuses(wanted)
    aws, record = resolve_sweep(sweep, results, region)
    _known_runs(record, names)
    observation, run_statuses = read_status(record, aws)
    warn(observation.problems)
    check_whole_view(observation)
    chosen = select(run_statuses, statuses, frozenset(names))
    for status in chosen:
        click.echo(f"{status.run.name}\t{status.status}")
    if not chosen:
        click.echo(f"spawn-tf: no final run of {record.id} has status {', '.join(sorted(statuses))}" if not names else
                   "spawn-tf: none of those runs is final", err=True)  # fmt: skip
        sys.exit(ExitCode.OK)
    if dry_run:
        click.echo(f"{count(len(chosen), 'run')} would be retried (--dry-run: nothing changed)", err=True)
        sys.exit(ExitCode.OK)
    if output is not None:
        new_id = sweep_id or retry_sweep_id(record.id)
        if not contract.SWEEP_ID_PATTERN.fullmatch(new_id):
            raise click.UsageError(f"--sweep-id '{new_id}' is not a sweep id (a-z, 0-9, '-', at most 40 characters)")
        text = collector(lambda: checked_retry_file(record, [status.run.name for status in chosen], new_id, output))
        write_file(output, text.encode())
        click.echo(f"{output}: sweep {new_id} with {count(len(chosen), 'run')}; compile it with `spawn-tf compile {output}`", err=True)
        sys.exit(ExitCode.OK)
    check_not_cancelled(record, observation)
    reopened = collector(lambda: reopen(record, aws, observation, chosen, datetime.now(UTC)))
    roots = sorted({status.run.root for status in chosen if status.run.name in reopened.runs})
    click.echo(f"re-opened {count(len(reopened.runs), 'run')}; their records are in {reopened.history}", err=True)
    click.echo(f"the next `terraform apply` in {', '.join(roots)} launches them again", err=True)
    warn([f"not moved: {problem}" for problem in reopened.failed])
    sys.exit(ExitCode.PARTIAL if reopened.failed else ExitCode.OK)


def _report_hint(sweep: str, options: str = "") -> None:
    """On a terminal only (never in --json, nor when piped): one line naming the command that draws the sweep (`report`)."""
    from spawn_tf.collect.show import on_terminal

    if on_terminal(sys.stdout):
        click.echo(f"spawn-tf: plots of it in one page: spawn-tf report {shlex.quote(sweep)}{options} [-o FILE] [--open]", err=True)


def _widen(statuses: frozenset[str], tally: dict[str, int]) -> str:
    """How to rank more runs: early-stopped runs are `stopped`, ranked by their last progress report when they have no metrics."""
    stopped = str(contract.Status.STOPPED)
    if stopped not in tally:
        return "--status widens it"
    return f"--status {','.join(sorted(statuses | {stopped}))} adds the stopped ones, early-stopped runs among them"


def _known_runs(record: Any, names: Sequence[str]) -> None:
    for name in names:
        if record.run(name) is None:
            hint = did_you_mean(name, [run.name for run in record.runs], cutoff=0.6)
            raise click.BadParameter(f"no run named '{name}' in sweep {record.id}" + (f" ({hint})" if hint else ""), param_hint="--run")


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
    from spawn_tf.collect.list_sweeps import check_matched, list_sweeps, summaries_document
    from spawn_tf.collect.resolve import bucket_region, results_location
    from spawn_tf.collect.status import iso

    aws = Aws(region=region)

    where: list[str] = []

    def read() -> Any:
        bucket, prefix = results_location(aws, results)
        where.append(f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/")
        return list_sweeps(aws, bucket, bucket_region(aws, bucket), prefix, patterns)

    summaries, problems = collector(read)
    check_matched(where[0], patterns, summaries, problems)
    if as_json:
        click.echo(json.dumps(summaries_document(summaries), indent=2))
    else:
        rows = [[s.id, str(s.status), f"{s.final}/{s.runs}", ",".join(s.regions), iso(s.updated) or "-"] for s in summaries]
        show.table(["sweep", "status", "final", "regions", "updated"], rows)
    warn(problems)
    sys.exit(ExitCode.PARTIAL if problems else ExitCode.OK)


@main.command()
@sweep_argument
@click.option("--timeout", help="Give up after this long (30m, 2h); exit 2.")
@click.option("--interval", type=click.IntRange(min=1), default=60, show_default=True, help="Seconds between checks.")
def wait(sweep: str, results: str | None, region: str | None, timeout: str | None, interval: int) -> None:
    """Wait until every run is final: exit 0 if all succeeded (or stopped themselves), 1 if not, 2 on --timeout,
    3 when the sweep cannot be read (never a wait on what cannot be seen)."""
    from spawn_tf.collect import show
    from spawn_tf.collect.wait import wait_until_final
    from spawn_tf.values import parse_duration

    try:
        limit = parse_duration(timeout) if timeout is not None else None
    except ValueError:
        raise click.BadParameter(f"'{timeout}' is not a duration such as 90s, 30m or 2h", param_hint="--timeout") from None
    aws, record = resolve_sweep(sweep, results, region)
    shown: list[str] = []

    def on_read(statuses: Any) -> None:
        line = show.summary_line(record, statuses)
        if line != (shown[-1] if shown else ""):
            click.echo(line, err=True)
            shown.append(line)

    waited = wait_until_final(record, aws, limit=limit, interval=interval, on_read=on_read)
    if waited.problems:
        warn(waited.problems)
        sys.exit(ExitCode.PARTIAL)
    if waited.timed_out:
        click.echo(f"spawn-tf: gave up waiting after {timeout}", err=True)
        sys.exit(ExitCode.TIMEOUT)
    for status in waited.unsuccessful:
        click.echo(f"spawn-tf: {status.run.name}: {status.status}", err=True)
    sys.exit(ExitCode.FAILED if waited.unsuccessful else ExitCode.OK)


@main.command()
@sweep_argument
@click.option("--run", "names", multiple=True, help="Cancel this run only (repeat for more).")
@click.option("--all", "every", is_flag=True, help="Cancel the whole sweep without asking (needed when not on a terminal).")
@click.option("--dry-run", is_flag=True, help="Show what would be stopped; write nothing.")
def cancel(*, sweep: str, results: str | None, region: str | None, names: tuple[str, ...], every: bool, dry_run: bool) -> None:
    """Stop runs: running agents end their workload (status stopped) and Terraform launches none of them again.

    Without --run the whole sweep is cancelled: on a terminal after a question, else only with --all.
    """
    from spawn_tf.collect.cancel import cancel as write_stops
    from spawn_tf.collect.cancel import stop_keys, would_stop

    if names and every:
        raise click.UsageError("--run cancels those runs, --all the whole sweep: give one")
    if not names and not every and not dry_run and not sys.stdin.isatty():
        raise click.UsageError("cancel without --run stops every run of the sweep: add --all to mean it (or --dry-run to see what it would stop)")
    aws, record = resolve_sweep(sweep, results, region)
    _known_runs(record, names)
    if dry_run:
        observation, statuses = read_status(record, aws)
        warn(observation.problems)
        chosen = would_stop(statuses, names)
        for key in stop_keys(record, names):
            click.echo(f"s3://{record.results.bucket}/{key}")
        for status in chosen:
            click.echo(f"would stop {status.run.name} ({status.status})", err=True)
        click.echo(f"--dry-run: nothing written; {len(chosen)} of {len(names) or len(record.runs)} runs are not final and would stop", err=True)
        sys.exit(ExitCode.OK)
    if not names and not every and not click.confirm(f"Cancel every run of {record.id} ({len(record.runs)} runs)?", err=True):
        click.echo("nothing cancelled", err=True)
        sys.exit(ExitCode.FAILED)
    keys = collector(lambda: write_stops(record, aws, names))
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
    made = collector(lambda: make_bucket(aws, aws.home_region, bucket))
    click.echo(f"s3://{made.name} ({made.region}): {'created' if made.created else 'already there; left as it is'}", err=True)
    warn([f"s3://{made.name}: {concern}" for concern in made.concerns])
    if bucket:
        click.echo(f"sweeps report there with: results: s3://{made.name}/{contract.DEFAULT_RESULTS_PREFIX}", err=True)
