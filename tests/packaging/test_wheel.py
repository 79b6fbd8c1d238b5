"""A non-editable install into a fresh virtual environment works on its own (schemas and templates inside)."""

from __future__ import annotations

import re
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_install_in_a_clean_venv_validates_the_examples(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)], check=True, timeout=600)
    where = subprocess.run(
        [python, "-c", "import spawn_tf.resources as r; print(r.resource('schemas', 'sweep.schema.json'))"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(env_dir)), where.stdout
    assert "_shipped" in where.stdout
    examples = sorted(str(path) for path in (ROOT / "examples").glob("*.yaml"))
    result = subprocess.run(
        [env_dir / "bin" / "spawn-tf", "validate", "--strict", *examples], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    schema = subprocess.run([env_dir / "bin" / "spawn-tf", "schema"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert '"$id": "urn:spawn-tf:sweep:1"' in schema.stdout
    # The version is written once (spawn_tf/_version.py): the wheel's metadata and `--version` both carry it.
    written = re.search(r'__version__ = "(.+)"', (ROOT / "spawn_tf" / "_version.py").read_text(encoding="utf-8")).group(1)
    metadata = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('spawn-tf'))"], cwd=tmp_path,
                              capture_output=True, text=True, check=True)  # fmt: skip
    assert metadata.stdout.strip() == written
    shown = subprocess.run([env_dir / "bin" / "spawn-tf", "--version"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"spawn-tf, version {written}"
