"""IAM shorthands: scopes, the statements they grant, and whether a role may write a key."""

from __future__ import annotations

import pytest

from spawn_tf import iam


def _arn(resource: str) -> str:
    return f"arn:aws:{resource}"


def test_iam_unscoped_shorthand_grants_every_resource_as_spawn_does() -> None:
    assert iam.shorthand_statements("s3:ReadOnly", _arn) == [
        {"Sid": "S3ReadOnly", "Effect": "Allow", "Action": sorted(iam.SHORTHANDS["s3:ReadOnly"]), "Resource": "*"}
    ]


def test_iam_s3_scope_names_bucket_and_prefix() -> None:
    objects, listing, location = iam.shorthand_statements("s3:ReadOnly:data-bucket/train/", _arn)
    assert (objects["Action"], objects["Resource"]) == (["s3:GetObject", "s3:GetObjectVersion"], "arn:aws:s3:::data-bucket/train/*")
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", "arn:aws:s3:::data-bucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["train", "train/*"]}}
    assert (location["Action"], "Condition" in location) == (["s3:GetBucketLocation"], False)
    [write] = iam.shorthand_statements("s3:WriteOnly:out-bucket", _arn)
    assert write["Resource"] == "arn:aws:s3:::out-bucket/*"


def test_iam_can_write_follows_scopes_and_variables() -> None:
    assert iam.can_write(("s3:WriteOnly",), "any", "k") is True
    assert iam.can_write(("s3:ReadOnly:b",), "b", "k") is False
    assert iam.can_write(("s3:WriteOnly:b/out",), "b", "out/x") is True
    assert iam.can_write(("s3:WriteOnly:b/out",), "b", "other/x") is False
    assert iam.can_write(("s3:WriteOnly:b/out",), "c", "out/x") is False
    assert iam.can_write(("s3:WriteOnly:b/out",), "b", "$PREFIX/x") is None  # a variable decides
    assert iam.can_write(("s3:FullAccess:b/out/*",), "b", "out/$NAME/m.pth") is True
    assert iam.can_write(("s3:WriteOnly:b/out",), "b", "outside/$NAME") is False


def test_iam_s3_writes_reads_the_aws_cli_lines_of_a_script() -> None:
    script = (
        "#!/bin/bash\nset -e\naws s3 cp /tmp/eval.json s3://results/$NAME/early-stopped.json\n"
        "aws s3 cp /results/model.pth \\\n  s3://my-bucket/sweep-results/$NAME/model.pth  # upload\n"
        "aws s3 sync --exclude '*.tmp' out/ s3://b2/x && echo done\n"
        "aws s3 cp s3://data/in.csv /tmp/in.csv\n"
        'aws s3 cp "${SPAWN_RESULTS_URI}model.pth" x\n'
        "aws s3 mv s3://src-b/a s3://dst-b/b\naws s3 rm --recursive s3://$BUCKET/x\necho 'unbalanced\n"
    )
    assert [(w.line, w.bucket, w.key) for w in iam.s3_writes(script)] == [
        (3, "results", "$NAME/early-stopped.json"),
        (4, "my-bucket", "sweep-results/$NAME/model.pth"),
        (6, "b2", "x"),
        (9, "src-b", "a"),  # a move deletes its source
        (9, "dst-b", "b"),
    ]


# spawn's `PolicyTemplates` (pkg/aws/iam.go), action for action: the 13 shorthands and nothing else.
SPAWN_SHORTHANDS = {
    "s3:FullAccess": {"s3:*"},
    "s3:ReadOnly": {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"},
    "s3:WriteOnly": {"s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject"},
    "dynamodb:FullAccess": {"dynamodb:*"},
    "dynamodb:ReadOnly": {"dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"},
    "dynamodb:WriteOnly": {"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "sqs:FullAccess": {"sqs:*"},
    "sqs:ReadOnly": {"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueues", "sqs:ReceiveMessage"},
    "sqs:WriteOnly": {"sqs:SendMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"},
    "logs:WriteOnly": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
    "ecr:ReadOnly": {"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"},
    "secretsmanager:ReadOnly": {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
    "ssm:ReadOnly": {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"},
}


def test_iam_shorthand_actions_are_spawns() -> None:
    assert {name: set(actions) for name, actions in iam.SHORTHANDS.items()} == SPAWN_SHORTHANDS
    assert all(len(set(actions)) == len(actions) for actions in iam.SHORTHANDS.values())


@pytest.mark.parametrize("name", sorted(SPAWN_SHORTHANDS))
def test_iam_every_unscoped_shorthand_allows_its_actions_everywhere(name: str) -> None:
    service, level = name.split(":")
    sid = {"s3": "S3", "dynamodb": "Dynamodb", "sqs": "Sqs", "logs": "Logs", "ecr": "Ecr", "secretsmanager": "Secretsmanager",
           "ssm": "Ssm"}[service] + level  # fmt: skip
    assert iam.shorthand_statements(name, _arn) == [
        {"Sid": sid, "Effect": "Allow", "Action": sorted(SPAWN_SHORTHANDS[name]), "Resource": "*"}
    ]
    assert iam.shorthand_problem(name) is None
    assert iam.is_full_access(name) is (level == "FullAccess")


def test_iam_scoped_log_group_grants_the_group_and_its_streams() -> None:
    assert iam.shorthand_statements("logs:WriteOnly:/sweeps/lr", _arn) == [
        {
            "Sid": "LogsWriteOnlyE164B2BC",  # the scope's digest keeps Sids unique within a policy
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": ["arn:aws:logs:*:*:log-group:/sweeps/lr", "arn:aws:logs:*:*:log-group:/sweeps/lr:log-stream:*"],
        }
    ]


def test_iam_scoped_s3_statements_in_full() -> None:
    assert iam.shorthand_statements("s3:ReadOnly:data-bucket", _arn) == [
        {"Sid": "S3ReadOnly894218D2Objects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": "arn:aws:s3:::data-bucket/*"},
        {"Sid": "S3ReadOnly894218D2Bucket", "Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
         "Resource": "arn:aws:s3:::data-bucket"},
    ]  # fmt: skip
    objects, listing, location = iam.shorthand_statements("s3:ReadOnly:data-bucket/train/", _arn)
    assert [s["Sid"] for s in (objects, listing, location)] == [
        f"S3ReadOnly{x}" for x in ("6E89D544Objects", "6E89D544List", "6E89D544Bucket")
    ]
    assert {s["Effect"] for s in (objects, listing, location)} == {"Allow"}
    assert iam.shorthand_statements("s3:FullAccess:b-1/out/*", _arn) == [
        {"Sid": "S3FullAccessEB9FB574Objects", "Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::b-1/out/*"},
        {"Sid": "S3FullAccessEB9FB574Bucket", "Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::b-1"},
    ]
    assert iam.shorthand_statements("s3:WriteOnly:out-bucket/run", _arn) == [
        {"Sid": "S3WriteOnly55606CCAObjects", "Effect": "Allow", "Action": ["s3:DeleteObject", "s3:PutObject", "s3:PutObjectAcl"],
         "Resource": "arn:aws:s3:::out-bucket/run/*"},
    ]  # fmt: skip
    assert not iam.is_full_access("s3:FullAccess:b-1/out")  # a scoped grant is not the whole service


BAD_BUCKET = "bucket names have 3 to 63 lower-case letters, digits, '.' and '-'; write s3:ReadOnly:BUCKET or s3:ReadOnly:BUCKET/PREFIX"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x:Y", ("unknown-iam-policy", "unknown IAM policy shorthand 'x:Y'", None)),
        ("s3:ReadWrite:b", ("unknown-iam-policy", "unknown IAM policy shorthand 's3:ReadWrite'", None)),
        ("sqs:ReadOnly:q", ("bad-iam-scope", "'sqs:ReadOnly' takes no resource scope",
                            "scopes are for s3 (BUCKET or BUCKET/PREFIX), logs (LOG_GROUP); for a narrower sqs grant attach a managed policy")),
        ("s3:ReadOnly:ab", ("bad-iam-scope", "'ab' in 's3:ReadOnly:ab' is not a valid S3 bucket name", BAD_BUCKET)),
        ("s3:ReadOnly:" + "a" * 64, ("bad-iam-scope", f"'{'a' * 64}' in 's3:ReadOnly:{'a' * 64}' is not a valid S3 bucket name", BAD_BUCKET)),
        ("s3:ReadOnly:Data", ("bad-iam-scope", "'Data' in 's3:ReadOnly:Data' is not a valid S3 bucket name", BAD_BUCKET)),
        ("s3:ReadOnly:a..b", ("bad-iam-scope", "'a..b' in 's3:ReadOnly:a..b' is not a valid S3 bucket name", BAD_BUCKET)),
        ("s3:ReadOnly:192.168.1.1", ("bad-iam-scope", "'192.168.1.1' in 's3:ReadOnly:192.168.1.1' is not a valid S3 bucket name", BAD_BUCKET)),
        ("s3:ReadOnly:bkt/a b", ("bad-iam-scope", "the prefix 'a b' in 's3:ReadOnly:bkt/a b' has characters a scope cannot hold",
                                 "use letters, digits and ! _ . * ' ( ) / = + -")),
        ("logs:WriteOnly:a b", ("bad-iam-scope", "'a b' in 'logs:WriteOnly:a b' is not a valid log group name",
                                "log group names use letters, digits and _ . / # -")),
        ("logs:WriteOnly:" + "g" * 513, ("bad-iam-scope", f"'{'g' * 513}' in 'logs:WriteOnly:{'g' * 513}' is not a valid log group name",
                                         "log group names use letters, digits and _ . / # -")),
    ],
)  # fmt: skip
def test_iam_shorthand_problems(text: str, problem: tuple[str, str, str | None]) -> None:
    assert iam.shorthand_problem(text) == problem


@pytest.mark.parametrize(
    "text",
    [
        "s3:ReadOnly:abc",
        "s3:ReadOnly:" + "a" * 63,
        "s3:WriteOnly:my.bucket-1/a/b=c+d(1)!*'",
        "logs:WriteOnly:" + "g" * 512,
        "s3:ReadOnly:1.2.3.bkt",
    ],
)
def test_iam_valid_scopes(text: str) -> None:
    assert iam.shorthand_problem(text) is None


def test_iam_parse_shorthand_and_split() -> None:
    assert iam.parse_shorthand("s3:ReadOnly:b/p:q") == iam.Shorthand("s3:ReadOnly", "b/p:q")
    assert iam.parse_shorthand("s3:ReadOnly") == iam.Shorthand("s3:ReadOnly", None)
    assert iam.parse_shorthand("s3") == iam.Shorthand("s3", None)
    assert iam.parse_shorthand("logs:WriteOnly:/g").service == "logs"
    assert iam.split_shorthands(" s3:ReadOnly, ,logs:WriteOnly ,") == ("s3:ReadOnly", "logs:WriteOnly")
    assert iam.split_shorthands([" sqs:ReadOnly ", "", "  "]) == ("sqs:ReadOnly",)
    assert iam.s3_scope("bucket/data/*") == ("bucket", "data")
    assert iam.s3_scope("bucket") == ("bucket", "")


@pytest.mark.parametrize(
    ("arn", "admin"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", True),
        ("arn:aws-cn:iam::aws:policy/PowerUserAccess", True),
        ("arn:aws-us-gov:iam::aws:policy/IAMFullAccess", True),
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", False),
        ("arn:aws:iam::123456789012:policy/AdministratorAccess", False),  # a customer policy of that name: not AWS's
        ("arn:aws:iam::aws:policy/job-function/AdministratorAccess", False),
        ("AdministratorAccess", False),
    ],
)
def test_iam_admin_managed_policies(arn: str, admin: bool) -> None:
    assert iam.is_admin_policy(arn) is admin


def test_iam_key_under_a_prefix() -> None:
    assert iam.key_under("anything", "") is True
    assert iam.key_under("out/x", "out") is True
    assert iam.key_under("outside/x", "out") is False
    assert iam.key_under("out", "out") is False  # the prefix itself is not under it
    assert iam.key_under("o$X/y", "out") is None  # the variable may complete "out/"
    assert iam.key_under("out/$X", "out") is True
    assert iam.key_under("x$Y", "out") is False
    assert iam.key_under("outX$Y", "out") is False  # "outX..." can never become "out/..."
    assert iam.key_under("ou`cmd`", "out") is None
    assert iam.key_under("$X", "out") is None


def test_iam_can_write_takes_the_first_granting_shorthand() -> None:
    assert iam.can_write((), "b", "k") is False
    assert iam.can_write(("s3:FullAccess",), "b", "k") is True
    assert iam.can_write(("s3:WriteOnly:b/a", "s3:WriteOnly:b/out"), "b", "out/x") is True
    assert iam.can_write(("s3:WriteOnly:b/out", "s3:WriteOnly:b/a"), "b", "$P/x") is None
    assert iam.can_write(("s3:WriteOnly:b/out", "s3:WriteOnly:b"), "b", "$P/x") is True  # the whole bucket decides it


def test_iam_s3_writes_options_separators_and_continuations() -> None:
    script = (
        "aws s3 cp --acl private - s3://b1/from-stdin --quiet\n"
        "aws s3 sync out/ s3://b2/p --exclude x --delete; aws s3 cp s3://b3/k /tmp/x\n"
        "aws s3 rm s3://b4/old s3://b5/never\n"
        "aws s3 ls s3://b6/k\n"
        "aws s3 cp x s3://`cat b`/k\n"
        "aws s3 cp a s3://b7\n"
        "aws s3 mv s3://b8/a\n"
        "echo s3\n"
        "aws s3 cp x \\\n  s3://b9/k \\"
    )
    assert [(w.line, w.bucket, w.key) for w in iam.s3_writes(script)] == [
        (1, "b1", "from-stdin"),
        (2, "b2", "p"),
        (3, "b4", "old"),
        (6, "b7", ""),
        (7, "b8", "a"),
        (9, "b9", "k"),
    ]
    assert iam.s3_writes("aws s3 cp x s3://b/k | aws s3 cp y s3://c/j") == [iam.S3Write(1, "b", "k"), iam.S3Write(1, "c", "j")]


def test_iam_s3_writes_reads_tokens_as_the_shell_does() -> None:
    script = (
        "aws s3 cp\\\n  model.pth s3://b1/k\n"  # no space before the continuation
        "aws s3 cp --no-progress x s3://b2/k\n"  # a flag is not a path
        'aws s3 cp x "s3://b3/quoted key"\n'
        "aws s3 cp a s3://b4/k&&aws s3 rm s3://b5/d\n"
        "echo 'unbalanced aws s3\n"
        "echo aws; cp a s3://not-aws/k\n"
        "aws configure set x s3://not-s3-cp/k\n"
        "aws s3 cp y s3://b6/k\n"
    )
    assert [(w.line, w.bucket, w.key) for w in iam.s3_writes(script)] == [
        (1, "b1", "k"),
        (3, "b2", "k"),
        (4, "b3", "quoted key"),
        (5, "b4", "k"),
        (5, "b5", "d"),
        (9, "b6", "k"),
    ]


def test_iam_can_write_looks_past_shorthands_that_do_not_grant() -> None:
    assert iam.can_write(("s3:ReadOnly", "s3:WriteOnly"), "b", "k") is True
    assert iam.can_write(("s3:WriteOnly:other/x", "s3:WriteOnly:b/out"), "b", "out/k") is True
    assert iam.s3_scope("bucket/X-data/") == ("bucket", "X-data")
