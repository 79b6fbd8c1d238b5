"""spawn_tf/load/yaml_reader.py: YAML 1.2 core types, merge keys, libyaml's slips named."""

from __future__ import annotations

import pytest
from sweep_helpers import CheckSweep, WriteSweep, codes

from spawn_tf.load import SourceFloat, SourceInt, load_document


def test_load_yaml_12_core_types_keep_source_text(write_sweep: WriteSweep) -> None:
    path = write_sweep("a: 1e-4\nb: 0.10\nc: 007\nd: yes\ne: NO\nf: true\ng: 0x1F\nh: 2026-01-27\ni: ~\n")
    document, diagnostics = load_document(path)
    assert diagnostics == ()
    assert document is not None
    data = document.data
    assert isinstance(data["a"], SourceFloat) and data["a"] == 0.0001 and data["a"].source == "1e-4"
    assert data["b"].source == "0.10"
    assert isinstance(data["c"], SourceInt) and data["c"] == 7 and data["c"].source == "007"
    assert data["d"] == "yes" and data["e"] == "NO"  # YAML 1.2: no Norway problem
    assert data["f"] is True
    assert data["g"] == 31
    assert data["h"] == "2026-01-27"  # no implicit dates
    assert data["i"] is None


def test_load_yaml_merge_keys_explicit_wins(write_sweep: WriteSweep) -> None:
    path = write_sweep("base: &base {ttl: 2h, spot: true}\ndefaults:\n  <<: *base\n  ttl: 4h\n")
    document, _ = load_document(path)
    assert document is not None
    assert document.data["defaults"] == {"ttl": "4h", "spot": True}
    assert document.span(("defaults", "spot")).line == 1  # found through the merge


@pytest.mark.parametrize(
    ("text", "place"),
    [("a:\n\tb: 1\n", (2, 1)), ("params:\n  - a: 1\n\t  b: 2\n", (3, 1)), ("a:\n  b: 1\n  \tc: 2\n", (3, 3))],
)
def test_load_yaml_tab_in_indentation_is_named(check: CheckSweep, text: str, place: tuple[int, int]) -> None:
    checked = check(text)
    assert codes(checked) == [("yaml-syntax", *place)]
    assert checked.diagnostics[0].message == "a tab in indentation; YAML indents with spaces"
    assert checked.diagnostics[0].hint == "replace the tab with spaces"
