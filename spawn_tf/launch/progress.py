"""How launch shows its roots at work: on a terminal one live line per root (phase, elapsed time); piped, plain lines."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def phase(self, root: str, text: str) -> None: ...

    def finished(self, root: str, text: str) -> None: ...

    def close(self) -> None: ...


class Lines:
    """One line per change of phase, `root: phase` (piped output, logs, CI)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}

    def phase(self, root: str, text: str) -> None:
        self._started.setdefault(root, time.monotonic())
        self._write(f"{root}: {text}")

    def finished(self, root: str, text: str) -> None:
        elapsed = time.monotonic() - self._started.pop(root, time.monotonic())
        self._write(f"{root}: {text} ({elapsed:.1f} s)")

    def _write(self, line: str) -> None:
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Nothing to end: every line is written already."""


class Live:
    """rich's progress display: a line per root with its phase and elapsed time, left on screen when done."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import Progress as RichProgress
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = RichProgress(SpinnerColumn(finished_text="·"), TextColumn("{task.fields[root]}"), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=Console(file=stream))  # fmt: skip
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._bar.start()

    def phase(self, root: str, text: str) -> None:
        with self._lock:
            if root not in self._tasks:
                self._tasks[root] = self._bar.add_task(text, total=1, root=root)
            self._bar.update(self._tasks[root], description=text)

    def finished(self, root: str, text: str) -> None:
        self.phase(root, text)
        with self._lock:
            self._bar.update(self._tasks[root], completed=1)

    def close(self) -> None:
        self._bar.stop()


def progress_for(stream: TextIO | None = None) -> Progress:
    stream = stream or sys.stderr
    return Live(stream) if stream.isatty() else Lines(stream)
