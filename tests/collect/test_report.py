"""`spawn-tf report` against moto server (DESIGN §14): one laid-out sweep, read by `status --json`, `results --format json`
and `report`; the page's embedded document and figures are parsed back and compared with the collector's answers.

The sweep is laid out once for the module (the commands only read it): successes with metrics, a failure, a stale run
(its status.json names an earlier fingerprint), a running run, a pending one, an interrupted attempt then a success, a
lost attempt, two early stops by the median rule (at steps 1 and 2) and progress reports of two metrics. Attempts
begin at T0 and end an hour or two later (moto's S3 clock is set per batch of keys), so the cost so far is exact.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import moto.s3.models
import pytest
from browser import Browser, png_pixels
from click.testing import CliRunner
from imds import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from moto_layout import BUCKET, REGION, Layout

from spawn_tf import contract, stopping
from spawn_tf.cli import main
from spawn_tf.collect.aws import Aws as CollectorAws
from spawn_tf.collect.report import DATA_ELEMENT_ID, LOST, RUNNING
from spawn_tf.collect.resolve import resolve
from spawn_tf.report_page import FIGURE_CLASS, GENERATED_CLASS, PACKED_TYPE, PLOT_CLASS, page, unpack

T0 = datetime(2026, 12, 7, 9, 0, 0)  # naive UTC, as moto keeps times
T1 = T0 + timedelta(seconds=1)
RULE = stopping.Rule(metric="val_loss", mode="min")  # median, min_step 1, min_runs 3
RUNS = {  # name: (lr, batch, optimizer)
    "a": (0.0001, 32, "adam"), "b": (0.001, 64, "adam"), "c": (0.01, 32, "sgd"), "d": (0.1, 64, "sgd"),
    "fail": (0.3, 32, "adam"), "stale": (0.05, 64, "sgd"), "live": (0.002, 32, "adam"), "wait": (0.004, 64, "adam"),
    "bumpy": (0.02, 32, "sgd"), "lost": (0.03, 64, "sgd"), "x": (0.5, 32, "adam"), "y": (0.2, 64, "sgd"),
}  # fmt: skip
SWEEP = (
    f"sweep: pictures\nresults: s3://{BUCKET}/sweeps\n"
    "early_stopping: {metric: val_loss, mode: min}\n"
    "defaults:\n  instance_type: t3.micro\n  ttl: 3h\n  spot: false\n  command: ./train.sh\n"
    "params:\n" + "".join(f"  - {{name: {run}, lr: {lr}, batch: {batch}, optimizer: {opt}}}\n" for run, (lr, batch, opt) in RUNS.items())
)
PRICE = "0.5"  # USD an hour of t3.micro on demand in us-east-1, in the test's price file
# a, b and c report at T0; x and y at T1 (a later second): x stops at step 1, y at step 2 (see test_two_early_stops).
CURVES_T0 = {
    "a": {"val_loss": {1: 1.0, 2: 0.5, 3: 0.5}, "accuracy": {1: 0.5, 2: 0.75, 3: 0.8}},
    "b": {"val_loss": {1: 0.75, 2: 0.5, 3: 0.5}, "accuracy": {1: 0.5, 2: 0.75, 3: 0.85}},
    "c": {"val_loss": {1: 0.5, 2: 0.25, 3: 0.25}},
}
CURVES_T1 = {"x": {"val_loss": {1: 2.0, 2: 1.9}}, "y": {"val_loss": {1: 0.7, 2: 0.9}}}
# run: (status, exit code, hours) of runs that ended; the metrics of the successes
ENDED = {"a": ("success", 0, 1), "b": ("success", 0, 2), "c": ("success", 0, 1), "d": ("success", 0, 1), "fail": ("failed", 1, 1),
         "stale": ("success", 0, 1), "x": ("stopped", None, 1), "y": ("stopped", None, 1)}  # fmt: skip
SCREENSHOT = Path(__file__).parents[2] / "docs" / "report.png"  # the README's picture of this sweep's page
METRICS = {"a": {"val_loss": 0.45, "accuracy": 0.8}, "b": {"accuracy": 0.85}, "d": {"val_loss": 0.9}, "stale": {"val_loss": 0.01}}


@dataclass(frozen=True)
class Laid:
    """The commands' answers on the laid-out sweep."""

    sweep_file: Path
    status: dict
    results: list
    results_all: list
    pages: tuple[str, str]  # two `report` runs of the same reads
    report_stderr: str


def report_keys(sweep: Layout, run: str, curves: dict) -> list[tuple[str, bytes]]:
    """The keys `spored report` writes for these values, step after step (the rule's metric with its running mean and best)."""
    items = []
    for metric, curve in curves.items():
        history: dict[int, float] = {}
        for step, value in sorted(curve.items()):
            history[step] = value
            summary = stopping.running(history, step, RULE) if metric == RULE.metric else None
            items.append(
                (
                    f"{contract.progress_prefix(sweep.folder, metric)}{stopping.step_folder(step)}/{stopping.entry_name(run, value, summary)}",
                    b"",
                )
            )
    return items


def lay_out(sweep: Layout, at) -> None:
    at(T0)
    begun = {run: sweep.instance_id() for run in [*ENDED, "bumpy", "lost"]}
    sweep.put_many([item for run, instance in begun.items() for item in sweep.attempt(run, instance)])
    sweep.put_many([item for run, curve in CURVES_T0.items() for item in report_keys(sweep, run, curve)])
    at(T1)
    sweep.put_many([item for run, curve in CURVES_T1.items() for item in report_keys(sweep, run, curve)])
    for hours in (1, 2):
        at(T0 + timedelta(hours=hours))
        items = []
        for run, (status, code, took) in ENDED.items():
            if took == hours:
                items += _ended(sweep, run, begun[run], status, code)
        if hours == 1:  # bumpy: interrupted after an hour; its second attempt succeeds an hour later
            items.append(
                (
                    f"{contract.control_prefix(sweep.folder, contract.CONTROL_ATTEMPTS)}{sweep.key('bumpy')}/{begun['bumpy']}.interrupted",
                    b"",
                )
            )
            second = sweep.instance_id()
            items.append((f"{contract.control_prefix(sweep.folder, contract.CONTROL_ATTEMPTS)}{sweep.key('bumpy')}/{second}", b""))
        else:
            items += _ended(sweep, "bumpy", second, "success", 0)
        sweep.put_many(items)
    sweep.launch("live", status_tag="running")
    sweep.put_many(sweep.attempt("live", sweep.instance_id()))  # its attempt began after the others ended


def _ended(sweep: Layout, run: str, instance_id: str, status: str, code: int | None) -> list[tuple[str, bytes]]:
    """What the agent writes at the end of an attempt that began earlier: outcome, done marker, status.json and metrics."""
    found = sweep.record.run(run)
    assert found is not None
    fingerprint = "0" * len(found.fingerprint) if run == "stale" else found.fingerprint
    record = {
        "sweep": sweep.record.id,
        "run": run,
        "fingerprint": fingerprint,
        "status": status,
        "exit_code": code,
        "instance_id": instance_id,
    }
    items = [(f"{contract.control_prefix(sweep.folder, contract.CONTROL_ATTEMPTS)}{sweep.key(run)}/{instance_id}.{status}", b""),
             sweep.done(run, status, code), sweep.file(run, contract.STATUS_FILE, json.dumps(record).encode())]  # fmt: skip
    if run in METRICS:
        items.append(sweep.file(run, contract.METRICS_FILE, json.dumps(METRICS[run]).encode()))
    return items


@pytest.fixture(scope="module")
def laid(_aws_clients, tmp_path_factory) -> Iterator[Laid]:
    """The sweep laid out once, and what status, results and report (twice) say of it."""
    import itertools

    folder = tmp_path_factory.mktemp("report")
    _aws_clients.reset()
    now: list[datetime] = []
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ENDPOINT_URL": _aws_clients.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                            "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                            "SPAWN_TF_INDEX": str(folder / "index.json")}.items():  # fmt: skip
            patch.setenv(name, value)
        patch.chdir(folder)  # the price file by its name, as the header (and the README's picture) shows it
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_REGION", raising=False)
        real = moto.s3.models.utcnow
        patch.setattr(moto.s3.models, "utcnow", lambda: now[-1] if now else real())
        sweep_file = folder / "pictures.yaml"
        sweep_file.write_text(SWEEP, encoding="utf-8")
        (folder / "prices.csv").write_text(
            f"region,instance_type,on_demand,spot,date\n{REGION},t3.micro,{PRICE},,2026-12-01\n", encoding="utf-8"
        )
        record = resolve(str(sweep_file), CollectorAws())
        _aws_clients.s3.create_bucket(Bucket=record.results.bucket)
        lay_out(Layout(aws=_aws_clients, record=record, sweep_file=sweep_file, _ids=itertools.count(1)), now.append)
        runner = CliRunner()
        status = runner.invoke(main, ["status", str(sweep_file), "--json"])
        ranked = runner.invoke(
            main, ["results", str(sweep_file), "--sort-by", "val_loss", "--mode", "min", "--top", "3", "--format", "json", "--no-save"]
        )
        every = runner.invoke(
            main, ["results", str(sweep_file), "--sort-by", "val_loss", "--mode", "min", "--top", "100", "--format", "json", "--no-save"]
        )
        reports = [runner.invoke(main, ["report", str(sweep_file), "--top", "3", "--prices", "prices.csv", "-o", str(folder / f"{n}.html")])
                   for n in (1, 2)]  # fmt: skip
        for result in (status, ranked, every, *reports):
            assert result.exit_code == 0, result.output
        yield Laid(sweep_file=sweep_file, status=json.loads(status.stdout), results=json.loads(ranked.stdout), results_all=json.loads(every.stdout),
                   pages=tuple((folder / f"{n}.html").read_text(encoding="utf-8") for n in (1, 2)), report_stderr=reports[0].stderr)  # fmt: skip


def embedded(page_text: str) -> tuple[dict, dict[str, dict]]:
    """The page's document and its figures by container id, parsed back from their script elements."""
    data = re.search(rf'<script type="{PACKED_TYPE}" id="{DATA_ELEMENT_ID}">(.*?)</script>', page_text, re.S)
    assert data is not None
    figures = {target: unpack(text) for target, text in
               re.findall(rf'<script type="{PACKED_TYPE}" class="{FIGURE_CLASS}" data-target="([^"]+)">(.*?)</script>', page_text, re.S)}  # fmt: skip
    return unpack(data.group(1)), figures


def test_the_page_embeds_what_status_and_results_say(laid: Laid) -> None:
    document, _ = embedded(laid.pages[0])
    assert document["status"] == laid.status  # `status --json`, value for value
    assert document["ranking"]["results"] == laid.results  # `results --format json --top 3`
    assert [item["run"] for item in document["ranking"]["values"]] == [item["name"] for item in laid.results_all]
    assert [item["value"] for item in document["ranking"]["values"]] == [item["val_loss"] for item in laid.results_all]
    # the layout is what it claims: mixed statuses, the stale run left out, the running and lost attempts
    assert laid.status["counts"] == {"pending": 1, "running": 1, "success": 6, "failed": 1, "stopped": 2, "interrupted": 1}
    assert document["ranking"]["left_out"] == {"pending": 3, "stopped": 2, "failed": 1, "stale": 1}  # by status.json
    assert [item["name"] for item in laid.results_all] == ["c", "a", "b", "d"]  # c and b by their last progress report
    assert document["ranking"]["unranked"] == [{"run": "bumpy", "why": "no metrics.json, and no progress report of it"}]


def test_two_early_stops_and_their_curves(laid: Laid) -> None:
    document, figures = embedded(laid.pages[0])
    stops = {item["run"]: item["early_stop"]["step"] for item in laid.status["instances"] if item["early_stop"]}
    assert stops == {"x": 1, "y": 2}
    assert document["curves"]["val_loss"]["y"] == [[1, 0.7], [2, 0.9]]
    assert document["curves"]["accuracy"] == {run: [[step, value] for step, value in curves["accuracy"].items()] for run, curves in CURVES_T0.items()
                                              if "accuracy" in curves}  # fmt: skip
    curve = figures["plot-curve-1"]  # val_loss (curves are in metric name order)
    apart = {trace["name"]: trace for trace in curve["data"]}
    assert set(apart) == {"runs", "early-stopped", "stop step"}
    assert [name for name in apart["early-stopped"]["text"] if name] == ["x", "x", "y", "y"]
    assert (apart["stop step"]["x"], apart["stop step"]["y"]) == ([1, 2], [2.0, 0.9])
    assert sorted({name for name in apart["runs"]["text"] if name}) == ["a", "b", "c"]


def test_figures_are_drawn_from_the_collectors_answers(laid: Laid) -> None:
    _, figures = embedded(laid.pages[0])
    ranked = laid.results_all
    parallel = figures["plot-parallel"]["data"][0]
    assert parallel["type"] == "parcoords"
    axes = {dimension["label"]: dimension for dimension in parallel["dimensions"]}
    assert list(axes) == ["lr (log)", "batch", "optimizer", "val_loss"]  # lr spans three decades: log10 with decade ticks
    assert axes["val_loss"]["values"] == [item["val_loss"] for item in ranked]
    assert axes["lr (log)"]["values"] == pytest.approx([math.log10(item["lr"]) for item in ranked])
    assert axes["batch"]["values"] == [item["batch"] for item in ranked]
    assert [axes["optimizer"]["ticktext"][code] for code in axes["optimizer"]["values"]] == [item["optimizer"] for item in ranked]
    scatter = figures["plot-param-0"]
    assert scatter["data"][0]["type"] == "scattergl" and scatter["layout"]["xaxis"]["type"] == "log"
    assert (scatter["data"][0]["x"], scatter["data"][0]["y"]) == ([item["lr"] for item in ranked], [item["val_loss"] for item in ranked])
    assert figures["plot-param-1"]["layout"]["xaxis"]["type"] == "linear"
    assert figures["plot-param-2"]["layout"]["xaxis"]["type"] == "category"


def test_the_timeline_shows_every_attempt_with_interruptions_and_the_running_one(laid: Laid) -> None:
    document, figures = embedded(laid.pages[0])
    attempts = document["attempts"]
    assert [attempt["outcome"] for attempt in attempts["bumpy"]] == ["interrupted", "success"]
    assert [attempt["outcome"] for attempt in attempts["lost"]] == [LOST]
    assert attempts["live"][0]["outcome"] == RUNNING and attempts["live"][0]["ended"] is None
    assert "wait" not in attempts
    assert attempts["b"][0] | {"instance_id": "-"} == {"instance_id": "-", "region": REGION, "instance_type": "t3.micro",
                                                      "began": "2026-12-07T09:00:00Z", "ended": "2026-12-07T11:00:00Z", "outcome": "success"}  # fmt: skip
    by_outcome = {trace["name"]: trace for trace in figures["plot-timeline"]["data"]}
    assert set(by_outcome) == {"success", "failed", "stopped", "interrupted", LOST, RUNNING}
    assert by_outcome[RUNNING]["x"][1] == document["as_of"]  # drawn to the newest time read, not to "now"
    assert by_outcome[LOST]["x"][:2] == [attempts["lost"][0]["began"]] * 2  # no end known: a mark at its start
    assert sum(1 for x in by_outcome["success"]["x"] if x is None) == 6  # one segment per attempt: a, b, c, d, stale, bumpy


def test_the_header_counts_and_costs(laid: Laid) -> None:
    document, _ = embedded(laid.pages[0])
    hours = sum(took for _, _, took in ENDED.values()) + 2  # bumpy: 1 interrupted + 1 success
    assert document["cost"] | {"worst_case": None} == {"so_far_usd": f"{hours * float(PRICE):.2f}", "so_far_hours": f"{hours:.2f}",
                                                       "unpriced_attempts": 0, "running_attempts": 1, "lost_attempts": 1, "worst_case": None}  # fmt: skip
    assert document["cost"]["worst_case"]["worst_case_usd"] == f"{len(RUNS) * 3 * float(PRICE):.2f}"  # every run for its 3h ttl
    header = laid.pages[0].split("</header>")[0]
    assert f"${hours * float(PRICE):.2f} so far" in header and "1 still running" in header
    assert "12 runs: 1 pending, 1 running, 6 success, 1 failed, 2 stopped, 1 interrupted" in header
    assert document["placement"] == {"region": {REGION: laid.status["counts"]}, "instance_type": {"t3.micro": laid.status["counts"]}}


def test_the_same_reads_give_the_same_bytes_but_the_generated_line(laid: Laid) -> None:
    first, second = (text.splitlines() for text in laid.pages)
    assert len(first) == len(second)
    differ = [number for number, (one, two) in enumerate(zip(first, second, strict=True)) if one != two]
    generated = [number for number, line in enumerate(first) if f'class="{GENERATED_CLASS}"' in line]
    assert len(generated) == 1 and set(differ) <= set(generated)
    document, _ = embedded(laid.pages[0])
    one, two = page(document, "2026-12-07T10:00:00Z"), page(document, "2027-01-01T00:00:00Z")  # a second apart or a month: one line
    assert [a == b for a, b in zip(one.splitlines(), two.splitlines(), strict=True)].count(False) == 1
    assert page(document, "x") == page(document, "x")


def test_the_page_has_one_plot_container_per_figure_and_plotly_inlined_once(laid: Laid) -> None:
    _, figures = embedded(laid.pages[0])
    containers = re.findall(rf'<div class="{PLOT_CLASS}" id="([^"]+)">', laid.pages[0])
    assert containers == list(figures) and len(containers) == 1 + 3 + 2 + 1 + 1  # parallel, 3 parameters, 2 curves, timeline, placement
    outside = re.sub(r"<script[^>]*>.*?</script>", "", laid.pages[0], flags=re.S)
    assert "src=" not in outside and "<link" not in outside  # nothing fetched: the browser test checks it with networking off
    assert laid.pages[0].count("<script>") == 2  # plotly.js, then the few lines that draw the figures
    assert "top 3 of 4 ranked by val_loss (lower is better)" in laid.pages[0]


def test_without_plotly_the_command_names_the_extra(laid: Laid, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)  # as if not installed: importing it fails
    result = CliRunner().invoke(main, ["report", str(laid.sweep_file)])
    assert result.exit_code == 1
    assert "plotly" in result.stderr and "pip install 'spawn-tf[report]'" in result.stderr


def test_chromium_draws_every_plot_offline_without_console_errors(laid: Laid, tmp_path, request) -> None:
    """Debian's chromium, headless, networking off: the page loads, every figure is drawn (plotly's own markup in each
    container), the console and the log hold no error, nothing is requested but the file, and the screenshot is no blank.

    With --update-golden it also writes the README's picture of the page (SCREENSHOT), whole, by the same browser."""
    _, figures = embedded(laid.pages[0])
    path = tmp_path / "report.html"
    path.write_text(laid.pages[0], encoding="utf-8")
    with Browser() as browser:
        seen = browser.open(path)
        drawn = browser.wait_for(f"document.querySelectorAll('.{PLOT_CLASS}.js-plotly-plot .main-svg').length >= {len(figures)} && "
                                 f"Array.from(document.querySelectorAll('.{PLOT_CLASS}'), e => e.id)")  # fmt: skip
        assert drawn == list(figures)  # each container, in order, drawn by plotly
        gl = browser.evaluate(f"document.querySelectorAll('.{PLOT_CLASS} canvas').length")
        rows = browser.evaluate("document.querySelectorAll('table.leaderboard tbody tr').length")
        browser.evaluate("document.querySelectorAll('table.leaderboard th')[3].click()")  # sort by val_loss, ascending
        sorted_names = browser.evaluate("Array.from(document.querySelectorAll('table.leaderboard tbody tr'), r => r.cells[1].textContent)")
        total = browser.evaluate(
            f"unpack(document.getElementById('{DATA_ELEMENT_ID}')).then(d => d.status.total)"
        )  # the page's own unpacking
        shot = browser.screenshot(full_page=False)
        if request.config.getoption("--update-golden"):
            SCREENSHOT.write_bytes(browser.screenshot(full_page=True))
    assert seen.errors == [], seen.errors
    assert [url for url in seen.requests if not url.startswith("file://")] == []
    assert total == len(RUNS) and gl > 0 and rows == 3 and sorted_names == [item["name"] for item in laid.results]
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 900)
    colours = {row[i : i + 3] for row in pixels[::4] for i in range(0, len(row), 12)}
    inked = sum(1 for row in pixels[::4] for i in range(0, len(row), 12) if row[i : i + 3] != b"\xff\xff\xff")
    assert len(colours) > 20 and inked > 2000, (len(colours), inked)


# Runs each command line (a JSON list) in one process whose stdout is the terminal; a line on stderr after each.
ON_A_TERMINAL = """
import json, sys
from spawn_tf.cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(args, prog_name="spawn-tf")
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
    print("--- done", file=sys.stderr, flush=True)
"""


def on_a_terminal(*commands: list[str]) -> list[str]:
    """What each command printed on stderr while its stdout was a terminal (a pty); one process for all of them."""
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", ON_A_TERMINAL, json.dumps(commands)], stdout=follower, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process ended and closed its side
            break
        if not chunk:
            break
        shown += chunk
    _, stderr = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0, stderr
    assert b"RUN" in shown  # the status table, on the terminal
    return stderr.decode().split("--- done\n")[:-1]


def test_status_and_results_name_the_report_on_a_terminal_only(laid: Laid) -> None:
    sweep = str(laid.sweep_file)
    table, ranked, status_json, results_json = on_a_terminal(
        ["status", sweep], ["results", sweep, "--sort-by", "val_loss", "--mode", "min", "--no-save"], ["status", sweep, "--json"],
        ["results", sweep, "--sort-by", "val_loss", "--format", "json", "--no-save"],
    )  # fmt: skip
    assert table.splitlines() == [f"spawn-tf: plots of it in one page: spawn-tf report {sweep} [-o FILE] [--open]"]
    assert (
        f"spawn-tf: plots of it in one page: spawn-tf report {sweep} --sort-by val_loss --mode min [-o FILE] [--open]"
        in ranked.splitlines()
    )
    assert "spawn-tf report" not in status_json + results_json  # JSON: no hint, terminal or not
    piped = CliRunner().invoke(main, ["status", sweep])
    assert piped.exit_code == 0 and "spawn-tf report" not in piped.stderr


def test_status_widens_the_ranking_as_for_results_and_open_hands_the_page_to_the_browser(laid: Laid, tmp_path, monkeypatch) -> None:
    import webbrowser

    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n', encoding="utf-8")
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # read $BROWSER again
    target = tmp_path / "wide.html"
    options = ["--status", "success,stopped", "--sort-by", "val_loss", "--mode", "min", "--top", "5"]
    result = CliRunner().invoke(main, ["report", str(laid.sweep_file), *options, "-o", str(target), "--open"])
    expected = CliRunner().invoke(main, ["results", str(laid.sweep_file), *options, "--format", "json", "--no-save"])
    assert result.exit_code == 0 and expected.exit_code == 0, result.output + expected.output
    document, _ = embedded(target.read_text(encoding="utf-8"))
    assert document["ranking"]["results"] == json.loads(expected.stdout)
    assert {item["name"] for item in document["ranking"]["results"]} >= {"y"}  # an early-stopped run, by its last report
    assert document["ranking"]["statuses"] == ["stopped", "success"]
    assert opened.read_text(encoding="utf-8") == target.resolve().as_uri()


def test_without_a_metric_the_page_has_no_ranking_but_everything_else(laid: Laid) -> None:
    document, figures = embedded(laid.pages[0])
    text = page({**document, "ranking": None}, "2026-12-07T10:00:00Z")
    _, drawn = embedded(text)
    assert list(drawn) == [name for name in figures if not name.startswith(("plot-parallel", "plot-param-"))]
    assert "no metric to rank by: give --sort-by" in text


def test_what_could_not_be_read_is_on_the_page_and_exits_3(laid: Laid, tmp_path) -> None:
    """A region EC2 does not answer for (moto serves no such region), through a sweep.json: the page is written with the
    rest, says what it lacks, the run there is unknown; and without the sweep file there is no cost line."""
    from spawn_tf.manifest import run_records, sweep_manifest
    from spawn_tf.pipeline import check_file

    plan = check_file(laid.sweep_file).plan
    manifest = sweep_manifest(plan, run_records(plan))
    manifest["runs"][list(RUNS).index("wait")]["region"] = "xx-nowhere-1"
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "sweep.json").write_text(json.dumps(manifest), encoding="utf-8")
    target = tmp_path / "partial.html"
    result = CliRunner().invoke(
        main, ["report", str(tmp_path / "build"), "--prices", str(laid.sweep_file.parent / "prices.csv"), "-o", str(target)]
    )
    assert result.exit_code == 3, result.output
    text = target.read_text(encoding="utf-8")
    document, _ = embedded(text)
    assert [problem.split(" could not be read")[0] for problem in document["status"]["problems"]] == ["EC2 in xx-nowhere-1"]
    assert '<p class="problem">could not be read: EC2 in xx-nowhere-1' in text
    assert {item["run"]: item["status"] for item in document["status"]["instances"]}["wait"] == "unknown"
    assert document["cost"] is None and "the cost needs the sweep file" in result.stderr
