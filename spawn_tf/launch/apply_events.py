"""`terraform apply -json`'s stream read back (DESIGN §13): its human lines, its errors, and each run's candidate index. Pure.

Terraform's machine-readable UI prints one JSON object a line: `@message` is the line a person reads,
`type` says what happened. An instance that fails gives an `apply_errored` event when it fails (`hook.
resource.addr`) and, at the end of the apply, an error `diagnostic` (`diagnostic.address`, `summary`,
`detail`) with the provider's text, where the AWS error code is (`... api error <Code>: ...`). A
failure of `aws_instance.run["<run>"]` with a code of CAPACITY_ERROR_CODES is the candidate's lack of
capacity; every other error is reported as it is. The candidate the run was on is the `input` of
`terraform_data.candidate["<run>"]` in the plan applied or in the state after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spawn_tf import contract

# `api error <Code>: <message>`: how AWS SDK for Go v2 (the AWS provider since v5) writes an API error.
_API_ERROR = re.compile(r"\bapi error ([A-Za-z][A-Za-z0-9.]*):")
# A code as a word: not a part of a longer name (`InsufficientInstanceCapacityX`) or of a dotted code.
_CODE_WORD = re.compile(r"(?<![A-Za-z0-9_.])(" + "|".join(map(re.escape, contract.CAPACITY_ERROR_CODES)) + r")(?![A-Za-z0-9_.])")
# aws_instance.run["<run>"]: a run's instance (a run name needs no escaping in an address).
_INSTANCE = re.compile(re.escape(contract.INSTANCE_RESOURCE) + r'\["(' + contract.RUN_NAME_PATTERN.pattern + r')"\]')


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """An error of the apply: where (a resource address, or None), which run's instance, its AWS capacity code, when."""

    address: str | None
    run: str | None  # the run whose instance failed (address `aws_instance.run["<run>"]`), else None
    code: str | None  # the capacity error code in its text, else None (not a capacity error)
    unix_time: int | None  # when it failed: the `@timestamp` of its apply_errored event, else of its diagnostic
    message: str  # Terraform's summary, then the detail

    @property
    def capacity(self) -> bool:
        """A run's instance that failed for lack of capacity: a marker's worth."""
        return self.run is not None and self.code is not None


def capacity_code(text: str) -> str | None:
    """The capacity error code of an error's text: the code of `api error <Code>:` when there is one, else a code as a word."""
    api = _API_ERROR.findall(text)
    if api:
        return next((code for code in api if code in contract.CAPACITY_ERROR_CODES), None)
    word = _CODE_WORD.search(text)
    return word.group(1) if word else None


def instance_run(address: str | None) -> str | None:
    """The run of `aws_instance.run["<run>"]`; None for any other address."""
    found = _INSTANCE.fullmatch(address or "")
    return found.group(1) if found else None


def unix_time(timestamp: Any) -> int | None:
    """`@timestamp` (RFC 3339, any offset) in whole seconds since the epoch; None when it is not one."""
    try:
        return int(datetime.fromisoformat(str(timestamp)).timestamp())
    except ValueError:
        return None


def parse(line: str) -> dict[str, Any] | None:
    """An event of the stream, or None for a line that is not one (Terraform's own text before -json took effect)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None


def human_lines(event: Mapping[str, Any]) -> list[str]:
    """What Terraform would have shown a person for the event: its message; a diagnostic's address and detail too."""
    lines = [str(event.get("@message", ""))]
    diagnostic = event.get("diagnostic")
    if event.get("type") == "diagnostic" and isinstance(diagnostic, Mapping):
        if diagnostic.get("address"):
            lines.append(f"  with {diagnostic['address']},")
        if diagnostic.get("detail"):
            lines.extend(["", *str(diagnostic["detail"]).splitlines()])
    return lines


@dataclass
class ApplyStream:
    """The stream read a line at a time: `feed` gives the line's human text; then `failures()` the apply's errors."""

    events: int = 0  # JSON events seen (none: the stream was not `apply -json`)
    _errored: dict[str, int] = field(default_factory=dict)  # address -> time of its first apply_errored
    _diagnostics: list[tuple[Mapping[str, Any], int | None]] = field(default_factory=list)

    def feed(self, line: str) -> list[str]:
        event = parse(line)
        if event is None:
            return [line.rstrip("\n")] if line.strip() else []
        self.events += 1
        when = unix_time(event.get("@timestamp"))
        hook = event.get("hook")
        resource = hook.get("resource") if isinstance(hook, Mapping) else None
        if event["type"] == "apply_errored" and isinstance(resource, Mapping) and when is not None:
            self._errored.setdefault(str(resource.get("addr")), when)
        diagnostic = event.get("diagnostic")
        if event["type"] == "diagnostic" and isinstance(diagnostic, Mapping) and diagnostic.get("severity") == "error":
            self._diagnostics.append((diagnostic, when))
        return human_lines(event)

    def failures(self) -> tuple[Failure, ...]:
        """Every error diagnostic of the stream, in its order."""
        return tuple(self._failure(diagnostic, when) for diagnostic, when in self._diagnostics)

    def _failure(self, diagnostic: Mapping[str, Any], when: int | None) -> Failure:
        address = diagnostic.get("address") or None
        message = "\n".join(part for part in (str(diagnostic.get("summary") or ""), str(diagnostic.get("detail") or "")) if part)
        return Failure(address=address, run=instance_run(address), code=capacity_code(message),
                       unix_time=self._errored.get(str(address), when), message=message)  # fmt: skip


def candidate_indexes(document: Mapping[str, Any]) -> dict[str, int]:
    """run -> candidate index: the `input` of each `terraform_data.candidate["<run>"]` of a Terraform JSON document.

    The document is `show -json PLANFILE` (`planned_values`) or `show -json` of the state (`values`); both
    list the root module's resources the same way. An input not (yet) known, or not an index, is left out.
    """
    values = document.get("planned_values") or document.get("values") or {}
    resources = (values.get("root_module") or {}).get("resources") or []
    found: dict[str, int] = {}
    for resource in resources:
        if f"{resource.get('type')}.{resource.get('name')}" != contract.CANDIDATE_RESOURCE or resource.get("mode") != "managed":
            continue
        index = (resource.get("values") or {}).get("input")
        if isinstance(resource.get("index"), str) and _is_index(index):
            found[resource["index"]] = int(index)
    return found


def _is_index(value: Any) -> bool:
    """A candidate index as Terraform may hold it: a whole number (JSON number), or its digits (a string input)."""
    if isinstance(value, bool):
        return False
    return (
        (isinstance(value, int) and value >= 0)
        or (isinstance(value, float) and value.is_integer() and value >= 0)
        or (isinstance(value, str) and value.isdigit())
    )
