"""The agent's early-stopping decision, through the real bash path, equals stopping.decide on the same
listing (DESIGN §12), on generated rules and curves.

One real run sets up an instance (sandbox, IMDS stand-in, moto server): its workload saves its
environment. Then, per example, other runs' reports are laid out under S/_progress/<metric>/ (a metric
of the example's own, so examples do not meet), and the instance's own `spored report` (bash, then the
agent's helper) reports the example's curve step by step with the example's rule; after each report
the step's listing, read with boto3, is given to stopping.decide, whose verdict must be the exit status
(3: stop, 0: go on). A stopped run reports no further step.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from spawn_tf import contract, stopping
from spawn_tf.workdir import stopping_module, stopping_sha256

BUCKET = "spawn-test-bucket"
FOLDER = "sweeps/prop"
SWEEP = f"""\
sweep: prop
results: s3://{BUCKET}/sweeps
early_stopping: {{metric: loss, mode: min}}
defaults:
  instance_type: m7i.large
  ttl: 1h
  user_data: |
    env -0 >"$SPAWN_AGENT_ROOT/workload.env"
params:
  - {{name: me, x: 1}}
"""
VALUES = st.sampled_from([0.1, 0.2, 0.5, 1.0, 2.0])  # few values: ties are common
REPORT = st.tuples(VALUES, VALUES, VALUES)  # an other run's value, running mean and best
RULES = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(stopping.MODES),
        "rule": st.sampled_from(stopping.RULES),
        "min_runs": st.integers(1, 3),
        "min_step": st.integers(1, 2),
        "grace": st.integers(1, 2),
        "reduction_factor": st.integers(2, 3),
    }
)
EXAMPLE = st.tuples(RULES, st.lists(VALUES, min_size=1, max_size=3), st.lists(st.lists(REPORT, max_size=4), min_size=3, max_size=3))


def test_the_agents_verdict_is_the_rules_on_the_same_listing(aws, instance, agent_sandbox, render_user_data, results_bucket) -> None:
    instance()
    aws.s3.put_object(Bucket=BUCKET, Key=contract.code_key(FOLDER, stopping_sha256(), contract.MODULE_SUFFIX), Body=stopping_module())
    sandbox = agent_sandbox()
    result = sandbox.run(render_user_data(SWEEP, "me"), timeout=120)
    assert result.returncode == 0, result
    pairs = sandbox.path("/workload.env").read_bytes().split(b"\0")
    workload_env = dict(pair.decode().split("=", 1) for pair in pairs if pair)
    spored = str(sandbox.path("/usr/local/bin/spored"))
    metrics = (f"m{number}" for number in itertools.count())
    checked = []

    @settings(max_examples=6, deadline=None, derandomize=True, database=None)
    @given(EXAMPLE)
    def agrees(example) -> None:
        settings_, curve, others = example
        metric = next(metrics)
        rule = stopping.Rule.from_settings({"metric": metric, **settings_})
        for step, reports in enumerate(others, start=1):
            for number, (value, mean, best) in enumerate(reports):
                key = f"{contract.progress_prefix(FOLDER, metric)}{stopping.step_folder(step)}/{stopping.entry_name(f'o{number}', value, (mean, best))}"
                aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
        time.sleep(1.05 - time.time() % 1)  # the others' reports are an earlier second than the run's own
        env = {**workload_env, contract.ENV_EARLY_STOPPING: json.dumps(rule.settings())}
        for step, value in enumerate(curve, start=1):
            done = subprocess.run(["bash", spored, "report", "--step", str(step), f"{metric}={value}"], env=env, capture_output=True, text=True, check=False)
            prefix = f"{contract.progress_prefix(FOLDER, metric)}{stopping.step_folder(step)}/"
            listed = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
            reports = [stopping.parse_entry(item["Key"][len(prefix) :], int(item["LastModified"].timestamp())) for item in listed]
            verdict = stopping.decide(rule, "me", step, [report for report in reports if report is not None])
            assert done.returncode == (stopping.STOP_EXIT if verdict.stop else 0), (rule, curve, others, step, done.stderr, verdict)
            checked.append(verdict)
            if verdict.stop:
                assert f"spored: early-stopped: {verdict.explain(rule)}" in done.stderr
                break

    agrees()
    assert any(verdict.stop for verdict in checked) and any(verdict.cutoff is not None and not verdict.stop for verdict in checked)
