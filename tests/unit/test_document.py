"""spawn_tf/load/document.py: line and column of an offset, numbers that keep their text, positions by data path."""

from __future__ import annotations

from sweep_helpers import WriteSweep

from spawn_tf.load import SourceFloat, SourceInt, load_document
from spawn_tf.load.document import Lines, line_col

TEXT = "ab\ncd\r\n\nx\u2028y\nlast"


def _expected(text: str, index: int) -> tuple[int, int]:
    before = text[:index].split("\n")
    return len(before), len(before[-1]) + 1


def test_line_col_counts_only_newlines() -> None:
    assert [line_col(TEXT, index) for index in range(len(TEXT) + 1)] == [_expected(TEXT, index) for index in range(len(TEXT) + 1)]
    assert line_col(TEXT, -5) == (1, 1)


def test_line_col_of_bytes_counts_bytes() -> None:
    raw = "é\nab\xff".encode("latin-1")
    assert line_col(raw, 4) == (2, 3)
    assert line_col("é\nab".encode(), 5) == (2, 3)


def test_lines_agrees_with_line_col_past_the_counted_lookups() -> None:
    lines = Lines(TEXT)
    indexes = list(range(len(TEXT) + 1)) * 2  # more lookups than are counted: the rest go through the listed line starts
    assert [lines.of(index) for index in indexes] == [line_col(TEXT, index) for index in indexes]


def test_written_numbers_format_as_written() -> None:
    assert str(SourceInt(7, "007")) == "007" and f"{SourceInt(7, '007')}" == "007" and f"{SourceInt(7, '007'):03d}" == "007"
    assert f"{SourceFloat(0.1, '0.10')}" == "0.10" and f"{SourceFloat(0.1, '0.10'):.3f}" == "0.100"


def test_document_span_follows_merges_and_falls_back_to_the_deepest_place(write_sweep: WriteSweep) -> None:
    path = write_sweep("base: &b\n  ttl: 2h\ndefaults:\n  <<: *b\n  spot: true\nparams: []\n")
    document, _ = load_document(path)
    assert document is not None
    assert (document.span(("defaults", "ttl")).line, document.span(("defaults", "ttl")).col) == (2, 8)
    assert document.span(("defaults", "spot"), key=True).col == 3
    assert document.span(("defaults", "missing")).line == 4  # the mapping itself, where a default would go
