"""Fixtures of the launch tests; their helpers are in tests/support/offline_build.py."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imds import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from offline import compile_sweep
from offline_build import BUCKET, THREE, offline_build, sweep_text
from sandbox import Aws

from spawn_tf import contract


@pytest.fixture
def compiled(tmp_path: Path) -> Iterator[Any]:
    """`compiled(runs, name) -> offline build folder` of a sweep compiled from `runs` (see `sweep_text`), in tmp_path/off/<sweep>."""

    def make(runs: dict[str, tuple[str, float]] = THREE, *, into: Path | None = None, **kwargs: Any) -> Path:
        folder = Path(tempfile.mkdtemp(dir=tmp_path, prefix="src-"))
        _, build = compile_sweep(sweep_text(runs, **kwargs), folder)
        return offline_build(build, into or tmp_path / "off" / build.name)

    yield make


@pytest.fixture
def launch_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No terraform on PATH (the embedded one runs), a plugin cache of the test's own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # Only the test's own folder: whatever Terraform the machine has (/usr/bin, /usr/local/bin) must not be found.
    # Nothing launch starts needs PATH: the embedded Terraform and the stand-ins run by absolute paths.
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv(contract.ENV_TERRAFORM, raising=False)
    monkeypatch.setenv(contract.ENV_PLUGIN_CACHE, str(tmp_path / "plugins"))
    return {"bin": str(bin_dir)}


@pytest.fixture
def results_s3(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """This process's AWS pointed at moto server (as a user's would be at AWS), with the launch tests' bucket."""
    for name, value in {"AWS_ENDPOINT_URL": aws.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                        "AWS_DEFAULT_REGION": aws.region, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    aws.s3.create_bucket(Bucket=BUCKET)
    return aws
