"""The pre-commit hooks (.pre-commit-hooks.yaml), run by `pre-commit try-repo` on a sample repository.

pre-commit installs spawn-tf from a copy of this checkout into its own virtualenv (a few seconds
with pip's cache), exactly as a user's `pre-commit install` would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from spawn_tf.cli import main

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "spawn_tf", "schemas", "templates")
SWEEP = """\
sweep: lr
budget: {max_usd: 5, prices: prices.csv}
defaults:
  instance_type: m7i.large
  region: us-east-1
  ttl: 1h
  user_data: ./train.sh
params:
  - {name: a, lr: 0.1}
  - {name: b, lr: 0.01}
"""
# Test values, not AWS prices. The hooks must not take this file for a sweep.
PRICES = "region,instance_type,on_demand,spot,date\nus-east-1,m7i.large,0.1,0.04,2026-11-29\n"


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding this checkout's package and hooks file (what a user's `repo:` points at)."""
    repo = tmp_path_factory.mktemp("hooks")
    for name in PACKAGE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__", "_shipped"))
        else:
            shutil.copy2(source, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "hooks")
    return repo


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")  # one hook environment for the module's tests


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sweeps repository: a sweep, its price file and its compiled roots, all staged."""
    repo = tmp_path / "sample"
    (repo / "sweeps").mkdir(parents=True)
    (repo / "sweeps" / "lr.yaml").write_text(SWEEP)
    (repo / "sweeps" / "prices.csv").write_text(PRICES)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["compile", "sweeps/lr.yaml", "-o", "build"])
    assert result.exit_code == 0, result.stderr
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    return repo


def _try_repo(sample: Path, hooks: Path, home: Path, *hook_ids: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PRE_COMMIT_HOME"] = str(home)
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), *hook_ids, "--all-files"]
    return subprocess.run(command, cwd=sample, env=env, capture_output=True, text=True, check=False)


def test_hooks_pass_on_a_compiled_sweep(sample: Path, hooks_repo: Path, pre_commit_home: Path) -> None:
    result = _try_repo(sample, hooks_repo, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "spawn-tf validate" in result.stdout and "spawn-tf compile --check" in result.stdout
    assert result.stdout.count("Passed") == 2


def test_compile_check_hook_fails_on_a_stale_build(sample: Path, hooks_repo: Path, pre_commit_home: Path) -> None:
    (sample / "sweeps" / "lr.yaml").write_text(SWEEP.replace("lr: 0.01", "lr: 0.02"))
    _git(sample, "add", ".")
    result = _try_repo(sample, hooks_repo, pre_commit_home, "spawn-tf-compile-check")
    assert result.returncode == 1
    assert "build/lr: differs from sweeps/lr.yaml" in result.stdout


def test_validate_hook_reports_located_errors(sample: Path, hooks_repo: Path, pre_commit_home: Path) -> None:
    (sample / "sweeps" / "lr.yaml").write_text(SWEEP.replace("ttl: 1h", "ttl: 1 hour"))
    _git(sample, "add", ".")
    result = _try_repo(sample, hooks_repo, pre_commit_home, "spawn-tf-validate")
    assert result.returncode == 1
    assert "sweeps/lr.yaml:6:8: error:" in result.stdout
