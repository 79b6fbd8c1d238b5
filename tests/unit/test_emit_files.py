"""spawn_tf/emit/files.py: the forked writer of sweep.json, and whether forking pays where this runs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from spawn_tf.emit import files


def test_in_forked_process_returns_the_childs_bytes() -> None:
    parent = os.getpid()
    result = files.in_forked_process(lambda: str(os.getpid()).encode())
    assert int(result()) != parent  # made in another process, handed back whole


def test_in_forked_process_reports_the_childs_exception() -> None:
    def fail() -> bytes:
        raise ValueError("boom")

    result = files.in_forked_process(fail)
    with pytest.raises(RuntimeError, match="ValueError: boom"):
        result()


def test_in_forked_process_sends_pieces_as_one() -> None:
    result = files.in_forked_process(lambda: (str(n).encode() for n in range(5)))
    assert result() == b"01234"


def test_in_forked_process_without_memory_files_uses_a_temporary_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)  # macOS
    result = files.in_forked_process(lambda: (str(n).encode() for n in range(3)))
    assert result() == b"012"


def test_in_forked_process_reports_an_exception_after_some_pieces() -> None:
    def pieces() -> Iterator[bytes]:
        yield b"half a document"
        raise ValueError("boom")

    result = files.in_forked_process(pieces)
    with pytest.raises(RuntimeError, match=r"the forked writer failed: ValueError: boom$"):
        result()


def test_forking_pays_counts_cpus_without_sched_getaffinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert files.forking_pays() is hasattr(os, "fork")
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one CPU, no fork
    assert files.forking_pays() is False


def test_forking_pays_needs_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.delattr(os, "fork")  # Windows
    assert files.forking_pays() is False


def test_forking_pays_uses_the_cpus_this_process_may_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)  # pinned to one CPU in a container
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert files.forking_pays() is False
