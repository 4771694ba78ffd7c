"""CSV for procurement: a bill of materials, or every candidate considered.

RFC 4180 (comma separated, CRLF line ends, fields quoted when they hold a
comma, quote or line break), UTF-8, numbers as plain numbers with no
thousands separators or currency signs, column names carrying their units
(money in USD with its period in the name: ``_usd_per_hour``,
``_usd_per_month``, ``_usd`` for a purchase; memory in GB, 10^9 bytes).
Text a spreadsheet would run as a formula (a cell starting with =, +, -, @,
tab or carriage return) is prefixed with an apostrophe so it arrives as
text, whatever a catalog overlay put in a name.

Every row also carries the question (model, targets, request shape,
objective, pricing, providers, region, redundancy, the date it was
generated), so a file passed around on its own still says what it answers.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import date, datetime, timezone
from typing import Any

from planner.catalog.schema import ModelKind
from planner.core.units import HOURS_PER_MONTH
from planner.plan.candidates import DECODE, Candidate, RejectedShape, ScoredShape
from planner.plan.fit import FitResult, Line
from planner.plan.offers import Acquisition, Offer
from planner.plan.disaggregation import served_by
from planner.plan.placement import Placement, place
from planner.plan.question import Objective

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# What a line acquires, then what it runs, then what it costs and draws, then how it performs.
BOM_ITEM_COLUMNS = [
    "line", "acquisition", "provider", "instance_type_or_server", "region", "pricing_model",
    "units", "gpus_per_unit", "gpu_id", "gpu_name", "vendor", "total_gpus", "replicas",
    # "replica" serves whole requests; "prefill" or "decode": workers of
    # disaggregated pools (replicas counts workers), whose requests are
    # counted in output_tokens_per_s on the decode rows
    "role",
    "tensor_parallel", "pipeline_parallel", "data_parallel", "expert_parallel", "weight_precision", "kv_cache_precision", "batch_per_replica",
    "memory_per_gpu_gb", "memory_used_per_gpu_gb",
    "unit_price_usd_per_hour", "extended_usd_per_hour", "extended_usd_per_month",
    "purchase_price_usd_per_unit", "purchase_extended_usd",
    "price_as_of", "price_source", "price_includes",
    "power_w_per_unit", "power_w", "power_basis",
    "output_tokens_per_s", "samples_per_s", "ttft_ms", "tpot_ms", "quality_loss_pct",
    # a decoder's replica simulated at the load the plan gives it (planner/plan/verify.py)
    "requests_per_s_per_replica", "ttft_p99_ms", "tpot_p99_ms", "e2e_p99_ms",
]
# The question, repeated on every row (the totals row too).
QUESTION_COLUMNS = [
    "model", "engine", "target_latency_ms", "target_ttft_ms", "target_e2e_ms", "target_throughput",
    "target_throughput_unit", "target_latency_statistic", "target_ttft_statistic", "target_e2e_statistic",
    "headroom_pct", "burstiness_cv", "input_tokens", "output_tokens", "objective", "pricing_asked", "providers_asked",
    "region_asked", "redundancy", "generated",
]
BOM_COLUMNS = BOM_ITEM_COLUMNS + QUESTION_COLUMNS
# The totals row holds the sum of each of these over the line items (blank
# cells, "not applicable", count as nothing; power is blank when a line's is unknown).
SUMMED = ("units", "total_gpus", "replicas", "extended_usd_per_hour", "extended_usd_per_month",
          "purchase_extended_usd", "power_w", "output_tokens_per_s", "samples_per_s")

CANDIDATE_SHAPE_COLUMNS = [
    "role", "gpu_id", "tensor_parallel", "pipeline_parallel", "data_parallel", "expert_parallel", "gpus_per_replica", "weight_precision", "kv_cache_precision",
    "batch_per_replica", "ttft_ms", "tpot_ms", "e2e_ms", "output_tokens_per_s_per_replica",
    "target_throughput_per_replica", "memory_used_per_gpu_gb", "quality_loss_pct",
]
# A shape placed on an offer; a unit is what the solver counts: one instance
# or server (or, when pipeline stages span them, the group one replica takes).
CANDIDATE_OFFER_COLUMNS = [
    "acquisition", "provider", "instance_type_or_server", "region", "pricing_model", "gpus_per_instance_or_server",
    "instances_or_servers_per_unit", "replicas_per_unit", "usd_per_hour_per_unit", "usd_per_hour_per_replica",
    "purchase_usd_per_unit", "purchase_usd_per_replica",
]
CANDIDATE_COLUMNS = (CANDIDATE_SHAPE_COLUMNS + CANDIDATE_OFFER_COLUMNS
                     + ["replicas_in_plan", "status", "why"] + QUESTION_COLUMNS)


def neutralise(value: Any) -> Any:
    """Text cells that a spreadsheet would evaluate become plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def generated_date() -> date:
    """Today in UTC, or the date of SOURCE_DATE_EPOCH when it is set (the
    reproducible-builds convention: fixed output for the same input)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).date()
    return datetime.now(timezone.utc).date()


def _number(value: float | None, digits: int = 4) -> float | int | str:
    if value is None:
        return ""
    rounded = round(float(value), digits)
    return int(rounded) if rounded.is_integer() else rounded


def _write(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: neutralise(v) for k, v in row.items()})
    return buffer.getvalue()


def question_cells(result: FitResult, generated: date | None = None) -> dict[str, Any]:
    """The question as CSV cells: the same on every row of a file."""
    q, t = result.question, result.question.targets
    rate = t.throughput
    renting = q.economics.objective is Objective.HOURLY
    return {
        "model": result.spec.label,
        "engine": result.engine.id,
        # --latency: TPOT for a decoder, one forward pass for an encoder
        "target_latency_ms": _number(None if t.latency_s is None else t.latency_s * 1e3, 6),
        "target_ttft_ms": _number(None if t.ttft_s is None else t.ttft_s * 1e3, 6),
        "target_e2e_ms": _number(None if t.e2e_s is None else t.e2e_s * 1e3, 6),
        "target_throughput": _number(None if rate is None else rate.per_second, 6),
        "target_throughput_unit": "" if rate is None else rate.symbol,
        # the statistic over requests each latency target caps (decoders; p99 unless asked)
        "target_latency_statistic": t.latency_statistic.value if t.latency_s is not None else "",
        "target_ttft_statistic": t.ttft_statistic.value if t.ttft_s is not None else "",
        "target_e2e_statistic": t.e2e_statistic.value if t.e2e_s is not None else "",
        "headroom_pct": _number(100 * result.headroom, 3),
        "burstiness_cv": _number(q.burstiness, 3),
        "input_tokens": result.shape.input,
        "output_tokens": result.shape.output,
        "objective": q.economics.objective.value,
        # what renting was asked for; a plan that buys rents nothing
        "pricing_asked": q.pricing.value if renting else "",
        "providers_asked": (" ".join(q.providers) if q.providers else "default") if renting else "",
        "region_asked": (q.region or "cheapest listed") if renting else "",
        "redundancy": f"N+{q.redundancy}",
        "generated": (generated or generated_date()).isoformat(),
    }


def _offer_cells(offer: Offer) -> dict[str, Any]:
    """Who and what an offer is, as a buyer files it."""
    rented = offer.acquisition is Acquisition.RENT
    return {
        "acquisition": offer.acquisition.value,
        "provider": offer.provider.name if offer.provider else "",
        "instance_type_or_server": (offer.instance.name if offer.instance else
                                    offer.server.name if offer.server else ""),
        "region": offer.price.region if rented and offer.price else "",
        "pricing_model": offer.price.pricing.value if rented and offer.price else "",
    }


def _price_provenance(offer: Offer) -> dict[str, str]:
    if offer.price is not None:
        return {"price_as_of": offer.price.as_of, "price_source": offer.price.source,
                "price_includes": offer.provider.billing if offer.provider else ""}
    if offer.server is not None:
        parts = offer.server.parts
        return {"price_as_of": "; ".join(dict.fromkeys(part.as_of for part in parts)),
                "price_source": "; ".join(dict.fromkeys(part.source for part in parts)),
                "price_includes": offer.server.includes}
    return {"price_as_of": "", "price_source": "", "price_includes": "owned: sunk, no rent or purchase counted"}


def _bom_row(result: FitResult, index: int, line: Line) -> dict[str, Any]:
    c = line.candidate
    offer, p = line.offer, line.placement
    rented = offer.acquisition is Acquisition.RENT
    bought = offer.acquisition is Acquisition.BUY
    owned = offer.acquisition is Acquisition.OWNED
    encoder = result.spec.model.kind is ModelKind.ENCODER
    hourly = p.hourly_usd * line.units
    row: dict[str, Any] = {"line": index, **_offer_cells(offer)}
    row.update({
        "units": "" if owned else line.instances,  # instances rented or servers bought
        "gpus_per_unit": "" if owned else offer.gpus,
        "gpu_id": c.gpu.id,
        "gpu_name": c.gpu.name,
        "vendor": c.gpu.vendor,
        "total_gpus": line.gpus,
        "replicas": line.replicas,
        "role": c.role or "replica",
        "tensor_parallel": c.tp,
        "pipeline_parallel": c.pp,
        "data_parallel": c.dp,
        "expert_parallel": c.ep,
        "weight_precision": c.precision.id,
        "kv_cache_precision": "" if encoder else c.kv_precision.id,
        "batch_per_replica": c.batch,
        "memory_per_gpu_gb": _number(c.gpu.memory_total_gib * 2**30 / 1e9, 2),  # the catalog's GiB, in GB
        "memory_used_per_gpu_gb": _number(c.memory.per_gpu / 1e9, 2),
        "unit_price_usd_per_hour": _number(offer.hourly_usd if rented else None),
        # rent is 0 for what is bought or owned: the column sums to the plan's rent
        "extended_usd_per_hour": _number(hourly),
        "extended_usd_per_month": _number(hourly * HOURS_PER_MONTH),
        "purchase_price_usd_per_unit": _number(offer.capex_usd if bought else None),
        "purchase_extended_usd": _number(p.capex_usd * line.units),
        **_price_provenance(offer),
        "power_w_per_unit": _number(None if owned else offer.power_w),
        "power_w": _number(None if p.power_w is None else p.power_w * line.units),
        "power_basis": offer.power_basis,
        "output_tokens_per_s": _number(None if encoder else served_by(result.lines, line, lambda x: x.tokens_per_s), 1),
        "samples_per_s": _number(c.throughput * line.replicas if encoder else None, 1),  # an encoder's throughput
        "ttft_ms": _number(None if c.role == DECODE else c.prediction.ttft_s * 1e3, 3),
        "tpot_ms": _number(None if c.prediction.tpot_s is None else c.prediction.tpot_s * 1e3, 3),
        "quality_loss_pct": _number(result.quality_loss(c)),
        **_load_cells(result, line),
    })
    return row


def _load_cells(result: FitResult, line: Line) -> dict[str, Any]:
    check = next((x for x in result.checks if x.key == line.candidate.key), None)
    if check is None:
        return {"requests_per_s_per_replica": "", "ttft_p99_ms": "", "tpot_p99_ms": "", "e2e_p99_ms": ""}
    s = check.trial.summary

    def p99(figure: Any) -> Any:
        return _number(None if figure is None else figure.p99 * 1e3, 3)

    return {"requests_per_s_per_replica": _number(check.rate, 4), "ttft_p99_ms": p99(s.ttft),
            "tpot_p99_ms": p99(s.tpot), "e2e_p99_ms": p99(s.e2e)}


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of each SUMMED column over ``rows``, blank where there is nothing to add."""
    totals: dict[str, Any] = {column: "" for column in BOM_ITEM_COLUMNS}
    totals["line"] = "total"
    for column in SUMMED:
        values = [row[column] for row in rows]
        known = [v for v in values if v != ""]
        if not known or (column == "power_w" and len(known) < len(values)):
            continue  # nothing to add, or a line's power is unknown: no total is better than a short one
        totals[column] = _number(sum(known), 4)
    return totals


def bom_csv(result: FitResult, generated: date | None = None) -> str:
    """One row per line item (what is rented, bought or used), then a totals
    row whose numbers are the column sums; each row ends with the question.
    ``generated`` is the date written in the file (default: generated_date())."""
    asked = question_cells(result, generated)
    rows = [_bom_row(result, i, line) for i, line in enumerate(result.lines, start=1)]
    return _write(BOM_COLUMNS, [{**row, **asked} for row in rows + [_totals(rows)]])


def _shape_cells(result: FitResult, c: Candidate) -> dict[str, Any]:
    scored = c if isinstance(c, ScoredShape) else None
    return {
        "role": c.role or "replica",
        "gpu_id": c.gpu.id,
        "tensor_parallel": c.tp,
        "pipeline_parallel": c.pp,
        "data_parallel": c.dp,
        "expert_parallel": c.ep,
        "gpus_per_replica": c.gpus,
        "weight_precision": c.precision.id,
        "kv_cache_precision": c.kv_precision.id,
        "batch_per_replica": scored.batch if scored else "",
        "ttft_ms": _number(scored.prediction.ttft_s * 1e3, 3) if scored and c.role != DECODE else "",
        "tpot_ms": _number(scored.prediction.tpot_s * 1e3, 3) if scored and scored.prediction.tpot_s is not None else "",
        "e2e_ms": _number(scored.prediction.e2e_s * 1e3, 3) if scored else "",
        "output_tokens_per_s_per_replica": _number(scored.tokens_per_s, 1) if scored else "",
        "target_throughput_per_replica": _number(scored.throughput, 3) if scored else "",
        "memory_used_per_gpu_gb": _number(scored.memory.per_gpu / 1e9, 2) if scored else "",
        "quality_loss_pct": _number(result.quality_loss(c)),
    }


def _placement_cells(p: Placement) -> dict[str, Any]:
    hourly = p.offer.acquisition is Acquisition.RENT
    bought = p.offer.acquisition is Acquisition.BUY
    return {
        **_offer_cells(p.offer),
        "gpus_per_instance_or_server": "" if p.owned else p.offer.gpus,
        "instances_or_servers_per_unit": "" if p.owned else p.offers_per_unit,
        "replicas_per_unit": p.replicas_per_unit,
        "usd_per_hour_per_unit": _number(p.hourly_usd if hourly else None),
        "usd_per_hour_per_replica": _number(p.hourly_usd / p.replicas_per_unit if hourly else None),
        "purchase_usd_per_unit": _number(p.capex_usd if bought else None),
        "purchase_usd_per_replica": _number(p.capex_usd / p.replicas_per_unit if bought else None),
    }


def candidates_csv(result: FitResult, generated: date | None = None) -> str:
    """Every candidate shape considered: one row per offer it was placed on
    (what the solver chose among), or one row saying why it was not placed,
    with its predicted figures and why it lost."""
    in_plan: dict[str, int] = {}
    for line in result.lines:
        in_plan[line.placement.key] = in_plan.get(line.placement.key, 0) + line.replicas
    by_shape: dict[str, list[Placement]] = {}
    for p in result.pool:
        by_shape.setdefault(p.shape.key, []).append(p)
    asked = question_cells(result, generated)
    blank = {column: "" for column in CANDIDATE_OFFER_COLUMNS}
    rows = []
    # whole replicas, then the same shapes as prefill and decode workers of
    # disaggregated pools (those the question allows: planner/plan/disaggregation.py)
    for c in (*result.candidates, *result.workers):
        shape = _shape_cells(result, c)
        if isinstance(c, RejectedShape):
            rows.append({**shape, **blank, "replicas_in_plan": 0, "status": "ruled out", "why": c.reason, **asked})
            continue
        placed = by_shape.get(c.key, [])
        for p in placed:
            chosen = p.key in in_plan
            rows.append({**shape, **_placement_cells(p), "replicas_in_plan": in_plan.get(p.key, 0),
                         "status": "chosen" if chosen else "not chosen",
                         "why": "" if chosen else "the chosen plan meets the targets for less", **asked})
        if not placed:
            rows.append({**shape, **blank, "replicas_in_plan": 0, **_unplaced(result, c), **asked})
    return _write(CANDIDATE_COLUMNS, rows)


def _unplaced(result: FitResult, c: ScoredShape) -> dict[str, str]:
    """Why a scored shape reached no offer the solver saw."""
    if result.question.targets.throughput is not None and c.throughput <= 0:
        return {"status": "not placed", "why": "serves no throughput at its batch"}
    if not any(place(c, offer) is not None for offer in result.offers):
        return {"status": "not placed", "why": "its tensor-parallel group fits in no instance or server offered"}
    return {"status": "dominated",
            "why": "another shape on the same hardware serves as much for no more cost and no more quality loss"}
