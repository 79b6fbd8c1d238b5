"""The workdir archives of a root: files in the root, uploaded by Terraform to S/_code/ (DESIGN §11). Pure.

Each archive a root's runs use is a file `code/<sha256>.tar.gz` in the root and an `aws_s3_object`
with `source` (the file) and `source_hash` (Terraform's own hash of it, so a changed file is uploaded
again). The key is content-addressed, so roots of one sweep that share an archive write the same
bytes to the same key. Each object carries its sha256 as the tag `spawn:code`: a role's policy lets
it read only the archives whose tag its runs name (`code_statements`).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from spawn_tf import contract
from spawn_tf.emit.hcl import Expr, Template
from spawn_tf.plan import Plan, Root
from spawn_tf.workdir import archive_name


def root_archives(root: Root) -> tuple[str, ...]:
    """The sha256 of every archive the root's runs use, sorted."""
    return tuple(sorted({run.settings.code_sha256 for run in root.runs if run.settings.code_sha256 is not None}))


def code_files(plan: Plan, root: Root) -> dict[PurePosixPath, bytes]:
    """code/<sha256>.tar.gz for each archive the root uses."""
    return {archive_name(sha): plan.archives[sha] for sha in root_archives(root)}


def code_document(plan: Plan, root: Root, sweep_tags: dict[str, str]) -> dict[str, Any]:
    """The upload of the root's archives; empty when its runs have no workdir."""
    archives = root_archives(root)
    if not archives:
        return {}
    prefix = contract.control_prefix(plan.sweep_folder, contract.CONTROL_CODE)
    return {
        "resource": {
            "aws_s3_object": {
                "code": {
                    "for_each": {sha: str(archive_name(sha)) for sha in archives},
                    "region": plan.bucket_region,
                    "bucket": Expr("local.results_bucket"),
                    "key": Template((prefix, Expr("each.key"), contract.ARCHIVE_SUFFIX)),
                    "source": Template((Expr("path.module"), "/", Expr("each.value"))),
                    "source_hash": Expr('filesha256("${path.module}/${each.value}")'),
                    "content_type": "application/gzip",
                    "tags": {**sweep_tags, contract.TAG_CODE: Expr("each.key")},
                }
            }
        }
    }


def code_statements(plan: Plan, code: tuple[str, ...], arn: Template, bucket: Expr) -> list[dict[str, Any]]:
    """A role reads only its runs' archives, and writes none (the sweep's folder is otherwise its own).

    The sweep-wide statement lets a role read S/*; this denies reading an object under S/_code/
    unless its `spawn:code` tag names one of `code` (an untagged object is denied too: a negated
    condition holds when the tag is missing), and denies every write there.
    """
    objects = Template((*arn.parts, "s3:::", bucket, f"/{contract.control_prefix(plan.sweep_folder, contract.CONTROL_CODE)}*"))
    statements: list[dict[str, Any]] = [
        {"Sid": "CodeReadOnly", "Effect": "Deny", "Action": ["s3:DeleteObject", "s3:PutObject"], "Resource": objects},
    ]
    read = {"Sid": "OnlyOwnCode", "Effect": "Deny", "Action": "s3:GetObject", "Resource": objects}
    if code:
        read["Condition"] = {"StringNotEquals": {f"s3:ExistingObjectTag/{contract.TAG_CODE}": list(code)}}
    return [*statements, read]
