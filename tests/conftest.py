"""Shared test options, and the hypothesis profiles: `ci` when the CI variable is set, `dev` otherwise."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files from the current output.")
