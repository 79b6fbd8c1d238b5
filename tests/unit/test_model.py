"""spawn_tf/model.py: the one record of a run that `expand` and the manifests both start from."""

from __future__ import annotations

from sweep_helpers import QUIET_DEFAULTS, CheckSweep


def test_run_record_puts_extra_fields_after_the_instance_type(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "params:\n  - {name: a, lr: 1e-4}\n")
    assert checked.runs is not None
    run = checked.runs[0]
    record = run.record(extra=1)
    assert list(record) == ["index", "name", "region", "region_assigned", "instance_type", "extra", "fingerprint", "params", "env"]
    assert record["params"] == {"lr": 0.0001} and record["params"]["lr"].source == "1e-4"
    assert record["env"]["LR"] == "1e-4" and record["name"] == "a" and record["fingerprint"] == run.fingerprint
    record["params"]["lr"] = 2  # a copy: the run stays as it was
    assert run.params["lr"] == 0.0001
