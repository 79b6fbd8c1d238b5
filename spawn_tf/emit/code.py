"""The code objects of a root: files in the root, uploaded by Terraform to S/_code/ (DESIGN §11). Pure.

Each workdir archive a root's runs use is a file `code/<sha256>.tar.gz`, and each module of the
agent's helper kept out of user-data that a run fetches (the one that prepares runs' environments,
the early-stopping rule) `code/<sha256>.py`; each is an `aws_s3_object` with `source` (the file)
and `source_hash` (Terraform's own hash of it, so a changed file is uploaded again). Keys are content-addressed, so roots of one sweep
that share an object write the same bytes to the same key. Each object carries its sha256 as the
tag `spawn:code`: a role's policy lets it read only the objects whose tag its runs name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from spawn_tf import contract
from spawn_tf.emit.hcl import Expr, Template
from spawn_tf.plan import Plan, Root
from spawn_tf.workdir import code_name


def root_code(plan: Plan, root: Root) -> dict[str, tuple[PurePosixPath, bytes]]:
    """Object name (<sha256><suffix>) -> (file in the root, bytes) of every code object the root's runs read, sorted."""
    found: dict[str, tuple[PurePosixPath, bytes]] = {}
    for settings in (run.settings for run in root.samples):
        sha = settings.code_sha256
        if sha is not None:
            found[f"{sha}{contract.ARCHIVE_SUFFIX}"] = (code_name(sha), plan.archives[sha])
        for module in plan.modules_of(settings):
            found[f"{module.sha256}{contract.MODULE_SUFFIX}"] = (code_name(module.sha256, contract.MODULE_SUFFIX), module.data)
    return dict(sorted(found.items()))


def code_document(plan: Plan, objects: Mapping[str, tuple[PurePosixPath, bytes]], sweep_tags: dict[str, str]) -> dict[str, Any]:
    """The upload of a root's code objects (`root_code`); empty when its runs read none."""
    if not objects:
        return {}
    prefix = contract.control_prefix(plan.sweep_folder, contract.CONTROL_CODE)
    return {
        "resource": {
            "aws_s3_object": {
                "code": {
                    "for_each": {name: str(path) for name, (path, _) in objects.items()},
                    "region": plan.bucket_region,
                    "bucket": Expr("local.results_bucket"),
                    "key": Template((prefix, Expr("each.key"))),
                    "source": Template((Expr("path.module"), "/", Expr("each.value"))),
                    "source_hash": Expr('filesha256("${path.module}/${each.value}")'),
                    "content_type": "application/octet-stream",
                    "tags": {**sweep_tags, contract.TAG_CODE: Expr('split(".", each.key)[0]')},
                }
            }
        }
    }


def code_statements(plan: Plan, code: tuple[str, ...], arn: Template, bucket: Expr) -> list[dict[str, Any]]:
    """A role reads only its runs' code objects, and writes none (the sweep's folder is otherwise its own).

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
