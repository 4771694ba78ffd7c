"""A fleet's design review, independent of its format (report_markdown and
report_html lay it out as they do a single plan's review): the decision, one
section per workload (targets, load over the day, the lines with their
simulated figures, why that GPU), the shared limits and what binds, the cost
over the day, and the comparison with sizing for the peak and with planning
the workloads one at a time."""

from __future__ import annotations

from itertools import groupby

from planner.catalog.schema import ModelKind
from planner.plan.fleet import FleetPlanLine, FleetResult, StreamPlan
from planner.plan.placement import Placement
from planner.report import charts
from planner.report.fleet import (
    DAYS_PER_MONTH,
    HOURS,
    LINE_COLUMNS,
    binding_text,
    class_of,
    cost_text,
    demand_text,
    fleet_headline,
    fleet_notes,
    lengths_text,
    limit_cells,
    limit_uses,
    line_cells,
    peak_hour,
    per_day,
    rate_unit,
    shape_text,
    stream_cost,
    stream_rent_by_hour,
    targets_text,
    unit_name,
)
from planner.report.format import duration, money, percent, significant
from planner.report.review import DocTable, Review, Section

CHART = "fleet-cost"


def _hours(first: int, last: int) -> str:
    return f"{first:02d}:00" if first == last else f"{first:02d}-{last:02d}"


def _profile_table(stream: StreamPlan) -> DocTable:
    """The day in runs of hours with the same demand and units: hours, demand, units, rent."""
    rent = stream_rent_by_hour(stream)
    units = [sum(line.by_hour[h] for line in stream.lines) for h in range(len(stream.demand))]
    rows = []
    keyed = [(stream.demand[h], units[h], rent[h]) for h in range(len(stream.demand))]
    hour = 0
    for key, run in groupby(keyed):
        n = len(list(run))
        rows.append([_hours(hour, hour + n - 1), demand_text(stream.question, key[0]), str(key[1]), money(key[2], hourly=True)])
        hour += n
    return DocTable(["hours", "demand", "units in use", "rent"], rows, "Load over the day")


def _verified(line: FleetPlanLine) -> list[str]:
    """Rate per replica and the p99 figures of its simulation at the busiest hour's load."""
    if line.check is None:
        return ["-", "-", "-", "not simulated (encoder: static batch)"]
    s = line.check.trial.summary
    return [f"{significant(line.check.rate, 4)} req/s", duration(s.ttft.p99 if s.ttft else None),
            duration(s.tpot.p99 if s.tpot else None),
            "meets the targets" if line.check.meets else "MISSES: " + "; ".join(line.check.trial.misses)]


def _lines_table(result: FleetResult, stream: StreamPlan) -> DocTable:
    rows = [[*line_cells(result, stream, line), *_verified(line)] for line in stream.lines]
    return DocTable([*LINE_COLUMNS, "per replica at peak", "p99 TTFT", "p99 TPOT", "check"], rows, "Plan lines")


def _per_throughput(stream: StreamPlan, p: Placement) -> float | None:
    """What one unit of the stream's throughput costs on a placement: $/h (or USD) per unit/s."""
    cost = p.cost(stream.question.economics)
    return None if cost is None or p.throughput <= 0 else cost / p.throughput


def _why_table(result: FleetResult, stream: StreamPlan) -> DocTable | None:
    """The cheapest placement per GPU type the fleet model could choose for
    the stream (its single search's, without the fleet's), by cost per unit
    of throughput."""
    best: dict[str, tuple[float, Placement]] = {}
    for p in stream.options or stream.fit.pool:
        value = _per_throughput(stream, p)
        if value is not None and (p.shape.gpu.id not in best or value < best[p.shape.gpu.id][0]):
            best[p.shape.gpu.id] = (value, p)
    if not best:
        return None
    chosen = {line.placement.key for line in stream.lines}
    chosen_gpus = {line.placement.shape.gpu.id for line in stream.lines}
    cheapest = min(value for value, _ in best.values())
    unit = rate_unit(stream.question) or "unit/s"
    encoder = stream.fit.spec.model.kind is ModelKind.ENCODER
    per_hour = "/h" if per_day(result) else ""
    rows = []
    for gpu, (value, p) in sorted(best.items(), key=lambda item: item[1][0]):
        rows.append([gpu, f"{unit_name(p)} {shape_text(p, encoder)}", f"{significant(p.throughput, 4)} {unit}",
                     f"${significant(value, 4)}{per_hour}", _versus(value, cheapest, per_hour),
                     "in the plan" if p.key in chosen else "GPU type in the plan" if gpu in chosen_gpus else ""])
    return DocTable(["GPU", "best placement", "per unit", f"cost per {unit}", "vs cheapest", ""], rows,
                    "Why that GPU: the cheapest placement of each GPU type, by cost per unit of throughput")


def _versus(value: float, cheapest: float, per_hour: str = "") -> str:
    """How much dearer than the cheapest, in percent; against a free one
    (owned GPUs in the hourly objective cost nothing) in dollars (``per_hour``
    "/h" where the figures are rates)."""
    if value == cheapest:
        return "+0%"
    if cheapest <= 0:
        return f"+${significant(value - cheapest, 4)}{per_hour}"
    return f"+{percent(100 * (value / cheapest - 1))}"


def _stream_section(result: FleetResult, stream: StreamPlan) -> Section:
    q = stream.question
    demand = stream.demand or (0.0,)
    cost = stream_cost(result, stream)
    title = f"Workload {stream.workload}" + (f", class {class_of(stream)}" if class_of(stream) else "")
    paragraphs = [
        f"{stream.fit.spec.label} on {stream.fit.engine.name}: requests of {lengths_text(stream)}"
        + (f", {percent(100 * stream.share)} of the workload's requests" if stream.share < 1 else "")
        + f"; targets {targets_text(stream)}"
        + (f"; {percent(100 * stream.fit.headroom)} of each replica's simulated capacity kept free"
           if stream.fit.headroom else "") + ".",
        f"Load: peak {demand_text(q, max(demand))} at {peak_hour(demand):02d}:00, lowest "
        f"{demand_text(q, min(demand))}, mean {demand_text(q, sum(demand) / len(demand))}. "
        f"Cost {cost_text(result, cost)}" + (f" ({percent(100 * cost / result.cost)} of the fleet)" if result.cost else "")
        + ".",
    ]
    tables = [_profile_table(stream), _lines_table(result, stream)]
    why = _why_table(result, stream)
    if why is not None:
        tables.append(why)
        paragraphs.append("Why that GPU: the table ranks, for each GPU type the fleet could give this workload (its "
                          "searches' shapes on every offer and pricing the scenario allows, those no other beats "
                          "kept), its cheapest placement by cost per unit of throughput it may be given (simulated capacity less the "
                          "headroom where it was simulated, the steady-state estimate otherwise). The fleet may still "
                          "choose a dearer one where a shared limit (owned GPUs, budget, power) or whole units make "
                          "it cheaper overall.")
    return Section(title, paragraphs=paragraphs, tables=tables)


def _limits_section(result: FleetResult) -> Section:
    rows = [limit_cells(u) for u in limit_uses(result)]
    return Section("Shared limits and what binds", paragraphs=[binding_text(result)],
                   tables=[DocTable(["limit", "cap", "used at the busiest hour", "hour", ""], rows)])


def _day_section(result: FleetResult) -> Section:
    rents = [stream_rent_by_hour(s) for s in result.streams]
    rows = []
    for hour in range(len(result.gpus_by_hour)):
        rows.append([f"{hour:02d}:00", str(result.gpus_by_hour[hour]), money(result.hourly_usd[hour], hourly=True),
                     *(money(rent[hour], hourly=True) for rent in rents)])
    section = Section("Cost over the day",
                      tables=[DocTable(["hour", "GPUs", "rent", *(s.name for s in result.streams)], rows,
                                       "GPUs and rent by hour, per workload")])
    if not per_day(result):
        section.paragraphs.append("The fleet is bought (or owned): nothing is rented by the hour, so its cost does "
                                  "not follow the day; the GPUs in use do.")
    return section


def _comparison_section(result: FleetResult) -> Section:
    def row(name: str, value: float | None) -> list[str]:
        if value is None:
            return [name, "no fleet fits the limits", "-", "-"]
        month = f"${value * DAYS_PER_MONTH:,.0f}/month" if per_day(result) else "-"
        return [name, cost_text(result, value), month, "-" if value == result.cost else
                f"{'+' if value >= result.cost else '-'}{cost_text(result, abs(value - result.cost))}"]

    rows = [row("this plan: autoscaled, planned together", result.cost)]
    if per_day(result):
        rows.append(row("sized for the peak hour (no autoscaling)", result.static_cost))
    rows.append(row("one workload at a time, in file order", result.separate_cost))
    return Section("Against sizing for the peak and planning one at a time",
                   paragraphs=["Sized for the peak: the same workloads and limits with every count held at its "
                               "busiest hour's all day. One at a time: each workload planned alone in file order, "
                               "each with what the earlier ones left of the shared limits."],
                   tables=[DocTable(["plan", "cost", "per month", "vs this plan"], rows)])


def _chart(result: FleetResult) -> tuple[dict[str, str], dict[str, str], str | None]:
    if not per_day(result):
        return {}, {}, None
    if not charts.available():
        return {}, {}, "Charts need matplotlib: install planner[report]."
    static = None if result.static_cost is None else result.static_cost / (len(result.hourly_usd) or HOURS)
    series = [charts.CostSeries(s.name, stream_rent_by_hour(s)) for s in result.streams]
    title = ("Rent per hour over the day, stacked by workload; the dashed line is the same fleet sized for its peak "
             "hour (no autoscaling)" + (f", ${static:,.2f}/h" if static is not None else ": none fits the limits")
             + ".")
    return {CHART: charts.fleet_cost_svg(series, static)}, {CHART: title}, None


def build_fleet_review(result: FleetResult) -> Review:
    """The review of a fleet: every figure comes from ``result``."""
    svgs, titles, missing = _chart(result)
    summary = Section("The fleet", paragraphs=[], tables=[
        DocTable(["workload", "model", "tokens", "targets", "peak", "cost", "share"],
                 [[s.name, s.fit.spec.label, lengths_text(s), targets_text(s), demand_text(s.question, max(s.demand or (0,))),
                   cost_text(result, stream_cost(result, s)),
                   percent(100 * stream_cost(result, s) / result.cost) if result.cost else "-"]
                  for s in result.streams], "Workloads"),
    ])
    day = _day_section(result)
    day.charts = [CHART] if CHART in svgs else []
    if missing:
        day.paragraphs.append(missing)
    sections = [
        summary,
        *(_stream_section(result, s) for s in result.streams),
        _limits_section(result),
        day,
        _comparison_section(result),
        Section("How it was planned, and prices", bullets=fleet_notes(result)),
    ]
    return Review(f"Fleet plan: {result.name}", fleet_headline(result), sections, svgs, titles)
