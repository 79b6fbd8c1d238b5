"""The early_stopping block's checks that need the runs (DESIGN §12): warnings for a block that cannot stop a run. Pure.

The schema has checked each field; what it cannot see is whether the rule can ever decide: reports
that nobody writes, a metric the runs report under another name, more other runs required than the
sweep has, and settings the chosen rule ignores. All are warnings (`--strict` makes them errors):
a sweep that stops no run still runs.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Iterable, Iterator, Mapping

from spawn_tf.diagnostics import Diagnostic, warning
from spawn_tf.load import Document
from spawn_tf.model import Run, Sweep
from spawn_tf.stopping import MEDIAN, Rule

BLOCK = "early_stopping"
# `spored report` in a script, or ["spored", "report", …] in a program the script runs.
REPORT_CALL = re.compile(r"\bspored\b[\s\"',\[\]]*report\b")
COMMAND_END = re.compile(r"[;&|#>]")  # `|| verdict=$?` is not a metric
# A metric named as written after it: `val_loss=` (not `--step=`, `$NAME=` or `{name}=`).
METRIC_WRITTEN = re.compile(r"(?<![\w.${}-])([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})=(?!=)")
SHOWN_RUNGS = 3  # rungs listed in a message, then "…"
CLOSE_METRIC = 0.7  # `val-loss` and `valid_loss` for `val_loss`; not `loss`


def early_stopping_diagnostics(
    sweep: Sweep, runs: Iterable[Run], document: Document, archives: Mapping[str, bytes]
) -> Iterator[Diagnostic]:
    """Warnings about the sweep's early_stopping block, given its runs and their workdir archives (sha256 -> .tar.gz)."""
    rule = sweep.early_stopping
    if rule is None:
        return
    runs = tuple(runs)
    yield from _reports(rule, runs, document, archives)
    yield from _too_few_runs(rule, len(runs), document)
    yield from _ignored_settings(rule, document)


def _reports(rule: Rule, runs: tuple[Run, ...], document: Document, archives: Mapping[str, bytes]) -> Iterator[Diagnostic]:
    """No run reports at all, or the runs report other metrics than the rule's."""
    lines = [line for script in dict.fromkeys(run.settings.script for run in runs if run.settings.script) for line in report_lines(script)]
    if not lines:  # the script may run a program that reports (train.py calling `spored report`)
        codes = dict.fromkeys(run.settings.code_sha256 for run in runs if run.settings.code_sha256 in archives)
        lines = [line for sha256 in codes for text in archive_texts(archives[sha256]) for line in report_lines(text)]
    if not lines:
        yield warning("no-progress-reports", f"early_stopping is set, but no run reports {rule.metric}: nothing in the scripts or workdirs calls `spored report`",
                      document.span((BLOCK,), key=True),
                      f"report it at each step, e.g. `spored report --step \"$EPOCH\" {rule.metric}=\"$VALUE\"` (README, Early stopping)")  # fmt: skip
        return
    named = [METRIC_WRITTEN.findall(line) for line in lines]
    if all(named) and not any(rule.metric in names for names in named):  # a line without a written name may report any metric
        reported = sorted({name for names in named for name in names})
        listed = ", ".join(reported)
        yield warning("unreported-metric", f"the runs report {listed} but not {rule.metric}, the metric early_stopping compares",
                      document.span((BLOCK, "metric")),
                      _metric_hint(rule.metric, reported))  # fmt: skip


def _metric_hint(metric: str, reported: list[str]) -> str:
    close = difflib.get_close_matches(metric, reported, n=1, cutoff=CLOSE_METRIC)
    report = f"report it: `spored report --step N {metric}=VALUE`"
    return f"if {close[0]} is the one, write metric: {close[0]}; else {report}" if close else report


def report_lines(text: str) -> list[str]:
    """The command after each `spored report` on its (backslash-continued) line, up to a shell operator or comment."""
    joined = re.sub(r"\\\r?\n", " ", text)
    return [COMMAND_END.split(line[match.end() :])[0] for line in joined.splitlines() for match in REPORT_CALL.finditer(line)]


def archive_texts(data: bytes) -> Iterator[str]:
    """The files of a workdir archive, as text."""
    import tarfile  # here: only a sweep with early_stopping whose scripts do not report reads its archives (DESIGN §9)

    with tarfile.open(fileobj=io.BytesIO(data)) as archive:  # gzip, found by tarfile
        for member in archive:
            handle = archive.extractfile(member)  # None for a folder
            if handle is not None:
                yield handle.read().decode("utf-8", errors="replace")


def _too_few_runs(rule: Rule, count: int, document: Document) -> Iterator[Diagnostic]:
    """A verdict needs min_runs *other* runs at a step: with min_runs ≥ the number of runs there is never one."""
    if rule.min_runs < count:
        return
    written = "min_runs" in document.data[BLOCK]  # the block is there: the rule was built from it
    where = document.span((BLOCK, "min_runs")) if written else document.span((BLOCK,), key=True)
    setting = "min_runs" if written else "min_runs, by default"
    runs = f"{count} run{'' if count == 1 else 's'}"
    hint = f"set min_runs to at most {count - 1}" if count > 1 else "add runs: a run is compared with the others"
    yield warning("early-stopping-never-decides",
                  f"a verdict needs {rule.min_runs} other runs to have reported the step ({setting}), but the sweep has {runs}: "
                  "no run is ever stopped", where, hint)  # fmt: skip


def _ignored_settings(rule: Rule, document: Document) -> Iterator[Diagnostic]:
    """median ignores asha's settings; asha decides at rungs only, so a min_step between rungs moves the first verdict."""
    block = document.data[BLOCK]
    if rule.rule == MEDIAN:
        for key in (key for key in ("grace", "reduction_factor") if key in block):
            yield warning("ignored-early-stopping-setting", f"{key} applies to rule asha; rule median ignores it",
                          document.span((BLOCK, key), key=True), "remove it, or set rule: asha")  # fmt: skip
    else:  # asha
        skipped = list(_rungs_before(rule, rule.min_step))
        first = rule.grace * rule.reduction_factor ** len(skipped)
        if first == rule.min_step or not skipped:  # min_step is a rung, or no later than the first: it says what happens
            return
        shown = ", ".join(str(step) for step in skipped[:SHOWN_RUNGS]) + (", …" if len(skipped) > SHOWN_RUNGS else "")
        yield warning("ignored-early-stopping-setting",
                      f"asha decides at rungs only and min_step {rule.min_step} is not one: the first verdict is at step {first} "
                      f"(the rungs before, at steps {shown}, give none)",
                      document.span((BLOCK, "min_step")), f"write grace: {first} instead of min_step (rungs {first}, "
                      f"{first * rule.reduction_factor}, …), or a min_step that is a rung")  # fmt: skip


def _rungs_before(rule: Rule, step: int) -> Iterator[int]:
    rung = rule.grace
    while rung < step:
        yield rung
        rung *= rule.reduction_factor
