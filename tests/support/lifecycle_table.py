"""tests/data/lifecycle.yaml, read for the executors that run it (its header documents the fields)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spawn_tf import contract
from spawn_tf.lifecycle import Limits

TABLE = Path(__file__).parents[1] / "data" / "lifecycle.yaml"
OLD_FINGERPRINT = "000000000000"  # the fingerprint of an earlier configuration (placeholder OLD)


@dataclass(frozen=True)
class Scenario:
    name: str
    keys: tuple[str, ...]
    limits: Limits
    expect: dict[str, Any]
    agent: dict[str, Any]
    instance: dict[str, Any] | None
    unread: tuple[str, ...]
    max_concurrent: dict[str, int] | None
    workload_exit: int
    heartbeat_stale: bool = False  # the agent's view only: the newest lease's heartbeat is older than its limit

    def control_keys(self, folder: str, run: str, fingerprint: str) -> list[str]:
        """The scenario's keys under the sweep folder, placeholders replaced, oldest first."""
        names = {"R": contract.run_key(run, fingerprint), "OLD": contract.run_key(run, OLD_FINGERPRINT), "RUN": run}
        return [f"{folder}/" + "/".join(names.get(part, part) for part in key.split("/")) for key in self.keys]


def scenarios() -> list[Scenario]:
    table = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    return [
        Scenario(
            name=item["name"],
            keys=tuple(item["keys"]),
            limits=Limits(**item["settings"]),
            expect=item["expect"],
            agent=item["agent"],
            instance=item.get("instance"),
            unread=tuple(item.get("unread", ())),
            max_concurrent=item.get("max_concurrent"),
            workload_exit=item.get("workload_exit", 0),
            heartbeat_stale={"fresh": False, "stale": True}[item.get("heartbeat", "fresh")],
        )
        for item in table["scenarios"]
    ]
