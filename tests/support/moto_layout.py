"""S3 keys and EC2 instances laid out as the agent and Terraform lay them, on moto server (for the collector tests)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from imds import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from sandbox import AMI, Aws

from spawn_tf import contract
from spawn_tf.collect.sweep import SweepRecord

BUCKET = "spawn-test-bucket"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's account
DEFAULT_BUCKET = contract.DEFAULT_RESULTS_BUCKET.format(account_id=ACCOUNT_ID, region=REGION)


@dataclass
class Layout:
    """A compiled sweep and helpers that write what its agents, Terraform and EC2 would have written."""

    aws: Aws
    record: SweepRecord
    sweep_file: Path
    _ids: Iterator[int]

    @property
    def folder(self) -> str:
        return self.record.results.folder

    @property
    def bucket(self) -> str:
        return self.record.results.bucket

    def key(self, run: str) -> str:
        found = self.record.run(run)
        assert found is not None, run
        return found.key

    def put(self, key: str, body: bytes = b"") -> None:
        self.aws.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda item: self.put(*item), items))

    def done(self, run: str, status: str, exit_code: int | None) -> tuple[str, bytes]:
        return contract.done_key(self.folder, self.key(run), status, exit_code), b""

    def attempt(self, run: str, instance_id: str, outcome: str | None = None) -> list[tuple[str, bytes]]:
        prefix = f"{contract.control_prefix(self.folder, contract.CONTROL_ATTEMPTS)}{self.key(run)}/{instance_id}"
        items = [(prefix, json.dumps({"started_at": "2026-11-29T10:00:00Z", "region": "us-east-1"}).encode())]
        lease = f"{contract.control_prefix(self.folder, contract.CONTROL_LEASE)}{self.key(run)}/1"
        return [*items, (lease, b""), *([(f"{prefix}.{outcome}", b"")] if outcome else [])]

    def file(self, run: str, path: str, body: bytes) -> tuple[str, bytes]:
        return f"{self.record.results.run_folder(run)}{path}", body

    def finished(
        self, run: str, status: str, exit_code: int | None, *, metrics: dict[str, Any] | None = None, files: bool = True,
        fingerprint: str | None = None,
    ) -> list[tuple[str, bytes]]:
        """What an agent leaves for a run that ended with `status` on its first attempt (`files`: its status and log too).

        `fingerprint`: the run's status.json names this one (an earlier configuration's) instead of its current one.
        """
        instance_id = self.instance_id()
        items = [*self.attempt(run, instance_id, status), self.done(run, status, exit_code)]
        if not files:
            return items
        found = self.record.run(run)
        assert found is not None
        record = {"sweep": self.record.id, "run": run, "fingerprint": fingerprint or found.fingerprint, "status": status,
                  "exit_code": exit_code, "instance_id": instance_id}  # fmt: skip
        items.append(self.file(run, contract.STATUS_FILE, json.dumps(record).encode()))
        items.append(self.file(run, f"{contract.LOGS_FOLDER}/1-{instance_id}.log", f"log of {run}\n".encode()))
        if metrics is not None:
            items.append(self.file(run, contract.METRICS_FILE, json.dumps(metrics).encode()))
        return items

    def instance_id(self) -> str:
        """A made-up id for an instance EC2 no longer lists."""
        return f"i-{next(self._ids):017x}"

    def launch(self, run: str, *, state: str = "running", status_tag: str | None = None) -> str:
        """An instance of `run` in its region, with the tags Terraform gives it; terminated if `state` says so."""
        found = self.record.run(run)
        assert found is not None
        tags = {contract.TAG_SWEEP: self.record.id, contract.TAG_RUN: run, contract.TAG_FINGERPRINT: found.fingerprint,
                contract.TAG_INDEX: str(found.index), contract.TAG_MANAGED_BY: contract.MANAGED_BY_VALUE}  # fmt: skip
        if status_tag:
            tags[contract.TAG_STATUS] = status_tag
        ec2 = ec2_client(self.aws, found.region)
        instance_id = ec2.run_instances(
            ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["Instances"][0]["InstanceId"]  # fmt: skip
        if state == "terminated":
            ec2.terminate_instances(InstanceIds=[instance_id])
        return instance_id


def ec2_client(aws: Aws, region: str) -> Any:
    return _ec2_client(aws.endpoint, region)


@functools.cache  # a client takes a third of a second to make
def _ec2_client(endpoint: str, region: str) -> Any:
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY, region_name=region)
    return session.client("ec2", endpoint_url=endpoint)
