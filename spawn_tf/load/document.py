"""A loaded sweep file and where its values came from: the types every reader builds and every stage reads."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spawn_tf.contract import SPAWN_SPELLINGS
from spawn_tf.diagnostics import Span

PathItem = str | int
DataPath = tuple[PathItem, ...]

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"


class _Written:
    """A number that remembers how it was written; str() and format() give that text back."""

    source: str

    def __str__(self) -> str:
        return self.source

    def __format__(self, spec: str) -> str:
        return self.source if not spec else super().__format__(spec)


class SourceInt(_Written, int):
    """An integer as written (`0x10`, `007`)."""

    def __new__(cls, value: int, source: str) -> SourceInt:
        self = super().__new__(cls, value)
        self.source = source
        return self


class SourceFloat(_Written, float):
    """A float as written (`1e-4`, `0.10`)."""

    def __new__(cls, value: float, source: str) -> SourceFloat:
        self = super().__new__(cls, value)
        self.source = source
        return self


class Positions:
    """Source positions of one document, looked up by data path; built on first use.

    Positions are needed only to report problems, so the fast path never pays for them
    (JSON and CSV are re-scanned on demand; YAML keeps the node tree it was built from).
    """

    def __init__(self, file: str, build: Callable[[], Node], lines: Lines | None = None) -> None:
        self._file = file
        self._build = build
        self._lines = lines  # for marks whose line numbers are libyaml's
        self._root: Node | None = None

    def span(self, path: DataPath, *, key: bool = False) -> Span:
        """Where the value at `path` starts, or its key when `key` is true.

        A path that leads nowhere (a value added by a default) gives the deepest place found.
        """
        if self._root is None:
            self._root = self._build()
        node, key_node = self._root, None
        for item in path:
            found = _child(node, item)
            if found is None:
                break
            key_node, node = found
        mark = (key_node if key and key_node is not None else node).start_mark
        line, col = self._lines.of(mark.index) if self._lines else (mark.line + 1, mark.column + 1)
        return Span(file=self._file, line=line, col=col)


class Lines:
    """Line and column of a character offset, counting only '\\n' as a line break, as editors do.

    libyaml also breaks lines at '\\r', NEL, U+2028 and U+2029, so its own line numbers drift
    from what a user sees when a value holds one of those.
    """

    _COUNTED = 8  # lookups answered by counting before the line starts are listed (most files need none or one)

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None  # listed on demand: a file of newlines would make it huge for nothing
        self._counted = 0

    def of(self, index: int) -> tuple[int, int]:
        if self._starts is None and self._counted < self._COUNTED:
            self._counted += 1
            return line_col(self._text, index)
        if self._starts is None:
            self._starts = [0] + [match.end() for match in re.finditer("\n", self._text)]
        line = bisect.bisect_right(self._starts, index) - 1
        return line + 1, index - self._starts[line] + 1


def line_col(text: str | bytes, index: int) -> tuple[int, int]:
    """Line and column (from 1) of an offset into text, or into bytes not yet decoded (columns then count bytes)."""
    newline = "\n" if isinstance(text, str) else b"\n"
    index = max(index, 0)
    return text.count(newline, 0, index) + 1, index - (text.rfind(newline, 0, index) + 1) + 1  # type: ignore[arg-type]


# Validation renames spawn's spelling of a setting to ours: a path naming ours finds the key as written.
_WRITTEN_AS: dict[PathItem, tuple[str, ...]] = {
    ours: tuple(spawns for spawns, same in SPAWN_SPELLINGS.items() if same == ours) for ours in SPAWN_SPELLINGS.values()
}


def _child(node: Node, item: PathItem) -> tuple[Node | None, Node] | None:
    found = _written_child(node, item)
    for spelling in _WRITTEN_AS.get(item, ()) if found is None else ():
        found = _written_child(node, spelling)
        if found is not None:
            break
    return found


def _written_child(node: Node, item: PathItem) -> tuple[Node | None, Node] | None:
    if isinstance(node, SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
        return None, node.value[item]
    if isinstance(node, MappingNode):
        merged: list[Node] = []
        for key_node, value_node in reversed(node.value):
            if key_node.tag == MERGE:
                merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
            elif isinstance(key_node, ScalarNode) and key_node.value == item:
                return key_node, value_node
        for source in reversed(merged):
            found = _written_child(source, item)
            if found is not None:
                return found
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A loaded sweep file: its data (plain dicts, lists and scalars) and where each value came from."""

    file: str  # the path as the user gave it, for messages
    stem: str  # the file name without its suffix: the default sweep id is made from it
    name: str  # the file name, without folders (compiled output names no absolute paths)
    sha256: str  # of the file's bytes, recorded in the compiled manifest
    text: str  # the file as written: sweep.json carries it, so that `retry -o` works from an id
    data: dict[str, Any]
    positions: Positions

    def span(self, path: DataPath, *, key: bool = False) -> Span:
        return self.positions.span(path, key=key)


class LoadError(Exception):
    def __init__(self, code: str, message: str, line: int, col: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.col, self.hint = code, message, line, col, hint
        self.index = 0  # character offset, where a YAML node gave one


def mark_error(code: str, message: str, node: Node, hint: str | None = None) -> LoadError:
    problem = LoadError(code, message, node.start_mark.line + 1, node.start_mark.column + 1, hint)
    problem.index = node.start_mark.index
    return problem


LONG_VALUE_HINT = "values travel in the run's user-data (16 KB); keep large data in S3 or the workdir"
MAX_NUMBER_CHARS = 100  # Python refuses to parse integers of over 4300 digits; no setting needs 100
LONG_NUMBER_HINT = f"numbers have at most {MAX_NUMBER_CHARS} characters; quote it to pass it as text"
