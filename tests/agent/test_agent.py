"""The agent, run as real bash from a run's real user-data, against moto server and an IMDSv2 stand-in.

One test per path of DESIGN §6. Only shutdown/poweroff/systemd-run are stand-ins (tests/agent/conftest.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from spawn_tf import contract

BUCKET = "spawn-test-bucket"
SWEEP = "agent"
FOLDER = f"sweeps/{SWEEP}"


def sweep(script: str, *, settings: str = "", params: str = "") -> str:
    body = "".join(f"    {line}\n" for line in script.strip("\n").splitlines())
    return (
        f"sweep: {SWEEP}\nresults: s3://{BUCKET}/sweeps\ndefaults:\n  instance_type: m7i.large\n  ttl: 1h\n{settings}"
        f"  user_data: |\n{body}params:\n  - name: r1\n    learning_rate: 0.01\n{params}"
    )


@dataclass
class Outcome:
    run: object
    keys: dict[str, bytes]
    tags: dict[str, str]
    shutdowns: list[list[str]]
    instance: str
    run_key: str
    agent_log: str  # what the agent noted, from <SPAWN_AGENT_ROOT>/opt/spawn/agent.log

    def control(self, name: str) -> list[str]:
        """Key names under S/<control>/R/, without that prefix."""
        prefix = f"{FOLDER}/{name}/{self.run_key}/"
        return sorted(key.removeprefix(prefix) for key in self.keys if key.startswith(prefix))

    def status(self) -> dict:
        return json.loads(self.keys[f"{FOLDER}/r1/{contract.STATUS_FILE}"])


def compiled_tags(sweep_file, run: str) -> dict[str, str]:
    """The tags Terraform gives the run's instance: the compiled root, planned by real Terraform offline."""
    import tempfile
    from pathlib import Path

    import tfharness
    from offline import compile_sweep, plan_root

    with tempfile.TemporaryDirectory() as scratch:
        checked, build = compile_sweep(Path(sweep_file).read_text(), Path(scratch))
        assert checked.plan is not None
        [root] = [root for root in checked.plan.roots if any(member.name == run for member in root.runs)]
        inputs = tfharness.planned_inputs(plan_root(build / root.name, Path(scratch) / "offline"))
    return inputs[f'aws_instance.run["{run}"]']["tags"]


@pytest.fixture
def launch(aws, instance, agent_sandbox, render_user_data, imds) -> Callable[..., Outcome]:
    def run(text: str, *, before: Callable[[str, str], None] | None = None) -> Outcome:
        from pathlib import Path

        from spawn_tf import check_file

        path = Path(agent_sandbox().tmp) / "s.yaml"
        path.write_text(text)
        checked = check_file(path)
        assert checked.runs is not None, [d.render() for d in checked.diagnostics]
        target = checked.runs[0]
        run_key = contract.run_key(target.name, target.fingerprint)
        instance_id = instance(compiled_tags(path, target.name))
        if before is not None:
            before(instance_id, run_key)
        sandbox = agent_sandbox()
        result = sandbox.run(render_user_data(text, target.name), timeout=120)
        assert result.returncode == 0, result
        log = sandbox.path("/opt/spawn/agent.log")
        agent_log = log.read_text() if log.exists() else ""
        return Outcome(target, aws.s3_tree(BUCKET), aws.instance_tags(instance_id), sandbox.shutdown_log(), instance_id, run_key, agent_log)

    return run


SUCCESS = """\
#!/bin/bash
set -e
echo "training with $LEARNING_RATE as $NAME"
mkdir -p "$SPAWN_OUTPUT_DIR/checkpoints/epoch-1"
echo '{"val_accuracy": 0.9}' > "$SPAWN_OUTPUT_DIR/metrics.json"
echo weights > "$SPAWN_OUTPUT_DIR/checkpoints/epoch-1/model.pth"
"""


def test_success_uploads_outputs_status_and_done(launch, imds) -> None:
    outcome = launch(sweep(SUCCESS))
    iid = outcome.instance
    assert outcome.control(contract.CONTROL_LEASE) == ["1"]
    assert outcome.control(contract.CONTROL_ATTEMPTS) == [iid, f"{iid}.success"]
    assert outcome.control(contract.CONTROL_DONE) == ["success.0"]
    status = outcome.status()
    assert (status["status"], status["exit_code"], status["attempt"], status["instance_id"], status["run"]) == ("success", 0, 1, iid, "r1")
    assert status["finished_at"] and status["started_at"] and status["reason"] == ""
    assert outcome.keys[f"{FOLDER}/r1/metrics.json"] == b'{"val_accuracy": 0.9}\n'
    assert outcome.keys[f"{FOLDER}/r1/checkpoints/epoch-1/model.pth"] == b"weights\n"
    log = outcome.keys[f"{FOLDER}/r1/{contract.LOGS_FOLDER}/1-{iid}.log"].decode()
    assert log == "training with 0.01 as r1\n"
    attempt = json.loads(outcome.keys[f"{FOLDER}/{contract.CONTROL_ATTEMPTS}/{outcome.run_key}/{iid}"])
    assert attempt["region"] == "us-east-1" and attempt["started_at"]
    assert outcome.tags[contract.TAG_STATUS] == "success"
    assert outcome.shutdowns[-1] == ["shutdown", "-h", "now"]
    assert ["shutdown", "-h", "+75"] in outcome.shutdowns  # line 2: the ttl backstop, 1 h + 15 min
    assert imds.requests and all(request.token_valid for request in imds.requests if request.method == "GET")


def test_failure_records_the_exit_code(launch) -> None:
    outcome = launch(sweep("echo broken >&2\nexit 3\n"))
    assert outcome.control(contract.CONTROL_DONE) == ["failed.3"]
    assert (outcome.status()["status"], outcome.status()["exit_code"]) == ("failed", 3)
    assert outcome.tags[contract.TAG_STATUS] == "failed"
    assert outcome.keys[f"{FOLDER}/r1/{contract.LOGS_FOLDER}/1-{outcome.instance}.log"] == b"broken\n"
    assert outcome.shutdowns[-1] == ["shutdown", "-h", "now"]


def test_spored_complete_stopped_is_the_workloads_verdict(launch) -> None:
    outcome = launch(sweep('spored complete --status stopped --message "val loss 1.7 above 1.0"\nexit 0\n'))
    assert outcome.control(contract.CONTROL_DONE) == ["stopped.0"]
    status = outcome.status()
    assert (status["status"], status["exit_code"], status["reason"]) == ("stopped", 0, "val loss 1.7 above 1.0")
    assert outcome.tags[contract.TAG_STATUS] == "stopped"


def test_spored_mistakes_are_errors_not_ignored(launch) -> None:
    script = (
        "spored complete --status sucess; echo \"typo: $?\"\n"
        "timeout 10 spored complete --status; echo \"no value: $?\"\n"
        "spored complete --statsu stopped; echo \"unknown argument: $?\"\n"
        "exit 0\n"
    )
    outcome = launch(sweep(script))
    log = outcome.keys[f"{FOLDER}/r1/{contract.LOGS_FOLDER}/1-{outcome.instance}.log"].decode()
    usage = "usage: spored complete --status success|stopped|failed [--message MESSAGE]\n"
    assert log == (
        "spored: unknown status 'sucess'; expected one of: success, stopped, failed\n" + usage + "typo: 2\n"
        "spored: --status needs a value\n" + usage + "no value: 2\n"
        "spored: unknown argument '--statsu'\n" + usage + "unknown argument: 2\n"
    )
    assert "spored: unknown status 'sucess'" in outcome.agent_log  # on the instance's own log too
    assert outcome.control(contract.CONTROL_DONE) == ["success.0"]  # no verdict was recorded: the exit code decides


def test_ttl_ends_the_workload_as_timeout(launch) -> None:
    outcome = launch(sweep("echo started\nsleep 120\necho never\n", params="    ttl: 3s\n"))
    assert outcome.control(contract.CONTROL_DONE) == ["timeout.none"]
    status = outcome.status()
    assert (status["status"], status["exit_code"]) == ("timeout", None)
    assert outcome.keys[f"{FOLDER}/r1/{contract.LOGS_FOLDER}/1-{outcome.instance}.log"] == b"started\n"
    assert outcome.shutdowns[-1] == ["shutdown", "-h", "now"]
    assert ["shutdown", "-h", "+16"] in outcome.shutdowns  # 3 s rounds up to a minute, plus the margin


def test_spot_notice_uploads_logs_and_leaves_the_run_open(launch, imds) -> None:
    def notice(instance_id: str, run_key: str) -> None:
        imds.interrupt(action="terminate")

    outcome = launch(sweep("echo working\nsleep 120\n"), before=notice)
    assert outcome.control(contract.CONTROL_DONE) == []  # not final: the next apply relaunches it
    assert outcome.control(contract.CONTROL_ATTEMPTS) == [outcome.instance, f"{outcome.instance}.interrupted"]
    assert outcome.status()["status"] == "interrupted"
    assert outcome.keys[f"{FOLDER}/r1/{contract.LOGS_FOLDER}/1-{outcome.instance}.log"] == b"working\n"
    assert outcome.tags[contract.TAG_STATUS] == "interrupted"
    assert ["shutdown", "-h", "now"] not in outcome.shutdowns  # EC2 takes the instance back


def stop_once_running(aws, instance_id: str, run_key: str) -> None:
    """Writes the run's stop marker once its attempt has begun (its attempt key is in S3)."""
    began = f"{FOLDER}/{contract.CONTROL_ATTEMPTS}/{run_key}/{instance_id}"

    def stop() -> None:
        while began not in aws.s3_tree(BUCKET, began):
            time.sleep(0.2)
        aws.s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{contract.CONTROL_STOP}/r1", Body=b"")

    threading.Thread(target=stop, daemon=True).start()


def test_stop_marker_stops_the_workload(launch, aws) -> None:
    def stop(instance_id: str, run_key: str) -> None:
        stop_once_running(aws, instance_id, run_key)

    outcome = launch(sweep("echo working\nsleep 120\n"), before=stop)
    assert outcome.control(contract.CONTROL_DONE) == ["stopped.none"]
    assert outcome.status()["reason"] == "stop marker"
    assert outcome.tags[contract.TAG_STATUS] == "stopped"


def test_a_stop_marker_at_start_cancels_the_run_without_running_it(launch, aws) -> None:
    """DESIGN §6/§7: `cancelled` is a stop marker on a run that never started."""

    def stop(instance_id: str, run_key: str) -> None:
        aws.s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{contract.CONTROL_STOP}/{contract.STOP_ALL}", Body=b"")

    outcome = launch(sweep('echo ran > "$SPAWN_OUTPUT_DIR/ran.txt"\n'), before=stop)
    assert outcome.control(contract.CONTROL_DONE) == ["cancelled.none"]
    assert outcome.control(contract.CONTROL_ATTEMPTS) == []  # no attempt began
    assert outcome.control(contract.CONTROL_LEASE) == ["1"]  # decided under the lease
    status = outcome.status()
    assert (status["status"], status["exit_code"], status["reason"]) == ("cancelled", None, "stop marker")
    assert outcome.tags[contract.TAG_STATUS] == "cancelled"  # the tag agrees with status.json
    assert f"{FOLDER}/r1/ran.txt" not in outcome.keys and not any(contract.LOGS_FOLDER in key for key in outcome.keys)
    assert outcome.shutdowns[-1] == ["shutdown", "-h", "now"]
    assert "cancelled: stop marker" in outcome.agent_log


def test_a_stop_marker_names_one_run_exactly(launch, aws) -> None:
    """`_stop/rx1` does not stop run `r.1`: a run name is not a pattern."""

    def near_misses(instance_id: str, run_key: str) -> None:
        for name in ("rx1", "R.1", "r.10"):
            aws.s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{contract.CONTROL_STOP}/{name}", Body=b"")

    outcome = launch(sweep("sleep 3\n").replace("- name: r1\n", "- name: r.1\n"), before=near_misses)
    assert outcome.run.name == "r.1"
    assert outcome.control(contract.CONTROL_DONE) == ["success.0"]


def test_exhausted_attempts_do_not_run_the_workload(launch, aws) -> None:
    def three_failures(instance_id: str, run_key: str) -> None:
        for n, status in enumerate(("failed", "timeout", "failed")):
            aws.s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{contract.CONTROL_ATTEMPTS}/{run_key}/i-0old{n}", Body=b"{}")
            aws.s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{contract.CONTROL_ATTEMPTS}/{run_key}/i-0old{n}.{status}", Body=b"")

    outcome = launch(sweep('echo ran > "$SPAWN_OUTPUT_DIR/ran.txt"\n', settings="  retry_failed: true\n"), before=three_failures)
    assert outcome.control(contract.CONTROL_DONE) == ["exhausted.none"]
    assert f"{FOLDER}/r1/ran.txt" not in outcome.keys
    assert outcome.control(contract.CONTROL_LEASE) == []
    assert outcome.status()["status"] == "exhausted"
    assert outcome.tags[contract.TAG_STATUS] == "exhausted"
    assert outcome.shutdowns[-1] == ["shutdown", "-h", "now"]


def test_retry_failed_with_attempts_left_leaves_the_run_open(launch) -> None:
    outcome = launch(sweep("exit 1\n", settings="  retry_failed: true\n  max_attempts: 3\n"))
    assert outcome.control(contract.CONTROL_DONE) == []
    assert outcome.control(contract.CONTROL_ATTEMPTS) == [outcome.instance, f"{outcome.instance}.failed"]
    assert (outcome.status()["status"], outcome.status()["exit_code"]) == ("failed", 1)
    assert outcome.shutdowns[-1] == ["shutdown", "-h", "now"]  # the next apply launches attempt 2


def test_a_second_agent_for_the_same_attempt_loses_the_lease(launch, aws) -> None:
    def taken(instance_id: str, run_key: str) -> None:
        aws.s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{contract.CONTROL_LEASE}/{run_key}/1", Body=b"")

    outcome = launch(sweep('echo ran > "$SPAWN_OUTPUT_DIR/ran.txt"\n'), before=taken)
    assert outcome.control(contract.CONTROL_ATTEMPTS) == []
    assert f"{FOLDER}/r1/{contract.STATUS_FILE}" not in outcome.keys
    assert f"{FOLDER}/r1/ran.txt" not in outcome.keys
    assert contract.TAG_STATUS not in outcome.tags
    assert outcome.shutdowns[-1] == ["shutdown", "-h", "now"]  # an early exit ends its instance (issue 22)


HOSTILE = {
    "single": "it's",
    "double": 'say "hi"',
    "subst": "$(touch /tmp/spawn-pwned)",
    "tick": "`touch /tmp/spawn-pwned`",
    "semi": "a; rm -rf /",
    "lines": "line1\nline2\n",
    "uni": "ünïcödé ✓ 日本",
    "dash": "-n",
    "empty": "",
    "template": "${HOME} %{x}",
}
DUMP_ENV = """\
#!/bin/bash
python3 -c 'import json, os; json.dump(dict(os.environ), open(os.environ["SPAWN_OUTPUT_DIR"] + "/env.json", "w"))'
"""


def test_hostile_parameter_values_reach_the_workload_byte_for_byte(launch) -> None:
    params = "".join(f"    {key}: {json.dumps(value)}\n" for key, value in HOSTILE.items())
    outcome = launch(sweep(DUMP_ENV, params=params))
    seen = json.loads(outcome.keys[f"{FOLDER}/r1/env.json"])
    assert {key: seen[key.upper()] for key in HOSTILE} == HOSTILE
    assert seen["NAME"] == "r1" and seen["LEARNING_RATE"] == "0.01"
    assert seen[contract.ENV_RESULTS_URI] == f"s3://{BUCKET}/{FOLDER}/r1/"
    assert (seen[contract.ENV_ATTEMPT], seen[contract.ENV_SWEEP], seen[contract.ENV_RUN], seen[contract.ENV_INDEX]) == (
        "1",
        SWEEP,
        "r1",
        "0",
    )
    assert seen["HOME"] == "/root" and seen["AWS_PAGER"] == "" and seen["AWS_DEFAULT_REGION"] == "us-east-1"


def test_logs_are_uploaded_while_the_workload_runs(launch) -> None:
    outcome = launch(sweep("for i in $(seq 10); do echo step $i; sleep 1; done\n"))  # uploads every 2 s here
    assert outcome.keys[f"{FOLDER}/r1/{contract.LOGS_FOLDER}/1-{outcome.instance}.log"].decode().splitlines()[-1] == "step 10"
    assert outcome.tags[contract.TAG_SWEEP] == SWEEP and outcome.tags[contract.TAG_RUN] == "r1"  # created with the compiled tags
    assert outcome.tags["Name"] == f"{SWEEP}/r1" and outcome.tags[contract.TAG_FINGERPRINT] == outcome.run_key.split(".")[-1]
    assert outcome.agent_log.count("log uploaded") >= 3  # at least twice while running, once at the end
