"""wait: read a sweep's status until every run is final, the view is partial, or the time is up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spawn_tf import contract
from spawn_tf.collect.aws import Aws, collecting
from spawn_tf.collect.observe import observe
from spawn_tf.collect.status import run_statuses, sweep_status
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.contract import SweepStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Waited:
    statuses: tuple[Any, ...]  # the last statuses read
    problems: tuple[str, ...]  # what could not be read: waiting on a partial view could last forever
    timed_out: bool

    @property
    def unsuccessful(self) -> list[Any]:
        return [status for status in self.statuses if status.status not in contract.SUCCESSFUL_STATUSES]


def wait_until_final(record: SweepRecord, aws: Aws, *, limit: int | None, interval: int, on_read: Callable[[tuple[Any, ...]], None]) -> Waited:
    """Read the statuses every `interval` seconds (`on_read` sees each reading) until every run is final, a read is partial
    (botocore has retried already), or `limit` seconds have passed."""
    deadline = time.monotonic() + limit if limit is not None else None
    while True:
        observation = collecting(lambda: observe(record, aws))
        statuses = run_statuses(record, observation)
        on_read(statuses)
        if observation.problems:
            return Waited(statuses=statuses, problems=observation.problems, timed_out=False)
        if sweep_status(statuses) is SweepStatus.COMPLETED:
            return Waited(statuses=statuses, problems=(), timed_out=False)
        if deadline is not None and time.monotonic() >= deadline:
            return Waited(statuses=statuses, problems=(), timed_out=True)
        time.sleep(min(interval, deadline - time.monotonic()) if deadline is not None else interval)
