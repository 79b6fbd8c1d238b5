"""Work in a forked process beside this one, its small result handed back as JSON (compile's sweep-wide files)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO


def forking_pays() -> bool:
    """Whether `in_forked_process` can run beside this process: os.fork exists and more than one CPU is ours.

    os.sched_getaffinity (the CPUs this process may use, e.g. in a container) is Linux's; elsewhere
    every CPU counts.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return hasattr(os, "fork") and cpus > 1


def in_forked_process(work: Callable[[], Any]) -> Forked:
    """Start `work` in a forked process; `Forked.result` waits for it and gives what it returned (JSON values).

    The child shares this process's memory as it was at the fork, so nothing is pickled. It writes
    its result into an unnamed temporary file, so it never waits for this process (as it would for
    room in a pipe). An exception in the child comes back as RuntimeError, its end by a signal as
    `Ended`; it ends with this process. Its other effects (files it writes) are the caller's to clean up.
    """
    out = _unnamed_file()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:  # whatever happens, the child ends here: never unwinding into the parent's code (its cleanups, its CLI)
            _end_with(parent)
            try:
                out.write(json.dumps(work()).encode())
                out.flush()
                status = 0
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                out.seek(0)
                out.truncate()
                out.write(f"{type(exc).__name__}: {exc}".encode())
                out.flush()
        finally:
            os._exit(status)
    return Forked(pid, out)


class Ended(RuntimeError):
    """The forked process was ended by a signal before it answered (e.g. by the kernel, for memory)."""


def _end_with(parent: int) -> None:
    """End this forked process when its parent ends (Linux's PR_SET_PDEATHSIG): it may be writing into the parent's
    staging folder, which a parent killed mid-write (kill -9, a timeout, the out-of-memory killer) no longer removes,
    and it holds the parent's files open (a build's lock)."""
    with contextlib.suppress(OSError, AttributeError, ImportError):  # elsewhere (or a Python without ctypes): no such call
        import ctypes  # only here, in the forked process

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the call above
        os._exit(1)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Forked:
    """A forked process at work (`in_forked_process`)."""

    def __init__(self, pid: int, out: BinaryIO) -> None:
        self.pid = pid
        self.out = out
        self.status: int | None = None  # its exit status, once waited for

    def result(self) -> Any:
        """Wait for the process to end; what its work returned."""
        _, self.status = os.waitpid(self.pid, 0)
        with self.out as out:
            out.seek(0)
            text = out.read()
        code = os.waitstatus_to_exitcode(self.status)
        if code < 0:
            raise Ended(f"the forked process was ended by signal {-code}")
        if code != 0:
            raise RuntimeError(f"the forked process failed: {text.decode(errors='replace')}")
        return json.loads(text)

    def close(self) -> None:
        """End the process if it was not waited for (its result is no longer wanted, e.g. a write failed)."""
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            _, self.status = os.waitpid(self.pid, 0)
        self.out.close()


def _unnamed_file() -> BinaryIO:
    """A file in memory where Linux has them (no file system, nothing to clean up), else a temporary file."""
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("spawn-tf-forked"), "w+b")
    return tempfile.TemporaryFile()
