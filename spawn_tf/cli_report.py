"""`spawn-tf report` (DESIGN §14): the sweep as one self-contained HTML page. Registered on the group of cli_base.py.

The reads are `status`'s and `results`' (cli_sweep.py's helpers); boto3 and plotly are imported only when it runs.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from spawn_tf import contract
from spawn_tf.cli_base import main, warn, write_file
from spawn_tf.cli_sweep import collector, read_status, resolve_sweep, sweep_argument, wanted_statuses
from spawn_tf.contract import ExitCode


@main.command()
@sweep_argument
@click.option("--sort-by", "metric", help="The metric to rank and plot, as `results` ranks: a key of metrics.json (a.b for nested). "
                                          "Default: the sweep's early_stopping metric.")  # fmt: skip
@click.option(
    "--mode", type=click.Choice(["max", "min"]), help="max: higher is better; min: lower is better. Default: early_stopping's, else max."
)
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, help="Runs in the leaderboard.")
@click.option("--status", "wanted", default=str(contract.Status.SUCCESS), show_default=True,
              help="Comma-separated statuses of the runs to rank and plot against their parameters, as for `results`.")  # fmt: skip
@click.option("--metrics-file", default=contract.METRICS_FILE, show_default=True, help="The file each run writes in its output folder.")
@click.option("--prices", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Price file for the cost lines (default: the sweep's budget.prices; none: no cost shown).")  # fmt: skip
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the page (default: ./<sweep>-report.html).",
)
@click.option("--open", "open_page", is_flag=True, help="Open the page in the web browser afterwards.")
def report(*, sweep: str, results: str | None, region: str | None, metric: str | None, mode: str | None, top: int, wanted: str,
           metrics_file: str, prices: Path | None, output: Path | None, open_page: bool) -> None:  # fmt: skip
    """Write one self-contained HTML page of the sweep: counts and cost, leaderboard, parameters against the
    metric, learning curves, attempts. It opens offline; the same reads give the same page."""
    from spawn_tf.collect.report import REPORT_FILE, Ranking, report_document
    from spawn_tf.report_page import page, plotly

    plotly()  # before any AWS call: say which extra is missing at once
    statuses = frozenset(str(status) for status in wanted_statuses(wanted))
    aws, record = resolve_sweep(sweep, results, region)
    rule = record.early_stopping
    metric = metric or (rule.metric if rule is not None else None)
    mode = mode or (rule.mode if rule is not None and metric == rule.metric else "max")
    observation, run_statuses = read_status(record, aws, progress=True)
    problems = list(observation.problems)
    ranking: Ranking | None = None
    if metric is None:
        click.echo("spawn-tf: no --sort-by and no early_stopping metric: the page has no leaderboard", err=True)
    else:
        ranking, more = _ranking(record, aws, metric=metric, mode=mode, statuses=statuses, metrics_file=metrics_file, top=top)
        problems += more
    document = report_document(record, run_statuses, observation, ranking, _cost(record, prices))
    target = output or Path(REPORT_FILE.format(sweep=record.id))
    write_file(target, page(document, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")).encode())
    click.echo(f"{target}: report of {record.id} ({len(run_statuses)} runs)", err=True)
    warn(problems)
    if open_page:
        import webbrowser

        webbrowser.open(target.resolve().as_uri())
    sys.exit(ExitCode.PARTIAL if problems else ExitCode.OK)


def _ranking(
    record: Any, aws: Any, *, metric: str, mode: str, statuses: frozenset[str], metrics_file: str, top: int
) -> tuple[Any, list[str]]:
    """`results`' leaderboard (its reads and rules), and its problems; a metric no run has is a warning here, not an error."""
    from spawn_tf.collect.report import Ranking
    from spawn_tf.collect.results import Mode, last_reports, left_out, metric_missing, rank, read_current

    standings, found, problems = collector(lambda: read_current(record, aws, metrics_file, statuses))
    reported, unlisted = collector(lambda: last_reports(record, aws, metric, found))
    board = rank(found, metric, Mode(mode), reported, file_name=metrics_file)
    missing = metric_missing(board, list(found), metric, metrics_file, reported)
    notes = [f"{missing.message}{'; ' + missing.hint if missing.hint else ''}"] if missing is not None else []
    for line in notes:
        click.echo(f"spawn-tf: {line}", err=True)
    problems = (*problems, *([unlisted] if unlisted else []))
    return Ranking(board=board, statuses=tuple(sorted(statuses)), left_out=left_out(standings, statuses), top=top, problems=problems), list(
        problems
    )


def _cost(record: Any, prices: Path | None) -> Any:
    """The cost lines' prices: from --prices or the sweep file's budget.prices; None without a sweep file or a price file."""
    if record.sweep_file is None:
        if prices is not None:
            click.echo("spawn-tf: --prices: the cost needs the sweep file (its runs' ttl); give SWEEP as the file", err=True)
        return None
    from spawn_tf.collect.report import Cost
    from spawn_tf.cost import estimate_as_json, estimate_cost
    from spawn_tf.pipeline import check_file, price_file, price_table

    checked = check_file(record.sweep_file)
    source = price_file(checked, record.sweep_file, prices) if checked.runs is not None else None
    table, found = price_table(checked.runs or (), source, None)
    warn([diagnostic.render() for diagnostic in found])
    if table is None or checked.runs is None:
        return None
    estimate = estimate_cost(checked.runs, table)
    hourly = {}
    for run in record.runs:
        price = table.get(run.region, run.instance_type)
        hourly[(run.region, run.instance_type, bool(run.spot))] = (
            None if price is None else price.spot_usd if run.spot else price.on_demand_usd
        )
    budget = checked.sweep.budget.max_usd if checked.sweep and checked.sweep.budget else None
    return Cost(worst_case=estimate_as_json(estimate, budget), hourly=hourly)
