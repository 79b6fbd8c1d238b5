from __future__ import annotations

import os
from pathlib import Path

import pytest
from sweep_helpers import CheckSweep, WriteSweep, codes

from spawn_tf import contract
from spawn_tf.load import SourceFloat, SourceInt, load_document


def test_load_yaml_12_core_types_keep_source_text(write_sweep: WriteSweep) -> None:
    path = write_sweep("a: 1e-4\nb: 0.10\nc: 007\nd: yes\ne: NO\nf: true\ng: 0x1F\nh: 2026-01-27\ni: ~\n")
    document, diagnostics = load_document(path)
    assert diagnostics == ()
    assert document is not None
    data = document.data
    assert isinstance(data["a"], SourceFloat) and data["a"] == 0.0001 and data["a"].source == "1e-4"
    assert data["b"].source == "0.10"
    assert isinstance(data["c"], SourceInt) and data["c"] == 7 and data["c"].source == "007"
    assert data["d"] == "yes" and data["e"] == "NO"  # YAML 1.2: no Norway problem
    assert data["f"] is True
    assert data["g"] == 31
    assert data["h"] == "2026-01-27"  # no implicit dates
    assert data["i"] is None


def test_load_yaml_merge_keys_explicit_wins(write_sweep: WriteSweep) -> None:
    path = write_sweep("base: &base {ttl: 2h, spot: true}\ndefaults:\n  <<: *base\n  ttl: 4h\n")
    document, _ = load_document(path)
    assert document is not None
    assert document.data["defaults"] == {"ttl": "4h", "spot": True}
    assert document.span(("defaults", "spot")).line == 1  # found through the merge


def test_load_spans_point_at_keys_and_values(write_sweep: WriteSweep) -> None:
    path = write_sweep("defaults:\n  ttl: 2h\nparams:\n  - name: a\n    lr: 0.1\n")
    document, _ = load_document(path)
    assert document is not None
    assert (document.span(("params", 0, "lr")).line, document.span(("params", 0, "lr")).col) == (5, 9)
    assert (document.span(("params", 0, "lr"), key=True).line, document.span(("params", 0, "lr"), key=True).col) == (5, 5)
    assert document.span(("params", 7, "missing")).line == 4  # the deepest place that exists: the list


def test_load_json_keeps_number_text_and_positions(write_sweep: WriteSweep) -> None:
    path = write_sweep('{\n  "params": [\n    {"name": "a", "lr": 1E-4}\n  ]\n}\n', "s.json")
    document, diagnostics = load_document(path)
    assert diagnostics == ()
    assert document is not None
    assert document.data["params"][0]["lr"].source == "1E-4"
    span = document.span(("params", 0, "lr"))
    assert (span.line, span.col) == (3, 25)


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


def test_load_rejects_each_class_of_bad_input(check: CheckSweep, write_sweep: WriteSweep) -> None:
    cases = {
        "yaml-syntax": ("a: b: c\n", "x.yaml", (1, 5)),
        "duplicate-key": ("a: 1\na: 2\n", "x.yaml", (2, 1)),
        "multiple-documents": ("a: 1\n---\na: 2\n", "x.yaml", (2, 1)),
        "empty-document": ("# nothing\n", "x.yaml", (1, 1)),
        "not-a-mapping": ("[1, 2]\n", "x.yaml", (1, 1)),
        "unsupported-tag": ("a: !custom 1\n", "x.yaml", (1, 4)),
        "non-finite-number": ("a: .inf\n", "x.yaml", (1, 4)),
        "complex-key": ("? [a, b]\n: 1\n", "x.yaml", (1, 3)),
        "too-deep": ("a: " + "[" * 80 + "]" * 80 + "\n", "x.yaml", None),
        "json-syntax": ('{"a": 1,}\n', "x.json", (1, 8)),
        "csv-syntax": ("a,b\n1,2,3\n", "x.csv", (2, 5)),  # the first extra cell
        "unknown-format": ("a: 1\n", "x.toml", None),
    }
    for code, (text, name, place) in cases.items():
        found = codes(check(text, name))
        assert [c for c, _, _ in found] == [code], (code, found)
        if place is not None:
            assert found[0][1:] == place, (code, found)


def test_load_non_utf8_is_located(check: CheckSweep) -> None:
    assert codes(check(b"a: 1\nb: caf\xe9\n")) == [("not-utf8", 2, 7)]


def test_load_alias_bomb_stops_early(check: CheckSweep) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    assert [c for c, _, _ in codes(check("\n".join(lines) + "\n"))] == ["alias-bomb"]


def test_load_oversize_file_is_refused_without_reading(write_sweep: WriteSweep) -> None:
    path = write_sweep("a: 1\n")
    os.truncate(path, contract.MAX_SWEEP_FILE_BYTES + 1)  # sparse: nothing is written
    document, diagnostics = load_document(path)
    assert document is None
    assert [d.code for d in diagnostics] == ["file-too-large"]


def test_load_missing_file(tmp_path: Path) -> None:
    document, diagnostics = load_document(tmp_path / "absent.yaml")
    assert document is None
    assert [d.code for d in diagnostics] == ["file-not-found"]


def test_load_json_bad_number_is_located_outside_strings(check: CheckSweep) -> None:
    text = '{"sweep": "x",\n "defaults": {"note": "1e400"},\n "params": [{"name": "a", "v": 1e400}]}\n'
    assert codes(check(text, "x.json")) == [("non-finite-number", 3, 32)]


@pytest.mark.parametrize(
    ("text", "place"),
    [("a:\n\tb: 1\n", (2, 1)), ("params:\n  - a: 1\n\t  b: 2\n", (3, 1)), ("a:\n  b: 1\n  \tc: 2\n", (3, 3))],
)
def test_load_yaml_tab_in_indentation_is_named(check: CheckSweep, text: str, place: tuple[int, int]) -> None:
    checked = check(text)
    assert codes(checked) == [("yaml-syntax", *place)]
    assert checked.diagnostics[0].message == "a tab in indentation; YAML indents with spaces"
    assert checked.diagnostics[0].hint == "replace the tab with spaces"


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/urandom"])
def test_load_reads_regular_files_only(tmp_path: Path, target: str) -> None:
    path = tmp_path / "sweep.yaml"
    if target == "fifo":
        os.mkfifo(path)  # no writer: opening it for reading would block
    else:
        path.symlink_to(target)
    document, diagnostics = load_document(path)
    assert document is None
    assert [d.code for d in diagnostics] == ["not-a-file"]
    assert "not a regular file" in diagnostics[0].message


def test_load_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("a: 1\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yaml")
    document, diagnostics = load_document(tmp_path / "link.yaml")
    assert diagnostics == () and document is not None and document.data == {"a": 1}


def test_load_price_file_reads_regular_files_only(tmp_path: Path) -> None:
    from spawn_tf.prices import read_price_file

    table, diagnostics = read_price_file(Path("/dev/zero"))
    assert table is None and [d.code for d in diagnostics] == ["unreadable-price-file"]


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


@pytest.mark.parametrize(
    ("text", "name", "place"),
    [
        ("defaults:\n  note: " + "x" * (contract.MAX_VALUE_CHARS + 1) + "\n", "s.yaml", (2, 9)),
        ('{"defaults": {"note": "' + '\\"' * (contract.MAX_VALUE_CHARS + 1) + '"}}', "s.json", (1, 23)),  # escaped quotes count once
    ],
)
def test_load_text_values_over_the_limit_are_refused(check: CheckSweep, text: str, name: str, place: tuple[int, int]) -> None:
    assert codes(check(text, name)) == [("value-too-long", *place)]
