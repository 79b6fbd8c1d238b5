"""The lifecycle table (tests/data/lifecycle.yaml) through its third executor: the real agent in its sandbox.

For every scenario: its control keys are seeded in moto server (each scenario in a sweep folder of its
own, so they run side by side), a new instance's agent starts on them with a workload that exits with
`workload_exit`, and the test compares the scenario's `agent:` block: whether the workload ran, the
`_done` marker the agent wrote and its attempt outcome. A row's `heartbeat: stale` is made real: the
agent's lease limit is 1 s and it starts 2 s after the keys were written. Collector-only fields (instance, unread) and
Terraform-only ones (max_concurrent) are not the agent's business.
"""

from __future__ import annotations

import json
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from imds import Imds
from sandbox import BUCKET, AgentSandbox

from spawn_tf import check_file, contract
from spawn_tf.userdata import user_data

TABLE = Path(__file__).resolve().parents[1] / "data" / "lifecycle.yaml"
SCENARIOS: list[dict[str, Any]] = yaml.safe_load(TABLE.read_text(encoding="utf-8"))["scenarios"]
OLD_FINGERPRINT = "0" * 12
# Nothing periodic fires during a workload that exits at once; budgets that a loaded machine's slow
# `aws` processes do not exhaust (a stuck case still ends within a minute).
ENV = {
    contract.ENV_POLL_SECONDS: "5",
    contract.ENV_LOG_UPLOAD_SECONDS: "60",
    contract.ENV_START_BUDGET_SECONDS: "60",
    contract.ENV_UPLOAD_BUDGET_SECONDS: "60",
    contract.ENV_LEASE_SECONDS: "600",
}
PARALLEL = 3  # agents at once: each is mostly `aws` processes, on a shared two-core machine
# A row's `heartbeat: stale`: the agent's lease limit is 1 s, and it starts 2 s after the keys were written.
STALE_LEASE_SECONDS = 1


@dataclass(frozen=True)
class Seen:
    workload: bool
    done: list[str]  # statuses of the _done markers the agent wrote
    outcomes: list[str]  # statuses of its own attempt outcomes
    log: str


def key_of(written: str, run: str, run_key: str) -> str:
    names = {"R": run_key, "OLD": f"{run}.{OLD_FINGERPRINT}", "RUN": run}
    return "/".join(names.get(part, part) for part in written.split("/"))


def sweep_text(number: int, scenario: dict[str, Any]) -> str:
    settings = scenario["settings"]
    script = f"exit {scenario.get('workload_exit', 0)}\n"
    return textwrap.dedent(f"""\
        sweep: lc{number:02d}
        results: s3://{BUCKET}/lifecycle
        defaults:
          instance_type: m7i.large
          ttl: 1h
          max_attempts: {settings["max_attempts"]}
          max_interruptions: {settings["max_interruptions"]}
          retry_failed: {str(settings["retry_failed"]).lower()}
          user_data: |
            {script}
        params:
          - name: r1
            lr: 0.1
        """)


def run_scenario(number: int, scenario: dict[str, Any], aws: Any, folder: Path) -> Seen:
    folder.mkdir(parents=True)
    path = folder / "sweep.yaml"
    path.write_text(sweep_text(number, scenario))
    checked = check_file(path)
    assert checked.plan is not None and checked.runs is not None, [d.render() for d in checked.diagnostics]
    run = checked.runs[0]
    run_key, sweep_folder = contract.run_key(run.name, run.fingerprint), checked.plan.sweep_folder
    for written in scenario["keys"]:
        aws.s3.put_object(Bucket=BUCKET, Key=f"{sweep_folder}/{key_of(written, run.name, run_key)}", Body=b"")
    before = set(aws.s3_tree(BUCKET, sweep_folder + "/"))
    env = dict(ENV)
    if scenario.get("heartbeat") == "stale":
        env[contract.ENV_LEASE_SECONDS] = str(STALE_LEASE_SECONDS)
        time.sleep(2 * STALE_LEASE_SECONDS)
    with Imds(region=aws.region) as imds:
        imds.instance_id = aws.ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        sandbox = AgentSandbox(folder=folder / "sandbox", imds=imds, endpoint=aws.endpoint)
        try:
            result = sandbox.run(user_data(checked.plan, run), timeout=120, env=sandbox.env(**env))
        finally:
            sandbox.end_processes()
    assert result.returncode == 0, result
    written = sorted(set(aws.s3_tree(BUCKET, sweep_folder + "/")) - before)
    done_prefix = f"{sweep_folder}/{contract.CONTROL_DONE}/{run_key}/"
    mine = f"{sweep_folder}/{contract.CONTROL_ATTEMPTS}/{run_key}/{imds.instance_id}."
    log = sandbox.path("/opt/spawn/agent.log")
    return Seen(
        workload=sandbox.path("/opt/spawn/run/user-script").exists(),
        done=[key.removeprefix(done_prefix).split(".")[0] for key in written if key.startswith(done_prefix)],
        outcomes=[key.removeprefix(mine) for key in written if key.startswith(mine)],
        log=log.read_text() if log.exists() else "",
    )


def agent_input(scenario: dict[str, Any]) -> str:
    """What the agent sees of a scenario: scenarios that differ only for the collector or Terraform run once."""
    seen = [scenario["keys"], scenario["settings"], scenario.get("workload_exit", 0), scenario.get("heartbeat", "fresh")]
    return json.dumps(seen, sort_keys=True)


@pytest.fixture(scope="module")
def seen(_aws_clients, tmp_path_factory) -> dict[str, Seen]:
    """Every distinct scenario run once, a few at a time (each in its own sweep folder of the one bucket)."""
    _aws_clients.reset()
    _aws_clients.s3.create_bucket(Bucket=BUCKET)
    base = tmp_path_factory.mktemp("lifecycle")
    distinct = {agent_input(scenario): (number, scenario) for number, scenario in reversed(list(enumerate(SCENARIOS)))}
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {
            key: pool.submit(run_scenario, number, scenario, _aws_clients, base / f"s{number:02d}") for key, (number, scenario) in distinct.items()
        }
    return {scenario["name"]: futures[agent_input(scenario)].result() for scenario in SCENARIOS}


def test_the_table_has_an_agent_column_for_every_scenario() -> None:
    assert len(SCENARIOS) >= 30
    assert all(set(scenario["agent"]) == {"workload", "done", "outcome"} for scenario in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario["name"] for scenario in SCENARIOS])
def test_the_agent_decides_as_the_table_says(scenario: dict[str, Any], seen: dict[str, Seen]) -> None:
    found = seen[scenario["name"]]
    expected = scenario["agent"]
    got = {"workload": found.workload, "done": found.done, "outcome": found.outcomes}
    want = {"workload": expected["workload"], "done": [expected["done"]] if expected["done"] else [],
            "outcome": [expected["outcome"]] if expected["outcome"] else []}  # fmt: skip
    assert got == want, found.log


QUIET = [scenario for scenario in SCENARIOS if scenario["agent"] == {"workload": False, "done": None, "outcome": None}]


@pytest.mark.parametrize("scenario", QUIET, ids=[scenario["name"] for scenario in QUIET])
def test_an_agent_that_records_nothing_notes_why(scenario: dict[str, Any], seen: dict[str, Seen]) -> None:
    """Every early exit is explained in the agent's log: the run is final, or the lease is held by a live agent."""
    log = seen[scenario["name"]].log
    assert "the run is final" in log or "is held by another agent: lose" in log, log
