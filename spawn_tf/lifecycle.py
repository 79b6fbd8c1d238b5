"""A run's lifecycle, written once (DESIGN §5-§7): control keys -> facts -> decisions. Pure.

The names of the control keys carry the facts (DESIGN §5, contract.CONTROL_*): a done marker
R/<status>.<exit code>, attempts R/<instance-id>[.<outcome>], leases R/<n> and stop markers
<run> (or `_all`), with R = `<run>.<fingerprint>`. Terraform (emit/schedule.py embeds the patterns below), the collector
(collect/status.py) and the agent decide from them by these rules, and tests/data/lifecycle.yaml is
the table of scenarios every one of them is run on. A key of another shape is not a marker: it is
ignored by all of them alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from spawn_tf import contract
from spawn_tf.contract import Status


def _names(statuses: Iterable[Status]) -> str:
    return "|".join(str(status) for status in statuses)


def _done_pattern(also_not: str = "") -> str:
    return f"([^/{also_not}]+)/({_names(contract.DONE_STATUSES)})[.]({contract.NO_EXIT_CODE}|[0-9]+)"


def _attempt_pattern(also_not: str = "") -> str:
    return f"([^/{also_not}]+)/([^./{also_not}]+)([.](?:{_names(contract.OUTCOME_STATUSES)})|)"


# Key names below a control prefix, as regular expressions that mean the same in Python and in
# Terraform's RE2 (no escapes, so they read the same in Terraform's strings). Groups: R, then the
# status and exit code of a done marker; the instance id and ".<outcome>" (or "") of an attempt.
DONE_PATTERN = _done_pattern()
ATTEMPT_PATTERN = _attempt_pattern()
# The same, for Terraform, over a whole listing at once: its key names one per line, each matched whole
# (one regexall per listing, not one per key: each call compiles its pattern). A key name holding a
# line break is left out of the lines; no run's key does (run names and fingerprints have none).
DONE_LINES_PATTERN = f"(?m)^{_done_pattern(chr(10))}$"
ATTEMPT_LINES_PATTERN = f"(?m)^{_attempt_pattern(chr(10))}$"
LEASE_PATTERN = "([^/]+)/([^/]+)"
_DONE, _ATTEMPT, _LEASE = (re.compile(pattern) for pattern in (DONE_PATTERN, ATTEMPT_PATTERN, LEASE_PATTERN))


class Listed(Protocol):
    """A key as a listing gives it."""

    @property
    def name(self) -> str: ...

    @property
    def written(self) -> datetime: ...


class Seen(Protocol):
    """A run's instance as EC2 lists it."""

    @property
    def state(self) -> str: ...

    @property
    def status_tag(self) -> str | None: ...


# --- facts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    status: Status
    exit_code: int | None
    written: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    instance_id: str
    began: datetime | None  # when its start key was written; None when only an outcome is listed
    outcomes: tuple[tuple[datetime, Status], ...]  # its outcome keys, oldest first (one, unless an agent wrote two)

    @property
    def first_seen(self) -> datetime:
        return min([*([self.began] if self.began else []), *(written for written, _ in self.outcomes)])

    @property
    def outcome(self) -> Status | None:
        return self.outcomes[-1][1] if self.outcomes else None


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the control keys say about one run (of its current fingerprint)."""

    done: Done | None = None
    attempts: tuple[Attempt, ...] = ()  # oldest first
    leases: frozenset[str] = frozenset()  # the <n> of each lease R/<n>
    stopped: bool = False  # a stop marker for the run or for all


@dataclass(frozen=True, slots=True)
class Control:
    """A sweep's control keys, parsed once: the facts of every run by R."""

    done: Mapping[str, Done]
    attempts: Mapping[str, tuple[Attempt, ...]]
    leases: Mapping[str, frozenset[str]]
    stops: frozenset[str]  # run names, or STOP_ALL

    def facts(self, run: str, fingerprint: str) -> RunFacts:
        key = contract.run_key(run, fingerprint)
        return RunFacts(
            done=self.done.get(key),
            attempts=self.attempts.get(key, ()),
            leases=self.leases.get(key, frozenset()),
            stopped=contract.STOP_ALL in self.stops or run in self.stops,
        )


def parse(folder: str, keys: Iterable[Listed]) -> Control:
    """The facts in the keys of any control listing of the sweep folder S; other keys are not ours."""
    below = {control: contract.control_prefix(folder, control) for control in _CONTROLS}
    found: dict[str, list[tuple[str, datetime]]] = {control: [] for control in _CONTROLS}
    for key in keys:
        for control, prefix in below.items():
            if key.name.startswith(prefix):
                found[control].append((key.name.removeprefix(prefix), key.written))
    return Control(
        done=_done_markers(found[contract.CONTROL_DONE]),
        attempts=_attempts(found[contract.CONTROL_ATTEMPTS]),
        leases=_leases(found[contract.CONTROL_LEASE]),
        stops=frozenset(name for name, _ in found[contract.CONTROL_STOP]),
    )


_CONTROLS = (contract.CONTROL_DONE, contract.CONTROL_ATTEMPTS, contract.CONTROL_LEASE, contract.CONTROL_STOP)


def _done_markers(names: Iterable[tuple[str, datetime]]) -> dict[str, Done]:
    """R -> its done marker; of two, the newest (the later name when both were written in the same second)."""
    newest: dict[str, tuple[datetime, str, Done]] = {}
    for name, written in names:
        if match := _DONE.fullmatch(name):
            run_key, status, code = match.groups()
            mark = (written, name, Done(Status(status), None if code == contract.NO_EXIT_CODE else int(code), written))
            if run_key not in newest or newest[run_key][:2] < mark[:2]:
                newest[run_key] = mark
    return {run_key: mark for run_key, (_, _, mark) in newest.items()}


def _attempts(names: Iterable[tuple[str, datetime]]) -> dict[str, tuple[Attempt, ...]]:
    """R -> its attempts, oldest first: <instance-id> when one began, <instance-id>.<outcome> when it ended."""
    began: dict[tuple[str, str], datetime] = {}
    ended: dict[tuple[str, str], list[tuple[datetime, Status]]] = {}
    for name, written in names:
        if match := _ATTEMPT.fullmatch(name):
            run_key, instance_id, outcome = match.groups()
            if outcome:
                ended.setdefault((run_key, instance_id), []).append((written, Status(outcome[1:])))
            else:
                began[(run_key, instance_id)] = written
    found: dict[str, list[Attempt]] = {}
    for pair in sorted(began.keys() | ended.keys()):
        found.setdefault(pair[0], []).append(Attempt(pair[1], began.get(pair), tuple(sorted(ended.get(pair, [])))))
    return {run_key: tuple(sorted(attempts, key=lambda a: (a.first_seen, a.instance_id))) for run_key, attempts in found.items()}


def _leases(names: Iterable[tuple[str, datetime]]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for name, _ in names:
        if match := _LEASE.fullmatch(name):
            found.setdefault(match[1], set()).add(match[2])
    return {run_key: frozenset(numbers) for run_key, numbers in found.items()}


# --- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """A run's settings that decide its lifecycle."""

    max_attempts: int
    max_interruptions: int
    retry_failed: bool = False


def failures(facts: RunFacts) -> int:
    """Attempts that failed or timed out (each once, however many outcomes it has)."""
    return sum(1 for attempt in facts.attempts if any(status in contract.FAILURE_STATUSES for _, status in attempt.outcomes))


def interruptions(facts: RunFacts) -> int:
    return sum(1 for attempt in facts.attempts if any(status in contract.INTERRUPTION_STATUSES for _, status in attempt.outcomes))


def started(facts: RunFacts) -> bool:
    """An attempt began and has no outcome: its run keeps its instance (and its place) whatever blocks it."""
    return any(attempt.began is not None and not attempt.outcomes for attempt in facts.attempts)


def exhausted(facts: RunFacts, limits: Limits) -> bool:
    return failures(facts) >= limits.max_attempts or interruptions(facts) >= limits.max_interruptions


def blocked(facts: RunFacts, limits: Limits) -> bool:
    """No new attempt may begin: a stop marker, or attempts or interruptions used up."""
    return facts.stopped or exhausted(facts, limits)


def is_open(facts: RunFacts, limits: Limits) -> bool:
    """Terraform keeps or launches an instance for the run (without max_concurrent)."""
    return facts.done is None and (started(facts) or not blocked(facts, limits))


def chosen(runs: Sequence[tuple[RunFacts, Limits]], max_concurrent: int | None) -> tuple[bool, ...]:
    """Which runs, in the sweep's order, Terraform keeps or launches: with max_concurrent, every
    started run and then the first pending ones up to the cap (emit/schedule.py's global choice)."""
    if max_concurrent is None:
        return tuple(is_open(facts, limits) for facts, limits in runs)
    kept = [facts.done is None and started(facts) for facts, _ in runs]
    room = max(0, max_concurrent - sum(kept))
    for n, (facts, limits) in enumerate(runs):
        if room and facts.done is None and not started(facts) and not blocked(facts, limits):
            kept[n], room = True, room - 1
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class View:
    """A run as the collector reports it."""

    status: Status
    final: bool  # nothing launches it again (until `retry`)
    reason: str = ""  # why, when the status alone does not say


def collector_view(facts: RunFacts, limits: Limits, instance: Seen | None = None, unread: Sequence[str] = ()) -> View:
    """The run's status (DESIGN §7): its done marker; else its live instance; else what its attempts say
    (one without an outcome: lost, interrupted; out of attempts: exhausted; stopped: cancelled; the
    latest outcome, to be relaunched); else pending. `unknown` where what is `unread` (names of
    control prefixes, or of EC2 regions) could change that answer."""
    view = _read_view(facts, limits, instance)
    if not unread or (facts.done is not None and contract.CONTROL_DONE not in unread) or _live(instance):
        return view
    return View(Status.UNKNOWN, False, f"could not read {', '.join(unread)}")


_STATUS_NAMES = frozenset(str(status) for status in Status)


def _live(instance: Seen | None) -> bool:
    return instance is not None and instance.state in contract.LIVE_INSTANCE_STATES


def _read_view(facts: RunFacts, limits: Limits, instance: Seen | None) -> View:
    # As Terraform decides: an attempt that began without an outcome keeps the run launched whatever
    # blocks it; only then do used-up attempts and stop markers make it final.
    lost = [attempt.instance_id for attempt in facts.attempts if attempt.began is not None and not attempt.outcomes]
    if facts.done is not None:
        return View(facts.done.status, True)
    if instance is not None and _live(instance):
        tagged = Status(instance.status_tag) if instance.status_tag in _STATUS_NAMES else None
        return View(tagged if tagged not in (None, Status.PENDING) else Status.RUNNING, False)
    if lost:
        return View(Status.INTERRUPTED, False, f"attempt on {', '.join(sorted(lost))} ended without an outcome; relaunched by the next apply")
    if exhausted(facts, limits):
        return View(Status.EXHAUSTED, True, f"{failures(facts)} failed attempts, {interruptions(facts)} interruptions")
    if facts.stopped:
        return View(Status.CANCELLED, True, "stop marker")
    latest = facts.attempts[-1].outcome if facts.attempts else None
    return View(latest, False, "relaunched by the next apply") if latest else View(Status.PENDING, False)


# --- the agent --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentStep:
    """What an agent that starts on a run does: run the workload or not, and what it records."""

    workload: bool
    done: Status | None  # the done marker it writes
    outcome: Status | None  # its attempt's outcome


def lease_held(facts: RunFacts, heartbeat_stale: bool = False) -> bool:
    """Another agent holds the run's newest lease R/<n> (n as written: 1, 2, …) and is not gone (DESIGN §6
    "Faults"): its heartbeat is no older than the agent's limit and fewer than n attempts have an outcome
    (a lease names its holder's instance; one that names none, as the table's, is judged by that count)."""
    numbers = [int(name) for name in facts.leases if name.isdigit() and not name.startswith("0")]
    ended = sum(1 for attempt in facts.attempts if attempt.outcomes)
    return bool(numbers) and not heartbeat_stale and ended < max(numbers)


def is_final(status: Status, failures_before: int, limits: Limits) -> bool:
    """Whether an attempt that ended with `status` finishes the run (DESIGN §6)."""
    if status in contract.INTERRUPTION_STATUSES:
        return False
    if status in contract.FAILURE_STATUSES and limits.retry_failed:
        return failures_before + 1 >= limits.max_attempts
    return True


def agent_start(facts: RunFacts, limits: Limits, exit_code: int = 0, *, heartbeat_stale: bool = False) -> AgentStep:
    """An agent on a new instance (DESIGN §6), in its order: a final run is not run again; out of attempts
    it writes `exhausted`; a live holder of the newest lease keeps the run (the newcomer ends quietly);
    under the lease a stop marker means `cancelled`; else the workload runs and its outcome (here from
    its exit code) is recorded, with a done marker when final. `heartbeat_stale`: the newest lease's
    heartbeat is older than the agent's limit (Terraform and the collector never read leases)."""
    if facts.done is not None:
        return AgentStep(False, None, None)
    if exhausted(facts, limits):
        return AgentStep(False, Status.EXHAUSTED, None)
    if lease_held(facts, heartbeat_stale):
        return AgentStep(False, None, None)
    if facts.stopped:
        return AgentStep(False, Status.CANCELLED, None)
    status = Status.SUCCESS if exit_code == 0 else Status.FAILED
    return AgentStep(True, status if is_final(status, failures(facts), limits) else None, status)
