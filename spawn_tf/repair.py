"""The one-pass repair of a checked document: take out what is invalid, remember what was taken out.

With errors, validation builds a Sweep from what is left, so that expansion can still report every
independent problem; what a later stage would report only because a value was taken out is not
reported again (SAID_BY_ABSENCE).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from spawn_tf import contract
from spawn_tf.load import DataPath

# Diagnostics that a value taken out would cause by its absence alone: (code -> keys whose removal causes it).
SAID_BY_ABSENCE: dict[str, frozenset[str]] = {
    "no-ttl": frozenset({"ttl", "defaults"}),
    "budget-needs-ttl": frozenset({"ttl", "defaults"}),
    "no-instance-type": frozenset({"instance_type", "defaults"}),
    "no-workload": frozenset({"user_data", "command", "defaults"}),
    "unnamed-runs": frozenset({"name", "name_template", "params"}),
    "bad-sweep-id": frozenset({"sweep"}),
    "single-run": frozenset({"params", "grid", "random", "(top level)"}),  # an unknown top-level key may be a misspelt params
    "missing-region-value": frozenset({*contract.REGIONAL_SETTINGS, "region", "(unknown region)"}),
    "regional-id": frozenset({"region"}),
    "stop-needs-on-demand": frozenset({"spot", "defaults"}),
    "gpu-without-driver": frozenset({"ami", "defaults"}),
    "many-runs": frozenset({"max_concurrent"}),
}
REPAIR_ROUNDS = 8  # taking a value out can leave its object without a required key: check again



def without(data: Any, paths: Iterable[DataPath]) -> Any:
    """A copy of `data` without the values at `paths` (copied only along those paths)."""
    result = dict(data) if isinstance(data, dict) else list(data)
    heads: dict[Any, list[DataPath]] = {}
    for path in paths:
        heads.setdefault(path[0], []).append(path[1:])
    for head, rests in heads.items():
        if any(not rest for rest in rests):
            if isinstance(result, dict):
                result.pop(head, None)
            continue
        child = result[head] if isinstance(result, dict) and head in result else None
        if isinstance(result, list) and isinstance(head, int) and head < len(result):
            child = result[head]
        if isinstance(child, dict | list):
            result[head] = without(child, rests)
    return result


def dropped_names(paths: Iterable[DataPath]) -> frozenset[str]:
    """The names of what was taken out: each path's last key, and a regional setting anywhere in it."""
    names: set[str] = set()
    for path in paths:
        names.update(item for item in path[-1:] if isinstance(item, str))
        names.update(("(top level)",) if len(path) == 1 else ())
        names.update(item for item in path if item in contract.REGIONAL_SETTINGS)
    return frozenset(names)
