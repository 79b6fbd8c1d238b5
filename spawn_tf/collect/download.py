"""collect-results: every run's folder (logs, status.json, outputs) into DIR/<run>/ — parallel, resumable, atomic.

Each object is written to DIR/.spawn-tf-partial/ and renamed into place when complete, with the
object's size and time; a file of that size and time is already there, so a second run fetches only
what is missing. Interrupted (Ctrl-C, SIGTERM), it ends the downloads under way and removes the
partial folder; killed outright, the next run removes it. A key that would land outside DIR
(`..`, empty parts) is refused, never written.

A run's folder is the run's own only when its status.json names the run's current fingerprint
(DESIGN §7). Otherwise — its configuration changed since those files were written, the run left
the sweep, or there is no status.json — its files go to DIR/<run>/stale/, never beside the current
outputs; a copy fetched earlier, when it was current, is moved there too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, WORKERS, Aws, CollectError, error_text, map_on_threads
from spawn_tf.collect.observe import Key, list_keys
from spawn_tf.collect.sweep import SweepRecord

_CHUNK = 1024 * 1024
_SIGNAL_CHECK_SECONDS = 0.1  # how soon Ctrl-C or SIGTERM is acted on


@dataclass(frozen=True, slots=True)
class Download:
    key: Key
    path: PurePosixPath  # relative to DIR: <run>/<path below the run's folder>


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectReport:
    downloaded: int
    present: int  # already there, same size and time
    bytes: int  # downloaded
    failed: tuple[str, ...]  # "<key>: <why>"
    refused: tuple[str, ...]  # keys that would land outside DIR
    stale: tuple[str, ...] = ()  # runs whose files went to <run>/stale/


def wanted(keys: list[Key], folder: str) -> tuple[list[Download], list[str]]:
    """The objects of the sweep's run folders (not its `_` control prefixes) and the keys refused as unsafe."""
    downloads, refused = [], []
    for key in keys:
        relative = key.name.removeprefix(folder + "/")
        if relative.startswith("_") or relative.endswith("/"):
            continue  # control keys; "folder" placeholders
        parts = relative.split("/")
        if len(parts) < 2 or any(part in ("", ".", "..") for part in parts):
            refused.append(key.name)
            continue
        downloads.append(Download(key, PurePosixPath(*parts)))
    return downloads, refused


def current_runs(fingerprints: dict[str, str], records: dict[str, object]) -> set[str]:
    """The runs whose status.json (`records`, by run; parsed, or None when unreadable) names their current fingerprint."""
    return {
        run
        for run, record in records.items()
        if run in fingerprints and isinstance(record, dict) and record.get("fingerprint") == fingerprints[run]
    }


def set_aside(downloads: list[Download], current: set[str]) -> list[Download]:
    """Each download of a run whose files are not current, moved to <run>/stale/<path>."""
    return [d if d.path.parts[0] in current else Download(d.key, PurePosixPath(d.path.parts[0], contract.STALE_FOLDER, *d.path.parts[1:]))
            for d in downloads]  # fmt: skip


def is_present(path: Path, key: Key) -> bool:
    try:
        found = path.stat()
    except OSError:
        return False
    return found.st_size == key.size and int(found.st_mtime) == int(key.written.timestamp())


def collect_results(sweep: SweepRecord, aws: Aws, output: Path, *, progress: Callable[[int, int], None] | None = None) -> CollectReport:
    """Download the sweep's run folders into `output`, skipping what is already there."""
    listing = list_keys(aws, sweep.results.bucket, sweep.results.region, sweep.results.folder + "/")
    downloads, refused = wanted(listing, sweep.results.folder)
    s3 = aws.s3(sweep.results.region)
    failed: list[str] = []
    placed, stale, unread = _place(sweep, s3, downloads, failed)
    todo = [download for download in placed if not is_present(output / download.path, download.key)]
    partial = output / contract.DOWNLOAD_PARTIAL_FOLDER
    try:
        output.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)  # left by a run that was killed
        partial.mkdir()
    except OSError as exc:
        raise CollectError(f"{output}: {exc.strerror or exc}") from None
    todo = [download for download in todo if not _moved_aside(output, download)]
    stopping = threading.Event()  # set on Ctrl-C or SIGTERM, and when the downloads end

    def fetch(download: Download) -> int:
        if stopping.is_set():
            raise _Stopped
        temporary = partial / uuid.uuid4().hex
        body = s3.get_object(Bucket=sweep.results.bucket, Key=download.key.name)["Body"]
        with temporary.open("wb") as handle:
            for chunk in iter(lambda: body.read(_CHUNK), b""):
                if stopping.is_set():
                    raise _Stopped
                handle.write(chunk)
        stamp = download.key.written.timestamp()
        os.utime(temporary, (stamp, stamp))  # before the rename: a file in place is whole and dated
        target = output / download.path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
        return download.key.size

    try:
        total_bytes = _run_all(fetch, todo, stopping, failed, progress)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return CollectReport(
        downloaded=len(todo) - (len(failed) - unread), present=len(placed) - len(todo), bytes=total_bytes,
        failed=tuple(sorted(failed)), refused=tuple(refused), stale=tuple(stale),
    )  # fmt: skip


def _run_all(
    fetch: Callable[[Download], int], todo: list[Download], stopping: threading.Event, failed: list[str],
    progress: Callable[[int, int], None] | None,
) -> int:  # fmt: skip
    """Every download on the pool; the bytes fetched. Raises KeyboardInterrupt once the pool has stopped
    after Ctrl-C or SIGTERM, so no download writes after it returns."""
    total_bytes = done = 0
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        with _signals_set(stopping):
            futures = {pool.submit(fetch, download): download for download in todo}
            waiting = set(futures)
            while waiting and not stopping.is_set():
                finished, waiting = wait(waiting, timeout=_SIGNAL_CHECK_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        total_bytes += future.result()
                    except _Stopped:
                        pass
                    except (*AWS_ERRORS, OSError) as exc:
                        failed.append(f"{futures[future].key.name}: {error_text(exc) if isinstance(exc, AWS_ERRORS) else exc}")
                    done += 1
                    if progress:
                        progress(done, len(todo))
        interrupted = stopping.is_set()
    finally:
        stopping.set()  # the downloads under way end at their next chunk, the queued ones never start
        pool.shutdown(wait=True, cancel_futures=True)
    if interrupted:
        raise KeyboardInterrupt
    return total_bytes


def _place(sweep: SweepRecord, s3: Any, downloads: list[Download], failed: list[str]) -> tuple[list[Download], list[str], int]:
    """The downloads where they belong (a stale run's under <run>/stale/), the stale runs, and how many runs'
    status.json could not be read (their files wait for the next run; the errors go to `failed`)."""

    def status_record(download: Download) -> tuple[str, object]:
        try:
            return download.path.parts[0], json.loads(s3.get_object(Bucket=sweep.results.bucket, Key=download.key.name)["Body"].read())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return download.path.parts[0], None
        except AWS_ERRORS as exc:
            failed.append(f"{download.key.name}: {error_text(exc)} (the run's files are left for the next run)")
            return download.path.parts[0], exc

    records = dict(map_on_threads(status_record, [d for d in downloads if d.path.parts[1:] == (contract.STATUS_FILE,)]))
    unread = {run for run, record in records.items() if isinstance(record, BaseException)}
    current = current_runs({run.name: run.fingerprint for run in sweep.runs}, records)
    placed = set_aside([d for d in downloads if d.path.parts[0] not in unread], current)
    return placed, sorted({d.path.parts[0] for d in placed} - current), len(unread)


def _moved_aside(output: Path, download: Download) -> bool:
    """A stale file fetched earlier (when it was current) moved to its stale place; False when there is none."""
    parts = download.path.parts
    if len(parts) < 3 or parts[1] != contract.STALE_FOLDER:
        return False
    earlier = output / PurePosixPath(parts[0], *parts[2:])
    if not is_present(earlier, download.key):
        return False
    target = output / download.path
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(earlier, target)
    return True


class _Stopped(Exception):
    """A download ended because the command was interrupted."""


@contextlib.contextmanager
def _signals_set(stopping: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set `stopping` instead of raising wherever the main thread happens to be.

    An exception raised inside the pool's submit can leave a worker thread that shutdown does not
    wait for, still writing into the partial folder after it is removed; a flag checked between
    waits cannot.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
