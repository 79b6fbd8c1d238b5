#!/usr/bin/env python3
"""Launch's own overhead over N roots, Terraform's time left out (DESIGN §10).

For each N it compiles a sweep of N runs in one region with `max_runs_per_root: 1` (N shards, so N
roots), then times whole `spawn-tf launch BUILD --auto-approve` processes against a stand-in
`terraform` on PATH: a shell script that answers `version`, `init`, `plan` (writes the plan file,
exit 2: changes), `show -json` (a one-run plan) and `apply` at once. What is left is launch's part:
interpreter start-up, imports, reading the build, the lock, starting 3 processes per root (init
runs once, then its record says nothing changed), logs, reading the plans, the summary.
The stand-in's own cost is measured apart (the same commands run one after another, without launch)
and subtracted: `launch's own` = median wall - stand-in time / min(N, --parallel).

One warm-up (it runs the inits), then --repeat timed runs; medians. Usage::

    python3 bench/bench_launch.py [--roots 1,10,50] [--repeat 5] [--parallel 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The plan `show -json` prints: one run to launch (what plan_summary reads).
PLAN = json.dumps({
    "configuration": {"root_module": {"resources": [
        {"address": "aws_instance.run", "mode": "managed", "for_each_expression": {"references": ["local.active"]}}]}},
    "resource_changes": [{"address": 'aws_instance.run["r"]', "mode": "managed", "index": "r", "change": {"actions": ["create"]}}],
})  # fmt: skip

STAND_IN = """#!/bin/sh
case "$1" in
  version) echo '{{"terraform_version": "0.0.0-stand-in"}}'; exit 0 ;;
esac
root="${{1#-chdir=}}"
case "$2" in
  plan) for arg in "$@"; do case "$arg" in -out=*) echo plan > "$root/${{arg#-out=}}" ;; esac; done; exit 2 ;;
  show) cat '{plan}'; exit 0 ;;
esac
exit 0
"""


def _sweep(roots: int) -> str:
    rows = "".join(f"  - {{name: r{i:04d}, lr: {i}}}\n" for i in range(roots))
    return f"sweep: bench\nmax_runs_per_root: 1\ndefaults:\n  region: us-east-1\n  command: ./train.sh\nparams:\n{rows}"


def _setup(work: Path, roots: int) -> tuple[Path, dict[str, str]]:
    """A compiled build of `roots` roots, and the environment that puts the stand-in first on PATH."""
    (work / "bin").mkdir(parents=True)
    (work / "plan.json").write_text(PLAN)
    stand_in = work / "bin" / "terraform"
    stand_in.write_text(STAND_IN.format(plan=work / "plan.json"))
    stand_in.chmod(0o755)
    sweep = work / "bench.yaml"
    sweep.write_text(_sweep(roots))
    env = {**os.environ, "PATH": f"{work / 'bin'}{os.pathsep}{os.environ['PATH']}", "TF_PLUGIN_CACHE_DIR": str(work / "plugins"),
           "SPAWN_TF_INDEX": str(work / "index.json"), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    env.pop("SPAWN_TF_TERRAFORM", None)
    subprocess.run(
        [sys.executable, "-m", "spawn_tf.cli", "compile", str(sweep), "-o", str(work / "build")], env=env, check=True, capture_output=True
    )
    return work / "build" / "bench", env


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr}")
    return elapsed


def _stand_in_alone(build: Path, env: dict[str, str]) -> float:
    """The stand-in's commands of one launch, run one after another without launch (what Terraform's part costs here)."""
    stand_in = shutil.which("terraform", path=env["PATH"]) or "terraform"
    start = time.perf_counter()
    subprocess.run([stand_in, "version", "-json"], capture_output=True, check=False)
    for root in sorted(path for path in build.iterdir() if path.is_dir() and not path.name.startswith(".")):
        for args in (["plan", "-out=.spawn/launch.tfplan"], ["show", "-json", ".spawn/launch.tfplan"], ["apply", ".spawn/launch.tfplan"]):
            subprocess.run([stand_in, f"-chdir={root}", *args], capture_output=True, check=False)
    return time.perf_counter() - start


def measure(roots: int, repeat: int, parallel: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-spawn-tf-") as scratch:
        build, env = _setup(Path(scratch), roots)
        argv = [sys.executable, "-m", "spawn_tf.cli", "launch", str(build), "--auto-approve", "--parallel", str(parallel)]
        _timed(argv, env)  # warm-up: inits, bytecode
        walls = [_timed(argv, env) for _ in range(repeat)]
        alone = statistics.median(_stand_in_alone(build, env) for _ in range(repeat))
    wall = statistics.median(walls)
    own = wall - alone / min(roots, parallel)
    return {"roots": roots, "wall_s": round(wall, 3), "min_s": round(min(walls), 3), "stand_in_s": round(alone, 3),
            "own_s": round(own, 3), "own_per_root_ms": round(1000 * own / roots, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", default="1,10,50", help="comma-separated root counts")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="JSON on stdout (the table goes to stderr)")
    options = parser.parse_args()
    rows = [measure(int(n), options.repeat, options.parallel) for n in options.roots.split(",")]
    header = f"{'roots':>6} {'median s':>9} {'min s':>7} {'stand-in s':>11} {'launch own s':>13} {'own ms/root':>12}"
    lines = [header] + [f"{r['roots']:>6} {r['wall_s']:>9.3f} {r['min_s']:>7.3f} {r['stand_in_s']:>11.3f} {r['own_s']:>13.3f} {r['own_per_root_ms']:>12.1f}"
                        for r in rows]  # fmt: skip
    print("\n".join(lines), file=sys.stderr if options.json else sys.stdout)
    if options.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
