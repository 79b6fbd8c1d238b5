"""Group runs into Terraform roots: one per region, split into hashed shards when large. Pure.

Also the per-root facts the emitter needs: where results go, which IAM roles and networks exist.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from spawn_tf import contract
from spawn_tf.contract import OnComplete
from spawn_tf.model import Run, RunSettings, Sweep


@dataclass(frozen=True, slots=True, kw_only=True)
class IamSpec:
    """What one instance role grants beyond the agent's own statements."""

    shorthands: tuple[str, ...]  # sorted, unique
    managed_policies: tuple[str, ...]  # sorted, unique
    can_stop: bool  # on_complete: stop needs ec2:StopInstances on its own instance
    # What the role's runs read beyond the sweep's folder, gathered over them (`_root`): not part of the
    # key, so that new code or a new image updates the role's policy in place instead of replacing it.
    code: tuple[str, ...] = ()  # sha256 of the code objects its runs read (workdir archives, helper modules), sorted
    images: tuple[str, ...] = ()  # the ECR images its runs pull, sorted

    @property
    def key(self) -> str:
        """A short stable id: runs with equal needs share one role."""
        text = "|".join((",".join(self.shorthands), ",".join(self.managed_policies), str(self.can_stop)))
        return "r" + hashlib.sha256(text.encode()).hexdigest()[:8]


def iam_spec(settings: RunSettings) -> IamSpec | None:
    """The role a run needs, or None when it brings its own instance profile."""
    if settings.iam_instance_profile is not None:
        return None
    return IamSpec(
        shorthands=tuple(sorted(set(settings.iam_policy))),
        managed_policies=tuple(sorted(set(settings.iam_managed_policies))),
        can_stop=settings.on_complete is OnComplete.STOP,
    )


def network_key(run: Run) -> str | None:
    """Which spawn-tf security group a run uses: per subnet (its VPC), or the default VPC's; None with its own groups."""
    if run.settings.security_group_ids:
        return None
    return run.settings.subnet_id or "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class Root:
    """One self-contained Terraform root: a region, or a shard of one."""

    name: str
    region: str
    runs: tuple[Run, ...]  # in sweep order
    roles: Mapping[str, str]  # IamSpec.key -> IAM role (and instance profile) name
    specs: Mapping[str, IamSpec]  # IamSpec.key -> spec
    # A run of each distinct settings among `runs` (`settings_runs`): what follows from settings alone. Made from
    # `runs` by every construction (dataclasses.replace too), so it never tells of other runs.
    samples: tuple[Run, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", tuple(settings_runs(self.runs)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """A module of the agent's helper kept out of user-data (16 KB): the code object S/_code/<sha256>.py."""

    name: str  # contract.WORKENV_MODULE or contract.STOPPING_MODULE
    data: bytes
    sha256: str


def module_names(sweep: Sweep, settings: RunSettings) -> tuple[str, ...]:
    """The helper modules a run fetches: workenv when it prepares its environment (DESIGN §11), the
    early-stopping rule in a sweep with early_stopping (DESIGN §12)."""
    return tuple(
        name
        for name, needed in ((contract.WORKENV_MODULE, settings.prepares), (contract.STOPPING_MODULE, sweep.early_stopping is not None))
        if needed
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    sweep: Sweep
    roots: tuple[Root, ...]  # sorted by name
    results_bucket: str | None  # None: the account's default bucket, known only to Terraform
    results_prefix: str  # PREFIX of s3://BUCKET/PREFIX
    home_region: str
    bucket_region: str
    sweep_folder: str  # S = PREFIX/<sweep>
    archives: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))  # sha256 -> .tar.gz of every workdir archive a run uses
    modules: Mapping[str, Module] = field(default_factory=lambda: MappingProxyType({}))  # name -> the helper modules some run fetches

    def modules_of(self, settings: RunSettings) -> tuple[Module, ...]:
        """The helper modules the runs with these settings fetch."""
        return tuple(self.modules[name] for name in module_names(self.sweep, settings))


def home_region(sweep: Sweep) -> str:
    region = sweep.defaults.get("region")
    return region if isinstance(region, str) else contract.DEFAULT_HOME_REGION


def plan_roots(sweep: Sweep, runs: tuple[Run, ...], archives: Mapping[str, bytes] | None = None, modules: Mapping[str, bytes] | None = None) -> Plan:
    """Place every run in its root and name the roots' IAM roles.

    `archives` are the packed workdirs (sha256 -> .tar.gz); `modules` the agent's helper modules kept
    in S3 (name -> source), of which the plan keeps those some run fetches (`module_names`).
    """
    if sweep.results is not None:
        parts = contract.results_uri_parts(sweep.results)
        assert parts is not None, "validated"
        bucket, prefix = parts
    else:
        bucket, prefix = None, contract.DEFAULT_RESULTS_PREFIX
    home = home_region(sweep)
    distinct = [run.settings for run in settings_runs(runs)]
    used = {settings.code_sha256 for settings in distinct}
    needed = {name for settings in distinct for name in module_names(sweep, settings)}
    shipped = {
        name: Module(name=name, data=data, sha256=hashlib.sha256(data).hexdigest())
        for name, data in sorted((modules or {}).items())
        if name in needed
    }
    by_region: dict[str, list[Run]] = {}
    for run in runs:
        by_region.setdefault(run.region, []).append(run)
    roots: list[Root] = []
    for region, members in by_region.items():
        for name, shard in _shards(region, members, sweep.max_runs_per_root).items():
            roots.append(_root(sweep, name, region, shard, shipped))
    return Plan(
        sweep=sweep,
        roots=tuple(sorted(roots, key=lambda root: root.name)),
        results_bucket=bucket,
        results_prefix=prefix,
        home_region=home,
        bucket_region=sweep.results_region or home,
        sweep_folder=contract.sweep_prefix(prefix, sweep.id),
        archives=MappingProxyType({sha: data for sha, data in sorted((archives or {}).items()) if sha in used}),
        modules=MappingProxyType(shipped),
    )


def _shards(region: str, runs: list[Run], limit: int) -> dict[str, tuple[Run, ...]]:
    """Split a region into shards of at most `limit` runs, placed by a consistent hash of run names.

    `max_runs_per_root` is a bound, not a target. Jump hash spreads names evenly only on average
    (500-run shards drew up to 576), so the shard count is the smallest, from ceil(n / limit) up,
    at which no shard gets more than `limit`: about 15% more shards than ceil(n / limit) at 500.
    The count only grows as the sweep grows, and jump hash moves runs only into new shards when
    it does: growing a sweep never moves a run between existing shards. Small limits (a few runs)
    can need far more shards than that to fit by chance; from twice ceil(n / limit) on, the runs a
    shard cannot take go, in hash order, to the next shard with room (bounded loads).
    """
    if len(runs) <= limit:
        return {region: tuple(runs)}
    keys = [int.from_bytes(hashlib.sha256(run.name.encode()).digest()[:8], "big") for run in runs]
    least = math.ceil(len(runs) / limit)
    most = 2 * least
    count, placed = _fitting_count(keys, limit, least, most)
    if max(Counter(placed).values()) > limit:
        placed = _bounded(keys, placed, limit, most)
    shards: list[list[Run]] = [[] for _ in range(count)]
    for run, shard in zip(runs, placed, strict=True):
        shards[shard].append(run)
    return {f"{region}-{shard + 1:02d}": tuple(members) for shard, members in enumerate(shards) if members}


def _fitting_count(keys: list[int], limit: int, least: int, most: int) -> tuple[int, list[int]]:
    """The smallest shard count in [least, most] at which jump hash puts at most `limit` keys in each
    shard (or `most`), with each key's shard. Each key's jumps are computed once: going from n to n + 1
    shards moves exactly the keys that have a jump at n, into shard n."""
    placed: list[int] = []
    arriving: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        key_jumps = _jumps(key, most)
        cut = bisect.bisect_left(key_jumps, least)  # jumps ascend from 0: the last one below `least` is its shard
        placed.append(key_jumps[cut - 1])
        for jump in key_jumps[cut:]:
            arriving.setdefault(jump, []).append(index)
    loads = Counter(placed)
    count = least
    while max(loads.values()) > limit and count < most:
        for index in arriving.get(count, ()):
            loads[placed[index]] -= 1
            placed[index] = count
        loads[count] = len(arriving.get(count, ()))
        count += 1
    return count, placed


def _bounded(keys: list[int], placed: list[int], limit: int, count: int) -> list[int]:
    """Move the keys a shard cannot take (its highest keys) to the next shard with room, wrapping around."""
    members: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(keys)), key=lambda index: keys[index]):
        members[placed[index]].append(index)
    overflow: list[int] = []
    for shard in [*range(count), *range(count)]:  # two rounds: what the last shards push out lands at the front
        members[shard].extend(overflow)
        members[shard].sort(key=lambda index: keys[index])
        overflow = members[shard][limit:]
        del members[shard][limit:]
    assert not overflow, "count * limit >= 2 * len(keys)"
    moved = list(placed)
    for shard, indexes in enumerate(members):
        for index in indexes:
            moved[index] = shard
    return moved


def _jumps(key: int, buckets: int) -> list[int]:
    """Lamping and Veach's jump consistent hash (arXiv:1406.2294), every answer at once: with n <= `buckets`
    buckets a key lands in the largest of these jumps below n, so going from n to n + 1 buckets moves only
    the keys that land in the new bucket, 1/(n + 1) of them."""
    jumps, jump = [0], 0  # every key is in bucket 0 while there is one bucket
    while True:
        key = (key * 2862933555777941757 + 1) & 0xFFFF_FFFF_FFFF_FFFF  # mod 2**64
        jump = int((jump + 1) * (2**31 / ((key >> 33) + 1)))
        if jump >= buckets:
            return jumps
        jumps.append(jump)


def settings_runs(runs: Iterable[Run]) -> list[Run]:
    """A run of each distinct settings, in the order they first appear: runs share settings objects, so what follows
    from a run's settings alone is made once for each."""
    return list({id(run.settings): run for run in runs}.values())


def _root(sweep: Sweep, name: str, region: str, runs: tuple[Run, ...], modules: Mapping[str, Module]) -> Root:
    distinct = [run.settings for run in settings_runs(runs)]
    uses = [
        (settings, spec, [modules[name].sha256 for name in module_names(sweep, settings) if name in modules])
        for settings in distinct
        if (spec := iam_spec(settings)) is not None
    ]
    specs = _gathered(uses)
    roles = {key: role_name(sweep, name, key) for key in sorted(specs)}
    return Root(name=name, region=region, runs=runs, roles=MappingProxyType(roles), specs=MappingProxyType(specs))


def _gathered(uses: list[tuple[RunSettings, IamSpec, list[str]]]) -> dict[str, IamSpec]:
    """One spec per role key, with the code objects (archive, helper modules' sha256) and ECR images of all the runs that share the role."""
    code: dict[str, set[str]] = {}
    images: dict[str, set[str]] = {}
    specs: dict[str, IamSpec] = {}
    for settings, spec, module_shas in uses:
        specs[spec.key] = spec
        code.setdefault(spec.key, set()).update(sha for sha in (settings.code_sha256, *module_shas) if sha)
        images.setdefault(spec.key, set()).update([settings.image] if settings.image and contract.ECR_IMAGE_PATTERN.fullmatch(settings.image) else [])
    return {key: replace(spec, code=tuple(sorted(code[key])), images=tuple(sorted(images[key]))) for key, spec in sorted(specs.items())}


def role_name(sweep: Sweep, root: str, spec_key: str) -> str:
    """`spawn-tf-<sweep[:32]>-<10 hex>`: unique per results location, sweep, root and role; at most 52 characters."""
    digest = hashlib.sha256(f"{sweep.results or ''}|{sweep.id}|{root}|{spec_key}".encode()).hexdigest()[:10]
    name = f"{contract.IAM_NAME_PREFIX}-{sweep.id[:32]}-{digest}"
    assert len(name) <= contract.MAX_IAM_NAME_CHARS
    return name
