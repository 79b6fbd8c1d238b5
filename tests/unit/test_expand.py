from __future__ import annotations

import pytest
from sweep_helpers import QUIET_DEFAULTS, CheckSweep, codes

from spawn_tf.contract import Arch
from spawn_tf.model import Run
from spawn_tf.values import arch_of, env_name, env_text, parse_duration


def _runs(check: CheckSweep, text: str) -> tuple[Run, ...]:
    checked = check(text)
    assert checked.runs is not None, [d.render() for d in checked.diagnostics]
    return checked.runs


def test_expand_order_is_params_then_grid_then_random(check: CheckSweep) -> None:
    runs = _runs(check, QUIET_DEFAULTS + (
        "name_template: r-{index}\nparams:\n  - {name: first, x: 1}\n"
        "grid:\n  opt: [sgd, adam]\n  bs: [16, 32]\n"
        "random:\n  count: 2\n  parameters:\n    lr: {distribution: log_uniform, min: 0.0001, max: 0.1}\n"
    ))  # fmt: skip
    assert [run.name for run in runs] == ["first", "r-1", "r-2", "r-3", "r-4", "r-5", "r-6"]
    assert [run.index for run in runs] == list(range(7))
    # grid keys in sorted order (bs before opt), values in file order
    assert [(run.params["bs"], run.params["opt"]) for run in runs[1:5]] == [(16, "sgd"), (16, "adam"), (32, "sgd"), (32, "adam")]
    assert all(0.0001 <= run.params["lr"] <= 0.1 for run in runs[5:])


def test_expand_random_draws_are_pinned(check: CheckSweep) -> None:
    text = QUIET_DEFAULTS + (
        "name_template: r-{index:03d}\nrandom:\n  count: 3\n  seed: 42\n  parameters:\n"
        "    lr: {distribution: log_uniform, min: 0.0001, max: 0.01}\n    bs: {values: [16, 32, 64, 128]}\n"
        "    layers: {distribution: int_uniform, min: 2, max: 8}\n    dropout: {distribution: uniform, min: 0, max: 0.5}\n"
    )  # fmt: skip
    runs = _runs(check, text)
    assert [run.name for run in runs] == ["r-000", "r-001", "r-002"]
    # sha256-based draws: the same on every platform and Python version; a change here changes users' sweeps
    assert [dict(run.env) for run in runs] == [dict(run.env) for run in _runs(check, text)]
    assert [run.env["BS"] for run in runs] == [env_text(run.params["bs"]) for run in runs]
    assert all(2 <= run.params["layers"] <= 8 and isinstance(run.params["layers"], int) for run in runs)
    assert [(run.env["LR"], run.env["BS"], run.env["LAYERS"], run.env["DROPOUT"]) for run in runs] == PINNED_DRAWS


PINNED_DRAWS = [
    ("0.0004648002025", "16", "5", "0.2330273594"),
    ("0.0002939786189", "32", "3", "0.1667471142"),
    ("0.0003228855613", "32", "3", "0.4172074951"),
]


def test_expand_env_is_exported_as_written(check: CheckSweep) -> None:
    runs = _runs(check, QUIET_DEFAULTS + (
        "params:\n  - name: a\n    learning_rate: 1e-4\n    Model-Name: resnet\n    flag: true\n    layers: [64, 32]\n"
        "    opts: {b: 1, a: 'x'}\n    quote: \"it's $HOME `x`\"\n    empty: ''\n"
    ))  # fmt: skip
    assert dict(runs[0].env) == {
        "NAME": "a", "LEARNING_RATE": "1e-4", "MODEL_NAME": "resnet", "FLAG": "true", "LAYERS": "[64,32]",
        "OPTS": '{"a":"x","b":1}', "QUOTE": "it's $HOME `x`", "EMPTY": "",
    }  # fmt: skip


def test_expand_default_names_warn(check: CheckSweep) -> None:
    checked = check("sweep: s\n" + QUIET_DEFAULTS + "params:\n  - {x: 1}\n  - {x: 2}\n")
    assert checked.runs is not None
    assert [run.name for run in checked.runs] == ["s-0000", "s-0001"]
    assert codes(checked) == [("unnamed-runs", 1, 1)]


def test_expand_duplicate_and_invalid_names(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "name_template: m-{model}\nparams:\n  - {model: a}\n  - {model: a}\n  - {model: 'x/y'}\n")
    assert codes(checked) == [("bad-run-name", 5, 16), ("duplicate-run-name", 5, 16)]
    assert checked.runs is None


def test_expand_name_template_missing_field(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "name_template: lr-{lr}\nparams:\n  - {lr: 1}\n  - {other: 2}\n")
    assert codes(checked) == [("bad-name-template", 5, 16)]


def test_expand_rendezvous_placement_is_stable(check: CheckSweep) -> None:
    base = QUIET_DEFAULTS + "name_template: r-{i}\ngrid:\n  i: [" + ", ".join(str(i) for i in range(60)) + "]\n"
    two = {run.name: run.region for run in _runs(check, "regions: [us-east-1, eu-west-1]\n" + base)}
    three = {run.name: run.region for run in _runs(check, "regions: [us-east-1, eu-west-1, ap-south-1]\n" + base)}
    assert set(two.values()) == {"us-east-1", "eu-west-1"}
    moved = {name for name in two if two[name] != three[name]}
    assert moved and all(three[name] == "ap-south-1" for name in moved)


def test_expand_explicit_region_wins_and_is_part_of_the_fingerprint(check: CheckSweep) -> None:
    runs = _runs(check, "regions: [eu-west-1]\n" + QUIET_DEFAULTS + "params:\n  - {name: a, region: us-west-2}\n  - {name: b}\n")
    assert [(run.region, run.region_assigned) for run in runs] == [("us-west-2", False), ("eu-west-1", True)]
    moved = _runs(check, "regions: [ap-south-1]\n" + QUIET_DEFAULTS + "params:\n  - {name: a, region: us-west-2}\n  - {name: b}\n")
    assert runs[1].fingerprint == moved[1].fingerprint  # a placed region is not identity
    pinned = _runs(check, "regions: [eu-west-1]\n" + QUIET_DEFAULTS + "params:\n  - {name: a, region: us-east-1}\n  - {name: b}\n")
    assert runs[0].fingerprint != pinned[0].fingerprint


def test_expand_fingerprint_follows_what_determines_the_result_only(check: CheckSweep) -> None:
    def fingerprint(extra: str = "", region: str = "", run: str = "name: a, lr: 0.1") -> str:
        return _runs(check, QUIET_DEFAULTS + region + f"params:\n  - {{{run}, {extra}}}\n")[0].fingerprint

    base = fingerprint()
    assert len(base) == 12 and int(base, 16) >= 0
    # Limits and policies (DESIGN §3): raising a ttl must not run finished runs again.
    kept = (
        "ttl: 400h", "idle_timeout: 1h", "volume_size: 100", "max_attempts: 5", "max_interruptions: 2", "retry_failed: true",
        "spot: false, on_complete: stop", "spot_max_price: 0.5", "tags: {team: ml}", "iam_policy: s3:ReadOnly",
        "iam_managed_policies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess']", "iam_instance_profile: mine",
        "subnet_id: subnet-0123456789abcdef0", "security_group_ids: [sg-0123456a]", "key_name: mine",
    )  # fmt: skip
    for change in kept:
        assert fingerprint(change) == base, change
    assert fingerprint(region="regions: [eu-west-1]\n") == base  # a placed region is not identity
    changed = (
        "instance_type: m7i.xlarge", "arch: arm64", "ami: ami-0123456789abcdef0", "ami: dlami-gpu", "user_data: ./train2.sh",
        "output_dir: /out", "region: eu-west-1", "region: us-east-1", "lr2: 1",
    )  # fmt: skip
    for change in changed:
        assert fingerprint(change) != base, change
    assert fingerprint(run="name: a, lr: 0.2") != base
    assert fingerprint(run="name: b, lr: 0.1") != base


def test_expand_regional_values_resolve_per_region(check: CheckSweep) -> None:
    runs = _runs(check, "regions: [us-east-1, eu-west-1]\n" + QUIET_DEFAULTS + (
        "  ami: {us-east-1: ami-0000000000000000a, eu-west-1: ami-0000000000000000b}\n"
        "  security_group_ids: {us-east-1: sg-0123456a, eu-west-1: [sg-0123456b, sg-0123456c]}\n"
        "name_template: r-{i}\ngrid:\n  i: [0, 1, 2, 3, 4, 5, 6, 7]\n"
    ))  # fmt: skip
    for run in runs:
        expected = {
            "us-east-1": ("ami-0000000000000000a", ("sg-0123456a",)),
            "eu-west-1": ("ami-0000000000000000b", ("sg-0123456b", "sg-0123456c")),
        }
        assert (run.settings.ami, run.settings.security_group_ids) == expected[run.region]


def test_expand_one_regional_id_in_two_regions_is_an_error(check: CheckSweep) -> None:
    checked = check(
        "regions: [us-east-1, eu-west-1]\n" + QUIET_DEFAULTS + "  key_name: mine\nname_template: r-{i}\ngrid:\n  i: [0, 1, 2, 3, 4, 5]\n"
    )
    assert codes(checked) == [("regional-id", 6, 13)]
    alias = check(
        "regions: [us-east-1, eu-west-1]\n" + QUIET_DEFAULTS + "  ami: al2023\nname_template: r-{i}\ngrid:\n  i: [0, 1, 2, 3, 4, 5]\n"
    )
    assert alias.diagnostics == ()


def test_expand_settings_defaults_and_rules(check: CheckSweep) -> None:
    runs = _runs(check, QUIET_DEFAULTS + "params:\n  - {name: a}\n  - {name: b, spot: false, on_complete: stop, spot_max_price: 0.5}\n")
    first, second = (run.settings for run in runs)
    assert (first.spot, first.on_complete, first.ami, first.max_attempts, first.max_interruptions) == (True, "terminate", "al2023", 3, 10)
    assert (first.ttl_seconds, first.output_dir, first.script) == (7200, "/opt/spawn/output", "./train.sh")
    assert (second.spot, second.on_complete, second.spot_max_price_usd) == (False, "stop", "0.5")


def test_expand_warnings_for_unbounded_and_broad_runs(check: CheckSweep) -> None:
    checked = check("defaults:\n  iam_policy: s3:FullAccess\nparams:\n  - {name: a}\n")
    assert sorted(d.code for d in checked.diagnostics) == ["full-access-policy", "no-instance-type", "no-ttl", "no-workload"]
    assert checked.runs is not None and checked.runs[0].settings.instance_type == "t3.micro"


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [("g5.xlarge", Arch.X86_64), ("g5g.xlarge", Arch.ARM64), ("m7gd.large", Arch.ARM64), ("c7gn.large", Arch.ARM64),
     ("a1.large", Arch.ARM64), ("im4gn.large", Arch.ARM64), ("m7i.large", Arch.X86_64), ("p5en.48xlarge", Arch.X86_64),
     ("t4g.micro", Arch.ARM64), ("c6in.large", Arch.X86_64)],
)  # fmt: skip
def test_arch_of_instance_family(instance_type: str, arch: Arch) -> None:
    assert arch_of(instance_type) is arch


def test_parse_duration_units() -> None:
    assert [parse_duration(text) for text in ("30m", "6h", "1h30m", "1d", "90s", "1d2h3m4s")] == [1800, 21600, 5400, 86400, 90, 93784]


def test_env_text_of_each_kind_of_value() -> None:
    assert [env_text(value) for value in (True, False, "x y", 3, 0.5)] == ["true", "false", "x y", "3", "0.5"]
    assert env_text({"b": ["é", 1], "a": None}) == '{"a":null,"b":["é",1]}'  # compact, keys sorted, text as written


def test_env_name_mapping() -> None:
    assert [env_name(key) for key in ("learning_rate", "model-name", "x")] == ["LEARNING_RATE", "MODEL_NAME", "X"]


def test_expand_misspelt_size_of_a_known_family_is_an_error_without_gpu_warning(check: CheckSweep) -> None:
    checked = check("defaults:\n  instance_type: g5.xlarg\n  ttl: 2h\n  user_data: ./train.sh\nparams:\n  - {name: a}\n")
    assert codes(checked) == [("unknown-instance-type", 2, 18)]
    assert checked.runs is None
    [diagnostic] = checked.diagnostics
    assert diagnostic.is_error and diagnostic.hint is not None and "'g5.xlarge'" in diagnostic.hint


def test_expand_unknown_family_is_only_a_warning(check: CheckSweep) -> None:
    checked = check("defaults:\n  instance_type: x9z.large\n  ttl: 2h\n  user_data: ./train.sh\nparams:\n  - {name: a}\n")
    assert codes(checked) == [("unknown-instance-type", 2, 18)]
    assert checked.runs is not None and not checked.diagnostics[0].is_error


def test_expand_ttl_above_a_week_warns(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "params:\n  - {name: a, ttl: 400d}\n  - {name: b, ttl: 7d}\n")
    assert codes(checked) == [("long-ttl", 6, 20)]
    assert checked.runs is not None


def test_expand_admin_managed_policies_warn(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + (
        "  iam_managed_policies: ['arn:aws:iam::aws:policy/AdministratorAccess', 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess',\n"
        "    'arn:aws:iam::aws:policy/PowerUserAccess', 'arn:aws:iam::aws:policy/IAMFullAccess',\n"
        "    'arn:aws:iam::123456789012:policy/AdministratorAccess']\nparams:\n  - {name: a}\n"
    ))  # fmt: skip
    assert [d.code for d in checked.diagnostics] == ["admin-managed-policy"] * 3
    assert checked.runs is not None


def test_expand_scoped_shorthands_are_checked(check: CheckSweep) -> None:
    good = check(QUIET_DEFAULTS + "  iam_policy: 's3:ReadOnly, s3:ReadOnly:my-bucket/data, s3:WriteOnly:my-bucket/out/*, logs:WriteOnly:/x'\n"
                 "params:\n  - {name: a}\n")  # fmt: skip
    assert good.diagnostics == ()  # unscoped s3:ReadOnly stays valid without a warning (spawn's files use it)
    bad = check(QUIET_DEFAULTS + "  iam_policy: 's3:ReadOnly:Bad_Bucket, sqs:ReadOnly:q, s3:WriteOnly, s3:ReadOnly:1.2.3.4'\n"
                "params:\n  - {name: a}\n")  # fmt: skip
    assert sorted(d.code for d in bad.diagnostics) == ["bad-iam-scope", "bad-iam-scope", "bad-iam-scope", "unscoped-write-policy"]


def test_expand_script_writing_where_the_role_cannot_warns(check: CheckSweep) -> None:
    def write_codes(settings: str) -> list[str]:
        text = (
            "results: s3://team/sweeps\ndefaults:\n  instance_type: m7i.large\n  ttl: 2h\n"
            "  user_data: |\n    set -e\n    aws s3 cp /tmp/eval.json s3://results/$NAME/early-stopped.json\n"
            "    aws s3 cp m.pth s3://team/sweeps/sweep/$NAME/m.pth\n" + settings + "params:\n  - {name: a}\n"
        )
        return [d.code for d in check(text).diagnostics]

    assert write_codes("") == ["script-write-denied"]  # the how-to's early stopping: no iam_policy, fails at `aws s3 cp`
    assert write_codes("  iam_policy: s3:WriteOnly:results\n") == []
    assert write_codes("  iam_policy: s3:WriteOnly:other-bucket\n") == ["script-write-denied"]
    assert write_codes("  iam_policy: s3:WriteOnly:results/other\n") == []  # $NAME/… might lie under other/: cannot tell
    assert write_codes("  iam_policy: s3:FullAccess\n") == ["full-access-policy"]
    assert write_codes("  iam_managed_policies: ['arn:aws:iam::aws:policy/AmazonS3FullAccess']\n") == []  # cannot know: no warning


def test_expand_runs_with_equal_settings_share_one_settings_object(check: CheckSweep) -> None:
    # Later stages make each settings' lines, records and roles once, by identity.
    runs = _runs(check, QUIET_DEFAULTS + "name_template: r-{index}\ngrid:\n  region: [us-east-1, eu-west-1]\n  i: [1, 2]\n"
                        "params:\n  - {name: p, i: 3, region: us-west-2}\n")  # fmt: skip
    assert len({id(run.settings) for run in runs}) == 1
    other = _runs(check, QUIET_DEFAULTS + "name_template: r-{index}\ngrid:\n  ttl: [1h, 2h]\n")
    assert other[0].settings is not other[1].settings and other[0].settings.ttl_seconds == 3600


def test_expand_name_template_fields_keep_numbers_and_write_the_rest_as_text(check: CheckSweep) -> None:
    runs = _runs(check, QUIET_DEFAULTS + 'name_template: "r-{i:03d}-{flag}-{lr}"\nparams:\n  - {i: 7, flag: true, lr: 1e-4, u: {a: b}}\n')
    assert runs[0].name == "r-007-true-1e-4"  # numbers as numbers (and as written); booleans as their environment text


def test_expand_grid_values_are_checked_once_each(check: CheckSweep) -> None:
    token = "ghp_" + "a" * 36
    checked = check(QUIET_DEFAULTS + f"name_template: r-{{index}}\ngrid:\n  i: [1, 2, 3]\n  k: [plain, '{token}']\n")
    assert checked.runs is not None
    assert [(d.code, d.span.line if d.span else None) for d in checked.diagnostics] == [("secret-value", 8)]
