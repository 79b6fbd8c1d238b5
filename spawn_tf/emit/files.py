"""Serialize and write compiled output: deterministic bytes, atomic replacement, drift checks.

The only module that writes to the file system.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring as _string  # the C version where there is one
from pathlib import Path, PurePosixPath
from typing import Any

Tree = Mapping[PurePosixPath, bytes]


def dump_json(document: Any, *, compact: bool = False) -> bytes:
    """The one JSON serializer of compiled output: sorted keys, 2-space indent, UTF-8, final newline.

    Byte for byte `json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)`
    (a test holds it to that), written out by hand: with `indent`, the standard library falls back
    from its C encoder to a generator-based one that took half of compiling 10,000 runs. `compact`
    writes one line instead (for machine-read files whose content a readable file already shows).
    """
    if compact:
        return (json.dumps(document, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n").encode()
    parts: list[str] = []
    _encode(document, "\n", parts)
    parts.append("\n")
    return "".join(parts).encode()


def _scalar(value: Any) -> str | None:  # noqa: PLR0911 - one return per JSON type
    """The JSON text of a scalar, or None for a container (exact types first: isinstance() against ABCs is slow)."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int or (isinstance(value, int) and not isinstance(value, bool)):
        return int.__repr__(value)
    if kind is float or isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not valid JSON")
        return float.__repr__(value)
    if isinstance(value, str):
        return _string(value)
    return None


def _encode(value: Any, newline: str, parts: list[str]) -> None:  # noqa: C901, PLR0912 - inlined for speed
    """Append the JSON text of a container (or scalar) at the given indentation; scalars inside are written inline."""
    text = _scalar(value)
    if text is not None:
        parts.append(text)
        return
    inner = newline + "  "
    if isinstance(value, Mapping):
        if not value:
            parts.append("{}")
            return
        separator = "{" + inner
        for key in sorted(value):
            parts.append(separator)
            parts.append(_string(key))
            parts.append(": ")
            item = value[key]
            if type(item) is str:  # most values: skip the calls below
                parts.append(_string(item))
            elif (text := _scalar(item)) is not None:
                parts.append(text)
            else:
                _encode(item, inner, parts)
            separator = "," + inner
        parts.append(newline + "}")
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
            return
        separator = "[" + inner
        for item in value:
            parts.append(separator)
            if type(item) is str:
                parts.append(_string(item))
            elif (text := _scalar(item)) is not None:
                parts.append(text)
            else:
                _encode(item, inner, parts)
            separator = "," + inner
        parts.append(newline + "]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Terraform's own files in a root (local state, providers, lock file): kept across compiles, never drift.
TERRAFORM_WORKING_FILES = (".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.backup")


def write_tree(destination: Path, files: Tree) -> None:
    """Replace `destination` with exactly `files`, all at once, keeping Terraform's working files.

    The new tree is written beside the old one and swapped in by renames, so an interrupted or
    failed compile leaves the previous build (or nothing) behind, never a mix. Local state, the
    provider cache and the lock file of every root move into the new tree: losing local state
    would launch every active run again.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.new-", dir=destination.parent))
    try:
        for relative, content in files.items():
            path = staging.joinpath(*relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        os.chmod(staging, 0o755)  # mkdtemp makes it private
        if destination.exists():
            for kept in _working_files(destination):
                target = staging / kept.relative_to(destination)
                target.parent.mkdir(parents=True, exist_ok=True)
                kept.rename(target)
            retired = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
            destination.rename(retired / destination.name)
            staging.rename(destination)
            shutil.rmtree(retired)
        else:
            staging.rename(destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


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


def _working_files(folder: Path) -> list[Path]:
    return [
        path
        for root in (folder, *sorted(p for p in folder.iterdir() if p.is_dir()))
        for name in TERRAFORM_WORKING_FILES
        if (path := root / name).exists()
    ]


def tree_differences(destination: Path, files: Tree) -> list[str]:
    """What differs between the files on disk and `files`: 'changed: x', 'missing: y', 'extra: z'."""
    on_disk = {
        PurePosixPath(path.relative_to(destination).as_posix())
        for path in (destination.rglob("*") if destination.is_dir() else ())
        if path.is_file() and not set(path.relative_to(destination).parts) & set(TERRAFORM_WORKING_FILES)
    }
    differences = [f"missing: {path}" for path in sorted(set(files) - on_disk)]
    differences += [f"extra: {path}" for path in sorted(on_disk - set(files))]
    differences += [
        f"changed: {path}" for path in sorted(set(files) & on_disk) if destination.joinpath(*path.parts).read_bytes() != files[path]
    ]
    return differences


def in_parallel(make: Callable[[], bytes]) -> Callable[[], bytes]:
    """Start `make` in a forked process; the returned function waits for its bytes.

    The child shares this process's memory as it was at the fork, so nothing is pickled; an
    exception in the child comes back as RuntimeError. Only for pure work: the child writes no file.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            data, status = make(), 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            data, status = f"{type(exc).__name__}: {exc}".encode(), 1
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        os._exit(status)
    os.close(write_end)

    def result() -> bytes:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"the forked writer failed: {data.decode(errors='replace')}")
        return data

    return result
