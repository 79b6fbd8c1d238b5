"""The agent tests' harness for runs with their own environment: each agent its own instance, IMDS
stand-in and fault-injecting proxy before moto (tests/faultproxy.py), so times can be scaled down
through the agent's test variables (contract.TEST_OVERRIDES) and faults injected per agent.

`Bench(aws, moto_server, folder)`: cases side by side on one moto server, each in a bucket of its own;
`Bench.setup(script, settings="", bucket=...) -> Faults`: the rendered user-data of run r1 of a
one-run sweep; `Faults.make()` adds an instance, `Faults.run(agent, **env)` runs the user-data in
its sandbox. Fixture `faults(script, settings="") -> Faults`: the same, one test at a time.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy
from imds import Imds
from sandbox import AMI, AgentSandbox

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
    contract.ENV_START_BUDGET_SECONDS: "60",  # start-up is not what these cases vary; `aws` is slow on a busy machine (a full suite on 2 cores)
    contract.ENV_LEASE_SECONDS: "600",
}


def sweep(script: str, settings: str = "", bucket: str = BUCKET) -> str:
    body = "".join(f"    {line}\n" for line in script.strip("\n").splitlines())
    return (
        f"sweep: {SWEEP}\nresults: s3://{bucket}/sweeps\ndefaults:\n  instance_type: m7i.large\n  ttl: 1h\n{settings}"
        f"  user_data: |\n{body}params:\n  - name: r1\n    lr: 0.1\n"
    )


@dataclass
class Agent:
    """One instance: its IMDS, its proxy to moto, its sandbox."""

    instance: str
    imds: Imds
    proxy: FaultProxy
    sandbox: AgentSandbox
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
    bucket: str = BUCKET

    def keys(self) -> dict[str, bytes]:
        return self.aws.s3_tree(self.bucket)

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


class Bench:
    """Cases side by side on one moto server: each in a bucket of its own (so every key a case asserts is
    its own), each agent with its own IMDS, proxy and sandbox folder under `folder`. Thread-safe."""

    def __init__(self, aws: Any, moto_server: str, folder: Path) -> None:
        self.aws, self.moto_server, self.folder = aws, moto_server, folder
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        self._sandboxes: list[AgentSandbox] = []
        self._buckets: set[str] = set()

    def setup(self, script: str, settings: str = "", bucket: str = BUCKET) -> Faults:
        from spawn_tf import check_file
        from spawn_tf.userdata import user_data

        with self._lock:
            new = bucket not in self._buckets
            self._buckets.add(bucket)
        if new:
            self.aws.s3.create_bucket(Bucket=bucket)
        path = self._new_folder("sweep") / "s.yaml"
        path.write_text(sweep(script, settings, bucket))
        checked = check_file(path)
        assert checked.plan is not None and checked.runs is not None, [d.render() for d in checked.diagnostics]
        run = checked.runs[0]
        run_key = contract.run_key(run.name, run.fingerprint)
        return Faults(self.aws, user_data(checked.plan, run), run_key, self._make, bucket)

    def instance(self) -> Agent:
        """A new instance (IMDS, proxy to moto, sandbox), for user-data made by the test itself."""
        return self._make()

    def _new_folder(self, kind: str) -> Path:
        with self._lock:
            folder = self.folder / f"{kind}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def _make(self) -> Agent:
        imds, proxy = Imds(region=self.aws.region).start(), FaultProxy(self.moto_server).__enter__()
        sandbox = AgentSandbox(folder=self._new_folder("sandbox"), imds=imds, endpoint=proxy.endpoint)
        with self._lock:
            self._closers.extend([imds.stop, lambda: proxy.__exit__(None, None, None)])
            self._sandboxes.append(sandbox)
        imds.instance_id = self.aws.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        return Agent(imds.instance_id, imds, proxy, sandbox)

    def close(self) -> list[str]:
        """End what the sandboxes left running, stop the stand-ins; the paths written outside a sandbox."""
        for sandbox in self._sandboxes:
            sandbox.end_processes()
        for close in self._closers:
            close()
        return [path for sandbox in self._sandboxes for path in sandbox.escaped]


@pytest.fixture
def faults(aws, moto_server, tmp_path) -> Iterator[Callable[..., Faults]]:
    bench = Bench(aws, moto_server, tmp_path)
    yield bench.setup
    escaped = bench.close()
    if escaped:
        pytest.fail(f"user-data wrote outside SPAWN_AGENT_ROOT, on this machine: {escaped}", pytrace=False)
