from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from spawn_tf.userdata import shquote

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
