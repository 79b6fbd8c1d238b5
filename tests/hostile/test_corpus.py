"""Hostile input through the real command in a child process: bounded time and memory, a plain located error.

Each file breaks one limit or rule of the loader (issue 18, items 7-10); large files are made at
test time. `validate`, `expand` and `compile` each run in a fresh interpreter that reports its own
peak RSS, so one command's memory is measured, not the test runner's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from spawn_tf import contract

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 2.0
PEAK_RSS_KIB = 300 * 1024
# The command in-process, then its own CPU time and peak RSS on the last line of stderr. VmHWM
# belongs to the process's own memory map; ru_maxrss would carry over the test runner's size
# through fork and exec.
_CHILD = """
import re, resource, sys
from pathlib import Path
from spawn_tf.cli import main
try:
    main()
finally:
    used = resource.getrusage(resource.RUSAGE_SELF)
    peak = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())
    print(f"cpu-seconds={used.ru_utime + used.ru_stime} peak-rss-kib={peak.group(1)}", file=sys.stderr)
"""
_RUN = "defaults: {instance_type: m7i.large, ttl: 2h, user_data: ./train.sh}\n"
_ROW = "  - {name: run-%06d, learning_rate: 0.001, batch_size: 32, optimizer: adam, dropout: 0.1}\n"
_LOCATED = re.compile(r"^\S+:\d+:\d+: error: ", re.MULTILINE)


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


def _runs_yaml(count: int) -> Callable[[Path], None]:
    return lambda path: path.write_text(_RUN + "params:\n" + "".join(_ROW % i for i in range(count)), encoding="utf-8")


def _one_run_yaml(parameters: int) -> Callable[[Path], None]:
    return _text(_RUN + "params:\n  - name: a\n" + "".join(f"    p{i}: {i}\n" for i in range(parameters)))


def _one_run_json(parameters: int) -> Callable[[Path], None]:
    return _text('{"params": [{"name": "a", ' + ", ".join(f'"p{i}": {i}' for i in range(parameters)) + "}]}\n")


def _symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


# name -> how to make it. Each must be refused.
CORPUS: dict[str, Callable[[Path], None]] = {
    # 7: format widths and precisions in name_template
    "template-width.yaml": _text(_RUN + "name_template: 'lr-{lr:>2000000000}'\ngrid:\n  lr: [0.1, 0.2]\n"),
    "template-precision.yaml": _text(_RUN + "name_template: 'lr-{lr:.2000000000f}'\ngrid:\n  lr: [0.1, 0.2]\n"),
    "template-nested-width.yaml": _text(_RUN + "name_template: 'lr-{lr:>{w}}'\ngrid:\n  lr: [0.1]\n  w: [2000000000]\n"),
    "template-long-text.yaml": _text(_RUN + "name_template: 'r-" + "x" * 3_000_000 + "-{index}'\ngrid:\n  lr: [" + ", ".join(map(str, range(2000))) + "]\n"),
    "template-long-value.yaml": _text(
        "defaults: {instance_type: m7i.large, ttl: 2h, user_data: ./t.sh, tag: " + "x" * 3_000_000 + "}\n"
        + "name_template: 'r-{tag}-{index}'\ngrid:\n  lr: [" + ", ".join(map(str, range(2000))) + "]\n"
    ),
    "long-value-many-runs.yaml": _text(
        "defaults: {instance_type: m7i.large, ttl: 2h, user_data: ./t.sh, data: " + "y" * 1_000_000 + "}\n"
        + "name_template: r{index}\ngrid:\n  lr: [" + ", ".join(map(str, range(5000))) + "]\n"
    ),  # compresses into 16 KB of user-data, but 5,000 copies of it did not fit in memory
    "long-values-many-runs.yaml": _text(
        "defaults: {instance_type: m7i.large, ttl: 2h, user_data: ./t.sh, data: " + "y" * 120_000 + "}\n"
        + "name_template: r{index}\ngrid:\n  lr: [" + ", ".join(map(str, range(5000))) + "]\n"
    ),  # each value under the limit, 600 MB when copied into every run
    "long-iam-policy.yaml": _text("defaults: {instance_type: m7i.large, ttl: 2h, user_data: ./t.sh, iam_policy: " + "x" * 3_000_000 + "}\n"),
    # 8: a CSV cell over the csv module's 128 KiB
    "big-cell.csv": _text("name,instance_type,ttl,user_data,note\na,m7i.large,2h,./t.sh," + "x" * 200_000 + "\n"),
    # 9: limits checked while reading
    "50mb-380000-runs.yaml": _runs_yaml(380_000),  # over the file size
    "150000-runs.yaml": _runs_yaml(150_000),  # under the file size, over the values
    "200000-parameters.yaml": _one_run_yaml(200_000),
    "200000-parameters.json": _one_run_json(200_000),
    "150000-runs.json": _text('{"params": [' + ", ".join(f'{{"name": "r{i}", "lr": 0.1}}' for i in range(150_000)) + "]}\n"),
    "150000-rows.csv": _text("name,lr\n" + "".join(f"r{i},0.1\n" for i in range(150_000))),
    "empty-runs.yaml": _text(_RUN + "params:\n" + "  - {}\n" * (contract.MAX_RUNS + 1)),
    "wide-runs.yaml": _text(
        "defaults:\n  instance_type: m7i.large\n  ttl: 2h\n  user_data: ./train.sh\n" + "".join(f"  p{i}: {i}\n" for i in range(990))
        + "name_template: r{index}\nparams:\n" + "  - {}\n" * 50_000
    ),  # within the run and key limits one by one, 50 million settings and parameters in all
    "grid-product.yaml": _text(_RUN + "grid:\n" + "".join(f"  p{i}: [{', '.join(map(str, range(100)))}]\n" for i in range(20))),
    "random-count.yaml": _text(_RUN + "random:\n  count: 1000000000000\n  parameters:\n    lr: {values: [0.1]}\n"),
    "newlines.yaml": _text("\n" * (contract.MAX_SWEEP_FILE_BYTES - 8) + "a: [\n"),
    "long-instance-type.yaml": _text("defaults: {ttl: 2h, user_data: ./t.sh, instance_type: " + "m7i" * 40_000 + "}\n"),
    # 10: not regular files
    "fifo.yaml": os.mkfifo,
    "dev-zero.yaml": _symlink("/dev/zero"),
    "dev-urandom.json": _symlink("/dev/urandom"),
}
_NOT_FILES = {"fifo.yaml", "dev-zero.yaml", "dev-urandom.json"}
COMMANDS = (("validate",), ("expand",), ("compile", "-o", "build"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, make in CORPUS.items():
        make(folder / name)
    return folder


def _run(command: tuple[str, ...], name: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float, float, int]:
    """The finished command, its wall and CPU seconds, and its peak RSS in KiB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _CHILD, *command, name], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=30, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    *rest, last = result.stderr.rstrip("\n").split("\n")
    measured = re.fullmatch(r"cpu-seconds=([0-9.]+) peak-rss-kib=([0-9]+)", last)
    assert measured, result.stderr[-2000:]
    result.stderr = "\n".join(rest) + "\n"
    return result, wall, float(measured.group(1)), int(measured.group(2))


def _wall_bound() -> float:
    """SECONDS on an idle machine; stretched by the load beyond the cores (the test suite shares them), so a busy machine is no failure."""
    return SECONDS * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_file_is_refused_quickly_with_a_plain_error(corpus: Path, name: str) -> None:
    for command in COMMANDS:
        result, wall, cpu, peak_kib = _run(command, name, corpus)
        what = f"{command[0]} {name}: {result.stderr[:600]}"
        assert result.returncode == 1, what
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr, what
        if name in _NOT_FILES:
            assert f"error: '{name}' is " in result.stderr and "not a regular file" in result.stderr, what
        else:
            assert _LOCATED.search(result.stderr), what
        assert result.stdout == "", what
        assert cpu < SECONDS, f"{what}: {cpu:.2f} s of CPU"
        assert wall < _wall_bound(), f"{what}: {wall:.2f} s"
        assert peak_kib < PEAK_RSS_KIB, f"{what}: {peak_kib // 1024} MB"
