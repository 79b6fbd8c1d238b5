"""Agent paths that need an environment of their own (tests/agentrun.py): idle_timeout, on_complete: stop,
and the minimum uptime before on_complete (DESIGN §6)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from spawn_tf import contract

IDLE_STAT = "cpu  0 0 0 400\ncpu0 10 0 10 100 0\ncpu1 10 0 10 100 0\n"  # counters that never move: 0 % busy


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def test_idle_timeout_ends_an_idle_workload_as_timeout(faults) -> None:
    setup = faults("echo waiting\nsleep 120\n", settings="  idle_timeout: 2s\n")
    agent = setup.make()
    stat = agent.sandbox.path("/proc/stat")
    stat.parent.mkdir(parents=True)
    stat.write_text(IDLE_STAT)
    setup.run(agent)
    status = setup.status()
    assert (status["status"], status["exit_code"], status["reason"]) == ("timeout", None, "idle for 2 s")
    assert setup.control(contract.CONTROL_DONE) == ["timeout.none"]
    assert setup.tag(agent) == "timeout"


def test_idle_timeout_spares_a_busy_workload(faults) -> None:
    """The workload's own activity moves the counters: the busiest core is 50 % busy, well above 5 %."""
    busy = (
        'for i in $(seq 8); do printf "cpu  0 0 0 0\\ncpu0 $((i * 50)) 0 0 $((i * 50))\\n" > "$STAT"; sleep 0.5; done\n'
        'echo done > "$SPAWN_OUTPUT_DIR/done.txt"\n'
    )
    setup = faults(busy, settings="  idle_timeout: 2s\n")
    agent = setup.make()
    stat = agent.sandbox.path("/proc/stat")
    stat.parent.mkdir(parents=True)
    stat.write_text(IDLE_STAT)
    setup.user_data = setup.user_data.replace('"$STAT"', json.dumps(str(stat)))
    setup.run(agent)
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]


def test_on_complete_stop_stops_the_instance_instead_of_shutting_down(faults) -> None:
    setup = faults("echo ok\n", settings="  on_complete: stop\n  spot: false\n")
    agent = setup.run(setup.make())
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]
    assert setup.aws.instance_state(agent.instance) in ("stopping", "stopped")
    assert ["shutdown", "-h", "now"] not in agent.sandbox.shutdown_log()


def test_on_complete_waits_for_the_minimum_uptime(faults) -> None:
    """The provider reads a new instance right after creating it: never end it before `min_uptime`."""
    setup = faults("echo ok\n")
    agent = setup.make()
    minimum = int(uptime()) + 30
    shutdown_at: list[float] = []

    def watch_power_log() -> None:
        while not any(call[-1] == "now" for call in agent.sandbox.shutdown_log()):
            time.sleep(0.05)
        shutdown_at.append(uptime())

    watcher = threading.Thread(target=watch_power_log, daemon=True)
    watcher.start()
    setup.run(agent, timeout=120, **{contract.ENV_MIN_UPTIME: str(minimum)})
    watcher.join(timeout=5)
    assert shutdown_at and shutdown_at[0] >= minimum
    assert setup.control(contract.CONTROL_DONE) == ["success.0"]
