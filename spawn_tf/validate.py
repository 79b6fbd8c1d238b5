"""Validate a loaded document into a Sweep: schema, then the rules a schema cannot say. Pure.

Run-level rules that need the expanded runs (names, regions, env variables) live in expand.py and
run_settings.py; the size limits checked first in size_limits.py; taking out what is invalid in
repair.py; building the Sweep in build_sweep.py.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from spawn_tf import awsdata, contract
from spawn_tf.build_sweep import build_sweep, sweep_id_from_file_name
from spawn_tf.diagnostics import Diagnostic, did_you_mean, error, has_errors, ordered, warning
from spawn_tf.load import DataPath, Document
from spawn_tf.model import Sweep
from spawn_tf.repair import REPAIR_ROUNDS, SAID_BY_ABSENCE, dropped_names, without
from spawn_tf.schema import inside, invalid_paths, schema_diagnostics, setting_check, where
from spawn_tf.size_limits import limit_diagnostics
from spawn_tf.values import parse_duration

# Keys that are not settings but are meant as one (DESIGN §2: an error with a hint, never a
# silent parameter). Keyed by the normalized spelling (lower case, '-' -> '_').
_SETTING_ALIASES: dict[str, str] = {
    **dict.fromkeys(("ttl_hours", "ttl_minutes", "ttl_seconds", "time_limit", "max_runtime", "walltime"),
                    "use 'ttl' with a duration like '6h'"),
    "idle_time": "did you mean 'idle_timeout'?",
    **dict.fromkeys(("on_completion", "oncomplete", "terminate_on_done", "terminate_on_complete"), "did you mean 'on_complete'?"),
    "instance_types": "one instance type per run; for several, use grid: {instance_type: [...]}",
    **dict.fromkeys(("image_id", "ami_id"), "did you mean 'ami'?"),
    **dict.fromkeys(("keypair", "ssh_key"), "did you mean 'key_name'?"),
    **dict.fromkeys(("spot_price", "max_price"), "did you mean 'spot_max_price'?"),
    **dict.fromkeys(("iam_profile", "instance_profile"), "did you mean 'iam_instance_profile'?"),
    "region_name": "did you mean 'region'?",
    "availability_zones": "did you mean 'zones'? (a zone or a list, in order of preference)",
    **dict.fromkeys(("disk_size", "root_volume_size", "volume_size_gb"), "did you mean 'volume_size'? (GiB)"),
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
        return [d for d in diagnostics if not (self.dropped & SAID_BY_ABSENCE.get(d.code, frozenset()))]


def check_document(document: Document) -> Validation:
    """Every problem the document shows before expansion, and a Sweep of its valid parts."""
    limits = list(limit_diagnostics(document))
    if limits:  # before any check whose work grows with the runs
        return Validation(sweep=None, document=document, diagnostics=ordered(limits), valid=False, dropped=frozenset())
    document, spelt = with_our_spellings(document)
    schema = schema_diagnostics(document)
    found = [*spelt, *schema, *_key_diagnostics(document)]
    removed: list[DataPath] = []
    checked = document
    for _ in range(REPAIR_ROUNDS):
        paths = invalid_paths(checked.data) if schema else ()  # no schema errors: the document is valid as it is
        if not paths:
            break
        removed.extend(paths)
        checked = replace(checked, data=without(checked.data, paths))
    else:
        return Validation(sweep=None, document=document, diagnostics=ordered(found), valid=False, dropped=frozenset())
    # Also what a misspelt key meant ('ttl_hours' -> ttl): a run lacks that setting because of the error already shown.
    meant = {name for d in found if d.code == "unknown-setting" for name in re.findall(r"'([a-z_]+)'", d.hint or "")}
    dropped = dropped_names(removed) | (meant & set(contract.RUN_SETTINGS))
    for check in CHECKS:
        found.extend(d for d in check(checked) if not (dropped & SAID_BY_ABSENCE.get(d.code, frozenset())))
    if any(d.code == "unknown-region" for d in found):  # a run in an unknown region has no value in per-region maps: already said
        dropped |= {"(unknown region)"}
    valid = not has_errors(found)
    if any(d.code == "too-many-runs" for d in found):  # expanding would take the time and memory the limit is for
        return Validation(sweep=None, document=checked, diagnostics=ordered(found), valid=False, dropped=dropped)
    unusable = _unusable_paths(checked)
    if unusable:
        removed.extend(unusable)
        dropped |= dropped_names(removed)
        checked = replace(checked, data=without(checked.data, unusable))
    return Validation(sweep=build_sweep(checked), document=checked, diagnostics=ordered(found), valid=valid, dropped=dropped)


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


def with_our_spellings(document: Document) -> tuple[Document, list[Diagnostic]]:
    """The document with spawn's spellings of settings (contract.SPAWN_SPELLINGS) renamed to ours, in place in each
    mapping; where a mapping has both, an error at spawn's and ours kept. Spans still find spawn's key (load.Positions)."""
    data = document.data
    mappings = [((), data), *_run_mappings(data)]  # settings at the top level apply to every run
    if not any(key in contract.SPAWN_SPELLINGS for _, mapping in mappings for key in mapping):
        return document, []  # nearly every file: no copy
    found: list[Diagnostic] = []
    data = _renamed(document, (), data, found)
    if isinstance(data.get("params"), list):
        data["params"] = list(data["params"])
    for path, mapping in list(_run_mappings(data)):
        _put(data, path, _renamed(document, path, mapping, found))
    return replace(document, data=data), found


def _renamed(document: Document, path: DataPath, mapping: Mapping[str, Any], found: list[Diagnostic]) -> dict[str, Any]:
    renamed: dict[str, Any] = {}
    spelt: dict[str, str] = {}  # ours -> spawn's spelling already renamed (`az` and `availability_zone` are both `zones`)
    for key, value in mapping.items():
        ours = contract.SPAWN_SPELLINGS.get(key)
        twice = ours if ours in mapping else spelt.get(ours or "")
        if ours is not None and twice is not None:
            found.append(error("same-setting-twice", f"'{key}' and '{twice}' {inside(path)} are the same setting",
                               document.span((*path, key), key=True), f"'{key}' is spawn's spelling of '{ours}'; keep one of them"))  # fmt: skip
        else:
            if ours is not None:
                spelt[ours] = key
            renamed[ours or key] = value
    return renamed


def _put(data: dict[str, Any], path: DataPath, mapping: dict[str, Any]) -> None:
    """Set the run mapping at `path` (as _run_mappings gives it) in the copy of the document's data."""
    if path[0] == "params":
        data["params"][path[1]] = mapping
    elif path == ("random", "parameters"):
        data["random"] = {**data["random"], "parameters": mapping}
    else:
        data[str(path[0])] = mapping


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


def derived_sweep_id(document: Document) -> str | None:
    """The id made from the file name when the file has no `sweep:` and its name is not an id as it stands, else None."""
    if "sweep" in document.data or contract.SWEEP_ID_PATTERN.fullmatch(document.stem):
        return None
    return sweep_id_from_file_name(document.stem)


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


def _check_capacity_retry_after(document: Document) -> Iterator[Diagnostic]:
    """A zero retry time would make every capacity marker expire at once: the run would try its first candidate forever."""
    text = document.data.get("capacity_retry_after")
    if text is not None and parse_duration(text) == 0:  # a value of the wrong form was taken out with its schema error
        yield error("zero-duration", f"capacity_retry_after '{text}' is zero", document.span(("capacity_retry_after",)),
                    "a candidate without capacity is passed over this long, e.g. '1h'")  # fmt: skip


def _check_regions_used(document: Document) -> Iterator[Diagnostic]:
    """`regions:` places runs without a region; when every run has one, it does nothing."""
    data = document.data
    if "regions" not in data or not isinstance(data.get("defaults", {}).get("region", data.get("region")), str):
        return
    yield warning("regions-unused", "regions has no effect: every run gets the region set in defaults", document.span(("regions",), key=True),
                  "remove region from defaults to spread runs over regions")  # fmt: skip


def _check_single_run(document: Document) -> Iterator[Diagnostic]:
    data = document.data
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
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        yield error("bad-name-template", f"name_template is not a valid template: {exc}", span, "fields look like {learning_rate}")
        return
    text = sum(len(literal) for literal, _, _, _ in parts)
    if text > contract.MAX_RUN_NAME_CHARS:  # before any run is named: each name would be at least this long
        yield error("bad-name-template", f"name_template's text alone is {text} characters, more than the limit of {contract.MAX_RUN_NAME_CHARS} of a run name",
                    span, "shorten the text around the fields")  # fmt: skip
        return
    fields = [(field, spec or "") for _, field, spec, _ in parts if field is not None]
    for field, spec in fields:
        if not field.isidentifier() and not field.replace("-", "_").isidentifier():
            yield error("bad-name-template", f"name_template field '{{{field}}}' is not a parameter name", span,
                        "fields name a parameter, like {learning_rate}, or {index}")  # fmt: skip
        problem = _format_spec_problem(spec)
        if problem is not None:
            yield error("bad-name-template", f"name_template field '{{{field}:{_shortened(spec)}}}' {problem[0]}", span, problem[1])


# Python's format spec: [[fill]align][sign][z][#][0][width][grouping][.precision][type].
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>[0-9]*)[,_]?(?:\.(?P<precision>[0-9]*))?[a-zA-Z%]?", re.DOTALL)


def _format_spec_problem(spec: str) -> tuple[str, str] | None:
    """Why a field's format spec cannot make a run name, and what to write instead; or None.

    Formatting pads to the width and writes the precision's digits before any check could see
    the name: '{lr:>2000000000}' would build two gigabytes, so both are bounded by the name's length.
    """
    if "{" in spec:
        return "takes its format from another field", "write the width as a number, like {learning_rate:>8}"
    match = _FORMAT_SPEC.fullmatch(spec)
    if match is None:
        return None  # not a bounded-size problem: expansion reports the spec Python refuses
    for part in ("width", "precision"):
        digits = match.group(part)
        # No int() of a long digit string: Python refuses those of over 4300 digits.
        if digits and (len(digits.lstrip("0")) > 9 or int(digits) > contract.MAX_RUN_NAME_CHARS):
            return (f"has a {part} of {_shortened(digits.lstrip('0'))}, more than the limit of {contract.MAX_RUN_NAME_CHARS}",
                    f"a run name has at most {contract.MAX_RUN_NAME_CHARS} characters; a precision like {{learning_rate:.3g}} shortens numbers")  # fmt: skip
    return None


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Sweep-level rules, in the order they are reported.
CHECKS: tuple[Callable[[Document], Iterable[Diagnostic]], ...] = (
    _check_regions,
    _check_top_level_settings,
    _check_name_in_defaults,
    _check_escaped_twice,
    _check_grid,
    _check_random,
    _check_name_template,
    _check_provider_version,
    _check_capacity_retry_after,
    _check_regions_used,
    _check_single_run,
)
