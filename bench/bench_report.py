#!/usr/bin/env python3
"""The cost of `spawn-tf report` for a large sweep (DESIGN §14): time, peak memory and the page's size.

A child process builds what the collector's reads of an N-run sweep return — the `_done/`,
`_attempts/` and `_progress/` listings (STEPS reports of `val_loss` per started run), EC2's
instances and each run's metrics file — as the objects observe.py and results.py make of them,
then runs the report's own code on them, as `spawn-tf report` does after its reads: the statuses
(status.py, with the early stops explained), the ranking (results.py), the report's document
(collect/report.py) and the page (report_page.py, plotly), written to a file. The parent times the
whole process and reads its peak RSS (`ru_maxrss` from `os.wait4`); the child prints each phase's
seconds. The S3 and EC2 calls are not included: they are `status`'s listings (pages, not runs) and
`results`' reads (status.json and metrics.json of each run), which bench_cli.py and the collector
tests count.

Mix of N runs (deterministic): 70 % success with metrics, 5 % failed, 1 % early-stopped (their
agents stopped them, so their reports show it), 4 % interrupted once then successful, 10 % running,
10 % pending. Usage::

    python3 bench/bench_report.py [--runs 10000] [--steps 10] [--repeat 3] [--keep PAGE.html] [--browser]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, random, sys, time
from datetime import datetime, timedelta, UTC
n, steps, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
from spawn_tf import contract, stopping
from spawn_tf.collect.observe import Instance, Key, Observation
from spawn_tf.collect.report import Ranking, report_document
from spawn_tf.collect.results import Metrics, Mode, left_out, rank
from spawn_tf.collect.status import run_statuses
from spawn_tf.collect.sweep import Results, SweepRecord
from spawn_tf.manifest import RunRecord
from spawn_tf.report_page import page
imported = time.perf_counter()

rng = random.Random(20261207)
rule = stopping.Rule(metric="val_loss", mode="min")
results = Results(bucket="bench", region="us-east-1", folder="sweeps/big")
runs = tuple(RunRecord(name=f"run-{i:05d}", index=i, fingerprint=f"{i:016x}", region=("us-east-1", "us-west-2")[i % 2], root="r0",
                       instance_type=("g5.xlarge", "g5.2xlarge", "p4d.24xlarge")[i % 3], spot=True, max_attempts=3, max_interruptions=3,
                       params={"learning_rate": 10 ** rng.uniform(-5, -1), "batch_size": rng.choice([16, 32, 64, 128]),
                               "optimizer": rng.choice(["adam", "sgd", "adamw"]), "dropout": round(rng.uniform(0, 0.5), 3)})
             for i in range(n))
sweep = SweepRecord(id="big", results=results, runs=runs, sweep_file=None, early_stopping=rule)
t0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
done, attempts, progress, instances, metrics = [], [], [], [], []
attempts_at = contract.control_prefix(results.folder, contract.CONTROL_ATTEMPTS)
for run in runs:
    kind = rng.random()
    if kind >= 0.9:
        continue  # pending
    began = t0 + timedelta(seconds=rng.randrange(3600))
    ended = began + timedelta(seconds=rng.randrange(1800, 7200))
    status = "stopped" if kind < 0.01 else "failed" if kind < 0.06 else "running" if kind >= 0.8 else "success"
    instance = f"i-{run.index:017x}"
    attempts.append(Key(f"{attempts_at}{run.key}/{instance}", began, 0))
    if 0.06 <= kind < 0.1:  # interrupted once, then a second attempt
        attempts.append(Key(f"{attempts_at}{run.key}/{instance}.interrupted", began + timedelta(minutes=20), 0))
        instance = f"i-{run.index + 10**6:017x}"
        attempts.append(Key(f"{attempts_at}{run.key}/{instance}", began + timedelta(minutes=25), 0))
    history = {}
    quality = rng.uniform(0.2, 1.0) * (4 if status == "stopped" else 1)
    for step in range(1, steps + 1):
        value = round(quality + 1 / step, 4)
        history[step] = value
        name = stopping.entry_name(run.name, value, stopping.running(history, step, rule))
        progress.append(Key(f"{contract.progress_prefix(results.folder, 'val_loss')}{stopping.step_folder(step)}/{name}",
                            began + timedelta(minutes=3 * step), 0))
    if status == "running":
        instances.append(Instance(instance_id=instance, region=run.region, run=run.name, fingerprint=run.fingerprint, state="running",
                                  status_tag="running", launched=began))
        continue
    attempts.append(Key(f"{attempts_at}{run.key}/{instance}.{status}", ended, 0))
    done.append(Key(contract.done_key(results.folder, run.key, status, {"success": 0, "failed": 1}.get(status)), ended, 0))
    if status == "success":
        metrics.append(Metrics(run=run, values={"val_loss": history[steps], "accuracy": 1 - history[steps] / 2}, problem=None, status="success"))
observation = Observation(done=tuple(done), attempts=tuple(attempts), stops=(), instances=tuple(instances), problems=(),
                          progress=tuple(progress))
built = time.perf_counter()
statuses = run_statuses(sweep, observation)
ruled = time.perf_counter()
board = rank(metrics, "val_loss", Mode.MIN)
ranking = Ranking(board=board, statuses=("success",), left_out={}, top=20)
document = report_document(sweep, statuses, observation, ranking, None)
documented = time.perf_counter()
text = page(document, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")).encode()
with open(out, "wb") as handle:
    handle.write(text)
written = time.perf_counter()
print(json.dumps({"import": imported - started, "statuses": ruled - built, "document": documented - ruled, "page": written - documented,
                  "bytes": len(text), "data_bytes": len(json.dumps(document, separators=(",", ":"))), "progress_keys": len(progress),
                  "early_stops": sum(1 for s in statuses if s.early_stop is not None)}))
"""


def run_once(runs: int, steps: int, out: Path) -> tuple[float, int, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    begin = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(runs), str(steps), str(out)], stdout=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - begin
    assert process.stdout is not None
    phases = json.loads(process.stdout.read())
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the child failed: {status}")
    return wall, usage.ru_maxrss // 1024, phases


def draw(page: Path, plots: int) -> tuple[float, float, list[str]]:
    """Seconds until Chromium has loaded the page and until plotly has drawn every plot; the console's errors."""
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from browser import Browser

    begin = time.perf_counter()
    with Browser() as browser:
        seen = browser.open(page)
        loaded = time.perf_counter() - begin
        browser.wait_for(f"document.querySelectorAll('.spawn-plot.js-plotly-plot .main-svg').length >= {plots}", timeout=300)
        return loaded, time.perf_counter() - begin, seen.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10, help="progress reports of val_loss per started run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the last page here")
    parser.add_argument("--browser", action="store_true", help="also time headless Chromium drawing the page (tests/support/browser.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.html"
        measured = [run_once(args.runs, args.steps, out) for _ in range(args.repeat)]
        if args.keep:
            args.keep.write_bytes(out.read_bytes())
        drawn = draw(out, out.read_text(encoding="utf-8").count('class="spawn-plot"')) if args.browser else None
    walls = [wall for wall, _, _ in measured]
    phases = measured[-1][2]
    print(f"runs {args.runs}, {phases['progress_keys']} progress reports, {phases['early_stops']} early stops; {args.repeat} runs")
    print(f"wall: median {statistics.median(walls):.2f} s, min {min(walls):.2f} s; peak RSS {max(rss for _, rss, _ in measured)} MB")
    print("phases of the last run (s): " + ", ".join(f"{name} {phases[name]:.2f}" for name in ("import", "statuses", "document", "page")))
    print(f"page: {phases['bytes'] / 1e6:.2f} MB (the embedded document {phases['data_bytes'] / 1e6:.2f} MB of JSON before packing)")
    if drawn is not None:
        print(f"chromium: loaded in {drawn[0]:.1f} s, every plot drawn after {drawn[1]:.1f} s; console errors: {drawn[2] or 'none'}")


if __name__ == "__main__":
    main()
