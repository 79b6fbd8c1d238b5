"""A root's locals.tf.json: each run's entry in local.runs, and the maps its keys name (AMIs, security groups, profiles). Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from spawn_tf import contract
from spawn_tf.emit.capacity import Specs
from spawn_tf.emit.hcl import Expr, Lowered, escape
from spawn_tf.emit.json_text import Encoded, Shaped
from spawn_tf.model import Run, RunSettings
from spawn_tf.plan import Root, iam_spec, network_key
from spawn_tf.userdata import script_text

RUN_NEWLINE = "\n      "  # where a run's entry starts: {"locals": {"runs": {name: entry}}}
_OWN_KEYS = (("fingerprint",), ("head",), ("index",))  # a run's own values; the rest of its entry comes from its settings


def run_locals(root: Root, specs: Specs, scripts: Mapping[str, str], heads: Mapping[str, str]) -> dict[str, Any]:
    """local.runs, local.amis, local.security_groups and local.profiles of one root."""
    amis: dict[str, Any] = {}
    own_groups: dict[str, list[str]] = {}
    profiles: dict[str, Any] = {}
    for first in {id(run.settings): run for run in root.runs}.values():  # the first run of each settings
        key = ami_key(first)
        amis[key] = Expr(f'nonsensitive(data.aws_ssm_parameter.ami["{key}"].value)') if first.settings.ami in contract.AMI_ALIASES else key
        if network_key(first) is None:
            own_groups[_security_key(first)] = sorted(first.settings.security_group_ids)
        profile = _profile_key(first.settings)
        if profile.startswith("existing:"):
            profiles[profile] = first.settings.iam_instance_profile
    security_groups: Any = dict(own_groups)
    if any(network_key(run) is not None for run in root.runs):
        generated = Expr('{for key, group in aws_security_group.run : "net:${key}" => [group.id]}')
        security_groups = Expr(f"merge({_hcl_object(own_groups)}, {generated.text})") if own_groups else generated
    if root.roles:
        generated_profiles = Expr('{for key, profile in aws_iam_instance_profile.run : "role:${key}" => profile.name}')
        profiles_value: Any = Expr(f"merge({_hcl_object(profiles)}, {generated_profiles.text})") if profiles else generated_profiles
    else:
        profiles_value = profiles
    return {"runs": Lowered(_run_entries(root, specs, scripts, heads)), "amis": amis, "security_groups": security_groups, "profiles": profiles_value}


def _run_entries(root: Root, specs: Specs, scripts: Mapping[str, str], heads: Mapping[str, str]) -> dict[str, Encoded]:
    """Each run's entry, encoded: the text its settings give is made once and each run's own values put in."""
    shapes: dict[int, Shaped] = {}
    entries = {}
    for run in root.runs:
        shape = shapes.get(id(run.settings))
        if shape is None:
            shape = shapes[id(run.settings)] = Shaped(_shared_values(run, specs.key(run), scripts), _OWN_KEYS, RUN_NEWLINE)
        entries[run.name] = shape.encode((run.fingerprint, escape(heads[run.name]), run.index))  # in _OWN_KEYS' order
    return entries


def _shared_values(run: Run, spec: str, scripts: Mapping[str, str]) -> dict[str, Any]:
    """A run's entry in local.runs but its own values, lowered: free text escaped here; names, ids and keys are validated safe."""
    settings = run.settings
    script = script_text(run)
    return {
        "max_attempts": settings.max_attempts,
        "max_interruptions": settings.max_interruptions,
        "candidates": spec,  # its instance type, subnet and market: local.candidates (capacity)
        "ami": ami_key(run),
        "spot_max_price": settings.spot_max_price_usd,
        "volume_size": settings.volume_size_gib,
        "key_name": None if settings.key_name is None else escape(settings.key_name),
        "security_groups": _security_key(run),
        "profile": _profile_key(settings),
        "scripts": [scripts[script]] if script else [],
        "tags": {key: escape(value) for key, value in _run_tags(settings).items()},
    }


def ami_key(run: Run) -> str:
    """The run's key in local.amis: an alias with the run's architecture, or the AMI id."""
    ami = run.settings.ami
    return f"{ami}/{run.settings.arch}" if ami in contract.AMI_ALIASES else ami


def _security_key(run: Run) -> str:
    network = network_key(run)
    return f"net:{network}" if network is not None else "own:" + ",".join(run.settings.security_group_ids)


@cache  # runs share settings: the role's digest is computed once per distinct settings
def _profile_key(settings: RunSettings) -> str:
    spec = iam_spec(settings)
    return f"role:{spec.key}" if spec is not None else f"existing:{settings.iam_instance_profile}"


def _run_tags(settings: RunSettings) -> dict[str, str]:
    """The tags only this run has; the rest come from the instance's tags expression (DESIGN §6)."""
    tags = dict(settings.tags)
    if settings.ttl_seconds is not None:
        tags[contract.TAG_TTL] = f"{settings.ttl_seconds}s"
    return tags


def _hcl_object(mapping: Mapping[str, Any]) -> str:
    """A small literal map as an HCL object expression (keys and values are plain text or lists of it)."""
    return "{" + ", ".join(f"{json.dumps(key)} = {json.dumps(value)}" for key, value in sorted(mapping.items())) + "}"
