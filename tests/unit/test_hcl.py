from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spawn_tf.contract import Market
from spawn_tf.emit.hcl import Expr, Template, escape, tf
from spawn_tf.emit.json_text import ITEM_NEWLINE, EncodedItems, Shaped, dump_json, dump_json_chunks, encode_at
from spawn_tf.load.document import SourceFloat, SourceInt

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_dump_json_equals_the_standard_library(value: object) -> None:
    expected = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    assert dump_json(value) == expected.encode()


@given(st.dictionaries(st.text(), st.lists(json_values, max_size=5) | json_values, max_size=4), st.integers(1, 3))
def test_dump_json_chunks_join_to_dump_json(document: dict[str, object], items_per_chunk: int) -> None:
    assert b"".join(dump_json_chunks(document, items_per_chunk)) == dump_json(document)


@given(st.dictionaries(st.text(), st.lists(json_values, max_size=5), max_size=4), st.integers(1, 3))
def test_items_encoded_once_read_as_the_items_themselves(document: dict[str, list[object]], items_per_chunk: int) -> None:
    encoded = {key: [encode_at(item, ITEM_NEWLINE) for item in items] for key, items in document.items()}
    assert dump_json(encoded) == dump_json(document)
    assert b"".join(dump_json_chunks(encoded, items_per_chunk)) == dump_json(document)
    as_texts = {key: EncodedItems([item.text for item in items], ITEM_NEWLINE) for key, items in encoded.items()}
    assert dump_json(as_texts) == dump_json(document)
    assert b"".join(dump_json_chunks(as_texts, items_per_chunk)) == dump_json(document)


def test_encoded_items_placed_at_another_indentation_are_refused() -> None:
    items = EncodedItems([encode_at({"a": 1}, ITEM_NEWLINE).text], ITEM_NEWLINE)
    assert dump_json({"k": items}) == dump_json({"k": [{"a": 1}]})
    with pytest.raises(ValueError, match="indentation 4 placed at 6"):
        dump_json({"k": {"inner": items}})
    with pytest.raises(ValueError, match="indentation 4 placed at 6"):
        b"".join(dump_json_chunks({"k": [items]}))
    assert dump_json({"k": EncodedItems([], ITEM_NEWLINE)}) == b'{\n  "k": []\n}\n'


places = st.lists(st.lists(st.text(max_size=3), min_size=1, max_size=3).map(tuple), max_size=5, unique=True).filter(
    lambda found: not any(a != b and b[: len(a)] == a for a in found for b in found)  # no place inside another
)


def _placed(shared: dict[str, object], own: list[tuple[str, ...]], row: list[object]) -> dict[str, object]:
    """`shared` with the row's values at the places of `own`: the mapping a shaped text stands for."""
    whole: dict[str, object] = dict(shared)
    for place, value in zip(own, row, strict=False):
        mapping = whole
        for key in place[:-1]:
            inner = mapping.get(key)
            mapping[key] = mapping = dict(inner) if isinstance(inner, dict) else {}
        mapping[place[-1]] = value
    return whole


def _columns(rows: Sequence[Sequence[object]], count: int) -> list[tuple[object, ...]]:
    """The first `count` values of each row, a tuple a place (as Shaped.texts takes them)."""
    return [tuple(row[place] for row in rows) for place in range(count)]


@given(
    st.dictionaries(st.text(max_size=3), json_values, max_size=5),
    places,
    st.lists(st.lists(json_values, min_size=5, max_size=5), min_size=1, max_size=3),
)
def test_shaped_mappings_read_as_the_mappings_themselves(
    shared: dict[str, object], own: list[tuple[str, ...]], rows: list[list[object]]
) -> None:
    shape = Shaped(shared, own, ITEM_NEWLINE)
    wholes = [encode_at(_placed(shared, own, row), ITEM_NEWLINE) for row in rows]
    assert shape.texts(_columns(rows, len(own)), len(rows)) == [whole.text for whole in wholes]


_SHARED_LIST = [1, "x"]
# The values of one place (Shaped.texts encodes a place at a time): of one JSON type, with repeats, or of several. Among
# them equal values written apart (0 0.0 -0.0 False, 1 1.0 True), numbers that remember how they were written (written
# as numbers), str subclasses, format directives, one container twice and an equal one.
_KINDS = (
    (0, 1, -5, 10**20, SourceInt(7, "007"), SourceInt(1, "01")),
    (0.0, -0.0, 1.5, 1e300, SourceFloat(1e-4, "1e-4"), SourceFloat(0.0, "0.00"), SourceFloat(-0.0, "-0.0")),
    (1.5, 2.0, SourceFloat(1e-4, "1e-4"), SourceFloat(2.0, "2.00")),
    ("%s", "%", "%%", "", "é\n", Market.SPOT),
    (True, False),
    (None,),
    (0, 0.0, -0.0, False, 1, 1.0, True, None, SourceInt(1, "01"), "%s", _SHARED_LIST, [1, "x"], {"k": _SHARED_LIST}),
)


@st.composite
def place_rows(draw: st.DrawFn) -> list[tuple[object, ...]]:
    """Rows of 5 own values, each place's drawn from one of `_KINDS`."""
    count = draw(st.integers(0, 12))
    columns = [draw(st.lists(st.sampled_from(draw(st.sampled_from(_KINDS))), min_size=count, max_size=count)) for _ in range(5)]
    return list(zip(*columns, strict=True)) if count else []


@given(
    st.dictionaries(st.sampled_from(("%", "%s", "k", "z")), st.sampled_from(("%d", "%%", 5, None)), max_size=3),
    places,
    place_rows(),
)
def test_shaped_texts_of_many_rows_read_as_the_mappings_themselves(
    shared: dict[str, object], own: list[tuple[str, ...]], rows: list[tuple[object, ...]]
) -> None:
    shape = Shaped(shared, own, ITEM_NEWLINE)
    assert shape.texts(_columns(rows, len(own)), len(rows)) == [
        encode_at(_placed(shared, own, list(row)), ITEM_NEWLINE).text for row in rows
    ]


def test_shaped_texts_write_equal_values_of_other_types_apart() -> None:
    shape = Shaped({"%s": "100%"}, [("a",), ("b",), ("c",)], ITEM_NEWLINE)
    rows = [(0.0, 1, "%d"), (-0.0, True, "%d"), (0.0, 1.0, "%"), (SourceFloat(0.0, "0.00"), SourceInt(1, "01"), None)]
    texts = shape.texts(_columns(rows, 3), len(rows))
    assert [json.loads(text) for text in texts] == [{"%s": "100%", "a": a, "b": b, "c": c} for a, b, c in rows]
    written = [[line.strip() for line in text.splitlines()[1:4]] for text in texts]
    assert written == [
        ['"%s": "100%",', '"a": 0.0,', '"b": 1,'],
        ['"%s": "100%",', '"a": -0.0,', '"b": true,'],
        ['"%s": "100%",', '"a": 0.0,', '"b": 1.0,'],
        ['"%s": "100%",', '"a": 0.0,', '"b": 1,'],
    ]


def test_shaped_texts_without_own_values_are_the_shared_text_once_a_row() -> None:
    shape = Shaped({"a": "50%"}, [], ITEM_NEWLINE)
    assert shape.texts([], 2) == [encode_at({"a": "50%"}, ITEM_NEWLINE).text] * 2
    assert shape.texts([], 0) == []


def _unescape(template: str) -> str:
    """What Terraform makes of a JSON string template without interpolations."""
    return template.replace("$${", "${").replace("%%{", "%{")


@given(st.text())
def test_escape_round_trips_any_literal(text: str) -> None:
    escaped = escape(text)
    assert _unescape(escaped) == text
    # no interpolation or directive can start in an escaped literal
    stripped = escaped.replace("$${", "").replace("%%{", "")
    assert "${" not in stripped and "%{" not in stripped


def test_tf_wraps_expressions_and_escapes_everything_else() -> None:
    document = {
        "a": "echo ${HOME} %{x}",
        "b": Expr("local.runs"),
        "c": Template(("arn:", Expr("data.aws_partition.current.partition"), ":s3:::${literal}")),
        "d": [1, True, None, "$${"],
    }
    assert tf(document) == {
        "a": "echo $${HOME} %%{x}",
        "b": "${local.runs}",
        "c": "arn:${data.aws_partition.current.partition}:s3:::$${literal}",
        "d": [1, True, None, "$$${"],
    }


def test_template_literal_ending_in_a_dollar_before_an_expression() -> None:
    assert tf(Template(("cost-$", Expr("local.x"), "-${y}"))) == 'cost-${"$"}${local.x}-$${y}'
