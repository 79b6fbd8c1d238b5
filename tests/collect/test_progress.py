"""Progress reports and early stops as the collector reads them (DESIGN §12), against moto server.

Reports are laid out as the agent names them (stopping.entry_name, with the running mean and best
for the early-stopping metric) at chosen LastModified seconds: moto server runs in this process, and
its S3 clock is set for each batch of keys, so that "written in an earlier second" is exact.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import moto.s3.models
import pytest
from click.testing import CliRunner
from faultproxy import FaultProxy
from moto_layout import BUCKET

from spawn_tf import contract, stopping
from spawn_tf.cli import main
from spawn_tf.collect import show
from spawn_tf.collect.aws import Aws as CollectorAws
from spawn_tf.collect.observe import Key, observe
from spawn_tf.collect.progress import Last, RunProgress, parse
from spawn_tf.collect.results import LastReports, Mode, last_reports, rank, read_current
from spawn_tf.collect.status import run_statuses
from spawn_tf.stopping import Rule, Verdict

T0 = datetime(2026, 12, 7, 10, 0, 0)  # naive UTC, as moto keeps times
T1 = T0 + timedelta(seconds=1)

MEDIAN = (
    f"sweep: curves\nresults: s3://{BUCKET}/sweeps\n"
    "early_stopping: {metric: val_loss, mode: min}\n"  # median, min_step 1, min_runs 3
    "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
    "params:\n" + "".join(f"  - {{name: {run}, seed: {i}}}\n" for i, run in enumerate("abcdegh"))
)
MEDIAN_RULE = Rule(metric="val_loss", mode="min")
# At T0: a, b, c and g. At T1 (a later second): d and e, and c again at step 3 (a resumed attempt).
CURVES_T0 = {
    "a": {"val_loss": {1: 1.0, 2: 0.5, 3: 0.5}, "accuracy": {1: 0.5, 2: 0.75, 3: 0.8}},
    "b": {"val_loss": {1: 0.75, 2: 0.5, 3: 0.5}, "accuracy": {1: 0.5, 2: 0.75, 3: 0.85}},
    "c": {"val_loss": {1: 0.5, 2: 0.25, 3: 0.25}, "accuracy": {1: 0.7, 2: 0.9}},
    "g": {"val_loss": {1: 4.0}},  # worse than anyone, but the others wrote in the same second: no verdict
}
CURVES_T1 = {
    "d": {"val_loss": {1: 0.6875, 2: 0.75, 3: 0.75}},  # goes on at step 1; stop at step 2 (and at 3, which it reported anyway)
    "e": {"val_loss": {1: 0.5, 2: 0.25}},  # better than the median: cancelled, not early-stopped
}
# d at step 2: its best 0.6875 against the median of a, b and c's running means (0.75, 0.625, 0.375); e wrote
# in d's second, so it does not count (with it: 4 runs, median 0.5).
D_VERDICT = Verdict(stop=True, rule="median", step=2, value=0.6875, cutoff=0.625, runs=3)
D_REASON = "early-stopped: step 2: best val_loss 0.6875 worse than the median 0.625 of 3 other runs' running means"

ASHA = (
    f"sweep: rungs\nresults: s3://{BUCKET}/sweeps\n"
    "early_stopping: {metric: score, mode: max, rule: asha, grace: 1, reduction_factor: 3, min_runs: 2}\n"
    "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  command: ./train.sh\n"
    "params:\n" + "".join(f"  - {{name: {run}, seed: {i}}}\n" for i, run in enumerate("pqrs"))
)
ASHA_RULE = Rule(metric="score", mode="max", rule="asha", min_runs=2)
ASHA_T0 = {
    "p": {"score": {1: 0.5, 2: 0.6, 3: 0.8}, "loss": {1: 2.0, 2: 1.0, 3: 0.5}},
    "q": {"score": {1: 0.6, 2: 0.65, 3: 0.7}, "loss": {1: 1.5, 2: 1.25}},
    "r": {"score": {1: 0.7, 2: 0.7, 3: 0.6}},
}
# s: best at rung 1; worst at step 2, which is no rung; at rung 3 not in the top 1/3 of 4 (the cut-off is p's 0.8).
ASHA_T1 = {"s": {"score": {1: 0.9, 2: 0.5, 3: 0.55}}}
S_VERDICT = Verdict(stop=True, rule="asha", step=3, value=0.55, cutoff=0.8, runs=3)
S_REASON = "early-stopped: rung step 3: score 0.55 worse than the cut-off 0.8 of the top 1/3 of 4 runs"


@pytest.fixture
def s3_clock(monkeypatch):
    """`at(moment)`: the LastModified moto server gives the keys written next."""
    now: list[datetime] = []
    real = moto.s3.models.utcnow
    monkeypatch.setattr(moto.s3.models, "utcnow", lambda: now[-1] if now else real())
    return now.append


def report_keys(sweep, rule: Rule | None, run: str, curves: dict) -> list[tuple[str, bytes]]:
    """The keys `spored report` writes for these values, one step after another in one attempt."""
    items = []
    for metric, curve in curves.items():
        history: dict[int, float] = {}
        for step, value in sorted(curve.items()):
            history[step] = value
            summary = stopping.running(history, step, rule) if rule is not None and metric == rule.metric else None
            name = stopping.entry_name(run, value, summary)
            items.append((f"{contract.progress_prefix(sweep.folder, metric)}{stopping.step_folder(step)}/{name}", b""))
    return items


def report_at(sweep, at, moment: datetime, rule: Rule | None, curves: dict) -> None:
    at(moment)
    sweep.put_many([item for run, curve in curves.items() for item in report_keys(sweep, rule, run, curve)])


def lay_out_median(layout, at):
    sweep = layout(MEDIAN)
    report_at(sweep, at, T0, MEDIAN_RULE, CURVES_T0)
    # b reported step 3 twice in its second (a resumed attempt): the later name is kept (stopping.latest)
    sweep.put(f"{contract.progress_prefix(sweep.folder, 'val_loss')}{stopping.step_folder(3)}/{stopping.entry_name('b', 0.4375, (0.5625, 0.4375))}")
    report_at(sweep, at, T1, MEDIAN_RULE, CURVES_T1)
    # c again at step 3 in a later second, in a new attempt: the later second is kept, though its name sorts first
    sweep.put(f"{contract.progress_prefix(sweep.folder, 'val_loss')}{stopping.step_folder(3)}/{stopping.entry_name('c', 0.125, (0.125, 0.125))}")
    sweep.put(f"{contract.progress_prefix(sweep.folder, 'val_loss')}0000000003/not-a-report")  # ignored
    sweep.put(f"{contract.progress_prefix(sweep.folder)}loose-key")  # ignored
    at(T1 + timedelta(minutes=5))
    items = sweep.finished("a", "success", 0, metrics={"val_loss": 0.45, "accuracy": 0.8})
    items += sweep.finished("b", "success", 0, metrics={"accuracy": 0.85})  # no val_loss: ranked by its last report
    items += sweep.finished("c", "success", 0)  # no metrics.json
    items += sweep.finished("d", "stopped", None)  # its agent stopped it (early-stopped)
    items += sweep.finished("e", "stopped", None)  # cancelled while running
    items += sweep.finished("g", "stopped", None)  # `spored complete --status stopped`
    sweep.put_many(items)
    return sweep


def by_run(document: dict) -> dict:
    return {item["run"]: item for item in document["instances"]}


def test_status_json_gives_each_runs_last_reports_and_explains_the_median_stop(layout, s3_clock, counting_aws) -> None:
    sweep = lay_out_median(layout, s3_clock)
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"])
    assert result.exit_code == 0, result.output
    runs = by_run(json.loads(result.stdout))
    assert {run: item["progress"] for run, item in runs.items()} == {
        "a": {"step": 3, "metrics": {"accuracy": {"step": 3, "value": 0.8}, "val_loss": {"step": 3, "value": 0.5}}},
        "b": {"step": 3, "metrics": {"accuracy": {"step": 3, "value": 0.85}, "val_loss": {"step": 3, "value": 0.5}}},
        "c": {"step": 3, "metrics": {"accuracy": {"step": 2, "value": 0.9}, "val_loss": {"step": 3, "value": 0.125}}},
        "d": {"step": 3, "metrics": {"val_loss": {"step": 3, "value": 0.75}}},
        "e": {"step": 2, "metrics": {"val_loss": {"step": 2, "value": 0.25}}},
        "g": {"step": 1, "metrics": {"val_loss": {"step": 1, "value": 4.0}}},
        "h": {"step": None, "metrics": {}},
    }
    assert runs["d"]["reason"] == D_REASON == f"early-stopped: {D_VERDICT.explain(MEDIAN_RULE)}"
    assert runs["d"]["early_stop"] == {"step": 2, "value": 0.6875, "cutoff": 0.625, "rule": "median", "runs": 3}
    assert (runs["d"]["status"], runs["d"]["final"]) == ("stopped", True)
    # e (better than the median) and g (its others wrote in its own second) were stopped otherwise: their reason stays
    assert {run: (runs[run]["status"], runs[run]["reason"], runs[run]["early_stop"]) for run in "eg"} == {"e": ("stopped", "", None), "g": ("stopped", "", None)}
    assert [runs[run]["early_stop"] for run in "abch"] == [None] * 4  # the rule explains stopped runs only

    aws, calls = counting_aws()  # one more listing (one page), no read per run
    observe(sweep.record, aws, progress=True)
    assert calls == {("ec2", "DescribeInstances"): 1, ("ec2", "DescribeInstances MaxResults=1000"): 1, ("s3", "ListObjectsV2"): 4}


def test_progress_is_read_page_by_page_never_run_by_run(layout, s3_clock, counting_aws) -> None:
    """1,100 reports of one run more: two pages of S/_progress/ (1,000 keys a page); the last pages hold val_loss."""
    sweep = lay_out_median(layout, s3_clock)
    sweep.put_many(report_keys(sweep, None, "a", {"lr": {step: step / 1024 for step in range(1, 1101)}}))
    aws, calls = counting_aws()
    statuses = {status.run.name: status for status in run_statuses(sweep.record, observe(sweep.record, aws, progress=True))}
    assert calls[("s3", "ListObjectsV2")] == 3 + 2 and calls[("s3", "GetObject")] == 0
    assert statuses["a"].progress == RunProgress(read=True, step=1100, metrics={"accuracy": Last(3, 0.8), "lr": Last(1100, 1100 / 1024),
                                                                                "val_loss": Last(3, 0.5)})  # fmt: skip
    assert statuses["d"].early_stop == D_VERDICT


def test_status_table_shows_the_last_step_and_the_rules_metric_and_the_early_stop(layout, s3_clock) -> None:
    sweep = lay_out_median(layout, s3_clock)
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["RUN", "STATUS", "EXIT", "REGION", "INSTANCE", "ATTEMPTS", "STARTED", "FINISHED", "STEP", "VAL_LOSS"]
    rows = {line.split()[0]: line.split() for line in lines[2:9]}
    assert {run: row[-2:] for run, row in rows.items()} == {"a": ["3", "0.5"], "b": ["3", "0.5"], "c": ["3", "0.125"], "d": ["3", "0.75"],
                                                            "e": ["2", "0.25"], "g": ["1", "4"], "h": ["-", "-"]}  # fmt: skip
    assert lines[9:] == [f"d: {D_REASON}"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_an_80_column_terminal_the_run_status_and_progress_stay_whole(layout, s3_clock, monkeypatch) -> None:
    sweep = lay_out_median(layout, s3_clock)
    sweep.launch("h", status_tag="running")  # an instance id: 19 characters more
    statuses = run_statuses(sweep.record, observe(sweep.record, CollectorAws(), progress=True))
    header, rows, _ = show.status_table(statuses, sweep.record.early_stopping)
    monkeypatch.setenv("COLUMNS", "80")
    terminal = Terminal()
    show.table(header, rows, title=show.summary_line(sweep.record, statuses), stream=terminal, drops=show.NARROW_DROPS)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip() for line in terminal.getvalue().splitlines()]
    assert max(len(line) for line in lines) <= 80
    assert [cell.strip() for cell in lines[2].split("┃")[1:-1]] == ["RUN", "STATUS", "EXIT", "ATTEMPTS", "FINISHED", "STEP", "VAL_LOSS"]
    cells = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]] for line in lines[4:11]}
    assert cells["d"] == ["stopped", "-", "1", "2026-12-07T10:05:01Z", "3", "0.75"]
    assert cells["h"] == ["running", "-", "0", "-", "-", "-"]
    assert lines[12] == "not shown at this width: instance, started, region"
    monkeypatch.setenv("COLUMNS", "200")  # room for everything: nothing left out
    wide = Terminal()
    show.table(header, rows, stream=wide, drops=show.NARROW_DROPS)
    assert "not shown" not in wide.getvalue() and "INSTANCE" in wide.getvalue()


def test_asha_stop_is_explained_at_its_rung_and_the_table_marks_an_older_value(layout, s3_clock) -> None:
    sweep = layout(ASHA)
    report_at(sweep, s3_clock, T0, ASHA_RULE, ASHA_T0)
    report_at(sweep, s3_clock, T1, ASHA_RULE, ASHA_T1)
    s3_clock(T1 + timedelta(minutes=5))
    sweep.put_many([*sweep.finished("p", "success", 0), *sweep.finished("s", "stopped", None)])
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"])
    assert result.exit_code == 0, result.output
    runs = by_run(json.loads(result.stdout))
    assert runs["s"]["reason"] == S_REASON == f"early-stopped: {S_VERDICT.explain(ASHA_RULE)}"
    assert runs["s"]["early_stop"] == {"step": 3, "value": 0.55, "cutoff": 0.8, "rule": "asha", "runs": 3}
    assert runs["q"]["progress"] == {"step": 3, "metrics": {"loss": {"step": 2, "value": 1.25}, "score": {"step": 3, "value": 0.7}}}

    table = CliRunner().invoke(main, ["status", str(sweep.sweep_file)])
    lines = table.stdout.splitlines()
    assert lines[1].split()[-2:] == ["STEP", "SCORE"]  # the rule's metric, not the first by name (loss)
    assert [line.split()[-2:] for line in lines[2:6]] == [["3", "0.8"], ["3", "0.7"], ["3", "0.6"], ["3", "0.55"]]
    assert lines[6:] == [f"s: {S_REASON}"]


def test_without_early_stopping_the_table_shows_the_first_metric_and_when_it_was_reported(layout, s3_clock) -> None:
    sweep = layout(MEDIAN.replace("early_stopping: {metric: val_loss, mode: min}\n", "").replace("sweep: curves", "sweep: plain"))
    report_at(sweep, s3_clock, T0, None, {"a": {"loss": {1: 1.0, 2: 0.5}, "accuracy": {1: 0.5}}, "d": {"loss": {1: 2.0}}})
    sweep.put_many(sweep.finished("d", "stopped", None))
    result = CliRunner().invoke(main, ["status", str(sweep.sweep_file)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[-2:] == ["STEP", "ACCURACY"]
    rows = {line.split()[0]: line.split()[-2:] for line in lines[2:]}
    assert (rows["a"], rows["d"], rows["b"]) == (["2", "0.5@1"], ["1", "-"], ["-", "-"])
    runs = by_run(json.loads(CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"]).stdout))
    assert (runs["d"]["reason"], runs["d"]["early_stop"]) == ("", None)  # no rule: nothing to explain

    empty = layout(MEDIAN.replace("early_stopping: {metric: val_loss, mode: min}\n", "").replace("sweep: curves", "sweep: quiet"), name="q.yaml")
    lines = CliRunner().invoke(main, ["status", str(empty.sweep_file)]).stdout.splitlines()
    assert lines[1].split() == ["RUN", "STATUS", "EXIT", "REGION", "INSTANCE", "ATTEMPTS", "STARTED", "FINISHED"]  # nothing reported


def test_a_progress_listing_that_fails_is_unknown_not_empty(layout, s3_clock, aws, monkeypatch) -> None:
    sweep = lay_out_median(layout, s3_clock)
    with FaultProxy(aws.endpoint) as proxy:
        proxy.down("s3", None, query=r"prefix=[^&]*/_progress/", status=403, code="AccessDenied")
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        result = CliRunner().invoke(main, ["status", str(sweep.sweep_file), "--json"])
        table = CliRunner().invoke(main, ["status", str(sweep.sweep_file)])
        ranked = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_loss", "--mode", "min", "--format", "csv", "--no-save"])
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    problem = (f"s3://{BUCKET}/{sweep.folder}/_progress/ could not be read: AccessDenied: injected by the test proxy (these credentials "
               f"may not read s3://{BUCKET}: check them, or name another bucket in the sweep's `results:`)")  # fmt: skip
    assert document["problems"] == [problem]
    assert f"spawn-tf: warning: {problem}" in result.stderr
    runs = by_run(document)
    # The statuses do not depend on progress: still known. What was reported is not (null, never {"step": null}).
    assert {run: item["status"] for run, item in runs.items()} == {"a": "success", "b": "success", "c": "success", "d": "stopped",
                                                                   "e": "stopped", "g": "stopped", "h": "pending"}  # fmt: skip
    assert document["status"] == "running" and {item["progress"] for item in runs.values()} == {None}
    assert (runs["d"]["reason"], runs["d"]["early_stop"]) == ("", None)
    assert table.exit_code == 3 and [line.split()[-2:] for line in table.stdout.splitlines()[2:]] == [["?", "?"]] * 7

    assert ranked.exit_code == 3, ranked.output
    assert list(csv.reader(io.StringIO(ranked.stdout))) == [["rank", "name", "status", "val_loss", "seed"], ["1", "a", "success", "0.45", "0"]]
    assert "spawn-tf: not ranked: b: no 'val_loss'; its progress reports could not be read" in ranked.stderr
    assert "spawn-tf: not ranked: c: no metrics.json; its progress reports could not be read" in ranked.stderr
    assert (f"spawn-tf: warning: s3://{BUCKET}/{sweep.folder}/_progress/val_loss/ could not be read: "
            "AccessDenied: injected by the test proxy") in ranked.stderr  # fmt: skip


def test_results_ranks_runs_without_the_metric_by_their_last_report_and_names_the_source(layout, s3_clock, tmp_path) -> None:
    sweep = lay_out_median(layout, s3_clock)
    save = tmp_path / "best.json"
    result = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_loss", "--mode", "min", "--save", str(save)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["RANK", "NAME", "STATUS", "VAL_LOSS", "SOURCE", "SEED"]
    assert [line.split() for line in lines[2:5]] == [["1", "c", "success", "0.125", "progress", "step", "3", "2"],
                                                     ["2", "a", "success", "0.45", "metrics.json", "0"],
                                                     ["3", "b", "success", "0.5", "progress", "step", "3", "1"]]  # fmt: skip
    assert "Best: c with val_loss = 0.125 (progress step 3)" in result.stdout
    assert ("spawn-tf: 4 runs not ranked: 3 stopped, 1 pending (only current success runs are ranked; "
            "--status stopped,success adds the stopped ones, early-stopped runs among them)") in result.stderr  # fmt: skip
    saved = json.loads(save.read_text())
    assert [(entry["name"], entry["source"], entry["val_loss"], entry["metrics"]) for entry in saved] == [
        ("c", "progress step 3", 0.125, {}), ("a", "metrics.json", 0.45, {"val_loss": 0.45, "accuracy": 0.8}),
        ("b", "progress step 3", 0.5, {"accuracy": 0.85}),
    ]  # fmt: skip

    wider = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "val_loss", "--mode", "min", "--status", "success,stopped",
                                      "--format", "csv", "--no-save"])  # fmt: skip
    assert wider.exit_code == 0, wider.output
    assert list(csv.reader(io.StringIO(wider.stdout))) == [
        ["rank", "name", "status", "val_loss", "source", "seed"],
        ["1", "c", "success", "0.125", "progress step 3", "2"],
        ["2", "e", "stopped", "0.25", "progress step 2", "4"],
        ["3", "a", "success", "0.45", "metrics.json", "0"],
        ["4", "b", "success", "0.5", "progress step 3", "1"],
        ["5", "d", "stopped", "0.75", "progress step 3", "3"],
        ["6", "g", "stopped", "4.0", "progress step 1", "5"],
    ]
    assert "1 run not ranked: 1 pending (only current stopped, success runs are ranked; --status widens it)" in wider.stderr

    # A metric's own last step: c reported accuracy last at step 2 (val_loss at 3)
    accuracy = CliRunner().invoke(main, ["results", str(sweep.sweep_file), "--sort-by", "accuracy", "--format", "json", "--no-save"])
    assert [(entry["name"], entry["source"], entry["accuracy"]) for entry in json.loads(accuracy.stdout)] == [
        ("c", "progress step 2", 0.9), ("b", "metrics.json", 0.85), ("a", "metrics.json", 0.8)]  # fmt: skip


def test_results_lists_progress_only_when_a_run_lacks_the_metric(layout, s3_clock, counting_aws) -> None:
    sweep = lay_out_median(layout, s3_clock)
    aws, calls = counting_aws()
    _, found, _ = read_current(sweep.record, aws, contract.METRICS_FILE, frozenset({"success"}))
    calls.clear()
    having = [metrics for metrics in found if metrics.run.name in "ab"]  # both have accuracy in metrics.json
    assert last_reports(sweep.record, aws, "accuracy", having) == (None, None) and calls == {}
    assert last_reports(sweep.record, aws, "val_loss", having) == (LastReports(read=True, last={"b": Last(3, 0.5)}), None)
    assert calls == {("s3", "ListObjectsV2"): 1}  # S/_progress/val_loss/ only
    board = rank(found, "val_loss", Mode.MIN, LastReports(read=True))
    assert [(metrics.run.name, why) for metrics, why in board.unranked] == [("b", "no 'val_loss', and no progress report of it"),
                                                                         ("c", "no metrics.json, and no progress report of it")]  # fmt: skip
    assert last_reports(sweep.record, aws, "no/such", found) == (LastReports(read=True), None)  # no report can have that name


# --- the rules on listed keys, without AWS ---------------------------------------------------------

FOLDER = "sweeps/t"


def key(metric: str, step: int, entry: str, written: datetime) -> Key:
    return Key(f"{contract.progress_prefix(FOLDER, metric)}{stopping.step_folder(step)}/{entry}", written.replace(tzinfo=UTC), 0)


def test_reports_written_in_one_second_tie_whatever_their_milliseconds() -> None:
    """LastModified counts in whole seconds, as the agent counts it: the latest report of a step is the one of
    the later second, else the later name; another run's report of the deciding run's second does not count."""
    second = datetime(2026, 12, 7, 10, 0, 0)
    keys = [
        key("loss", 5, "r=0.5", second + timedelta(milliseconds=100)),
        key("loss", 5, "r=0.25", second + timedelta(milliseconds=900)),  # same second: the name decides, not the milliseconds
        key("loss", 6, "r=0.75", second + timedelta(milliseconds=900)),
        key("loss", 6, "r=0.125", second + timedelta(seconds=1, milliseconds=100)),  # a later second, though 200 ms later
        key("loss", 7, "x=1.0", second),
        key("loss", 7, "bad-entry", second),
        Key(f"{contract.progress_prefix(FOLDER, 'loss')}7/r=1.0", second.replace(tzinfo=UTC), 0),  # not a 10-digit step
        Key(f"{contract.progress_prefix(FOLDER, 'bad/metric')}0000000007/r=1.0", second.replace(tzinfo=UTC), 0),
    ]
    reports = parse(FOLDER, keys)
    assert sorted(reports.at) == [("loss", 5), ("loss", 6), ("loss", 7)]
    assert [report.written for report in reports.at[("loss", 5)]] == [1796637600, 1796637600]
    assert reports.of_run("r") == RunProgress(read=True, step=6, metrics={"loss": Last(6, 0.125)})
    assert reports.last("r", "loss") == Last(6, 0.125)
    assert parse(FOLDER, keys[:2]).last("r", "loss") == Last(5, 0.5)  # "r=0.5" > "r=0.25"
    assert reports.of_run("nobody") == RunProgress(read=True, step=None, metrics={})

    rule = Rule(metric="loss", mode="min", min_runs=1)
    own = second + timedelta(seconds=3)
    step = [key("loss", 1, "o=1.0,1.0,1.0", own + timedelta(milliseconds=5)), key("loss", 1, "p=0.5,0.5,0.5", own + timedelta(milliseconds=1))]
    assert parse(FOLDER, step).early_stop(rule, "o") is None  # p wrote earlier, but in o's second
    earlier = [step[0], key("loss", 1, "p=0.5,0.5,0.5", own - timedelta(milliseconds=1))]
    assert parse(FOLDER, earlier).early_stop(rule, "o") == Verdict(True, "median", 1, 1.0, 0.5, 1)
