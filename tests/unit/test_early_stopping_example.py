"""examples/early-stopping-median.yaml: the how-to's "Early Stopping" in spawn-tf form, its script run by real bash
with the real stand-in trainer (examples/app) and a `spored` stand-in that answers each report as the agent would
(0: go on, 3 = stopping.STOP_EXIT: the run must stop, 2: a usage error)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from spawn_tf import check_file, stopping
from spawn_tf.stopping import Rule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "early-stopping-median.yaml"
EPOCHS = 5
RATE = 0.01

# Answers the script's `spored` calls: writes each to calls.txt; a report of step N exits with the code in answers/N (else 0).
SPORED = """#!/bin/bash
echo "$*" >> "$STUB/calls.txt"
if [ "$1" = report ] && [ -f "$STUB/answers/$3" ]; then exit "$(cat "$STUB/answers/$3")"; fi
exit 0
"""


def loss_at(epoch: int) -> float:
    spec = importlib.util.spec_from_file_location("trainer", ROOT / "examples" / "app" / "train.py")
    assert spec is not None and spec.loader is not None
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    return trainer.loss_at(RATE, epoch)


def run_script(tmp_path: Path, answers: dict[int, int]) -> tuple[int, list[str], Path]:
    """The example's script with its absolute folders moved under tmp_path; (exit code, spored calls, output folder)."""
    checked = check_file(EXAMPLE)
    assert checked.runs is not None
    script = checked.runs[0].settings.script or ""
    shutil.copytree(ROOT / "examples" / "app", tmp_path / "app")
    for folder in ("/tmp/eval.json", "/checkpoints", "cd /app"):
        assert folder in script
    script = script.replace("/tmp/eval.json", f"{tmp_path}/eval.json").replace("/checkpoints", f"{tmp_path}/checkpoints")
    script = script.replace("cd /app", f"cd {tmp_path}/app")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "spored").write_text(SPORED)
    (tmp_path / "bin" / "spored").chmod(0o755)
    (tmp_path / "answers").mkdir()
    for step, code in answers.items():
        (tmp_path / "answers" / str(step)).write_text(str(code))
    output = tmp_path / "output"
    output.mkdir()
    env = {"PATH": f"{tmp_path}/bin:{os.environ['PATH']}", "STUB": str(tmp_path), "SPAWN_OUTPUT_DIR": str(output),
           "LEARNING_RATE": str(RATE), "EPOCHS": str(EPOCHS), "NAME": "es-lr-0.01"}  # fmt: skip
    done = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120)
    calls = (tmp_path / "calls.txt").read_text().splitlines() if (tmp_path / "calls.txt").exists() else []
    return done.returncode, calls, output


def reports(last: int) -> list[str]:
    return [f"report --step {epoch} val_loss={loss_at(epoch)}" for epoch in range(1, last + 1)]


def test_the_example_has_the_rule_and_its_runs() -> None:
    checked = check_file(EXAMPLE)
    assert checked.sweep is not None and checked.runs is not None
    assert checked.sweep.early_stopping == Rule("val_loss", "min", stopping.MEDIAN, min_step=10, min_runs=3)
    assert [run.name for run in checked.runs] == [f"es-lr-{rate}" for rate in ("0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03")]
    assert {run.env["EPOCHS"] for run in checked.runs} == {"100"}


def test_a_run_the_rule_leaves_alone_trains_every_epoch(tmp_path: Path) -> None:
    code, calls, output = run_script(tmp_path, {})
    assert code == 0
    assert calls == [*reports(EPOCHS), "complete --status success"]
    assert json.loads((output / "model.pth").read_text())["epoch"] == EPOCHS
    assert not (output / "early-stopped.json").exists()


def test_a_run_the_rule_stops_ends_at_that_epoch(tmp_path: Path) -> None:
    code, calls, output = run_script(tmp_path, {3: stopping.STOP_EXIT})
    assert code == 0
    assert calls == reports(3)  # no `spored complete`: the agent ends it `stopped`, reason early-stopped
    assert json.loads((output / "early-stopped.json").read_text()) == {"epoch": 3, "val_loss": loss_at(3)}
    assert not (output / "model.pth").exists()


@pytest.mark.parametrize("code", [1, 2])
def test_a_report_that_fails_fails_the_script(tmp_path: Path, code: int) -> None:
    exit_code, calls, output = run_script(tmp_path, {2: code})
    assert exit_code == code
    assert calls == reports(2)
    assert list(output.iterdir()) == []
