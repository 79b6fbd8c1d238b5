"""spawn_tf/emit/forked.py: work in a forked process, and whether forking pays where this runs; write_tree's files
made and staged by a forked process beside this one (`beside`)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pytest

from spawn_tf import contract
from spawn_tf.emit import forked, staging
from spawn_tf.emit.files import survey, write_tree
from spawn_tf.emit.staging import WriteError


def test_in_forked_process_returns_what_the_child_returned() -> None:
    result = forked.in_forked_process(lambda: {"pid": os.getpid(), "paths": ["a", "b/c"]})
    value = result.result()
    assert value["paths"] == ["a", "b/c"] and value["pid"] != os.getpid()  # made in another process, handed back


def test_in_forked_process_reports_the_childs_exception() -> None:
    def fail() -> None:
        raise ValueError("boom")

    result = forked.in_forked_process(fail)
    with pytest.raises(RuntimeError, match=r"^the forked process failed: ValueError: boom$"):
        result.result()


def test_in_forked_process_reports_a_child_ended_by_a_signal() -> None:
    result = forked.in_forked_process(lambda: os.kill(os.getpid(), signal.SIGKILL))  # as the kernel ends a process out of memory
    with pytest.raises(RuntimeError, match=r"^the forked process was ended by signal 9$"):
        result.result()


def escaped_children(tmp_path: Path, work: Callable[[], object]) -> tuple[BaseException | None, bool]:
    """`in_forked_process(work).result()`'s error here, and whether the child ran on past it into this code."""
    parent, marker = os.getpid(), tmp_path / "escaped"
    error = None
    try:
        forked.in_forked_process(work).result()
    except BaseException as exc:  # noqa: BLE001 - in the child too, if it got out
        error = exc
    if os.getpid() != parent:  # pragma: no cover - a child that got out
        marker.write_text("the forked process ran the caller's code")
        os._exit(0)
    return error, marker.exists()


def test_a_child_whose_error_cannot_be_told_still_ends_there(tmp_path: Path) -> None:
    class Untold(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    def fail() -> None:
        raise Untold

    error, escaped = escaped_children(tmp_path, fail)
    assert isinstance(error, RuntimeError) and str(error).startswith("the forked process failed")
    assert not escaped


def test_a_python_without_ctypes_forks_all_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ctypes", None)  # `import ctypes` raises ImportError, as in a build without libffi
    error, escaped = escaped_children(tmp_path, lambda: [1, 2, 3])
    assert (error, escaped) == (None, False)
    assert forked.in_forked_process(lambda: [1, 2, 3]).result() == [1, 2, 3]


def test_in_forked_process_without_memory_files_uses_a_temporary_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)  # macOS
    assert forked.in_forked_process(lambda: [1, 2, 3]).result() == [1, 2, 3]


def test_forking_pays_counts_cpus_without_sched_getaffinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert forked.forking_pays() is hasattr(os, "fork")
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one CPU, no fork
    assert forked.forking_pays() is False


def test_forking_pays_needs_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.delattr(os, "fork")  # Windows
    assert forked.forking_pays() is False


def test_forking_pays_uses_the_cpus_this_process_may_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)  # pinned to one CPU in a container
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert forked.forking_pays() is False


def test_a_forked_process_whose_result_is_not_wanted_is_ended_and_reaped() -> None:
    started = time.monotonic()
    result = forked.in_forked_process(lambda: time.sleep(60))
    result.close()
    assert time.monotonic() - started < 30  # not waited out
    with pytest.raises(ProcessLookupError):
        os.kill(result.pid, 0)  # reaped: no zombie left under its pid
    assert result.out.closed


# --- write_tree's `beside` ---------------------------------------------------------------------


def _made_by(names: tuple[str, ...]) -> Iterator[tuple[PurePosixPath, bytes]]:
    """Files that say which process made them, the last one in pieces."""
    for name in names[:-1]:
        yield PurePosixPath(name), f"{os.getpid()}\n".encode()
    yield PurePosixPath(names[-1]), iter([f"{os.getpid()}".encode(), b"\n"])


def _written(destination: Path) -> dict[str, int]:
    return {str(path.relative_to(destination)): int(path.read_text()) for path in destination.rglob("*.txt")}


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "forking_pays", lambda: True)  # whatever the CPUs of this machine


def test_beside_files_are_made_and_staged_by_a_forked_process(tmp_path: Path, forking: None) -> None:
    destination = tmp_path / "demo"
    update = write_tree(destination, _made_by(("r/a.txt", "b.txt")), lambda: _made_by(("r/m.txt", "s.txt")))
    written = _written(destination)
    assert set(written) == {"r/a.txt", "b.txt", "r/m.txt", "s.txt"}
    assert written["r/a.txt"] == written["b.txt"] == os.getpid() != written["r/m.txt"] == written["s.txt"]
    assert update.writes == {PurePosixPath(p) for p in ("r/a.txt", "b.txt", "r/m.txt", "s.txt", contract.COMPILED_FILES_RECORD)}
    assert json.loads((destination / contract.COMPILED_FILES_RECORD).read_text())["files"] == ["b.txt", "r/a.txt", "r/m.txt", "s.txt"]
    assert not list(destination.glob(contract.STAGING_PREFIX + "*"))


def test_beside_files_are_made_here_when_forking_does_not_pay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "forking_pays", lambda: False)
    write_tree(tmp_path / "demo", _made_by(("a.txt",)), lambda: _made_by(("m.txt",)))
    assert _written(tmp_path / "demo") == {"a.txt": os.getpid(), "m.txt": os.getpid()}


@pytest.mark.parametrize("refused", ["fork", "memfd_create"])
def test_beside_files_are_made_here_when_no_process_can_be_forked(
    tmp_path: Path, forking: None, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    def refuse(*_: object) -> None:
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))  # a container's process limit; EMFILE for files

    monkeypatch.setattr(os, refused, refuse)
    destination = tmp_path / "demo"
    update = write_tree(destination, _made_by(("r/a.txt",)), lambda: _made_by(("m.txt",)))
    assert _written(destination) == {"r/a.txt": os.getpid(), "m.txt": os.getpid()}
    assert update.writes == {PurePosixPath(p) for p in ("r/a.txt", "m.txt", contract.COMPILED_FILES_RECORD)}
    assert not list(destination.glob(contract.STAGING_PREFIX + "*"))
    assert survey(destination, _made_by(("r/a.txt",)), lambda: _made_by(("m.txt",))).writes == set()  # --check too


def test_beside_files_that_did_not_change_are_not_written_again(tmp_path: Path, forking: None) -> None:
    destination = tmp_path / "demo"
    same = lambda: iter([(PurePosixPath("m.txt"), iter([b"1", b"\n"])), (PurePosixPath("n.txt"), b"2\n")])  # noqa: E731
    write_tree(destination, {PurePosixPath("a.txt"): b"0\n"}, same)
    update = write_tree(
        destination,
        {PurePosixPath("a.txt"): b"0\n"},
        lambda: iter([(PurePosixPath("m.txt"), iter([b"1", b"\n"])), (PurePosixPath("n.txt"), b"3\n")]),
    )
    assert update.writes == {PurePosixPath("n.txt")}
    assert (destination / "n.txt").read_text() == "3\n" and (destination / "m.txt").read_text() == "1\n"
    check = survey(
        destination, {PurePosixPath("a.txt"): b"0\n"}, lambda: iter([(PurePosixPath("m.txt"), b"4\n"), (PurePosixPath("n.txt"), b"3\n")])
    )
    assert check.writes == {PurePosixPath("m.txt")}  # --check compares beside's files too
    assert (destination / "m.txt").read_text() == "1\n" and not list(destination.glob(contract.STAGING_PREFIX + "*"))


def test_a_write_error_in_the_forked_process_names_the_build_path_and_keeps_the_previous_build(
    tmp_path: Path, forking: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "demo"
    write_tree(destination, {PurePosixPath("a.txt"): b"old\n"})
    here, write = os.getpid(), staging._write

    def full_disk_there(file: Path, content: bytes) -> None:
        if os.getpid() != here:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write() reports it: without a file name
        write(file, content)

    monkeypatch.setattr(staging, "_write", full_disk_there)
    with pytest.raises(WriteError) as raised:
        write_tree(destination, {PurePosixPath("a.txt"): b"new\n"}, lambda: iter([(PurePosixPath("r/m.txt"), b"made there\n")]))
    assert raised.value.path == destination / "r" / "m.txt" and raised.value.reason == "no space left on device"
    assert raised.value.outcome == "the previous build is unchanged"
    assert sorted(path.name for path in destination.iterdir()) == [contract.COMPILED_FILES_RECORD, "a.txt"]  # no staging folder left
    assert (destination / "a.txt").read_text() == "old\n"


def test_a_failure_in_the_forked_process_leaves_no_staging_folder(tmp_path: Path, forking: None) -> None:
    def failing() -> Iterator[tuple[PurePosixPath, bytes]]:
        yield PurePosixPath("m.txt"), b"made\n"
        raise ValueError("boom")

    with pytest.raises(RuntimeError, match="ValueError: boom"):
        write_tree(tmp_path / "new", {PurePosixPath("a.txt"): b"a\n"}, failing)
    assert not (tmp_path / "new").exists()  # a first compile that failed leaves no folder


def test_a_failure_here_ends_the_forked_process_and_leaves_nothing(tmp_path: Path, forking: None) -> None:
    def failing_here() -> Iterator[tuple[PurePosixPath, bytes]]:
        yield PurePosixPath("a.txt"), b"a\n"
        raise RuntimeError("a root could not be made")

    def slow() -> Iterator[tuple[PurePosixPath, bytes]]:
        yield PurePosixPath("m.txt"), b"made\n"
        time.sleep(60)
        yield PurePosixPath("n.txt"), b"late\n"

    before = _children()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="a root could not be made"):
        write_tree(tmp_path / "new", failing_here(), slow)
    assert time.monotonic() - started < 30  # not waited out
    assert _children() == before
    assert not (tmp_path / "new").exists()


def _children() -> list[str]:
    """This process's child processes (Linux)."""
    return [pid for task in Path(f"/proc/{os.getpid()}/task").iterdir() for pid in (task / "children").read_text().split()]


def test_a_forked_process_that_ends_without_its_answer_is_a_write_error_and_the_build_stays(tmp_path: Path, forking: None) -> None:
    destination = tmp_path / "demo"
    write_tree(destination, {PurePosixPath("a.txt"): b"old\n"})
    with pytest.raises(WriteError) as raised:  # as when the kernel ends it for memory
        write_tree(destination, {PurePosixPath("a.txt"): b"new\n"}, lambda: os.kill(os.getpid(), signal.SIGKILL) or [])
    assert raised.value.path == destination and raised.value.reason == "the forked process was ended by signal 9"
    assert raised.value.hint == "compile again; the previous build is unchanged"
    assert sorted(path.name for path in destination.iterdir()) == [contract.COMPILED_FILES_RECORD, "a.txt"]
    assert (destination / "a.txt").read_text() == "old\n"


def test_a_failed_move_of_a_file_the_forked_process_staged_names_the_build_path(
    tmp_path: Path, forking: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "demo"
    replace = os.replace

    def full_for_m(source: str, target: str) -> None:
        if str(target).endswith("m.txt"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(source))  # names the staged file, as the system would
        replace(source, target)

    monkeypatch.setattr(os, "replace", full_for_m)
    with pytest.raises(WriteError) as raised:
        write_tree(destination, {PurePosixPath("a.txt"): b"a\n"}, lambda: iter([(PurePosixPath("r/m.txt"), b"m\n")]))
    assert (
        raised.value.path == destination / "r" / "m.txt" and raised.value.outcome == "the build is partly updated: compile again to finish"
    )
    assert not list(destination.glob(contract.STAGING_PREFIX + "*"))


# A compile whose process is killed while its forked process still stages: argv = [build, pid file].
KILLED_PARENT = r"""
import os, signal, sys, time
from pathlib import Path, PurePosixPath
from spawn_tf.emit import staging
staging.forking_pays = lambda: True
from spawn_tf.emit.files import write_tree
pid_file = Path(sys.argv[2])

def beside():
    pid_file.write_text(str(os.getpid()))
    time.sleep(60)
    yield PurePosixPath("late.txt"), b"late"

def here():
    while not pid_file.exists():
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9, a timeout, the out-of-memory killer
    yield PurePosixPath("a.txt"), b"a"

write_tree(Path(sys.argv[1]), here(), beside)
"""


def test_a_forked_process_ends_with_its_parent(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    pid_file = tmp_path / "forked.pid"
    command = [sys.executable, "-c", KILLED_PARENT, str(tmp_path / "demo"), str(pid_file)]
    ended = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False
    )
    assert ended.returncode == -signal.SIGKILL
    status = Path(f"/proc/{pid_file.read_text()}/status")
    deadline = time.monotonic() + 10
    while status.exists() and "\nState:\tZ" not in status.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = status.exists() and "\nState:\tZ" not in status.read_text()  # a zombie has ended: its new parent reaps it
    if alive:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)  # leave nothing running, then fail
    assert not alive
