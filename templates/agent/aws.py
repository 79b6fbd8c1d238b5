"""The agent's calls: the `aws` CLI (no boto3 on the instance), IMDSv2, its notes and its state file.

Every call is bounded and answers "failed" as a value (None, "error"): a failed listing is never
an empty one. `retry` repeats a call with backoff until a deadline.
"""

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
        self.instance, self.deadline = None, None  # this instance, once known; the budget calls are made in

    def note(self, text):
        with open(self.log_file, "a") as out:
            out.write(f"{now_text()} {text}\n")

    def control(self, name):
        return "{}/{}/{}/".format(self.s["folder"], self.cfg["control"][name], self.key)

    def aws(self, *args, timeout=60):
        """One `aws` CLI call, bounded; its CompletedProcess, None when it timed out. Our own backoff does the retrying."""
        if self.deadline is not None:  # a call never outlasts the budget it is made in (by much)
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
        """The items (Key, Size, LastModified) under prefix, every page; None when the listing failed."""
        done = self.aws("s3api", "list-objects-v2", "--bucket", self.s["bucket"], "--prefix", prefix, "--output", "json")
        if done is None or done.returncode != 0:
            return None
        return json.loads(done.stdout or b"{}").get("Contents") or []

    def listing(self, prefix):
        """key -> (size, age in s) under prefix; None when the listing failed (never "no keys")."""
        items = self.objects(prefix)
        if items is None:
            return None
        now = datetime.now(timezone.utc)  # noqa: UP017 (python3 on AL2023 is 3.9)
        return {item["Key"]: (item["Size"], (now - modified(item)).total_seconds()) for item in items}

    def names(self, prefix):
        found = self.listing(prefix)
        return None if found is None else [key[len(prefix) :] for key in found]

    def put(self, key, body, conditional=False):
        """ "ok", "taken" (If-None-Match lost) or "error"."""
        with tempfile.NamedTemporaryFile(dir=self.dir, delete=False) as handle:
            handle.write(body)
        extra = ["--if-none-match", "*"] if conditional else []
        done = self.aws("s3api", "put-object", "--bucket", self.s["bucket"], "--key", key, "--body", handle.name, *extra)
        os.unlink(handle.name)
        if done is not None and done.returncode == 0:
            return "ok"
        return "taken" if done is not None and b"PreconditionFailed" in done.stderr else "error"

    def get(self, key):
        path = os.path.join(self.dir, f"got{os.getpid()}")  # reports run side by side
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
        """call() until it returns a value other than None/False/"error", with backoff, until `deadline`."""
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
        """Each (name, call) in order, each retried until `deadline`; a step that fails leaves the later ones unwritten."""
        for name, step in steps:
            if self.retry(name, step, deadline) is None:
                self.note(f"not recorded: {name} and what follows it")
                return False
        return True

    def state(self, **update):
        """run/state.json, shared by the commands of one attempt; updated with `update`."""
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
    """Run `task` every `period` s in a thread of its own until `stopped` is set: a slow task delays only itself."""

    def loop():
        while not stopped.wait(period):
            task()

    threading.Thread(target=loop, daemon=True).start()
