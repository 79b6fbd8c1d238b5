"""spawn_tf/emit/run_locals.py: each run's own values in local.run_values, the settings they share once in local.settings."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import pytest
from sweep_helpers import QUIET_DEFAULTS, WriteSweep

from spawn_tf.emit.json_text import Encoded, dump_json, encode_at
from spawn_tf.emit.run_locals import SETTINGS_KEY_LENGTH, _settings_key
from spawn_tf.pipeline import compile_file

# Two settings (the second run has its own ttl and tags) and parameter values that look like Terraform templates.
SWEEP = QUIET_DEFAULTS + (
    "params:\n"
    "  - {name: a, note: '${x} %{y}'}\n"
    "  - {name: b, note: plain, ttl: 3h, tags: {team: '${t}'}}\n"
    "  - {name: c, note: '$${z}'}\n"
)


def _locals(files: dict[PurePosixPath, bytes], root: str) -> dict[str, Any]:
    return json.loads(files[PurePosixPath(root) / "locals.tf.json"])["locals"]


def test_each_entry_holds_its_runs_own_values_and_the_key_of_its_settings(write_sweep: WriteSweep) -> None:
    checked, files = compile_file(write_sweep(SWEEP))
    assert files is not None and checked.plan is not None
    [root] = checked.plan.roots
    found = _locals(files, root.name)
    runs, settings = found["run_values"], found["settings"]
    for run in root.runs:
        entry = runs[run.name]
        assert sorted(entry) == ["exports", "fingerprint", "index", "settings"]
        assert (entry["index"], entry["fingerprint"]) == (run.index, run.fingerprint)
        assert entry["exports"] == checked.exports[run.name].replace("${", "$${").replace("%{", "%%{")  # read by Terraform
    assert runs["a"]["settings"] == runs["c"]["settings"] != runs["b"]["settings"]
    assert sorted(settings) == sorted({runs["a"]["settings"], runs["b"]["settings"]})  # each settings once
    assert settings[runs["a"]["settings"]]["tags"] == {"spawn:ttl": "7200s"}
    assert settings[runs["b"]["settings"]]["tags"] == {"spawn:ttl": "10800s", "team": "$${t}"}
    assert "shutdown -h +135 " in settings[runs["a"]["settings"]]["head_start"]
    assert "shutdown -h +195 " in settings[runs["b"]["settings"]]["head_start"]
    assert "SPAWN_TTL_SECONDS='10800'" in settings[runs["b"]["settings"]]["agent_exports"]
    assert "export NOTE='$${x} %%{y}'" in runs["a"]["exports"] and "export NOTE='$$${z}'" in runs["c"]["exports"]
    assert found["runs"] == "${{for name, run in local.run_values : name => merge(local.settings[run.settings], run)}}"


def test_a_new_runs_settings_leave_the_other_entries_as_they_were(write_sweep: WriteSweep) -> None:
    """Settings keys are digests of the settings, not positions: a review diff shows the new run and its settings only."""
    _, before = compile_file(write_sweep(SWEEP))
    _, after = compile_file(write_sweep(SWEEP + "  - {name: d, note: new, ttl: 1h}\n"))  # sorts before b's settings' key or not
    assert before is not None and after is not None
    old, new = _locals(before, "us-east-1"), _locals(after, "us-east-1")
    added = new["run_values"].pop("d")
    assert new["run_values"] == old["run_values"]
    assert new["settings"].pop(added["settings"])["tags"] == {"spawn:ttl": "3600s"}
    assert new["settings"] == old["settings"]


def test_settings_whose_short_keys_collide_get_their_full_digests() -> None:
    values = {"ami": "al2023/x86_64", "tags": {}}
    key = _settings_key(values, {})
    assert len(key) == SETTINGS_KEY_LENGTH
    assert _settings_key(values, {key: values}) == key  # the same settings again
    longer = _settings_key(values, {key: {"ami": "other"}})
    assert len(longer) == 64 and longer.startswith(key)


def test_an_encoded_value_is_placed_only_where_it_was_made_for() -> None:
    inner = encode_at({"k": [1]}, "\n    ")
    assert dump_json({"outer": {"inner": inner}}) == dump_json({"outer": {"inner": {"k": [1]}}})
    with pytest.raises(ValueError, match="encoded for indentation 4 placed at 2"):
        dump_json({"outer": inner})
    assert dump_json([Encoded("7", "\n  ")]) == b"[\n  7\n]\n"
