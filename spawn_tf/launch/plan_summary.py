"""What a root's saved plan does to the sweep's runs, read from `terraform show -json` (never from Terraform's human output). Pure.

A run's resources are the root's resources whose for_each is `local.active` (the instance and its
fingerprint marker, DESIGN §4), keyed by run name. Per run: a replacement when one of them is
replaced (its fingerprint changed), else a launch when one is created (a new run, or one whose
instance is gone: a relaunch), else a removal when they are deleted (finished, or out of the sweep).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spawn_tf import contract

_CREATE, _DELETE, _UPDATE = "create", "delete", "update"


@dataclass(frozen=True, slots=True, kw_only=True)
class Changes:
    """A root's (or a sweep's) planned changes: runs by what happens to them, and Terraform's own resource counts."""

    launches: tuple[str, ...] = ()
    replacements: tuple[str, ...] = ()
    removals: tuple[str, ...] = ()
    add: int = 0  # resource instances created (a replacement counts in add and destroy, as Terraform counts)
    change: int = 0
    destroy: int = 0

    @property
    def any(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    def as_json(self) -> dict[str, Any]:
        return {
            "launch": len(self.launches),
            "replace": len(self.replacements),
            "remove": len(self.removals),
            "runs": {"launch": list(self.launches), "replace": list(self.replacements), "remove": list(self.removals)},
            "resources": {"add": self.add, "change": self.change, "destroy": self.destroy},
        }


def run_resources(plan: Mapping[str, Any]) -> frozenset[str]:
    """Addresses (without key) of the resources whose for_each is the root's active runs."""
    resources = plan.get("configuration", {}).get("root_module", {}).get("resources", [])
    return frozenset(
        resource["address"]
        for resource in resources
        if resource.get("mode") == "managed"
        and contract.ACTIVE_RUNS_LOCAL in (resource.get("for_each_expression") or {}).get("references", ())
    )


def summarize(plan: Mapping[str, Any]) -> Changes:
    """The changes of one saved plan (`terraform show -json PLANFILE`)."""
    per_run = run_resources(plan)
    actions_of: dict[str, set[str]] = {}
    add = change = destroy = 0
    for resource in plan.get("resource_changes", []) or []:
        if resource.get("mode") != "managed":
            continue
        actions = list(resource.get("change", {}).get("actions", []))
        add += _CREATE in actions
        destroy += _DELETE in actions
        change += _UPDATE in actions
        key = resource.get("index")
        address = str(resource.get("address", ""))
        if isinstance(key, str) and address.removesuffix(f'["{key}"]') in per_run:
            actions_of.setdefault(key, set()).update(_kind(actions))
    return Changes(
        launches=_runs(actions_of, "launch"),
        replacements=_runs(actions_of, "replace"),
        removals=_runs(actions_of, "remove"),
        add=add,
        change=change,
        destroy=destroy,
    )


def _kind(actions: Sequence[str]) -> set[str]:
    if _CREATE in actions and _DELETE in actions:
        return {"replace"}
    if _CREATE in actions:
        return {"launch"}
    if _DELETE in actions:
        return {"remove"}
    return set()


def _runs(actions_of: Mapping[str, set[str]], kind: str) -> tuple[str, ...]:
    """The runs whose strongest change is `kind` (replace, then launch, then remove)."""
    order = ("replace", "launch", "remove")
    return tuple(sorted(run for run, kinds in actions_of.items() if kinds and min(kinds, key=order.index) == kind))


def total(changes: Iterable[Changes]) -> Changes:
    """The sweep-wide sum of the roots' changes."""
    every = list(changes)
    return Changes(
        launches=tuple(run for item in every for run in item.launches),
        replacements=tuple(run for item in every for run in item.replacements),
        removals=tuple(run for item in every for run in item.removals),
        add=sum(item.add for item in every),
        change=sum(item.change for item in every),
        destroy=sum(item.destroy for item in every),
    )


def line(changes: Changes) -> str:
    """`2 to launch, 1 to replace, 0 to remove (resources: 5 to add, 0 to change, 2 to destroy)`."""
    runs = f"{len(changes.launches)} to launch, {len(changes.replacements)} to replace, {len(changes.removals)} to remove"
    return f"{runs} (resources: {changes.add} to add, {changes.change} to change, {changes.destroy} to destroy)"
