"""A sweep as the collector knows it: its id, where it reports, its runs (built by `collect/resolve.py`).

A leaf of the collector: every command's module takes a SweepRecord, and this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spawn_tf import contract
from spawn_tf.manifest import RunRecord
from spawn_tf.stopping import Rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Results:
    """Where a sweep reports: s3://bucket/folder/, the bucket being in `region`."""

    bucket: str
    region: str
    folder: str  # S = PREFIX/<sweep>

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.folder}/"

    def run_folder(self, run: str) -> str:
        return f"{self.folder}/{run}/"


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepRecord:
    id: str
    results: Results
    runs: tuple[RunRecord, ...]  # in the sweep's order
    sweep_file: Path | None  # the sweep file, when the command was given one
    source: tuple[str, str] | None = None  # (file name, text) of the sweep file, from sweep.json, when there is no sweep_file
    early_stopping: Rule | None = None  # the sweep's rule, to explain early stops with (DESIGN §12)
    capacity_retry_after: int = contract.DEFAULT_CAPACITY_RETRY_AFTER_SECONDS  # seconds a capacity marker counts (DESIGN §13)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({run.region for run in self.runs}))

    def run(self, name: str) -> RunRecord | None:
        return next((run for run in self.runs if run.name == name), None)
