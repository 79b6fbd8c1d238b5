"""A compiled build as launch sees it: its sweep, its current roots, its orphan roots, whether its state is local."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spawn_tf import contract, manifest
from spawn_tf.emit.files import holds_state, recorded_roots
from spawn_tf.errors import SpawnError

_NATIVE_BACKEND = re.compile(r"^\s*(?:backend\s+\"|cloud\s*\{)", re.MULTILINE)  # in a .tf file of the user's


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    """build/<sweep>/: the roots sweep.json names, and the orphans its record still lists that may hold resources."""

    folder: Path
    sweep_id: str
    roots: tuple[str, ...]
    orphans: tuple[str, ...]

    def root(self, name: str) -> Path:
        return self.folder / name


def read_build(folder: Path) -> Build:
    """The build in `folder` (a compiled build/<sweep>/, or its sweep.json)."""
    if folder.name == contract.MANIFEST_FILE:
        folder = folder.parent
    data = read_manifest(folder / contract.MANIFEST_FILE)
    roots = sorted({run.root for run in manifest.runs(data)})
    orphans = sorted(name for name in recorded_roots(folder) - set(roots) if (folder / name).is_dir() and holds_state(folder / name))
    return Build(folder=folder, sweep_id=manifest.sweep_id(data), roots=tuple(roots), orphans=tuple(orphans))


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpawnError(f"{path.parent}: no {contract.MANIFEST_FILE}: not a compiled sweep",
                         "give a sweep file, or the build/<sweep>/ folder `spawn-tf compile` wrote") from None  # fmt: skip
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpawnError(f"{path}: cannot be read: {exc}") from None
    if not manifest.is_sweep_manifest(data):
        raise SpawnError(f"{path}: not a compiled sweep.json", "compile the sweep file again with `spawn-tf compile`")
    return data


def local_state(root: Path) -> bool:
    """Whether Terraform keeps the root's state in the folder: no backend or cloud block in any of its files."""
    for path in root.iterdir():
        if path.name.endswith(".tf.json"):
            try:
                settings = json.loads(path.read_text(encoding="utf-8")).get("terraform", {})
            except (OSError, ValueError, AttributeError):
                continue
            blocks = settings if isinstance(settings, list) else [settings]
            if any(isinstance(block, dict) and ("backend" in block or "cloud" in block) for block in blocks):
                return False
        elif path.name.endswith(".tf") and _NATIVE_BACKEND.search(path.read_text(encoding="utf-8", errors="replace")):
            return False
    return True
