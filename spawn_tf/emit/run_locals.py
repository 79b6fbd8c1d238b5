"""A root's locals.tf.json: each run's own values, the settings runs share, and the maps their keys name (AMIs,
security groups, profiles). Terraform joins a run's values with its settings into local.runs. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from spawn_tf import contract
from spawn_tf.emit.capacity import Specs
from spawn_tf.emit.hcl import Expr, Lowered, escape
from spawn_tf.emit.json_text import Encoded, Shaped, dump_json
from spawn_tf.model import Run, RunSettings
from spawn_tf.plan import Root, iam_spec, network_key
from spawn_tf.userdata import agent_settings_line, head_start, script_text

RUN_NEWLINE = "\n      "  # where a run's entry starts: {"locals": {"run_values": {name: entry}}}
_ENTRY_KEYS = (("exports",), ("fingerprint",), ("index",), ("settings",))  # a run's entry: its own values, and its settings' key
SETTINGS_KEY_LENGTH = 12  # hex digits of a settings entry's digest: its key, stable as runs come and go
# Every run's entry as the resources read it: its own values over its settings'.
RUNS = Expr("{for name, run in local.run_values : name => merge(local.settings[run.settings], run)}")


def run_locals(root: Root, specs: Specs, scripts: Mapping[str, str], run_exports: Mapping[str, str]) -> dict[str, Any]:
    """local.run_values, local.settings, local.runs, local.amis, local.security_groups and local.profiles of one root.

    A run's entry holds only what is its own (its exports, fingerprint and index) and the key of its settings, whose
    values are written once per root: a root's size follows its runs' own values, not their settings."""
    amis: dict[str, Any] = {}
    own_groups: dict[str, list[str]] = {}
    profiles: dict[str, Any] = {}
    shared: dict[str, dict[str, Any]] = {}  # settings key -> its values
    keys: dict[int, str] = {}  # id(settings) -> its key: runs share settings objects
    for first in root.samples:
        key = ami_key(first)
        amis[key] = Expr(f'nonsensitive(data.aws_ssm_parameter.ami["{key}"].value)') if first.settings.ami in contract.AMI_ALIASES else key
        if network_key(first) is None:
            own_groups[_security_key(first)] = sorted(first.settings.security_group_ids)
        profile = _profile_key(first.settings)
        if profile.startswith("existing:"):
            profiles[profile] = first.settings.iam_instance_profile
        values = _shared_values(first, specs.key(first), scripts)
        keys[id(first.settings)] = _settings_key(values, shared)
        shared[keys[id(first.settings)]] = values
    security_groups: Any = dict(own_groups)
    if any(network_key(run) is not None for run in root.samples):
        generated = Expr('{for key, group in aws_security_group.run : "net:${key}" => [group.id]}')
        security_groups = Expr(f"merge({_hcl_object(own_groups)}, {generated.text})") if own_groups else generated
    if root.roles:
        generated_profiles = Expr('{for key, profile in aws_iam_instance_profile.run : "role:${key}" => profile.name}')
        profiles_value: Any = Expr(f"merge({_hcl_object(profiles)}, {generated_profiles.text})") if profiles else generated_profiles
    else:
        profiles_value = profiles
    return {
        "run_values": Lowered(_run_values(root.runs, run_exports, keys)),
        "settings": dict(sorted(shared.items())),
        "runs": RUNS,
        "amis": amis,
        "security_groups": security_groups,
        "profiles": profiles_value,
    }


def _run_values(runs: Sequence[Run], run_exports: Mapping[str, str], keys: Mapping[int, str]) -> dict[str, Encoded]:
    """Each run's entry in local.run_values, encoded a key at a time for all the root's runs (in _ENTRY_KEYS' order)."""
    columns = (
        [escape(run_exports[run.name]) for run in runs],
        [run.fingerprint for run in runs],
        [run.index for run in runs],
        [keys[id(run.settings)] for run in runs],
    )
    texts = Shaped({}, _ENTRY_KEYS, RUN_NEWLINE).texts(columns, len(runs))
    return {run.name: Encoded(text, RUN_NEWLINE) for run, text in zip(runs, texts, strict=True)}


def _settings_key(values: Mapping[str, Any], taken: Mapping[str, Any]) -> str:
    """A digest of the settings' values: equal settings share a key, and a key does not change as other settings come
    and go (a review diff shows only the runs that changed). Two settings whose short digests collide get full ones."""
    digest = hashlib.sha256(dump_json(values)).hexdigest()
    key = digest[:SETTINGS_KEY_LENGTH]
    if key in taken and taken[key] != values:
        return digest
    return key


def _shared_values(run: Run, spec: str, scripts: Mapping[str, str]) -> dict[str, Any]:
    """What a run's entry takes from its settings (local.settings, lowered with the rest of the document)."""
    settings = run.settings
    script = script_text(run)
    return {
        "head_start": head_start(settings),
        "agent_exports": agent_settings_line(settings),
        "max_attempts": settings.max_attempts,
        "max_interruptions": settings.max_interruptions,
        "candidates": spec,  # its instance type, subnet and market: local.candidates (capacity)
        "ami": ami_key(run),
        "spot_max_price": settings.spot_max_price_usd,
        "volume_size": settings.volume_size_gib,
        "key_name": settings.key_name,
        "security_groups": _security_key(run),
        "profile": _profile_key(settings),
        "scripts": [scripts[script]] if script else [],
        "tags": _run_tags(settings),
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
