"""Compile owns only its files (DESIGN §4): state and the user's files survive recompiles, kills and full disks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner, Result
from sweep_helpers import WriteSweep

from spawn_tf import contract
from spawn_tf.cli import main
from spawn_tf.emit.files import write_tree
from spawn_tf.pipeline import compile_file

ROOT = Path(__file__).resolve().parents[2]

SWEEP = """\
sweep: demo
results: s3://demo-bucket/sweeps
regions: [us-east-1, eu-west-1]
defaults:
  instance_type: m7i.large
  ttl: 2h
  user_data: |
    #!/bin/bash
    echo "first script $LEARNING_RATE"
params:
  - {name: a, learning_rate: 0.1, region: us-east-1}
  - {name: b, learning_rate: 0.01, region: us-east-1}
  - {name: c, learning_rate: 0.001, region: eu-west-1}
"""
# The next version: eu-west-1 is no longer used, a parameter and the script changed.
SWEEP_V2 = (
    SWEEP.replace("regions: [us-east-1, eu-west-1]", "regions: [us-east-1]")
    .replace("region: eu-west-1", "region: us-east-1")
    .replace("learning_rate: 0.01,", "learning_rate: 0.02,")
    .replace("first script", "second script")
)
STATE = json.dumps({"version": 4, "resources": [{"mode": "managed", "type": "aws_instance", "name": "run", "instances": [{}]}]})
# Files of the user's and Terraform's own, by path under build/demo/: none may ever change.
NOT_COMPILES = {
    "us-east-1/terraform.tfstate": STATE.encode(),
    "us-east-1/terraform.tfstate.backup": b'{"version": 4, "resources": []}',
    "us-east-1/backend.tf": b'terraform {\n  backend "s3" {}\n}\n',
    "us-east-1/provider_override.tf": b'provider "aws" {\n  profile = "research"\n}\n',
    "us-east-1/terraform.tfvars": b'owner = "me"\n',
    "us-east-1/.terraform.lock.hcl": b"# lock\n",
    "us-east-1/.terraform/providers/marker": b"provider binary\n",
    "us-east-1/notes.txt": b"my notes\n",
    "eu-west-1/provider_override.tf": b"# mine\n",
}


def _compile(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, ["compile", *args])


def _plant(build: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        path = build / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _on_disk(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _expected(sweep: Path) -> dict[str, bytes]:
    checked, files = compile_file(sweep)
    assert files is not None, [d.render() for d in checked.diagnostics]
    return {str(path): content for path, content in files.items()}


def test_recompile_keeps_state_and_user_files_byte_for_byte(write_sweep: WriteSweep, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "build"
    assert _compile(runner, str(write_sweep(SWEEP)), "-o", str(out)).exit_code == 0
    build = out / "demo"
    _plant(build, NOT_COMPILES)
    result = _compile(runner, str(write_sweep(SWEEP_V2)), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    on_disk = _on_disk(build)
    for relative, content in NOT_COMPILES.items():
        if relative.startswith("us-east-1/"):
            assert on_disk.pop(relative) == content, relative
    assert on_disk.pop("eu-west-1/provider_override.tf") == b"# mine\n"  # the orphan root keeps the user's file
    assert on_disk == _expected(write_sweep(SWEEP_V2))  # and compile's own files are exactly the new ones
    # One line names the user's files that Terraform loads next to the compiled ones.
    [notice] = [line for line in result.stderr.splitlines() if "backend.tf" in line]
    assert notice == (
        f"{build}: Terraform also loads files compile did not write (left as they are): "
        "us-east-1/backend.tf, us-east-1/provider_override.tf, us-east-1/terraform.tfvars"
    )
    assert f"{build}/eu-west-1: no longer compiled; its files are removed; kept what compile did not write: provider_override.tf" in (
        result.stderr.splitlines()
    )
    check = _compile(runner, "--check", str(write_sweep(SWEEP_V2)), "-o", str(out))
    assert check.exit_code == 0, check.stderr  # the user's files are not drift


def test_orphan_root_with_state_keeps_its_files_until_destroyed(write_sweep: WriteSweep, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "build"
    assert _compile(runner, str(write_sweep(SWEEP)), "-o", str(out)).exit_code == 0
    root = out / "demo" / "eu-west-1"
    before = _on_disk(root)
    (root / "terraform.tfstate").write_text(STATE)
    result = _compile(runner, str(write_sweep(SWEEP_V2)), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"{root}: no longer compiled, and its state may still hold resources: run `terraform -chdir={root} destroy`, " in result.stderr
    assert _on_disk(root) == {**before, "terraform.tfstate": STATE.encode()}  # terraform destroy still works there
    assert _compile(runner, "--check", str(write_sweep(SWEEP_V2)), "-o", str(out)).exit_code == 0
    # Destroyed: the state lists nothing, so the next compile removes its files and leaves the state file.
    (root / "terraform.tfstate").write_text('{"version": 4, "resources": []}')
    result = _compile(runner, str(write_sweep(SWEEP_V2)), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert _on_disk(root) == {"terraform.tfstate": b'{"version": 4, "resources": []}'}
    assert f"{root}: no longer compiled; its files are removed; kept what compile did not write: terraform.tfstate" in result.stderr


def test_orphan_root_of_compiled_files_only_is_removed(write_sweep: WriteSweep, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "build"
    assert _compile(runner, str(write_sweep(SWEEP)), "-o", str(out)).exit_code == 0
    result = _compile(runner, str(write_sweep(SWEEP_V2)), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in (out / "demo").iterdir()) == [contract.COMPILED_FILES_RECORD, "sweep.json", "us-east-1"]
    assert f"{out / 'demo' / 'eu-west-1'}: no longer compiled; its files are removed" in result.stderr.splitlines()


def test_recompile_removes_leftover_staging_folders(write_sweep: WriteSweep, tmp_path: Path) -> None:
    out = tmp_path / "build"
    runner = CliRunner()
    assert _compile(runner, str(write_sweep(SWEEP)), "-o", str(out)).exit_code == 0
    leftover = out / "demo" / f"{contract.STAGING_PREFIX}x1y2"
    _plant(leftover, {"us-east-1/locals.tf.json": b"{}"})
    assert _compile(runner, str(write_sweep(SWEEP)), "-o", str(out)).exit_code == 0  # nothing else to change
    assert not leftover.exists()


def test_record_never_makes_compile_delete_state_or_files_outside(write_sweep: WriteSweep, tmp_path: Path) -> None:
    out = tmp_path / "build"
    runner = CliRunner()
    assert _compile(runner, str(write_sweep(SWEEP)), "-o", str(out)).exit_code == 0
    build = out / "demo"
    _plant(build, NOT_COMPILES)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    record = build / contract.COMPILED_FILES_RECORD
    listed = json.loads(record.read_text())
    working = [relative for relative in NOT_COMPILES if "terraform.tfstate" in relative or ".terraform" in relative]
    listed["files"] += [*working, "../outside.txt", str(outside), "us-east-1/.terraform", "us-east-1/terraform.tfstate.d/x"]
    record.write_text(json.dumps(listed))  # whatever the record says, Terraform's files and paths outside are never compile's
    assert _compile(runner, str(write_sweep(SWEEP_V2)), "-o", str(out)).exit_code == 0
    assert outside.read_text() == "keep"
    assert all((build / relative).read_bytes() == NOT_COMPILES[relative] for relative in working)


def test_legacy_swap_folder_is_named_not_deleted(write_sweep: WriteSweep, tmp_path: Path) -> None:
    out = tmp_path / "build"
    legacy = out / ".demo.new-abc123"
    _plant(legacy, {"us-east-1/terraform.tfstate": STATE.encode()})
    result = _compile(CliRunner(), str(write_sweep(SWEEP)), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert (legacy / "us-east-1" / "terraform.tfstate").read_text() == STATE
    assert f"{legacy}: left by an interrupted compile of an earlier spawn-tf; it may hold a root's terraform.tfstate" in result.stderr


# --- faults: a kill at every file operation, a full disk ------------------------------------------------

# Runs `spawn-tf compile` in a child whose file-system calls are counted; at call number N (argv[1]) it
# kills itself with SIGKILL, or (argv[2] == "ENOSPC") fails that call as a full disk would.
FAULTY_CHILD = r"""
import errno, io, os, signal, sys
limit, fault = int(sys.argv[1]), sys.argv[2]
calls = 0
def counted(function):
    def call(*args, **kwargs):
        global calls
        calls += 1
        if calls == limit:
            if fault == "KILL":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]))
        return function(*args, **kwargs)
    return call
for name in ("mkdir", "rmdir", "unlink", "remove", "rename", "replace"):
    setattr(os, name, counted(getattr(os, name)))
plain_open = io.open
counted_open = counted(plain_open)
def opened(file, mode="r", *args, **kwargs):
    writes = set(mode) & set("wax+") and not isinstance(file, int)  # a file, not a pipe's descriptor
    return (counted_open if writes else plain_open)(file, mode, *args, **kwargs)
io.open = opened
from spawn_tf.cli import main
main(sys.argv[3:], prog_name="spawn-tf")
"""


def _faulty_compile(sweep: Path, out: Path, at: int, fault: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-c", FAULTY_CHILD, str(at), fault, "compile", str(sweep), "-o", str(out)]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=60)


def test_kill_at_every_file_operation_of_a_recompile_loses_nothing(write_sweep: WriteSweep, tmp_path: Path) -> None:
    """DESIGN §4: SIGKILL at each file operation of a recompile; state and user files stay, the next compile converges."""
    runner = CliRunner()
    out = tmp_path / "build"
    old, new = write_sweep(SWEEP, "old.yaml"), write_sweep(SWEEP_V2, "new.yaml")
    assert _compile(runner, str(old), "-o", str(out)).exit_code == 0
    _plant(out / "demo", NOT_COMPILES)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(out, snapshot)
    expected = {**_expected(new), **{k: v for k, v in NOT_COMPILES.items() if k.startswith("us-east-1/")}}
    expected["eu-west-1/provider_override.tf"] = NOT_COMPILES["eu-west-1/provider_override.tf"]
    kills = 0
    for at in range(1, 200):
        shutil.rmtree(out)
        shutil.copytree(snapshot, out)
        child = _faulty_compile(new, out, at, "KILL")
        if child.returncode == 0:
            break
        assert child.returncode == -signal.SIGKILL, child.stderr
        kills += 1
        build = _on_disk(out / "demo")
        for relative, content in NOT_COMPILES.items():
            assert build.get(relative) == content, (at, relative)
        result = _compile(runner, str(new), "-o", str(out))
        assert result.exit_code == 0, (at, result.stderr)
        assert _on_disk(out / "demo") == expected, at
        assert not list((out / "demo").glob(contract.STAGING_PREFIX + "*")), at
    else:
        pytest.fail("the compile never finished")
    assert kills > 20  # every write, move and removal of the recompile was a kill point
    assert _on_disk(out / "demo") == expected


def test_full_disk_is_a_plain_error_and_the_previous_build_stays(write_sweep: WriteSweep, tmp_path: Path) -> None:
    out = tmp_path / "build"
    old, new = write_sweep(SWEEP, "old.yaml"), write_sweep(SWEEP_V2, "new.yaml")
    assert _compile(CliRunner(), str(old), "-o", str(out)).exit_code == 0
    _plant(out / "demo", NOT_COMPILES)
    before = _on_disk(out)
    child = _faulty_compile(new, out, 5, "ENOSPC")  # the first write into a staging folder (after the build's folder and two staging folders)
    assert child.returncode == 1
    [message, hint] = child.stderr.splitlines()
    assert message.startswith(f"spawn-tf: error: {out / 'demo'}/") and message.endswith(": no space left on device")
    assert contract.STAGING_PREFIX not in message  # the build's path, not the staging folder's
    assert hint == "  hint: free some space and compile again; the previous build is unchanged"
    assert _on_disk(out) == before


def test_full_disk_on_a_first_compile_leaves_no_folder(write_sweep: WriteSweep, tmp_path: Path) -> None:
    out = tmp_path / "build"
    child = _faulty_compile(write_sweep(SWEEP), out, 5, "ENOSPC")
    assert child.returncode == 1 and "internal error" not in child.stderr
    assert child.stderr.splitlines()[1] == "  hint: free some space and compile again; nothing was written"
    assert not (out / "demo").exists()


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("/proc/spawn-tf-test", "no such file or directory"),
        ("/sys/kernel", "operation not permitted"),
        ("/dev/full", "not a directory"),
        ("{sweep}/build", "not a directory"),  # a path under a regular file
    ],
)
def test_compile_to_an_impossible_folder_is_a_plain_error(write_sweep: WriteSweep, output: str, reason: str) -> None:
    sweep = write_sweep(SWEEP)
    output = output.format(sweep=sweep)
    if os.geteuid() != 0 and output == "/sys/kernel":
        reason = "permission denied"
    result = _compile(CliRunner(), str(sweep), "-o", output)
    assert result.exit_code == 1
    message, hint = result.stderr.splitlines()
    assert message.startswith(f"spawn-tf: error: {output}") and message.endswith(f": {reason}"), message
    assert hint.startswith("  hint: ") and "-o DIR" in hint


def test_write_tree_is_idempotent_and_touches_nothing_unchanged(tmp_path: Path) -> None:
    destination = tmp_path / "demo"
    files = {PurePosixPath("sweep.json"): b"{}\n", PurePosixPath("r/a.tf.json"): b"{}\n"}
    write_tree(destination, files)
    stamps = {path: path.stat().st_mtime_ns for path in destination.rglob("*")}
    update = write_tree(destination, files)
    assert not update.writes and not update.removals
    assert {path: path.stat().st_mtime_ns for path in destination.rglob("*")} == stamps


def test_several_files_compile_all_or_nothing(write_sweep: WriteSweep, tmp_path: Path) -> None:
    out = tmp_path / "build"
    first = write_sweep(SWEEP, "first.yaml")
    twin = write_sweep(SWEEP, "twin.yaml")  # the same sweep id
    broken = write_sweep(SWEEP.replace("sweep: demo", "sweep: other").replace("ttl: 2h", "ttl: 2 hours"), "broken.yaml")
    runner = CliRunner()
    for files in ((first, twin), (first, broken), (broken, first)):
        result = _compile(runner, *map(str, files), "-o", str(out))
        assert result.exit_code == 1
        assert result.stderr.splitlines()[-1] == "nothing written: 1 of 2 sweep files has errors"
        assert not out.exists()
