"""Errors the user can cause, and the exit code each maps to.

Every error carries a one-line message that names the problem and, where
there is one, the fix. The CLI prints it without a traceback and exits with
the code below; the codes are documented in the README.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug in planner: reported in one line, never a traceback
EXIT_BAD_INPUT = 2  # an argument, unit, option or input file is wrong
EXIT_CATALOG = 3  # a catalog file (built-in or overlay) is invalid
EXIT_NO_PLAN = 4  # the question is valid but nothing satisfies it
EXIT_WRITE = 5  # an output file could not be written
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as a shell reports it
EXIT_TERMINATED = 143  # SIGTERM: the process ends by the signal, which a shell reports as 128 + 15


@dataclass(frozen=True)
class Field:
    """A field of the question named inside a message (``economics.years``).

    The library names the field; each front end names it its own way: the CLI
    shows the flag (``--years``) through one table of labels. Kept as a part
    of the message, never formatted into it, so text the user typed (which
    may hold braces) is never read as a template.
    """

    name: str


Text = str | Sequence[str | Field]

# Characters that act on a terminal rather than show: C0 controls (newline
# and tab included: a problem is one line), DEL, C1 controls and the Unicode
# bidirectional overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    """``text`` with every control character spelled as an escape (ESC as
    \\x1b), so that a file's content quoted in a message cannot move the
    cursor, clear the screen or break the message over lines."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _render(text: Text, labels: Mapping[str, str] | None) -> str:
    """The text with fields spelled by ``labels``, as one line: text the user
    typed may carry a newline or an escape sequence, shown escaped, never sent."""
    if isinstance(text, str):
        return one_line(text)
    return one_line("".join(part if isinstance(part, str) else (labels or {}).get(part.name, part.name) for part in text))


class PlannerError(Exception):
    """Base class: a problem the user can act on.

    ``message`` and ``hint`` are text, or a sequence of text and `Field`
    parts; ``render(labels)`` spells the fields as the caller names them
    (field names by default).
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: Text, *, hint: Text | None = None, field: str | None = None):
        super().__init__(_render(message, None))
        self._message = message
        self._hint = hint
        self.field = field  # the question's field at fault, where there is one

    @property
    def message(self) -> str:
        return _render(self._message, None)

    @property
    def hint(self) -> str | None:
        return None if self._hint is None else _render(self._hint, None)

    def render_message(self, labels: Mapping[str, str] | None = None) -> str:
        return _render(self._message, labels)

    def render(self, labels: Mapping[str, str] | None = None) -> str:
        """The whole line: the message, and the hint in brackets."""
        message = self.render_message(labels)
        return message if self._hint is None else f"{message} ({_render(self._hint, labels)})"

    def __str__(self) -> str:
        return self.render()


class InputError(PlannerError):
    """A command-line value or input file the user passed is malformed."""

    exit_code = EXIT_BAD_INPUT


class CatalogError(PlannerError):
    """A catalog file is malformed; `problems` lists every one found."""

    exit_code = EXIT_CATALOG

    def __init__(self, message: str, problems: list[str] | None = None, *, hint: str | None = None):
        # problems quote the files (ids, keys, YAML): keep them one line of text
        message = one_line(message)
        super().__init__(message, hint=hint)
        self.problems = [one_line(p) for p in problems] if problems else [message]


class NoPlanError(PlannerError):
    """Nothing in the catalog satisfies the targets and limits."""

    exit_code = EXIT_NO_PLAN


class OutputError(PlannerError):
    """An output file could not be written; nothing partial was left behind."""

    exit_code = EXIT_WRITE


def alternatives(names: Sequence[str]) -> str:
    """Names as a sentence offers them: "a", "a or b", "a, b or c"."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"


def closest(wanted: str, names: Mapping[str, str], limit: int = 3, pool: int | None = None) -> list[str]:
    """The entries ``names`` maps to whose names are closest to ``wanted``
    (difflib ratio 0.6 or more), best first, each once: for "did you mean".
    ``names`` maps every spelling (id, alias) to what is shown for it;
    ``pool`` close names (default 3 x limit) are weighed before duplicates go."""
    close = difflib.get_close_matches(wanted.strip().lower(), list(names), n=pool or limit * 3, cutoff=0.6)
    return list(dict.fromkeys(names[name] for name in close))[:limit]
