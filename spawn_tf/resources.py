"""The files spawn-tf ships beside its code: the sweep schema and the Terraform/user-data templates."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

# In a wheel, `schemas/` and `templates/` are packaged as `spawn_tf/_shipped/…` (see pyproject.toml);
# in a source checkout they sit at the top of the repository.
_PACKAGED = files("spawn_tf") / "_shipped"
_SOURCE_TREE = Path(__file__).resolve().parent.parent


def resource(folder: str, name: str) -> Traversable:
    """A shipped file, e.g. resource("schemas", "sweep.schema.json")."""
    packaged = _PACKAGED / folder / name
    return packaged if packaged.is_file() else _SOURCE_TREE / folder / name


@cache
def sweep_schema() -> dict[str, Any]:
    """The sweep file's JSON Schema (draft 2020-12)."""
    return json.loads(resource("schemas", "sweep.schema.json").read_text(encoding="utf-8"))
