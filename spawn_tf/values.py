"""Value helpers every stage shares: durations, a parameter as its environment holds it, an instance type's architecture.

A leaf (it imports only the contract), so the schema, expansion, rendering and the collector use it
without importing one another.
"""

from __future__ import annotations

import json
import re
from typing import Any

from spawn_tf.contract import Arch

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_GRAVITON_FAMILY = re.compile(r"[a-z]+\d+[a-z-]*g[a-z-]*")


def parse_duration(text: str) -> int:
    """'1h30m' -> 5400 seconds; ValueError for text of another form (the schema checks sweep files)."""
    match = _DURATION.fullmatch(text)
    if match is None or not text:
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def duration_text(seconds: int) -> str:
    """5400 -> '1h30m' (the inverse of parse_duration, without days)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def env_text(value: Any) -> str:
    """A parameter as its environment variable holds it: scalars as written, lists and maps as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return getattr(value, "source", None) or repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def env_name(key: str) -> str:
    """`learning_rate` -> `LEARNING_RATE`, `model-name` -> `MODEL_NAME` (DESIGN §2)."""
    return key.upper().replace("-", "_")


def arch_of(instance_type: str) -> Arch:
    """Graviton families carry a 'g' after the generation (m7g, c7gn, g5g, im4gn); a1 is Graviton too."""
    family = instance_type.split(".", 1)[0]
    return Arch.ARM64 if family == "a1" or _GRAVITON_FAMILY.fullmatch(family) else Arch.X86_64
