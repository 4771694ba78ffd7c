"""The design-review report's content, independent of its format.

Builds sections of paragraphs, tables and charts from a fit result: the
question as asked and as interpreted, the plan with its memory and latency
breakdowns, the alternatives, a sensitivity study (each variant re-solved,
not extrapolated), and the risks and assumptions with their sources and the
model's measured accuracy. report_markdown and report_html lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.catalog.schema import ModelKind, PricingModel
from planner.report import charts
from planner.catalog.architecture import count_params
from planner.catalog.load import Catalog
from planner.core.errors import NoPlanError
from planner.plan.fit import FitResult, Line, fit
from planner.plan.offers import Acquisition, Offer
from planner.plan.question import Objective, Question, Targets
from planner.report.fit import (
    OBJECTIVE_WORDS,
    assumptions,
    hardware,
    headline,
    headroom,
    line_objective,
    loss_cell,
    price_notes,
    quality_notes,
)
from planner.core.units import HOURS_PER_MONTH, Rate, format_rate
from planner.report.format import gigabytes, milliseconds, money, number, parameters, percent_change, signed_money


@dataclass
class DocTable:
    columns: list[str]
    rows: list[list[str]]
    title: str | None = None


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[DocTable] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)  # keys into Review.charts
    bullets: list[str] = field(default_factory=list)


@dataclass
class Review:
    title: str
    summary: str
    sections: list[Section]
    charts: dict[str, str]  # name -> SVG text
    chart_titles: dict[str, str]


def _short_plan(result: FitResult) -> str:
    """The plan in a few words, for a chart legend: 8x h100-sxm fp8."""
    return " + ".join(f"{line.gpus}x {line.candidate.gpu.id} {line.candidate.precision.id}" for line in result.lines)


def _shape_words(line: Line) -> str:
    c = line.candidate
    parallel = f"TP {c.tp}" + (f" x PP {c.pp}" if c.pp > 1 else "")
    return f"{line.replicas} replica{'s' if line.replicas != 1 else ''} of {parallel}, {c.precision.id}"


def _describe_plan(result: FitResult) -> str:
    """Each line's hardware and what runs on it: 2 x AWS p5.48xlarge (...): 4 replicas of TP 4, fp8."""
    return " + ".join(f"{hardware(line)}: {_shape_words(line)}" for line in result.lines)


def _question_section(result: FitResult) -> Section:
    q, spec = result.question, result.spec
    m = spec.model
    counts = count_params(m)
    t = q.targets
    asked = Section("The question")
    if q.asked:
        asked.paragraphs.append(f"As asked: `{q.asked}`")
    rows = [
        ["model", f"{spec.label}" + (" (bare parameter count: architecture DERIVED, approximate)" if spec.approximate else f" ({m.name})")],
        ["architecture", f"{m.kind}, {m.layers} layers, hidden {m.hidden_size}, {m.heads} heads / {m.kv_heads} KV heads, "
                         f"FFN {m.ffn_size}{' gated' if m.ffn_gated else ''}, vocabulary {m.vocab_size}"
                         + (f", {m.moe.experts} experts ({m.moe.active_experts} active)" if m.moe else "")],
        ["parameters", f"{parameters(counts.total)} stored, {parameters(counts.active)} active per token"],
        ["latency target", "-" if t.latency_s is None else
         f"{t.latency_s * 1e3:g} ms ({'one forward pass' if m.kind == 'encoder' else 'TPOT, per output token'})"],
        ["TTFT target", "-" if t.ttft_s is None else f"{t.ttft_s * 1e3:g} ms"],
        ["end-to-end target", "-" if t.e2e_s is None else f"{t.e2e_s * 1e3:g} ms"],
        ["throughput target", "-" if t.throughput is None else format_rate(t.throughput)],
        ["request shape", f"{result.shape.input} input, {result.shape.output} output tokens"
                          + (" (defaults)" if q.default_lengths else "")],
        ["engine", result.engine.name],
        ["GPU types", ", ".join(q.gpus) if q.gpus else
         ("segments " + ", ".join(q.segments) if q.segments else "datacenter and workstation parts")
         + " with an instance or server in the price book"],
        ["precisions", ", ".join(q.precisions) if q.precisions else f"all with a published loss <= {q.max_quality_loss:g}% on this model (weights plus KV cache)"],
        ["owned GPUs", ", ".join(f"{k}={v}" for k, v in q.owned.items()) if q.owned else "none"],
        ["limits", ", ".join(filter(None, [
            f"available {', '.join(f'{k}={v}' for k, v in q.available.items())}" if q.available else "",
            f"budget {q.budget}" if q.budget else "", f"at most {q.max_gpus} GPUs" if q.max_gpus else "",
            f"at most {q.max_power_w:,.0f} W" if q.max_power_w else ""])) or "none"],
        ["objective", OBJECTIVE_WORDS[q.economics.objective]],
        ["renting", (f"{q.pricing.value} prices from " + (", ".join(q.providers) if q.providers else "the default providers")
                     + (f", region {q.region}" if q.region else ", the cheapest region listed"))
         if q.economics.objective is Objective.HOURLY else "nothing: servers are bought"],
        ["redundancy", f"N+{q.redundancy}"],
    ]
    asked.tables.append(DocTable(["item", "as interpreted"], rows))
    return asked


def _plan_section(result: FitResult) -> Section:
    hourly = result.question.economics.objective is Objective.HOURLY
    encoder = result.spec.model.kind is ModelKind.ENCODER
    sec = Section("The plan", paragraphs=[headline(result)])
    rows = []
    for line in result.lines:
        c = line.candidate
        rows.append([
            hardware(line), str(line.gpus), str(line.replicas), f"{c.tp} x {c.pp}", c.precision.id,
            "-" if encoder else c.kv_precision.id, str(c.batch), "-" if encoder else milliseconds(c.prediction.ttft_s),
            milliseconds(c.prediction.e2e_s if encoder else c.prediction.tpot_s),
            f"{(c.throughput if encoder else c.tokens_per_s) * line.replicas:,.0f}", loss_cell(result, c),
            money(line_objective(result, line), hourly),
        ])
    sec.tables.append(DocTable(["hardware", "GPUs", "replicas", "TP x PP", "weights", "KV cache", "batch/replica", "TTFT",
                                "latency" if encoder else "TPOT", "samples/s" if encoder else "tokens/s",
                                "quality loss", "cost"], rows, "Plan lines"))
    head = [[r["target"], f"{number(r['limit'])} {r['unit']}", f"{number(r['predicted'])} {r['unit']}", percent_change(r["headroom_pct"])]
            for r in headroom(result)]
    if head:
        sec.tables.append(DocTable(["target", "limit", "predicted (worst line)", "headroom"], head, "Headroom"))
    mem_rows, lat_rows = [], []
    for line in result.lines:
        c, m = line.candidate, line.candidate.memory
        mem_rows.append([f"{c.gpu.id} {c.precision.id}", gigabytes(m.weights_per_gpu)]
                        + ([] if encoder else [gigabytes(m.kv_cache_per_gpu)])
                        + [gigabytes(m.activations_per_gpu), gigabytes(m.runtime_per_gpu), gigabytes(m.per_gpu), gigabytes(m.capacity_per_gpu),
                           f"{100 * m.per_gpu / m.capacity_per_gpu:.0f}%"])
        passes = [("forward pass" if encoder else "prefill", c.prediction.prefill)]
        if c.prediction.decode is not None:
            passes.append((f"decode step (batch {c.batch})", c.prediction.decode))
        for name, x in passes:
            lat_rows.append([f"{c.gpu.id} {c.precision.id}", name, milliseconds(x.memory_s), milliseconds(x.compute_s),
                             milliseconds(x.communication_s), milliseconds(x.overhead_s), milliseconds(x.total_s), x.bound])
    mem_columns = ["line", "weights"] + ([] if encoder else ["KV cache"]) + ["activations", "runtime", "total", "usable", "used"]
    sec.tables.append(DocTable(mem_columns, mem_rows, "Memory per GPU (most loaded GPU of a replica)"))
    sec.tables.append(DocTable(["line", "pass", "memory", "compute", "communication", "fixed", "total", "bound by"],
                               lat_rows, "Where the time goes (one forward pass)"))
    sec.paragraphs.append(
        "Each pass combines its memory traffic over the achieved bandwidth with its FLOPs over the achieved tensor "
        "throughput (they overlap only partly, so the total lies between the longer of the two and their sum, by a "
        "fitted exponent), then adds tensor-parallel communication and a fixed cost per pass; 'bound by' names the "
        "largest term.")
    return sec


# Assumption bullets (report/fit.py) that belong to the pricing section, not the risks.
PRICING_NOTE_STARTS = ("Redundancy N+", "CONSUMER CARDS")


def _unit_price(usd_per_hour: float) -> str:
    """A published hourly price as published (to 4 decimals): $0.526/h, not $0.53/h."""
    text = f"{usd_per_hour:,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}/h"


def _names(items: list[str]) -> str:
    """a, b and c."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _per_month(usd_per_hour: float) -> str:
    return f"${usd_per_hour * HOURS_PER_MONTH:,.0f}/month"


def _by_offer(result: FitResult, acquisition: Acquisition) -> list[tuple[Offer, list[Line]]]:
    """The plan's lines grouped by what they rent, buy or use, in plan order."""
    groups: dict[str, tuple[Offer, list[Line]]] = {}
    for line in result.lines:
        if line.offer.acquisition is acquisition:
            groups.setdefault(line.offer.key, (line.offer, []))[1].append(line)
    return list(groups.values())


def _serves(lines: list[Line]) -> str:
    return "; ".join(_shape_words(line) for line in lines)


def _bom_section(result: FitResult) -> Section:
    """What to rent, buy or use, by instance or server, with unit and extended prices."""
    sec = Section("Bill of materials", paragraphs=[
        f"By instance or server: how many, what each holds, what it costs. A month is {HOURS_PER_MONTH} hours "
        "(the providers' billing month); prices, their dates and sources are under Pricing assumptions."])
    rented = _by_offer(result, Acquisition.RENT)
    if rented:
        rows, units_total, hourly_total = [], 0, 0.0
        for offer, lines in rented:
            units = sum(line.instances for line in lines)
            hourly = units * offer.hourly_usd
            units_total, hourly_total = units_total + units, hourly_total + hourly
            price = offer.price
            rows.append([offer.provider.name if offer.provider else "-", offer.instance.name if offer.instance else offer.label,
                         price.region if price else "-", price.pricing.value if price else "-", str(units),
                         f"{offer.gpus} x {offer.gpu.id}", _serves(lines), _unit_price(offer.hourly_usd),
                         money(hourly, True), _per_month(hourly)])
        if len(rows) > 1:
            rows.append(["total", "", "", "", str(units_total), f"{sum(line.gpus for _, ls in rented for line in ls)} GPUs",
                         "", "", money(hourly_total, True), _per_month(hourly_total)])
        sec.tables.append(DocTable(["provider", "instance", "region", "pricing", "units", "each holds", "serves",
                                    "price per unit", "extended per hour", "extended per month"], rows, "Rented instances"))
    bought = _by_offer(result, Acquisition.BUY)
    if bought:
        rows, units_total, capex_total = [], 0, 0.0
        parts = []
        for offer, lines in bought:
            units = sum(line.instances for line in lines)
            units_total, capex_total = units_total + units, capex_total + units * offer.capex_usd
            rows.append([offer.label, str(units), f"{offer.gpus} x {offer.gpu.id}", _serves(lines), money(offer.capex_usd),
                         money(units * offer.capex_usd),
                         "-" if offer.power_w is None else f"{offer.power_w:,.0f} W"])
            if offer.server is not None:
                sec.paragraphs.append(f"{offer.label}: the price covers {offer.server.includes}.")
                for part in offer.server.parts:
                    parts.append([offer.label, part.item, str(part.quantity), money(part.unit_usd),
                                  money(part.quantity * part.unit_usd), part.as_of, part.source])
        if len(rows) > 1:
            rows.append(["total", str(units_total), "", "", "", money(capex_total), ""])
        sec.tables.append(DocTable(["server", "units", "each holds", "serves", "price per server", "extended",
                                    "power per server"], rows, "Servers to buy"))
        sec.tables.append(DocTable(["server", "part", "quantity", "unit price", "extended", "as of", "source"], parts,
                                   "Parts of one server"))
    owned = _by_offer(result, Acquisition.OWNED)
    if owned:
        rows = [[offer.gpu.id, str(sum(line.gpus for line in lines)), _serves(lines), "sunk: no rent or purchase"]
                for offer, lines in owned]
        sec.tables.append(DocTable(["owned GPU", "GPUs used", "serves", "cost counted"], rows, "Owned GPUs used"))
    economics = result.question.economics
    if economics.objective is Objective.TCO:
        sec.paragraphs.append(
            f"Energy over {economics.years:g} years at ${economics.power_usd_per_kwh:g}/kWh and PUE {economics.pue:g}, "
            f"and colocation at ${economics.colo_usd_per_kw_month:g} per kW-month: "
            f"{money(result.cost - result.capex_usd)}, making {money(result.cost)} with the purchase price.")
    return sec


def _pricing_section(catalog: Catalog, result: FitResult) -> Section:
    """Where each price comes from, when, what it covers, and what the plan assumes about it."""
    q = result.question
    sec = Section("Pricing assumptions")
    if q.economics.objective is Objective.HOURLY:
        providers = ([catalog.lookup("providers", p) for p in q.providers] if q.providers
                     else [p for p in catalog.providers.values() if p.default])
        names = _names([p.name for p in providers if p is not None]) if any(providers) else "no provider"
        sec.bullets.append(f"Rented at {q.pricing.value} prices from {names} "
                           + (f"in region {q.region}" if q.region else "in the cheapest region each instance lists")
                           + ".")
        if q.pricing is PricingModel.SPOT:
            sec.bullets.append("Spot instances are interruptible: the provider may reclaim them at short notice.")
        elif q.pricing in (PricingModel.RESERVED_1Y, PricingModel.RESERVED_3Y):
            sec.bullets.append(f"A {q.pricing.value} price is a commitment, paid per hour whether the instance is "
                               "used or not.")
    else:
        sec.bullets.append("Servers are bought outright at the sum of their parts' prices; nothing is rented.")
    seen: set[str] = set()
    for line in result.lines:
        provider = line.offer.provider
        if provider is not None and provider.id not in seen:
            seen.add(provider.id)
            sec.bullets.append(f"{provider.name} ({provider.kind}): an instance's price covers {provider.billing} "
                               f"(as of {provider.as_of}, {provider.source})"
                               + (f"; {provider.notes}" if provider.notes else "") + ".")
    # each price the plan stands on, with its date and source (owned GPUs are said below)
    sec.bullets.extend(n for n in price_notes(result) if n.startswith(("Price of", "Power of")))
    owned = sorted({line.offer.gpu.id for line in result.lines if line.offer.acquisition is Acquisition.OWNED})
    if owned:
        sec.bullets.append(f"Owned GPUs ({', '.join(owned)}) are sunk: no rent or purchase is counted for them"
                           + ("; TCO counts their energy and colocation" if q.economics.objective is Objective.TCO else "")
                           + ".")
    moved = [a for a in assumptions(result) if a.startswith(PRICING_NOTE_STARTS)]
    if not q.redundancy:
        sec.bullets.append("No redundancy (N+0): an instance, server or owned replica down is capacity lost; "
                           "--redundancy N+1 keeps a spare.")
    sec.bullets.extend(moved)
    if q.budget is not None:
        per_hour = q.budget.per_hour and q.budget.period != "h"
        sec.bullets.append(f"Budget: {q.budget}" + (f" (${q.budget.usd_per_hour:,.2f}/h)" if per_hour else "") + ".")
    return sec


def _alternatives_section(result: FitResult) -> Section:
    q = result.question
    hourly = q.economics.objective is Objective.HOURLY
    sec = Section("Alternatives")
    rows = [[a.gpu, hardware(a.line), a.line.candidate.key.split(" ", 1)[1], str(a.line.gpus), money(a.plan_cost, hourly),
             signed_money(a.plan_cost - result.cost, hourly)]
            for a in result.alternatives]
    if rows:
        sec.tables.append(DocTable(["GPU type", "hardware", "best shape", "GPUs", "cost", "vs plan"], rows,
                                   "Best plan on each other GPU type"))
    best: dict[str, tuple[float, Line]] = {}
    for cost, line in result.singles:
        c = line.candidate
        if c.precision.id not in best or cost < best[c.precision.id][0]:
            best[c.precision.id] = (cost, line)
    prec_rows = [[p, hardware(line), line.candidate.key, str(line.gpus), money(cost, hourly),
                  signed_money(cost - result.cost, hourly)]
                 for p, (cost, line) in sorted(best.items(), key=lambda kv: kv[1][0])]
    if prec_rows:
        sec.tables.append(DocTable(["weight precision", "hardware", "best shape", "GPUs", "cost", "vs plan"], prec_rows,
                                   "Best single-shape plan per weight precision"))
    if not rows and not prec_rows:
        sec.paragraphs.append("No other GPU type or precision can serve the question alone within the limits.")
    return sec


def _variant(catalog: Catalog, q: Question, name: str, **change) -> tuple[str, float | None, str]:
    """(plan description, cost or None, why there is no plan)."""
    try:
        other = fit(catalog, q.replace(top=1, **change))
    except NoPlanError as exc:
        return name, None, exc.message
    return name, other.cost, _describe_plan(other)


def _sensitivity_section(catalog: Catalog, result: FitResult) -> Section:
    q, t = result.question, result.question.targets
    hourly = q.economics.objective is Objective.HOURLY
    sec = Section("Sensitivity", paragraphs=["Each variant is solved again from scratch, not extrapolated."])
    variants: list[tuple[str, float | None, str]] = []

    def scaled(factor: float) -> Targets:
        return Targets(
            latency_s=None if t.latency_s is None else t.latency_s * factor,
            ttft_s=None if t.ttft_s is None else t.ttft_s * factor,
            e2e_s=None if t.e2e_s is None else t.e2e_s * factor,
            throughput=t.throughput,
        )

    if any(v is not None for v in (t.latency_s, t.ttft_s, t.e2e_s)):
        variants.append(_variant(catalog, q, "latency targets halved", targets=scaled(0.5)))
        variants.append(_variant(catalog, q, "latency targets doubled", targets=scaled(2.0)))
    variants.append(_variant(catalog, q, "context doubled (input and output x2)",
                             input_tokens=q.input_tokens * 2, output_tokens=q.output_tokens * 2))
    if t.throughput is not None:
        doubled = Rate(t.throughput.per_second * 2, t.throughput.kind)
        variants.append(_variant(catalog, q, "traffic doubled", targets=t.replace(throughput=doubled)))
    else:
        sec.paragraphs.append("No throughput target was given, so traffic is not varied: one replica serves the question.")
    rows = [["as asked", _describe_plan(result), money(result.cost, hourly), ""]]
    for name, cost, text in variants:
        if cost is None:
            rows.append([name, "no plan (see below)", "-", "-"])
            sec.paragraphs.append(f"{name}: {text}.")
        else:
            rows.append([name, text, money(cost, hourly), signed_money(cost - result.cost, hourly)])
    sec.tables.insert(0, DocTable(["variant", "plan", "cost", "vs as asked"], rows))
    return sec


def _accuracy_rows(catalog: Catalog, engine: str) -> tuple[list[list[str]], str]:
    from planner.model.validation import bundled_measurements, read_rows, validate

    path = bundled_measurements()
    if path is None:
        return [], "The published measurements are not installed, so no accuracy figures are shown."
    report = validate(catalog, read_rows(path))
    rows = [[s.group, str(s.n), f"{100 * s.median_ape:.1f}%", percent_change(100 * s.bias), f"{100 * s.within_25:.0f}%"]
            for s in report.summaries()]
    note = (f"Measured by `planner validate` on the {len(report.answered)} published measurements shipped with planner "
            f"(all engines; the plan uses {engine}). Leave-one-out errors, the figure to expect on configurations "
            "outside the data, are in the README.")
    return rows, note


def _risks_section(catalog: Catalog, result: FitResult) -> Section:
    sec = Section("Risks and assumptions")
    # each format's figure on this model; '*' marks one borrowed or assumed (planner/model/quality.py)
    sec.bullets.extend(quality_notes(result))
    for line in result.lines:
        f = line.candidate.factors
        bullet = (
            f"Fitted efficiency on {line.candidate.gpu.id} with {result.engine.name}: {f.bandwidth:.0%} of peak bandwidth, "
            f"{f.compute:.0%} of 16-bit and {f.compute_8bit:.0%} of 8-bit tensor peak, {f.decode_overhead_ms:g} ms per decode "
            f"step, {f.prefill_overhead_ms:g} ms per prefill ({result.engine.fitted_on}).")
        if bullet.split(":", 1)[1] not in "".join(sec.bullets):
            sec.bullets.append(bullet)
    for gpu in {line.candidate.gpu.id: line.candidate.gpu for line in result.lines}.values():
        if gpu.notes:
            sec.bullets.append(f"{gpu.id} catalog notes: {gpu.notes}")
    moved = set(price_notes(result))
    sec.bullets.extend(a for a in assumptions(result) if a not in moved and not a.startswith(PRICING_NOTE_STARTS))
    rows, note = _accuracy_rows(catalog, result.engine.id)
    sec.paragraphs.append(note)
    if rows:
        sec.tables.append(DocTable(["metric group", "rows", "median error", "bias", "within 25%"], rows,
                                   "Measured accuracy of the performance model"))
    return sec


def _charts(result: FitResult) -> tuple[dict[str, str], dict[str, str], str | None]:
    if not charts.available():
        return {}, {}, "Charts need matplotlib: install planner[report]."
    q = result.question
    encoder = result.spec.model.kind is ModelKind.ENCODER
    points = []
    for cost, line in result.singles:
        c = line.candidate
        latency = c.prediction.e2e_s if encoder else (c.prediction.tpot_s or c.prediction.e2e_s)
        points.append(charts.Point(c.key, latency * 1e3, cost))
    worst = max((line.candidate.prediction.e2e_s if encoder else (line.candidate.prediction.tpot_s or 0.0))
                for line in result.lines)
    chosen = charts.Point(_short_plan(result), worst * 1e3, result.cost)
    hourly = q.economics.objective is Objective.HOURLY
    cost_label = "plan cost, USD per hour" if hourly else f"plan cost, USD ({q.economics.objective})"
    latency_label = "forward-pass latency, ms" if encoder else "TPOT, ms"
    bars = [charts.MemoryBar(f"{line.candidate.gpu.id} {line.candidate.precision.id}",
                             line.candidate.memory.weights_per_gpu / 1e9, line.candidate.memory.kv_cache_per_gpu / 1e9,
                             line.candidate.memory.activations_per_gpu / 1e9, line.candidate.memory.runtime_per_gpu / 1e9,
                             line.candidate.memory.capacity_per_gpu / 1e9) for line in result.lines]
    target = None if q.targets.latency_s is None else q.targets.latency_s * 1e3
    svgs = {
        "cost-latency": charts.cost_latency_svg(points or [chosen], chosen, cost_label, latency_label, target),
        "memory": charts.memory_svg(bars),
    }
    titles = {"cost-latency": "Cost against latency of the candidates (Pareto front, chosen plan starred)",
              "memory": "Memory use per GPU against usable capacity"}
    return svgs, titles, None


def build_review(catalog: Catalog, result: FitResult) -> Review:
    svgs, titles, missing = _charts(result)
    plan = _plan_section(result)
    plan.charts = ["memory"] if "memory" in svgs else []
    alternatives = _alternatives_section(result)
    alternatives.charts = ["cost-latency"] if "cost-latency" in svgs else []
    if missing:
        plan.paragraphs.append(missing)
    sections = [
        _question_section(result),
        plan,
        _bom_section(result),
        _pricing_section(catalog, result),
        alternatives,
        _sensitivity_section(catalog, result),
        _risks_section(catalog, result),
    ]
    title = f"Deployment plan: {result.spec.label}"
    summary = headline(result)
    if result.spec.approximate:
        summary += (f" APPROXIMATE: {result.spec.label} is a bare parameter count, so the architecture is derived from "
                    "the catalog's models; name a catalog model for exact figures.")
    return Review(title, summary, sections, svgs, titles)

