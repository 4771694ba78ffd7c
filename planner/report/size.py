"""Render results: rich tables for the terminal, plain dicts for JSON.

Nothing here computes a figure; it only lays out what the model returned.
"""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text

from planner.model.sizing import SizeTable
from planner.core.units import format_params


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)


def _num(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _scaled_size(n_bytes: float) -> str:
    """Decimal size with the unit that keeps 1-4 integer digits (440 MB, 26 GB)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.2f} {unit}"
    return f"{n_bytes:,.0f} B"


def _scaled_binary(n_bytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.2f} {unit}"
    return f"{n_bytes:,.0f} B"


def _flops(value: float) -> str:
    for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if value >= scale:
            return f"{value / scale:,.2f} {unit}"
    return f"{value:,.0f} FLOP"


def _readable_count(n: int) -> str:
    """13B stays 13B; 6738415616 reads 6.738B (the JSON keeps the exact count)."""
    exact = format_params(n)
    if len(exact) <= 7:
        return exact
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.4g}{suffix}"
    return str(n)


def size_dict(table: SizeTable) -> dict[str, Any]:
    ref = table.model
    return {
        "model": ref.label,
        "parameters": ref.parameters,
        "active_parameters": ref.active_parameters,
        "architecture_known": ref.exact,
        "forward_flops_per_token": table.forward_flops_per_token,
        "forward_flops_exact": table.flops_exact,
        "units": {"GB": 10**9, "GiB": 2**30},
        "rows": [
            {
                "precision": row.precision,
                "bits_per_weight": row.bits_per_weight,
                "bytes_per_parameter": row.bytes_per_parameter,
                "size_bytes": round(row.size_bytes),
                "size_gb": row.size_gb,
                "size_gib": row.size_gib,
            }
            for row in table.rows
        ],
    }


def size_renderables(table: SizeTable) -> list[Any]:
    ref = table.model
    what = f"{ref.label} ({_readable_count(ref.parameters)} parameters" + (
        f", {_readable_count(ref.active_parameters)} active per token)" if ref.active_parameters != ref.parameters else ")"
    )
    grid = Table(title=f"Model size of {what}", title_justify="left")
    grid.add_column("precision")
    grid.add_column("bits/param", justify="right")
    grid.add_column("bytes/param", justify="right")
    grid.add_column("size (GB)", justify="right")
    grid.add_column("size (GiB)", justify="right")
    for row in table.rows:
        grid.add_row(
            row.precision,
            f"{row.bits_per_weight:g}",
            f"{row.bytes_per_parameter:.4g}",
            _scaled_size(row.size_bytes),
            _scaled_binary(row.size_bytes),
        )
    basis = "2 FLOPs per GEMM parameter from the architecture" if table.flops_exact else "about 2 x parameters"
    notes = Text(
        f"Forward pass: {_flops(table.forward_flops_per_token)} per token ({basis}; attention over the context adds "
        "4 x layers x attention width FLOPs per token of context).\n"
        "Size = parameters x bytes per parameter (scales and zero points included). "
        "1 GB = 10^9 bytes (1k = 1000, as the seed article converts); 1 GiB = 2^30 bytes.",
        style="dim",
    )
    return [grid, notes]
