"""What the unit tests share besides fixtures: fixture types, quiet defaults, diagnostic codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spawn_tf import Checked

WriteSweep = Callable[..., Path]
CheckSweep = Callable[..., Checked]

# Settings that keep a test sweep free of unrelated warnings.
QUIET_DEFAULTS = "defaults:\n  instance_type: m7i.large\n  ttl: 2h\n  user_data: ./train.sh\n"


def codes(checked: Checked) -> list[tuple[str, int | None, int | None]]:
    """(code, line, column) of each diagnostic, in report order."""
    return [(d.code, d.span.line if d.span else None, d.span.col if d.span else None) for d in checked.diagnostics]
