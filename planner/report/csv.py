"""CSV for procurement: a bill of materials, or every candidate considered.

RFC 4180 (comma separated, CRLF line ends, fields quoted when they hold a
comma, quote or line break), UTF-8, numbers as plain numbers with no
thousands separators or currency signs, column names carrying their units.
Text a spreadsheet would run as a formula (a cell starting with =, +, -, @,
tab or carriage return) is prefixed with an apostrophe so it arrives as
text, whatever a catalog overlay put in a name.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from planner.catalog.schema import ModelKind
from planner.plan.candidates import RejectedShape, ScoredShape
from planner.plan.fit import FitResult, Line

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

BOM_COLUMNS = [
    "line", "gpu_id", "gpu_name", "vendor", "quantity_gpus", "gpus_per_node", "nodes", "replicas",
    "tensor_parallel", "pipeline_parallel", "weight_precision", "kv_cache_precision", "batch_per_replica",
    "memory_per_gpu_gib", "memory_used_per_gpu_gb", "unit_price_usd_per_hour", "extended_usd_per_hour",
    "hourly_price_provider", "hourly_price_as_of", "hourly_price_source", "unit_price_usd", "extended_usd",
    "purchase_price_as_of", "purchase_price_source", "tdp_w_per_gpu", "power_w", "output_tokens_per_s",
    "ttft_ms", "tpot_ms", "quality_loss_pct",
]
SUMMED = ("quantity_gpus", "nodes", "replicas", "extended_usd_per_hour", "extended_usd", "power_w", "output_tokens_per_s")

CANDIDATE_COLUMNS = [
    "gpu_id", "tensor_parallel", "pipeline_parallel", "gpus_per_replica", "weight_precision", "kv_cache_precision",
    "batch_per_replica", "ttft_ms", "tpot_ms", "e2e_ms", "output_tokens_per_s_per_replica",
    "target_throughput_per_replica", "memory_used_per_gpu_gb", "usd_per_hour_per_replica", "capex_usd_per_replica",
    "quality_loss_pct", "replicas_in_plan", "status", "why",
]


def neutralise(value: Any) -> Any:
    """Text cells that a spreadsheet would evaluate become plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _number(value: float | None, digits: int = 4) -> float | int | str:
    if value is None:
        return ""
    if float(value).is_integer():
        return int(value)
    return round(value, digits)


def _write(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: neutralise(v) for k, v in row.items()})
    return buffer.getvalue()


def _bom_row(result: FitResult, index: int, line: Line) -> dict[str, Any]:
    c = line.candidate
    offer = line.offer
    cloud = offer.price
    per_node = offer.gpus
    return {
        "line": index,
        "gpu_id": c.gpu.id,
        "gpu_name": c.gpu.name,
        "vendor": c.gpu.vendor,
        "quantity_gpus": line.gpus,
        "gpus_per_node": per_node,
        "nodes": line.instances,
        "replicas": line.replicas,
        "tensor_parallel": c.tp,
        "pipeline_parallel": c.pp,
        "weight_precision": c.precision.id,
        "kv_cache_precision": c.kv_precision.id,
        "batch_per_replica": c.batch,
        "memory_per_gpu_gib": c.gpu.memory_total_gib,
        "memory_used_per_gpu_gb": _number(c.memory.per_gpu / 1e9, 2),
        "unit_price_usd_per_hour": _number(cloud.usd_per_hour if cloud else None),
        "extended_usd_per_hour": _number(line.placement.hourly_usd * line.units if cloud else None),
        "hourly_price_provider": offer.provider.name if offer.provider else "",
        "hourly_price_as_of": cloud.as_of if cloud else "",
        "hourly_price_source": cloud.source if cloud else "",
        "unit_price_usd": _number(offer.capex_usd if offer.server else None),
        "extended_usd": _number(line.placement.capex_usd * line.units if offer.server else None),
        "purchase_price_as_of": ", ".join(part.as_of for part in offer.server.parts) if offer.server else "",
        "purchase_price_source": "; ".join(part.source for part in offer.server.parts) if offer.server else "",
        "tdp_w_per_gpu": _number(c.gpu.tdp_w),
        "power_w": _number(c.gpu.tdp_w * line.gpus if c.gpu.tdp_w else None),
        "output_tokens_per_s": _number(c.tokens_per_s * line.replicas if result.spec.model.kind is ModelKind.DECODER else None, 1),
        "ttft_ms": _number(c.prediction.ttft_s * 1e3, 3),
        "tpot_ms": _number(None if c.prediction.tpot_s is None else c.prediction.tpot_s * 1e3, 3),
        "quality_loss_pct": _number(result.quality_loss(c)),
    }


def bom_csv(result: FitResult) -> str:
    """One row per line item, then a totals row whose numbers are the column sums."""
    rows = [_bom_row(result, i, line) for i, line in enumerate(result.lines, start=1)]
    totals: dict[str, Any] = {column: "" for column in BOM_COLUMNS}
    totals["line"] = "total"
    for column in SUMMED:
        values = [row[column] for row in rows]
        if all(v != "" for v in values):
            totals[column] = _number(sum(values), 4)
    return _write(BOM_COLUMNS, rows + [totals])


def candidates_csv(result: FitResult) -> str:
    """Every candidate shape considered, with its predicted figures and why it lost."""
    in_plan: dict[str, int] = {}
    for line in result.lines:
        in_plan[line.candidate.key] = in_plan.get(line.candidate.key, 0) + line.replicas
    pool = {p.shape.key for p in result.pool}
    rows = []
    for c in result.candidates:
        scored = c if isinstance(c, ScoredShape) else None
        if c.key in in_plan:
            status, why = "chosen", ""
        elif isinstance(c, RejectedShape):
            status, why = "ruled out", c.reason
        elif c.key not in pool:
            status, why = "dominated", "another shape on the same GPU type serves as much for the same cost and quality"
        else:
            status, why = "not chosen", "the chosen plan meets the targets for less"
        hourly = capex = None  # priced per offer now: see the plan's lines
        rows.append({
            "gpu_id": c.gpu.id,
            "tensor_parallel": c.tp,
            "pipeline_parallel": c.pp,
            "gpus_per_replica": c.gpus,
            "weight_precision": c.precision.id,
            "kv_cache_precision": c.kv_precision.id,
            "batch_per_replica": scored.batch if scored else "",
            "ttft_ms": _number(scored.prediction.ttft_s * 1e3, 3) if scored else "",
            "tpot_ms": _number(scored.prediction.tpot_s * 1e3, 3) if scored and scored.prediction.tpot_s is not None else "",
            "e2e_ms": _number(scored.prediction.e2e_s * 1e3, 3) if scored else "",
            "output_tokens_per_s_per_replica": _number(scored.tokens_per_s, 1) if scored else "",
            "target_throughput_per_replica": _number(scored.throughput, 3) if scored else "",
            "memory_used_per_gpu_gb": _number(scored.memory.per_gpu / 1e9, 2) if scored else "",
            "usd_per_hour_per_replica": _number(hourly),
            "capex_usd_per_replica": _number(capex),
            "quality_loss_pct": _number(result.quality_loss(c)),
            "replicas_in_plan": in_plan.get(c.key, 0),
            "status": status,
            "why": why,
        })
    return _write(CANDIDATE_COLUMNS, rows)
