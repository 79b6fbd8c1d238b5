"""`refine`: the next stage's sweep file from laid-out results (moto server), checked and compiled as `compile` would."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from moto_layout import BUCKET

from spawn_tf.cli import main
from spawn_tf.pipeline import compile_file

SEED = Path(__file__).parents[1] / "data" / "seed"
HOW_TO_ACCURACY = {"coarse-lr-0.0001": 0.81, "coarse-lr-0.001": 0.93, "coarse-lr-0.01": 0.88, "coarse-lr-0.1": 0.42}


def coarse(layout):
    """The how-to's coarse sweep, as written, with lr=0.001 best (its `analyze.py` verdict)."""
    sweep = layout((SEED / "coarse-sweep.yaml").read_text(), name="coarse-sweep.yaml")
    sweep.put_many([item for run, accuracy in HOW_TO_ACCURACY.items() for item in sweep.finished(run, "success", 0, metrics={"val_accuracy": accuracy})])
    return sweep


def refine(*args: str):
    return CliRunner().invoke(main, ["refine", *args])


def compiled_runs(path: Path) -> list[tuple[str, dict]]:
    """The file's runs as `compile` makes them (it must compile), with their parameters."""
    checked, files = compile_file(path)
    assert files is not None and checked.runs is not None, [d.render() for d in checked.diagnostics]
    return [(run.name, dict(run.params)) for run in checked.runs]


def test_the_how_tos_coarse_sweep_refines_into_its_fine_sweep(layout, tmp_path) -> None:
    sweep = coarse(layout)
    output = tmp_path / "fine-sweep.yaml"
    result = refine(str(sweep.sweep_file), "--sort-by", "val_accuracy", "--mode", "max", "--param", "learning_rate:linear", "-o", str(output))
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(output.read_text())
    how_to = yaml.safe_load((SEED / "fine-sweep.yaml").read_text())
    assert written["sweep"] == "coarse-sweep-fine"
    assert written["defaults"] == {"instance_type": "g5.xlarge", "ttl": "2h", "spot": True}  # the coarse sweep's (the how-to edits ttl by hand)
    assert written["name_template"] == "fine-lr-{learning_rate}"
    assert written["params"] == [{"learning_rate": 0.0005}, {"learning_rate": 0.00075}, {"learning_rate": 0.00125}, {"learning_rate": 0.0015}]
    runs = compiled_runs(output)
    assert [name for name, _ in runs] == ["fine-lr-0.0005", "fine-lr-0.00075", "fine-lr-0.00125", "fine-lr-0.0015"]
    # The how-to's five points, 0.0005 ... 0.0015 around 0.001, but for the one run already: its 0.001.
    ends = [row["learning_rate"] for row in how_to["params"]]
    assert (runs[0][1]["learning_rate"], runs[-1][1]["learning_rate"]) == (ends[0], ends[-1]) and 0.001 in ends
    assert "sweep coarse-sweep-fine with 4 runs around coarse-lr-0.001 (learning_rate: linear); 1 point already run left out" in result.stderr


def test_by_default_a_parameter_searched_over_decades_is_refined_by_factors_beside_the_sweep_file(layout) -> None:
    sweep = coarse(layout)
    result = refine(str(sweep.sweep_file), "--sort-by", "val_accuracy")
    assert result.exit_code == 0, result.output
    output = sweep.sweep_file.parent / "coarse-sweep-fine.yaml"
    assert f"{output}: sweep coarse-sweep-fine with 4 runs" in result.stderr and "(learning_rate: log)" in result.stderr
    assert yaml.safe_load(output.read_text())["params"] == [{"learning_rate": 0.0005}, {"learning_rate": 0.0007}, {"learning_rate": 0.0014},
                                                             {"learning_rate": 0.002}]  # fmt: skip
    assert output.read_text().startswith("# The next stage of coarse-sweep.yaml, written by spawn-tf refine: 5 values of learning_rate (log)")
    compiled_runs(output)
    # An existing file is never replaced silently; --force replaces it.
    output.write_text("mine\n")
    result = refine(str(sweep.sweep_file), "--sort-by", "val_accuracy")
    assert result.exit_code == 1 and f"spawn-tf: error: {output} exists; nothing written" in result.stderr
    assert output.read_text() == "mine\n"
    result = refine(str(sweep.sweep_file), "--sort-by", "val_accuracy", "--force")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(output.read_text())["sweep"] == "coarse-sweep-fine"
    # The file is named after the new sweep's id.
    result = refine(str(sweep.sweep_file), "--sort-by", "val_accuracy", "--sweep-id", "lr-fine")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((output.parent / "lr-fine.yaml").read_text())["sweep"] == "lr-fine"


def test_from_sweep_json_to_stdout_or_the_current_folder(layout, tmp_path, monkeypatch) -> None:
    sweep = coarse(layout)
    build = tmp_path / "build"
    assert CliRunner().invoke(main, ["compile", str(sweep.sweep_file), "-o", str(build)]).exit_code == 0
    result = refine(str(build / "coarse-sweep" / "sweep.json"), "--sort-by", "val_accuracy", "--param", "learning_rate:linear", "-o", "-",
                    "--points", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["params"] == [{"learning_rate": 0.0005}, {"learning_rate": 0.0015}]
    assert "stdout: sweep coarse-sweep-fine with 2 runs" in result.stderr
    assert sorted(tmp_path.glob("*.yaml")) == [sweep.sweep_file]  # nothing written beside it
    # Without -o, from a sweep.json: <new id>.yaml in the current folder.
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = refine(str(build / "coarse-sweep" / "sweep.json"), "--sort-by", "val_accuracy", "--param", "learning_rate:linear", "--points", "3")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((here / "coarse-sweep-fine.yaml").read_text())["params"] == [{"learning_rate": 0.0005}, {"learning_rate": 0.0015}]


STAGE1 = (
    f"sweep: stage1\nresults: s3://{BUCKET}/sweeps\n"
    "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n  epochs: 10\n  optimizer: adam\n  shift: -1\n"
    "name_template: bs-{batch_size}-d-{dropout}\n"
    "grid:\n  dropout: [0.2, 0.3, 0.4]\n  batch_size: [32, 64]\n"
)
LOSS = {"bs-32-d-0.2": 0.30, "bs-32-d-0.3": 0.32, "bs-64-d-0.2": 0.33, "bs-32-d-0.4": 0.41, "bs-64-d-0.3": 0.45, "bs-64-d-0.4": 0.47}


def stage1(layout):
    sweep = layout(STAGE1)
    sweep.put_many([item for run, loss in LOSS.items() for item in sweep.finished(run, "success", 0, metrics={"val_loss": loss})])
    return sweep


def test_top_3_leaves_out_points_already_run_and_repeats(layout, tmp_path) -> None:
    sweep = stage1(layout)
    output = tmp_path / "stage2.yaml"
    result = refine(str(sweep.sweep_file), "--sort-by", "val_loss", "--mode", "min", "--top", "3", "--param", "dropout", "-o", str(output))
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(output.read_text())
    assert written["name_template"] == "bs-{batch_size}-d-{dropout}"  # the sweep's own: it names every parameter that varies
    assert written["defaults"]["epochs"] == 10 and written["results"] == f"s3://{BUCKET}/sweeps"
    # Around 0.2 (bs 32): 0.1 0.15 [0.2] 0.25 [0.3]; around 0.3 (bs 32): (0.15) 0.225 [0.3] 0.375 0.45; around 0.2 (bs 64): 0.1 0.15 [0.2] 0.25 [0.3]
    assert [name for name, _ in compiled_runs(output)] == [
        "bs-32-d-0.1", "bs-32-d-0.15", "bs-32-d-0.25", "bs-32-d-0.225", "bs-32-d-0.375", "bs-32-d-0.45",
        "bs-64-d-0.1", "bs-64-d-0.15", "bs-64-d-0.25",
    ]  # fmt: skip
    assert "around bs-32-d-0.2, bs-32-d-0.3, bs-64-d-0.2 (dropout: linear); 4 points already run left out" in result.stderr


def test_log_spacing_of_an_integer_and_every_varying_parameter_by_default(layout, tmp_path) -> None:
    sweep = stage1(layout)
    output = tmp_path / "bs.yaml"
    result = refine(str(sweep.sweep_file), "--sort-by", "val_loss", "--mode", "min", "--param", "batch_size:log", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert [(name, params["batch_size"]) for name, params in compiled_runs(output)] == [("bs-16-d-0.2", 16), ("bs-23-d-0.2", 23),
                                                                                        ("bs-45-d-0.2", 45)]  # fmt: skip
    assert all(type(row["batch_size"]) is int for row in yaml.safe_load(output.read_text())["params"])  # 64 (run already) left out
    both = tmp_path / "both.yaml"
    result = refine(str(sweep.sweep_file), "--sort-by", "val_loss", "--mode", "min", "--points", "3", "-o", str(both))
    assert result.exit_code == 0, result.output
    assert "(batch_size: linear, dropout: linear); 2 points already run left out" in result.stderr
    assert sorted((params["batch_size"], params["dropout"]) for _, params in compiled_runs(both)) == [
        (16, 0.1), (16, 0.2), (16, 0.3), (32, 0.1), (48, 0.1), (48, 0.2), (48, 0.3),
    ]  # fmt: skip


def test_errors(layout, tmp_path) -> None:
    sweep = stage1(layout)
    source = str(sweep.sweep_file)
    out = ["-o", str(tmp_path / "x.yaml")]
    result = refine(source, "--sort-by", "val_los", "--mode", "min", *out)
    assert result.exit_code == 1 and "none of the 6 runs ranked has a numeric 'val_los' in metrics.json" in result.stderr
    assert "did you mean 'val_loss'?" in result.stderr
    result = refine(source, "--sort-by", "val_loss", "--param", "optimizer", *out)
    assert result.exit_code == 1 and "parameter 'optimizer' is \"adam\" in run bs-64-d-0.4, not a number" in result.stderr
    result = refine(source, "--sort-by", "val_loss", "--param", "shift:log", *out)
    assert result.exit_code == 1 and "log spacing needs positive values, and 'shift' is -1 in a top run" in result.stderr
    result = refine(source, "--sort-by", "val_loss", "--param", "units", *out)
    assert result.exit_code == 1 and "'units' is not a parameter of run bs-64-d-0.4" in result.stderr
    result = refine(source, "--sort-by", "val_loss", "--param", "dropout:lin", *out)
    assert result.exit_code == 2 and "--param 'dropout:lin' is not NAME, NAME:log or NAME:linear" in result.stderr
    result = refine(source, "--sort-by", "val_loss", "--sweep-id", "Stage2", *out)
    assert result.exit_code == 2 and "--sweep-id 'Stage2' is not a sweep id" in result.stderr
    result = refine(source, "--sort-by", "val_loss", "--spread", "1", *out)
    assert result.exit_code == 2
    assert not (tmp_path / "x.yaml").exists()


def test_no_ranked_run_yet(layout, tmp_path) -> None:
    sweep = layout(STAGE1.replace("stage1", "pending"))
    result = refine(str(sweep.sweep_file), "--sort-by", "val_loss", "-o", str(tmp_path / "x.yaml"))
    assert result.exit_code == 1
    assert "no run of pending is ranked yet (6 runs not ranked: 6 pending): refine starts from finished runs" in result.stderr
