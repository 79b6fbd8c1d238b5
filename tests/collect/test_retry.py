"""`retry` re-opens runs in place (their control keys move to history) or writes a sweep file of them; `cancel` stops runs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from moto_layout import BUCKET

from spawn_tf import contract
from spawn_tf.cli import main
from spawn_tf.load import load_document
from spawn_tf.pipeline import check_file

SWEEP = f"""\
sweep: tune
results: s3://{BUCKET}/sweeps
regions: [us-east-1, eu-west-1]
defaults:
  instance_type: g5.xlarge
  ami: dlami-gpu
  ttl: 2h
  iam_policy: s3:ReadOnly
  user_data: |
    #!/bin/bash
    echo "$NAME $LEARNING_RATE" > "$SPAWN_OUTPUT_DIR/out.txt"
params:
  - name: lr-1e-4
    learning_rate: 1e-4
    instance_type: g5.2xlarge
  - name: lr-1e-3
    learning_rate: 0.001
grid:
  learning_rate: [0.01, 0.10]
  param:ttl_note: ["a 'quoted' $value"]
name_template: g-{{learning_rate}}
"""


def statuses(sweep_file) -> dict[str, str]:
    result = CliRunner().invoke(main, ["status", str(sweep_file), "--json"])
    assert result.exit_code == 0, result.output
    return {item["run"]: item["status"] for item in json.loads(result.stdout)["instances"]}


def finished_sweep(layout):
    sweep = layout(SWEEP)
    items = sweep.finished("lr-1e-4", "failed", 1) + sweep.finished("lr-1e-3", "success", 0)
    items += sweep.finished("g-0.01", "timeout", None) + sweep.finished("g-0.10", "success", 0)
    sweep.put_many(items)
    return sweep


def test_retry_in_place_moves_the_runs_records_to_history(layout) -> None:
    sweep = finished_sweep(layout)
    before = sweep.aws.s3_tree(BUCKET, sweep.folder + "/")
    dry = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "--dry-run"])
    assert dry.exit_code == 0 and dry.stdout.split() == ["lr-1e-4", "failed", "g-0.01", "timeout"]
    assert sweep.aws.s3_tree(BUCKET, sweep.folder + "/") == before

    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file)])
    assert result.exit_code == 0, result.output
    assert "re-opened 2 runs" in result.stderr
    assert statuses(sweep.sweep_file) == {"lr-1e-4": "pending", "lr-1e-3": "success", "g-0.01": "pending", "g-0.10": "success"}
    after = sweep.aws.s3_tree(BUCKET, sweep.folder + "/")
    moved = sorted(set(before) - set(after))
    history = contract.control_prefix(sweep.folder, contract.CONTROL_HISTORY)
    restored = sorted(contract.sweep_prefix(sweep.folder, key.removeprefix(history).split("/", 1)[1]) for key in set(after) - set(before))
    assert moved == restored and all(key.startswith(history) for key in set(after) - set(before))
    controls = {key.removeprefix(sweep.folder + "/").split("/")[0] for key in moved}
    assert controls == {contract.CONTROL_DONE, contract.CONTROL_ATTEMPTS, contract.CONTROL_LEASE}
    assert all(sweep.key("lr-1e-4") in key or sweep.key("g-0.01") in key for key in moved)
    # Their outputs stay where they are: the relaunch writes into the same prefix.
    assert f"{sweep.folder}/lr-1e-4/{contract.STATUS_FILE}" in after


def test_retry_by_name_and_status_choices(layout) -> None:
    sweep = finished_sweep(layout)
    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "--run", "lr-1e-3", "--dry-run"])
    assert result.stdout.split() == ["lr-1e-3", "success"]
    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "--run", "lr-1e3"])
    assert result.exit_code == 2 and "no run named 'lr-1e3' in sweep tune (did you mean 'lr-1e-3'?)" in result.output
    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "--status", "failed,broken"])
    assert result.exit_code == 2 and "unknown status broken" in result.output


def test_retry_output_writes_a_sweep_of_those_runs_with_their_settings(layout, tmp_path) -> None:
    sweep = finished_sweep(layout)
    output = tmp_path / "retry-sweep.yaml"
    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "sweep tune-retry with 2 runs" in result.stderr
    original, retried = check_file(sweep.sweep_file), check_file(output)
    assert retried.runs is not None and original.runs is not None, [d.render() for d in retried.diagnostics]
    assert [d.code for d in original.diagnostics] == [d.code for d in retried.diagnostics] == []
    assert retried.plan is not None and retried.plan.sweep.id == "tune-retry"
    before = {run.name: run for run in original.runs}
    assert [run.name for run in retried.runs] == ["lr-1e-4", "g-0.01"]
    for run in retried.runs:
        assert run.env == before[run.name].env  # parameters exported byte for byte ("1e-4" stays 1e-4)
        assert run.settings == before[run.name].settings
        assert run.region == before[run.name].region
    document, _ = load_document(output)
    assert document is not None and document.data["params"][0]["learning_rate"].source == "1e-4"
    # Nothing changed in S3: the original sweep keeps its records.
    assert statuses(sweep.sweep_file)["lr-1e-4"] == "failed"


def test_retry_output_from_a_sweep_json_or_an_id(layout, tmp_path) -> None:
    """sweep.json carries the sweep file as written, so `retry -o` needs neither the file nor its folder."""
    sweep = finished_sweep(layout)
    expected = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "-o", str(tmp_path / "expected.yaml")])
    assert expected.exit_code == 0, expected.output
    build = tmp_path / "build"
    assert CliRunner().invoke(main, ["compile", str(sweep.sweep_file), "-o", str(build)]).exit_code == 0
    compiled = build / "tune" / "sweep.json"
    assert json.loads(compiled.read_text())["source"]["text"] == sweep.sweep_file.read_text()
    for manifest in sorted((build / "tune").glob(f"*/{contract.ROOT_MANIFEST_FILE}")):  # what `terraform apply` uploads
        sweep.put(contract.manifest_key(sweep.folder, manifest.parent.name), manifest.read_bytes())
    sweep.sweep_file.unlink()

    for source, output in ((str(compiled), "from-json.yaml"), ("tune", "from-id.yaml")):
        result = CliRunner().invoke(main, ["retry", source, "-o", str(tmp_path / output)])
        assert result.exit_code == 0, (source, result.output)
        assert "sweep tune-retry with 2 runs" in result.stderr
        assert (tmp_path / output).read_text() == (tmp_path / "expected.yaml").read_text()

    # A sweep.json without the text (an earlier spawn-tf's): the sweep file is needed, and nothing is written.
    plan_json = tmp_path / "old" / "sweep.json"
    plan_json.parent.mkdir()
    data = json.loads(compiled.read_text())
    del data["source"]["text"]
    plan_json.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["retry", str(plan_json), "-o", str(tmp_path / "r.yaml")])
    assert result.exit_code == 2 and "this sweep's sweep.json does not carry the file" in result.output
    assert not (tmp_path / "r.yaml").exists()


def test_cancel_stops_one_run_or_the_sweep(layout) -> None:
    sweep = layout(SWEEP)
    result = CliRunner().invoke(main, ["cancel", str(sweep.sweep_file), "--run", "g-0.10"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"s3://{BUCKET}/{sweep.folder}/_stop/g-0.10"
    assert statuses(sweep.sweep_file) == {"lr-1e-4": "pending", "lr-1e-3": "pending", "g-0.01": "pending", "g-0.10": "cancelled"}
    CliRunner().invoke(main, ["cancel", str(sweep.sweep_file), "--all"])
    assert set(statuses(sweep.sweep_file).values()) == {"cancelled"}
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"])
    assert json.loads(result.stdout)["status"] == "completed"


def test_retry_in_place_refuses_while_the_whole_sweep_is_cancelled(layout) -> None:
    sweep = finished_sweep(layout)
    assert CliRunner().invoke(main, ["cancel", str(sweep.sweep_file), "--all"]).exit_code == 0
    before = sweep.aws.s3_tree(BUCKET, sweep.folder + "/")
    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file)])
    assert result.exit_code == 1
    assert "sweep tune is cancelled as a whole" in result.stderr and f"delete s3://{BUCKET}/{sweep.folder}/_stop/_all" in result.stderr
    assert sweep.aws.s3_tree(BUCKET, sweep.folder + "/") == before


def test_cancelling_a_whole_sweep_asks_on_a_terminal_and_needs_all_elsewhere(layout, collector_env) -> None:
    sweep = layout(SWEEP)
    sweep.put_many(sweep.finished("lr-1e-3", "success", 0))
    stop_all = f"{sweep.folder}/_stop/_all"
    refused = CliRunner().invoke(main, ["cancel", str(sweep.sweep_file)])  # no terminal: a script must say --all
    assert refused.exit_code == 2, refused.output
    assert "cancel without --run stops every run of the sweep: add --all to mean it" in refused.output
    both = CliRunner().invoke(main, ["cancel", str(sweep.sweep_file), "--all", "--run", "g-0.01"])
    assert both.exit_code == 2 and "give one" in both.output

    dry = CliRunner().invoke(main, ["cancel", str(sweep.sweep_file), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == f"s3://{BUCKET}/{stop_all}\n"
    assert "would stop lr-1e-4 (pending)" in dry.stderr and "lr-1e-3" not in dry.stderr
    assert "--dry-run: nothing written; 3 of 4 runs are not final and would stop" in dry.stderr
    assert stop_all not in sweep.aws.s3_tree(BUCKET, sweep.folder + "/")

    def on_a_terminal(answer: str) -> tuple[int, str]:
        """cancel with a real terminal as its stdin and stderr, answering the question."""
        main_fd, terminal = os.openpty()
        env = {**os.environ, **collector_env, "PYTHONPATH": str(Path(__file__).parents[2])}
        process = subprocess.Popen([sys.executable, "-c", "from spawn_tf.cli import main; main()", "cancel", str(sweep.sweep_file)],
                                   stdin=terminal, stdout=subprocess.PIPE, stderr=terminal, env=env)  # fmt: skip
        os.close(terminal)
        os.write(main_fd, answer.encode())
        output = b""
        with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
            while chunk := os.read(main_fd, 4096):
                output += chunk
        os.close(main_fd)
        return process.wait(timeout=60), output.decode()

    code, said = on_a_terminal("n\n")
    assert code == 1 and "Cancel every run of tune (4 runs)? [y/N]" in said and "nothing cancelled" in said
    assert stop_all not in sweep.aws.s3_tree(BUCKET, sweep.folder + "/")
    code, said = on_a_terminal("y\n")
    assert code == 0 and "cancelled every run of tune" in said
    assert stop_all in sweep.aws.s3_tree(BUCKET, sweep.folder + "/")


def test_retry_status_stopped_reopens_an_early_stopped_run_and_the_default_does_not(layout) -> None:
    """An early-stopped run is final (`stopped`, reason early-stopped): `retry` alone leaves it; `--status stopped`
    re-opens it in place, its progress reports kept (its next reports of a step are its latest)."""
    sweep = layout(SWEEP.replace("defaults:\n", "early_stopping: {metric: loss, mode: min}\ndefaults:\n"))
    report = f"{contract.progress_prefix(sweep.folder, 'loss')}0000000002/lr-1e-3=0.9,0.8,0.7"
    items = sweep.finished("lr-1e-3", "stopped", 3) + sweep.finished("lr-1e-4", "success", 0) + [(report, b"")]
    sweep.put_many(items)
    assert statuses(sweep.sweep_file)["lr-1e-3"] == "stopped"

    default = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "--dry-run"])
    assert default.exit_code == 0 and "lr-1e-3" not in default.stdout.split()

    result = CliRunner().invoke(main, ["retry", str(sweep.sweep_file), "--status", "stopped"])
    assert result.exit_code == 0, result.output
    assert "re-opened 1 run" in result.stderr
    assert statuses(sweep.sweep_file) == {"lr-1e-4": "success", "lr-1e-3": "pending", "g-0.01": "pending", "g-0.10": "pending"}
    assert report in sweep.aws.s3_tree(BUCKET, sweep.folder + "/")
