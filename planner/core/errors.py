"""Errors the user can cause, and the exit code each maps to.

Every error carries a one-line message that names the problem and, where
there is one, the fix. The CLI prints it without a traceback and exits with
the code below; the codes are documented in the README.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug in planner: reported in one line, never a traceback
EXIT_BAD_INPUT = 2  # an argument, unit, option or input file is wrong
EXIT_CATALOG = 3  # a catalog file (built-in or overlay) is invalid
EXIT_NO_PLAN = 4  # the question is valid but nothing satisfies it
EXIT_WRITE = 5  # an output file could not be written


class PlannerError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InputError(PlannerError):
    """A command-line value or input file the user passed is malformed."""

    exit_code = EXIT_BAD_INPUT


class CatalogError(PlannerError):
    """A catalog file is malformed; `problems` lists every one found."""

    exit_code = EXIT_CATALOG

    def __init__(self, message: str, problems: list[str] | None = None, *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems or [message]


class NoPlanError(PlannerError):
    """Nothing in the catalog satisfies the targets and limits."""

    exit_code = EXIT_NO_PLAN


class OutputError(PlannerError):
    """An output file could not be written; nothing partial was left behind."""

    exit_code = EXIT_WRITE
