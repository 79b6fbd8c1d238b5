"""Expansion's warnings and limits at their boundaries: secret-looking values, tag lengths, many runs at
once, malformed durations. Each case sits on the edge a wrong rule would move."""

from __future__ import annotations

import pytest
from sweep_helpers import QUIET_DEFAULTS, CheckSweep

from spawn_tf import contract
from spawn_tf.expand import duration_text, parse_duration

SECRET_HINT = "user-data is stored in clear text in the Terraform state; read secrets at run time (Secrets Manager, SSM)"
ACCESS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"  # AKIA and 16 upper-case letters or digits


def warnings(check: CheckSweep, text: str) -> list[tuple[str, str, str | None]]:
    checked = check(text)
    assert checked.runs is not None, [d.render() for d in checked.diagnostics]
    return [(d.code, d.message, d.hint) for d in checked.diagnostics]


def param(check: CheckSweep, value: str, key: str = "k") -> list[tuple[str, str, str | None]]:
    return warnings(check, QUIET_DEFAULTS + f"params:\n  - {{name: a, {key}: '{value}'}}\n")


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (ACCESS_KEY, "an AWS access key id"),
        ("ASIA" + ACCESS_KEY[4:], "an AWS access key id"),  # temporary credentials
        ("id=" + ACCESS_KEY + ";", "an AWS access key id"),
        ("ghp_" + "a" * 36, "a GitHub token"),
        ("token gho_" + "B1" * 18, "a GitHub token"),
        ("-----BEGIN RSA PRIVATE KEY-----", "a private key"),
        ("-----BEGIN PRIVATE KEY-----", "a private key"),
        ("xoxb-1234567890", "a Slack token"),
    ],
)
def test_secret_looking_values_warn(check: CheckSweep, value: str, what: str) -> None:
    assert param(check, value) == [("secret-value", f"parameter 'k' holds what looks like {what}", SECRET_HINT)]


@pytest.mark.parametrize(
    "value",
    [ACCESS_KEY[:-1], ACCESS_KEY + "Q", "X" + ACCESS_KEY, "AKIA" + "abcdefghijklmnop", "ghp_" + "a" * 35, "xghp_" + "a" * 36,
     "ghx_" + "a" * 36, "xoxb-123456789", "BEGIN PRIVATE KEY"],
)  # fmt: skip
def test_values_just_short_of_a_secret_do_not_warn(check: CheckSweep, value: str) -> None:
    assert param(check, value) == []


def test_secret_named_parameters_warn_only_with_a_value(check: CheckSweep) -> None:
    for key in ("db_password", "PASSWD", "client_secret", "hf_token", "apikey", "api_key", "private_key", "PrivateKey"):
        assert param(check, "x", key) == [("secret-value-key", f"parameter '{key}' looks like a secret", SECRET_HINT)], key
        assert param(check, "", key) == [], key
    assert param(check, "x", "tokenizer_name") != []  # a name is only a hint: the rule is a substring
    assert param(check, "x", "model") == []


def test_secrets_in_an_inline_script_warn(check: CheckSweep) -> None:
    script = f"defaults:\n  instance_type: m7i.large\n  ttl: 2h\n  user_data: |\n    export A={ACCESS_KEY}\n    echo ghp_{'z' * 40}\nparams:\n  - {{name: a}}\n"
    assert sorted(warnings(check, script)) == [
        ("secret-value", "the script in user_data holds what looks like a GitHub token", SECRET_HINT),
        ("secret-value", "the script in user_data holds what looks like an AWS access key id", SECRET_HINT),
    ]


def tags(check: CheckSweep, key: str, value: str) -> list[tuple[str, str]]:
    checked = check(QUIET_DEFAULTS + f"  tags: {{'{key}': '{value}'}}\nparams:\n  - {{name: a}}\n")
    return [(d.code, d.message) for d in checked.diagnostics]


def test_tag_value_length_limit_is_256() -> None:
    assert contract.MAX_TAG_VALUE_CHARS == 256  # AWS's limit on a tag value


def test_tag_values_and_keys_at_their_length_limits(check: CheckSweep) -> None:
    assert tags(check, "team", "v" * 256) == []
    assert tags(check, "team", "v" * 257) == [("tag-too-long", "the value of tag 'team' has more than 256 characters")]
    assert tags(check, "k" * 128, "v") == []
    assert tags(check, "k" * 129, "v") == [("tag-too-long", f"tag key '{'k' * 40}' must have 1 to 128 characters")]
    assert tags(check, "", "v") == [("bad-tag", "tag key '' has characters AWS does not allow"),
                                    ("tag-too-long", "tag key '' must have 1 to 128 characters")]  # fmt: skip


def test_tag_keys_reserved_and_allowed_characters(check: CheckSweep) -> None:
    assert tags(check, "a b.c:d/e=f+g-h@i_9", "v") == []
    assert tags(check, "a*b", "v") == [("bad-tag", "tag key 'a*b' has characters AWS does not allow")]
    assert tags(check, "Name", "v") == [("reserved-tag", "tag 'Name' is set by spawn-tf (<sweep>/<run>)")]
    for key in ("spawn:x", "AWS:x", "Spawn:x"):
        [(code, message)] = tags(check, key, "v")
        assert (code, message) == ("reserved-tag", f"tag '{key}' uses a reserved prefix"), key


def many(count: int, cap: str = "") -> str:
    return cap + QUIET_DEFAULTS + "name_template: r-{i}\ngrid:\n  i: [" + ", ".join(str(i) for i in range(count)) + "]\n"


def test_many_runs_warning_starts_above_the_limit(check: CheckSweep) -> None:
    limit = contract.MANY_RUNS_PER_REGION
    assert limit == 500
    assert warnings(check, many(limit)) == []
    assert warnings(check, many(limit + 1)) == [
        (
            "many-runs",
            f"{limit + 1} runs start at once in us-east-1",
            "set max_concurrent to launch them in waves (spot capacity and quotas run out)",
        )
    ]
    assert warnings(check, many(limit + 1, "max_concurrent: 50\n")) == []  # waves: nothing starts all at once
    # counted per region: 1000 runs split over two regions stay under the limit in each
    split = warnings(check, many(2 * limit, "regions: [us-east-1, eu-west-1]\n"))
    assert all(code == "many-runs" and message.endswith(("us-east-1", "eu-west-1")) for code, message, _ in split)
    assert len(split) <= 1


@pytest.mark.parametrize("text", ["", "h", "1", "1x", "1h 30m", "-1h", "1.5h", "30m1h", "1hh", " 1h", "1H", "1w"])
def test_malformed_durations_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_durations_parse_each_unit_and_print_back() -> None:
    assert [parse_duration(text) for text in ("0s", "2d", "3h", "4m", "5s", "10h5s", "01m")] == [0, 172800, 10800, 240, 5, 36005, 60]
    assert [duration_text(seconds) for seconds in (0, 5, 60, 3600, 5400, 93784, 3601)] == [
        "0s",
        "5s",
        "1m",
        "1h",
        "1h30m",
        "26h3m4s",
        "1h1s",
    ]


def test_zero_duration_setting_is_an_error(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "params:\n  - {name: a, ttl: 0s}\n")
    assert [(d.code, d.message, d.hint) for d in checked.diagnostics] == [
        ("zero-duration", "ttl '0s' is zero", "durations look like '30m' or '6h'")
    ]
    assert checked.runs is None
