"""Render results: rich tables for the terminal, plain dicts for JSON.

Nothing here computes a figure; it only lays out what the model returned.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from planner.model.sizing import SizeTable
from planner.report.format import TextTable, binary_size, decimal_size, flops, readable_count


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)


def size_dict(table: SizeTable) -> dict[str, Any]:
    ref = table.model
    return {
        "model": ref.label,
        "parameters": ref.parameters,
        "active_parameters": ref.active_parameters,
        "architecture_known": ref.exact,
        **({"resolved": ref.note} if ref.note else {}),
        **({"warnings": list(ref.warnings)} if ref.warnings else {}),
        "forward_flops_per_token": table.forward_flops_per_token,
        "forward_flops_exact": table.flops_exact,
        "units": {"GB": 10**9, "GiB": 2**30},
        **({"context_tokens": table.context, "kv_cache_per_sequence": [
            {"precisions": list(kv.precisions), "bits_per_element": kv.bits_per_element,
             "size_bytes": round(kv.size_bytes), "size_gb": kv.size_gb, "size_gib": kv.size_gib}
            for kv in table.kv_rows]} if table.context is not None else {}),
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
    what = f"{ref.label} ({readable_count(ref.parameters)} parameters" + (
        f", {readable_count(ref.active_parameters)} active per token)" if ref.active_parameters != ref.parameters else ")"
    )
    grid = TextTable(title=f"Model size of {what}", title_justify="left")
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
            decimal_size(row.size_bytes),
            binary_size(row.size_bytes),
        )
    basis = "2 FLOPs per GEMM parameter from the architecture" if table.flops_exact else "about 2 x parameters"
    notes = Text(
        f"Forward pass: {flops(table.forward_flops_per_token)} per token ({basis}; attention over the context adds "
        "4 x layers x attention width FLOPs per token of context).\n"
        "Size = parameters x bytes per parameter (scales and zero points included). "
        "1 GB = 10^9 bytes (1k = 1000, as the seed article converts); 1 GiB = 2^30 bytes.",
        style="dim",
    )
    if ref.note:
        notes.append(f"\nModel: {ref.note}.")
    out: list[Any] = [grid]
    if table.context is not None:
        out.append(_kv_grid(table))
    return [*out, notes]


def _kv_grid(table: SizeTable) -> Any:
    if not table.kv_rows:
        why = ("an encoder keeps no KV cache" if table.model.model is not None
               else "a bare parameter count has no architecture to size it from")
        return Text(f"KV cache at {table.context:,} tokens: none shown ({why}).", style="dim")
    grid = TextTable(title=f"KV cache of one sequence of {table.context:,} tokens", title_justify="left")
    grid.add_column("KV format")
    grid.add_column("bits/element", justify="right")
    grid.add_column("size (GB)", justify="right")
    grid.add_column("size (GiB)", justify="right")
    for kv in table.kv_rows:
        grid.add_row(", ".join(kv.precisions), f"{kv.bits_per_element:g}", decimal_size(kv.size_bytes),
                     binary_size(kv.size_bytes))
    return grid
