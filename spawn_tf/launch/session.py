"""Plan and apply many roots, several at once: init, plan to a file, `show -json` of it; later, apply of that very file.

A root that fails is reported with Terraform's error and the others go on. After a Ctrl-C
(`Session.stop`) no new command starts and the ones in flight finish; a second Ctrl-C passes SIGINT
on to them, which Terraform answers by stopping cleanly. Nothing here ever kills Terraform.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from spawn_tf import contract
from spawn_tf.launch.apply_events import ApplyStream, Failure, candidate_indexes
from spawn_tf.launch.plan_summary import Changes, summarize
from spawn_tf.launch.progress import Progress
from spawn_tf.launch.terraform import Children, Result, Terraform, init_inputs, run

T = TypeVar("T")
R = TypeVar("R")
_COMMON = ("-input=false", "-no-color")


@dataclass(frozen=True, slots=True)
class Job:
    """A root to bring to its configuration, or to destroy (the `destroy` command, and orphan roots)."""

    label: str  # <sweep>/<root>
    path: Path
    destroy: bool = False
    orphan: bool = False  # a root the current compile no longer writes: always destroyed

    @property
    def plan_file(self) -> str:
        """The saved plan, relative to the root (Terraform runs with -chdir)."""
        return f"{contract.LAUNCH_FOLDER}/{contract.DESTROY_PLAN if self.destroy else contract.LAUNCH_PLAN}"


@dataclass(frozen=True, slots=True)
class Planned:
    """A root's plan: what it changes, the digest of the file shown; or the step that failed and Terraform's error."""

    job: Job
    changes: Changes | None = None
    digest: str | None = None  # sha256 of the plan file shown: the one applied must be the same
    failed: str | None = None  # init, plan, show; "interrupted" when Ctrl-C came first
    error: str = ""
    candidates: Mapping[str, int] = field(default_factory=dict)  # run -> its candidate index in the plan (terraform_data.candidate)

    @property
    def applicable(self) -> bool:
        return self.changes is not None and self.changes.any and self.digest is not None


@dataclass(frozen=True, slots=True)
class Applied:
    job: Job
    failed: str | None = None  # apply, or interrupted
    error: str = ""
    failures: tuple[Failure, ...] = ()  # the errors of the apply's -json stream
    candidates: Mapping[str, int] = field(default_factory=dict)  # as in the plan applied


@dataclass
class Session:
    """Runs Terraform commands over roots for one launch, plan or destroy."""

    terraform: Terraform
    env: Mapping[str, str]
    parallel: int
    display: Callable[[], Progress]  # a fresh progress display for each batch of commands
    progress: Progress | None = None
    children: Children = field(default_factory=Children)
    stopping: threading.Event = field(default_factory=threading.Event)
    interrupts: int = 0

    def stop(self) -> None:
        """Ctrl-C: start nothing more; the second time, ask the Terraform commands in flight to stop too."""
        self.interrupts += 1
        self.stopping.set()
        if self.interrupts > 1:
            self.children.interrupt()

    def plan_all(self, jobs: Sequence[Job]) -> list[Planned]:
        """Every root's plan. The first root's init runs alone: it fills the plugin cache, which is not safe for concurrent writers."""
        first_init = threading.Event()

        def one(job: Job) -> Planned:
            if job is not jobs[0]:
                first_init.wait()
            return self._plan(job, first_init)

        return self._each(jobs, one)

    def apply_all(self, planned: Sequence[Planned]) -> list[Applied]:
        return self._each([item for item in planned if item.applicable], self._apply)

    def _each(self, items: Sequence[T], work: Callable[[T], R]) -> list[R]:
        if not items:
            return []
        self.progress = self.display()
        try:
            return self._on_threads(items, work)
        finally:
            self.progress.close()

    def _on_threads(self, items: Sequence[T], work: Callable[[T], R]) -> list[R]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(items)))) as pool:
            futures = [pool.submit(work, item) for item in items]
            while wait(futures, timeout=0.2).not_done:  # short waits: a Ctrl-C is handled at once
                pass
        return [future.result() for future in futures]

    def _show(self) -> Progress:
        assert self.progress is not None, "only while a batch runs"
        return self.progress

    def _run(
        self, job: Job, step: str, args: Sequence[str], *, keep_stdout: bool = False, events: ApplyStream | None = None
    ) -> Result | None:
        """One command, or None when Ctrl-C came before it started."""
        if self.stopping.is_set():
            return None
        self._show().phase(job.label, step)
        try:
            return run(self.terraform, job.path, args, children=self.children, env=self.env, keep_stdout=keep_stdout, events=events)
        except OSError as exc:  # Terraform could not be started, or the root's log cannot be written
            return Result(1, b"", f"{exc.filename or job.path}: {exc.strerror or exc}")

    def _plan(self, job: Job, first_init: threading.Event) -> Planned:
        try:
            init = self._init(job)
        finally:
            first_init.set()
        if init is None or init.code != 0:
            return self._failed(job, "init", init)
        destroy = ["-destroy"] if job.destroy else []
        plan = self._run(job, "plan", ["plan", *_COMMON, "-detailed-exitcode", *destroy, f"-out={job.plan_file}"])
        if plan is None or plan.code not in (0, 2):
            return self._failed(job, "plan", plan)
        if plan.code == 0:
            self._show().finished(job.label, "no changes")
            return Planned(job, changes=Changes())
        digest = _digest(job.path / job.plan_file)
        shown = self._run(job, "show", ["show", "-json", job.plan_file], keep_stdout=True)
        if shown is None or shown.code != 0:
            return self._failed(job, "show", shown)
        try:
            document = json.loads(shown.stdout)
            changes = summarize(document)
        except ValueError as exc:
            return self._failed(job, "show", Result(1, b"", f"`terraform show -json` printed no JSON: {exc}"))
        self._show().finished(job.label, "planned")
        return Planned(job, changes=changes, digest=digest, candidates=candidate_indexes(document))

    def _init(self, job: Job) -> Result | None:
        """init, unless the last one in this root saw the same files with the same Terraform."""
        record = job.path / contract.LAUNCH_FOLDER / contract.LAUNCH_INIT_RECORD
        inputs = init_inputs(job.path, self.terraform)
        if record.is_file() and record.read_text(encoding="utf-8") == inputs:
            return Result(0, b"", "")
        record.unlink(missing_ok=True)
        result = self._run(job, "init", ["init", *_COMMON])
        if result is not None and result.code == 0:
            record.write_text(init_inputs(job.path, self.terraform), encoding="utf-8")  # init may have written the lock file
        return result

    def _failed(self, job: Job, step: str, result: Result | None) -> Planned:
        if result is None:
            self._show().finished(job.label, "not started (interrupted)")
            return Planned(job, failed="interrupted")
        self._show().finished(job.label, f"{step} failed (exit {result.code})")
        return Planned(job, failed=step, error=result.error)

    def _apply(self, planned: Planned) -> Applied:
        job = planned.job
        if _digest(job.path / job.plan_file) != planned.digest:
            self._show().finished(job.label, "not applied: the plan file changed since it was shown")
            return Applied(job, failed="apply", error=f"{job.plan_file} is not the plan that was shown: plan again")
        events = ApplyStream()  # -json: each error with its resource's address, for the capacity markers (DESIGN §13)
        result = self._run(job, "destroy" if job.destroy else "apply", ["apply", *_COMMON, "-json", job.plan_file], events=events)
        if result is None:
            self._show().finished(job.label, "not applied (interrupted)")
            return Applied(job, failed="interrupted")
        if result.code != 0:
            self._show().finished(job.label, f"apply failed (exit {result.code})")
            return Applied(job, failed="apply", error=result.error, failures=events.failures(), candidates=planned.candidates)
        self._show().finished(job.label, "destroyed" if job.destroy else "applied")
        return Applied(job)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@contextmanager
def ctrl_c(session: Session, on_first: Callable[[], None]) -> Iterator[None]:
    """While the block runs, Ctrl-C (SIGINT) calls `session.stop()` instead of raising KeyboardInterrupt."""

    def handler(_signum: int, _frame: object) -> None:
        if session.interrupts == 0:
            on_first()
        session.stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
