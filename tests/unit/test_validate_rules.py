"""The sweep-level rules of validate.py, each with its message and hint, at the edges a wrong rule would move."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sweep_helpers import QUIET_DEFAULTS, CheckSweep, WriteSweep

from spawn_tf import contract
from spawn_tf.load import load_document
from spawn_tf.model import Backend, Budget, RandomParameter, RandomSearch
from spawn_tf.validate import check_document, validate_document

ESCAPE = "to pass it to the workload as a parameter, write 'param:{}'"
RANDOM = QUIET_DEFAULTS + "name_template: r-{{index}}\nrandom:\n  count: 1\n  parameters:\n    {}\n"
ONE_RUN = "params:\n  - {name: a}\n"


def found(check: CheckSweep, text: str, name: str = "sweep.yaml") -> list[tuple[str, str, str | None, int | None]]:
    return [(d.code, d.message, d.hint, d.span.line if d.span else None) for d in check(text, name).diagnostics]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("'param:': 1", ("bad-parameter-name", "'param:' in params[0] names no parameter", "write 'param:NAME'")),
        ("Instance-Type: m7i.large", ("unknown-setting", "'Instance-Type' in params[0] is not a setting",
         "did you mean 'instance_type'? settings are lower case with underscores; " + ESCAPE.format("Instance-Type"))),
        ("TTL: 1h", ("unknown-setting", "'TTL' in params[0] is not a setting",
         "did you mean 'ttl'? settings are lower case with underscores; " + ESCAPE.format("TTL"))),
        ("ami_id: x", ("unknown-setting", "'ami_id' in params[0] is not a setting", "did you mean 'ami'?; " + ESCAPE.format("ami_id"))),
        ("Walltime: 1h", ("unknown-setting", "'Walltime' in params[0] is not a setting",
         "use 'ttl' with a duration like '6h'; " + ESCAPE.format("Walltime"))),
        ("instance_typ: x", ("unknown-setting", "'instance_typ' in params[0] is not a setting",
         "did you mean 'instance_type'? " + ESCAPE.format("instance_typ"))),
        ("Max-Concurrent: 3", ("misplaced-sweep-key", "'Max-Concurrent' in params[0] is a sweep setting, not a run setting",
         "move it to the top level of the file; " + ESCAPE.format("Max-Concurrent"))),
    ],
)  # fmt: skip
def test_keys_that_look_like_settings_are_errors(check: CheckSweep, row: str, expected: tuple[str, str, str]) -> None:
    [first, *_] = found(check, QUIET_DEFAULTS + f"params:\n  - {{name: a, {row}}}\n")
    assert first == (*expected, 6)


@pytest.mark.parametrize("key", ["tag", "lr", "learning_rate", "param:ttl", "model_name", "spots_used"])
def test_keys_far_from_any_setting_are_parameters(check: CheckSweep, key: str) -> None:
    assert found(check, QUIET_DEFAULTS + f"params:\n  - {{name: a, '{key}': v}}\n") == []


def test_keys_are_checked_in_defaults_grid_and_random(check: CheckSweep) -> None:
    text = (
        QUIET_DEFAULTS
        + "  idle_time: 1h\nname_template: r-{index}\ngrid:\n  keypair: [k]\nrandom:\n  count: 1\n  parameters:\n    spot_price: {values: [1]}\n"
    )
    assert [(code, message) for code, message, _, _ in found(check, text)] == [
        ("unknown-setting", "'idle_time' in defaults is not a setting"),
        ("unknown-setting", "'keypair' in grid is not a setting"),
        ("unknown-setting", "'spot_price' in random.parameters is not a setting"),
    ]


def test_escaped_and_plain_parameter_of_one_name(check: CheckSweep) -> None:
    assert found(check, QUIET_DEFAULTS + "params:\n  - {name: a, x: 1, 'param:x': 2}\n") == [
        ("duplicate-key", "'param:x' and 'x' name the same parameter", None, 6)
    ]


def test_sweep_id_from_a_file_name_is_made_an_id(check: CheckSweep) -> None:
    """A file name that is not an id as it stands gives one (lower case, '-'), not an error; an explicit id is checked as written."""
    assert found(check, QUIET_DEFAULTS + ONE_RUN, "Bad_Name.yaml") == []
    assert found(check, QUIET_DEFAULTS + ONE_RUN, "good-name.yaml") == []
    assert [code for code, *_ in found(check, "sweep: Bad_Name\n" + QUIET_DEFAULTS + ONE_RUN)] == ["bad-format"]


def test_unknown_region_names_the_close_ones(check: CheckSweep) -> None:
    assert found(check, "regions: [ap-north-9]\n" + QUIET_DEFAULTS + ONE_RUN) == [
        (
            "unknown-region",
            "unknown region 'ap-north-9' in regions[0]",
            "did you mean 'ap-northeast-1' or 'ap-northeast-2' or 'ap-northeast-3'?",
            1,
        )
    ]
    grid = QUIET_DEFAULTS + "name_template: r-{index}\ngrid:\n  region: [us-east-1, mars-north-1]\n"
    assert [(code, message) for code, message, _, _ in found(check, grid)] == [
        ("bad-grid-value", "grid value 'mars-north-1' is not valid for the setting 'region'"),
        ("unknown-region", "unknown region 'mars-north-1' in grid.region[1]"),
    ]


def test_settings_at_the_top_level(check: CheckSweep) -> None:
    assert found(check, "ttl: 1h\n" + QUIET_DEFAULTS + ONE_RUN) == [
        ("conflicting-setting", "'ttl' is set both at the top level and in defaults", "keep one of them", 1)
    ]
    assert found(check, "spot: false\n" + QUIET_DEFAULTS + ONE_RUN) == [
        ("top-level-setting", "'spot' at the top level applies to every run", "move it under 'defaults:' to say so", 1)
    ]


def test_name_in_defaults_and_grid_messages(check: CheckSweep) -> None:
    assert found(check, QUIET_DEFAULTS + "  name: same\n" + ONE_RUN)[0] == (
        "name-in-defaults",
        "'name' in defaults would give every run the same name",
        "name each run in params, or use name_template",
        5,
    )
    assert found(check, QUIET_DEFAULTS + "grid:\n  name: [a, b]\n") == [
        ("name-in-grid", "'name' in grid would give many runs the same name", "use name_template to name grid runs", 6)
    ]


def test_grid_values_are_checked_as_the_setting(check: CheckSweep) -> None:
    assert found(check, QUIET_DEFAULTS + "name_template: r-{index}\ngrid:\n  max_attempts: [2, 0]\n  x: [0, -1]\n") == [
        (
            "bad-grid-value",
            "grid value 0 is not valid for the setting 'max_attempts'",
            "the values of 'max_attempts' must be valid as 'max_attempts:' itself",
            7,
        )
    ]


@pytest.mark.parametrize(
    ("constraint", "old"),
    [(">= 5.0", True), ("~> 5.80", True), ("5.1.0", True), (">= 5.0, < 7.0", True), ("~> 6.2", False), ("6.1.0", False), (">= 6.0", False),
     (">6", False), ("= 7.0.1", False), ("< 7.0", True)],
)  # fmt: skip
def test_provider_constraints_before_6_are_errors(check: CheckSweep, constraint: str, old: bool) -> None:
    diagnostics = found(check, f"terraform: {{aws_provider_version: '{constraint}'}}\n" + QUIET_DEFAULTS + ONE_RUN)
    expected = ("old-provider", f"the constraint '{constraint}' admits AWS provider versions before 6.0",
                "spawn-tf's roots need provider 6 (per-resource region); write e.g. '>= 6.0'", 1)  # fmt: skip
    assert diagnostics == ([expected] if old else [])


def test_regions_unused_when_every_run_has_a_region(check: CheckSweep) -> None:
    unused = ("regions-unused", "regions has no effect: every run gets the region set in defaults",
              "remove region from defaults to spread runs over regions", 1)  # fmt: skip
    regions = "regions: [us-east-1, eu-west-1]\n"
    assert found(check, regions + QUIET_DEFAULTS + "  region: us-east-1\n" + ONE_RUN) == [unused]
    assert found(check, regions + "region: us-east-1\n" + QUIET_DEFAULTS + ONE_RUN)[0] == unused
    assert found(check, regions + QUIET_DEFAULTS + ONE_RUN) == []
    assert found(check, regions + QUIET_DEFAULTS + "params:\n  - {name: a, region: us-east-1}\n") == []  # only that run has one


def grid_of(size: int, extra: str = "") -> str:
    return (
        QUIET_DEFAULTS
        + "max_concurrent: 10\nname_template: r-{index}\n"
        + extra
        + (f"grid:\n  a: [{', '.join(map(str, range(size // 100)))}]\n  b: [{', '.join(map(str, range(100)))}]\n")
    )


def test_run_count_limit_counts_params_grid_and_random(check: CheckSweep, write_sweep: WriteSweep) -> None:
    limit = contract.MAX_RUNS
    document, _ = load_document(write_sweep(grid_of(limit)))  # validated only: expanding 100 000 runs takes a while
    assert document is not None and check_document(document).diagnostics == ()
    too_many = ("too-many-runs", f"the sweep expands to {limit + 1} runs, more than the limit of {limit}", "split it into several sweeps")
    assert [d[:3] for d in found(check, grid_of(limit, "params:\n  - {name: x}\n"))] == [too_many]
    random = "random:\n  count: 1\n  parameters:\n    c: {values: [1]}\n"
    assert [d[:3] for d in found(check, grid_of(limit, random))] == [too_many]
    assert check(grid_of(limit, random)).sweep is None  # not expanded at all


def test_no_runs_listed_is_a_single_run(check: CheckSweep) -> None:
    assert found(check, QUIET_DEFAULTS) == [
        ("single-run", "no params, grid or random: the sweep is a single run", "add 'params:' with one entry per run", 1)
    ]
    for runs in (ONE_RUN, "name_template: r-{index}\ngrid:\n  a: [1]\n", RANDOM.removeprefix(QUIET_DEFAULTS).format("a: {values: [1]}")):
        assert found(check, QUIET_DEFAULTS + runs) == [], runs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ttl: {values: [1h]}", [("random-setting", "random cannot draw the setting 'ttl'", "use grid: {ttl: [...]}")]),
        ("a: {values: [1], distribution: uniform, min: 0, max: 1}", [("bad-distribution", "random parameter 'a' needs either 'values' or 'distribution'", None)]),
        ("a: {values: [1], min: 0}", [("bad-distribution", "'min' goes with 'distribution', not with 'values'", None)]),
        ("a: {distribution: uniform, min: 0}", [("missing-key", "the distribution of 'a' needs 'max'", None)]),
        ("a: {distribution: uniform, max: 1}", [("missing-key", "the distribution of 'a' needs 'min'", None)]),
        ("a: {distribution: uniform, min: 1, max: 1}", [("bad-distribution", "'a' has min 1 not below max 1", None)]),
        ("a: {distribution: uniform, min: 0.999, max: 1}", []),
        ("a: {distribution: log_uniform, min: 0, max: 1}", [("bad-distribution", "log_uniform 'a' needs min above 0, found 0", "a log scale starts above zero, e.g. min: 1e-5")]),
        ("a: {distribution: log_uniform, min: 1.0e-9, max: 1}", []),
        ("a: {distribution: uniform, min: -1, max: 1}", []),
        ("a: {distribution: int_uniform, min: 1, max: 2.5}", [("bad-distribution", "int_uniform 'a' needs whole-number bounds", None)]),
        ("a: {distribution: int_uniform, min: 1.5, max: 3}", [("bad-distribution", "int_uniform 'a' needs whole-number bounds", None)]),
        ("a: {distribution: int_uniform, min: 1.0, max: 3}", []),
    ],
)  # fmt: skip
def test_random_parameter_rules_with_messages(check: CheckSweep, spec: str, expected: list[tuple[str, str, str | None]]) -> None:
    checked = check(RANDOM.format(spec))
    assert [(d.code, d.message, d.hint) for d in checked.diagnostics] == expected
    assert (checked.runs is None) == bool(expected)


@pytest.mark.parametrize(
    ("template", "problems"),
    [
        ("r-{", ["name_template is not a valid template: Single '{' encountered in format string"]),
        ("r-{0}", ["name_template field '{0}' is not a parameter name"]),
        ("r-{}", ["name_template field '{}' is not a parameter name"]),
        ("r-{model-name}-{index}-{x}", []),
        ("plain", []),
    ],
)
def test_name_template_fields(check: CheckSweep, template: str, problems: list[str]) -> None:
    checked = check(QUIET_DEFAULTS + f"name_template: '{template}'\nparams:\n  - {{model-name: m, x: 1}}\n")
    assert [d.message for d in checked.diagnostics if d.code == "bad-name-template"] == problems
    hints = {d.hint for d in checked.diagnostics if d.code == "bad-name-template"}
    assert hints <= {"fields look like {learning_rate}", "fields name a parameter, like {learning_rate}, or {index}"}


SPEC_HINT = "a run name has at most 100 characters; a precision like {learning_rate:.3g} shortens numbers"


@pytest.mark.parametrize(
    ("template", "problems"),
    [
        ("a" * 100, []),  # the text alone at the limit of a run name
        ("a" * 101, [("name_template's text alone is 101 characters, more than the limit of 100 of a run name", "shorten the text around the fields")]),
        ("r-{x:{w}}", [("name_template field '{x:{w}}' takes its format from another field", "write the width as a number, like {learning_rate:>8}")]),
        ("r-{x:>00100}", []),  # a zero flag, then leading zeros: not digits of the width
        ("r-{x:>00101}", [("name_template field '{x:>00101}' has a width of 101, more than the limit of 100", SPEC_HINT)]),
        ("r-{x:.200}", [("name_template field '{x:.200}' has a precision of 200, more than the limit of 100", SPEC_HINT)]),
        # a spec or a width over 40 characters is shortened to 37 and '...'
        ("r-{x:>" + "9" * 40 + "}", [("name_template field '{x:>" + "9" * 36 + "...}' has a width of " + "9" * 40 + ", more than the limit of 100", SPEC_HINT)]),
        ("r-{x:>" + "9" * 41 + "}", [("name_template field '{x:>" + "9" * 36 + "...}' has a width of " + "9" * 37 + "..., more than the limit of 100", SPEC_HINT)]),
    ],
)  # fmt: skip
def test_name_template_text_and_format_spec_limits(check: CheckSweep, template: str, problems: list[tuple[str, str]]) -> None:
    checked = check(QUIET_DEFAULTS + f"name_template: '{template}'\nparams:\n  - {{x: 1, w: 3}}\n")
    assert [(d.message, d.hint) for d in checked.diagnostics if d.code == "bad-name-template"] == problems


def test_the_sweep_is_built_from_every_top_level_key(check: CheckSweep) -> None:
    text = (
        "sweep: built\nresults: s3://bkt/p\nresults_region: eu-west-1\nregions: [us-east-1, eu-west-1]\nmax_concurrent: 4\n"
        "max_runs_per_root: 50\nspot: false\nterraform: {aws_provider_version: '>= 6.3', backend: {s3: {bucket: state-b, region: us-east-1}}}\n"
        "budget: {max_usd: 0.1}\n" + QUIET_DEFAULTS + "name_template: r-{index}\nparams:\n  - {x: 1}\ngrid:\n  b: [2, 1]\n  a: [x]\n"
        "random:\n  count: 2\n  seed: 7\n  parameters:\n    lr: {distribution: uniform, min: 0.5, max: 2}\n    o: {values: [1, 2]}\n"
    )  # fmt: skip
    sweep = check(text).sweep
    assert sweep is not None
    assert (sweep.id, sweep.source_name, sweep.results, sweep.results_region) == ("built", "sweep.yaml", "s3://bkt/p", "eu-west-1")
    assert dict(sweep.defaults) == {"spot": False, "instance_type": "m7i.large", "ttl": "2h", "user_data": "./train.sh"}
    assert [dict(row) for row in sweep.params] == [{"x": 1}]
    assert sweep.grid == (("a", ("x",)), ("b", (2, 1)))  # keys sorted, values in file order
    assert sweep.random == RandomSearch(count=2, seed=7, parameters=(
        RandomParameter(name="lr", values=(), distribution="uniform", low=0.5, high=2.0),
        RandomParameter(name="o", values=(1, 2), distribution=None, low=0.0, high=0.0),
    ))  # fmt: skip
    assert (sweep.name_template, sweep.regions, sweep.max_concurrent, sweep.max_runs_per_root) == (
        "r-{index}",
        ("us-east-1", "eu-west-1"),
        4,
        50,
    )
    assert sweep.backend == Backend(kind="s3", config={"bucket": "state-b", "region": "us-east-1"})
    assert (sweep.aws_provider_version, sweep.budget) == (">= 6.3", Budget(max_usd=Decimal("0.1"), prices=None))


def test_the_sweep_defaults_without_those_keys(check: CheckSweep) -> None:
    sweep = check(RANDOM.format("o: {values: [1]}"), "plain-id.yaml").sweep
    assert sweep is not None
    assert (sweep.id, sweep.results, sweep.results_region, sweep.params, sweep.grid, sweep.regions) == ("plain-id", None, None, (), (), ())
    assert sweep.random == RandomSearch(
        count=1, seed=0, parameters=(RandomParameter(name="o", values=(1,), distribution=None, low=0.0, high=0.0),)
    )
    assert (sweep.max_concurrent, sweep.max_runs_per_root, sweep.backend, sweep.budget) == (
        None,
        contract.DEFAULT_MAX_RUNS_PER_ROOT,
        None,
        None,
    )
    assert sweep.aws_provider_version == contract.DEFAULT_AWS_PROVIDER_VERSION


def placed(check: CheckSweep, text: str) -> list[tuple[str, int | None, int | None]]:
    return [(d.code, d.span.line if d.span else None, d.span.col if d.span else None) for d in check(text).diagnostics]


def test_rules_place_their_diagnostics_at_the_key_or_value(check: CheckSweep) -> None:
    assert placed(check, QUIET_DEFAULTS + "params:\n  - {name: a, x: 1, 'param:x': 2}\n") == [("duplicate-key", 6, 21)]  # the key
    assert placed(check, "sweep: s\nterraform: {aws_provider_version: '>= 5.0'}\n" + QUIET_DEFAULTS + ONE_RUN) == [("old-provider", 2, 35)]
    assert placed(check, "sweep: s\nregions: [us-east-1, eu-west-1]\n" + QUIET_DEFAULTS + "  region: us-east-1\n" + ONE_RUN) == [
        ("regions-unused", 2, 1)
    ]
    assert placed(check, "sweep: s\nregion: us-east-9\n" + QUIET_DEFAULTS + ONE_RUN) == [
        ("top-level-setting", 2, 1),
        ("unknown-region", 2, 9),
    ]
    assert placed(check, RANDOM.format("ttl: {values: [1h]}")) == [("random-setting", 9, 5)]
    assert placed(check, RANDOM.format("a: {values: [1], min: 0}")) == [("bad-distribution", 9, 22)]  # the extra key


def test_too_many_runs_is_placed_where_they_are_generated(check: CheckSweep) -> None:
    limit = contract.MAX_RUNS
    assert placed(check, "sweep: s\n" + grid_of(limit, "params:\n  - {name: x}\n")) == [("too-many-runs", 10, 1)]  # grid:
    random = f"random:\n  count: {limit}\n  parameters:\n    c: {{values: [1]}}\n"
    assert placed(check, "sweep: s\n" + QUIET_DEFAULTS + "max_concurrent: 10\nparams:\n  - {name: x}\n" + random) == [
        ("too-many-runs", 9, 1)
    ]


def test_random_alone_at_the_limit_is_not_too_many(write_sweep: WriteSweep) -> None:
    text = (
        QUIET_DEFAULTS
        + f"max_concurrent: 10\nname_template: r-{{index}}\nrandom:\n  count: {contract.MAX_RUNS}\n  parameters:\n    c: {{values: [1]}}\n"
    )
    document, _ = load_document(write_sweep(text))
    assert document is not None and check_document(document).diagnostics == ()


def test_a_value_taken_out_silences_only_what_its_absence_causes(check: CheckSweep) -> None:
    bad_ttl = "sweep: s\ndefaults:\n  instance_type: m7i.large\n  ttl: 6 hours\n  user_data: ./t.sh\n"
    # the bad ttl is reported, not its absence (no-ttl); other rules about defaults still speak
    assert [d.code for d in check(bad_ttl + "  on_complete: stop\n" + ONE_RUN).diagnostics] == ["bad-format", "stop-needs-on-demand"]
    assert [d.code for d in check(bad_ttl).diagnostics] == ["single-run", "bad-format"]


def test_name_in_defaults_is_taken_out_before_expansion(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "  name: same\nparams:\n  - {x: 1}\n  - {x: 2}\n")
    assert [d.code for d in checked.diagnostics] == ["name-in-defaults"]  # not a duplicate name for every run


def test_budget_with_its_price_file(check: CheckSweep) -> None:
    sweep = check("budget: {max_usd: 2.5, prices: prices.csv}\n" + QUIET_DEFAULTS + ONE_RUN).sweep
    assert sweep is not None and sweep.budget == Budget(max_usd=Decimal("2.5"), prices="prices.csv")


def test_a_misspelt_setting_is_not_also_reported_missing(check: CheckSweep) -> None:
    text = "defaults:\n  instance_type: m7i.large\n  walltime: 2h\n  user_data: ./train.sh\n" + ONE_RUN
    assert [d.code for d in check(text).diagnostics] == ["unknown-setting"]  # meant ttl: no 'no-ttl' besides


def test_validate_document_gives_a_sweep_only_without_errors(write_sweep: WriteSweep) -> None:
    good, _ = load_document(write_sweep(QUIET_DEFAULTS + ONE_RUN, "good.yaml"))
    bad, _ = load_document(write_sweep(grid_of(contract.MAX_RUNS, "params:\n  - {name: x}\n"), "bad.yaml"))
    assert good is not None and bad is not None
    sweep, diagnostics = validate_document(good)
    assert sweep is not None and sweep.id == "good" and diagnostics == ()
    assert validate_document(bad)[0] is None
    assert check_document(bad).valid is False  # too many runs: not valid, and not expanded
