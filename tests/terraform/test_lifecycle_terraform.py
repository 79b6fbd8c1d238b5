"""The lifecycle table (tests/data/lifecycle.yaml) decided by real Terraform on compiled roots, offline.

Each scenario is one run of a sweep; its keys (placeholders replaced by that run's key and name) are
the listings the root reads. Scenarios that do not touch each other share one sweep and one plan:
all without a sweep-wide stop marker, all with one, and each with max_concurrent on its own. The
plan shows `local.active` (the instances it keeps or launches) and, through an added output, each
run's started and blocked state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tfharness as tfh
from lifecycle_table import Scenario, scenarios
from offline import compile_sweep, plan_root

from spawn_tf import contract

SCENARIOS = scenarios()
DEFAULTS = "defaults:\n  instance_type: t3.micro\n  ttl: 1h\n  region: us-east-1\n  command: ./train.sh\n"


def batches() -> Iterator[tuple[str, list[Scenario]]]:
    """Groups of scenarios that one sweep can hold without one changing another's decision."""
    stop_all = f"{contract.CONTROL_STOP}/{contract.STOP_ALL}"
    yield "plain", [s for s in SCENARIOS if not s.max_concurrent and stop_all not in s.keys]
    yield "stop-all", [s for s in SCENARIOS if not s.max_concurrent and stop_all in s.keys]
    yield from ((f"capped-{n}", [s]) for n, s in enumerate(SCENARIOS) if s.max_concurrent)


def sweep_text(group: list[Scenario]) -> str:
    """One run per scenario (lc-NN), with its settings; a capped scenario's fresh runs go before it."""
    rows, cap = [], ""
    for n, scenario in enumerate(group):
        if scenario.max_concurrent:
            cap = f"max_concurrent: {scenario.max_concurrent['limit']}\n"
            rows += [f"  - {{name: ahead-{i}}}\n" for i in range(scenario.max_concurrent["ahead"])]
        limits = scenario.limits
        rows.append(f"  - {{name: lc-{n:02d}, max_attempts: {limits.max_attempts}, max_interruptions: {limits.max_interruptions}, "
                    f"retry_failed: {str(limits.retry_failed).lower()}}}\n")  # fmt: skip
    return f"sweep: lc\n{cap}{DEFAULTS}params:\n" + "".join(rows)


def decide(group: list[Scenario], folder: Path) -> dict[str, dict[str, bool]]:
    """Terraform's decision for each scenario of the group, by name."""
    checked, build = compile_sweep(sweep_text(group), folder)
    assert checked.plan is not None and len(checked.plan.roots) == 1
    (root,) = checked.plan.roots
    fingerprints = {run.name: run.fingerprint for run in root.runs}
    keys: list[str] = []
    for n, scenario in enumerate(group):
        keys += scenario.control_keys(checked.plan.sweep_folder, f"lc-{n:02d}", fingerprints[f"lc-{n:02d}"])
    plan = plan_root(
        build / root.name, folder / "offline", data=listings(keys, checked.plan.sweep_folder), outputs={"state": "${local.run_state}"}
    )
    active = {m[1] for address in tfh.planned_inputs(plan) if (m := re.fullmatch(r'aws_instance\.run\["(.+)"\]', address))}
    states = plan["planned_values"]["outputs"]["state"]["value"]
    return {
        scenario.name: {
            "started": states[f"lc-{n:02d}"]["started"],
            "open": f"lc-{n:02d}" in active,
            "blocked": states[f"lc-{n:02d}"]["blocked"],
        }
        for n, scenario in enumerate(group)
    }


def listings(keys: list[str], folder: str) -> dict[str, dict[str, Any]]:
    """What each control listing of the root answers: S3 lists each key once, in the order of the names."""

    def listing(control: str) -> dict[str, Any]:
        prefix = contract.control_prefix(folder, control)
        return {"keys": sorted({key for key in keys if key.startswith(prefix)}), "common_prefixes": [], "owners": [], "request_charged": ""}

    return {"aws_s3_objects.done": listing(contract.CONTROL_DONE), "aws_s3_objects.attempts": listing(contract.CONTROL_ATTEMPTS),
            "aws_s3_objects.stop": listing(contract.CONTROL_STOP)}  # fmt: skip


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bool]]:
    found: dict[str, dict[str, bool]] = {}
    for name, group in batches():
        found |= decide(group, tmp_path_factory.mktemp(name))
    return found


def test_every_scenario_is_planned_in_a_few_plans() -> None:
    groups = list(batches())
    assert sorted(s.name for _, group in groups for s in group) == sorted(s.name for s in SCENARIOS)
    assert len(groups) <= 6


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_scenario(scenario: Scenario, decided: dict[str, dict[str, bool]]) -> None:
    assert decided[scenario.name] == {name: scenario.expect[name] for name in ("started", "open", "blocked")}
