"""Build the Sweep of a checked document: defaults gathered, the grid in key order, the random search, the budget,
the early-stopping rule."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from spawn_tf import contract
from spawn_tf.load import Document
from spawn_tf.model import Backend, Budget, RandomParameter, RandomSearch, Sweep
from spawn_tf.stopping import Rule
from spawn_tf.values import parse_duration

_NOT_IN_ID = re.compile(r"[^a-z0-9]+")
_ID_HASH_CHARS = 6


def sweep_id_from_file_name(stem: str) -> str:
    """The sweep id of a file without `sweep:`: its name made into an id (DESIGN §2).

    Lower case; every run of other characters (`_`, spaces, dots) becomes one '-'; a name over
    the limit keeps its start and ends with a hash of the whole name, so two long names that
    differ only at the end still get different ids.
    """
    words = _NOT_IN_ID.sub("-", stem.lower()).strip("-") or "sweep"
    if len(words) <= contract.MAX_SWEEP_ID_CHARS:
        return words
    digest = hashlib.sha256(stem.encode("utf-8", "surrogatepass")).hexdigest()[:_ID_HASH_CHARS]
    return f"{words[: contract.MAX_SWEEP_ID_CHARS - _ID_HASH_CHARS - 1].rstrip('-')}-{digest}"


def build_sweep(document: Document) -> Sweep:
    data = document.data
    defaults = {key: data[key] for key in data if key in contract.RUN_SETTINGS}
    defaults.update(data.get("defaults", {}))
    random = data.get("random")
    terraform = data.get("terraform", {})
    backend = next(iter(terraform.get("backend", {}).items()), None)
    return Sweep(
        id=data["sweep"] if "sweep" in data else sweep_id_from_file_name(document.stem),
        source=document.file,
        source_name=document.name,
        source_sha256=document.sha256,
        results=data.get("results"),
        results_region=data.get("results_region"),
        defaults=MappingProxyType(defaults),
        params=tuple(MappingProxyType(row) for row in data.get("params", ())),
        grid=tuple((key, tuple(values)) for key, values in sorted(data.get("grid", {}).items())),
        random=None
        if random is None
        else RandomSearch(
            count=int(random["count"]),
            seed=int(random.get("seed", 0)),
            parameters=tuple(
                RandomParameter(
                    name=key,
                    values=tuple(spec.get("values", ())),
                    distribution=spec.get("distribution"),
                    low=float(spec.get("min", 0)),
                    high=float(spec.get("max", 0)),
                )
                for key, spec in random["parameters"].items()
            ),
        ),
        name_template=data.get("name_template"),
        regions=tuple(data.get("regions", ())),
        max_concurrent=data.get("max_concurrent"),
        max_runs_per_root=int(data.get("max_runs_per_root", contract.DEFAULT_MAX_RUNS_PER_ROOT)),
        backend=None if backend is None else Backend(kind=backend[0], config=MappingProxyType(dict(backend[1]))),
        aws_provider_version=terraform.get("aws_provider_version", contract.DEFAULT_AWS_PROVIDER_VERSION),
        budget=_budget(data.get("budget")),
        early_stopping=None if "early_stopping" not in data else Rule.from_settings(data["early_stopping"]),
        capacity_retry_after_seconds=parse_duration(data.get("capacity_retry_after", "0s")) or contract.DEFAULT_CAPACITY_RETRY_AFTER_SECONDS,
        provider_max_retries=int(terraform.get("max_retries", contract.DEFAULT_PROVIDER_MAX_RETRIES)),
    )


def _budget(budget: Mapping[str, Any] | None) -> Budget | None:
    if budget is None:
        return None
    from decimal import Decimal  # only sweeps with a budget need it

    # str() of a number gives its text as written, so `max_usd: 0.1` is exactly 0.1 dollars.
    return Budget(max_usd=Decimal(str(budget[contract.BUDGET_MAX_USD])), prices=budget.get(contract.BUDGET_PRICES))
