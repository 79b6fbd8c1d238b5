from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace

import pytest
from sweep_helpers import QUIET_DEFAULTS, CheckSweep

from spawn_tf import contract
from spawn_tf.plan import _jumps


def test_plan_one_root_per_region(check: CheckSweep) -> None:
    checked = check(
        "regions: [us-east-1, eu-west-1]\n"
        + QUIET_DEFAULTS
        + "name_template: r-{i}\ngrid:\n  i: ["
        + ", ".join(map(str, range(40)))
        + "]\n"
    )
    assert checked.plan is not None
    assert [root.name for root in checked.plan.roots] == ["eu-west-1", "us-east-1"]
    assert sum(len(root.runs) for root in checked.plan.roots) == 40
    for root in checked.plan.roots:
        assert all(run.region == root.region for run in root.runs)
        assert [run.index for run in root.runs] == sorted(run.index for run in root.runs)


def test_a_roots_samples_are_a_run_of_each_of_its_settings_however_it_is_made(check: CheckSweep) -> None:
    checked = check(QUIET_DEFAULTS + "params:\n  - {name: a}\n  - {name: b, ttl: 3h}\n  - {name: c}\n  - {name: d, ttl: 3h}\n")
    assert checked.plan is not None
    [root] = checked.plan.roots
    changed = replace(root, runs=tuple(replace(run, settings=replace(run.settings, ttl_seconds=60)) if run.name == "c" else run for run in root.runs))
    for made in (root, changed):  # dataclasses.replace too: of the runs it holds, never of those it was made from
        held = {id(run.settings): run.settings for run in made.runs}
        assert [id(run.settings) for run in made.samples] == list(held) and all(any(run is member for member in made.runs) for run in made.samples)
    assert len(root.samples) == 2 and len(changed.samples) == 3


def _placement(check: CheckSweep, count: int, limit: int) -> dict[str, str]:
    """Run name -> root, for a grid of `count` runs in one region with max_runs_per_root `limit`."""
    grid = f"name_template: r-{{i}}\nmax_runs_per_root: {limit}\ngrid:\n  i: [" + ", ".join(map(str, range(count))) + "]\n"
    plan = check(QUIET_DEFAULTS + grid).plan
    assert plan is not None
    return {run.name: root.name for root in plan.roots for run in root.runs}


def test_plan_shards_large_regions_stably(check: CheckSweep) -> None:
    small, grown = _placement(check, 300, 50), _placement(check, 450, 50)
    small_roots, grown_roots = sorted(set(small.values())), sorted(set(grown.values()))
    assert len(small_roots) >= 6 and len(grown_roots) > len(small_roots)
    moved = [name for name in small if small[name] != grown[name]]
    assert moved and all(grown[name] not in small_roots for name in moved)  # runs only move into new shards
    assert len(moved) < len(small) / 2


@pytest.mark.parametrize("limit", [1, 2, 3, 10, 50, 500])
def test_plan_no_shard_exceeds_max_runs_per_root(check: CheckSweep, limit: int) -> None:
    """max_runs_per_root is a bound, not a target (576 runs were once placed in a shard of 500)."""
    for count in sorted({limit + 1, 2 * limit, 3 * limit + 7, 576, 1001}):
        placement = _placement(check, count, limit)
        sizes = Counter(placement.values())
        assert len(placement) == count and max(sizes.values()) <= limit, (count, limit, sizes.most_common(1))
        assert len(sizes) <= 2 * -(-count // limit)  # at most twice the fewest shards


def test_plan_role_names_fit_iam_and_differ_per_root(check: CheckSweep) -> None:
    long_id = "s" * 40
    checked = check(
        f"sweep: {long_id}\nregions: [us-east-1, eu-west-1]\n" + QUIET_DEFAULTS + "name_template: r-{i}\ngrid:\n  i: [1, 2, 3, 4, 5, 6]\n"
    )
    assert checked.plan is not None
    names = [name for root in checked.plan.roots for name in root.roles.values()]
    assert len(names) == len(set(names)) == 2
    assert all(len(name) <= contract.MAX_IAM_NAME_CHARS and name.startswith(f"spawn-tf-{long_id[:32]}-") for name in names)


def test_plan_runs_with_equal_needs_share_a_role(check: CheckSweep) -> None:
    checked = check(
        QUIET_DEFAULTS + "params:\n  - {name: a, iam_policy: s3:ReadOnly}\n  - {name: b, iam_policy: 's3:ReadOnly, s3:ReadOnly'}\n"
        "  - {name: c, iam_policy: logs:WriteOnly}\n  - {name: d, iam_instance_profile: existing}\n"
    )
    assert checked.plan is not None
    [root] = checked.plan.roots
    assert len(root.roles) == 2
    assert sorted(spec.shorthands for spec in root.specs.values()) == [("logs:WriteOnly",), ("s3:ReadOnly",)]


def _jump_hash(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash as published: the bucket of `key` among `buckets`."""
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * 2862933555777941757 + 1) % 2**64
        jump = int((bucket + 1) * (2**31 / ((key >> 33) + 1)))
    return bucket


def test_plan_jumps_give_the_jump_hash_at_every_bucket_count() -> None:
    for name in ("a", "r-000001", "lr-0.001-bs-64", "x" * 100):
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
        jumps = _jumps(key, 64)
        assert jumps[0] == 0 and jumps == sorted(jumps) and jumps[-1] < 64
        for buckets in range(1, 65):
            assert max(jump for jump in jumps if jump < buckets) == _jump_hash(key, buckets), (name, buckets)
