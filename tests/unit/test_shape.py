"""spawn_tf/shape.py: what expansion works out once per set of keys, and the name template's fields."""

from __future__ import annotations

from typing import Any

import pytest

from spawn_tf.shape import make_shape, template_fields


class _Recording(dict[str, Any]):
    """A mapping that notes every key `format_map` asks it for."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("r-{index:06d}", {"index"}),
        ("{a.real}-{b[0]}", {"a", "b"}),  # attributes and items of a field: the mapping is asked for its first name
        ("{c!r:>{w}}-{d:{fill}<{width}}", {"c", "w", "d", "fill", "width"}),  # fields nested in format specs
        ("{{literal}}-{x}", {"x"}),
        ("no fields", set()),
    ],
)
def test_template_fields_are_the_keys_format_map_reads(template: str, fields: set[str]) -> None:
    assert template_fields(template) == fields
    values = _Recording({"index": 7, "a": 2, "b": "xy", "c": "c", "w": 4, "d": "d", "fill": "_", "width": 3, "x": 1, "unread": 0})
    template.format_map(values)
    assert values.read == fields


def test_template_fields_of_an_unparsable_template_are_unknown() -> None:
    assert template_fields("r-{x") is None  # the run's every parameter is handed over; format_map says what is wrong


def test_shape_splits_settings_from_parameters_in_row_order() -> None:
    shape = make_shape(("instance_type", "lr", "region", "param:ttl", "name", "model-name", "ttl"), own=("lr", "region", "name", "ttl"))
    assert shape.settings == ("instance_type", "region", "name", "ttl")
    assert shape.own_keyed == ("ttl",)  # a run's own settings besides its name and region: the others are the defaults'
    assert shape.params == (("lr", "lr"), ("param:ttl", "ttl"), ("model-name", "model-name"))
    assert shape.env == (("lr", "LR"), ("ttl", "TTL"), ("model-name", "MODEL_NAME"))
    env = {"NAME": "r", "LR": "0.1", "TTL": "%s", "MODEL_NAME": "m"}
    assert shape.identity % shape.identity_values(env) == "LR\x000.1\x00MODEL_NAME\x00m\x00NAME\x00r\x00TTL\x00%s"
    alone = make_shape(("instance_type",), own=())
    assert alone.identity % alone.identity_values({"NAME": "r-1"}) == "NAME\x00r-1"
    assert shape.problems == ()


def test_shape_keeps_bad_parameter_names_out_of_the_environment() -> None:
    shape = make_shape(("9x", "ok", "spawn_run"), own=("9x",))
    assert shape.env == (("ok", "OK"),)
    assert [problem.code for problem in shape.problems] == ["bad-parameter-name", "reserved-parameter"]
