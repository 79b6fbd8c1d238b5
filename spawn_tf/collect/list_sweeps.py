"""list-sweeps: the sweeps in a results location and how far each is, from S3 alone (no EC2 call)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spawn_tf.collect.aws import AWS_ERRORS, Aws, CollectError, error_text, map_on_threads
from spawn_tf.collect.observe import observe
from spawn_tf.collect.resolve import applied_sweep, manifest_keys
from spawn_tf.collect.status import iso, run_statuses, sweep_status
from spawn_tf.contract import SweepStatus
from spawn_tf.errors import SpawnError


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSummary:
    id: str
    status: SweepStatus  # as `status` would say, but for live instances (a run that began is running)
    runs: int
    final: int  # runs that nothing will launch again
    regions: tuple[str, ...]
    updated: datetime | None  # the newest manifest: the last apply that changed the sweep


def summaries_document(summaries: Sequence[SweepSummary]) -> list[dict[str, Any]]:
    """`list-sweeps --json`: one object per sweep."""
    return [{"sweep": s.id, "status": str(s.status), "runs": s.runs, "final": s.final, "regions": list(s.regions), "updated_at": iso(s.updated)}
            for s in summaries]  # fmt: skip


def matches(sweep_id: str, patterns: Sequence[str]) -> bool:
    """Whether an id is one of `patterns`: exactly, or by a glob (`stage1-*`); no pattern matches every id."""
    return not patterns or any(sweep_id == pattern or fnmatch.fnmatchcase(sweep_id, pattern) for pattern in patterns)


def list_sweeps(aws: Aws, bucket: str, region: str, prefix: str, patterns: Sequence[str] = ()) -> tuple[list[SweepSummary], list[str]]:
    """Every sweep under s3://bucket/prefix/ that Terraform has applied (those `patterns` match), by id; and what could not be read."""
    top = f"{prefix}/" if prefix else ""
    pages = aws.s3(region).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=top, Delimiter="/")
    ids = sorted(found["Prefix"][len(top) :].rstrip("/") for page in pages for found in page.get("CommonPrefixes", []))
    ids = [sweep_id for sweep_id in ids if matches(sweep_id, patterns)]  # before reading any: a filter saves the calls too

    def summary(sweep_id: str) -> SweepSummary | str | None:
        try:
            manifests = manifest_keys(aws, bucket, region, prefix, sweep_id)
            record = applied_sweep(aws, bucket, region, prefix, sweep_id, keys=manifests)
            if record is None:
                return None  # a folder that is not a sweep
            observation = observe(record, aws, instances=False)
        except AWS_ERRORS as exc:
            return f"{sweep_id}: {error_text(exc)}"
        except CollectError as exc:
            return str(exc)
        if observation.problems:
            return f"{sweep_id}: {'; '.join(observation.problems)}"
        statuses = run_statuses(record, observation)
        return SweepSummary(
            id=sweep_id, status=sweep_status(statuses), runs=len(statuses), final=sum(1 for status in statuses if status.final),
            regions=record.regions, updated=max(key.written for key in manifests),
        )  # fmt: skip

    answers = map_on_threads(summary, ids)
    return [a for a in answers if isinstance(a, SweepSummary)], [a for a in answers if isinstance(a, str)]


def check_matched(where: str, patterns: Sequence[str], summaries: Sequence[SweepSummary], problems: Sequence[str]) -> None:
    """Patterns that match no sweep of a location read in full are an error (a typo), not an empty list."""
    if patterns and not summaries and not problems:
        raise SpawnError(f"no sweep in {where} matches {' or '.join(repr(p) for p in patterns)}",
                         "a pattern is an exact id or a glob such as 'stage1-*'; `spawn-tf list-sweeps` lists them all")  # fmt: skip
