"""Hypothesis strategies for sweep files: plausible documents, mutations of them, and writers.

`sweeps()` draws documents that are valid by construction (no error expected); `mutated_sweeps()`
breaks them the ways people do (wrong types, unknown or misspelled keys, settings in the wrong
place, nulls, empty lists, deep nesting, odd unicode, huge numbers, template syntax in values);
`write_document()` writes any of them as YAML, JSON or CSV. Documents are plain dicts and lists;
`Raw` marks a value to be written as literal source text (`1e-4`, `!!bool yes`, `.nan`).
"""

from __future__ import annotations

import copy
import csv
import difflib
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from spawn_tf import contract

# --- vocabulary --------------------------------------------------------------------------------

REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2", "sa-east-1")
INSTANCE_TYPES = ("t3.micro", "g5.xlarge", "c7g.large", "m7i.large", "p4d.24xlarge", "r6gd.2xlarge")
DURATIONS = ("45s", "30m", "90m", "2h", "6h", "1h30m", "1d", "1d2h3m4s")
AMI_ALIASES = ("al2023", "dlami-gpu")
SHORTHANDS = ("s3:ReadOnly", "s3:WriteOnly", "logs:WriteOnly", "ecr:ReadOnly", "ssm:ReadOnly", "sqs:WriteOnly")

# Keys that DESIGN §2 says must be an error with a hint, never a silent parameter.
MISSPELLED_SETTINGS = (
    "on-complete", "TTL", "ttl_hours", "instance-type", "Instance_Type", "instancetype", "on_completion", "ami_id",
    "spot_price", "region_name", "idle_time", "max_runtime", "volume-size", "userdata", "Spot", "IAM_POLICY", "retry-failed",
)  # fmt: skip

# Strings that mean something to YAML, JSON, CSV, bash or Terraform.
TRICKY_FRAGMENTS = (
    "${", "%{", "$${", "%%{", "}", "${var.x}", "%{ if x }", "'", '"', "`", "\\", "\n", "\r\n", "\r", "\t", " ", "$(id)",
    "#", ": ", "- ", "&a", "*a", "!!int", "null", "~", "yes", "0x1F", "1e-4", ",", "é", "ß", "\u2028", "\x85", "\ufeff",
    "\U0001f600", "\u202e", "\x00", "{index}", "..", "/", "AKIAABCDEFGHIJKLMNOP",
)  # fmt: skip

# Values that are valid somewhere in a sweep file: near misses for the place they land in.
PLAUSIBLE_STRINGS = (
    *REGIONS[:3], "us-east-1a", "mars-north-1", *DURATIONS[:4], "6 hours", "0h", "t3.micro", "g5.xlarge", "t3micro",
    "terminate", "stop", "hibernate", "al2023", "ami-0123456789abcdef0", "ami-12345678", "subnet-0123456789abcdef0",
    "sg-01234567", "s3://bucket-1/sweeps", "s3:ReadOnly", "s3:FullAccess", "s3:Nope", "x86_64", "arm64", "spawn:run",
    "Name", "run-{index}", "lr-{lr}", "{", "../x", "a..b", "arn:aws:iam::aws:policy/ReadOnlyAccess", "/opt/out", "true",
    "uniform", "log_uniform", "int_uniform",
)  # fmt: skip

# Literal YAML source for a value: numbers as written, tags, special floats, syntax errors.
RAW_YAML = (
    ".nan", ".NaN", "-.inf", ".INF", "+.inf", "1e400", "-1e999", "1e-4", "0.10", "007", "0x1F", "0o17", "+12", "-0",
    "1.", ".5", "1_000", "0x", "!!int abc", "!!int 0x", "!!bool yes", "!!float x", "!!float .nan", "!!str 5", "!!null x",
    "!!binary aGVsbG8=", "!!set {a}", "!!omap [a: 1]", "!custom x", "*undefined", "&anchor [1, 2]", "[1, 2", "{a: 1",
    "'unterminated", "yes", "on", "~", "1" * 5000, "0x" + "f" * 4000, "1" * 400, "-" + "9" * 400,
)  # fmt: skip

# Literal JSON source for a value.
RAW_JSON = (
    "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1E-4", "0.10", "1" * 5000, "1" * 400, '"\\ud800"', '"\\udfff x"',
    "[" * 60 + "]" * 60, "[" * 995 + "]" * 995, "[" * 3000 + "]" * 3000, '{"a": 1, "a": 2}', "[1,]", "01",
)  # fmt: skip

_CLOSE = 0.8  # stricter than the validator's own cutoff: generated parameters must never look like settings
_ALL_KEYS = (*contract.RUN_SETTINGS, *contract.SWEEP_KEYS)


@dataclass(frozen=True)
class Raw:
    """A value written as this literal source text (YAML or JSON, as `fmt` says)."""

    text: str
    fmt: str = "yaml"


def env_key(key: str) -> str:
    """The environment variable a parameter key becomes (DESIGN §2), independent of spawn_tf's own code."""
    return key.removeprefix(contract.PARAM_ESCAPE_PREFIX).upper().replace("-", "_")


def is_plain_parameter(key: str) -> bool:
    """A key no reasonable reader takes for a setting, that makes a valid, unreserved variable."""
    name = env_key(key)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is None or name in contract.RESERVED_ENV_NAMES:
        return False
    if name.startswith(contract.RESERVED_ENV_PREFIXES):
        return False
    if key.startswith(contract.PARAM_ESCAPE_PREFIX):  # escaped: never taken for a setting
        return True
    return not difflib.get_close_matches(key.lower().replace("-", "_"), _ALL_KEYS, n=1, cutoff=_CLOSE)


_WORDS = (
    "learning_rate", "batch_size", "model-name", "epochs", "dropout", "optimizer", "Momentum", "warmup_steps", "dataset",
    "layers", "alpha", "beta2", "weight-decay", "lr", "bs", "data_dir", "temperature", "hidden", "param:TTL",
    "param:on-complete", "message",
)  # fmt: skip
_VOCABULARY = tuple(key for key in _WORDS if is_plain_parameter(key))

# A digit at the end keeps generated names clear of every setting alias (`dns`, `keypair`, ...).
parameter_names = st.one_of(
    st.sampled_from(_VOCABULARY),
    st.from_regex(r"[a-z][a-z_-]{0,8}[0-9]{1,2}", fullmatch=True).filter(is_plain_parameter),
)

# --- values ------------------------------------------------------------------------------------

# Text a parameter may hold: anything but NUL, which no environment variable can carry (an error of its own).
tricky_text = st.one_of(
    st.text(max_size=12),
    st.lists(st.one_of(st.sampled_from(TRICKY_FRAGMENTS), st.text(max_size=3)), min_size=1, max_size=5).map("".join),
).map(lambda text: text.replace("\0", ""))
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(tricky_text, st.integers(-(10**30), 10**30), finite_floats, st.booleans())
parameter_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)
grid_values = st.lists(st.one_of(st.integers(-1000, 10**6), st.floats(-10.0, 10.0, allow_nan=False), tricky_text), min_size=1, max_size=3)
scripts = st.one_of(
    st.sampled_from(("python train.py", "./train.sh --lr $LEARNING_RATE", '#!/bin/bash\nset -e\necho "$NAME"\n')),
    st.text(min_size=1, max_size=60),
)


@st.composite
def tags(draw: st.DrawFn) -> dict[str, Any]:
    keys = st.from_regex(r"[A-Za-z][A-Za-z0-9_.:/=+@ -]{0,20}", fullmatch=True).filter(
        lambda k: not k.lower().startswith(contract.RESERVED_TAG_PREFIXES) and k != contract.TAG_NAME
    )
    values = st.one_of(st.text(max_size=30), st.integers(-(10**9), 10**9), st.booleans())
    return draw(st.dictionaries(keys, values, max_size=4))


@st.composite
def run_settings(draw: st.DrawFn, *, workload: str | None) -> dict[str, Any]:
    """Settings for `defaults` that never make an error (regional IDs only as aliases)."""
    settings: dict[str, Any] = {}
    if draw(st.booleans()):
        settings["instance_type"] = draw(st.sampled_from(INSTANCE_TYPES))
    if draw(st.booleans()):
        settings["ttl"] = draw(st.sampled_from(DURATIONS))
    spot = draw(st.none() | st.booleans())
    if spot is not None:
        settings["spot"] = spot
    if draw(st.booleans()):
        settings["on_complete"] = "stop" if spot is False and draw(st.booleans()) else "terminate"
    if workload is not None:
        settings[workload] = draw(scripts)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "ami": st.sampled_from(AMI_ALIASES),
        "idle_timeout": st.sampled_from(DURATIONS),
        "max_attempts": st.integers(1, 100),
        "max_interruptions": st.integers(1, 1000),
        "retry_failed": st.booleans(),
        "volume_size": st.integers(1, 65536),
        "output_dir": st.sampled_from(("/opt/spawn/output", "/tmp/out", "/")),
        "spot_max_price": st.one_of(st.sampled_from(("0.50", "1", "12.125")), st.floats(0.001, 100.0)),
        "iam_policy": st.one_of(
            st.lists(st.sampled_from(SHORTHANDS), min_size=1, max_size=3, unique=True),
            st.lists(st.sampled_from(SHORTHANDS), min_size=1, max_size=3, unique=True).map(", ".join),
        ),
        "tags": tags(),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), max_size=4, unique=True)):
        settings[key] = draw(optional[key])
    return settings


@dataclass(frozen=True)
class SweepSpec:
    """Knobs for `sweeps()`: which parts a document may have."""

    params: bool = True
    grid: bool = True
    random: bool = True
    regions: bool = True
    explicit_regions: bool = True  # runs may set their own region
    min_params: int = 0
    require_regions: bool = False
    require_random: bool = False


_DEFAULT_SPEC = SweepSpec()


@st.composite
def sweeps(draw: st.DrawFn, spec: SweepSpec = _DEFAULT_SPEC) -> dict[str, Any]:
    """A document that validates and expands with no error: defaults, params, grid, random, regions.

    Parameter names are unique by variable, so no two collide; runs in params are named `row<i>-…`,
    which neither `<sweep>-<index>` nor the name templates used here can produce.
    """
    names = draw(st.lists(parameter_names, min_size=1, max_size=7, unique_by=env_key))
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["sweep"] = draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,15}", fullmatch=True))
    if spec.require_regions or (spec.regions and draw(st.booleans())):
        doc["regions"] = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=4, unique=True))
    workload = draw(st.sampled_from(("user_data", "command", None)))
    defaults = draw(run_settings(workload=workload))
    for key in draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        defaults[key] = draw(parameter_values)
    if defaults or draw(st.booleans()):
        doc["defaults"] = defaults
    if spec.params and (spec.min_params or draw(st.booleans())):
        count = draw(st.integers(max(spec.min_params, 1), max(spec.min_params, 4)))
        doc["params"] = [draw(params_rows(i, names, explicit_regions=spec.explicit_regions)) for i in range(count)]
    if spec.grid and draw(st.booleans()):
        doc["grid"] = draw(grids(names, explicit_regions=spec.explicit_regions))
    if spec.require_random or (spec.random and draw(st.booleans())):
        doc["random"] = draw(random_searches(names))
    if ("grid" in doc or "random" in doc) and draw(st.booleans()):
        doc["name_template"] = draw(st.sampled_from(("r{index}", "r-{index:03d}", "trial{index}-x")))
    return doc


@st.composite
def params_rows(draw: st.DrawFn, i: int, names: list[str], *, explicit_regions: bool) -> dict[str, Any]:
    """Row i of params: a name, some parameters, now and then a setting of its own."""
    row: dict[str, Any] = {"name": f"row{i}-{draw(st.from_regex(r'[a-z]{1,4}', fullmatch=True))}"}
    for key in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        row[key] = draw(parameter_values)
    own: dict[str, st.SearchStrategy[Any]] = {"instance_type": st.sampled_from(INSTANCE_TYPES), "ttl": st.sampled_from(DURATIONS)}
    if explicit_regions:
        own["region"] = st.sampled_from(REGIONS)
    for key in draw(st.lists(st.sampled_from(sorted(own)), max_size=2, unique=True)):
        row[key] = draw(own[key])
    return row


@st.composite
def grids(draw: st.DrawFn, names: list[str], *, explicit_regions: bool) -> dict[str, Any]:
    """A grid of one or two parameters, and sometimes instance types or regions."""
    grid = {key: draw(grid_values) for key in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))}
    if draw(st.integers(0, 3)) == 0:
        grid["instance_type"] = draw(st.lists(st.sampled_from(INSTANCE_TYPES), min_size=1, max_size=2))
    if explicit_regions and draw(st.integers(0, 3)) == 0:
        grid["region"] = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2, unique=True))
    return grid


@st.composite
def random_searches(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        kind = draw(st.sampled_from(("values", "uniform", "log_uniform", "int_uniform")))
        if kind == "values":
            parameters[key] = {"values": draw(st.lists(scalars, min_size=1, max_size=4))}
        elif kind == "int_uniform":
            low = draw(st.integers(-1000, 1000))
            parameters[key] = {"distribution": kind, "min": low, "max": low + draw(st.integers(1, 10**6))}
        else:
            low = draw(st.floats(1e-9 if kind == "log_uniform" else -1e6, 1e6))
            high = draw(st.floats(low, 1e7).filter(lambda h, low=low: h > low))
            parameters[key] = {"distribution": kind, "min": low, "max": high}
    search: dict[str, Any] = {"count": draw(st.integers(1, 5)), "parameters": parameters}
    if draw(st.booleans()):
        search["seed"] = draw(st.integers(-(10**20), 10**20))
    return search


def expected_run_count(doc: dict[str, Any]) -> int:
    """DESIGN §3: params, then the grid's product, then random.count; one run when there is none."""
    count = len(doc.get("params", ()))
    if doc.get("grid"):
        count += math.prod(len(values) for values in doc["grid"].values())
    if doc.get("random"):
        count += doc["random"]["count"]
    return count or 1


# --- mutations -----------------------------------------------------------------------------------

raw_yaml = st.sampled_from(RAW_YAML).map(Raw)
raw_json = st.sampled_from(RAW_JSON).map(lambda text: Raw(text, "json"))
surrogate_text = st.lists(st.one_of(st.characters(categories=["Cs"]), st.text(max_size=2)), min_size=1, max_size=3).map("".join)

weird_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.just(""),
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.floats(),
    st.sampled_from((1e308, -1e308, 5e-324, -0.0, 2.0**53 + 1, 10**16)),
    tricky_text,
    st.sampled_from(PLAUSIBLE_STRINGS),
    st.sampled_from(PLAUSIBLE_STRINGS).map(lambda s: s + "\n"),
    raw_yaml,
    raw_json,
    surrogate_text,
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


weird_values = st.one_of(
    st.recursive(
        weird_scalars,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
        max_leaves=6,
    ),
    st.integers(1, 120).map(_nested),
)

# Keys that are reserved, empty, odd or escaped, or that mean something to YAML or Terraform.
ODD_KEYS = (
    "PATH", "home", "spawn_x", "aws-region", "lc_all", "param:", "param:ttl", "<<", "", " ", "1", "a.b", "λ", "ß", "lr", "LR",
    "budget", "parameters", "tag", "x y", "${x}",
)  # fmt: skip
inserted_keys = st.one_of(
    st.sampled_from(MISSPELLED_SETTINGS),
    st.sampled_from(contract.RUN_SETTINGS),
    st.sampled_from(contract.SWEEP_KEYS),
    st.sampled_from(ODD_KEYS),
    st.text(max_size=8),
)


def _containers(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict | list):
        yield path, value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            yield from _containers(child, (*path, key))


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            yield from _leaves(child, (*path, key))
    elif path:
        yield path, value


def _perturbed(draw: st.DrawFn, value: Any) -> Any:
    """A near miss of a value: what a typo, a paste or a wrong quote makes of it."""
    if isinstance(value, str):
        ops = (lambda s: s + "\n", lambda s: " " + s, lambda s: s.upper(), lambda s: s + "${x}", lambda s: s[:-1], lambda s: s * 2,
               lambda s: s.replace("-", "_"), lambda s: s + "\u00a0", lambda s: [s], lambda s: {s: s})  # fmt: skip
        return draw(st.sampled_from(ops))(value)
    if isinstance(value, bool):
        return draw(st.sampled_from((str(value).lower(), str(value), int(value), None)))
    if isinstance(value, int):
        return draw(st.sampled_from((-value, value * 10**400, value + 1, str(value), 0, None, [value])))
    if isinstance(value, float):
        return draw(st.sampled_from((-value, value * 1e308, value + 0.5, str(value), math.nan, math.inf, None, [value])))
    return draw(weird_values)


# Kinds of mutation, repeated to weigh them: near misses and stray keys are the usual slips.
_MUTATION_KINDS = ("perturb", "perturb", "perturb", "replace", "replace", "insert", "insert", "insert", "move", "delete", "wrap", "root")


@st.composite
def mutations(draw: st.DrawFn, doc: Any) -> Any:
    """One mutation of a document (a deep copy; the argument is left alone)."""
    doc = copy.deepcopy(doc)
    kind = draw(st.sampled_from(_MUTATION_KINDS))
    leaves = list(_leaves(doc))
    if kind == "perturb" and leaves:
        path, value = draw(st.sampled_from(leaves))
        _set(doc, path, _perturbed(draw, value))
        return doc
    containers = list(_containers(doc))
    if kind == "root" or not containers:
        return draw(st.one_of(weird_values, st.just([doc]), st.just(None)))
    path, container = draw(st.sampled_from(containers))
    if kind == "replace" and container:
        key = draw(st.sampled_from(sorted(container) if isinstance(container, dict) else range(len(container))))
        container[key] = draw(weird_values)
    elif kind in ("insert", "move") and isinstance(container, dict):
        key = draw(inserted_keys)
        if kind == "move" and leaves:  # a value from elsewhere, under another key: settings in the wrong place
            value = copy.deepcopy(_get(doc, draw(st.sampled_from([p for p, _ in _containers(doc) if p] + [p for p, _ in leaves]))))
        else:
            value = draw(st.one_of(weird_values, st.sampled_from(PLAUSIBLE_STRINGS)))
        container[key] = value
    elif kind in ("insert", "move"):
        container.insert(draw(st.integers(0, len(container))), draw(weird_values))
    elif kind == "delete" and container:
        key = draw(st.sampled_from(sorted(container) if isinstance(container, dict) else range(len(container))))
        del container[key]
    elif kind == "wrap" and path:
        first = container[0] if isinstance(container, list) and container else {}
        _set(doc, path, draw(st.sampled_from(([container], {"x": container}, first))))
    return doc


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


@st.composite
def mutated_sweeps(draw: st.DrawFn) -> Any:
    doc: Any = draw(sweeps())
    for _ in range(draw(st.integers(1, 3))):
        doc = draw(mutations(doc))
    return doc


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    """CSV sweep files, plausible or not: header cells from keys, cells from weird text and raw literals."""
    header = draw(st.lists(st.one_of(st.just("name"), parameter_names, inserted_keys), min_size=1, max_size=5))
    cells = st.one_of(tricky_text, st.sampled_from(PLAUSIBLE_STRINGS), st.sampled_from(RAW_YAML), st.integers().map(str), st.just(""))
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), max_size=4))
    if rows and draw(st.integers(0, 4)) == 0:
        rows[-1] = rows[-1][:-1]  # a short row
    out = io.StringIO()
    csv.writer(out, lineterminator=draw(st.sampled_from(("\r\n", "\n")))).writerows([header, *rows])
    return out.getvalue()


# Values shaped like what a place expects, with bad parts: distributions, grid lists, per-region maps.
_bounds = st.one_of(st.integers(-(10**400), 10**400), st.floats(), weird_scalars)
near_valid_values = st.one_of(
    st.fixed_dictionaries({"values": st.lists(weird_scalars, min_size=1, max_size=2)}),
    st.fixed_dictionaries(
        {"distribution": st.sampled_from(("uniform", "log_uniform", "int_uniform", "normal")), "min": _bounds, "max": _bounds}
    ),
    st.lists(weird_scalars, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from((*REGIONS[:3], "mars-north-1", "us-east-1\n")), weird_scalars, min_size=1, max_size=2),
    st.just({}),
    st.just([]),
)

# Where a key may be put: the places of a sweep file, by the path of their mapping.
PLACES = (
    (), ("defaults",), ("params", 0), ("params", -1), ("grid",), ("random",), ("random", "parameters"), ("terraform",),
    ("terraform", "backend"), ("terraform", "backend", "s3"),
)  # fmt: skip
# Keys of the nested mappings: random, its distributions, terraform and its backend.
NESTED_KEYS = (
    "values", "distribution", "min", "max", "count", "seed", "parameters", "backend", "s3", "bucket", "key_prefix",
    "aws_provider_version",
)  # fmt: skip
place_keys = st.one_of(
    st.sampled_from(contract.RUN_SETTINGS),
    st.sampled_from(contract.SWEEP_KEYS),
    st.sampled_from(MISSPELLED_SETTINGS),
    st.sampled_from(NESTED_KEYS),
    inserted_keys,
)


def put(doc: dict[str, Any], place: tuple[Any, ...], key: str, value: Any) -> None:
    """Set KEY to VALUE in the mapping at PLACE, creating the place (with plausible content) if needed."""
    if place[:1] == ("params",):
        rows = doc.get("params")
        if not isinstance(rows, list) or not rows:
            rows = doc["params"] = [{"name": "made-row"}]
        target = rows[place[1]]
    elif place[:1] == ("random",) and not isinstance(doc.get("random"), dict):
        doc["random"] = target = {"count": 2, "parameters": {"x9": {"values": [1, 2]}}}
        if place[1:]:
            target = target["parameters"]
    else:
        target = doc
        for item in place:
            if not isinstance(target.get(item), dict):
                target[item] = {}
            target = target[item]
    target[key] = value


# --- writers -------------------------------------------------------------------------------------

FORMATS = ("yaml", "json")


class _Yaml12Dumper(yaml.SafeDumper):
    """PyYAML writes YAML 1.1; this one also quotes strings that YAML 1.2 reads as numbers (`0e0`, `0o17`, `1e5`),
    and writes floats as JSON does (`1e+300`, not `1.0e+300`): numbers are exported as written, so both formats agree.
    """


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    text = ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf") if math.isinf(value) else repr(value)
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Yaml12Dumper.add_representer(float, _represent_float)


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL)$", "~nN"),
):  # fmt: skip
    _Yaml12Dumper.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _with_placeholders(value: Any, raws: dict[str, str], fmt: str) -> Any:
    if isinstance(value, Raw):
        if value.fmt != fmt:  # a literal for the other format: keep it as text
            return value.text
        token = f"RAWLITERAL{len(raws)}X"
        raws[token] = value.text
        return token
    if isinstance(value, dict):
        return {str(k): _with_placeholders(v, raws, fmt) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_placeholders(v, raws, fmt) for v in value]
    return value


def plain_data(value: Any) -> Any:
    """The document as plain JSON-like data: each `Raw` literal becomes its text."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return {k: plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_data(v) for v in value]
    return value


def dump_document(data: Any, fmt: str, *, allow_unicode: bool = False, indent: int | None = 2) -> str:
    """The text of a document in `fmt` (yaml or json), with `Raw` values spliced in as written."""
    raws: dict[str, str] = {}
    plain = _with_placeholders(data, raws, fmt)
    if fmt == "yaml":
        text = yaml.dump(plain, Dumper=_Yaml12Dumper, sort_keys=False, allow_unicode=allow_unicode)
        for token, raw in raws.items():
            text = text.replace(token, raw)
    else:
        text = json.dumps(plain, ensure_ascii=not allow_unicode, indent=indent)
        for token, raw in raws.items():
            text = text.replace(f'"{token}"', raw)
    return text


def csv_document(rows: list[dict[str, Any]]) -> str:
    """A params-only document as CSV: one column per key, scalars as text."""
    header = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n" rows: cells holding "\r" or "\n" get quoted (with "\n" alone, a bare "\r" would not)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(row.get(key)) for key in header])
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(plain_data(value))
    return str(value)


def write_text(directory: Path, text: str, suffix: str, stem: str = "sweep") -> Path:
    """Write `text` to DIRECTORY/STEM.SUFFIX (lone surrogates kept as invalid UTF-8, as an editor might)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.{suffix}"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def write_document(directory: Path, data: Any, fmt: str, *, allow_unicode: bool = False, stem: str = "sweep") -> Path:
    if fmt == "csv":
        rows = data.get("params") if isinstance(data, dict) else None
        rows = rows if isinstance(rows, list) else []
        return write_text(directory, csv_document([row for row in rows if isinstance(row, dict)]), "csv", stem)
    return write_text(directory, dump_document(data, fmt, allow_unicode=allow_unicode), fmt, stem)


def shuffled_keys(draw: st.DrawFn, value: Any) -> Any:
    """The same document with every mapping's keys in a drawn order (lists keep theirs)."""
    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        return {key: shuffled_keys(draw, value[key]) for key in keys}
    if isinstance(value, list):
        return [shuffled_keys(draw, item) for item in value]
    return value
