"""`collect-results`: parallel, atomic, resumable; a killed run leaves no partial file and the next fetches only what is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from moto_layout import BUCKET

from spawn_tf import contract
from spawn_tf.cli import main
from spawn_tf.collect.download import collect_results, wanted
from spawn_tf.collect.observe import Key

RUNS = 16
FILES_PER_RUN = 16
SWEEP = (
    f"sweep: outputs\nresults: s3://{BUCKET}/sweeps\n"
    "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
    "name_template: run-{index:02d}\ngrid:\n  seed: [" + ", ".join(map(str, range(RUNS))) + "]\n"
)


def outputs(layout):
    sweep = layout(SWEEP)
    items = []
    for run in sweep.record.runs:
        items += sweep.finished(run.name, "success", 0, metrics={"loss": run.index / 10})
        items += [sweep.file(run.name, f"checkpoints/epoch-{n}.pt", os.urandom(32 * 1024)) for n in range(FILES_PER_RUN)]
    sweep.put_many(items)
    return sweep


def local_tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def expected_tree(sweep) -> dict[str, bytes]:
    folder = sweep.folder + "/"
    return {key.removeprefix(folder): body for key, body in sweep.aws.s3_tree(BUCKET, folder).items() if not key.startswith(folder + "_")}


def _collect(env: dict[str, str], sweep, output: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from spawn_tf.cli import main; main()", "collect-results", str(sweep.sweep_file), "--output", str(output)]
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_files(folder: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if folder.exists() and sum(1 for path in folder.rglob("*.pt") if contract.DOWNLOAD_PARTIAL_FOLDER not in path.parts) >= count:
            return
        time.sleep(0.005)
    pytest.fail(f"collect-results finished or stalled before {count} files were written")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "terminated"])
def test_an_interrupted_collect_leaves_only_whole_files_and_resumes(layout, collector_env, counting_aws, tmp_path, sig) -> None:
    sweep = outputs(layout)
    expected = expected_tree(sweep)
    output = tmp_path / "results"
    process = _collect(collector_env, sweep, output)
    _wait_for_files(output, 1, process)
    process.send_signal(sig)
    process.wait(timeout=30)

    partial = output / contract.DOWNLOAD_PARTIAL_FOLDER
    if sig == signal.SIGTERM:
        assert process.returncode == 130, process.stderr.read() if process.stderr else ""
        assert not partial.exists()  # ended cleanly: nothing half-written anywhere
    have = {path: body for path, body in local_tree(output).items() if not path.startswith(contract.DOWNLOAD_PARTIAL_FOLDER)}
    assert 1 <= len(have) < len(expected)
    assert all(expected[path] == body for path, body in have.items())  # every file under its own name is whole

    aws, calls = counting_aws()
    report = collect_results(sweep.record, aws, output)
    assert not partial.exists()
    assert local_tree(output) == expected
    assert (report.downloaded, report.present, report.failed) == (len(expected) - len(have), len(have), ())
    assert calls[("s3", "GetObject")] == RUNS + len(expected) - len(have)  # each run's status.json, then only what was missing


def test_collect_results_cli_fetches_everything_then_nothing(layout, tmp_path) -> None:
    sweep = outputs(layout)
    output = tmp_path / "stage1-results"
    result = CliRunner().invoke(main, ["collect-results", str(sweep.sweep_file), "--output", str(output)])
    assert result.exit_code == 0, result.output
    expected = expected_tree(sweep)
    assert local_tree(output) == expected
    assert f"{len(expected)} downloaded" in result.stderr
    assert (output / "run-03" / "metrics.json").read_text() == '{"loss": 0.3}'
    again = CliRunner().invoke(main, ["collect-results", str(sweep.sweep_file), "--output", str(output)])
    assert f"0 downloaded (0.0 MB), {len(expected)} already present" in again.stderr


def test_collect_results_without_output_uses_a_folder_named_after_the_sweep(layout, tmp_path, monkeypatch) -> None:
    """The how-to's `spawn collect-results sweep-coarse-xxx`, with no folder named."""
    sweep = layout(SWEEP)
    sweep.put_many(sweep.finished("run-00", "success", 0, metrics={"loss": 1}))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["collect-results", str(sweep.sweep_file)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "outputs-results" / "run-00" / "metrics.json").read_text() == '{"loss": 1}'


def test_keys_that_would_land_outside_the_folder_are_refused() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    keys = [Key(name, now, 1) for name in ("s/run/ok.txt", "s/run/../../etc/passwd", "s/run//x", "s/_done/r/success.0", "s/run/dir/", "s/loose")]
    downloads, refused = wanted(keys, "s")
    assert [download.path.as_posix() for download in downloads] == ["run/ok.txt"]
    assert refused == ["s/run/../../etc/passwd", "s/run//x", "s/loose"]


def test_an_output_that_is_a_file_is_an_error(layout, tmp_path) -> None:
    sweep = layout(SWEEP)
    (tmp_path / "results").write_text("")
    result = CliRunner().invoke(main, ["collect-results", str(sweep.sweep_file), "--output", str(tmp_path / "results" / "deeper")])
    assert result.exit_code == 1 and "spawn-tf: error:" in result.stderr and "Traceback" not in result.output


def test_files_of_an_earlier_configuration_go_under_stale(layout, tmp_path) -> None:
    """A run whose status.json names another fingerprint (its parameters changed since) or none: its files are set aside."""
    sweep = layout(SWEEP)
    items = sweep.finished("run-00", "success", 0, metrics={"loss": 1})
    items += sweep.finished("run-01", "success", 0, metrics={"loss": 0.5}, fingerprint="0123456789ab")
    items.append(sweep.file("run-02", "metrics.json", b'{"loss": 2}'))  # outputs without a status.json
    sweep.put_many(items)
    output = tmp_path / "out"
    output.mkdir()
    result = CliRunner().invoke(main, ["collect-results", str(sweep.sweep_file), "--output", str(output)])
    assert result.exit_code == 0, result.output
    tree = local_tree(output)
    assert tree["run-00/metrics.json"] == b'{"loss": 1}'
    assert tree["run-01/stale/metrics.json"] == b'{"loss": 0.5}' and "run-01/metrics.json" not in tree
    assert tree["run-02/stale/metrics.json"] == b'{"loss": 2}' and "run-02/metrics.json" not in tree
    assert ("2 runs with files of an earlier configuration (status.json names another fingerprint, or none): "
            "in <run>/stale/: run-01, run-02") in result.stderr  # fmt: skip

    # A run collected while current and changed since: its earlier copy is moved aside, not fetched again.
    status = sweep.file("run-00", "status.json", json.dumps({"run": "run-00", "fingerprint": "fedcba987654", "status": "running"}).encode())
    sweep.put_many([status])
    again = CliRunner().invoke(main, ["collect-results", str(sweep.sweep_file), "--output", str(output)])
    assert again.exit_code == 0, again.output
    tree = local_tree(output)
    assert tree["run-00/stale/metrics.json"] == b'{"loss": 1}' and "run-00/metrics.json" not in tree
    assert "1 downloaded" in again.stderr  # the new status.json only
