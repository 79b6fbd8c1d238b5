"""launch --until-done: apply every root each period until every run is final by the collector's rules (DESIGN §7, §10).

The rolling queue without a cron: each round is a plan and apply of every root (Terraform decides what
to launch from S3's control keys), then one status reading. The collector's AWS access (boto3) is
imported here only, when a round reads the status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spawn_tf import contract
from spawn_tf.contract import ExitCode, Status, SweepStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One status reading of a sweep: the tally a round prints, and whether the rounds can end."""

    sweep: str
    done: int  # final and successful (success, or stopped by the workload or by cancel)
    failed: int  # final, not successful
    running: int
    pending: int
    unknown: int
    completed: bool  # every run is final
    cancelled: bool  # the whole sweep is cancelled: Terraform launches nothing more
    problems: tuple[str, ...]  # what could not be read

    def line(self) -> str:
        unknown = f", {self.unknown} unknown" if self.unknown else ""
        return f"{self.sweep}: {self.done} done, {self.running} running, {self.pending} pending, {self.failed} failed{unknown}"


def status_reader(build_folder: Path) -> Callable[[], Reading]:
    """A function that reads the sweep's status from S3 and EC2, as `spawn-tf status` does."""
    from spawn_tf.collect.aws import Aws, collecting
    from spawn_tf.collect.resolve import resolve

    aws = Aws()
    record = collecting(lambda: resolve(str(build_folder / contract.MANIFEST_FILE), aws))
    return lambda: _read(record, aws)


def _read(record: Any, aws: Any) -> Reading:
    from spawn_tf.collect.aws import collecting
    from spawn_tf.collect.observe import observe
    from spawn_tf.collect.status import run_statuses, sweep_status

    observation = collecting(lambda: observe(record, aws))
    statuses = run_statuses(record, observation)
    final = [status for status in statuses if status.final]
    done = sum(status.status in contract.SUCCESSFUL_STATUSES for status in final)
    stop_all = contract.stop_key(record.results.folder)
    return Reading(
        sweep=record.id,
        done=done,
        failed=len(final) - done,
        pending=sum(status.status is Status.PENDING and not status.final for status in statuses),
        unknown=sum(status.status is Status.UNKNOWN for status in statuses),
        running=sum(not status.final and status.status not in (Status.PENDING, Status.UNKNOWN) for status in statuses),
        completed=sweep_status(statuses) is SweepStatus.COMPLETED,
        cancelled=any(key.name == stop_all for key in observation.stops),
        problems=observation.problems,
    )


@dataclass(frozen=True, slots=True)
class Ending:
    """Why the rounds ended, and the exit code (as `wait`'s: 0 all done, 1 some failed, 3 unreadable or roots failing)."""

    reason: str
    code: int


def ending(readings: Sequence[Reading], *, roots_failed: bool) -> Ending | None:
    """Whether to stop after a round: every sweep final, one cancelled, or one unreadable; None to go on."""
    if problems := [problem for reading in readings for problem in reading.problems]:
        return Ending("cannot read the status: " + "; ".join(problems), ExitCode.PARTIAL)
    if cancelled := [reading.sweep for reading in readings if reading.cancelled]:
        return Ending(
            f"cancelled: {', '.join(cancelled)}", ExitCode.FAILED if any(r.failed or not r.completed for r in readings) else ExitCode.OK
        )
    if all(reading.completed for reading in readings):
        if roots_failed:
            return Ending("every run is final, but some roots failed to apply", ExitCode.PARTIAL)
        failed = sum(reading.failed for reading in readings)
        return Ending("every run is final" + (f"; {failed} not successful" if failed else ""), ExitCode.FAILED if failed else ExitCode.OK)
    return None
