"""builds.place_builds: each compiled sweep's folder; a failed file or a second file with one sweep id stops them all."""

from __future__ import annotations

from pathlib import Path

from sweep_helpers import QUIET_DEFAULTS, WriteSweep

from spawn_tf.builds import Clash, place_builds
from spawn_tf.pipeline import compile_lazily


def _compiled(write_sweep: WriteSweep, name: str, sweep_id: str) -> tuple[Path, object]:
    path = write_sweep(f"sweep: {sweep_id}\n" + QUIET_DEFAULTS + "params:\n  - {name: a}\n", name)
    checked, files = compile_lazily(path)
    assert files is not None, [d.render() for d in checked.diagnostics]
    return path, (checked, files)


def test_each_sweep_goes_to_its_own_folder(write_sweep: WriteSweep, tmp_path: Path) -> None:
    (one, first), (two, second) = _compiled(write_sweep, "one.yaml", "alpha"), _compiled(write_sweep, "two.yaml", "beta")
    placement = place_builds(tmp_path / "build", [one, two], [first, second])
    assert [(build.destination, build.file) for build in placement.builds] == [(tmp_path / "build" / "alpha", one), (tmp_path / "build" / "beta", two)]
    assert placement.clashes == () and placement.failures == 0


def test_a_second_file_with_the_same_sweep_id_stops_every_build(write_sweep: WriteSweep, tmp_path: Path) -> None:
    (one, first), (two, second) = _compiled(write_sweep, "one.yaml", "same"), _compiled(write_sweep, "two.yaml", "same")
    placement = place_builds(tmp_path / "build", [one, two], [first, second])
    assert placement.builds == ()
    assert placement.clashes == (Clash(two, "same", one),)
    assert placement.failures == 1


def test_a_file_that_failed_stops_every_build(write_sweep: WriteSweep, tmp_path: Path) -> None:
    one, first = _compiled(write_sweep, "one.yaml", "alpha")
    placement = place_builds(tmp_path / "build", [one, tmp_path / "bad.yaml"], [first, None])
    assert placement.builds == () and placement.clashes == () and placement.failures == 1
