"""Read a file as it was at a git commit (for `spawn-tf diff --base REF`), through the git command."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    """git could not answer: not a repository, an unknown ref, git missing. One line and a hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def read_at_ref(path: Path, ref: str) -> tuple[bytes | None, str]:
    """The file's bytes at commit `ref`, or None when it did not exist there; and its name as `REF:path`.

    The path is taken relative to the file's own folder (`git show REF:./name`), so it works from any
    working directory inside or outside the repository.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if ref.startswith("-"):
        raise GitError(f"'{ref}' is not a git commit", "name a branch, tag or commit, e.g. --base origin/main")
    prefix = _git(folder, "rev-parse", "--show-prefix").decode().strip()
    display = f"{ref}:{prefix}{path.name}"
    try:
        _git(folder, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        raise GitError(f"'{ref}' is not a commit in the repository of {path}", "fetch it first (e.g. git fetch origin main)") from None
    try:
        return _git(folder, "show", f"{ref}:./{path.name}"), display
    except GitError:
        return None, display  # no such file at that commit: every run is new


def _git(folder: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed", "--base needs git; or compare two files: spawn-tf diff OLD NEW") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed", "--base needs the sweep file inside a git repository")
    return done.stdout
