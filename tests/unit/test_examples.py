"""The shipped examples and the seed how-to's own files go through spawn-tf's checks.

- every `examples/*.yaml` is clean (no diagnostic at all, so `validate --strict` passes) and
  expands to the runs its comment promises;
- the seed's YAML blocks (`tests/data/seed/*.yaml`, byte for byte from the how-to) compile
  unchanged: no errors, and exactly the warnings listed here;
- the seed's two generator scripts run unchanged and what they write compiles too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from spawn_tf import check_file
from spawn_tf.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEED = ROOT / "tests" / "data" / "seed"

# example file -> number of runs it expands to
EXAMPLE_RUNS = {
    "capacity-failover.yaml": 20,
    "coarse.yaml": 4,
    "cost-optimized.yaml": 33,
    "dynamic-results-upload.yaml": 4,
    "early-stopping.yaml": 4,
    "early-stopping-median.yaml": 6,
    "fine.yaml": 5,
    "grid-240.yaml": 240,
    "howto-dynamic-results-upload.yaml": 2,
    "howto-early-stopping.yaml": 2,
    "multi-region.yaml": 100,
    "random-search-100.yaml": 100,
}

# seed file -> (number of runs, warning codes it gives)
SEED_EXPECTED = {
    "coarse-sweep.yaml": (4, {"no-workload", "gpu-without-driver"}),
    "fine-sweep.yaml": (5, {"no-workload", "gpu-without-driver"}),
    "dynamic-results-upload.yaml": (1, {"no-ttl", "full-access-policy", "gpu-without-driver"}),
    # a bare top-level user_data: one run built from the defaults alone (named early-stopping-0000;
    # no 'unnamed-runs' warning, since no later run can be renamed)
    # its `aws s3 cp … s3://results/$NAME/…` has no iam_policy to allow it: it would fail under `set -e`
    "early-stopping.yaml": (1, {"no-instance-type", "no-ttl", "single-run", "top-level-setting", "script-write-denied"}),
}


def _codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def _errors(diagnostics) -> list[str]:
    return [d.render() for d in diagnostics if d.is_error]


def test_the_example_list_is_complete() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(EXAMPLE_RUNS)


@pytest.mark.parametrize("name", sorted(EXAMPLE_RUNS))
def test_example_is_clean_and_has_its_runs(name: str) -> None:
    path = EXAMPLES / name
    checked = check_file(path)
    assert [d.render() for d in checked.diagnostics] == []
    assert checked.sweep is not None
    assert checked.runs is not None
    assert len(checked.runs) == EXAMPLE_RUNS[name]
    assert len({run.name for run in checked.runs}) == len(checked.runs)
    assert [run.index for run in checked.runs] == list(range(len(checked.runs)))
    # every run is bounded, has a workload, and no whole-service policy
    for run in checked.runs:
        assert run.settings.ttl_seconds is not None, run.name
        assert run.settings.script, run.name
        assert not any(p.endswith(":FullAccess") for p in run.settings.iam_policy), run.name
    # each example starts with a comment block naming the seed section it shows
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    header = "\n".join(line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))])
    assert "Seed how-to section:" in header


def test_example_sweep_ids_are_the_file_stems() -> None:
    for name in EXAMPLE_RUNS:
        checked = check_file(EXAMPLES / name)
        assert checked.sweep is not None
        assert checked.sweep.id == Path(name).stem


def test_validate_strict_cli_accepts_every_example() -> None:
    files = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    outcome = CliRunner().invoke(main, ["validate", "--strict", *files])
    assert outcome.exit_code == 0, outcome.output
    assert "warning" not in outcome.output
    assert "error" not in outcome.output
    for name, runs in EXAMPLE_RUNS.items():
        assert f"{name}: {runs} runs" in outcome.output


def test_grid_240_is_the_full_product() -> None:
    checked = check_file(EXAMPLES / "grid-240.yaml")
    assert checked.runs is not None
    combos = {(r.params["learning_rate"], r.params["batch_size"], r.params["optimizer"], r.params["dropout"]) for r in checked.runs}
    assert len(combos) == 240 == 5 * 4 * 3 * 4
    assert {r.params["dropout"] for r in checked.runs} == {0.0, 0.1, 0.2, 0.5}
    assert {r.params["optimizer"] for r in checked.runs} == {"adam", "sgd", "rmsprop"}
    assert "lr-0.0001-bs-16-opt-adam-drop-0.0" in {r.name for r in checked.runs}
    for run in checked.runs:
        assert run.region == "us-east-1"
        assert run.settings.instance_type == "g5.xlarge"
        assert run.settings.ttl_seconds == 6 * 3600
        assert run.settings.spot is True
        assert run.settings.iam_policy == ("s3:ReadOnly:my-datasets-bucket/training-data", "logs:WriteOnly:/spawn-tf/grid-240")


def test_random_search_100_draws_within_bounds() -> None:
    checked = check_file(EXAMPLES / "random-search-100.yaml")
    assert checked.runs is not None
    assert [r.name for r in checked.runs] == [f"random-{i:03d}" for i in range(100)]
    for run in checked.runs:
        assert 0.0001 <= run.params["learning_rate"] <= 0.01
        assert run.params["batch_size"] in (16, 32, 64, 128)
        assert 0.0 <= run.params["dropout"] <= 0.5
        assert 0.0 <= run.params["weight_decay"] <= 0.001
    # a fixed seed: checking again gives the very same runs
    again = check_file(EXAMPLES / "random-search-100.yaml")
    assert again.runs is not None
    assert [r.fingerprint for r in again.runs] == [r.fingerprint for r in checked.runs]


def test_coarse_and_fine_use_the_seed_names() -> None:
    coarse = check_file(EXAMPLES / "coarse.yaml")
    fine = check_file(EXAMPLES / "fine.yaml")
    assert coarse.runs is not None
    assert fine.runs is not None
    assert [r.name for r in coarse.runs] == ["coarse-lr-0.0001", "coarse-lr-0.001", "coarse-lr-0.01", "coarse-lr-0.1"]
    assert [r.name for r in fine.runs] == ["fine-lr-0.0005", "fine-lr-0.0008", "fine-lr-0.001", "fine-lr-0.0012", "fine-lr-0.0015"]
    assert {r.settings.ttl_seconds for r in coarse.runs} == {2 * 3600}
    assert {r.settings.ttl_seconds for r in fine.runs} == {4 * 3600}


def test_multi_region_spreads_over_its_regions() -> None:
    checked = check_file(EXAMPLES / "multi-region.yaml")
    assert checked.runs is not None
    regions = Counter(r.region for r in checked.runs)
    assert set(regions) == {"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"}
    assert all(r.region_assigned for r in checked.runs)


def test_cost_optimized_sizes_progressively() -> None:
    checked = check_file(EXAMPLES / "cost-optimized.yaml")
    assert checked.runs is not None
    by_type = Counter((r.settings.instance_type, r.params["epochs"], r.settings.ttl_seconds) for r in checked.runs)
    assert by_type == {("t3.medium", 10, 30 * 60): 20, ("m7i.large", 50, 2 * 3600): 10, ("g5.xlarge", 100, 4 * 3600): 3}


def test_scripts_report_their_own_status() -> None:
    upload = check_file(EXAMPLES / "dynamic-results-upload.yaml")
    stopping = check_file(EXAMPLES / "early-stopping.yaml")
    assert upload.runs is not None
    assert stopping.runs is not None
    script = upload.runs[0].settings.script or ""
    assert "aws s3 cp" in script
    assert "$SPAWN_OUTPUT_DIR" in script
    assert "spored complete --status success" in script
    script = stopping.runs[0].settings.script or ""
    assert "spored complete --status stopped" in script
    assert [r.env["VAL_LOSS_THRESHOLD"] for r in stopping.runs] == ["1.0", "1.0", "1.0", "0.8"]


def test_the_seed_file_list_is_complete() -> None:
    assert sorted(p.name for p in SEED.glob("*.yaml")) == sorted(SEED_EXPECTED)


@pytest.mark.parametrize("name", sorted(SEED_EXPECTED))
def test_seed_yaml_compiles_unchanged(name: str) -> None:
    runs, warnings = SEED_EXPECTED[name]
    checked = check_file(SEED / name)
    assert _errors(checked.diagnostics) == []
    assert checked.runs is not None
    assert len(checked.runs) == runs
    assert set(_codes(checked.diagnostics)) == warnings
    for diagnostic in checked.diagnostics:
        assert diagnostic.span is not None
        assert diagnostic.span.line >= 1


def test_seed_warnings_point_at_the_defaults() -> None:
    # seed files with a defaults block are told where to add the missing setting
    checked = check_file(SEED / "coarse-sweep.yaml")
    assert [(d.code, str(d.severity), d.span.line if d.span else None) for d in checked.diagnostics] == [
        ("no-workload", "warning", 2),
        ("gpu-without-driver", "warning", 3),
    ]
    checked = check_file(SEED / "dynamic-results-upload.yaml")
    assert [(d.code, d.span.line if d.span else None) for d in checked.diagnostics] == [
        ("no-ttl", 1),
        ("gpu-without-driver", 2),
        ("full-access-policy", 3),
    ]
    checked = check_file(SEED / "early-stopping.yaml")
    assert checked.runs is not None
    assert [r.name for r in checked.runs] == ["early-stopping-0000"]
    assert "spored complete --status stopped" in (checked.runs[0].settings.script or "")
    assert {d.span.line for d in checked.diagnostics if d.span} == {1}


def _run_generator(script: str, cwd: Path) -> str:
    # the grid script prints a multiplication sign: ask for UTF-8 whatever the locale
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, str(SEED / script)], cwd=cwd, env=env, capture_output=True, encoding="utf-8", check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_seed_grid_generator_runs_unchanged(tmp_path: Path) -> None:
    stdout = _run_generator("gen_grid_240.py", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.yaml"]
    printed = int(re.search(r"Generated (\d+) parameter combinations", stdout).group(1))
    # The how-to claims 5 x 4 x 3 x 4 = 240, but the script lists three dropouts: it writes 180.
    assert printed == 5 * 4 * 3 * 3 == 180
    # its own second line agrees: "Total combinations: 5 <times> 4 <times> 3 <times> 3 = 180"
    *factors, total = (int(n) for n in re.search(r"Total combinations: (\d+) \S (\d+) \S (\d+) \S (\d+) = (\d+)", stdout).groups())
    assert factors == [5, 4, 3, 3]
    assert total == printed
    checked = check_file(tmp_path / "sweep.yaml")
    assert _errors(checked.diagnostics) == []
    assert checked.runs is not None
    assert len(checked.runs) == printed
    assert set(_codes(checked.diagnostics)) == {"no-workload", "full-access-policy", "gpu-without-driver"}
    assert len({r.name for r in checked.runs}) == printed


def test_seed_random_generator_runs_unchanged(tmp_path: Path) -> None:
    stdout = _run_generator("gen_random_100.py", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["random-search.yaml"]
    printed = int(re.search(r"Generated (\d+) random parameter combinations", stdout).group(1))
    assert printed == 100
    checked = check_file(tmp_path / "random-search.yaml")
    assert _errors(checked.diagnostics) == []
    assert checked.runs is not None
    assert len(checked.runs) == printed
    assert [r.name for r in checked.runs] == [f"random-{i:03d}" for i in range(100)]
    assert set(_codes(checked.diagnostics)) == {"no-workload", "gpu-without-driver"}
