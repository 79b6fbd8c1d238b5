"""cancel: stop markers in S3, which Terraform reads (no more launches) and agents poll (the workload stops)."""

from __future__ import annotations

from collections.abc import Iterable

from spawn_tf import contract
from spawn_tf.collect.aws import Aws, map_on_threads
from spawn_tf.collect.status import RunStatus
from spawn_tf.collect.sweep import SweepRecord


def stop_keys(sweep: SweepRecord, runs: tuple[str, ...] = ()) -> list[str]:
    """The stop marker of each of `runs`, or the sweep's own (`_all`) when none is named."""
    return [contract.stop_key(sweep.results.folder, run) for run in runs] or [contract.stop_key(sweep.results.folder)]


def cancel(sweep: SweepRecord, aws: Aws, runs: tuple[str, ...] = ()) -> list[str]:
    """Write a stop marker for each of `runs`, or the sweep's own (`_all`) when none is named; the keys written."""
    keys = stop_keys(sweep, runs)
    s3 = aws.s3(sweep.results.region)
    map_on_threads(lambda key: s3.put_object(Bucket=sweep.results.bucket, Key=key, Body=b""), keys)
    return keys


def would_stop(statuses: Iterable[RunStatus], runs: tuple[str, ...] = ()) -> list[RunStatus]:
    """The runs a cancel of `runs` (every run when none is named) would stop: those not final."""
    return [status for status in statuses if (status.run.name in runs if runs else True) and not status.final]
