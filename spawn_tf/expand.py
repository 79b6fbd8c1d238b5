"""Expand a Sweep into its ordered runs: params, then grid, then random (DESIGN §2-3). Pure.

Also the rules that need whole runs: names, regions, effective settings, environment variables.
Files repeat the same settings thousands of times, so each distinct value is checked once.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from spawn_tf import contract
from spawn_tf.diagnostics import Diagnostic, Severity, has_errors, ordered
from spawn_tf.load import DataPath, Document
from spawn_tf.model import RandomParameter, Run, RunSettings, Sweep, Workdir
from spawn_tf.run_settings import Packed, Problem, parse_settings, secret_problem, value_problem
from spawn_tf.shape import MissingField, Shape, TemplateValues, make_shape, shared_strings, shared_texts, template_fields, template_value
from spawn_tf.values import env_text
from spawn_tf.workdir import workdir_setting


class _Origin(NamedTuple):  # not a dataclass: one is made per run, and a tuple is made faster
    """Where a run came from in the file."""

    kind: str  # params | grid | random | defaults
    index: int  # the row of params, the combination of grid, the draw of random


def expand_runs(sweep: Sweep, document: Document, packed: Packed | None = None) -> tuple[tuple[Run, ...] | None, tuple[Diagnostic, ...]]:
    """The sweep's runs in order, or None with the reasons it cannot be expanded.

    Args:
        sweep: the validated sweep.
        document: its source, used only to place diagnostics.
        packed: the sweep's workdirs, packed (`workdir.pack_workdirs` of `workdirs(sweep)`).
    """
    expander = _Expander(sweep, document, packed)
    runs = tuple(expander.expand())
    diagnostics = ordered(expander.diagnostics())
    return (None if has_errors(diagnostics) else runs), diagnostics


class _Expander:
    def __init__(self, sweep: Sweep, document: Document, packed: Packed | None) -> None:
        self.sweep = sweep
        self.document = document
        self.packed = packed
        self.problems: dict[tuple[DataPath, Problem], None] = {}
        self.shapes: dict[tuple[str, ...], Shape] = {}
        self.settings_cache: dict[tuple[Any, ...], tuple[RunSettings, str, tuple[Problem, ...], tuple[Any, ...]]] = {}
        self.interned: dict[RunSettings, RunSettings] = {}
        self.texts = shared_texts(sweep)
        self.template_fields = None if sweep.name_template is None else template_fields(sweep.name_template)
        self.checked_values: set[tuple[str, str]] = set()
        self.unchecked = shared_strings(sweep)  # those of the grid's runs, until each is checked
        self.suffixes: dict[tuple[str | None, str], bytes] = {}  # the fingerprint's input after the variables
        self.names: dict[str, int] = {}
        self.unnamed_reported = False
        self.regional_uses: dict[DataPath, set[str]] = {}
        self.run_regions: list[str] = []
        self.results = _results_location(sweep)

    # --- the runs ---

    def expand(self) -> Iterator[Run]:
        defaults, texts = self.sweep.defaults, self.texts
        for index, (origin, own) in enumerate(_own_rows(self.sweep)):
            shape = self._shape(origin, own)
            row = {**defaults, **own}  # its settings are read from it (name and region are settings, never parameters)
            params = {param: row[key] for key, param in shape.params}
            name = self._name(origin, index, row.get("name"), params)
            explicit_region = row.get("region")
            region = explicit_region or self._place(name)
            self.run_regions.append(region)
            settings, settings_fingerprint = self._settings(origin, shape, row, region)
            if shape.regional:
                self._note_regional_uses(origin, shape.regional, row, region)
            if self.unchecked or origin.kind != "grid":  # a grid's runs have only the grid's and the defaults' values
                self._check_values(origin, params)
            env = {contract.ENV_RUN_NAME: name}
            for param, variable in shape.env:
                value = params[param]
                env[variable] = texts.get(id(value)) or env_text(value)  # "" is recomputed: the same
            # NUL cannot occur in names or values (a value holding one is an error): it separates them.
            identity = hashlib.sha256((shape.identity % shape.identity_values(env)).encode())
            identity.update(self._suffix(explicit_region, settings_fingerprint))
            fingerprint = identity.hexdigest()[:12]
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
                self.problems[(path, Problem(
                    Severity.ERROR, "regional-id", f"'{setting}' names something that exists in one region, but its runs are in {listed}",
                    hint=f"give one per region: {setting}: {{{sorted(regions)[0]}: ..., ...}}",
                ))] = None  # fmt: skip
        counts: dict[str, int] = {}
        for region in self.run_regions:
            counts[region] = counts.get(region, 0) + 1
        if self.sweep.max_concurrent is None:
            for region, count in sorted(counts.items()):
                if count > contract.MANY_RUNS_PER_REGION:
                    self.problems[((), Problem(
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
            name = written
        elif self.sweep.name_template is not None:
            templated = self._templated_name(index, params)
            if templated is None:
                return contract.default_run_name(self.sweep.id, index)
            name = templated
        else:
            name = contract.default_run_name(self.sweep.id, index)
            if origin.kind != "defaults" and not self.unnamed_reported:
                self.unnamed_reported = True  # one warning for the sweep, placed at its top
                self._report_at((), Problem(Severity.WARNING, "unnamed-runs", "runs without a name are named '<sweep>-<index>'",
                                             hint="inserting a run renames the later ones; name runs, or set name_template"))  # fmt: skip
        if ".." in name:
            self._report_at(self._name_path(origin, written), Problem(Severity.ERROR, "bad-run-name", f"run name '{name}' contains '..'",
                                                                      hint=_RUN_NAME_HINT))  # fmt: skip
        if name in self.names:
            self._report_at(self._name_path(origin, written), Problem(Severity.ERROR, "duplicate-run-name",
                                                                      f"run name '{name}' is already used by run {self.names[name]}",
                                                                      hint="run names must be unique: they are S3 folders and Terraform keys"))  # fmt: skip
        else:
            self.names[name] = index
        return name

    def _templated_name(self, index: int, params: Mapping[str, Any]) -> str | None:
        """The run's name from name_template, or None (reported) when it makes none."""
        assert self.sweep.name_template is not None
        path = ("name_template",)
        read = params if self.template_fields is None else self.template_fields
        try:
            values = TemplateValues({key: template_value(params[key]) for key in read if key in params}, index=index)
            name = self.sweep.name_template.format_map(values)
        except MissingField as missing:
            self._report_at(path, Problem(Severity.ERROR, "bad-name-template",
                                           f"name_template uses '{{{missing.field}}}', which is not a parameter of every run"))  # fmt: skip
            return None
        except (ValueError, TypeError) as exc:
            self._report_at(path, Problem(Severity.ERROR, "bad-name-template", f"name_template cannot be filled in: {exc}"))
            return None
        if len(name) > contract.MAX_RUN_NAME_CHARS:  # not kept nor quoted whole: a parameter may make it long
            self._report_at(path, Problem(Severity.ERROR, "bad-run-name",
                                           f"name_template makes a name of {len(name)} characters ('{name[:40]}...'), more than the limit of {contract.MAX_RUN_NAME_CHARS}",
                                           hint=_RUN_NAME_HINT))  # fmt: skip
            return None
        if not contract.RUN_NAME_PATTERN.fullmatch(name) or ".." in name:
            self._report_at(path, Problem(Severity.ERROR, "bad-run-name", f"name_template makes '{name}', which is not a valid run name",
                                           hint=_RUN_NAME_HINT))  # fmt: skip
        return name

    def _name_path(self, origin: _Origin, written: str | None) -> DataPath:
        """Where a run's name comes from: its `name`, name_template, or (a default name) its row."""
        if written is not None:
            return self._path(origin, "name")
        return ("name_template",) if self.sweep.name_template is not None else self._origin_path(origin)

    def _shape(self, origin: _Origin, own: Mapping[str, Any]) -> Shape:
        keys = tuple(own)
        shape = self.shapes.get(keys)
        if shape is None:
            shape = self.shapes[keys] = make_shape(tuple({**self.sweep.defaults, **own}), keys)
        for problem in shape.problems:
            self._report(origin, problem)
        return shape

    def _settings(self, origin: _Origin, shape: Shape, row: Mapping[str, Any], region: str) -> tuple[RunSettings, str]:
        # Keyed by identity: runs share their defaults' and the grid's value objects, so equal settings are
        # found without serializing them; each entry keeps its values alive, so that no id is reused. The
        # shape says which keys are the run's own: the others' values are the defaults'.
        key = (region, id(shape), *[id(row[setting]) for setting in shape.own_keyed]) if shape.own_keyed else (region, id(shape))
        found = self.settings_cache.get(key)
        if found is None:
            raw = {setting: row[setting] for setting in shape.settings}
            settings, fingerprint, problems = parse_settings(raw, region, ttl_required=self.sweep.budget is not None, results=self.results,
                                                             packed=self.packed)  # fmt: skip
            # One object for equal settings (the same in several regions): later stages group runs by identity.
            settings = self.interned.setdefault(settings, settings)
            found = self.settings_cache[key] = (settings, fingerprint, problems, tuple(raw.values()))
        for problem in found[2]:
            self._report(origin, problem)
        return found[0], found[1]

    def _suffix(self, explicit_region: str | None, settings_fingerprint: str) -> bytes:
        key = (explicit_region, settings_fingerprint)
        found = self.suffixes.get(key)
        if found is None:
            found = self.suffixes[key] = f"\0\0{explicit_region or ''}\0\0{settings_fingerprint}".encode()
        return found

    def _note_regional_uses(self, origin: _Origin, settings: tuple[str, ...], raw: Mapping[str, Any], region: str) -> None:
        for setting in settings:
            value = raw[setting]
            if value is None or isinstance(value, dict):
                continue
            if setting == "ami" and value in contract.AMI_ALIASES:
                continue  # an alias resolves in each region
            self.regional_uses.setdefault(self._path(origin, setting), set()).add(region)

    def _check_values(self, origin: _Origin, params: Mapping[str, Any]) -> None:
        for key, value in params.items():
            if isinstance(value, str) and (key, value) not in self.checked_values:
                self.checked_values.add((key, value))
                self.unchecked.discard((key, value))
                for problem in (value_problem(key, value), secret_problem(key, value)):
                    if problem:
                        self._report(origin, problem)

    def _report(self, origin: _Origin, problem: Problem) -> None:
        # A problem with no key is about a setting nobody wrote: placed where it would go for every run.
        unwritten: DataPath = ("defaults",) if "defaults" in self.document.data else ()
        path = self._path(origin, problem.key) if problem.key is not None else unwritten
        if problem.code in _KEY_CODES and path[:1] == ("grid",):
            path = path[:2]  # about the key, not each of its values
        elif problem.item is not None and path and path[-1] == problem.key:
            path = (*path, problem.item)
        self._report_at(path, problem)

    def _report_at(self, path: DataPath, problem: Problem) -> None:
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
        keys = [key for key, _ in sweep.grid]
        for i, combination in enumerate(itertools.product(*(values for _, values in sweep.grid))):
            yield _Origin("grid", i), dict(zip(keys, combination, strict=False))  # of one length: product's; strict costs a check a run
    if sweep.random:
        for i in range(sweep.random.count):
            yield _Origin("random", i), {p.name: _draw(sweep.random.seed, i, p) for p in sweep.random.parameters}
    if not (sweep.params or sweep.grid or sweep.random):
        yield _Origin("defaults", 0), {}


def workdirs(sweep: Sweep) -> tuple[Workdir, ...]:
    """Every distinct workdir the runs use, in order of first use: what the pipeline packs before expansion."""
    values = [sweep.defaults.get("workdir"), *(row.get("workdir") for row in sweep.params)]
    values.extend(value for key, grid_values in sweep.grid if key == "workdir" for value in grid_values)
    return tuple(dict.fromkeys(workdir_setting(value) for value in values if value is not None))


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
                return ("grid", grid_key, _grid_choice(sweep, origin.index)[position])
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
        return _Origin("grid", index)
    index -= sweep.grid_size
    return _Origin("random", index) if sweep.random else _Origin("defaults", 0)


def _grid_choice(sweep: Sweep, index: int) -> tuple[int, ...]:
    """The position in each grid key's values of the grid's combination `index`."""
    choice: list[int] = []
    rest = index
    for _, values in reversed(sweep.grid):  # itertools.product varies the last key fastest
        rest, position = divmod(rest, len(values))
        choice.insert(0, position)
    return tuple(choice)


def setting_path(sweep: Sweep, document: Document, run: Run, key: str) -> DataPath:
    """Where the value of `key` that `run` uses is written in the sweep file."""
    return _written_at(sweep, document, _origin_of(sweep, run.index), key)


# Problems placed at a key rather than its value: bad parameter names, and settings nobody wrote
# (placed at `defaults:`, where they would go).
_KEY_CODES = frozenset({"bad-parameter-name", "reserved-parameter", "env-collision", "secret-value-key",
                        "no-instance-type", "no-ttl", "budget-needs-ttl", "no-workload"})  # fmt: skip
_RUN_NAME_HINT = "run names use letters, digits, '.', '_' and '-', start with a letter or digit, at most 100 characters"


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


def _results_location(sweep: Sweep) -> tuple[str | None, str]:
    """(bucket, S): where the agent's role may write; the bucket is None for the account's default one."""
    if sweep.results is None:
        return None, contract.sweep_prefix(contract.DEFAULT_RESULTS_PREFIX, sweep.id)
    parts = contract.results_uri_parts(sweep.results)
    if parts is None:  # reported by the schema; this sweep is only expanded for its other problems
        return None, sweep.id
    return parts[0], contract.sweep_prefix(parts[1], sweep.id)
