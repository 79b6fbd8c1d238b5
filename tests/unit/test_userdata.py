from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_helpers import QUIET_DEFAULTS, CheckSweep

from spawn_tf.userdata import raw_sizes, run_exports, shquote, user_data

HOSTILE = [
    "",
    "it's",
    'say "hi"',
    "$(rm -rf /)",
    "`id`",
    "a;b",
    "line1\nline2",
    "-n",
    "--",
    "ünïcödé ✓",
    "${HOME}",
    "%{x}",
    "\\",
    "'\"'\"'",
    " spaced  ",
]


def _bash_echo(value: str) -> str:
    result = subprocess.run(["bash", "-c", f"printf %s {shquote(value)}"], capture_output=True, check=True)
    return result.stdout.decode()


def test_shquote_hostile_values_reach_bash_byte_for_byte() -> None:
    script = "".join(f"printf '%s\\0' {shquote(value)}\n" for value in HOSTILE)
    result = subprocess.run(["bash", "-c", script], capture_output=True, check=True)
    assert result.stdout.decode().split("\0")[:-1] == HOSTILE


@settings(max_examples=50)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
def test_shquote_round_trips_through_bash(value: str) -> None:
    assert _bash_echo(value) == value


def test_exports_and_raw_sizes_match_each_runs_own_user_data(check: CheckSweep) -> None:
    """`exports` and `raw_sizes` share lines and sizes between runs with the same settings; each run's are still its own."""
    checked = check(QUIET_DEFAULTS + "name_template: r-{index}\ngrid:\n  word: [plain, 'héllo', \"it's\"]\n  ttl: [1h, 2h]\n"
                    "params:\n  - {name: p, word: x, ttl: 3h, user_data: \"#!/bin/bash\\necho é\\n\"}\n")  # fmt: skip
    assert checked.runs is not None and checked.plan is not None, [d.render() for d in checked.diagnostics]
    assert checked.exports == {run.name: run_exports(run, {}) for run in checked.runs}
    for root in checked.plan.roots:
        assert raw_sizes(checked.plan, root, checked.exports) == {run.name: len(user_data(checked.plan, run).encode()) for run in root.runs}
