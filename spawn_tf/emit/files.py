"""Write compiled output (its bytes: emit/json_text.py): crash-safe replacement of compile's own files, drift checks.

With emit/staging.py (the files it stages), the only module that writes to the file system.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from spawn_tf import contract
from spawn_tf.emit.json_text import dump_json
from spawn_tf.emit.staging import Beside, Content, Staging, guarded, read_content

Tree = Mapping[PurePosixPath, bytes]
Files = Tree | Iterable[tuple[PurePosixPath, Content]]  # a tree, or its (path, content) pairs made one at a time


# Terraform's own files in a root (state, workspaces, providers, lock file): compile never writes, moves or deletes them.
TERRAFORM_WORKING_FILES = (".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.backup", "terraform.tfstate.d")
RECORD = PurePosixPath(contract.COMPILED_FILES_RECORD)
_RECORD_NOTE = "the files spawn-tf compile wrote in this folder: the only ones it replaces or removes; do not edit"


def with_record(files: Tree) -> dict[PurePosixPath, bytes]:
    """`files` and the record of them that every build folder holds (so goldens and --check show it too)."""
    tree = {path: content for path, content in files.items() if path != RECORD}
    return {**tree, RECORD: _record(tree)}


def whole_tree(files: Iterable[tuple[PurePosixPath, Content]]) -> dict[PurePosixPath, bytes]:
    """Files made one at a time, some in pieces, as one tree with its record (`with_record`)."""
    return with_record({path: content if isinstance(content, bytes) else b"".join(content) for path, content in files})


def _record(paths: Iterable[PurePosixPath]) -> bytes:
    return dump_json({"//": _RECORD_NOTE, "files": sorted(str(path) for path in paths)})


@dataclass(frozen=True, slots=True, kw_only=True)
class Orphan:
    """A root an earlier compile wrote that this one does not (fewer regions or shards)."""

    name: str
    holds_state: bool  # Terraform may still manage resources from it: its files stay so that `destroy` works
    left: tuple[str, ...]  # what compile did not write and leaves in the folder (state, .terraform, the user's files)


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    """What bringing a build folder to a compiled tree changes, and what it leaves alone."""

    writes: frozenset[PurePosixPath]  # files that are new or differ, the record included
    removals: tuple[PurePosixPath, ...]  # files an earlier compile wrote that this one does not
    owned: frozenset[PurePosixPath]  # what the record on disk lists (before this compile)
    recorded: frozenset[PurePosixPath]  # what the record lists after it: the new files, and an orphan root's that stay
    user_files: tuple[PurePosixPath, ...]  # files in current roots that Terraform loads and compile did not write
    orphans: tuple[Orphan, ...]
    staging: tuple[Path, ...]  # staging folders left by a killed compile
    legacy: tuple[Path, ...]  # swap folders of a compile of an earlier spawn-tf, which may hold a moved state file


def survey(destination: Path, files: Files, beside: Beside | None = None) -> Update:
    """Compare a build folder with a compiled tree (`files`, and `beside`'s as in `write_tree`), one file at a time;
    reads only. `write_tree` does the same as it writes, `--check` reports it."""
    tree, changed = Staging(destination, _NOTHING, dry=True).stage_changed(_compiled(files), _compiled_beside(beside))
    return _survey(destination, tree, changed, _staging_folders(destination))


def _compiled(files: Files) -> Iterator[tuple[PurePosixPath, Content]]:
    """The files' (path, content) pairs but the record, which write_tree makes."""
    return ((path, content) for path, content in (files.items() if isinstance(files, Mapping) else files) if path != RECORD)


def _compiled_beside(beside: Beside | None) -> Beside | None:
    return None if beside is None else lambda: _compiled(beside())


def _survey(destination: Path, tree: frozenset[PurePosixPath], changed: frozenset[PurePosixPath], staging: tuple[Path, ...]) -> Update:
    """The update that brings `destination` to the files `tree`, of which `changed` are new or differ from what is there."""
    owned = _owned(destination)
    roots = {path.parts[0] for path in tree if len(path.parts) > 1}
    orphans: list[Orphan] = []
    kept: set[PurePosixPath] = set()
    for name in sorted({path.parts[0] for path in owned if len(path.parts) > 1} - roots):
        folder = destination / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        mine = {path for path in owned if path.parts[0] == name and _is_file(destination, path)}
        if not mine:
            continue
        if holds_state(folder):
            kept |= mine
            orphans.append(Orphan(name=name, holds_state=True, left=()))
        else:
            orphans.append(Orphan(name=name, holds_state=False, left=_left(folder, {PurePosixPath(*p.parts[1:]) for p in mine})))
    removals = tuple(sorted(path for path in owned - tree - kept if _is_file(destination, path)))
    recorded = frozenset(tree | kept)
    stale_record = read_content(destination / RECORD) != _record(recorded)
    return Update(
        writes=changed | {RECORD} if stale_record else changed,
        removals=removals,
        owned=owned,
        recorded=recorded,
        user_files=tuple(sorted(_user_files(destination, roots, tree))),
        orphans=tuple(orphans),
        staging=staging,
        legacy=tuple(
            sorted((*destination.parent.glob(f".{destination.name}.new-*"), *destination.parent.glob(f".{destination.name}.old-*")))
        ),
    )


def _staging_folders(destination: Path) -> tuple[Path, ...]:
    return tuple(sorted(destination.glob(contract.STAGING_PREFIX + "*"))) if destination.is_dir() else ()


def write_tree(destination: Path, files: Files, beside: Beside | None = None) -> Update:
    """Bring `destination` to `files`, touching only what compile wrote (DESIGN §4, "compile owns only its files").

    The folder's record (`.spawn-tf-files.json`) lists the files compile wrote. Anything else in
    it — state, `.terraform/`, the lock file, the user's `backend.tf` — is never written, moved or
    deleted. A root that is no longer compiled loses its files, unless Terraform may still manage
    resources from it: then they stay, so that `terraform destroy` works there.

    `files` may be (path, content) pairs made one at a time: each is compared and staged as it comes, so a large
    sweep's tree is never whole in memory. `beside`'s files are made, compared and staged at the same time by a
    forked process, into a staging folder of its own, where forking pays (two CPUs); else after `files`, here.

    Steps, and why a crash (kill -9) at any point is safe:
    1. Every new or changed file is written into a staging folder inside `destination`. Until
       step 2 the build is the previous one; a failure here removes the staging folders.
    2. The record is replaced (os.replace, atomic) by the union of the files it listed and the new
       ones: from here on, whatever a crash leaves, every file of either compile is recorded.
    3. Each staged file is moved into place with os.replace: every file is whole, old or new.
    4. Files an earlier compile wrote and this one does not are deleted (emptied folders too).
    5. The record is replaced by exactly the new files; the staging folder is removed.
    A crash in steps 3-5 leaves a mix of old and new generated files (and a staging folder that
    says so) but never touches a file compile did not write; the next compile rewrites what
    differs, deletes what its record lists and it does not produce, and removes staging folders,
    so it converges. The guarantee covers a killed process; files are not fsynced (power loss).

    Raises:
        WriteError: naming the path that could not be written, and whether the build is still the previous one.
    """
    before = _UNCHANGED if destination.is_dir() else _NOTHING
    leftovers = guarded(destination, None, lambda: _staging_folders(destination), outcome=before)
    guarded(destination, None, lambda: destination.mkdir(parents=True, exist_ok=True), outcome=before)
    for leftover in leftovers:
        guarded(leftover, leftover, lambda leftover=leftover: shutil.rmtree(leftover), outcome=before, place=leftover)
    staging = Staging(destination, before)
    done = before
    try:
        tree, changed = staging.stage_changed(_compiled(files), _compiled_beside(beside))
        update = guarded(destination, None, lambda: _survey(destination, tree, changed, leftovers), outcome=before)
        if not update.writes and not update.removals:
            return update
        guarded(destination, None, lambda: staging.check_places(update.writes), outcome=before)  # a folder it may not enter
        if RECORD in update.writes:
            staging.stage(RECORD, _record(update.recorded))
        union = PurePosixPath(f"{RECORD}.union")  # no compiled file has this name
        staging.stage(union, _record(update.owned | update.recorded), place=destination / RECORD)
        staging.move(union, destination / RECORD, outcome=before)
        done = _PARTLY
        for path in sorted(update.writes - {RECORD}):
            staging.move(path, destination.joinpath(*path.parts), outcome=_PARTLY)
        for path in update.removals:
            target = destination.joinpath(*path.parts)
            guarded(destination, staging.folder, lambda target=target: _remove(destination, target), outcome=_PARTLY)
        if RECORD in update.writes:
            staging.move(RECORD, destination / RECORD, outcome=_PARTLY)
    finally:
        staging.remove()
        if done == _NOTHING:
            with contextlib.suppress(OSError):  # a first compile that failed leaves no empty folder
                os.rmdir(destination)
    return update


_NOTHING = "nothing was written"
_UNCHANGED = "the previous build is unchanged"
_PARTLY = "the build is partly updated: compile again to finish"


def _remove(destination: Path, target: Path) -> None:
    """Delete a file compile wrote, then the folders it leaves empty (up to, not including, `destination`)."""
    target.unlink(missing_ok=True)
    folder = target.parent
    while folder != destination and folder.is_relative_to(destination):
        try:
            folder.rmdir()
        except OSError:  # not empty: something compile did not write is in it
            return
        folder = folder.parent


def _owned(destination: Path) -> frozenset[PurePosixPath]:
    """The files the record lists; only plain relative paths outside Terraform's working files count, whatever the record says."""
    try:
        listed = json.loads((destination / RECORD).read_bytes()).get("files", [])
    except (OSError, ValueError, AttributeError):  # no record yet, or not one compile wrote: own nothing
        return frozenset()
    owned = set()
    for text in listed if isinstance(listed, list) else ():
        path = PurePosixPath(text) if isinstance(text, str) else None
        if path is None or path.is_absolute() or not path.parts or ".." in path.parts or path == RECORD:
            continue
        if set(path.parts) & set(TERRAFORM_WORKING_FILES) or path.parts[0].startswith(contract.STAGING_PREFIX):
            continue
        owned.add(path)
    return frozenset(owned)


def recorded_roots(destination: Path) -> frozenset[str]:
    """The roots the build's record lists: the current ones, and orphans that may still hold resources (see `survey`)."""
    return frozenset(path.parts[0] for path in _owned(destination) if len(path.parts) > 1)


def _is_file(destination: Path, path: PurePosixPath) -> bool:
    """A file (or link) at `path` whose folder lies inside `destination`: a link in the path never leads a removal outside."""
    target = destination.joinpath(*path.parts)
    if not (target.is_file() or target.is_symlink()):
        return False
    return target.parent.resolve().is_relative_to(destination.resolve())


def holds_state(folder: Path) -> bool:
    """Whether Terraform may still manage resources from a root: its local state lists some, or the state is elsewhere."""
    if (folder / ".terraform" / "terraform.tfstate").exists() or (folder / "terraform.tfstate.d").exists():
        return True  # a backend or workspaces: what the state holds cannot be seen from here
    try:
        state = json.loads((folder / "terraform.tfstate").read_bytes())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # unreadable: assume it holds something
    resources = state.get("resources", []) if isinstance(state, dict) else None
    if not isinstance(resources, list):
        return True
    return any(not isinstance(entry, dict) or entry.get("mode") != "data" for entry in resources)


def _left(folder: Path, mine: set[PurePosixPath]) -> tuple[str, ...]:
    """The entries of an orphan root that stay once compile's own files are gone."""
    left = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            inside = [
                PurePosixPath(entry.name, *Path(top, name).relative_to(entry).parts) for top, _, names in os.walk(entry) for name in names
            ]
            if not inside or any(path not in mine for path in inside):
                left.append(entry.name)
        elif PurePosixPath(entry.name) not in mine:
            left.append(entry.name)
    return tuple(left)


def _user_files(destination: Path, roots: Iterable[str], tree: Tree) -> Iterator[PurePosixPath]:
    """Files in the compiled roots that Terraform loads and compile did not write (a backend.tf, an override, tfvars)."""
    for root in sorted(roots):
        folder = destination / root
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            path = PurePosixPath(root, entry.name)
            if entry.name.endswith(contract.TERRAFORM_LOADED_SUFFIXES) and path not in tree and entry.is_file():
                yield path


def write_atomic(path: Path, content: bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, 0o644)  # mkstemp makes it private
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def checked_survey(destination: Path, files: Files, beside: Beside | None = None) -> Update:
    """`survey` for `--check`: a folder that cannot be read is a WriteError naming it."""
    return guarded(destination, None, lambda: survey(destination, files, beside), outcome=_NOTHING)


def tree_differences(destination: Path, update: Update) -> list[str]:
    """What compiling would change in the folder (`update`: its survey): 'missing: x', 'extra: y' (compile would delete
    it), 'changed: z'.

    Only files compile writes or wrote count (its record's); anything else in the folder is not drift.
    """
    missing = sorted(path for path in update.writes if not destination.joinpath(*path.parts).exists())
    changed = sorted(path for path in update.writes if path not in missing)
    return [
        *(f"missing: {path}" for path in missing),
        *(f"extra: {path}" for path in update.removals),
        *(f"changed: {path}" for path in changed),
    ]
