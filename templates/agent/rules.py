"""The agent's pure decisions (DESIGN §6), and the spacing of its tries: no AWS, no files; unit-tested in-process.

`cfg` is agent.json (names, statuses and defaults from spawn_tf/contract.py), `settings` the run's
own (`load_settings`).
"""

import time
from datetime import datetime, timezone


def backoff(tries):
    """Seconds before the next try: 1, 2, 4, 8, then 10."""
    return min(2**tries, 10)


def spaced(tries):
    """The numbers of `tries` tries, a backoff apart: the wait comes before a try, never after the last."""
    for number in range(tries):
        if number:
            time.sleep(backoff(number - 1))
        yield number


def now_text():
    # timezone.utc, not datetime.UTC: python3 on AL2023 is 3.9
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017


def load_settings(cfg, environ):
    """The run's settings from the user-data's variables (names in cfg["env"], test defaults in cfg["defaults"])."""
    raw = {key: environ.get(name, cfg["defaults"].get(key, "")) for key, name in cfg["env"].items()}
    raw = {key: value if value or key not in cfg["defaults"] else cfg["defaults"][key] for key, value in raw.items()}
    for key in ("max_attempts", "max_interruptions"):
        raw[key] = int(raw[key])
    for key in ("poll", "log_upload", "start_budget", "upload_budget", "lease"):
        raw[key] = float(raw[key])
    for key in ("ttl", "idle_timeout"):
        raw[key] = float(raw[key]) if raw[key] else None
    raw["retry_failed"] = raw["retry_failed"] == "true"
    raw["output_dir"] = raw["agent_root"] + raw["output_dir"]
    return raw


# --- control keys: done markers, attempts, leases ---------------------------------------------


def read_attempts(names, cfg):
    """Attempt key names (under the attempts prefix of the run) -> (instance ids that began, {instance id: outcome}).

    Malformed names (empty, nested, no instance id) and unknown outcomes are not attempts' facts.
    """
    begun, outcomes = [], {}
    for name in names:
        instance, dot, status = name.partition(".")
        if not instance or "/" in name:
            continue
        if not dot:
            begun.append(instance)
        elif status in cfg["outcome_statuses"]:
            outcomes[instance] = status
    return begun, outcomes


def done_markers(names, cfg):
    """The well-formed done marker names (`<status>.<exit code>`) among `names`: a final status, an integer or none."""
    found = []
    for name in names:
        status, dot, code = name.partition(".")
        if dot and "/" not in name and status in cfg["final_statuses"] and (code == cfg["no_exit_code"] or code.lstrip("-").isdigit()):
            found.append(name)
    return found


def lease_numbers(names):
    """Lease numbers from lease key names: 1, 2, … as written (no `01`, nothing nested)."""
    return sorted(int(name) for name in names if name.isdigit() and not name.startswith("0"))


def stopped(names, run, cfg):
    """A stop marker for this run (its exact name, not a pattern) or for all, among the stop prefix's key names."""
    return bool({run, cfg["stop_all"]} & set(names))


def counts(outcomes, cfg):
    """(failures, interruptions) among attempt outcomes."""
    values = list(outcomes.values())
    return sum(v in cfg["failure_statuses"] for v in values), sum(v in cfg["interruption_statuses"] for v in values)


def exhausted(failures, interruptions, settings):
    return failures >= settings["max_attempts"] or interruptions >= settings["max_interruptions"]


def lease_step(top, me, ended, limit):
    """What to do about the newest lease `top` = (number, holder, age in s), or None.

    ("take", n): write lease n (If-None-Match: one writer wins); ("lose", n): its holder is alive;
    ("leave", n): this instance holds it. A holder is gone once its outcome is recorded (`ended`:
    instance ids; a lease that names no holder is gone once n attempts have outcomes) or its
    heartbeat is older than `limit`; only then does lease n + 1 take over.
    """
    if top is None:
        return "take", 1
    number, holder, age = top
    if holder and holder == me:
        return "leave", number
    if (holder in ended if holder else len(ended) >= number) or age > limit:
        return "take", number + 1
    return "lose", number


def holder_finished(top, outcomes, settings, cfg):
    """The newest lease's holder recorded an outcome that makes the run final (its `_done` may follow)."""
    if not top or top[1] not in outcomes:
        return False
    outcome = outcomes[top[1]]
    failures_before = counts(outcomes, cfg)[0] - (outcome in cfg["failure_statuses"])
    return is_final(outcome, failures_before, settings, cfg)


# --- the end of an attempt --------------------------------------------------------------------


def decide(exit_code, ending, verdict, cfg):
    """(status, exit code or None, reason) from the workload's exit, why the agent ended it, its own verdict."""
    status = cfg["status"]
    if ending:
        result, code, reason = ending[0], None, ending[1]
    elif exit_code == 0:
        result, code, reason = status["success"], 0, ""
    else:
        result, code, reason = status["failed"], exit_code, f"exit code {exit_code}"
    if verdict and verdict[0] in cfg["verdict_statuses"] and result != status["interrupted"]:
        result, reason = verdict
    return result, code, reason


def after_upload(status, reason, missing, cfg):
    """A success whose outputs are not all in S3 is not a success: it fails, the outputs named."""
    if not missing or status not in (cfg["status"]["success"], cfg["status"]["stopped"]):
        return status, reason
    shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
    return cfg["status"]["failed"], f"{cfg['upload_reason']}: {len(missing)} outputs not in S3: {shown}"


def is_final(status, failures_before, settings, cfg):
    """Interrupted attempts are relaunched; failed/timeout too while retry_failed has attempts left."""
    if status in cfg["interruption_statuses"]:
        return False
    if status in cfg["failure_statuses"] and settings["retry_failed"]:
        return failures_before + 1 >= settings["max_attempts"]
    return True


def missing_outputs(local, remote):
    """Local files (relative path -> size) not in S3 with that size, sorted."""
    return sorted(name for name, size in local.items() if remote.get(name) != size)


def status_record(settings, state, verdict, now):
    """status.json (DESIGN §5); `verdict` = (status, exit code, reason)."""
    status, exit_code, reason = verdict
    return {
        "sweep": settings["sweep"], "run": settings["run"], "index": int(settings["index"]),
        "fingerprint": settings["fingerprint"], "status": status, "exit_code": exit_code,
        "attempt": state["attempt"], "instance_id": state["instance"], "region": settings["region"],
        "started_at": state["started_at"], "finished_at": None if status == "running" else now, "reason": reason,
    }  # fmt: skip


# --- idle time ----------------------------------------------------------------------------------


def core_times(stat_text):
    """/proc/stat -> {cpuN: (busy, total)} jiffies."""
    found = {}
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0].startswith("cpu") and fields[0] != "cpu":
            user, nice, system, idle = (int(v) for v in fields[1:5])
            found[fields[0]] = (user + nice + system, user + nice + system + idle)
    return found


def busiest(before, after):
    """Percent busy of the busiest core between two `core_times` samples."""
    most = 0
    for name, (busy, total) in after.items():
        busy0, total0 = before.get(name, (0, 0))
        if total > total0:
            most = max(most, (busy - busy0) * 100 // (total - total0))
    return most
