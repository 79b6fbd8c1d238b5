"""Which sweep a command's SWEEP argument names, and where it reports: a sweep file, a compiled sweep.json, or an id.

A sweep file is compiled in memory (no AWS call); sweep.json is read as written; an id is looked up
in S3 (`S/_manifest/<root>.json`, which Terraform uploads), in `--results` or the default bucket.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from spawn_tf import contract, manifest, sweep_index
from spawn_tf.collect.aws import AWS_ERRORS, Aws, CollectError, error_text, map_on_threads, no_connection
from spawn_tf.collect.observe import Key, list_keys
from spawn_tf.collect.sweep import Results, SweepRecord


def resolve(argument: str, aws: Aws, *, results: str | None = None) -> SweepRecord:
    """The sweep named by a command's SWEEP argument.

    Args:
        argument: a sweep file, a compiled sweep.json (or its folder), or a sweep id.
        aws: used for the account id (default bucket) and, for an id, to read the manifests.
        results: s3://BUCKET/PREFIX where an id's sweep reports (default: the account's bucket).
    """
    path = Path(argument)
    if path.is_dir() and (path / contract.MANIFEST_FILE).is_file():
        path = path / contract.MANIFEST_FILE
    if path.is_file():
        if path.name == contract.MANIFEST_FILE:
            return _from_manifest(_read_json(path), aws, source=str(path), sweep_file=None)
        return _from_sweep_file(path, aws)
    if contract.SWEEP_ID_PATTERN.fullmatch(argument):
        return _from_bucket(argument, aws, results)
    raise CollectError(f"'{argument}' is neither a file nor a sweep id", "give a sweep file, build/<sweep>/sweep.json, or a sweep id")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CollectError(f"{path}: cannot be read as JSON: {exc}") from None
    if not manifest.is_sweep_manifest(data):
        raise CollectError(f"{path}: not a compiled sweep.json", "compile the sweep file with `spawn-tf compile`")
    return data


def _from_sweep_file(path: Path, aws: Aws) -> SweepRecord:
    from spawn_tf.pipeline import check_file

    checked = check_file(path)
    if checked.plan is None:
        rendered = "\n".join(diagnostic.render() for diagnostic in checked.diagnostics)
        raise CollectError(f"{path} has errors:\n{rendered}", f"`spawn-tf validate {path}` lists them")
    compiled = manifest.sweep_manifest(checked.plan, manifest.run_records(checked.plan))
    return _from_manifest(compiled, aws, source=str(path), sweep_file=path)


def _from_manifest(data: Mapping[str, Any], aws: Aws, *, source: str, sweep_file: Path | None) -> SweepRecord:
    try:
        where = manifest.location(data)
        return SweepRecord(
            id=manifest.sweep_id(data),
            results=Results(bucket=where.bucket or aws.default_bucket(where.home_region), region=where.region, folder=where.folder),
            runs=manifest.runs(data),
            sweep_file=sweep_file,
            source=None if sweep_file is not None else manifest.source_text(data),
            early_stopping=manifest.early_stopping(data),
            capacity_retry_after=manifest.capacity_retry_after([data]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _not_a_manifest(source, exc) from None


def _not_a_manifest(source: str, exc: Exception) -> CollectError:
    return CollectError(f"{source}: not a sweep manifest of this spawn-tf ({type(exc).__name__}: {exc})",
                        "compile the sweep again with this version, and apply")  # fmt: skip


def results_location(aws: Aws, results: str | None) -> tuple[str, str]:
    """(bucket, prefix) of `--results s3://BUCKET/PREFIX`, else of $SPAWN_TF_RESULTS, else of the account's default bucket."""
    if results is None:
        results = os.environ.get(contract.ENV_DEFAULT_RESULTS) or None
        if results is None:
            return aws.default_bucket(), contract.DEFAULT_RESULTS_PREFIX
        return parse_results_uri(results, f"${contract.ENV_DEFAULT_RESULTS}")
    return parse_results_uri(results, "--results")


def parse_results_uri(uri: str, where: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://BUCKET/PREFIX; what is wrong with it, when it is not one (`where` names its source)."""
    parts = contract.results_uri_parts(uri)
    if parts is not None:
        return parts
    raise CollectError(f"{where} '{uri}' is not s3://BUCKET/PREFIX: {results_uri_problem(uri)}")


def results_uri_problem(uri: str) -> str:
    """Why `uri` is not s3://BUCKET/PREFIX, in words."""
    if not uri.startswith("s3://"):
        return "it must start with s3://"
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not 3 <= len(bucket) <= 63:
        return f"the bucket name '{bucket}' has {len(bucket)} characters; bucket names have 3 to 63"
    if not re.fullmatch(r"[a-z0-9.-]+", bucket):
        return f"the bucket name '{bucket}' may hold only lower-case letters, digits, '.' and '-'"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return f"the bucket name '{bucket}' must begin and end with a letter or digit"
    return f"the prefix '{prefix}' may hold only letters, digits, '.', '_', '-' and '/' (no empty parts)"


def bucket_region(aws: Aws, bucket: str) -> str:
    """The region a bucket is in (S3 answers HeadBucket from any region with it)."""
    try:
        location = aws.s3().get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except AWS_ERRORS as exc:
        if no_connection(exc):
            raise
        raise CollectError(f"s3://{bucket}: {error_text(exc)}", "`spawn-tf bootstrap` creates the default bucket") from None
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


@dataclass(frozen=True, slots=True)
class _Place:
    """A results location where a bare sweep id may be, and why it is looked at."""

    bucket: str
    prefix: str
    region: str | None  # the bucket's, when known without asking S3
    why: str


def _places(sweep_id: str, aws: Aws, results: str | None) -> Iterator[_Place]:
    """Where to look for a sweep id, in order: --results alone when given; else the index of compiled sweeps,
    $SPAWN_TF_RESULTS and the account's default bucket. Lazily: the default bucket's name costs a call to STS."""
    if results is not None:
        yield _Place(*parse_results_uri(results, "--results"), None, "--results")
        return
    entry = sweep_index.recall(sweep_id)
    if entry is not None:
        bucket = entry.bucket or aws.default_bucket(entry.home_region)
        yield _Place(bucket, entry.prefix, entry.bucket_region, f"where {entry.build} reports, from {sweep_index.index_path()}")
    configured = os.environ.get(contract.ENV_DEFAULT_RESULTS)
    if configured:
        yield _Place(*parse_results_uri(configured, f"${contract.ENV_DEFAULT_RESULTS}"), None, f"${contract.ENV_DEFAULT_RESULTS}")
    yield _Place(aws.default_bucket(), contract.DEFAULT_RESULTS_PREFIX, None, "the account's default bucket")


def _from_bucket(sweep_id: str, aws: Aws, results: str | None) -> SweepRecord:
    looked: list[str] = []
    seen: set[tuple[str, str]] = set()
    for place in _places(sweep_id, aws, results):
        if (place.bucket, place.prefix) in seen:
            continue
        seen.add((place.bucket, place.prefix))
        where = f"s3://{place.bucket}/{contract.sweep_prefix(place.prefix, sweep_id)}/"
        try:
            region = place.region or bucket_region(aws, place.bucket)
            keys = manifest_keys(aws, place.bucket, region, place.prefix, sweep_id)
            record = applied_sweep(aws, place.bucket, region, place.prefix, sweep_id, keys=keys)
        except CollectError as exc:
            looked.append(f"{where} ({place.why}): {str(exc).removeprefix(f's3://{place.bucket}: ')}")
            continue
        except AWS_ERRORS as exc:
            if no_connection(exc):
                raise  # no other place is reachable either
            looked.append(f"{where} ({place.why}): {error_text(exc)}")
            continue
        if record is not None:
            return replace(record, source=_compiled_source(sweep_id))
        looked.append(f"{where} ({place.why}): not there")
    raise CollectError(f"no sweep '{sweep_id}' found; looked in:\n    " + "\n    ".join(looked),
                       "a sweep appears once `terraform apply` has run; `spawn-tf list-sweeps --results s3://BUCKET/PREFIX` "
                       f"lists the sweeps of a location; --results or ${contract.ENV_DEFAULT_RESULTS} names another")  # fmt: skip


def _compiled_source(sweep_id: str) -> tuple[str, str] | None:
    """The sweep file's text from the sweep.json that compile recorded for this id (the S3 manifests do not carry it)."""
    entry = sweep_index.recall(sweep_id)
    if entry is None:
        return None
    try:
        data = json.loads((Path(entry.build) / contract.MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest.source_text(data) if manifest.is_sweep_manifest(data) and data.get("sweep") == sweep_id else None


def manifest_keys(aws: Aws, bucket: str, region: str, prefix: str, sweep_id: str) -> list[Key]:
    """The root manifests `terraform apply` uploaded for a sweep (none: not a sweep, or never applied)."""
    return list_keys(aws, bucket, region, contract.control_prefix(contract.sweep_prefix(prefix, sweep_id), contract.CONTROL_MANIFEST))


def applied_sweep(aws: Aws, bucket: str, region: str, prefix: str, sweep_id: str, *, keys: list[Key]) -> SweepRecord | None:
    """A sweep as its root manifests (`manifest_keys`) describe it; None when it has none."""
    if not keys:
        return None
    folder = contract.sweep_prefix(prefix, sweep_id)
    s3 = aws.s3(region)

    def read(key: str) -> Any:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CollectError(f"s3://{bucket}/{key}: not JSON ({exc})") from None

    roots = map_on_threads(read, [key.name for key in keys])
    source = f"s3://{bucket}/{folder}/{contract.CONTROL_MANIFEST}/"
    try:
        runs = manifest.root_runs(roots)
        rule = next((found for root in roots if (found := manifest.early_stopping(root)) is not None), None)
        retry_after = manifest.capacity_retry_after(roots)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise _not_a_manifest(source, exc) from None
    return SweepRecord(id=sweep_id, results=Results(bucket=bucket, region=region, folder=folder), runs=runs, sweep_file=None, early_stopping=rule,
                       capacity_retry_after=retry_after)  # fmt: skip
