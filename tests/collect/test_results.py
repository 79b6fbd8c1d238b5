"""`results`: each run's metrics.json ranked, lower-is-better with --mode min, runs without the metric apart."""

from __future__ import annotations

import csv
import io
import json

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
    assert lines[1].split() == ["RANK", "NAME", "VAL_LOSS", "LEARNING_RATE", "BATCH_SIZE"]
    assert [line.split()[:3] for line in lines[2:5]] == [["1", "lr-0.001", "0.21"], ["2", "lr-0.01", "0.35"], ["3", "lr-0.0001", "0.4"]]
    assert lines[4].split()[3] == "1e-4"  # parameters as written
    assert "Best: lr-0.001 with val_loss = 0.21" in result.stdout
    assert "spawn-tf: not ranked: crashed: no metrics.json" in result.stderr
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
    assert rows[0] == ["rank", "name", "val_accuracy", "learning_rate", "batch_size"]
    assert rows[1] == ["1", "lr-0.001", "0.93", "0.001", "64"]
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
