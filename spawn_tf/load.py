"""Read a sweep file (YAML, JSON or CSV) into plain data, with source positions kept beside it.

The only stage that reads files. YAML follows the 1.2 core schema (`yes`, `on` and `NO` stay
strings; `1e-4` is a number), plus merge keys. Numbers keep the text they were written with,
so a parameter is exported exactly as written (DESIGN §2).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

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

    _COUNTED = 8  # lookups answered by counting before the line starts are listed (most files need none or one)

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None  # listed on demand: a file of newlines would make it huge for nothing
        self._counted = 0

    def of(self, index: int) -> tuple[int, int]:
        if self._starts is None and self._counted < self._COUNTED:
            self._counted += 1
            return _line_col(self._text, index)
        if self._starts is None:
            self._starts = [0] + [match.end() for match in re.finditer("\n", self._text)]
        line = bisect.bisect_right(self._starts, index) - 1
        return line + 1, index - self._starts[line] + 1


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
    stem: str  # the file name without its suffix: the default sweep id is made from it
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
    ("found undefined alias", "define the anchor (&name) before using it (*name)"),
)


def _tab_problem(text: str, index: int) -> str:
    line_start = text.rfind("\n", 0, index) + 1
    if not text[line_start:index].strip(" \t"):
        return "a tab in indentation; YAML indents with spaces"
    return "a tab where YAML expects a value or a key; YAML separates with spaces"


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
        if len(node.value) > contract.MAX_RUN_KEYS:  # a file too small to be counted first (see _COUNT_FIRST_ABOVE)
            raise _mark_error("too-many-keys", f"a mapping with more than {contract.MAX_RUN_KEYS} keys", node.value[contract.MAX_RUN_KEYS][0],
                              hint=_MANY_KEYS_HINT)  # fmt: skip
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


_LONG_VALUE_HINT = "values travel in the run's user-data (16 KB); keep large data in S3 or the workdir"

# Explicit tags (`!!int 7`) and the plain texts each accepts.
_TYPED = {_INT: (_INT,), _FLOAT: (_FLOAT, _INT), _BOOL: (_BOOL,), _NULL: (_NULL,)}
MAX_NUMBER_CHARS = 100  # Python refuses to parse integers of over 4300 digits; no setting needs 100
_LONG_NUMBER_HINT = f"numbers have at most {MAX_NUMBER_CHARS} characters; quote it to pass it as text"


def _scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _STR:
        if len(text) > contract.MAX_VALUE_CHARS:
            raise _mark_error("value-too-long", f"a value of {len(text)} characters, more than the limit of {contract.MAX_VALUE_CHARS}", node,
                              hint=_LONG_VALUE_HINT)  # fmt: skip
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
    if _yaml_value_bound(text) > _COUNT_FIRST_ABOVE:
        _check_yaml_counts(text, lines)
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
        index = (exc.problem_mark or exc.context_mark).index
        if text[index : index + 1] == "\t":  # libyaml's words for a tab do not say "tab" ("found character that cannot start any token")
            raise _LoadError("yaml-syntax", _tab_problem(text, index), line, col, hint="replace the tab with spaces") from None
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


# --- limits while reading --------------------------------------------------------------------
#
# Building a value costs far more than reading past it, and a file over a limit must fail at once
# (DESIGN §9 budgets; issue: 380,000 runs took 29 s to be refused). A file that may hold more
# values than this is counted first, without building anything; below it, building is cheap
# enough and the limits are checked on what was built.
_COUNT_FIRST_ABOVE = 200_000  # about 15,000 runs of five parameters
_MANY_KEYS_HINT = "a run's settings and parameters become its environment in 16 KB of user-data; pass large data as a file"
_MANY_VALUES_HINT = "generate runs with grid: or random:, or split the sweep into several files"


def _too_many_values(line: int, col: int) -> _LoadError:
    return _LoadError("too-many-values", f"the file holds more than {contract.MAX_DOCUMENT_VALUES} values", line, col, _MANY_VALUES_HINT)


def _too_many_keys(line: int, col: int) -> _LoadError:
    return _LoadError("too-many-keys", f"a mapping with more than {contract.MAX_RUN_KEYS} keys", line, col, _MANY_KEYS_HINT)


def _too_many_runs(line: int, col: int) -> _LoadError:
    return _LoadError("too-many-runs", f"params lists more than {contract.MAX_RUNS} runs, the limit of a sweep", line, col,
                      "split it into several sweeps")  # fmt: skip


class _Counter:
    """Counts values as a reader meets them: in all, per mapping (keys), and the runs of the top-level `params`."""

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.values = 0
        self.open: list[list[Any]] = []  # per open collection: [children, is a mapping, last key, is params]

    def value(self, index: int, container: bool | None, text: str | None) -> None:
        """One value at `index`; `container` None for a scalar, else whether it is a mapping; `text` a scalar's."""
        self.values += 1
        if self.values > contract.MAX_DOCUMENT_VALUES:
            raise _too_many_values(*self.lines.of(index))
        is_params = False
        if self.open:
            top = self.open[-1]
            top[0] += 1
            if top[1]:
                if top[0] > 2 * contract.MAX_RUN_KEYS:
                    raise _too_many_keys(*self.lines.of(index))
                if top[0] % 2:
                    top[2] = text
                is_params = len(self.open) == 1 and top[2] == "params" and container is False
            elif top[3] and top[0] > contract.MAX_RUNS:
                raise _too_many_runs(*self.lines.of(index))
        if container is not None:
            self.open.append([0, container, None, is_params])

    def close(self) -> None:
        self.open.pop()


def _yaml_value_bound(text: str) -> int:
    """At least the number of nodes in a YAML text: each but the first needs one of these characters (`- `, `: `, `,`, ...)."""
    pairs = text.count(":") + text.count("?") + text.count(",") + text.count("{")
    return 2 * pairs + text.count("-") + text.count("[") + 1


def _check_yaml_counts(text: str, lines: _Lines) -> None:
    """Reads the YAML events (no nodes are built) and stops at the first limit passed."""
    counter = _Counter(lines)
    loader = _Yaml12Loader(text)
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                counter.value(event.start_mark.index, None, event.value)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                counter.value(event.start_mark.index, kind is yaml.MappingStartEvent, None)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                counter.close()
            elif kind is yaml.AliasEvent:
                counter.value(event.start_mark.index, None, None)
            elif kind is yaml.StreamEndEvent:
                return
    except yaml.YAMLError:
        return  # the parse proper reports it, with its place
    finally:
        loader.dispose()


_JSON_VALUE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[^\s,:\[\]{}"]+')  # a string (key or value), a container, a number or word
_JSON_TOKEN_SCAN = re.compile(_JSON_VALUE.pattern + r"|[\]}]")


def _json_value_bound(text: str) -> int:
    """At least the number of values in a JSON text: two per ':' (key and value), one per ',' and '['."""
    return 2 * text.count(":") + text.count(",") + text.count("[") + 1


def _check_json_count(text: str, lines: _Lines) -> None:
    """Counts the values of a JSON text in C, without building them; json.loads and its hooks check the rest."""
    if _JSON_VALUE.subn("", text)[1] > contract.MAX_DOCUMENT_VALUES:
        first_extra = next(itertools.islice(_JSON_VALUE.finditer(text), contract.MAX_DOCUMENT_VALUES, None))
        raise _too_many_values(*lines.of(first_extra.start()))


def _check_json_counts(text: str, lines: _Lines) -> None:
    """Scans the JSON tokens (no values are built) and stops at the first limit passed; syntax is json.loads's to report."""
    counter = _Counter(lines)
    for match in _JSON_TOKEN_SCAN.finditer(text):
        first = match.group()[0]
        if first in "]}":
            if counter.open:
                counter.close()
            continue
        container = None if first not in "[{" else first == "{"
        counter.value(match.start(), container, match.group()[1:-1] if first == '"' else None)


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
    if len(pairs) > contract.MAX_RUN_KEYS:
        raise _TooManyJsonKeys
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateJsonKey
    return result


class _DuplicateJsonKey(Exception):
    pass


class _TooManyJsonKeys(Exception):
    pass


def _load_json(text: str) -> tuple[Any, Callable[[], Node], _Lines | None]:
    if _json_value_bound(text) > _COUNT_FIRST_ABOVE:
        _check_json_count(text, _Lines(text))
    data = _parse_json(text)
    if _LONG_RUN.search(text.replace('\\"', "_")):  # only then can a text value be that long (an escaped quote is one character): find it
        long = _long_text(data)
        if long is not None:
            span = Positions("", lambda: _JsonTree(text).build()).span(long[0])
            raise _LoadError("value-too-long", f"a value of {long[1]} characters, more than the limit of {contract.MAX_VALUE_CHARS}",
                             span.line, span.col, _LONG_VALUE_HINT)  # fmt: skip
    lone = _lone_surrogate(data) if _SURROGATE_ESCAPE.search(text) else None
    if lone is not None:
        span = Positions("", lambda: _JsonTree(text).build()).span(lone)
        raise _LoadError("not-text", "a \\u escape here is half of a UTF-16 pair, not a character", span.line, span.col)
    deep = _too_deep(data)
    if deep is not None:
        span = Positions("", lambda: _JsonTree(text).build()).span(deep)
        raise _LoadError("too-deep", f"values nested deeper than {contract.MAX_NESTING} levels", span.line, span.col)
    return data, lambda: _JsonTree(text).build(), None


def _parse_json(text: str) -> Any:
    """json.loads with numbers as written, and its exceptions turned into located errors."""
    try:
        return json.loads(
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
    except _TooManyJsonKeys:
        _check_json_counts(text, _Lines(text))  # raises the located error
        raise
    except RecursionError:
        raise _LoadError("too-deep", "values nested too deeply to read", 1, 1) from None


_LONG_RUN = re.compile(f'[^"]{{{contract.MAX_VALUE_CHARS + 1}}}')  # as many characters as a text over the limit, with no quote


def _long_text(value: Any, path: DataPath = ()) -> tuple[DataPath, int] | None:
    """The path and length of the first text value over the limit."""
    if isinstance(value, str):
        return (path, len(value)) if len(value) > contract.MAX_VALUE_CHARS else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _long_text(item, (*path, key))
        if found is not None:
            return found
    return None


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
#
# RFC 4180 with the csv module's leniency (a '"' inside an unquoted cell is a character; rows end
# at '\n', '\r\n' or '\r'), read here rather than by the csv module so that every cell keeps its
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
    tag = _plain_tag(text)
    if tag in (_STR, _NULL):  # `null` in a cell is the text null
        return text
    mark = yaml.Mark("csv", 0, 0, 0, None, None)
    try:
        return _scalar(ScalarNode(tag, text, mark, mark))
    except _LoadError:  # `.nan`, `1e999`: text
        return text


class _CsvRow(NamedTuple):
    start: int  # offset of its first character
    end: int  # offset just past its last cell
    cells: list[str | None]  # unquoted cells trimmed, None when empty; quoted cells as written


def _csv_rows(text: str, lines: _Lines) -> Iterator[_CsvRow]:
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


def _csv_cells(text: str, i: int, lines: _Lines, offsets: list[int]) -> tuple[list[str | None], int]:
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
            raise _csv_error(f"a cell of {end - i} characters, more than the limit of {contract.MAX_VALUE_CHARS}", lines, i, _LONG_VALUE_HINT)
        cells.append(cell)
        # An unquoted cell is placed at its text, after the spaces trimmed off.
        offsets.append(i if quoted or cell is None or not text[i].isspace() else text.index(cell[0], i))
        i = end
        if i < size and text[i] == ",":
            i += 1
            continue
        return cells, i


def _csv_error(message: str, lines: _Lines, index: int, hint: str | None = None) -> _LoadError:
    return _LoadError("csv-syntax", message, *lines.of(index), hint)


def _csv_offsets(text: str, row: _CsvRow, lines: _Lines) -> list[int]:
    offsets: list[int] = []
    _csv_cells(text, row.start, lines, offsets)
    return offsets


def _load_csv(text: str) -> tuple[Any, Callable[[], Node], _Lines | None]:
    lines = _Lines(text)
    rows = _csv_rows(text, lines)
    header_row = next(rows, None)
    if header_row is None:
        raise _LoadError("empty-document", "the CSV file is empty", 1, 1, hint="the first row names the columns")
    header = _csv_header(text, header_row, lines)
    kept: list[_CsvRow] = []
    for row in rows:  # the limits first: no value is built for a file over one
        if len(kept) == contract.MAX_RUNS:
            raise _LoadError("too-many-runs", f"more than {contract.MAX_RUNS} rows, the limit of runs in a sweep", *lines.of(row.start),
                             hint="split it into several sweeps")  # fmt: skip
        if (len(kept) + 1) * len(header) > contract.MAX_CSV_CELLS:
            raise _LoadError("too-many-values", f"the file holds more than {contract.MAX_CSV_CELLS} cells", *lines.of(row.start),
                             hint=_MANY_VALUES_HINT)  # fmt: skip
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
            return ScalarNode(_STR, text, mark, mark)

        runs: list[Node] = []
        for row in kept:
            cells = zip(header, row.cells, _csv_offsets(text, row, lines), strict=True)
            pairs = [(scalar(at, name), scalar(at, name)) for name, cell, at in cells if cell is not None]
            mark = yaml.Mark("csv", row.start, 0, 0, None, None)
            runs.append(MappingNode(_MAP, pairs, mark, mark))
        top = scalar(header_row.start, "params")
        return MappingNode(_MAP, [(top, SequenceNode(_SEQ, runs, top.start_mark, top.start_mark))], top.start_mark, top.start_mark)

    return {"params": params}, tree, lines


def _csv_header(text: str, row: _CsvRow, lines: _Lines) -> list[str]:
    header: list[str] = []
    for col, name in enumerate(row.cells):
        if col == contract.MAX_RUN_KEYS:
            raise _LoadError("too-many-keys", f"more than {contract.MAX_RUN_KEYS} columns, the limit of a run's settings and parameters",
                             *lines.of(_csv_offsets(text, row, lines)[col]), hint=_MANY_KEYS_HINT)  # fmt: skip
        if not name:
            raise _LoadError("csv-syntax", f"column {col + 1} of the header row has no name", *lines.of(_csv_offsets(text, row, lines)[col]))
        if name in header:
            raise _LoadError("duplicate-key", f"duplicate column '{name}'", *lines.of(_csv_offsets(text, row, lines)[col]))
        header.append(name)
    return header


def _row_length_error(text: str, row: _CsvRow, columns: int, lines: _Lines) -> _LoadError:
    """Too few cells: placed where the row ends; too many: at the first extra cell."""
    found = len(row.cells)
    if found < columns:
        return _LoadError("csv-syntax", f"this row has {found} cell{'' if found == 1 else 's'} but the header has {columns} columns",
                          *lines.of(row.end), hint="add the missing cells; an empty cell (',,') means the run has no such parameter")  # fmt: skip
    return _LoadError("csv-syntax", f"this row has {found} cells but the header has {columns} column{'' if columns == 1 else 's'}",
                      *lines.of(_csv_offsets(text, row, lines)[columns]), hint='quote a cell that holds a comma: "a,b"')  # fmt: skip


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
        raw = read_regular_file(path, contract.MAX_SWEEP_FILE_BYTES)
    except FileNotFoundError:
        return _failed(file, "file-not-found", f"no such file '{file}'", line=None)
    except NotRegularFile as exc:
        return _failed(file, "not-a-file", f"'{file}' is {exc.kind}, not a regular file", line=None,
                       hint="give the path of a sweep file; a pipe or device is not read")  # fmt: skip
    except FileTooLarge as exc:
        return _too_large(file, exc.size)
    except OSError as exc:
        return _failed(file, "unreadable-file", f"cannot read '{file}': {exc.strerror or exc}", line=None)
    return parse_document(raw, path.name, file)


class NotRegularFile(OSError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file")
        self.kind = kind  # "a FIFO", "a character device", ...


class FileTooLarge(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, more than the limit of {limit}")
        self.size = size  # bytes: the file's size, or more than the limit when it kept growing


_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (symlinks followed) of at most `limit` bytes.

    Opened without blocking (a FIFO with no writer would block open() itself) and checked on the
    open descriptor, so a file swapped after a check is not read; a device like /dev/zero is
    never read, and nothing reads past `limit` + 1 bytes.

    Raises:
        NotRegularFile, FileTooLarge, or the OSError of open/read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file"))
        size = os.fstat(fd).st_size
        if size > limit:
            raise FileTooLarge(size, limit)
        raw = handle.read(limit + 1)
    if len(raw) > limit:  # it grew after fstat
        raise FileTooLarge(len(raw), limit)
    return raw


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
