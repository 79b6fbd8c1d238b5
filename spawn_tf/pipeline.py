"""The stages in order, for a file: load -> validate -> expand -> plan (-> emit). What every command starts with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from spawn_tf import contract
from spawn_tf.diagnostics import Diagnostic, error, has_errors, ordered
from spawn_tf.expand import expand_runs, setting_path, workdirs
from spawn_tf.load import DataPath, Document, load_document, parse_document
from spawn_tf.model import Run, Sweep
from spawn_tf.plan import Plan, plan_roots
from spawn_tf.userdata import RootSizes, exports, sizes
from spawn_tf.validate import check_document, derived_sweep_id
from spawn_tf.workdir import Archive, code_modules, pack_workdirs

if TYPE_CHECKING:  # cost, prices and diff are imported where used: a sweep without a budget compiles without them
    from spawn_tf.cost import CostEstimate
    from spawn_tf.diff import SweepDiff
    from spawn_tf.prices import PriceTable


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """A sweep file after checking: the sweep, its runs and roots, or None where errors stopped it."""

    sweep: Sweep | None
    runs: tuple[Run, ...] | None
    plan: Plan | None
    exports: Mapping[str, str]  # run name -> the run's own lines of its user-data (userdata.run_exports)
    sizes: Mapping[str, RootSizes]  # root name -> its user-data sizes
    diagnostics: tuple[Diagnostic, ...]
    document: Document | None = None  # the loaded file, to place later diagnostics (the budget's)
    derived_id: str | None = None  # the sweep id, when it was made from a file name that is not an id as it stands


def check_file(path: Path, display: str | None = None, *, require_backend: bool = False) -> Checked:
    """Load, validate, expand and plan a sweep file, collecting every diagnostic on the way."""
    return _check(*load_document(path, display), require_backend=require_backend, folder=path.parent)


def check_source(raw: bytes, name: str, display: str, folder: Path | None = None) -> Checked:
    """`check_file` for a sweep file's bytes read elsewhere (e.g. an earlier version from git); workdirs
    are packed from `folder` as it is now (None: a workdir is an error)."""
    return _check(*parse_document(raw, name, display), require_backend=False, folder=folder)


def _check(document: Document | None, diagnostics: tuple[Diagnostic, ...], *, require_backend: bool, folder: Path | None) -> Checked:
    if document is None:
        return Checked(sweep=None, runs=None, plan=None, exports={}, sizes={}, diagnostics=diagnostics)
    validation = check_document(document)
    if validation.sweep is None:
        return Checked(sweep=None, runs=None, plan=None, exports={}, sizes={}, diagnostics=validation.diagnostics, document=document)
    packed = pack_workdirs(folder, workdirs(validation.sweep))
    if not validation.valid:  # expand the valid parts all the same: every independent problem in one pass
        _, expansion = expand_runs(validation.sweep, validation.document, packed)
        found = ordered([*validation.diagnostics, *validation.later(expansion)])
        return Checked(sweep=None, runs=None, plan=None, exports={}, sizes={}, diagnostics=found, document=document)
    sweep, diagnostics = validation.sweep, validation.diagnostics
    runs, expansion = expand_runs(sweep, document, packed)
    found = [*diagnostics, *expansion]
    if require_backend and sweep.backend is None:
        message = "no terraform.backend: a pipeline's apply with local state would launch every active run again"
        found.append(error("no-backend", message, document.span(()), "add terraform: {backend: {s3: {bucket: ..., region: ...}}}"))
    archives = {archive.sha256: archive.data for archive in packed.values() if isinstance(archive, Archive)}
    plan = None if runs is None else plan_roots(sweep, runs, archives, code_modules())
    run_exports = exports(runs) if runs is not None else {}
    run_sizes = sizes(plan, run_exports) if plan is not None else {}
    found.extend(_user_data_diagnostics(plan, document, run_sizes) if plan is not None else ())
    if sweep.early_stopping is not None and runs is not None:
        from spawn_tf.stopping_checks import early_stopping_diagnostics  # only sweeps with the block load its checks

        found.extend(early_stopping_diagnostics(sweep, runs, document, archives))
    if has_errors(found):
        return Checked(sweep=sweep, runs=None, plan=None, exports={}, sizes=run_sizes, diagnostics=ordered(found), document=document,
                       derived_id=derived_sweep_id(document))  # fmt: skip
    return Checked(sweep=sweep, runs=runs, plan=plan, exports=run_exports, sizes=run_sizes, diagnostics=ordered(found), document=document,
                   derived_id=derived_sweep_id(document))  # fmt: skip


def _user_data_diagnostics(plan: Plan, document: Document, run_sizes: Mapping[str, RootSizes]) -> Iterator[Diagnostic]:
    """EC2 takes at most 16 KB of user-data; one error per place the offending script is written."""
    largest: dict[DataPath, tuple[int, bool]] = {}
    for size in (size for root in run_sizes.values() for size in root.too_large):
        path = setting_path(plan.sweep, document, size.run, "user_data")
        if not path or path[-1] != "user_data":
            path = setting_path(plan.sweep, document, size.run, "command")
        largest[path] = max(largest.get(path, (0, False)), (size.size, size.compressed))
    for path, (size, compressed) in largest.items():
        form = "compressed with gzip" if compressed else "uncompressed"
        yield error("user-data-too-large", f"the user-data is {size} bytes {form}; EC2 accepts at most {contract.MAX_USER_DATA_BYTES}",
                    document.span(path), "keep large code in the AMI, a container image or S3, and fetch it from the script")  # fmt: skip


def compile_file(
    path: Path, display: str | None = None, *, require_backend: bool = False, prices: Path | None = None
) -> tuple[Checked, dict[PurePosixPath, bytes] | None]:
    """Check a sweep file and, when it has no errors, its compiled files (relative to build/<sweep>/).

    A sweep with a budget is compiled only within it, priced from `prices` or the sweep's own
    price file; never from AWS.
    """
    checked, files = compile_lazily(path, display, require_backend=require_backend, prices=prices)
    return checked, None if files is None else files.tree()


@dataclass(frozen=True, slots=True)
class Emitter:
    """A sweep's compiled files, made one at a time when called: what Terraform reads (`emit.terraform.terraform_files`),
    and the manifests for the collector, which `write_tree` makes in a forked process beside the first."""

    terraform: Callable[[], Iterator[tuple[PurePosixPath, bytes]]]
    manifests: Callable[[], Iterator[tuple[PurePosixPath, bytes | Iterator[bytes]]]]

    def tree(self) -> dict[PurePosixPath, bytes]:
        """Every file, made in this process, and the record of them."""
        from spawn_tf.emit.files import whole_tree

        return whole_tree(chain(self.terraform(), self.manifests()))


def compile_lazily(
    path: Path, display: str | None = None, *, require_backend: bool = False, prices: Path | None = None
) -> tuple[Checked, Emitter | None]:
    """`compile_file` whose files are made only when asked for, one at a time (for `write_tree`): a large
    sweep's compiled tree is never whole in memory. Emitting checks nothing: every error is in `Checked`."""
    from spawn_tf.emit.terraform import manifest_files, terraform_files

    checked = check_file(path, display, require_backend=require_backend)
    if checked.sweep is not None and checked.sweep.budget is not None and checked.plan is not None:
        checked, _ = estimate_file(checked, path, prices=prices)
    if checked.plan is None:
        return checked, None
    source_text = checked.document.text if checked.document is not None else None
    # Emitting needs no source positions: let the document (and a YAML file's node tree) go first.
    checked = replace(checked, document=None)
    plan, run_exports, run_sizes = checked.plan, checked.exports, checked.sizes
    return checked, Emitter(
        terraform=lambda: terraform_files(plan, run_exports, run_sizes), manifests=lambda: manifest_files(plan, source_text)
    )


def price_file(checked: Checked, path: Path, prices: Path | None) -> Path | None:
    """The price file to use: `prices` (as given), else the sweep's budget.prices (beside the sweep file)."""
    if prices is not None:
        return prices
    budget = checked.sweep.budget if checked.sweep is not None else None
    return path.parent / budget.prices if budget is not None and budget.prices is not None else None


PriceFetcher = Callable[[set[tuple[str, str]]], "PriceTable"]  # (region, instance type) pairs -> live prices


def estimate_file(
    checked: Checked, path: Path, *, prices: Path | None = None, fetch: PriceFetcher | None = None
) -> tuple[Checked, CostEstimate | None]:
    """The worst-case cost of a checked sweep file's runs, and the budget's verdict among the diagnostics.

    Prices come from `fetch` (live) when given, else from the price file (`price_file`). Without a
    price source there is no estimate; with a budget that is an error.
    """
    from spawn_tf.cost import budget_diagnostics, estimate_cost, no_prices_diagnostic

    if checked.runs is None or checked.sweep is None or checked.document is None:
        return checked, None
    table, found = price_table(checked.runs, price_file(checked, path, prices), fetch)
    if prices is None and fetch is None:  # the sweep named the file: a file that cannot be read is placed at its name
        named = checked.document.span(("budget", contract.BUDGET_PRICES))
        found = [replace(diagnostic, span=named) if diagnostic.span is None else diagnostic for diagnostic in found]
    if table is None and not found and all(run.settings.spot and run.settings.spot_max_price_usd for run in checked.runs):
        from spawn_tf.prices import PriceTable

        table = PriceTable(source="the runs' spot_max_price (no price file)", prices={})  # a cap bounds every hour
    if table is None and not found and checked.sweep.budget is not None:
        found.append(no_prices_diagnostic(checked.document))
    estimate = estimate_cost(checked.runs, table) if table is not None else None
    if estimate is not None and checked.sweep.budget is not None:
        found.extend(budget_diagnostics(checked.sweep, checked.document, checked.runs, estimate))
    if not found:
        return checked, estimate
    diagnostics = ordered([*checked.diagnostics, *found])
    if has_errors(found):
        return replace(checked, runs=None, plan=None, diagnostics=diagnostics), estimate
    return replace(checked, diagnostics=diagnostics), estimate


def price_table(runs: Iterable[Run], source: Path | None, fetch: PriceFetcher | None) -> tuple[PriceTable | None, list[Diagnostic]]:
    """Prices for these runs: live through `fetch`, else from the price file `source`, else none."""
    from spawn_tf.prices import read_price_file

    if fetch is not None:
        return fetch({(run.region, instance_type) for run in runs for instance_type in run.settings.instance_types}), []
    if source is None:
        return None, []
    table, problems = read_price_file(source)
    return table, list(problems)


def diff_checked(
    old: Checked | None, new: Checked, new_path: Path, *, old_source: str, prices: Path | None = None, fetch: PriceFetcher | None = None
) -> tuple[SweepDiff | None, tuple[Diagnostic, ...]]:
    """Compare two checked versions of a sweep (`old` None: the file is new), with the cost delta.

    Both sides are priced from one table (`fetch`, else `prices`, else the new sweep's budget.prices),
    so the delta shows what the change costs, not how prices moved.
    """
    from spawn_tf.cost import NO_PRICES_NOTE, estimate_cost
    from spawn_tf.diff import diff_sweeps

    if new.plan is None or new.runs is None or (old is not None and (old.plan is None or old.runs is None)):
        return None, ()
    old_runs = old.runs if old is not None and old.runs is not None else ()
    table, found = price_table((*old_runs, *new.runs), price_file(new, new_path, prices), fetch)
    if has_errors(found):
        return None, tuple(found)
    cost = None if table is None else (estimate_cost(old_runs, table), estimate_cost(new.runs, table))
    note = None if table is not None else NO_PRICES_NOTE
    return diff_sweeps(old.plan if old is not None else None, new.plan, cost, note, old_source=old_source), tuple(found)
