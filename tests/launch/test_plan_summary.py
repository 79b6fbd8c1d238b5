"""What a saved plan does to the sweep's runs, from `terraform show -json` (spawn_tf/launch/plan_summary.py)."""

from __future__ import annotations

from typing import Any

from spawn_tf import contract
from spawn_tf.launch.plan_summary import Changes, line, summarize, total


def _resource(address: str, references: list[str]) -> dict[str, Any]:
    return {"address": address, "mode": "managed", "for_each_expression": {"references": references}}


def _change(address: str, key: str | None, *actions: str) -> dict[str, Any]:
    full = f'{address}["{key}"]' if key is not None else address
    return {"address": full, "mode": "managed", "index": key, "change": {"actions": list(actions)}}


PER_RUN = [_resource("aws_instance.run", [contract.ACTIVE_RUNS_LOCAL]), _resource("terraform_data.fp", [contract.ACTIVE_RUNS_LOCAL])]


def _plan(*changes: dict[str, Any]) -> dict[str, Any]:
    roles = _resource("aws_iam_role.run", ["local.roles"])
    return {"configuration": {"root_module": {"resources": [*PER_RUN, roles]}}, "resource_changes": list(changes)}


def test_a_new_run_a_changed_fingerprint_and_a_finished_run() -> None:
    plan = _plan(
        _change("aws_instance.run", "new", "create"), _change("terraform_data.fp", "new", "create"),
        _change("aws_instance.run", "changed", "delete", "create"), _change("terraform_data.fp", "changed", "update"),
        _change("aws_instance.run", "finished", "delete"), _change("terraform_data.fp", "finished", "delete"),
        _change("aws_instance.run", "same", "no-op"), _change("terraform_data.fp", "same", "no-op"),
    )  # fmt: skip
    changes = summarize(plan)
    assert (changes.launches, changes.replacements, changes.removals) == (("new",), ("changed",), ("finished",))
    assert (changes.add, changes.change, changes.destroy) == (3, 1, 3)


def test_a_relaunch_is_a_launch_and_resources_of_other_kinds_are_no_runs() -> None:
    # A spot-interrupted run's instance is gone: Terraform creates it again, its fingerprint marker stays.
    plan = _plan(_change("aws_instance.run", "lost", "create"), _change("aws_iam_role.run", "lost", "create"),
                 _change("aws_s3_object.manifest", None, "update"))  # fmt: skip
    changes = summarize(plan)
    assert (changes.launches, changes.replacements, changes.removals) == (("lost",), (), ())
    assert (changes.add, changes.change, changes.destroy) == (2, 1, 0) and changes.any


def test_a_create_before_destroy_replacement_and_data_reads() -> None:
    plan = _plan(
        _change("aws_instance.run", "r", "create", "delete"),
        {"address": "data.aws_s3_objects.done", "mode": "data", "change": {"actions": ["read"]}},
    )
    changes = summarize(plan)
    assert changes.replacements == ("r",) and changes.launches == ()
    assert (changes.add, changes.destroy) == (1, 1)


def test_no_changes() -> None:
    changes = summarize(_plan(_change("aws_instance.run", "same", "no-op")))
    assert changes == Changes() and not changes.any


def test_totals_and_the_line() -> None:
    first = Changes(launches=("a",), removals=("b",), add=2, destroy=2)
    second = Changes(replacements=("c",), add=1, change=1, destroy=1)
    summed = total([first, second])
    assert (summed.launches, summed.replacements, summed.removals) == (("a",), ("c",), ("b",))
    assert line(summed) == "1 to launch, 1 to replace, 1 to remove (resources: 3 to add, 1 to change, 3 to destroy)"
    assert summed.as_json()["runs"] == {"launch": ["a"], "replace": ["c"], "remove": ["b"]}
