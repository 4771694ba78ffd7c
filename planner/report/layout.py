"""Fit terminal tables to a width without hiding a number.

Rich, given a table wider than the terminal, shrinks its columns and, past a
point, cuts cells with an ellipsis: `$12…` for a price. Here a table is shown
whole where it fits; else its label columns (those made with ``no_wrap`` off)
are narrowed, wrapping at spaces, never below their longest word; else it is
turned sideways into one field/value card per row. Number columns are made
``no_wrap`` so they are never split. Text written to a file or a pipe is not
wrapped at all (``render_plain``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from planner.report.format import TextTable

NARROWEST = 60  # columns the layout is built for; narrower still works, with cards folded


def _measuring_console() -> Console:
    return Console(width=10_000, file=io.StringIO(), no_color=True, markup=False, emoji=False)


def natural_width(table: Table) -> int:
    """Columns the table needs to show every cell on one line."""
    console = _measuring_console()
    return Measurement.get(console, console.options, table).maximum


def _cell_text(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _column_range(table: Table, index: int) -> tuple[int, int]:
    """(narrowest, widest) content width of a column: a wrapping column can go
    down to its longest word, a ``no_wrap`` one not at all."""
    column = table.columns[index]
    texts = [_cell_text(column.header)] if table.show_header else []
    texts += [_cell_text(cell) for cell in column.cells]
    lines = [line for text in texts for line in text.splitlines()] or [""]
    widest = max(cell_len(line) for line in lines)
    if column.min_width is not None:
        widest = max(widest, column.min_width)
    if column.no_wrap:
        return widest, widest
    narrowest = max((cell_len(word) for line in lines for word in line.split()), default=0)
    return max(narrowest, column.min_width or 0, 1), widest


def narrowed(table: Table, width: int) -> Table | None:
    """The table with its wrapping columns narrowed to fit ``width`` columns,
    or None where even its longest words would not fit."""
    ranges = [_column_range(table, i) for i in range(len(table.columns))]
    decoration = natural_width(table) - sum(widest for _, widest in ranges)
    budget = width - decoration
    widths = [widest for _, widest in ranges]
    if sum(narrowest for narrowest, _ in ranges) > budget:
        return None
    # narrow the widest column that can still give, one column at a time, so
    # long labels wrap before short ones
    while sum(widths) > budget:
        i = max((i for i, (narrowest, _) in enumerate(ranges) if widths[i] > narrowest), key=lambda i: widths[i])
        widths[i] -= 1
    for column, (narrowest, widest), w in zip(table.columns, ranges, widths):
        if w < widest:
            column.width = w
    return table


def cards(table: Table, titles: Sequence[str], width: int) -> list[Any]:
    """The table turned sideways: one field/value card per row, each fitted to
    ``width`` (a value wraps at spaces; a word longer than the card is folded
    onto the next line rather than cut)."""
    headers = [_cell_text(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    out: list[Any] = []
    for i, title in zip(range(table.row_count), titles):
        card = TextTable(title=title, title_justify="left", show_header=False)
        card.add_column("field", style="dim", no_wrap=True)
        card.add_column("value", overflow="fold")
        for header, column in zip(headers, cells):
            value = _cell_text(column[i])
            if value:
                card.add_row(header, value)
        out.append(narrowed(card, width) or card)
    return out


def minimum_width(table: Table) -> int:
    """Columns the table needs with its labels wrapped as far as they go."""
    ranges = [_column_range(table, i) for i in range(len(table.columns))]
    return natural_width(table) - sum(widest for _, widest in ranges) + sum(narrowest for narrowest, _ in ranges)


def without_columns(table: Table, headers: Sequence[str]) -> Table:
    """A copy of the table less the columns headed ``headers``."""
    kept = [column for column in table.columns if _cell_text(column.header) not in headers]
    copy = TextTable(title=table.title, title_justify=table.title_justify, box=table.box, show_header=table.show_header)
    for column in kept:
        copy.add_column(column.header, justify=column.justify, no_wrap=column.no_wrap, overflow=column.overflow,
                        min_width=column.min_width, style=column.style)
    for i, row in enumerate(table.rows):
        copy.add_row(*(column._cells[i] for column in kept), style=row.style)
    return copy


def laid_out(table: Table, width: int, titles: Sequence[str], optional: Sequence[str] = ()) -> list[Any]:
    """The table whole if it fits ``width``; else with its labels wrapped; else
    less its ``optional`` columns (their headers, dropped in the order given),
    with a note saying so; else as cards titled ``titles`` (one per row)."""
    if natural_width(table) <= width:
        return [table]
    fitted = narrowed(table, width)
    if fitted is not None:
        return [fitted]
    full = minimum_width(table)
    for n in range(1, len(optional) + 1):
        fitted = narrowed(without_columns(table, optional[:n]), width)
        if fitted is not None:
            return [fitted, Text(f"Left out at this width: {', '.join(optional[:n])} (shown from {full} columns, "
                                 "and in --format json).", style="dim")]
    heading = [Text(_cell_text(table.title), style="bold")] if table.title else []
    return heading + cards(table, titles, width)


def render_plain(renderables: Sequence[Any], width: int) -> str:
    """Renderables as plain text for a file or a pipe: tables laid out at
    ``width``, prose on one line per paragraph (a pager or editor wraps it),
    no colour and no trailing spaces."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, force_terminal=False, color_system=None,
                      markup=False, emoji=False, highlight=False)
    for item in renderables:
        console.print(item, soft_wrap=isinstance(item, (Text, str)))
    return "\n".join(line.rstrip() for line in buffer.getvalue().split("\n"))
