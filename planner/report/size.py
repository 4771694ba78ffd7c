"""Render results: rich tables for the terminal, plain dicts for JSON.

Nothing here computes a figure; it only lays out what the model returned.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from planner.model.sizing import SizeTable
from planner.report.format import TextTable, binary_size, decimal_size, flops, readable_count, significant
from planner.report.layout import laid_out


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
                # as served by fit and predict; size_bytes counts every parameter at bits_per_weight
                "embeddings_bits": row.embeddings_bits or row.bits_per_weight,
                "size_bytes": round(row.size_bytes),
                "size_gb": row.size_gb,
                "size_gib": row.size_gib,
            }
            for row in table.rows
        ],
    }


def size_renderables(table: SizeTable, width: int = 120) -> list[Any]:
    """Rich renderables laid out for ``width`` columns, no number cut."""
    ref = table.model
    what = f"{ref.label} ({readable_count(ref.parameters)} parameters" + (
        f", {readable_count(ref.active_parameters)} active per token)" if ref.active_parameters != ref.parameters else ")"
    )
    kept = [row for row in table.rows if row.embeddings_bits is not None]
    grid = TextTable(title=f"Model size of {what}", title_justify="left")
    grid.add_column("precision")
    for header in ("bits/param", "bytes/param", "size (GB)", "size (GiB)") + (("embeddings as served",) if kept else ()):
        grid.add_column(header, justify="right", no_wrap=header != "embeddings as served")
    for row in table.rows:
        cells = [row.precision, f"{row.bits_per_weight:g}", significant(row.bytes_per_parameter, 4),
                 decimal_size(row.size_bytes), binary_size(row.size_bytes)]
        if kept:
            cells.append(f"{row.embeddings_bits:g}-bit*" if row.embeddings_bits is not None else "as weights")
        grid.add_row(*cells)
    basis = "2 FLOPs per GEMM parameter from the architecture" if table.flops_exact else "about 2 x parameters"
    notes = Text(
        f"Forward pass: {flops(table.forward_flops_per_token)} per token ({basis}; attention over the context adds "
        "4 x layers x attention width FLOPs per token of context).\n"
        "Size = parameters x bytes per parameter (scales and zero points included). "
        "1 GB = 10^9 bytes (1k = 1000, as the seed article converts); 1 GiB = 2^30 bytes.",
        style="dim",
    )
    if kept:
        # catalog/precisions.yaml, embeddings_bits and its source
        notes.append(f"\n* {', '.join(row.precision for row in kept)}: the size above counts every parameter at the "
                     "format's bits; served (fit, predict), the token embedding and output head stay at 16 bits, as "
                     "quantisation recipes leave them, so fit and predict count a little more weight memory "
                     "(catalog/precisions.yaml, embeddings_bits).")
    if ref.note:
        notes.append(f"\nModel: {ref.note}.")
    titles = [f"Size at {row.precision}" for row in table.rows]
    out: list[Any] = laid_out(grid, width, titles, optional=("bytes/param", "size (GiB)"))
    if table.context is not None:
        out.extend(_kv_grid(table, width))
    return [*out, notes]


def _kv_grid(table: SizeTable, width: int) -> list[Any]:
    if not table.kv_rows:
        why = ("an encoder keeps no KV cache" if table.model.model is not None
               else "a bare parameter count has no architecture to size it from")
        return [Text(f"KV cache at {table.context:,} tokens: none shown ({why}).", style="dim")]
    grid = TextTable(title=f"KV cache of one sequence of {table.context:,} tokens", title_justify="left")
    grid.add_column("KV format")
    for header in ("bits/element", "size (GB)", "size (GiB)"):
        grid.add_column(header, justify="right", no_wrap=True)
    for kv in table.kv_rows:
        grid.add_row(", ".join(kv.precisions), f"{kv.bits_per_element:g}", decimal_size(kv.size_bytes),
                     binary_size(kv.size_bytes))
    return laid_out(grid, width, [f"KV cache in {', '.join(kv.precisions)}" for kv in table.kv_rows])
