"""Lay out a fleet's answer (`planner fit --scenario`): the decision first
(what it costs per day and month, what autoscaling and planning together
save), the table that backs it per workload, the fleet hour by hour, and the
shared limits with what binds. Also its JSON. Computes nothing the plan does
not hold: every figure here is a sum over the plan's lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.text import Text

from planner.catalog.schema import ModelKind
from planner.core.units import HOURS_PER_MONTH, format_rate
from planner.plan.fleet import FleetPlanLine, FleetResult, StreamPlan
from planner.plan.offers import Acquisition
from planner.plan.placement import Line, Placement
from planner.plan.question import Objective, Question
from planner.report.fit import load_dict, offer_dict
from planner.report.format import TextTable, money, percent, significant, typed_duration
from planner.report.layout import laid_out, natural_width

HOURS = 24
DAYS_PER_MONTH = HOURS_PER_MONTH / HOURS  # 730 h a month, the tool's convention: 30.4 days
PER_DAY = "USD/day"  # FleetResult.cost_unit of the hourly objective; "USD" (one-off) otherwise
SPARK = "▁▂▃▄▅▆▇█"  # eight levels, lowest to highest


# --- figures of the plan -------------------------------------------------------


def per_day(result: FleetResult) -> bool:
    """Costs are per day (the hourly objective), not one-off (capex, tco)."""
    return result.cost_unit == PER_DAY


def unit_cost(stream: StreamPlan, line: FleetPlanLine) -> float:
    """The objective's cost of one unit: USD per hour (hourly), USD once otherwise."""
    return line.placement.cost(stream.question.economics) or 0.0


def line_cost(result: FleetResult, stream: StreamPlan, line: FleetPlanLine) -> float:
    """A line's part of the fleet's cost, in ``result.cost_unit``: per day,
    each hour's units at the unit's rent; one-off, the units held (bought
    or owned) at their price."""
    if per_day(result):
        return sum(line.by_hour) * unit_cost(stream, line)
    return line.committed * unit_cost(stream, line)


def stream_cost(result: FleetResult, stream: StreamPlan) -> float:
    return sum(line_cost(result, stream, line) for line in stream.lines)


def rent_by_hour(line: FleetPlanLine) -> tuple[float, ...]:
    """Rent of a line in each hour of the day, USD per hour (0 for bought and owned units)."""
    return tuple(units * line.placement.hourly_usd for units in line.by_hour)


def stream_rent_by_hour(stream: StreamPlan) -> tuple[float, ...]:
    return tuple(sum(hour) for hour in zip(*(rent_by_hour(line) for line in stream.lines))) or (0.0,) * HOURS


def gpus_by_hour(line: FleetPlanLine) -> tuple[int, ...]:
    return tuple(units * line.placement.gpus_per_unit for units in line.by_hour)


def power_by_hour(result: FleetResult) -> tuple[float, ...] | None:
    """Power the fleet draws in each hour, W; None when a line's power is unknown."""
    totals = [0.0] * len(result.gpus_by_hour)
    for stream in result.streams:
        for line in stream.lines:
            if line.placement.power_w is None:
                return None
            for hour, units in enumerate(line.by_hour):
                totals[hour] += units * line.placement.power_w
    return tuple(totals)


def flexible_peak(line: FleetPlanLine) -> int:
    """Units rented by the hour on top of those held all day, at the busiest hour."""
    return line.peak_units - line.committed


def peak_hour(values: Sequence[float]) -> int:
    """The first hour at the day's highest value."""
    return max(range(len(values)), key=lambda h: (values[h], -h)) if values else 0


def rate_unit(q: Question) -> str:
    """The unit the stream's demand is counted in: 'req/s', 'tok/s', 'samples/s'."""
    rate = q.targets.throughput
    return "" if rate is None else rate.symbol


def demand_text(q: Question, value: float) -> str:
    """A demand in the stream's unit, four significant figures: '1.917 req/s'."""
    unit = rate_unit(q)
    return significant(value, 4) + (f" {unit}" if unit else "")


def targets_text(stream: StreamPlan) -> str:
    """The stream's latency targets with the statistic each caps: 'p99 TPOT 50 ms, p99 TTFT 2 s'."""
    t = stream.question.targets
    if stream.fit.spec.model.kind is ModelKind.ENCODER:
        parts = [f"forward pass {typed_duration(t.latency_s)}"] if t.latency_s is not None else []
        if t.e2e_s is not None:
            parts.append(f"e2e {typed_duration(t.e2e_s)}")
    else:
        parts = [f"{slo.name} {typed_duration(slo.seconds)}" for slo in t.slos()]
    return ", ".join(parts) or "none"


def class_of(stream: StreamPlan) -> str:
    """The request-size class of a stream named 'workload/class'; blank for a whole workload."""
    return stream.name.split("/", 1)[1] if "/" in stream.name else ""


def lengths_text(stream: StreamPlan) -> str:
    q = stream.question
    if stream.fit.spec.model.kind is ModelKind.ENCODER:
        return f"{q.input_tokens:,} tokens in"
    return f"{q.input_tokens:,} in / {q.output_tokens:,} out tokens"


def shape_text(placement: Placement, encoder: bool) -> str:
    """'TP2 PP1 fp8/fp8': parallelism, then weight and KV-cache precision."""
    c = placement.shape
    numerics = c.precision.id if encoder else f"{c.precision.id}/{c.kv_precision.id}"
    return f"TP{c.tp}{c.expert_split(spaced=False)} PP{c.pp} {numerics}"


def offer_text(placement: Placement) -> str:
    """What one unit is, as a buyer reads it: 'AWS g6e.xlarge (on-demand, us-east-1)', 'owned h100-sxm'."""
    offer = placement.offer
    if offer.acquisition is Acquisition.OWNED:
        return f"owned {offer.gpu.id}"
    if offer.acquisition is Acquisition.BUY:
        return offer.label + ("" if placement.offers_per_unit == 1 else f" x {placement.offers_per_unit}")
    assert offer.price is not None
    group = "" if placement.offers_per_unit == 1 else f" x {placement.offers_per_unit}"
    return f"{offer.label}{group} ({offer.price.pricing.value}, {offer.price.region})"


def cost_text(result: FleetResult, value: float) -> str:
    return f"${value:,.2f}/day" if per_day(result) else money(value)


def status_text(result: FleetResult) -> str:
    if result.status == "optimal":
        return "proved optimal"
    if result.cost_bound is not None and result.cost > 0:
        gap = 100 * (result.cost - result.cost_bound) / result.cost
        return (f"{result.status}: within {percent(gap)} of the best possible "
                f"(no fleet costs less than {cost_text(result, result.cost_bound)})")
    return result.status


# --- shared limits ---------------------------------------------------------------


@dataclass(frozen=True)
class LimitUse:
    """One shared limit: what the fleet uses of it at its busiest hour."""

    name: str  # "owned h100-sxm", "GPUs", "rent", "power", "capital"
    unit: str  # "GPUs", "USD/h", "W", "USD"
    cap: float | None  # None: no limit given
    peak: float
    hour: int | None  # the busiest hour; None for what is counted once (capital)

    @property
    def at_cap(self) -> bool:
        return self.cap is not None and self.peak >= self.cap * (1 - 1e-9)


def _common(result: FleetResult, attr: str) -> Any:
    """A limit every workload's question carries alike (shared limits are), else None."""
    values = [getattr(s.question, attr) for s in result.streams]
    return values[0] if values and all(v == values[0] for v in values) else None


def limit_uses(result: FleetResult) -> list[LimitUse]:
    """Owned pools, GPUs per type that may be rented or bought, all GPUs, rent
    per hour, power and capital: the fleet's use at its busiest hour against
    the cap the scenario gives (None where it gives none)."""
    hours = len(result.gpus_by_hour)
    owned_used: dict[str, list[int]] = {}
    market_used: dict[str, list[int]] = {}
    capital = 0.0
    for stream in result.streams:
        for line in stream.lines:
            p = line.placement
            into = owned_used if p.owned else market_used
            use = into.setdefault(p.offer.gpu.id, [0] * hours)
            for hour, gpus in enumerate(gpus_by_hour(line)):
                use[hour] += gpus
            capital += line.committed * p.capex_usd
    shared = result.limits
    if shared is not None:  # the limits the fleet was solved under (fleet-wide ones are not on the streams' questions)
        pools = dict(shared.inventory or {})
        owned = {k.removeprefix("owned:"): v for k, v in pools.items() if k.startswith("owned:")}
        available = {k: v for k, v in pools.items() if not k.startswith("owned:")}
    else:
        owned, available = _common(result, "owned") or {}, _common(result, "available") or {}
    uses = []
    for gpu in sorted(set(owned_used) | {g for g, n in owned.items() if n > 0}):
        use = owned_used.get(gpu, [0] * hours)
        uses.append(LimitUse(f"owned {gpu}", "GPUs", owned.get(gpu), max(use, default=0), peak_hour(use)))
    for gpu in sorted(set(market_used) & set(available)):
        use = market_used[gpu]
        uses.append(LimitUse(f"{gpu} to rent or buy", "GPUs", available[gpu], max(use), peak_hour(use)))
    fleet_gpus = result.gpus_by_hour
    budget = _common(result, "budget")
    max_gpus = shared.max_gpus if shared is not None else _common(result, "max_gpus")
    max_power = shared.max_power_w if shared is not None else _common(result, "max_power_w")
    rent_cap = shared.max_hourly_usd if shared is not None else (
        budget.usd_per_hour if budget is not None and budget.per_hour else None)
    capital_cap = shared.max_capex_usd if shared is not None else (
        budget.usd if budget is not None and not budget.per_hour else None)
    uses.append(LimitUse("GPUs", "GPUs", max_gpus, max(fleet_gpus, default=0), peak_hour(fleet_gpus)))
    if per_day(result) or result.hourly_usd and max(result.hourly_usd) > 0:
        rent = result.hourly_usd
        uses.append(LimitUse("rent", "USD/h", rent_cap, max(rent, default=0.0), peak_hour(rent)))
    power = power_by_hour(result)
    if power is not None:
        uses.append(LimitUse("power", "W", max_power, max(power, default=0.0), peak_hour(power)))
    if capital > 0 or capital_cap is not None:
        uses.append(LimitUse("capital", "USD", capital_cap, capital, None))
    return uses


def amount_text(value: float, unit: str) -> str:
    if unit in ("USD/h", "USD"):
        return money(value, hourly=unit == "USD/h")
    if unit == "W":
        return f"{value / 1e3:,.1f} kW" if value >= 1e3 else f"{value:,.0f} W"
    return f"{value:,.0f} {unit}"


def binding_text(result: FleetResult) -> str:
    if result.binding:
        return ("What binds: " + "; ".join(result.binding)
                + " (at its cap in some hour: relaxing it may make the fleet cheaper).")
    return "What binds: no shared limit is at its cap in any hour."


# --- the decision in a few sentences --------------------------------------------------


def savings_text(result: FleetResult) -> list[str]:
    """Autoscaled against sized for the peak, and planned together against one at a time."""
    out = []
    if per_day(result):
        if result.static_cost is None:
            out.append("Sized for the peak (no autoscaling), no fleet fits the limits.")
        else:
            saved = result.static_cost - result.cost
            out.append(f"Autoscaled vs sized for the peak ({cost_text(result, result.static_cost)}): "
                       f"saves {cost_text(result, saved)} ({percent(100 * saved / result.static_cost if result.static_cost else 0)}).")
    if result.separate_cost is None:
        out.append("Planned one workload at a time (in file order, each with what the earlier left), "
                   "no fleet fits the limits.")
    else:
        saved = result.separate_cost - result.cost
        out.append(f"Planned together vs one at a time ({cost_text(result, result.separate_cost)}): "
                   f"saves {cost_text(result, saved)}"
                   + (f" ({percent(100 * saved / result.separate_cost)})" if result.separate_cost else "") + ".")
    return out


def fleet_headline(result: FleetResult) -> str:
    gpus = result.gpus_by_hour
    lines = sum(len(s.lines) for s in result.streams)
    workloads = list(dict.fromkeys(s.workload for s in result.streams))
    if per_day(result):
        cost = (f"${result.cost:,.2f}/day (${result.cost * DAYS_PER_MONTH:,.0f}/month at "
                f"{DAYS_PER_MONTH:.1f} days)")
    else:
        objective = result.streams[0].question.economics.objective if result.streams else Objective.CAPEX
        cost = f"{money(result.cost)} one-off ({'purchase' if objective is Objective.CAPEX else 'purchase and running cost'})"
    text = (f"Fleet {result.name}: {len(workloads)} workload{'s' if len(workloads) != 1 else ''} on {lines} plan "
            f"line{'s' if lines != 1 else ''}, {min(gpus, default=0)}-{max(gpus, default=0)} GPUs over the day, "
            f"{cost}; {status_text(result)}.")
    return " ".join([text, *savings_text(result)])


# --- terminal ------------------------------------------------------------------------


def _workloads_table(result: FleetResult) -> TextTable:
    table = TextTable(title="Workloads", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      collapse_padding=True)
    for col in ("workload", "model", "tokens", "targets", "peak", "mean", "cost", "share"):
        table.add_column(col, justify="left" if col in ("workload", "model", "tokens", "targets") else "right",
                         no_wrap=True)
    for stream in result.streams:
        demand = stream.demand or (0.0,)
        cost = stream_cost(result, stream)
        table.add_row(stream.name, stream.fit.spec.label, lengths_text(stream), targets_text(stream),
                      demand_text(stream.question, max(demand)), demand_text(stream.question, sum(demand) / len(demand)),
                      cost_text(result, cost), percent(100 * cost / result.cost) if result.cost else "-")
    return table


def unit_name(placement: Placement) -> str:
    """A table's short name of one unit: 'aws g6e.xlarge', 'dgx-h100', 'owned'."""
    offer = placement.offer
    if offer.acquisition is Acquisition.OWNED:
        return "owned"
    name = (f"{offer.provider.id} {offer.instance.name}" if offer.instance is not None and offer.provider is not None
            else offer.server.id if offer.server is not None else offer.label)
    return name + ("" if placement.offers_per_unit == 1 else f" x {placement.offers_per_unit}")


def pricing_text(placement: Placement) -> str:
    """'on-demand us-east-1', 'bought', 'owned'."""
    offer = placement.offer
    if offer.price is not None:
        return f"{offer.price.pricing.value} {offer.price.region}"
    return "bought" if offer.acquisition is Acquisition.BUY else "owned"


LINE_COLUMNS = ("unit", "pricing", "GPUs at peak", "shape", "held", "by the hour", "cost")


def line_cells(result: FleetResult, stream: StreamPlan, line: FleetPlanLine) -> list[str]:
    """A plan line's cells under LINE_COLUMNS (the terminal's table and the review's)."""
    p = line.placement
    flexible = flexible_peak(line)
    encoder = stream.fit.spec.model.kind is ModelKind.ENCODER
    return [unit_name(p), pricing_text(p), f"{line.peak_units * p.gpus_per_unit} x {p.shape.gpu.id}",
            shape_text(p, encoder), str(line.committed), f"0-{flexible}" if flexible else "-",
            cost_text(result, line_cost(result, stream, line))]


def _lines_table(result: FleetResult) -> TextTable:
    table = TextTable(title="Fleet plan", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      collapse_padding=True)
    for col in ("workload", *LINE_COLUMNS):
        table.add_column(col, justify="right" if col in ("held", "by the hour", "cost") else "left", no_wrap=True)
    for stream in result.streams:
        for line in stream.lines:
            table.add_row(stream.name, *line_cells(result, stream, line))
    return table


def sparkline(values: Sequence[float]) -> str:
    """One character per value, eight levels from the day's lowest to its highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high <= low:
        return SPARK[0 if high == 0 else 3] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / (high - low) * (len(SPARK) - 1) + 0.5))] for v in values)


def _hours_table(result: FleetResult, first: int, last: int) -> TextTable:
    table = TextTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("hour", no_wrap=True)
    for hour in range(first, last):
        table.add_column(f"{hour:02d}", justify="right", no_wrap=True)
    table.add_row("GPUs", *(str(result.gpus_by_hour[h]) for h in range(first, last)))
    if per_day(result):
        table.add_row("$/h", *(f"{result.hourly_usd[h]:,.0f}" if result.hourly_usd[h] >= 100 else
                               f"{result.hourly_usd[h]:,.2f}" for h in range(first, last)))
    return table


def _hour_tables(result: FleetResult, width: int) -> list[TextTable]:
    """The day in blocks of 12 hours, or of 8, 6 or 4 where 12 would not fit the width."""
    hours = len(result.gpus_by_hour)
    for block in (12, 8, 6, 4):
        tables = [_hours_table(result, first, min(first + block, hours)) for first in range(0, hours, block)]
        if block == 4 or all(natural_width(t) <= width for t in tables):
            return tables
    return []


def hours_text(result: FleetResult) -> str:
    gpus = result.gpus_by_hour
    text = (f"GPUs by hour 00-23: {sparkline(gpus)} (fewest {min(gpus, default=0)}, "
            f"most {max(gpus, default=0)} at {peak_hour(gpus):02d}:00)")
    if per_day(result) and result.hourly_usd:
        rent = result.hourly_usd
        text += (f"; rent by hour: {sparkline(rent)} ({money(min(rent), hourly=True)} to "
                 f"{money(max(rent), hourly=True)} at {peak_hour(rent):02d}:00)")
    return text + "."


def limit_cells(use: LimitUse) -> list[str]:
    """A shared limit's cells: name, cap, use at the busiest hour, that hour, whether it is at its cap."""
    return [use.name, "none" if use.cap is None else amount_text(use.cap, use.unit), amount_text(use.peak, use.unit),
            "-" if use.hour is None else f"{use.hour:02d}:00", "at its cap" if use.at_cap else ""]


def _limits_table(uses: list[LimitUse]) -> TextTable:
    table = TextTable(title="Shared limits at the busiest hour", title_justify="left", box=box.SIMPLE_HEAD,
                      show_edge=False, pad_edge=False, collapse_padding=True)
    for col in ("limit", "cap", "used", "hour", ""):
        table.add_column(col, justify="left" if col in ("limit", "") else "right", no_wrap=True)
    for use in uses:
        table.add_row(*limit_cells(use))
    return table


def fleet_notes(result: FleetResult) -> list[str]:
    """How the fleet was planned, and what each price stands on."""
    notes = [
        "Each workload (or request-size class) is one demand stream; its shapes were found and simulated by the "
        "single-workload search at its busiest hour, then one CP-SAT model chose units for every stream and hour "
        "under the shared limits (planner/plan/fleet.py). Replicas are never shared between workloads.",
        "In the plan table, held is the units in use every hour of the day (owned, bought, reserved, or rented "
        "around the clock); by the hour is how many more are rented on demand at the busiest hour, following the "
        "load (autoscaling). Each unit is one instance or server (or the group one replica spans).",
        f"Solver: CP-SAT, {result.status}; the whole plan took {result.solve_s:,.1f} s, mostly each workload's "
        "search and simulation.",
    ]
    if result.scenario_path:
        notes.insert(0, f"Scenario: {result.scenario_path}.")
    seen: set[str] = set()
    for stream in result.streams:
        for line in stream.lines:
            offer = line.placement.offer
            if offer.key in seen:
                continue
            seen.add(offer.key)
            notes.append(price_note(line.placement))
    return notes


def price_note(placement: Placement) -> str:
    offer = placement.offer
    if offer.price is not None:
        price = offer.price
        return (f"Price of {offer.label}: ${significant(price.usd_per_hour, 4)}/h per instance, {price.pricing.value}, "
                f"{price.region}, as of {price.as_of} ({price.source}).")
    if offer.server is not None:
        return (f"Price of {offer.label}: ${offer.capex_usd:,.0f} (parts priced as of "
                + ", ".join(dict.fromkeys(part.as_of for part in offer.server.parts)) + ").")
    return f"{offer.gpu.id}: owned, so no rent or purchase is counted."


def fleet_renderables(result: FleetResult, width: int = 120) -> list[Any]:
    """Rich renderables for ``width`` columns, tables turning into cards where they would not fit."""
    out: list[Any] = [Text(fleet_headline(result), style="bold")]
    workloads = _workloads_table(result)
    out.extend(laid_out(workloads, width, [f"Workload {s.name}" for s in result.streams], optional=("mean",)))
    lines = _lines_table(result)
    titles = [f"Line of {s.name}" for s in result.streams for _ in s.lines]
    out.extend(laid_out(lines, width, titles))
    out.append(Text(hours_text(result)))
    out.extend(_hour_tables(result, width))
    uses = limit_uses(result)
    out.extend(laid_out(_limits_table(uses), width, [u.name for u in uses]))
    out.append(Text(binding_text(result)))
    out.append(Text("\n".join(fleet_notes(result)), style="dim"))
    return out


# --- JSON ------------------------------------------------------------------------------


def _line_dict(result: FleetResult, stream: StreamPlan, line: FleetPlanLine) -> dict[str, Any]:
    p = line.placement
    c = p.shape
    encoder = stream.fit.spec.model.kind is ModelKind.ENCODER
    offer = offer_dict(Line(p, line.peak_units))
    offer.pop("units", None)  # the line says its units hour by hour
    return {
        "placement": p.key,
        "offer": offer,
        "hardware": offer_text(p),
        "shape": {"gpu": c.gpu.id, "gpus_per_replica": c.gpus, "precision": c.precision.id,
                  "kv_precision": None if encoder else c.kv_precision.id, "tp": c.tp, "pp": c.pp,
                  "dp": c.dp, "ep": c.ep},
        "gpus_per_unit": p.gpus_per_unit,
        "replicas_per_unit": p.replicas_per_unit,
        "throughput_per_unit": round(p.throughput, 6),
        "flexible": line.flexible,
        "committed": line.committed,
        "peak_units": line.peak_units,
        "by_hour": list(line.by_hour),
        "unit_rent_usd_per_hour": p.hourly_usd,
        "unit_capex_usd": p.capex_usd,
        "cost": round(line_cost(result, stream, line), 4),  # in the fleet's cost unit
        "rent_usd_per_hour_by_hour": [round(v, 4) for v in rent_by_hour(line)],
        "capex_usd": line.committed * p.capex_usd,
        "power_w_per_unit": p.power_w,
        # one replica simulated at its share of the busiest hour's load, as `fit` reports a line's load
        "check": None if line.check is None else load_dict(line.check, stream.simulated),
    }


def _stream_dict(result: FleetResult, stream: StreamPlan) -> dict[str, Any]:
    q, t = stream.question, stream.question.targets
    return {
        "name": stream.name,
        "workload": stream.workload,
        "share": stream.share,
        "question": {
            "model": stream.fit.spec.label,
            "engine": stream.fit.engine.id,
            "input": q.input_tokens,
            "output": None if stream.fit.spec.model.kind is ModelKind.ENCODER else q.output_tokens,
            "targets": {
                "latency_ms": None if t.latency_s is None else t.latency_s * 1e3,
                "ttft_ms": None if t.ttft_s is None else t.ttft_s * 1e3,
                "e2e_ms": None if t.e2e_s is None else t.e2e_s * 1e3,
                "statistics": {"latency": t.latency_statistic.value, "ttft": t.ttft_statistic.value,
                               "e2e": t.e2e_statistic.value},
            },
            "peak_throughput": None if t.throughput is None else format_rate(t.throughput),
            "headroom_share": stream.fit.headroom,
            "burstiness_cv": q.burstiness,
            "redundancy": q.redundancy,
        },
        "demand": {"unit": rate_unit(q), "by_hour": [round(v, 6) for v in stream.demand]},
        "cost": round(stream_cost(result, stream), 4),
        "lines": [_line_dict(result, stream, line) for line in stream.lines],
    }


def fleet_dict(result: FleetResult) -> dict[str, Any]:
    """The whole solution with stable keys: costs in ``cost_unit`` (USD/day
    for the hourly objective, one-off USD otherwise), every stream's demand
    and lines hour by hour, totals by hour, the shared limits and what binds."""
    power = power_by_hour(result)
    return {
        "scenario": result.name,
        "scenario_path": result.scenario_path,
        "status": result.status,
        "cost": {
            "unit": result.cost_unit,
            "value": round(result.cost, 4),
            "bound": None if result.cost_bound is None else round(result.cost_bound, 4),
            "per_month_usd": round(result.cost * DAYS_PER_MONTH, 4) if per_day(result) else None,
            "static_peak": None if result.static_cost is None else round(result.static_cost, 4),
            "one_at_a_time": None if result.separate_cost is None else round(result.separate_cost, 4),
            "autoscaling_saves": None if result.static_cost is None else round(result.static_cost - result.cost, 4),
            "together_saves": None if result.separate_cost is None else round(result.separate_cost - result.cost, 4),
        },
        "streams": [_stream_dict(result, s) for s in result.streams],
        "by_hour": {
            "gpus": list(result.gpus_by_hour),
            "rent_usd_per_hour": [round(v, 4) for v in result.hourly_usd],
            "power_w": None if power is None else [round(v, 3) for v in power],
        },
        "limits": [{"name": u.name, "unit": u.unit, "cap": u.cap, "peak": round(u.peak, 4), "hour": u.hour,
                    "at_cap": u.at_cap} for u in limit_uses(result)],
        "binding": list(result.binding),
        "solve_s": round(result.solve_s, 3),
    }

