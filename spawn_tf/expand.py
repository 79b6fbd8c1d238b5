"""Expand a Sweep into its ordered runs: params, then grid, then random (DESIGN §2-3). Pure.

Also the rules that need whole runs: names, regions, effective settings, environment variables.
Files repeat the same settings thousands of times, so each distinct value is checked once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from spawn_tf import awsdata, contract, iam
from spawn_tf.contract import Arch, OnComplete
from spawn_tf.diagnostics import Diagnostic, Severity, did_you_mean, has_errors, ordered
from spawn_tf.load import DataPath, Document
from spawn_tf.model import RandomParameter, Run, RunSettings, Sweep


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where a run came from in the file."""

    kind: str  # params | grid | random | defaults
    index: int  # the row of params, the combination of grid, the draw of random
    grid_choice: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Problem:
    """A diagnostic before it has a place: `key` is the setting or parameter it is about."""

    severity: Severity
    code: str
    message: str
    key: str | None = None
    hint: str | None = None
    item: int | None = None  # the item of the setting's list it is about, when the setting is a list


def expand_runs(sweep: Sweep, document: Document) -> tuple[tuple[Run, ...] | None, tuple[Diagnostic, ...]]:
    """The sweep's runs in order, or None with the reasons it cannot be expanded.

    Args:
        sweep: the validated sweep.
        document: its source, used only to place diagnostics.
    """
    expander = _Expander(sweep, document)
    runs = tuple(expander.expand())
    diagnostics = ordered(expander.diagnostics())
    return (None if has_errors(diagnostics) else runs), diagnostics


class _Expander:
    def __init__(self, sweep: Sweep, document: Document) -> None:
        self.sweep = sweep
        self.document = document
        self.problems: dict[tuple[DataPath, _Problem], None] = {}
        self.settings_cache: dict[tuple[str, tuple[tuple[str, int], ...]], tuple[RunSettings, str, tuple[_Problem, ...]]] = {}
        self.env_names_cache: dict[tuple[str, ...], tuple[dict[str, str], tuple[_Problem, ...]]] = {}
        self.checked_values: set[tuple[str, str]] = set()
        self.names: dict[str, int] = {}
        self.regional_uses: dict[DataPath, set[str]] = {}
        self.run_regions: list[str] = []
        self.results = _results_location(sweep)

    # --- the runs ---

    def expand(self) -> Iterator[Run]:
        defaults = self.sweep.defaults
        for index, (origin, own) in enumerate(_own_rows(self.sweep)):
            row = {**defaults, **own}
            settings_raw = {k: v for k, v in row.items() if k in _SETTINGS}
            params = {k.removeprefix(contract.PARAM_ESCAPE_PREFIX): v for k, v in row.items() if k not in _SETTINGS}
            env_names = self._env_names(origin, tuple(params))
            env_values = {env_names[k]: env_text(v) for k, v in params.items() if k in env_names}
            name = self._name(origin, index, settings_raw.get("name"), params)
            explicit_region = settings_raw.get("region")
            region = explicit_region or self._place(name)
            self.run_regions.append(region)
            settings, settings_fingerprint, problems = self._settings(settings_raw, region)
            for problem in problems:
                self._report(origin, problem)
            self._note_regional_uses(origin, settings_raw, region)
            self._check_values(origin, params)
            env = {contract.ENV_RUN_NAME: name, **env_values}
            # NUL cannot occur in names or values (a value holding one is an error): it separates them.
            identity = "\0".join(f"{name}\0{value}" for name, value in sorted(env.items()))
            fingerprint = hashlib.sha256(f"{identity}\0\0{explicit_region or ''}\0\0{settings_fingerprint}".encode()).hexdigest()[:12]
            yield Run(
                index=index,
                name=name,
                region=region,
                region_assigned=explicit_region is None,
                params=MappingProxyType(params),
                env=MappingProxyType(env),
                settings=settings,
                fingerprint=fingerprint,
            )

    def diagnostics(self) -> Iterator[Diagnostic]:
        for path, regions in self.regional_uses.items():
            if len(regions) > 1:
                setting = next(item for item in reversed(path) if isinstance(item, str))
                listed = ", ".join(sorted(regions))
                self.problems[(path, _Problem(
                    Severity.ERROR, "regional-id", f"'{setting}' names something that exists in one region, but its runs are in {listed}",
                    hint=f"give one per region: {setting}: {{{sorted(regions)[0]}: ..., ...}}",
                ))] = None  # fmt: skip
        counts: dict[str, int] = {}
        for region in self.run_regions:
            counts[region] = counts.get(region, 0) + 1
        if self.sweep.max_concurrent is None:
            for region, count in sorted(counts.items()):
                if count > contract.MANY_RUNS_PER_REGION:
                    self.problems[((), _Problem(
                        Severity.WARNING, "many-runs", f"{count} runs start at once in {region}",
                        hint="set max_concurrent to launch them in waves (spot capacity and quotas run out)",
                    ))] = None  # fmt: skip
        for path, problem in self.problems:
            yield Diagnostic(
                severity=problem.severity, code=problem.code, message=problem.message,
                span=self.document.span(path, key=problem.code in _KEY_CODES), hint=problem.hint,
            )  # fmt: skip

    # --- pieces ---

    def _place(self, name: str) -> str:
        """Rendezvous hashing: each run goes to the region scoring highest for its name."""
        regions = self.sweep.regions or (contract.DEFAULT_HOME_REGION,)
        if len(regions) == 1:
            return regions[0]
        return max(regions, key=lambda region: hashlib.sha256(f"{region}/{name}".encode()).digest())

    def _name(self, origin: _Origin, index: int, written: str | None, params: Mapping[str, Any]) -> str:
        if written is not None:
            name, path = written, self._path(origin, "name")
        elif self.sweep.name_template is not None:
            path = ("name_template",)
            try:
                name = self.sweep.name_template.format_map(_TemplateValues(params, index))
            except _MissingField as missing:
                self._report_at(path, _Problem(Severity.ERROR, "bad-name-template",
                                               f"name_template uses '{{{missing.field}}}', which is not a parameter of every run"))  # fmt: skip
                return contract.default_run_name(self.sweep.id, index)
            except (ValueError, TypeError) as exc:
                self._report_at(path, _Problem(Severity.ERROR, "bad-name-template", f"name_template cannot be filled in: {exc}"))
                return contract.default_run_name(self.sweep.id, index)
            if len(name) > contract.MAX_RUN_NAME_CHARS:  # not kept nor quoted whole: a parameter may make it long
                self._report_at(path, _Problem(Severity.ERROR, "bad-run-name",
                                               f"name_template makes a name of {len(name)} characters ('{name[:40]}...'), more than the limit of {contract.MAX_RUN_NAME_CHARS}",
                                               hint=_RUN_NAME_HINT))  # fmt: skip
                return contract.default_run_name(self.sweep.id, index)
            if not contract.RUN_NAME_PATTERN.fullmatch(name) or ".." in name:
                self._report_at(path, _Problem(Severity.ERROR, "bad-run-name", f"name_template makes '{name}', which is not a valid run name",
                                               hint=_RUN_NAME_HINT))  # fmt: skip
        else:
            name, path = contract.default_run_name(self.sweep.id, index), self._origin_path(origin)
        if written is None and self.sweep.name_template is None and origin.kind != "defaults":
            self._report_at((), _Problem(Severity.WARNING, "unnamed-runs", "runs without a name are named '<sweep>-<index>'",
                                         hint="inserting a run renames the later ones; name runs, or set name_template"))  # fmt: skip
        if ".." in name:
            self._report_at(path, _Problem(Severity.ERROR, "bad-run-name", f"run name '{name}' contains '..'", hint=_RUN_NAME_HINT))
        if name in self.names:
            self._report_at(path, _Problem(Severity.ERROR, "duplicate-run-name",
                                           f"run name '{name}' is already used by run {self.names[name]}",
                                           hint="run names must be unique: they are S3 folders and Terraform keys"))  # fmt: skip
        else:
            self.names[name] = index
        return name

    def _env_names(self, origin: _Origin, keys: tuple[str, ...]) -> dict[str, str]:
        if keys not in self.env_names_cache:
            self.env_names_cache[keys] = _map_env_names(keys)
        names, problems = self.env_names_cache[keys]
        for problem in problems:
            self._report(origin, problem)
        return names

    def _settings(self, raw: dict[str, Any], region: str) -> tuple[RunSettings, str, tuple[_Problem, ...]]:
        # Keyed by identity: runs share their defaults' value objects, so equal settings are found
        # without serializing them; the sweep keeps every value alive while this cache exists.
        key = (region, tuple((k, id(v)) for k, v in raw.items() if k not in ("name", "region")))
        if key not in self.settings_cache:
            self.settings_cache[key] = _parse_settings(raw, region, ttl_required=self.sweep.budget is not None, results=self.results)
        return self.settings_cache[key]

    def _note_regional_uses(self, origin: _Origin, raw: Mapping[str, Any], region: str) -> None:
        for setting in contract.REGIONAL_SETTINGS:
            value = raw.get(setting)
            if value is None or isinstance(value, dict):
                continue
            if setting == "ami" and value in contract.AMI_ALIASES:
                continue  # an alias resolves in each region
            self.regional_uses.setdefault(self._path(origin, setting), set()).add(region)

    def _check_values(self, origin: _Origin, params: Mapping[str, Any]) -> None:
        for key, value in params.items():
            if isinstance(value, str) and (key, value) not in self.checked_values:
                self.checked_values.add((key, value))
                for problem in (_value_problem(key, value), _secret_problem(key, value)):
                    if problem:
                        self._report(origin, problem)

    def _report(self, origin: _Origin, problem: _Problem) -> None:
        # A problem with no key is about a setting nobody wrote: placed where it would go for every run.
        unwritten: DataPath = ("defaults",) if "defaults" in self.document.data else ()
        path = self._path(origin, problem.key) if problem.key is not None else unwritten
        if problem.code in _KEY_CODES and path[:1] == ("grid",):
            path = path[:2]  # about the key, not each of its values
        elif problem.item is not None and path and path[-1] == problem.key:
            path = (*path, problem.item)
        self._report_at(path, problem)

    def _report_at(self, path: DataPath, problem: _Problem) -> None:
        self.problems.setdefault((path, problem), None)

    def _origin_path(self, origin: _Origin) -> DataPath:
        if origin.kind == "params":
            return ("params", origin.index)
        return (origin.kind,) if origin.kind in ("grid", "random") else ()

    def _path(self, origin: _Origin, key: str) -> DataPath:
        return _written_at(self.sweep, self.document, origin, key)


def _own_rows(sweep: Sweep) -> Iterator[tuple[_Origin, Mapping[str, Any]]]:
    """Each run's own keys, before defaults apply: its params row (as written, not copied), grid choice or random draw."""
    for i, row in enumerate(sweep.params):
        yield _Origin("params", i), row
    if sweep.grid:
        choices = [range(len(values)) for _, values in sweep.grid]
        for i, choice in enumerate(itertools.product(*choices)):
            yield _Origin("grid", i, choice), {key: values[j] for (key, values), j in zip(sweep.grid, choice, strict=True)}
    if sweep.random:
        for i in range(sweep.random.count):
            yield _Origin("random", i), {p.name: _draw(sweep.random.seed, i, p) for p in sweep.random.parameters}
    if not (sweep.params or sweep.grid or sweep.random):
        yield _Origin("defaults", 0), {}


def own_rows(sweep: Sweep) -> Iterator[Mapping[str, Any]]:
    """Each run's own keys as written (settings, parameters, `param:` escapes), in run order, before defaults apply."""
    return (row for _, row in _own_rows(sweep))


def _written_at(sweep: Sweep, document: Document, origin: _Origin, key: str) -> DataPath:
    """Where a run's value for `key` was written: its row, the grid, random, defaults or the top level."""
    if origin.kind == "params":
        row = sweep.params[origin.index]
        for written in (key, contract.PARAM_ESCAPE_PREFIX + key):
            if written in row:
                return ("params", origin.index, written)
    if origin.kind == "grid":
        for position, (grid_key, _) in enumerate(sweep.grid):
            if grid_key in (key, contract.PARAM_ESCAPE_PREFIX + key):
                return ("grid", grid_key, origin.grid_choice[position])
    if origin.kind == "random" and sweep.random and any(p.name == key for p in sweep.random.parameters):
        return ("random", "parameters", key)
    defaults = document.data.get("defaults", {})
    for written in (key, contract.PARAM_ESCAPE_PREFIX + key):
        if written in defaults:
            return ("defaults", written)
    return (key,) if key in document.data else ()


def _origin_of(sweep: Sweep, index: int) -> _Origin:
    """Where the run at `index` came from (the inverse of the expansion order)."""
    if index < len(sweep.params):
        return _Origin("params", index)
    index -= len(sweep.params)
    if index < sweep.grid_size:
        choice: list[int] = []
        rest = index
        for _, values in reversed(sweep.grid):  # itertools.product varies the last key fastest
            rest, position = divmod(rest, len(values))
            choice.insert(0, position)
        return _Origin("grid", index, tuple(choice))
    index -= sweep.grid_size
    return _Origin("random", index) if sweep.random else _Origin("defaults", 0)


def setting_path(sweep: Sweep, document: Document, run: Run, key: str) -> DataPath:
    """Where the value of `key` that `run` uses is written in the sweep file."""
    return _written_at(sweep, document, _origin_of(sweep, run.index), key)


_SETTINGS = frozenset(contract.RUN_SETTINGS)
# Problems placed at a key rather than its value: bad parameter names, and settings nobody wrote
# (placed at `defaults:`, where they would go).
_KEY_CODES = frozenset({"bad-parameter-name", "reserved-parameter", "env-collision", "secret-value-key",
                        "no-instance-type", "no-ttl", "budget-needs-ttl", "no-workload"})  # fmt: skip
_RUN_NAME_HINT = "run names use letters, digits, '.', '_' and '-', start with a letter or digit, at most 100 characters"


class _MissingField(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class _TemplateValues(dict[str, Any]):
    """name_template fields: the run's parameters as written, and its index."""

    def __init__(self, params: Mapping[str, Any], index: int) -> None:
        super().__init__({k: _template_value(v) for k, v in params.items()}, index=index)

    def __missing__(self, key: str) -> Any:
        raise _MissingField(key)


def _template_value(value: Any) -> Any:
    return value if isinstance(value, int | float | str) and not isinstance(value, bool) else env_text(value)


def env_text(value: Any) -> str:
    """A parameter as its environment variable holds it: scalars as written, lists and maps as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return getattr(value, "source", None) or repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def env_name(key: str) -> str:
    """`learning_rate` -> `LEARNING_RATE`, `model-name` -> `MODEL_NAME` (DESIGN §2)."""
    return key.upper().replace("-", "_")


def _map_env_names(keys: tuple[str, ...]) -> tuple[dict[str, str], tuple[_Problem, ...]]:
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    problems: list[_Problem] = []
    for key in keys:
        name = env_name(key)
        if not contract.ENV_NAME_PATTERN.fullmatch(name):
            problems.append(_Problem(Severity.ERROR, "bad-parameter-name", f"parameter '{key}' cannot be an environment variable", key,
                                     "parameter names use letters, digits, '_' and '-', and do not start with a digit"))  # fmt: skip
        elif name in contract.RESERVED_ENV_NAMES or name.startswith(contract.RESERVED_ENV_PREFIXES):
            problems.append(_Problem(Severity.ERROR, "reserved-parameter", f"parameter '{key}' would set {name}, which is reserved", key,
                                     "rename the parameter"))  # fmt: skip
        elif name in owners:
            problems.append(_Problem(Severity.ERROR, "env-collision", f"parameters '{owners[name]}' and '{key}' both become {name}", key,
                                     "rename one of them"))  # fmt: skip
        else:
            owners[name] = key
            names[key] = name
    return names, tuple(problems)


# --- random search ---------------------------------------------------------------------------


def _unit(seed: int, index: int, name: str) -> int:
    """64 uniform bits for (seed, draw, parameter): the same on every platform and Python version."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{index}\0{name}".encode()).digest()[:8], "big")


def _draw(seed: int, index: int, parameter: RandomParameter) -> Any:
    bits = _unit(seed, index, parameter.name)
    if parameter.values:
        return parameter.values[(bits * len(parameter.values)) >> 64]
    low, high = parameter.low, parameter.high
    if parameter.distribution == "int_uniform":
        return int(low) + ((bits * (int(high) - int(low) + 1)) >> 64)
    fraction = bits / 2.0**64
    if parameter.distribution == "log_uniform":
        value = math.exp(math.log(low) + fraction * (math.log(high) - math.log(low)))
    else:
        value = low + fraction * (high - low)
    # Ten significant digits: readable, and immune to last-bit differences between libm builds.
    return float(f"{value:.10g}")


# --- settings --------------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_GRAVITON_FAMILY = re.compile(r"[a-z]+\d+[a-z-]*g[a-z-]*")
_GPU_FAMILY = re.compile(r"(?:g|p|gr)\d+[a-z-]*")  # g5, g6e, g5g, p4d, p5en, gr6: NVIDIA GPUs


def parse_duration(text: str) -> int:
    """'1h30m' -> 5400 seconds; ValueError for text of another form (the schema checks sweep files)."""
    match = _DURATION.fullmatch(text)
    if match is None or not text:
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def duration_text(seconds: int) -> str:
    """5400 -> '1h30m' (the inverse of parse_duration, without days)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def arch_of(instance_type: str) -> Arch:
    """Graviton families carry a 'g' after the generation (m7g, c7gn, g5g, im4gn); a1 is Graviton too."""
    family = instance_type.split(".", 1)[0]
    return Arch.ARM64 if family == "a1" or _GRAVITON_FAMILY.fullmatch(family) else Arch.X86_64


def _regional(raw: Mapping[str, Any], setting: str, region: str, problems: list[_Problem]) -> Any:
    value = raw.get(setting)
    if isinstance(value, dict):
        if region not in value:
            problems.append(_Problem(Severity.ERROR, "missing-region-value", f"'{setting}' has no value for region {region}", setting,
                                     f"add '{region}: ...' to the per-region map"))  # fmt: skip
        return value.get(region)
    return value


def _parse_settings(  # noqa: C901
    raw: Mapping[str, Any], region: str, *, ttl_required: bool, results: tuple[str | None, str]
) -> tuple[RunSettings, str, tuple[_Problem, ...]]:
    problems: list[_Problem] = []

    def add(severity: Severity, code: str, message: str, key: str | None, hint: str | None = None) -> None:
        problems.append(_Problem(severity, code, message, key, hint))

    instance_type = raw.get("instance_type")
    if instance_type is None:
        instance_type = contract.DEFAULT_INSTANCE_TYPE
        add(Severity.WARNING, "no-instance-type", f"no instance_type: runs use {instance_type}", None,
            "set instance_type in defaults")  # fmt: skip
    elif instance_type not in awsdata.ec2_enum("InstanceType"):
        severity, message, hint = _unknown_instance_type(instance_type)
        add(severity, "unknown-instance-type", message, "instance_type", hint)
    ami = raw.get("ami", contract.DEFAULT_AMI)
    known_type = instance_type in awsdata.ec2_enum("InstanceType")  # an unknown type's GPUs are a guess: no warning
    if known_type and ami == contract.DEFAULT_AMI and _GPU_FAMILY.fullmatch(instance_type.split(".", 1)[0]):
        add(Severity.WARNING, "gpu-without-driver", f"{instance_type} has NVIDIA GPUs, but the default image {ami} has no GPU driver",
            "instance_type", "set ami: dlami-gpu (Deep Learning AMI with the NVIDIA driver), or an AMI of your own")  # fmt: skip
    spot = raw.get("spot", contract.DEFAULT_SPOT)
    price = raw.get("spot_max_price")
    if price is not None and not spot:
        add(Severity.WARNING, "price-without-spot", "spot_max_price has no effect with spot: false", "spot_max_price")
    ttl = _duration_setting(raw, "ttl", problems)
    if ttl is not None and ttl > contract.LONG_TTL_SECONDS:
        add(Severity.WARNING, "long-ttl", f"ttl '{raw['ttl']}' is more than a week ({contract.LONG_TTL_SECONDS // 86400}d)", "ttl",
            "a run that hangs keeps its instance until the ttl; check the unit ('40h', not '40d')")  # fmt: skip
    if ttl is None and "ttl" not in raw and ttl_required:
        add(Severity.ERROR, "budget-needs-ttl", "the sweep has a budget, but runs without a ttl have no worst-case cost", None,
            "set ttl in defaults, e.g. ttl: 6h")  # fmt: skip
    elif ttl is None and "ttl" not in raw:
        add(Severity.WARNING, "no-ttl", "no ttl: a run that hangs keeps its instance until it is stopped by hand", None,
            "set ttl in defaults, e.g. ttl: 6h")  # fmt: skip
    on_complete = OnComplete(raw.get("on_complete", contract.DEFAULT_ON_COMPLETE))
    if on_complete is OnComplete.STOP and spot:
        add(Severity.ERROR, "stop-needs-on-demand", "on_complete 'stop' needs spot: false", "on_complete",
            "a one-time spot instance cannot be stopped; use 'terminate', or set spot: false")  # fmt: skip
    iam_policy = iam.split_shorthands(raw.get("iam_policy", ()))
    managed = tuple(raw.get("iam_managed_policies", ()))
    problems.extend(_iam_problems(iam_policy, managed))
    profile = raw.get("iam_instance_profile")
    if profile is not None and (iam_policy or managed):
        add(Severity.ERROR, "profile-with-policies", "iam_instance_profile uses an existing profile; spawn-tf cannot add policies to it",
            "iam_instance_profile", "drop iam_policy and iam_managed_policies, or drop iam_instance_profile")  # fmt: skip
    script = raw.get("user_data") if "user_data" in raw else raw.get("command")
    # With a profile or managed policies of its own, the role's rights are unknown: no write check.
    problems.extend(_workload_problems(raw, script, iam_policy if profile is None and not managed else None, results))
    tags = {str(k): env_text(v) for k, v in raw.get("tags", {}).items()}
    problems.extend(_tag_problems(tags))
    security_groups = _regional(raw, "security_group_ids", region, problems)
    settings = RunSettings(
        instance_type=instance_type,
        arch=Arch(raw["arch"]) if "arch" in raw else arch_of(instance_type),
        spot=spot,
        spot_max_price_usd=None if price is None else env_text(price),
        ttl_seconds=ttl,
        idle_timeout_seconds=_duration_setting(raw, "idle_timeout", problems),
        on_complete=on_complete,
        ami=_regional(raw, "ami", region, problems) or contract.DEFAULT_AMI,
        volume_size_gib=raw.get("volume_size"),
        subnet_id=_regional(raw, "subnet_id", region, problems),
        security_group_ids=(security_groups,) if isinstance(security_groups, str) else tuple(security_groups or ()),
        key_name=_regional(raw, "key_name", region, problems),
        iam_policy=iam_policy,
        iam_managed_policies=managed,
        iam_instance_profile=profile,
        script=script,
        output_dir=raw.get("output_dir", contract.DEFAULT_OUTPUT_DIR),
        max_attempts=int(raw.get("max_attempts", contract.DEFAULT_MAX_ATTEMPTS)),
        max_interruptions=int(raw.get("max_interruptions", contract.DEFAULT_MAX_INTERRUPTIONS)),
        retry_failed=raw.get("retry_failed", contract.DEFAULT_RETRY_FAILED),
        tags=tuple(tags.items()),
    )
    # What determines a run's result (DESIGN §3, definition contract.FINGERPRINT_VERSION): the machine
    # (type, architecture, image), the script and the folder its outputs are read from. Not its limits
    # and policies — ttl, idle_timeout, volume size, spot market and price, attempts, on_complete,
    # network, IAM, tags: raising a ttl must not run finished runs again.
    identity = {
        "instance_type": settings.instance_type, "arch": settings.arch, "ami": settings.ami, "script": settings.script,
        "output_dir": settings.output_dir,
    }  # fmt: skip
    return settings, json.dumps(identity, sort_keys=True, ensure_ascii=False), tuple(problems)


def _unknown_instance_type(instance_type: str) -> tuple[Severity, str, str]:
    """A type botocore does not list: an error when its family is known (a misspelt size), else a
    warning (DESIGN §2: a family newer than the installed botocore must still compile)."""
    known = awsdata.ec2_enum("InstanceType")
    family = instance_type.split(".", 1)[0]
    sizes = sorted((t for t in known if t.split(".", 1)[0] == family), key=_size_order)
    if sizes:
        close = did_you_mean(instance_type, sizes, cutoff=0.6)
        hint = f"{close + ' ' if close else ''}{family} comes in {', '.join(s.split('.', 1)[1] for s in sizes)}"
        return Severity.ERROR, f"unknown instance type '{instance_type}': {family} has no such size", hint
    close = did_you_mean(instance_type, known, cutoff=0.8)
    return (Severity.WARNING, f"instance type '{instance_type}' is not known to this botocore",
            close or "its family may be newer than the installed botocore; check the spelling")  # fmt: skip


def _size_order(instance_type: str) -> tuple[int, int, str]:
    """nano < micro < … < xlarge < 2xlarge < … < metal: the order AWS lists sizes in."""
    size = instance_type.split(".", 1)[1]
    named = ("nano", "micro", "small", "medium", "large", "xlarge")
    if size in named:
        return (0, named.index(size), size)
    count = size.removesuffix("xlarge")
    return (1, int(count), size) if count.isdigit() else (2, 0, size)


def _workload_problems(
    raw: Mapping[str, Any], script: str | None, shorthands: tuple[str, ...] | None, results: tuple[str | None, str]
) -> Iterator[_Problem]:
    if "user_data" in raw and "command" in raw:
        yield _Problem(Severity.ERROR, "two-workloads", "a run has both user_data and command", "command", "keep one of them")
    if script is None:
        yield _Problem(Severity.WARNING, "no-workload", "no user_data or command: runs boot and finish at once", None,
                       "set user_data (a bash script) or command in defaults")  # fmt: skip
        return
    workload = "user_data" if "user_data" in raw else "command"
    yield from _secret_problems_in_script(script, workload)
    if shorthands is not None:
        yield from _denied_writes(script, workload, shorthands, results)


def _results_location(sweep: Sweep) -> tuple[str | None, str]:
    """(bucket, S): where the agent's role may write; the bucket is None for the account's default one."""
    if sweep.results is None:
        return None, contract.sweep_prefix(contract.DEFAULT_RESULTS_PREFIX, sweep.id)
    parts = contract.results_uri_parts(sweep.results)
    if parts is None:  # reported by the schema; this sweep is only expanded for its other problems
        return None, sweep.id
    return parts[0], contract.sweep_prefix(parts[1], sweep.id)


_DEFAULT_BUCKET = re.compile(contract.DEFAULT_RESULTS_BUCKET.format(account_id=r"\d{12}", region=r"[a-z0-9-]+"))


def _denied_writes(script: str, workload: str, shorthands: tuple[str, ...], results: tuple[str | None, str]) -> Iterator[_Problem]:
    """`aws s3 cp … s3://BUCKET/KEY` in a script whose role may not write there: it fails at run time (11.10)."""
    bucket, folder = results
    for write in iam.s3_writes(script):
        ours = write.bucket == bucket if bucket is not None else bool(_DEFAULT_BUCKET.fullmatch(write.bucket))
        if ours and iam.key_under(write.key, folder) is not False:
            continue  # the agent's own statements cover the sweep's folder
        if iam.can_write(shorthands, write.bucket, write.key) is False:
            target = f"s3://{write.bucket}/{write.key}"
            yield _Problem(Severity.WARNING, "script-write-denied",
                           f"line {write.line} of the {workload} script writes to {target}, which the run's role cannot write", workload,
                           f"grant it with iam_policy: s3:WriteOnly:{write.bucket}, or write into $SPAWN_OUTPUT_DIR "
                           "(the agent uploads it to the run's folder)")  # fmt: skip


def _iam_problems(shorthands: tuple[str, ...], managed: tuple[str, ...]) -> Iterator[_Problem]:
    """Unknown or badly scoped shorthands; grants wider than a run should have (warnings)."""
    for shorthand in shorthands:
        parsed = iam.parse_shorthand(shorthand)
        problem = iam.shorthand_problem(shorthand)
        if problem is not None:
            code, message, hint = problem
            yield _Problem(Severity.ERROR, code, message, "iam_policy",
                           hint or did_you_mean(parsed.name, iam.SHORTHANDS) or f"known shorthands: {', '.join(iam.SHORTHANDS)}")  # fmt: skip
        elif iam.is_full_access(shorthand):
            yield _Problem(Severity.WARNING, "full-access-policy", f"'{shorthand}' grants every action of the service on every resource",
                           "iam_policy", f"scope it to what the runs use, e.g. {parsed.name}:BUCKET/PREFIX"
                           if parsed.service == "s3" else "prefer a ReadOnly or WriteOnly shorthand")  # fmt: skip
        elif parsed.name == "s3:WriteOnly" and parsed.scope is None:
            yield _Problem(Severity.WARNING, "unscoped-write-policy", "'s3:WriteOnly' lets every run overwrite and delete objects in every bucket",
                           "iam_policy", "scope it to the bucket (and prefix) the runs write to: s3:WriteOnly:BUCKET/PREFIX")  # fmt: skip
    for i, arn in enumerate(managed):
        if iam.is_admin_policy(arn):
            yield _Problem(Severity.WARNING, "admin-managed-policy", f"'{arn.rpartition('/')[2]}' gives every run administrator-level access to the account",
                           "iam_managed_policies", "attach only what the workload needs, e.g. iam_policy: s3:ReadOnly:BUCKET", item=i)  # fmt: skip


def _duration_setting(raw: Mapping[str, Any], setting: str, problems: list[_Problem]) -> int | None:
    text = raw.get(setting)
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds == 0:
        problems.append(
            _Problem(Severity.ERROR, "zero-duration", f"{setting} '{text}' is zero", setting, "durations look like '30m' or '6h'")
        )
        return None
    return seconds


# Characters AWS allows in tag keys (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
_TAG_KEY = re.compile(r"[\w .:/=+\-@]+")


def _tag_problems(tags: Mapping[str, str]) -> Iterator[_Problem]:
    for key, value in tags.items():
        if not _TAG_KEY.fullmatch(key):
            yield _Problem(Severity.ERROR, "bad-tag", f"tag key '{key}' has characters AWS does not allow", "tags",
                           "tag keys use letters, digits, spaces and _ . : / = + - @")  # fmt: skip
        if key.lower().startswith(contract.RESERVED_TAG_PREFIXES):
            yield _Problem(Severity.ERROR, "reserved-tag", f"tag '{key}' uses a reserved prefix", "tags",
                           f"tags starting with {' or '.join(repr(p) for p in contract.RESERVED_TAG_PREFIXES)} belong to spawn-tf and AWS")  # fmt: skip
        if key == contract.TAG_NAME:
            yield _Problem(Severity.ERROR, "reserved-tag", "tag 'Name' is set by spawn-tf (<sweep>/<run>)", "tags")
        if not 1 <= len(key) <= contract.MAX_TAG_KEY_CHARS:
            yield _Problem(
                Severity.ERROR, "tag-too-long", f"tag key '{key[:40]}' must have 1 to {contract.MAX_TAG_KEY_CHARS} characters", "tags"
            )
        if len(value) > contract.MAX_TAG_VALUE_CHARS:
            yield _Problem(Severity.ERROR, "tag-too-long", f"the value of tag '{key}' has more than {contract.MAX_TAG_VALUE_CHARS} characters",
                           "tags")  # fmt: skip


# Things that must not travel in user-data, which AWS provider 6 keeps in clear text in the state.
_SECRET_PATTERNS = (
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"), "a GitHub token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
)
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key)")
_SECRET_HINT = "user-data is stored in clear text in the Terraform state; read secrets at run time (Secrets Manager, SSM)"


def _value_problem(key: str, value: str) -> _Problem | None:
    """Text no environment variable can carry, or that the user-data would mistake for its own structure."""
    if "\0" in value:
        return _Problem(Severity.ERROR, "nul-in-value", f"parameter '{key}' contains a NUL character", key,
                        "environment variables cannot hold NUL; remove it")  # fmt: skip
    if contract.USER_SCRIPT_MARKER in value.splitlines():
        return _Problem(Severity.ERROR, "reserved-line", f"parameter '{key}' contains the line {contract.USER_SCRIPT_MARKER}", key,
                        "that line separates the user-data from the user's script")  # fmt: skip
    return None


def _secret_problem(key: str, value: str) -> _Problem | None:
    for pattern, what in _SECRET_PATTERNS:
        if pattern.search(value):
            return _Problem(Severity.WARNING, "secret-value", f"parameter '{key}' holds what looks like {what}", key, _SECRET_HINT)
    if _SECRET_NAME.search(key) and value:
        return _Problem(Severity.WARNING, "secret-value-key", f"parameter '{key}' looks like a secret", key, _SECRET_HINT)
    return None


def _secret_problems_in_script(script: str, key: str) -> Iterator[_Problem]:
    for pattern, what in _SECRET_PATTERNS:
        if pattern.search(script):
            yield _Problem(Severity.WARNING, "secret-value", f"the script in {key} holds what looks like {what}", key, _SECRET_HINT)
