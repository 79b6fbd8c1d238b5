from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from spawn_tf.emit.hcl import Expr, Template, escape, tf
from spawn_tf.emit.json_text import ITEM_NEWLINE, Shaped, dump_json, dump_json_chunks, encode_at

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


places = st.lists(st.lists(st.text(max_size=3), min_size=1, max_size=3).map(tuple), max_size=5, unique=True).filter(
    lambda found: not any(a != b and b[: len(a)] == a for a in found for b in found)  # no place inside another
)


@given(st.dictionaries(st.text(max_size=3), json_values, max_size=5), places, st.lists(st.lists(json_values, min_size=5, max_size=5), min_size=1, max_size=3))
def test_shaped_mappings_read_as_the_mappings_themselves(shared: dict[str, object], own: list[tuple[str, ...]], rows: list[list[object]]) -> None:
    shape = Shaped(shared, own, ITEM_NEWLINE)
    for row in rows:
        values = dict(zip(own, row, strict=False))
        whole: dict[str, object] = dict(shared)
        for place, value in values.items():
            mapping = whole
            for key in place[:-1]:
                inner = mapping.get(key)
                mapping[key] = mapping = dict(inner) if isinstance(inner, dict) else {}
            mapping[place[-1]] = value
        assert shape.encode(row[: len(own)]) == encode_at(whole, ITEM_NEWLINE)


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
