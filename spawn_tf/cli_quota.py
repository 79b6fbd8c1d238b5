"""`spawn-tf preflight`, and the quota check `plan` (a warning) and `launch` (an error) make first (DESIGN §13).

The clients come from click's context object when the caller gives a `quota_aws.Clients` (tests give
Service Quotas clients under botocore's Stubber), else from boto3's default session.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from spawn_tf import contract, manifest
from spawn_tf.cli_base import count, main, report, warn
from spawn_tf.contract import ExitCode
from spawn_tf.diagnostics import has_errors
from spawn_tf.errors import SpawnError
from spawn_tf.model import Run
from spawn_tf.quota import Report, RunDemand, SweepDemand

_RAISE_HINT = "ask AWS for more with the commands above (an answer can take hours), or lower max_concurrent"


def runs_demand(sweep_id: str, runs: Iterable[Run], max_concurrent: int | None) -> SweepDemand:
    """A compiled sweep's demand: per run and market it may launch in (`spot: auto`: both), its region and every type it may launch."""
    return SweepDemand(sweep=sweep_id, max_concurrent=max_concurrent, runs=tuple(
        RunDemand(region=run.region, market=market, instance_types=run.settings.instance_types)
        for run in runs for market in run.settings.markets))  # fmt: skip


def build_demand(folder: Path) -> SweepDemand:
    """A build folder's demand, from its sweep.json."""
    from spawn_tf.launch.build import read_manifest

    data = read_manifest(folder / contract.MANIFEST_FILE)
    runs = manifest.runs(data)
    if any(run.spot is None for run in runs):
        raise SpawnError(f"{folder}: {contract.MANIFEST_FILE} does not say which runs are spot (an earlier spawn-tf wrote it)",
                         "compile the sweep file again, or add --ignore-quota")  # fmt: skip
    return SweepDemand(sweep=manifest.sweep_id(data), max_concurrent=manifest.max_concurrent(data), runs=tuple(
        RunDemand(region=run.region, market=market, instance_types=run.instance_types) for run in runs for market in run.markets))  # fmt: skip


def read_report(demands: Sequence[SweepDemand]) -> Report:
    from spawn_tf.quota_aws import Clients, default_clients, preflight

    context = click.get_current_context(silent=True)
    given = context.find_object(Clients) if context is not None else None
    return preflight(demands, given or default_clients())


def check_builds(folders: Sequence[Path], *, strict: bool) -> None:
    """plan's and launch's check: quotas below need are a warning, or with `strict` an error; quotas not read, a warning."""
    found = read_report([build_demand(folder) for folder in folders])
    warn([f"quota not checked: {line}" for line in (*found.unread, *found.not_checked())])
    if not found.below:
        return
    if not strict:
        warn([f"{finding.line()}\n  to raise it: {finding.request()}" for finding in found.below])
        return
    for finding in found.below:
        click.echo(f"{finding.line()}\n  {finding.request()}", err=True)
    raise SpawnError(f"nothing launched: {count(len(found.below), 'vCPU quota')} below what the sweep can run at once",
                     f"{_RAISE_HINT}; --ignore-quota launches anyway (instances beyond the quota fail)")  # fmt: skip


def _demand(target: Path) -> SweepDemand:
    if target.is_dir() or target.name == contract.MANIFEST_FILE:
        return build_demand(target if target.is_dir() else target.parent)
    from spawn_tf.pipeline import check_file

    checked = check_file(target)
    report([diagnostic for diagnostic in checked.diagnostics if diagnostic.is_error])  # its warnings are compile's to say
    if has_errors(checked.diagnostics) or checked.sweep is None or checked.runs is None:
        raise SpawnError(f"{target}: not checked: the sweep file has errors")
    return runs_demand(checked.sweep.id, checked.runs, checked.sweep.max_concurrent)


@main.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path), metavar="FILE_OR_BUILD_DIR...")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout (only JSON).")
def preflight(*, targets: tuple[Path, ...], as_json: bool) -> None:
    """Compare each region's peak vCPUs per EC2 quota (spot and on-demand apart) with the account's quotas.

    The peak: every run, or with max_concurrent the largest that many, in each region; sweeps named
    together are added up. Exit 1 when a quota is below need, 3 when one could not be read, else 0.
    """
    found = read_report([_demand(target) for target in targets])
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2))
    else:
        for line in found.lines():
            click.echo(line)
    sys.exit(_exit_code(found))


def _exit_code(found: Report) -> int:
    """A quota known to be too low is the answer (1) even when others could not be read (3)."""
    if found.below:
        click.echo(f"spawn-tf: {count(len(found.below), 'vCPU quota')} below need; {_RAISE_HINT}", err=True)
        return ExitCode.FAILED
    if found.unread:
        click.echo(f"spawn-tf: {count(len(found.unread), 'quota')} not read: {'; '.join(found.unread)}", err=True)
        return ExitCode.PARTIAL
    return ExitCode.OK


def ignore_quota_option(command: Any) -> Any:
    wording = "Launch even when a vCPU quota is below what the sweep can run at once."
    return click.option("--ignore-quota", is_flag=True, help=wording)(command)
