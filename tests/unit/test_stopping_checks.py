"""The early_stopping block's checks beyond the schema (spawn_tf/stopping_checks.py): warnings for a block
that can never stop a run, each at the place to change, and silence when it can."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import CheckSweep

from spawn_tf.stopping_checks import METRIC_WRITTEN, REPORT_CALL, report_lines

REPORTS = "    spored report --step $EPOCH val_loss=$LOSS || exit 0\n"
RUNS = "params:\n  - {name: a}\n  - {name: b}\n  - {name: c}\n  - {name: d}\n"


def sweep(block: str, script: str = REPORTS, runs: str = RUNS, extra: str = "") -> str:
    return (
        "results: s3://my-bucket/sweeps\n"
        f"defaults:\n  instance_type: m7i.large\n  ttl: 2h\n{extra}  user_data: |\n    #!/bin/bash\n{script}"
        f"early_stopping:\n{block}{runs}"
    )


BLOCK = "  metric: val_loss\n  mode: min\n"


def found(check: CheckSweep, text: str) -> list[tuple[str, str, str | None, int, int]]:
    return [(d.code, d.message, d.hint, d.span.line, d.span.col) for d in check(text).diagnostics if d.span is not None]


def test_a_block_that_can_decide_gives_no_warning(check: CheckSweep) -> None:
    assert found(check, sweep(BLOCK)) == []
    assert found(check, sweep(BLOCK + "  rule: asha\n  grace: 2\n  reduction_factor: 2\n  min_step: 4\n")) == []


def test_no_script_reports(check: CheckSweep) -> None:
    assert found(check, sweep(BLOCK, script="    python3 train.py\n")) == [
        ("no-progress-reports", "early_stopping is set, but no run reports val_loss: nothing in the scripts or workdirs calls `spored report`",
         "report it at each step, e.g. `spored report --step \"$EPOCH\" val_loss=\"$VALUE\"` (README, Early stopping)", 8, 1),
    ]  # fmt: skip
    # without early_stopping, a script that reports nothing is nobody's concern
    text = sweep(BLOCK, script="    python3 train.py\n").replace("early_stopping:\n" + BLOCK, "")
    assert found(check, text) == []


def test_one_run_that_reports_is_enough(check: CheckSweep) -> None:
    runs = "params:\n  - {name: a, user_data: spored report --step 1 val_loss=0.5}\n  - {name: b}\n  - {name: c}\n  - {name: d}\n"
    assert found(check, sweep(BLOCK, script="    python3 train.py\n", runs=runs)) == []


def test_a_program_in_the_workdir_that_reports_counts(check: CheckSweep, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    program = tmp_path / "app" / "train.py"
    program.write_text('import subprocess\nsubprocess.run(["spored", "report", "--step", "1", f"val_loss={0.5}"], check=False)\n')
    text = sweep(BLOCK, script="    python3 train.py\n", extra="  workdir: ./app\n")
    assert found(check, text) == []
    program.write_text("print('no reports')\n")
    assert [code for code, *_ in found(check, text)] == ["no-progress-reports"]
    program.write_text('import subprocess\nsubprocess.run(["spored", "report", "--step", "1", "loss=0.5"], check=False)\n')
    assert [code for code, *_ in found(check, text)] == ["unreported-metric"]
    # the README's helper for Python programs: the metric is a keyword argument, so any metric may be reported
    program.write_text(
        "import subprocess\nimport sys\n\n\ndef report(step, **metrics):\n"
        '    command = ["spored", "report", "--step", str(step), *(f"{name}={float(value)!r}" for name, value in metrics.items())]\n'
        "    if subprocess.run(command, check=False).returncode == 3:\n        sys.exit(3)\n\n\nreport(1, val_loss=0.5)\n"
    )
    assert found(check, text) == []
    # a file that is not UTF-8 (a model, an image) is read past, not an error
    (tmp_path / "app" / "weights.bin").write_bytes(b"\xff\xfe\x00spored report val_loss=1\x80")
    program.write_text("print('no reports')\n")
    assert found(check, text) == []


def test_the_runs_report_another_metric(check: CheckSweep) -> None:
    script = "    spored report --step $EPOCH loss=$LOSS acc=$ACC\n    spored report --step $EPOCH \\\n      lr=$LR\n"
    assert found(check, sweep(BLOCK, script=script)) == [
        ("unreported-metric", "the runs report acc, loss, lr but not val_loss, the metric early_stopping compares",
         "report it: `spored report --step N val_loss=VALUE`", 11, 11),
    ]  # fmt: skip
    script = "    spored report --step $EPOCH val-loss=$LOSS\n"
    assert found(check, sweep(BLOCK, script=script))[0][1:3] == (
        "the runs report val-loss but not val_loss, the metric early_stopping compares",
        "if val-loss is the one, write metric: val-loss; else report it: `spored report --step N val_loss=VALUE`",
    )


@pytest.mark.parametrize(
    "script",
    [
        "    spored report --step $EPOCH loss=$LOSS\n    spored report --step $EPOCH val_loss=$V\n",  # one line names it
        "    spored report --step $EPOCH \\\n      val_loss=$LOSS\n",  # on a continued line
        '    spored report --step $EPOCH "$METRIC=$VALUE"\n',  # a name the check cannot read: it may be the metric
        "    spored report --step $EPOCH loss=1\n    spored report \"$@\"\n",
    ],
)  # fmt: skip
def test_a_metric_that_may_be_reported_gives_no_warning(check: CheckSweep, script: str) -> None:
    assert found(check, sweep(BLOCK, script=script)) == []


def test_min_runs_that_no_run_can_reach(check: CheckSweep) -> None:
    three = "params:\n  - {name: a}\n  - {name: b}\n  - {name: c}\n"
    assert found(check, sweep(BLOCK, runs=three)) == [
        ("early-stopping-never-decides",
         "a verdict needs 3 other runs to have reported the step (min_runs, by default), but the sweep has 3 runs: no run is ever stopped",
         "set min_runs to at most 2", 8, 1),
    ]  # fmt: skip
    assert found(check, sweep(BLOCK + "  min_runs: 2\n", runs=three)) == []
    assert found(check, sweep(BLOCK + "  min_runs: 4\n")) == [
        ("early-stopping-never-decides",
         "a verdict needs 4 other runs to have reported the step (min_runs), but the sweep has 4 runs: no run is ever stopped",
         "set min_runs to at most 3", 11, 13),
    ]  # fmt: skip
    two = "params:\n  - {name: a}\n  - {name: b}\n"
    assert found(check, sweep(BLOCK + "  min_runs: 2\n", runs=two))[0][2] == "set min_runs to at most 1"
    one = "params:\n  - {name: a}\n"
    assert found(check, sweep(BLOCK + "  min_runs: 1\n", runs=one))[0][1:3] == (
        "a verdict needs 1 other runs to have reported the step (min_runs), but the sweep has 1 run: no run is ever stopped",
        "add runs: a run is compared with the others")  # fmt: skip


def test_median_ignores_the_settings_of_asha(check: CheckSweep) -> None:
    assert found(check, sweep(BLOCK + "  grace: 5\n  reduction_factor: 2\n")) == [
        ("ignored-early-stopping-setting", "grace applies to rule asha; rule median ignores it", "remove it, or set rule: asha", 11, 3),
        ("ignored-early-stopping-setting", "reduction_factor applies to rule asha; rule median ignores it", "remove it, or set rule: asha", 12, 3),
    ]  # fmt: skip
    assert found(check, sweep(BLOCK + "  rule: median\n  grace: 1\n"))[0][:2] == (
        "ignored-early-stopping-setting",
        "grace applies to rule asha; rule median ignores it",
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("min_step: 5", ("asha decides at rungs only and min_step 5 is not one: the first verdict is at step 9 (the rungs before, at steps 1, 3, give none)",
                         "write grace: 9 instead of min_step (rungs 9, 27, …), or a min_step that is a rung")),
        ("min_step: 100\n  reduction_factor: 2", ("asha decides at rungs only and min_step 100 is not one: the first verdict is at step 128 "
                                                "(the rungs before, at steps 1, 2, 4, …, give none)",
                                                "write grace: 128 instead of min_step (rungs 128, 256, …), or a min_step that is a rung")),
        ("min_step: 2\n  grace: 1", ("asha decides at rungs only and min_step 2 is not one: the first verdict is at step 3 (the rungs before, at steps 1, give none)",
                                     "write grace: 3 instead of min_step (rungs 3, 9, …), or a min_step that is a rung")),
        ("min_step: 3", None),  # a rung: the first verdict is where min_step says
        ("min_step: 1", None),
        ("min_step: 0", None),
        ("min_step: 5\n  grace: 10", None),  # before the first rung: the rungs say it all
    ],
)  # fmt: skip
def test_asha_with_a_min_step_between_rungs(check: CheckSweep, settings: str, expected: tuple[str, str] | None) -> None:
    warnings = [(message, hint) for code, message, hint, *_ in found(check, sweep(BLOCK + f"  rule: asha\n  {settings}\n"))]
    assert warnings == ([] if expected is None else [expected])


def test_the_asha_warning_is_at_min_step(check: CheckSweep) -> None:
    [(code, message, _, line, col)] = found(check, sweep(BLOCK + "  rule: asha\n  min_step: 10\n  grace: 1\n"))
    assert (code, line, col) == ("ignored-early-stopping-setting", 12, 13)
    assert message.endswith("the first verdict is at step 27 (the rungs before, at steps 1, 3, 9, give none)")  # three: no "…"


def test_the_checks_wait_for_a_sound_sweep(check: CheckSweep) -> None:
    broken = sweep(BLOCK, script="    python3 train.py\n").replace("ttl: 2h", "ttl: forever")
    assert "no-progress-reports" not in [d.code for d in check(broken).diagnostics]


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ("spored report --step 1 a=1", [" --step 1 a=1"]),
        ("/opt/spawn/bin/spored report --step 1 a=1 || verdict=$?", [" --step 1 a=1 "]),
        ("spored report --step 1 a=1; b=2 # c=3", [" --step 1 a=1"]),
        ("spored report --step 1 a=1 >/dev/null 2>&1 && x=1", [" --step 1 a=1 "]),
        ('subprocess.run(["spored", "report", "--step", "1", f"a={a}"])', ['", "--step", "1", f"a={a}"])']),
        ("subprocess.call(['spored','report'])", ["'])"]),
        ("spored complete --status success", []),
        ("spored reports", []),
        ("not_spored report", []),
        ("sporedreport", []),
        ("spored \\\n  report --step 1 a=1", [" --step 1 a=1"]),  # a continued line is one command
        ("spored report --step 1 \\\na=1", [" --step 1  a=1"]),
    ],
)  # fmt: skip
def test_report_calls_are_found_in_scripts_and_programs(line: str, after: list[str]) -> None:
    assert report_lines(line) == after
    assert bool(REPORT_CALL.search(line.replace("\\\n", " "))) == bool(after)


def test_metric_names_are_read_as_written() -> None:
    text = ' --step=3 val_loss=$L "acc=$A" $X=1 ${Y}=2 f"{m}={v}" a==b top-1.acc=0.9 -q=1'
    assert METRIC_WRITTEN.findall(text) == ["val_loss", "acc", "top-1.acc"]
