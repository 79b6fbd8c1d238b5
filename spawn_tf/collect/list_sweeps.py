"""list-sweeps: the sweeps in a results location, from their manifests and done markers (no EC2 call)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, Aws, error_text, in_parallel
from spawn_tf.collect.observe import list_keys


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSummary:
    id: str
    runs: int
    finished: int  # runs with a done marker
    regions: tuple[str, ...]
    updated: datetime | None  # the newest manifest: the last apply that changed the sweep


def list_sweeps(aws: Aws, bucket: str, region: str, prefix: str) -> tuple[list[SweepSummary], list[str]]:
    """Every sweep under s3://bucket/prefix/ that Terraform has applied, by id; and what could not be read."""
    s3 = aws.s3(region)
    top = f"{prefix}/" if prefix else ""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=top, Delimiter="/")
    ids = sorted(found["Prefix"][len(top) :].rstrip("/") for page in pages for found in page.get("CommonPrefixes", []))

    def summary(sweep_id: str) -> SweepSummary | str | None:
        folder = contract.sweep_prefix(prefix, sweep_id)
        try:
            manifests = list_keys(aws, bucket, region, contract.control_prefix(folder, contract.CONTROL_MANIFEST))
            if not manifests:
                return None  # a folder that is not a sweep
            roots = [json.loads(s3.get_object(Bucket=bucket, Key=key.name)["Body"].read()) for key in manifests]
            done = list_keys(aws, bucket, region, contract.control_prefix(folder, contract.CONTROL_DONE))
        except AWS_ERRORS as exc:
            return f"{sweep_id}: {error_text(exc)}"
        keys = {contract.run_key(run["name"], run["fingerprint"]) for root in roots for run in root["runs"]}
        done_prefix = contract.control_prefix(folder, contract.CONTROL_DONE)
        finished = {key.name.removeprefix(done_prefix).split("/")[0] for key in done} & keys
        return SweepSummary(
            id=sweep_id, runs=len(keys), finished=len(finished),
            regions=tuple(sorted({root["region"] for root in roots})), updated=max(key.written for key in manifests),
        )  # fmt: skip

    answers = in_parallel(summary, ids)
    return [a for a in answers if isinstance(a, SweepSummary)], [a for a in answers if isinstance(a, str)]
