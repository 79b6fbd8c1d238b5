"""The vendored AWS provider schema extract, and the checker in tests/support/provider_schema.py that uses it."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from provider_schema import SCHEMA_PATH, check_root, interpolations, is_template, load_schema

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "compiled"


def _emitted(block: str) -> set[str]:
    """Every AWS type the compiler emits in the golden roots, as resources or as data sources."""
    return {kind for path in GOLDEN.rglob("*.tf.json") for kind in json.loads(path.read_text()).get(block, {}) if kind.startswith("aws_")}


# ------------------------------------------------------------------------------------------ the extract itself


def _check_type_expr(type_expr: Any, where: str) -> None:
    if isinstance(type_expr, str):
        assert type_expr in {"string", "number", "bool", "dynamic"}, where
        return
    kind, inner = type_expr
    assert kind in {"list", "set", "map", "object"}, where
    if kind == "object":
        for name, field in inner.items():
            _check_type_expr(field, f"{where}.{name}")
    else:
        _check_type_expr(inner, where)


def _check_block(block: dict[str, Any], where: str) -> None:
    assert set(block) == {"attributes", "blocks"}, where
    for name, entry in block["attributes"].items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{where}.{name}"
        assert set(entry) <= {"type", "required", "computed", "write_only"}, f"{where}.{name}"
        assert isinstance(entry["required"], bool), f"{where}.{name}"
        assert entry.get("computed", True) is True, f"{where}.{name}"
        assert not (entry["required"] and entry.get("computed")), f"{where}.{name}"
        _check_type_expr(entry["type"], f"{where}.{name}")
    for name, entry in block["blocks"].items():
        assert name not in block["attributes"], f"{where}.{name}"
        assert set(entry) == {"nesting", "required", "block"}, f"{where}.{name}"
        assert entry["nesting"] in {"single", "list", "set"}, f"{where}.{name}"
        assert isinstance(entry["required"], bool), f"{where}.{name}"
        _check_block(entry["block"], f"{where}.{name}")


def test_extract_is_well_formed_and_deterministically_rendered() -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    schema = json.loads(text)
    assert text == json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert schema["provider"] == "hashicorp/aws"
    assert re.fullmatch(r"6\.\d+\.\d+", schema["provider_version"])
    assert re.fullmatch(r"cdktn-provider-aws \d+\.\d+\.\d+", schema["source_package"])
    assert schema["generated_by"] == "scripts/extract_provider_schema.py"
    assert set(schema) == {"provider", "provider_version", "source_package", "generated_by", "resources", "data_sources"}
    # the extract covers what spawn-tf emits (a type emitted only by rarer sweeps may be extra)
    assert _emitted("resource") <= set(schema["resources"])
    assert _emitted("data") <= set(schema["data_sources"])
    for section in ("resources", "data_sources"):
        for type_name, block in schema[section].items():
            _check_block(block, f"{section}.{type_name}")


def test_extract_knows_the_facts_spawn_tf_relies_on() -> None:
    schema = load_schema()
    instance = schema["resources"]["aws_instance"]
    market = instance["blocks"]["instance_market_options"]
    assert market["nesting"] == "single"
    assert market["block"]["attributes"]["market_type"] == {"type": "string", "required": False}
    spot = market["block"]["blocks"]["spot_options"]
    assert spot["nesting"] == "single"
    assert spot["block"]["attributes"]["max_price"] == {"type": "string", "required": False}
    assert spot["block"]["attributes"]["instance_interruption_behavior"]["type"] == "string"
    assert instance["blocks"]["metadata_options"]["block"]["attributes"]["http_tokens"]["type"] == "string"
    assert instance["blocks"]["root_block_device"]["block"]["attributes"]["encrypted"]["type"] == "bool"
    assert instance["blocks"]["root_block_device"]["block"]["attributes"]["volume_id"]["computed"] is True
    assert instance["attributes"]["vpc_security_group_ids"]["type"] == ["set", "string"]
    assert instance["attributes"]["public_ip"] == {"type": "string", "required": False, "computed": True}
    assert "region" in instance["attributes"]  # provider 6: per-resource region

    role_policy = schema["resources"]["aws_iam_role_policy"]["attributes"]
    assert {name for name, entry in role_policy.items() if entry["required"]} == {"policy", "role"}
    role = schema["resources"]["aws_iam_role"]["attributes"]
    assert role["arn"]["computed"] is True
    assert role["assume_role_policy"]["required"] is True
    assert "region" not in role  # IAM is global

    s3_objects = schema["data_sources"]["aws_s3_objects"]["attributes"]
    assert s3_objects["keys"] == {"type": ["list", "string"], "required": False, "computed": True}
    assert s3_objects["max_keys"] == {"type": "number", "required": False}
    assert s3_objects["prefix"] == {"type": "string", "required": False}
    assert s3_objects["bucket"] == {"type": "string", "required": True}
    assert schema["data_sources"]["aws_ssm_parameter"]["attributes"]["value"]["computed"] is True
    assert schema["data_sources"]["aws_subnet"]["attributes"]["vpc_id"]["type"] == "string"


# ------------------------------------------------------------------------------------------ the checker

POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/p/*"}]}'


def good_root() -> dict[str, dict[str, Any]]:
    """A small root in the shape DESIGN.md §4 describes; check_root finds nothing wrong with it."""
    main = {
        "//": "generated by spawn-tf; do not edit",
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 6.0"}}},
        "provider": {"aws": {"region": "us-east-1", "ignore_tags": {"keys": ["spawn:status"]}}},
        "locals": {"runs": {"lr-0.1": {"fingerprint": "abc", "instance_type": "g5.xlarge"}}, "active": "${local.runs}"},
        "data": {
            "aws_ssm_parameter": {"al2023": {"name": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"}},
            "aws_s3_objects": {
                "done": {"bucket": "results", "prefix": "sweeps/s1/_done/", "max_keys": 1000000, "region": "eu-west-1"},
            },
        },
        "resource": {
            "terraform_data": {"fp": {"for_each": "${local.active}", "input": "${each.value.fingerprint}"}},
            "aws_instance": {
                "run": {
                    "//": "one instance per active run",
                    "for_each": "${local.active}",
                    "ami": "${nonsensitive(data.aws_ssm_parameter.al2023.value)}",
                    "instance_type": "${each.value.instance_type}",
                    "iam_instance_profile": "${aws_iam_instance_profile.agent.name}",
                    "vpc_security_group_ids": ["${aws_security_group.agent.id}"],
                    "instance_initiated_shutdown_behavior": "terminate",
                    "user_data_base64": '${base64gzip(file("${path.module}/bootstrap.sh"))}',
                    "user_data_replace_on_change": False,
                    "instance_market_options": {
                        "market_type": "spot",
                        "spot_options": {
                            "instance_interruption_behavior": "terminate",
                            "spot_instance_type": "one-time",
                            "max_price": "0.50",
                        },
                    },
                    "metadata_options": {"http_tokens": "required", "http_endpoint": "enabled", "http_put_response_hop_limit": 2},
                    "root_block_device": [{"encrypted": True, "volume_size": "100", "volume_type": "gp3"}],
                    "tags": {"spawn:sweep": "s1", "spawn:run": "${each.key}", "Name": "$${not a template}"},
                    "volume_tags": {"spawn:sweep": "s1"},
                    "depends_on": ["aws_iam_role_policy.agent", "aws_iam_role_policy_attachment.managed"],
                    "lifecycle": {
                        "ignore_changes": ["ami", "user_data", "user_data_base64"],
                        "replace_triggered_by": ["terraform_data.fp[each.key]"],
                        "precondition": [{"condition": "${length(local.runs) > 0}", "error_message": "no runs"}],
                    },
                },
            },
        },
        "output": {"instance_ids": {"value": "${{for k, i in aws_instance.run : k => i.id}}"}},
    }
    iam = {
        "resource": {
            "aws_iam_role": {
                "agent": {
                    "name": "spawn-tf-s1-0123456789",
                    "assume_role_policy": '${jsonencode({Version = "2012-10-17", Statement = []})}',
                    "max_session_duration": 3600,
                }
            },
            "aws_iam_role_policy": {"agent": {"role": "${aws_iam_role.agent.id}", "policy": POLICY}},
            "aws_iam_role_policy_attachment": {
                "managed": {"role": "${aws_iam_role.agent.name}", "policy_arn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}
            },
            "aws_iam_instance_profile": {"agent": {"name": "spawn-tf-s1-0123456789", "role": "${aws_iam_role.agent.name}"}},
        },
    }
    network = {
        "data": {"aws_vpc": {"default": {"default": True}}},
        "resource": {
            "aws_security_group": {"agent": {"name_prefix": "spawn-tf-", "vpc_id": "${data.aws_vpc.default.id}", "region": "us-east-1"}},
            "aws_vpc_security_group_egress_rule": {
                "all_v4": {"security_group_id": "${aws_security_group.agent.id}", "ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"},
                "all_v6": {"security_group_id": "${aws_security_group.agent.id}", "ip_protocol": "-1", "cidr_ipv6": "::/0"},
            },
        },
        "check": {
            "listing_complete": {
                "assert": {"condition": "${length(data.aws_s3_objects.done.keys) < 1000000}", "error_message": "listing truncated"}
            }
        },
    }
    return {"main.tf.json": main, "iam.tf.json": iam, "network.tf.json": network}


def test_a_correct_root_passes() -> None:
    assert check_root(good_root()) == []


def _with(change: Any) -> list[str]:
    root = copy.deepcopy(good_root())
    change(root)
    return check_root(root)


def _instance(root: dict[str, Any]) -> dict[str, Any]:
    return root["main.tf.json"]["resource"]["aws_instance"]["run"]


def _role_policy(root: dict[str, Any]) -> dict[str, Any]:
    return root["iam.tf.json"]["resource"]["aws_iam_role_policy"]["agent"]


def _set_in(path: tuple[str, ...], key: str, value: Any) -> Any:
    def change(root: dict[str, Any]) -> None:
        target = _instance(root)
        for step in path:
            target = target[step]
        target[key] = value

    return change


MISTAKES = {
    "unknown attribute": (
        _set_in((), "instance_typ", "m7i.large"),
        "main.tf.json: resource.aws_instance.run.instance_typ: unknown argument or block",
    ),
    "missing required role": (
        lambda root: _role_policy(root).pop("role"),
        "iam.tf.json: resource.aws_iam_role_policy.agent: missing required argument 'role'",
    ),
    "required argument null": (
        lambda root: _role_policy(root).update(policy=None),
        "iam.tf.json: resource.aws_iam_role_policy.agent: missing required argument 'policy'",
    ),
    "number for a string": (
        _set_in(("instance_market_options", "spot_options"), "max_price", 0.5),
        'spot_options.max_price: expected string, got the JSON number 0.5 (write "0.5")',
    ),
    "true for a string": (
        _set_in((), "instance_initiated_shutdown_behavior", True),
        "run.instance_initiated_shutdown_behavior: expected string, got the JSON true",
    ),
    "word for a number": (
        _set_in(("metadata_options",), "http_put_response_hop_limit", "two"),
        'metadata_options.http_put_response_hop_limit: expected number, got the string "two"',
    ),
    "string for a bool": (
        _set_in((), "user_data_replace_on_change", "no"),
        "run.user_data_replace_on_change: expected bool, got the string",
    ),
    "wrong map value": (
        _set_in((), "tags", {"spawn:index": 3}),
        'run.tags["spawn:index"]: expected string, got the JSON number 3',
    ),
    "string for a list": (
        _set_in((), "vpc_security_group_ids", "sg-123"),
        'run.vpc_security_group_ids: expected set(string), got the string "sg-123"',
    ),
    "attribute given as a block": (
        _set_in((), "user_data", {"content": "echo hi"}),
        "run.user_data: expected string, got a JSON object (an attribute, not a block)",
    ),
    "block given as an attribute": (
        _set_in((), "metadata_options", "required"),
        "run.metadata_options: is a single block: give a JSON object (one block) or an array of objects",
    ),
    "block given as an expression": (
        _set_in((), "root_block_device", "${local.rbd}"),
        "run.root_block_device: is a single block: an expression cannot stand for a block",
    ),
    "two items in a single block": (
        _set_in((), "root_block_device", [{"encrypted": True}, {"encrypted": True}]),
        "run.root_block_device: takes at most one block, got 2",
    ),
    "unknown block nested in instance_market_options": (
        _set_in(("instance_market_options",), "spot_option", {"max_price": "1"}),
        "resource.aws_instance.run.instance_market_options.spot_option: unknown argument or block (known: market_type, spot_options)",
    ),
    "unknown attribute in a nested block": (
        _set_in(("instance_market_options", "spot_options"), "price", "1"),
        "instance_market_options.spot_options.price: unknown argument or block",
    ),
    "computed-only attribute set": (
        _set_in((), "public_ip", "1.2.3.4"),
        "run.public_ip: computed-only attribute",
    ),
    "unknown resource type": (
        lambda root: root["main.tf.json"]["resource"].update(aws_instanse={"x": {}}),
        "main.tf.json: resource.aws_instanse.x: unknown resource type aws_instanse (not in the hashicorp/aws 6.",
    ),
    "unknown data source type": (
        lambda root: root["main.tf.json"]["data"].update(aws_ami={"x": {}}),
        "data.aws_ami.x: unknown data source type aws_ami",
    ),
    "type of another provider": (
        lambda root: root["main.tf.json"]["resource"].update(random_id={"x": {"byte_length": 4}}),
        "resource.random_id.x: unknown resource type random_id (no schema for its provider",
    ),
    "region on a global IAM resource": (
        lambda root: root["iam.tf.json"]["resource"]["aws_iam_role"]["agent"].update(region="us-east-1"),
        "resource.aws_iam_role.agent.region: unknown argument or block",
    ),
    "terraform_data with an unknown argument": (
        lambda root: root["main.tf.json"]["resource"]["terraform_data"]["fp"].update(triggers=["x"]),
        "resource.terraform_data.fp.triggers: unknown argument or block (known: input, triggers_replace)",
    ),
    "count with for_each": (
        _set_in((), "count", 2),
        "resource.aws_instance.run: count and for_each are mutually exclusive",
    ),
    "for_each over a literal array": (
        lambda root: root["main.tf.json"]["resource"]["terraform_data"]["fp"].update(for_each=["a", "b"]),
        "terraform_data.fp.for_each: expected a map or set expression",
    ),
    "unknown lifecycle key": (
        _set_in(("lifecycle",), "ignore_change", ["ami"]),
        "run.lifecycle.ignore_change: unknown in lifecycle",
    ),
    "ignore_changes names an unknown argument": (
        _set_in(("lifecycle",), "ignore_changes", ["ami", "userdata"]),
        "run.lifecycle.ignore_changes: 'userdata' is not an argument of this resource",
    ),
    "prevent_destroy as a string": (
        _set_in(("lifecycle",), "prevent_destroy", "true"),
        'run.lifecycle.prevent_destroy: expected a JSON boolean, got the string "true"',
    ),
    "precondition without error_message": (
        _set_in(("lifecycle",), "precondition", {"condition": "${true}"}),
        "run.lifecycle.precondition: missing 'error_message'",
    ),
    "depends_on an undeclared resource": (
        _set_in((), "depends_on", ["aws_iam_role_policy.agnet"]),
        "run.depends_on[0]: reference to aws_iam_role_policy.agnet, which this root does not declare",
    ),
    "reference to an unknown attribute": (
        _set_in((), "iam_instance_profile", "${aws_iam_instance_profile.agent.nam}"),
        "run.iam_instance_profile: aws_iam_instance_profile.agent has no attribute 'nam'",
    ),
    "reference to an undeclared data source": (
        _set_in((), "ami", "${data.aws_ssm_parameter.al2024.value}"),
        "run.ami: reference to data.aws_ssm_parameter.al2024, which this root does not declare",
    ),
    "for_each resource read without a key": (
        lambda root: root["main.tf.json"]["output"].update(first={"value": "${aws_instance.run.id}"}),
        "output.first.value: aws_instance.run has count or for_each: read 'id' of one instance, aws_instance.run[<key>].id",
    ),
    "unknown top-level key": (
        lambda root: root["main.tf.json"].update(resources={}),
        "main.tf.json: resources: unknown top-level block type",
    ),
    "declared twice": (
        lambda root: root["network.tf.json"]["resource"].update(
            aws_iam_role=copy.deepcopy(root["iam.tf.json"]["resource"]["aws_iam_role"])
        ),
        "resource.aws_iam_role.agent: declared more than once",
    ),
    "unknown dynamic block": (
        _set_in((), "dynamic", {"ebs_volume": {"for_each": "${local.vols}", "content": {}}}),
        "run.dynamic.ebs_volume: dynamic block of an unknown block type",
    ),
    "wrong type inside a dynamic block": (
        _set_in((), "dynamic", {"ebs_block_device": {"for_each": "${local.vols}", "content": {"device_name": "/dev/sdf", "iops": "fast"}}}),
        'run.dynamic.ebs_block_device.content.iops: expected number, got the string "fast"',
    ),
    "missing required argument in a list block": (
        _set_in((), "ebs_block_device", [{"volume_size": 10}]),
        "run.ebs_block_device[0]: missing required argument 'device_name'",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES), ids=list(MISTAKES))
def test_each_class_of_mistake_is_reported(mistake: str) -> None:
    change, expected = MISTAKES[mistake]
    problems = _with(change)
    assert any(expected in problem for problem in problems), problems
    assert len(problems) == 1, problems


ACCEPTED = {
    "template for a number": _set_in(("metadata_options",), "http_put_response_hop_limit", "${var.hops}"),
    "template for a bool": _set_in((), "monitoring", "${var.monitoring}"),
    "template for a list": _set_in((), "vpc_security_group_ids", "${local.sg_ids}"),
    "template for a map": _set_in((), "tags", "${merge(local.tags, {Name = each.key})}"),
    "number-like string for a number": _set_in(("metadata_options",), "http_put_response_hop_limit", "1"),
    "bool-like string for a bool": _set_in((), "monitoring", "false"),
    "null for an optional argument": _set_in((), "key_name", None),
    "one list block as an object": _set_in((), "ebs_block_device", {"device_name": "/dev/sdf", "volume_size": 10}),
    "single block as a one-item array": _set_in((), "metadata_options", [{"http_tokens": "required"}]),
    "comment inside a nested block": _set_in(("instance_market_options",), "//", "spot, one-time"),
    "comment at a label level": lambda root: root["main.tf.json"]["resource"]["aws_instance"].update({"//": "instances"}),
    "region on a regional resource": _set_in((), "region", "eu-west-1"),
    "provider alias": _set_in((), "provider", "aws.west"),
    "ignore_changes all": _set_in(("lifecycle",), "ignore_changes", "all"),
    "count template": lambda root: root["network.tf.json"]["resource"]["aws_vpc_security_group_egress_rule"]["all_v6"].update(
        count="${var.ipv6 ? 1 : 0}"
    ),
    "splat reference": lambda root: root["main.tf.json"]["output"].update(ids={"value": "${aws_instance.run[*].arn}"}),
    "for-expression variable with an underscore": lambda root: root["main.tf.json"]["locals"].update(
        idx="${{for run_name, run_info in local.runs : run_name => run_info.index}}"
    ),
    "reference to a block of a resource": lambda root: root["main.tf.json"]["output"].update(
        vol={"value": '${aws_instance.run["lr-0.1"].root_block_device[0].volume_id}'}
    ),
    "terraform_remote_state stand-in": lambda root: root["main.tf.json"]["data"].update(
        terraform_remote_state={"listing": {"backend": "local", "config": {"path": "state.json"}}}
    ),
    "dynamic block": _set_in(
        (), "dynamic", {"ebs_block_device": {"for_each": "${local.vols}", "content": {"device_name": "${ebs_block_device.key}"}}}
    ),
    "body split over an array": lambda root: root["iam.tf.json"]["resource"]["aws_iam_role_policy"].update(
        agent=[{"role": "${aws_iam_role.agent.id}"}, {"policy": POLICY}]
    ),
}


@pytest.mark.parametrize("case", list(ACCEPTED), ids=list(ACCEPTED))
def test_valid_terraform_json_is_accepted(case: str) -> None:
    assert _with(ACCEPTED[case]) == []


def test_problems_name_the_file_and_the_path() -> None:
    root = {"a.tf.json": {"resource": {"aws_iam_role_policy": {"p": {"role": 7, "policy": POLICY, "nmae": "x"}}}}}
    assert check_root(root) == [
        'a.tf.json: resource.aws_iam_role_policy.p.role: expected string, got the JSON number 7 (write "7")',
        "a.tf.json: resource.aws_iam_role_policy.p.nmae: unknown argument or block (known: id, name, name_prefix, policy, role)",
    ]


def test_template_detection_and_expression_extraction() -> None:
    assert is_template("${a}")
    assert is_template("x-%{ if a }y%{ endif }")
    assert not is_template("$${a} and %%{b}")
    assert not is_template("plain $ and { }")
    assert interpolations('a ${format("%s-${x}", "}")} b $${c} ${d}') == ['format("%s-${x}", "}")', "d"]
