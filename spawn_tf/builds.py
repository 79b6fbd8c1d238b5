"""Where compiled sweeps go: OUTPUT/<sweep id>/, one sweep file each; nothing is written when any file failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spawn_tf.pipeline import Checked, Emitter


@dataclass(frozen=True, slots=True)
class Build:
    """A sweep file compiled without errors, and the folder its files go into."""

    destination: Path
    file: Path
    checked: Checked
    files: Emitter  # makes the compiled files one at a time (`pipeline.compile_lazily`)


@dataclass(frozen=True, slots=True)
class Clash:
    """A sweep file whose sweep id an earlier file of the same command has already."""

    file: Path
    sweep_id: str
    first: Path  # the earlier file


@dataclass(frozen=True, slots=True)
class Placement:
    builds: tuple[Build, ...]  # every file's, or none when `failures`
    clashes: tuple[Clash, ...]
    failures: int  # files not compiled, or clashing


def place_builds(output: Path, sweep_files: Sequence[Path], compiled: Sequence[tuple[Checked, Emitter] | None]) -> Placement:
    """Each compiled sweep's destination; a file that failed (None) or shares a sweep id with an earlier one stops them all."""
    builds: list[Build] = []
    clashes: list[Clash] = []
    sources: dict[Path, Path] = {}  # destination -> the file compiled into it
    for file, item in zip(sweep_files, compiled, strict=True):
        if item is None:
            continue
        checked, files = item
        sweep_id = checked.plan.sweep.id if checked.plan is not None else ""
        destination = output / sweep_id
        if destination in sources:
            clashes.append(Clash(file, sweep_id, sources[destination]))
            continue
        sources[destination] = file
        builds.append(Build(destination, file, checked, files))
    failures = len(sweep_files) - len(builds)
    return Placement(tuple(builds) if failures == 0 else (), tuple(clashes), failures)
