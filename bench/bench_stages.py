"""Where `spawn-tf compile` spends its time: each stage of the compile path timed in one process.

Stages: import, load, validate, pack (the workdirs), expand, plan, the runs' export lines, user-data sizes, the roots'
Terraform (made here) and the manifests (made in a forked process by `compile`; here after the roots,
to time them apart). The cyclic garbage collector is off, as in the CLI (`cli_base.one_shot`).
Nothing is written. The stages are those of `pipeline.check_file` and `terraform_files`, called one by one (keep them
in step): this shows what to work on, `bench_scale.py` and `bench_cli.py` give the figures.

Usage: python3 bench/bench_stages.py SWEEP_FILE [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

STAGES = r"""
import gc, json, sys, time
gc.disable()
clock = time.perf_counter
marks = [clock()]
from pathlib import Path
from spawn_tf.emit.json_text import dump_json
from spawn_tf.emit.schedule import sweep_order
from spawn_tf.emit.terraform import emit_root, manifest_files
from spawn_tf.expand import expand_runs, workdirs
from spawn_tf.load import load_document
from spawn_tf.plan import plan_roots
from spawn_tf.userdata import exports, sizes
from spawn_tf.validate import check_document
from spawn_tf.workdir import Archive, code_modules, pack_workdirs
marks.append(clock())
path = Path(sys.argv[1])
document, _ = load_document(path, None)
marks.append(clock())
validation = check_document(document)
marks.append(clock())
packed = pack_workdirs(path.parent, workdirs(validation.sweep))
marks.append(clock())
runs, _ = expand_runs(validation.sweep, document, packed)
marks.append(clock())
archives = {archive.sha256: archive.data for archive in packed.values() if isinstance(archive, Archive)}
plan = plan_roots(validation.sweep, runs, archives, code_modules())
marks.append(clock())
run_exports = exports(runs)
marks.append(clock())
run_sizes = sizes(plan, run_exports)
marks.append(clock())
for root in plan.roots:
    emit_root(plan, root, run_exports, gzipped=run_sizes[root.name].compressed)
if plan.sweep.max_concurrent is not None:
    dump_json(sweep_order(plan))
marks.append(clock())
for _, content in manifest_files(plan, None):
    content if isinstance(content, bytes) else b"".join(content)
marks.append(clock())
names = ("import", "load", "validate", "pack", "expand", "plan", "exports", "sizes", "roots", "manifests")
print(json.dumps(dict(zip(names, (after - before for before, after in zip(marks, marks[1:]))))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    samples = []
    for _ in range(args.repeat):
        output = subprocess.run([sys.executable, "-c", STAGES, args.sweep], check=True, capture_output=True, text=True).stdout
        samples.append(json.loads(output))
    for stage in samples[0]:
        print(f"{stage:>10}  {statistics.median(sample[stage] for sample in samples):6.2f} s")


if __name__ == "__main__":
    main()
