"""The contract module is the only place that spells tag keys and S3 control prefixes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_SPELLINGS = re.compile(r"""["']spawn:|_done/|_attempts/|_stop/|_lease/""")


def test_contract_strings_are_spelled_once() -> None:
    offenders = []
    for folder in ("spawn_tf", "templates"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.name != "contract.py" and path.suffix in (".py", ".j2", ".sh"):
                offenders += [
                    f"{path.relative_to(ROOT)}:{n}"
                    for n, line in enumerate(path.read_text().splitlines(), 1)
                    if CONTRACT_SPELLINGS.search(line)
                ]
    assert offenders == []


def test_compile_path_imports_no_aws_sdk() -> None:
    code = (
        "import sys, spawn_tf.cli; from spawn_tf import check_file; "
        "check_file(__import__('pathlib').Path(sys.argv[1])); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'jsonschema')))"
    )
    example = ROOT / "examples" / "grid-240.yaml"
    result = subprocess.run([sys.executable, "-c", code, str(example)], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_results_uri_parts_splits_bucket_and_prefix() -> None:
    from spawn_tf import contract

    assert contract.results_uri_parts("s3://my-bucket/a/b/") == ("my-bucket", "a/b")
    assert contract.results_uri_parts("s3://my-bucket") == ("my-bucket", "")
    assert contract.results_uri_parts("s3://My_Bucket/x") is None
    assert contract.results_uri_parts("https://my-bucket/x") is None


def test_default_run_name_pads_the_index_to_four_digits() -> None:
    from spawn_tf import contract

    assert contract.default_run_name("sw", 7) == "sw-0007"
    assert contract.default_run_name("sw", 12345) == "sw-12345"
    assert re.fullmatch(contract.RUN_NAME_PATTERN, contract.default_run_name("a" * contract.MAX_SWEEP_ID_CHARS, 9999))
