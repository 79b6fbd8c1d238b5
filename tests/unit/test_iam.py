"""IAM shorthands: scopes, the statements they grant, and whether a role may write a key."""

from __future__ import annotations

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
