"""`terraform apply -json` streams in the shapes Terraform 1.x prints them, and a stand-in `terraform` that applies one.

The events are those of Terraform's machine-readable UI (`@level`, `@message`, `@module`, `@timestamp`,
`type`): `version`, `apply_start`, `apply_errored` (`hook.resource.addr`), `diagnostic` (`diagnostic.severity`,
`summary`, `detail`, `address`, `range`, `snippet`) and `change_summary`, as the embedded Terraform prints
them (checked in tests/launch/test_capacity_markers.py). The errors are the AWS provider v6's texts: the AWS
SDK for Go v2 error `operation error EC2: RunInstances, https response error StatusCode: ..., api error <Code>: ...`
wrapped in `creating EC2 Instance: `.

The launch tests' sweep: ONE_ROOT's three runs, failing with ERRORS (two without capacity, one without its AMI),
on PLANNED's candidates; `expected_markers` names the keys their markers must have.

`write_apply_stand_in(path, stream, plan_candidates, state_candidates)`: a `terraform` on PATH that records its
arguments in $STAND_IN_LOG, plans three runs' instances, shows the plan with `terraform_data.candidate`
(planned_values), applies by printing `stream` and failing (exit 1), and shows the state with the candidates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offline_build import STAND_IN_HEAD

from spawn_tf import contract
from spawn_tf.launch.apply_events import ApplyStream

T0 = 1796638860  # 2026-12-07T10:21:00Z: the first failure of the recorded apply

NO_CAPACITY = (
    "creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 500, "
    "RequestID: 5b3d1c0e-7f52-4c7a-9d3e-2a9f0e8b6c41, api error InsufficientInstanceCapacity: We currently do not have "
    "sufficient g5.xlarge capacity in the Availability Zone you requested (us-east-1a). Our system will be working on "
    "provisioning additional capacity. You can currently get g5.xlarge capacity by not specifying an Availability Zone in "
    "your request or choosing us-east-1b, us-east-1c, us-east-1d, us-east-1f."
)
NO_SPOT = (
    "creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, "
    "RequestID: 0c9e7a14-3b6f-4e21-8f0d-6d2b4a1c9e73, api error MaxSpotInstanceCountExceeded: Max spot instance count exceeded"
)
NO_AMI = (
    "creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, "
    "RequestID: 9a1f6c2d-5e84-4b3a-a7c0-3d8e1f2b5a69, api error InvalidAMIID.NotFound: The image id '[ami-0123456789abcdef0]' does not exist"
)

FOLDER = "sweeps/lt"  # the sweep folder of offline_build.sweep_text's sweep
ONE_ROOT = {"a": ("us-east-1", 0.1), "b": ("us-east-1", 0.2), "c": ("us-east-1", 0.3)}
ERRORS = {"a": NO_CAPACITY, "b": NO_SPOT, "c": NO_AMI}
PLANNED = {"a": 2, "b": 0, "c": 1}


def expected_markers(build: Path, candidates: Mapping[str, int], times: Mapping[str, int]) -> set[str]:
    """The keys of the markers of `times`' runs: the run's fingerprint from sweep.json, its candidate, its time."""
    fingerprints = {record["name"]: record["fingerprint"] for record in json.loads((build / contract.MANIFEST_FILE).read_text())["runs"]}
    return {contract.capacity_key(FOLDER, contract.run_key(run, fingerprints[run]), candidates[run], when) for run, when in times.items()}


def stamp(unix_time: float) -> str:
    """`@timestamp` as Terraform writes it (RFC 3339, microseconds, UTC)."""
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _resource(address: str) -> dict[str, Any]:
    kind, _, rest = address.partition(".")
    name, _, key = rest.partition("[")
    return {"addr": address, "module": "", "resource": address, "implied_provider": kind.split("_")[0],
            "resource_type": kind, "resource_name": name, "resource_key": key.strip('"]') or None}  # fmt: skip


def event(kind: str, message: str, unix_time: float, level: str = "info", **fields: Any) -> dict[str, Any]:
    return {"@level": level, "@message": message, "@module": "terraform.ui", "@timestamp": stamp(unix_time), **fields, "type": kind}


def instance(run: str) -> str:
    return f'{contract.INSTANCE_RESOURCE}["{run}"]'


def started(address: str, unix_time: float) -> dict[str, Any]:
    return event("apply_start", f"{address}: Creating...", unix_time, hook={"resource": _resource(address), "action": "create"})


def errored(address: str, unix_time: float, elapsed: int = 1) -> dict[str, Any]:
    return event("apply_errored", f"{address}: Creation errored after {elapsed}s", unix_time, level="error",
                 hook={"resource": _resource(address), "action": "create", "elapsed_seconds": elapsed})  # fmt: skip


def diagnostic(summary: str, unix_time: float, *, address: str | None = None, detail: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"severity": "error", "summary": summary, "detail": detail}
    if address is not None:
        body["address"] = address
        body["range"] = {"filename": "instances.tf.json", "start": {"line": 1, "column": 30, "byte": 29},
                         "end": {"line": 1, "column": 31, "byte": 30}}  # fmt: skip
        body["snippet"] = {"context": "resource.aws_instance.run", "code": '{"resource": {"aws_instance": {"run": {', "start_line": 1,
                           "highlight_start_offset": 29, "highlight_end_offset": 30, "values": []}  # fmt: skip
    return event("diagnostic", f"Error: {summary}", unix_time, level="error", diagnostic=body)


def failing_apply(errors: Mapping[str, str], *, t0: int = T0) -> list[dict[str, Any]]:
    """An apply in which each run's instance fails with its text (run -> provider error), in order, a second apart;
    the diagnostics come at the end, a minute later, as Terraform prints them."""
    events = [event("version", "Terraform 1.15.5", t0 - 5, terraform="1.15.5", ui="1.3")]
    events += [started(instance(run), t0 - 2) for run in errors]
    events += [errored(instance(run), t0 + i) for i, run in enumerate(errors)]
    events += [diagnostic(text, t0 + 60 + i, address=instance(run)) for i, (run, text) in enumerate(errors.items())]
    return events


def lines(events: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(item) + "\n" for item in events)


def read_stream(stream: Iterable[str]) -> tuple[ApplyStream, list[str]]:
    """A whole stream fed a line at a time, as launch and record-apply feed it: the reader, and every human line."""
    reader = ApplyStream()
    shown = [text for line in stream for text in reader.feed(line)]
    return reader, shown


def _candidates(candidates: Mapping[str, int], values_key: str) -> dict[str, Any]:
    kind, name = contract.CANDIDATE_RESOURCE.split(".")
    return {values_key: {"root_module": {"resources": [
        {"address": f'{contract.CANDIDATE_RESOURCE}["{run}"]', "mode": "managed", "type": kind, "name": name, "index": run,
         "provider_name": "terraform.io/builtin/terraform", "schema_version": 0,
         "values": {"input": index, "triggers_replace": None}, "sensitive_values": {}}
        for run, index in candidates.items()
    ]}}}  # fmt: skip


def plan_document(runs: Sequence[str], candidates: Mapping[str, int]) -> dict[str, Any]:
    """`show -json PLANFILE` of a plan that launches `runs`, with their candidates in planned_values."""
    return {
        "format_version": "1.2",
        **_candidates(candidates, "planned_values"),
        "configuration": {"root_module": {"resources": [
            {"address": contract.INSTANCE_RESOURCE, "mode": "managed", "for_each_expression": {"references": [contract.ACTIVE_RUNS_LOCAL]}},
        ]}},
        "resource_changes": [{"address": instance(run), "mode": "managed", "index": run, "change": {"actions": ["create"]}} for run in runs],
    }  # fmt: skip


def state_document(candidates: Mapping[str, int]) -> dict[str, Any]:
    """`show -json` of a state holding the runs' candidates."""
    return {"format_version": "1.0", "terraform_version": "1.15.5", **_candidates(candidates, "values")}


STAND_IN = STAND_IN_HEAD + """if command == "plan":
    (root / next(arg for arg in args if arg.startswith("-out=")).removeprefix("-out=")).write_text("a plan")
    sys.exit(2)
if command == "show":
    print(json.dumps({state} if args[-1] == "-json" else {plan}))
if command == "apply":
    sys.stdout.write({stream!r})
    sys.exit(1)
sys.exit(0)
"""


def write_apply_stand_in(
    path: Path, stream: str, *, runs: Sequence[str], plan_candidates: Mapping[str, int], state_candidates: Mapping[str, int]
) -> None:
    """A `terraform` whose apply prints `stream` and fails; see the module's docstring."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = STAND_IN.format(
        python=sys.executable, stream=stream, plan=repr(plan_document(runs, plan_candidates)), state=repr(state_document(state_candidates))
    )
    path.write_text(text)
    path.chmod(0o755)
