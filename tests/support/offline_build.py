"""Builds for the launch tests (tests/launch/): compiled sweeps turned into offline builds that real Terraform applies.

`offline_build(build, dest)` writes, with compile's own `write_tree` (record, orphan roots and all), a
build whose roots are tfharness's offline copies of the compiled ones: every AWS resource a
`terraform_data` stand-in, every data source a local state. `launch`, `plan` and `destroy` take a build
folder as well as a sweep file, so they run on it unchanged.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import tfharness as tfh
from click.testing import CliRunner, Result
from offline import COMPUTED, data_values

from spawn_tf import contract
from spawn_tf.cli import main
from spawn_tf.emit.files import RECORD, write_tree

BUCKET = "spawn-launch-test"


def sweep_text(runs: dict[str, tuple[str, float]], sweep: str = "lt") -> str:
    """A sweep of explicit runs: name -> (region, learning rate)."""
    rows = "".join(f"  - {{name: {name}, region: {region}, lr: {lr}}}\n" for name, (region, lr) in runs.items())
    return f"sweep: {sweep}\nresults: s3://{BUCKET}/sweeps\ndefaults:\n  instance_type: t3.micro\n  command: ./train.sh\nparams:\n{rows}"


THREE = {"a": ("eu-west-1", 0.1), "b": ("us-east-1", 0.2), "c": ("us-west-2", 0.3)}


def offline_tree(build: Path, data: dict[str, dict[str, Any]] | None = None) -> dict[PurePosixPath, bytes]:
    """The files of `build` with each root replaced by its offline copy (record left out: write_tree makes it)."""
    tree: dict[PurePosixPath, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="offline-launch-") as scratch:  # not /tmp/spawn*: the agent tests watch that
        for entry in sorted(build.iterdir()):
            if entry.is_dir() and any(entry.glob("*.tf.json")):
                text = "".join(path.read_text() for path in entry.glob("*.tf.json"))
                computed = {key: value for key, value in COMPUTED.items() if f'"{key.split(".")[0]}"' in text}
                copy = Path(scratch) / entry.name
                tfh.offline_copy(entry, copy, data_values(entry, data), computed, field="input")
                for path in copy.rglob("*"):
                    if path.is_file():
                        tree[PurePosixPath(entry.name, *path.relative_to(copy).parts)] = path.read_bytes()
            elif entry.is_file() and PurePosixPath(entry.name) != RECORD:
                tree[PurePosixPath(entry.name)] = entry.read_bytes()
    return tree


def offline_build(build: Path, dest: Path, data: dict[str, dict[str, Any]] | None = None) -> Path:
    write_tree(dest, offline_tree(build, data))
    return dest


# A plan of one new run, as `terraform show -json` prints it.
PLAN = {
    "configuration": {"root_module": {"resources": [
        {"address": "aws_instance.run", "mode": "managed", "for_each_expression": {"references": [contract.ACTIVE_RUNS_LOCAL]}},
    ]}},
    "resource_changes": [{"address": 'aws_instance.run["a"]', "mode": "managed", "index": "a", "change": {"actions": ["create"]}}],
}  # fmt: skip

# The part every stand-in `terraform` shares: its arguments logged in $STAND_IN_LOG, `version`, and the root and command.
STAND_IN_HEAD = """#!{python}
import json, os, pathlib, sys
args = sys.argv[1:]
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args == ["version", "-json"]:
    print(json.dumps({{"terraform_version": "9.9.9"}}))
    sys.exit(0)
root, command = pathlib.Path(args[0].removeprefix("-chdir=")), args[1]
"""

STAND_IN = STAND_IN_HEAD + """if command == "plan":
    out = next(arg for arg in args if arg.startswith("-out=")).removeprefix("-out=")
    (root / out).write_text("the plan of " + str(root))
    sys.exit(2)
if command == "apply" and os.environ.get("STAND_IN_DIE_ONCE") and not (root / "died").exists():
    (root / "died").write_text("")
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)  # as a child caught by a Ctrl-C before its exec dies
if command == "apply" and os.environ.get("STAND_IN_APPLY_SECONDS"):
    import signal, time
    def interrupted(*_):
        (root / "apply-interrupted").write_text("")
        sys.exit(1)
    signal.signal(signal.SIGINT, interrupted)
    (root / "apply-started").write_text("")
    time.sleep(float(os.environ["STAND_IN_APPLY_SECONDS"]))
    (root / "apply-finished").write_text("")
if command == "show":
    print(json.dumps({plan}))
    if os.environ.get("STAND_IN_TAMPER"):
        (root / args[-1]).write_text("another plan")
sys.exit(0)
"""


def write_stand_in(path: Path) -> None:
    """A `terraform` that records its arguments in $STAND_IN_LOG and answers as Terraform would (see STAND_IN)."""
    path.write_text(STAND_IN.format(python=sys.executable, plan=repr(PLAN)))
    path.chmod(0o755)


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def state_resources(root: Path) -> list[str]:
    """Addresses of the managed resources in a root's local state."""
    import json

    path = root / "terraform.tfstate"
    if not path.exists():
        return []
    state = json.loads(path.read_text())
    return sorted(
        f"{r['type']}.{r['name']}" + (f"[{i['index_key']!r}]" if "index_key" in i else "")
        for r in state.get("resources", [])
        if r["mode"] == "managed"
        for i in r["instances"]
    )
