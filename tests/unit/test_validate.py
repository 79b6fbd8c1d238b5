from __future__ import annotations

from sweep_helpers import QUIET_DEFAULTS, CheckSweep, codes

from spawn_tf.diagnostics import Severity


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


def test_validate_sweep_id_from_file_name(check: CheckSweep) -> None:
    assert codes(check(QUIET_DEFAULTS, "My_Sweep.yaml")) == [("bad-sweep-id", 1, 1), ("single-run", 1, 1)]
    assert [d.code for d in check("sweep: ok-id\n" + QUIET_DEFAULTS, "My_Sweep.yaml").diagnostics] == ["single-run"]


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
