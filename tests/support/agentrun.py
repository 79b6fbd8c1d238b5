"""The agent tests' harness for runs with their own environment: each agent its own instance, IMDS
stand-in and fault-injecting proxy before moto (tests/faultproxy.py), so times can be scaled down
through the agent's test variables (contract.TEST_OVERRIDES) and faults injected per agent.

Fixture `faults(script, settings="") -> Faults`: the rendered user-data of run r1 of a one-run sweep;
`Faults.make()` adds an instance, `Faults.run(agent, **env)` runs the user-data in its sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from faultproxy import FaultProxy
from imds import Imds

from spawn_tf import contract

BUCKET = "spawn-test-bucket"
SWEEP = "faults"
FOLDER = f"sweeps/{SWEEP}"
POLL = 1
UPLOAD_BUDGET = 3
# Scaled-down times; logs are uploaded rarely here and the lease heartbeat (a third of the lease) not at
# all, as each is an `aws` process on a shared machine.
FAST = {
    contract.ENV_POLL_SECONDS: str(POLL),
    contract.ENV_LOG_UPLOAD_SECONDS: "30",
    contract.ENV_UPLOAD_BUDGET_SECONDS: str(UPLOAD_BUDGET),
    contract.ENV_START_BUDGET_SECONDS: "30",  # start-up is not what these cases vary; `aws` is slow on a busy machine
    contract.ENV_LEASE_SECONDS: "600",
}


def sweep(script: str, settings: str = "") -> str:
    body = "".join(f"    {line}\n" for line in script.strip("\n").splitlines())
    return (
        f"sweep: {SWEEP}\nresults: s3://{BUCKET}/sweeps\ndefaults:\n  instance_type: m7i.large\n  ttl: 1h\n{settings}"
        f"  user_data: |\n{body}params:\n  - name: r1\n    lr: 0.1\n"
    )


@dataclass
class Agent:
    """One instance: its IMDS, its proxy to moto, its sandbox."""

    instance: str
    imds: Imds
    proxy: FaultProxy
    sandbox: Any
    result: Any = None

    def control_word(self) -> str:
        """What a workload line says to open a fault window on this agent's proxy."""
        return f"curl -sf --noproxy '*' '{self.proxy.endpoint}/__fault__/"

    def agent_log(self) -> str:
        path = self.sandbox.path("/opt/spawn/agent.log")
        return path.read_text() if path.exists() else ""

    def ran(self) -> bool:
        return self.sandbox.path("/opt/spawn/run/user-script").exists()


@dataclass
class Faults:
    aws: Any
    user_data: str
    run_key: str
    make: Callable[[], Agent]

    def keys(self) -> dict[str, bytes]:
        return self.aws.s3_tree(BUCKET)

    def control(self, name: str) -> list[str]:
        prefix = f"{FOLDER}/{name}/{self.run_key}/"
        return sorted(key.removeprefix(prefix) for key in self.keys() if key.startswith(prefix))

    def status(self) -> dict[str, Any]:
        return json.loads(self.keys()[f"{FOLDER}/r1/{contract.STATUS_FILE}"])

    def tag(self, agent: Agent) -> str | None:
        return self.aws.instance_tags(agent.instance).get(contract.TAG_STATUS)

    def run(self, agent: Agent, timeout: float = 90, **env: str) -> Agent:
        agent.result = agent.sandbox.run(self.user_data, timeout=timeout, env=agent.sandbox.env(**{**FAST, **env}))
        assert agent.result.returncode == 0, agent.result
        return agent


@pytest.fixture
def faults(aws, results_bucket, agent_sandbox, render_user_data, moto_server) -> Iterator[Callable[..., Faults]]:
    from pathlib import Path

    from spawn_tf import check_file

    opened: list[Any] = []

    def setup(script: str, settings: str = "") -> Faults:
        text = sweep(script, settings)
        path = Path(agent_sandbox().tmp) / "s.yaml"
        path.write_text(text)
        checked = check_file(path)
        assert checked.runs is not None
        run_key = contract.run_key(checked.runs[0].name, checked.runs[0].fingerprint)

        def make() -> Agent:
            imds, proxy = Imds(region=aws.region).start(), FaultProxy(moto_server).__enter__()
            opened.extend([imds.stop, lambda: proxy.__exit__(None, None, None)])
            imds.instance_id = aws.ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
            sandbox = agent_sandbox()
            sandbox.imds = imds
            sandbox.endpoint = proxy.endpoint
            return Agent(imds.instance_id, imds, proxy, sandbox)

        return Faults(aws, render_user_data(text, "r1"), run_key, make)

    yield setup
    for close in opened:
        close()
