"""Read a sweep file (YAML, JSON or CSV) into plain data, with source positions kept beside it.

The only stage that reads files. YAML follows the 1.2 core schema (`yes`, `on` and `NO` stay
strings; `1e-4` is a number), plus merge keys. Numbers keep the text they were written with,
so a parameter is exported exactly as written (DESIGN §2).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spawn_tf import contract
from spawn_tf.diagnostics import Diagnostic, Span, error

PathItem = str | int
DataPath = tuple[PathItem, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class _Written:
    """A number that remembers how it was written; str() and format() give that text back."""

    source: str

    def __str__(self) -> str:
        return self.source

    def __format__(self, spec: str) -> str:
        return self.source if not spec else super().__format__(spec)


class SourceInt(_Written, int):
    """An integer as written (`0x10`, `007`)."""

    def __new__(cls, value: int, source: str) -> SourceInt:
        self = super().__new__(cls, value)
        self.source = source
        return self


class SourceFloat(_Written, float):
    """A float as written (`1e-4`, `0.10`)."""

    def __new__(cls, value: float, source: str) -> SourceFloat:
        self = super().__new__(cls, value)
        self.source = source
        return self


class Positions:
    """Source positions of one document, looked up by data path; built on first use.

    Positions are needed only to report problems, so the fast path never pays for them
    (JSON and CSV are re-scanned on demand; YAML keeps the node tree it was built from).
    """

    def __init__(self, file: str, build: Callable[[], Node], lines: _Lines | None = None) -> None:
        self._file = file
        self._build = build
        self._lines = lines  # for marks whose line numbers are libyaml's
        self._root: Node | None = None

    def span(self, path: DataPath, *, key: bool = False) -> Span:
        """Where the value at `path` starts, or its key when `key` is true.

        A path that leads nowhere (a value added by a default) gives the deepest place found.
        """
        if self._root is None:
            self._root = self._build()
        node, key_node = self._root, None
        for item in path:
            found = _child(node, item)
            if found is None:
                break
            key_node, node = found
        mark = (key_node if key and key_node is not None else node).start_mark
        line, col = self._lines.of(mark.index) if self._lines else (mark.line + 1, mark.column + 1)
        return Span(file=self._file, line=line, col=col)


class _Lines:
    """Line and column of a character offset, counting only '\\n' as a line break, as editors do.

    libyaml also breaks lines at '\\r', NEL, U+2028 and U+2029, so its own line numbers drift
    from what a user sees when a value holds one of those.
    """

    def __init__(self, text: str) -> None:
        self.starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def of(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index) - 1
        return line + 1, index - self.starts[line] + 1


def _child(node: Node, item: PathItem) -> tuple[Node | None, Node] | None:
    if isinstance(node, SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
        return None, node.value[item]
    if isinstance(node, MappingNode):
        merged: list[Node] = []
        for key_node, value_node in reversed(node.value):
            if key_node.tag == _MERGE:
                merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
            elif isinstance(key_node, ScalarNode) and key_node.value == item:
                return key_node, value_node
        for source in reversed(merged):
            found = _child(source, item)
            if found is not None:
                return found
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A loaded sweep file: its data (plain dicts, lists and scalars) and where each value came from."""

    file: str  # the path as the user gave it, for messages
    stem: str  # the file name without its suffix: the default sweep id
    name: str  # the file name, without folders (compiled output names no absolute paths)
    sha256: str  # of the file's bytes, recorded in the compiled manifest
    data: dict[str, Any]
    positions: Positions

    def span(self, path: DataPath, *, key: bool = False) -> Span:
        return self.positions.span(path, key=key)


class _LoadError(Exception):
    def __init__(self, code: str, message: str, line: int, col: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.col, self.hint = code, message, line, col, hint
        self.index = 0  # character offset, where a YAML node gave one


# --- YAML ------------------------------------------------------------------------------------


# YAML 1.2 core schema: which tag a plain (unquoted) scalar gets from its text alone.
_PLAIN_TYPES = (
    (_BOOL, re.compile(r"true|True|TRUE|false|False|FALSE")),
    (_INT, re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")),
    (_FLOAT, re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")),
    (_NULL, re.compile(r"~|null|Null|NULL|")),
    (_MERGE, re.compile(r"<<")),
)


@lru_cache(maxsize=65536)  # sweep files repeat keys and values thousands of times
def _plain_tag(text: str) -> str:
    return next((tag for tag, pattern in _PLAIN_TYPES if pattern.fullmatch(text)), _STR)


class _Yaml12Loader(yaml.CSafeLoader):
    """libyaml's parser and composer with the YAML 1.2 core schema's implicit types."""

    def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _plain_tag(value) if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP


_BOOLS = {"true": True, "false": False}


# libyaml's words for the usual slips, and what to look at.
_YAML_HINTS = (
    ("mapping values are not allowed", "check the indentation of this line against the lines above it; quote values that contain ': '"),
    ("could not find expected ':'", "a key needs ': ' after it; check the line above too"),
    ("found character '\\t'", "YAML indents with spaces, not tabs"),
    ("found undefined alias", "define the anchor (&name) before using it (*name)"),
)


class _Builder:
    """Builds plain data from a composed YAML node tree (no per-value positions: they stay in the tree)."""

    def __init__(self, aliases: bool) -> None:
        self._aliases = aliases  # without anchors in the text no node can be reached twice
        self._seen: set[int] = set()
        self._copies = 0

    def build(self, node: Node, depth: int = 0) -> Any:
        if depth > contract.MAX_NESTING:
            raise _mark_error("too-deep", f"values nested deeper than {contract.MAX_NESTING} levels", node)
        if self._aliases:
            self._count_copies(node)
        if type(node) is ScalarNode:
            return _scalar(node)
        if type(node) is SequenceNode:
            if node.tag != _SEQ:
                raise _unsupported_tag(node)
            return [self.build(item, depth + 1) for item in node.value]
        if node.tag != _MAP:
            raise _unsupported_tag(node)
        return self._mapping(node, depth)

    def _count_copies(self, node: Node) -> None:
        if id(node) not in self._seen:
            self._seen.add(id(node))
            return
        self._copies += 1
        # Reuse that grows with the file is fine (an anchor merged into every run); growth without it is a bomb.
        if self._copies > contract.MAX_YAML_ALIAS_EXPANSION + 10 * len(self._seen):
            raise _mark_error(
                "alias-bomb",
                f"YAML aliases expand to more than {contract.MAX_YAML_ALIAS_EXPANSION} values",
                node,
                hint="aliases that refer to aliases multiply; write the values out",
            )

    def _mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.extend(value_node.value if type(value_node) is SequenceNode else [value_node])
                continue
            if type(key_node) is not ScalarNode:
                raise _mark_error("complex-key", "a key must be a plain value, not a list or a mapping", key_node)
            key = key_node.value
            if key in result:
                raise _mark_error("duplicate-key", f"duplicate key '{key}'", key_node, hint="each key may appear once in a mapping")
            result[key] = self.build(value_node, depth + 1)
        for source in merges:  # explicit keys win; among merged mappings the first wins (YAML merge keys)
            merged = self.build(source, depth + 1)
            if not isinstance(merged, dict):
                raise _mark_error("bad-merge", "'<<' merges mappings only", source)
            for key, value in merged.items():
                result.setdefault(key, value)
        return result


# Explicit tags (`!!int 7`) and the plain texts each accepts.
_TYPED = {_INT: (_INT,), _FLOAT: (_FLOAT, _INT), _BOOL: (_BOOL,), _NULL: (_NULL,)}
MAX_NUMBER_CHARS = 100  # Python refuses to parse integers of over 4300 digits; no setting needs 100
_LONG_NUMBER_HINT = f"numbers have at most {MAX_NUMBER_CHARS} characters; quote it to pass it as text"


def _scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _STR:
        return text
    if tag in _TYPED and _plain_tag(text) not in _TYPED[tag]:  # an explicit tag on text of another type
        raise _mark_error("bad-tagged-value", f"'{text}' is not a valid {tag.rsplit(':', 1)[-1]}", node, hint="remove the tag")
    if tag in (_INT, _FLOAT):
        return _number(node)
    if tag == _BOOL:
        return _BOOLS[text.lower()]
    if tag == _NULL:
        return None
    raise _unsupported_tag(node)


def _number(node: ScalarNode) -> SourceInt | SourceFloat:
    text = node.value
    if _plain_tag(text) == _INT:
        if len(text) > MAX_NUMBER_CHARS:
            raise _mark_error("number-too-long", f"a number of {len(text)} characters is too long", node, hint=_LONG_NUMBER_HINT)
        base = 16 if text.startswith("0x") else 8 if text.startswith("0o") else 10
        whole = int(text[2:] if base != 10 else text, base)
        return SourceInt(whole, text) if node.tag == _INT else SourceFloat(float(whole), text)
    body = text.lstrip("+-")
    if body.startswith(".") and not body[1:2].isdigit():  # .inf, .nan and their spellings
        raise _mark_error("non-finite-number", f"'{text}' is not a finite number", node)
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise _mark_error("non-finite-number", f"'{text}' is not a finite number", node)
    return SourceFloat(value, text)


def _unsupported_tag(node: Node) -> _LoadError:
    return _mark_error("unsupported-tag", f"unsupported YAML tag '{node.tag}'", node, hint="remove the tag; sweep files hold plain values")


def _mark_error(code: str, message: str, node: Node, hint: str | None = None) -> _LoadError:
    problem = _LoadError(code, message, node.start_mark.line + 1, node.start_mark.column + 1, hint)
    problem.index = node.start_mark.index
    return problem


def _load_yaml(text: str) -> tuple[Any, Callable[[], Node], _Lines | None]:
    lines = _Lines(text)
    loader = _Yaml12Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        line, col = lines.of((exc.problem_mark or exc.context_mark).index)
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        if "expected a single document" in message:
            raise _LoadError(
                "multiple-documents",
                "a sweep file holds one YAML document, found more",
                line,
                col,
                hint="split the documents into separate files",
            ) from None
        hint = next((h for problem, h in _YAML_HINTS if problem in message), None)
        raise _LoadError("yaml-syntax", message, line, col, hint) from None
    except yaml.YAMLError as exc:  # reader errors (control characters) carry a position too
        raise _LoadError("yaml-syntax", str(exc).splitlines()[0], 1, 1) from None
    except RecursionError:
        raise _LoadError("too-deep", "values nested too deeply to read", 1, 1) from None
    finally:
        loader.dispose()
    if root is None:
        raise _LoadError("empty-document", "the file holds no YAML document", 1, 1)
    try:
        data = _Builder(aliases="&" in text).build(root)
    except _LoadError as exc:
        exc.line, exc.col = lines.of(exc.index)
        raise
    return data, lambda: root, lines


# --- JSON ------------------------------------------------------------------------------------


def _json_number(cls: type, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise _NumberTooLong(text)
        value = convert(text)
        if not math.isfinite(value):  # 1e400
            raise _NotFinite(text)
        return cls(value, text)

    return parse


class _NumberTooLong(Exception):
    pass


class _NotFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotFinite(name)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # cheap test before looking for a lone one
_SURROGATE = re.compile("[\ud800-\udfff]")  # what is left of a \uD800 escape that is not half of a pair


def _lone_surrogate(value: Any, path: DataPath = ()) -> DataPath | None:
    """The path of the first key or text holding a lone UTF-16 surrogate (not a character)."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _SURROGATE.search(key):
            return (*path, key)
        found = _lone_surrogate(item, (*path, key))
        if found is not None:
            return found
    return None


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateJsonKey
    return result


class _DuplicateJsonKey(Exception):
    pass


def _load_json(text: str) -> tuple[Any, Callable[[], Node], _Lines | None]:
    try:
        data = json.loads(
            text,
            object_pairs_hook=_json_pairs,
            parse_float=_json_number(SourceFloat, float),
            parse_int=_json_number(SourceInt, int),
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        before = text[: exc.pos].rstrip()
        if before.endswith(",") and text[exc.pos : exc.pos + 1] in ("]", "}"):
            line, col = _line_col(text, len(before) - 1)
            raise _LoadError(
                "json-syntax", f"trailing comma before '{text[exc.pos]}'", line, col, hint="JSON allows no comma after the last item"
            ) from None
        raise _LoadError("json-syntax", exc.msg[:1].lower() + exc.msg[1:], exc.lineno, exc.colno) from None
    except _NumberTooLong as exc:
        line, col = _line_col(text, _number_at(text, str(exc)))
        raise _LoadError("number-too-long", f"a number of {len(str(exc))} characters is too long", line, col, _LONG_NUMBER_HINT) from None
    except _NotFinite as exc:  # NaN, Infinity, 1e400
        line, col = _line_col(text, _number_at(text, str(exc)))
        raise _LoadError("non-finite-number", f"'{exc}' is not a finite number", line, col) from None
    except _DuplicateJsonKey:
        _JsonTree(text).build()  # raises the located duplicate-key error
        raise
    except RecursionError:
        raise _LoadError("too-deep", "values nested too deeply to read", 1, 1) from None
    lone = _lone_surrogate(data) if _SURROGATE_ESCAPE.search(text) else None
    if lone is not None:
        span = Positions("", lambda: _JsonTree(text).build()).span(lone)
        raise _LoadError("not-text", "a \\u escape here is half of a UTF-16 pair, not a character", span.line, span.col)
    deep = _too_deep(data)
    if deep is not None:
        span = Positions("", lambda: _JsonTree(text).build()).span(deep)
        raise _LoadError("too-deep", f"values nested deeper than {contract.MAX_NESTING} levels", span.line, span.col)
    return data, lambda: _JsonTree(text).build(), None


def _too_deep(data: Any) -> DataPath | None:
    """The path of a value nested deeper than YAML's builder allows, or None (json.loads has no such limit).

    Every file is checked, so the common case walks the containers level by level without paths;
    only a file that is too deep pays for finding where.
    """
    level = [data] if type(data) in (dict, list) else []
    for _ in range(contract.MAX_NESTING + 1):
        level = [child for value in level for child in (value.values() if type(value) is dict else value) if type(child) in (dict, list)]
        if not level:
            return None
    return _deep_path(data, ())


def _deep_path(value: Any, path: DataPath) -> DataPath | None:
    """Depth-first, the path of the first container below MAX_NESTING levels of containers."""
    items = value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    for key, child in items:
        if type(child) in (dict, list):
            if len(path) >= contract.MAX_NESTING:
                return (*path, key)
            found = _deep_path(child, (*path, key))
            if found is not None:
                return found
    return None


_JSON_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|[-+0-9.eE]+|NaN|-?Infinity')


def _number_at(text: str, number: str) -> int:
    """Where a number (or NaN, Infinity) stands in JSON text, outside any string."""
    return next((match.start() for match in _JSON_TOKEN.finditer(text) if match.group() == number), 0)


def _line_col(text: str, index: int) -> tuple[int, int]:
    index = max(index, 0)
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


class _JsonTree:
    """Re-scans valid JSON into position-carrying nodes (only when a position is needed)."""

    _WS = re.compile(r"[ \t\n\r]*")
    _ATOM = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null")

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def build(self) -> Node:
        node, _ = self._value(self._WS.match(self.text, 0).end())
        return node

    def _mark(self, index: int) -> yaml.Mark:
        line = bisect.bisect_right(self.line_starts, index) - 1
        return yaml.Mark("json", index, line, index - self.line_starts[line], None, None)

    def _value(self, i: int) -> tuple[Node, int]:
        mark, char = self._mark(i), self.text[i]
        if char == "{":
            pairs: list[tuple[Node, Node]] = []
            seen: set[str] = set()
            i = self._WS.match(self.text, i + 1).end()
            while self.text[i] != "}":
                key, i = self._value(i)
                if key.value in seen:
                    raise _mark_error("duplicate-key", f"duplicate key '{key.value}'", key, hint="each key may appear once in an object")
                seen.add(key.value)
                i = self._WS.match(self.text, i).end() + 1  # the colon
                value, i = self._value(self._WS.match(self.text, i).end())
                pairs.append((key, value))
                i = self._next(i)
            return MappingNode(_MAP, pairs, mark, mark), i + 1
        if char == "[":
            items: list[Node] = []
            i = self._WS.match(self.text, i + 1).end()
            while self.text[i] != "]":
                item, i = self._value(i)
                items.append(item)
                i = self._next(i)
            return SequenceNode(_SEQ, items, mark, mark), i + 1
        if char == '"':
            value, end = json.decoder.scanstring(self.text, i + 1)
            return ScalarNode(_STR, value, mark, mark), end
        end = self._ATOM.match(self.text, i).end()
        return ScalarNode(_STR, self.text[i:end], mark, mark), end

    def _next(self, i: int) -> int:
        i = self._WS.match(self.text, i).end()
        if self.text[i] == ",":
            i = self._WS.match(self.text, i + 1).end()
        return i


# --- CSV -------------------------------------------------------------------------------------

_CSV_NEVER_TYPED = frozenset({"name"})  # a run name like 007 stays text


def _csv_value(column: str, text: str) -> Any:
    """A CSV cell, typed like a YAML plain value (so `true` and `0.1` mean what they mean there)."""
    if column in _CSV_NEVER_TYPED or len(text) > MAX_NUMBER_CHARS:
        return text
    mark = yaml.Mark("csv", 0, 0, 0, None, None)
    node = ScalarNode(_plain_tag(text), text, mark, mark)
    try:
        value = _scalar(node)
    except _LoadError:
        return text
    return text if value is None else value


def _load_csv(text: str) -> tuple[Any, Callable[[], Node], _Lines | None]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    try:
        header_at = next(i for i, row in enumerate(rows) if any(cell.strip() for cell in row))
    except StopIteration:
        raise _LoadError("empty-document", "the CSV file is empty", 1, 1, hint="the first row names the columns") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    line_of_row: list[int] = []
    for _ in reader:
        line_of_row.append(reader.line_num)
    header = _csv_header(rows[header_at], _row_line(line_of_row, header_at))
    params: list[dict[str, Any]] = []
    row_indices: list[int] = []
    for number, row in enumerate(rows[header_at + 1 :], start=header_at + 1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise _LoadError(
                "csv-syntax", f"this row has {len(row)} columns but the header has {len(header)}", _row_line(line_of_row, number), 1
            )
        params.append({name: _csv_value(name, cell.strip()) for name, cell in zip(header, row, strict=True) if cell.strip()})
        row_indices.append(number)

    def tree() -> Node:
        def scalar(line: int, text: str) -> Node:
            mark = yaml.Mark("csv", 0, line - 1, 0, None, None)
            return ScalarNode(_STR, text, mark, mark)

        header_line = _row_line(line_of_row, header_at)
        runs: list[Node] = []
        for number, row in zip(row_indices, params, strict=True):
            line = _row_line(line_of_row, number)
            pairs = [(scalar(line, key), scalar(line, key)) for key in row]
            mark = yaml.Mark("csv", 0, line - 1, 0, None, None)
            runs.append(MappingNode(_MAP, pairs, mark, mark))
        top = scalar(header_line, "params")
        return MappingNode(_MAP, [(top, SequenceNode(_SEQ, runs, top.start_mark, top.start_mark))], top.start_mark, top.start_mark)

    return {"params": params}, tree, None


def _csv_header(row: list[str], line: int) -> list[str]:
    header = [cell.strip() for cell in row]
    for col, name in enumerate(header):
        if not name:
            raise _LoadError("csv-syntax", f"column {col + 1} of the header row has no name", line, 1)
        if name in header[:col]:
            raise _LoadError("duplicate-key", f"duplicate column '{name}'", line, 1)
    return header


def _row_line(line_of_row: list[int], row: int) -> int:
    """The 1-based line a CSV row starts on (csv reports where it ends; quoted cells may span lines)."""
    return line_of_row[row - 1] + 1 if row else 1


# --- entry point -----------------------------------------------------------------------------

_READERS: dict[str, Callable[[str], tuple[Any, Callable[[], Node], _Lines | None]]] = {
    ".yaml": _load_yaml,
    ".yml": _load_yaml,
    ".json": _load_json,
    ".csv": _load_csv,
}


def load_document(path: Path, display: str | None = None) -> tuple[Document | None, tuple[Diagnostic, ...]]:
    """Read and parse a sweep file.

    Args:
        path: the file to read; its suffix picks the format.
        display: how to name the file in messages (default: `path` as given).

    Returns:
        The document, or None with the reasons it could not be read.
    """
    file = display or str(path)
    if path.suffix.lower() not in _READERS:
        return _failed(file, "unknown-format", f"cannot tell the format of '{path.name}'", line=None, hint=_FORMAT_HINT)
    try:
        size = path.stat().st_size
        if size > contract.MAX_SWEEP_FILE_BYTES:
            return _too_large(file, size)
        raw = path.read_bytes()
    except FileNotFoundError:
        return _failed(file, "file-not-found", f"no such file '{file}'", line=None)
    except OSError as exc:
        return _failed(file, "unreadable-file", f"cannot read '{file}': {exc.strerror or exc}", line=None)
    return parse_document(raw, path.name, file)


def parse_document(raw: bytes, name: str, display: str) -> tuple[Document | None, tuple[Diagnostic, ...]]:
    """Parse a sweep file's bytes (read elsewhere, e.g. from git); `name` is its file name, which picks the format."""
    reader = _READERS.get(PurePosixPath(name).suffix.lower())
    if reader is None:
        return _failed(display, "unknown-format", f"cannot tell the format of '{name}'", line=None, hint=_FORMAT_HINT)
    if len(raw) > contract.MAX_SWEEP_FILE_BYTES:
        return _too_large(display, len(raw))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return _failed(
            display, "not-utf8", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", line=line, col=col, hint="save the file as UTF-8"
        )
    try:
        data, build_tree, lines = reader(text)
    except _LoadError as exc:
        return _failed(display, exc.code, exc.message, line=exc.line, col=exc.col, hint=exc.hint)
    if not isinstance(data, dict):
        found = "nothing" if data is None else type(data).__name__.replace("dict", "mapping")
        return _failed(display, "not-a-mapping", f"a sweep file must be a mapping of keys, found {found}",
                       hint="start with 'defaults:' and 'params:'")  # fmt: skip
    document = Document(
        file=display,
        stem=PurePosixPath(name).stem,
        name=name,
        sha256=hashlib.sha256(raw).hexdigest(),
        data=data,
        positions=Positions(display, build_tree, lines),
    )
    return document, ()


_FORMAT_HINT = "name the file *.yaml, *.yml, *.json or *.csv"


def _failed(
    file: str, code: str, message: str, *, line: int | None = 1, col: int = 1, hint: str | None = None
) -> tuple[None, tuple[Diagnostic, ...]]:
    span = Span(file=file, line=line, col=col) if line is not None else None
    return None, (error(code, message, span, hint),)


def _too_large(file: str, size: int) -> tuple[None, tuple[Diagnostic, ...]]:
    return _failed(file, "file-too-large", f"the file is {size} bytes, more than the limit of {contract.MAX_SWEEP_FILE_BYTES}",
                   hint="use grid: or random: to generate runs instead of listing them")  # fmt: skip
