"""collect-results: every run's folder (logs, status.json, outputs) into DIR/<run>/ — parallel, resumable, atomic.

Each object is written to DIR/.spawn-tf-partial/ and renamed into place when complete, with the
object's size and time; a file of that size and time is already there, so a second run fetches only
what is missing. Interrupted (Ctrl-C, SIGTERM), it ends the downloads under way and removes the
partial folder; killed outright, the next run removes it. A key that would land outside DIR
(`..`, empty parts) is refused, never written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from spawn_tf.collect.aws import AWS_ERRORS, WORKERS, Aws, CollectError, error_text
from spawn_tf.collect.observe import Key, list_keys
from spawn_tf.collect.sweep import SweepRecord

PARTIAL_FOLDER = ".spawn-tf-partial"
_CHUNK = 1024 * 1024


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


def is_present(path: Path, key: Key) -> bool:
    try:
        found = path.stat()
    except OSError:
        return False
    return found.st_size == key.size and int(found.st_mtime) == int(key.written.timestamp())


def collect_results(
    sweep: SweepRecord, aws: Aws, output: Path, *, progress: Callable[[int, int], None] | None = None
) -> CollectReport:
    """Download the sweep's run folders into `output`, skipping what is already there."""
    listing = list_keys(aws, sweep.results.bucket, sweep.results.region, sweep.results.folder + "/")
    downloads, refused = wanted(listing, sweep.results.folder)
    todo = [download for download in downloads if not is_present(output / download.path, download.key)]
    partial = output / PARTIAL_FOLDER
    try:
        output.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)  # left by a run that was killed
        partial.mkdir()
    except OSError as exc:
        raise CollectError(f"{output}: {exc.strerror or exc}") from None
    s3 = aws.s3(sweep.results.region)
    failed: list[str] = []
    done = 0
    stopping = threading.Event()  # set on Ctrl-C or SIGTERM: downloads under way end at their next chunk

    def fetch(download: Download) -> int:
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

    total_bytes = 0
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        with _terminate_as_interrupt():
            futures = {pool.submit(fetch, download): download for download in todo}
            for future in as_completed(futures):
                try:
                    total_bytes += future.result()
                except (*AWS_ERRORS, OSError) as exc:
                    failed.append(f"{futures[future].key.name}: {error_text(exc) if isinstance(exc, AWS_ERRORS) else exc}")
                done += 1
                if progress:
                    progress(done, len(todo))
    except KeyboardInterrupt:
        stopping.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(partial, ignore_errors=True)
    return CollectReport(
        downloaded=len(todo) - len(failed), present=len(downloads) - len(todo), bytes=total_bytes,
        failed=tuple(sorted(failed)), refused=tuple(refused),
    )  # fmt: skip


class _Stopped(Exception):
    """A download ended because the command was interrupted."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the downloads as Ctrl-C does, so the partial folder is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
