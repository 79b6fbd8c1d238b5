"""Check a document against schemas/sweep.schema.json and explain each violation at its place.

Pure: no I/O beyond the cached schema. A compiled yes/no check handles the common case (a valid
file) in a fraction of jsonschema's time; only an invalid document goes through jsonschema, which
then says exactly what is wrong. The compiled check never says yes where jsonschema says no
(a property test holds it to that); where unsure it says no and lets jsonschema decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from spawn_tf.diagnostics import Diagnostic, did_you_mean, error
from spawn_tf.load import DataPath, Document
from spawn_tf.resources import sweep_schema
from spawn_tf.values import duration_text

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

Check = Callable[[Any], bool]

# Keywords that constrain nothing.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default", "x-hint"})

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


@cache
def ecma_search(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """`pattern` searched as JSON Schema means it (ECMA-262): a final `$` is the very end of the text.

    Python's `$` also matches before a final newline, which would let 't3.micro\n' pass '^…$'.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern).search


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)



def _type_check(value: str | list[str]) -> Check:
    tests = [_TYPES[name] for name in ([value] if isinstance(value, str) else value)]
    return lambda v: any(test(v) for test in tests)


def _enum_check(value: list[Any]) -> Check:
    if not all(isinstance(option, str) for option in value):
        raise NotImplementedError("enum of non-strings")
    options = frozenset(value)
    return lambda v: isinstance(v, str) and v in options


def _const_check(value: Any) -> Check:
    if not _is_number(value):
        raise NotImplementedError("const of a non-number")
    return lambda v: _is_number(v) and v == value


def _pattern_check(value: str) -> Check:
    search = ecma_search(value)
    return lambda v: not isinstance(v, str) or search(v) is not None


# The keywords whose check depends on their value alone (no sub-schema to compile).
_VALUE_KEYWORDS: dict[str, Callable[[Any], Check]] = {
    "type": _type_check,
    "required": lambda value: lambda v: not isinstance(v, dict) or all(name in v for name in value),
    "minProperties": lambda value: lambda v: not isinstance(v, dict) or len(v) >= value,
    "maxProperties": lambda value: lambda v: not isinstance(v, dict) or len(v) <= value,
    "minItems": lambda value: lambda v: not isinstance(v, list) or len(v) >= value,
    "maxItems": lambda value: lambda v: not isinstance(v, list) or len(v) <= value,
    # Decided here for strings only; other lists go to jsonschema (its equality rules differ from Python's).
    "uniqueItems": lambda value: lambda v: not isinstance(v, list) or (all(isinstance(i, str) for i in v) and len(set(v)) == len(v)),
    "pattern": _pattern_check,
    "minLength": lambda value: lambda v: not isinstance(v, str) or len(v) >= value,
    "maxLength": lambda value: lambda v: not isinstance(v, str) or len(v) <= value,
    "enum": _enum_check,
    "const": _const_check,
    "minimum": lambda value: lambda v: not _is_number(v) or v >= value,
    "maximum": lambda value: lambda v: not _is_number(v) or v <= value,
    "exclusiveMinimum": lambda value: lambda v: not _is_number(v) or v > value,
}

class _Compiler:
    """Turns the subset of draft 2020-12 that our schema uses into nested closures."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer not in self.refs:
            self.refs[pointer] = lambda v: False  # a placeholder while a recursive definition compiles
            target: Any = self.root
            for part in pointer.removeprefix("#/").split("/"):
                target = target[part]
            self.refs[pointer] = self.compile(target)
        return lambda v: self.refs[pointer](v)  # noqa: PLW0108 - looked up late: the target may still be compiling

    def compile(self, schema: Mapping[str, Any] | bool) -> Check:
        if isinstance(schema, bool):
            return lambda v: schema
        checks = [self._keyword(key, value, schema) for key, value in schema.items() if key not in _ANNOTATIONS]
        checks = [c for c in checks if c is not None]
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)

    def _keyword(self, key: str, value: Any, schema: Mapping[str, Any]) -> Check | None:  # noqa: PLR0911 - one branch per keyword
        if key in _VALUE_KEYWORDS:
            return _VALUE_KEYWORDS[key](value)
        if key == "$ref":
            return self.ref(value)
        if key == "properties":
            properties = {name: self.compile(sub) for name, sub in value.items()}
            extra = schema.get("additionalProperties", True)
            other = self.compile(extra)
            return lambda v: not isinstance(v, dict) or all(properties.get(k, other)(item) for k, item in v.items())
        if key == "additionalProperties":
            if "properties" in schema:
                return None  # handled with properties
            other = self.compile(value)
            return lambda v: not isinstance(v, dict) or all(other(item) for item in v.values())
        if key == "propertyNames":
            names = self.compile(value)
            return lambda v: not isinstance(v, dict) or all(names(k) for k in v)
        if key == "items":
            item_check = self.compile(value)
            return lambda v: not isinstance(v, list) or all(item_check(item) for item in v)
        if key == "anyOf":
            branches = [self.compile(sub) for sub in value]
            return lambda v: any(branch(v) for branch in branches)
        raise NotImplementedError(f"schema keyword {key!r}")


@cache
def _fast_check() -> Check:
    return _Compiler(sweep_schema()).compile(sweep_schema())


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator, validators  # only invalid documents pay for the import
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, value: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string") and not ecma_search(value)(instance):
            yield ValidationError(f"{instance!r} does not match {value!r}")

    return validators.extend(Draft202012Validator, {"pattern": pattern})(sweep_schema())


@cache
def setting_check(setting: str) -> Check:
    """The compiled check of one run setting's schema (for setting values listed in `grid`)."""
    return _Compiler(sweep_schema()).ref(f"#/$defs/settings/{setting}")


def is_valid(data: Any) -> bool:
    """The compiled check alone (True means jsonschema agrees)."""
    return _fast_check()(data)


def schema_diagnostics(document: Document) -> tuple[Diagnostic, ...]:
    """Every schema violation in the document, one diagnostic each, located."""
    if is_valid(document.data):
        return ()
    from jsonschema.exceptions import best_match

    by_path: dict[DataPath, list[ValidationError]] = {}
    found: list[Diagnostic] = []
    for err in _validator().iter_errors(document.data):
        if err.validator in ("additionalProperties", "required"):
            found.extend(_key_errors(document, err))
        else:
            by_path.setdefault(tuple(err.absolute_path), []).append(err)
    for errors in by_path.values():
        found.append(_describe(document, best_match(errors)))
    return tuple(found)


def invalid_paths(data: Any) -> tuple[DataPath, ...]:
    """Where the document breaks the schema, as the values to take out so that the rest can still be
    checked: an unknown key, the object missing a required key, a wrong value. A wrong item of a
    list takes the whole list out (taking the item out would move the items after it)."""
    if is_valid(data):
        return ()
    paths: dict[DataPath, None] = {}
    for err in _validator().iter_errors(data):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties":
            paths.update(dict.fromkeys((*path, key) for key in err.instance if key not in err.schema.get("properties", {})))
            continue
        while path and isinstance(path[-1], int):
            path = path[:-1]
        paths[path] = None
    return tuple(paths)


def where(path: DataPath) -> str:
    """A data path as users write it: `params[3].ttl`, `grid.lr`."""
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
    return text or "the top level"


def inside(path: DataPath) -> str:
    """'in defaults', 'in params[3]', 'at the top level'."""
    return f"in {where(path)}" if path else "at the top level"


# Keys often written for another one; the schema cannot guess these by spelling.
_KEY_HINTS = {
    "name": "the sweep id is 'sweep'; run names go in 'params'",
    "parameters": "did you mean 'params'?",
    "sweep_name": "did you mean 'sweep'?",
    "sweep_id": "did you mean 'sweep'?",
}


def _key_errors(document: Document, err: ValidationError) -> Iterator[Diagnostic]:
    path = tuple(err.absolute_path)
    if err.validator == "required":
        for key in err.validator_value:
            if key not in err.instance:
                yield error("missing-key", f"missing '{key}' {inside(path)}", document.span(path, key=bool(path)))
        return
    known = err.schema.get("properties", {})
    for key in err.instance:
        if key not in known:
            hint = _KEY_HINTS.get(key) if not path else None
            yield error(
                "unknown-key",
                f"unknown key '{key}' {inside(path)}",
                document.span((*path, key), key=True),
                hint or did_you_mean(key, known),
            )


def _quoted(text: str) -> str:
    """User text in a message, shortened when long (a value may be up to the file's size)."""
    return f"'{text}'" if len(text) <= _QUOTED_CHARS else f"'{text[:_QUOTED_CHARS]}...' ({len(text)} characters)"


_QUOTED_CHARS = 120


def _what(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"text '{value}'" if len(value) <= 60 else "a long text"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    return "a list" if isinstance(value, list) else "a mapping"


_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off")  # a boolean written as text
_ARTICLE = {"string": "text", "boolean": "true or false", "integer": "a whole number", "number": "a number",
            "array": "a list", "object": "a mapping", "null": "nothing"}  # fmt: skip

# Values people write for a setting that the schema rightly rejects, and what to do instead.
_VALUE_HINTS = {
    ("on_complete", "hibernate"): "a one-time spot instance can neither stop nor hibernate; use 'terminate'",
    ("on_complete", "exit"): "use 'terminate'",
}


def _describe(document: Document, err: ValidationError) -> Diagnostic:  # noqa: C901, PLR0911 - one message per keyword
    path, value, rule = tuple(err.absolute_path), err.instance, err.validator_value
    span = document.span(path)
    name = where(path)
    hint = err.schema.get("x-hint") if isinstance(err.schema, dict) else None
    setting = next((item for item in reversed(path) if isinstance(item, str)), "")
    if err.validator == "anyOf" and isinstance(value, str) and value.lower() in _BOOLEAN_WORDS:  # `spot: 'yes'`: true or false, unquoted
        err = next((branch for branch in err.context if branch.validator == "type" and branch.validator_value == "boolean"), err)
        rule = err.validator_value
    if err.validator == "type":
        if value is None:
            return error("empty-value", f"{name} has no value", span, "give it a value, or remove the key")
        title = err.schema.get("title")
        wanted = f"a {title}" if title else " or ".join(_ARTICLE[t] for t in ([rule] if isinstance(rule, str) else rule))
        if rule == "boolean" and isinstance(value, str) and value.lower() in _BOOLEAN_WORDS:
            hint = "write true or false, without quotes"
        elif rule == "string" and isinstance(value, int) and setting in ("ttl", "idle_timeout"):
            hint = f"durations are text like '1h30m'; {value} seconds is '{duration_text(value)}'"
        return error("wrong-type", f"expected {wanted} for {name}, found {_what(value)}", span, hint)
    if err.validator in ("enum", "const"):
        options = rule if err.validator == "enum" else [rule]
        listed = ", ".join(str(option) for option in options)
        hint = (_VALUE_HINTS.get((setting, value)) or did_you_mean(value, [str(o) for o in options])) if isinstance(value, str) else None
        shown = _quoted(value) if isinstance(value, str) else _what(value)
        return error("not-allowed", f"{shown} is not allowed for {name}; expected one of: {listed}", span, hint)
    if err.validator == "pattern":
        title = err.schema.get("title", "value")
        return error("bad-format", f"{_quoted(value)} is not a valid {title} for {name}", span, hint)
    if err.validator in ("minimum", "maximum", "exclusiveMinimum"):
        relation = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than"}[err.validator]
        return error("out-of-range", f"{name} must be {relation} {rule}, found {value}", span)
    if err.validator in ("minItems", "minLength", "minProperties") and rule == 1:
        return error("empty-value", f"{name} is empty", span, "give it a value, or remove the key")
    if err.validator in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
        relation = "at least" if err.validator.startswith("min") else "at most"
        unit = {"Items": "items", "Length": "characters", "Properties": "keys"}[err.validator[3:]]
        return error("bad-size", f"{name} must have {relation} {rule} {unit}, found {len(value)}", span)
    if err.validator == "uniqueItems":
        return error("repeated-value", f"{name} lists a value more than once", span)
    if err.validator == "propertyNames":
        key_hint = err.schema.get("propertyNames", {})
        return error("bad-key", f"{name} has a key that is not valid here", span, hint or str(key_hint.get("x-hint", "")) or None)
    titles = (
        [branch.get("title") for branch in rule if isinstance(branch, dict) and branch.get("title")] if err.validator == "anyOf" else []
    )
    expected = f"; expected {' or '.join(titles)}" if titles else ""
    return error("bad-value", f"{_what(value)} is not valid for {name}{expected}", span, hint)
