"""A build as launch sees it (spawn_tf/launch/build.py), and launch's own files, which compile leaves alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from offline import compile_sweep
from offline_build import THREE, sweep_text

from spawn_tf import contract
from spawn_tf.cli import main
from spawn_tf.errors import SpawnError
from spawn_tf.launch.build import local_state, read_build
from spawn_tf.launch.lock import build_lock, holder_text


def test_roots_and_orphans_of_a_build(tmp_path: Path) -> None:
    _, build = compile_sweep(sweep_text(THREE), tmp_path)
    assert read_build(build).roots == ("eu-west-1", "us-east-1", "us-west-2")
    assert read_build(build / contract.MANIFEST_FILE).sweep_id == "lt"
    (build / "us-west-2" / "terraform.tfstate").write_text(json.dumps({"resources": [{"mode": "managed", "type": "x", "name": "y"}]}))
    (build / "us-east-1" / "terraform.tfstate").write_text(json.dumps({"resources": []}))
    _, build = compile_sweep(sweep_text({"a": THREE["a"]}), tmp_path)  # two regions fewer
    found = read_build(build)
    assert (found.roots, found.orphans) == (("eu-west-1",), ("us-west-2",))  # us-east-1's state is empty: nothing to destroy


def test_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    with pytest.raises(SpawnError, match=r"no sweep\.json: not a compiled sweep"):
        read_build(tmp_path)


def test_local_state_unless_a_backend_or_cloud_block(tmp_path: Path) -> None:
    _, build = compile_sweep(sweep_text({"a": THREE["a"]}), tmp_path)
    root = build / "eu-west-1"
    assert local_state(root)
    (root / "backend.tf").write_text('terraform {\n  backend "s3" {\n    bucket = "b"\n  }\n}\n')
    assert not local_state(root)
    (root / "backend.tf").unlink()
    (root / "cloud.tf.json").write_text(json.dumps({"terraform": [{"cloud": {"organization": "o"}}]}))
    assert not local_state(root)


def test_a_sweep_with_a_backend_has_no_local_state(tmp_path: Path) -> None:
    text = (
        sweep_text({"a": THREE["a"]}) + "terraform:\n  backend:\n    s3: {bucket: state, key: lt, region: us-east-1, use_lockfile: true}\n"
    )
    _, build = compile_sweep(text, tmp_path)
    assert not local_state(build / "eu-west-1")


def test_compile_leaves_launch_files_alone_and_sees_no_drift_in_them(tmp_path: Path) -> None:
    source = tmp_path / "lt.yaml"
    source.write_text(sweep_text(THREE))
    out = tmp_path / "build"
    runner = CliRunner()
    assert runner.invoke(main, ["compile", str(source), "-o", str(out)]).exit_code == 0
    build = out / "lt"
    spawn_files = [build / contract.LAUNCH_FOLDER / contract.LAUNCH_LOCK, build / "us-east-1" / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG,
                   build / "us-west-2" / contract.LAUNCH_FOLDER / contract.LAUNCH_PLAN]  # fmt: skip
    for path in spawn_files:
        path.parent.mkdir(exist_ok=True)
        path.write_text("launch's")
    check = runner.invoke(main, ["compile", "--check", str(source), "-o", str(out)])
    assert check.exit_code == 0, check.stderr
    source.write_text(sweep_text({"a": THREE["a"], "b": THREE["b"]}))  # us-west-2 no longer compiled, no state
    result = runner.invoke(main, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert all(path.read_text() == "launch's" for path in spawn_files)
    assert sorted(path.name for path in (build / "us-west-2").iterdir()) == [contract.LAUNCH_FOLDER]
    assert read_build(build).orphans == ()


def test_the_lock_names_its_holder_and_is_free_once_released(tmp_path: Path) -> None:
    with build_lock(tmp_path, "plan"):
        text = (tmp_path / contract.LAUNCH_FOLDER / contract.LAUNCH_LOCK).read_text()
        assert holder_text(text).startswith("spawn-tf plan (pid ")
    assert (tmp_path / contract.LAUNCH_FOLDER / contract.LAUNCH_LOCK).read_text() == ""
    assert holder_text("") == "another spawn-tf process (it has not named itself yet)"
    with build_lock(tmp_path, "launch"):
        pass


def test_compile_names_an_orphan_root_that_holds_resources_and_how_to_destroy_it(tmp_path: Path) -> None:
    source = tmp_path / "lt.yaml"
    source.write_text(sweep_text(THREE))
    out = tmp_path / "build"
    runner = CliRunner()
    assert runner.invoke(main, ["compile", str(source), "-o", str(out)]).exit_code == 0
    (out / "lt" / "us-west-2" / "terraform.tfstate").write_text(json.dumps({"resources": [{"mode": "managed", "type": "x", "name": "y"}]}))
    source.write_text(sweep_text({"a": THREE["a"], "b": THREE["b"]}))
    result = runner.invoke(main, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert f"or `spawn-tf destroy {out / 'lt'}` (`spawn-tf launch` destroys it after confirmation)" in result.stderr
