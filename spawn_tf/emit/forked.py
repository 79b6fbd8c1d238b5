"""Pure work in a forked process beside this one: its files handed back without pickling (compile's manifests)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePosixPath
from typing import BinaryIO


def forking_pays() -> bool:
    """Whether `in_forked_process` can run beside this process: os.fork exists and more than one CPU is ours.

    os.sched_getaffinity (the CPUs this process may use, e.g. in a container) is Linux's; elsewhere
    every CPU counts.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return hasattr(os, "fork") and cpus > 1


Made = Iterable[tuple[PurePosixPath, bytes | Iterable[bytes]]]  # files, each whole or in pieces


def in_forked_process(make: Callable[[], Made]) -> Forked:
    """Start `make` in a forked process; `Forked.files` waits for it and gives its files.

    The child shares this process's memory as it was at the fork, so nothing is pickled. It writes
    the files `make` gives, piece by piece as they are made, into an unnamed temporary file and ends
    it with their index (path, offset, length; then the index's offset): it never holds a file
    whole, and never waits for this process (as it would for room in a pipe). This process reads
    one file at a time. An exception in the child comes back as RuntimeError. Only for pure work:
    the child writes nothing else.
    """
    out = _unnamed_file()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 0
        try:
            index = []
            for path, content in make():
                start = out.tell()
                if isinstance(content, bytes):
                    out.write(content)
                else:
                    out.writelines(content)
                index.append((str(path), start, out.tell() - start))
            at = out.tell()
            out.write(json.dumps(index).encode() + at.to_bytes(_OFFSET_BYTES, "little"))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            status = 1
            out.write(f"{_FAILED}{type(exc).__name__}: {exc}".encode())
        out.flush()
        os._exit(status)
    return Forked(pid, out)


class Forked:
    """A forked process making files (`in_forked_process`)."""

    def __init__(self, pid: int, out: BinaryIO) -> None:
        self.pid = pid
        self.out = out
        self.status: int | None = None  # its exit status, once waited for

    def files(self) -> Iterator[tuple[PurePosixPath, bytes]]:
        """Wait for the process to end, then its files one at a time."""
        _, self.status = os.waitpid(self.pid, 0)
        with self.out as out:
            if os.waitstatus_to_exitcode(self.status) != 0:
                out.seek(0)
                reason = out.read().rpartition(_FAILED.encode())[2]  # after whatever the child wrote before it failed
                raise RuntimeError(f"the forked writer failed: {reason.decode(errors='replace')}")
            out.seek(-_OFFSET_BYTES, os.SEEK_END)
            at = int.from_bytes(out.read(_OFFSET_BYTES), "little")
            out.seek(at)
            index = json.loads(out.read()[:-_OFFSET_BYTES])
            for path, start, length in index:
                out.seek(start)
                yield PurePosixPath(path), out.read(length)

    def close(self) -> None:
        """End the process if it was not waited for (its files are no longer wanted, e.g. a write failed)."""
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            _, self.status = os.waitpid(self.pid, 0)
        self.out.close()


def _unnamed_file() -> BinaryIO:
    """A file in memory where Linux has them (no file system, nothing to clean up), else a temporary file."""
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("spawn-tf-forked-writer"), "w+b")
    return tempfile.TemporaryFile()


_FAILED = "\0spawn-tf: the forked writer failed: "  # the child's last words when `make` raises
_OFFSET_BYTES = 8  # the index's offset, at the end of the child's file
