"""The one error the library raises for the user to fix: the CLI prints it as `spawn-tf: error: …` and exits with its code."""

from __future__ import annotations

from spawn_tf.contract import ExitCode


class SpawnError(Exception):
    """Something the user can fix: a message, a hint (or None) and the exit code of the command that meets it."""

    def __init__(self, message: str, hint: str | None = None, exit_code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
