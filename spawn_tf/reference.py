"""The sweep file reference in Markdown, made from the schema (so the README cannot drift from it). Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from spawn_tf import contract

_REF_NAMES = {"region": "region", "duration": "duration", "parameter": "any value", "run": "run", "distribution": "distribution"}


def _type_text(schema: Mapping[str, Any]) -> str:  # noqa: PLR0911 - one form per schema shape
    if "$ref" in schema:
        target = schema["$ref"].rsplit("/", 1)[-1]
        return _REF_NAMES.get(target, target)
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if "anyOf" in schema:
        return " or ".join(dict.fromkeys(_type_text(branch) for branch in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type_text(schema.get('items', {}))}"
    if kind == "object":
        title = schema.get("title")
        return title if title else "mapping"
    if isinstance(kind, list):
        return " or ".join(kind)
    return schema.get("title") or kind or "any value"


def _row(name: str, schema: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    target = settings.get(name, schema) if "$ref" in schema and schema["$ref"].startswith("#/$defs/settings/") else schema
    default = target.get("default")
    default_text = "" if default is None else f"`{json.dumps(default)}`"
    description = (schema.get("description") or target.get("description", "")).replace("|", "\\|")
    return f"| `{name}` | {_type_text(target)} | {default_text} | {description} |"


def markdown_reference(schema: Mapping[str, Any]) -> str:
    """Two tables: the sweep's own keys, then the run settings (in `defaults` or a run)."""
    settings = schema["$defs"]["settings"]
    head = "| key | type | default | meaning |\n|---|---|---|---|"
    sweep_rows = [_row(name, schema["properties"][name], settings) for name in contract.SWEEP_KEYS]
    run_rows = [_row(name, settings[name], settings) for name in contract.RUN_SETTINGS]
    return (
        "**Sweep keys** (top level only)\n\n" + head + "\n" + "\n".join(sweep_rows) + "\n\n"
        "**Run settings** (in `defaults` or in a run; a run's own value wins). "
        "Every other key of a run is a workload parameter, exported as an environment variable "
        "(`learning_rate` → `LEARNING_RATE`; write `param:KEY` for a parameter whose name looks like a setting).\n\n"
        + head
        + "\n"
        + "\n".join(run_rows)
        + "\n"
    )
