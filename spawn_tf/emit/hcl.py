"""Terraform JSON values: literals escaped, expressions wrapped. The only place Terraform strings are built. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Expr:
    """A Terraform expression, emitted as `${text}`."""

    text: str


@dataclass(frozen=True, slots=True)
class Template:
    """A string of literal parts (escaped) and expressions."""

    parts: tuple[str | Expr, ...]


def escape(text: str) -> str:
    """A literal as a Terraform JSON string template that evaluates to exactly `text`."""
    return text.replace("${", "$${").replace("%{", "%%{") if "{" in text else text  # most have no brace: one scan


@dataclass(frozen=True, slots=True)
class Lowered:
    """JSON values already lowered by their builder (every literal string passed through `escape`).

    For the thousands of per-run blocks, whose few free-text values are escaped where they are made.
    """

    value: Any


def tf(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """Lower a document to JSON values: literals escaped, expressions wrapped."""
    kind = type(value)
    if kind is str:
        return escape(value)
    if kind is dict:
        return {key: tf(item) for key, item in value.items()}
    if kind is Lowered:
        return value.value
    if isinstance(value, Expr):
        return "${" + value.text + "}"
    if isinstance(value, Template):
        return _template(value.parts)
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Mapping):
        return {key: tf(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [tf(item) for item in value]
    return value


def _template(parts: tuple[str | Expr, ...]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, Expr) and text[-1:] in ("$", "%"):  # "$" + "${x}" would read as the escape "$${x}"
            text = text[:-1] + '${"' + text[-1] + '"}'
        text += tf(part)
    return text
