"""Each run-setting rule of run_settings.SETTING_RULES on its own: what it reports and what it lets pass."""

from __future__ import annotations

from typing import Any

from spawn_tf import contract, run_settings
from spawn_tf.contract import Arch, OnComplete
from spawn_tf.model import RunSettings
from spawn_tf.run_settings import SETTING_RULES, SettingRule, SettingsContext, parse_settings

WORKLOAD = {"instance_type": "m7i.large", "ttl": "2h", "command": "python3 train.py"}  # a run no rule reports
RESULTS = (None, "sweeps/s")


def codes(rule: SettingRule, raw: dict[str, Any], *, ttl_required: bool = False, results: tuple[str | None, str] = RESULTS) -> list[str]:
    settings, _, _ = parse_settings(raw, "us-east-1", ttl_required=ttl_required, results=results)
    return [problem.code for problem in rule(SettingsContext(raw=raw, settings=settings, ttl_required=ttl_required, results=results))]


def test_every_rule_passes_a_plain_run() -> None:
    assert [code for rule in SETTING_RULES for code in codes(rule, WORKLOAD)] == []


def test_parse_settings_runs_every_registered_rule() -> None:
    _, _, problems = parse_settings({}, "us-east-1", ttl_required=False, results=RESULTS)
    assert [problem.code for problem in problems] == ["no-instance-type", "no-ttl", "no-workload"]
    rules = {name for name in dir(run_settings) if name.endswith("_rule")}
    assert {rule.__name__ for rule in SETTING_RULES} == rules, "a rule written but not registered is never run"


def test_instance_type_rule() -> None:
    assert codes(run_settings.instance_type_rule, {}) == ["no-instance-type"]
    assert codes(run_settings.instance_type_rule, {"instance_type": "m7i.large"}) == []
    misspelt = list(run_settings.instance_type_rule(_context({"instance_type": "m7i.larg"})))
    assert [(p.code, p.severity.value) for p in misspelt] == [("unknown-instance-type", "error")]  # a known family: a misspelt size
    newer = list(run_settings.instance_type_rule(_context({"instance_type": "zz99.large"})))
    assert [(p.code, p.severity.value) for p in newer] == [("unknown-instance-type", "warning")]  # a family botocore may not know yet


def test_gpu_driver_rule() -> None:
    assert codes(run_settings.gpu_driver_rule, {"instance_type": "g5.xlarge"}) == ["gpu-without-driver"]
    assert codes(run_settings.gpu_driver_rule, {"instance_type": "g5.xlarge", "ami": "dlami-gpu"}) == []
    assert codes(run_settings.gpu_driver_rule, {"instance_type": "m7i.large"}) == []


def test_spot_price_rule() -> None:
    assert codes(run_settings.spot_price_rule, {"spot": False, "spot_max_price": 0.5}) == ["price-without-spot"]
    assert codes(run_settings.spot_price_rule, {"spot": True, "spot_max_price": 0.5}) == []


def test_ttl_rule() -> None:
    assert codes(run_settings.ttl_rule, {"ttl": "8d"}) == ["long-ttl"]
    assert codes(run_settings.ttl_rule, {"ttl": "6h"}) == []
    assert codes(run_settings.ttl_rule, {}) == ["no-ttl"]
    assert codes(run_settings.ttl_rule, {}, ttl_required=True) == ["budget-needs-ttl"]
    assert codes(run_settings.ttl_rule, {"ttl": "0s"}, ttl_required=True) == []  # the zero itself is reported where it is read


def test_a_zero_duration_is_reported_where_it_is_read() -> None:
    _, _, problems = parse_settings({**WORKLOAD, "ttl": "0m"}, "us-east-1", ttl_required=False, results=RESULTS)
    assert [(problem.code, problem.key) for problem in problems] == [("zero-duration", "ttl")]


def test_on_complete_rule() -> None:
    assert codes(run_settings.on_complete_rule, {"on_complete": "stop", "spot": True}) == ["stop-needs-on-demand"]
    assert codes(run_settings.on_complete_rule, {"on_complete": "stop", "spot": False}) == []


def test_iam_rule() -> None:
    assert codes(run_settings.iam_rule, {"iam_policy": ["s3:FullAccess"]}) == ["full-access-policy"]
    assert codes(run_settings.iam_rule, {"iam_policy": ["s3:WriteOnly"]}) == ["unscoped-write-policy"]
    assert codes(run_settings.iam_rule, {"iam_managed_policies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}) == ["admin-managed-policy"]
    assert codes(run_settings.iam_rule, {"iam_policy": ["s3:ReadOnly:bucket/prefix"]}) == []


def test_instance_profile_rule() -> None:
    assert codes(run_settings.instance_profile_rule, {"iam_instance_profile": "p", "iam_policy": ["s3:ReadOnly"]}) == ["profile-with-policies"]
    assert codes(run_settings.instance_profile_rule, {"iam_instance_profile": "p"}) == []


def test_workload_rule() -> None:
    assert codes(run_settings.workload_rule, {"user_data": "true", "command": "true"}) == ["two-workloads"]
    assert codes(run_settings.workload_rule, {}) == ["no-workload"]
    assert codes(run_settings.workload_rule, {"command": "echo AKIAABCDEFGHIJKLMNOP"}) == ["secret-value"]
    write = {"user_data": "aws s3 cp m.pth s3://elsewhere/m.pth\n"}
    assert codes(run_settings.workload_rule, write) == ["script-write-denied"]
    assert codes(run_settings.workload_rule, {**write, "iam_policy": ["s3:WriteOnly:elsewhere"]}) == []
    assert codes(run_settings.workload_rule, {**write, "iam_instance_profile": "p"}) == []  # the role's rights are unknown


def test_tags_rule() -> None:
    assert codes(run_settings.tags_rule, {"tags": {"Name": "x"}}) == ["reserved-tag"]
    assert codes(run_settings.tags_rule, {"tags": {"bad#key": "x"}}) == ["bad-tag"]
    assert codes(run_settings.tags_rule, {"tags": {"team": "ml"}}) == []


def _context(raw: dict[str, Any]) -> SettingsContext:
    settings, _, _ = parse_settings(raw, "us-east-1", ttl_required=False, results=RESULTS)
    return SettingsContext(raw=raw, settings=settings, ttl_required=False, results=RESULTS)


def test_every_setting_is_read_with_its_region_value() -> None:
    raw = {
        "instance_type": "m7g.large", "spot": False, "spot_max_price": 0.25, "ttl": "2h", "idle_timeout": "15m", "on_complete": "stop",
        "ami": {"us-east-1": "ami-0123456789abcdef0", "eu-west-1": "ami-0fedcba9876543210"}, "volume_size": 40,
        "subnet_id": {"us-east-1": "subnet-1", "eu-west-1": "subnet-2"}, "security_group_ids": {"us-east-1": ["sg-1", "sg-2"], "eu-west-1": "sg-3"},
        "key_name": {"us-east-1": "k1", "eu-west-1": "k2"}, "iam_policy": ["s3:ReadOnly"], "iam_managed_policies": ["arn:aws:iam::aws:policy/X"],
        "iam_instance_profile": "p", "user_data": "#!/bin/bash\n./go\n", "command": "ignored", "output_dir": "/out", "max_attempts": 5,
        "max_interruptions": 7, "retry_failed": True, "tags": {"team": "ml", "n": 3},
    }  # fmt: skip
    east, _, problems = parse_settings(raw, "us-east-1", ttl_required=False, results=RESULTS)
    assert "missing-region-value" not in {problem.code for problem in problems}
    assert east == RunSettings(
        instance_type="m7g.large", arch=Arch.ARM64, spot=False, spot_max_price_usd="0.25", ttl_seconds=7200, idle_timeout_seconds=900,
        on_complete=OnComplete.STOP, ami="ami-0123456789abcdef0", volume_size_gib=40, subnet_id="subnet-1", security_group_ids=("sg-1", "sg-2"),
        key_name="k1", iam_policy=("s3:ReadOnly",), iam_managed_policies=("arn:aws:iam::aws:policy/X",), iam_instance_profile="p",
        script="#!/bin/bash\n./go\n", output_dir="/out", max_attempts=5, max_interruptions=7, retry_failed=True, tags=(("team", "ml"), ("n", "3")),
    )  # fmt: skip
    west, _, _ = parse_settings(raw, "eu-west-1", ttl_required=False, results=RESULTS)
    assert (west.ami, west.subnet_id, west.security_group_ids, west.key_name) == ("ami-0fedcba9876543210", "subnet-2", ("sg-3",), "k2")


def test_unwritten_settings_take_the_contract_defaults() -> None:
    settings, _, _ = parse_settings({"command": "./go"}, "us-east-1", ttl_required=False, results=RESULTS)
    assert (settings.instance_type, settings.arch, settings.spot, settings.spot_max_price_usd, settings.on_complete, settings.ami) == (
        contract.DEFAULT_INSTANCE_TYPE, Arch.X86_64, contract.DEFAULT_SPOT, None, contract.DEFAULT_ON_COMPLETE, contract.DEFAULT_AMI,
    )  # fmt: skip
    assert (settings.security_group_ids, settings.tags, settings.iam_policy) == ((), (), ())
    assert (settings.subnet_id, settings.key_name) == (None, None)
    assert (settings.output_dir, settings.max_attempts, settings.max_interruptions, settings.retry_failed, settings.script) == (
        contract.DEFAULT_OUTPUT_DIR, contract.DEFAULT_MAX_ATTEMPTS, contract.DEFAULT_MAX_INTERRUPTIONS, contract.DEFAULT_RETRY_FAILED, "./go",
    )  # fmt: skip
    plain, _, _ = parse_settings({"security_group_ids": "sg-9", "arch": "arm64"}, "us-east-1", ttl_required=False, results=RESULTS)
    assert (plain.security_group_ids, plain.arch) == (("sg-9",), Arch.ARM64)


def test_a_region_missing_from_a_per_region_map_is_an_error_there() -> None:
    raw = {**WORKLOAD, "security_group_ids": {"eu-west-1": ["sg-1"]}, "ami": {"eu-west-1": "ami-0123456789abcdef0"}}
    settings, _, problems = parse_settings(raw, "us-east-1", ttl_required=False, results=RESULTS)
    assert [(p.code, p.message, p.key) for p in problems] == [
        ("missing-region-value", "'security_group_ids' has no value for region us-east-1", "security_group_ids"),
        ("missing-region-value", "'ami' has no value for region us-east-1", "ami"),
    ]
    assert (settings.security_group_ids, settings.ami) == ((), contract.DEFAULT_AMI)
