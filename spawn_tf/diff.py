"""Compare two versions of a sweep: runs added, removed and changed, roots touched, cost delta. Pure.

A run is identified by its sweep id and name: a sweep whose id changes is a new sweep (new S3
folder, new roots and state), so every old run is removed and every new one added. A run is
changed when its fingerprint (DESIGN §3), its root or any setting or parameter differs; a new
fingerprint means it runs again (an earlier completion does not count for it, and a running
instance is replaced); a run that moves to another root has its running instance replaced there.
Settings outside the fingerprint (tags, IAM, network, retry policy) are updated in place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from spawn_tf import contract
from spawn_tf.cost import CostEstimate, estimate_as_json, usd
from spawn_tf.model import Run, RunSettings
from spawn_tf.plan import Plan
from spawn_tf.render import markdown_table, text_table
from spawn_tf.values import duration_text, env_text

# RunSettings fields under the names users write them in a sweep file.
_SETTING_NAMES = {"spot_max_price_usd": "spot_max_price", "ttl_seconds": "ttl", "idle_timeout_seconds": "idle_timeout",
                  "volume_size_gib": "volume_size", "script": "user_data"}  # fmt: skip
_DURATIONS = frozenset({"ttl_seconds", "idle_timeout_seconds"})
# What a run's candidates add to its first type, market and subnet: shown within instance_type, spot and subnet_id.
_CANDIDATE_PARTS = frozenset({"alternative_types", "on_demand_fallback", "alternative_subnets"})
_SHOWN_CHARS = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    field: str  # `params.lr`, a setting name (`ttl`, `instance_type`, …), `region` or `root`
    old: str | None  # as text; None when absent
    new: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEntry:
    """A run on one side of the diff: what a reviewer needs to place it."""

    name: str
    root: str
    instance_type: str
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunChange:
    old: RunEntry
    new: RunEntry
    fields: tuple[FieldChange, ...]

    @property
    def reruns(self) -> bool:
        """A new fingerprint: the run runs again (DESIGN §3)."""
        return self.old.fingerprint != self.new.fingerprint

    @property
    def moves(self) -> bool:
        """Another root: its old root destroys a running instance, the new one launches it."""
        return self.old.root != self.new.root


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepDiff:
    old_source: str
    new_source: str
    sweep_ids: tuple[str, str]  # (old, new)
    added: tuple[RunEntry, ...]  # in the new file's order
    removed: tuple[RunEntry, ...]  # in the old file's order
    changed: tuple[RunChange, ...]  # in the new file's order
    unchanged: int
    roots: tuple[str, ...]  # roots with an added, removed or changed run (either side), sorted
    cost: tuple[CostEstimate, CostEstimate] | None  # (old, new), priced alike
    cost_note: str | None  # why there is no cost delta

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed) and self.sweep_ids[0] == self.sweep_ids[1]


def diff_sweeps(
    old: Plan | None, new: Plan, cost: tuple[CostEstimate, CostEstimate] | None, cost_note: str | None, *, old_source: str
) -> SweepDiff:
    """The runs of `new` against those of `old` (None: the file did not exist, so every run is added)."""
    renamed = old is not None and old.sweep.id != new.sweep.id
    old_runs = _runs_by_name(old, qualified=renamed)
    new_runs = _runs_by_name(new, qualified=renamed)
    added = [entry for name, entry in new_runs.items() if name not in old_runs]
    removed = [entry for name, entry in old_runs.items() if name not in new_runs]
    changed: list[RunChange] = []
    for name in (name for name in new_runs if name in old_runs):
        (old_run, old_entry), (run, entry) = old_runs[name], new_runs[name]
        fields = _field_changes(old_run, old_entry, run, entry)
        if fields or old_entry.fingerprint != entry.fingerprint:
            changed.append(RunChange(old=old_entry, new=entry, fields=fields))
    touched = {entry.root for _, entry in added} | {entry.root for _, entry in removed}
    touched |= {root for change in changed for root in (change.old.root, change.new.root)}
    return SweepDiff(
        old_source=old_source,
        new_source=new.sweep.source,
        sweep_ids=(old.sweep.id if old else new.sweep.id, new.sweep.id),
        added=tuple(entry for _, entry in added),
        removed=tuple(entry for _, entry in removed),
        changed=tuple(changed),
        unchanged=sum(1 for name in new_runs if name in old_runs) - len(changed),
        roots=tuple(sorted(touched)),
        cost=cost,
        cost_note=cost_note,
    )


def _runs_by_name(plan: Plan | None, *, qualified: bool) -> dict[str, tuple[Run, RunEntry]]:
    """Runs by name (by `<sweep>/<name>`, roots as `<sweep>/<root>`, when `qualified`: two sweeps share nothing)."""
    if plan is None:
        return {}
    prefix = f"{plan.sweep.id}/" if qualified else ""
    found = [
        (run, RunEntry(name=run.name, root=prefix + root.name, instance_type=run.settings.instance_type, fingerprint=run.fingerprint))
        for root in plan.roots
        for run in root.runs
    ]
    return {prefix + run.name: (run, entry) for run, entry in sorted(found, key=lambda pair: pair[0].index)}


def _field_changes(old: Run, old_entry: RunEntry, new: Run, new_entry: RunEntry) -> tuple[FieldChange, ...]:
    changes: list[FieldChange] = []
    for key in sorted(old.params.keys() | new.params.keys()):
        before = _text(old.params[key]) if key in old.params else None
        after = _text(new.params[key]) if key in new.params else None
        if before != after:
            changes.append(FieldChange(field=f"params.{key}", old=before, new=after))
    written_before, written_after = _written(old.settings), _written(new.settings)
    for name, before in written_before.items():
        after = written_after[name]
        if before != after:
            changes.append(FieldChange(field=name, old=before, new=after))
    for name, before, after in (("region", old.region, new.region), ("root", old_entry.root, new_entry.root)):
        if before != after:
            changes.append(FieldChange(field=name, old=before, new=after))
    return tuple(changes)


def _written(settings: RunSettings) -> dict[str, str | None]:
    """The settings as text under the names a sweep file gives them; a run's candidates as written (`a|b`, `spot: auto`)."""
    written = {
        _SETTING_NAMES.get(field.name, field.name): _setting_text(field.name, getattr(settings, field.name))
        for field in dataclasses.fields(RunSettings)
        if field.name not in _CANDIDATE_PARTS
    }
    written["instance_type"] = "|".join(settings.instance_types)
    written["spot"] = contract.SPOT_AUTO if settings.on_demand_fallback else _text(settings.spot)
    written["subnet_id"] = _setting_text("subnet_id", settings.subnet_ids)
    return written


def _setting_text(field: str, value: Any) -> str | None:
    if value is None or value == ():
        return None
    if field in _DURATIONS:
        return duration_text(value)
    if isinstance(value, tuple):  # lists of names, or tags as (key, value) pairs
        return _text(",".join("=".join(item) if isinstance(item, tuple) else item for item in value))
    return _text(value)


def _text(value: Any) -> str:
    """A value as the workload sees it, shortened to one line."""
    text = env_text(value)
    lines = text.splitlines() or [""]
    if len(lines) == 1 and len(text) <= _SHOWN_CHARS:
        return text
    return f"{lines[0][:_SHOWN_CHARS]}… ({len(lines)} lines, {len(text)} characters)"


# --- output ------------------------------------------------------------------------------------


def _cost_json(cost: tuple[CostEstimate, CostEstimate]) -> dict[str, Any]:
    old, new = cost
    delta = new.worst_case_usd - old.worst_case_usd
    return {
        "old": estimate_as_json(old, None),
        "new": estimate_as_json(new, None),
        "delta_usd": str(delta.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),  # as `usd` rounds the text
    }


def diff_as_json(diff: SweepDiff) -> dict[str, Any]:
    def entry(run: RunEntry) -> dict[str, str]:
        return {"name": run.name, "root": run.root, "instance_type": run.instance_type, "fingerprint": run.fingerprint}

    return {
        "old": diff.old_source,
        "new": diff.new_source,
        "sweep": {"old": diff.sweep_ids[0], "new": diff.sweep_ids[1]},
        "added": [entry(run) for run in diff.added],
        "removed": [entry(run) for run in diff.removed],
        "changed": [
            {
                "name": change.new.name,
                "reruns": change.reruns,
                "moves": change.moves,
                "old": entry(change.old),
                "new": entry(change.new),
                "fields": [{"field": f.field, "old": f.old, "new": f.new} for f in change.fields],
            }
            for change in diff.changed
        ],
        "unchanged": diff.unchanged,
        "roots": list(diff.roots),
        "cost": None if diff.cost is None else _cost_json(diff.cost),
        "cost_note": diff.cost_note,
    }


def render_diff(diff: SweepDiff, *, markdown: bool, limit: int | None = None) -> str:
    """The diff for people: counts, the runs as a table (at most `limit` rows), then the cost delta."""
    counts = f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed, {diff.unchanged} unchanged"
    if diff.empty:
        counts += ": nothing to apply"
    roots = ", ".join(f"`{root}`" if markdown else root for root in diff.roots) or "none"
    lines = [f"### spawn-tf diff: `{diff.new_source}`" if markdown else f"spawn-tf diff: {diff.old_source} -> {diff.new_source}"]
    if markdown:
        lines.append(f"against `{diff.old_source}`")
    if diff.sweep_ids[0] != diff.sweep_ids[1]:
        lines.append(f"sweep id: {diff.sweep_ids[0]} -> {diff.sweep_ids[1]} (a new S3 folder and new roots: every run starts afresh)")
    lines += [f"**{counts}**" if markdown else counts, f"roots touched: {roots}"]
    rows = _rows(diff)
    shown = rows if limit is None else rows[:limit]
    out = "\n\n".join(lines) + "\n" if markdown else "\n".join(lines) + "\n"
    if shown:
        header = ["", "run", "root", "instance type", "change"]
        out += "\n" + (markdown_table(header, shown) if markdown else text_table(header, shown))
    if len(shown) < len(rows):
        out += f"\n… and {len(rows) - len(shown)} more (spawn-tf diff --json lists every run)\n"
    out += "\n" + _cost_text(diff, markdown) + "\n"
    return out


def _rows(diff: SweepDiff) -> list[list[str]]:
    rows = [["+", run.name, run.root, run.instance_type, "added"] for run in diff.added]
    for change in diff.changed:
        what = "; ".join(f"{f.field}: {_shown(f.old)} -> {_shown(f.new)}" for f in change.fields)
        effect = "runs again (new fingerprint)" if change.reruns else "moves: a running instance is replaced" if change.moves else "updated in place"
        what = (what + "; " if what else "") + effect
        rows.append(["~", change.new.name, _moved(change.old.root, change.new.root), change.new.instance_type, what])
    rows += [["-", run.name, run.root, run.instance_type, "removed"] for run in diff.removed]
    return rows


def _shown(value: str | None) -> str:
    return "(none)" if value is None else value


def _moved(old: str, new: str) -> str:
    return new if old == new else f"{old} -> {new}"


def _cost_text(diff: SweepDiff, markdown: bool) -> str:
    if diff.cost is None:
        return f"cost delta: unknown ({diff.cost_note})"
    old, new = diff.cost
    delta = new.worst_case_usd - old.worst_case_usd
    sign = "+" if delta >= 0 else "-"
    text = f"worst-case cost: {usd(old.worst_case_usd)} -> {usd(new.worst_case_usd)} ({sign}{usd(abs(delta))})"
    if not (old.complete and new.complete):
        text += "; incomplete: some runs are unpriced or have no ttl (spawn-tf cost lists them)"
    text = f"**{text}**" if markdown else text
    return text + ("\n\n" if markdown else "\n") + f"prices: {new.source}" + "".join(f"\nnote: {note}" for note in new.notes)
