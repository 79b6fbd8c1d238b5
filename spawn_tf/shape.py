"""What follows from a run's keys alone, and its name template's fields: made once per distinct set of keys
(every run of a grid, or of a params list written alike, has one), not once per run. Pure; used by `expand`.
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from spawn_tf import contract
from spawn_tf.diagnostics import Severity
from spawn_tf.load import SourceFloat, SourceInt
from spawn_tf.model import Sweep
from spawn_tf.run_settings import Problem
from spawn_tf.values import env_name, env_text

SETTINGS = frozenset(contract.RUN_SETTINGS)


class MissingField(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class TemplateValues(dict[str, Any]):
    """name_template fields: the run's parameters as written (`template_value`), and its index."""

    def __missing__(self, key: str) -> Any:
        raise MissingField(key)


def template_fields(template: str) -> frozenset[str] | None:
    """The mapping keys `format_map` reads for `template` (the first name of each field, nested ones in format
    specs too), so that a run's other parameters need no converting; None when the template cannot be parsed."""
    fields: set[str] = set()
    pending = [template]
    try:
        while pending:
            for _, field, spec, _ in string.Formatter().parse(pending.pop()):
                if field is not None:
                    fields.add(_FIELD_END.split(field, maxsplit=1)[0])
                if spec:
                    pending.append(spec)
    except ValueError:
        return None  # format_map reports it
    return frozenset(fields)


_FIELD_END = re.compile(r"[.\[]")  # a field's name ends at its first attribute or index


def template_value(value: Any) -> Any:
    if type(value) in _AS_WRITTEN:  # the common case, without isinstance's walks
        return value
    return value if isinstance(value, int | float | str) and not isinstance(value, bool) else env_text(value)


_AS_WRITTEN = frozenset({str, int, float, SourceInt, SourceFloat})  # types whose values are their own template values


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """What follows from a run's keys alone (its row's, defaults first): the same for every run of a grid or of a
    params list with one set of keys, so it is made once per distinct set of keys."""

    settings: tuple[str, ...]  # the setting keys, in row order
    own_keyed: tuple[str, ...]  # those the run's own row sets that its RunSettings depend on (all but name and region)
    regional: tuple[str, ...]  # those of contract.REGIONAL_SETTINGS, in that order
    params: tuple[tuple[str, str], ...]  # (key as written, parameter), in row order
    env: tuple[tuple[str, str], ...]  # (parameter, variable) of each parameter that can be an environment variable
    # The fingerprint's variables (NAME among them) sorted by name: their values as `identity_values(env)` fill in
    # `identity`, a %-format of each one's name and value (DESIGN §3).
    identity: str
    identity_values: Callable[[Mapping[str, str]], Any]
    problems: tuple[Problem, ...]  # bad parameter names


def make_shape(keys: tuple[str, ...], own: tuple[str, ...]) -> Shape:
    settings = tuple(key for key in keys if key in SETTINGS)
    params = tuple((key, key.removeprefix(contract.PARAM_ESCAPE_PREFIX)) for key in keys if key not in SETTINGS)
    names, problems = map_env_names(tuple(dict.fromkeys(param for _, param in params)))
    order = sorted((contract.ENV_RUN_NAME, *names.values()))
    return Shape(
        settings=settings,
        own_keyed=tuple(key for key in settings if key in own and key not in ("name", "region")),
        regional=tuple(setting for setting in contract.REGIONAL_SETTINGS if setting in settings),
        params=params,
        env=tuple(names.items()),
        identity="\0".join(f"{variable.replace('%', '%%')}\0%s" for variable in order),
        identity_values=operator.itemgetter(*order),  # one name: its value alone, which % takes as well as a tuple
        problems=problems,
    )


def shared_texts(sweep: Sweep) -> dict[int, str]:
    """The environment text of every value of the defaults and the grid, by identity: each is shared by many
    runs (the sweep keeps them alive, so no id is reused while expanding)."""
    values = [*sweep.defaults.values(), *(value for _, values in sweep.grid for value in values)]
    return {id(value): env_text(value) for value in values}


def map_env_names(keys: tuple[str, ...]) -> tuple[dict[str, str], tuple[Problem, ...]]:
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    problems: list[Problem] = []
    for key in keys:
        name = env_name(key)
        if not contract.ENV_NAME_PATTERN.fullmatch(name):
            problems.append(Problem(Severity.ERROR, "bad-parameter-name", f"parameter '{key}' cannot be an environment variable", key,
                                     "parameter names use letters, digits, '_' and '-', and do not start with a digit"))  # fmt: skip
        elif name in contract.RESERVED_ENV_NAMES or name.startswith(contract.RESERVED_ENV_PREFIXES):
            problems.append(Problem(Severity.ERROR, "reserved-parameter", f"parameter '{key}' would set {name}, which is reserved", key,
                                     "rename the parameter"))  # fmt: skip
        elif name in owners:
            problems.append(Problem(Severity.ERROR, "env-collision", f"parameters '{owners[name]}' and '{key}' both become {name}", key,
                                     "rename one of them"))  # fmt: skip
        else:
            owners[name] = key
            names[key] = name
    return names, tuple(problems)


def shared_strings(sweep: Sweep) -> set[tuple[str, str]]:
    """(parameter, value) of every text value of the defaults and the grid: all that a grid's runs can hold."""
    pairs = [*sweep.defaults.items(), *((key, value) for key, values in sweep.grid for value in values)]
    return {
        (key.removeprefix(contract.PARAM_ESCAPE_PREFIX), value) for key, value in pairs if key not in SETTINGS and isinstance(value, str)
    }
