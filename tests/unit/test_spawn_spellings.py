"""spawn's spellings of run settings (contract.SPAWN_SPELLINGS): the same runs as ours, both at once a located error."""

from __future__ import annotations

import pytest
from sweep_helpers import CheckSweep, codes

from spawn_tf import contract

BASE = "sweep: sp\nresults: s3://spawn-bucket/sweeps\ndefaults:\n  instance_type: m7i.large\n  ttl: 2h\n"


def _settings(check: CheckSweep, text: str) -> list[tuple[str, str | None, str | None, str | None, str]]:
    checked = check(text)
    assert checked.runs is not None, [d.render() for d in checked.diagnostics]
    return [(run.name, run.settings.key_name, run.settings.iam_instance_profile, run.settings.script, run.fingerprint) for run in checked.runs]


def test_the_table_maps_onto_run_settings() -> None:
    assert set(contract.SPAWN_SPELLINGS.values()) <= set(contract.RUN_SETTINGS)
    assert not set(contract.SPAWN_SPELLINGS) & set(contract.RUN_SETTINGS)


def test_spawns_spellings_make_the_runs_ours_make_fingerprints_included(check: CheckSweep) -> None:
    spawns = BASE + "  key_pair: mine\n  user_command: ./train.sh\nparams:\n  - {name: a, iam_role: prof}\n  - {name: b, key_pair: {us-east-1: k1}}\n"
    ours = BASE + "  key_name: mine\n  command: ./train.sh\nparams:\n  - {name: a, iam_instance_profile: prof}\n  - {name: b, key_name: {us-east-1: k1}}\n"
    assert _settings(check, spawns) == _settings(check, ours)
    assert [row[:4] for row in _settings(check, spawns)] == [("a", "mine", "prof", "./train.sh"), ("b", "k1", None, "./train.sh")]
    assert codes(check(spawns)) == []


@pytest.mark.parametrize("where", ["grid", "top"])
def test_spellings_in_grid_keys_and_at_the_top_level(check: CheckSweep, where: str) -> None:
    text = BASE + "  command: ./x\n" + ("grid:\n  key_pair: [k1, k2]\n" if where == "grid" else "key_pair: k1\nparams:\n  - {name: a}\n")
    names = [row[1] for row in _settings(check, text)]
    assert names == (["k1", "k2"] if where == "grid" else ["k1"])


def test_both_spellings_in_one_mapping_is_an_error_at_spawns_key_each_time(check: CheckSweep) -> None:
    text = BASE + "  key_pair: a\n  key_name: b\n  command: ./x\nparams:\n  - {name: r, command: ./y, user_command: ./z}\n  - {name: s, iam_role: p}\n"
    checked = check(text)
    assert checked.runs is None
    assert [(d.code, d.message, d.hint, d.span.line, d.span.col) for d in checked.diagnostics if d.is_error] == [
        ("same-setting-twice", "'key_pair' and 'key_name' in defaults are the same setting",
         "'key_pair' is spawn's spelling of 'key_name'; keep one of them", 6, 3),
        ("same-setting-twice", "'user_command' and 'command' in params[0] are the same setting",
         "'user_command' is spawn's spelling of 'command'; keep one of them", 10, 29),
    ]  # fmt: skip


def test_one_spelling_in_defaults_and_the_other_in_a_run_is_an_override_not_an_error(check: CheckSweep) -> None:
    text = BASE + "  key_pair: a\n  command: ./x\nparams:\n  - {name: r, key_name: b}\n  - {name: s}\n"
    assert [row[1] for row in _settings(check, text)] == ["b", "a"]


def test_a_wrong_value_under_spawns_spelling_points_at_that_value(check: CheckSweep) -> None:
    checked = check(BASE + "  key_pair: 5\n  command: ./x\nparams:\n  - {name: a}\n")
    assert [(d.code, d.span.line, d.span.col) for d in checked.diagnostics if d.is_error] == [("bad-value", 6, 13)]


@pytest.mark.parametrize("key", ["hibernate", "cost_limit", "session_timeout", "completion_file", "keypair", "iam_profile"])
def test_keys_spawn_has_and_we_do_not_stay_errors(check: CheckSweep, key: str) -> None:
    checked = check(BASE + f"  command: ./x\nparams:\n  - {{name: a, {key}: x}}\n")
    assert [(d.code, d.message) for d in checked.diagnostics if d.is_error] == [("unknown-setting", f"'{key}' in params[0] is not a setting")]
