"""Compiled-output goldens: every example compiles to exactly the files committed under compiled/<stem>/.

The agent script every root carries is committed once, under agent/: each root's copy must equal it.

Regenerate with `pytest --update-golden`; the golden change lands with the code change and is
reviewed like code (it is what reviewers of sweep pull requests read).
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path, PurePosixPath

import pytest

from spawn_tf.contract import AGENT_FILE
from spawn_tf.pipeline import compile_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = Path(__file__).parent / "compiled"
GOLDEN_AGENT = Path(__file__).parent / "agent" / AGENT_FILE


def _is_agent(relative: PurePosixPath) -> bool:
    """A root's copy of the agent script: <root>/<agent file>."""
    return len(relative.parts) == 2 and relative.name == AGENT_FILE


def _on_disk(folder: Path) -> dict[PurePosixPath, bytes]:
    return {PurePosixPath(path.relative_to(folder).as_posix()): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_example_compiles_to_its_golden(example: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(example.parent)
    checked, files = compile_file(Path(example.name))
    assert files is not None, [d.render() for d in checked.diagnostics]
    golden = GOLDEN / example.stem
    agents = {relative: content for relative, content in files.items() if _is_agent(relative)}
    files = {relative: content for relative, content in files.items() if relative not in agents}
    assert agents, f"no root carries {AGENT_FILE}"
    if request.config.getoption("--update-golden"):
        shutil.rmtree(golden, ignore_errors=True)
        for relative, content in files.items():
            target = golden.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        GOLDEN_AGENT.parent.mkdir(exist_ok=True)
        GOLDEN_AGENT.write_bytes(next(iter(agents.values())))
    differing = sorted(str(relative) for relative, content in agents.items() if content != GOLDEN_AGENT.read_bytes())
    assert not differing, f"differs from {GOLDEN_AGENT.relative_to(ROOT)}: {differing} (run pytest --update-golden and review)"
    expected = _on_disk(golden)
    assert sorted(files) == sorted(expected), "file set differs: run pytest --update-golden and review"
    for relative in sorted(files):
        if files[relative] != expected[relative]:
            if relative.suffixes[-2:] == [".tar", ".gz"]:  # a workdir archive: named by its tar's sha256, bytes from gzip
                pytest.fail(f"{relative}: the archive's bytes differ (gzip from another zlib build?)")
            diff = difflib.unified_diff(
                expected[relative].decode().splitlines(),
                files[relative].decode().splitlines(),
                f"golden/{relative}",
                f"compiled/{relative}",
                lineterm="",
            )
            pytest.fail("\n".join(list(diff)[:60]))


def test_every_example_has_a_golden() -> None:
    assert sorted(path.name for path in GOLDEN.iterdir()) == sorted(path.stem for path in EXAMPLES)
