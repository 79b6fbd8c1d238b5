#!/usr/bin/env python3
"""Whole-process benchmark of the `spawn-tf` CLI against the DESIGN §9 budgets.

For each sweep size N it writes a sweep file with N explicit runs (``defaults:`` + ``params:``,
PyYAML's default block style, as a user's generator script would), then times whole processes:
one warm-up, then ``--repeat`` timed runs; it reports median and min wall time and the child's
peak RSS (``ru_maxrss`` from ``os.wait4``). The "floor" is what any YAML-in, JSON-out Python tool
pays: load the sweep with PyYAML's C loader and ``json.dump`` a document with one entry per run.

Stdlib only (the sweep files are written by a child ``python -c`` that imports PyYAML, the same
interpreter that runs spawn-tf). Usage::

    python3 bench/bench_cli.py [--runs 1000,10000] [--commands validate,expand,floor] [--repeat 5] [--json]
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# --- what is run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """Everything a command line may refer to; `outdir` is a fresh, empty directory per process."""

    spawn_tf: str
    python: str
    sweep: Path
    outdir: Path


# A child script that writes the sweep file: argv = [N, path]. Deterministic (fixed seed).
GENERATE = r"""
import random, sys, yaml
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20261129)
doc = {
    "defaults": {
        "instance_type": "g5.xlarge",
        "region": "us-east-1",
        "ttl": "6h",
        "spot": True,
        "iam_policy": "s3:ReadOnly",
        "user_data": "#!/bin/bash\nset -euo pipefail\ncd /opt/train\n"
                     "python3 train.py --lr \"$LEARNING_RATE\" --batch-size \"$BATCH_SIZE\" \\\n"
                     "  --optimizer \"$OPTIMIZER\" --dropout \"$DROPOUT\" --out /opt/spawn/output\n",
    },
    "params": [
        {
            "name": f"run-{i:05d}",
            "learning_rate": round(rng.uniform(1e-4, 1e-1), 6),
            "batch_size": rng.choice([16, 32, 64, 128, 256]),
            "optimizer": rng.choice(["adam", "adamw", "sgd", "rmsprop"]),
            "dropout": round(rng.uniform(0.0, 0.5), 3),
        }
        for i in range(n)
    ],
}
with open(path, "w", encoding="utf-8") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
"""

# The floor of DESIGN §9: C loader in, one JSON entry per run (defaults merged in) out.
FLOOR = r"""
import json, sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    doc = yaml.load(f, Loader=yaml.CSafeLoader)
defaults = doc.get("defaults") or {}
runs = {row["name"]: {**defaults, **row} for row in doc["params"]}
with open("/dev/null", "w", encoding="utf-8") as out:
    json.dump({"locals": {"runs": runs}}, out, indent=2)
"""

# One line per command. Commands run with stdout to /dev/null; stderr is kept and summarised.
COMMANDS: dict[str, Callable[[Invocation], list[str]]] = {
    "validate": lambda i: [i.spawn_tf, "validate", str(i.sweep)],
    "expand": lambda i: [i.spawn_tf, "expand", str(i.sweep), "--format", "json"],
    "floor": lambda i: [i.python, "-c", FLOOR, str(i.sweep)],
    "compile": lambda i: [i.spawn_tf, "compile", str(i.sweep), "-o", str(i.outdir)],
}


@dataclass(frozen=True)
class Budget:
    seconds: float
    peak_mb: float | None = None

    def __str__(self) -> str:
        text = f"<= {self.seconds:g} s"
        return text + (f", <= {self.peak_mb:g} MB" if self.peak_mb is not None else "")


# DESIGN §9, keyed by (command, runs). Rows for commands not in COMMANDS are simply unused.
BUDGETS: dict[tuple[str, int], Budget] = {
    ("validate", 10_000): Budget(1.2),
    ("compile", 1_000): Budget(0.4),
    ("compile", 10_000): Budget(1.5, 150),
}

# --- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float
    stderr: str


@dataclass(frozen=True)
class Result:
    command: str
    runs: int
    argv: list[str]
    samples: list[Sample]
    budget: Budget | None
    floor_median: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def minimum(self) -> float:
        return min(s.seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        return max(s.peak_mb for s in self.samples)

    @property
    def within_budget(self) -> bool | None:
        if self.budget is None:
            return None
        memory_ok = self.budget.peak_mb is None or self.peak_mb <= self.budget.peak_mb
        return self.median <= self.budget.seconds and memory_ok

    def stderr_lines(self) -> list[str]:
        """Distinct stderr lines over all samples (order kept): warnings, summaries."""
        seen: dict[str, None] = {}
        for sample in self.samples:
            for line in sample.stderr.splitlines():
                seen.setdefault(line, None)
        return list(seen)


class BenchError(RuntimeError):
    pass


def child_env(workdir: Path) -> dict[str, str]:
    """Bytecode is cached (as for an installed user) under workdir, never beside the repo's sources.

    Without this, an environment with PYTHONDONTWRITEBYTECODE=1 recompiles the editable package's
    modules in every process; the warm-up run fills the cache.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def run_once(argv: Sequence[str], workdir: Path) -> Sample:
    """Run one process to completion; wall time and the child's own peak RSS (KiB on Linux)."""
    with open(workdir / "stderr.txt", "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=workdir, env=child_env(workdir))
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace").replace(str(workdir), "<tmp>")
    if proc.returncode != 0:
        tail = "\n".join(stderr.splitlines()[-20:])
        raise BenchError(f"exit status {proc.returncode} from: {' '.join(argv[:3])} ...\n--- stderr (last lines) ---\n{tail}")
    return Sample(seconds=seconds, peak_mb=usage.ru_maxrss / 1024, stderr=stderr)


def measure(name: str, runs: int, base: Invocation, repeat: int, workdir: Path) -> Result:
    """One warm-up, then `repeat` timed processes; each gets a fresh, empty `outdir`."""
    samples: list[Sample] = []
    argv: list[str] = []
    for i in range(repeat + 1):  # the first one is the warm-up
        outdir = workdir / f"out-{name}-{runs}-{i}"
        argv = COMMANDS[name](Invocation(base.spawn_tf, base.python, base.sweep, outdir))
        outdir.mkdir()
        try:
            sample = run_once(argv, workdir)
        finally:
            shutil.rmtree(outdir, ignore_errors=True)
        if i > 0:
            samples.append(sample)
    return Result(name, runs, argv, samples, BUDGETS.get((name, runs)))


def find_spawn_tf() -> str:
    beside = Path(sys.executable).parent / "spawn-tf"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("spawn-tf")
    if found is None:
        raise BenchError("spawn-tf not found next to sys.executable nor on PATH (python3 -m pip install -e '.[test]')")
    return found


def write_sweep(python: str, runs: int, path: Path) -> None:
    subprocess.run([python, "-c", GENERATE, str(runs), str(path)], check=True)


# --- reporting -----------------------------------------------------------------------------------


def with_floor(results: list[Result]) -> list[Result]:
    floors = {r.runs: r.median for r in results if r.command == "floor"}
    return [Result(r.command, r.runs, r.argv, r.samples, r.budget, floors.get(r.runs)) for r in results]


def table(results: Sequence[Result]) -> str:
    header = ["command", "runs", "median s", "min s", "peak MB", "x floor", "budget (DESIGN §9)", "status"]
    rows = [header]
    for r in results:
        ratio = f"{r.median / r.floor_median:.2f}" if r.floor_median and r.command != "floor" else "-"
        verdict = {None: "", True: "ok", False: "OVER"}[r.within_budget]
        rows.append(
            [r.command, f"{r.runs}", f"{r.median:.3f}", f"{r.minimum:.3f}", f"{r.peak_mb:.0f}", ratio, str(r.budget or "-"), verdict]
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    right = {1, 2, 3, 4, 5}
    lines = [
        "  ".join(cell.rjust(w) if c in right else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def notes(results: Sequence[Result], limit: int = 5) -> str:
    out = []
    for r in results:
        lines = r.stderr_lines()
        if lines:
            out.append(f"stderr of {r.command} {r.runs} ({len(lines)} distinct lines):")
            out.extend(f"  {line}" for line in lines[:limit])
            if len(lines) > limit:
                out.append(f"  ... {len(lines) - limit} more")
    return "\n".join(out)


def git_state() -> dict[str, object] | None:
    """The commit of the checkout this script lives in, and whether its tree had local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"head": head, "dirty": bool(dirty.strip())}


def as_json(results: Sequence[Result], spawn_tf: str, repeat: int) -> str:
    doc = {
        "spawn_tf": spawn_tf,
        "git": git_state(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "results": [
            {
                "command": r.command,
                "runs": r.runs,
                "argv": [a if len(a) < 200 else "<script>" for a in r.argv[1:]],
                "median_s": round(r.median, 4),
                "min_s": round(r.minimum, 4),
                "seconds": [round(s.seconds, 4) for s in r.samples],
                "peak_rss_mb": round(r.peak_mb, 1),
                "floor_ratio": round(r.median / r.floor_median, 3) if r.floor_median else None,
                "budget": None if r.budget is None else {"seconds": r.budget.seconds, "peak_mb": r.budget.peak_mb},
                "within_budget": r.within_budget,
                "stderr": r.stderr_lines(),
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


# --- main ----------------------------------------------------------------------------------------


def csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--runs", type=lambda s: [int(x) for x in csv_list(s)], default=[1000, 10000], help="sweep sizes (default 1000,10000)"
    )
    parser.add_argument("--commands", type=csv_list, default=list(COMMANDS), help=f"subset of {','.join(COMMANDS)} (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per (command, size), after one warm-up (default 5)")
    parser.add_argument("--json", action="store_true", help="print a JSON document on stdout (the table goes to stderr)")
    args = parser.parse_args(argv)
    unknown = [c for c in args.commands if c not in COMMANDS]
    if unknown:
        parser.error(f"unknown command(s) {', '.join(unknown)}; known: {', '.join(COMMANDS)}")
    if args.repeat < 1 or not args.runs or min(args.runs) < 1:
        parser.error("--repeat and --runs must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spawn_tf = find_spawn_tf()
        results: list[Result] = []
        with tempfile.TemporaryDirectory(prefix="bench-spawn-tf-") as tmp:
            workdir = Path(tmp)
            for runs in args.runs:
                sweep = workdir / f"sweep-{runs}.yaml"
                write_sweep(sys.executable, runs, sweep)
                size_kb = sweep.stat().st_size / 1024
                base = Invocation(spawn_tf, sys.executable, sweep, workdir)
                for name in args.commands:
                    print(f"# {name} {runs} runs ({size_kb:.0f} KiB sweep): 1 warm-up + {args.repeat}", file=sys.stderr, flush=True)
                    results.append(measure(name, runs, base, args.repeat, workdir))
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"bench_cli: FAILED: {exc}", file=sys.stderr)
        return 1
    results = with_floor(results)
    report = table(results) + ("\n\n" + notes(results) if notes(results) else "")
    if args.json:
        print(report, file=sys.stderr)
        print(as_json(results, spawn_tf, args.repeat))
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
