"""retry: re-open finished runs in place, or write a sweep file of just those runs (DESIGN §7).

In place, a run's done marker, attempt records, leases and capacity markers move to S/_history/<time>/
(copied, then deleted), so the next `terraform apply` launches it again into the same prefix with a
fresh count of attempts. Leases move too: a new agent's first lease would otherwise be taken already;
and capacity markers: a re-opened run starts from its first candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, Aws, CollectError, error_text, map_on_threads
from spawn_tf.collect.observe import Key, Observation, list_keys
from spawn_tf.collect.status import RunStatus
from spawn_tf.collect.sweep import SweepRecord
from spawn_tf.contract import ExitCode, Status
from spawn_tf.errors import SpawnError
from spawn_tf.model import Run, Sweep

_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopened:
    runs: tuple[str, ...]
    moved: tuple[str, ...]  # keys moved to history
    history: str  # s3://bucket/S/_history/<time>/
    failed: tuple[str, ...]  # "<key>: <why>" for keys that could not be moved


def select(statuses: Iterable[RunStatus], wanted: frozenset[Status], names: frozenset[str]) -> tuple[RunStatus, ...]:
    """Final runs with one of the `wanted` statuses, or, when `names` are given, those runs if final."""
    if names:
        return tuple(status for status in statuses if status.run.name in names and status.final)
    return tuple(status for status in statuses if status.final and status.status in wanted)


# The control prefixes whose keys of a run (R/...) move to history when it is re-opened.
_REOPENED = (contract.CONTROL_DONE, contract.CONTROL_ATTEMPTS, contract.CONTROL_LEASE, contract.CONTROL_CAPACITY)


def keys_to_move(sweep: SweepRecord, observation: Observation, listed: Iterable[Key], chosen: Iterable[RunStatus]) -> dict[str, list[str]]:
    """By run: the control keys that keep it finished — done, attempts, leases, capacity markers (`listed`: the
    leases and markers), and its own stop marker."""
    folder = sweep.results.folder
    every = [*observation.done, *observation.attempts, *listed]
    stops = {key.name for key in observation.stops}
    moved = {}
    for status in chosen:
        prefixes = tuple(f"{contract.control_prefix(folder, control)}{status.run.key}/" for control in _REOPENED)
        stop = contract.stop_key(folder, status.run.name)
        moved[status.run.name] = sorted(key.name for key in every if key.name.startswith(prefixes)) + ([stop] if stop in stops else [])
    return moved


def reopen(sweep: SweepRecord, aws: Aws, observation: Observation, chosen: tuple[RunStatus, ...], now: datetime) -> Reopened:
    """Move the chosen runs' control keys to history: the next apply launches them again.

    A run's keys are deleted only once all of them are copied: half a move (a lease left behind,
    say) would make its next agent lose the lease to nobody.
    """
    results = sweep.results
    controls = (contract.CONTROL_LEASE, contract.CONTROL_CAPACITY)
    listings = map_on_threads(lambda control: list_keys(aws, results.bucket, results.region, contract.control_prefix(results.folder, control)), controls)
    by_run = keys_to_move(sweep, observation, [key for listing in listings for key in listing], chosen)
    keys = [key for run_keys in by_run.values() for key in run_keys]
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    s3 = aws.s3(results.region)

    def copy(key: str) -> str | None:
        try:
            s3.copy_object(Bucket=results.bucket, Key=contract.history_key(results.folder, stamp, key),
                           CopySource={"Bucket": results.bucket, "Key": key})  # fmt: skip
        except AWS_ERRORS as exc:
            return f"{key}: {error_text(exc)}"
        return None

    problems = dict(zip(keys, map_on_threads(copy, keys), strict=True))
    failed = [problem for problem in problems.values() if problem]
    whole = [run for run, run_keys in by_run.items() if not any(problems[key] for key in run_keys)]
    deletable = [key for run in whole for key in by_run[run]]
    for start in range(0, len(deletable), _DELETE_BATCH):
        batch = deletable[start : start + _DELETE_BATCH]
        try:
            answer = s3.delete_objects(Bucket=results.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
        except AWS_ERRORS as exc:
            failed += [f"{key}: {error_text(exc)}" for key in batch]
            continue
        failed += [f"{error['Key']}: {error.get('Code')}: {error.get('Message')}" for error in answer.get("Errors", [])]
    return Reopened(
        runs=tuple(whole),
        moved=tuple(deletable),
        history=f"s3://{results.bucket}/{contract.history_key(results.folder, stamp, '')}",
        failed=tuple(failed),
    )


# Top-level keys a retry file rewrites (the runs, how they were generated and placed); it keeps the others as written.
_REWRITTEN_KEYS = frozenset({"sweep", "defaults", "params", "grid", "random", "name_template", "regions"})


def retry_document(sweep: Sweep, document: Mapping[str, Any], runs: Iterable[Run], own_rows: list[Mapping[str, Any]], sweep_id: str) -> dict[str, Any]:
    """A sweep file of just `runs`, each with its own keys as written and its name and region pinned.

    Args:
        sweep: the original sweep; its defaults (top-level settings included) become the file's defaults.
        document: the original file's data, for the top-level keys kept as written.
        runs: the runs to retry.
        own_rows: every run's own keys, in run order (`expand.own_rows`).
        sweep_id: the new sweep's id: a sweep of its own, beside the original.
    """
    params = []
    for run in runs:
        row = {key: value for key, value in own_rows[run.index].items() if key not in ("name", "region")}
        params.append({"name": run.name, "region": run.region, **row})
    retry: dict[str, Any] = {"sweep": sweep_id}
    retry.update({key: document[key] for key in contract.SWEEP_KEYS if key in document and key not in _REWRITTEN_KEYS})
    if sweep.defaults:
        retry["defaults"] = dict(sweep.defaults)
    retry["params"] = params
    return retry


def retry_sweep_id(original: str, suffix: str = "-retry") -> str:
    """`<id>-retry` (or another suffix), shortened to fit the 40 characters of a sweep id."""
    return original[: 40 - len(suffix)].rstrip("-") + suffix


def retry_file_text(sweep_file: Path, names: Iterable[str], sweep_id: str) -> str:
    """The YAML of a sweep file holding just the runs `names` of `sweep_file`, in their original order."""
    from spawn_tf.expand import own_rows
    from spawn_tf.pipeline import check_file
    from spawn_tf.render import sweep_yaml

    checked = check_file(sweep_file)
    sweep, runs, document = checked.sweep, checked.runs, checked.document
    if sweep is None or runs is None or document is None:
        raise CollectError(f"{sweep_file} has errors", f"`spawn-tf validate {sweep_file}` lists them")
    wanted = set(names)
    chosen = [run for run in runs if run.name in wanted]
    header = f"# The runs of {sweep_file.name} to run again ({len(chosen)} of {len(runs)}), written by spawn-tf retry.\n"
    return header + sweep_yaml(retry_document(sweep, document.data, chosen, list(own_rows(sweep)), sweep_id))


def checked_retry_file(record: SweepRecord, names: Iterable[str], sweep_id: str, output: Path) -> str:
    """The text of a retry file for `output`, only if it checks clean: a retry file that does not compile helps nobody."""
    import tempfile

    from spawn_tf.pipeline import check_file

    with tempfile.TemporaryDirectory(prefix="retry-source-") as scratch:
        text = retry_file_text(sweep_file_of(record, Path(scratch)), names, sweep_id)
    with tempfile.TemporaryDirectory(prefix="retry-check-") as scratch:
        draft = Path(scratch) / (output.name if output.suffix else f"{output.name}.yaml")
        draft.write_text(text, encoding="utf-8")
        checked = check_file(draft, str(output))
    if checked.plan is None:
        rendered = "\n".join(diagnostic.render() for diagnostic in checked.diagnostics)
        raise SpawnError(f"the retry file for {output} does not check; nothing written:\n{rendered}", "a retry file that does not check is a bug of spawn-tf's")
    return text


def sweep_file_of(record: SweepRecord, scratch: Path) -> Path:
    """The sweep file a record came from: as given, or its text from sweep.json written into `scratch` under its name."""
    if record.sweep_file is not None:
        return record.sweep_file
    if record.source is None:
        raise SpawnError("-o writes runs with their settings, as the sweep file has them, and this sweep's sweep.json does not carry "
                         "the file (compiled by an earlier spawn-tf, or elsewhere): give the sweep file, or its build/<sweep>/sweep.json",
                         exit_code=ExitCode.USAGE)  # fmt: skip
    name, text = record.source
    path = scratch / Path(name).name
    path.write_text(text, encoding="utf-8")
    return path


def check_whole_view(observation: Observation) -> None:
    """Retry only on a full view of the sweep: a run that could not be read may be running."""
    if observation.problems:
        raise SpawnError("not retrying on a partial view of the sweep", exit_code=ExitCode.PARTIAL)


def check_not_cancelled(record: SweepRecord, observation: Observation) -> None:
    """Runs re-opened in a sweep cancelled as a whole would not be launched: say so instead."""
    stop_all = contract.stop_key(record.results.folder)
    if any(key.name == stop_all for key in observation.stops):
        raise SpawnError(f"sweep {record.id} is cancelled as a whole: re-opened runs would not be launched",
                         f"delete s3://{record.results.bucket}/{stop_all} to lift it, then retry")  # fmt: skip
