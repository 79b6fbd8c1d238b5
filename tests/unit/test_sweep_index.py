"""spawn_tf/sweep_index.py: where compiled sweeps report, remembered by id (the test's own index file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spawn_tf import contract, sweep_index


def _remember(sweep: str, build: Path, bucket: str | None = "b") -> str | None:
    return sweep_index.remember(sweep, bucket=bucket, prefix="sweeps", bucket_region="eu-west-1", home_region="eu-west-1", build_dir=build)


def test_remember_then_recall(tmp_path: Path) -> None:
    assert _remember("s1", tmp_path / "build" / "s1") is None
    entry = sweep_index.recall("s1")
    assert entry is not None and entry.bucket == "b" and entry.build == str((tmp_path / "build" / "s1").resolve())
    assert sweep_index.recall("unknown") is None


def test_the_most_recent_entries_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "MAX_SWEEP_INDEX_ENTRIES", 2)
    for sweep in ("s1", "s2", "s1", "s3"):  # s1 again: it becomes the most recent
        _remember(sweep, tmp_path)
    sweeps = json.loads(sweep_index.index_path().read_text())["sweeps"]
    assert list(sweeps) == ["s1", "s3"]


def test_an_unwritable_index_is_a_line_not_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(contract.ENV_SWEEP_INDEX, str(blocker / "sweeps.json"))  # a folder that is a file
    problem = _remember("s1", tmp_path)
    assert problem is not None and "not updated" in problem and "--results" in problem
    assert sweep_index.recall("s1") is None


def test_index_path_defaults_to_the_xdg_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(contract.ENV_SWEEP_INDEX)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert sweep_index.index_path() == tmp_path / contract.SWEEP_INDEX_FILE


def test_scattered_default_buckets_named_once_per_home_region() -> None:
    assert sweep_index.scattered_default_buckets([("a.yaml", None, "us-east-1"), ("b.yaml", "shared", "eu-west-1")]) is None
    warning = sweep_index.scattered_default_buckets([("a.yaml", None, "us-east-1"), ("b.yaml", None, "eu-west-1")])
    assert warning is not None and "2 different default buckets" in warning
    assert "a.yaml -> s3://" in warning and "us-east-1" in warning and "eu-west-1" in warning
    assert sweep_index.report_location("bkt", "sweeps/s1", "us-east-1") == "s3://bkt/sweeps/s1/"
