"""Capacity markers from an apply's errors (DESIGN §13): which to write, and writing them to the sweep's results bucket.

A run's instance that failed with a capacity error code gives `S/_capacity/<run>.<fingerprint>/<candidate>.
<unix time>`, empty: the next plan skips that candidate while the marker is live. The run's fingerprint is
the build's (sweep.json), its candidate the plan's or state's `terraform_data.candidate`; a failure
whose run or candidate is not known is reported, never guessed. Every other error is reported as it is.
boto3 is imported only when there is a marker to write (through the collector's `Aws`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from spawn_tf import contract
from spawn_tf.errors import SpawnError
from spawn_tf.launch.apply_events import Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker:
    """A marker to write: the run and candidate that had no capacity, the failure that said so, and its key."""

    run: str
    candidate: int
    failure: Failure
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reported:
    """An error that is not a marker, and why not when it names a capacity code (else None: another kind of error)."""

    failure: Failure
    why_not: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    """What an apply's errors came to: markers written to `bucket`, the errors reported as they are, and why
    some marker could not be written (`problem`: AWS or Terraform could not be read; those failures are reported)."""

    markers: tuple[Marker, ...] = ()
    reported: tuple[Reported, ...] = ()
    bucket: str | None = None
    problem: str | None = None


def sort_failures(
    failures: Sequence[Failure], *, candidates: Mapping[str, int], fingerprints: Mapping[str, str], sweep_folder: str
) -> Recording:
    """The markers of the capacity failures whose run and candidate are known (one per run and candidate, the
    earliest time: the same stream recorded again gives the same keys), and the other failures to report."""
    earliest: dict[tuple[str, int], Failure] = {}
    reported: list[Reported] = []
    for failure in failures:
        if failure.code is None:
            reported.append(Reported(failure=failure))
        elif failure.run is None:
            reported.append(Reported(failure=failure, why_not=f'not at a run\'s instance ({contract.INSTANCE_RESOURCE}["<run>"])'))
        elif failure.run not in fingerprints:
            reported.append(Reported(failure=failure, why_not=f"'{failure.run}' is not a run of this root's sweep.json"))
        elif failure.run not in candidates:
            reported.append(Reported(failure=failure, why_not=f'no {contract.CANDIDATE_RESOURCE}["{failure.run}"] in the plan or state'))
        elif failure.unix_time is None:
            reported.append(Reported(failure=failure, why_not="no time (@timestamp) in the stream"))
        else:
            slot = (failure.run, candidates[failure.run])
            if slot not in earliest or failure.unix_time < (earliest[slot].unix_time or 0):
                earliest[slot] = failure
    markers = tuple(
        Marker(run=run, candidate=candidate, failure=failure,
               key=contract.capacity_key(sweep_folder, contract.run_key(run, fingerprints[run]), candidate, int(failure.unix_time or 0)))
        for (run, candidate), failure in earliest.items()
    )  # fmt: skip
    return Recording(markers=markers, reported=tuple(reported))


def record(root: Path, failures: Sequence[Failure], candidates: Callable[[], Mapping[str, int]]) -> Recording:
    """Write the markers of a root's failed apply (`root` = build/<sweep>/<root>), and say what else failed.

    `candidates` is called only when some failure is a run's capacity error (record-apply reads the state
    then; it raises a SpawnError when it cannot). Nothing raises: a marker that cannot be written is reported.
    """
    if not any(failure.capacity for failure in failures):
        return sort_failures(failures, candidates={}, fingerprints={}, sweep_folder="")  # nothing to write: no AWS
    from spawn_tf.collect.aws import Aws, collecting
    from spawn_tf.collect.resolve import resolve

    try:
        aws = Aws()
        sweep = collecting(lambda: resolve(str(root.parent / contract.MANIFEST_FILE), aws))
        fingerprints = {run.name: run.fingerprint for run in sweep.runs if run.root == root.name}
        found = sort_failures(failures, candidates=candidates(), fingerprints=fingerprints, sweep_folder=sweep.results.folder)
        s3 = aws.s3(sweep.results.region)
    except SpawnError as exc:
        others = sort_failures([failure for failure in failures if not failure.capacity], candidates={}, fingerprints={}, sweep_folder="")
        return _unwritten(others, [failure for failure in failures if failure.capacity], exc.message)
    for done, marker in enumerate(found.markers):
        try:
            collecting(lambda marker=marker: s3.put_object(Bucket=sweep.results.bucket, Key=marker.key, Body=b""))
        except SpawnError as exc:
            written = replace(found, markers=found.markers[:done], bucket=sweep.results.bucket)
            return _unwritten(written, [left.failure for left in found.markers[done:]], exc.message)
    return replace(found, bucket=sweep.results.bucket)


def _unwritten(recording: Recording, failures: Sequence[Failure], problem: str) -> Recording:
    """`recording` with `failures`, capacity failures whose markers could not be written, reported with why."""
    unwritten = tuple(Reported(failure=failure, why_not=problem) for failure in failures)
    return replace(recording, reported=recording.reported + unwritten, problem=problem)


def report_lines(recording: Recording) -> list[str]:
    """A line per marker written and per error reported (its first line: Terraform's summary)."""
    lines = [f"no capacity for run '{marker.run}' on candidate {marker.candidate} ({marker.failure.code}): marker s3://{recording.bucket}/{marker.key}"
             for marker in recording.markers]  # fmt: skip
    for item in recording.reported:
        where = f"{item.failure.address}: " if item.failure.address else ""
        why = f" (a capacity error, no marker: {item.why_not})" if item.why_not else ""
        lines.append(f"error{why}: {where}{item.failure.message.splitlines()[0] if item.failure.message else 'no message'}")
    return lines
