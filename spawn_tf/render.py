"""Runs as records, tables, CSV, JSON and YAML for `spawn-tf expand`. Pure."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from spawn_tf.expand import env_name
from spawn_tf.model import Run

_FIXED_COLUMNS = ("index", "name", "region", "instance_type", "spot", "ttl", "fingerprint")


def plain(value: Any) -> Any:
    """Values as built-in types (numbers that remember their source text become plain numbers)."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return [plain(v) for v in value]


def run_record(run: Run) -> dict[str, Any]:
    settings = run.settings
    return {
        "index": run.index,
        "name": run.name,
        "region": run.region,
        "region_assigned": run.region_assigned,
        "instance_type": settings.instance_type,
        "arch": str(settings.arch),
        "spot": settings.spot,
        "ttl_seconds": settings.ttl_seconds,
        "fingerprint": run.fingerprint,
        "params": plain(run.params),
        "env": dict(run.env),
    }


def _rows(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    param_keys = list(dict.fromkeys(key for run in runs for key in run.params))
    header = [*_FIXED_COLUMNS, *param_keys]
    rows = []
    for run in runs:
        ttl = run.settings.ttl_seconds
        fixed = [str(run.index), run.name, run.region, run.settings.instance_type, "yes" if run.settings.spot else "no",
                 "-" if ttl is None else f"{ttl}s", run.fingerprint]  # fmt: skip
        rows.append(fixed + [run.env.get(env_name(key), "") for key in param_keys])
    return header, rows


def render_runs(runs: Sequence[Run], fmt: str) -> str:
    """`fmt` is table, json, csv or yaml; the text ends with a newline."""
    if fmt == "json":
        return json.dumps([run_record(run) for run in runs], indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump([run_record(run) for run in runs], sort_keys=False, allow_unicode=True)
    header, rows = _rows(runs)
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([header, *rows])
        return out.getvalue()
    return text_table(header, rows)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns under an upper-case header; newlines in cells shown as \\n."""
    cells = [[cell.replace("\n", "\\n") for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *cells, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [[h.upper() for h in header], *cells]
    ]
    return "\n".join(lines) + "\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
