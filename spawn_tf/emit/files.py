"""Serialize and write compiled output: deterministic bytes, atomic replacement, drift checks.

The only module that writes to the file system.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

Tree = Mapping[PurePosixPath, bytes]


def dump_json(document: Any) -> bytes:
    """The one JSON serializer of compiled output: sorted keys, 2-space indent, UTF-8, final newline."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()


def write_tree(destination: Path, files: Tree) -> None:
    """Replace `destination` with exactly `files`, all at once.

    The new tree is written beside the old one and swapped in by renames, so an interrupted or
    failed compile leaves the previous build (or nothing) behind, never a mix.
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
            retired = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
            destination.rename(retired / destination.name)
            staging.rename(destination)
            shutil.rmtree(retired)
        else:
            staging.rename(destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def tree_differences(destination: Path, files: Tree) -> list[str]:
    """What differs between the files on disk and `files`: 'changed: x', 'missing: y', 'extra: z'."""
    on_disk = {
        PurePosixPath(path.relative_to(destination).as_posix())
        for path in (destination.rglob("*") if destination.is_dir() else ())
        if path.is_file()
    }
    differences = [f"missing: {path}" for path in sorted(set(files) - on_disk)]
    differences += [f"extra: {path}" for path in sorted(on_disk - set(files))]
    differences += [
        f"changed: {path}" for path in sorted(set(files) & on_disk) if destination.joinpath(*path.parts).read_bytes() != files[path]
    ]
    return differences
