"""The helper module that prepares a run's environment (templates/agent/workenv.py), in-process: extraction."""

from __future__ import annotations

import gzip
import importlib
import io
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType

import pytest

from spawn_tf.resources import resource
from spawn_tf.workdir import pack, workdir_setting

FOLDER = Path(str(resource("templates", "agent/workenv.py"))).parent


@pytest.fixture(scope="module")
def workenv() -> ModuleType:
    """workenv.py as the instance's python3 imports it (its folder first on the path), then off the path again."""
    sys.path.insert(0, str(FOLDER))
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        return importlib.import_module("workenv")
    finally:
        sys.path.remove(str(FOLDER))
        sys.dont_write_bytecode = writes
        sys.modules.pop("workenv", None)
        sys.modules.pop("rules", None)


def _tar(*members: tuple[str, bytes | str]) -> bytes:
    """A tar of files (bytes) and symlinks (str: the target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_extract_gives_back_the_packed_tree(workenv: ModuleType, tmp_path: Path) -> None:
    app = tmp_path / "src" / "app"
    (app / "lib").mkdir(parents=True)
    (app / "lib" / "util.py").write_text("X = 1\n")
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o755)
    (app / "lib" / "current").symlink_to("util.py")
    archive = pack(tmp_path / "src", workdir_setting("app"))
    assert workenv.extract(gzip.decompress(archive.data), str(tmp_path / "target")) is None
    target = tmp_path / "target"
    assert (target / "lib" / "util.py").read_text() == "X = 1\n"
    assert (target / "run.sh").stat().st_mode & 0o111
    assert (target / "lib" / "current").readlink() == Path("util.py")


@pytest.mark.parametrize("member", [("../escape", b"x"), ("/etc/escape", b"x"), ("a/../../escape", b"x"), ("link", "../../etc/passwd"),
                                    ("abs-link", "/etc/passwd")])  # fmt: skip
def test_extract_refuses_entries_that_leave_the_target(workenv: ModuleType, tmp_path: Path, member: tuple[str, bytes | str]) -> None:
    problem = workenv.extract(_tar(("ok.txt", b"fine"), member), str(tmp_path / "target"))
    assert problem == f"refused archive entry {member[0]!r}"
    assert not (tmp_path / "target" / "ok.txt").exists()  # nothing is extracted from an archive with one bad entry
    assert not (tmp_path / "escape").exists()


def test_a_command_that_keeps_failing_is_tried_three_times_a_backoff_apart(workenv: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)  # the one the helper modules' waits call
    assert workenv.retried(["false"]) == "false exited 1: "
    assert waits == [1, 2]  # none after the third try: the attempt fails at once
