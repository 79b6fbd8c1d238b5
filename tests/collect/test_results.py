"""`results`: each run's metrics.json ranked, lower-is-better with --mode min, runs without the metric apart."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from moto_layout import BUCKET

from spawn_tf.cli import main
from spawn_tf.collect.results import Metrics, Mode, rank
from spawn_tf.manifest import RunRecord

SWEEP = (
    f"sweep: board\nresults: s3://{BUCKET}/sweeps\n"
    "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
    "params:\n"
    "  - {name: lr-0.1, learning_rate: 0.1, batch_size: 32}\n"
    "  - {name: lr-0.01, learning_rate: 0.01, batch_size: 32}\n"
    "  - {name: lr-0.001, learning_rate: 0.001, batch_size: 64}\n"
    "  - {name: lr-0.0001, learning_rate: 1e-4, batch_size: 64}\n"
    "  - {name: crashed, learning_rate: 1.0, batch_size: 64}\n"
    "  - {name: odd, learning_rate: 0.5, batch_size: 64}\n"
)
METRICS = {
    "lr-0.1": {"val_accuracy": 0.71, "val_loss": 0.90},
    "lr-0.01": {"val_accuracy": 0.88, "val_loss": 0.35, "grad_norm": float("nan")},
    "lr-0.001": {"val_accuracy": 0.93, "val_loss": 0.21},
    "lr-0.0001": {"val_accuracy": 0.85, "val_loss": 0.40},
    "odd": {"val_accuracy": "n/a", "val_loss": float("inf"), "grad_norm": float("nan")},
}


def board(layout):
    sweep = layout(SWEEP)
    items = []
    for run in ["lr-0.1", "lr-0.01", "lr-0.001", "lr-0.0001", "odd"]:
        items += sweep.finished(run, "success", 0, metrics=METRICS[run])
    items += sweep.finished("crashed", "failed", 1)  # no metrics.json
    sweep.put_many(items)
    return sweep


def test_min_mode_ranks_the_lowest_loss_first_and_saves_the_top(layout, tmp_path, monkeypatch) -> None:
    sweep = board(layout)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_loss", "--mode", "min", "--top", "3"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Top 3 Results by val_loss (lower is better):"
    assert lines[1].split() == ["RANK", "NAME", "STATUS", "VAL_LOSS", "LEARNING_RATE", "BATCH_SIZE"]
    assert [line.split()[:4] for line in lines[2:5]] == [["1", "lr-0.001", "success", "0.21"], ["2", "lr-0.01", "success", "0.35"],
                                                         ["3", "lr-0.0001", "success", "0.4"]]  # fmt: skip
    assert lines[4].split()[4] == "1e-4"  # parameters as written
    assert "Best: lr-0.001 with val_loss = 0.21" in result.stdout
    assert "spawn-tf: 1 run not ranked: 1 failed (only current success runs are ranked; --status widens it)" in result.stderr
    assert "spawn-tf: not ranked: odd: 'val_loss' is Infinity, not a number" in result.stderr
    saved = json.loads((tmp_path / "best-results.json").read_text())
    assert [entry["name"] for entry in saved] == ["lr-0.001", "lr-0.01", "lr-0.0001"]
    assert saved[0]["val_loss"] == 0.21 and saved[0]["params"] == {"learning_rate": 0.001, "batch_size": 64}
    assert saved[0]["metrics"] == METRICS["lr-0.001"]


def test_max_mode_json_and_csv(layout, tmp_path) -> None:
    sweep = board(layout)
    save = tmp_path / "top.json"
    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_accuracy", "--format", "json", "--save", str(save)])
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert [entry["name"] for entry in ranked] == ["lr-0.001", "lr-0.01", "lr-0.0001", "lr-0.1"]
    assert json.loads(save.read_text()) == ranked
    assert "spawn-tf: not ranked: odd: 'val_accuracy' is \"n/a\", not a number" in result.stderr

    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_accuracy", "--format", "csv", "--no-save"])
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["rank", "name", "status", "val_accuracy", "learning_rate", "batch_size"]
    assert rows[1] == ["1", "lr-0.001", "success", "0.93", "0.001", "64"]
    assert len(rows) == 5


def _metrics(index: int, values: object) -> Metrics:
    run = RunRecord(name=f"r{index}", index=index, fingerprint="0" * 12, region="us-east-1", root="us-east-1",
                    instance_type="t3.micro", max_attempts=3, max_interruptions=10, params={})  # fmt: skip
    return Metrics(run=run, values=values, problem=None if values is not None else "no metrics.json")  # type: ignore[arg-type]


def test_rank_keeps_ties_in_sweep_order_and_never_ranks_what_is_not_a_number() -> None:
    found = [_metrics(0, {"loss": 1}), _metrics(1, {"loss": 0.5}), _metrics(2, {"loss": 1.0}), _metrics(3, {"loss": float("nan")}),
             _metrics(4, {"loss": True}), _metrics(5, None), _metrics(6, {"eval": {"loss": 0.25}})]  # fmt: skip
    assert [entry.metrics.run.name for entry in rank(found, "loss", Mode.MIN).ranked] == ["r1", "r0", "r2"]
    assert [entry.metrics.run.name for entry in rank(found, "loss", Mode.MAX).ranked] == ["r0", "r2", "r1"]
    assert [(metrics.run.name, why) for metrics, why in rank(found, "loss", Mode.MIN).unranked] == [
        ("r3", "'loss' is NaN, not a number"), ("r4", "'loss' is true, not a number"), ("r5", "no metrics.json"), ("r6", "no 'loss'"),
    ]  # fmt: skip
    assert [entry.value for entry in rank(found, "eval.loss", Mode.MIN).ranked] == [0.25]


def test_a_save_file_that_cannot_be_written_is_an_error(layout, tmp_path) -> None:
    sweep = board(layout)
    (tmp_path / "taken").write_text("")
    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_loss", "--save", str(tmp_path / "taken" / "best.json")])
    assert result.exit_code == 1 and f"spawn-tf: error: {tmp_path / 'taken' / 'best.json'}: " in result.stderr


# --- current results only (DESIGN §7): a run's outputs count when its status.json names its current fingerprint

CURRENT = (
    f"sweep: current\nresults: s3://{BUCKET}/sweeps\n"
    "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
    "params:\n"
    "  - {name: good, learning_rate: 0.01, batch_size: 32}\n"
    "  - {name: changed, learning_rate: 0.02, batch_size: 32}\n"
    "  - {name: crashed, learning_rate: 0.03, batch_size: 64}\n"
    "  - {name: waiting, learning_rate: 0.04, batch_size: 64}\n"
    "  - {name: fine, learning_rate: 0.05, batch_size: 128}\n"
)


def current_board(layout):
    """Two current successes; a run whose parameters changed since it succeeded (stale, the best old value); a failure."""
    sweep = layout(CURRENT)
    items = sweep.finished("good", "success", 0, metrics={"val_accuracy": 0.90, "val_loss": 0.3})
    items += sweep.finished("fine", "success", 0, metrics={"val_accuracy": 0.80, "val_loss": 0.5, "learning_rate": 0.5})
    items += sweep.finished("changed", "success", 0, metrics={"val_accuracy": 0.99, "val_loss": 0.1}, fingerprint="0123456789ab")
    items += sweep.finished("crashed", "failed", 1, metrics={"val_accuracy": 0.95, "val_loss": 0.2})
    sweep.put_many(items)
    return sweep


def test_only_current_success_runs_are_ranked_and_status_widens_it(layout, tmp_path) -> None:
    sweep = current_board(layout)
    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_accuracy", "--save", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    rows = [line.split()[:4] for line in result.stdout.splitlines()[2:4]]
    assert rows == [["1", "good", "success", "0.9"], ["2", "fine", "success", "0.8"]]
    assert "Analyzed 2 experiments, 2 with val_accuracy" in result.stdout
    assert "spawn-tf: 3 runs not ranked: 1 failed, 1 pending, 1 stale (only current success runs are ranked; --status widens it)" in result.stderr
    assert [entry["name"] for entry in json.loads((tmp_path / "b.json").read_text())] == ["good", "fine"]

    wider = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_accuracy", "--status", "success,failed", "--no-save"])
    assert wider.exit_code == 0, wider.output
    rows = [line.split()[:4] for line in wider.stdout.splitlines()[2:5]]
    assert rows == [["1", "crashed", "failed", "0.95"], ["2", "good", "success", "0.9"], ["3", "fine", "success", "0.8"]]
    assert "2 runs not ranked: 1 pending, 1 stale" in wider.stderr
    bad = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_accuracy", "--status", "sucess"])
    assert bad.exit_code == 2 and "unknown status sucess" in bad.output


def test_the_how_tos_print_loop_runs_unchanged_on_best_results(layout, tmp_path) -> None:
    """best-results.json in the how-to's shape: name, parameters and metrics at the top level; no stale or failed run."""
    sweep = current_board(layout)
    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_accuracy", "--save", str(tmp_path / "best-results.json")])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "best-results.json").read_text())
    assert saved[0] == {"rank": 1, "name": "good", "status": "success", "index": 0, "region": "us-east-1",
                        "fingerprint": sweep.record.run("good").fingerprint, "learning_rate": 0.01, "batch_size": 32,
                        "val_accuracy": 0.9, "val_loss": 0.3, "params": {"learning_rate": 0.01, "batch_size": 32},
                        "metrics": {"val_accuracy": 0.9, "val_loss": 0.3}}  # fmt: skip
    # A metric named like a parameter, with another value: the parameter stays at the top level, and it is said.
    assert saved[1]["learning_rate"] == 0.05 and saved[1]["metrics"]["learning_rate"] == 0.5
    assert ("spawn-tf: warning: fine: metric 'learning_rate' = 0.5 differs from the parameter 'learning_rate' = 0.05; "
            "the top level keeps the parameter, the metric is under 'metrics'") in result.stderr  # fmt: skip

    script = Path(__file__).parents[1] / "data" / "seed" / "analyze-best-results.py"
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[3].split() == ["1", "good", "0.9000", "0.010000", "32"]
    assert lines[4].split() == ["2", "fine", "0.8000", "0.050000", "128"]
    assert "Analyzed 2 experiments" in run.stdout and "Best: good with 0.9000 accuracy" in run.stdout
    assert "changed" not in run.stdout and "crashed" not in run.stdout


def test_a_metric_no_run_has_is_an_error_and_keeps_the_saved_file(layout, tmp_path) -> None:
    sweep = current_board(layout)
    save = tmp_path / "best-results.json"
    save.write_text('[{"name": "earlier"}]\n')
    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_acc", "--save", str(save)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "spawn-tf: error: none of the 2 runs ranked has a numeric 'val_acc' in metrics.json" in result.stderr
    assert ("  hint: did you mean 'val_accuracy'? the runs' metrics are: learning_rate, val_accuracy, val_loss") in result.stderr
    assert save.read_text() == '[{"name": "earlier"}]\n'

    # Nothing to rank yet (no current success): not an error, and the saved file stays as it is.
    waiting = layout(CURRENT.replace("sweep: current", "sweep: nothing-yet"), name="later.yaml")
    result = CliRunner().invoke(main, ["results", str(waiting.sweep_file), "--sort-by", "val_accuracy", "--save", str(save)])
    assert result.exit_code == 0, result.output
    assert "Top 0 Results by val_accuracy" in result.stdout
    assert "5 runs not ranked: 5 pending" in result.stderr
    assert f"spawn-tf: no run to rank yet; {save} left as it is" in result.stderr
    assert save.read_text() == '[{"name": "earlier"}]\n'
