"""Compile a sweep and plan one of its roots with real Terraform, offline (shared by the Terraform tests)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import tfharness as tfh

from spawn_tf import contract
from spawn_tf.emit.files import write_tree
from spawn_tf.pipeline import Checked, compile_file

ACCOUNT_ID = "123456789012"
AMI_BY_ALIAS = {
    "al2023/x86_64": "ami-0a1b2c3d4e5f60718",
    "al2023/arm64": "ami-0f0e0d0c0b0a09081",
    "dlami-gpu/x86_64": "ami-0123456789abcdef0",
}


def compile_sweep(text: str, folder: Path, name: str = "sweep.yaml") -> tuple[Checked, Path]:
    """Compile `text` into folder/build; return the check result and the sweep's build folder."""
    source = folder / name
    source.write_text(text, encoding="utf-8")
    checked, files = compile_file(source)
    assert files is not None and checked.plan is not None, [d.render() for d in checked.diagnostics]
    build = folder / "build" / checked.plan.sweep.id
    write_tree(build, files)
    return checked, build


def data_values(root: Path, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """What AWS would answer to each data source a compiled root reads."""
    values: dict[str, dict[str, Any]] = {
        "aws_caller_identity.current": {"account_id": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci", "user_id": "AIDA"},
        "aws_partition.current": {"partition": "aws", "dns_suffix": "amazonaws.com"},
    }
    text = "".join(path.read_text() for path in root.glob("*.tf.json"))
    if '"aws_vpc"' in text:
        values["aws_vpc.default"] = {"id": "vpc-0default"}
    values.update(placement_values(root))
    for listing in ("done", "attempts", "stop", "capacity"):
        values[f"aws_s3_objects.{listing}"] = {"keys": [], "common_prefixes": [], "owners": [], "request_charged": ""}
    if '"aws_ssm_parameter"' in text:
        values["aws_ssm_parameter.ami"] = {"value": "ami-00000000000000000"}
        values.update({f"aws_ssm_parameter.ami[{key}]": {"value": ami} for key, ami in AMI_BY_ALIAS.items()})
    values.update(extra or {})
    return values


def region_zones(root: Path) -> list[str]:
    """Three zones of the root's region."""
    region = json.loads((root / "terraform.tf.json").read_text())["provider"]["aws"]["region"]
    return [f"{region}{letter}" for letter in "abc"]


def placement_values(root: Path, zones: list[str] | None = None, offered: dict[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """Where instances may go: `zones` (default: three of the region) each with a default subnet `subnet-<zone>`;
    the zones offering each type (`offered`: type -> zones; default: every type the root asks about, in every zone);
    and each subnet a run names, in the first zone."""
    network = json.loads((root / "network.tf.json").read_text())
    zones = region_zones(root) if zones is None else zones
    if offered is None:
        asked = network["data"]["aws_ec2_instance_type_offerings"]["zones"]["filter"]["values"]
        offered = dict.fromkeys(asked, zones)
    pairs = [(instance_type, zone) for instance_type, where in offered.items() for zone in where]
    values: dict[str, dict[str, Any]] = {
        "aws_ec2_instance_type_offerings.zones": {
            "instance_types": [instance_type for instance_type, _ in pairs],
            "locations": [zone for _, zone in pairs],
            "location_types": ["availability-zone"] * len(pairs),
        }
    }
    subnets = network["data"].get("aws_subnet", {})
    if "zone" in subnets:
        values["aws_subnets.default"] = {"ids": [f"subnet-{zone}" for zone in zones]}
        values["aws_subnet.zone"] = {"availability_zone": "none"}  # (each id below has its own)
        values.update({f"aws_subnet.zone[subnet-{zone}]": {"availability_zone": zone} for zone in zones})
    if "run" in subnets:
        values["aws_subnet.run"] = {"vpc_id": "vpc-0subnet", "availability_zone": region_zones(root)[0]}
    return values


COMPUTED = {
    "aws_security_group.run": {"id": tfh.Raw("sg-${each.key}")},
    "aws_iam_role.run": {"arn": tfh.Raw("arn:aws:iam::123456789012:role/${each.value}")},
}


def plan_root(
    root: Path,
    dest: Path,
    state: dict[str, Any] | None = None,
    data: dict[str, dict[str, Any]] | None = None,
    outputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Plan an offline copy of a compiled root; returns Terraform's plan JSON.

    outputs: name -> expression (e.g. "${local.active}"), added to the copy as outputs, so that the
    plan's `planned_values.outputs` shows values the root keeps in locals.
    """
    text = "".join(path.read_text() for path in root.glob("*.tf.json"))
    computed = {key: value for key, value in COMPUTED.items() if f'"{key.split(".")[0]}"' in text}
    tfh.offline_copy(root, dest, data_values(root, data), computed, field="input")
    _with_sweep_order(root, dest)
    if outputs:
        (dest / "test_outputs.tf.json").write_text(json.dumps({"output": {name: {"value": value} for name, value in outputs.items()}}))
    return tfh.plan(dest, state)


def _with_sweep_order(root: Path, dest: Path) -> None:
    """A copy planned away from its build reads the build's sweep-order.json from beside its own files:
    the file is copied in, and an override file (Terraform merges `*_override.tf.json` local by local)
    points `local.sweep_order` at it."""
    order = root.parent / contract.SWEEP_ORDER_FILE
    if not order.exists():  # written only for a sweep with max_concurrent
        return
    shutil.copyfile(order, dest / contract.SWEEP_ORDER_FILE)
    local = f'jsondecode(file("${{path.module}}/{contract.SWEEP_ORDER_FILE}"))'
    (dest / "sweep_order_override.tf.json").write_text(json.dumps({"locals": {"sweep_order": "${" + local + "}"}}))


def relative(path: Path, build: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(build).as_posix())
