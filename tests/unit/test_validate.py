from __future__ import annotations

import hashlib

import pytest
from sweep_helpers import QUIET_DEFAULTS, CheckSweep, codes

from spawn_tf import contract
from spawn_tf.diagnostics import Severity, did_you_mean
from spawn_tf.validate import sweep_id_from_file_name


def test_validate_misspelled_settings_are_errors_with_hints(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "  walltime: 2h\nparams:\n  - name: a\n    instance_typ: g5.xlarge\n    on-complete: stop\n")
    assert codes(checked) == [("unknown-setting", 5, 3), ("unknown-setting", 8, 5), ("unknown-setting", 9, 5)]
    hints = [d.hint or "" for d in checked.diagnostics]
    assert "'ttl'" in hints[0] and "param:walltime" in hints[0]
    assert "'instance_type'" in hints[1]
    assert "'on_complete'" in hints[2]


def test_validate_param_escape_makes_a_parameter(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "params:\n  - name: a\n    param:ttl_hours: 6\n    tag: v1\n")
    assert checked.diagnostics == ()
    assert checked.runs is not None
    assert dict(checked.runs[0].env) == {"NAME": "a", "TTL_HOURS": "6", "TAG": "v1"}


def test_validate_sweep_key_inside_a_run(check: CheckSweep) -> None:
    assert codes(check(QUIET_DEFAULTS + "  regions: [us-east-1]\nparams:\n  - name: a\n")) == [("misplaced-sweep-key", 5, 3)]


def test_validate_unknown_regions_everywhere(check: CheckSweep) -> None:
    text = (
        "regions: [us-east-1, ap-north-9]\nresults_region: eu-west-9\n" + QUIET_DEFAULTS
        + "  ami: {us-east-1: ami-01234567, eu-wset-1: ami-01234567}\nparams:\n  - name: a\n    region: us-east-3\n"
    )  # fmt: skip
    assert codes(check(text)) == [
        ("unknown-region", 1, 22),
        ("unknown-region", 2, 17),
        ("unknown-region", 7, 34),
        ("unknown-region", 10, 13),
    ]


def test_validate_sweep_id_from_file_name_is_made_valid(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS, "Stage1_Coarse.yaml")
    assert codes(checked) == [("single-run", 1, 1)]
    assert checked.sweep is not None and checked.sweep.id == "stage1-coarse"
    assert checked.derived_id == "stage1-coarse"
    explicit = check("sweep: ok-id\n" + QUIET_DEFAULTS, "My_Sweep.yaml")
    assert explicit.sweep is not None and explicit.sweep.id == "ok-id" and explicit.derived_id is None
    assert check(QUIET_DEFAULTS, "plain-id.yaml").derived_id is None  # already an id: nothing to say


def test_validate_explicit_sweep_id_must_be_valid_as_written(check: CheckSweep) -> None:
    assert [d.code for d in check("sweep: Stage1_Coarse\n" + QUIET_DEFAULTS).diagnostics] == ["bad-format"]


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("Stage1_Coarse", "stage1-coarse"),
        ("my sweep.v2", "my-sweep-v2"),
        ("--A__b--", "a-b"),
        ("日本", "sweep"),
        ("a" * 41, "a" * 33 + "-" + hashlib.sha256(b"a" * 41).hexdigest()[:6]),
    ],
)
def test_sweep_id_from_file_name_is_always_an_id(stem: str, expected: str) -> None:
    assert sweep_id_from_file_name(stem) == expected
    assert contract.SWEEP_ID_PATTERN.fullmatch(expected)


def test_sweep_id_from_long_file_names_differs_by_hash() -> None:
    first, second = (sweep_id_from_file_name("experiment-" + "x" * 40 + end) for end in ("-one", "-two"))
    assert first != second and len(first) == len(second) == contract.MAX_SWEEP_ID_CHARS


def test_validate_top_level_settings_apply_with_a_warning(check: CheckSweep) -> None:
    checked = check("instance_type: c7g.large\nttl: 1h\nuser_data: ./run.sh\nparams:\n  - name: a\n")
    assert codes(checked) == [("top-level-setting", 1, 1), ("top-level-setting", 2, 1), ("top-level-setting", 3, 1)]
    assert checked.runs is not None
    assert checked.runs[0].settings.instance_type == "c7g.large"
    assert checked.runs[0].settings.arch == "arm64"


def test_validate_grid_values_of_settings_are_checked(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "name_template: r-{index}\ngrid:\n  ttl: [1h, 2 hours]\n  spot: [true, 'no']\n")
    assert codes(checked) == [("bad-grid-value", 7, 13), ("bad-grid-value", 8, 16)]


def test_validate_name_in_defaults_and_grid(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "  name: same\ngrid:\n  name: [a, b]\n")
    assert codes(checked) == [("name-in-defaults", 5, 3), ("name-in-grid", 7, 3)]


def test_validate_random_parameter_rules(check: CheckSweep) -> None:
    text = QUIET_DEFAULTS + (
        "name_template: r-{index}\nrandom:\n  count: 2\n  parameters:\n"
        "    a: {}\n    b: {distribution: uniform, min: 1}\n    c: {distribution: int_uniform, min: 0.5, max: 3}\n"
    )
    assert codes(check(text)) == [("bad-distribution", 9, 5), ("missing-key", 10, 5), ("bad-distribution", 11, 41)]


def test_validate_single_run_sweep_is_one_run(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "  learning_rate: 0.1\n")
    assert [d.code for d in checked.diagnostics] == ["single-run"]
    assert checked.diagnostics[0].severity is Severity.WARNING
    assert checked.runs is not None and len(checked.runs) == 1
    assert checked.runs[0].env["LEARNING_RATE"] == "0.1"


def test_validate_reports_independent_problems_of_every_stage_in_one_pass(check: CheckSweep) -> None:
    checked = check(
        "sweep: mixed\nregions: [us-east-1, eu-west-1]\n"
        "defaults:\n  instance_type: g5.xlarg\n  ttl: 6 hours\n  spot: 'yes'\n  idle_timeout: 0h\n  user_data: ./t.sh\n"
        "  iam_policy: s3:ReadWrite\n  key_name: mine\n"
        "params:\n  - {name: a, region: us-est-1}\n  - {name: a}\n  - {name: b, max_attempts: many, tags: {Name: x}}\n"
        "grid:\n  instance_type: [m7i.large, 42]\n"
    )  # fmt: skip
    assert codes(checked) == [
        ("unknown-instance-type", 4, 18),  # expansion
        ("bad-format", 5, 8),  # schema
        ("wrong-type", 6, 9),  # schema
        ("zero-duration", 7, 17),  # expansion
        ("unknown-iam-policy", 9, 15),  # expansion
        ("regional-id", 10, 13),  # expansion, over all runs
        ("unknown-region", 12, 23),  # sweep rules
        ("duplicate-run-name", 13, 12),  # expansion
        ("wrong-type", 14, 29),  # schema
        ("reserved-tag", 14, 41),  # expansion
        ("bad-grid-value", 16, 30),  # sweep rules
    ]
    assert checked.runs is None and checked.sweep is None
    # A value taken out for its error is not reported again as missing (no 'no-ttl' for the bad ttl).
    assert "no-ttl" not in {d.code for d in checked.diagnostics}


@pytest.mark.parametrize(
    "field",
    ["{lr:>2000000000}", "{lr:.2000000000f}", "{index:0>101}", "{lr:>{index}}", "{lr:" + "9" * 5000 + "}"],
)
def test_validate_name_template_widths_are_bounded_before_formatting(check: CheckSweep, field: str) -> None:
    checked = check(QUIET_DEFAULTS + f"name_template: 'r-{field}'\ngrid:\n  lr: [0.1, 0.2]\n")
    assert codes(checked) == [("bad-name-template", 5, 16)]
    assert checked.runs is None


def test_validate_name_template_width_within_a_run_name_is_fine(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "name_template: 'r-{lr:0>8}-{index:03d}'\ngrid:\n  lr: [0.1]\n")
    assert checked.runs is not None and checked.runs[0].name == "r-000000.1-000"


def test_validate_run_keys_count_each_kind_of_run_apart(check: CheckSweep) -> None:
    """Grid keys are not a params row's: 400 defaults + 400 grid keys and 400 defaults + 300 row keys both fit."""
    defaults = "".join(f"  d{i}: 1\n" for i in range(400))
    grid = "".join(f"  g{i}: [1]\n" for i in range(400))
    row = ", ".join(f"p{i}: 1" for i in range(300))
    checked = check(QUIET_DEFAULTS + defaults + f"grid:\n{grid}params:\n  - {{name: a, {row}}}\nname_template: r{{index}}\n")
    assert "too-many-keys" not in [d.code for d in checked.diagnostics]


def test_validate_run_keys_over_the_limit_are_refused_before_the_schema(check: CheckSweep) -> None:
    defaults = "".join(f"  d{i}: 1\n" for i in range(600))
    row = ", ".join(f"p{i}: 1" for i in range(500))
    checked = check(QUIET_DEFAULTS + defaults + f"params:\n  - {{name: a}}\n  - {{name: b, {row}}}\n  - {{spot: 'not a bool'}}\n")
    assert codes(checked) == [("too-many-keys", 607, 5)]  # the second row; the schema error in the third is not reached


def test_validate_settings_and_parameters_in_all_runs_are_bounded(check: CheckSweep) -> None:
    defaults = "".join(f"  d{i}: 1\n" for i in range(900))
    checked = check(QUIET_DEFAULTS + defaults + "name_template: r{index}\nparams:\n" + "  - {}\n" * (contract.MAX_EXPANDED_KEYS // 900))
    assert codes(checked) == [("too-many-values", 1, 1)]


def test_validate_name_template_text_alone_over_a_run_name_is_refused(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "name_template: 'r-" + "x" * 100 + "-{lr}'\ngrid:\n  lr: [0.1]\n")
    assert codes(checked) == [("bad-name-template", 5, 16)]


def test_expand_long_names_from_a_template_are_not_quoted_whole(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "  note: " + "n" * 5000 + "\nname_template: 'r-{note}-{index}'\ngrid:\n  lr: [0.1, 0.2]\n")
    assert codes(checked) == [("bad-run-name", 6, 16)]
    assert "a name of 5004 characters" in checked.diagnostics[0].message and len(checked.diagnostics[0].message) < 200


def test_did_you_mean_skips_candidates_a_long_word_cannot_match() -> None:
    assert did_you_mean("x" * 3_000_000, ["terminate", "stop"]) is None
    assert did_you_mean("termiante", ["terminate", "stop"]) == "did you mean 'terminate'?"


def test_validate_default_text_copied_into_every_run_is_bounded(check: CheckSweep) -> None:
    big = "y" * 100_000  # under the value limit, and gzip would fit it in user-data
    runs = contract.MAX_EXPANDED_CHARS // len(big) + 1
    checked = check(QUIET_DEFAULTS + f"  data: {big}\nname_template: r{{index}}\ngrid:\n  lr: [{', '.join(map(str, range(runs)))}]\n")
    assert codes(checked) == [("too-much-text", 1, 1)]
