"""CSV sweep files: a header row of names, then one run per row."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spawn_tf import contract
from spawn_tf.load.document import LONG_VALUE_HINT, MAP, MAX_NUMBER_CHARS, NULL, SEQ, STR, Lines, LoadError
from spawn_tf.load.limits import MANY_KEYS_HINT, MANY_VALUES_HINT
from spawn_tf.load.yaml_reader import plain_tag, yaml_scalar

# place (errors point at the cell) and whether it was quoted: an unquoted cell is trimmed and,
# when empty, means the run has no such parameter; a quoted cell is kept exactly (README, "Sweep files").

_CSV_NEVER_TYPED = frozenset({"name"})  # a run name like 007 stays text
_CSV_QUOTED = re.compile(r'"((?:[^"]*"")*[^"]*)"')  # runs of [^"] matched whole: fast on long cells
_CSV_PLAIN = re.compile(r"[^,\r\n]*")
_CSV_BREAK = re.compile(r"\r\n|\r|\n")


def _csv_typed(text: str) -> Any:
    """A CSV cell's text typed like a YAML plain value (so `true` and `0.1` mean what they mean there)."""
    return text if len(text) > MAX_NUMBER_CHARS else _csv_typed_short(text)


@lru_cache(maxsize=65536)  # CSV columns repeat their values (equal values may be one object); short texts only
def _csv_typed_short(text: str) -> Any:
    tag = plain_tag(text)
    if tag in (STR, NULL):  # `null` in a cell is the text null
        return text
    mark = yaml.Mark("csv", 0, 0, 0, None, None)
    try:
        return yaml_scalar(ScalarNode(tag, text, mark, mark))
    except LoadError:  # `.nan`, `1e999`: text
        return text


class _CsvRow(NamedTuple):
    start: int  # offset of its first character
    end: int  # offset just past its last cell
    cells: list[str | None]  # unquoted cells trimmed, None when empty; quoted cells as written


def _csv_rows(text: str, lines: Lines) -> Iterator[_CsvRow]:
    """The rows of a CSV text that hold something (blank rows are skipped; a quoted "" is not blank).

    A line without quotes is split in one go; a line with quotes is read cell by cell.
    """
    i, size, search, find = 0, len(text), _CSV_BREAK.search, text.find
    while i < size:
        line_break = search(text, i)
        end = line_break.start() if line_break else size
        if find('"', i, end) < 0:
            line = text[i:end]
            if end - i > contract.MAX_VALUE_CHARS:  # a row this long may hold a cell that long: find it
                _csv_cells(text, i, lines, [])
            if line.replace(",", "").strip():
                yield _CsvRow(i, end, [cell.strip() or None for cell in line.split(",")])
        else:
            cells, end = _csv_cells(text, i, lines, [])
            line_break = _CSV_BREAK.match(text, end)
            if any(cell is not None for cell in cells):
                yield _CsvRow(i, end, cells)
        i = line_break.end() if line_break else size


def _csv_cells(text: str, i: int, lines: Lines, offsets: list[int]) -> tuple[list[str | None], int]:
    """The cells of the row at `i`, one by one (quotes, cells spanning lines), their offsets in `offsets`; and where the row ends."""
    size, cells = len(text), []
    while True:
        quoted = text.startswith('"', i)
        if quoted:
            match = _CSV_QUOTED.match(text, i)
            if match is None:
                raise _csv_error("a quoted cell has no closing '\"'", lines, i, 'double a quote inside a quoted cell: ""')
            end = match.end()
            if end < size and text[end] not in ",\r\n":
                raise _csv_error("text after a quoted cell's closing '\"'", lines, end,
                                 'quote the whole cell, and double quotes inside it: "say ""hi"""')  # fmt: skip
            cell: str | None = match.group(1).replace('""', '"')
        else:
            end = _CSV_PLAIN.match(text, i).end()
            cell = text[i:end].strip() or None
        if end - i > contract.MAX_VALUE_CHARS:
            raise _csv_error(
                f"a cell of {end - i} characters, more than the limit of {contract.MAX_VALUE_CHARS}", lines, i, LONG_VALUE_HINT
            )
        cells.append(cell)
        # An unquoted cell is placed at its text, after the spaces trimmed off.
        offsets.append(i if quoted or cell is None or not text[i].isspace() else text.index(cell[0], i))
        i = end
        if i < size and text[i] == ",":
            i += 1
            continue
        return cells, i


def _csv_error(message: str, lines: Lines, index: int, hint: str | None = None) -> LoadError:
    return LoadError("csv-syntax", message, *lines.of(index), hint)


def _csv_offsets(text: str, row: _CsvRow, lines: Lines) -> list[int]:
    offsets: list[int] = []
    _csv_cells(text, row.start, lines, offsets)
    return offsets


def load_csv(text: str) -> tuple[Any, Callable[[], Node], Lines | None]:
    lines = Lines(text)
    rows = _csv_rows(text, lines)
    header_row = next(rows, None)
    if header_row is None:
        raise LoadError("empty-document", "the CSV file is empty", 1, 1, hint="the first row names the columns")
    header = _csv_header(text, header_row, lines)
    kept: list[_CsvRow] = []
    for row in rows:  # the limits first: no value is built for a file over one
        if len(kept) == contract.MAX_RUNS:
            raise LoadError("too-many-runs", f"more than {contract.MAX_RUNS} rows, the limit of runs in a sweep", *lines.of(row.start),
                             hint="split it into several sweeps")  # fmt: skip
        if (len(kept) + 1) * len(header) > contract.MAX_CSV_CELLS:
            raise LoadError("too-many-values", f"the file holds more than {contract.MAX_CSV_CELLS} cells", *lines.of(row.start),
                             hint=MANY_VALUES_HINT)  # fmt: skip
        kept.append(row)
    for row in kept:
        if len(row.cells) != len(header):
            raise _row_length_error(text, row, len(header), lines)
    never_typed = [name in _CSV_NEVER_TYPED for name in header]
    params = [{name: cell if as_text else _csv_typed(cell)
               for name, cell, as_text in zip(header, row.cells, never_typed, strict=True) if cell is not None}
              for row in kept]  # fmt: skip

    def tree() -> Node:
        def scalar(index: int, text: str) -> Node:
            mark = yaml.Mark("csv", index, 0, 0, None, None)
            return ScalarNode(STR, text, mark, mark)

        runs: list[Node] = []
        for row in kept:
            cells = zip(header, row.cells, _csv_offsets(text, row, lines), strict=True)
            pairs = [(scalar(at, name), scalar(at, name)) for name, cell, at in cells if cell is not None]
            mark = yaml.Mark("csv", row.start, 0, 0, None, None)
            runs.append(MappingNode(MAP, pairs, mark, mark))
        top = scalar(header_row.start, "params")
        return MappingNode(MAP, [(top, SequenceNode(SEQ, runs, top.start_mark, top.start_mark))], top.start_mark, top.start_mark)

    return {"params": params}, tree, lines


def _csv_header(text: str, row: _CsvRow, lines: Lines) -> list[str]:
    header: list[str] = []
    for col, name in enumerate(row.cells):
        if col == contract.MAX_RUN_KEYS:
            raise LoadError("too-many-keys", f"more than {contract.MAX_RUN_KEYS} columns, the limit of a run's settings and parameters",
                             *lines.of(_csv_offsets(text, row, lines)[col]), hint=MANY_KEYS_HINT)  # fmt: skip
        if not name:
            raise LoadError("csv-syntax", f"column {col + 1} of the header row has no name", *lines.of(_csv_offsets(text, row, lines)[col]))
        if name in header:
            raise LoadError("duplicate-key", f"duplicate column '{name}'", *lines.of(_csv_offsets(text, row, lines)[col]))
        header.append(name)
    return header


def _row_length_error(text: str, row: _CsvRow, columns: int, lines: Lines) -> LoadError:
    """Too few cells: placed where the row ends; too many: at the first extra cell."""
    found = len(row.cells)
    if found < columns:
        return LoadError("csv-syntax", f"this row has {found} cell{'' if found == 1 else 's'} but the header has {columns} columns",
                          *lines.of(row.end), hint="add the missing cells; an empty cell (',,') means the run has no such parameter")  # fmt: skip
    return LoadError("csv-syntax", f"this row has {found} cells but the header has {columns} column{'' if columns == 1 else 's'}",
                      *lines.of(_csv_offsets(text, row, lines)[columns]), hint='quote a cell that holds a comma: "a,b"')  # fmt: skip
