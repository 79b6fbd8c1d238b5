"""The agent under faults (issue 22, DESIGN §6 "Faults"): real bash and its helper in the sandbox, moto
server behind a fault-injecting proxy (tests/faultproxy.py), one per agent.

Times are scaled down through the agent's test variables (agentrun.FAST): poll 1 s, upload budget
3 s, a lease far longer than any case (no heartbeat writes); the cases assert S3's keys, status.json,
the EC2 tag and the shutdowns.

Every case runs once, all of them side by side, in a module fixture (`ran`): each in an S3 bucket of
its own, each agent with its own proxy, IMDS stand-in and sandbox, so a case's faults and keys are its
own; each test then asserts on its case. Most of a case is waiting (outage windows, sleeps, `aws`
timeouts), so the module takes about as long as its slowest case under the others' load. The spot
cases are timed under that load too: the watcher posts the notice and times the agent's first read of
it from the IMDS stand-in's own record of the GET, not from the agent's progress, and the agent reads
it on its own 1 s schedule in a thread no `aws` call blocks; measured 0.02-0.9 s, against 2 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from agentrun import FOLDER, POLL, UPLOAD_BUDGET, Agent, Bench, Faults
from imds import SPOT_ACTION_PATH

from spawn_tf import contract

OUTPUTS = 'echo \'{"loss": 0.1}\' > "$SPAWN_OUTPUT_DIR/metrics.json"\necho weights > "$SPAWN_OUTPUT_DIR/model.pth"\n'


@dataclass
class Ran:
    """One case after its agents ended: its setup (keys, tags, status), its agents, what it measured."""

    setup: Faults
    agents: list[Agent]
    seconds: float = 0.0  # wall time of the run the case times
    seen: list[float] = field(default_factory=list)  # spot cases: seconds from the notice to the agent's read of it
    noted: dict[str, Any] = field(default_factory=dict)  # what a case saw before its last run

    @property
    def agent(self) -> Agent:
        return self.agents[0]


# --- the cases: each runs its agents and returns what its test asserts on ----------------------------


def s3_down_past_the_upload_budget(setup: Faults) -> Ran:
    agent = setup.make()
    setup.user_data = setup.user_data.replace("placeholder\n", OUTPUTS + agent.control_word() + "down?service=s3'\n")

    def back_once_the_budget_is_spent() -> None:  # S3 returns only after the agent gave up the upload
        while "not in S3:" not in agent.agent_log():
            time.sleep(0.1)
        agent.proxy.clear()

    watcher = threading.Thread(target=back_once_the_budget_is_spent, daemon=True)
    watcher.start()
    started = time.monotonic()
    setup.run(agent)
    return Ran(setup, [agent], seconds=time.monotonic() - started)


def one_output_never_uploads(setup: Faults) -> Ran:
    agent = setup.make()
    agent.proxy.down("s3", None, path=r"/r1/model\.pth$", method="PUT")
    return Ran(setup, [setup.run(agent)])


def agents_together_and_apart(setup: Faults) -> Ran:
    """Two agents at the same moment, a third 6 s and a fourth 30 s later (scaled down by 5)."""
    agents = [setup.make() for _ in range(4)]
    threads = []
    for agent, delay in zip(agents, (0, 0, 1.2, 6), strict=True):
        threads.append(threading.Timer(delay, setup.run, args=(agent,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    return Ran(setup, agents)


def after_success(setup: Faults) -> Ran:
    first = setup.run(setup.make())
    between = {"keys": setup.keys(), "done": setup.control(contract.CONTROL_DONE)}
    second = setup.run(setup.make())
    return Ran(setup, [first, second], noted=between)


def spot_notice_during_an_outage(mode: str) -> Callable[[Faults], Ran]:
    def case(setup: Faults) -> Ran:
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
        return Ran(setup, [agent], seen=seen)

    return case


def setsid_child(setup: Faults) -> Ran:
    return Ran(setup, [setup.run(setup.make())])


# Long enough for one `aws` call to reach the proxy on a busy machine (a call there can take over 5 s to start),
# far below the 300 s default: the instance ends on the budget, not on the default.
START_BUDGET = 15


def aws_failing_at_start_up(setup: Faults) -> Ran:
    agent = setup.make()
    agent.proxy.down(None, None)
    started = time.monotonic()
    setup.run(agent, **{contract.ENV_START_BUDGET_SECONDS: str(START_BUDGET)})
    return Ran(setup, [agent], seconds=time.monotonic() - started)


def attempts_listing_fails(setup: Faults) -> Ran:
    agent = setup.make()
    earlier = f"{FOLDER}/{contract.CONTROL_ATTEMPTS}/{setup.run_key}/i-0000000000000001.failed"
    setup.aws.s3.put_object(Bucket=setup.bucket, Key=earlier, Body=b"")
    agent.proxy.down("s3", None, method="GET", query=f"prefix={FOLDER}/{contract.CONTROL_ATTEMPTS}/")
    # A budget the `_done` listing fits in on a busy machine (an `aws` call there can take over 5 s); the
    # attempts listing, 503 every time, uses it up and is given up.
    setup.run(agent, **{contract.ENV_START_BUDGET_SECONDS: "20"})
    return Ran(setup, [agent], noted={"earlier": earlier})


def status_json_unwritable(setup: Faults) -> Ran:
    agent = setup.make()
    unwritable = "down?service=s3&method=PUT&path=%2Fr1%2Fstatus%5C.json%24"
    setup.user_data = setup.user_data.replace("placeholder\n", OUTPUTS + agent.control_word() + unwritable + "'\n")
    return Ran(setup, [setup.run(agent)])


def lease_answer_lost(setup: Faults) -> Ran:
    agent = setup.make()
    agent.proxy.lose_answer("s3", path=rf"/{contract.CONTROL_LEASE}/[^/]+/1$", method="PUT")
    return Ran(setup, [setup.run(agent)])


SETSID = (
    "setsid bash -c 'while true; do date +%s%N >> \"$SPAWN_OUTPUT_DIR/child.txt\"; sleep 0.2; done' &\n"
    "sleep 1\n"
    'echo main done > "$SPAWN_OUTPUT_DIR/main.txt"\n'
)
# name -> (workload, sweep settings, case); the spot cases first (see the module's docstring), then the longest.
CASES: dict[str, tuple[str, str, Callable[[Faults], Ran]]] = {
    "spot-slow": ("placeholder", "", spot_notice_during_an_outage("slow")),
    "spot-503": ("placeholder", "", spot_notice_during_an_outage("503")),
    "apart": ("sleep 8\n" + OUTPUTS, "", agents_together_and_apart),
    "s3-down": ("placeholder", "", s3_down_past_the_upload_budget),
    "after-success": ('echo again > "$SPAWN_OUTPUT_DIR/metrics.json"\n', "", after_success),
    "one-output": (OUTPUTS, "", one_output_never_uploads),
    "setsid": (SETSID, "", setsid_child),
    "status-json": ("placeholder", "", status_json_unwritable),
    "lease-lost": (OUTPUTS, "", lease_answer_lost),
    "start-up": ('echo ran > "$SPAWN_OUTPUT_DIR/ran.txt"\n', "", aws_failing_at_start_up),
    "attempts": ('echo ran > "$SPAWN_OUTPUT_DIR/ran.txt"\n', "  max_attempts: 1\n  retry_failed: true\n", attempts_listing_fails),
}


@pytest.fixture(scope="module")
def ran(_aws_clients, moto_server, tmp_path_factory) -> Any:
    """Every case run once, side by side; a test gets its case's `Ran` (or its error, raised again)."""
    _aws_clients.reset()
    bench = Bench(_aws_clients, moto_server, tmp_path_factory.mktemp("faults"))
    futures: dict[str, Future[Ran]] = {}
    try:
        with ThreadPoolExecutor(len(CASES)) as pool:  # all at once: see the module's docstring
            for name, (script, settings, case) in CASES.items():
                futures[name] = pool.submit(case, bench.setup(script, settings, bucket=f"faults-{name}"))
        yield lambda name: futures[name].result()
    finally:
        escaped = bench.close()
    if escaped:
        pytest.fail(f"user-data wrote outside SPAWN_AGENT_ROOT, on this machine: {escaped}", pytrace=False)


# --- the tests ----------------------------------------------------------------------------------------
def test_s3_down_from_the_workloads_exit_past_the_upload_budget_is_not_success(ran) -> None:
    case = ran("s3-down")
    setup, agent = case.setup, case.agent
    assert case.seconds > UPLOAD_BUDGET
    keys = setup.keys()
    assert f"{FOLDER}/r1/metrics.json" not in keys and f"{FOLDER}/r1/model.pth" not in keys
    status = setup.status()
    assert status["status"] == "failed" and status["reason"].startswith(f"{contract.UPLOAD_FAILED_REASON}: 2 outputs not in S3")
    assert setup.control(contract.CONTROL_ATTEMPTS) == [agent.instance, f"{agent.instance}.failed"]
    assert setup.control(contract.CONTROL_DONE) == ["failed.0"]  # never success.0
    assert setup.tag(agent) == "failed"  # the tag agrees with status.json
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
    assert "not in S3: metrics.json" in agent.agent_log() and "not in S3: model.pth" in agent.agent_log()


def test_one_output_that_never_uploads_fails_the_run_and_is_named(ran) -> None:
    case = ran("one-output")
    setup, agent = case.setup, case.agent
    keys = setup.keys()
    assert keys[f"{FOLDER}/r1/metrics.json"] == b'{"loss": 0.1}\n' and f"{FOLDER}/r1/model.pth" not in keys
    status = setup.status()
    assert (status["status"], status["exit_code"]) == ("failed", 0)
    assert status["reason"] == f"{contract.UPLOAD_FAILED_REASON}: 1 outputs not in S3: model.pth"
    assert setup.control(contract.CONTROL_DONE) == ["failed.0"]
    assert setup.tag(agent) == "failed"
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]


def test_agents_started_together_and_apart_run_the_workload_once(ran) -> None:
    """Two agents at the same moment, a third 6 s and a fourth 30 s later (scaled down by 5)."""
    case = ran("apart")
    setup, agents = case.setup, case.agents
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


def test_an_agent_after_success_does_not_run_it_again(ran) -> None:
    case = ran("after-success")
    setup, (first, second) = case.setup, case.agents
    before = case.noted["keys"]
    assert case.noted["done"] == ["success.0"]
    assert not second.ran()
    assert setup.keys() == before  # outputs, status.json and control keys untouched
    assert setup.tag(second) is None and setup.tag(first) == "success"
    assert second.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
    assert "the run is final (success.0)" in second.agent_log()


@pytest.mark.parametrize("mode", ["503", "slow"])
def test_a_spot_notice_during_an_s3_outage_is_seen_within_two_polls(ran, mode) -> None:
    case = ran(f"spot-{mode}")
    setup, agent, seen = case.setup, case.agent, case.seen
    assert seen and seen[0] <= 2 * POLL
    assert "ending the workload: interrupted spot interruption notice" in agent.agent_log()
    assert ["shutdown", "-h", "now"] not in agent.sandbox.shutdown_log()  # EC2 takes the instance back
    status = setup.status()  # S3 stayed down: status.json still says running, and so does the tag
    assert status["status"] == "running" and setup.tag(agent) == "running"
    assert setup.control(contract.CONTROL_DONE) == []


def test_a_setsid_child_of_the_workload_ends_before_the_upload(ran) -> None:
    case = ran("setsid")
    setup, agent = case.setup, case.agent
    assert agent.result.lingering == []  # nothing the workload started outlived the agent
    local = agent.sandbox.path("/opt/spawn/output/child.txt").read_bytes()
    assert setup.keys()[f"{FOLDER}/r1/child.txt"] == local  # ended before the upload: what S3 has is all it wrote
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]


def test_aws_failing_at_start_up_ends_the_instance_after_noting_why(ran) -> None:
    case = ran("start-up")
    setup, agent = case.setup, case.agent
    assert case.seconds < START_BUDGET + 30
    assert not agent.ran()
    assert setup.keys() == {}
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
    log = agent.agent_log()
    assert "gave up: listing _done" in log and "nothing to run: ending the instance" in log
    assert {request.answer for request in agent.proxy.requests} == {"503"}


def test_a_failed_attempts_listing_never_counts_as_no_attempts(ran) -> None:
    """`_done` reads fine, `_attempts` never lists: the agent does not take the run as never tried (which
    would bypass max_attempts: here one failure of one allowed is already recorded), and ends its instance."""
    case = ran("attempts")
    setup, agent, earlier = case.setup, case.agent, case.noted["earlier"]
    assert not agent.ran()
    assert list(setup.keys()) == [earlier]  # no lease, attempt, status.json or done marker
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
    log = agent.agent_log()
    assert "gave up: listing attempts" in log and "nothing to run: ending the instance" in log
    assert {request.answer for request in agent.proxy.requests} == {"forwarded", "503"}  # only the attempts listing failed


def test_the_end_of_an_attempt_stops_at_status_json_so_the_tag_and_done_marker_agree(ran) -> None:
    """Upload → verify → outcome → status.json → tag → done: with status.json unwritable, the outcome is
    recorded but neither the tag nor the done marker moves on from what status.json says (running)."""
    case = ran("status-json")
    setup, agent = case.setup, case.agent
    keys = setup.keys()
    assert keys[f"{FOLDER}/r1/metrics.json"] == b'{"loss": 0.1}\n'  # uploaded and verified first
    assert setup.control(contract.CONTROL_ATTEMPTS) == [agent.instance, f"{agent.instance}.success"]
    assert setup.status()["status"] == "running" and setup.tag(agent) == "running"
    assert setup.control(contract.CONTROL_DONE) == []
    assert "not recorded: status.json and what follows it" in agent.agent_log()
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]


def test_a_lease_write_whose_answer_is_lost_is_still_this_agents(ran) -> None:
    """The conditional write lands but its answer is lost: the retry is refused (If-None-Match), and the
    agent finds its own instance in the lease: it runs the run, it does not leave it (and its instance idle)."""
    case = ran("lease-lost")
    setup, agent = case.setup, case.agent
    assert "answer lost" in {request.answer for request in agent.proxy.requests}
    assert agent.ran()
    assert setup.control(contract.CONTROL_LEASE) == ["1"]
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]
    assert setup.tag(agent) == "success"
    assert agent.sandbox.shutdown_log()[-1] == ["shutdown", "-h", "now"]
