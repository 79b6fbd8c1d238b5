"""Pack a `workdir` folder into a deterministic archive (DESIGN §11).

The archive depends on the files' names, contents, executable bits and symlink targets only:
entries sorted by path, mtime contract.ARCHIVE_MTIME, owner 0:0 without names, mode 0755 or 0644
from the owner's executable bit, names relative to the folder. `.git/`, `__pycache__/`, the
folder's `.spawnignore` patterns and the setting's `exclude` patterns are left out.

An archive is named by the sha256 of its *uncompressed* tar: gzip output differs between zlib
builds (zlib-ng, distributions' patches), the tar does not, so the name (and the fingerprints of
the runs using it) is the same on every machine. The `.tar.gz` is gzip level 6 with mtime 0.

This module reads the file system; the pipeline calls it before expansion and hands the
results to the pure stages (`parse_settings` sees only `Archive`s and `WorkdirProblem`s).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Any

from spawn_tf import contract
from spawn_tf.model import Workdir
from spawn_tf.resources import resource


@dataclass(frozen=True, slots=True, kw_only=True)
class Archive:
    """A packed workdir: the `.tar.gz` bytes and the name it is stored under."""

    sha256: str  # of the uncompressed tar
    data: bytes  # the .tar.gz
    entries: int
    file_bytes: int  # the regular files' sizes, summed


@dataclass(frozen=True, slots=True)
class WorkdirProblem:
    """Why a workdir cannot be packed; placed at the setting by expansion."""

    code: str
    message: str
    hint: str | None = None


# No folder to look in: the sweep was read from elsewhere than a file (e.g. a test's text).
NO_FOLDER = WorkdirProblem("workdir-without-folder", "workdir needs a sweep file on disk: its folder is where the workdir is looked for")


class _Refused(Exception):
    def __init__(self, problem: WorkdirProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def workdir_setting(value: str | Mapping[str, Any]) -> Workdir:
    """The schema-valid `workdir` value as a Workdir: a folder, or {source, target, exclude}."""
    if isinstance(value, str):
        return Workdir(source=value, target=contract.DEFAULT_WORKDIR_TARGET)
    return Workdir(
        source=value["source"], target=value.get("target", contract.DEFAULT_WORKDIR_TARGET), exclude=tuple(value.get("exclude", ()))
    )


def pack_workdirs(base: Path | None, workdirs: Iterable[Workdir]) -> dict[Workdir, Archive | WorkdirProblem]:
    """Each distinct workdir packed once, relative to `base` (the sweep file's folder; None: no file on disk)."""
    packed: dict[Workdir, Archive | WorkdirProblem] = {}
    for workdir in workdirs:
        if workdir in packed:
            continue
        if base is None:
            packed[workdir] = NO_FOLDER
            continue
        try:
            packed[workdir] = pack(base, workdir)
        except _Refused as refused:
            packed[workdir] = refused.problem
    return packed


def pack(base: Path, workdir: Workdir) -> Archive:
    """The archive of `workdir`, whose source is relative to `base`; raises _Refused with the reason."""
    import gzip  # here, with tarfile below: sweeps without a workdir do not import them (DESIGN §9)

    folder = _source_folder(base, workdir.source)
    patterns = (*_ignore_file(folder), *(_Pattern.parse(line) for line in workdir.exclude))
    entries = _entries(folder, [pattern for pattern in patterns if pattern is not None], workdir.source)
    tar = _tar(folder, entries)
    return Archive(
        sha256=hashlib.sha256(tar).hexdigest(),
        data=gzip.compress(tar, compresslevel=6, mtime=contract.ARCHIVE_MTIME),
        entries=len(entries),
        file_bytes=sum(entry.size for entry in entries),
    )


def _source_folder(base: Path, source: str) -> Path:
    """The real folder a workdir names, which must lie in the sweep file's folder tree."""
    root = base.resolve()
    folder = (root / source).resolve()
    if folder != root and root not in folder.parents:
        raise _Refused(WorkdirProblem("workdir-outside", f"workdir '{source}' is outside the sweep file's folder ({root})",
                                      "keep the code in a folder beside the sweep file (or below it), like './app'"))  # fmt: skip
    if not folder.exists():
        raise _Refused(WorkdirProblem("workdir-missing", f"workdir '{source}' does not exist", "give a folder relative to the sweep file"))
    if not folder.is_dir():
        raise _Refused(WorkdirProblem("workdir-not-folder", f"workdir '{source}' is not a folder", "give a folder, not a file"))
    return folder


# --- which files -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One .gitignore-style line: `*` and `?` stay within a name, `**` crosses folders, a final `/`
    matches folders only, a `/` elsewhere anchors it at the workdir, `!` takes a match back."""

    regex: re.Pattern[str]
    folders_only: bool
    negated: bool
    anchored: bool

    @staticmethod
    def parse(line: str) -> _Pattern | None:
        line = line.rstrip("\n").rstrip("\r")
        if not line.strip() or line.startswith("#"):
            return None
        negated = line.startswith("!")
        line = line.removeprefix("!")
        folders_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        return _Pattern(re.compile(_glob_regex(line.lstrip("/"))), folders_only, negated, anchored)

    def matches(self, path: str, is_folder: bool) -> bool:
        if self.folders_only and not is_folder:
            return False
        return bool(self.regex.fullmatch(path if self.anchored else path.rpartition("/")[2]))


def _glob_regex(glob: str) -> str:
    parts, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            parts.append(".*")
            i += 2
        else:
            char = glob[i]
            parts.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
            i += 1
    return "".join(parts)


def _ignore_file(folder: Path) -> list[_Pattern | None]:
    path = folder / contract.SPAWNIGNORE_FILE
    if not path.is_file():
        return []
    return [_Pattern.parse(line) for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]


def _ignored(path: str, is_folder: bool, patterns: list[_Pattern]) -> bool:
    """Whether the last pattern that matches leaves it out (a `!` pattern takes it back)."""
    # A worktree's `.git` is a file: left out like the folder.
    ignored = path.rpartition("/")[2] in contract.WORKDIR_ALWAYS_EXCLUDED or path == contract.SPAWNIGNORE_FILE
    for pattern in patterns:
        if pattern.matches(path, is_folder):
            ignored = not pattern.negated
    return ignored


@dataclass(frozen=True, slots=True)
class _Entry:
    path: str  # relative, '/'-separated
    kind: str  # file | folder | link
    size: int = 0
    executable: bool = False
    link: str = ""  # a link's target, relative to its folder


def _entries(folder: Path, patterns: list[_Pattern], source: str) -> list[_Entry]:
    """Every entry to pack, sorted by path; refuses escaping links, special files and oversize trees."""
    found: list[_Entry] = []
    pending = [""]
    total = 0
    while pending:
        relative = pending.pop()
        with os.scandir(folder / relative if relative else folder) as listing:
            children = sorted(listing, key=lambda child: child.name)
        for child in children:
            path = f"{relative}/{child.name}" if relative else child.name
            if _ignored(path, child.is_dir(follow_symlinks=False), patterns):
                continue
            entry = _entry(folder, path, child, source)
            found.append(entry)
            total += entry.size
            if entry.kind == "folder":
                pending.append(path)
            if len(found) > contract.MAX_WORKDIR_ENTRIES or total > contract.MAX_WORKDIR_BYTES:
                raise _Refused(_too_large(source, len(found), total))
    return sorted(found, key=lambda entry: entry.path.encode())


def _entry(folder: Path, path: str, child: os.DirEntry[str], source: str) -> _Entry:
    info = child.stat(follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        return _Entry(path, "link", link=_link_target(folder, path, source))
    if stat.S_ISDIR(info.st_mode):
        return _Entry(path, "folder")
    if stat.S_ISREG(info.st_mode):
        return _Entry(path, "file", size=info.st_size, executable=bool(info.st_mode & stat.S_IXUSR))
    raise _Refused(WorkdirProblem("workdir-special-file", f"'{path}' in workdir '{source}' is not a file, folder or link",
                                  f"leave it out with a line '{path}' in {contract.SPAWNIGNORE_FILE}"))  # fmt: skip


def _link_target(folder: Path, path: str, source: str) -> str:
    """A link's target relative to the link's folder; a link leading out of the workdir is refused."""
    link = folder / path
    target = Path(os.path.realpath(link))
    if target != folder and folder not in target.parents:
        raise _Refused(WorkdirProblem("workdir-link-escapes", f"the link '{path}' in workdir '{source}' leads out of it, to {target}",
                                      f"copy what it points to into the workdir, or leave it out in {contract.SPAWNIGNORE_FILE}"))  # fmt: skip
    return os.path.relpath(target, link.parent)


def _too_large(source: str, entries: int, total: int) -> WorkdirProblem:
    mib = contract.MAX_WORKDIR_BYTES // (1024 * 1024)
    return WorkdirProblem("workdir-too-large",
                          f"workdir '{source}' has more than {contract.MAX_WORKDIR_ENTRIES} entries or {mib} MiB"
                          f" (at least {entries} entries, {total} bytes)",
                          f"a workdir is code: keep data in S3 and read it from the script; leave the rest out in {contract.SPAWNIGNORE_FILE}")  # fmt: skip


# --- the tar -------------------------------------------------------------------------------------


def _tar(folder: Path, entries: list[_Entry]) -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mtime = contract.ARCHIVE_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o777 if entry.kind == "link" else 0o755 if entry.kind == "folder" or entry.executable else 0o644
            if entry.kind == "file":
                data = (folder / entry.path).read_bytes()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = tarfile.DIRTYPE if entry.kind == "folder" else tarfile.SYMTYPE
            info.linkname = entry.link
            tar.addfile(info)
    return buffer.getvalue()


def code_name(sha256: str, suffix: str = contract.ARCHIVE_SUFFIX) -> PurePosixPath:
    """A code object's file in a root: code/<sha256>.tar.gz (an archive) or code/<sha256>.py (a helper module)."""
    return PurePosixPath(contract.CODE_DIR) / f"{sha256}{suffix}"


@cache
def workenv_module() -> bytes:
    """The agent's helper module that prepares a run's environment, fetched from S3 by the runs that need it:
    as shipped, with its settings (contract names only it reads) in a last line, so they take no room in user-data."""
    source = resource("templates", f"agent/{contract.WORKENV_MODULE}{contract.MODULE_SUFFIX}").read_text(encoding="utf-8")
    settings = {
        "env": {"code": contract.ENV_CODE_SHA256, "workdir": contract.ENV_WORKDIR, "packages": contract.ENV_PACKAGES,
                "setup": contract.ENV_SETUP, "image": contract.ENV_IMAGE, "gpu": contract.ENV_GPU},
        "archive_suffix": contract.ARCHIVE_SUFFIX,
        "reasons": {reason.name.lower(): str(reason) for reason in contract.NotReadyReason},
        "ecr_pattern": contract.ECR_IMAGE_PATTERN.pattern,
    }  # fmt: skip
    return f"{source}SETTINGS = {json.dumps(settings, sort_keys=True)}\n".encode()


@cache
def workenv_sha256() -> str:
    return hashlib.sha256(workenv_module()).hexdigest()


@cache
def stopping_module() -> bytes:
    """The early-stopping rule (spawn_tf/stopping.py), shipped as it is: standalone, so the agent imports it unchanged."""
    return files("spawn_tf").joinpath(f"{contract.STOPPING_MODULE}{contract.MODULE_SUFFIX}").read_bytes()


@cache
def stopping_sha256() -> str:
    return hashlib.sha256(stopping_module()).hexdigest()


def code_modules() -> dict[str, bytes]:
    """Every module of the agent's helper kept in S3 rather than user-data: name -> source (the plan keeps those its runs fetch)."""
    return {contract.WORKENV_MODULE: workenv_module(), contract.STOPPING_MODULE: stopping_module()}
