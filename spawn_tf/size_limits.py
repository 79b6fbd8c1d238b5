"""Limits on what a sweep file expands to, checked from the sizes of what is written, before any work per run.

Run count, keys per run and in all, text copied into runs: each bound is met before expansion
allocates what the limit is there to prevent (contract.MAX_RUNS and friends).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from spawn_tf import contract
from spawn_tf.diagnostics import Diagnostic, error
from spawn_tf.load import DataPath, Document


def limit_diagnostics(document: Document) -> Iterator[Diagnostic]:
    """The run count and the runs' sizes, from the sizes of what is written; before the schema (any types), before any work per run."""
    data = document.data
    params = data.get("params") if isinstance(data.get("params"), list) else []
    grid = data.get("grid") if isinstance(data.get("grid"), dict) else {}
    random = data.get("random") if isinstance(data.get("random"), dict) else {}
    count = random.get("count")
    drawn = count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0
    grid_runs = grid_size(data)
    total = len(params) + grid_runs + drawn
    if total > contract.MAX_RUNS:
        where_generated = ("grid",) if grid else ("random",) if drawn else ("params",)
        yield error("too-many-runs", f"the sweep expands to {total} runs, more than the limit of {contract.MAX_RUNS}",
                    document.span(where_generated, key=True), "split it into several sweeps")  # fmt: skip
        return
    drawn_keys = random.get("parameters") if isinstance(random.get("parameters"), dict) else {}
    yield from _run_sizes(document, params, ((("grid",), grid, grid_runs), (("random",), drawn_keys, drawn)))
    yield from _copied_text(document, total, grid, grid_runs)


def _copied_text(document: Document, runs: int, grid: Mapping[str, Any], grid_runs: int) -> Iterator[Diagnostic]:
    """Text that expansion copies into runs: each default parameter into every run, each grid value into its share of the grid.

    Every run holds its parameters as environment text (a gzip-friendly value may pass the 16 KB
    user-data check): 5,000 copies of a 1 MB default are 5 GB before any check could see them.
    """
    defaults = document.data.get("defaults")
    per_run = sum(_text_size(value) for key, value in defaults.items() if key not in contract.RUN_SETTINGS) if isinstance(defaults, dict) else 0
    copied = per_run * runs
    for values in grid.values():
        if isinstance(values, list) and values:
            copied += max(map(_text_size, values)) * (grid_runs // len(values))
    if copied > contract.MAX_EXPANDED_CHARS:
        yield error("too-much-text", f"the runs' parameters hold {copied} characters in all, more than the limit of {contract.MAX_EXPANDED_CHARS}",
                    document.span(("defaults",) if per_run * runs > contract.MAX_EXPANDED_CHARS else ("grid",), key=True),
                    "a value in defaults is copied into every run; pass large data as a file (S3 or the workdir)")  # fmt: skip


def _text_size(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _run_sizes(document: Document, params: list[Any], generated: Iterable[tuple[DataPath, Mapping[str, Any], int]]) -> Iterator[Diagnostic]:
    """Settings and parameters of each run (the defaults' and its own), and of all runs together: what expansion builds.

    A bound from the sizes alone settles the common file; only a file near a limit is counted key by key.
    """
    data = document.data
    base = {key for key in data if key in contract.RUN_SETTINGS}
    base.update(data["defaults"] if isinstance(data.get("defaults"), dict) else ())
    rows = [row for row in params if type(row) is dict]
    kinds = [(path, own, runs) for path, own, runs in generated if runs]
    widest = max((len(own) for _, own, _ in kinds), default=0)
    bound_total = len(base) * (len(rows) + sum(runs for _, _, runs in kinds)) + sum(map(len, rows)) + sum(len(own) * runs for _, own, runs in kinds)
    if len(base) + max(widest, max(map(len, rows), default=0)) <= contract.MAX_RUN_KEYS and bound_total <= contract.MAX_EXPANDED_KEYS:
        return
    every = [*((("params", i), row, 1) for i, row in enumerate(params) if type(row) is dict), *kinds]
    in_all = 0
    for path, own, runs in every:
        keys = len(base.union(own))
        if keys > contract.MAX_RUN_KEYS:
            yield error("too-many-keys", f"a run has {keys} settings and parameters, more than the limit of {contract.MAX_RUN_KEYS}",
                        document.span(path), _MANY_KEYS_HINT)  # fmt: skip
            return
        in_all += keys * runs
    if in_all > contract.MAX_EXPANDED_KEYS:
        yield error("too-many-values", f"the runs hold {in_all} settings and parameters in all, more than the limit of {contract.MAX_EXPANDED_KEYS}",
                    document.span(("defaults",) if "defaults" in data else (), key=True),
                    "fewer runs, or fewer settings and parameters per run; split it into several sweeps")  # fmt: skip


_MANY_KEYS_HINT = "a run's settings and parameters become its environment in 16 KB of user-data; pass large data as a file"


def grid_size(data: Mapping[str, Any]) -> int:
    """The grid's combinations (before the schema: a value that is not a list counts as one choice)."""
    grid = data.get("grid")
    size = 1 if grid and isinstance(grid, dict) else 0
    for values in grid.values() if size else ():
        size *= len(values) if isinstance(values, list) else 1
    return size
