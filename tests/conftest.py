"""Shared test options, and the hypothesis profiles: `ci` when the CI variable is set, `dev` otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

# The helpers in tests/support/ (harnesses, fixtures' machinery, strategies) are imported by module name
# (`import sandbox`), from tests in any folder and from bench/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

# moto server, the IMDS stand-in and the agent's sandbox, shared by the agent and collector tests.
pytest_plugins = ("sandbox",)

# `ci`: the same examples on every run (derandomize), no timing flakes (deadline), and a budget that keeps
# tests/unit/test_properties.py well under a minute on two cores; a failure is shrunk but not "explained"
# (that phase reruns hundreds of variants). `dev` explores new examples each run and remembers failures
# in .hypothesis/ (git-ignored).
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=100,
    database=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _sweep_index(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `compile` of a test records its sweep in an index of the test's own, never in the real home."""
    monkeypatch.setenv("SPAWN_TF_INDEX", str(tmp_path_factory.mktemp("state") / "sweeps.json"))
    monkeypatch.delenv("SPAWN_TF_RESULTS", raising=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files from the current output.")
