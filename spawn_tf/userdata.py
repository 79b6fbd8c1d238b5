"""The user-data of a run: `#!/bin/bash`, the TTL backstop, the run's environment, the shared
agent (agent.sh with its Python helper), and the user's script (DESIGN §4, §6). Pure: the same bytes Terraform assembles.

Terraform joins four parts per instance (`emit.terraform`); `user_data` here joins the same four,
so `spawn-tf userdata` prints exactly what an instance receives.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from operator import itemgetter

import jinja2

from spawn_tf import contract, stopping
from spawn_tf.model import Run, RunSettings
from spawn_tf.plan import Plan, Root
from spawn_tf.resources import resource
from spawn_tf.run_settings import has_nvidia_gpu
from spawn_tf.workdir import workenv_sha256

SHEBANG = "#!/bin/bash\n"


def shquote(value: str) -> str:
    """A bash word that is exactly `value`, whatever it holds (quotes, $, backticks, newlines)."""
    return "'" + value.replace("'", "'\\''") + "'"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # renders bash, not HTML; values go through shquote
        comment_start_string="{##",  # bash's ${#var} must not open a jinja comment
        comment_end_string="##}",
    )


# The agent's own names for the run's variables it reads: bash below, the helper in `helper_settings`.
_BASH_READS = {
    "region": contract.ENV_REGION,
    "spawn_root": contract.ENV_AGENT_ROOT,
    "detached": contract.ENV_DETACHED,
    "min_uptime": contract.ENV_MIN_UPTIME,
    "on_complete": contract.ENV_ON_COMPLETE,
    "workenv": contract.ENV_WORKENV_SHA256,
}
_HELPER_READS = {
    "region": contract.ENV_REGION,
    "bucket": contract.ENV_RESULTS_BUCKET,
    "folder": contract.ENV_SWEEP_FOLDER,
    "sweep": contract.ENV_SWEEP,
    "run": contract.ENV_RUN,
    "index": contract.ENV_INDEX,
    "fingerprint": contract.ENV_FINGERPRINT,
    "attempt": contract.ENV_ATTEMPT,
    "results_uri": contract.ENV_RESULTS_URI,
    "output_dir": contract.ENV_OUTPUT_DIR,
    "ttl": contract.ENV_TTL_SECONDS,
    "idle_timeout": contract.ENV_IDLE_TIMEOUT_SECONDS,
    "max_attempts": contract.ENV_MAX_ATTEMPTS,
    "max_interruptions": contract.ENV_MAX_INTERRUPTIONS,
    "retry_failed": contract.ENV_RETRY_FAILED,
    "agent_root": contract.ENV_AGENT_ROOT,
    "imds": contract.ENV_IMDS_ENDPOINT,
    "poll": contract.ENV_POLL_SECONDS,
    "log_upload": contract.ENV_LOG_UPLOAD_SECONDS,
    "start_budget": contract.ENV_START_BUDGET_SECONDS,
    "upload_budget": contract.ENV_UPLOAD_BUDGET_SECONDS,
    "lease": contract.ENV_LEASE_SECONDS,
    "workenv": contract.ENV_WORKENV_SHA256,
    "early_stopping": contract.ENV_EARLY_STOPPING,
    "stopping": contract.ENV_STOPPING_SHA256,
}
REPORT_USAGE = "usage: spored report --step N METRIC=VALUE [METRIC=VALUE ...]"


# Statuses no attempt ends with: an outcome or done marker naming one is malformed.
_NOT_OUTCOMES = frozenset({contract.Status.PENDING, contract.Status.RUNNING, contract.Status.UNKNOWN})


def helper_settings() -> dict[str, object]:
    """What the agent's helper (templates/agent/) knows of the contract: names, statuses, defaults."""
    statuses = {status.name.lower(): str(status) for status in contract.Status}
    return {
        "env": _HELPER_READS,
        "defaults": {key: contract.AGENT_DEFAULTS[name] for key, name in _HELPER_READS.items() if name in contract.AGENT_DEFAULTS},
        "control": {
            "attempts": contract.CONTROL_ATTEMPTS,
            "done": contract.CONTROL_DONE,
            "lease": contract.CONTROL_LEASE,
            "stop": contract.CONTROL_STOP,
            "code": contract.CONTROL_CODE,
            "progress": contract.CONTROL_PROGRESS,
        },
        "status": statuses,
        "failure_statuses": [str(status) for status in contract.FAILURE_STATUSES],
        "interruption_statuses": [str(status) for status in contract.INTERRUPTION_STATUSES],
        "verdict_statuses": [str(status) for status in contract.VERDICT_STATUSES],
        "outcome_statuses": [str(status) for status in contract.Status if status not in _NOT_OUTCOMES],
        "final_statuses": [str(status) for status in contract.Status if status not in {*_NOT_OUTCOMES, *contract.INTERRUPTION_STATUSES}],
        "tag_status": contract.TAG_STATUS,
        "no_exit_code": contract.NO_EXIT_CODE,
        "status_file": contract.STATUS_FILE,
        "logs": contract.LOGS_FOLDER,
        "stop_all": contract.STOP_ALL,
        "idle_busy_percent": contract.IDLE_BUSY_PERCENT,
        "upload_reason": contract.UPLOAD_FAILED_REASON,
        "spot_upload_seconds": contract.SPOT_UPLOAD_SECONDS,
        # What fetch.py needs; the module it fetches carries its own settings (workdir.workenv_module).
        "not_ready": contract.NOT_READY_FILE,
        "workenv_module": contract.WORKENV_MODULE,
        "module_suffix": contract.MODULE_SUFFIX,
        "helper_reason": str(contract.NotReadyReason.HELPER),
        # What report.py needs; the rule itself is the stopping module, fetched like workenv.
        "stopping_module": contract.STOPPING_MODULE,
        "progress_file": contract.PROGRESS_FILE,
        "metric_pattern": contract.METRIC_NAME_PATTERN.pattern,
        "max_step": stopping.MAX_STEP,
        "step_digits": stopping.STEP_DIGITS,
        "early_stopped_reason": contract.EARLY_STOPPED_REASON,
        "early_stop_grace": contract.EARLY_STOP_GRACE_SECONDS,
        "report_usage": REPORT_USAGE,
    }


def _read_environment() -> str:
    """One bash line: `region="${SPAWN_REGION:-}" …`, with the test overrides' defaults."""
    return " ".join(f'{name}="${{{variable}:-{contract.AGENT_DEFAULTS.get(variable, "")}}}"' for name, variable in _BASH_READS.items())


# The agent's Python helper: the modules of templates/agent/, written in this order into one directory
# on the instance and run as `python3 DIR` (its __main__.py). A new step of a run is a new module here.
HELPER_MODULES = ("__main__.py", "rules.py", "aws.py", "start.py", "checks.py", "finish.py", "fetch.py", "report.py")


@cache
def helper_modules() -> tuple[tuple[str, str], ...]:
    """(file name, code) of each module of the agent's helper, as shipped (stdlib only; the instance's python3)."""
    return tuple((name, code_only(resource("templates", f"agent/{name}").read_text(encoding="utf-8"))) for name in HELPER_MODULES)


_COMMENT = re.compile(r"^\s*#.*|\s+#\s.*")  # a comment line, or a comment after code
_BODY_HEADER = re.compile(r"\s*(def|class)\s.*:")  # the next line may be a docstring
_DOCSTRING_QUOTES = ('"""', "'''")


def code_only(source: str) -> str:
    """A helper module as user-data carries it: without its comments, docstrings and blank lines (a third
    of its compressed size, in 16 KB), the code line for line as written. The commented source is
    templates/agent/; tests check this against Python's own tokenizer and parser."""
    kept: list[str] = []
    closing: str | None = None  # the quotes that end the docstring being left out
    may_be_docstring = True  # the module's first statement, or a def's or class's
    for line in source.splitlines():
        text = line.strip()
        if closing is not None:
            closing = None if text.endswith(closing) else closing
            continue
        if may_be_docstring and text[:3] in _DOCSTRING_QUOTES:
            closing = None if len(text) >= 6 and text.endswith(text[:3]) else text[:3]
            continue
        code = _COMMENT.sub("", line).rstrip()
        if code:
            kept.append(code)
            may_be_docstring = _BODY_HEADER.fullmatch(code) is not None
    return "".join(f"{line}\n" for line in kept)


@cache
def agent_script() -> str:
    """The agent, shared by every run, ending with the marker line after which the user's script follows."""
    template = _environment().from_string(resource("templates", "agent.sh.j2").read_text(encoding="utf-8"))
    return template.render(
        read_environment=_read_environment(),
        detached_variable=contract.ENV_DETACHED,
        overrides=contract.TEST_OVERRIDES,
        helper=helper_modules(),
        helper_settings=json.dumps(helper_settings(), sort_keys=True),
        verdict_statuses=[str(status) for status in contract.VERDICT_STATUSES],
        report_usage=REPORT_USAGE,
        interrupted=str(contract.Status.INTERRUPTED),
        marker=contract.USER_SCRIPT_MARKER,
        not_ready=contract.NOT_READY_FILE,
    )


def backstop_line(settings: RunSettings) -> str:
    """Line 2 of the user-data: a shutdown timer armed before anything can fail (DESIGN §6)."""
    ttl = settings.ttl_seconds
    if ttl is None:
        return "# no ttl: no shutdown timer\n"
    minutes = math.ceil(ttl / 60) + contract.TTL_BACKSTOP_MARGIN_MINUTES
    return f'[ -n "${{{contract.ENV_DETACHED}:-}}" ] || shutdown -h +{minutes} 2>/dev/null || true\n'


def head_start(settings: RunSettings) -> str:
    """What a run's user-data starts with, before its own variables: the shebang and the backstop."""
    return SHEBANG + backstop_line(settings)


def run_head(run: Run) -> str:
    """Shebang, backstop, then the run's own variables (its parameters and identity) and the agent's settings."""
    return head_start(run.settings) + run_exports(run, {}) + agent_settings_line(run.settings)


def exports(runs: Iterable[Run]) -> dict[str, str]:
    """`run_exports` of many runs; a grid's runs share values, so each parameter's line is made once per value."""
    lines: dict[tuple[str, str], str] = {}
    return {run.name: run_exports(run, lines) for run in runs}


def run_exports(run: Run, lines: dict[tuple[str, str], str]) -> str:
    """The run's own lines of its head: its parameters (each line from `lines` where an earlier run made it) and identity."""
    parameters = "".join([lines.get(item) or _export_line(item, lines) for item in run.env.items()])
    return f"{parameters}{_identity_line(run)}"


def _export_line(item: tuple[str, str], lines: dict[tuple[str, str], str]) -> str:
    """`export NAME='value'`, kept in `lines` for the runs that hold the same value (a run's own name is no other's)."""
    line = f"export {item[0]}={shquote(item[1])}\n"
    if item[0] != contract.ENV_RUN_NAME:
        lines[item] = line
    return line


def _identity_line(run: Run) -> str:
    """`_exports` of the run's name, index and fingerprint, written out: it is made for every run."""
    return f"export {contract.ENV_RUN}={shquote(run.name)} {contract.ENV_INDEX}={shquote(str(run.index))} {contract.ENV_FINGERPRINT}={shquote(run.fingerprint)}\n"


def agent_settings_line(settings: RunSettings) -> str:
    """The agent's per-run settings, as one export line."""
    agent: dict[str, str] = {
        contract.ENV_OUTPUT_DIR: settings.output_dir,
        contract.ENV_TTL_SECONDS: "" if settings.ttl_seconds is None else str(settings.ttl_seconds),
        contract.ENV_IDLE_TIMEOUT_SECONDS: "" if settings.idle_timeout_seconds is None else str(settings.idle_timeout_seconds),
        contract.ENV_ON_COMPLETE: str(settings.on_complete),
        contract.ENV_MAX_ATTEMPTS: str(settings.max_attempts),
        contract.ENV_MAX_INTERRUPTIONS: str(settings.max_interruptions),
        contract.ENV_RETRY_FAILED: "true" if settings.retry_failed else "false",
        **_environment_settings(settings),
    }
    return _exports(agent)


def _environment_settings(settings: RunSettings) -> dict[str, str]:
    """The workdir, packages, setup and image, for runs that set them (others' user-data is as it was)."""
    found: dict[str, str] = {contract.ENV_WORKENV_SHA256: workenv_sha256()} if settings.prepares else {}
    if settings.workdir is not None and settings.code_sha256 is not None:
        found.update({contract.ENV_CODE_SHA256: settings.code_sha256, contract.ENV_WORKDIR: settings.workdir.target})
    if settings.packages:
        found[contract.ENV_PACKAGES] = " ".join(settings.packages)
    if settings.setup is not None:
        found[contract.ENV_SETUP] = settings.setup
    if settings.image is not None:
        found.update({contract.ENV_IMAGE: settings.image, contract.ENV_GPU: "true" if has_nvidia_gpu(settings.instance_type) else "false"})
    return found


def _exports(variables: Mapping[str, str]) -> str:
    return "export " + " ".join(f"{name}={shquote(value)}" for name, value in variables.items()) + "\n"


def root_env(plan: Plan, root: Root) -> str:
    """Variables shared by every run of a root; the results bucket follows (Terraform knows the account)."""
    return _exports(
        {
            contract.ENV_SWEEP: plan.sweep.id,
            contract.ENV_REGION: root.region,
            contract.ENV_SWEEP_FOLDER: plan.sweep_folder,
            contract.ENV_RESULTS_REGION: plan.bucket_region,
            **_early_stopping_env(plan),
        }
    )


def _early_stopping_env(plan: Plan) -> dict[str, str]:
    """The rule's settings and its module's code object, for a sweep with early_stopping (others' user-data is as it was)."""
    rule, module = plan.sweep.early_stopping, plan.modules.get(contract.STOPPING_MODULE)
    if rule is None or module is None:
        return {}
    return {contract.ENV_EARLY_STOPPING: json.dumps(rule.settings(), sort_keys=True), contract.ENV_STOPPING_SHA256: module.sha256}


def bucket_env(bucket: str) -> str:
    return f"export {contract.ENV_RESULTS_BUCKET}={shquote(bucket)}\n"


def script_text(run: Run) -> str:
    """The user's script as the agent receives it (a `command` is a one-line script)."""
    script = run.settings.script
    if script is None:
        return ""
    return script if script.endswith("\n") else script + "\n"


def results_bucket(plan: Plan, account_id: str | None) -> str:
    """The bucket runs report to: as written, or the account's default (a 12-digit stand-in without one)."""
    if plan.results_bucket is not None:
        return plan.results_bucket
    return contract.DEFAULT_RESULTS_BUCKET.format(account_id=account_id or "0" * 12, region=plan.home_region)


def user_data(plan: Plan, run: Run, account_id: str | None = None) -> str:
    """The exact user-data of a run's instance (before any compression), as Terraform joins it."""
    root = next(root for root in plan.roots if any(member.name == run.name for member in root.runs))
    return run_head(run) + root_env(plan, root) + bucket_env(results_bucket(plan, account_id)) + agent_script() + script_text(run)


def raw_sizes(plan: Plan, root: Root, run_exports: Mapping[str, str]) -> dict[str, int]:
    """Bytes of each run's uncompressed user-data (exact: account ids have 12 digits), from its exports; in the root's order."""
    shared = _encoded_length(root_env(plan, root) + bucket_env(results_bucket(plan, None)) + agent_script())
    rest: dict[int, int] = {}  # id(settings) -> bytes that are not the run's exports: runs share settings objects
    found = {}
    for run in root.runs:
        around = rest.get(id(run.settings))
        if around is None:
            settings = run.settings
            around = rest[id(settings)] = shared + _encoded_length(head_start(settings) + agent_settings_line(settings) + script_text(run))
        found[run.name] = _encoded_length(run_exports[run.name]) + around
    return found


def _encoded_length(text: str) -> int:
    """len(text.encode()), without encoding ASCII text (str.isascii takes no time: CPython marks ASCII strings)."""
    return len(text) if text.isascii() else len(text.encode())


def compressed(raw: Mapping[str, int]) -> bool:
    """A root's user-data is compressed (base64gzip, in Terraform) when any of its runs would not fit raw."""
    return max(raw.values(), default=0) > contract.MAX_USER_DATA_BYTES


# Terraform's gzip is not Python's: a compressed estimate must fit with this much to spare.
GZIP_ESTIMATE_MARGIN = 0.97


def size_limit(compressed: bool) -> float:
    """The most bytes a run's user-data may have: EC2's limit, less the margin for an estimate of gzip's output."""
    return contract.MAX_USER_DATA_BYTES * (GZIP_ESTIMATE_MARGIN if compressed else 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Size:
    run: Run
    size: int  # bytes EC2 receives: raw, or Python's gzip estimate when compressed
    compressed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RootSizes:
    """A root's user-data as EC2 receives it: gzipped by Terraform or raw, its largest, and the runs over the limit."""

    compressed: bool
    largest: Size
    too_large: tuple[Size, ...]


def sizes(plan: Plan, run_exports: Mapping[str, str]) -> dict[str, RootSizes]:
    """Each root's user-data sizes (root name -> sizes). Only its largest run and those too large get a `Size`."""
    estimates: dict[str, tuple[int, int]] = {}  # script -> (gzip size, raw size of the sample it came from)
    found = {}
    for root in plan.roots:
        raw = raw_sizes(plan, root, run_exports)
        gzipped = compressed(raw)
        received = _estimated(plan, root, raw.values(), estimates) if gzipped else list(zip(root.runs, raw.values(), strict=True))
        run, size = max(received, key=itemgetter(1))
        limit = size_limit(gzipped)
        found[root.name] = RootSizes(
            compressed=gzipped,
            largest=Size(run=run, size=size, compressed=gzipped),
            too_large=tuple(Size(run=run, size=size, compressed=gzipped) for run, size in received if size > limit),
        )
    return found


def _estimated(plan: Plan, root: Root, raw: Iterable[int], estimates: dict[str, tuple[int, int]]) -> list[tuple[Run, int]]:
    """Each run's gzipped size, estimated once per distinct script (in `estimates`): runs' exports differ little."""
    shared: dict[int, tuple[int, int]] = {}  # id(settings) -> its script's estimate: runs share settings objects
    found = []
    for run, size in zip(root.runs, raw, strict=True):
        estimate = shared.get(id(run.settings))
        if estimate is None:
            script = script_text(run)
            if script not in estimates:
                estimates[script] = (len(gzip.compress(user_data(plan, run).encode(), mtime=0)), size)
            estimate = shared[id(run.settings)] = estimates[script]
        found.append((run, estimate[0] + max(0, size - estimate[1])))
    return found
