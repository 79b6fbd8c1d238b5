"""Real Terraform evaluates the compiled expressions: user-data, AMIs, tags and policies come out as intended."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import tfharness as tfh
from offline import ACCOUNT_ID, AMI_BY_ALIAS, compile_sweep, plan_root

from spawn_tf.userdata import size_limit, user_data

HOSTILE = """\
sweep: hostile
results: s3://hostile-bucket/p
regions: [us-east-1, eu-west-1]
defaults:
  instance_type: m7i.large
  ttl: 90m
  iam_policy: s3:ReadOnly
  user_data: |
    #!/bin/bash
    echo "${HOME} %{ if true }x%{ endif } `date` $(id) '$NAME'" > "$SPAWN_OUTPUT_DIR/out"
  tags: {team: "ml ${x}"}
params:
  - name: dollar
    greeting: "${HOME} and $${x}"
    directive: "%{ if true }x%{ endif }"
  - name: quotes
    q: "it's \\"quoted\\" `tick` $(sub) ; rm -rf /"
    nl: "line1\\nline2"
  - name: arm
    instance_type: c7g.large
    looks_like_ref: "${aws_instance.run.id} data.aws_ssm_parameter.ami.value"
  - name: pinned
    region: eu-west-1
    ami: {eu-west-1: ami-0fedcba9876543210}
"""


def test_terraform_computes_the_same_user_data_as_spawn_tf(tmp_path: Path) -> None:
    checked, build = compile_sweep(HOSTILE, tmp_path)
    assert checked.plan is not None and checked.runs is not None
    planned: dict[str, dict] = {}
    for root in checked.plan.roots:
        plan = plan_root(build / root.name, tmp_path / f"offline-{root.name}")
        planned.update(tfh.planned_inputs(plan))
    instances = {address.split('"')[1]: value for address, value in planned.items() if address.startswith("aws_instance.run[")}
    assert sorted(instances) == sorted(run.name for run in checked.runs)
    for value in instances.values():  # the agent with its helper is over 16 KB raw: Terraform compresses it
        if value.get("user_data") is None:
            value["user_data"] = gzip.decompress(base64.b64decode(value["user_data_base64"])).decode()
    for run in checked.runs:
        expected = user_data(checked.plan, run, ACCOUNT_ID)
        assert instances[run.name]["user_data"] == expected, run.name
    assert "export GREETING='${HOME} and $${x}'\n" in instances["dollar"]["user_data"]
    assert "export DIRECTIVE='%{ if true }x%{ endif }'\n" in instances["dollar"]["user_data"]
    assert instances["dollar"]["user_data"].endswith(
        'echo "${HOME} %{ if true }x%{ endif } `date` $(id) \'$NAME\'" > "$SPAWN_OUTPUT_DIR/out"\n'
    )


def test_terraform_resolves_amis_tags_profiles_and_networks(tmp_path: Path) -> None:
    checked, build = compile_sweep(HOSTILE, tmp_path)
    assert checked.plan is not None
    by_run = {}
    for root in checked.plan.roots:
        plan = plan_root(build / root.name, tmp_path / f"offline-{root.name}")
        inputs = tfh.planned_inputs(plan)
        by_run.update({address.split('"')[1]: value for address, value in inputs.items() if address.startswith("aws_instance.run[")})
    arm = by_run["arm"]
    assert arm["ami"] == AMI_BY_ALIAS["al2023/arm64"]
    assert by_run["pinned"]["ami"] == "ami-0fedcba9876543210"
    assert arm["tags"] == {
        "Name": "hostile/arm", "team": "ml ${x}", "spawn:sweep": "hostile", "spawn:run": "arm", "spawn:index": str(2),
        "spawn:fingerprint": next(run.fingerprint for run in checked.runs or () if run.name == "arm"),
        "spawn:managed-by": "spawn-tf", "spawn:ttl": "5400s",
    }  # fmt: skip
    assert arm["volume_tags"] == arm["tags"]
    assert arm["vpc_security_group_ids"] == ["sg-default"]
    assert arm["iam_instance_profile"].startswith("spawn-tf-hostile-")
    spot = {"instance_interruption_behavior": "terminate", "max_price": None, "spot_instance_type": "one-time"}
    assert arm["instance_market_options"] == {"market_type": "spot", "spot_options": spot}
    assert arm["metadata_options"]["http_tokens"] == "required"


def test_terraform_renders_the_policies(tmp_path: Path) -> None:
    _, build = compile_sweep(HOSTILE, tmp_path)
    plan = plan_root(build / "us-east-1", tmp_path / "offline")
    inputs = tfh.planned_inputs(plan)
    [policy_input] = [value for address, value in inputs.items() if address.startswith("aws_iam_role_policy.run[")]
    policy = json.loads(policy_input["policy"])
    assert policy["Statement"][0]["Resource"] == "arn:aws:s3:::hostile-bucket/p/hostile/*"
    assert policy["Statement"][2]["Resource"] == f"arn:aws:ec2:us-east-1:{ACCOUNT_ID}:instance/*"
    [role] = [value for address, value in inputs.items() if address.startswith("aws_iam_role.run[")]
    assert json.loads(role["assume_role_policy"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_large_user_data_is_compressed_by_terraform(tmp_path: Path) -> None:
    script = "#!/bin/bash\n" + "".join(f"echo 'step {i}: ${{HOME}} %{{x}}'\n" for i in range(800))  # ~25 KB raw, compresses well
    text = "sweep: big\ndefaults:\n  instance_type: m7i.large\n  ttl: 1h\n  user_data: |\n" + "".join(
        f"    {line}\n" for line in script.splitlines()
    )
    text += "params:\n  - {name: a, x: 1}\n"
    checked, build = compile_sweep(text, tmp_path)
    assert checked.plan is not None and checked.runs is not None
    [sizes] = checked.sizes.values()
    assert sizes.compressed and sizes.largest.size <= size_limit(compressed=True) and sizes.too_large == ()
    plan = plan_root(build / "us-east-1", tmp_path / "offline")
    [instance] = [value for address, value in tfh.planned_inputs(plan).items() if address.startswith("aws_instance.run[")]
    assert "user_data" not in instance or instance["user_data"] is None
    unpacked = gzip.decompress(base64.b64decode(instance["user_data_base64"])).decode()
    assert unpacked == user_data(checked.plan, checked.runs[0], ACCOUNT_ID)
    assert len(gzip.compress(unpacked.encode())) < 16384
