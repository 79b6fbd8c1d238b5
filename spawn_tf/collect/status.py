"""The status of each run and of the sweep, from one observation (DESIGN §7). Pure.

A run's status is its done marker if there is one; else its live instance; else what its attempts
say (out of attempts: exhausted; stopped: cancelled; an attempt with an outcome: that outcome, to be
relaunched; an attempt without an outcome or an instance: interrupted, lost); else pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from spawn_tf import contract
from spawn_tf.collect.observe import Instance, Key, Observation
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.contract import Status, SweepStatus
from spawn_tf.manifest import RunRecord

_STATUSES = {str(status): status for status in Status}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStatus:
    run: RunRecord
    status: Status
    final: bool  # nothing will launch this run again (until `retry`)
    exit_code: int | None
    attempts: int  # attempts begun
    instance_id: str | None  # of the live or latest attempt
    instance_state: str | None  # EC2's state of that instance, when EC2 still lists it
    started_at: datetime | None
    finished_at: datetime | None
    reason: str  # why, when the status alone does not say


@dataclass(frozen=True, slots=True)
class _Done:
    status: Status
    exit_code: int | None
    written: datetime


@dataclass(frozen=True, slots=True)
class _Attempts:
    begun: dict[str, datetime]  # instance id -> when the attempt began
    outcomes: dict[str, Status]  # instance id -> how it ended


def run_statuses(sweep: SweepRecord, observation: Observation) -> tuple[RunStatus, ...]:
    """Every run's status, in the sweep's order."""
    done = _done_marks(observation.done, sweep.results.folder)
    attempts = _attempts(observation.attempts, sweep.results.folder)
    stop_prefix = contract.control_prefix(sweep.results.folder, contract.CONTROL_STOP)
    stopped = {key.name.removeprefix(stop_prefix) for key in observation.stops}
    instances: dict[tuple[str, str], list[Instance]] = {}
    for instance in observation.instances:
        instances.setdefault((instance.run, instance.fingerprint), []).append(instance)
    stop_all = contract.STOP_ALL in stopped
    found = (
        _run_status(run, done.get(run.key), attempts.get(run.key), instances.get((run.name, run.fingerprint), []), stop_all or run.name in stopped)
        for run in sweep.runs
    )
    return tuple(_unless_unread(status, observation) for status in found)


def _unless_unread(status: RunStatus, observation: Observation) -> RunStatus:
    """`unknown` where what was not read could change the answer (DESIGN §7: never `pending` for an unread state).

    A done marker settles a run, whatever else is unread (but an unread done listing never reads as
    "no marker"); a live instance shows it running; otherwise every listing and the run's region
    must have been read.
    """
    if status.final and contract.CONTROL_DONE not in observation.unread_listings:
        return status
    if status.instance_state in contract.LIVE_INSTANCE_STATES:
        return status
    if not observation.unread_listings and status.run.region not in observation.unread_regions:
        return status
    unread = [*sorted(observation.unread_listings), *(["EC2 in " + status.run.region] if status.run.region in observation.unread_regions else [])]
    return replace(status, status=Status.UNKNOWN, final=False, reason=f"could not read {', '.join(unread)}")


def _run_status(run: RunRecord, done: _Done | None, attempts: _Attempts | None, instances: list[Instance], stopped: bool) -> RunStatus:
    begun = attempts.begun if attempts else {}
    outcomes = attempts.outcomes if attempts else {}
    latest = max(begun, key=lambda instance_id: (begun[instance_id], instance_id)) if begun else None
    live = max((instance for instance in instances if instance.state in contract.LIVE_INSTANCE_STATES),
               key=lambda instance: (instance.launched, instance.instance_id), default=None)  # fmt: skip
    shown = live or next((instance for instance in instances if instance.instance_id == latest), None)
    failures = sum(1 for status in outcomes.values() if status in contract.FAILURE_STATUSES)
    interruptions = sum(1 for status in outcomes.values() if status in contract.INTERRUPTION_STATUSES)

    # As Terraform decides (emit/schedule.py): an attempt that began without an outcome keeps the run
    # launched whatever blocks it; only then do stop markers and used-up attempts make it final.
    lost = sorted(instance_id for instance_id in begun if instance_id not in outcomes)
    status, final, reason = Status.PENDING, False, ""
    if done is not None:
        status, final = done.status, True
    elif live:
        tagged = _STATUSES.get(live.status_tag or "")
        status = tagged if tagged not in (None, Status.PENDING) else Status.RUNNING
    elif lost:
        status, reason = Status.INTERRUPTED, f"attempt on {', '.join(lost)} ended without an outcome; relaunched by the next apply"
    elif failures >= run.max_attempts or interruptions >= run.max_interruptions:
        status, final = Status.EXHAUSTED, True
        reason = f"{failures} failed attempts, {interruptions} interruptions"
    elif stopped:
        status, final, reason = Status.CANCELLED, True, "stop marker"
    elif latest is not None:
        status, reason = outcomes[latest], "relaunched by the next apply"
    return RunStatus(
        run=run,
        status=status,
        final=final,
        exit_code=done.exit_code if done else None,
        attempts=len(begun),
        instance_id=shown.instance_id if shown else latest,
        instance_state=shown.state if shown else None,
        started_at=begun[latest] if latest is not None else (live.launched if live else None),
        finished_at=done.written if done else None,
        reason=reason,
    )


def _under(keys: Iterable[Key], folder: str, control: str) -> Iterator[tuple[str, str, str, Key]]:
    """(R, name, suffix, key) of each key S/<control>/R/<name>[.<suffix>]; keys of another shape are not ours."""
    prefix = contract.control_prefix(folder, control)
    for key in keys:
        run_key, slash, leaf = key.name.removeprefix(prefix).partition("/")
        if slash and leaf and "/" not in leaf:
            name, _, suffix = leaf.partition(".")
            yield run_key, name, suffix, key


def _done_marks(keys: Iterable[Key], folder: str) -> dict[str, _Done]:
    """R -> its done marker (the newest, should an agent have written two): <status>.<exit code>."""
    marks: dict[str, _Done] = {}
    for run_key, status_text, code, key in _under(keys, folder, contract.CONTROL_DONE):
        status = _STATUSES.get(status_text)
        if status is not None and (run_key not in marks or marks[run_key].written < key.written):
            marks[run_key] = _Done(status, int(code) if code.lstrip("-").isdigit() else None, key.written)
    return marks


def _attempts(keys: Iterable[Key], folder: str) -> dict[str, _Attempts]:
    """R -> its attempts: <instance-id> when one began, <instance-id>.<status> when it ended."""
    found: dict[str, _Attempts] = {}
    for run_key, instance_id, outcome, key in _under(keys, folder, contract.CONTROL_ATTEMPTS):
        entry = found.setdefault(run_key, _Attempts({}, {}))
        if not outcome:
            entry.begun[instance_id] = key.written
        elif outcome in _STATUSES:
            entry.outcomes[instance_id] = _STATUSES[outcome]
    return found


def sweep_status(statuses: Iterable[RunStatus]) -> SweepStatus:
    statuses = list(statuses)
    if any(status.status is Status.UNKNOWN for status in statuses):
        return SweepStatus.UNKNOWN
    if all(status.final for status in statuses):
        return SweepStatus.COMPLETED
    if all(status.status is Status.PENDING for status in statuses):
        return SweepStatus.PENDING
    return SweepStatus.RUNNING


def counts(statuses: Iterable[RunStatus]) -> dict[str, int]:
    """Runs per status, in the order of contract.Status; statuses no run has are left out."""
    tally: dict[Status, int] = {}
    for status in statuses:
        tally[status.status] = tally.get(status.status, 0) + 1
    return {str(status): tally[status] for status in Status if status in tally}


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def run_document(status: RunStatus) -> dict[str, Any]:
    """One run in `status --json`: the seed's `parameter_name` and `exit_code`, and the rest."""
    run = status.run
    return {
        "parameter_name": run.name,
        "run": run.name,
        "index": run.index,
        "status": str(status.status),
        "final": status.final,
        "exit_code": status.exit_code,
        "region": run.region,
        "instance_id": status.instance_id,
        "instance_state": status.instance_state,
        "attempts": status.attempts,
        "fingerprint": run.fingerprint,
        "params": dict(run.params),
        "started_at": iso(status.started_at),
        "finished_at": iso(status.finished_at),
        "reason": status.reason,
    }


def status_document(sweep: SweepRecord, statuses: tuple[RunStatus, ...], problems: Iterable[str]) -> dict[str, Any]:
    """`status --json`: top-level `status` (pending, running, completed) and `instances[]`, as the seed's jq lines read them."""
    return {
        "sweep": sweep.id,
        "status": str(sweep_status(statuses)),
        "results": sweep.results.uri,
        "total": len(statuses),
        "counts": counts(statuses),
        "problems": list(problems),
        "instances": [run_document(status) for status in statuses],
    }
