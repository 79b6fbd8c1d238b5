"""A run's settings: read from its raw keys, then checked by one function per rule (SETTING_RULES).

Expansion calls `parse_settings` once per distinct combination of settings and region; each rule
sees the raw keys and the settings read from them and yields problems that know their key, not yet
their place in the file (expansion places them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from spawn_tf import awsdata, candidates, contract, iam
from spawn_tf.contract import Arch, OnComplete
from spawn_tf.diagnostics import Severity, did_you_mean
from spawn_tf.model import RunSettings, Workdir
from spawn_tf.values import arch_of, env_text, parse_duration
from spawn_tf.workdir import NO_FOLDER, Archive, WorkdirProblem, workdir_setting

_GPU_FAMILY = re.compile(r"(?:g|p|gr)\d+[a-z-]*")  # g5, g6e, g5g, p4d, p5en, gr6: NVIDIA GPUs


@dataclass(frozen=True, slots=True)
class Problem:
    """A diagnostic before it has a place: `key` is the setting or parameter it is about."""

    severity: Severity
    code: str
    message: str
    key: str | None = None
    hint: str | None = None
    item: int | None = None  # the item of the setting's list it is about, when the setting is a list


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsContext:
    """What a rule sees: the run's raw settings and what was read from them."""

    raw: Mapping[str, Any]
    settings: RunSettings
    ttl_required: bool  # the sweep has a budget: a run without a ttl has no worst-case cost
    results: tuple[str | None, str]  # (bucket or None for the default one, S): where the agent's role may write
    packed: Archive | WorkdirProblem | None = None  # the workdir's archive, or why there is none
    region: str | None = None  # the run's region (zones must lie in it); None in tests of rules that need none


Packed = Mapping[Workdir, Archive | WorkdirProblem]


def parse_settings(
    raw: Mapping[str, Any], region: str, *, ttl_required: bool, results: tuple[str | None, str], packed: Packed | None = None
) -> tuple[RunSettings, str, tuple[Problem, ...]]:
    """A run's settings in `region`, the text its fingerprint covers, and every rule's problems.

    `packed` holds the sweep's workdirs as the pipeline packed them (workdir.pack_workdirs).
    """
    problems: list[Problem] = []
    settings = _read_settings(raw, region, problems)
    archive = None if settings.workdir is None else (packed or {}).get(settings.workdir, NO_FOLDER)
    if isinstance(archive, Archive):
        settings = replace(settings, code_sha256=archive.sha256)
    context = SettingsContext(raw=raw, settings=settings, ttl_required=ttl_required, results=results, packed=archive, region=region)
    for rule in SETTING_RULES:
        problems.extend(rule(context))
    return settings, _identity(settings), tuple(problems)


def _identity(settings: RunSettings) -> str:
    """What determines a run's result (DESIGN §3, definition contract.FINGERPRINT_VERSION): the machine
    (type, architecture, image), the script and the folder its outputs are read from; and the code, setup,
    packages and container image, each only when set, so that runs without them keep their fingerprints.
    Not its limits and policies — ttl, idle_timeout, volume size, spot market and price, attempts,
    on_complete, network, IAM, tags: raising a ttl must not run finished runs again."""
    identity: dict[str, Any] = {
        "instance_type": settings.instance_type, "arch": settings.arch, "ami": settings.ami, "script": settings.script,
        "output_dir": settings.output_dir,
    }  # fmt: skip
    if settings.workdir is not None:
        identity["workdir"] = {"sha256": settings.code_sha256, "target": settings.workdir.target}
    optional = {"setup": settings.setup, "packages": list(settings.packages), "image": settings.image}
    identity.update({key: value for key, value in optional.items() if value})
    return json.dumps(identity, sort_keys=True, ensure_ascii=False)


def _read_settings(raw: Mapping[str, Any], region: str, problems: list[Problem]) -> RunSettings:
    """The settings as written, with defaults; only what cannot be read at all (a zero duration, a region missing
    from a per-region map) is a problem here."""
    written = raw.get("instance_type")
    instance_type, *alternatives = (contract.DEFAULT_INSTANCE_TYPE,) if written is None else candidates.instance_types(written)
    price = raw.get("spot_max_price")
    security_groups = _regional(raw, "security_group_ids", region, problems)
    subnet_id, *other_subnets = candidates.names(_regional(raw, "subnet_id", region, problems)) or (None,)
    image = raw.get("image")
    spot = raw.get("spot", contract.DEFAULT_SPOT)
    return RunSettings(
        instance_type=instance_type,
        alternative_types=tuple(alternatives),
        arch=Arch(raw["arch"]) if "arch" in raw else arch_of(instance_type),
        spot=spot is not False,  # true or `auto`
        on_demand_fallback=spot == contract.SPOT_AUTO,
        spot_max_price_usd=None if price is None else env_text(price),
        ttl_seconds=_duration_setting(raw, "ttl", problems),
        idle_timeout_seconds=_duration_setting(raw, "idle_timeout", problems),
        on_complete=OnComplete(raw.get("on_complete", contract.DEFAULT_ON_COMPLETE)),
        ami=_regional(raw, "ami", region, problems) or _default_ami((instance_type, *alternatives), image),
        volume_size_gib=raw.get("volume_size"),
        zones=candidates.names(_regional(raw, "zones", region, problems)),
        subnet_id=subnet_id,
        alternative_subnets=tuple(other_subnets),
        security_group_ids=(security_groups,) if isinstance(security_groups, str) else tuple(security_groups or ()),
        key_name=_regional(raw, "key_name", region, problems),
        iam_policy=iam.split_shorthands(raw.get("iam_policy", ())),
        iam_managed_policies=tuple(raw.get("iam_managed_policies", ())),
        iam_instance_profile=raw.get("iam_instance_profile"),
        script=raw.get("user_data") if "user_data" in raw else raw.get("command"),
        output_dir=raw.get("output_dir", contract.DEFAULT_OUTPUT_DIR),
        max_attempts=int(raw.get("max_attempts", contract.DEFAULT_MAX_ATTEMPTS)),
        max_interruptions=int(raw.get("max_interruptions", contract.DEFAULT_MAX_INTERRUPTIONS)),
        retry_failed=raw.get("retry_failed", contract.DEFAULT_RETRY_FAILED),
        tags=tuple((str(k), env_text(v)) for k, v in raw.get("tags", {}).items()),
        workdir=workdir_setting(raw["workdir"]) if "workdir" in raw else None,
        setup=raw.get("setup"),
        packages=tuple(raw.get("packages", ())),
        image=image,
    )


def has_nvidia_gpu(instance_type: str) -> bool:
    """Whether the type's family has NVIDIA GPUs (g5, g6e, g5g, p4d, p5en, gr6)."""
    return bool(_GPU_FAMILY.fullmatch(instance_type.split(".", 1)[0]))


def _default_ami(instance_types: tuple[str, ...], image: str | None) -> str:
    """al2023; for `image:` runs one with Docker, and when a type has NVIDIA GPUs the container toolkit (DESIGN §11)."""
    if image is None:
        return contract.DEFAULT_AMI
    return contract.IMAGE_GPU_AMI if any(map(has_nvidia_gpu, instance_types)) else contract.IMAGE_CPU_AMI


# --- the rules, in the order their problems are reported ---------------------------------------


def instance_type_rule(context: SettingsContext) -> Iterator[Problem]:
    """No instance_type (the default is used); an entry botocore does not list; a family's sizes, which differ in price;
    types of two architectures (one AMI serves every candidate)."""
    written = context.raw.get("instance_type")
    if written is None:
        yield Problem(Severity.WARNING, "no-instance-type", f"no instance_type: runs use {context.settings.instance_type}", None,
                      "set instance_type in defaults")  # fmt: skip
        return
    entries = candidates.type_entries(written)
    for entry in entries:
        yield from _entry_problems(entry)
    first = arch_of(context.settings.instance_type)
    other = next(((entry, t) for entry in entries for t in candidates.entry_types(entry) if arch_of(t) is not first), None)
    if other is not None:
        entry, instance_type = other
        yield Problem(Severity.ERROR, "mixed-architectures",
                      f"instance types of two architectures: {context.settings.instance_type} is {first}, {instance_type} is {arch_of(instance_type)}",
                      "instance_type", "one AMI serves every candidate of a run: list types of one architecture (Graviton families like m7g are arm64)",
                      item=entry.item)  # fmt: skip


def _entry_problems(entry: candidates.TypeEntry) -> Iterator[Problem]:
    """An entry of `instance_type` checked like a single type; a `family.*` entry by its family."""
    family = entry.family
    if family is None:
        if entry.text not in awsdata.ec2_enum("InstanceType"):
            severity, message, hint = _unknown_instance_type(entry.text)
            yield Problem(severity, "unknown-instance-type", message, "instance_type", hint, item=entry.item)
        return
    sizes = awsdata.family_sizes(family)
    if not sizes:
        yield Problem(Severity.ERROR, "unknown-instance-family", f"'{entry.text}': botocore knows no instance family '{family}'", "instance_type",
                      did_you_mean(family, awsdata.families()) or "families look like g5, m7i or c7g", item=entry.item)  # fmt: skip
    elif len(sizes) > 1:
        yield Problem(Severity.WARNING, "family-sizes", f"'{entry.text}' tries {len(sizes)} sizes, {sizes[0]} to {sizes[-1]}, which differ in price",
                      "instance_type", f"cost and the budget count the largest; to try fewer, list them: '{sizes[0]}|{sizes[1]}'",
                      item=entry.item)  # fmt: skip


def _in_region(zone: str, region: str) -> bool:
    """us-east-1a, or a Local Zone like us-east-1-bos-1a, lie in us-east-1; us-east-2a does not."""
    rest = zone.removeprefix(region)
    return rest != zone and (rest[:1].isalpha() or rest.startswith("-"))


def gpu_driver_rule(context: SettingsContext) -> Iterator[Problem]:
    """A known NVIDIA GPU type on the default image, which has no driver (an unknown type's GPUs are a guess)."""
    ami = context.raw.get("ami", contract.DEFAULT_AMI)
    known = awsdata.ec2_enum("InstanceType")
    instance_type = next((t for t in context.settings.instance_types if t in known and has_nvidia_gpu(t)), None)
    if instance_type is not None and ami == contract.DEFAULT_AMI and context.settings.image is None:
        yield Problem(Severity.WARNING, "gpu-without-driver", f"{instance_type} has NVIDIA GPUs, but the default image {ami} has no GPU driver",
                      "instance_type", "set ami: dlami-gpu (Deep Learning AMI with the NVIDIA driver), or an AMI of your own")  # fmt: skip


def placement_rule(context: SettingsContext) -> Iterator[Problem]:
    """Zones outside the run's region; zones beside subnet_id, whose subnets name their zones."""
    settings, region = context.settings, context.region
    listed = isinstance(context.raw.get("zones"), list)  # a zone is placed at its item; in a per-region map, at the map
    for item, zone in enumerate(settings.zones):
        if region is not None and not _in_region(zone, region):
            yield Problem(Severity.ERROR, "zone-not-in-region", f"zone '{zone}' is not in the run's region {region}", "zones",
                          f"zones of {region} look like {region}a; in a multi-region sweep give them per region: zones: {{{region}: [...]}}",
                          item=item if listed else None)  # fmt: skip
    if settings.zones and settings.subnet_id is not None:
        yield Problem(Severity.ERROR, "zones-with-subnet", "zones and subnet_id both choose where the run goes", "zones",
                      "a subnet lies in one zone: list the subnets in the order to try them (subnet_id: [...]), and drop zones")  # fmt: skip


def spot_price_rule(context: SettingsContext) -> Iterator[Problem]:
    """A spot price on an on-demand run does nothing."""
    if context.settings.spot_max_price_usd is not None and not context.settings.spot:
        yield Problem(Severity.WARNING, "price-without-spot", "spot_max_price has no effect with spot: false", "spot_max_price")


def ttl_rule(context: SettingsContext) -> Iterator[Problem]:
    """A ttl over a week (a unit slip), or none: an error with a budget, else a warning."""
    raw, ttl = context.raw, context.settings.ttl_seconds
    if ttl is not None and ttl > contract.LONG_TTL_SECONDS:
        yield Problem(Severity.WARNING, "long-ttl", f"ttl '{raw['ttl']}' is more than a week ({contract.LONG_TTL_SECONDS // 86400}d)", "ttl",
                      "a run that hangs keeps its instance until the ttl; check the unit ('40h', not '40d')")  # fmt: skip
    if ttl is None and "ttl" not in raw and context.ttl_required:
        yield Problem(Severity.ERROR, "budget-needs-ttl", "the sweep has a budget, but runs without a ttl have no worst-case cost", None,
                      "set ttl in defaults, e.g. ttl: 6h")  # fmt: skip
    elif ttl is None and "ttl" not in raw:
        yield Problem(Severity.WARNING, "no-ttl", "no ttl: a run that hangs keeps its instance until it is stopped by hand", None,
                      "set ttl in defaults, e.g. ttl: 6h")  # fmt: skip


def on_complete_rule(context: SettingsContext) -> Iterator[Problem]:
    """on_complete: stop needs an on-demand instance."""
    if context.settings.on_complete is OnComplete.STOP and context.settings.spot:
        yield Problem(Severity.ERROR, "stop-needs-on-demand", "on_complete 'stop' needs spot: false", "on_complete",
                      "a one-time spot instance cannot be stopped; use 'terminate', or set spot: false")  # fmt: skip


def iam_rule(context: SettingsContext) -> Iterator[Problem]:
    """Unknown or badly scoped shorthands, grants wider than a run should have."""
    yield from _iam_problems(context.settings.iam_policy, context.settings.iam_managed_policies)


def instance_profile_rule(context: SettingsContext) -> Iterator[Problem]:
    """An existing instance profile cannot take spawn-tf's policies."""
    settings = context.settings
    if settings.iam_instance_profile is not None and (settings.iam_policy or settings.iam_managed_policies):
        yield Problem(Severity.ERROR, "profile-with-policies", "iam_instance_profile uses an existing profile; spawn-tf cannot add policies to it",
                      "iam_instance_profile", "drop iam_policy and iam_managed_policies, or drop iam_instance_profile")  # fmt: skip


def workload_rule(context: SettingsContext) -> Iterator[Problem]:
    """Two workloads or none, secrets in the script, and writes the run's role cannot make."""
    settings = context.settings
    # With a profile or managed policies of its own, the role's rights are unknown: no write check.
    shorthands = settings.iam_policy if settings.iam_instance_profile is None and not settings.iam_managed_policies else None
    yield from _workload_problems(context.raw, settings.script, shorthands, context.results)


def workdir_rule(context: SettingsContext) -> Iterator[Problem]:
    """A workdir that could not be packed: outside the sweep's folder, a link leading out, too large, missing."""
    if isinstance(context.packed, WorkdirProblem):
        yield Problem(Severity.ERROR, context.packed.code, context.packed.message, "workdir", context.packed.hint)


def image_rule(context: SettingsContext) -> Iterator[Problem]:
    """A container image on a GPU type needs an image with the NVIDIA driver and container toolkit."""
    settings = context.settings
    if settings.image is None or not any(map(has_nvidia_gpu, settings.instance_types)):
        return
    if settings.ami in contract.AMI_ALIASES and settings.ami not in contract.GPU_AMI_ALIASES:
        yield Problem(Severity.ERROR, "image-needs-gpu-ami",
                      f"image on {next(filter(has_nvidia_gpu, settings.instance_types))} needs an AMI with the NVIDIA driver and container toolkit; {settings.ami} has neither",
                      "ami", f"leave ami out (image runs on GPU types get {contract.IMAGE_GPU_AMI}), or set ami: {contract.IMAGE_GPU_AMI}")  # fmt: skip


def tags_rule(context: SettingsContext) -> Iterator[Problem]:
    """Tag keys and values AWS refuses, and tags that belong to spawn-tf or AWS."""
    yield from _tag_problems(dict(context.settings.tags))


SettingRule = Callable[[SettingsContext], Iterator[Problem]]
SETTING_RULES: tuple[SettingRule, ...] = (
    instance_type_rule, gpu_driver_rule, placement_rule, spot_price_rule, ttl_rule, on_complete_rule, iam_rule, instance_profile_rule, workload_rule,
    tags_rule, workdir_rule, image_rule,
)  # fmt: skip


def _regional(raw: Mapping[str, Any], setting: str, region: str, problems: list[Problem]) -> Any:
    value = raw.get(setting)
    if isinstance(value, dict):
        if region not in value:
            problems.append(Problem(Severity.ERROR, "missing-region-value", f"'{setting}' has no value for region {region}", setting,
                                     f"add '{region}: ...' to the per-region map"))  # fmt: skip
        return value.get(region)
    return value


def _unknown_instance_type(instance_type: str) -> tuple[Severity, str, str]:
    """A type botocore does not list: an error when its family is known (a misspelt size), else a
    warning (DESIGN §2: a family newer than the installed botocore must still compile)."""
    known = awsdata.ec2_enum("InstanceType")
    family = instance_type.split(".", 1)[0]
    sizes = awsdata.family_sizes(family)
    if sizes:
        close = did_you_mean(instance_type, sizes, cutoff=0.6)
        hint = f"{close + ' ' if close else ''}{family} comes in {', '.join(s.split('.', 1)[1] for s in sizes)}"
        return Severity.ERROR, f"unknown instance type '{instance_type}': {family} has no such size", hint
    close = did_you_mean(instance_type, known, cutoff=0.8)
    return (Severity.WARNING, f"instance type '{instance_type}' is not known to this botocore",
            close or "its family may be newer than the installed botocore; check the spelling")  # fmt: skip


def _workload_problems(
    raw: Mapping[str, Any], script: str | None, shorthands: tuple[str, ...] | None, results: tuple[str | None, str]
) -> Iterator[Problem]:
    if "user_data" in raw and "command" in raw:
        yield Problem(Severity.ERROR, "two-workloads", "a run has both user_data and command", "command", "keep one of them")
    if script is None:
        yield Problem(Severity.WARNING, "no-workload", "no user_data or command: runs boot and finish at once", None,
                       "set user_data (a bash script) or command in defaults")  # fmt: skip
        return
    workload = "user_data" if "user_data" in raw else "command"
    yield from _secret_problems_in_script(script, workload)
    if shorthands is not None:
        yield from _denied_writes(script, workload, shorthands, results)


_DEFAULT_BUCKET = re.compile(contract.DEFAULT_RESULTS_BUCKET.format(account_id=r"\d{12}", region=r"[a-z0-9-]+"))


def _denied_writes(script: str, workload: str, shorthands: tuple[str, ...], results: tuple[str | None, str]) -> Iterator[Problem]:
    """`aws s3 cp … s3://BUCKET/KEY` in a script whose role may not write there: it fails at run time (11.10)."""
    bucket, folder = results
    for write in iam.s3_writes(script):
        ours = write.bucket == bucket if bucket is not None else bool(_DEFAULT_BUCKET.fullmatch(write.bucket))
        if ours and iam.key_under(write.key, folder) is not False:
            continue  # the agent's own statements cover the sweep's folder
        if iam.can_write(shorthands, write.bucket, write.key) is False:
            target = f"s3://{write.bucket}/{write.key}"
            yield Problem(Severity.WARNING, "script-write-denied",
                           f"line {write.line} of the {workload} script writes to {target}, which the run's role cannot write", workload,
                           f"grant it with iam_policy: s3:WriteOnly:{write.bucket}, or write into $SPAWN_OUTPUT_DIR "
                           "(the agent uploads it to the run's folder)")  # fmt: skip


def _iam_problems(shorthands: tuple[str, ...], managed: tuple[str, ...]) -> Iterator[Problem]:
    """Unknown or badly scoped shorthands; grants wider than a run should have (warnings)."""
    for shorthand in shorthands:
        parsed = iam.parse_shorthand(shorthand)
        problem = iam.shorthand_problem(shorthand)
        if problem is not None:
            code, message, hint = problem
            yield Problem(Severity.ERROR, code, message, "iam_policy",
                           hint or did_you_mean(parsed.name, iam.SHORTHANDS) or f"known shorthands: {', '.join(iam.SHORTHANDS)}")  # fmt: skip
        elif iam.is_full_access(shorthand):
            yield Problem(Severity.WARNING, "full-access-policy", f"'{shorthand}' grants every action of the service on every resource",
                           "iam_policy", f"scope it to what the runs use, e.g. {parsed.name}:BUCKET/PREFIX"
                           if parsed.service == "s3" else "prefer a ReadOnly or WriteOnly shorthand")  # fmt: skip
        elif parsed.name == "s3:WriteOnly" and parsed.scope is None:
            yield Problem(Severity.WARNING, "unscoped-write-policy", "'s3:WriteOnly' lets every run overwrite and delete objects in every bucket",
                           "iam_policy", "scope it to the bucket (and prefix) the runs write to: s3:WriteOnly:BUCKET/PREFIX")  # fmt: skip
    for i, arn in enumerate(managed):
        if iam.is_admin_policy(arn):
            yield Problem(Severity.WARNING, "admin-managed-policy", f"'{arn.rpartition('/')[2]}' gives every run administrator-level access to the account",
                           "iam_managed_policies", "attach only what the workload needs, e.g. iam_policy: s3:ReadOnly:BUCKET", item=i)  # fmt: skip


def _duration_setting(raw: Mapping[str, Any], setting: str, problems: list[Problem]) -> int | None:
    text = raw.get(setting)
    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds == 0:
        problems.append(
            Problem(Severity.ERROR, "zero-duration", f"{setting} '{text}' is zero", setting, "durations look like '30m' or '6h'")
        )
        return None
    return seconds


# Characters AWS allows in tag keys (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
_TAG_KEY = re.compile(r"[\w .:/=+\-@]+")


def _tag_problems(tags: Mapping[str, str]) -> Iterator[Problem]:
    for key, value in tags.items():
        if not _TAG_KEY.fullmatch(key):
            yield Problem(Severity.ERROR, "bad-tag", f"tag key '{key}' has characters AWS does not allow", "tags",
                           "tag keys use letters, digits, spaces and _ . : / = + - @")  # fmt: skip
        if key.lower().startswith(contract.RESERVED_TAG_PREFIXES):
            yield Problem(Severity.ERROR, "reserved-tag", f"tag '{key}' uses a reserved prefix", "tags",
                           f"tags starting with {' or '.join(repr(p) for p in contract.RESERVED_TAG_PREFIXES)} belong to spawn-tf and AWS")  # fmt: skip
        if key == contract.TAG_NAME:
            yield Problem(Severity.ERROR, "reserved-tag", "tag 'Name' is set by spawn-tf (<sweep>/<run>)", "tags")
        if not 1 <= len(key) <= contract.MAX_TAG_KEY_CHARS:
            yield Problem(
                Severity.ERROR, "tag-too-long", f"tag key '{key[:40]}' must have 1 to {contract.MAX_TAG_KEY_CHARS} characters", "tags"
            )
        if len(value) > contract.MAX_TAG_VALUE_CHARS:
            yield Problem(Severity.ERROR, "tag-too-long", f"the value of tag '{key}' has more than {contract.MAX_TAG_VALUE_CHARS} characters",
                           "tags")  # fmt: skip


# Things that must not travel in user-data, which AWS provider 6 keeps in clear text in the state.
_SECRET_PATTERNS = (
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"), "a GitHub token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
)
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key)")
_SECRET_HINT = "user-data is stored in clear text in the Terraform state; read secrets at run time (Secrets Manager, SSM)"


def value_problem(key: str, value: str) -> Problem | None:
    """Text no environment variable can carry, or that the user-data would mistake for its own structure."""
    if "\0" in value:
        return Problem(Severity.ERROR, "nul-in-value", f"parameter '{key}' contains a NUL character", key,
                        "environment variables cannot hold NUL; remove it")  # fmt: skip
    if contract.USER_SCRIPT_MARKER in value.splitlines():
        return Problem(Severity.ERROR, "reserved-line", f"parameter '{key}' contains the line {contract.USER_SCRIPT_MARKER}", key,
                        "that line separates the user-data from the user's script")  # fmt: skip
    return None


def secret_problem(key: str, value: str) -> Problem | None:
    for pattern, what in _SECRET_PATTERNS:
        if pattern.search(value):
            return Problem(Severity.WARNING, "secret-value", f"parameter '{key}' holds what looks like {what}", key, _SECRET_HINT)
    if _SECRET_NAME.search(key) and value:
        return Problem(Severity.WARNING, "secret-value-key", f"parameter '{key}' looks like a secret", key, _SECRET_HINT)
    return None


def _secret_problems_in_script(script: str, key: str) -> Iterator[Problem]:
    for pattern, what in _SECRET_PATTERNS:
        if pattern.search(script):
            yield Problem(Severity.WARNING, "secret-value", f"the script in {key} holds what looks like {what}", key, _SECRET_HINT)
