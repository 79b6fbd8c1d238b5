from __future__ import annotations

import jsonschema
import pytest
from sweep_helpers import QUIET_DEFAULTS, CheckSweep, codes

from spawn_tf import contract
from spawn_tf.resources import sweep_schema
from spawn_tf.schema import is_valid


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(sweep_schema())
    assert sweep_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_names_exactly_the_contract_keys() -> None:
    schema = sweep_schema()
    assert list(schema["$defs"]["settings"]) == list(contract.RUN_SETTINGS)
    assert list(schema["$defs"]["run"]["properties"]) == list(contract.RUN_SETTINGS)
    top = set(schema["properties"])
    assert top == set(contract.SWEEP_KEYS) | (set(contract.RUN_SETTINGS) - set(contract.RUN_ONLY_SETTINGS))


def test_schema_every_setting_is_described() -> None:
    for name, setting in sweep_schema()["$defs"]["settings"].items():
        assert setting.get("description"), name


@pytest.mark.parametrize(
    "data",
    [
        {"params": [{"name": "a", "spot": "true"}]},
        {"defaults": {"ttl": 3600}},
        {"regions": ["us-east-1", "us-east-1"]},
        {"max_concurrent": True},
        {"version": 2},
        {"grid": {"lr": []}},
        {"defaults": {"security_group_ids": {"us-east-1": ["sg-0123456789abcdef0", 3]}}},
        {"terraform": {"backend": {"s3": {"bucket": "b"}}}},
        {"random": {"count": 1.5, "parameters": {"a": {"values": [1]}}}},
    ],
)
def test_fast_check_rejects_what_jsonschema_rejects(data: dict) -> None:
    assert not jsonschema.Draft202012Validator(sweep_schema()).is_valid(data)
    assert not is_valid(data)


def test_fast_check_accepts_a_full_document() -> None:
    data = {
        "version": 1, "sweep": "s", "results": "s3://bucket-1/p", "regions": ["us-east-1", "eu-west-1"],
        "defaults": {"instance_type": "g5.xlarge", "spot": True, "spot_max_price": "0.5", "ttl": "1h30m",
                     "ami": {"us-east-1": "ami-0123456789abcdef0"}, "security_group_ids": "sg-01234567",
                     "iam_policy": ["s3:ReadOnly"], "tags": {"team": "ml", "n": 3}, "lr": [1, 2], "cfg": {"a": None}},
        "params": [{"name": "a", "max_attempts": 2.0}],
        "grid": {"bs": [1, 2]},
        "random": {"count": 3, "seed": 1, "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}}},
        "terraform": {"backend": {"s3": {"bucket": "state", "region": "us-east-1", "encrypt": True}}},
    }  # fmt: skip
    assert jsonschema.Draft202012Validator(sweep_schema()).is_valid(data)
    assert is_valid(data)


def test_schema_errors_are_all_reported_with_places(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "params:\n  - name: a\n    spot: 'yes'\n    volume_size: -1\n  - name: b\n    ttl: 90\n")
    assert codes(checked) == [("wrong-type", 7, 11), ("out-of-range", 8, 18), ("wrong-type", 10, 10)]
    assert checked.runs is None


def test_schema_unknown_top_level_key_suggests(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "param:\n  - name: a\n")
    assert codes(checked) == [("unknown-key", 5, 1)]
    assert checked.diagnostics[0].hint == "did you mean 'params'?"


def test_schema_missing_key_is_located(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "random:\n  count: 3\n")
    assert codes(checked) == [("missing-key", 5, 1)]
    assert "parameters" in checked.diagnostics[0].message


def test_schema_defaults_are_the_contract_defaults() -> None:
    settings = sweep_schema()["$defs"]["settings"]
    documented = {name: setting["default"] for name, setting in settings.items() if "default" in setting}
    assert documented == {
        "instance_type": contract.DEFAULT_INSTANCE_TYPE,
        "spot": contract.DEFAULT_SPOT,
        "on_complete": contract.DEFAULT_ON_COMPLETE,
        "ami": contract.DEFAULT_AMI,
        "output_dir": contract.DEFAULT_OUTPUT_DIR,
        "max_attempts": contract.DEFAULT_MAX_ATTEMPTS,
        "max_interruptions": contract.DEFAULT_MAX_INTERRUPTIONS,
        "retry_failed": contract.DEFAULT_RETRY_FAILED,
    }
    top = sweep_schema()["properties"]
    assert top["max_runs_per_root"]["default"] == contract.DEFAULT_MAX_RUNS_PER_ROOT
    assert top["terraform"]["properties"]["aws_provider_version"]["default"] == contract.DEFAULT_AWS_PROVIDER_VERSION


def test_schema_limits_are_the_contract_limits() -> None:
    settings = sweep_schema()["$defs"]["settings"]
    assert settings["tags"]["maxProperties"] == contract.MAX_TAGS_PER_RESOURCE - contract.SPAWN_TAG_COUNT
    assert settings["iam_managed_policies"]["maxItems"] == contract.MAX_MANAGED_POLICIES
    assert sweep_schema()["properties"]["random"]["properties"]["count"]["maximum"] == contract.MAX_RUNS
