"""Diagnostics as values: what is wrong, where, and what to do about it. Pure: no I/O."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A place in a source file; line and column are 1-based."""

    file: str
    line: int
    col: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    severity: Severity
    code: str  # stable kebab-case identifier; tests assert on it, not on the wording
    message: str
    span: Span | None = None
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        if self.span is None:
            return ("", 0, 0, self.code, self.message)
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)

    def render(self) -> str:
        where = f"{self.span.file}:{self.span.line}:{self.span.col}: " if self.span else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "file": self.span.file if self.span else None,
            "line": self.span.line if self.span else None,
            "col": self.span.col if self.span else None,
            "hint": self.hint,
        }


def error(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(severity=Severity.ERROR, code=code, message=message, span=span, hint=hint)


def warning(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(severity=Severity.WARNING, code=code, message=message, span=span, hint=hint)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def ordered(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Sorted by place, without repeats (two checks may notice the same thing)."""
    return tuple(sorted(set(diagnostics), key=Diagnostic.sort_key))


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    """'2 errors, 1 warning', or '' when there is nothing to count."""
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [f"{n} {word}{'' if n == 1 else 's'}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
    return ", ".join(parts)


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.7) -> str | None:
    """A hint naming the closest candidates (those equally close), or None."""
    matchers = ((difflib.SequenceMatcher(None, word, candidate), candidate) for candidate in set(candidates))
    # real_quick_ratio() bounds ratio() from the lengths alone: a long value is not compared character by character.
    scored = sorted(
        ((matcher.ratio(), candidate) for matcher, candidate in matchers if matcher.real_quick_ratio() >= cutoff),
        key=lambda pair: (-pair[0], pair[1]),
    )
    best = [candidate for ratio, candidate in scored if ratio >= cutoff and ratio == scored[0][0]][:3]
    return f"did you mean {' or '.join(repr(c) for c in best)}?" if best else None
