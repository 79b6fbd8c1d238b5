"""A run's capacity candidates as the sweep file writes them (DESIGN §13). Pure.

`instance_type` as spawn's `a|b|c`, a family's sizes (`g5.*`) or a list of those; `zones` and `subnet_id`
as one name or a list. The rule that orders them into candidates is spawn_tf/capacity.py; this module
reads what is written and records it for manifests and `expand`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spawn_tf import awsdata
from spawn_tf.model import RunSettings

FAMILY_WILDCARD = ".*"  # `g5.*`: every size of the family botocore knows, smallest first (spawn's order)
TYPE_SEPARATOR = "|"  # spawn's `g5.xlarge|g6.xlarge`: tried in order
EVERY_ZONE = "every zone offering the type"


@dataclass(frozen=True, slots=True)
class TypeEntry:
    """One instance type (or `family.*`) as written, and its item when `instance_type` is a list."""

    text: str
    item: int | None

    @property
    def family(self) -> str | None:
        """The family of a `family.*` entry, else None."""
        return self.text.removesuffix(FAMILY_WILDCARD) if self.text.endswith(FAMILY_WILDCARD) else None


def type_entries(written: str | Sequence[str]) -> tuple[TypeEntry, ...]:
    """The entries of an `instance_type` value in the order written: `a|b` and list items alike."""
    if isinstance(written, str):
        return tuple(TypeEntry(part, None) for part in written.split(TYPE_SEPARATOR))
    return tuple(TypeEntry(part, item) for item, text in enumerate(written) for part in text.split(TYPE_SEPARATOR))


def entry_types(entry: TypeEntry) -> tuple[str, ...]:
    """The types an entry stands for: itself, or its family's sizes (none for a family botocore does not know)."""
    return (entry.text,) if entry.family is None else awsdata.family_sizes(entry.family)


def instance_types(written: str | Sequence[str]) -> tuple[str, ...]:
    """Every type of an `instance_type` value, in order, families expanded, each once (its first place kept).

    Never empty: a value naming only unknown families keeps its first entry as written (an error says why)."""
    entries = type_entries(written)
    types = tuple(dict.fromkeys(t for entry in entries for t in entry_types(entry)))
    return types or (entries[0].text,)


def names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A `zones` or `subnet_id` value (one name, or a list in order of preference) as a tuple, each once."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))


def has_alternative(settings: RunSettings) -> bool:
    """Whether the run may launch anywhere but its one type, market and subnet (or AWS's pick of zone)."""
    return bool(settings.alternative_types or settings.on_demand_fallback or settings.zones or settings.alternative_subnets)


def candidates_record(settings: RunSettings) -> dict[str, Any]:
    """`{"candidates": {...}}` for a run with an alternative or a subnet (manifests, `expand --json`), else nothing:
    the collector reads a missing record as the run's one type and market in every zone."""
    if not (has_alternative(settings) or settings.subnet_ids):
        return {}
    return {"candidates": {
        "instance_types": list(settings.instance_types), "markets": [str(market) for market in settings.markets],
        "zones": list(settings.zones), "subnets": list(settings.subnet_ids),
    }}  # fmt: skip


def describe(settings: RunSettings) -> str:
    """'g5.xlarge|g6.xlarge, spot then on-demand, in every zone offering the type': `expand`'s CANDIDATES column."""
    where = settings.subnet_ids or settings.zones
    markets = " then ".join(str(market) for market in settings.markets)
    return f"{TYPE_SEPARATOR.join(settings.instance_types)}, {markets}, in {', '.join(where) if where else EVERY_ZONE}"
