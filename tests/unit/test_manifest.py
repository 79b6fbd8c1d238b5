"""spawn_tf/manifest.py: the run records of sweep.json and the root manifests, written and read back."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
from sweep_helpers import QUIET_DEFAULTS, WriteSweep

from spawn_tf import contract, manifest
from spawn_tf.emit import staging
from spawn_tf.emit.files import write_tree
from spawn_tf.emit.json_text import dump_json
from spawn_tf.emit.terraform import emit_plan
from spawn_tf.pipeline import compile_file, compile_lazily

SWEEP = QUIET_DEFAULTS + "params:\n  - {name: b, lr: 1e-4, depth: 007}\n  - {name: a, lr: 0.10}\n"


def _compiled(write_sweep: WriteSweep) -> dict[PurePosixPath, bytes]:
    checked, files = compile_file(write_sweep(SWEEP))
    assert files is not None, [d.render() for d in checked.diagnostics]
    return files


def test_root_manifest_is_pretty_printed_one_key_a_line(write_sweep: WriteSweep) -> None:
    files = _compiled(write_sweep)
    [path] = [path for path in files if path.name == contract.ROOT_MANIFEST_FILE]
    text = files[path].decode()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # reviewable: a run's change is its own hunk
    assert [run["name"] for run in data["runs"]] == ["b", "a"]
    assert '    "name": "a",\n' in text


def test_root_and_sweep_manifests_read_back_as_the_same_runs(write_sweep: WriteSweep) -> None:
    files = _compiled(write_sweep)
    sweep = json.loads(files[PurePosixPath(contract.MANIFEST_FILE)])
    roots = [json.loads(content) for path, content in files.items() if path.name == contract.ROOT_MANIFEST_FILE]
    from_sweep, from_roots = manifest.runs(sweep), manifest.root_runs(roots)
    assert from_sweep == from_roots
    assert [run.name for run in from_sweep] == ["b", "a"] and [run.index for run in from_sweep] == [0, 1]
    assert from_sweep[0].params == {"lr": 0.0001, "depth": 7}  # numbers as numbers; the text is in env
    record = sweep["runs"][0]
    assert record["env"]["LR"] == "1e-4" and record["env"]["DEPTH"] == "007"
    assert {"max_attempts", "max_interruptions", "root", "fingerprint", "region_assigned"} <= set(record)


def test_location_and_source_text(write_sweep: WriteSweep) -> None:
    files = _compiled(write_sweep)
    sweep = json.loads(files[PurePosixPath(contract.MANIFEST_FILE)])
    assert manifest.is_sweep_manifest(sweep) and not manifest.is_sweep_manifest({"runs": []})
    where = manifest.location(sweep)
    assert where.folder == sweep["results"]["sweep_folder"] and where.home_region == contract.DEFAULT_HOME_REGION
    assert manifest.source_text(sweep) == ("sweep.yaml", SWEEP)
    assert manifest.source_text({"source": {"file": "x.yaml"}}) is None


def test_the_manifests_written_by_the_forked_process_are_those_made_here_in_sweep_order(
    write_sweep: WriteSweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regions = "".join(f"  - {{name: r{index}, lr: {index}, region: {region}}}\n" for index, region in enumerate(["us-west-2", "us-east-1"] * 3))
    path = write_sweep(QUIET_DEFAULTS + "params:\n" + regions)
    checked, files = compile_lazily(path)
    assert checked.plan is not None and files is not None and len(checked.plan.roots) == 2
    inline = files.tree()
    monkeypatch.setattr(staging, "forking_pays", lambda: True)  # whatever the CPUs of this machine
    write_tree(tmp_path / "build", files.terraform(), files.manifests)
    written = {PurePosixPath(file.relative_to(tmp_path / "build")): file.read_bytes() for file in (tmp_path / "build").rglob("*") if file.is_file()}
    assert written == inline
    sweep = json.loads(inline[PurePosixPath(contract.MANIFEST_FILE)])
    assert [record["name"] for record in sweep["runs"]] == [f"r{index}" for index in range(6)]  # by index, not by root
    records = manifest.run_records(checked.plan)  # each run's own values in the text its settings share
    assert sweep["runs"] == [json.loads(dump_json(records[f"r{index}"])) for index in range(6)]
    for root in checked.plan.roots:
        records = json.loads(inline[PurePosixPath(root.name) / contract.ROOT_MANIFEST_FILE])["runs"]
        assert records == [record for record in sweep["runs"] if record["root"] == root.name]


# Runs of two roots whose records are made from shapes in turn (settings, parameter names and their order differ) and
# whose own values are equal but written apart (0.0 -0.0, 1 1.0 true) or hold format directives.
SHAPES = QUIET_DEFAULTS + "params:\n" + "".join(
    f"  - {{name: r{index}, {row}}}\n"
    for index, row in enumerate([
        "lr: 1e-4, depth: 007", "instance_type: t3.micro, lr: 0.5, region: us-west-2", "lr: 2, depth: 3", "depth: 3, lr: 2", "x: 0.0", "x: -0.0",
        "x: 1.5", "y: 0.0", "y: true", "y: 1", "y: 1.0", "y: '50%s'", "y: ''", "y: -0.0", "lr: 0.10, depth: 1, region: us-west-2",
        "instance_type: t3.micro, lr: 0.5", "lr: 3, depth: 2, region: us-west-2", "x: -0.0, region: us-west-2",
    ])
)  # fmt: skip


def test_the_manifests_are_the_plain_encoding_of_the_records(write_sweep: WriteSweep) -> None:
    checked, _ = compile_file(write_sweep(SHAPES))
    assert checked.plan is not None and len(checked.plan.roots) == 2
    plan = checked.plan
    records = manifest.run_records(plan)
    expected = {PurePosixPath(contract.MANIFEST_FILE): dump_json(manifest.sweep_manifest(plan, records))}
    for root in plan.roots:
        plain = manifest.root_manifest(plan, root, [records[run.name] for run in root.runs])
        expected[PurePosixPath(root.name) / contract.ROOT_MANIFEST_FILE] = dump_json(plain)
    files = emit_plan(plan, checked.exports, checked.sizes)
    assert {path: files[path] for path in expected} == expected
    written = json.loads(expected[PurePosixPath(contract.MANIFEST_FILE)])["runs"]
    assert [record["params"] for record in written[4:8]] == [{"x": 0.0}, {"x": -0.0}, {"x": 1.5}, {"y": 0.0}]
    assert [repr(record["params"]["y"]) for record in written[7:14]] == ["0.0", "True", "1", "1.0", "'50%s'", "''", "-0.0"]
