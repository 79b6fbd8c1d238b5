"""The instance roles planned by real Terraform, offline: managed policies attached to the role that asks
for them, and the inline policies as IAM receives them (tests/unit/test_iam_policy.py has the compiled side)."""

from __future__ import annotations

import json
from pathlib import Path

import tfharness as tfh
from offline import compile_sweep, plan_root
from unit.test_iam_policy import MANAGED, SWEEP


def test_managed_policy_attachments_plan_offline(tmp_path: Path) -> None:
    checked, build = compile_sweep(SWEEP, tmp_path)
    planned = tfh.planned_inputs(plan_root(build / "us-east-1", tmp_path / "off"))
    roles = {address: inputs["name"] for address, inputs in planned.items() if address.startswith("aws_iam_role.run[")}
    attachments = {address: inputs for address, inputs in planned.items() if address.startswith("aws_iam_role_policy_attachment.run[")}
    assert len(roles) == 3 and len(attachments) == 2
    role_of_managed = {run.name: run for run in checked.runs or ()}["managed"]
    managed_role = next(inputs for address, inputs in planned.items() if address == f'aws_instance.run["{role_of_managed.name}"]')[
        "iam_instance_profile"
    ]
    assert {inputs["policy_arn"] for inputs in attachments.values()} == set(MANAGED)
    assert {inputs["role"] for inputs in attachments.values()} == {managed_role}
    assert managed_role in roles.values()


def test_planned_inline_policies_allow_only(tmp_path: Path) -> None:
    _, build = compile_sweep(SWEEP, tmp_path)
    planned = tfh.planned_inputs(plan_root(build / "us-east-1", tmp_path / "off"))
    policies = [json.loads(inputs["policy"]) for address, inputs in planned.items() if address.startswith("aws_iam_role_policy.run[")]
    assert len(policies) == 3
    statements = [s for policy in policies for s in policy["Statement"]]
    assert {s["Effect"] for s in statements} == {"Allow"}
    assert {s["Resource"] for s in statements if s["Sid"] == "SweepObjects"} == {"arn:aws:s3:::pol-bucket/team/pol/*"}
