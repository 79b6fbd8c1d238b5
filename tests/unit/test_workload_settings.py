"""workdir, setup, packages and image in runs (DESIGN §3, §11): fingerprints, default images, roles."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from spawn_tf import run_settings
from spawn_tf.emit.terraform import emit_plan
from spawn_tf.run_settings import SettingsContext, parse_settings
from spawn_tf.workdir import workenv_sha256

RESULTS = (None, "sweeps/s")

SWEEP = """\
sweep: code
results: s3://bucket/sweeps
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: python train.py
params:
  - {name: a1, x: 1, workdir: ./app}
  - {name: a2, x: 2, workdir: ./app}
  - {name: b, x: 3, workdir: ./other}
  - {name: plain, x: 4}
"""


def _app(folder: Path, name: str, text: str) -> None:
    (folder / name).mkdir(exist_ok=True)
    (folder / name / "train.py").write_text(text)


def _fingerprints(check, text: str) -> dict[str, str]:
    checked = check(text)
    assert checked.runs is not None, [d.render() for d in checked.diagnostics]
    return {run.name: run.fingerprint for run in checked.runs}


def test_editing_one_file_changes_the_fingerprints_of_exactly_the_runs_using_it(check, tmp_path: Path) -> None:
    _app(tmp_path, "app", "print(1)\n")
    _app(tmp_path, "other", "print(2)\n")
    before = _fingerprints(check, SWEEP)
    (tmp_path / "app" / "train.py").write_text("print(10)\n")
    after = _fingerprints(check, SWEEP)
    assert {name for name in before if before[name] != after[name]} == {"a1", "a2"}
    (tmp_path / "app" / "train.py").write_text("print(1)\n")  # back as it was: the same fingerprints again
    assert _fingerprints(check, SWEEP) == before


def test_runs_without_a_workdir_keep_their_fingerprints(check, tmp_path: Path) -> None:
    _app(tmp_path, "app", "print(1)\n")
    _app(tmp_path, "other", "print(2)\n")
    with_code = _fingerprints(check, SWEEP)
    without = _fingerprints(check, SWEEP.replace(", workdir: ./app", "").replace(", workdir: ./other", ""))
    assert with_code["plain"] == without["plain"]
    assert with_code["a1"] != without["a1"]


def test_setup_packages_image_and_target_are_part_of_the_fingerprint() -> None:
    base = {"instance_type": "m7i.large", "command": "x"}
    variants = [{}, {"setup": "pip install -r requirements.txt"}, {"packages": ["jq"]}, {"packages": ["jq", "bc"]}, {"image": "python:3.12"}]
    identities = [parse_settings({**base, **extra}, "us-east-1", ttl_required=False, results=RESULTS)[1] for extra in variants]
    assert len(set(identities)) == len(variants)
    assert identities[0] == json.dumps({"ami": "al2023", "arch": "x86_64", "instance_type": "m7i.large", "output_dir": "/opt/spawn/output",
                                        "script": "x"}, sort_keys=True)  # fmt: skip


def _settings(raw: dict[str, Any]):
    return parse_settings(raw, "us-east-1", ttl_required=False, results=RESULTS)


def test_image_runs_get_an_image_with_docker_and_on_gpu_types_the_nvidia_toolkit() -> None:
    assert _settings({"instance_type": "g5.xlarge", "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"})[0].ami == "dlami-gpu"
    assert _settings({"instance_type": "m7i.large", "image": "python:3.12"})[0].ami == "al2023"
    assert _settings({"instance_type": "g5.xlarge"})[0].ami == "al2023"  # no image: the default as before (with its warning)


def _codes(rule, raw: dict[str, Any]) -> list[str]:
    settings, _, _ = _settings(raw)
    return [p.code for p in rule(SettingsContext(raw=raw, settings=settings, ttl_required=False, results=RESULTS))]


def test_image_rule_wants_a_gpu_capable_ami_on_gpu_types() -> None:
    image = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    assert _codes(run_settings.image_rule, {"instance_type": "g5.xlarge", "image": image, "ami": "al2023"}) == ["image-needs-gpu-ami"]
    assert _codes(run_settings.image_rule, {"instance_type": "g5.xlarge", "image": image}) == []
    assert _codes(run_settings.image_rule, {"instance_type": "g5.xlarge", "image": image, "ami": "dlami-gpu"}) == []
    assert _codes(run_settings.image_rule, {"instance_type": "m7i.large", "image": image, "ami": "al2023"}) == []
    assert _codes(run_settings.gpu_driver_rule, {"instance_type": "g5.xlarge", "image": image}) == []


def test_workdir_rule_reports_a_workdir_it_could_not_pack() -> None:
    assert _codes(run_settings.workdir_rule, {"workdir": "./app"}) == []  # the rule sees what was packed, and nothing was
    settings, _, problems = _settings({"instance_type": "m7i.large", "ttl": "1h", "command": "x", "workdir": "./app"})
    assert [p.code for p in problems] == ["workdir-without-folder"] and settings.code_sha256 is None


ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/trainer:v3"
ROLES = """\
sweep: roles
results: s3://bucket/sweeps
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: python train.py
params:
  - {name: a, workdir: ./app}
  - {name: b, workdir: ./other, iam_policy: "s3:ReadOnly:data"}
  - {name: c, iam_policy: "s3:ReadOnly:data", image: "%s"}
  - {name: d, image: python:3.12, iam_policy: "s3:ReadOnly:more"}
"""


def _policies(check, text: str) -> dict[str, Any]:
    checked = check(text)
    assert checked.plan is not None, [d.render() for d in checked.diagnostics]
    files = emit_plan(checked.plan, checked.exports, checked.sizes)
    return json.loads(files[PurePosixPath("us-east-1/iam.tf.json")])["locals"]["policies"]


def _statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_each_role_reads_only_the_archives_of_its_runs_and_pulls_only_its_ecr_repository(check, tmp_path: Path) -> None:
    _app(tmp_path, "app", "print(1)\n")
    _app(tmp_path, "other", "print(2)\n")
    checked = check(ROLES % ECR)
    assert checked.runs is not None
    code = {run.name: run.settings.code_sha256 for run in checked.runs}
    by_runs = {}
    for policy in _policies(check, ROLES % ECR).values():
        statements = _statements(policy)
        own = statements["OnlyOwnCode"].get("Condition", {}).get("StringNotEquals", {}).get("s3:ExistingObjectTag/spawn:code")
        by_runs[tuple(own or ())] = statements
        assert statements["OnlyOwnCode"]["Effect"] == "Deny" and statements["OnlyOwnCode"]["Resource"].endswith("/sweeps/roles/_code/*")
        assert statements["CodeReadOnly"]["Effect"] == "Deny" and "s3:PutObject" in statements["CodeReadOnly"]["Action"]
    helper = workenv_sha256()  # every run here prepares its environment: each role reads the helper module
    a, b = (tuple(sorted((code[name], helper))) for name in ("a", "b"))
    assert set(by_runs) == {a, b, (helper,)}  # a's role, the role b and c share, d's role (no archive)
    shared = by_runs[b]
    assert shared["EcrPull"]["Resource"] == ["arn:${data.aws_partition.current.partition}:ecr:eu-west-1:123456789012:repository/team/trainer"]
    assert shared["EcrPull"]["Action"] == ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert shared["EcrLogin"] == {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}
    assert not {"EcrPull", "EcrLogin"} & (set(by_runs[a]) | set(by_runs[(helper,)]))  # Docker Hub's python:3.12 needs no ECR rights


def test_sweeps_without_code_or_ecr_images_get_the_policies_they_had(check, tmp_path: Path) -> None:
    plain = ROLES.replace("workdir: ./app", "x: 1").replace("workdir: ./other", "x: 2").replace(', image: "%s"', "").replace(", image: python:3.12", "")
    for policy in _policies(check, plain).values():
        assert not {"OnlyOwnCode", "CodeReadOnly", "EcrPull", "EcrLogin"} & set(_statements(policy))
