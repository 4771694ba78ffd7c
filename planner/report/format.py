"""How numbers read, in every report: one helper per kind of quantity, so the
terminal, Markdown and HTML say the same figure the same way. Units on every
number; GB is 10^9 bytes and GiB 2^30. JSON and CSV keep plain numbers."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from planner.core.numbers import NONE, against, duration, durations_against, significant, typed_duration
from planner.core.units import format_params

# re-exported: one formatter for the whole tool
__all__ = ["NONE", "against", "duration", "durations_against", "significant", "typed_duration"]


class TextTable(Table):
    """A rich table whose title and cells are shown as the text they are.

    Cells carry catalog text (GPU and model names, notes) that an overlay
    file may set: a plain ``str`` would be read as rich markup (``[/bold]``
    raises, ``[link=...]`` hides a hyperlink), so every string is wrapped in
    ``Text``, which rich never parses."""

    def __init__(self, *headers: Any, title: Any = None, **kwargs: Any) -> None:
        super().__init__(*headers, title=Text(title) if isinstance(title, str) else title, **kwargs)

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in renderables), **kwargs)


def money(value: float | None, hourly: bool = False) -> str:
    """$6.88/h for cloud prices (cents matter), $30,000 for purchases."""
    if value is None:
        return NONE
    return f"${value:,.2f}/h" if hourly else f"${value:,.0f}"


def signed_money(value: float, hourly: bool) -> str:
    """A cost difference: +$1.20/h, -$30,000."""
    return ("-" if value < 0 else "+") + money(abs(value), hourly)


# The plan table, headline and reports say a duration one way.
milliseconds = duration


def milliseconds_fixed(seconds: float | None) -> str:
    """Two decimals in ms, for breakdown tables whose parts are compared side by side."""
    if seconds is None:
        return NONE
    return f"{seconds * 1e3:,.2f} ms" if seconds < 10 else duration(seconds)


def percent(value: float) -> str:
    """A share: one decimal below 10% (0.2%, 9.5%), whole from there (18%)."""
    return f"{value:.1f}%" if abs(value) < 9.95 else f"{value:.0f}%"


def gigabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:,.2f} GB"


def decimal_size(n_bytes: float) -> str:
    """Decimal size with the unit that keeps 1-4 integer digits (440 MB, 26 GB)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.2f} {unit}"
    return f"{n_bytes:,.0f} B"


def binary_size(n_bytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.2f} {unit}"
    return f"{n_bytes:,.0f} B"


def flops(value: float) -> str:
    for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if value >= scale:
            return f"{value / scale:,.2f} {unit}"
    return f"{value:,.0f} FLOP"


def number(value: float) -> str:
    """Whole numbers from 100 up (12,345), three significant figures below
    (0.123, 0.000456), never an exponent."""
    return f"{value:,.0f}" if abs(value) >= 100 else significant(value)


def percent_change(value: float) -> str:
    """A signed percentage, one decimal below 1% so 49.9 against 50 does not read as +0%."""
    if abs(value) < 0.05:
        return "0.0%"
    return f"{value:+.1f}%" if abs(value) < 1 else f"{value:+.0f}%"


def parameters(n: int) -> str:
    """A parameter count in billions or millions (70.55B, 110.0M)."""
    return f"{n / 1e9:,.2f}B" if n >= 1e9 else f"{n / 1e6:,.1f}M"


def readable_count(n: int) -> str:
    """13B stays 13B; 6738415616 reads 6.738B (JSON keeps the exact count)."""
    exact = format_params(n)
    if len(exact) <= 7:
        return exact
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.4g}{suffix}"
    return str(n)
