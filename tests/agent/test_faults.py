"""The agent under faults (issue 22, DESIGN §6 "Faults"): real bash and its helper in the sandbox, moto
server behind a fault-injecting proxy (tests/faultproxy.py), one per agent.

Times are scaled down through the agent's test variables (contract.TEST_OVERRIDES): poll 1 s, upload
budget 5 s, start budget 4 s; the cases assert S3's keys, status.json, the EC2 tag and the shutdowns.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from faultproxy import FaultProxy
from imds import SPOT_ACTION_PATH, Imds

from spawn_tf import contract

BUCKET = "spawn-test-bucket"
SWEEP = "faults"
FOLDER = f"sweeps/{SWEEP}"
POLL = 1
UPLOAD_BUDGET = 5
FAST = {
    contract.ENV_POLL_SECONDS: str(POLL),
    contract.ENV_LOG_UPLOAD_SECONDS: "2",
    contract.ENV_UPLOAD_BUDGET_SECONDS: str(UPLOAD_BUDGET),
    contract.ENV_START_BUDGET_SECONDS: "4",
    contract.ENV_LEASE_SECONDS: "60",
}
OUTPUTS = 'echo \'{"loss": 0.1}\' > "$SPAWN_OUTPUT_DIR/metrics.json"\necho weights > "$SPAWN_OUTPUT_DIR/model.pth"\n'


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


def test_s3_down_from_the_workloads_exit_past_the_upload_budget_is_not_success(faults) -> None:
    setup = faults("placeholder")
    agent = setup.make()
    outage = UPLOAD_BUDGET + 4  # until past the budget; recording then gets through
    setup.user_data = setup.user_data.replace("placeholder\n", OUTPUTS + agent.control_word() + f"down?service=s3&seconds={outage}'\n")
    setup.run(agent)
    keys = setup.keys()
    assert f"{FOLDER}/r1/metrics.json" not in keys and f"{FOLDER}/r1/model.pth" not in keys
    status = setup.status()
    assert status["status"] == "failed" and status["reason"].startswith(f"{contract.UPLOAD_FAILED_REASON}: 2 outputs not in S3")
    assert setup.control(contract.CONTROL_ATTEMPTS) == [agent.instance, f"{agent.instance}.failed"]
    assert setup.control(contract.CONTROL_DONE) == ["failed.0"]  # never success.0
    assert setup.tag(agent) == "failed"  # the tag agrees with status.json
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
    assert "not in S3: metrics.json" in agent.agent_log() and "not in S3: model.pth" in agent.agent_log()


def test_one_output_that_never_uploads_fails_the_run_and_is_named(faults) -> None:
    setup = faults(OUTPUTS)
    agent = setup.make()
    agent.proxy.down("s3", None, path=r"/r1/model\.pth$", method="PUT")
    setup.run(agent)
    keys = setup.keys()
    assert keys[f"{FOLDER}/r1/metrics.json"] == b'{"loss": 0.1}\n' and f"{FOLDER}/r1/model.pth" not in keys
    status = setup.status()
    assert (status["status"], status["exit_code"]) == ("failed", 0)
    assert status["reason"] == f"{contract.UPLOAD_FAILED_REASON}: 1 outputs not in S3: model.pth"
    assert setup.control(contract.CONTROL_DONE) == ["failed.0"]
    assert setup.tag(agent) == "failed"
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]


def test_agents_started_together_and_apart_run_the_workload_once(faults) -> None:
    """Two agents at the same moment, a third 6 s and a fourth 30 s later (scaled down by 5)."""
    setup = faults("sleep 8\n" + OUTPUTS)
    agents = [setup.make() for _ in range(4)]
    threads = []
    for agent, delay in zip(agents, (0, 0, 1.2, 6), strict=True):
        threads.append(threading.Timer(delay, setup.run, args=(agent,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    assert [agent.result is not None for agent in agents] == [True] * 4
    winners = [agent for agent in agents if agent.ran()]
    assert len(winners) == 1
    [winner] = winners
    assert setup.control(contract.CONTROL_LEASE) == ["1"]
    assert setup.control(contract.CONTROL_ATTEMPTS) == [winner.instance, f"{winner.instance}.success"]
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]
    assert setup.status()["instance_id"] == winner.instance
    assert setup.tag(winner) == "success"
    for agent in agents:
        assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]  # losers end their instances too
        if agent is not winner:
            assert setup.tag(agent) is None
            assert "is held by" in agent.agent_log() or "the run is final" in agent.agent_log()


def test_an_agent_after_success_does_not_run_it_again(faults) -> None:
    setup = faults('echo again > "$SPAWN_OUTPUT_DIR/metrics.json"\n')
    first = setup.run(setup.make())
    before = setup.keys()
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]
    second = setup.run(setup.make())
    assert not second.ran()
    assert setup.keys() == before  # outputs, status.json and control keys untouched
    assert setup.tag(second) is None and setup.tag(first) == "success"
    assert second.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
    assert "the run is final (success.0)" in second.agent_log()


@pytest.mark.parametrize("mode", ["503", "slow"])
def test_a_spot_notice_during_an_s3_outage_is_seen_within_two_polls(faults, mode) -> None:
    setup = faults("placeholder")
    agent = setup.make()
    window = "down?service=s3&seconds=60" if mode == "503" else "slow?service=s3&delay=30&seconds=60"
    setup.user_data = setup.user_data.replace("placeholder\n", agent.control_word() + window + "'\necho working\nsleep 120\n")
    seen: list[float] = []

    def interrupt_4s_into_the_outage() -> None:
        while not any(request.answer != "forwarded" for request in agent.proxy.requests):  # the outage has begun
            time.sleep(0.05)
        time.sleep(4)
        agent.imds.interrupt()
        posted = time.monotonic()
        while not [r for r in agent.imds.gets(SPOT_ACTION_PATH) if r.status == 200]:
            time.sleep(0.02)
        seen.append(time.monotonic() - posted)

    watcher = threading.Thread(target=interrupt_4s_into_the_outage)
    watcher.start()
    setup.run(agent)
    watcher.join()
    assert seen and seen[0] <= 2 * POLL
    assert "ending the workload: interrupted spot interruption notice" in agent.agent_log()
    assert ["shutdown", "-h", "now"] not in agent.sandbox.shutdown_log()  # EC2 takes the instance back
    status = setup.status()  # S3 stayed down: status.json still says running, and so does the tag
    assert status["status"] == "running" and setup.tag(agent) == "running"
    assert setup.control(contract.CONTROL_DONE) == []


def test_a_setsid_child_of_the_workload_ends_before_the_upload(faults) -> None:
    script = (
        "setsid bash -c 'while true; do date +%s%N >> \"$SPAWN_OUTPUT_DIR/child.txt\"; sleep 0.2; done' &\n"
        "sleep 1\n"
        'echo main done > "$SPAWN_OUTPUT_DIR/main.txt"\n'
    )
    setup = faults(script)
    agent = setup.run(setup.make())
    assert agent.result.lingering == []  # nothing the workload started outlived the agent
    local = agent.sandbox.path("/opt/spawn/output/child.txt").read_bytes()
    assert setup.keys()[f"{FOLDER}/r1/child.txt"] == local  # ended before the upload: what S3 has is all it wrote
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]


def test_aws_failing_at_start_up_ends_the_instance_after_noting_why(faults) -> None:
    setup = faults('echo ran > "$SPAWN_OUTPUT_DIR/ran.txt"\n')
    agent = setup.make()
    agent.proxy.down(None, None)
    started = time.monotonic()
    setup.run(agent)
    assert time.monotonic() - started < 40
    assert not agent.ran()
    assert setup.keys() == {}
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
    log = agent.agent_log()
    assert "gave up: listing _done" in log and "nothing to run: ending the instance" in log
    assert {request.answer for request in agent.proxy.requests} == {"503"}
