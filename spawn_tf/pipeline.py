"""The stages in order, for a file: load -> validate -> expand. What every command starts with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spawn_tf.diagnostics import Diagnostic, ordered
from spawn_tf.expand import expand_runs
from spawn_tf.load import load_document
from spawn_tf.model import Run, Sweep
from spawn_tf.validate import validate_document


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """A sweep file after checking: the sweep and its runs, or None where errors stopped it."""

    sweep: Sweep | None
    runs: tuple[Run, ...] | None
    diagnostics: tuple[Diagnostic, ...]


def check_file(path: Path, display: str | None = None) -> Checked:
    """Load, validate and expand a sweep file, collecting every diagnostic on the way."""
    document, diagnostics = load_document(path, display)
    if document is None:
        return Checked(sweep=None, runs=None, diagnostics=diagnostics)
    sweep, diagnostics = validate_document(document)
    if sweep is None:
        return Checked(sweep=None, runs=None, diagnostics=diagnostics)
    runs, expansion = expand_runs(sweep, document)
    return Checked(sweep=sweep, runs=runs, diagnostics=ordered((*diagnostics, *expansion)))
