"""bootstrap: the default results bucket, private and encrypted, for accounts that have none (DESIGN §5)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, Aws, CollectError, error_text

INCOMPLETE_UPLOAD_DAYS = 7  # multipart uploads an interrupted instance left behind


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    name: str
    region: str
    created: bool  # False: it was there already (its settings are applied again)


def bootstrap(aws: Aws, region: str, name: str | None = None) -> Bucket:
    """Create the bucket (or keep it when it is already ours) and apply its settings: no public access,
    objects owned by the bucket owner, SSE-S3 encryption, TLS only, stale multipart uploads removed."""
    name = name or aws.default_bucket(region)
    s3 = aws.s3(region)
    try:
        created = _create(s3, name, region)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})  # fmt: skip
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})  # fmt: skip
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
            "ID": "abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": INCOMPLETE_UPLOAD_DAYS}}]})  # fmt: skip
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": contract.TAG_MANAGED_BY, "Value": contract.MANAGED_BY_VALUE}]})
    except AWS_ERRORS as exc:
        raise CollectError(f"s3://{name}: {error_text(exc)}") from None
    return Bucket(name=name, region=region, created=created)


def _create(s3: Any, name: str, region: str) -> bool:
    """Create the bucket unless it is already ours (us-east-1 answers 200 to creating a bucket one owns: ask first)."""
    try:
        s3.head_bucket(Bucket=name)
        return False
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code == "403":
            raise CollectError(f"the bucket name {name} is taken by another account", "name another bucket with --bucket") from None
        if code not in ("404", "NoSuchBucket"):
            raise
    request: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # the one region that refuses a location constraint naming itself
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**request)
    return True


def tls_only_policy(bucket: str) -> dict[str, Any]:
    """Refuse every request that does not use TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }  # fmt: skip
