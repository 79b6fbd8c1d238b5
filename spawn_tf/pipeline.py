"""The stages in order, for a file: load -> validate -> expand -> plan (-> emit). What every command starts with."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from spawn_tf import contract
from spawn_tf.diagnostics import Diagnostic, error, has_errors, ordered
from spawn_tf.expand import expand_runs, setting_path
from spawn_tf.load import DataPath, Document, load_document
from spawn_tf.model import Run, Sweep
from spawn_tf.plan import Plan, plan_roots
from spawn_tf.userdata import Size, heads, sizes
from spawn_tf.validate import validate_document


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """A sweep file after checking: the sweep, its runs and roots, or None where errors stopped it."""

    sweep: Sweep | None
    runs: tuple[Run, ...] | None
    plan: Plan | None
    heads: Mapping[str, str]  # run name -> the run's own part of its user-data
    sizes: tuple[Size, ...]  # user-data size of every run
    diagnostics: tuple[Diagnostic, ...]


def check_file(path: Path, display: str | None = None, *, require_backend: bool = False) -> Checked:
    """Load, validate, expand and plan a sweep file, collecting every diagnostic on the way."""
    document, diagnostics = load_document(path, display)
    if document is None:
        return Checked(sweep=None, runs=None, plan=None, heads={}, sizes=(), diagnostics=diagnostics)
    sweep, diagnostics = validate_document(document)
    if sweep is None:
        return Checked(sweep=None, runs=None, plan=None, heads={}, sizes=(), diagnostics=diagnostics)
    runs, expansion = expand_runs(sweep, document)
    found = [*diagnostics, *expansion]
    if require_backend and sweep.backend is None:
        message = "no terraform.backend: a pipeline's apply with local state would launch every active run again"
        found.append(error("no-backend", message, document.span(()), "add terraform: {backend: {s3: {bucket: ..., region: ...}}}"))
    plan = None if runs is None else plan_roots(sweep, runs)
    run_heads = heads(runs) if runs is not None else {}
    run_sizes = tuple(sizes(plan, run_heads)) if plan is not None else ()
    found.extend(_user_data_diagnostics(plan, document, run_sizes) if plan is not None else ())
    if has_errors(found):
        return Checked(sweep=sweep, runs=None, plan=None, heads={}, sizes=run_sizes, diagnostics=ordered(found))
    return Checked(sweep=sweep, runs=runs, plan=plan, heads=run_heads, sizes=run_sizes, diagnostics=ordered(found))


def _user_data_diagnostics(plan: Plan, document: Document, run_sizes: tuple[Size, ...]) -> Iterator[Diagnostic]:
    """EC2 takes at most 16 KB of user-data; one error per place the offending script is written."""
    largest: dict[DataPath, tuple[int, bool]] = {}
    for size in run_sizes:
        if size.fits:
            continue
        path = setting_path(plan.sweep, document, size.run, "user_data")
        if not path or path[-1] != "user_data":
            path = setting_path(plan.sweep, document, size.run, "command")
        largest[path] = max(largest.get(path, (0, False)), (size.size, size.compressed))
    for path, (size, compressed) in largest.items():
        form = "compressed with gzip" if compressed else "uncompressed"
        yield error("user-data-too-large", f"the user-data is {size} bytes {form}; EC2 accepts at most {contract.MAX_USER_DATA_BYTES}",
                    document.span(path), "keep large code in the AMI, a container image or S3, and fetch it from the script")  # fmt: skip


def compile_file(
    path: Path, display: str | None = None, *, require_backend: bool = False, two_cores: bool = False
) -> tuple[Checked, dict[PurePosixPath, bytes] | None]:
    """Check a sweep file and, when it has no errors, its compiled files (relative to build/<sweep>/)."""
    from spawn_tf.emit.terraform import emit_plan

    checked = check_file(path, display, require_backend=require_backend)
    if checked.plan is None:
        return checked, None
    return checked, emit_plan(checked.plan, checked.heads, two_cores=two_cores)
