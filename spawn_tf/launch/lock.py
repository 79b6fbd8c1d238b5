"""One launch at a time per build: a lock file in build/<sweep>/.spawn/ that names its holder (DESIGN §10).

An flock(2): the system releases it when its holder ends, however it ends, so a killed launch never
leaves a build locked; the file's text only says who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from spawn_tf import contract
from spawn_tf.errors import SpawnError


def lock_path(build: Path) -> Path:
    return build / contract.LAUNCH_FOLDER / contract.LAUNCH_LOCK


@contextlib.contextmanager
def build_lock(build: Path, command: str) -> Iterator[None]:
    """Hold the build's lock while the block runs; fail at once, naming the holder, when another process has it."""
    path = lock_path(build)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise SpawnError(f"{build} is in use by {holder_text(handle.read())}",
                             "wait for it to end (two Terraform runs on one state would race), or stop that process") from None  # fmt: skip
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_holder(command)) + "\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # the next reader finds no holder named: the lock itself goes with the file's close


def _holder(command: str) -> dict[str, object]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = str(os.getuid())
    return {"pid": os.getpid(), "user": user, "host": socket.gethostname(), "command": command,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv}  # fmt: skip


def holder_text(text: str) -> str:
    """`spawn-tf launch (pid 123, alice@host, since 2026-12-07T05:00:00Z)`, from the lock file's text."""
    try:
        holder = json.loads(text)
        return f"spawn-tf {holder['command']} (pid {holder['pid']}, {holder['user']}@{holder['host']}, since {holder['since']})"
    except (ValueError, KeyError, TypeError):
        return "another spawn-tf process (it has not named itself yet)"
