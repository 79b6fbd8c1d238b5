"""Real Terraform uploads the workdir archives: content-addressed keys, the file as source, its hash as source_hash."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import tfharness as tfh
from offline import compile_sweep, plan_root

from spawn_tf import contract
from spawn_tf.workdir import workenv_module, workenv_sha256

SWEEP = """\
sweep: code
results: s3://bucket/sweeps
regions: [us-east-1, eu-west-1]
defaults:
  instance_type: m7i.large
  ttl: 1h
  command: python train.py
  workdir: {source: ./app, target: /app}
params:
  - {name: a, x: 1}
  - {name: b, x: 2}
  - {name: c, x: 3}
  - {name: d, x: 4}
"""


def test_terraform_uploads_each_archive_from_the_root_under_its_sha256(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "train.py").write_text("print('hello')\n")
    checked, build = compile_sweep(SWEEP, tmp_path)
    assert checked.plan is not None and checked.runs is not None
    [sha] = {run.settings.code_sha256 for run in checked.runs}
    assert sha is not None
    assert len(checked.plan.roots) == 2  # each region's root uploads it (same key, same bytes)
    for root in checked.plan.roots:
        archive = build / root.name / contract.CODE_DIR / f"{sha}{contract.ARCHIVE_SUFFIX}"
        assert hashlib.sha256(gzip.decompress(archive.read_bytes())).hexdigest() == sha
        inputs = tfh.planned_inputs(plan_root(build / root.name, tmp_path / f"offline-{root.name}"))
        upload = inputs[f'aws_s3_object.code["{sha}{contract.ARCHIVE_SUFFIX}"]']
        assert upload["key"] == contract.code_key("sweeps/code", sha)
        assert upload["bucket"] == "bucket" and upload["region"] == "us-east-1"  # the bucket's region, from every root
        assert upload["source_hash"] == hashlib.sha256(archive.read_bytes()).hexdigest()
        assert upload["source"].endswith(f"/{contract.CODE_DIR}/{sha}{contract.ARCHIVE_SUFFIX}")
        assert upload["tags"][contract.TAG_CODE] == sha
        helper = inputs[f'aws_s3_object.code["{workenv_sha256()}{contract.MODULE_SUFFIX}"]']  # the module that prepares the runs
        assert helper["key"] == contract.code_key("sweeps/code", workenv_sha256(), contract.MODULE_SUFFIX)
        assert helper["source_hash"] == workenv_sha256() == hashlib.sha256(workenv_module()).hexdigest()
        assert helper["tags"][contract.TAG_CODE] == workenv_sha256()
