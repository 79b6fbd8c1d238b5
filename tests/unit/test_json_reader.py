"""spawn_tf/load/json_reader.py: JSON sweep files, numbers kept as written, problems placed by a re-scan."""

from __future__ import annotations

from sweep_helpers import CheckSweep, WriteSweep, codes

from spawn_tf.load import load_document


def test_load_json_keeps_number_text_and_positions(write_sweep: WriteSweep) -> None:
    path = write_sweep('{\n  "params": [\n    {"name": "a", "lr": 1E-4}\n  ]\n}\n', "s.json")
    document, diagnostics = load_document(path)
    assert diagnostics == ()
    assert document is not None
    assert document.data["params"][0]["lr"].source == "1E-4"
    span = document.span(("params", 0, "lr"))
    assert (span.line, span.col) == (3, 25)


def test_load_json_bad_number_is_located_outside_strings(check: CheckSweep) -> None:
    text = '{"sweep": "x",\n "defaults": {"note": "1e400"},\n "params": [{"name": "a", "v": 1e400}]}\n'
    assert codes(check(text, "x.json")) == [("non-finite-number", 3, 32)]
