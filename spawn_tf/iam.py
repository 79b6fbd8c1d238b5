"""IAM policy shorthands (`s3:ReadOnly`, …): the 13 of spawn's `--iam-policy`, as named there. Pure."""

from __future__ import annotations

from typing import Final

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


def is_full_access(shorthand: str) -> bool:
    """True for the shorthands that grant a whole service (`s3:*`)."""
    return any(action.endswith(":*") for action in SHORTHANDS[shorthand])


def split_shorthands(value: str | list[str]) -> tuple[str, ...]:
    """`"s3:ReadOnly, logs:WriteOnly"` or a list -> the names, in order, without blanks."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item.strip())


def shorthand_statement(shorthand: str) -> dict[str, object]:
    """The IAM statement a shorthand grants (actions sorted; on every resource, as in spawn)."""
    service, level = shorthand.split(":")
    return {"Sid": f"{service.capitalize()}{level}", "Effect": "Allow", "Action": sorted(SHORTHANDS[shorthand]), "Resource": "*"}
