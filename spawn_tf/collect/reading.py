"""A sweep's statuses as the collector's commands read them: one observation, then, only for runs with live
capacity markers, the zones their candidates are built from (DESIGN §7, §13)."""

from __future__ import annotations

from spawn_tf.collect.aws import Aws
from spawn_tf.collect.observe import Observation, observe, read_zones
from spawn_tf.collect.status import RunStatus, capacity_regions, run_statuses
from spawn_tf.collect.sweep import SweepRecord


def read_statuses(sweep: SweepRecord, aws: Aws, *, progress: bool = False, capacity: bool = False) -> tuple[Observation, tuple[RunStatus, ...]]:
    """The observation and every run's status; with `capacity`, their markers, and for the runs with live ones
    their candidates (EC2's offerings and subnets in their regions): a sweep without markers pays nothing more."""
    observation = observe(sweep, aws, progress=progress, capacity=capacity)
    statuses = run_statuses(sweep, observation)
    wanted = capacity_regions(statuses)
    if not wanted:
        return observation, statuses
    return observation, run_statuses(sweep, observation, read_zones(aws, wanted))
