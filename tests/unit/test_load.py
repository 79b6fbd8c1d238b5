"""spawn_tf/load: reading sweep files of every format: bad input of each kind, regular files only, positions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sweep_helpers import CheckSweep, WriteSweep, codes

from spawn_tf import contract
from spawn_tf.load import load_document


def test_load_spans_point_at_keys_and_values(write_sweep: WriteSweep) -> None:
    path = write_sweep("defaults:\n  ttl: 2h\nparams:\n  - name: a\n    lr: 0.1\n")
    document, _ = load_document(path)
    assert document is not None
    assert (document.span(("params", 0, "lr")).line, document.span(("params", 0, "lr")).col) == (5, 9)
    assert (document.span(("params", 0, "lr"), key=True).line, document.span(("params", 0, "lr"), key=True).col) == (5, 5)
    assert document.span(("params", 7, "missing")).line == 4  # the deepest place that exists: the list


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


@pytest.mark.parametrize(
    ("text", "name", "place"),
    [
        ("defaults:\n  note: " + "x" * (contract.MAX_VALUE_CHARS + 1) + "\n", "s.yaml", (2, 9)),
        ('{"defaults": {"note": "' + '\\"' * (contract.MAX_VALUE_CHARS + 1) + '"}}', "s.json", (1, 23)),  # escaped quotes count once
    ],
)
def test_load_text_values_over_the_limit_are_refused(check: CheckSweep, text: str, name: str, place: tuple[int, int]) -> None:
    assert codes(check(text, name)) == [("value-too-long", *place)]
