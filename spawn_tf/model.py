"""The values that cross stages: a validated Sweep and its expanded Runs. Pure data, no I/O.

Constructors trust their input: validation happens before these are built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from spawn_tf import contract
from spawn_tf.contract import Arch, Market, OnComplete

if TYPE_CHECKING:
    from decimal import Decimal

    from spawn_tf.stopping import Rule


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomParameter:
    """One parameter of a random search: a list to pick from, or a distribution over [low, high]."""

    name: str
    values: tuple[Any, ...] = ()
    distribution: str | None = None  # uniform | log_uniform | int_uniform
    low: float = 0.0
    high: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomSearch:
    count: int
    seed: int
    parameters: tuple[RandomParameter, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backend:
    """A Terraform backend: its type (`s3`) and settings; each root derives its own state key."""

    kind: str
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """A cap on the sweep's worst-case cost: compile and cost fail above it."""

    max_usd: Decimal
    prices: str | None  # a price file, as written: relative to the sweep file


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    """A validated sweep file, before expansion. Run mappings are as written (settings and parameters)."""

    id: str
    source: str  # the sweep file, as named to the user
    source_name: str  # its file name alone
    source_sha256: str
    results: str | None  # s3://BUCKET/PREFIX, or None for the account's default bucket
    results_region: str | None
    defaults: Mapping[str, Any]  # top-level run settings merged with `defaults`
    params: tuple[Mapping[str, Any], ...]
    grid: tuple[tuple[str, tuple[Any, ...]], ...]  # keys in sorted order
    random: RandomSearch | None
    name_template: str | None
    regions: tuple[str, ...]
    max_concurrent: int | None
    max_runs_per_root: int
    backend: Backend | None
    aws_provider_version: str
    budget: Budget | None
    early_stopping: Rule | None = None  # DESIGN §12
    capacity_retry_after_seconds: int = contract.DEFAULT_CAPACITY_RETRY_AFTER_SECONDS  # DESIGN §13
    provider_max_retries: int = contract.DEFAULT_PROVIDER_MAX_RETRIES  # `terraform: {max_retries}`

    @property
    def grid_size(self) -> int:
        size = 1 if self.grid else 0
        for _, values in self.grid:
            size *= len(values)
        return size

    @property
    def run_count(self) -> int:
        return len(self.params) + self.grid_size + (self.random.count if self.random else 0) or 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Workdir:
    """A `workdir` setting: a folder beside the sweep file, packed into an archive and extracted at `target`."""

    source: str  # as written: relative to the sweep file's folder
    target: str  # absolute path on the instance
    exclude: tuple[str, ...] = ()  # .gitignore-style patterns, beside .spawnignore's


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """A run's effective settings: defaults applied, regional values resolved for its region."""

    instance_type: str
    arch: Arch
    spot: bool
    spot_max_price_usd: str | None
    ttl_seconds: int | None
    idle_timeout_seconds: int | None
    on_complete: OnComplete
    ami: str  # an AMI id, or an alias from contract.AMI_ALIASES
    volume_size_gib: int | None
    subnet_id: str | None
    security_group_ids: tuple[str, ...]
    key_name: str | None
    iam_policy: tuple[str, ...]  # shorthands, in the order written
    iam_managed_policies: tuple[str, ...]
    iam_instance_profile: str | None
    script: str | None  # user_data, or command as a one-line script
    output_dir: str
    max_attempts: int
    max_interruptions: int
    retry_failed: bool
    tags: tuple[tuple[str, str], ...]  # (key, value), as written; a tuple keeps RunSettings hashable
    # The workload's environment (DESIGN §11); empty for runs that set none of it.
    workdir: Workdir | None = None
    code_sha256: str | None = None  # the workdir archive's name: sha256 of its uncompressed tar
    setup: str | None = None
    packages: tuple[str, ...] = ()
    image: str | None = None
    # Capacity (DESIGN §13): what a run may launch on besides its first instance type, subnet and market.
    alternative_types: tuple[str, ...] = ()  # the types after instance_type, in the order tried
    on_demand_fallback: bool = False  # `spot: auto`: after every spot candidate, the same on-demand
    zones: tuple[str, ...] = ()  # `zones` / `az`: only these; empty = every zone of the region offering the type
    alternative_subnets: tuple[str, ...] = ()  # the subnets after subnet_id (a `subnet_id` list), in order

    @property
    def instance_types(self) -> tuple[str, ...]:
        return (self.instance_type, *self.alternative_types)

    @property
    def markets(self) -> tuple[Market, ...]:
        if not self.spot:
            return (Market.ON_DEMAND,)
        return (Market.SPOT, Market.ON_DEMAND) if self.on_demand_fallback else (Market.SPOT,)

    @property
    def subnet_ids(self) -> tuple[str, ...]:
        return () if self.subnet_id is None else (self.subnet_id, *self.alternative_subnets)

    @property
    def prepares(self) -> bool:
        """Whether the agent makes the workload's environment before its script (DESIGN §11)."""
        return self.workdir is not None or bool(self.packages) or self.setup is not None or self.image is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One run: one spot instance (and its relaunches) with its own parameters."""

    index: int  # position in the expanded list: params, then grid, then random
    name: str
    region: str
    region_assigned: bool  # placed by `regions` hashing (or the home region), not written
    params: MappingProxyType[str, Any]  # workload parameters, as written (keys without `param:`)
    env: MappingProxyType[str, str]  # NAME and the parameters' variables, as exported
    settings: RunSettings
    fingerprint: str  # 12 hex digits over the effective configuration (DESIGN §3)

    def record(self, **extra: Any) -> dict[str, Any]:
        """The fields every listing of a run carries (`expand`'s records, the manifests); `extra` after the instance type."""
        return {
            "index": self.index,
            "name": self.name,
            "region": self.region,
            "region_assigned": self.region_assigned,
            "instance_type": self.settings.instance_type,
            **extra,
            "fingerprint": self.fingerprint,
            "params": self.params.copy(),  # numbers that keep their text serialize as plain numbers
            "env": self.env.copy(),  # (a proxy's copy is its dict's: dict() of a proxy reads it key by key)
        }
