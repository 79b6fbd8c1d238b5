"""iam.tf.json: the runs' roles, their instance profiles and policies, scoped to the sweep (DESIGN §4)."""

from __future__ import annotations

from typing import Any

from spawn_tf import contract, iam
from spawn_tf.emit.code import code_statements
from spawn_tf.emit.hcl import Expr, Template
from spawn_tf.plan import IamSpec, Plan, Root


def iam_document(plan: Plan, root: Root, sweep_tags: dict[str, str]) -> dict[str, Any]:
    """iam.tf.json: one role, instance profile and inline policy per distinct IAM setting of the root's runs."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    policies = {key: _policy(plan, root, spec) for key, spec in root.specs.items()}
    attachments = {f"{key}/{arn}": {"role": key, "arn": arn} for key in sorted(root.specs) for arn in root.specs[key].managed_policies}
    resources: dict[str, Any] = {
        "aws_iam_role": {
            "run": {
                "for_each": Expr("local.roles"),
                "name": Expr("each.value"),
                "assume_role_policy": Expr("jsonencode(local.trust_policy)"),
                "tags": sweep_tags,
            }
        },
        "aws_iam_role_policy": {
            "run": {
                "for_each": Expr("local.roles"),
                "name": contract.RUN_POLICY_NAME,
                "role": Expr("aws_iam_role.run[each.key].name"),
                "policy": Expr("jsonencode(local.policies[each.key])"),
            }
        },
        "aws_iam_instance_profile": {
            "run": {"for_each": Expr("local.roles"), "name": Expr("each.value"), "role": Expr("aws_iam_role.run[each.key].name")}
        },
    }
    if attachments:
        resources["aws_iam_role_policy_attachment"] = {
            "run": {
                "for_each": Expr("local.policy_attachments"),
                "role": Expr("aws_iam_role.run[each.value.role].name"),
                "policy_arn": Expr("each.value.arn"),
            }
        }
    return {
        "locals": {"roles": dict(root.roles), "trust_policy": trust, "policies": policies, "policy_attachments": attachments},
        "resource": resources,
    }


def _policy(plan: Plan, root: Root, spec: IamSpec) -> dict[str, Any]:
    """The agent's own statements, scoped to this sweep, then the shorthands asked for (DESIGN §4)."""
    arn = Template(("arn:", Expr("data.aws_partition.current.partition"), ":"))
    bucket = Expr("local.results_bucket")
    folder = plan.sweep_folder
    own_instances = Template((*arn.parts, f"ec2:{root.region}:", Expr("data.aws_caller_identity.current.account_id"), ":instance/*"))
    only_this_sweep = {"StringEquals": {f"aws:ResourceTag/{contract.TAG_SWEEP}": plan.sweep.id}}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "SweepObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": Template((*arn.parts, "s3:::", bucket, f"/{folder}/*")),
        },
        {
            "Sid": "SweepListing",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": Template((*arn.parts, "s3:::", bucket)),
            "Condition": {"StringLike": {"s3:prefix": [f"{folder}/*"]}},
        },
        {
            "Sid": "StatusTag",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": own_instances,
            "Condition": {**only_this_sweep, "ForAllValues:StringEquals": {"aws:TagKeys": [contract.TAG_STATUS]}},
        },
    ]
    if spec.can_stop:
        statements.append(
            {
                "Sid": "StopWhenDone",
                "Effect": "Allow",
                "Action": "ec2:StopInstances",
                "Resource": own_instances,
                "Condition": only_this_sweep,
            }
        )
    if plan.archives or plan.modules:
        statements += code_statements(plan, spec.code, arn, bucket)
    statements += iam.ecr_statements(spec.images, lambda resource: Template((*arn.parts, resource)))
    for shorthand in spec.shorthands:
        statements += iam.shorthand_statements(shorthand, lambda resource: Template((*arn.parts, resource)))
    return {"Version": "2012-10-17", "Statement": statements}
