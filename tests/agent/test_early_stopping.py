"""`spored report` and early stopping on the instance (DESIGN §12), real bash against moto server.

Runs of one sweep are executed one after another, each on an instance of its own (IMDS stand-in, a
recording proxy before moto: tests/support/agentrun.py), with known learning curves that the workload
reports step by step. Under `median` and `asha`, exactly the runs the rule condemns end stopped /
early-stopped at the expected step; the others succeed. The proxy counts the S3 calls of each report.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agentrun import FAST, Agent, Bench
from workenv_stubs import calls, install_docker

from spawn_tf import Checked, check_file, contract, stopping
from spawn_tf.emit.code import root_code
from spawn_tf.userdata import user_data

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "spawn-test-bucket"
FOLDER = "sweeps/es"
# Reports each value of $CURVE as loss and acc, one step after the other. Told to stop (exit 3), it
# takes two seconds to save the step (the grace period lets it), then waits to be ended (ON_STOP=wait), or exits
# with it under `set -e` (ON_STOP=exit).
CURVES = """\
#!/bin/bash
set -e
step=0
for value in $CURVE; do
  step=$((step + 1))
  if [ "$ON_STOP" = exit ]; then spored report --step "$step" loss="$value" acc="$value"; continue; fi
  code=0
  spored report --step "$step" loss="$value" acc="$value" || code=$?
  echo "step $step: $code"
  if [ "$code" = 3 ]; then sleep 2; echo "$step" >"$SPAWN_OUTPUT_DIR/stopped-at"; sleep 60; fi
done
"""


def sweep_text(bucket: str, rule: str, runs: dict[str, tuple[str, str]], script: str = CURVES) -> str:
    body = "".join(f"    {line}\n" for line in script.strip("\n").splitlines())
    params = "".join(f"  - {{name: {name}, curve: '{curve}', on_stop: {on_stop}}}\n" for name, (curve, on_stop) in runs.items())
    stopping_line = f"early_stopping: {rule}\n" if rule else ""
    return (
        f"sweep: es\nresults: s3://{bucket}/sweeps\n{stopping_line}defaults:\n  instance_type: m7i.large\n  ttl: 1h\n"
        f"  user_data: |\n{body}params:\n{params}"
    )


# The tests read each workload's log from S3: an upload budget that its `aws s3 cp` fits in on a loaded machine
# (FAST's 3 s may not; none of these cases leaves S3 down at the end).
TIMES = {**FAST, contract.ENV_UPLOAD_BUDGET_SECONDS: "30"}


@dataclass
class Ran:
    agent: Agent
    keys: dict[str, bytes]
    run: Any
    tags: dict[str, str]

    def status(self) -> dict[str, Any]:
        return json.loads(self.keys[f"{FOLDER}/{self.run.name}/{contract.STATUS_FILE}"])

    def done(self) -> list[str]:
        prefix = f"{FOLDER}/{contract.CONTROL_DONE}/{contract.run_key(self.run.name, self.run.fingerprint)}/"
        return sorted(key.removeprefix(prefix) for key in self.keys if key.startswith(prefix))

    def log(self) -> str:
        prefix = f"{FOLDER}/{self.run.name}/{contract.LOGS_FOLDER}/"
        return "".join(value.decode() for key, value in sorted(self.keys.items()) if key.startswith(prefix))

    def calls(self, method: str, where: str) -> int:
        """S3 requests of this instance with `method` whose path or query names `where`."""
        return sum(1 for seen in self.agent.proxy.requests if seen.method == method and (where in seen.path or where in seen.query))


class Sweep:
    """A compiled sweep in a bucket of its own, its code objects where Terraform puts them; `run(name)` runs one run."""

    def __init__(self, bench: Bench, tmp_path: Path, text: str, bucket: str) -> None:
        self.bench, self.bucket = bench, bucket
        bench.aws.s3.create_bucket(Bucket=bucket)
        path = tmp_path / f"{bucket}.yaml"
        path.write_text(text)
        self.checked: Checked = check_file(path)
        assert self.checked.plan is not None and self.checked.runs is not None, [d.render() for d in self.checked.diagnostics]
        for root in self.checked.plan.roots:
            for name, (_, data) in root_code(self.checked.plan, root).items():
                bench.aws.s3.put_object(Bucket=bucket, Key=contract.control_prefix(FOLDER, contract.CONTROL_CODE) + name, Body=data)

    def run(self, name: str, timeout: float = 120) -> Ran:
        assert self.checked.plan is not None and self.checked.runs is not None
        run = next(candidate for candidate in self.checked.runs if candidate.name == name)
        agent = self.bench.instance()
        agent.result = agent.sandbox.run(user_data(self.checked.plan, run), timeout=timeout, env=agent.sandbox.env(**TIMES))
        assert agent.result.returncode == 0, agent.result
        return Ran(agent, self.bench.aws.s3_tree(self.bucket), run, self.bench.aws.instance_tags(agent.instance))


def chain(bench: Bench, tmp_path: Path, bucket: str, rule: str, runs: dict[str, tuple[str, str]]) -> dict[str, Ran]:
    """Every run, one after another (each sees the reports of those before it)."""
    made = Sweep(bench, tmp_path, sweep_text(bucket, rule, runs), bucket)
    return {name: made.run(name) for name in runs}


def assert_outcomes(ran: dict[str, Ran], stopped_at: dict[str, int], curves: dict[str, tuple[str, str]]) -> None:
    for name, outcome in ran.items():
        status = outcome.status()
        steps = len(curves[name][0].split())
        if name not in stopped_at:
            assert (status["status"], outcome.done()) == ("success", ["success.0"]), (name, status, outcome.agent.agent_log())
            reported = steps
        else:
            assert (status["status"], status["reason"]) == ("stopped", contract.EARLY_STOPPED_REASON), (name, status)
            reported = stopped_at[name]
            if curves[name][1] == "wait":  # the agent ended it, after the workload saw exit 3 at that step
                assert outcome.done() == ["stopped.none"]
                assert outcome.keys[f"{FOLDER}/{name}/stopped-at"] == f"{reported}\n".encode()
                assert f"step {reported}: {stopping.STOP_EXIT}\n" in outcome.log()
            else:  # it exited with 3 under set -e (or the agent ended it first)
                assert outcome.done()[0] in (f"stopped.{stopping.STOP_EXIT}", "stopped.none")
            assert re.search(f"^spored: early-stopped: (rung )?step {reported}: ", outcome.log(), re.MULTILINE), outcome.log()
        assert outcome.tags[contract.TAG_STATUS] == status["status"]
        # One PUT per metric per report, one listing (one page) of the rule metric's step, the rule fetched once.
        assert outcome.calls("PUT", "/_progress/") == 2 * reported, name
        assert outcome.calls("GET", f"prefix={FOLDER}/{contract.CONTROL_PROGRESS}/") == reported, name
        assert outcome.calls("GET", "/_code/") == 1, name


MEDIAN = {
    "r1": ("1.0 0.8 0.6", "wait"),  # the first: nobody to compare with
    "r2": ("1.1 0.9 0.7", "wait"),  # one other run: fewer than min_runs
    "r3": ("1.0 1.5 1.4", "wait"),  # step 2: best 1.0 worse than the median 0.95 of r1's 0.9 and r2's 1.0
    "r4": ("0.9 0.7 0.5", "wait"),  # always better than the median
    "r5": ("3.0 0.1 0.1", "exit"),  # step 1: 3.0 worse than the median 1.0
}
ASHA = {  # acc, max; rungs at 1, 2, 4 (grace 1, factor 2); the top half goes on
    "r1": ("0.5 0.6 0.7", "wait"),
    "r2": ("0.4 0.5 0.6", "wait"),  # only r1 before it at each rung: fewer than min_runs
    "r3": ("0.6 0.3 0.9", "wait"),  # rung 2: 0.3 below the cut-off 0.6 (the best of 3)
    "r4": ("0.45 0.9", "exit"),  # rung 1: 0.45 below the cut-off 0.5 (second of 4)
    "r5": ("0.7 0.7 0.1", "wait"),  # step 3 is no rung: 0.1 there does not stop it
}


def test_median_rule_stops_exactly_the_runs_it_condemns(cases) -> None:
    ran = cases("median")
    assert_outcomes(ran, {"r3": 2, "r5": 1}, MEDIAN)
    # The keys carry the running mean and best of the rule's metric, the plain value of the other.
    assert f"{FOLDER}/_progress/loss/0000000002/r3=1.5,1.25,1.0" in ran["r5"].keys
    assert f"{FOLDER}/_progress/acc/0000000002/r3=1.5" in ran["r5"].keys
    assert "median 0.95 of 2 other runs' running means" in ran["r3"].agent.agent_log()


def test_asha_rule_stops_exactly_the_runs_it_condemns(cases) -> None:
    ran = cases("asha")
    assert_outcomes(ran, {"r3": 2, "r4": 1}, ASHA)
    assert "rung step 2: acc 0.3 worse than the cut-off 0.6" in ran["r3"].log()


def readme_snippet() -> str:
    """The README's train.py helper for `spored report`, as documented."""
    text = (ROOT / "README.md").read_text()
    [snippet] = re.findall(r"```python\n(# train.py: progress for spawn-tf.*?)```", text, re.DOTALL)
    return snippet


PLAIN = """\
#!/bin/bash
set -e
spored report --step 1 loss=0.5 acc=0.25
spored report --step=2 loss=1e-3
for bad in "--step x loss=1" "--step 1" "--step 1 bad/name=1" "--step 1 loss=nan" "--step 1 loss=1 loss=2" "--step 12345678901 loss=1" "loss=1"; do
  code=0; spored report $bad || code=$?; echo "[$bad]: $code"
done
$CONTROL/down?service=s3&seconds=5&method=PUT&path=_progress'
spored report --step 3 loss=0.1; echo "down: $?"
sleep 5
cat >train.py <<'TRAIN'
{{snippet}}
for epoch in (4, 5):
    report(epoch, val_loss=1 / epoch)
print("python done")
TRAIN
python3 train.py
"""


def plain_reports(bench: Bench, tmp_path: Path) -> Ran:
    agent = bench.instance()
    script = PLAIN.replace("$CONTROL/", agent.control_word()).replace("{{snippet}}", readme_snippet())
    made = Sweep(bench, tmp_path, sweep_text("plain-bucket", "", {"r1": ("", "wait")}, script), "plain-bucket")
    assert made.checked.plan is not None and made.checked.runs is not None
    agent.result = agent.sandbox.run(user_data(made.checked.plan, made.checked.runs[0]), timeout=120, env=agent.sandbox.env(**TIMES))
    assert agent.result.returncode == 0, agent.result
    return Ran(agent, bench.aws.s3_tree("plain-bucket"), made.checked.runs[0], {})


def test_reports_without_early_stopping_usage_errors_and_s3_failures(cases) -> None:
    ran = cases("plain")
    agent = ran.agent
    assert (ran.status()["status"], ran.done()) == ("success", ["success.0"]), (ran.log(), agent.agent_log())
    reports = sorted(key.removeprefix(f"{FOLDER}/_progress/") for key in ran.keys if "/_progress/" in key)
    assert reports == [
        "acc/0000000001/r1=0.25", "loss/0000000001/r1=0.5", "loss/0000000002/r1=0.001",
        "val_loss/0000000004/r1=0.25", "val_loss/0000000005/r1=0.2",
    ]  # fmt: skip
    assert all(key.rsplit("/", 1)[1] == stopping.entry_name("r1", float(key.split("=")[1])) for key in reports)
    log = ran.log()
    for bad in ("--step x loss=1", "--step 1", "--step 1 bad/name=1", "--step 1 loss=nan", "--step 1 loss=1 loss=2", "--step 12345678901 loss=1", "loss=1"):
        assert f"[{bad}]: 2\n" in log
    assert log.count("usage: spored report --step N METRIC=VALUE [METRIC=VALUE ...]\n") == 7
    assert "spored: not a finite number: 'loss=nan'" in log and "spored report: not a finite number" in agent.agent_log()
    assert "spored: S3 failed: step 3 not recorded: loss; no early-stopping verdict; the run goes on\ndown: 0\n" in log
    assert "python done" in log
    assert ran.calls("GET", f"prefix={FOLDER}/{contract.CONTROL_PROGRESS}/") == 0  # no rule: no listing
    assert ran.calls("GET", "/_code/") == 0


PAGED_PREFIX = f"{contract.progress_prefix(FOLDER, 'loss')}{stopping.step_folder(1)}/"


def paged_listing(bench: Bench, tmp_path: Path) -> Ran:
    runs = {"me": ("5.0", "wait")}
    made = Sweep(bench, tmp_path, sweep_text("paged-bucket", "{metric: loss, mode: min, min_runs: 1000}", runs), "paged-bucket")
    with ThreadPoolExecutor(8) as pool:
        keys = (PAGED_PREFIX + stopping.entry_name(f"other-{n:04d}", 1.0, (1.0, 1.0)) for n in range(1000))
        list(pool.map(lambda key: bench.aws.s3.put_object(Bucket="paged-bucket", Key=key, Body=b""), keys))
    return made.run("me")


@pytest.fixture(scope="module")
def cases(_aws_clients, moto_server, tmp_path_factory) -> Any:
    """The median and asha sweeps (their runs one after another), the plain reports and the paged listing,
    side by side, each in a bucket of its own; a test gets its case's outcome (or its error, raised again)."""
    _aws_clients.reset()
    folder = tmp_path_factory.mktemp("early-stopping")
    bench = Bench(_aws_clients, moto_server, folder)
    made = {
        "median": lambda: chain(bench, folder, "median-bucket", "{metric: loss, mode: min, rule: median, min_runs: 2}", MEDIAN),
        "asha": lambda: chain(bench, folder, "asha-bucket", "{metric: acc, mode: max, rule: asha, grace: 1, reduction_factor: 2, min_runs: 2}", ASHA),
        "plain": lambda: plain_reports(bench, folder),
        "paged": lambda: paged_listing(bench, folder),
    }
    futures: dict[str, Future[Any]] = {}
    try:
        with ThreadPoolExecutor(len(made)) as pool:
            futures = {name: pool.submit(case) for name, case in made.items()}
        yield lambda name: futures[name].result()
    finally:
        escaped = bench.close()
    if escaped:
        pytest.fail(f"user-data wrote outside SPAWN_AGENT_ROOT, on this machine: {escaped}", pytrace=False)


def test_one_listing_reads_every_page_of_a_step(cases) -> None:
    """1,000 other runs at step 1 and min_runs 1000: a verdict needs both pages of the listing (1,000 keys each)."""
    ran, prefix = cases("paged"), PAGED_PREFIX
    assert (ran.status()["status"], ran.status()["reason"], ran.done()) == ("stopped", contract.EARLY_STOPPED_REASON, ["stopped.none"])
    assert "step 1: best loss 5.0 worse than the median 1.0 of 1000 other runs' running means" in ran.agent.agent_log()
    assert ran.calls("GET", f"prefix={prefix}") == 2  # 1,001 keys: two pages, one report


def test_reports_in_an_image_run_inside_the_private_sandbox(aws, instance, agent_sandbox, results_bucket, tmp_path) -> None:
    """`image:` runs (bubblewrap sandbox with a private /opt and /usr/local, docker stand-in): spored and
    /opt/spawn are mounted into the container, the rule is fetched once and cached there."""
    rule = "{metric: loss, mode: min, min_runs: 1}"
    text = sweep_text(BUCKET, rule, {"r1": ("0.5 5.0", "wait")}).replace("  ttl: 1h\n", "  ttl: 1h\n  image: python:3.11\n")
    made_path = tmp_path / "image.yaml"
    made_path.write_text(text)
    checked = check_file(made_path)
    assert checked.plan is not None and checked.runs is not None, [d.render() for d in checked.diagnostics]
    for root in checked.plan.roots:
        for name, (_, data) in root_code(checked.plan, root).items():
            aws.s3.put_object(Bucket=BUCKET, Key=contract.control_prefix(FOLDER, contract.CONTROL_CODE) + name, Body=data)
    for step, value in ((1, 1.0), (2, 0.1)):  # another run's, earlier: r1's best 0.5 beats 1.0 at step 1, not 0.1 at step 2
        aws.s3.put_object(Bucket=BUCKET, Key=f"{contract.progress_prefix(FOLDER, 'loss')}{stopping.step_folder(step)}/other={value}", Body=b"")
    instance()
    sandbox = agent_sandbox(private=("/opt", "/usr/local"))
    install_docker(sandbox)
    result = sandbox.run(user_data(checked.plan, checked.runs[0]), timeout=180)
    assert result.returncode == 0, result
    keys = aws.s3_tree(BUCKET)
    status = json.loads(keys[f"{FOLDER}/r1/{contract.STATUS_FILE}"])
    assert (status["status"], status["reason"]) == ("stopped", contract.EARLY_STOPPED_REASON), (status, sandbox.path("/opt/spawn/agent.log").read_text())
    assert keys[f"{FOLDER}/r1/stopped-at"] == b"2\n"  # the workload, in the container, saw exit 3 at step 2
    assert [call["argv"][:2] for call in calls(sandbox, "docker")] == [["pull", "python:3.11"]]  # `run` was ended: no record
    assert "-v /opt/spawn:/opt/spawn " in sandbox.path("/opt/spawn/run/workload").read_text()
    assert sandbox.path("/opt/spawn/agent/stopping.py").read_bytes() == Path(stopping.__file__).read_bytes()
    assert f"{FOLDER}/_progress/loss/0000000002/r1=5.0,2.75,0.5" in keys
