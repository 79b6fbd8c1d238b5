"""A run's capacity markers as `status` shows them (DESIGN §13): which candidates had no capacity, until when,
what the run is on, and why a pending run waits. Pure.

The rule is spawn_tf/capacity.py's, the one Terraform applies: a marker counts while it is younger than the
sweep's `capacity_retry_after`; the run's current candidate is the first without one. A started run
stays on the candidate it was launched on (its markers are shown, and move nothing). Its candidates are built as Terraform builds them, from the zones EC2 says offer its types.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from spawn_tf import capacity, contract
from spawn_tf.capacity import Candidate, Marker
from spawn_tf.collect.observe import Instance, Key, Zones
from spawn_tf.contract import Market
from spawn_tf.manifest import RunRecord

_MARKER = re.compile(contract.CAPACITY_MARKER_PATTERN)


@dataclass(frozen=True, slots=True, kw_only=True)
class InUse:
    """The candidate a live instance is on, as EC2 describes the instance."""

    instance_type: str
    zone: str
    market: Market
    index: int | None  # its place among the run's candidates; None when they are not known (or it is none of them)

    def describe(self) -> str:
        what = f"{self.instance_type} in {self.zone}, {self.market}"
        return what if self.index is None else f"candidate {self.index} ({what})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityView:
    """A run's live markers and what they mean for it."""

    region: str
    at: datetime  # when the markers were read
    markers: tuple[Marker, ...]  # the live ones, oldest first (every one, for a started run)
    started: bool  # an attempt under way or a live instance: its markers do not move it
    retry_at: datetime | None  # when a marked candidate counts again (None for a started run: it stays where it is)
    candidates: tuple[Candidate, ...] | None  # None: not known (EC2 not asked, or could not say: `problem`)
    in_use: InUse | None = None
    problem: str | None = None

    @property
    def marked(self) -> frozenset[int]:
        return frozenset(marker.candidate for marker in self.markers)

    @property
    def waiting(self) -> bool:
        """Every candidate is marked (or, candidates unknown, some are): nothing launches before `retry_at`."""
        return not self.started and (self.candidates is None or capacity.current(len(self.candidates), self.marked) is None)

    def explain(self) -> str:
        """Why it is where it is: the `capacity` reason's detail, or (started) what it runs on."""
        marked = f"{_plural(len(self.marked), 'candidate')} {_ranges(self.marked)}"
        if self.started:
            where = f"on {self.in_use.describe()}; " if self.in_use else ""
            return f"{where}markers on {marked} do not move it while it runs"
        if self.candidates is None:
            unknown = f" (its number of candidates is not known: {self.problem})" if self.problem else ""
            return f"{marked} without capacity; retried from {_time(self.retry_at, self.at)}{unknown}"
        following = capacity.current(len(self.candidates), self.marked)
        if following is not None:
            chosen = self.candidates[following]
            return (f"{marked} without capacity; the next apply tries candidate {following} "
                    f"({chosen.instance_type} in {chosen.placement.zone}, {chosen.market})")  # fmt: skip
        if not self.candidates:
            return f"no candidate: no zone of {self.region} with a subnet of the run offers its instance types"
        return f"every candidate ({_ranges(range(len(self.candidates)))}) without capacity; retried from {_time(self.retry_at, self.at)}"


def parse(sweep_folder: str, keys: Iterable[Key]) -> dict[str, tuple[Marker, ...]]:
    """The markers of a listing of S/_capacity/ by run key (R), oldest first; keys of another shape are left out."""
    prefix = contract.control_prefix(sweep_folder, contract.CONTROL_CAPACITY)
    found: dict[str, list[Marker]] = {}
    for key in keys:
        match = _MARKER.fullmatch(key.name.removeprefix(prefix))
        if match:
            found.setdefault(match[1], []).append(Marker(int(match[2]), int(match[3])))
    return {run: tuple(sorted(markers, key=lambda marker: (marker.unix_time, marker.candidate))) for run, markers in found.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """What the status rules saw of the run that matters to its markers."""

    started: bool  # an attempt that began without an outcome, or a live instance
    instance: Instance | None = None  # its live instance, if any


def view(run: RunRecord, markers: Collection[Marker], seen: Seen, zones: Zones | None, *, now: datetime, retry_after: int) -> CapacityView | None:
    """The run's capacity view; None when it has no live marker."""
    moment = int(now.timestamp())
    # a started run's markers are all shown: none of them moves it while it runs
    shown = tuple(marker for marker in markers if seen.started or capacity.live((marker,), moment, retry_after))
    if not shown:
        return None
    built = None
    if zones is not None and zones.problem is None:
        spec = run.candidate_spec  # duck-types RunSettings' candidate fields
        built = capacity.candidates(spec, capacity.placements(spec, zones.default_subnets, zones.subnet_zones), zones.offered)
    newest: dict[int, int] = {}
    for marker in shown:
        newest[marker.candidate] = max(newest.get(marker.candidate, 0), marker.unix_time)
    return CapacityView(
        region=run.region,
        at=now,
        markers=shown,
        started=seen.started,
        retry_at=None if seen.started else moment_of(min(newest.values()) + retry_after),
        candidates=built,
        in_use=_in_use(seen.instance, built),
        problem=zones.problem if zones is not None else None,
    )


def _in_use(instance: Instance | None, built: tuple[Candidate, ...] | None) -> InUse | None:
    """The candidate of a live instance: the one of its type, market, zone (and subnet, when EC2 names it)."""
    if instance is None or instance.instance_type is None or instance.zone is None or instance.market is None:
        return None
    index = next((candidate.index for candidate in built or () if candidate.instance_type == instance.instance_type
                  and candidate.market is instance.market and candidate.placement.zone == instance.zone
                  and instance.subnet in (None, candidate.placement.subnet)), None)  # fmt: skip
    return InUse(instance_type=instance.instance_type, zone=instance.zone, market=instance.market, index=index)


def _ranges(indexes: Iterable[int]) -> str:
    """`0-2, 5`: consecutive indexes as ranges."""
    spans: list[list[int]] = []
    for index in sorted(indexes):
        if spans and index == spans[-1][1] + 1:
            spans[-1][1] = index
        else:
            spans.append([index, index])
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in spans)


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def moment_of(unix_time: int) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC)


def _time(moment: datetime | None, now: datetime) -> str:
    """`14:05 UTC` today, with the date on another day."""
    if moment is None:
        return "-"
    return moment.strftime("%H:%M UTC" if moment.date() == now.astimezone(UTC).date() else "%Y-%m-%d %H:%M UTC")
