"""spawn_tf/load/csv_reader.py: CSV sweep files, cells typed like YAML values, quoted cells kept exactly, errors at the cell."""

from __future__ import annotations

import pytest
from sweep_helpers import CheckSweep, WriteSweep, codes

from spawn_tf import contract
from spawn_tf.load import load_document


def test_load_csv_types_cells_like_yaml_and_skips_blank_rows(write_sweep: WriteSweep) -> None:
    path = write_sweep("name,spot,lr,epochs\n007,true,0.10,5\n\nb,false,1e-3,\n", "s.csv")
    document, diagnostics = load_document(path)
    assert diagnostics == ()
    assert document is not None
    rows = document.data["params"]
    assert rows[0] == {"name": "007", "spot": True, "lr": 0.1, "epochs": 5}
    assert rows[0]["lr"].source == "0.10"
    assert rows[1] == {"name": "b", "spot": False, "lr": 0.001}  # an empty cell is no value
    assert document.span(("params", 1, "lr")).line == 4


def test_load_csv_quoted_cells_are_kept_exactly(write_sweep: WriteSweep) -> None:
    path = write_sweep('name,note,pad,empty,blank\na," lead","a\n","","  "\nb, trimmed ,7,,\n', "s.csv")
    document, diagnostics = load_document(path)
    assert diagnostics == ()
    assert document is not None
    first, second = document.data["params"]
    assert first == {"name": "a", "note": " lead", "pad": "a\n", "empty": "", "blank": "  "}  # a quoted cell is a value
    assert second == {"name": "b", "note": "trimmed", "pad": 7}  # unquoted: trimmed; empty means no such parameter
    assert (document.span(("params", 1, "note")).line, document.span(("params", 1, "note")).col) == (4, 4)  # the cell's text


def test_load_csv_quoted_cells_reach_the_environment_byte_for_byte(check: CheckSweep) -> None:
    checked = check('name,instance_type,ttl,user_data,note,blank\na,m7i.large,2h,./t.sh," x\ty ",""\n', "s.csv")
    assert checked.runs is not None, [d.render() for d in checked.diagnostics]
    assert checked.runs[0].env["NOTE"] == " x\ty " and checked.runs[0].env["BLANK"] == ""


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("a,b,c\n1,2\n", (2, 4)),  # too few: where the row ends
        ("a,b,c\n1,2\r\n", (2, 4)),
        ('a,b,c\n1,"x\ny"\n', (3, 3)),  # a row over two lines ends on the second
        ("a,b\n1,2,3,4\n", (2, 5)),  # too many: at the first extra cell
        ("a,b\n1,2,\n", (2, 5)),  # a trailing comma makes an empty extra cell
    ],
)
def test_load_csv_row_length_is_located(check: CheckSweep, text: str, place: tuple[int, int]) -> None:
    assert codes(check(text, "s.csv")) == [("csv-syntax", *place)]


@pytest.mark.parametrize(
    ("text", "code", "place"),
    [
        ('a,b\n1,"open\n', "csv-syntax", (2, 3)),
        ('a,b\n1,"x"y\n', "csv-syntax", (2, 6)),
        ("a,b\n1," + "x" * (contract.MAX_VALUE_CHARS + 1) + "\n", "csv-syntax", (2, 3)),
        (",".join(f"p{i}" for i in range(contract.MAX_RUN_KEYS + 1)) + "\n", "too-many-keys", None),
        ("a,,b\n", "csv-syntax", (1, 3)),
        ("a,b,a\n", "duplicate-key", (1, 5)),
    ],
)
def test_load_csv_bad_cells_are_located(check: CheckSweep, text: str, code: str, place: tuple[int, int] | None) -> None:
    found = codes(check(text, "s.csv"))
    assert [c for c, _, _ in found] == [code]
    if place is not None:
        assert found[0][1:] == place
