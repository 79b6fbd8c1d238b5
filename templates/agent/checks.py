"""`watch PID`: the checks while the workload runs, each on its own schedule (DESIGN §6).

The spot notice first (EC2 gives two minutes), then a stop (`_stop`, or run/early-stopped from
`spored report`), the ttl and idle time (local); the `_stop`
listing, the log upload and the lease heartbeat each in a thread of its own, so that no S3 call
holds the others up.
"""

import os
import subprocess
import threading
import time

from aws import every, read
from rules import busiest, core_times


class Idle:
    """idle_timeout: how long the busiest core (and any GPU) has stayed under the threshold."""

    def __init__(self, threshold, now, stat_path):
        self.threshold, self.busy_at, self.stat_path = threshold, now, stat_path
        self.cores = core_times(read(stat_path))

    def seconds(self, now):
        sample = core_times(read(self.stat_path))
        if max(busiest(self.cores, sample), gpu_busy()) >= self.threshold:
            self.busy_at = now
        self.cores = sample
        return now - self.busy_at


def watch(agent, pid):
    """Why the workload must end (`STATUS REASON`), or "" once it exited by itself."""
    s, status, stopped = agent.s, agent.cfg["status"], threading.Event()
    agent.instance = agent.state()["instance"]
    stop_keys = {f"{s['folder']}/{agent.cfg['control']['stop']}/{name}" for name in (agent.cfg["stop_all"], s["run"])}
    stop_seen, early, early_at = [], agent.cfg["early_stopped_reason"], []

    def check_stop():
        found = agent.listing(f"{s['folder']}/{agent.cfg['control']['stop']}/")
        if found is not None and stop_keys & set(found):
            stop_seen.append(True)

    every(s["poll"], check_stop, stopped)
    every(s["log_upload"], agent.upload_log, stopped)
    every(s["lease"] / 3, agent.heartbeat, stopped)
    started = next_spot = next_idle = time.monotonic()
    # Under the agent root like every path the agent uses: a test gives it a /proc/stat of its own.
    idle = Idle(agent.cfg["idle_busy_percent"], started, s["agent_root"] + "/proc/stat") if s["idle_timeout"] is not None else None
    try:
        while alive(pid):
            now = time.monotonic()
            if now >= next_spot:  # first: EC2 gives two minutes
                next_spot = now + s["poll"]
                if agent.imds("spot/instance-action"):
                    agent.deadline = now + min(10, s["upload_budget"])
                    agent.upload_log()  # logs first, briefly (the full upload follows, within its budget)
                    return f"{status['interrupted']} spot interruption notice"
            if stop_seen:
                return f"{status['stopped']} stop marker"
            if not early_at and os.path.exists(os.path.join(agent.dir, early)):
                early_at.append(now)  # told at its report: the workload may save and exit by itself first
            if early_at and now - early_at[0] >= agent.cfg["early_stop_grace"]:
                return f"{status['stopped']} {early}"
            if s["ttl"] is not None and now - started >= s["ttl"]:
                return f"{status['timeout']} ttl of {s['ttl']:.0f} s reached"
            if idle and now >= next_idle:
                next_idle = now + s["poll"]
                if idle.seconds(now) >= s["idle_timeout"]:
                    return f"{status['timeout']} idle for {s['idle_timeout']:.0f} s"
            time.sleep(0.1)
        return ""
    finally:
        stopped.set()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def gpu_busy():
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"], stdout=subprocess.PIPE, timeout=10, check=False
        )
        return max((int(v) for v in done.stdout.split()), default=0)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0
