"""Validate a loaded document into a Sweep: schema, then the rules a schema cannot say. Pure.

Run-level rules that need the expanded runs (names, regions, env variables) live in expand.py.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from spawn_tf import awsdata, contract
from spawn_tf.diagnostics import Diagnostic, did_you_mean, error, has_errors, ordered, warning
from spawn_tf.load import DataPath, Document
from spawn_tf.model import Backend, Budget, RandomParameter, RandomSearch, Sweep
from spawn_tf.schema import invalid_paths, schema_diagnostics, setting_check, where

# Keys that are not settings but are meant as one (DESIGN §2: an error with a hint, never a
# silent parameter). Keyed by the normalized spelling (lower case, '-' -> '_').
_SETTING_ALIASES: dict[str, str] = {
    **dict.fromkeys(("ttl_hours", "ttl_minutes", "ttl_seconds", "time_limit", "max_runtime", "walltime"),
                    "use 'ttl' with a duration like '6h'"),
    "idle_time": "did you mean 'idle_timeout'?",
    **dict.fromkeys(("on_completion", "oncomplete", "terminate_on_done", "terminate_on_complete"), "did you mean 'on_complete'?"),
    "instance_types": "one instance type per run; for several, use grid: {instance_type: [...]}",
    **dict.fromkeys(("image_id", "ami_id"), "did you mean 'ami'?"),
    **dict.fromkeys(("keypair", "key_pair", "ssh_key"), "did you mean 'key_name'?"),
    **dict.fromkeys(("spot_price", "max_price"), "did you mean 'spot_max_price'?"),
    **dict.fromkeys(("iam_role", "iam_profile", "instance_profile"), "did you mean 'iam_instance_profile'?"),
    "region_name": "did you mean 'region'?",
    **dict.fromkeys(("az", "availability_zone", "availability_zones"), "choose the zone with 'subnet_id': a subnet lies in one zone"),
    **dict.fromkeys(("disk_size", "root_volume_size", "volume_size_gb"), "did you mean 'volume_size'? (GiB)"),
    "user_command": "did you mean 'command'?",
    **dict.fromkeys(("hibernate", "hibernate_on_idle"), "a one-time spot instance cannot hibernate"),
    **dict.fromkeys(("cost_limit", "max_cost", "cost_cap", "spend_limit"), "cap the sweep's cost with 'budget: {max_usd: N}' at the top level"),
    **dict.fromkeys(("completion_file", "completion_delay"), "the agent records completion itself; scripts may call 'spored complete'"),
    **dict.fromkeys(("session_timeout", "dns", "dns_name", "no_timeout"), "spawn-tf has no such setting"),
    **dict.fromkeys(("launch_delay", "detach", "no_detach", "estimate_only", "dry_run"), "spawn-tf has no such setting"),
}  # fmt: skip
_CLOSE_MATCH = 0.88  # `tag` (a plausible parameter) must not be taken for `tags`


def validate_document(document: Document) -> tuple[Sweep | None, tuple[Diagnostic, ...]]:
    """Check everything that can be checked before expansion and build the Sweep (None with errors)."""
    validation = check_document(document)
    return (validation.sweep if validation.valid else None), validation.diagnostics


@dataclass(frozen=True, slots=True, kw_only=True)
class Validation:
    """A checked document. With errors, `sweep` is built from what is valid (the wrong values taken
    out of `document`), so that expansion can still report every independent problem in one pass."""

    sweep: Sweep | None  # None: nothing sound is left to expand (or too many runs to try)
    document: Document  # the document `sweep` was built from
    diagnostics: tuple[Diagnostic, ...]
    valid: bool
    dropped: frozenset[str]  # the settings and keys taken out

    def later(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        """Diagnostics of later stages, without those that only report a value taken out as missing."""
        return [d for d in diagnostics if not (self.dropped & _SAID_BY_ABSENCE.get(d.code, frozenset()))]


# Diagnostics that a value taken out would cause by its absence alone: (code -> keys whose removal causes it).
_SAID_BY_ABSENCE: dict[str, frozenset[str]] = {
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
_REPAIR_ROUNDS = 8  # taking a value out can leave its object without a required key: check again


def check_document(document: Document) -> Validation:
    """Every problem the document shows before expansion, and a Sweep of its valid parts."""
    schema = schema_diagnostics(document)
    found = [*schema, *_key_diagnostics(document)]
    removed: list[DataPath] = []
    checked = document
    for _ in range(_REPAIR_ROUNDS):
        paths = invalid_paths(checked.data) if schema else ()  # no schema errors: the document is valid as it is
        if not paths:
            break
        removed.extend(paths)
        checked = replace(checked, data=_without(checked.data, paths))
    else:
        return Validation(sweep=None, document=document, diagnostics=ordered(found), valid=False, dropped=frozenset())
    # Also what a misspelt key meant ('ttl_hours' -> ttl): a run lacks that setting because of the error already shown.
    meant = {name for d in found if d.code == "unknown-setting" for name in re.findall(r"'([a-z_]+)'", d.hint or "")}
    dropped = _dropped_names(removed) | (meant & set(contract.RUN_SETTINGS))
    for check in CHECKS:
        found.extend(d for d in check(checked) if not (dropped & _SAID_BY_ABSENCE.get(d.code, frozenset())))
    if any(d.code == "unknown-region" for d in found):  # a run in an unknown region has no value in per-region maps: already said
        dropped |= {"(unknown region)"}
    valid = not has_errors(found)
    if any(d.code == "too-many-runs" for d in found):  # expanding would take the time and memory the limit is for
        return Validation(sweep=None, document=checked, diagnostics=ordered(found), valid=False, dropped=dropped)
    unusable = _unusable_paths(checked)
    if unusable:
        removed.extend(unusable)
        dropped |= _dropped_names(removed)
        checked = replace(checked, data=_without(checked.data, unusable))
    return Validation(sweep=_build_sweep(checked), document=checked, diagnostics=ordered(found), valid=valid, dropped=dropped)


def _without(data: Any, paths: Iterable[DataPath]) -> Any:
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
            result[head] = _without(child, rests)
    return result


def _dropped_names(paths: Iterable[DataPath]) -> frozenset[str]:
    """The names of what was taken out: each path's last key, and a regional setting anywhere in it."""
    names: set[str] = set()
    for path in paths:
        names.update(item for item in path[-1:] if isinstance(item, str))
        names.update(("(top level)",) if len(path) == 1 else ())
        names.update(item for item in path if item in contract.REGIONAL_SETTINGS)
    return frozenset(names)


def _unusable_paths(document: Document) -> tuple[DataPath, ...]:
    """Values that passed the schema but cannot be expanded (their errors are reported already)."""
    data = document.data
    paths: list[DataPath] = [("grid", key) for key, values in data.get("grid", {}).items() if has_errors(_grid_key_problems(document, key, values))]
    parameters = data.get("random", {}).get("parameters", {})
    paths.extend(("random", "parameters", key) for key, spec in parameters.items()
                 if has_errors(_random_parameter_problems(document, ("random", "parameters", key), spec)))  # fmt: skip
    if has_errors(_check_name_template(document)):
        paths.append(("name_template",))
    if "name" in data.get("defaults", {}):
        paths.append(("defaults", "name"))
    return tuple(paths)


# --- keys ------------------------------------------------------------------------------------


def _run_mappings(data: Mapping[str, Any]) -> Iterator[tuple[DataPath, Mapping[str, Any]]]:
    """Every mapping whose keys are run settings or parameters, with its path."""
    if isinstance(data.get("defaults"), dict):
        yield ("defaults",), data["defaults"]
    params = data.get("params")
    if isinstance(params, list):
        for i, row in enumerate(params):
            if isinstance(row, dict):
                yield ("params", i), row
    if isinstance(data.get("grid"), dict):
        yield ("grid",), data["grid"]
    random = data.get("random")
    if isinstance(random, dict) and isinstance(random.get("parameters"), dict):
        yield ("random", "parameters"), random["parameters"]


def _key_diagnostics(document: Document) -> Iterator[Diagnostic]:
    checked: dict[str, tuple[str, str, str] | None] = {}  # key -> (code, what is wrong, hint); files repeat keys a lot
    for path, mapping in _run_mappings(document.data):
        for key in mapping:
            if key not in checked:
                checked[key] = _key_problem(key)
            problem = checked[key]
            if problem is not None:
                code, what, hint = problem
                yield error(code, f"'{key}' in {where(path)} {what}", document.span((*path, key), key=True), hint)


def _key_problem(key: str) -> tuple[str, str, str] | None:
    if key in contract.RUN_SETTINGS:
        return None
    if key.startswith(contract.PARAM_ESCAPE_PREFIX):
        rest = key.removeprefix(contract.PARAM_ESCAPE_PREFIX)
        return None if rest else ("bad-parameter-name", "names no parameter", "write 'param:NAME'")
    escape = f"to pass it to the workload as a parameter, write 'param:{key}'"
    normal = key.lower().replace("-", "_")
    if normal in contract.SWEEP_KEYS:
        return ("misplaced-sweep-key", "is a sweep setting, not a run setting",
                f"move it to the top level of the file; {escape}")  # fmt: skip
    if normal in contract.RUN_SETTINGS:
        hint = f"did you mean '{normal}'? settings are lower case with underscores; {escape}"
    elif normal in _SETTING_ALIASES:
        hint = f"{_SETTING_ALIASES[normal]}; {escape}"
    else:
        close = did_you_mean(normal, contract.RUN_SETTINGS, cutoff=_CLOSE_MATCH)
        if close is None:
            return None
        hint = f"{close} {escape}"
    return ("unknown-setting", "is not a setting", hint)


# --- sweep-level rules -----------------------------------------------------------------------


def _check_sweep_id(document: Document) -> Iterator[Diagnostic]:
    if "sweep" not in document.data and not contract.SWEEP_ID_PATTERN.fullmatch(document.stem):
        yield error("bad-sweep-id", f"the file name '{document.stem}' cannot be the sweep id", document.span(()),
                    "add 'sweep: ID' (lowercase letters, digits and '-', at most 40 characters)")  # fmt: skip


def _check_regions(document: Document) -> Iterator[Diagnostic]:
    for path, region, is_key in _region_paths(document.data):
        if isinstance(region, str) and region not in awsdata.regions():  # a value of another type has its own error
            yield error("unknown-region", f"unknown region '{region}' in {where(path)}", document.span(path, key=is_key),
                        did_you_mean(region, awsdata.regions()))  # fmt: skip


def _check_top_level_settings(document: Document) -> Iterator[Diagnostic]:
    defaults = document.data.get("defaults", {})
    for key in (key for key in document.data if key in contract.RUN_SETTINGS):
        span = document.span((key,), key=True)
        if key in defaults:
            yield error("conflicting-setting", f"'{key}' is set both at the top level and in defaults", span, "keep one of them")
        else:
            yield warning(
                "top-level-setting", f"'{key}' at the top level applies to every run", span, "move it under 'defaults:' to say so"
            )


def _check_name_in_defaults(document: Document) -> Iterator[Diagnostic]:
    if "name" in document.data.get("defaults", {}):
        yield error("name-in-defaults", "'name' in defaults would give every run the same name",
                    document.span(("defaults", "name"), key=True), "name each run in params, or use name_template")  # fmt: skip


def _check_escaped_twice(document: Document) -> Iterator[Diagnostic]:
    for path, mapping in _run_mappings(document.data):
        for key in mapping:
            plain = key.removeprefix(contract.PARAM_ESCAPE_PREFIX)
            if plain != key and plain in mapping:
                yield error("duplicate-key", f"'{key}' and '{plain}' name the same parameter", document.span((*path, key), key=True))


def _check_provider_version(document: Document) -> Iterator[Diagnostic]:
    """The output needs AWS provider 6 (per-resource region): the constraint must exclude 5.x."""
    path = ("terraform", "aws_provider_version")
    constraint = document.data.get("terraform", {}).get("aws_provider_version")
    if constraint is None:
        return
    lower = [int(major) for op, major in re.findall(r"(>=|~>|>|=|^)\s*(\d+)", constraint.replace(" ", "")) if op != "<"]
    if not lower or max(lower) < 6:
        yield error("old-provider", f"the constraint '{constraint}' admits AWS provider versions before 6.0", document.span(path),
                    "spawn-tf's roots need provider 6 (per-resource region); write e.g. '>= 6.0'")  # fmt: skip


def _check_regions_used(document: Document) -> Iterator[Diagnostic]:
    """`regions:` places runs without a region; when every run has one, it does nothing."""
    data = document.data
    if "regions" not in data or not isinstance(data.get("defaults", {}).get("region", data.get("region")), str):
        return
    yield warning("regions-unused", "regions has no effect: every run gets the region set in defaults", document.span(("regions",), key=True),
                  "remove region from defaults to spread runs over regions")  # fmt: skip


def _check_run_count(document: Document) -> Iterator[Diagnostic]:
    data = document.data
    total = len(data.get("params", ())) + _grid_size(data) + data.get("random", {}).get("count", 0)
    if total > contract.MAX_RUNS:
        where_generated = ("grid",) if "grid" in data else ("random",) if "random" in data else ("params",)
        yield error("too-many-runs", f"the sweep expands to {total} runs, more than the limit of {contract.MAX_RUNS}",
                    document.span(where_generated, key=True), "split it into several sweeps")  # fmt: skip
    if "params" not in data and "grid" not in data and "random" not in data:
        yield warning("single-run", "no params, grid or random: the sweep is a single run", document.span(()),
                      "add 'params:' with one entry per run")  # fmt: skip


def _region_paths(data: Mapping[str, Any]) -> Iterator[tuple[DataPath, str, bool]]:
    """Every place a region is written: (path, region, whether it is a key of a per-region map)."""
    if "results_region" in data:
        yield ("results_region",), data["results_region"], False
    yield from ((("regions", i), region, False) for i, region in enumerate(data.get("regions", ())))
    if "region" in data:
        yield ("region",), data["region"], False
    for path, mapping in _run_mappings(data):
        if path == ("grid",):
            yield from ((("grid", "region", j), region, False) for j, region in enumerate(mapping.get("region", ())))
            continue
        if "region" in mapping:
            yield (*path, "region"), mapping["region"], False
        for setting in contract.REGIONAL_SETTINGS:
            if isinstance(mapping.get(setting), dict):
                yield from (((*path, setting, region), region, True) for region in mapping[setting])


def _grid_size(data: Mapping[str, Any]) -> int:
    size = 1 if data.get("grid") else 0
    for values in data.get("grid", {}).values():
        size *= len(values)
    return size


def _check_grid(document: Document) -> Iterator[Diagnostic]:
    for key, values in document.data.get("grid", {}).items():
        yield from _grid_key_problems(document, key, values)


def _grid_key_problems(document: Document, key: str, values: list[Any]) -> Iterator[Diagnostic]:
    if key == "name":
        yield error("name-in-grid", "'name' in grid would give many runs the same name", document.span(("grid", key), key=True),
                    "use name_template to name grid runs")  # fmt: skip
    for setting in (key,) if key in contract.RUN_SETTINGS else ():
        check = setting_check(setting)
        for j, value in enumerate(values):
            if not check(value):
                yield error("bad-grid-value", f"grid value {value!r} is not valid for the setting '{setting}'",
                            document.span(("grid", key, j)), f"the values of '{setting}' must be valid as '{setting}:' itself")  # fmt: skip


def _check_random(document: Document) -> Iterator[Diagnostic]:
    random = document.data.get("random")
    for key, spec in (random or {}).get("parameters", {}).items():
        yield from _random_parameter_problems(document, ("random", "parameters", key), spec)


def _random_parameter_problems(document: Document, path: DataPath, spec: Mapping[str, Any]) -> Iterator[Diagnostic]:
    key = path[-1]
    span = document.span(path, key=True)
    if key in contract.RUN_SETTINGS:
        yield error("random-setting", f"random cannot draw the setting '{key}'", span, f"use grid: {{{key}: [...]}}")
    elif ("values" in spec) == ("distribution" in spec):
        yield error("bad-distribution", f"random parameter '{key}' needs either 'values' or 'distribution'", span)
    elif "values" in spec:
        for extra in sorted(set(spec) - {"values"}):
            yield error(
                "bad-distribution", f"'{extra}' goes with 'distribution', not with 'values'", document.span((*path, extra), key=True)
            )
    elif missing := [bound for bound in ("min", "max") if bound not in spec]:
        yield error("missing-key", f"the distribution of '{key}' needs '{missing[0]}'", span)
    else:
        low, high, kind = spec["min"], spec["max"], spec["distribution"]
        min_span = document.span((*path, "min"))
        if not low < high:
            yield error("bad-distribution", f"'{key}' has min {low} not below max {high}", min_span)
        if kind == "log_uniform" and low <= 0:
            yield error("bad-distribution", f"log_uniform '{key}' needs min above 0, found {low}", min_span,
                        "a log scale starts above zero, e.g. min: 1e-5")  # fmt: skip
        if kind == "int_uniform" and not (float(low).is_integer() and float(high).is_integer()):
            yield error("bad-distribution", f"int_uniform '{key}' needs whole-number bounds", min_span)


def _check_name_template(document: Document) -> Iterator[Diagnostic]:
    template = document.data.get("name_template")
    if template is None:
        return
    span = document.span(("name_template",))
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        yield error("bad-name-template", f"name_template is not a valid template: {exc}", span, "fields look like {learning_rate}")
        return
    for field in fields:
        if not field.isidentifier() and not field.replace("-", "_").isidentifier():
            yield error("bad-name-template", f"name_template field '{{{field}}}' is not a parameter name", span,
                        "fields name a parameter, like {learning_rate}, or {index}")  # fmt: skip


# Sweep-level rules, in the order they are reported.
CHECKS: tuple[Callable[[Document], Iterable[Diagnostic]], ...] = (
    _check_sweep_id,
    _check_regions,
    _check_top_level_settings,
    _check_name_in_defaults,
    _check_escaped_twice,
    _check_grid,
    _check_random,
    _check_name_template,
    _check_provider_version,
    _check_regions_used,
    _check_run_count,
)


# --- building --------------------------------------------------------------------------------


def _build_sweep(document: Document) -> Sweep:
    data = document.data
    defaults = {key: data[key] for key in data if key in contract.RUN_SETTINGS}
    defaults.update(data.get("defaults", {}))
    random = data.get("random")
    terraform = data.get("terraform", {})
    backend = next(iter(terraform.get("backend", {}).items()), None)
    return Sweep(
        id=data.get("sweep", document.stem),
        source=document.file,
        source_name=document.name,
        source_sha256=document.sha256,
        results=data.get("results"),
        results_region=data.get("results_region"),
        defaults=MappingProxyType(defaults),
        params=tuple(MappingProxyType(row) for row in data.get("params", ())),
        grid=tuple((key, tuple(values)) for key, values in sorted(data.get("grid", {}).items())),
        random=None
        if random is None
        else RandomSearch(
            count=int(random["count"]),
            seed=int(random.get("seed", 0)),
            parameters=tuple(
                RandomParameter(
                    name=key,
                    values=tuple(spec.get("values", ())),
                    distribution=spec.get("distribution"),
                    low=float(spec.get("min", 0)),
                    high=float(spec.get("max", 0)),
                )
                for key, spec in random["parameters"].items()
            ),
        ),
        name_template=data.get("name_template"),
        regions=tuple(data.get("regions", ())),
        max_concurrent=data.get("max_concurrent"),
        max_runs_per_root=int(data.get("max_runs_per_root", contract.DEFAULT_MAX_RUNS_PER_ROOT)),
        backend=None if backend is None else Backend(kind=backend[0], config=MappingProxyType(dict(backend[1]))),
        aws_provider_version=terraform.get("aws_provider_version", contract.DEFAULT_AWS_PROVIDER_VERSION),
        budget=_budget(data.get("budget")),
    )


def _budget(budget: Mapping[str, Any] | None) -> Budget | None:
    if budget is None:
        return None
    from decimal import Decimal  # only sweeps with a budget need it

    # str() of a number gives its text as written, so `max_usd: 0.1` is exactly 0.1 dollars.
    return Budget(max_usd=Decimal(str(budget[contract.BUDGET_MAX_USD])), prices=budget.get(contract.BUDGET_PRICES))
