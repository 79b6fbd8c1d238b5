"""write_tree's staging: compiled files compared with a build's and written into staging folders inside it, by this
process and a forked one (emit/forked.py); the WriteError of a file-system step, named by the build's path."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from spawn_tf import contract
from spawn_tf.emit.forked import Ended, Forked, forking_pays, in_forked_process

Content = bytes | Iterable[bytes]  # a file whole, or in pieces (written on as they are made: sweep.json)
Beside = Callable[[], Iterable[tuple[PurePosixPath, Content]]]  # more files, made when called: in a forked process where that pays
T = TypeVar("T")


class WriteError(Exception):
    """A compiled tree could not be written: the path, the system's reason, and whether the build is still the previous one."""

    def __init__(self, path: Path, error: OSError, *, outcome: str) -> None:
        self.path = path
        self.errno = error.errno
        reason = error.strerror or str(error)
        self.reason = reason[:1].lower() + reason[1:]  # "No space left on device" -> "no space left on device"
        self.outcome = outcome  # what the folder holds now
        super().__init__(f"{path}: {self.reason}")

    @property
    def hint(self) -> str:
        if self.errno in (errno.ENOSPC, errno.EDQUOT):
            action = "free some space and compile again"
        elif self.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            action = "choose a folder you can write to with -o DIR"
        elif self.errno == errno.ENOTDIR:
            action = "a part of the path is a file, not a folder: choose another folder with -o DIR"
        elif self.errno == errno.EISDIR:
            action = "a folder stands where compile writes a file: move it away, or choose another folder with -o DIR"
        elif self.errno is None:  # not a system call's failure (the forked process ended)
            action = "compile again"
        else:
            action = "choose another folder with -o DIR"
        return f"{action}; {self.outcome}"


def guarded(destination: Path, staging: Path | None, step: Callable[[], T], *, outcome: str, place: Path | None = None) -> T:
    """Run one file-system step; an OSError becomes a WriteError naming the build's path (not the staging folder's).

    `place` is the path in the build the step is for, named when the error names none or a staged file (a full
    disk fails a write, not the open before it).
    """
    try:
        return step()
    except OSError as exc:
        failed = Path(exc.filename) if isinstance(exc.filename, str) else place or destination
        if staging is not None and failed.is_relative_to(staging):
            failed = place or destination
        raise WriteError(failed, exc, outcome=outcome) from exc


def _write(file: Path, content: Content) -> None:
    if isinstance(content, bytes):
        file.write_bytes(content)
        return
    with file.open("wb") as out:
        out.writelines(content)


class _Folders:
    """Makes the folder of each file written, once per folder: a sweep's thousands of files share a few hundred."""

    def __init__(self) -> None:
        self.known: set[Path] = set()

    def made(self, file: Path) -> Path:
        """`file`, once its folder exists."""
        if file.parent not in self.known:
            file.parent.mkdir(parents=True, exist_ok=True)
            self.known.add(file.parent)
        return file


class _Build:
    """A build folder's files as they were, each folder listed once: a file it does not list is not read (a
    first compile tries to read none of its thousands of files)."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        self.listed: dict[Path, frozenset[str] | None] = {}  # None: a folder that cannot be listed, only entered

    def content(self, path: PurePosixPath) -> bytes | None:
        """The file's bytes, or None if it is not there or cannot be read."""
        file = self.destination.joinpath(*path.parts)
        if file.parent not in self.listed:
            try:
                self.listed[file.parent] = frozenset(os.listdir(file.parent))
            except (FileNotFoundError, NotADirectoryError):  # no such folder: the file is not there either
                self.listed[file.parent] = frozenset()
            except OSError:  # not listable (mode --x): its files may still be read
                self.listed[file.parent] = None
        names = self.listed[file.parent]
        return read_content(file) if names is None or file.name in names else None


def read_content(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


class Staging:
    """write_tree's staging folders inside the build: its own, made when the first file is staged, and the forked
    process's (`beside`'s files). A dry one (`survey`) only compares."""

    def __init__(self, destination: Path, outcome: str, *, dry: bool = False) -> None:
        self.destination = destination
        self.outcome = outcome  # what the build is while files are staged
        self.dry = dry
        self.folder: Path | None = None
        self.forked_folder: Path | None = None
        self.forked: frozenset[PurePosixPath] = frozenset()  # the files staged in it
        self.folders = _Folders()  # those made in the build
        self.build = _Build(destination)

    def folder_of(self, path: PurePosixPath) -> Path | None:
        return self.forked_folder if path in self.forked else self.folder

    def path(self, path: PurePosixPath) -> Path:
        """Where a file is staged: flat in its staging folder (no folders to make and remove), named by its path."""
        folder = self.folder_of(path)
        assert folder is not None, "nothing staged"
        return folder / str(path).replace("%", "%25").replace("/", "%2F")

    def stage(self, path: PurePosixPath, content: Content, *, place: Path | None = None) -> None:
        """Stage a file (`place`: the build's path to name if that fails, when not the file's own)."""
        if self.folder is None:
            self.folder = self._new_folder()
        staged = self.path(path)
        guarded(self.destination, self.folder, lambda: _write(staged, content), outcome=self.outcome,
                place=place or self.destination.joinpath(*path.parts))  # fmt: skip

    def _new_folder(self) -> Path:
        make = lambda: Path(tempfile.mkdtemp(prefix=contract.STAGING_PREFIX, dir=self.destination))  # noqa: E731
        # Named by the build, not by the staging folder it could not make.
        return guarded(self.destination, self.destination, make, outcome=self.outcome, place=self.destination)

    def check_places(self, paths: Iterable[PurePosixPath]) -> None:
        """That these files can take their places: a file where a folder must be (in the build, or among the files),
        or a folder where a file goes, fails here, before the build changes, not as files move."""
        files = set(paths)
        for folder in sorted({parent for path in files for parent in path.parents if parent.parts}):
            target = self.destination.joinpath(*folder.parts)
            if folder in files or ((target.exists() or target.is_symlink()) and not target.is_dir()):
                raise WriteError(target, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), outcome=self.outcome)
        for path in sorted(files):
            target = self.destination.joinpath(*path.parts)
            if target.is_dir() and not target.is_symlink():
                raise WriteError(target, OSError(errno.EISDIR, os.strerror(errno.EISDIR)), outcome=self.outcome)

    def move(self, path: PurePosixPath, target: Path, *, outcome: str) -> None:
        """Put a staged file in its place in the build (`outcome`: what the build is if that fails)."""
        staged = self.path(path)
        guarded(self.destination, staged.parent, lambda: os.replace(staged, self.folders.made(target)), outcome=outcome, place=target)

    def stage_changed(
        self, files: Iterable[tuple[PurePosixPath, Content]], beside: Beside | None = None
    ) -> tuple[frozenset[PurePosixPath], frozenset[PurePosixPath]]:
        """Stage each file that is new or differs from the build's, `beside`'s in a forked process where that pays;
        (every path, the staged ones)."""
        forked = self._forked(beside) if beside is not None and forking_pays() else None
        if forked is None:
            return self._sorted(chain(files, beside() if beside is not None else ()))
        try:
            tree, changed = self._sorted(files)
            result = forked.result()
        except Ended as exc:  # killed before its answer (e.g. for memory): the build is as it was
            raise WriteError(self.destination, OSError(None, str(exc)), outcome=self.outcome) from exc
        finally:
            forked.close()
        if "failed" in result:
            path, number, reason = result["failed"]
            raise WriteError(Path(path), OSError(number, reason), outcome=self.outcome)
        self.forked = frozenset(map(PurePosixPath, result["changed"]))
        assert tree.isdisjoint(map(PurePosixPath, result["tree"])), "a file made in both processes"
        return tree | frozenset(map(PurePosixPath, result["tree"])), changed | self.forked

    def _forked(self, beside: Beside) -> Forked | None:
        """`beside`'s files staged by a forked process; None when no process can be forked (a container's limits, memory):
        forking only saves time."""
        self.forked_folder = None if self.dry else self._new_folder()  # made here: removed here, whatever the forked process does
        try:
            return in_forked_process(lambda: self._staged_beside(beside))
        except OSError:
            return None

    def _staged_beside(self, beside: Beside) -> dict[str, Any]:
        """In the forked process: `beside`'s files staged in its own folder, and what the parent needs to know of them."""
        self.folder = self.forked_folder
        try:
            tree, changed = self._sorted(beside())
        except WriteError as error:
            return {"failed": [str(error.path), error.errno, error.reason]}
        return {"tree": sorted(map(str, tree)), "changed": sorted(map(str, changed))}

    def _sorted(self, files: Iterable[tuple[PurePosixPath, Content]]) -> tuple[frozenset[PurePosixPath], frozenset[PurePosixPath]]:
        tree: set[PurePosixPath] = set()
        changed: set[PurePosixPath] = set()
        for path, made in files:
            tree.add(path)
            before = self.build.content(path)
            content = made if before is None or isinstance(made, bytes) else b"".join(made)  # whole only to compare it
            if before is None or before != content:
                if not self.dry:
                    self.stage(path, content)
                changed.add(path)
        return frozenset(tree), frozenset(changed)

    def remove(self) -> None:
        for folder in (self.folder, self.forked_folder):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
