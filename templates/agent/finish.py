"""`finish EXIT_CODE [STATUS REASON]`: the end of an attempt, in DESIGN §6's order.

Upload → verify (a listing against the local files: names and sizes) → attempt outcome →
status.json and tag (agreeing) → done marker when final. A success whose outputs are not all in S3
within the upload budget is recorded as a failure naming them.
"""

import os
import threading
import time

from aws import every, read
from rules import after_upload, backoff, decide, is_final, missing_outputs


def local_files(folder):
    found = {}
    for top, _, files in os.walk(folder, followlinks=True):
        for name in files:
            path = os.path.join(top, name)
            found[os.path.relpath(path, folder).replace(os.sep, "/")] = os.stat(path).st_size
    return found


def upload_outputs(agent, deadline):
    """Sync the outputs and verify them by a listing (names and sizes) until all are in S3 or `deadline`."""
    local = local_files(agent.s["output_dir"])
    missing, tries = sorted(local), 0
    while missing:
        target = "s3://{}/{}".format(agent.s["bucket"], agent.prefix)
        agent.aws(
            "s3", "sync", "--no-progress", "--only-show-errors", agent.s["output_dir"], target, timeout=max(10, deadline - time.monotonic())
        )
        remote = agent.listing(agent.prefix)
        if remote is not None:
            missing = missing_outputs(local, {key[len(agent.prefix) :]: size for key, (size, _) in remote.items()})
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(min(backoff(tries), max(0.1, deadline - time.monotonic())))
        tries += 1
    for name in missing:
        agent.note(f"not in S3: {name}")
    return missing


def finish(agent, exit_code, ending):
    """Upload → verify → attempt outcome → status.json and tag → done marker when final. Prints the status."""
    s, cfg, state = agent.s, agent.cfg, agent.state()
    agent.instance = state["instance"]
    stopped = threading.Event()
    every(s["lease"] / 3, agent.heartbeat, stopped)
    verdict_path = os.path.join(agent.dir, "verdict")
    verdict = read(verdict_path).split("\n")[:2] if os.path.exists(verdict_path) else None
    if os.path.exists(os.path.join(agent.dir, cfg["early_stopped_reason"])):  # from `spored report`, however the workload ended
        verdict = [cfg["status"]["stopped"], cfg["early_stopped_reason"]]
    code = int(exit_code) if exit_code.lstrip("-").isdigit() else None
    status, code, reason = decide(code, ending.split(" ", 1) if ending else None, verdict, cfg)
    budget = min(s["upload_budget"], cfg["spot_upload_seconds"]) if status == cfg["status"]["interrupted"] else s["upload_budget"]
    deadline = agent.deadline = time.monotonic() + budget
    agent.retry("log upload", agent.upload_log, deadline)
    status, reason = after_upload(status, reason, upload_outputs(agent, deadline), cfg)
    agent.note(f"status {status}, exit code {code}")
    final = is_final(status, state["failures"], s, cfg)
    done = "{}{}.{}".format(agent.control("done"), status, cfg["no_exit_code"] if code is None else code)
    steps = [
        ("attempt outcome", lambda: agent.put("{}{}.{}".format(agent.control("attempts"), agent.instance, status), b"")),
        ("status.json", lambda: agent.put_status(status, code, reason)),
        ("tag", lambda: agent.tag(status)),
    ]
    if final:
        steps.append(("_done", lambda: agent.put(done, b"")))
    agent.deadline = time.monotonic() + budget
    agent.record(steps, agent.deadline)
    stopped.set()
    return status
