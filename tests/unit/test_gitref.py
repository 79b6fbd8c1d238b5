"""spawn_tf/gitref.py: a sweep file as it was at a commit, read with real git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from spawn_tf.gitref import GitError, read_at_ref


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "s.yaml").write_text("old\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    (tmp_path / "sweeps" / "s.yaml").write_text("new\n")
    return tmp_path


def test_reads_the_committed_bytes_and_names_them(repo: Path) -> None:
    assert read_at_ref(repo / "sweeps" / "s.yaml", "main") == (b"old\n", "main:sweeps/s.yaml")


def test_a_file_missing_at_the_commit_is_none(repo: Path) -> None:
    (repo / "sweeps" / "later.yaml").write_text("x\n")
    assert read_at_ref(repo / "sweeps" / "later.yaml", "HEAD") == (None, "HEAD:sweeps/later.yaml")


def test_unknown_refs_and_option_like_refs_are_refused(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(GitError, match="not a commit"):
        read_at_ref(repo / "sweeps" / "s.yaml", "no-such-branch")
    with pytest.raises(GitError, match="not a git commit"):
        read_at_ref(repo / "sweeps" / "s.yaml", "--output=/tmp/x")
    outside = tmp_path_factory.mktemp("plain") / "s.yaml"
    outside.write_text("x\n")
    with pytest.raises(GitError) as raised:
        read_at_ref(outside, "main")
    assert raised.value.hint is not None and "git repository" in raised.value.hint
