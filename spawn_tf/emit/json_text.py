"""The one JSON serializer of compiled output, pretty and deterministic, at the C encoder's speed."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise, repeat
from json.encoder import encode_basestring as json_string  # the C version where there is one
from types import NoneType
from typing import Any


def dump_json(document: Any) -> bytes:
    """The one JSON serializer of compiled output: sorted keys, 2-space indent, UTF-8, final newline.

    Byte for byte `json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)`
    (a test holds it to that), written out by hand: with `indent`, the standard library falls back
    from its C encoder to a generator-based one that took half of compiling 10,000 runs.
    """
    parts: list[str] = []
    _encode(document, "\n", parts)
    parts.append("\n")
    return "".join(parts).encode()


def dump_json_chunks(document: Mapping[str, Any], items_per_chunk: int = 1000) -> Iterator[bytes]:
    """`dump_json(document)` in pieces of at most `items_per_chunk` items of each top-level list.

    For sweep.json: 100,000 runs' records are written on as they are encoded, not held as one text.
    """
    separator = "{\n  "
    for key in sorted(document):
        parts = [separator, json_string(key), ": "]
        value = document[key]
        if isinstance(value, list | tuple | EncodedItems) and value:
            item_separator = "[" + ITEM_NEWLINE
            for start in range(0, len(value), items_per_chunk):
                parts.append(item_separator)
                _encode_items(value[start : start + items_per_chunk], ITEM_NEWLINE, parts)
                item_separator = "," + ITEM_NEWLINE
                yield "".join(parts).encode()
                parts = []
            parts.append("\n  ]")
        else:
            _encode(value, "\n  ", parts)
        yield "".join(parts).encode()
        separator = ",\n  "
    yield b"{}\n" if not document else b"\n}\n"


ITEM_NEWLINE = "\n    "  # where an item of a top-level key's list starts, in dump_json and dump_json_chunks


@dataclass(frozen=True, slots=True)
class Encoded:
    """A value's JSON text made once (`encode_at`), written as it is at the indentation it was made for."""

    text: str
    newline: str  # the line break and indentation of the place it goes


@dataclass(frozen=True, slots=True)
class EncodedItems:
    """A list whose items' JSON texts were made once (`Shaped.texts`): written as that list, the texts joined as they are.

    Slices of it are lists of some of the items (`dump_json_chunks` writes a list in pieces).
    """

    texts: Sequence[str]
    newline: str  # the line break and indentation of the place its items go

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, span: slice) -> EncodedItems:
        return EncodedItems(self.texts[span], self.newline)


def encode_at(value: Any, newline: str) -> Encoded:
    """`value`'s JSON text where a line break is `newline`: one encoding can serve several documents."""
    return Encoded(_text(value, newline), newline)


Place = tuple[str, ...]  # where a value is in a mapping: its key, and the keys of the mappings it is in


class Shaped:
    """The JSON text of mappings that differ only in the values at some places: the rest is encoded
    once, and each mapping's own values are put in (a sweep's runs share their settings)."""

    def __init__(self, shared: Mapping[str, Any], own: Sequence[Place], newline: str) -> None:
        self.order = sorted(range(len(own)), key=own.__getitem__)  # dump_json's order: keys sorted at every level
        places = [own[index] for index in self.order]
        assert all(later[: len(place)] != place for place, later in pairwise(places)), "a place inside another"
        self.inners = tuple(newline + "  " * len(place) for place in places)
        parts = encode_at(_with_stand_ins(shared, places, newline), newline).text.split(_OWN)
        assert len(parts) == len(own) + 1, "an own value's stand-in in the shared text"
        self.template = "%s".join(part.replace("%", "%%") for part in parts)  # the C formatter puts the values in

    def texts(self, columns: Sequence[Sequence[Any]], count: int) -> list[str]:
        """The texts of `count` mappings, whose own values are `columns` (one a place of `own`, in its
        order, of `count` values each): made a place at a time (`_place_texts`), put in by one formatting each."""
        assert len(columns) == len(self.order) and all(len(column) == count for column in columns), "a value a mapping a place"
        placed = [_place_texts(columns[index], inner) for index, inner in zip(self.order, self.inners, strict=True)]
        return [self.template % values for values in (zip(*placed, strict=True) if placed else repeat((), count))]


def _place_texts(values: Sequence[Any], newline: str) -> list[str]:
    """The texts of the values at one place, at its indentation: mapped by the C encoder of their JSON type when
    they share one, each distinct value encoded once where a C encoder would not pay (a grid's values repeat)."""
    kinds = {_json_kind(kind) for kind in set(map(type, values))}
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind is str:
        return list(map(json_string, values))
    if kind is int:
        return list(map(int.__repr__, values))
    if kind is bool or kind is NoneType or (kind is float and 0.0 not in values):  # equal values, equal texts but for 0.0 == -0.0
        by_value = {value: _scalar(value) for value in set(values)}
        return list(map(by_value.__getitem__, values))
    by_id = dict(zip(map(id, values), values, strict=True))  # anything else: one object, one text (the values keep them alive)
    texts = {key: _text(value, newline) for key, value in by_id.items()}
    return list(map(texts.__getitem__, map(id, values)))


@functools.cache
def _json_kind(kind: type) -> type | None:
    """The JSON scalar type whose text `_scalar` gives a value of this type (subclasses as their base), or None."""
    if kind is bool or kind is NoneType:
        return kind
    return next((base for base in (int, float, str) if issubclass(kind, base)), None)


def _text(value: Any, newline: str) -> str:
    parts: list[str] = []
    _encode(value, newline, parts)
    return "".join(parts)


def _with_stand_ins(shared: Mapping[str, Any], places: Iterable[Place], newline: str) -> dict[str, Any]:
    """`shared` with `_OWN` at each place (the mappings on the way copied, or made where shared has none)."""
    document = dict(shared)
    for place in places:
        mapping = document
        for key in place[:-1]:
            inner = mapping.get(key)
            mapping[key] = mapping = dict(inner) if isinstance(inner, Mapping) else {}
        mapping[place[-1]] = Encoded(_OWN, newline + "  " * len(place))
    return document


_OWN = "\0"  # stands for an own value in the shared text: encoded JSON never holds a raw NUL


def _scalar(value: Any) -> str | None:  # noqa: PLR0911 - one return per JSON type
    """The JSON text of a scalar, or None for a container (exact types first: isinstance() against ABCs is slow)."""
    kind = type(value)
    if kind is str:
        return json_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int or (isinstance(value, int) and not isinstance(value, bool)):
        return int.__repr__(value)
    if kind is float or isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not valid JSON")
        return float.__repr__(value)
    if isinstance(value, str):
        return json_string(value)
    return None


def _encode(value: Any, newline: str, parts: list[str]) -> None:  # noqa: C901, PLR0912 - inlined for speed
    """Append the JSON text of a container (or scalar) at the given indentation; scalars inside are written inline."""
    if type(value) is Encoded:  # first: the records or run entries of a large document, each encoded once, are most of its items
        if value.newline != newline:
            raise ValueError(f"a value encoded for indentation {len(value.newline) - 1} placed at {len(newline) - 1}")
        parts.append(value.text)
        return
    text = _scalar(value)
    if text is not None:
        parts.append(text)
        return
    inner = newline + "  "
    if isinstance(value, Mapping):
        if not value:
            parts.append("{}")
            return
        separator = "{" + inner
        for key in sorted(value):
            parts.append(separator)
            parts.append(json_string(key))
            parts.append(": ")
            item = value[key]
            if type(item) is str:  # most values: skip the calls below
                parts.append(json_string(item))
            elif type(item) is Encoded and item.newline == inner:  # each run's entry in local.run_values: no call
                parts.append(item.text)
            elif (text := _scalar(item)) is not None:
                parts.append(text)
            else:
                _encode(item, inner, parts)
            separator = "," + inner
        parts.append(newline + "}")
    elif isinstance(value, list | tuple | EncodedItems):
        if not value:
            parts.append("[]")
            return
        parts.append("[" + inner)
        _encode_items(value, inner, parts)
        parts.append(newline + "]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _encode_items(items: Sequence[Any] | EncodedItems, newline: str, parts: list[str]) -> None:
    """Append the texts of a list's items (at least one), each where a line break is `newline`, comma-separated."""
    if type(items) is EncodedItems:
        if items.newline != newline:
            raise ValueError(f"items encoded for indentation {len(items.newline) - 1} placed at {len(newline) - 1}")
        parts.append(("," + newline).join(items.texts))
        return
    separator = "," + newline
    for item in items:
        if type(item) is str:
            parts.append(json_string(item))
        elif type(item) is Encoded:
            _encode(item, newline, parts)
        elif (text := _scalar(item)) is not None:
            parts.append(text)
        else:
            _encode(item, newline, parts)
        parts.append(separator)
    parts.pop()  # the separator after the last item
