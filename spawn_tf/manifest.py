"""sweep.json and the root manifests: what `compile` writes for the collector, and how it is read back.

Both sides are here so that the field names are spelled in one place. `build/<sweep>/sweep.json` is
the whole sweep; each root's `manifest.json` (uploaded to `S/_manifest/<root>.json` by Terraform)
is its part, from which a sweep known only by its id is put together again. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

from spawn_tf import contract
from spawn_tf._version import __version__
from spawn_tf.candidates import candidates_record
from spawn_tf.contract import Market
from spawn_tf.model import Run
from spawn_tf.plan import Plan, Root
from spawn_tf.stopping import Rule

if TYPE_CHECKING:
    from spawn_tf.emit.json_text import EncodedItems

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CandidateSpec:
    """What a run may launch on, as its record lists it (DESIGN §13): the fields capacity.placements and
    capacity.candidates read, so that the collector builds the run's candidates as Terraform does."""

    instance_types: tuple[str, ...]
    markets: tuple[Market, ...]
    zones: tuple[str, ...] = ()  # empty: every zone of the region offering the type
    subnet_ids: tuple[str, ...] = ()  # empty: the default subnet of each zone


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """A run as a manifest lists it: what the collector knows of it."""

    name: str
    index: int
    fingerprint: str
    region: str
    root: str
    instance_type: str
    spot: bool | None = None  # None: a manifest written before it said so
    max_attempts: int
    max_interruptions: int
    params: Mapping[str, Any]
    candidates: CandidateSpec | None = None  # None: its instance type and market alone, in every zone (no alternative)

    @property
    def key(self) -> str:
        return contract.run_key(self.name, self.fingerprint)

    @property
    def candidate_spec(self) -> CandidateSpec:
        """Its candidates' spec: as listed, else its instance type and market in every zone."""
        return self.candidates or CandidateSpec((self.instance_type,), (_market(self.spot),))

    @property
    def instance_types(self) -> tuple[str, ...]:
        return self.candidate_spec.instance_types

    @property
    def markets(self) -> tuple[Market, ...]:
        """Its markets in the order tried (a manifest that does not say whether the run is spot: spot, the default)."""
        return self.candidate_spec.markets

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones it is narrowed to, in order; none: every zone offering its types."""
        return self.candidate_spec.zones

    @property
    def subnets(self) -> tuple[str, ...]:
        """The subnets of a `subnet_id` list, in order."""
        return self.candidate_spec.subnet_ids


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where a sweep reports, as its manifest says: the bucket is None for the account's default one."""

    bucket: str | None
    region: str  # the bucket's
    folder: str  # S = PREFIX/<sweep>
    home_region: str


# --- writing ----------------------------------------------------------------------------------


def run_records(plan: Plan) -> dict[str, dict[str, Any]]:
    """Each run as sweep.json and the root manifests list it, by name."""
    return {run.name: run_record(run, root.name) for root in plan.roots for run in root.runs}


_OWN_FIELDS = ("index", "name", "region", "region_assigned", "fingerprint")  # a record's own values but its parameters and variables


def own_record_places(run: Run) -> tuple[tuple[str, ...], ...]:
    """Where a run's record holds its own values (`own_record_columns`): runs of one settings and root, with the same
    parameter and variable names (in the same order), differ only there."""
    return (*((field,) for field in _OWN_FIELDS), *(("params", key) for key in run.params), *(("env", key) for key in run.env))


def own_record_columns(runs: Sequence[Run]) -> list[tuple[Any, ...]]:
    """The values at `own_record_places` of runs with the same parameter and variable names, in order: a tuple of
    the runs' values for each place, in its order."""
    return [
        *(tuple(map(attrgetter(field), runs)) for field in _OWN_FIELDS),
        *zip(*(run.params.values() for run in runs), strict=True),
        *zip(*(run.env.values() for run in runs), strict=True),
    ]


def run_record(run: Run, root: str) -> dict[str, Any]:
    settings = run.settings
    return run.record(spot=settings.spot, **candidates_record(settings), max_attempts=settings.max_attempts,
                      max_interruptions=settings.max_interruptions, root=root)  # fmt: skip


def root_manifest(plan: Plan, root: Root, records: Sequence[Any] | EncodedItems) -> dict[str, Any]:
    """A root's manifest.json, with the records of its runs in its order."""
    found = {"sweep": plan.sweep.id, "root": root.name, "region": root.region, "runs": records}
    return found | early_stopping_record(plan)


def early_stopping_record(plan: Plan) -> dict[str, Any]:
    """The sweep's early-stopping rule, for the collector to explain stops with (nothing without one)."""
    rule = plan.sweep.early_stopping
    return {} if rule is None else {"early_stopping": rule.settings()}


def sweep_manifest(plan: Plan, records: Mapping[str, Any], source_text: str | None = None) -> dict[str, Any]:
    """build/<sweep>/sweep.json: everything the collector needs to know about the sweep (`records`: by run name).

    `source_text`, the sweep file as written, lets `retry -o` write a sweep file of some runs from
    sweep.json (or the sweep's id) alone, with their settings as the user wrote them.
    """
    return sweep_document(plan, in_sweep_order(plan, [records[run.name] for root in plan.roots for run in root.runs]), source_text)


def in_sweep_order(plan: Plan, records: Sequence[T]) -> list[T]:
    """`records`, one a run root by root (each root's in its order), in the sweep's order: by index."""
    indexes = [run.index for root in plan.roots for run in root.runs]
    return list(map(records.__getitem__, sorted(range(len(records)), key=indexes.__getitem__)))


def sweep_document(plan: Plan, records: Sequence[Any] | EncodedItems, source_text: str | None = None) -> dict[str, Any]:
    """`sweep_manifest` with the records of the sweep's runs given in its order (by index)."""
    source = {"file": plan.sweep.source_name, "sha256": plan.sweep.source_sha256}
    return {
        "format_version": contract.FORMAT_VERSION,
        "fingerprint_version": contract.FINGERPRINT_VERSION,
        "sweep": plan.sweep.id,
        "compiler": {"name": "spawn-tf", "version": __version__},
        "source": source if source_text is None else {**source, "text": source_text},
        "results": {
            "bucket": plan.results_bucket,
            "prefix": plan.results_prefix,
            "region": plan.bucket_region,
            "sweep_folder": plan.sweep_folder,
        },
        "home_region": plan.home_region,
        "max_concurrent": plan.sweep.max_concurrent,
        "capacity_retry_after": plan.sweep.capacity_retry_after_seconds,
        **early_stopping_record(plan),
        "roots": [{"name": root.name, "region": root.region, "runs": len(root.runs)} for root in plan.roots],
        "runs": records,
    }


# --- reading (KeyError, TypeError or AttributeError for what is not a manifest) ---------------


def is_sweep_manifest(data: Any) -> bool:
    return isinstance(data, dict) and "runs" in data and "results" in data


def sweep_id(manifest: Mapping[str, Any]) -> str:
    return manifest["sweep"]


def source_text(manifest: Mapping[str, Any]) -> tuple[str, str] | None:
    """(file name, text) of the sweep file sweep.json was compiled from, when it carries it."""
    source = manifest.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("text"), str) and isinstance(source.get("file"), str):
        return source["file"], source["text"]
    return None


def early_stopping(manifest: Mapping[str, Any]) -> Rule | None:
    """The sweep's early-stopping rule, from sweep.json or a root's manifest (None: the sweep has none)."""
    settings = manifest.get("early_stopping")
    return None if settings is None else Rule.from_settings(dict(settings))


def max_concurrent(manifest: Mapping[str, Any]) -> int | None:
    return manifest.get("max_concurrent")


def capacity_retry_after(manifests: Iterable[Mapping[str, Any]]) -> int:
    """Seconds a capacity marker counts: the `capacity_retry_after` of sweep.json (or of the first root manifest
    that has one); the default when none has it."""
    return next((int(found["capacity_retry_after"]) for found in manifests if "capacity_retry_after" in found), contract.DEFAULT_CAPACITY_RETRY_AFTER_SECONDS)


def location(manifest: Mapping[str, Any]) -> Location:
    results = manifest["results"]
    return Location(bucket=results["bucket"], region=results["region"], folder=results["sweep_folder"], home_region=manifest["home_region"])


def runs(manifest: Mapping[str, Any]) -> tuple[RunRecord, ...]:
    """The runs of sweep.json, in the sweep's order."""
    return tuple(_read_run(record) for record in sorted(manifest["runs"], key=lambda record: record["index"]))


def root_runs(roots: Iterable[Mapping[str, Any]]) -> tuple[RunRecord, ...]:
    """The runs of a sweep's root manifests, in the sweep's order."""
    return tuple(sorted((_read_run(record) for root in roots for record in root["runs"]), key=lambda run: run.index))


def _read_run(record: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        name=record["name"],
        index=record["index"],
        fingerprint=record["fingerprint"],
        region=record["region"],
        root=record["root"],
        instance_type=record["instance_type"],
        spot=record.get("spot"),
        max_attempts=record["max_attempts"],
        max_interruptions=record["max_interruptions"],
        params=record["params"],
        candidates=_candidate_spec(record),
    )


def _candidate_spec(record: Mapping[str, Any]) -> CandidateSpec | None:
    """A record's `candidates`, which only a run with an alternative has; a list it leaves out is the run's default."""
    found = record.get("candidates")
    if found is None:
        return None
    return CandidateSpec(
        instance_types=tuple(found.get("instance_types") or (record["instance_type"],)),
        markets=tuple(Market(market) for market in found.get("markets") or (_market(record.get("spot")),)),
        zones=tuple(found.get("zones") or ()),
        subnet_ids=tuple(found.get("subnets") or ()),
    )


def _market(spot: bool | None) -> Market:
    """A record's market: on-demand for `spot: false`; spot otherwise (a record without `spot` is older than the field: the default)."""
    return Market.ON_DEMAND if spot is False else Market.SPOT
