"""Runs as records, tables, CSV, JSON and YAML for `spawn-tf expand`; text tables and sweep files as YAML. Pure."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from spawn_tf.candidates import candidates_record, describe, has_alternative
from spawn_tf.load import SourceFloat, SourceInt
from spawn_tf.model import Run
from spawn_tf.values import env_name

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
    record = run.record(arch=str(settings.arch), spot=settings.spot, ttl_seconds=settings.ttl_seconds, **candidates_record(settings))
    record["params"] = plain(run.params)  # for json.dumps and yaml, which write only built-in types
    return record


def _rows(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    """The fixed columns, CANDIDATES when a run has an alternative, then the parameters."""
    param_keys = list(dict.fromkeys(key for run in runs for key in run.params))
    shown = any(has_alternative(run.settings) for run in runs)
    header = [*_FIXED_COLUMNS, *(["candidates"] if shown else []), *param_keys]
    rows = []
    for run in runs:
        ttl = run.settings.ttl_seconds
        fixed = [str(run.index), run.name, run.region, run.settings.instance_type, "yes" if run.settings.spot else "no",
                 "-" if ttl is None else f"{ttl}s", run.fingerprint]  # fmt: skip
        candidates = [describe(run.settings) if has_alternative(run.settings) else "-"] if shown else []
        rows.append(fixed + candidates + [run.env.get(env_name(key), "") for key in param_keys])
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
    """Columns padded with spaces, the header upper-case, newlines shown as \\n; stable for scripts (`awk '{print $1}'`)."""
    cells = [[cell.replace("\n", "\\n") for cell in row] for row in [[h.upper() for h in header], *rows]]
    widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


class _SweepDumper(yaml.SafeDumper):
    """Writes what the loader reads back the same: YAML 1.2 numbers plain, numbers in the text they were written with."""


_SweepDumper.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"), list("-+0123456789.")
)
_SweepDumper.add_representer(SourceInt, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:int", value.source))
_SweepDumper.add_representer(SourceFloat, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:float", value.source))
# Scripts read best as literal blocks (PyYAML falls back to quoting where a block cannot hold the text).
_SweepDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def sweep_yaml(document: Mapping[str, Any]) -> str:
    """A sweep file's data as YAML, keys in the given order."""
    return yaml.dump(_builtin(document), Dumper=_SweepDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def _builtin(value: Any) -> Any:
    """Mappings as dicts and sequences as lists; scalars (and their source text) kept."""
    if isinstance(value, Mapping):
        return {str(k): _builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_builtin(v) for v in value]
    return value
