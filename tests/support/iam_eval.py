"""A small IAM policy evaluator for the statements spawn-tf writes, to test what a role may do rather
than what its JSON says (moto does not evaluate Resource or Condition).

`allowed(policy, action, resource, context=None)`: an explicit Deny wins, then an Allow, else the
implicit deny. Supported: Action and Resource (strings or lists, `*` and `?` wildcards; actions
case-insensitive), Conditions StringEquals, StringNotEquals, StringLike and ForAllValues:StringEquals,
with IAM's rules for a missing key (a negated operator and ForAllValues hold; the others do not).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


def _condition(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    values = _listed(expected)
    if operator.startswith("ForAllValues:"):
        present = context.get(key, [])
        return all(_condition(operator.split(":", 1)[1], key, values, {key: item}) for item in _listed(present))
    if key not in context:
        return operator.startswith("StringNot")
    actual = context[key]
    if operator == "StringEquals":
        return actual in values
    if operator == "StringNotEquals":
        return actual not in values
    if operator == "StringLike":
        return any(_like(pattern, actual) for pattern in values)
    raise ValueError(f"condition operator not evaluated here: {operator}")


def _applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if not any(_like(pattern.lower(), action.lower()) for pattern in _listed(statement["Action"])):
        return False
    if not any(_like(pattern, resource) for pattern in _listed(statement["Resource"])):
        return False
    conditions = statement.get("Condition", {})
    return all(_condition(operator, key, expected, context) for operator, pairs in conditions.items() for key, expected in pairs.items())


def allowed(policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any] | None = None) -> bool:
    matching = [statement for statement in policy["Statement"] if _applies(statement, action, resource, context or {})]
    return not any(s["Effect"] == "Deny" for s in matching) and any(s["Effect"] == "Allow" for s in matching)
