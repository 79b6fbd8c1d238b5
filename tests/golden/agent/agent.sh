# ---- spawn-tf agent: shared by every run of the sweep; the lines above are this run's ----
# Under cloud-init it detaches itself (systemd-run) and returns. The detached copy writes its Python
# helper (the modules of agent/, run as `python3 agent`: attempts, lease, status, uploads, the
# checks; DESIGN §6) and runs the user's script (after the marker line at the end); bash launches
# and ends processes and the instance.
set -u
# The run's variables this script reads (their names and defaults: spawn_tf/contract.py).
region="${SPAWN_REGION:-}" spawn_root="${SPAWN_AGENT_ROOT:-}" detached="${SPAWN_DETACHED:-}" min_uptime="${SPAWN_MIN_UPTIME:-180}" on_complete="${SPAWN_ON_COMPLETE:-}" workenv="${SPAWN_WORKENV_SHA256:-}"
export HOME=/root AWS_PAGER="" AWS_DEFAULT_REGION="$region"
spawn_dir="$spawn_root/opt/spawn"
run_dir="$spawn_dir/run"
export PATH="$spawn_root/usr/local/bin:$PATH"
mkdir -p "$run_dir" "$spawn_root/usr/local/bin"
if [ "$detached" != 1 ]; then
  spawn_pass=(--setenv=SPAWN_DETACHED=1 --setenv=PATH="$PATH")
  for spawn_var in AWS_ENDPOINT_URL SPAWN_AGENT_ROOT SPAWN_IMDS_ENDPOINT SPAWN_MIN_UPTIME SPAWN_POLL_SECONDS SPAWN_LOG_UPLOAD_SECONDS SPAWN_START_BUDGET_SECONDS SPAWN_UPLOAD_BUDGET_SECONDS SPAWN_LEASE_SECONDS AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN; do
    [ -n "${!spawn_var:-}" ] && spawn_pass+=(--setenv="$spawn_var=${!spawn_var}")
  done
  cp "$0" "$spawn_dir/user-data"
  exec systemd-run --unit="spawn-agent-$$" --collect --quiet "${spawn_pass[@]}" /bin/bash "$spawn_dir/user-data"
fi

agent_log="$spawn_dir/agent.log"
note() { echo "$(date -u +%FT%TZ) $*" >>"$agent_log"; }
mkdir -p "$spawn_dir/agent"
cat >"$spawn_dir/agent/__main__.py" <<'SPAWN_AGENT_PY'
import json
import os
import sys
import checks
import fetch
import finish
import report
import start
from aws import Agent
def main(argv):
    with open(argv[1]) as handle:
        cfg = json.load(handle)
    agent = Agent(cfg, os.environ)
    command = argv[2]
    if command == "start":
        print(start.start(agent))
    elif command == "watch":
        print(checks.watch(agent, int(argv[3])))
    elif command == "finish":
        print(finish.finish(agent, argv[3], argv[4] if len(argv) > 4 else ""))
    elif command == "report":
        return report.report(agent, argv[3:])
    elif command == "prepare":
        return fetch.prepare(agent)
    elif command == "stop-instance":
        done = agent.aws("ec2", "stop-instances", "--instance-ids", agent.state()["instance"])
        return 0 if done is not None and done.returncode == 0 else 1
    return 0
if __name__ == "__main__":
    sys.exit(main(sys.argv))
SPAWN_AGENT_PY
cat >"$spawn_dir/agent/rules.py" <<'SPAWN_AGENT_PY'
import time
from datetime import datetime, timezone
def backoff(tries):
    return min(2**tries, 10)
def spaced(tries):
    for number in range(tries):
        if number:
            time.sleep(backoff(number - 1))
        yield number
def now_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
def load_settings(cfg, environ):
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
def read_attempts(names, cfg):
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
    found = []
    for name in names:
        status, dot, code = name.partition(".")
        if dot and "/" not in name and status in cfg["final_statuses"] and (code == cfg["no_exit_code"] or code.lstrip("-").isdigit()):
            found.append(name)
    return found
def lease_numbers(names):
    return sorted(int(name) for name in names if name.isdigit() and not name.startswith("0"))
def stopped(names, run, cfg):
    return bool({run, cfg["stop_all"]} & set(names))
def counts(outcomes, cfg):
    values = list(outcomes.values())
    return sum(v in cfg["failure_statuses"] for v in values), sum(v in cfg["interruption_statuses"] for v in values)
def exhausted(failures, interruptions, settings):
    return failures >= settings["max_attempts"] or interruptions >= settings["max_interruptions"]
def lease_step(top, me, ended, limit):
    if top is None:
        return "take", 1
    number, holder, age = top
    if holder and holder == me:
        return "leave", number
    if (holder in ended if holder else len(ended) >= number) or age > limit:
        return "take", number + 1
    return "lose", number
def holder_finished(top, outcomes, settings, cfg):
    if not top or top[1] not in outcomes:
        return False
    outcome = outcomes[top[1]]
    failures_before = counts(outcomes, cfg)[0] - (outcome in cfg["failure_statuses"])
    return is_final(outcome, failures_before, settings, cfg)
def decide(exit_code, ending, verdict, cfg):
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
    if not missing or status not in (cfg["status"]["success"], cfg["status"]["stopped"]):
        return status, reason
    shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
    return cfg["status"]["failed"], f"{cfg['upload_reason']}: {len(missing)} outputs not in S3: {shown}"
def is_final(status, failures_before, settings, cfg):
    if status in cfg["interruption_statuses"]:
        return False
    if status in cfg["failure_statuses"] and settings["retry_failed"]:
        return failures_before + 1 >= settings["max_attempts"]
    return True
def missing_outputs(local, remote):
    return sorted(name for name, size in local.items() if remote.get(name) != size)
def status_record(settings, state, verdict, now):
    status, exit_code, reason = verdict
    return {
        "sweep": settings["sweep"], "run": settings["run"], "index": int(settings["index"]),
        "fingerprint": settings["fingerprint"], "status": status, "exit_code": exit_code,
        "attempt": state["attempt"], "instance_id": state["instance"], "region": settings["region"],
        "started_at": state["started_at"], "finished_at": None if status == "running" else now, "reason": reason,
    }
def core_times(stat_text):
    found = {}
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0].startswith("cpu") and fields[0] != "cpu":
            user, nice, system, idle = (int(v) for v in fields[1:5])
            found[fields[0]] = (user + nice + system, user + nice + system + idle)
    return found
def busiest(before, after):
    most = 0
    for name, (busy, total) in after.items():
        busy0, total0 = before.get(name, (0, 0))
        if total > total0:
            most = max(most, (busy - busy0) * 100 // (total - total0))
    return most
SPAWN_AGENT_PY
cat >"$spawn_dir/agent/aws.py" <<'SPAWN_AGENT_PY'
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from rules import backoff, load_settings, now_text, status_record
class Agent:
    def __init__(self, cfg, environ):
        self.cfg, self.s = cfg, load_settings(cfg, environ)
        self.dir = self.s["agent_root"] + "/opt/spawn/run"
        self.log_file = self.s["agent_root"] + "/opt/spawn/agent.log"
        self.prefix = "{}/{}/".format(self.s["folder"], self.s["run"])
        self.key = "{}.{}".format(self.s["run"], self.s["fingerprint"])
        self.instance, self.deadline = None, None
    def note(self, text):
        with open(self.log_file, "a") as out:
            out.write(f"{now_text()} {text}\n")
    def control(self, name):
        return "{}/{}/{}/".format(self.s["folder"], self.cfg["control"][name], self.key)
    def aws(self, *args, timeout=60):
        if self.deadline is not None:
            timeout = min(timeout, max(5.0, self.deadline - time.monotonic()))
        env = dict(os.environ, AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="2")
        command = ["aws", "--cli-connect-timeout", "5", "--cli-read-timeout", "20", *args]
        try:
            done = subprocess.run(command, env=env, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            self.note("timed out: aws {}".format(" ".join(args[:2])))
            return None
        if done.returncode != 0:
            self.note("failed: aws {}: {}".format(" ".join(args[:2]), done.stderr.decode(errors="replace").strip()[-300:]))
        return done
    def objects(self, prefix):
        done = self.aws("s3api", "list-objects-v2", "--bucket", self.s["bucket"], "--prefix", prefix, "--output", "json")
        if done is None or done.returncode != 0:
            return None
        return json.loads(done.stdout or b"{}").get("Contents") or []
    def listing(self, prefix):
        items = self.objects(prefix)
        if items is None:
            return None
        now = datetime.now(timezone.utc)
        return {item["Key"]: (item["Size"], (now - modified(item)).total_seconds()) for item in items}
    def names(self, prefix):
        found = self.listing(prefix)
        return None if found is None else [key[len(prefix) :] for key in found]
    def put(self, key, body, conditional=False):
        with tempfile.NamedTemporaryFile(dir=self.dir, delete=False) as handle:
            handle.write(body)
        extra = ["--if-none-match", "*"] if conditional else []
        done = self.aws("s3api", "put-object", "--bucket", self.s["bucket"], "--key", key, "--body", handle.name, *extra)
        os.unlink(handle.name)
        if done is not None and done.returncode == 0:
            return "ok"
        return "taken" if done is not None and b"PreconditionFailed" in done.stderr else "error"
    def get(self, key):
        path = os.path.join(self.dir, f"got{os.getpid()}")
        done = self.aws("s3api", "get-object", "--bucket", self.s["bucket"], "--key", key, path)
        if done is None or done.returncode != 0:
            return None
        with open(path, "rb") as handle:
            return handle.read()
    def tag(self, status):
        done = self.aws(
            "ec2", "create-tags", "--resources", self.instance, "--tags", "Key={},Value={}".format(self.cfg["tag_status"], status)
        )
        return done is not None and done.returncode == 0
    def imds(self, path):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        base = self.s["imds"] + "/latest/"
        try:
            put = urllib.request.Request(base + "api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
            token = opener.open(put, timeout=2).read().decode()
            get = urllib.request.Request(base + "meta-data/" + path, headers={"X-aws-ec2-metadata-token": token})
            return opener.open(get, timeout=2).read().decode()
        except OSError:
            return None
    def retry(self, what, call, deadline):
        tries = 0
        while True:
            found = call()
            if found is not None and found is not False and found != "error":
                return found
            if time.monotonic() >= deadline:
                self.note(f"gave up: {what}")
                return None
            time.sleep(min(backoff(tries), max(0.1, deadline - time.monotonic())))
            tries += 1
    def record(self, steps, deadline):
        for name, step in steps:
            if self.retry(name, step, deadline) is None:
                self.note(f"not recorded: {name} and what follows it")
                return False
        return True
    def state(self, **update):
        path = os.path.join(self.dir, "state.json")
        state = {}
        if os.path.exists(path):
            with open(path) as handle:
                state = json.load(handle)
        if update:
            state.update(update)
            with open(path, "w") as out:
                json.dump(state, out)
        return state
    def put_status(self, status, exit_code, reason):
        record = status_record(self.s, self.state(), (status, exit_code, reason), now_text())
        return self.put(self.prefix + self.cfg["status_file"], (json.dumps(record) + "\n").encode()) == "ok"
    def upload_log(self):
        name = "{}/{}-{}.log".format(self.cfg["logs"], self.state()["attempt"], self.instance)
        done = self.aws(
            "s3", "cp", "--quiet", os.path.join(self.dir, "workload.log"), "s3://{}/{}{}".format(self.s["bucket"], self.prefix, name)
        )
        ok = done is not None and done.returncode == 0
        if ok:
            self.note("log uploaded")
        return ok
    def heartbeat(self):
        state = self.state()
        self.put(f"{self.control('lease')}{state['lease']}", self.instance.encode())
def modified(item):
    return datetime.fromisoformat(item["LastModified"].replace("Z", "+00:00"))
def read(path):
    with open(path) as handle:
        return handle.read()
def every(period, task, stopped):
    def loop():
        while not stopped.wait(period):
            task()
    threading.Thread(target=loop, daemon=True).start()
SPAWN_AGENT_PY
cat >"$spawn_dir/agent/start.py" <<'SPAWN_AGENT_PY'
import json
import os
import time
from rules import counts, done_markers, exhausted, holder_finished, lease_numbers, lease_step, now_text, read_attempts, stopped
def start(agent):
    s, deadline = agent.s, time.monotonic() + agent.s["start_budget"]
    agent.deadline = deadline
    agent.instance = agent.retry("instance id from IMDS", lambda: agent.imds("instance-id"), deadline)
    if agent.instance is None:
        return "end"
    agent.note(f"run {s['run']} ({agent.key}) on {agent.instance}")
    verdict, names = survey(agent, deadline)
    verdict = verdict or take_lease(agent, deadline, names)
    if not verdict and agent.state()["lease"] > 1:
        verdict = survey(agent, deadline)[0]
    return verdict or cancelled(agent, deadline) or begin(agent, deadline)
def newest_lease(agent, deadline):
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
    for _ in range(5):
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
            answer = "ok"
        if answer == "ok":
            agent.state(lease=number)
            return None
        names = None
    return "end"
def survey(agent, deadline):
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
    prefix = "{}/{}/".format(agent.s["folder"], agent.cfg["control"]["stop"])
    names = agent.retry("listing _stop", lambda: agent.names(prefix), deadline)
    if names is None:
        return "end"
    if stopped(names, agent.s["run"], agent.cfg):
        return close_run(agent, agent.cfg["status"]["cancelled"], "stop marker", deadline)
    return None
def close_run(agent, status, reason, deadline):
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
SPAWN_AGENT_PY
cat >"$spawn_dir/agent/checks.py" <<'SPAWN_AGENT_PY'
import os
import subprocess
import threading
import time
from aws import every, read
from rules import busiest, core_times
class Idle:
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
    idle = Idle(agent.cfg["idle_busy_percent"], started, s["agent_root"] + "/proc/stat") if s["idle_timeout"] is not None else None
    try:
        while alive(pid):
            now = time.monotonic()
            if now >= next_spot:
                next_spot = now + s["poll"]
                if agent.imds("spot/instance-action"):
                    agent.deadline = now + min(10, s["upload_budget"])
                    agent.upload_log()
                    return f"{status['interrupted']} spot interruption notice"
            if stop_seen:
                return f"{status['stopped']} stop marker"
            if not early_at and os.path.exists(os.path.join(agent.dir, early)):
                early_at.append(now)
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
SPAWN_AGENT_PY
cat >"$spawn_dir/agent/finish.py" <<'SPAWN_AGENT_PY'
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
    s, cfg, state = agent.s, agent.cfg, agent.state()
    agent.instance = state["instance"]
    stopped = threading.Event()
    every(s["lease"] / 3, agent.heartbeat, stopped)
    verdict_path = os.path.join(agent.dir, "verdict")
    verdict = read(verdict_path).split("\n")[:2] if os.path.exists(verdict_path) else None
    if os.path.exists(os.path.join(agent.dir, cfg["early_stopped_reason"])):
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
SPAWN_AGENT_PY
cat >"$spawn_dir/agent/fetch.py" <<'SPAWN_AGENT_PY'
import hashlib
import importlib
import os
from rules import spaced
def load(agent, name, sha):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    for _ in spaced(3):
        if os.path.exists(path) and digest(path) == sha:
            return importlib.import_module(name)
        data = agent.get(code_key(agent, sha))
        if data is not None and hashlib.sha256(data).hexdigest() == sha:
            with open(f"{path}{os.getpid()}", "wb") as out:
                out.write(data)
            os.replace(out.name, path)
            return importlib.import_module(name)
    return None
def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()
def code_key(agent, sha):
    return "{}/{}/{}{}".format(agent.s["folder"], agent.cfg["control"]["code"], sha, agent.cfg["module_suffix"])
def prepare(agent):
    s, cfg = agent.s, agent.cfg
    module = load(agent, cfg["workenv_module"], s["workenv"])
    if module is not None:
        return module.prepare(agent)
    key = code_key(agent, s["workenv"])
    agent.note(f"not ready: cannot read s3://{s['bucket']}/{key}")
    with open(os.path.join(agent.dir, cfg["not_ready"]), "w") as out:
        out.write("{} {}: cannot read s3://{}/{}".format(cfg["status"]["failed"], cfg["helper_reason"], s["bucket"], key))
    return 1
SPAWN_AGENT_PY
cat >"$spawn_dir/agent/report.py" <<'SPAWN_AGENT_PY'
import fcntl
import json
import math
import os
import re
import sys
import time
import fetch
from aws import modified
def say(agent, text):
    agent.note("spored report: " + text)
    print("spored: " + text, file=sys.stderr)
def parse(args, cfg):
    step, metrics, args = None, {}, iter(args)
    for arg in args:
        name, _, text = arg.partition("=")
        if arg == "--step":
            name, text = arg, next(args, "")
        if name == "--step":
            step = int(text) if re.fullmatch("[0-9]{1,%d}" % cfg["step_digits"], text) else f"--step needs an integer from 0 to {cfg['max_step']}"
        elif not re.fullmatch(cfg["metric_pattern"], name) or name in metrics:
            return f"unknown argument or metric given twice: {arg!r}"
        else:
            try:
                metrics[name] = float(text)
            except ValueError:
                metrics[name] = math.nan
            if not math.isfinite(metrics[name]):
                return f"not a finite number: {arg!r}"
    if isinstance(step, str):
        return step
    return (step, metrics) if step is not None and metrics else "--step and a METRIC=VALUE are required"
def report(agent, args):
    s, cfg, step = agent.s, agent.cfg, parse(args, agent.cfg)
    if isinstance(step, str):
        say(agent, step + "\n" + cfg["report_usage"])
        return 2
    step, metrics = step
    with open(os.path.join(agent.dir, cfg["progress_file"]), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        history = json.loads(handle.read() or "{}")
        for metric, value in metrics.items():
            history.setdefault(metric, {})[str(step)] = value
        handle.truncate(0)
        json.dump(history, handle)
    agent.deadline = time.monotonic() + 60
    rule = stopping = fetch.load(agent, cfg["stopping_module"], s["stopping"]) if s["stopping"] else None
    if stopping:
        rule = stopping.Rule.from_settings(json.loads(s["early_stopping"]))
    def folder(metric):
        return "{}/{}/{}/{}/".format(s["folder"], cfg["control"]["progress"], metric, str(step).zfill(cfg["step_digits"]))
    failed = []
    for metric, value in metrics.items():
        own = {int(at): v for at, v in history[metric].items()}
        summary = stopping.running(own, step, rule) if rule and rule.metric == metric else None
        name = stopping.entry_name(s["run"], value, summary) if stopping else f"{s['run']}={value!r}"
        if agent.put(folder(metric) + name, b"") != "ok":
            failed.append(metric)
    prefix = folder(rule.metric) if rule and rule.metric in metrics and not failed else None
    items = agent.objects(prefix) if prefix else None
    if failed or (s["stopping"] and not rule) or (prefix and items is None):
        say(agent, f"S3 failed: step {step} {'not recorded: ' + ', '.join(failed) if failed else 'recorded'}; no early-stopping verdict; the run goes on")
    if items is None:
        return 0
    listed = (stopping.parse_entry(item["Key"][len(prefix) :], int(modified(item).timestamp())) for item in items)
    verdict = stopping.decide(rule, s["run"], step, [entry for entry in listed if entry])
    agent.note("spored report: " + verdict.explain(rule))
    if not verdict.stop:
        return 0
    with open(os.path.join(agent.dir, cfg["early_stopped_reason"]), "w") as out:
        out.write(verdict.explain(rule))
    say(agent, "early-stopped: " + verdict.explain(rule))
    return stopping.STOP_EXIT
SPAWN_AGENT_PY
cat >"$spawn_dir/agent.json" <<'SPAWN_AGENT_JSON'
{"control": {"attempts": "_attempts", "code": "_code", "done": "_done", "lease": "_lease", "progress": "_progress", "stop": "_stop"}, "defaults": {"imds": "http://169.254.169.254", "lease": "900", "log_upload": "60", "poll": "5", "start_budget": "300", "upload_budget": "600"}, "early_stop_grace": 10, "early_stopped_reason": "early-stopped", "env": {"agent_root": "SPAWN_AGENT_ROOT", "attempt": "SPAWN_ATTEMPT", "bucket": "SPAWN_RESULTS_BUCKET", "early_stopping": "SPAWN_EARLY_STOPPING", "fingerprint": "SPAWN_FINGERPRINT", "folder": "SPAWN_SWEEP_FOLDER", "idle_timeout": "SPAWN_IDLE_TIMEOUT_SECONDS", "imds": "SPAWN_IMDS_ENDPOINT", "index": "SPAWN_INDEX", "lease": "SPAWN_LEASE_SECONDS", "log_upload": "SPAWN_LOG_UPLOAD_SECONDS", "max_attempts": "SPAWN_MAX_ATTEMPTS", "max_interruptions": "SPAWN_MAX_INTERRUPTIONS", "output_dir": "SPAWN_OUTPUT_DIR", "poll": "SPAWN_POLL_SECONDS", "region": "SPAWN_REGION", "results_uri": "SPAWN_RESULTS_URI", "retry_failed": "SPAWN_RETRY_FAILED", "run": "SPAWN_RUN", "start_budget": "SPAWN_START_BUDGET_SECONDS", "stopping": "SPAWN_STOPPING_SHA256", "sweep": "SPAWN_SWEEP", "ttl": "SPAWN_TTL_SECONDS", "upload_budget": "SPAWN_UPLOAD_BUDGET_SECONDS", "workenv": "SPAWN_WORKENV_SHA256"}, "failure_statuses": ["failed", "timeout"], "final_statuses": ["success", "failed", "stopped", "timeout", "exhausted", "cancelled"], "helper_reason": "helper", "idle_busy_percent": 5, "interruption_statuses": ["interrupted"], "logs": "logs", "max_step": 9999999999, "metric_pattern": "[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", "module_suffix": ".py", "no_exit_code": "none", "not_ready": "not-ready", "outcome_statuses": ["success", "failed", "stopped", "timeout", "interrupted", "exhausted", "cancelled"], "progress_file": "progress.json", "report_usage": "usage: spored report --step N METRIC=VALUE [METRIC=VALUE ...]", "spot_upload_seconds": 90, "status": {"cancelled": "cancelled", "exhausted": "exhausted", "failed": "failed", "interrupted": "interrupted", "pending": "pending", "running": "running", "stopped": "stopped", "success": "success", "timeout": "timeout", "unknown": "unknown"}, "status_file": "status.json", "step_digits": 10, "stop_all": "_all", "stopping_module": "stopping", "tag_status": "spawn:status", "upload_reason": "upload", "verdict_statuses": ["success", "stopped", "failed"], "workenv_module": "workenv"}
SPAWN_AGENT_JSON
helper() { python3 "$spawn_dir/agent" "$spawn_dir/agent.json" "$@" 2>>"$agent_log"; }

finish_instance() {  # on_complete, never before the provider has read the new instance
  while [ "$(cut -d. -f1 /proc/uptime)" -lt "$min_uptime" ]; do sleep 1; done
  if [ "$on_complete" = stop ] && helper stop-instance; then return; fi
  shutdown -h now
}

# Final run, out of attempts, lease held elsewhere, AWS unreachable: the helper noted why; the
# instance ends (an instance whose other agent holds the run is left to it).
decision=$(helper start)
case "$decision" in
  run) ;;
  leave) exit 0 ;;
  *) note "nothing to run: ending the instance"; finish_instance; exit 0 ;;
esac
log="$run_dir/workload.log"
verdict="$run_dir/verdict"

# `spored complete --status S [--message M]`: the workload's own verdict, as spawn's scripts give it.

# A mistake is an error (logged here and in the workload's log, exit 2), never silently ignored.
cat >"$spawn_root/usr/local/bin/spored" <<SPORED
#!/bin/bash
usage="usage: spored complete --status success|stopped|failed [--message MESSAGE]"
fail() { echo "spored: \$1" >&2; echo "\$usage" >&2; echo "\$(date -u +%FT%TZ) spored: \$1" >>"$agent_log"; exit 2; }
case "\${1:-}" in
  complete) ;;
  report) shift; exec python3 -E "$spawn_dir/agent" "$spawn_dir/agent.json" report "\$@" ;;
  *) usage="\$usage
usage: spored report --step N METRIC=VALUE [METRIC=VALUE ...]"; fail "unknown command '\${1:-}'" ;;
esac
shift; status="" message=""
while [ \$# -gt 0 ]; do
  case "\$1" in
    --status|-s|--message|-m)
      [ \$# -ge 2 ] || fail "\$1 needs a value"
      case "\$1" in --status|-s) status="\$2" ;; *) message="\$2" ;; esac
      shift 2 ;;
    --status=*) status="\${1#*=}"; shift ;;
    --message=*) message="\${1#*=}"; shift ;;
    *) fail "unknown argument '\$1'" ;;
  esac
done
case "\$status" in
  success|stopped|failed) ;;
  "") fail "--status is required" ;;
  *) fail "unknown status '\$status'; expected one of: success, stopped, failed" ;;
esac
printf '%s\n%s\n' "\$status" "\$message" >"$verdict"
SPORED
chmod 755 "$spawn_root/usr/local/bin/spored"

script="$run_dir/user-script"
sed "1,/^__SPAWN_USER_SCRIPT__\$/d" "$0" >"$script"
chmod 700 "$script"
[ -s "$script" ] || printf 'true\n' >"$script"
[ "$(head -c 2 "$script")" = "#!" ] || sed -i '1i #!/bin/bash' "$script"

mkdir -p "$run_dir/shim" && printf '#!/bin/sh\nexec python3 "$@"\n' >"$run_dir/shim/python" && chmod 755 "$run_dir/shim/python"
command -v python >/dev/null || PATH="$run_dir/shim:$PATH"
not_ready="$run_dir/not-ready"
if [ -n "$workenv" ]; then
  printf '#!/bin/bash\npython3 %q %q prepare && exec bash %q\n' "$spawn_dir/agent" "$spawn_dir/agent.json" "$run_dir/workload" >"$run_dir/launch"
else
  printf '#!/bin/bash\nexec %q\n' "$script" >"$run_dir/launch"
fi
chmod 700 "$run_dir/launch"
# Every process the workload starts inherits this token, also through setsid: that is how all of
# them are found and ended before the upload.
token="$(cat /proc/sys/kernel/random/uuid)"
( . "$run_dir/workload.env" && cd "$spawn_out" && SPAWN_WORKLOAD_TOKEN="$token" exec setsid "$run_dir/launch" ) >"$log" 2>&1 &
child=$!
note "workload started as $child"

workload_pids() { grep -lsxzF "SPAWN_WORKLOAD_TOKEN=$token" /proc/[0-9]*/environ | cut -d/ -f3; }
end_workload() {  # TERM what the workload started, KILL what is left after 30 s
  local pids
  pids=$(workload_pids)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 30); do [ -n "$(workload_pids)" ] || return 0; sleep 1; done
  kill -KILL $(workload_pids) 2>/dev/null
}

ending=$(helper watch "$child")
exit_code=none
if [ -n "$ending" ]; then
  note "ending the workload: $ending"
  end_workload
  wait "$child" 2>/dev/null
else
  wait "$child"
  exit_code=$?
fi
end_workload  # what it left behind (background jobs, setsid children) ends before the upload
[ -z "$ending" ] && [ -s "$not_ready" ] && ending=$(cat "$not_ready")
status=$(helper finish "$exit_code" "$ending")
note "finished: ${status:-the helper failed}"
[ "$status" = interrupted ] && exit 0  # EC2 takes the instance back
finish_instance
exit 0
__SPAWN_USER_SCRIPT__
