"""Limits checked while reading: values in a file, keys in a mapping, runs in `params`."""

from __future__ import annotations

from typing import Any

from spawn_tf import contract
from spawn_tf.load.document import Lines, LoadError

#
# Building a value costs far more than reading past it, and a file over a limit must fail at once
# (DESIGN §9 budgets; issue: 380,000 runs took 29 s to be refused). A file that may hold more
# values than this is counted first, without building anything; below it, building is cheap
# enough and the limits are checked on what was built.
COUNT_FIRST_ABOVE = 200_000  # about 15,000 runs of five parameters
MANY_KEYS_HINT = "a run's settings and parameters become its environment in 16 KB of user-data; pass large data as a file"
MANY_VALUES_HINT = "generate runs with grid: or random:, or split the sweep into several files"


def too_many_values(line: int, col: int) -> LoadError:
    return LoadError("too-many-values", f"the file holds more than {contract.MAX_DOCUMENT_VALUES} values", line, col, MANY_VALUES_HINT)


def too_many_keys(line: int, col: int) -> LoadError:
    return LoadError("too-many-keys", f"a mapping with more than {contract.MAX_RUN_KEYS} keys", line, col, MANY_KEYS_HINT)


def too_many_runs(line: int, col: int) -> LoadError:
    return LoadError("too-many-runs", f"params lists more than {contract.MAX_RUNS} runs, the limit of a sweep", line, col,
                      "split it into several sweeps")  # fmt: skip


class ValueCounter:
    """Counts values as a reader meets them: in all, per mapping (keys), and the runs of the top-level `params`."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self.values = 0
        self.open: list[list[Any]] = []  # per open collection: [children, is a mapping, last key, is params]

    def value(self, index: int, container: bool | None, text: str | None) -> None:
        """One value at `index`; `container` None for a scalar, else whether it is a mapping; `text` a scalar's."""
        self.values += 1
        if self.values > contract.MAX_DOCUMENT_VALUES:
            raise too_many_values(*self.lines.of(index))
        is_params = False
        if self.open:
            top = self.open[-1]
            top[0] += 1
            if top[1]:
                if top[0] > 2 * contract.MAX_RUN_KEYS:
                    raise too_many_keys(*self.lines.of(index))
                if top[0] % 2:
                    top[2] = text
                is_params = len(self.open) == 1 and top[2] == "params" and container is False
            elif top[3] and top[0] > contract.MAX_RUNS:
                raise too_many_runs(*self.lines.of(index))
        if container is not None:
            self.open.append([0, container, None, is_params])

    def close(self) -> None:
        self.open.pop()
