"""Property tests of the sweep language: load -> validate -> expand (DESIGN §2-3; STYLE, Tests, "Properties").

Documents come from tests/support/strategies.py and are written to real files, as users write them.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import strategies as gen
import yaml
from hypothesis import assume, example, given, note, settings
from hypothesis import strategies as st

from spawn_tf import Checked, awsdata, check_file, contract
from spawn_tf.diagnostics import has_errors
from spawn_tf.load import load_document
from spawn_tf.model import Run
from spawn_tf.resources import sweep_schema
from spawn_tf.schema import is_valid

Scratch = Callable[[], Path]

QUIET_DEFAULTS = {"instance_type": "g5.xlarge", "ttl": "2h", "user_data": "./train.sh"}
# The fuzzing properties get more examples than the rest: they look for needles.
FUZZ = settings(max_examples=3 * settings.default.max_examples)
_INSTANCE_TYPE = re.compile(r"[a-z0-9-]+\.[a-z0-9-]+")
_FINGERPRINT = re.compile(r"[0-9a-f]{12}")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Scratch:
    """A fresh directory per call (hypothesis runs many examples in one test function)."""
    root = tmp_path_factory.mktemp("properties")
    counter = itertools.count()
    return lambda: root / f"ex{next(counter)}"


@cache
def _schema_validator() -> jsonschema.Draft202012Validator:
    """jsonschema itself, the reference for the schema (not a fixture: hypothesis would print it in every failure)."""
    return jsonschema.Draft202012Validator(sweep_schema())


def _check(scratch: Scratch, doc: Any, fmt: str, *, allow_unicode: bool = False) -> Checked:
    path = gen.write_document(scratch(), doc, fmt, allow_unicode=allow_unicode)
    note(path.read_bytes().decode("utf-8", "replace"))
    return check_file(path)


def _runs(checked: Checked) -> tuple[Run, ...]:
    errors = [d.render() for d in checked.diagnostics if d.is_error]
    assert checked.runs is not None, errors
    assert not errors
    return checked.runs


def _identity(runs: tuple[Run, ...]) -> list[tuple[Any, ...]]:
    return [(run.index, run.name, run.region, run.region_assigned, run.fingerprint, dict(run.env)) for run in runs]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # YAML 1.2's line breaks, and Python's csv and universal newlines


def _lines(text: str) -> list[str]:
    """The lines of a text; U+2028, U+2029 and NEL are characters within a line (YAML 1.2, editors, grep -n)."""
    return _LINE_BREAK.split(text)


def _line_bound(path: Path) -> int:
    """Lines in the file, plus one for a final empty line."""
    text = path.read_bytes().decode("utf-8", "replace")
    return len(_lines(text)) + (0 if text.endswith(("\n", "\r")) else 1)


def _assert_sound(path: Path, checked: Checked) -> None:
    """What holds for every answer, whatever the input: spans inside the file, runs iff no error, accepted values well formed."""
    bound = _line_bound(path)
    for diagnostic in checked.diagnostics:
        if diagnostic.span is not None:
            assert 1 <= diagnostic.span.line <= bound, (diagnostic.render(), bound)
            assert diagnostic.span.col >= 1, diagnostic.render()
    assert (checked.runs is None) == has_errors(checked.diagnostics), [d.render() for d in checked.diagnostics]
    if checked.runs is None:
        return
    # DESIGN §2-3: what is accepted obeys the documented formats (as whole values, not prefixes).
    assert checked.sweep is not None
    assert contract.SWEEP_ID_PATTERN.fullmatch(checked.sweep.id), checked.sweep.id
    for run in checked.runs:
        assert contract.RUN_NAME_PATTERN.fullmatch(run.name) and ".." not in run.name, run.name
        assert run.region in awsdata.regions(), run.region
        assert _INSTANCE_TYPE.fullmatch(run.settings.instance_type), run.settings.instance_type
        assert run.settings.ami in contract.AMI_ALIASES or contract.AMI_ID_PATTERN.fullmatch(run.settings.ami), run.settings.ami
        assert _FINGERPRINT.fullmatch(run.fingerprint)
        assert all(contract.ENV_NAME_PATTERN.fullmatch(name) for name in run.env), list(run.env)
        assert _finite(dict(run.params)), dict(run.params)  # the loader rejects NaN and infinities; emitters use allow_nan=False


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


# --- 1. the validator never raises ---------------------------------------------------------------


# Inputs that broke the checker once (found by these properties), run first on every run.
_random_region = {"random": {"count": 1, "parameters": {"region": {"values": ["us-east-1"]}}}}
_huge_bound = {"random": {"count": 1, "parameters": {"x": {"distribution": "uniform", "min": 0, "max": gen.Raw("1" + "0" * 309)}}}}
PINNED: tuple[tuple[Any, str], ...] = (
    ({"defaults": {"ttl": "6h\n"}}, "yaml"),  # `$` matched before a final newline: accepted, then parse_duration crashed
    ({"params": [{"name": "a\n"}]}, "yaml"),  # ... and a run name with a newline was accepted
    ({"defaults": {"on_complete": ["terminate"]}}, "yaml"),  # an unhashable value looked up in the hint table
    ({"version": []}, "json"),
    (_random_region, "yaml"),  # a region that is not text, looked up in the set of regions
    ({"grid": {"region": [5]}}, "yaml"),
    ({"grid": {"region": [["us-east-1"]]}}, "json"),
    ({"defaults": {"x": gen.Raw("!!int abc")}}, "yaml"),  # explicit tags trusted by the scalar converter
    ({"defaults": {"x": gen.Raw("!!bool yes")}}, "yaml"),
    ({"defaults": {"x": gen.Raw("!!float x")}}, "yaml"),
    ({"defaults": {"x": gen.Raw("!!int 0x")}}, "yaml"),
    ({"defaults": {"x": gen.Raw("1" * 5000)}}, "yaml"),  # past int()'s 4300 digits
    ({"defaults": {"volume_size": gen.Raw("0x" + "f" * 4000)}}, "yaml"),  # hex has no limit, but printing it has
    ({"params": [{"name": "a", "d": gen.Raw("[" * 70 + "]" * 70)}]}, "json"),  # JSON past the nesting limit was accepted
    (_huge_bound, "yaml"),  # float() of an int past 1.8e308
    ({"params": [{"name": "a", "x": gen.Raw(".nan")}]}, "csv"),  # a CSV cell's load error had no position
    ({"defaults": {"x": "\ud800"}}, "json"),  # JSON may spell a lone surrogate; UTF-8 cannot encode it
    ({"defaults": {"x": gen.Raw("1e400", "json")}}, "json"),  # JSON's 1e400 is float('inf'); YAML's 1e999 is rejected
)


def _pinned(test: Callable[..., None]) -> Callable[..., None]:
    for doc, fmt in reversed(PINNED):
        test = example(doc=doc, fmt=fmt, allow_unicode=False)(test)
    return test


@FUZZ
@_pinned
@given(doc=st.one_of(gen.mutated_sweeps(), gen.sweeps()), fmt=st.sampled_from(("yaml", "json", "csv")), allow_unicode=st.booleans())
def test_validator_never_raises_and_places_every_diagnostic_in_the_file(scratch: Scratch, doc: Any, fmt: str, allow_unicode: bool) -> None:
    path = gen.write_document(scratch(), doc, fmt, allow_unicode=allow_unicode)
    note(path.read_bytes().decode("utf-8", "replace"))
    _assert_sound(path, check_file(path))


_EDITS = st.tuples(st.sampled_from(gen.PLACES), gen.place_keys, st.one_of(gen.weird_values, gen.near_valid_values))


@FUZZ
@given(doc=gen.sweeps(), edit=_EDITS, fmt=st.sampled_from(gen.FORMATS))
def test_validator_never_raises_on_any_key_with_any_value_in_any_place(
    scratch: Scratch, doc: dict[str, Any], edit: tuple[tuple[Any, ...], str, Any], fmt: str
) -> None:
    place, key, value = edit
    gen.put(doc, place, key, value)
    path = gen.write_document(scratch(), doc, fmt)
    note(path.read_bytes().decode("utf-8", "replace"))
    _assert_sound(path, check_file(path))


@FUZZ
@given(text=gen.csv_texts())
def test_validator_never_raises_on_csv_files(scratch: Scratch, text: str) -> None:
    path = gen.write_text(scratch(), text, "csv")
    note(repr(text))
    _assert_sound(path, check_file(path))


# --- 2. never accepts what the schema rejects ----------------------------------------------------


@given(doc=st.one_of(gen.mutated_sweeps(), gen.sweeps()), fmt=st.sampled_from(gen.FORMATS))
def test_never_accepts_what_the_schema_rejects(scratch: Scratch, doc: Any, fmt: str) -> None:
    path = gen.write_document(scratch(), doc, fmt)
    note(path.read_text(encoding="utf-8", errors="replace"))
    document, _ = load_document(path)
    checked = check_file(path)
    if document is None:
        assert has_errors(checked.diagnostics)
        return
    try:
        schema_ok = _schema_validator().is_valid(document.data)
    except ValueError:  # an int past str()'s 4300 digits: jsonschema cannot word its own error (the never-raises tests cover it)
        assume(False)
    if not schema_ok:
        assert has_errors(checked.diagnostics), [d.render() for d in checked.diagnostics]
        assert checked.runs is None


@given(data=st.one_of(gen.mutated_sweeps(), gen.sweeps()).map(gen.plain_data))
def test_fast_schema_check_never_says_yes_where_jsonschema_says_no(data: Any) -> None:
    if is_valid(data):
        assert _schema_validator().is_valid(data)


@given(data=gen.sweeps())
def test_fast_schema_check_and_jsonschema_accept_valid_documents(data: Any) -> None:
    assert _schema_validator().is_valid(data), [e.message for e in _schema_validator().iter_errors(data)]
    assert is_valid(data)


@given(doc=st.one_of(gen.mutated_sweeps(), gen.sweeps()).map(gen.plain_data))
def test_yaml_and_json_files_with_the_same_data_get_the_same_answer(scratch: Scratch, doc: Any) -> None:
    paths = [gen.write_document(scratch(), doc, fmt) for fmt in gen.FORMATS]
    documents = [load_document(path)[0] for path in paths]
    assume(documents[0] is not None and documents[1] is not None and documents[0].data == documents[1].data)
    answers = [check_file(path) for path in paths]
    note(paths[0].read_text(encoding="utf-8", errors="replace"))
    assert [a.runs is None for a in answers] == [answers[0].runs is None] * 2, [[d.render() for d in a.diagnostics] for a in answers]
    assert [sorted(d.code for d in a.diagnostics) for a in answers] == [sorted(d.code for d in answers[0].diagnostics)] * 2
    if answers[0].runs is not None and answers[1].runs is not None:
        assert _identity(answers[0].runs) == _identity(answers[1].runs)


# --- 3. expansion ----------------------------------------------------------------------------------


@given(doc=gen.sweeps(), fmt=st.sampled_from(gen.FORMATS))
def test_expansion_counts_orders_and_names_runs(scratch: Scratch, doc: dict[str, Any], fmt: str) -> None:
    path = gen.write_document(scratch(), doc, fmt)
    note(path.read_text(encoding="utf-8"))
    checked = check_file(path)
    runs = _runs(checked)
    assert len(runs) == gen.expected_run_count(doc)
    assert checked.sweep is not None and checked.sweep.run_count == len(runs)
    assert [run.index for run in runs] == list(range(len(runs)))
    assert len({run.name for run in runs}) == len(runs)
    assert [run.name for run in runs[: len(doc.get("params", ()))]] == [row["name"] for row in doc.get("params", ())]
    assert _identity(_runs(check_file(path))) == _identity(runs)


@given(rows=st.lists(st.fixed_dictionaries({"lr": gen.grid_values.map(lambda v: v[0])}), min_size=1, max_size=5))
def test_expansion_of_csv_gives_one_run_per_row(scratch: Scratch, rows: list[dict[str, Any]]) -> None:
    for i, row in enumerate(rows):
        row["name"] = f"r{i}"
        if isinstance(row["lr"], str):
            row["lr"] = row["lr"].strip() or "x"
    checked = _check(scratch, {"params": rows}, "csv")
    runs = _runs(checked)
    assert [run.name for run in runs] == [row["name"] for row in rows]
    assert [run.index for run in runs] == list(range(len(rows)))


# --- 4. fingerprints -------------------------------------------------------------------------------


@given(data=st.data(), fmt=st.sampled_from(gen.FORMATS))
def test_fingerprints_ignore_key_order(scratch: Scratch, data: st.DataObject, fmt: str) -> None:
    doc = data.draw(gen.sweeps())
    shuffled = gen.shuffled_keys(data.draw, doc)
    assert _identity(_runs(_check(scratch, shuffled, fmt))) == _identity(_runs(_check(scratch, doc, fmt)))


@given(data=st.data())
def test_fingerprints_ignore_the_region_placement_chose(scratch: Scratch, data: st.DataObject) -> None:
    doc = data.draw(gen.sweeps(gen.SweepSpec(require_regions=True)))
    other = {**doc, "regions": data.draw(st.lists(st.sampled_from(gen.REGIONS), min_size=1, max_size=4, unique=True))}
    before = {run.name: run for run in _runs(_check(scratch, doc, "yaml"))}
    after = {run.name: run for run in _runs(_check(scratch, other, "yaml"))}
    assert before.keys() == after.keys()
    for name, run in before.items():
        assert after[name].fingerprint == run.fingerprint, (name, run.region, after[name].region)


_CHANGES = ("parameter", "instance_type", "ami", "script", "output_dir")


@given(data=st.data(), change=st.sampled_from(_CHANGES))
def test_fingerprint_changes_with_the_run_configuration_and_only_for_that_run(scratch: Scratch, data: st.DataObject, change: str) -> None:
    doc = data.draw(gen.sweeps(gen.SweepSpec(min_params=2)))
    runs = _runs(_check(scratch, doc, "yaml"))
    i = data.draw(st.integers(0, len(doc["params"]) - 1))
    run, row, defaults = runs[i], doc["params"][i], doc.get("defaults", {})
    if change == "parameter":
        written = [key for key in {**defaults, **row} if key not in contract.RUN_SETTINGS]
        key = data.draw(st.sampled_from(written)) if written else "added9"
        row[key] = run.env.get(gen.env_key(key), "") + "x"
    elif change == "instance_type":
        row["instance_type"] = data.draw(st.sampled_from([t for t in gen.INSTANCE_TYPES if t != run.settings.instance_type]))
    elif change == "ami":
        row["ami"] = data.draw(st.sampled_from([a for a in gen.AMI_ALIASES if a != run.settings.ami]))
    elif change == "script":
        workload = "command" if "command" in defaults else "user_data"
        row[workload] = (run.settings.script or "true") + "\necho changed"
    else:
        row["output_dir"] = run.settings.output_dir.rstrip("/") + "/changed"
    changed = _runs(_check(scratch, doc, "yaml"))
    assert [r.name for r in changed] == [r.name for r in runs]
    assert changed[i].fingerprint != run.fingerprint
    assert [r.fingerprint for j, r in enumerate(changed) if j != i] == [r.fingerprint for j, r in enumerate(runs) if j != i]


# --- 5. region placement (rendezvous hashing) -------------------------------------------------------


@given(data=st.data())
def test_region_placement_moves_only_runs_of_the_added_or_removed_region(scratch: Scratch, data: st.DataObject) -> None:
    doc = data.draw(gen.sweeps(gen.SweepSpec(require_regions=True)))
    regions = doc["regions"]
    before = {run.name: run for run in _runs(_check(scratch, doc, "yaml"))}

    added = data.draw(st.sampled_from([r for r in gen.REGIONS if r not in regions]))
    grown = {run.name: run for run in _runs(_check(scratch, {**doc, "regions": [*regions, added]}, "yaml"))}
    for name, run in before.items():
        moved_to = grown[name].region
        assert moved_to == run.region or (run.region_assigned and moved_to == added), (name, run.region, moved_to)

    reordered = {**doc, "regions": data.draw(st.permutations(regions))}
    assert {n: r.region for n, r in before.items()} == {run.name: run.region for run in _runs(_check(scratch, reordered, "yaml"))}

    if len(regions) > 1:
        removed = data.draw(st.sampled_from(regions))
        shrunk = {run.name: run for run in _runs(_check(scratch, {**doc, "regions": [r for r in regions if r != removed]}, "yaml"))}
        for name, run in before.items():
            if run.region != removed or not run.region_assigned:
                assert shrunk[name].region == run.region, (name, run.region, shrunk[name].region)


@given(data=st.data())
def test_adding_a_run_moves_no_other_run(scratch: Scratch, data: st.DataObject) -> None:
    # Named runs only: an unnamed run's name is its index, so inserting a run renames the later ones (DESIGN §3).
    doc = data.draw(gen.sweeps(gen.SweepSpec(grid=False, random=False, require_regions=True, min_params=1)))
    rows = list(doc.get("params", ()))
    rows.insert(data.draw(st.integers(0, len(rows))), {"name": "added-run", "lr": data.draw(gen.scalars)})
    before = {run.name: run.region for run in _runs(_check(scratch, doc, "yaml"))}
    after = {run.name: run.region for run in _runs(_check(scratch, {**doc, "params": rows}, "yaml"))}
    assert "added-run" in after
    assert {name: region for name, region in after.items() if name != "added-run"} == before


# --- 6. random search ----------------------------------------------------------------------------


@given(data=st.data())
def test_random_search_depends_on_seed_and_draw_only(scratch: Scratch, data: st.DataObject) -> None:
    doc = data.draw(gen.sweeps(gen.SweepSpec(require_random=True)))
    count = doc["random"]["count"]
    runs = _runs(_check(scratch, doc, "yaml"))
    assert _identity(_runs(_check(scratch, doc, "json"))) == _identity(runs)
    reordered = {**doc, "random": {**doc["random"], "parameters": gen.shuffled_keys(data.draw, doc["random"]["parameters"])}}
    assert _identity(_runs(_check(scratch, reordered, "yaml"))) == _identity(runs)
    # draws belong to (seed, draw, parameter): runs added before them change nothing they drew
    more = {**doc, "params": [*doc.get("params", ()), {"name": "extra-run", "lr": 1}]}
    drawn = {gen.env_key(p) for p in doc["random"]["parameters"]}
    assert [{k: v for k, v in r.env.items() if k in drawn} for r in _runs(_check(scratch, more, "yaml"))[-count:]] == [
        {k: v for k, v in r.env.items() if k in drawn} for r in runs[-count:]
    ]


_CLI = "import sys; from spawn_tf.cli import main; sys.argv[0] = 'spawn-tf'; main()"


@settings(max_examples=3)
@given(doc=gen.sweeps(gen.SweepSpec(require_random=True, require_regions=True)))
def test_expand_output_is_independent_of_pythonhashseed(scratch: Scratch, doc: dict[str, Any]) -> None:
    path = gen.write_document(scratch(), doc, "yaml")
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _CLI, "expand", str(path), "--format", "json"], capture_output=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr.decode()
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith(b"[")


# --- 7. environment export --------------------------------------------------------------------------


@given(
    value=st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))),  # NUL is refused: no variable holds it
    fmt=st.sampled_from(gen.FORMATS),
    allow_unicode=st.booleans(),
    where=st.sampled_from(("params", "defaults")),
)
def test_text_parameters_are_exported_exactly(scratch: Scratch, value: str, fmt: str, allow_unicode: bool, where: str) -> None:
    doc: dict[str, Any] = {"sweep": "s", "defaults": dict(QUIET_DEFAULTS), "params": [{"name": "a"}]}
    (doc["params"][0] if where == "params" else doc["defaults"])["message"] = value
    if fmt == "yaml":  # only values the YAML library itself writes and reads back are the loader's business
        assume(yaml.load(gen.dump_document(doc, fmt, allow_unicode=allow_unicode), Loader=yaml.CSafeLoader) == doc)
    runs = _runs(_check(scratch, doc, fmt, allow_unicode=allow_unicode))
    assert runs[0].env["MESSAGE"] == value


# YAML 1.2 core numbers (ints, floats, octal and hex), as people write them.
_YAML_NUMBERS = st.one_of(
    st.from_regex(r"[-+]?(0|[1-9][0-9]{0,6}|0[0-9]{1,3})(\.[0-9]{0,4})?([eE][-+]?[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"[-+]?\.[0-9]{1,4}([eE][-+]?[0-9]{1,2})?", fullmatch=True),
    st.sampled_from(("1e-4", "0.10", "007", "0x1F", "0o17", "-0", "+12", "1.", "10.50", "1E5", "0.0", "3.14159265358979323846")),
)
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


@given(text=_YAML_NUMBERS, fmt=st.sampled_from(("yaml", "json", "csv")))
def test_numbers_are_exported_as_written(scratch: Scratch, text: str, fmt: str) -> None:
    if fmt == "json":
        assume(_JSON_NUMBER.fullmatch(text))
    doc = {"sweep": "s", "defaults": dict(QUIET_DEFAULTS), "params": [{"name": "a", "value": gen.Raw(text, fmt)}]}
    if fmt == "csv":
        doc = {"params": [{"name": "a", "value": gen.Raw(text), **QUIET_DEFAULTS}]}
    runs = _runs(_check(scratch, doc, fmt))
    assert runs[0].env["VALUE"] == text


# --- misspelled settings (DESIGN §2: an error with a hint, never a silent parameter) ---------------


# Text with characters that YAML 1.1 took for line breaks and YAML 1.2 does not (U+2028, U+2029, NEL).
_BEFORE = st.one_of(st.sampled_from(("a\u2028b", "a\x85b", "a\u2029b", "a\rb", "a\r\nb", "")), gen.tricky_text)


@example(doc={"params": [{"name": "a"}]}, misspelled=("ttl_hours", "3"), before="a\u2028b", in_defaults=False)
@example(doc={"params": [{"name": "a"}]}, misspelled=("TTL", "3"), before="a\x85b", in_defaults=True)
@given(
    doc=gen.sweeps(gen.SweepSpec(min_params=1)),
    misspelled=st.tuples(st.sampled_from(gen.MISSPELLED_SETTINGS), st.sampled_from(gen.PLAUSIBLE_STRINGS)),
    before=_BEFORE,
    in_defaults=st.booleans(),
)
def test_misspelled_settings_are_errors_at_the_key(
    scratch: Scratch, doc: dict[str, Any], misspelled: tuple[str, str], before: str, in_defaults: bool
) -> None:
    key, value = misspelled
    doc = copy.deepcopy(doc)
    mapping = doc.setdefault("defaults", {}) if in_defaults else doc["params"][-1]
    mapping.pop("message", None)
    mapping["message"] = before  # odd text on the lines before the key must not shift its position
    mapping[key] = value
    for fmt, allow_unicode in itertools.product(gen.FORMATS, (False, True)):
        path = gen.write_document(scratch(), doc, fmt, allow_unicode=allow_unicode)
        text = path.read_text(encoding="utf-8")
        note(text)
        checked = check_file(path)
        assert checked.runs is None
        lines = _lines(text)
        at_key = [
            d for d in checked.diagnostics
            if d.is_error and d.hint and d.span and d.span.line <= len(lines) and lines[d.span.line - 1][d.span.col - 1 :].lstrip("\"'").startswith(key)
        ]  # fmt: skip
        assert at_key, [d.render() for d in checked.diagnostics]
