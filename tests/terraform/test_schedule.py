"""Resume and scheduling, decided by real Terraform on compiled roots (offline, DESIGN §4 and §8).

The S3 listings are the data the roots read; each scenario writes them the way the agent and
the collector lay them out and asks Terraform which instances it would keep.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import tfharness as tfh
from offline import compile_sweep, plan_root
from provider_schema import check_root

from spawn_tf import contract
from spawn_tf.emit.files import RECORD
from spawn_tf.pipeline import Checked

FOLDER = "sweeps/sched"
REGIONS = ("eu-west-1", "us-east-1", "us-west-2")


def sweep_text(count: int = 12, max_concurrent: int | None = None, order: list[int] | None = None, changed: int | None = None) -> str:
    """A sweep of `count` explicit runs over three regions; `changed` gets a new learning rate."""
    rows = []
    for i in order or list(range(count)):
        lr = 0.5 if i == changed else round(0.001 * (i + 1), 3)
        rows.append(f"  - {{name: run-{i:02d}, region: {REGIONS[i % 3]}, learning_rate: {lr}}}\n")
    cap = f"max_concurrent: {max_concurrent}\n" if max_concurrent is not None else ""
    return (
        f"sweep: sched\n{cap}defaults:\n  instance_type: m7i.large\n  ttl: 1h\n  max_attempts: 2\n  max_interruptions: 3\n"
        "  command: ./train.sh\nparams:\n" + "".join(rows)
    )


def compiled(tmp_path: Path, text: str) -> tuple[Checked, Path]:
    folder = tmp_path / f"sweep-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    return compile_sweep(text, folder)


def key(checked: Checked, name: str) -> str:
    run = next(run for run in checked.runs or () if run.name == name)
    return contract.run_key(run.name, run.fingerprint)


def listings(done: list[str] = (), attempts: list[str] = (), stop: list[str] = ()) -> dict[str, dict[str, Any]]:
    def listing(keys: list[str]) -> dict[str, Any]:
        return {"keys": list(keys), "common_prefixes": [], "owners": [], "request_charged": ""}

    return {
        "aws_s3_objects.done": listing([f"{FOLDER}/_done/{k}" for k in done]),
        "aws_s3_objects.attempts": listing([f"{FOLDER}/_attempts/{k}" for k in attempts]),
        "aws_s3_objects.stop": listing([f"{FOLDER}/_stop/{k}" for k in stop]),
    }


def active(checked: Checked, build: Path, tmp_path: Path, data: dict[str, dict[str, Any]] | None = None) -> set[str]:
    """The runs Terraform would keep an instance for, over every root."""
    names: set[str] = set()
    assert checked.plan is not None
    for root in checked.plan.roots:
        dest = tmp_path / f"off-{root.name}-{time.monotonic_ns()}"
        plan = plan_root(build / root.name, dest, data=data or listings())
        names |= {m.group(1) for address in tfh.planned_inputs(plan) if (m := re.fullmatch(r'aws_instance\.run\["(.+)"\]', address))}
        shutil.rmtree(dest)
    return names


ALL = {f"run-{i:02d}" for i in range(12)}


def test_fresh_sweep_launches_every_run(tmp_path: Path) -> None:
    checked, build = compiled(tmp_path, sweep_text())
    assert active(checked, build, tmp_path) == ALL


def test_done_runs_are_skipped_and_a_changed_fingerprint_relaunches(tmp_path: Path) -> None:
    checked, build = compiled(tmp_path, sweep_text())
    done = [f"{key(checked, 'run-00')}/success.0", f"{key(checked, 'run-04')}/failed.1", f"{key(checked, 'run-07')}/exhausted.none"]
    assert active(checked, build, tmp_path, listings(done=done)) == ALL - {"run-00", "run-04", "run-07"}
    changed, build2 = compiled(tmp_path, sweep_text(changed=4))
    assert active(changed, build2, tmp_path, listings(done=done)) == ALL - {"run-00", "run-07"}  # run-04's config changed


def test_max_concurrent_takes_the_first_runs_of_the_sweep_across_roots(tmp_path: Path) -> None:
    checked, build = compiled(tmp_path, sweep_text(max_concurrent=5))
    assert active(checked, build, tmp_path) == {"run-00", "run-01", "run-02", "run-03", "run-04"}
    two, build2 = compiled(tmp_path, sweep_text(max_concurrent=2))  # fewer than the three roots
    assert active(two, build2, tmp_path) == {"run-00", "run-01"}
    done = [f"{key(checked, name)}/success.0" for name in ("run-00", "run-02")]
    assert active(checked, build, tmp_path, listings(done=done)) == {"run-01", "run-03", "run-04", "run-05", "run-06"}


def test_started_runs_are_never_dropped(tmp_path: Path) -> None:
    checked, build = compiled(tmp_path, sweep_text(max_concurrent=5))
    started = [f"{key(checked, name)}/i-0{n}" for n, name in enumerate(("run-03", "run-09", "run-11"))]
    # lowering the cap below the started runs keeps them all and launches nothing new
    lowered, build2 = compiled(tmp_path, sweep_text(max_concurrent=2))
    assert active(lowered, build2, tmp_path, listings(attempts=started)) == {"run-03", "run-09", "run-11"}
    # reordering the file and adding a run keep them too
    reordered, build3 = compiled(tmp_path, sweep_text(count=13, max_concurrent=5, order=[12, *reversed(range(12))]))
    kept = active(
        reordered,
        build3,
        tmp_path,
        listings(attempts=[f"{key(reordered, n)}/i-0{i}" for i, n in enumerate(("run-03", "run-09", "run-11"))]),
    )
    assert {"run-03", "run-09", "run-11"} <= kept and len(kept) == 5
    # an attempt that ended no longer holds a place
    ended = [*started, f"{key(checked, 'run-09')}/i-01.interrupted"]
    assert active(checked, build, tmp_path, listings(attempts=ended)) == {"run-03", "run-11", "run-00", "run-01", "run-02"}


def test_stop_markers_and_exhausted_attempts_stop_launches(tmp_path: Path) -> None:
    checked, build = compiled(tmp_path, sweep_text())
    assert active(checked, build, tmp_path, listings(stop=["run-01", "run-05"])) == ALL - {"run-01", "run-05"}
    assert active(checked, build, tmp_path, listings(stop=[contract.STOP_ALL])) == set()
    failures = [f"{key(checked, 'run-02')}/i-0{n}.{status}" for n, status in enumerate(("failed", "timeout"))]  # max_attempts 2
    interruptions = [f"{key(checked, 'run-06')}/i-1{n}.interrupted" for n in range(3)]  # max_interruptions 3
    one_failure = [f"{key(checked, 'run-08')}/i-20.failed"]
    assert active(checked, build, tmp_path, listings(attempts=failures + interruptions + one_failure)) == ALL - {"run-02", "run-06"}
    # a started run that is then stopped keeps its instance until its agent reports
    started = [f"{key(checked, 'run-01')}/i-30"]
    assert "run-01" in active(checked, build, tmp_path, listings(attempts=started, stop=[contract.STOP_ALL]))


def test_each_listing_reads_its_control_prefix_of_the_results_bucket(tmp_path: Path) -> None:
    """What the offline plans stand in for: the listings' arguments as the AWS provider reads them."""
    checked, build = compiled(tmp_path, sweep_text())
    assert checked.plan is not None
    for root in REGIONS:
        documents = {path.name: json.loads(path.read_text()) for path in sorted((build / root).glob("*.tf.json"))}
        assert check_root(documents) == []
        schedule = documents["schedule.tf.json"]
        found = {
            name: (data["bucket"], data["prefix"], data["region"], data["max_keys"])
            for name, data in schedule["data"]["aws_s3_objects"].items()
        }
        assert found == {
            name: ("${local.results_bucket}", f"${{local.control.{name}}}", checked.plan.bucket_region, contract.MAX_LISTING_KEYS)
            for name in ("done", "attempts", "stop")
        }
        assert schedule["locals"]["control"] == {
            "done": contract.control_prefix(FOLDER, contract.CONTROL_DONE),
            "attempts": contract.control_prefix(FOLDER, contract.CONTROL_ATTEMPTS),
            "stop": contract.control_prefix(FOLDER, contract.CONTROL_STOP),
        }


def test_keys_that_only_begin_like_a_marker_are_none(tmp_path: Path) -> None:
    """The patterns hold for the whole key name (spawn_tf.lifecycle matches them whole): more after a marker is not a marker."""
    checked, build = compiled(tmp_path, sweep_text())
    done = [f"{key(checked, 'run-01')}/success.0/x", f"{key(checked, 'run-01')}/failed.1x"]
    attempts = [f"{key(checked, 'run-02')}/i-0{n}.failed/x" for n in range(2)]  # max_attempts 2, were they outcomes
    # a key name holding a line break is one name, not two lines (Terraform matches a listing's names as lines)
    done.append(f"x\n{key(checked, 'run-03')}/success.0")
    attempts += [f"x\n{key(checked, 'run-04')}/i-1{n}.failed" for n in range(2)]
    assert active(checked, build, tmp_path, listings(done=done, attempts=attempts)) == ALL


def test_many_done_markers_and_a_truncated_listing(tmp_path: Path) -> None:
    text = (
        "sweep: sched\ndefaults:\n  instance_type: m7i.large\n  ttl: 1h\n  command: ./train.sh\nname_template: run-{i:04d}\ngrid:\n  i: ["
    )
    text += ", ".join(map(str, range(2600))) + "]\n"
    checked, build = compiled(tmp_path, text)
    done = [f"{contract.run_key(run.name, run.fingerprint)}/success.0" for run in (checked.runs or ())[:2500]]
    root = build / "us-east-1-01"
    assert (build / "us-east-1-06").is_dir()  # 2,600 runs over shards of about 500
    plan = plan_root(root, tmp_path / "off-many", data=listings(done=done))
    remaining = {a for a in tfh.planned_inputs(plan) if a.startswith("aws_instance.run[")}
    assert checked.plan is not None
    mine = {run.name for r in checked.plan.roots if r.name == "us-east-1-01" for run in r.runs}
    assert remaining == {f'aws_instance.run["{name}"]' for name in mine if int(name[4:]) >= 2500}
    full = listings(done=done)
    full["aws_s3_objects.done"]["keys"] = [f"{FOLDER}/_done/x{i}/success.0" for i in range(contract.MAX_LISTING_KEYS)]
    with pytest.raises(tfh.TerraformError, match="reached 1000000 keys"):
        plan_root(root, tmp_path / "off-full", data=full)


def test_replacement_only_on_a_fingerprint_change(tmp_path: Path) -> None:
    _, build = compiled(tmp_path, sweep_text(count=3))
    root = "eu-west-1"  # run-00 is placed there (REGIONS[0])
    first = tmp_path / "first"
    plan_root(build / root, first)
    state = tfh.apply(first)

    def actions_after(text: str, *, ami: str | None = None, bootstrap: str | None = None) -> dict[str, list[str]]:
        _, build2 = compiled(tmp_path, text)
        folder = build2 / root
        if bootstrap is not None:
            (folder / "agent.sh").write_text(bootstrap)
        extra = {"aws_ssm_parameter.ami[al2023/x86_64]": {"value": ami}} if ami else None
        dest = tmp_path / f"again-{time.monotonic_ns()}"
        plan = plan_root(folder, dest, state=state, data={**listings(), **(extra or {})})
        return {a: acts for a, acts in tfh.actions(plan).items() if a.startswith(("aws_instance.run[", "terraform_data.fp["))}

    assert set(map(tuple, actions_after(sweep_text(count=3)).values())) == {("no-op",)}
    assert actions_after(sweep_text(count=3), ami="ami-0ffffffffffffffff")['aws_instance.run["run-00"]'] == ["no-op"]
    assert actions_after(sweep_text(count=3), bootstrap="#!/bin/bash\necho new agent\n")['aws_instance.run["run-00"]'] == ["no-op"]
    assert actions_after(sweep_text(count=3, order=[2, 1, 0]))['aws_instance.run["run-00"]'] in (
        ["no-op"],
        ["update"],
    )  # tags may change, never a replacement
    changed = actions_after(sweep_text(count=3, changed=0))
    assert changed['aws_instance.run["run-00"]'] in (["delete", "create"], ["create", "delete"])
    assert changed['terraform_data.fp["run-00"]'] == ["update"]


def test_a_thousand_run_root_plans_offline(tmp_path: Path) -> None:
    # How long this takes is measured by bench/bench_offline_plan.py, not here.
    text = "sweep: big\nmax_runs_per_root: 1000\ndefaults:\n  instance_type: m7i.large\n  ttl: 1h\n  command: ./train.sh\nname_template: r-{i}\ngrid:\n  i: ["
    _, build = compiled(tmp_path, text + ", ".join(map(str, range(1000))) + "]\n")
    plan = plan_root(build / "us-east-1", tmp_path / "off-1000")
    assert len([a for a in tfh.planned_inputs(plan) if a.startswith("aws_instance.run[")]) == 1000


def test_what_feeds_for_each_is_known_at_plan_time(tmp_path: Path) -> None:
    """Only data sources and literals decide `local.active`: no managed resource, no depends_on (DESIGN §4)."""
    _, build = compiled(tmp_path, sweep_text(max_concurrent=4))
    for root in REGIONS:
        schedule = json.loads((build / root / "schedule.tf.json").read_text())
        text = json.dumps(schedule)
        assert "depends_on" not in text
        managed = [m.group(0) for m in re.finditer(r"(?<![\w.])(aws_[a-z0-9_]+|terraform_data)\.[a-z0-9_]+", text)]
        assert managed == [], managed  # every AWS reference here is data.aws_...
        assert "data.aws_s3_objects.done.keys" in text
        runs = json.loads((build / root / "locals.tf.json").read_text())["locals"]
        assert "${" not in json.dumps([runs["run_values"], runs["settings"]]).replace("$${", "")
        assert runs["runs"] == "${{for name, run in local.run_values : name => merge(local.settings[run.settings], run)}}"


# --- the global choice from the listings and the build's one sweep order (issue: 100,000-run sweeps) ---


def rule(checked: Checked, *, cap: int, done: set[str], started: set[str], blocked: set[str]) -> set[str]:
    """DESIGN §4 in a few lines: started runs, then the first `cap - started` pending runs in sweep order."""
    order = [run.name for run in sorted(checked.runs or (), key=lambda run: run.index)]
    running = [name for name in order if name in started and name not in done]
    pending = [name for name in order if name not in done | started | blocked]
    return set(running) | set(pending[: max(0, cap - len(running))])


def test_the_choice_over_three_roots_follows_the_rule_from_the_listings_alone(tmp_path: Path) -> None:
    """Every root plans from the same listings and decides for its own runs only; together they make the one choice."""
    before, _ = compiled(tmp_path, sweep_text(count=15, max_concurrent=6))
    checked, build = compiled(tmp_path, sweep_text(count=15, max_concurrent=6, changed=7))  # run-07's configuration changed since
    done = [
        f"{key(checked, 'run-00')}/success.0",
        f"{key(checked, 'run-04')}/failed.1",
        f"{key(before, 'run-07')}/success.0",  # run-07's earlier configuration finished: not the run's now
        "ghost.0123456789ab/success.0",  # a finished run this build no longer has: no place taken, no failed lookup
    ]
    attempts = [
        f"{key(checked, 'run-00')}/i-00",  # an attempt of a finished run that never recorded its end: finished, not started
        f"{key(checked, 'run-09')}/i-09",  # started (us-east-1)
        f"{key(checked, 'run-13')}/i-13",  # started (us-east-1)
        *(f"{key(checked, 'run-05')}/i-5{n}.failed" for n in range(2)),  # out of attempts (us-west-2), never a done marker
        f"{key(checked, 'run-01')}/i-01.interrupted",  # one interruption of three: pending again
        "ghost.0123456789ab/i-99",  # a run this build does not have: no place taken
        f"{key(before, 'run-07')}/i-07",  # an attempt of run-07's earlier configuration: not the run's now
    ]
    stop = ["run-02"]  # stopped before it ever started: no other key names it
    chosen = active(checked, build, tmp_path, listings(done=done, attempts=attempts, stop=stop))
    expected = rule(checked, cap=6, done={"run-00", "run-04"}, started={"run-09", "run-13"}, blocked={"run-02", "run-05"})
    assert chosen == expected == {"run-09", "run-13", "run-01", "run-03", "run-06", "run-07"}
    # a lower cap keeps the started runs and launches nothing else; a higher one takes the next pending runs in order
    lowered, build2 = compiled(tmp_path, sweep_text(count=15, max_concurrent=1, changed=7))
    assert active(lowered, build2, tmp_path, listings(done=done, attempts=attempts, stop=stop)) == {"run-09", "run-13"}
    raised, build3 = compiled(tmp_path, sweep_text(count=15, max_concurrent=8, changed=7))
    assert active(raised, build3, tmp_path, listings(done=done, attempts=attempts, stop=stop)) == expected | {"run-08", "run-10"}
    # the file reversed: the first pending runs are now the last ones, the started runs stay
    reordered, build4 = compiled(tmp_path, sweep_text(count=15, max_concurrent=6, changed=7, order=list(reversed(range(15)))))
    assert active(reordered, build4, tmp_path, listings(done=done, attempts=attempts, stop=stop)) == {
        "run-09", "run-13", "run-14", "run-12", "run-11", "run-10",
    }  # fmt: skip
    # the sweep stopped: nothing launches, the started runs keep their instances until their agents report
    assert active(checked, build, tmp_path, listings(done=done, attempts=attempts, stop=[*stop, contract.STOP_ALL])) == {"run-09", "run-13"}


def test_each_root_carries_its_own_runs_and_the_build_the_order_once(tmp_path: Path) -> None:
    checked, build = compiled(tmp_path, sweep_text(count=15, max_concurrent=6))
    assert checked.plan is not None
    order = json.loads((build / contract.SWEEP_ORDER_FILE).read_text())
    runs = sorted(checked.runs or (), key=lambda run: run.index)
    assert order == {
        run.name: f"{rank} {run.fingerprint} {run.settings.max_attempts} {run.settings.max_interruptions}" for rank, run in enumerate(runs)
    }
    for root in checked.plan.roots:
        text = "".join(path.read_text() for path in sorted((build / root.name).glob("*.tf.json")))
        others = {run.name for other in checked.plan.roots if other is not root for run in other.runs}
        assert [name for name in others if f'"{name}"' in text] == []
    _, build2 = compiled(tmp_path, sweep_text(count=15))
    assert not (build2 / contract.SWEEP_ORDER_FILE).exists()


def test_adding_one_run_changes_its_root_and_the_build_files_only(tmp_path: Path) -> None:
    def files(build: Path) -> dict[str, bytes]:
        return {path.relative_to(build).as_posix(): path.read_bytes() for path in sorted(build.rglob("*")) if path.is_file()}

    _, build = compiled(tmp_path, sweep_text(count=30, max_concurrent=6))
    grown, build2 = compiled(tmp_path, sweep_text(count=31, max_concurrent=6))
    old, new = files(build), files(build2)
    changed = {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}
    assert grown.plan is not None
    (root,) = {r.name for r in grown.plan.roots for run in r.runs if run.name == "run-30"}
    assert {path.split("/")[0] for path in changed} - {RECORD.as_posix()} == {root, contract.MANIFEST_FILE, contract.SWEEP_ORDER_FILE}
    order_lines = set(old[contract.SWEEP_ORDER_FILE].decode().splitlines()) ^ set(new[contract.SWEEP_ORDER_FILE].decode().splitlines())
    assert len(order_lines) <= 3  # the new run's line, and the comma the line before it gains


@pytest.mark.parametrize("max_concurrent", [None, 4], ids=["uncapped", "capped"])
def test_a_root_whose_runs_are_all_finished_reads_only_the_done_listing(tmp_path: Path, max_concurrent: int | None) -> None:
    checked, build = compiled(tmp_path, sweep_text(max_concurrent=max_concurrent))
    assert checked.plan is not None
    (root,) = (r for r in checked.plan.roots if r.name == "eu-west-1")
    mine = [f"{key(checked, run.name)}/success.0" for run in root.runs]
    attempts = [f"{key(checked, 'run-01')}/i-01"]  # another root's started run

    def reads(done: list[str]) -> tuple[set[str], set[str]]:
        plan = plan_root(build / root.name, tmp_path / f"off-{time.monotonic_ns()}", data=listings(done=done, attempts=attempts))
        listed = {address for address in tfh.data_reads(plan) if address.startswith("data.aws_s3_objects.")}
        return listed, {address for address in tfh.planned_inputs(plan) if address.startswith("aws_instance.run[")}

    assert reads(mine) == ({"data.aws_s3_objects.done"}, set())
    listed, instances = reads(mine[1:])  # one run open: every listing is read again, and the run launches
    assert listed == {
        "data.aws_s3_objects.done",
        "data.aws_s3_objects.attempts[0]",
        "data.aws_s3_objects.stop[0]",
        "data.aws_s3_objects.capacity[0]",
    }
    assert instances == {f'aws_instance.run["{root.runs[0].name}"]'}
