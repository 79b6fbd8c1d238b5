"""The environment agent and collector tests run in (DESIGN §6, §8): moto server, an IMDS stand-in, and a sandbox.

The real user-data runs under `bash FILE` against moto server (S3, EC2) and the IMDS stand-in, both on
127.0.0.1. Only `shutdown`, `poweroff` (and `halt`, `reboot`, `systemctl`) and `systemd-run` are
stubbed; everything the agent writes goes under the sandbox's `root/` (`SPAWN_AGENT_ROOT`).

Fixtures:
- `moto_server` (session): moto's endpoint URL, `http://127.0.0.1:<port>`.
- `aws`: moto reset to empty, and `Aws(endpoint, region, s3, ec2)` with `s3_tree(bucket, prefix="")`
  and `instance_tags(instance_id)`; `s3_tree` and `instance_tags` are also fixtures of their own.
- `imds`: a started `tests.agent.imds.Imds` (region us-east-1, a spot instance).
- `results_bucket`: `spawn-test-bucket`, created in us-east-1.
- `instance`: `instance(tags=None, *, spot=True, instance_type="t3.micro") -> instance id`; runs one
  instance in moto with those tags (on the instance and its volume) and makes it the one `imds` describes.
- `agent_sandbox`: `agent_sandbox(*, systemd_run="clean", private=()) -> AgentSandbox` (see the class).
- `render_user_data`: `render_user_data(sweep_yaml, run) -> str`, the exact user-data of that run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from imds import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Imds

REGION = "us-east-1"
BUCKET = "spawn-test-bucket"
AMI = "ami-0123456789abcdef0"  # moto runs any AMI id; its default AMI catalogue is not loaded (slow)
USER_DATA_PATH = "/var/lib/cloud/instance/scripts/part-001"  # where cloud-init keeps a #! user-data part
# Any host but 127.0.0.1 goes through this proxy, where nothing listens: no test reaches the network.
DEAD_PROXY = "http://127.0.0.1:9"
LOOPBACK = "127.0.0.1,localhost"
# Where an agent that forgot SPAWN_AGENT_ROOT would write on this machine; checked around every run.
WATCHED_SYSTEM_PATHS = (
    "/opt/spawn",
    "/usr/local/bin/spored",
    "/root/.aws",
    "/var/log/spawn*",
    "/var/lib/spawn*",
    "/etc/spawn*",
    "/run/spawn*",
    "/tmp/spawn*",
)
# Commands that would stop this machine, whatever PATH says. User-data naming them is refused.
UNSAFE_USER_DATA = (
    re.compile(r"(?<![\w$}/.-])(?:/usr)?/s?bin/(?:shutdown|poweroff|halt|reboot|systemctl|systemd-run|init|telinit)\b"),
    re.compile(r"\bPATH=(?![^\n]*\$\{?PATH\b)"),  # a PATH that drops the stubs' folder
    re.compile(r"\benv\s+-i\b"),  # a clean environment loses PATH too
)


# --- moto server ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # ~1,200 AMIs per EC2 backend, re-made at every reset
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@dataclass(frozen=True)
class Aws:
    endpoint: str
    region: str
    s3: Any
    ec2: Any

    def reset(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never through a proxy
        opener.open(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10).read()

    def s3_tree(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix`: key -> body."""
        tree = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                tree[item["Key"]] = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return tree

    def instance_tags(self, instance_id: str) -> dict[str, str]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return {tag["Key"]: tag["Value"] for tag in reservations[0]["Instances"][0].get("Tags", [])}

    def instance_state(self, instance_id: str) -> str:
        return self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


@pytest.fixture(scope="session")
def _aws_clients(moto_server: str) -> Aws:
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY, region_name=REGION)
    return Aws(
        endpoint=moto_server,
        region=REGION,
        s3=session.client("s3", endpoint_url=moto_server),
        ec2=session.client("ec2", endpoint_url=moto_server),
    )


@pytest.fixture
def aws(_aws_clients: Aws) -> Aws:
    _aws_clients.reset()
    return _aws_clients


@pytest.fixture
def s3_tree(aws: Aws) -> Callable[..., dict[str, bytes]]:
    return aws.s3_tree


@pytest.fixture
def instance_tags(aws: Aws) -> Callable[[str], dict[str, str]]:
    return aws.instance_tags


# --- the instance --------------------------------------------------------------------------------


@pytest.fixture
def imds() -> Iterator[Imds]:
    with Imds(region=REGION) as server:
        yield server


@pytest.fixture
def results_bucket(aws: Aws) -> str:
    aws.s3.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def instance(aws: Aws, imds: Imds, results_bucket: str) -> Callable[..., str]:
    """`instance(tags=None, *, spot=True, instance_type="t3.micro") -> instance id`; IMDS then describes it."""

    def launch(tags: Mapping[str, str] | None = None, *, spot: bool = True, instance_type: str = "t3.micro") -> str:
        pairs = [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
        request: dict[str, Any] = {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "InstanceType": instance_type}
        if pairs:
            request["TagSpecifications"] = [{"ResourceType": kind, "Tags": pairs} for kind in ("instance", "volume")]
        if spot:
            request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}}
        instance_id = aws.ec2.run_instances(**request)["Instances"][0]["InstanceId"]
        imds.instance_id = instance_id
        imds.region = aws.region
        imds.life_cycle = "spot" if spot else "on-demand"
        return instance_id

    return launch


# --- the sandbox the user-data runs in -----------------------------------------------------------


def aws_cli() -> Path:
    """The `aws` script installed with this interpreter's awscli."""
    for candidate in (Path(sys.executable).parent / "aws", Path(sys.prefix) / "bin" / "aws"):
        if candidate.is_file():
            return candidate
    found = shutil.which("aws")
    if found is None:
        raise RuntimeError("awscli is not installed beside this Python (pip install awscli)")
    return Path(found)


_SYSTEMD_RUN = r'''#!{python} -I
"""systemd-run stand-in: runs the command in the foreground, as a transient service would run it."""
import json, os, shutil, subprocess, sys

CONFIG = json.loads({config!r})
VALUE = {{"--unit", "--property", "--description", "--slice", "--host", "--machine", "--uid", "--gid", "--nice",
          "--setenv", "--working-directory", "--service-type"}}
EQUALS_ONLY = {{"--expand-environment", "--json"}}
FLAGS = {{"--system", "--scope", "--remain-after-exit", "--send-sighup", "--pipe", "--pty", "--collect", "--quiet",
          "--wait", "--same-dir", "--no-block", "--no-ask-password", "--slice-inherit"}}
SHORT_VALUE = {{"u": "--unit", "p": "--property", "E": "--setenv", "H": "--host", "M": "--machine"}}
SHORT_FLAG = {{"r": "--remain-after-exit", "P": "--pipe", "t": "--pty", "G": "--collect", "q": "--quiet", "d": "--same-dir"}}
REFUSED = {{
    "--user": "no user manager under cloud-init",
    "--shell": "interactive", "-S": "interactive", "--help": "", "-h": "", "--version": "",
    **{{name: "timers are not emulated" for name in ("--on-active", "--on-boot", "--on-startup", "--on-unit-active",
       "--on-unit-inactive", "--on-calendar", "--on-clock-change", "--on-timezone-change", "--timer-property",
       "--path-property", "--socket-property")}},
}}
ENV_PROPERTIES = ("Environment", "EnvironmentFile", "PassEnvironment", "UnsetEnvironment")


def fail(message):
    print(f"systemd-run (test stand-in): {{message}}", file=sys.stderr)
    sys.exit(1)


def log(record):
    with open(CONFIG["log"], "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


args, options, i = sys.argv[1:], [], 0
while i < len(args):
    arg = args[i]
    if arg == "--":
        i += 1
        break
    if not arg.startswith("-") or arg == "-":
        break
    name, equals, value = arg.partition("=")
    if name in REFUSED:
        fail(f"{{name}} is not supported here ({{REFUSED[name]}})".replace(" ()", ""))
    if arg.startswith("--"):
        if name in VALUE:
            if not equals:
                i += 1
                if i == len(args):
                    fail(f"option {{name}} needs a value")
                value = args[i]
            options.append([name, value])
        elif name in EQUALS_ONLY and equals:
            options.append([name, value])
        elif name in FLAGS and not equals:
            options.append([name, None])
        else:
            fail(f"unknown option {{arg}}")
    else:
        j = 1
        while j < len(arg):
            letter = arg[j]
            if letter in SHORT_FLAG:
                options.append([SHORT_FLAG[letter], None])
                j += 1
            elif letter in SHORT_VALUE:
                value = arg[j + 1:]
                if not value:
                    i += 1
                    if i == len(args):
                        fail(f"option -{{letter}} needs a value")
                    value = args[i]
                options.append([SHORT_VALUE[letter], value])
                break
            else:
                fail(f"unknown option -{{letter}}")
    i += 1
command = args[i:]
if not command:
    fail("no command given")

names = {{name for name, _ in options}}
scope = "--scope" in names
if scope or CONFIG["mode"] == "inherit":
    env = dict(os.environ)
else:
    env = dict(CONFIG["manager_env"])  # a service starts from the manager's environment, not the caller's
for name, value in options:
    if name == "--setenv":
        key, equals, assigned = value.partition("=")
        env[key] = assigned if equals else os.environ.get(key, "")  # NAME alone: the caller's value, or ""

cwd = os.getcwd() if scope or "--same-dir" in names else CONFIG["service_cwd"]
streams = {{"StandardOutput": "journal", "StandardError": "inherit", "StandardInput": "null"}}
for name, value in options:
    if name == "--working-directory":
        cwd = value
    if name != "--property":
        continue
    key, _, setting = value.partition("=")
    if key in ENV_PROPERTIES:
        fail(f"-p {{key}}= is not emulated; pass variables with --setenv/-E")
    if key == "WorkingDirectory":
        cwd = setting.lstrip("-")
    if key in streams:
        streams[key] = setting

inline = scope or names & {{"--pipe", "--pty"}}
opened = []


def stream(setting, default):
    if setting in ("inherit", "tty") or inline:
        return default
    if setting == "null":
        return subprocess.DEVNULL
    for prefix, mode in (("file:", "r+b"), ("append:", "ab"), ("truncate:", "wb")):
        if setting.startswith(prefix):
            path = setting[len(prefix):]
            handle = open(path, mode if os.path.exists(path) or mode != "r+b" else "wb")
            opened.append(handle)
            return handle
    if setting in ("journal", "kmsg", "journal+console", "kmsg+console", "syslog"):
        handle = open(CONFIG["journal"], "ab")
        opened.append(handle)
        return handle
    fail(f"Standard stream setting {{setting!r}} is not emulated")


stdin = None if inline else subprocess.DEVNULL
stdout = stream(streams["StandardOutput"], None)
stderr = stdout if streams["StandardError"] == "inherit" and not inline else stream(streams["StandardError"], None)

if shutil.which(command[0], path=env.get("PATH", "")) is None and not os.path.exists(command[0]):
    fail(f"Failed to find executable {{command[0]}}: No such file or directory")
call = {{"id": os.getpid(), "options": options, "command": command, "env": sorted(env), "cwd": cwd,
         "mode": "scope" if scope else CONFIG["mode"]}}
log({{"event": "start", **call}})
returncode = subprocess.run(command, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr).returncode
log({{"event": "exit", "id": call["id"], "returncode": returncode}})
sys.exit(returncode if scope or "--wait" in names else 0)
'''

_POWER = """#!{python} -I
import json, os, sys
with open({log!r}, "a", encoding="utf-8") as out:
    out.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""

POWER_COMMANDS = ("shutdown", "poweroff", "halt", "reboot", "systemctl")


class AgentRun(subprocess.CompletedProcess[str]):
    """The user-data's exit status and output, the stand-in journal, and what it left running."""

    seconds: float
    journal: str
    lingering: list[str]  # command lines of processes still running when the user-data exited (now ended)

    def __str__(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.1f}s\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}\n"
            f"--- journal (systemd-run services)\n{self.journal}"
        )


@dataclass
class AgentSandbox:
    """One instance's file system and environment, in a temporary folder.

    - `root`: SPAWN_AGENT_ROOT; `path("/opt/spawn/x")` is where the agent's /opt/spawn/x lands.
    - `bin`: the stubs, first on PATH, then `root/usr/local/{sbin,bin}` (AL2023's /usr/local/bin holds
      `spored`), then an `aws` wrapper around this interpreter's awscli, then /usr/bin:/bin. This
      interpreter itself is not on PATH: `python3` is the system's, without boto3, as on AL2023.
    - `systemd_run`: "clean" (a service gets the manager's environment, `manager_env()`, plus its
      --setenv/-E values, as real systemd-run does) or "inherit" (the caller's environment).
    - `private`: absolute folders (`/app`, `/opt`, `/usr/local`) that the user-data sees as real
      paths: it runs in a bubblewrap mount namespace whose `/` is a tmpfs holding read-only binds of
      this machine's top-level folders, with each private folder bound to `path(folder)` (writable,
      kept after the run) and a fresh `/tmp` holding only this sandbox's folder. SPAWN_AGENT_ROOT is
      then unset: the agent writes the real paths, which land in `root` all the same. Nothing the
      user-data makes (`/checkpoints`, `/tmp/eval.json`) reaches this machine.
    """

    folder: Path
    imds: Imds
    endpoint: str
    systemd_run: str = "clean"
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    runs: list[AgentRun] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)
    private: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.systemd_run not in ("clean", "inherit"):
            raise ValueError(f"systemd_run must be 'clean' or 'inherit', not {self.systemd_run!r}")
        for folder in (self.root, self.bin, self.home, self.tmp, self.folder / "aws"):
            folder.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        self._write_executable(self.bin / "aws", f"#!/bin/sh\nexec '{python}' '{aws_cli()}' \"$@\"\n")
        for name in POWER_COMMANDS:
            self._write_executable(self.bin / name, _POWER.format(python=python, log=str(self.power_log)))
        config = {
            "log": str(self.systemd_run_log),
            "journal": str(self.journal_file),
            "mode": self.systemd_run,
            "manager_env": self.manager_env(),
            "service_cwd": str(self.root),  # a service starts in /
        }
        self._write_executable(self.bin / "systemd-run", _SYSTEMD_RUN.format(python=python, config=json.dumps(config)))

    @staticmethod
    def _write_executable(path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)

    # --- layout ----------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.folder / "root"

    @property
    def bin(self) -> Path:
        return self.folder / "bin"

    @property
    def home(self) -> Path:
        return self.folder / "home"

    @property
    def tmp(self) -> Path:
        return self.folder / "tmp"

    @property
    def power_log(self) -> Path:
        return self.folder / "power.jsonl"

    @property
    def systemd_run_log(self) -> Path:
        return self.folder / "systemd-run.jsonl"

    @property
    def journal_file(self) -> Path:
        return self.folder / "journal.log"

    @property
    def user_data_file(self) -> Path:
        return self.path(USER_DATA_PATH)

    def path(self, absolute: str) -> Path:
        """Where the agent's absolute path `absolute` lands in the sandbox."""
        return self.root / absolute.lstrip("/")

    # --- environment -----------------------------------------------------------------------------

    @property
    def path_variable(self) -> str:
        folders = [self.bin, self.root / "usr/local/sbin", self.root / "usr/local/bin"]
        return ":".join([*map(str, folders), "/usr/bin", "/bin"])

    def manager_env(self) -> dict[str, str]:
        """What every process here starts with: PATH and the rails that keep it off the machine and the network.

        A clean systemd-run service gets only this (plus its --setenv); `env()` adds the user-data's own.
        """
        return {
            "PATH": self.path_variable,
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.tmp),
            # The agent sets HOME=/root: keep the CLI off this machine's ~/.aws, and off 169.254.169.254.
            "AWS_CONFIG_FILE": str(self.folder / "aws/config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.folder / "aws/credentials"),
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds.endpoint,
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "http_proxy": DEAD_PROXY,
            "https_proxy": DEAD_PROXY,
            "NO_PROXY": LOOPBACK,
            "no_proxy": LOOPBACK,
            "SPAWN_TEST_SANDBOX": self.marker,  # finds every process started here, to end it
        }

    def env(self, **overrides: str | None) -> dict[str, str]:
        """The environment the user-data starts with; `NAME=None` removes a variable."""
        env = {
            **self.manager_env(),
            "HOME": str(self.home),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "SPAWN_IMDS_ENDPOINT": self.imds.endpoint,
            "SPAWN_AGENT_ROOT": str(self.root),
            "SPAWN_MIN_UPTIME": "0",
            "SPAWN_POLL_SECONDS": "1",
            "SPAWN_LOG_UPLOAD_SECONDS": "2",
        }
        if self.private:  # the agent's absolute paths are real (and private): no prefix
            del env["SPAWN_AGENT_ROOT"]
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    # --- running ---------------------------------------------------------------------------------

    @staticmethod
    def refusals(user_data: str) -> list[str]:
        """What `run` refuses in this user-data: absolute paths to init commands, a PATH without $PATH, `env -i`."""
        return [found.group(0) for pattern in UNSAFE_USER_DATA for found in pattern.finditer(user_data)]

    def run(self, user_data: str, timeout: float = 60, *, env: Mapping[str, str] | None = None) -> AgentRun:
        """Run `user_data` as cloud-init does (`$0` is its file) and wait for it; fails the test after `timeout` s."""
        refused = self.refusals(user_data)
        if refused:
            raise ValueError(f"refusing to run user-data that could reach this machine's init: {refused}")
        script = self.user_data_file
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(user_data, encoding="utf-8")
        script.chmod(0o700)
        number = len(self.runs) + 1
        stdout_path, stderr_path = self.folder / f"run-{number}.stdout", self.folder / f"run-{number}.stderr"
        journal_start = self.journal_file.stat().st_size if self.journal_file.exists() else 0
        before = _existing(WATCHED_SYSTEM_PATHS)
        started = time.monotonic()
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [*self.namespace(), "bash", str(script)],
                env=dict(env if env is not None else self.env()),
                cwd=self.root,  # cloud-init's scripts start in /
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                returncode = None
        seconds = time.monotonic() - started
        lingering = self.end_processes()
        if returncode is None:
            process.wait()
        self.escaped.extend(sorted(_existing(WATCHED_SYSTEM_PATHS) - before))
        result = AgentRun(process.args, process.returncode, _read(stdout_path), _read(stderr_path))
        result.seconds = seconds
        result.journal = _read(self.journal_file, journal_start)
        result.lingering = lingering
        self.runs.append(result)
        if returncode is None:
            pytest.fail(f"user-data still running after {timeout}s (ended)\n{result}", pytrace=False)
        return result

    def namespace(self) -> list[str]:
        """The bubblewrap command that gives the user-data its private folders (nothing without any)."""
        if not self.private:
            return []
        command = ["bwrap", "--die-with-parent", "--tmpfs", "/"]
        for entry in sorted(Path("/").iterdir()):
            if entry.name in ("proc", "dev", "tmp"):
                continue
            if entry.is_symlink():
                command += ["--symlink", os.readlink(entry), str(entry)]
            elif entry.is_dir():
                command += ["--ro-bind", str(entry), str(entry)]
        command += ["--dev-bind", "/dev", "/dev", "--bind", "/proc", "/proc", "--tmpfs", "/tmp", "--bind", str(self.folder), str(self.folder)]
        for folder in self.private:
            self.path(folder).mkdir(parents=True, exist_ok=True)
            command += ["--bind", str(self.path(folder)), folder]
        return command

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process started in this sandbox."""
        needle = f"SPAWN_TEST_SANDBOX={self.marker}".encode()
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                if needle in environ.split(b"\0"):
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue  # gone, or not ours to read
        return found

    def end_processes(self) -> list[str]:
        """End what this sandbox left running (TERM, then KILL); their command lines."""
        left = self.processes()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 2
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.05)
        return sorted(left.values())

    # --- what the stubs recorded -----------------------------------------------------------------

    def shutdown_log(self) -> list[list[str]]:
        """Each call of shutdown/poweroff/halt/reboot/systemctl, as its argv (command name first)."""
        return [json.loads(line) for line in _read(self.power_log).splitlines()]

    def systemd_run_calls(self) -> list[dict[str, Any]]:
        """Each systemd-run call: options ([name, value] pairs, long names), command, env names, cwd, mode, returncode."""
        calls: dict[int, dict[str, Any]] = {}
        for line in _read(self.systemd_run_log).splitlines():
            record = json.loads(line)
            event = record.pop("event")
            if event == "start":
                calls[record["id"]] = {**record, "returncode": None}
            else:
                calls[record["id"]]["returncode"] = record["returncode"]
        return list(calls.values())

    def journal(self) -> str:
        """What systemd-run services wrote to the journal (their default stdout and stderr)."""
        return _read(self.journal_file)


def _read(path: Path, offset: int = 0) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def _existing(patterns: tuple[str, ...]) -> set[str]:
    found = set()
    for pattern in patterns:
        path = Path(pattern)
        found.update(str(match) for match in path.parent.glob(path.name))
    return found


@pytest.fixture
def agent_sandbox(tmp_path: Path, aws: Aws, imds: Imds) -> Iterator[Callable[..., AgentSandbox]]:
    """`agent_sandbox(*, systemd_run="clean", private=()) -> AgentSandbox`; several sandboxes per test are separate instances."""
    made: list[AgentSandbox] = []

    def make(*, systemd_run: str = "clean", private: tuple[str, ...] = ()) -> AgentSandbox:
        sandbox = AgentSandbox(folder=tmp_path / f"sandbox-{len(made) + 1}", imds=imds, endpoint=aws.endpoint, systemd_run=systemd_run,
                               private=private)  # fmt: skip
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.end_processes()
    escaped = [path for sandbox in made for path in sandbox.escaped]
    if escaped:
        pytest.fail(f"user-data wrote outside SPAWN_AGENT_ROOT, on this machine: {escaped}", pytrace=False)


@pytest.fixture
def render_user_data(tmp_path: Path) -> Callable[[str, str], str]:
    """`render_user_data(sweep_yaml, run) -> str`: the exact user-data `spawn-tf userdata` prints for that run."""
    from spawn_tf import check_file
    from spawn_tf.userdata import user_data

    def render(sweep_yaml: str, run: str) -> str:
        path = tmp_path / f"sweep-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(sweep_yaml, encoding="utf-8")
        checked = check_file(path)
        if checked.plan is None or checked.runs is None:
            raise ValueError(f"invalid sweep: {[str(d) for d in checked.diagnostics]}")
        found = next((candidate for candidate in checked.runs if candidate.name == run), None)
        if found is None:
            raise ValueError(f"no run {run!r}: {[candidate.name for candidate in checked.runs]}")
        return user_data(checked.plan, found)

    return render
