"""spawn_tf/emit/run_locals.py: each run's entry in local.runs, its settings' part made once and its own values put in."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest
from sweep_helpers import QUIET_DEFAULTS, WriteSweep

from spawn_tf.emit.json_text import Encoded, dump_json, encode_at
from spawn_tf.pipeline import compile_file

# Two settings (the second run has its own ttl and tags) and parameter values that look like Terraform templates.
SWEEP = QUIET_DEFAULTS + (
    "params:\n"
    "  - {name: a, note: '${x} %{y}'}\n"
    "  - {name: b, note: plain, ttl: 3h, tags: {team: '${t}'}}\n"
    "  - {name: c, note: '$${z}'}\n"
)


def test_each_entry_holds_its_runs_own_values_and_its_settings(write_sweep: WriteSweep) -> None:
    checked, files = compile_file(write_sweep(SWEEP))
    assert files is not None and checked.plan is not None
    [root] = checked.plan.roots
    runs = json.loads(files[PurePosixPath(root.name) / "locals.tf.json"])["locals"]["runs"]
    for run in root.runs:
        entry = runs[run.name]
        assert (entry["index"], entry["fingerprint"]) == (run.index, run.fingerprint)
        assert entry["head"] == checked.heads[run.name].replace("${", "$${").replace("%{", "%%{")  # read by Terraform as the head
    assert runs["a"]["tags"] == runs["c"]["tags"] == {"spawn:ttl": "7200s"}
    assert runs["b"]["tags"] == {"spawn:ttl": "10800s", "team": "$${t}"}
    assert "export NOTE='$${x} %%{y}'" in runs["a"]["head"] and "export NOTE='$$${z}'" in runs["c"]["head"]


def test_an_encoded_value_is_placed_only_where_it_was_made_for() -> None:
    inner = encode_at({"k": [1]}, "\n    ")
    assert dump_json({"outer": {"inner": inner}}) == dump_json({"outer": {"inner": {"k": [1]}}})
    with pytest.raises(ValueError, match="encoded for indentation 4 placed at 2"):
        dump_json({"outer": inner})
    assert dump_json([Encoded("7", "\n  ")]) == b"[\n  7\n]\n"
