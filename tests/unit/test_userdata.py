from __future__ import annotations

import gzip
import hashlib
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


def _noise(lines: int) -> str:
    """Script lines that gzip cannot shrink much (hex digests), indented for a YAML block."""
    return "".join(f"      echo {hashlib.sha256(str(i).encode()).hexdigest()}\n" for i in range(lines))


SIZES = """\
sweep: sizes
defaults: {instance_type: m7i.large, ttl: 2h, user_data: "#!/bin/bash\\necho small\\n"}
params:
  - {name: a, region: us-east-1, note: short}
  - {name: b, region: us-east-1, note: a longer note makes b the largest of its root}
  - {name: c, region: us-west-2}
  - name: d
    region: us-west-2
    user_data: |
      #!/bin/bash
"""


def test_sizes_name_each_roots_largest_run_and_only_those_too_large(check: CheckSweep) -> None:
    """A root's sizes are gzip estimates (the agent alone is over 16 KB raw), made once per script from its first run."""
    fitting = check(SIZES + _noise(40))  # d's script: 3 KB of hex, which gzip shrinks little
    assert fitting.plan is not None and fitting.runs is not None, [d.render() for d in fitting.diagnostics]
    runs = {run.name: run for run in fitting.runs}
    raw = {name: len(user_data(fitting.plan, run).encode()) for name, run in runs.items()}
    gzipped = {name: len(gzip.compress(user_data(fitting.plan, run).encode(), mtime=0)) for name, run in runs.items()}
    east, west = fitting.sizes["us-east-1"], fitting.sizes["us-west-2"]
    assert (east.compressed, west.compressed, east.too_large, west.too_large) == (True, True, (), ())
    assert (east.largest.run.name, east.largest.size) == ("b", gzipped["a"] + raw["b"] - raw["a"])  # a's script, b's longer note
    assert (west.largest.run.name, west.largest.size) == ("d", gzipped["d"])  # c and d differ in script: each its own estimate

    too_large = check(SIZES + _noise(250))  # 18 KB of hex: over 16 KB after gzip
    east, west = too_large.sizes["us-east-1"], too_large.sizes["us-west-2"]
    assert [size.run.name for size in west.too_large] == ["d"] and west.largest == west.too_large[0]
    assert east.too_large == () and east.largest.run.name == "b"
    assert [d.code for d in too_large.diagnostics if d.severity == "error"] == ["user-data-too-large"]
