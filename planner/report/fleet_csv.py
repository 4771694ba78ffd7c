"""A fleet's bill of materials as CSV, for procurement: one row per plan line
per workload (what to rent or buy, how many held all day and at the busiest
hour, what it costs per day and month or once), then a totals row per
workload and one for the fleet.

The conventions of planner/report/csv.py: RFC 4180, UTF-8, plain numbers (no
thousands separators or currency signs), money in USD with its period in
the column name, formula-like text neutralised, and the question (here the
scenario) repeated on every row so a file passed around alone still says
what it answers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from planner.catalog.schema import ModelKind
from planner.plan.fleet import FleetPlanLine, FleetResult, StreamPlan
from planner.plan.offers import Acquisition
from planner.report.csv import _number, _offer_cells, _price_provenance, _write, generated_date
from planner.report.fleet import DAYS_PER_MONTH, class_of, flexible_peak, line_cost, per_day, rate_unit, targets_text

# What a line acquires, how many, what it runs, what it costs and draws.
FLEET_BOM_ITEM_COLUMNS = [
    "workload", "class", "line", "model", "acquisition", "provider", "instance_type_or_server", "region",
    "pricing_model", "units_committed", "units_peak", "units_flexible_peak", "unit_hours_per_day",
    "gpus_per_unit", "gpu_id", "gpus_peak", "replicas_per_unit",
    "tensor_parallel", "pipeline_parallel", "data_parallel", "expert_parallel", "weight_precision", "kv_cache_precision",
    "unit_price_usd_per_hour", "rent_usd_per_day", "rent_usd_per_month",
    "purchase_price_usd_per_unit", "purchase_extended_usd",
    "objective_usd_per_day", "objective_usd",
    "price_as_of", "price_source", "price_includes",
    "power_w_per_unit", "power_w_peak", "power_basis",
    "targets", "peak_demand", "demand_unit",
    # one replica simulated at its share of the busiest hour's load (planner/plan/verify.py)
    "requests_per_s_per_replica", "ttft_p99_ms", "tpot_p99_ms", "e2e_p99_ms",
]
# The scenario, repeated on every row (the totals rows too).
FLEET_SCENARIO_COLUMNS = ["scenario", "status", "cost_unit", "generated"]
FLEET_BOM_COLUMNS = FLEET_BOM_ITEM_COLUMNS + FLEET_SCENARIO_COLUMNS
# A totals row holds the sum of each of these over its line items (blank
# cells count as nothing; power is blank when a line's is unknown). Peaks of
# different lines may fall in different hours: their sum is an upper bound
# on the busiest hour, which the per-hour totals of the JSON give exactly.
FLEET_SUMMED = ("units_committed", "units_peak", "unit_hours_per_day", "gpus_peak", "rent_usd_per_day",
                "rent_usd_per_month", "purchase_extended_usd", "objective_usd_per_day", "objective_usd",
                "power_w_peak")


def _check_cells(line: FleetPlanLine) -> dict[str, Any]:
    if line.check is None:
        return {"requests_per_s_per_replica": "", "ttft_p99_ms": "", "tpot_p99_ms": "", "e2e_p99_ms": ""}
    s = line.check.trial.summary

    def p99(figure: Any) -> Any:
        return _number(None if figure is None else figure.p99 * 1e3, 3)

    return {"requests_per_s_per_replica": _number(line.check.rate, 4), "ttft_p99_ms": p99(s.ttft),
            "tpot_p99_ms": p99(s.tpot), "e2e_p99_ms": p99(s.e2e)}


def _row(result: FleetResult, stream: StreamPlan, index: int, line: FleetPlanLine) -> dict[str, Any]:
    p = line.placement
    c, offer = p.shape, p.offer
    rented = offer.acquisition is Acquisition.RENT
    bought = offer.acquisition is Acquisition.BUY
    encoder = stream.fit.spec.model.kind is ModelKind.ENCODER
    rent_day = sum(line.by_hour) * p.hourly_usd
    cost = line_cost(result, stream, line)
    return {
        "workload": stream.workload,
        "class": class_of(stream),
        "line": index,
        "model": stream.fit.spec.label,
        **_offer_cells(offer),
        "units_committed": line.committed,
        "units_peak": line.peak_units,
        "units_flexible_peak": flexible_peak(line),
        "unit_hours_per_day": sum(line.by_hour),
        "gpus_per_unit": p.gpus_per_unit,
        "gpu_id": c.gpu.id,
        "gpus_peak": line.peak_units * p.gpus_per_unit,
        "replicas_per_unit": p.replicas_per_unit,
        "tensor_parallel": c.tp,
        "pipeline_parallel": c.pp,
        "data_parallel": c.dp,
        "expert_parallel": c.ep,
        "weight_precision": c.precision.id,
        "kv_cache_precision": "" if encoder else c.kv_precision.id,
        "unit_price_usd_per_hour": _number(p.hourly_usd if rented else None),
        # rent is 0 for what is bought or owned: the column sums to the fleet's rent
        "rent_usd_per_day": _number(rent_day),
        "rent_usd_per_month": _number(rent_day * DAYS_PER_MONTH),
        "purchase_price_usd_per_unit": _number(p.capex_usd if bought else None),
        "purchase_extended_usd": _number(line.committed * p.capex_usd),
        "objective_usd_per_day": _number(cost if per_day(result) else None),
        "objective_usd": _number(None if per_day(result) else cost),
        **_price_provenance(offer),
        "power_w_per_unit": _number(p.power_w),
        "power_w_peak": _number(None if p.power_w is None else line.peak_units * p.power_w),
        "power_basis": offer.power_basis,
        "targets": targets_text(stream),
        "peak_demand": _number(max(stream.demand, default=0.0), 6),
        "demand_unit": rate_unit(stream.question),
        **_check_cells(line),
    }


def _totals(rows: list[dict[str, Any]], workload: str, label: str) -> dict[str, Any]:
    totals: dict[str, Any] = {column: "" for column in FLEET_BOM_ITEM_COLUMNS}
    totals.update(workload=workload, line=label)
    for column in FLEET_SUMMED:
        values = [row[column] for row in rows]
        known = [v for v in values if v != ""]
        if not known or (column == "power_w_peak" and len(known) < len(values)):
            continue  # nothing to add, or a line's power is unknown: no total is better than a short one
        totals[column] = _number(sum(known), 4)
    return totals


def fleet_bom_csv(result: FleetResult, generated: date | None = None) -> str:
    """Line items grouped by workload, each group closed by its totals row
    (line 'total'), then the fleet's totals row (workload 'fleet', line
    'total'); every row ends with the scenario. ``generated`` is the date
    written in the file (default: generated_date())."""
    scenario = {"scenario": result.name, "status": result.status, "cost_unit": result.cost_unit,
                "generated": (generated or generated_date()).isoformat()}
    rows: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for workload in dict.fromkeys(s.workload for s in result.streams):
        group: list[dict[str, Any]] = []
        for stream in (s for s in result.streams if s.workload == workload):
            for line in stream.lines:
                group.append(_row(result, stream, len(group) + 1, line))
        rows.extend(group)
        rows.append(_totals(group, workload, "total"))
        items.extend(group)
    rows.append(_totals(items, "fleet", "total"))
    return _write(FLEET_BOM_COLUMNS, [{**row, **scenario} for row in rows])
