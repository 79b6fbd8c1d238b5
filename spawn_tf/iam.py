"""IAM policy shorthands (`s3:ReadOnly`, …): the 13 of spawn's `--iam-policy`, as named there, with an
optional resource scope for S3 and CloudWatch Logs (`s3:ReadOnly:my-bucket/data`). Pure."""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from spawn_tf import contract

# Shorthand -> actions. The action lists are spawn's (pkg/aws/iam.go `PolicyTemplates`).
SHORTHANDS: Final[dict[str, tuple[str, ...]]] = {
    "s3:FullAccess": ("s3:*",),
    "s3:ReadOnly": ("s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"),
    "s3:WriteOnly": ("s3:DeleteObject", "s3:PutObject", "s3:PutObjectAcl"),
    "dynamodb:FullAccess": ("dynamodb:*",),
    "dynamodb:ReadOnly": (
        "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan",
    ),
    "dynamodb:WriteOnly": ("dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    "sqs:FullAccess": ("sqs:*",),
    "sqs:ReadOnly": ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueues", "sqs:ReceiveMessage"),
    "sqs:WriteOnly": ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:SendMessage"),
    "logs:WriteOnly": ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
    "ecr:ReadOnly": (
        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer",
    ),
    "secretsmanager:ReadOnly": ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
    "ssm:ReadOnly": ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"),
}  # fmt: skip


# AWS managed policies that hand the instance the account: administrator, or the power to make itself one.
ADMIN_MANAGED_POLICIES: Final = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})


def is_admin_policy(arn: str) -> bool:
    """True for the ARN of an AWS managed policy in ADMIN_MANAGED_POLICIES, in any partition."""
    head, _, name = arn.rpartition("/")
    return head.endswith(":iam::aws:policy") and name in ADMIN_MANAGED_POLICIES


# Services whose shorthands take a resource scope, `NAME:SCOPE`: what the scope names. The others grant
# their actions on every resource, as spawn's do (their resources are named per region and account;
# attach a managed policy for finer grants).
SCOPES: Final = {
    "s3": "BUCKET or BUCKET/PREFIX",  # s3:ReadOnly:my-bucket/data: objects under data/, and listing that prefix only
    "logs": "LOG_GROUP",  # logs:WriteOnly:/sweeps/lr: that log group (any region) and its streams
}
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (IP-address forms excluded below)
BUCKET_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
_S3_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/=+-]+")  # safe key characters, no '$' or spaces
_LOG_GROUP = re.compile(r"[A-Za-z0-9_./#-]{1,512}")  # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html


@dataclass(frozen=True, slots=True)
class Shorthand:
    """`s3:ReadOnly` or `s3:ReadOnly:my-bucket/data`: a name of SHORTHANDS and an optional scope."""

    name: str
    scope: str | None = None

    @property
    def service(self) -> str:
        return self.name.split(":")[0]


def parse_shorthand(text: str) -> Shorthand:
    """'s3:ReadOnly:bucket/prefix' -> Shorthand('s3:ReadOnly', 'bucket/prefix'); the scope is None without a second ':'."""
    service, colon, rest = text.partition(":")
    level, scoped, scope = rest.partition(":")
    return Shorthand(f"{service}:{level}", scope) if colon and scoped else Shorthand(text)


def shorthand_problem(text: str) -> tuple[str, str, str | None] | None:
    """(code, message, hint) when `text` is not a valid shorthand, else None."""
    shorthand = parse_shorthand(text)
    if shorthand.name not in SHORTHANDS:
        return "unknown-iam-policy", f"unknown IAM policy shorthand '{shorthand.name}'", None
    return None if shorthand.scope is None else _scope_problem(text, shorthand)


def _scope_problem(text: str, shorthand: Shorthand) -> tuple[str, str, str | None] | None:
    assert shorthand.scope is not None
    if shorthand.service not in SCOPES:
        scoped = ", ".join(f"{service} ({what})" for service, what in SCOPES.items())
        return ("bad-iam-scope", f"'{shorthand.name}' takes no resource scope",
                f"scopes are for {scoped}; for a narrower {shorthand.service} grant attach a managed policy")  # fmt: skip
    if shorthand.service == "s3":
        bucket, _, prefix = shorthand.scope.partition("/")
        if not BUCKET_PATTERN.fullmatch(bucket) or ".." in bucket or _IP_ADDRESS.fullmatch(bucket):
            return ("bad-iam-scope", f"'{bucket}' in '{text}' is not a valid S3 bucket name",
                    "bucket names have 3 to 63 lower-case letters, digits, '.' and '-'; write s3:ReadOnly:BUCKET or s3:ReadOnly:BUCKET/PREFIX")  # fmt: skip
        if prefix and not _S3_PREFIX.fullmatch(prefix):
            return ("bad-iam-scope", f"the prefix '{prefix}' in '{text}' has characters a scope cannot hold",
                    "use letters, digits and ! _ . * ' ( ) / = + -")  # fmt: skip
    elif not _LOG_GROUP.fullmatch(shorthand.scope):
        return ("bad-iam-scope", f"'{shorthand.scope}' in '{text}' is not a valid log group name",
                "log group names use letters, digits and _ . / # -")  # fmt: skip
    return None


def is_full_access(shorthand: str) -> bool:
    """True for the unscoped shorthands that grant a whole service on every resource (`s3:*`)."""
    parsed = parse_shorthand(shorthand)
    return parsed.scope is None and any(action.endswith(":*") for action in SHORTHANDS[parsed.name])


def split_shorthands(value: str | list[str]) -> tuple[str, ...]:
    """`"s3:ReadOnly, logs:WriteOnly"` or a list -> the names, in order, without blanks."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item.strip())


def s3_scope(scope: str) -> tuple[str, str]:
    """'bucket/data/*' -> ('bucket', 'data'): the bucket and the key prefix, without slashes or a final '*'."""
    bucket, _, prefix = scope.partition("/")
    return bucket, prefix.removesuffix("*").strip("/")


def shorthand_statements(text: str, arn: Callable[[str], Any]) -> list[dict[str, Any]]:
    """The IAM statements a shorthand grants (actions sorted). Unscoped: on every resource, as in spawn.

    Args:
        text: a valid shorthand.
        arn: makes an ARN from what follows `arn:PARTITION:` (`s3:::bucket`), so the emitter can put
            the partition Terraform knows in front.
    """
    shorthand = parse_shorthand(text)
    service, level = shorthand.name.split(":")
    sid = f"{service.capitalize()}{level}"
    actions = sorted(SHORTHANDS[shorthand.name])
    if shorthand.scope is None:
        return [{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": "*"}]
    sid += hashlib.sha256(shorthand.scope.encode()).hexdigest()[:8].upper()  # Sids are unique per policy, alphanumeric
    if service == "logs":
        group = f"logs:*:*:log-group:{shorthand.scope}"
        return [{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": [arn(group), arn(f"{group}:log-stream:*")]}]
    bucket, prefix = s3_scope(shorthand.scope)
    objects = f"s3:::{bucket}/{prefix}/*" if prefix else f"s3:::{bucket}/*"
    statements = [{"Sid": sid + "Objects", "Effect": "Allow", "Action": [a for a in actions if a not in _BUCKET_ACTIONS],
                   "Resource": arn(objects)}]  # fmt: skip
    on_bucket = [a for a in actions if a in _BUCKET_ACTIONS or a == "s3:*"]
    if "s3:ListBucket" in on_bucket and prefix:  # listing only under the prefix (the condition applies to ListBucket alone)
        condition = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
        statements.append({"Sid": sid + "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn(f"s3:::{bucket}"),
                           "Condition": condition})  # fmt: skip
        on_bucket.remove("s3:ListBucket")
    if on_bucket:
        statements.append({"Sid": sid + "Bucket", "Effect": "Allow", "Action": on_bucket, "Resource": arn(f"s3:::{bucket}")})
    return statements


# S3 actions on the bucket itself rather than its objects.
_BUCKET_ACTIONS: Final = frozenset({"s3:ListBucket", "s3:GetBucketLocation"})


def can_write(shorthands: tuple[str, ...], bucket: str, key: str) -> bool | None:
    """Whether these shorthands let a role put `key` in `bucket`: True, False, or None when it cannot be told
    (the key starts with a variable before the scope's prefix is decided)."""
    answer: bool | None = False
    for text in shorthands:
        shorthand = parse_shorthand(text)
        if shorthand.name not in ("s3:WriteOnly", "s3:FullAccess"):
            continue
        if shorthand.scope is None:
            return True
        scoped_bucket, prefix = s3_scope(shorthand.scope)
        if scoped_bucket != bucket:
            continue
        verdict = key_under(key, prefix)
        if verdict:
            return True
        if verdict is None:
            answer = None
    return answer


def key_under(key: str, prefix: str) -> bool | None:
    """Whether `key` lies under `prefix` ('' = the whole bucket); None when a variable in `key` decides it."""
    if not prefix:
        return True
    head = re.split(r"[$`]", key, maxsplit=1)[0]  # the key's literal start
    if head.startswith(prefix + "/"):
        return True
    return None if head != key and (prefix + "/").startswith(head) else False


# --- what a script writes to S3 (11.10: a write the role cannot make fails the run under `set -e`) ---


@dataclass(frozen=True, slots=True)
class S3Write:
    """An `aws s3 cp|mv|sync|rm` in a script that writes (or deletes) under s3://bucket/key."""

    line: int  # 1-based, in the script
    bucket: str
    key: str  # as written: may hold variables ($NAME)


_S3_WRITERS: Final = frozenset({"cp", "mv", "sync", "rm"})
# Options of `aws s3 cp|mv|sync|rm` that take a value (the others are flags): the rest are the paths.
_VALUED_OPTIONS: Final = frozenset({
    "--exclude", "--include", "--acl", "--grants", "--sse", "--sse-c", "--sse-c-key", "--sse-kms-key-id",
    "--sse-c-copy-source", "--sse-c-copy-source-key", "--storage-class", "--website-redirect", "--content-type",
    "--cache-control", "--content-disposition", "--content-encoding", "--content-language", "--expires", "--source-region",
    "--metadata", "--metadata-directive", "--expected-size", "--request-payer", "--checksum-mode", "--checksum-algorithm",
    "--region", "--profile", "--endpoint-url", "--output", "--query", "--cli-read-timeout", "--cli-connect-timeout",
    "--ca-bundle", "--color", "--copy-props", "--page-size",
})  # fmt: skip
_SHELL_SEPARATORS: Final = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;"})
_S3_URI = re.compile(r"s3://([^/\s]+)/?(.*)")


def s3_writes(script: str) -> list[S3Write]:
    """The S3 locations a bash script writes with the AWS CLI's `aws s3` commands, as far as they can be read
    without running it: a bucket given by a variable is left out (nothing can be said about it)."""
    found: list[S3Write] = []
    for line, text in _logical_lines(script):
        if "aws" not in text or "s3" not in text:
            continue
        try:
            lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes and the like: not a line we can read
            continue
        for i in range(len(tokens) - 2):
            if tokens[i] == "aws" and tokens[i + 1] == "s3" and tokens[i + 2] in _S3_WRITERS:
                found.extend(S3Write(line, bucket, key) for bucket, key in _written(tokens[i + 2], tokens[i + 3 :]))
    return found


def _logical_lines(script: str) -> list[tuple[int, str]]:
    """Lines with their backslash continuations joined, each with the number of its first line."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, text in enumerate(script.splitlines(), start=1):
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        lines.append((start, pending + text))
        pending = ""
    if pending:
        lines.append((start, pending))
    return lines


def _written(command: str, args: list[str]) -> list[tuple[str, str]]:
    paths: list[str] = []
    skip = False
    for arg in args:
        if arg in _SHELL_SEPARATORS:
            break
        if skip:
            skip = False
        elif arg in _VALUED_OPTIONS:
            skip = True
        elif arg == "-" or not arg.startswith("-"):
            paths.append(arg)
    if command == "rm":
        targets = paths[:1]
    elif command == "mv":
        targets = paths[:2]  # a move deletes its source
    else:
        targets = paths[1:2]
    written = []
    for target in targets:
        match = _S3_URI.fullmatch(target)
        if match and "$" not in match.group(1) and "`" not in match.group(1):
            written.append((match.group(1), match.group(2)))
    return written


# Pulling an image from ECR (https://docs.aws.amazon.com/AmazonECR/latest/userguide/security_iam_id-based-policy-examples.html):
# the login token has no resource to scope it to; the pulls are scoped to the repository.
ECR_LOGIN_ACTIONS: Final = ("ecr:GetAuthorizationToken",)
ECR_PULL_ACTIONS: Final = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def ecr_repository(image: str) -> str | None:
    """`ecr:REGION:ACCOUNT:repository/NAME` (what follows `arn:PARTITION:`) of an ECR image, or None for another registry."""
    match = contract.ECR_IMAGE_PATTERN.fullmatch(image)
    return None if match is None else f"ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


def ecr_statements(images: tuple[str, ...], arn: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Pull access to the ECR repositories of `images` (others need none): a login, and pulls from those repositories only."""
    repositories = sorted({repository for image in images if (repository := ecr_repository(image)) is not None})
    if not repositories:
        return []
    return [
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": list(ECR_LOGIN_ACTIONS), "Resource": "*"},
        {"Sid": "EcrPull", "Effect": "Allow", "Action": list(ECR_PULL_ACTIONS), "Resource": [arn(repository) for repository in repositories]},
    ]
