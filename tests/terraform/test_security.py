"""Security defaults of every compiled root: IMDSv2, encryption, no inbound, explicit egress, scoped IAM."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from parliament import analyze_policy_string

from spawn_tf import contract
from spawn_tf.emit.terraform import IGNORED_CHANGES
from spawn_tf.pipeline import compile_file

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "compiled"
BROAD = """\
sweep: broad
results: s3://broad-bucket/team
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: ./run.sh
params:
  - {name: full, iam_policy: 's3:FullAccess,sqs:FullAccess'}
  - {name: managed, iam_managed_policies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess']}
  - {name: stopper, spot: false, on_complete: stop, iam_policy: [logs:WriteOnly, ssm:ReadOnly]}
  - {name: mine, iam_instance_profile: my-profile, security_group_ids: [sg-0123456789abcdef0], subnet_id: subnet-0123456789abcdef0}
  - {name: subnet, subnet_id: subnet-0fedcba9876543210}
"""
# Stand-ins for what only Terraform knows, to read the policies as IAM will see them.
KNOWN = {
    "${data.aws_partition.current.partition}": "aws",
    "${data.aws_caller_identity.current.account_id}": "123456789012",
}


def _roots() -> dict[str, dict[str, Any]]:
    roots: dict[str, dict[str, Any]] = {}
    for folder in sorted(GOLDEN.glob("*/*/")):
        roots[f"{folder.parent.name}/{folder.name}"] = {p.name: json.loads(p.read_text()) for p in folder.glob("*.tf.json")}
    return roots


def _broad_root(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "broad.yaml"
    path.write_text(BROAD)
    checked, files = compile_file(path)
    assert files is not None, [d.render() for d in checked.diagnostics]
    return {
        p.name: json.loads(content)
        for p, content in files.items()
        if p.parent == PurePosixPath("us-east-1") and p.name.endswith(".tf.json")
    }


def _all_roots(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {**_roots(), "broad/us-east-1": _broad_root(tmp_path)}


def _merged(documents: dict[str, Any], block: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for document in documents.values():
        for kind, items in document.get(block, {}).items():
            merged.setdefault(kind, {}).update(items) if isinstance(items, dict) else merged.__setitem__(kind, items)
    return merged


def _policies(documents: dict[str, Any]) -> dict[str, str]:
    locals_ = {key: value for document in documents.values() for key, value in document.get("locals", {}).items()}
    bucket = locals_["results_bucket"]
    out = {}
    for key, policy in locals_.get("policies", {}).items():
        text = json.dumps(policy)
        for expression, value in {**KNOWN, "${local.results_bucket}": bucket}.items():
            text = text.replace(expression, value)
        assert "${" not in text.replace("$${", ""), text
        out[key] = text
    return out


def test_every_instance_is_locked_down(tmp_path: Path) -> None:
    roots = _all_roots(tmp_path)
    assert len(roots) >= 10
    for name, documents in roots.items():
        instance = _merged(documents, "resource")["aws_instance"]["run"]
        assert instance["metadata_options"]["http_tokens"] == "required", name
        assert instance["root_block_device"]["encrypted"] is True, name
        assert instance["instance_initiated_shutdown_behavior"] == "terminate", name
        assert instance["user_data_replace_on_change"] is False, name
        triggers = ["terraform_data.fp[each.key]", f"{contract.CANDIDATE_RESOURCE}[each.key]"]  # a new fingerprint or candidate
        assert instance["lifecycle"] == {"ignore_changes": list(IGNORED_CHANGES), "replace_triggered_by": triggers}
        assert {"ami", "user_data", "user_data_base64", "subnet_id", "key_name"} <= set(IGNORED_CHANGES)
        assert "associate_public_ip_address" not in instance and "ebs_block_device" not in instance


def test_security_groups_have_no_inbound_and_explicit_egress(tmp_path: Path) -> None:
    for name, documents in _all_roots(tmp_path).items():
        resources = _merged(documents, "resource")
        groups = resources.get("aws_security_group", {})
        assert set(groups) == {"run"}, name
        assert "ingress" not in groups["run"] and "egress" not in groups["run"]
        assert "aws_vpc_security_group_ingress_rule" not in resources
        rules = resources["aws_vpc_security_group_egress_rule"]
        assert {rule.get("cidr_ipv4") or rule.get("cidr_ipv6") for rule in rules.values()} == {"0.0.0.0/0", "::/0"}
        assert all(rule["for_each"] == "${aws_security_group.run}" and rule["ip_protocol"] == "-1" for rule in rules.values())
        assert all(rule["description"] for rule in rules.values()), name  # checkov CKV_AWS_23


def test_policies_parse_lint_and_grant_no_wildcard_unless_asked(tmp_path: Path) -> None:
    checked_policies = 0
    for name, documents in _all_roots(tmp_path).items():
        for key, text in _policies(documents).items():
            policy = json.loads(text)
            statements = policy["Statement"]
            assert [s["Sid"] for s in statements[:3]] == ["SweepObjects", "SweepListing", "StatusTag"], name
            actions = [action for s in statements for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
            assert "*" not in actions
            wildcards = {action for action in actions if action.endswith(":*")}
            asked = {s["Sid"] for s in statements if "FullAccess" in s["Sid"]}
            assert bool(wildcards) == bool(asked), (name, key)
            # The agent's own statements are scoped: parliament finds nothing in them.
            agent = {
                "Version": "2012-10-17",
                "Statement": [s for s in statements if s["Sid"] in ("SweepObjects", "SweepListing", "StatusTag", "StopWhenDone")],
            }
            assert [f.issue for f in analyze_policy_string(json.dumps(agent)).findings] == [], (name, key)
            # Shorthands grant a service on every resource, as asked: that is the only finding.
            assert {f.issue for f in analyze_policy_string(text).findings} <= {"RESOURCE_STAR"}, (name, key)
            checked_policies += 1
    assert checked_policies >= 12


SCOPED = """\
sweep: scoped
results: s3://scoped-bucket/team
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: ./run.sh
  iam_policy: [s3:ReadOnly:data-bucket/train, s3:WriteOnly:out-bucket/runs/*, s3:FullAccess:scratch-bucket, logs:WriteOnly:/sweeps/scoped]
params:
  - {name: a}
"""


def test_scoped_shorthands_grant_only_their_bucket_prefix_and_log_group(tmp_path: Path) -> None:
    path = tmp_path / "scoped.yaml"
    path.write_text(SCOPED)
    checked, files = compile_file(path)
    assert files is not None, [d.render() for d in checked.diagnostics]
    documents = {p.name: json.loads(c) for p, c in files.items() if p.parent == PurePosixPath("us-east-1") and p.name.endswith(".tf.json")}
    [text] = _policies(documents).values()
    asked = [s for s in json.loads(text)["Statement"] if s["Sid"] not in ("SweepObjects", "SweepListing", "StatusTag")]
    grants = {(tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],), json.dumps(s["Resource"]), json.dumps(s.get("Condition")))
              for s in asked}  # fmt: skip
    assert grants == {
        (("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
         '["arn:aws:logs:*:*:log-group:/sweeps/scoped", "arn:aws:logs:*:*:log-group:/sweeps/scoped:log-stream:*"]', "null"),
        (("s3:GetObject", "s3:GetObjectVersion"), '"arn:aws:s3:::data-bucket/train/*"', "null"),
        (("s3:ListBucket",), '"arn:aws:s3:::data-bucket"', '{"StringLike": {"s3:prefix": ["train", "train/*"]}}'),
        (("s3:GetBucketLocation",), '"arn:aws:s3:::data-bucket"', "null"),
        (("s3:DeleteObject", "s3:PutObject", "s3:PutObjectAcl"), '"arn:aws:s3:::out-bucket/runs/*"', "null"),
        (("s3:*",), '"arn:aws:s3:::scratch-bucket/*"', "null"),
        (("s3:*",), '"arn:aws:s3:::scratch-bucket"', "null"),
    }  # fmt: skip
    assert len({s["Sid"] for s in asked}) == len(asked)  # Sids are unique in a policy
    # Scoped grants name their resources: parliament finds nothing in them, but that s3:* holds actions
    # on other kinds of resource (what FullAccess asks for).
    assert {f.issue for f in analyze_policy_string(text).findings} == {"RESOURCE_MISMATCH"}
    narrow = [s for s in json.loads(text)["Statement"] if s["Action"] != ["s3:*"]]
    assert analyze_policy_string(json.dumps({"Version": "2012-10-17", "Statement": narrow})).findings == []


def test_agent_statements_are_scoped_to_the_sweep(tmp_path: Path) -> None:
    documents = _broad_root(tmp_path)
    policies = {key: json.loads(text) for key, text in _policies(documents).items()}
    roles = {key: value for document in documents.values() for key, value in document.get("locals", {}).get("roles", {}).items()}
    assert len(roles) == 4 and all(len(name) <= contract.MAX_IAM_NAME_CHARS for name in roles.values())
    for policy in policies.values():
        objects, listing, tag = policy["Statement"][:3]
        assert objects["Resource"] == "arn:aws:s3:::broad-bucket/team/broad/*"
        assert listing["Condition"] == {"StringLike": {"s3:prefix": ["team/broad/*"]}}
        assert tag["Resource"] == "arn:aws:ec2:us-east-1:123456789012:instance/*"
        assert tag["Condition"] == {
            "StringEquals": {"aws:ResourceTag/spawn:sweep": "broad"},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["spawn:status"]},
        }
    stoppers = [p for p in policies.values() if any(s["Sid"] == "StopWhenDone" for s in p["Statement"])]
    assert len(stoppers) == 1
    [attachment] = _merged(documents, "locals")["policy_attachments"].values()
    assert attachment["arn"] == "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    assert attachment["role"] in roles


@pytest.mark.parametrize("root", sorted(_roots()))
def test_golden_root_instances_depend_on_their_policies(root: str) -> None:
    documents = _roots()[root]
    instance = _merged(documents, "resource")["aws_instance"]["run"]
    assert instance["depends_on"][0] == "aws_iam_role_policy.run"
