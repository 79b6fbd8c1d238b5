"""JSON sweep files: numbers kept as written, duplicate keys and non-finite numbers refused, positions found by a re-scan."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spawn_tf import contract
from spawn_tf.load.document import (
    LONG_NUMBER_HINT,
    LONG_VALUE_HINT,
    MAP,
    MAX_NUMBER_CHARS,
    SEQ,
    STR,
    DataPath,
    Lines,
    LoadError,
    Positions,
    SourceFloat,
    SourceInt,
    line_col,
    mark_error,
)
from spawn_tf.load.limits import COUNT_FIRST_ABOVE, ValueCounter, too_many_values

_JSON_VALUE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[^\s,:\[\]{}"]+')  # a string (key or value), a container, a number or word
_JSON_TOKEN_SCAN = re.compile(_JSON_VALUE.pattern + r"|[\]}]")


def _json_value_bound(text: str) -> int:
    """At least the number of values in a JSON text: two per ':' (key and value), one per ',' and '['."""
    return 2 * text.count(":") + text.count(",") + text.count("[") + 1


def _check_json_count(text: str, lines: Lines) -> None:
    """Counts the values of a JSON text in C, without building them; json.loads and its hooks check the rest."""
    if _JSON_VALUE.subn("", text)[1] > contract.MAX_DOCUMENT_VALUES:
        first_extra = next(itertools.islice(_JSON_VALUE.finditer(text), contract.MAX_DOCUMENT_VALUES, None))
        raise too_many_values(*lines.of(first_extra.start()))


def _check_json_counts(text: str, lines: Lines) -> None:
    """Scans the JSON tokens (no values are built) and stops at the first limit passed; syntax is json.loads's to report."""
    counter = ValueCounter(lines)
    for match in _JSON_TOKEN_SCAN.finditer(text):
        first = match.group()[0]
        if first in "]}":
            if counter.open:
                counter.close()
            continue
        container = None if first not in "[{" else first == "{"
        counter.value(match.start(), container, match.group()[1:-1] if first == '"' else None)


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


def load_json(text: str) -> tuple[Any, Callable[[], Node], Lines | None]:
    if _json_value_bound(text) > COUNT_FIRST_ABOVE:
        _check_json_count(text, Lines(text))
    data = _parse_json(text)
    if _LONG_RUN.search(text.replace('\\"', "_")):  # only then can a text value be that long (an escaped quote is one character): find it
        long = _long_text(data)
        if long is not None:
            span = Positions("", lambda: _JsonTree(text).build()).span(long[0])
            raise LoadError("value-too-long", f"a value of {long[1]} characters, more than the limit of {contract.MAX_VALUE_CHARS}",
                             span.line, span.col, LONG_VALUE_HINT)  # fmt: skip
    lone = _lone_surrogate(data) if _SURROGATE_ESCAPE.search(text) else None
    if lone is not None:
        span = Positions("", lambda: _JsonTree(text).build()).span(lone)
        raise LoadError("not-text", "a \\u escape here is half of a UTF-16 pair, not a character", span.line, span.col)
    deep = _too_deep(data)
    if deep is not None:
        span = Positions("", lambda: _JsonTree(text).build()).span(deep)
        raise LoadError("too-deep", f"values nested deeper than {contract.MAX_NESTING} levels", span.line, span.col)
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
            line, col = line_col(text, len(before) - 1)
            raise LoadError(
                "json-syntax", f"trailing comma before '{text[exc.pos]}'", line, col, hint="JSON allows no comma after the last item"
            ) from None
        raise LoadError("json-syntax", exc.msg[:1].lower() + exc.msg[1:], exc.lineno, exc.colno) from None
    except _NumberTooLong as exc:
        line, col = line_col(text, _number_at(text, str(exc)))
        raise LoadError("number-too-long", f"a number of {len(str(exc))} characters is too long", line, col, LONG_NUMBER_HINT) from None
    except _NotFinite as exc:  # NaN, Infinity, 1e400
        line, col = line_col(text, _number_at(text, str(exc)))
        raise LoadError("non-finite-number", f"'{exc}' is not a finite number", line, col) from None
    except _DuplicateJsonKey:
        _JsonTree(text).build()  # raises the located duplicate-key error
        raise
    except _TooManyJsonKeys:
        _check_json_counts(text, Lines(text))  # raises the located error
        raise
    except RecursionError:
        raise LoadError("too-deep", "values nested too deeply to read", 1, 1) from None


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


class _JsonTree:
    """Re-scans valid JSON into position-carrying nodes (only when a position is needed)."""

    _WS = re.compile(r"[ \t\n\r]*")
    _ATOM = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null")

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = Lines(text)

    def build(self) -> Node:
        node, _ = self._value(self._WS.match(self.text, 0).end())
        return node

    def _mark(self, index: int) -> yaml.Mark:
        line, col = self.lines.of(index)
        return yaml.Mark("json", index, line - 1, col - 1, None, None)

    def _value(self, i: int) -> tuple[Node, int]:
        mark, char = self._mark(i), self.text[i]
        if char == "{":
            pairs: list[tuple[Node, Node]] = []
            seen: set[str] = set()
            i = self._WS.match(self.text, i + 1).end()
            while self.text[i] != "}":
                key, i = self._value(i)
                if key.value in seen:
                    raise mark_error("duplicate-key", f"duplicate key '{key.value}'", key, hint="each key may appear once in an object")
                seen.add(key.value)
                i = self._WS.match(self.text, i).end() + 1  # the colon
                value, i = self._value(self._WS.match(self.text, i).end())
                pairs.append((key, value))
                i = self._next(i)
            return MappingNode(MAP, pairs, mark, mark), i + 1
        if char == "[":
            items: list[Node] = []
            i = self._WS.match(self.text, i + 1).end()
            while self.text[i] != "]":
                item, i = self._value(i)
                items.append(item)
                i = self._next(i)
            return SequenceNode(SEQ, items, mark, mark), i + 1
        if char == '"':
            value, end = json.decoder.scanstring(self.text, i + 1)
            return ScalarNode(STR, value, mark, mark), end
        end = self._ATOM.match(self.text, i).end()
        return ScalarNode(STR, self.text[i:end], mark, mark), end

    def _next(self, i: int) -> int:
        i = self._WS.match(self.text, i).end()
        if self.text[i] == ",":
            i = self._WS.match(self.text, i + 1).end()
        return i


# --- CSV -------------------------------------------------------------------------------------
#
# RFC 4180 with the csv module's leniency (a '"' inside an unquoted cell is a character; rows end
