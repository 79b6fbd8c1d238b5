"""Collector tests: moto server over HTTP with S3 keys and instances laid out as the agent and Terraform lay them.

Fixtures:
- `collector_env`: the process environment pointed at moto server (AWS_ENDPOINT_URL, test credentials,
  us-east-1), so the CLI and `spawn_tf.collect.aws.Aws()` reach it as they would reach AWS.
- `counting_aws`: `counting_aws() -> (Aws, Counter)`: a collector `Aws` whose every API call is counted
  by (service, operation) through botocore's `before-call` event; a call with a page size is also
  counted as (service, "<operation> MaxResults=<n>").
- `layout`: `layout(sweep_yaml) -> Layout`, the sweep compiled in memory and its bucket created.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from imds import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from moto_layout import REGION, Layout
from sandbox import Aws

from spawn_tf.collect.aws import Aws as CollectorAws
from spawn_tf.collect.resolve import resolve


@pytest.fixture
def collector_env(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    return env


@pytest.fixture
def counting_aws(collector_env: dict[str, str]) -> Callable[[], tuple[CollectorAws, Counter[tuple[str, str]]]]:
    def make() -> tuple[CollectorAws, Counter[tuple[str, str]]]:
        calls: Counter[tuple[str, str]] = Counter()
        session = boto3.session.Session()

        def count(model: Any, params: dict[str, Any], **_: Any) -> None:
            calls[(model.service_model.service_name, model.name)] += 1
            page_size = params.get("body", {}).get("MaxResults") if isinstance(params.get("body"), dict) else None
            if page_size is not None:
                calls[(model.service_model.service_name, f"{model.name} MaxResults={page_size}")] += 1

        session.events.register("before-call.*.*", count)  # clients copy the session's handlers when made
        return CollectorAws(session), calls

    return make


@pytest.fixture
def layout(aws: Aws, collector_env: dict[str, str], tmp_path: Path) -> Callable[..., Layout]:
    def make(sweep_yaml: str, *, name: str = "sweep.yaml", create_bucket: bool = True) -> Layout:
        path = tmp_path / name
        path.write_text(sweep_yaml, encoding="utf-8")
        record = resolve(str(path), CollectorAws())
        if create_bucket:
            aws.s3.create_bucket(Bucket=record.results.bucket)
        return Layout(aws=aws, record=record, sweep_file=path, _ids=itertools.count(1))

    return make
