"""How the collector's commands (cli_collect.py, cli_report.py) name a sweep and read it.

Every AWS module is imported inside the functions: `spawn-tf validate` never loads boto3.
"""

from __future__ import annotations

from typing import Any

import click


def sweep_argument(command: Any) -> Any:
    """SWEEP and the options that say where an id's sweep reports."""
    command = click.option("--region", help="Home region: of the default results bucket (default: AWS_REGION, else us-east-1).")(command)
    command = click.option("--results", metavar="s3://BUCKET/PREFIX", help="Where a sweep given by id reports (default: the account's bucket).")(command)
    return click.argument("sweep", metavar="SWEEP")(command)


def collector(work: Any) -> Any:
    """`work()`, with its AWS failures as SpawnErrors (collect/aws.py imports boto3: only the collector's commands pay for it)."""
    from spawn_tf.collect.aws import collecting

    return collecting(work)


def resolve_sweep(sweep: str, results: str | None, region: str | None) -> Any:
    """The AWS clients and the sweep that SWEEP (a build, a sweep file or an id) names."""
    from spawn_tf.collect.aws import Aws
    from spawn_tf.collect.resolve import resolve

    aws = Aws(region=region)
    return aws, collector(lambda: resolve(sweep, aws, results=results))


def read_status(record: Any, aws: Any, *, progress: bool = False, capacity: bool = False) -> tuple[Any, Any]:
    """What `status` reads: the observation and each run's status."""
    from spawn_tf.collect.reading import read_statuses

    return collector(lambda: read_statuses(record, aws, progress=progress, capacity=capacity))


def wanted_statuses(wanted: str) -> frozenset[Any]:
    """The statuses a comma-separated --status names; an unknown one is a usage error."""
    from spawn_tf.contract import Status

    chosen = {word.strip() for word in wanted.split(",") if word.strip()}
    known = {str(status) for status in Status}
    unknown = sorted(chosen - known)
    if unknown:
        raise click.BadParameter(f"unknown status {', '.join(unknown)}; statuses are {', '.join(str(s) for s in Status)}", param_hint="--status")
    return frozenset(Status(word) for word in chosen)
