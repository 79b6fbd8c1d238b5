"""Expansion's warnings and limits at their boundaries: secret-looking values, tag lengths, many runs at
once, malformed durations. Each case sits on the edge a wrong rule would move."""

from __future__ import annotations

import pytest
from sweep_helpers import QUIET_DEFAULTS, CheckSweep

from spawn_tf import contract
from spawn_tf.expand import setting_path
from spawn_tf.values import duration_text, parse_duration

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


def full(check: CheckSweep, text: str) -> list[tuple[str, str, str, str | None, int | None, int | None]]:
    """Every diagnostic with its severity, message, hint and place."""
    return [
        (d.severity.name, d.code, d.message, d.hint, d.span.line if d.span else None, d.span.col if d.span else None)
        for d in check(text).diagnostics
    ]


ONE = "params:\n  - {name: a}\n"
STOP_HINT = "a one-time spot instance cannot be stopped; use 'terminate', or set spot: false"
DEFAULT_BUCKET = "spawn-tf-123456789012-us-east-1"
SHORTHAND_NAMES = (
    "s3:FullAccess", "s3:ReadOnly", "s3:WriteOnly", "dynamodb:FullAccess", "dynamodb:ReadOnly", "dynamodb:WriteOnly", "sqs:FullAccess",
    "sqs:ReadOnly", "sqs:WriteOnly", "logs:WriteOnly", "ecr:ReadOnly", "secretsmanager:ReadOnly", "ssm:ReadOnly",
)  # fmt: skip


def script(lines: str, results: str = "") -> str:
    return results + "defaults:\n  instance_type: m7i.large\n  ttl: 2h\n  user_data: |\n" + lines + ONE


def denied(line: int, target: str, bucket: str, at: tuple[int, int] = (4, 14)) -> tuple[str, str, str, str, int, int]:
    return ("WARNING", "script-write-denied", f"line {line} of the user_data script writes to {target}, which the run's role cannot write",
            f"grant it with iam_policy: s3:WriteOnly:{bucket}, or write into $SPAWN_OUTPUT_DIR (the agent uploads it to the run's folder)", *at)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a script's writes: its sweep's own folder is the agent's (no warning), any other place needs a grant
        (script("    aws s3 cp a s3://team/sweeps/sweep/x\n    aws s3 cp b s3://other/y\n", "results: s3://team/sweeps\n"),
         [denied(2, "s3://other/y", "other", (5, 14))]),
        (script(f"    aws s3 cp a s3://{DEFAULT_BUCKET}/sweeps/sweep/x\n    aws s3 cp a s3://{DEFAULT_BUCKET}/elsewhere/x\n"),
         [denied(2, f"s3://{DEFAULT_BUCKET}/elsewhere/x", DEFAULT_BUCKET)]),
        (QUIET_DEFAULTS + "  iam_policy: s3:ReadOnli\n" + ONE,
         [("ERROR", "unknown-iam-policy", "unknown IAM policy shorthand 's3:ReadOnli'", "did you mean 's3:ReadOnly'?", 5, 15)]),
        (QUIET_DEFAULTS + "  iam_policy: foo:Bar\n" + ONE,
         [("ERROR", "unknown-iam-policy", "unknown IAM policy shorthand 'foo:Bar'", "known shorthands: " + ", ".join(SHORTHAND_NAMES), 5, 15)]),
        (QUIET_DEFAULTS + "  iam_policy: sqs:ReadOnly:q\n" + ONE,
         [("ERROR", "bad-iam-scope", "'sqs:ReadOnly' takes no resource scope",
           "scopes are for s3 (BUCKET or BUCKET/PREFIX), logs (LOG_GROUP); for a narrower sqs grant attach a managed policy", 5, 15)]),
        (QUIET_DEFAULTS + "  iam_policy: [s3:FullAccess]\n" + ONE,
         [("WARNING", "full-access-policy", "'s3:FullAccess' grants every action of the service on every resource",
           "scope it to what the runs use, e.g. s3:FullAccess:BUCKET/PREFIX", 5, 15)]),
        (QUIET_DEFAULTS + "  iam_policy: [ssm:ReadOnly, sqs:FullAccess]\n" + ONE,
         [("WARNING", "full-access-policy", "'sqs:FullAccess' grants every action of the service on every resource",
           "prefer a ReadOnly or WriteOnly shorthand", 5, 15)]),
        (QUIET_DEFAULTS + "  iam_policy: [s3:WriteOnly]\n" + ONE,
         [("WARNING", "unscoped-write-policy", "'s3:WriteOnly' lets every run overwrite and delete objects in every bucket",
           "scope it to the bucket (and prefix) the runs write to: s3:WriteOnly:BUCKET/PREFIX", 5, 15)]),
        (QUIET_DEFAULTS + "  iam_managed_policies: ['arn:aws:iam::aws:policy/ReadOnlyAccess', 'arn:aws:iam::aws:policy/AdministratorAccess']\n" + ONE,
         [("WARNING", "admin-managed-policy", "'AdministratorAccess' gives every run administrator-level access to the account",
           "attach only what the workload needs, e.g. iam_policy: s3:ReadOnly:BUCKET", 5, 68)]),  # at the second item
        (QUIET_DEFAULTS + "params:\n  - {name: a, 9lives: 1}\n",
         [("ERROR", "bad-parameter-name", "parameter '9lives' cannot be an environment variable",
           "parameter names use letters, digits, '_' and '-', and do not start with a digit", 6, 15)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, path: 1, spawn_x: 2, aws-region: 3, pathx: 4}\n",
         [("ERROR", "reserved-parameter", "parameter 'path' would set PATH, which is reserved", "rename the parameter", 6, 15),
          ("ERROR", "reserved-parameter", "parameter 'spawn_x' would set SPAWN_X, which is reserved", "rename the parameter", 6, 24),
          ("ERROR", "reserved-parameter", "parameter 'aws-region' would set AWS_REGION, which is reserved", "rename the parameter", 6, 36)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, model-name: 1, model_name: 2}\n",
         [("ERROR", "env-collision", "parameters 'model-name' and 'model_name' both become MODEL_NAME", "rename one of them", 6, 30)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, spot: false, spot_max_price: 0.5}\n",
         [("WARNING", "price-without-spot", "spot_max_price has no effect with spot: false", None, 6, 44)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, ttl: 8d}\n",
         [("WARNING", "long-ttl", "ttl '8d' is more than a week (7d)", "a run that hangs keeps its instance until the ttl; check the unit ('40h', not '40d')", 6, 20)]),
        ("budget: {max_usd: 10}\ndefaults:\n  instance_type: m7i.large\n  user_data: ./train.sh\n" + ONE,
         [("ERROR", "budget-needs-ttl", "the sweep has a budget, but runs without a ttl have no worst-case cost", "set ttl in defaults, e.g. ttl: 6h", 2, 1)]),
        ("defaults:\n  instance_type: m7i.large\n  user_data: ./train.sh\n" + ONE,
         [("WARNING", "no-ttl", "no ttl: a run that hangs keeps its instance until it is stopped by hand", "set ttl in defaults, e.g. ttl: 6h", 1, 1)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, on_complete: stop}\n  - {name: b, on_complete: stop, spot: false}\n",
         [("ERROR", "stop-needs-on-demand", "on_complete 'stop' needs spot: false", STOP_HINT, 6, 28)]),
        (QUIET_DEFAULTS + "name_template: r-{i}\ngrid:\n  i: [1, 2]\n  on_complete: [stop]\n",
         [("ERROR", "stop-needs-on-demand", "on_complete 'stop' needs spot: false", STOP_HINT, 8, 17)]),  # the grid's value
        (QUIET_DEFAULTS + "  on_complete: stop\nname_template: r-{index}\nrandom:\n  count: 2\n  parameters:\n    x: {values: [1]}\n",
         [("ERROR", "stop-needs-on-demand", "on_complete 'stop' needs spot: false", STOP_HINT, 5, 16)]),  # in defaults
        (QUIET_DEFAULTS + "params:\n  - {name: a, iam_instance_profile: p, iam_policy: s3:ReadOnly}\n",
         [("ERROR", "profile-with-policies", "iam_instance_profile uses an existing profile; spawn-tf cannot add policies to it",
           "drop iam_policy and iam_managed_policies, or drop iam_instance_profile", 6, 37)]),
        ("defaults:\n  ttl: 2h\n  user_data: ./train.sh\n" + ONE,
         [("WARNING", "no-instance-type", "no instance_type: runs use t3.micro", "set instance_type in defaults", 1, 1)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, instance_type: g5.xlarge}\n  - {name: b, instance_type: g5.xlarge, ami: dlami-gpu}\n",
         [("WARNING", "gpu-without-driver", "g5.xlarge has NVIDIA GPUs, but the default image al2023 has no GPU driver",
           "set ami: dlami-gpu (Deep Learning AMI with the NVIDIA driver), or an AMI of your own", 6, 30)]),
        ("regions: [us-east-1, eu-west-1]\n" + QUIET_DEFAULTS + "  key_name: {us-east-1: k}\nname_template: r-{i}\ngrid:\n  i: [0, 1, 2, 3, 4, 5]\n",
         [("ERROR", "missing-region-value", "'key_name' has no value for region eu-west-1", "add 'eu-west-1: ...' to the per-region map", 6, 13)]),
        (QUIET_DEFAULTS + "  command: ./x\n" + ONE, [("ERROR", "two-workloads", "a run has both user_data and command", "keep one of them", 5, 12)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, instance_type: t3.tiny}\n",
         [("ERROR", "unknown-instance-type", "unknown instance type 't3.tiny': t3 has no such size",
           "t3 comes in nano, micro, small, medium, large, xlarge, 2xlarge", 6, 30)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, instance_type: m5.24xlarg}\n",
         [("ERROR", "unknown-instance-type", "unknown instance type 'm5.24xlarg': m5 has no such size",
           "did you mean 'm5.24xlarge'? m5 comes in large, xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge, 16xlarge, 24xlarge, metal", 6, 30)]),
        (QUIET_DEFAULTS + "  tags: {'a*b': v, 'aws:x': v}\n" + ONE,
         [("ERROR", "bad-tag", "tag key 'a*b' has characters AWS does not allow", "tag keys use letters, digits, spaces and _ . : / = + - @", 5, 9),
          ("ERROR", "reserved-tag", "tag 'aws:x' uses a reserved prefix", "tags starting with 'spawn:' or 'aws:' belong to spawn-tf and AWS", 5, 9)]),
        (QUIET_DEFAULTS + "name_template: r-{index}\nrandom:\n  count: 2\n  parameters:\n    9x: {values: [1]}\n",
         [("ERROR", "bad-parameter-name", "parameter '9x' cannot be an environment variable",
           "parameter names use letters, digits, '_' and '-', and do not start with a digit", 9, 5)]),  # the random parameter
        (QUIET_DEFAULTS + "  tags: {Name: x, k: v}\n" + ONE, [("ERROR", "reserved-tag", "tag 'Name' is set by spawn-tf (<sweep>/<run>)", None, 5, 9)]),
        (QUIET_DEFAULTS + "  tags: {k: " + "v" * 257 + "}\n" + ONE,
         [("ERROR", "tag-too-long", "the value of tag 'k' has more than 256 characters", None, 5, 9)]),
        (QUIET_DEFAULTS + "  tags: {k: v}\n" + ONE, []),  # a one-character key is long enough
        (QUIET_DEFAULTS + "params:\n  - {name: a, instance_type: x9z.large}\n",
         [("WARNING", "unknown-instance-type", "instance type 'x9z.large' is not known to this botocore",
           "its family may be newer than the installed botocore; check the spelling", 6, 30)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, instance_type: m7iz.large}\n",
         [("WARNING", "unknown-instance-type", "instance type 'm7iz.large' is not known to this botocore", "did you mean 'm7i.large'?", 6, 30)]),
        (QUIET_DEFAULTS + 'params:\n  - {name: a, k: "a\\0b"}\n',
         [("ERROR", "nul-in-value", "parameter 'k' contains a NUL character", "environment variables cannot hold NUL; remove it", 6, 18)]),
        (QUIET_DEFAULTS + 'params:\n  - {name: a, k: "x\\n__SPAWN_USER_SCRIPT__\\ny"}\n',
         [("ERROR", "reserved-line", "parameter 'k' contains the line __SPAWN_USER_SCRIPT__", "that line separates the user-data from the user's script", 6, 18)]),
        ("sweep: s\ndefaults:\n  instance_type: m7i.large\n  ttl: 2h\n" + ONE,
         [("WARNING", "no-workload", "no user_data or command: runs boot and finish at once", "set user_data (a bash script) or command in defaults", 2, 1)]),
        ("sweep: s\ndefaults:\n  instance_type: m7i.large\n  user_data: ./x.sh\n" + ONE,
         [("WARNING", "no-ttl", "no ttl: a run that hangs keeps its instance until it is stopped by hand", "set ttl in defaults, e.g. ttl: 6h", 2, 1)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a, k: " + ACCESS_KEY + "}\n  - {name: b, k: " + ACCESS_KEY + "}\n",  # said once, at its first use
         [("WARNING", "secret-value", "parameter 'k' holds what looks like an AWS access key id", SECRET_HINT, 6, 18)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a..b}\n",
         [("ERROR", "bad-run-name", "run name 'a..b' contains '..'",
           "run names use letters, digits, '.', '_' and '-', start with a letter or digit, at most 100 characters", 6, 12)]),
        (QUIET_DEFAULTS + "params:\n  - {name: a}\n  - {name: b}\n  - {name: a}\n",
         [("ERROR", "duplicate-run-name", "run name 'a' is already used by run 0", "run names must be unique: they are S3 folders and Terraform keys", 8, 12)]),
        (QUIET_DEFAULTS + 'name_template: "r-{x:d}"\nparams:\n  - {x: abc}\n',
         [("ERROR", "bad-name-template", "name_template cannot be filled in: Unknown format code 'd' for object of type 'str'", None, 5, 16)]),
        ("sweep: s\n" + QUIET_DEFAULTS + "params:\n  - {x: 1}\n",
         [("WARNING", "unnamed-runs", "runs without a name are named '<sweep>-<index>'",
           "inserting a run renames the later ones; name runs, or set name_template", 1, 1)]),
        (QUIET_DEFAULTS + "name_template: r-{index}\ngrid:\n  9x: [1, 2]\n",  # once, at the grid's key
         [("ERROR", "bad-parameter-name", "parameter '9x' cannot be an environment variable",
           "parameter names use letters, digits, '_' and '-', and do not start with a digit", 7, 3)]),
        ("regions: [us-east-1, eu-west-1]\n" + QUIET_DEFAULTS + "  key_name: mine\nname_template: r-{i}\ngrid:\n  i: [0, 1, 2, 3, 4, 5]\n",
         [("ERROR", "regional-id", "'key_name' names something that exists in one region, but its runs are in eu-west-1, us-east-1",
           "give one per region: key_name: {eu-west-1: ..., ...}", 6, 13)]),
        (QUIET_DEFAULTS + "  on_complete: stop\n",
         [("WARNING", "single-run", "no params, grid or random: the sweep is a single run", "add 'params:' with one entry per run", 1, 1),
          ("ERROR", "stop-needs-on-demand", "on_complete 'stop' needs spot: false", STOP_HINT, 5, 16)]),
        ("sweep: s\n" + QUIET_DEFAULTS + "params:\n  - {name: s-0001, x: 0}\n  - {x: 1}\n",  # a default name taken: at the unnamed row
         [("WARNING", "unnamed-runs", "runs without a name are named '<sweep>-<index>'",
           "inserting a run renames the later ones; name runs, or set name_template", 1, 1),
          ("ERROR", "duplicate-run-name", "run name 's-0001' is already used by run 0", "run names must be unique: they are S3 folders and Terraform keys", 8, 5)]),
        (QUIET_DEFAULTS + "name_template: r-{lr}\nparams:\n  - {x: 1}\n",
         [("ERROR", "bad-name-template", "name_template uses '{lr}', which is not a parameter of every run", None, 5, 16)]),
        (QUIET_DEFAULTS + "name_template: r-{x}\nparams:\n  - {x: " + "a" * 99 + "}\n",  # 101 characters: one too many
         [("ERROR", "bad-run-name", "name_template makes a name of 101 characters ('r-" + "a" * 38 + "...'), more than the limit of 100",
           "run names use letters, digits, '.', '_' and '-', start with a letter or digit, at most 100 characters", 5, 16)]),
        (QUIET_DEFAULTS + "name_template: r-{x}\nparams:\n  - {x: " + "a" * 98 + "}\n", []),  # 100 characters: the limit
        (QUIET_DEFAULTS + "name_template: r/{x}\nparams:\n  - {x: 1}\n",
         [("ERROR", "bad-run-name", "name_template makes 'r/1', which is not a valid run name",
           "run names use letters, digits, '.', '_' and '-', start with a letter or digit, at most 100 characters", 5, 16)]),
    ],
)  # fmt: skip
def test_expansion_diagnostics_in_full(check: CheckSweep, text: str, expected: list[tuple[str, str, str, str | None, int, int]]) -> None:
    assert full(check, text) == expected


ORIGINS = (
    "sweep: fp\n" + QUIET_DEFAULTS + "  volume_size: 30\n  subnet_id: subnet-0123456789abcdef0\n  key_name: k\n  max_attempts: 4\n"
    "name_template: r-{index}\nparams:\n  - {name: p0, lr: 0.1, label: 'é', instance_type: m7i.xlarge}\n  - {name: p1}\n"
    "grid:\n  lr: [1, 2]\n  b: [x, y, z]\nrandom:\n  count: 2\n  parameters:\n    lr: {values: [7]}\n"
)  # fmt: skip


def test_setting_path_finds_where_each_run_got_a_value(check: CheckSweep) -> None:
    checked = check(ORIGINS)
    assert checked.runs is not None and checked.sweep is not None and checked.document is not None

    def paths(key: str) -> list[tuple[object, ...]]:
        return [setting_path(checked.sweep, checked.document, run, key) for run in checked.runs or ()]

    # params rows, then the grid (keys sorted, the last varying fastest), then the random draws
    assert paths("lr") == [("params", 0, "lr"), (), *[("grid", "lr", i % 2) for i in range(6)], *[("random", "parameters", "lr")] * 2]
    assert paths("b") == [(), (), *[("grid", "b", i // 2) for i in range(6)], (), ()]
    assert paths("instance_type") == [("params", 0, "instance_type"), *[("defaults", "instance_type")] * 9]
    assert set(paths("volume_size")) == {("defaults", "volume_size")}
    single = check("sweep: one\n" + QUIET_DEFAULTS)
    assert single.runs is not None and single.sweep is not None and single.document is not None
    assert [setting_path(single.sweep, single.document, single.runs[0], key) for key in ("ttl", "x")] == [("defaults", "ttl"), ()]


def test_settings_taken_from_the_file_and_their_defaults(check: CheckSweep) -> None:
    runs = check(ORIGINS).runs
    assert runs is not None
    settings = runs[0].settings
    assert (settings.volume_size_gib, settings.subnet_id, settings.key_name, settings.max_attempts) == (
        30,
        "subnet-0123456789abcdef0",
        "k",
        4,
    )
    assert (settings.retry_failed, settings.iam_instance_profile, settings.max_interruptions) == (False, None, 10)
    own = check(QUIET_DEFAULTS + "params:\n  - {name: a, iam_instance_profile: prof, retry_failed: true}\n").runs
    assert own is not None
    assert (own[0].settings.iam_instance_profile, own[0].settings.retry_failed, own[0].settings.volume_size_gib) == ("prof", True, None)


def test_fingerprints_are_pinned(check: CheckSweep) -> None:
    """The fingerprint is the identity of a run's result (DESIGN §3): a change re-runs finished runs of every sweep."""
    runs = check(ORIGINS).runs
    assert runs is not None
    assert [run.fingerprint for run in runs] == [
        "dddfc32abcd4", "ca372a342261", "7f9ab3f21d9c", "c1826722c48b", "7fcecb471023", "d810bab3f9d5", "df609924f7fa", "9cf19b425cb2",
        "37e7f2adfcb3", "1cbb5fad137e",
    ]  # fmt: skip


def test_name_template_fills_in_booleans_as_exported(check: CheckSweep) -> None:
    runs = check(QUIET_DEFAULTS + "name_template: r-{flag}-{lr}\nparams:\n  - {flag: true, lr: 0.5}\n").runs
    assert runs is not None and [run.name for run in runs] == ["r-true-0.5"]


def test_fingerprint_of_a_script_beyond_ascii_is_pinned(check: CheckSweep) -> None:
    runs = check("sweep: fp\ndefaults:\n  instance_type: m7i.large\n  ttl: 2h\n  command: echo é\n" + ONE).runs
    assert runs is not None and [run.fingerprint for run in runs] == ["d54f5fdf1e45"]  # the settings' JSON keeps 'é' as written
