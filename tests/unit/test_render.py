"""spawn_tf/render.py: run records for `expand`, tables, and sweep files written back as YAML."""

from __future__ import annotations

import json

import yaml
from sweep_helpers import QUIET_DEFAULTS, CheckSweep

from spawn_tf.load import SourceFloat, SourceInt
from spawn_tf.render import markdown_table, plain, render_runs, run_record, sweep_yaml, text_table


def test_run_record_fields_in_order_with_plain_numbers(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "params:\n  - {name: a, lr: 1e-4, n: 007}\n")
    assert checked.runs is not None
    record = run_record(checked.runs[0])
    assert list(record) == ["index", "name", "region", "region_assigned", "instance_type", "arch", "spot", "ttl_seconds",
                            "fingerprint", "params", "env"]  # fmt: skip
    assert type(record["params"]["lr"]) is float and type(record["params"]["n"]) is int
    assert json.loads(render_runs(checked.runs, "json")) == [record]
    assert yaml.safe_load(render_runs(checked.runs, "yaml")) == [record]


def test_plain_turns_source_numbers_into_builtins() -> None:
    value = plain({"a": [SourceInt(7, "007"), SourceFloat(0.1, "0.10")], 1: True})
    assert value == {"a": [7, 0.1], "1": True}
    assert [type(item) for item in value["a"]] == [int, float]


def test_tables() -> None:
    assert text_table(["a", "bb"], [["xyz", "1"]]) == "A    BB\nxyz  1\n"  # headers upper-case, columns padded
    assert markdown_table(["a"], [["x|y\nz"]]) == "| a |\n|---|\n| x\\|y z |\n"


def test_sweep_yaml_keeps_numbers_as_written_and_scripts_as_blocks() -> None:
    text = sweep_yaml({"lr": SourceFloat(0.0001, "1e-4"), "n": SourceInt(7, "007"), "script": "#!/bin/bash\necho hi\n", "word": "1e5"})
    assert "lr: 1e-4\n" in text and "n: 007\n" in text
    assert "script: |\n  #!/bin/bash\n  echo hi\n" in text
    assert "word: '1e5'\n" in text  # text that reads as a YAML 1.2 number stays text
