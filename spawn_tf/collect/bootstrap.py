"""bootstrap: the default results bucket, private and encrypted, for accounts that have none (DESIGN §5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from spawn_tf import contract
from spawn_tf.collect.aws import AWS_ERRORS, Aws, CollectError, error_text, is_missing

INCOMPLETE_UPLOAD_DAYS = 7  # multipart uploads an interrupted instance left behind


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    name: str
    region: str
    created: bool  # False: it was there already, and is left as it is
    concerns: tuple[str, ...]  # what an existing bucket lacks of the settings a new one gets


def bootstrap(aws: Aws, region: str, name: str | None = None) -> Bucket:
    """Create the bucket with its settings — no public access, objects owned by the bucket owner,
    SSE-S3 encryption, TLS only, stale multipart uploads removed — or, when it exists already,
    leave it as it is (its policy, rules and tags are its owner's) and say what it lacks."""
    name = name or aws.default_bucket(region)
    s3 = aws.s3(region)
    try:
        if _exists(s3, name):
            return Bucket(name=name, region=region, created=False, concerns=tuple(_concerns(s3, name)))
        s3.create_bucket(**({"Bucket": name} if region == "us-east-1" else  # the one region that refuses a constraint naming itself
                            {"Bucket": name, "CreateBucketConfiguration": {"LocationConstraint": region}}))  # fmt: skip
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=dict.fromkeys(_PUBLIC_ACCESS_BLOCK, True))
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
    return Bucket(name=name, region=region, created=True, concerns=())


_PUBLIC_ACCESS_BLOCK = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _exists(s3: Any, name: str) -> bool:
    """Whether the bucket exists and is ours; a bucket of another account is an error."""
    try:
        s3.head_bucket(Bucket=name)
    except botocore.exceptions.ClientError as exc:
        if is_missing(exc):
            return False
        if str(exc.response.get("Error", {}).get("Code")) == "403":
            raise CollectError(f"the bucket name {name} is taken by another account", "name another bucket with --bucket") from None
        raise
    return True


def _concerns(s3: Any, name: str) -> Iterator[str]:
    try:
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except botocore.exceptions.ClientError:
        block = {}
    if not all(block.get(setting) for setting in _PUBLIC_ACCESS_BLOCK):
        yield "public access is not fully blocked"
    try:
        s3.get_bucket_encryption(Bucket=name)
    except botocore.exceptions.ClientError:
        yield "no default encryption"


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
