"""The status of each run and of the sweep, from one observation (DESIGN §7). Pure.

The rules are spawn_tf/lifecycle.py's, the same Terraform and the agent decide by: a run's done
marker; else its live instance; else what its attempts say; else pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from spawn_tf import contract, lifecycle
from spawn_tf.capacity import Marker
from spawn_tf.collect import markers
from spawn_tf.collect.markers import CapacityView
from spawn_tf.collect.observe import Instance, Observation, Zones
from spawn_tf.collect.progress import Reports, RunProgress, early_stop_document, parse
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.contract import Status, SweepStatus
from spawn_tf.manifest import CandidateSpec, RunRecord
from spawn_tf.stopping import Rule, Verdict


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
    progress: RunProgress | None = None  # what the run reported; None when progress reports were not asked for
    early_stop: Verdict | None = None  # the early_stopping verdict that stopped it (a `stopped` run, DESIGN §12)
    capacity: CapacityView | None = None  # its live capacity markers (DESIGN §13), when it is not final and has some
    live_instance: Instance | None = None  # the instance EC2 lists as live, if any
    attempt_open: bool = False  # an attempt began without an outcome

    @property
    def started(self) -> bool:
        """Launched and not ended: Terraform keeps it on its candidate whatever the markers say (DESIGN §13)."""
        return self.attempt_open or self.live_instance is not None


def run_statuses(sweep: SweepRecord, observation: Observation, zones: Mapping[str, Zones] | None = None) -> tuple[RunStatus, ...]:
    """Every run's status, in the sweep's order; with its progress and its capacity markers when the observation
    asked for them (`zones`, by region, as EC2 describes them: the candidates of runs with markers)."""
    control = lifecycle.parse(sweep.results.folder, (*observation.done, *observation.attempts, *observation.stops))
    instances: dict[tuple[str, str], list[Instance]] = {}
    for instance in observation.instances:
        instances.setdefault((instance.run, instance.fingerprint), []).append(instance)
    statuses = tuple(
        _run_status(run, control.facts(run.name, run.fingerprint), instances.get((run.name, run.fingerprint), []), _unread(run, observation))
        for run in sweep.runs
    )
    if observation.capacity:
        found = markers.parse(sweep.results.folder, observation.capacity)
        statuses = tuple(_with_capacity(status, found.get(status.run.key, ()), (zones or {}).get(status.run.region), sweep, observation)
                         for status in statuses)  # fmt: skip
    if observation.progress is None and contract.CONTROL_PROGRESS not in observation.unread_listings:
        return statuses
    reports = None if observation.progress is None else parse(sweep.results.folder, observation.progress)
    return tuple(_with_progress(status, reports, sweep.early_stopping) for status in statuses)


def _unread(run: RunRecord, observation: Observation) -> tuple[str, ...]:
    """What could not be read of the run's state: control prefixes, and EC2 in its region (progress reports and
    capacity markers explain a status, they do not decide it)."""
    region = (f"EC2 in {run.region}",) if run.region in observation.unread_regions else ()
    return (*sorted(observation.unread_listings - {contract.CONTROL_PROGRESS, contract.CONTROL_CAPACITY}), *region)


def _with_capacity(status: RunStatus, found: tuple[Marker, ...], zones: Zones | None, sweep: SweepRecord,
                   observation: Observation) -> RunStatus:  # fmt: skip
    """The run's live markers, unless it is final; a pending run with some waits for capacity (reason `capacity`)."""
    if status.final or not found:
        return status
    seen = markers.Seen(started=status.started, instance=status.live_instance)
    view = markers.view(status.run, found, seen, zones, now=observation.at, retry_after=sweep.capacity_retry_after)
    if view is None:
        return status
    reason = f"{contract.CAPACITY_REASON}: {view.explain()}" if status.status is Status.PENDING else status.reason
    return replace(status, capacity=view, reason=reason)


def capacity_regions(statuses: Iterable[RunStatus]) -> dict[str, list[CandidateSpec]]:
    """By region, the candidate specs of the runs with live markers: whose zones EC2 is asked for (none: no call)."""
    wanted: dict[str, list[CandidateSpec]] = {}
    for status in statuses:
        if status.capacity is not None:
            wanted.setdefault(status.run.region, []).append(status.run.candidate_spec)
    return wanted


def waiting_for_capacity(statuses: Iterable[RunStatus]) -> int:
    """Runs the next apply launches nothing for until a marker expires: every candidate marked (or, unknown, some)."""
    return sum(1 for status in statuses if status.capacity is not None and status.capacity.waiting)


def _with_progress(status: RunStatus, reports: Reports | None, rule: Rule | None) -> RunStatus:
    """The run's last reports (none known when `reports` could not be read), and why a `stopped` run was
    early-stopped: stopping.decide on its reports gives stop at some step. Another stop keeps its reason."""
    if reports is None:
        return replace(status, progress=RunProgress(read=False))
    verdict = reports.early_stop(rule, status.run.name) if rule is not None and status.status is Status.STOPPED else None
    reason = status.reason if verdict is None or rule is None else f"{contract.EARLY_STOPPED_REASON}: {verdict.explain(rule)}"
    return replace(status, progress=reports.of_run(status.run.name), early_stop=verdict, reason=reason)


def _run_status(run: RunRecord, facts: lifecycle.RunFacts, instances: list[Instance], unread: tuple[str, ...]) -> RunStatus:
    latest = facts.attempts[-1] if facts.attempts else None
    live = max((instance for instance in instances if instance.state in contract.LIVE_INSTANCE_STATES),
               key=lambda instance: (instance.launched, instance.instance_id), default=None)  # fmt: skip
    shown = live or next((instance for instance in instances if latest and instance.instance_id == latest.instance_id), None)
    view = lifecycle.collector_view(facts, lifecycle.Limits(run.max_attempts, run.max_interruptions), shown, unread)
    return RunStatus(
        run=run,
        status=view.status,
        final=view.final,
        exit_code=facts.done.exit_code if facts.done else None,
        attempts=len(facts.attempts),
        instance_id=shown.instance_id if shown else latest.instance_id if latest else None,
        instance_state=shown.state if shown else None,
        started_at=latest.first_seen if latest else (live.launched if live else None),
        finished_at=facts.done.written if facts.done else None,
        reason=view.reason,
        live_instance=live,
        attempt_open=any(attempt.began is not None and not attempt.outcomes for attempt in facts.attempts),
    )


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
        **_progress_fields(status),
        **({} if status.capacity is None else {"capacity": capacity_document(status.capacity)}),
    }


def capacity_document(view: CapacityView) -> dict[str, Any]:
    """A run's `capacity` in `status --json`: its live markers, when the first marked candidate counts again (null
    for a started run: markers do not move it), how many candidates it has and the one its instance is on (null
    when not known)."""
    in_use = view.in_use
    candidate = None if in_use is None else {"index": in_use.index, "instance_type": in_use.instance_type, "zone": in_use.zone, "market": str(in_use.market)}
    return {
        "markers": [{"candidate": marker.candidate, "at": iso(markers.moment_of(marker.unix_time))} for marker in view.markers],
        "retry_at": iso(view.retry_at),
        "started": view.started,
        "candidates": None if view.candidates is None else len(view.candidates),
        "candidate": candidate,
    }


def _progress_fields(status: RunStatus) -> dict[str, Any]:
    """`progress` (null when it could not be read) and `early_stop`, when progress reports were asked for."""
    if status.progress is None:
        return {}
    return {"progress": status.progress.document(), "early_stop": early_stop_document(status.early_stop)}


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
