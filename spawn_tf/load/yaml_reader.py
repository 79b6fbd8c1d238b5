"""YAML sweep files: the 1.2 core schema (`yes`, `on` and `NO` stay strings; `1e-4` is a number), plus merge keys."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spawn_tf import contract
from spawn_tf.load.document import (
    BOOL,
    FLOAT,
    INT,
    LONG_NUMBER_HINT,
    LONG_VALUE_HINT,
    MAP,
    MAX_NUMBER_CHARS,
    MERGE,
    NULL,
    SEQ,
    STR,
    Lines,
    LoadError,
    SourceFloat,
    SourceInt,
    mark_error,
)
from spawn_tf.load.limits import COUNT_FIRST_ABOVE, MANY_KEYS_HINT, ValueCounter

# YAML 1.2 core schema: which tag a plain (unquoted) scalar gets from its text alone.
_PLAIN_TYPES = (
    (BOOL, re.compile(r"true|True|TRUE|false|False|FALSE")),
    (INT, re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")),
    (FLOAT, re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")),
    (NULL, re.compile(r"~|null|Null|NULL|")),
    (MERGE, re.compile(r"<<")),
)


@lru_cache(maxsize=65536)  # sweep files repeat keys and values thousands of times
def plain_tag(text: str) -> str:
    return next((tag for tag, pattern in _PLAIN_TYPES if pattern.fullmatch(text)), STR)


class Yaml12Loader(yaml.CSafeLoader):
    """libyaml's parser and composer with the YAML 1.2 core schema's implicit types."""

    def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return plain_tag(value) if implicit[0] else STR
        return SEQ if kind is SequenceNode else MAP


_BOOLS = {"true": True, "false": False}


# libyaml's words for the usual slips, and what to look at.
_YAML_HINTS = (
    ("mapping values are not allowed", "check the indentation of this line against the lines above it; quote values that contain ': '"),
    ("could not find expected ':'", "a key needs ': ' after it; check the line above too"),
    ("found undefined alias", "define the anchor (&name) before using it (*name)"),
)


def _tab_problem(text: str, index: int) -> str:
    line_start = text.rfind("\n", 0, index) + 1
    if not text[line_start:index].strip(" \t"):
        return "a tab in indentation; YAML indents with spaces"
    return "a tab where YAML expects a value or a key; YAML separates with spaces"


class _Builder:
    """Builds plain data from a composed YAML node tree (no per-value positions: they stay in the tree)."""

    def __init__(self, aliases: bool) -> None:
        self._aliases = aliases  # without anchors in the text no node can be reached twice
        self._seen: set[int] = set()
        self._copies = 0

    def build(self, node: Node, depth: int = 0) -> Any:
        if depth > contract.MAX_NESTING:
            raise mark_error("too-deep", f"values nested deeper than {contract.MAX_NESTING} levels", node)
        if self._aliases:
            self._count_copies(node)
        if type(node) is ScalarNode:
            return yaml_scalar(node)
        if type(node) is SequenceNode:
            if node.tag != SEQ:
                raise _unsupported_tag(node)
            return [self.build(item, depth + 1) for item in node.value]
        if node.tag != MAP:
            raise _unsupported_tag(node)
        return self._mapping(node, depth)

    def _count_copies(self, node: Node) -> None:
        if id(node) not in self._seen:
            self._seen.add(id(node))
            return
        self._copies += 1
        # Reuse that grows with the file is fine (an anchor merged into every run); growth without it is a bomb.
        if self._copies > contract.MAX_YAML_ALIAS_EXPANSION + 10 * len(self._seen):
            raise mark_error(
                "alias-bomb",
                f"YAML aliases expand to more than {contract.MAX_YAML_ALIAS_EXPANSION} values",
                node,
                hint="aliases that refer to aliases multiply; write the values out",
            )

    def _mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        if len(node.value) > contract.MAX_RUN_KEYS:  # a file too small to be counted first (see COUNT_FIRST_ABOVE)
            raise mark_error("too-many-keys", f"a mapping with more than {contract.MAX_RUN_KEYS} keys", node.value[contract.MAX_RUN_KEYS][0],
                              hint=MANY_KEYS_HINT)  # fmt: skip
        result: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                merges.extend(value_node.value if type(value_node) is SequenceNode else [value_node])
                continue
            if type(key_node) is not ScalarNode:
                raise mark_error("complex-key", "a key must be a plain value, not a list or a mapping", key_node)
            key = key_node.value
            if key in result:
                raise mark_error("duplicate-key", f"duplicate key '{key}'", key_node, hint="each key may appear once in a mapping")
            result[key] = self.build(value_node, depth + 1)
        for source in merges:  # explicit keys win; among merged mappings the first wins (YAML merge keys)
            merged = self.build(source, depth + 1)
            if not isinstance(merged, dict):
                raise mark_error("bad-merge", "'<<' merges mappings only", source)
            for key, value in merged.items():
                result.setdefault(key, value)
        return result


# Explicit tags (`!!int 7`) and the plain texts each accepts.
_TYPED = {INT: (INT,), FLOAT: (FLOAT, INT), BOOL: (BOOL,), NULL: (NULL,)}


def yaml_scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == STR:
        if len(text) > contract.MAX_VALUE_CHARS:
            raise mark_error("value-too-long", f"a value of {len(text)} characters, more than the limit of {contract.MAX_VALUE_CHARS}", node,
                              hint=LONG_VALUE_HINT)  # fmt: skip
        return text
    if tag in _TYPED and plain_tag(text) not in _TYPED[tag]:  # an explicit tag on text of another type
        raise mark_error("bad-tagged-value", f"'{text}' is not a valid {tag.rsplit(':', 1)[-1]}", node, hint="remove the tag")
    if tag in (INT, FLOAT):
        return _number(node)
    if tag == BOOL:
        return _BOOLS[text.lower()]
    if tag == NULL:
        return None
    raise _unsupported_tag(node)


def _number(node: ScalarNode) -> SourceInt | SourceFloat:
    text = node.value
    if plain_tag(text) == INT:
        if len(text) > MAX_NUMBER_CHARS:
            raise mark_error("number-too-long", f"a number of {len(text)} characters is too long", node, hint=LONG_NUMBER_HINT)
        base = 16 if text.startswith("0x") else 8 if text.startswith("0o") else 10
        whole = int(text[2:] if base != 10 else text, base)
        return SourceInt(whole, text) if node.tag == INT else SourceFloat(float(whole), text)
    body = text.lstrip("+-")
    if body.startswith(".") and not body[1:2].isdigit():  # .inf, .nan and their spellings
        raise mark_error("non-finite-number", f"'{text}' is not a finite number", node)
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise mark_error("non-finite-number", f"'{text}' is not a finite number", node)
    return SourceFloat(value, text)


def _unsupported_tag(node: Node) -> LoadError:
    return mark_error("unsupported-tag", f"unsupported YAML tag '{node.tag}'", node, hint="remove the tag; sweep files hold plain values")


def load_yaml(text: str) -> tuple[Any, Callable[[], Node], Lines | None]:
    lines = Lines(text)
    if _yaml_value_bound(text) > COUNT_FIRST_ABOVE:
        _check_yaml_counts(text, lines)
    loader = Yaml12Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        line, col = lines.of((exc.problem_mark or exc.context_mark).index)
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        if "expected a single document" in message:
            raise LoadError(
                "multiple-documents",
                "a sweep file holds one YAML document, found more",
                line,
                col,
                hint="split the documents into separate files",
            ) from None
        index = (exc.problem_mark or exc.context_mark).index
        if text[index : index + 1] == "\t":  # libyaml's words for a tab do not say "tab" ("found character that cannot start any token")
            raise LoadError("yaml-syntax", _tab_problem(text, index), line, col, hint="replace the tab with spaces") from None
        hint = next((h for problem, h in _YAML_HINTS if problem in message), None)
        raise LoadError("yaml-syntax", message, line, col, hint) from None
    except yaml.YAMLError as exc:  # reader errors (control characters) carry a position too
        raise LoadError("yaml-syntax", str(exc).splitlines()[0], 1, 1) from None
    except RecursionError:
        raise LoadError("too-deep", "values nested too deeply to read", 1, 1) from None
    finally:
        loader.dispose()
    if root is None:
        raise LoadError("empty-document", "the file holds no YAML document", 1, 1)
    try:
        data = _Builder(aliases="&" in text).build(root)
    except LoadError as exc:
        exc.line, exc.col = lines.of(exc.index)
        raise
    return data, lambda: root, lines


def _yaml_value_bound(text: str) -> int:
    """At least the number of nodes in a YAML text: each but the first needs one of these characters (`- `, `: `, `,`, ...)."""
    pairs = text.count(":") + text.count("?") + text.count(",") + text.count("{")
    return 2 * pairs + text.count("-") + text.count("[") + 1


def _check_yaml_counts(text: str, lines: Lines) -> None:
    """Reads the YAML events (no nodes are built) and stops at the first limit passed."""
    counter = ValueCounter(lines)
    loader = Yaml12Loader(text)
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                counter.value(event.start_mark.index, None, event.value)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                counter.value(event.start_mark.index, kind is yaml.MappingStartEvent, None)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                counter.close()
            elif kind is yaml.AliasEvent:
                counter.value(event.start_mark.index, None, None)
            elif kind is yaml.StreamEndEvent:
                return
    except yaml.YAMLError:
        return  # the parse proper reports it, with its place
    finally:
        loader.dispose()
