"""A sweep with early_stopping ships the rule to its runs (DESIGN §12): the rule's settings and its module's
code object in every run's user-data, the module itself (spawn_tf/stopping.py, byte for byte) uploaded by
every root under S/_code/<sha256>.py, and roles that may report progress and read the module, only in
their own sweep. Planned by real Terraform, offline; the policies evaluated by tests/support/iam_eval.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import tfharness as tfh
from iam_eval import allowed
from offline import compile_sweep, plan_root

from spawn_tf import contract, stopping
from spawn_tf.userdata import user_data

SWEEP = """\
sweep: es
results: s3://bucket/sweeps
regions: [us-east-1, eu-west-1]
early_stopping: {metric: loss, mode: min, rule: asha, reduction_factor: 2}
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: python train.py
params:
  - {name: a, x: 1}
  - {name: b, x: 2, setup: 'pip install x', iam_policy: sqs:ReadOnly}
"""
MODULE = (Path(stopping.__file__)).read_bytes()
SHA = hashlib.sha256(MODULE).hexdigest()
OBJECTS = "arn:aws:s3:::bucket/"


def _planned(tmp_path: Path, text: str = SWEEP) -> tuple[object, Path, dict[str, dict]]:
    checked, build = compile_sweep(text, tmp_path)
    assert checked.plan is not None
    return checked, build, {root.name: tfh.planned_inputs(plan_root(build / root.name, tmp_path / f"off-{root.name}")) for root in checked.plan.roots}


def test_every_root_uploads_the_rule_module_and_every_run_names_it(tmp_path: Path) -> None:
    checked, build, planned = _planned(tmp_path)
    assert len(planned) == 2
    for root, inputs in planned.items():
        assert (build / root / contract.CODE_DIR / f"{SHA}{contract.MODULE_SUFFIX}").read_bytes() == MODULE
        upload = inputs[f'aws_s3_object.code["{SHA}{contract.MODULE_SUFFIX}"]']
        assert upload["key"] == contract.code_key("sweeps/es", SHA, contract.MODULE_SUFFIX)
        assert upload["source_hash"] == SHA and upload["tags"][contract.TAG_CODE] == SHA
    settings = {"metric": "loss", "mode": "min", "rule": "asha", "min_step": 1, "min_runs": 3, "grace": 1, "reduction_factor": 2}
    for run in checked.runs:
        text = user_data(checked.plan, run)
        assert f"{contract.ENV_EARLY_STOPPING}='{json.dumps(settings, sort_keys=True)}'" in text
        assert f"{contract.ENV_STOPPING_SHA256}='{SHA}'" in text


def test_without_early_stopping_no_rule_is_shipped(tmp_path: Path) -> None:
    checked, build, planned = _planned(tmp_path, SWEEP.replace("early_stopping: {metric: loss, mode: min, rule: asha, reduction_factor: 2}\n", ""))
    for root, inputs in planned.items():
        assert not (build / root / contract.CODE_DIR / f"{SHA}{contract.MODULE_SUFFIX}").exists()
        assert not any(SHA in address for address in inputs)
    assert not any(f"{contract.ENV_EARLY_STOPPING}=" in user_data(checked.plan, run) for run in checked.runs)  # (agent.json names it)


def test_roles_may_report_progress_and_read_the_rule_in_their_own_sweep_only(tmp_path: Path) -> None:
    _, _, planned = _planned(tmp_path)
    policies = [json.loads(value["policy"]) for inputs in planned.values() for address, value in inputs.items()
                if address.startswith("aws_iam_role_policy.run[")]  # fmt: skip
    assert len(policies) == 2  # a role for `a`, and one for `b` (which also prepares its environment), each in its root
    report = "sweeps/es/_progress/loss/0000000003/a=0.5,0.7,0.5"
    for policy in policies:
        assert allowed(policy, "s3:PutObject", OBJECTS + report)
        assert allowed(policy, "s3:ListBucket", "arn:aws:s3:::bucket", {"s3:prefix": "sweeps/es/_progress/loss/0000000003/"})
        module = f"sweeps/es/_code/{SHA}.py"
        assert allowed(policy, "s3:GetObject", OBJECTS + module, {f"s3:ExistingObjectTag/{contract.TAG_CODE}": SHA})
        # Not: another code object, writing code, another sweep's progress.
        other = "0" * 64
        assert not allowed(policy, "s3:GetObject", f"{OBJECTS}sweeps/es/_code/{other}.py", {f"s3:ExistingObjectTag/{contract.TAG_CODE}": other})
        assert not allowed(policy, "s3:GetObject", OBJECTS + module)  # an untagged object
        assert not allowed(policy, "s3:PutObject", OBJECTS + module)
        assert not allowed(policy, "s3:PutObject", OBJECTS + report.replace("sweeps/es/", "sweeps/other/"))
        assert not allowed(policy, "s3:ListBucket", "arn:aws:s3:::bucket", {"s3:prefix": "sweeps/other/_progress/loss/0000000003/"})
        assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::elsewhere/" + report)
