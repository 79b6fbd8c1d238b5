"""The instance roles a compiled root creates (emit/terraform.py, DESIGN §4): the agent's own statements,
the shorthands asked for, the managed policies attached, and the order IAM needs. Compiled, not planned:
tests/terraform/test_iam_plan.py plans the same resources with real Terraform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spawn_tf.pipeline import compile_file

SWEEP = """\
sweep: pol
results: s3://pol-bucket/team
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: ./run.sh
params:
  - {name: plain}
  - {name: managed, iam_policy: sqs:ReadOnly,
     iam_managed_policies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess', 'arn:aws:iam::123456789012:policy/Mine']}
  - {name: stopper, spot: false, on_complete: stop, iam_policy: 'logs:WriteOnly:/g'}
  - {name: mine, iam_instance_profile: my-profile}
"""
PARTITION = "arn:${data.aws_partition.current.partition}"
INSTANCES = f"{PARTITION}:ec2:us-east-1:${{data.aws_caller_identity.current.account_id}}:instance/*"
AGENT = [
    {"Sid": "SweepObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": f"{PARTITION}:s3:::${{local.results_bucket}}/team/pol/*"},
    {"Sid": "SweepListing", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"{PARTITION}:s3:::${{local.results_bucket}}",
     "Condition": {"StringLike": {"s3:prefix": ["team/pol/*"]}}},
    {"Sid": "StatusTag", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": INSTANCES,
     "Condition": {"StringEquals": {"aws:ResourceTag/spawn:sweep": "pol"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["spawn:status"]}}},
]  # fmt: skip
STOP = {"Sid": "StopWhenDone", "Effect": "Allow", "Action": "ec2:StopInstances", "Resource": INSTANCES,
        "Condition": {"StringEquals": {"aws:ResourceTag/spawn:sweep": "pol"}}}  # fmt: skip
SQS = {"Sid": "SqsReadOnly", "Effect": "Allow", "Resource": "*",
       "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueues", "sqs:ReceiveMessage"]}  # fmt: skip
LOGS = {"Sid": "LogsWriteOnlyACAFAA51", "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
        "Resource": [f"{PARTITION}:logs:*:*:log-group:/g", f"{PARTITION}:logs:*:*:log-group:/g:log-stream:*"]}  # fmt: skip
MANAGED = ("arn:aws:iam::123456789012:policy/Mine", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")


def compiled(tmp_path: Path, text: str = SWEEP) -> dict[str, dict[str, Any]]:
    """The region root's documents, by file name."""
    source = tmp_path / "sweep.yaml"
    source.write_text(text)
    checked, files = compile_file(source)
    assert files is not None, [d.render() for d in checked.diagnostics]
    return {path.name: json.loads(content) for path, content in files.items() if path.parent.name == "us-east-1" and path.suffix == ".json"}


def roles_by_run(documents: dict[str, dict[str, Any]]) -> dict[str, str]:
    """run name -> the key of its role in local.roles."""
    found = documents["locals.tf.json"]["locals"]
    profiles = {name: found["settings"][run["settings"]]["profile"] for name, run in found["run_values"].items()}
    return {name: profile.removeprefix("role:") for name, profile in profiles.items() if profile.startswith("role:")}


def test_each_role_grants_the_agent_then_what_its_runs_ask(tmp_path: Path) -> None:
    documents = compiled(tmp_path)
    role = roles_by_run(documents)
    policies = documents["iam.tf.json"]["locals"]["policies"]
    assert sorted(role) == ["managed", "plain", "stopper"]  # "mine" brings its own instance profile
    assert policies[role["plain"]] == {"Version": "2012-10-17", "Statement": AGENT}
    assert policies[role["managed"]] == {"Version": "2012-10-17", "Statement": [*AGENT, SQS]}
    assert policies[role["stopper"]] == {"Version": "2012-10-17", "Statement": [*AGENT, STOP, LOGS]}
    assert all(s["Effect"] == "Allow" for policy in policies.values() for s in policy["Statement"])


def test_roles_profiles_and_inline_policies(tmp_path: Path) -> None:
    iam = compiled(tmp_path)["iam.tf.json"]
    assert sorted(iam["locals"]["roles"].values()) == sorted(f"spawn-tf-pol-{h}" for h in ("fea9596646", "34d082ade5", "f564be4737"))
    assert iam["locals"]["trust_policy"] == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    resources = iam["resource"]
    assert resources["aws_iam_role"] == {"run": {
        "for_each": "${local.roles}", "name": "${each.value}", "assume_role_policy": "${jsonencode(local.trust_policy)}",
        "tags": {"spawn:sweep": "pol", "spawn:managed-by": "spawn-tf"},
    }}  # fmt: skip
    assert resources["aws_iam_role_policy"] == {"run": {
        "for_each": "${local.roles}", "name": "spawn-tf-run", "role": "${aws_iam_role.run[each.key].name}",
        "policy": "${jsonencode(local.policies[each.key])}",
    }}  # fmt: skip
    assert resources["aws_iam_instance_profile"] == {
        "run": {"for_each": "${local.roles}", "name": "${each.value}", "role": "${aws_iam_role.run[each.key].name}"}
    }


def test_managed_policies_are_attached_to_the_role_that_asks(tmp_path: Path) -> None:
    documents = compiled(tmp_path)
    role = roles_by_run(documents)["managed"]
    iam = documents["iam.tf.json"]
    assert iam["locals"]["policy_attachments"] == {f"{role}/{arn}": {"role": role, "arn": arn} for arn in MANAGED}
    assert iam["resource"]["aws_iam_role_policy_attachment"] == {"run": {
        "for_each": "${local.policy_attachments}", "role": "${aws_iam_role.run[each.value.role].name}", "policy_arn": "${each.value.arn}",
    }}  # fmt: skip
    # IAM is eventually consistent: an instance waits for its role's policies, attached ones included.
    assert documents["instances.tf.json"]["resource"]["aws_instance"]["run"]["depends_on"] == [
        "aws_iam_role_policy.run", "aws_iam_role_policy_attachment.run",
    ]  # fmt: skip


def test_no_attachment_without_managed_policies(tmp_path: Path) -> None:
    documents = compiled(tmp_path, SWEEP.replace("iam_managed_policies", "unused_key"))
    assert documents["iam.tf.json"]["locals"]["policy_attachments"] == {}
    assert "aws_iam_role_policy_attachment" not in documents["iam.tf.json"]["resource"]
    assert documents["instances.tf.json"]["resource"]["aws_instance"]["run"]["depends_on"] == ["aws_iam_role_policy.run"]
