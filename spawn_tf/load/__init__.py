"""Read a sweep file (YAML, JSON or CSV) into plain data, with source positions kept beside it.

The only stage that reads files. YAML follows the 1.2 core schema (`yes`, `on` and `NO` stay
strings; `1e-4` is a number), plus merge keys. Numbers keep the text they were written with,
so a parameter is exported exactly as written (DESIGN §2).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from yaml.nodes import Node

from spawn_tf import contract
from spawn_tf.diagnostics import Diagnostic, Span, error
from spawn_tf.load.csv_reader import load_csv
from spawn_tf.load.document import (
    MAX_NUMBER_CHARS,
    DataPath,
    Document,
    Lines,
    LoadError,
    PathItem,
    Positions,
    SourceFloat,
    SourceInt,
    line_col,
)
from spawn_tf.load.json_reader import load_json
from spawn_tf.load.yaml_reader import load_yaml

__all__ = ["MAX_NUMBER_CHARS", "DataPath", "Document", "FileTooLarge", "NotRegularFile", "PathItem", "SourceFloat", "SourceInt",
           "load_document", "parse_document", "read_regular_file"]  # fmt: skip


_READERS: dict[str, Callable[[str], tuple[Any, Callable[[], Node], Lines | None]]] = {
    ".yaml": load_yaml,
    ".yml": load_yaml,
    ".json": load_json,
    ".csv": load_csv,
}


def load_document(path: Path, display: str | None = None) -> tuple[Document | None, tuple[Diagnostic, ...]]:
    """Read and parse a sweep file.

    Args:
        path: the file to read; its suffix picks the format.
        display: how to name the file in messages (default: `path` as given).

    Returns:
        The document, or None with the reasons it could not be read.
    """
    file = display or str(path)
    if path.suffix.lower() not in _READERS:
        return _failed(file, "unknown-format", f"cannot tell the format of '{path.name}'", line=None, hint=_FORMAT_HINT)
    try:
        raw = read_regular_file(path, contract.MAX_SWEEP_FILE_BYTES)
    except FileNotFoundError:
        return _failed(file, "file-not-found", f"no such file '{file}'", line=None)
    except NotRegularFile as exc:
        return _failed(file, "not-a-file", f"'{file}' is {exc.kind}, not a regular file", line=None,
                       hint="give the path of a sweep file; a pipe or device is not read")  # fmt: skip
    except FileTooLarge as exc:
        return _too_large(file, exc.size)
    except OSError as exc:
        return _failed(file, "unreadable-file", f"cannot read '{file}': {exc.strerror or exc}", line=None)
    return parse_document(raw, path.name, file)


class NotRegularFile(OSError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file")
        self.kind = kind  # "a FIFO", "a character device", ...


class FileTooLarge(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, more than the limit of {limit}")
        self.size = size  # bytes: the file's size, or more than the limit when it kept growing


_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (symlinks followed) of at most `limit` bytes.

    Opened without blocking (a FIFO with no writer would block open() itself) and checked on the
    open descriptor, so a file swapped after a check is not read; a device like /dev/zero is
    never read, and nothing reads past `limit` + 1 bytes.

    Raises:
        NotRegularFile, FileTooLarge, or the OSError of open/read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file"))
        size = os.fstat(fd).st_size
        if size > limit:
            raise FileTooLarge(size, limit)
        raw = handle.read(limit + 1)
    if len(raw) > limit:  # it grew after fstat
        raise FileTooLarge(len(raw), limit)
    return raw


def parse_document(raw: bytes, name: str, display: str) -> tuple[Document | None, tuple[Diagnostic, ...]]:
    """Parse a sweep file's bytes (read elsewhere, e.g. from git); `name` is its file name, which picks the format."""
    reader = _READERS.get(PurePosixPath(name).suffix.lower())
    if reader is None:
        return _failed(display, "unknown-format", f"cannot tell the format of '{name}'", line=None, hint=_FORMAT_HINT)
    if len(raw) > contract.MAX_SWEEP_FILE_BYTES:
        return _too_large(display, len(raw))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = line_col(raw, exc.start)
        return _failed(
            display, "not-utf8", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", line=line, col=col, hint="save the file as UTF-8"
        )
    try:
        data, build_tree, lines = reader(text)
    except LoadError as exc:
        return _failed(display, exc.code, exc.message, line=exc.line, col=exc.col, hint=exc.hint)
    if not isinstance(data, dict):
        found = "nothing" if data is None else type(data).__name__.replace("dict", "mapping")
        return _failed(display, "not-a-mapping", f"a sweep file must be a mapping of keys, found {found}",
                       hint="start with 'defaults:' and 'params:'")  # fmt: skip
    document = Document(
        file=display,
        stem=PurePosixPath(name).stem,
        name=name,
        sha256=hashlib.sha256(raw).hexdigest(),
        text=text,
        data=data,
        positions=Positions(display, build_tree, lines),
    )
    return document, ()


_FORMAT_HINT = "name the file *.yaml, *.yml, *.json or *.csv"


def _failed(
    file: str, code: str, message: str, *, line: int | None = 1, col: int = 1, hint: str | None = None
) -> tuple[None, tuple[Diagnostic, ...]]:
    span = Span(file=file, line=line, col=col) if line is not None else None
    return None, (error(code, message, span, hint),)


def _too_large(file: str, size: int) -> tuple[None, tuple[Diagnostic, ...]]:
    return _failed(file, "file-too-large", f"the file is {size} bytes, more than the limit of {contract.MAX_SWEEP_FILE_BYTES}",
                   hint="use grid: or random: to generate runs instead of listing them")  # fmt: skip
