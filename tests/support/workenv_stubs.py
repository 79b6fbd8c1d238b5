"""Recording stand-ins for the package managers and docker (DESIGN §11), like `shutdown`'s in sandbox.py.

- `dnf` / `apt-get`: accept only `dnf -y install NAME…` (`apt-get update`, `apt-get install -y NAME…`)
  with names a package manager takes (no option, no shell character); a name in `missing` fails as a
  real one would (exit 1, its message). Nothing is installed.
- `docker`: `pull`, `login` (reads the password from stdin) and `run`: records the image, options,
  the variables passed with `-e NAME` (their values from its own environment, as docker takes them)
  and the mounts, then runs the container's command here, with those variables and `-w` as its
  folder, and exits with its exit code. A mount whose two sides differ is refused.

Each call is a JSON line in `<sandbox>/<tool>.jsonl`: `calls(sandbox, "docker")`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sandbox import AgentSandbox

from spawn_tf import contract

_PACKAGES = r'''#!{python} -I
import json, re, sys
NAME = re.compile({pattern!r})
MISSING = set({missing!r})
tool, args = sys.argv[0].rsplit("/", 1)[-1], sys.argv[1:]
with open({log!r}, "a", encoding="utf-8") as out:
    out.write(json.dumps({{"tool": tool, "argv": args}}) + "\n")
if tool == "apt-get" and args == ["update"]:
    sys.exit(0)
expected = ["-y", "install"] if tool == "dnf" else ["install", "-y"]
if args[:2] != expected or len(args) < 3:
    print(f"{{tool}} (test stand-in): expected {{tool}} {{' '.join(expected)}} NAME...", file=sys.stderr)
    sys.exit(2)
bad = [name for name in args[2:] if not NAME.fullmatch(name)]
if bad:
    print(f"{{tool}} (test stand-in): not package names: {{bad}}", file=sys.stderr)
    sys.exit(2)
missing = [name for name in args[2:] if name in MISSING]
if missing:
    print(f"Error: Unable to find a match: {{' '.join(missing)}}")
    sys.exit(1)
print(f"Installed: {{' '.join(args[2:])}}")
'''

_DOCKER = r'''#!{python} -I
import json, os, subprocess, sys
args = sys.argv[1:]
record = {{"argv": args}}


def done(code):
    with open({log!r}, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    sys.exit(code)


if args[:1] == ["login"]:
    record["password"] = sys.stdin.read().strip()
    done(0)
if args[:1] == ["pull"]:
    done(0)
if args[:1] != ["run"]:
    done(2)
options, env, mounts, i = [], {{}}, [], 1
takes_value = {{"--network", "--gpus", "-e", "-v", "-w", "--name"}}
while args[i].startswith("-"):
    if args[i] in takes_value:
        options.append([args[i], args[i + 1]])
        i += 2
    else:
        options.append([args[i], None])
        i += 1
image, command = args[i], args[i + 1:]
for name, value in options:
    if name == "-e":
        env[value] = os.environ[value]
    if name == "-v":
        outside, inside = value.split(":")[:2]
        mounts.append([outside, inside])
        if outside != inside:
            done(3)
record.update(image=image, command=command, options=[o for o in options if o[0] not in ("-e", "-v")], env=dict(env), mounts=mounts)
workdir = dict((n, v) for n, v in options).get("-w", "/")
env["PATH"] = os.environ["PATH"]  # the image's own PATH, here this sandbox's
record["exit_code"] = subprocess.run(command, env=env, cwd=workdir, check=False).returncode
done(record["exit_code"])
'''


def install_package_manager(sandbox: AgentSandbox, tool: str = "dnf", missing: tuple[str, ...] = ()) -> None:
    """A `dnf` (or `apt-get`) stand-in first on the sandbox's PATH."""
    text = _PACKAGES.format(python=sys.executable, pattern=contract.PACKAGE_NAME_PATTERN.pattern, missing=list(missing),
                            log=str(sandbox.folder / "packages.jsonl"))  # fmt: skip
    _executable(sandbox.bin / tool, text)


def install_docker(sandbox: AgentSandbox) -> None:
    _executable(sandbox.bin / "docker", _DOCKER.format(python=sys.executable, log=str(sandbox.folder / "docker.jsonl")))


def calls(sandbox: AgentSandbox, what: str) -> list[dict[str, Any]]:
    """The recorded calls: what = "packages" or "docker"."""
    path = sandbox.folder / f"{what}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
