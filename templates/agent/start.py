"""`start`: prints `run` (the workload's variables in run/workload.env), `leave` (this instance's
other agent holds the run) or `end` (nothing to do, or AWS failed past the start budget: the caller
ends the instance). Done markers first, attempts, the lease, then stop markers (DESIGN §6 "Faults")."""

import json
import os
import time

from rules import counts, done_markers, exhausted, holder_finished, lease_numbers, lease_step, now_text, read_attempts, stopped


def start(agent):
    """`run`, `leave` or `end`; every early exit notes why (and the caller ends the instance)."""
    s, deadline = agent.s, time.monotonic() + agent.s["start_budget"]
    agent.deadline = deadline
    agent.instance = agent.retry("instance id from IMDS", lambda: agent.imds("instance-id"), deadline)
    if agent.instance is None:
        return "end"
    agent.note(f"run {s['run']} ({agent.key}) on {agent.instance}")
    verdict, names = survey(agent, deadline)
    verdict = verdict or take_lease(agent, deadline, names)
    if not verdict and agent.state()["lease"] > 1:  # taken over: look again, under the lease
        verdict = survey(agent, deadline)[0]
    return verdict or cancelled(agent, deadline) or begin(agent, deadline)


def newest_lease(agent, deadline):
    """(number, holder, age) of the newest lease, None when there is none, False when S3 could not say."""
    prefix = agent.control("lease")
    leases = agent.retry("listing " + prefix, lambda: agent.listing(prefix), deadline)
    if leases is None:
        return False
    numbers = lease_numbers(key[len(prefix) :] for key in leases)
    if not numbers:
        return None
    key = prefix + str(numbers[-1])
    holder = agent.retry("lease holder", lambda: agent.get(key), deadline)
    return False if holder is None else (numbers[-1], holder.decode(), leases[key][1])


def take_lease(agent, deadline, names):
    """None once this agent holds the run's newest lease, else `leave` or `end` (noted)."""
    for _ in range(5):  # each lost write means the newest lease changed: look again
        top = newest_lease(agent, deadline)
        if names is None:
            names = agent.retry("listing attempts", lambda: agent.names(agent.control("attempts")), deadline)
        if top is False or names is None:
            return "end"
        outcomes = read_attempts(names, agent.cfg)[1]
        if holder_finished(top, outcomes, agent.s, agent.cfg):
            agent.note(f"the holder of lease {top[0]} recorded a final outcome: nothing to do")
            return "end"
        action, number = lease_step(top, agent.instance, set(outcomes), agent.s["lease"])
        if action != "take":
            agent.note(f"lease {number} of {agent.key} is held by {top[1] or 'another agent'}: {action}")
            return action if action == "leave" else "end"
        key = agent.control("lease") + str(number)
        answer = agent.retry("lease " + key, lambda key=key: agent.put(key, agent.instance.encode(), True), deadline)
        if answer is None:
            return "end"
        if answer == "taken" and agent.get(key) == agent.instance.encode():
            answer = "ok"  # an earlier try of this write was made, its answer lost: this agent holds it
        if answer == "ok":
            agent.state(lease=number)
            return None
        names = None
    return "end"


def survey(agent, deadline):
    """(`end` or None, the attempt key names): `end` when the run is final or out of attempts."""
    s, status = agent.s, agent.cfg["status"]
    done = agent.retry("listing _done", lambda: agent.names(agent.control("done")), deadline)
    if done is None:
        return "end", None
    if done_markers(done, agent.cfg):
        agent.note("the run is final ({}): nothing to do".format(", ".join(done_markers(done, agent.cfg))))
        return "end", None
    names = agent.retry("listing attempts", lambda: agent.names(agent.control("attempts")), deadline)
    if names is None:
        return "end", None
    begun, outcomes = read_attempts(names, agent.cfg)
    failures, interruptions = counts(outcomes, agent.cfg)
    agent.state(attempt=len(begun) + 1, failures=failures, instance=agent.instance, started_at=now_text())
    if exhausted(failures, interruptions, s):
        return close_run(agent, status["exhausted"], f"{failures} failed attempts, {interruptions} interruptions", deadline), None
    return None, names


def cancelled(agent, deadline):
    """Under the lease, before the attempt begins: a stop marker cancels the run (DESIGN §6: `cancelled`
    is a stop marker on a run that never started; one that appears later stops the workload). `end`
    or None; a listing that fails is not "no marker"."""
    prefix = "{}/{}/".format(agent.s["folder"], agent.cfg["control"]["stop"])
    names = agent.retry("listing _stop", lambda: agent.names(prefix), deadline)
    if names is None:
        return "end"
    if stopped(names, agent.s["run"], agent.cfg):
        return close_run(agent, agent.cfg["status"]["cancelled"], "stop marker", deadline)
    return None


def close_run(agent, status, reason, deadline):
    """A run that ends without running (exhausted, cancelled): status.json and tag, then the done marker. `end`."""
    agent.note(f"{status}: {reason}")
    done = f"{agent.control('done')}{status}.{agent.cfg['no_exit_code']}"
    steps = [
        ("status.json", lambda: agent.put_status(status, None, reason)),
        ("tag", lambda: agent.tag(status)),
        ("_done", lambda: agent.put(done, b"")),
    ]
    agent.record(steps, deadline)
    return "end"


def begin(agent, deadline):
    """Under the lease: record the attempt, tag, status.json; write the workload's variables."""
    s, state = agent.s, agent.state()
    body = json.dumps({"started_at": state["started_at"], "region": s["region"]}).encode()
    steps = [
        ("attempt", lambda: agent.put(agent.control("attempts") + agent.instance, body)),
        ("tag", lambda: agent.tag(agent.cfg["status"]["running"])),
        ("status.json", lambda: agent.put_status(agent.cfg["status"]["running"], None, "")),
    ]
    if not agent.record(steps, deadline):
        return "end"
    exports = {
        agent.cfg["env"]["attempt"]: str(state["attempt"]),
        agent.cfg["env"]["results_uri"]: f"s3://{s['bucket']}/{agent.prefix}",
        agent.cfg["env"]["output_dir"]: s["output_dir"],
    }
    os.makedirs(s["output_dir"], exist_ok=True)
    with open(os.path.join(agent.dir, "workload.env"), "w") as out:
        out.writelines(f"export {name}={quote(value)}\n" for name, value in exports.items())
        out.write(f"spawn_out={quote(s['output_dir'])}\n")
    return "run"


def quote(value):
    return "'" + value.replace("'", "'\\''") + "'"
