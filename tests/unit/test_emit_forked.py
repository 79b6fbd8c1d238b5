"""spawn_tf/emit/forked.py: the forked writer of the manifests, and whether forking pays where this runs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from spawn_tf.emit import forked


def test_in_forked_process_returns_the_childs_files() -> None:
    parent = os.getpid()
    result = forked.in_forked_process(lambda: [(PurePosixPath("pid"), str(os.getpid()).encode())])
    [(path, content)] = list(result.files())
    assert path == PurePosixPath("pid") and int(content) != parent  # made in another process, handed back whole


def test_in_forked_process_reports_the_childs_exception() -> None:
    def fail() -> list[tuple[PurePosixPath, bytes]]:
        raise ValueError("boom")

    result = forked.in_forked_process(fail)
    with pytest.raises(RuntimeError, match="ValueError: boom"):
        list(result.files())


def test_in_forked_process_gives_each_file_whole_in_the_order_made() -> None:
    made = [(PurePosixPath("a/one"), (str(n).encode() for n in range(5))), (PurePosixPath("two"), b""), (PurePosixPath("three"), b"3")]
    result = forked.in_forked_process(lambda: made)
    assert list(result.files()) == [(PurePosixPath("a/one"), b"01234"), (PurePosixPath("two"), b""), (PurePosixPath("three"), b"3")]


def test_in_forked_process_without_memory_files_uses_a_temporary_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)  # macOS
    result = forked.in_forked_process(lambda: [(PurePosixPath("f"), (str(n).encode() for n in range(3)))])
    assert list(result.files()) == [(PurePosixPath("f"), b"012")]


def test_in_forked_process_reports_an_exception_after_some_files() -> None:
    def made() -> Iterator[tuple[PurePosixPath, Iterator[bytes]]]:
        yield PurePosixPath("whole"), iter([b"a whole file"])
        yield PurePosixPath("half"), pieces()

    def pieces() -> Iterator[bytes]:
        yield b"half a document"
        raise ValueError("boom")

    result = forked.in_forked_process(made)
    with pytest.raises(RuntimeError, match=r"the forked writer failed: ValueError: boom$"):
        list(result.files())


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


def test_a_forked_process_whose_files_are_not_wanted_is_ended_and_reaped() -> None:
    def slow() -> Iterator[tuple[PurePosixPath, bytes]]:
        time.sleep(60)
        yield PurePosixPath("late"), b""

    started = time.monotonic()
    result = forked.in_forked_process(slow)
    result.close()
    assert time.monotonic() - started < 30  # not waited out
    with pytest.raises(ProcessLookupError):
        os.kill(result.pid, 0)  # reaped: no zombie left under its pid
    assert result.out.closed


def test_compiled_files_read_only_in_part_leave_no_process(tmp_path: Path) -> None:
    from spawn_tf.emit.terraform import emit_files
    from spawn_tf.pipeline import check_file

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("defaults: {instance_type: m7i.large, ttl: 1h, command: 'true'}\nparams:\n  - {name: a}\n")
    checked = check_file(sweep)
    assert checked.plan is not None
    before = _children()
    files = emit_files(checked.plan, checked.exports, checked.sizes, fork_manifest=True)
    next(files)
    assert len(_children()) == len(before) + 1
    files.close()  # as when a write fails
    assert _children() == before


def _children() -> list[str]:
    """This process's child processes (Linux)."""
    return [pid for task in Path(f"/proc/{os.getpid()}/task").iterdir() for pid in (task / "children").read_text().split()]
