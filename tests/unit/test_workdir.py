"""Workdir archives (DESIGN §11): deterministic bytes, what is left out, and the located errors of a bad tree."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from spawn_tf import contract
from spawn_tf.model import Workdir
from spawn_tf.workdir import pack, pack_workdirs, workdir_setting

ROOT = Path(__file__).resolve().parents[2]


def _tree(folder: Path) -> Path:
    """A sweep folder with app/: code, a sub-folder, an executable, a link inside, and things left out."""
    app = folder / "app"
    (app / "lib").mkdir(parents=True)
    (app / "train.py").write_text("print('train')\n")
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o750)
    (app / "lib" / "util.py").write_text("X = 1\n")
    (app / "lib" / "current").symlink_to("util.py")
    for left_out in (".git/HEAD", "__pycache__/train.cpython-311.pyc", "lib/__pycache__/util.pyc", "logs/a.log", "data/big.bin"):
        (app / left_out).parent.mkdir(parents=True, exist_ok=True)
        (app / left_out).write_text("left out\n")
    (app / "keep.log").write_text("kept by a ! line\n")
    (app / contract.SPAWNIGNORE_FILE).write_text("# comment\n*.log\n!keep.log\nlogs/\n")
    return app


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def test_archive_holds_the_code_sorted_with_fixed_metadata(tmp_path: Path) -> None:
    _tree(tmp_path)
    archive = pack(tmp_path, Workdir(source="app", target="/app", exclude=("data/",)))
    members = _members(archive.data)
    assert [m.name for m in members] == ["keep.log", "lib", "lib/current", "lib/util.py", "run.sh", "train.py"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(contract.ARCHIVE_MTIME, 0, 0, "", "")}
    modes = {m.name: m.mode for m in members}
    assert modes["run.sh"] == 0o755 and modes["train.py"] == 0o644 and modes["lib"] == 0o755  # the owner's x bit only
    link = next(m for m in members if m.name == "lib/current")
    assert link.issym() and link.linkname == "util.py"
    assert not any(m.name.startswith("/") or ".." in m.name.split("/") for m in members)
    # Named by the tar's sha256, which gzip from another zlib build cannot change.
    assert archive.sha256 == hashlib.sha256(gzip.decompress(archive.data)).hexdigest()
    assert archive.entries == len(members)


def test_archive_depends_on_content_names_and_executable_bits_only(tmp_path: Path) -> None:
    app = _tree(tmp_path)
    first = pack(tmp_path, workdir_setting("./app"))
    os.utime(app / "train.py", (1, 1))
    (app / "train.py").chmod(0o600)  # no x bit before or after
    (app / "lib" / "util.py").chmod(0o664)
    assert pack(tmp_path, workdir_setting("./app")).data == first.data
    (app / "train.py").chmod(0o700)
    executable = pack(tmp_path, workdir_setting("./app"))
    assert executable.sha256 != first.sha256
    (app / "train.py").chmod(0o644)
    (app / "lib" / "util.py").write_text("X = 2\n")
    assert pack(tmp_path, workdir_setting("./app")).sha256 not in (first.sha256, executable.sha256)


def test_archive_is_byte_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    _tree(tmp_path)
    script = (
        "import hashlib, sys; from pathlib import Path; from spawn_tf.workdir import pack, workdir_setting; "
        "print(hashlib.sha256(pack(Path(sys.argv[1]), workdir_setting('app')).data).hexdigest())"
    )
    digests = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        digests.add(subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, check=True, capture_output=True, text=True).stdout)
    assert len(digests) == 1
    assert digests == {hashlib.sha256(pack(tmp_path, workdir_setting("app")).data).hexdigest() + "\n"}


def test_a_worktree_git_file_and_the_ignore_file_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / ".git").write_text("gitdir: ../.git/worktrees/app\n")
    (tmp_path / "app" / contract.SPAWNIGNORE_FILE).write_text("")
    (tmp_path / "app" / "a.py").write_text("")
    assert [m.name for m in _members(pack(tmp_path, workdir_setting("app")).data)] == ["a.py"]


def test_exclude_patterns_anchor_and_cross_folders(tmp_path: Path) -> None:
    for name in ("a.ckpt", "x/a.ckpt", "x/y/z.bin", "y/z.bin", "top.bin"):
        path = tmp_path / "app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    workdir = Workdir(source="app", target="/app", exclude=("*.ckpt", "/top.bin", "x/**/*.bin"))
    assert [m.name for m in _members(pack(tmp_path, workdir).data)] == ["x", "x/y", "y", "y/z.bin"]


def _errors(check, text: str) -> list[tuple[str, int | None]]:
    checked = check(text)
    return [(d.code, d.span.line if d.span else None) for d in checked.diagnostics if d.is_error]


SWEEP = """\
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: python train.py
params:
  - name: a
    workdir: {workdir}
"""


def test_workdir_outside_the_sweep_folder_is_a_located_error(check, tmp_path: Path) -> None:
    (tmp_path.parent / f"{tmp_path.name}-other").mkdir(exist_ok=True)
    assert _errors(check, SWEEP.format(workdir=f"../{tmp_path.name}-other")) == [("workdir-outside", 7)]
    assert _errors(check, SWEEP.format(workdir="/usr")) == [("workdir-outside", 7)]
    assert _errors(check, SWEEP.format(workdir="./missing")) == [("workdir-missing", 7)]


def test_a_link_leading_out_of_the_workdir_is_a_located_error(check, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "secret").write_text("")
    (tmp_path / "app" / "escape").symlink_to("../secret")
    text = SWEEP.format(workdir="{source: ./app, target: /app}")
    assert _errors(check, text) == [("workdir-link-escapes", 7)]
    (tmp_path / "app" / contract.SPAWNIGNORE_FILE).write_text("escape\n")  # left out: no longer packed, no longer an error
    assert _errors(check, text) == []


def test_an_oversize_tree_is_a_located_error_found_before_reading_it(check, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    with (tmp_path / "app" / "weights.bin").open("wb") as sparse:  # no disk used: only its size is read
        sparse.truncate(contract.MAX_WORKDIR_BYTES + 1)
    assert _errors(check, SWEEP.format(workdir="./app")) == [("workdir-too-large", 7)]


def test_too_many_entries_is_a_located_error(check, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    for i in range(contract.MAX_WORKDIR_ENTRIES + 1):
        (tmp_path / "app" / f"{i}").mkdir()
    assert _errors(check, SWEEP.format(workdir="./app")) == [("workdir-too-large", 7)]


def test_a_workdir_is_packed_once_per_distinct_setting(tmp_path: Path) -> None:
    _tree(tmp_path)
    packed = pack_workdirs(tmp_path, [workdir_setting("app"), workdir_setting("app"), workdir_setting({"source": "app", "target": "/app"})])
    assert len(packed) == 2
    assert pack_workdirs(None, [workdir_setting("app")])[workdir_setting("app")].code == "workdir-without-folder"


@pytest.mark.parametrize(
    ("setting", "value"),
    [("packages", "[jq, -y]"), ("packages", "['jq; rm -rf /']"), ("packages", "['a b']"), ("packages", "['$(id)']"),
     ("image", "'Ubuntu Latest'"), ("image", "'img:tag;id'"), ("image", "'-v /:/host'"),
     ("workdir", "{source: ./app, target: relative}"), ("workdir", "{target: /app}")],
)  # fmt: skip
def test_bad_packages_images_and_workdirs_are_located_schema_errors(check, setting: str, value: str) -> None:
    text = f"defaults:\n  instance_type: m7i.large\n  ttl: 1h\n  command: x\nparams:\n  - name: a\n    {setting}: {value}\n"
    checked = check(text)
    errors = [d for d in checked.diagnostics if d.is_error]
    assert errors and all(d.span is not None and d.span.line == 7 for d in errors), [d.render() for d in errors]


def test_schema_patterns_are_the_contract_patterns() -> None:
    from spawn_tf.resources import sweep_schema

    settings = sweep_schema()["$defs"]["settings"]
    assert settings["packages"]["items"]["pattern"] == f"^{contract.PACKAGE_NAME_PATTERN.pattern}$"
    assert settings["image"]["pattern"] == f"^{contract.IMAGE_REFERENCE_PATTERN.pattern}$"
