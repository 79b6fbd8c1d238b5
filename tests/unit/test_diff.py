"""Sweep diffs: on pairs of real files, and against an earlier commit of a temporary git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sweep_helpers import QUIET_DEFAULTS

from spawn_tf.cli import main
from spawn_tf.diff import SweepDiff, render_diff
from spawn_tf.pipeline import check_file, diff_checked

OLD = (
    QUIET_DEFAULTS
    + """\
  region: us-east-1
params:
  - {name: a, lr: 0.1}
  - {name: b, lr: 0.01}
  - {name: c, lr: 0.001}
  - {name: d, lr: 0.0001}
"""
)
NEW = (
    QUIET_DEFAULTS
    + """\
  region: us-east-1
params:
  - {name: a, lr: 0.2}
  - {name: c, lr: 0.001, ttl: 4h}
  - {name: d, lr: 0.0001, tags: {team: ml}, region: eu-west-1}
  - {name: e, lr: 0.5}
"""
)
# Test values, not AWS prices.
PRICES = "region,instance_type,on_demand,spot,date\nus-east-1,m7i.large,0.1,0.04,2026-11-29\neu-west-1,m7i.large,0.11,0.05,2026-11-29\n"


def _diff(tmp_path: Path, old: str, new: str, prices: str | None = None) -> SweepDiff:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old_path, new_path = tmp_path / "old" / "lr.yaml", tmp_path / "new" / "lr.yaml"
    old_path.write_text(old)
    new_path.write_text(new)
    price_file = None
    if prices is not None:
        price_file = tmp_path / "prices.csv"
        price_file.write_text(prices)
    result, found = diff_checked(check_file(old_path), check_file(new_path), new_path, old_source=str(old_path), prices=price_file)
    assert result is not None and found == ()
    return result


def test_diff_added_removed_changed_with_fields(tmp_path: Path) -> None:
    result = _diff(tmp_path, OLD, NEW)
    assert [run.name for run in result.added] == ["e"]
    assert [run.name for run in result.removed] == ["b"]
    changes = {change.new.name: change for change in result.changed}
    assert [(f.field, f.old, f.new) for f in changes["a"].fields] == [("params.lr", "0.1", "0.2")]
    assert [(f.field, f.old, f.new) for f in changes["c"].fields] == [("ttl", "2h", "4h")]
    assert [(f.field, f.old, f.new) for f in changes["d"].fields] == [
        ("tags", None, "team=ml"), ("region", "us-east-1", "eu-west-1"), ("root", "us-east-1", "eu-west-1"),
    ]  # fmt: skip
    assert changes["a"].reruns and changes["d"].reruns  # an explicit region is in the fingerprint
    assert not changes["c"].reruns  # a ttl is a limit, not part of the result (DESIGN §3)
    assert result.unchanged == 0
    assert result.roots == ("eu-west-1", "us-east-1")
    assert result.cost is None and result.cost_note is not None and "no prices" in result.cost_note


def test_diff_settings_outside_the_fingerprint_update_in_place(tmp_path: Path) -> None:
    result = _diff(tmp_path, OLD, OLD.replace("{name: b, lr: 0.01}", "{name: b, lr: 0.01, tags: {owner: x}}"))
    [change] = result.changed
    assert change.new.name == "b" and not change.reruns
    assert [(f.field, f.new) for f in change.fields] == [("tags", "owner=x")]
    assert result.unchanged == 3 and result.roots == ("us-east-1",)


def test_diff_shows_a_runs_candidates_as_written_and_runs_nothing_again(tmp_path: Path) -> None:
    failover = "{name: b, lr: 0.01, instance_type: 'm7i.large|m7i.xlarge', spot: auto, subnet_id: [subnet-0000000a, subnet-0000000b]}"
    result = _diff(tmp_path, OLD, OLD.replace("{name: b, lr: 0.01}", failover))
    [change] = result.changed
    assert not change.reruns and not change.moves  # other candidates are policy, not the run's identity
    assert [(f.field, f.old, f.new) for f in change.fields] == [
        ("instance_type", "m7i.large", "m7i.large|m7i.xlarge"),
        ("spot", "true", "auto"),
        ("subnet_id", None, "subnet-0000000a,subnet-0000000b"),
    ]


def test_diff_identical_files_is_empty(tmp_path: Path) -> None:
    result = _diff(tmp_path, OLD, OLD)
    assert result.empty and result.unchanged == 4 and result.roots == ()


def test_diff_cost_delta_uses_one_price_table(tmp_path: Path) -> None:
    result = _diff(tmp_path, OLD, NEW, PRICES)
    assert result.cost is not None
    old, new = result.cost
    assert str(old.worst_case_usd) == "0.8"  # 4 runs x 2h x 0.1: a spot hour can cost the on-demand price
    assert str(new.worst_case_usd) == "1.02"  # a, c (4h), e in us-east-1 at 0.1; d 2h in eu-west-1 at 0.11
    text = render_diff(result, markdown=False)
    assert "worst-case cost: $0.80 -> $1.02 (+$0.22)" in text


def test_a_new_sweep_id_is_a_new_sweep(tmp_path: Path) -> None:
    result = _diff(tmp_path, "sweep: one\n" + OLD, "sweep: two\n" + OLD)
    assert [run.name for run in result.added] == [run.name for run in result.removed] == ["a", "b", "c", "d"]
    assert (result.changed, result.unchanged) == ((), 0)
    assert result.roots == ("one/us-east-1", "two/us-east-1")


def test_a_run_moving_to_another_root_is_replaced_not_updated(tmp_path: Path) -> None:
    spread = OLD.replace("  region: us-east-1\n", "").replace("params:", "regions: [us-east-1, eu-west-1, us-west-2]\nparams:")
    result = _diff(tmp_path, spread, spread.replace("regions: [us-east-1, eu-west-1, us-west-2]", "regions: [us-east-1]"))
    moved = [change for change in result.changed if change.moves]
    assert moved and all(not change.reruns for change in moved)  # the fingerprint leaves an assigned region out
    text = render_diff(result, markdown=False)
    assert text.count("moves: a running instance is replaced") == len(moved) and "updated in place" not in text


def test_diff_markdown_lists_runs_up_to_the_limit(tmp_path: Path) -> None:
    text = render_diff(_diff(tmp_path, OLD, NEW), markdown=True, limit=2)
    assert text.startswith("### spawn-tf diff: `")
    assert "**1 added, 1 removed, 3 changed, 0 unchanged**" in text
    assert "| + | e | us-east-1 | m7i.large | added |" in text
    assert "… and 3 more (spawn-tf diff --json lists every run)" in text


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin"})  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with two commits of sweeps/lr.yaml (OLD, then NEW) and NEW in the work tree."""
    root = tmp_path / "repo"
    (root / "sweeps").mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    sweep = root / "sweeps" / "lr.yaml"
    sweep.write_text(OLD)
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    sweep.write_text(NEW)
    (root / "sweeps" / "prices.csv").write_text(PRICES)
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "second")
    return root


def test_cli_diff_base_ref_reads_the_old_version_from_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "sweeps")
    result = CliRunner().invoke(main, ["diff", "lr.yaml", "--base", "HEAD~1", "--json", "--prices", "prices.csv"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["old"] == "HEAD~1:sweeps/lr.yaml"
    assert ([r["name"] for r in report["added"]], [r["name"] for r in report["removed"]]) == (["e"], ["b"])
    assert {c["name"]: [f["field"] for f in c["fields"]] for c in report["changed"]}["a"] == ["params.lr"]
    assert report["cost"]["delta_usd"] == "0.22"
    same = CliRunner().invoke(main, ["diff", "lr.yaml", "--base", "HEAD"])
    assert same.exit_code == 0 and "0 added, 0 removed, 0 changed, 4 unchanged" in same.stdout


def test_cli_diff_file_absent_at_ref_adds_every_run(repo: Path) -> None:
    other = repo / "sweeps" / "new-sweep.yaml"
    other.write_text(OLD)
    result = CliRunner().invoke(main, ["diff", str(other), "--base", "HEAD", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["name"] for r in report["added"]] == ["a", "b", "c", "d"] and report["removed"] == []


def test_cli_diff_errors(repo: Path) -> None:
    runner = CliRunner()
    sweep = repo / "sweeps" / "lr.yaml"
    result = runner.invoke(main, ["diff", str(sweep), "--base", "no-such-branch"])
    assert result.exit_code == 1 and "'no-such-branch' is not a commit" in result.stderr
    assert runner.invoke(main, ["diff", str(sweep)]).exit_code == 2  # one file needs --base
    bad = repo / "sweeps" / "bad.yaml"
    bad.write_text(QUIET_DEFAULTS + "  spot: 'yes'\nparams:\n  - {name: a}\n")
    result = runner.invoke(main, ["diff", str(sweep), str(bad)])
    assert result.exit_code == 1 and "bad.yaml:5:9: error:" in result.stderr and result.stdout == ""
    outside = repo.parent / "outside.yaml"
    outside.write_text(OLD)
    result = runner.invoke(main, ["diff", str(outside), "--base", "HEAD"])
    assert result.exit_code == 1 and "not a git repository" in result.stderr
