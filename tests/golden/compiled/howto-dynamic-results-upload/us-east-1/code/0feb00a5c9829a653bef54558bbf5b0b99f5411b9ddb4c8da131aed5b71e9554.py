"""`prepare`: the workload's environment (DESIGN §11), made by the workload's own process before its
script, so that the stop, spot and ttl checks watch it from the start and its output is the run's log.
Too large for user-data: kept in S3 beside the workdir archives and fetched by fetch.py.

In order: the workdir archive (downloaded, its tar's sha256 checked, extracted to the target), the OS
packages (dnf, else apt-get; retried), the container image (Docker installed where missing, ECR login
with the instance role, pulled; retried); then `run/workload`: the setup and the script, in the
workdir, inside `docker run` when the run has an image. A step that fails writes `failed REASON` to
the not-ready file and exits 1: the attempt ends `failed` with that reason (setup too, from the script).
"""

import gzip
import hashlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile

from rules import spaced

SETTINGS = {}  # contract names only this module reads: compile appends them as a last line (spawn_tf/workdir.py)
TRIES = 3  # a package manager or registry that fails three times, a backoff apart, fails the attempt
# Variables the container does not take from the host: its own PATH, HOME, shell state.
NOT_PASSED = ("PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "TERM", "TMPDIR", "_")


def say(text):
    print(f"spawn-tf: {text}", flush=True)


def run(command, **options):
    """A command, its output into the run's log (this process's stdout); (exit code, its last line of output)."""
    say("$ " + " ".join(shlex.quote(part) for part in command))
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, **options)
    sys.stdout.buffer.write(done.stdout)
    sys.stdout.flush()
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    return done.returncode, lines[-1] if lines else ""


def retried(command, before=None, **options):
    """`command` up to TRIES times (running `before` first each time, e.g. `apt-get update`); None, or its error."""
    for _ in spaced(TRIES):
        if before:
            run(before, **options)
        code, last = run(command, **options)
        if code == 0:
            return None
    return "{} exited {}: {}".format(" ".join(command[:3]), code, last)


def fetch_workdir(agent, target):
    """Download the archive, check the sha256 of its tar, extract it to `target`; None or why not."""
    s, cfg = agent.s, agent.cfg
    key = "{}/{}/{}{}".format(s["folder"], cfg["control"]["code"], s["code"], cfg["archive_suffix"])
    data = None
    for _ in spaced(TRIES):  # Terraform uploaded it before the instance was made: a missing archive stays missing
        data = agent.get(key)
        if data is not None:
            break
    if data is None:
        return f"cannot read s3://{s['bucket']}/{key}"
    try:
        tar = gzip.decompress(data)
    except (OSError, EOFError):
        return f"s3://{s['bucket']}/{key} is not a gzip file"
    if hashlib.sha256(tar).hexdigest() != s["code"]:
        return f"s3://{s['bucket']}/{key} is not the archive compiled (sha256 differs)"
    return extract(tar, target)


def extract(tar, target):
    """Every entry under `target`: relative names, links that stay inside, files, folders and links only."""
    os.makedirs(target, exist_ok=True)
    root = os.path.realpath(target)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = archive.getmembers()
        for member in members:
            path = os.path.realpath(os.path.join(root, member.name))
            link = os.path.realpath(os.path.join(os.path.dirname(path), member.linkname)) if member.issym() else root
            inside = all(p == root or p.startswith(root + os.sep) for p in (path, link))
            if not inside or not (member.isfile() or member.isdir() or member.issym()):
                return f"refused archive entry {member.name!r}"
        extra = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}  # checked above; keeps 3.9 to 3.14 alike
        archive.extractall(root, members, **extra)
    return None


def install_packages(names):
    if shutil.which("dnf"):
        return retried(["dnf", "-y", "install", *names])
    if shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        return retried(["apt-get", "install", "-y", *names], before=["apt-get", "update"], env=env)
    return "no dnf or apt-get on this image"


def pull_image(agent):
    """Docker (installed from the distribution where missing), an ECR login with the instance role, the image."""
    s = agent.s
    if not shutil.which("docker"):
        problem = install_packages(["docker"]) or retried(["systemctl", "start", "docker"])
        if problem:
            return problem
    ecr = re.fullmatch(agent.cfg["ecr_pattern"], s["image"])
    if ecr:
        registry = s["image"].split("/", 1)[0]
        for _ in spaced(TRIES):
            token = agent.aws("ecr", "get-login-password", "--region", ecr.group("region"))
            if token is not None and token.returncode == 0:
                login = ["docker", "login", "--username", "AWS", "--password-stdin", registry]
                say("$ " + " ".join(login))
                if subprocess.run(login, input=token.stdout, stdout=sys.stdout, stderr=subprocess.STDOUT, check=False).returncode == 0:
                    break
        else:
            return f"cannot log in to {registry}"
    return retried(["docker", "pull", s["image"]])


def workload_scripts(agent, cwd, workdir):
    """run/inner (setup, then the script, in `cwd`, with `python` where only python3 is) and run/workload
    (inner, in the image's container when there is one: same env, mounts at the same paths, host network)."""
    s, cfg, run_dir = agent.s, agent.cfg, agent.dir
    q = shlex.quote
    shim, setup, inner, not_ready = (os.path.join(run_dir, name) for name in ("shim", "setup", "inner", cfg["not_ready"]))
    write(setup, s["setup"])
    exports = f"export {SETTINGS['env']['workdir']}={q(workdir)}\n" if workdir else ""
    failed = q("{} {}".format(cfg["status"]["failed"], cfg["reasons"]["setup"]))
    write(inner, f"""#!/bin/bash
{exports}cd {q(cwd)} || exit 1
command -v python >/dev/null || ! command -v python3 >/dev/null || export PATH={q(shim)}:"$PATH"
if [ -s {q(setup)} ]; then bash {q(setup)} || {{ echo "spawn-tf: setup failed"; echo {failed} >{q(not_ready)}; exit 1; }}; fi
exec {q(os.path.join(run_dir, "user-script"))}
""")
    if not s["image"]:
        return write(os.path.join(run_dir, "workload"), f"#!/bin/bash\nexec bash {q(inner)}\n")
    tools = [shutil.which("spored"), shutil.which("aws")]
    paths = [workdir, os.environ[cfg["env"]["output_dir"]], os.path.dirname(run_dir), *(os.path.realpath(t) for t in tools if t)]
    mounts = " ".join(f"-v {q(path)}:{q(path)}" for path in dict.fromkeys(p for p in paths if p))
    gpus = " --gpus all" if s["gpu"] == "true" else ""
    write(os.path.join(run_dir, "workload"), f"""#!/bin/bash
env_args=()
for name in $(compgen -e); do
  case "$name" in {"|".join(NOT_PASSED)}) ;; *) env_args+=(-e "$name") ;; esac
done
exec docker run --rm --network host{gpus} "${{env_args[@]}}" {mounts} -w {q(cwd)} {q(s["image"])} bash {q(inner)}
""")


def write(path, text):
    with open(path, "w") as out:
        out.write(text)
    os.chmod(path, 0o755)


def prepare(agent):
    """Exit status 0 when `run/workload` is ready; else 1, with `failed REASON` in the not-ready file."""
    agent.cfg.update({key: value for key, value in SETTINGS.items() if key != "env"})
    agent.s.update({key: os.environ.get(name, "") for key, name in SETTINGS["env"].items()})
    s, reasons = agent.s, agent.cfg["reasons"]
    workdir = s["agent_root"] + s["workdir"] if s["code"] else ""
    steps = [
        (reasons["workdir"], lambda: fetch_workdir(agent, workdir) if workdir else None),
        (reasons["packages"], lambda: install_packages(s["packages"].split()) if s["packages"] else None),
        (reasons["image"], lambda: pull_image(agent) if s["image"] else None),
    ]
    for reason, step in steps:
        problem = step()
        if problem:
            say(f"{reason}: {problem}")
            agent.note(f"not ready: {reason}: {problem}")
            write(os.path.join(agent.dir, agent.cfg["not_ready"]), "{} {}: {}".format(agent.cfg["status"]["failed"], reason, problem))
            return 1
    workload_scripts(agent, workdir or os.environ[agent.cfg["env"]["output_dir"]], workdir)
    return 0
SETTINGS = {"archive_suffix": ".tar.gz", "ecr_pattern": "(?P<account>[0-9]{12})\\.dkr\\.ecr(?:-fips)?\\.(?P<region>[a-z0-9-]+)\\.amazonaws\\.com(?P<china>\\.cn)?/(?P<repository>[^:@]+)(?:[:@].*)?", "env": {"code": "SPAWN_CODE_SHA256", "gpu": "SPAWN_GPU", "image": "SPAWN_IMAGE", "packages": "SPAWN_PACKAGES", "setup": "SPAWN_SETUP", "workdir": "SPAWN_WORKDIR"}, "reasons": {"helper": "helper", "image": "image", "packages": "packages", "setup": "setup", "workdir": "workdir"}}
