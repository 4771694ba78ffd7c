"""The design-review report's content, independent of its format.

Builds sections of paragraphs, tables and charts from a fit result: the
question as asked and as interpreted, the plan with its memory and latency
breakdowns, the alternatives, a sensitivity study (each variant re-solved,
not extrapolated), and the risks and assumptions with their sources and the
model's measured accuracy. report_markdown and report_html lay it out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from planner.catalog.schema import ModelKind, PricingModel
from planner.model import error_band
from planner.report import charts, load
from planner.catalog.architecture import count_params
from planner.catalog.load import Catalog
from planner.core.errors import NoPlanError
from planner.model.quality import Rule
from planner.plan.candidates import Constraint, RejectedShape, ScoredShape
from planner.plan.candidates import DECODE
from planner.plan.fit import FitResult, Line, fit
from planner.plan.offers import Acquisition, Offer
from planner.plan.question import Objective, Question, Targets
from planner.report.fit import (
    OBJECTIVE_WORDS,
    assumptions,
    disaggregation_note,
    hardware,
    headline,
    headroom,
    line_objective,
    loss_cell,
    price_notes,
    quality_notes,
    replicas_words,
)
from planner.core.units import HOURS_PER_MONTH, Rate, format_rate
from planner.model.slo import DEFAULT_PERCENTILE, Metric
from planner.plan import verify
from planner.report.format import (
    gigabytes,
    milliseconds,
    money,
    number,
    parameters,
    percent,
    percent_change,
    signed_money,
    typed_duration,
)


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
    parallel = f"TP {c.tp}{c.expert_split()}" + (f" x PP {c.pp}" if c.pp > 1 else "")
    return f"{replicas_words(line)} of {parallel}, {c.precision.id}"


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
         f"{typed_duration(t.latency_s)} ({'one forward pass' if m.kind == 'encoder' else 'TPOT, per output token'})"],
        ["TTFT target", "-" if t.ttft_s is None else typed_duration(t.ttft_s)],
        ["end-to-end target", "-" if t.e2e_s is None else typed_duration(t.e2e_s)],
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
            hardware(line), str(line.gpus), str(line.replicas) + (f" {c.role}" if c.role else ""),
            f"{c.tp}{c.expert_split()} x {c.pp}", c.precision.id,
            "-" if encoder else c.kv_precision.id, str(c.batch),
            "-" if encoder or c.role == DECODE else milliseconds(c.prediction.ttft_s),
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
        label = f"{c.gpu.id} {c.precision.id}" + (f" TP {c.tp}{c.expert_split()}" + (f" x PP {c.pp}" if c.pp > 1 else "")
                                                   if len(result.lines) > 1 else "")
        mem_rows.append([label, gigabytes(m.weights_per_gpu)]
                        + ([] if encoder else [gigabytes(m.kv_cache_per_gpu)])
                        + [gigabytes(m.activations_per_gpu), gigabytes(m.runtime_per_gpu), gigabytes(m.per_gpu), gigabytes(m.capacity_per_gpu),
                           f"{100 * m.per_gpu / m.capacity_per_gpu:.0f}%"])
        passes = [("forward pass" if encoder else "prefill", c.prediction.prefill)]
        if c.prediction.decode is not None:
            passes.append((f"decode step (batch {c.batch})", c.prediction.decode))
        for name, x in passes:
            lat_rows.append([label, name, milliseconds(x.memory_s), milliseconds(x.compute_s),
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


def _rate(value: float) -> str:
    """Requests/s as the simulation was run: 0.462 req/s, 12.3 req/s."""
    return f"{number(value)} req/s"


def _stat(p, statistic: str) -> str:
    return "-" if p is None else milliseconds(getattr(p, statistic))


def _arrivals(result: FitResult) -> str:
    cv = result.question.burstiness
    return "Poisson arrivals" if cv == 1 else f"gamma arrivals (coefficient of variation {cv:g})"


def _scheduler_words(result: FitResult) -> str:
    s = load.settings_of(result)
    seqs = "no cap on running sequences" if s.max_num_seqs is None else f"at most {s.max_num_seqs:,} running sequences"
    return (f"{result.engine.name}'s scheduler: {seqs}, {s.max_num_batched_tokens:,} tokens per step, "
            f"{'chunked' if s.chunked_prefill else 'whole'} prefill, {s.policy.value} steps, {s.admission.value} KV admission")


def _load_section(result: FitResult, loads: list[load.ShapeLoad]) -> Section | None:
    """How the plan holds up under load: the targets at their statistic, each
    line's simulated figures at the plan's load, the headroom, each charted
    shape's capacity and limit, and where its knee is against the plan's load."""
    if not result.checks:
        return None
    q = result.question
    slos = q.targets.slos()
    sec = Section("Latency under load")
    if slos:
        defaults = [s for s in slos if s.statistic is DEFAULT_PERCENTILE]
        sec.paragraphs.append(
            "Targets: " + _names([f"{s.name} at most {typed_duration(s.seconds)}" for s in slos])
            + ", each over the requests served (the statistic: "
            + (f"{DEFAULT_PERCENTILE.value} is the default, as MLPerf's LLM server scenario caps it; give e.g. "
               "--latency p90:40ms for another)." if defaults else "as given).")
            + " Scores are steady-state means; the statistics come from simulating one replica under open-loop "
              "arrivals, where requests queue.")
    else:
        sec.paragraphs.append("No latency target was given: the figures below are what one replica serves at the "
                              "load simulated.")
    demand = q.targets.throughput is not None
    first = result.checks[0]
    sec.paragraphs.append(
        ("Verified: fit simulated each plan line's replica at the load the plan gives it (the demand shared in "
         "proportion to each replica's plannable rate)" if demand else
         "Verified: with no throughput target, fit simulated each plan line's replica at the highest rate found to "
         "meet the targets")
        + f": {first.requests:,} requests per run, {_arrivals(result)}, seed {verify.VERIFY_SEED}, continuous batching "
          f"with {_scheduler_words(result)} (planner/plan/verify.py).")
    rows = []
    for check in result.checks:
        s = check.trial.summary
        rows.append([check.key, _rate(check.rate), _stat(s.ttft, "p50"), _stat(s.ttft, "p99"), _stat(s.tpot, "p50"),
                     _stat(s.tpot, "p99"), f"{s.mean_concurrency:,.1f}",
                     "yes" if check.meets else "NO: " + "; ".join(check.trial.misses or ("the queue grows",))])
    sec.tables.append(DocTable(["plan line", "rate per replica", "p50 TTFT", "p99 TTFT", "p50 TPOT", "p99 TPOT",
                                "requests in flight", "meets every target"], rows,
                               "Each plan line's replica at the plan's load, simulated"))
    ttft_targeted = any(s.metric is Metric.TTFT for s in slos)
    worst_ttft = max((c for c in result.checks if c.trial.summary.ttft is not None),
                     key=lambda c: c.trial.summary.ttft.p99, default=None)  # type: ignore[union-attr]
    if not ttft_targeted and worst_ttft is not None and worst_ttft.trial.summary.ttft is not None:
        sec.paragraphs.append(
            f"TTFT has no target, so nothing bounds it: at the plan's load its p99 is "
            f"{milliseconds(worst_ttft.trial.summary.ttft.p99)} on {worst_ttft.key} (p50 "
            f"{milliseconds(worst_ttft.trial.summary.ttft.p50)}); give --ttft to plan for one.")
    if demand:
        source = ("--headroom, as asked" if q.headroom is not None else
                  f"the default: about the serving model's measured median "
                  f"error on a GPU type without measurements ({error_band.MEASURED_ERROR['throughput'].leave_one_gpu_out_pct:g}% "
                  f"for throughput, {error_band.MEASURED_ERROR['tpot'].leave_one_gpu_out_pct:g}% for TPOT, "
                  "leave-one-GPU-out), so that an error of that size does not push a replica past its knee")
        sec.paragraphs.append(f"Headroom: each replica is given at most its simulated capacity / {1 + result.headroom:.2f} "
                              f"({percent(100 * result.headroom)} of it kept free; {source}).")
    else:
        sec.paragraphs.append("Headroom: none is applied without a throughput target; the rate above is the most one "
                              "replica takes, so keep the offered load below it by the model's error.")
    cap_rows = []
    for sl in loads:
        role = sl.gpu_words
        knee = sl.knee
        load_rate = max((c.rate for c in sl.checks), default=None)
        if sl.simulated is not None:
            cap = sl.simulated.capacity
            capacity_cell = _rate(cap.rate) + ("" if not cap.limit.startswith("not searched") else " (not searched)")
            basis = f"fit's search, {cap.requests:,} requests per trial"
            limit = cap.limit
            in_flight = f"{cap.concurrency:,.1f}"
        else:
            passing, failing = sl.highest_passing, sl.first_failing
            capacity_cell = ("none charted" if passing is None else f"about {_rate(passing.rate)}")
            basis = (f"the chart's sweep around the steady-state estimate of {_rate(sl.base_rate)} "
                     f"(at most {load.CHART_REQUESTS} requests per point)")
            limit = ("-" if failing is None else
                     (failing.misses[0] if failing.misses else "the queue grows") + f" at {_rate(failing.rate)}")
            in_flight = "-" if passing is None else f"{passing.summary.mean_concurrency:,.1f}"
        if knee is None:
            knee_cell = f"beyond {_rate(sl.trials[-1].rate)} (the last charted)"
        else:
            knee_cell = _rate(knee.rate) + (f" ({number(knee.rate / load_rate)}x the plan's load)" if load_rate else "")
        cap_rows.append([sl.key, role, capacity_cell, limit, in_flight, knee_cell, basis])
    if cap_rows:
        sec.tables.append(DocTable(["shape", "charted as", "capacity per replica", "what limits it",
                                    "requests in flight at capacity", "knee", "from"], cap_rows,
                                   "Capacity at the targets, and the knee"))
        sec.paragraphs.append(
            f"The knee is the lowest charted rate at which the queue grows or p99 TTFT exceeds "
            f"{load.KNEE_TTFT_FACTOR:g}x its value at the lightest load charted (a presentation threshold): past it, "
            "requests wait for a free slot and TTFT climbs steeply while TPOT barely moves.")
    for sl in loads:
        knee = sl.knee
        for check in sl.checks:
            if knee is None:
                continue
            share = check.rate / knee.rate
            where = ("below the knee" if share < 0.9 else "at the knee" if share <= 1.0 else "past the knee")
            sec.bullets.append(f"{check.key}: the plan's load, {_rate(check.rate)} per replica, is {percent(100 * share)} "
                               f"of the knee at {_rate(knee.rate)}: {where}"
                               + (", where TTFT is queueing time; a TTFT target would move the plan below it."
                                  if share > 1.0 and not ttft_targeted else "."))
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


def _price_bullets(result: FitResult, notes: Footnotes) -> list[str]:
    """Each price the plan stands on: what, how much, where and when, its source a footnote."""
    bullets: list[str] = []
    seen: set[str] = set()
    tco = result.question.economics.objective is Objective.TCO
    for line in result.lines:
        offer = line.offer
        if offer.key in seen:
            continue
        seen.add(offer.key)
        if offer.price is not None:
            price = offer.price
            region = price.region + (f" ({price.region_note})" if price.region_note else "")
            bullets.append(f"Price of {offer.label}: {_unit_price(price.usd_per_hour)} per instance, "
                           f"{price.pricing.value}, {region}, as of {price.as_of} {notes.cite(price.source)}"
                           + (f"; {price.note}" if price.note else "") + ".")
        elif offer.server is not None:
            parts = "; ".join(f"{part.quantity} x {part.item} at ${part.unit_usd:,.0f} as of {part.as_of} "
                              f"{notes.cite(part.source)}" for part in offer.server.parts)
            bullets.append(f"Price of {offer.label}: ${offer.capex_usd:,.0f} ({parts}); includes {offer.server.includes}.")
        if tco:
            bullets.append(f"Power of {offer.label}: {offer.power_basis}.")
    return bullets


def _pricing_section(catalog: Catalog, result: FitResult, notes: Footnotes) -> Section:
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
            sec.bullets.append(f"{provider.name} ({provider.kind}): an instance's price covers "
                               f"{provider.billing.rstrip('.')} (as of {provider.as_of}) {notes.cite(provider.source)}"
                               + (f"; {provider.notes}" if provider.notes else "") + ".")
    # each price the plan stands on, with its date and source (owned GPUs are said below)
    sec.bullets.extend(_price_bullets(result, notes))
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


def _shapes_rejected(result: FitResult, shapes: list) -> str:
    """Why every shape of a group was rejected: the first constraint the most
    capable one broke (as fit --explain words it)."""
    closest = max(shapes, key=lambda c: (c.constraint is not Constraint.MEMORY,
                                          0 if c.constraint is Constraint.MEMORY else -c.pp, c.gpus))
    return f"{closest.constraint.value}: {closest.reason} ({closest.key})"


def _why_absent(result: FitResult, group: list, refusals: list[str]) -> str:
    """Why a GPU type or a precision has no single-shape plan, from what it
    left behind: format refusals, rejected shapes, shapes the pool dropped."""
    scored = [c for c in group if isinstance(c, ScoredShape)]
    pooled = {p.shape.key for p in result.pool}
    if not group:
        if refusals:
            return f"support matrix: {refusals[0]}" + (f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else "")
        return "no shape was tried"
    if not scored:
        return _shapes_rejected(result, [c for c in group if isinstance(c, RejectedShape)])
    if not any(c.key in pooled for c in scored):
        if result.question.targets.throughput is not None and all(c.throughput <= 0 for c in scored):
            return "throughput: no shape serves any traffic within the latency target"
        # prune_dominated (planner/plan/placement.py) compares shapes within one GPU type's pool
        return ("outclassed: another shape on the same GPU type costs no more for at least its throughput and "
                "quality, or no instance or server on offer holds it")
    return "limits: no plan of this alone fits --available, --max-gpus, the budget or the power cap"


def _absent_gpus(catalog: Catalog, result: FitResult) -> list[list[str]]:
    """GPU types considered that neither the plan nor the alternatives use, and why."""
    shown = {line.candidate.gpu.id for line in result.lines} | {a.gpu for a in result.alternatives}
    by_gpu: dict[str, list] = {}
    for c in result.candidates:
        by_gpu.setdefault(c.gpu.id, []).append(c)
    rows = []
    # a bare GPU id ruled out: dropped before any shape was tried (no price or offer)
    for what, why in result.ruled_out:
        if what in catalog.gpus and what not in shown and what not in by_gpu:
            rows.append([what, f"no price or offer: {why}"])
    for gpu in by_gpu:
        if gpu in shown:
            continue
        refusals = [f"{what.split(' ', 1)[1]}: {why}" for what, why in result.ruled_out
                    if " " in what and what.split(" ", 1)[0] == gpu and not what.split(" ", 1)[1].startswith("KV ")]
        rows.append([gpu, _why_absent(result, by_gpu[gpu], refusals)])
    return _grouped(rows)


def _absent_precisions(catalog: Catalog, result: FitResult, shown: set[str]) -> list[list[str]]:
    """Weight precisions considered with no single-shape plan, and why."""
    q = result.question
    asked = list(q.precisions) if q.precisions else list(catalog.precisions)
    by_precision: dict[str, list] = {}
    for c in result.candidates:
        by_precision.setdefault(c.precision.id, []).append(c)
    rows = []
    for pid in asked:
        if pid in shown:
            continue
        dropped = next((why for what, why in result.ruled_out if what == pid), None)
        if dropped is not None:
            # the reason's first clause; fit --explain gives the figure and its source
            first, _, rest = dropped.partition("; ")
            rows.append([pid, first + (" (fit --explain gives the figure and its source)" if rest else "")])
            continue
        group = by_precision.get(pid, [])
        refusals = [f"{what.split(' ', 1)[0]}: {why}" for what, why in result.ruled_out
                    if " " in what and what.split(" ", 1)[1] == pid]
        if not group and not refusals:
            precision = catalog.precisions.get(pid)
            twin = next((c.precision.id for c in result.candidates if precision is not None
                         and c.precision.id != pid and c.precision.bits_per_weight == precision.bits_per_weight
                         and c.precision.embeddings_bits == precision.embeddings_bits), None)
            rows.append([pid, f"same as {twin}: the same bytes, speed and quality on every GPU considered, so it is "
                              f"planned as {twin}" if twin else "no shape was tried"])
            continue
        rows.append([pid, _why_absent(result, group, refusals)])
    return _grouped(rows)


def _grouped(rows: list[list[str]]) -> list[list[str]]:
    """Rows that give the same reason, as one row naming them all."""
    by_reason: dict[str, list[str]] = {}
    for what, why in rows:
        by_reason.setdefault(why, []).append(what)
    return [[", ".join(names), why] for why, names in by_reason.items()]


def _alternatives_section(catalog: Catalog, result: FitResult) -> Section:
    q = result.question
    hourly = q.economics.objective is Objective.HOURLY
    sec = Section("Alternatives")
    rows = [[a.gpu, hardware(a.line), a.line.candidate.key.split(" ", 1)[1], str(a.line.gpus), money(a.plan_cost, hourly),
             signed_money(a.plan_cost - result.cost, hourly)]
            for a in result.alternatives]
    if rows:
        sec.tables.append(DocTable(["GPU type", "hardware", "best shape", "GPUs", "cost", "vs plan"], rows,
                                   "Best plan on each other GPU type"))
    gpu_absent = _absent_gpus(catalog, result)
    if gpu_absent:
        sec.tables.append(DocTable(["GPU type", "why it has no plan"], gpu_absent,
                                   "GPU types considered with no plan of their own, and why"))
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
    precision_absent = _absent_precisions(catalog, result, set(best))
    if precision_absent:
        sec.tables.append(DocTable(["weight precision", "why it has no plan"], precision_absent,
                                   "Weight precisions with no single-shape plan, and why"))
    if not rows and not prec_rows:
        sec.paragraphs.append("No other GPU type or precision can serve the question alone within the limits.")
    pools = disaggregation_note(result, brief=True)
    if pools:
        sec.paragraphs.append(pools)
    return sec


def _variant(catalog: Catalog, q: Question, name: str, **change) -> Variant:
    try:
        other = fit(catalog, q.replace(top=1, **change), relaxations=False)
    except NoPlanError as exc:
        return Variant(name, None, exc.message)
    return Variant(name, other.cost, _describe_plan(other))


@dataclass(frozen=True)
class Variant:
    """The question changed one way and solved again: its plan, or why none."""

    name: str
    cost: float | None
    text: str  # the plan in words, or why there is no plan


def _variants(catalog: Catalog, result: FitResult) -> tuple[list[Variant], str | None]:
    """The sensitivity study: each variant solved from scratch, not
    extrapolated; and a note when traffic cannot be varied."""
    q, t = result.question, result.question.targets
    variants: list[Variant] = []

    def scaled(factor: float) -> Targets:
        return t.replace(
            latency_s=None if t.latency_s is None else t.latency_s * factor,
            ttft_s=None if t.ttft_s is None else t.ttft_s * factor,
            e2e_s=None if t.e2e_s is None else t.e2e_s * factor,
        )

    if any(v is not None for v in (t.latency_s, t.ttft_s, t.e2e_s)):
        variants.append(_variant(catalog, q, "latency targets halved", targets=scaled(0.5)))
        variants.append(_variant(catalog, q, "latency targets doubled", targets=scaled(2.0)))
    variants.append(_variant(catalog, q, CONTEXT_DOUBLED, input_tokens=q.input_tokens * 2,
                             output_tokens=q.output_tokens * 2))
    note = None
    if t.throughput is not None:
        doubled = Rate(t.throughput.per_second * 2, t.throughput.kind)
        variants.append(_variant(catalog, q, TRAFFIC_DOUBLED, targets=t.replace(throughput=doubled)))
    else:
        note = "No throughput target was given, so traffic is not varied: one replica serves the question."
    return variants, note


CONTEXT_DOUBLED = "context doubled (input and output x2)"
TRAFFIC_DOUBLED = "traffic doubled"


def _sensitivity_section(result: FitResult, variants: list[Variant], note: str | None) -> Section:
    hourly = result.question.economics.objective is Objective.HOURLY
    sec = Section("Sensitivity", paragraphs=["Each variant is solved again from scratch, not extrapolated."])
    if note:
        sec.paragraphs.append(note)
    rows = [["as asked", _describe_plan(result), money(result.cost, hourly), ""]]
    for v in variants:
        if v.cost is None:
            rows.append([v.name, "no plan (see below)", "-", "-"])
            sec.paragraphs.append(f"{v.name}: {v.text}.")
        else:
            rows.append([v.name, v.text, money(v.cost, hourly), signed_money(v.cost - result.cost, hourly)])
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


class Footnotes:
    """Sources cited by number: text carries a placeholder per source while
    the review is built, and ``number`` turns them into [1], [2] ... in order
    of first appearance, listing them in a Sources section."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def cite(self, source: str) -> str:
        source = source.strip().rstrip(".")
        if source not in self.sources:
            self.sources.append(source)
        return f"\x00{self.sources.index(source)}\x00"

    def number(self, sections: list[Section]) -> Section | None:
        order: dict[int, int] = {}  # placeholder -> footnote number

        def renumber(text: str) -> str:
            def one(match: re.Match[str]) -> str:
                return f"[{order.setdefault(int(match[1]), len(order) + 1)}]"

            return re.sub("\x00(\\d+)\x00", one, text)

        for sec in sections:
            sec.paragraphs = [renumber(p) for p in sec.paragraphs]
            sec.bullets = [renumber(b) for b in sec.bullets]
            for table in sec.tables:
                table.rows = [[renumber(cell) for cell in row] for row in table.rows]
        if not order:
            return None
        by_number = sorted(order.items(), key=lambda kv: kv[1])
        return Section("Sources", paragraphs=["Numbered as cited above."],
                       bullets=[f"[{n}] {self.sources[i]}." for i, n in by_number])


@dataclass(frozen=True)
class Risk:
    """One risk of the plan in front of the reader, with the figure behind it.
    ``flagged`` risks are the ones a reviewer must weigh (the decision names
    them); the rest say why a usual risk does not bite here."""

    flagged: bool
    short: str  # a few words for the decision: "1% TPOT headroom against a 6.2% error"
    text: str


# A price older than this many months is called out: cloud GPU prices moved
# by tens of percent within a year in the price book's sources.
PRICE_AGE_MONTHS = 6
MEMORY_PRESSURE = 0.95  # share of usable memory per GPU above which memory is a risk


def _pct(value: float) -> str:
    """A share in percent, with a decimal where it is small: 0.2%, 6.2%, 49%."""
    return f"{value:.1f}%" if abs(value) < 10 else f"{value:.0f}%"


def _measured_gpus(catalog: Catalog) -> set[str]:
    """GPU types with at least one published measurement (their predictions
    carry the leave-one-out error; others the leave-one-GPU-out error)."""
    from planner.model.validation import Case, bundled_measurements, read_rows, to_case

    path = bundled_measurements()
    if path is None:
        return set()
    ids = set()
    for index, row in enumerate(read_rows(path), start=2):
        case = to_case(catalog, index, row)
        if isinstance(case, Case):
            ids.add(case.deployment.gpu.id)
    return ids


def _headroom_risks(result: FitResult, measured: set[str], notes: Footnotes) -> list[Risk]:
    encoder = result.spec.model.kind is ModelKind.ENCODER
    unmeasured = sorted({line.candidate.gpu.id for line in result.lines} - measured)
    risks = []
    demand = result.question.targets.throughput is not None
    for row in headroom(result):
        # a simulated row names its statistic and metric ("p99 TPOT"); the error is the metric's
        metric = row["target"].split(" ", 1)[1] if row.get("simulated") else row["target"]
        kinds = {"TPOT": ["tpot"], "TTFT": ["ttft"], "e2e latency": ["ttft", "tpot"], "e2e": ["ttft", "tpot"],
                 "throughput": ["throughput"]}.get(metric, ["encoder"])
        if encoder:
            kinds = ["encoder"]
        # an end-to-end latency is TTFT plus the decode steps: the wider of their errors applies
        error, which = max(error_band.band(kind, not unmeasured) for kind in kinds)
        what = error_band.MEASURED_ERROR[kinds[0]].prediction if len(kinds) == 1 else "TTFT and TPOT"
        space = row["headroom_pct"]
        figure = (f"{row['target']} {number(row['predicted'])} {row['unit']} against {number(row['limit'])} {row['unit']} "
                  f"leaves {_pct(space)} headroom")
        basis = (f"the {_pct(error)} median error measured for {what} ({which}"
                 + (f": no measurement is on {_names(unmeasured)}" if unmeasured and which != "measured" else "")
                 + f") {notes.cite(error_band.SOURCE)}")
        check = _worst_check(result, row["target"]) if row.get("simulated") else None
        if check is not None and not demand:
            # no demand: the replica was simulated at the most it takes, so the
            # figure sits at its target by construction; the risk is the load
            risks.append(Risk(False, "", f"Headroom: with no throughput target, {check.key} was simulated at the most "
                                         f"it takes, {_rate(check.rate)} per replica, where {figure}, "
                                         f"{'more' if space >= error else 'less'} than {basis}: offer one replica at most "
                                         f"{_rate(check.rate / (1 + error / 100))} so that an error of that size stays "
                                         "inside the target."))
            continue
        if check is not None:
            basis += (f"; simulated at the plan's load, {_rate(check.rate)} per replica on {check.key}, with "
                      f"{check.requests:,} requests")
        if space < error:
            risks.append(Risk(True, f"{_pct(space)} {row['target']} headroom against a model error of {_pct(error)}",
                              f"Headroom: {figure}, less than {basis}; half the measured predictions erred by more, "
                              "so the target may be missed: measure one replica before committing, or plan against "
                              f"a target {_pct(error)} tighter."))
        else:
            risks.append(Risk(False, "", f"Headroom: {figure}, more than {basis}."))
    return risks


def _worst_check(result: FitResult, target: str) -> verify.LineCheck | None:
    """The plan line whose simulated figure for ``target`` ("p99 TPOT") is the highest."""
    slo = next((s for s in result.question.targets.slos() if s.name == target), None)
    if slo is None:
        return None
    scored = [(v, c) for c in result.checks if (v := slo.observed(c.trial.summary)) is not None]
    return max(scored, key=lambda vc: vc[0])[1] if scored else None


def _memory_risks(result: FitResult, notes: Footnotes) -> list[Risk]:
    encoder = result.spec.model.kind is ModelKind.ENCODER
    error, _ = error_band.band("memory", True)
    risks = []
    seen = set()
    for line in result.lines:
        c, m = line.candidate, line.candidate.memory
        label = f"{c.gpu.id} {c.precision.id} (TP {c.tp}{c.expert_split()}" + (f" x PP {c.pp}" if c.pp > 1 else "") + ")"
        if label in seen:
            continue
        seen.add(label)
        used = m.per_gpu / m.capacity_per_gpu
        figure = (f"{label} uses {gigabytes(m.per_gpu)} of {gigabytes(m.capacity_per_gpu)} usable per GPU "
                  f"({100 * used:.0f}%), {gigabytes(max(m.capacity_per_gpu - m.per_gpu, 0.0))} spare; the memory "
                  f"model's measured median error is {_pct(error)} {notes.cite(error_band.SOURCE)}")
        if used >= MEMORY_PRESSURE:
            room = "activations" if encoder else "the KV cache"
            risks.append(Risk(True, f"{100 * used:.0f}% memory use on {c.gpu.id}",
                              f"Memory pressure: {figure}. A footprint larger than predicted leaves less room for "
                              f"{room}: fewer sequences fit than the batch of {c.batch} planned per replica, and "
                              "throughput falls with them."))
        else:
            risks.append(Risk(False, "", f"Memory pressure: {figure}; room to spare."))
    return risks


def _unit_words(line: Line) -> str:
    """One solver unit of a line as a buyer names it: an instance, a server, or an owned replica's GPUs."""
    if line.offer.acquisition is Acquisition.OWNED:
        return f"owned replica ({line.placement.gpus_per_unit} x {line.offer.gpu.id})"
    return line.offer.label


def _failure_risks(result: FitResult, spare: Variant | None) -> list[Risk]:
    q = result.question
    hourly = q.economics.objective is Objective.HOURLY
    if q.redundancy:
        return [Risk(False, "", f"Failures: N+{q.redundancy} redundancy; the plan still serves its throughput with "
                                f"any {q.redundancy} unit(s) down.")]
    replicas = sum(line.replicas for line in result.lines)
    units = sum(line.instances for line in result.lines)
    fix = ""
    if spare is not None:
        fix = (f" One spare (--redundancy 1) costs {signed_money(spare.cost - result.cost, hourly)} "
               f"({spare.text})." if spare.cost is not None else f" One spare (--redundancy 1): {spare.text}.")
    if replicas == 1:
        return [Risk(True, "a single replica", "Single point of failure: one replica serves all traffic; while it "
                     "is down, nothing is served." + fix)]
    if units == 1:
        return [Risk(True, f"one {'instance' if hourly else 'unit'} holding all {replicas} replicas",
                     f"Single point of failure: one unit ({hardware(result.lines[0])}) holds all {replicas} replicas; "
                     "while it is down, nothing is served." + fix)]
    biggest = max(result.lines, key=lambda line: line.placement.throughput)
    left = result.throughput - biggest.placement.throughput
    t = q.targets.throughput
    speed = "samples/s" if result.spec.model.kind is ModelKind.ENCODER else "tokens/s"
    if t is not None and left < t.per_second * (1 - 1e-9):
        return [Risk(True, "no spare unit", f"No redundancy (N+0): losing one {_unit_words(biggest)} leaves "
                     f"{left:,.0f} {speed} against the {t.per_second:,.0f} asked ({_pct(100 * (left / t.per_second - 1))})."
                     + fix)]
    return [Risk(False, "", f"No redundancy (N+0), across {units} units and {replicas} replicas: losing the largest "
                 f"unit leaves {left:,.0f} {speed}" + (f", still above the {t.per_second:,.0f} asked." if t else ".") + fix)]


def _quality_risks(result: FitResult, notes: Footnotes) -> list[Risk]:
    encoder = result.spec.model.kind is ModelKind.ENCODER
    risks, lossless = [], []
    seen = set()
    for line in result.lines:
        quality = result.quality_of(line.candidate)
        for part, figure in [("weights", quality.weights)] + ([] if encoder else [("KV cache", quality.kv_cache)]):
            name = f"{figure.precision} {part}"
            if name in seen:
                continue
            seen.add(name)
            if figure.loss_pct is None:
                risks.append(Risk(True, f"unknown quality of {name}", f"Quality unknown: no published figure says what "
                                  f"{name} cost {result.spec.label}; it is in the plan because it was named."))
            elif figure.rule in (Rule.NATIVE, Rule.BASELINE, Rule.UPCAST):
                lossless.append(name)
            else:
                method = f", {figure.method}" if figure.method else ""
                risks.append(Risk(figure.flagged, f"{figure.loss_pct:g}% quality loss ({name}, not measured on this model)",
                                  f"Quality loss: {name} cost {result.spec.label} {figure.loss_pct:g}% ({figure.label}"
                                  f"{method}; {figure.metric}) {notes.cite(figure.source)}"
                                  + ("; the figure was not measured on this model." if figure.flagged else ".")))
    if lossless:
        risks.append(Risk(False, "", f"No quality loss from {_names(lossless)}: the release's own or a 16-bit format."))
    return risks


def _months(as_of: str, today: date) -> int:
    """Whole months from an as_of date (YYYY, YYYY-MM or YYYY-MM-DD) to today."""
    parts = [int(x) for x in as_of.split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else 1
    return (today.year - year) * 12 + today.month - month


def _price_risks(result: FitResult, today: date, notes: Footnotes) -> list[Risk]:
    dated: list[tuple[str, str, str]] = []  # (what, as_of, source)
    seen = set()
    for line in result.lines:
        offer = line.offer
        if offer.key in seen:
            continue
        seen.add(offer.key)
        if offer.price is not None:
            dated.append((f"{offer.label} at {_unit_price(offer.price.usd_per_hour)}", offer.price.as_of, offer.price.source))
        elif offer.server is not None:
            dated.extend((f"{offer.label}: {part.item}", part.as_of, part.source) for part in offer.server.parts)
    risks = []
    if dated:
        old = [(what, as_of) for what, as_of, _ in dated if _months(as_of, today) > PRICE_AGE_MONTHS]
        listing = "; ".join(f"{what} as of {as_of} {notes.cite(source)}" for what, as_of, source in dated)
        if old:
            count = "the price is" if len(dated) == 1 else f"{len(old)} of {len(dated)} prices are"
            risks.append(Risk(True, f"prices older than {PRICE_AGE_MONTHS} months",
                              f"Price age: {count} more than {PRICE_AGE_MONTHS} months old on {today.isoformat()} ({listing}): get current quotes before ordering."))
        else:
            risks.append(Risk(False, "", f"Price age: every price is at most {PRICE_AGE_MONTHS} months old on "
                                         f"{today.isoformat()} ({listing})."))
    providers = {line.offer.provider.id: line.offer.provider for line in result.lines if line.offer.provider is not None}
    for provider in providers.values():
        if provider.kind == "marketplace":
            risks.append(Risk(True, f"{provider.name} is a marketplace",
                              f"Marketplace: {provider.name}'s hosts set its prices and capacity, which can change or "
                              f"vanish between quote and order {notes.cite(f'{provider.source}, as of {provider.as_of}')}."))
    if len(providers) > 1:
        risks.append(Risk(False, "", f"Providers: the plan rents from {len(providers)} providers "
                                     f"({_names([p.name for p in providers.values()])}): separate accounts, quotas "
                                     "and networks; traffic between them crosses the public internet."))
    return risks


def _consumer_risks(result: FitResult, notes: Footnotes) -> list[Risk]:
    consumer = sorted({line.candidate.gpu.id for line in result.lines if line.candidate.gpu.segment == "consumer"})
    if not consumer:
        return []
    gpus = sum(line.gpus for line in result.lines if line.candidate.gpu.segment == "consumer")
    return [Risk(True, f"consumer cards ({_names(consumer)})",
                 f"Consumer parts: {gpus} of {result.gpus} GPUs are consumer cards ({_names(consumer)}); NVIDIA's "
                 "GeForce driver licence does not allow datacenter deployment, and ECC and peer-to-peer transfers are "
                 "limited or absent (Pricing assumptions) "
                 + notes.cite('references/procurement/SOURCES.md, "Consumer GPU licence terms"') + ".")]


def _growth_risks(result: FitResult, variants: list[Variant]) -> list[Risk]:
    hourly = result.question.economics.objective is Objective.HOURLY
    risks = []
    for v in variants:
        if v.name not in (TRAFFIC_DOUBLED, CONTEXT_DOUBLED):
            continue
        what = "Traffic doubled" if v.name == TRAFFIC_DOUBLED else "Context doubled (input and output x2)"
        if v.cost is None:
            risks.append(Risk(True, f"no plan for {v.name.split(' (')[0]}", f"Growth: {what}: no plan within the "
                              f"limits ({v.text})."))
        else:
            change = v.cost - result.cost
            share = f", {percent_change(100 * change / result.cost)}" if result.cost > 0 else ""
            risks.append(Risk(False, "", f"Growth: {what} costs {money(v.cost, hourly)} "
                                         f"({signed_money(change, hourly)}{share}): {v.text}."))
    return risks


def _risks(catalog: Catalog, result: FitResult, variants: list[Variant], spare: Variant | None, today: date,
           notes: Footnotes) -> list[Risk]:
    """Every risk, the ones to weigh first; no text twice."""
    risks: list[Risk] = []
    if result.spec.approximate:
        risks.append(Risk(True, "an approximate architecture",
                          f"Approximate model: {result.spec.label} is a bare parameter count, so its architecture is "
                          "derived from the catalog's models; name a catalog model for exact figures."))
    risks += _headroom_risks(result, _measured_gpus(catalog), notes)
    risks += _memory_risks(result, notes)
    risks += _failure_risks(result, spare)
    risks += _quality_risks(result, notes)
    risks += _price_risks(result, today, notes)
    risks += _consumer_risks(result, notes)
    risks += _growth_risks(result, variants)
    unique: dict[str, Risk] = {}
    for risk in risks:
        unique.setdefault(risk.text, risk)
    ordered = list(unique.values())
    return [r for r in ordered if r.flagged] + [r for r in ordered if not r.flagged]


def _risks_section(risks: list[Risk]) -> Section:
    flagged = sum(r.flagged for r in risks)
    lead = (f"{flagged} risk{'s' if flagged != 1 else ''} to weigh, first; then the usual risks and why they do not "
            "bite here. Each with the figure behind it; sources are numbered under Sources."
            if flagged else "No risk stands out; each usual risk below with the figure that says so. Sources are "
            "numbered under Sources.")
    return Section("Risks", paragraphs=[lead],
                   bullets=[("RISK: " if r.flagged else "") + r.text for r in risks])


def _quality_bullets(result: FitResult, notes: Footnotes) -> list[str]:
    """One bullet per format the plan uses: its figure on this model and how it
    was chosen, the measurement's source a footnote."""
    encoder = result.spec.model.kind is ModelKind.ENCODER
    bullets: list[str] = []
    seen: set[tuple[str, str]] = set()
    for line in result.lines:
        quality = result.quality_of(line.candidate)
        for part, figure in [("weights", quality.weights)] + ([] if encoder else [("KV cache", quality.kv_cache)]):
            if (part, figure.precision) in seen:
                continue
            seen.add((part, figure.precision))
            if figure.rule in (Rule.NATIVE, Rule.BASELINE, Rule.UPCAST):  # nothing measured, nothing to cite
                text = f"0% ({figure.label}: {figure.metric})"
            else:
                loss = "unknown" if figure.loss_pct is None else f"{figure.loss_pct:g}%"
                method = f", {figure.method}" if figure.method else ""
                text = f"{loss} ({figure.label}{method}; {figure.metric}) {notes.cite(figure.source)}"
            bullets.append(f"Quality of {figure.precision} {part} on {result.spec.label}: {text}.")
    return bullets


def _efficiency_bullet(result: FitResult, line: Line, notes: Footnotes) -> str:
    """The engine's fitted factors on one GPU, with how many rows they rest
    on and which were borrowed, the fit itself a footnote."""
    f = line.candidate.factors
    fitted_on, *rest = result.engine.fitted_on.split(";")
    borrowed = [part.split(" not constrained")[0].strip() for part in rest if "not constrained" in part]
    lender = next((part.rsplit(":", 1)[1].strip().removesuffix("'s") for part in rest if "not constrained" in part), "")
    basis = fitted_on.split(" in ")[0].strip()
    return (f"Fitted efficiency on {line.candidate.gpu.id} with {result.engine.name}: {f.bandwidth:.0%} of peak bandwidth, "
            f"{f.compute:.0%} of 16-bit and {f.compute_8bit:.0%} of 8-bit tensor peak, {f.decode_overhead_ms:g} ms per "
            f"decode step, {f.prefill_overhead_ms:g} ms per prefill; fitted on {basis}"
            + (f", with {_names(borrowed)} taken from {lender}'s fit (too few rows constrain them)" if borrowed else "")
            + f" {notes.cite('catalog/engines-fitted.yaml, written by `python benchmarks/fit_efficiency.py` from ' + result.engine.fitted_on.split(';')[0].strip())}.")


def _assumptions_section(catalog: Catalog, result: FitResult, notes: Footnotes) -> Section:
    sec = Section("Assumptions")
    bullets: list[str] = []
    # each format's figure on this model; '*' marks one borrowed or assumed (planner/model/quality.py)
    bullets.extend(n for n in quality_notes(result) if not n.startswith("Quality of "))
    bullets.extend(_quality_bullets(result, notes))
    for line in result.lines:
        bullets.append(_efficiency_bullet(result, line, notes))
    for gpu in {line.candidate.gpu.id: line.candidate.gpu for line in result.lines}.values():
        if gpu.notes:
            bullets.append(f"Catalog note on {gpu.id}: {gpu.notes}")
    moved = set(price_notes(result))
    bullets.extend(a for a in assumptions(result)
                   if a not in moved and not a.startswith(PRICING_NOTE_STARTS + ("Engine:", "APPROXIMATE")))
    sec.bullets = list(dict.fromkeys(bullets))  # each said once, in order
    rows, note = _accuracy_rows(catalog, result.engine.id)
    sec.paragraphs.append(note)
    if rows:
        sec.tables.append(DocTable(["metric group", "rows", "median error", "bias", "within 25%"], rows,
                                   "Measured accuracy of the performance model"))
    return sec


def _unit_noun(result: FitResult) -> str:
    kinds = {line.offer.acquisition for line in result.lines}
    return "instance" if kinds == {Acquisition.RENT} else "server" if kinds == {Acquisition.BUY} else "unit"


def _decision(result: FitResult, risks: list[Risk]) -> str:
    """The decision and why, in three sentences: what, why this over the next
    option, and what to weigh."""
    hourly = result.question.economics.objective is Objective.HOURLY
    if len(result.lines) == 1:
        what = headline(result).split(" Meets ")[0].split(" No target was given")[0]
    else:  # a mixed plan's lines are in The plan; here, its size and parts
        units = sum(line.instances for line in result.lines)
        providers = {line.offer.provider.id for line in result.lines if line.offer.provider is not None}
        what = (f"Cheapest plan for {result.spec.label}: {len(result.lines)} lines, {result.gpus} GPUs in {units} "
                f"{_unit_noun(result)}{'s' if units != 1 else ''}"
                + (f" from {len(providers)} providers" if len(providers) > 1 else "")
                + f" ({_short_plan(result)}), {money(result.cost, hourly)}.")
    meets = [f"{r['target']} {number(r['predicted'])} {r['unit']} against {number(r['limit'])} {r['unit']}"
             for r in headroom(result)]
    why = f"It meets {_names(meets)}" if meets else "No target was given, so it is the cheapest deployment that fits"
    if result.alternatives:
        alt = result.alternatives[0]
        gap = alt.plan_cost - result.cost
        why += (f", and the best plan on another GPU type ({hardware(alt.line)}) costs {money(gap, hourly)} more."
                if gap > 0 else f"; the best plan on another GPU type ({hardware(alt.line)}) costs the same.")
    else:
        why += "; no other GPU type can serve the question alone within the limits."
    flagged = [r.short for r in risks if r.flagged]
    weigh = (f"Weigh before signing: {_names(flagged[:3])}" + (f" (and {len(flagged) - 3} more under Risks)."
                                                                if len(flagged) > 3 else ".")
             if flagged else "No risk stands out: headroom exceeds the model's measured error and memory has room.")
    return f"{what} {why} {weigh}"


def _load_chart(result: FitResult, loads: list[load.ShapeLoad]) -> tuple[str, str] | None:
    """p99 (or the targets' statistic) TTFT and TPOT against the request rate
    per replica, for the charted shapes (planner/report/load.py), and its caption."""
    if not loads:
        return None
    slos = load.panel_slos(result)
    names = ["TTFT", "TPOT", "e2e"]
    panels = [charts.LoadPanel(f"{load.panel_statistic(slo).value} {names[i]}",
                               None if slo is None else slo.seconds * 1e3) for i, slo in enumerate(slos)]
    metric = [lambda s: s.ttft, lambda s: s.tpot, lambda s: s.e2e]

    def figure(summary, i: int) -> float | None:
        p = metric[i](summary)
        return None if p is None else getattr(p, load.panel_statistic(slos[i]).value) * 1e3

    curves = []
    for sl in loads:
        c = sl.shape
        label = (f"{c.gpu.id} {c.precision.id} TP {c.tp}{c.expert_split()}" + (f" x PP {c.pp}" if c.pp > 1 else "")
                 + (" (plan)" if sl.chosen else " (alt.)"))
        top = max(sl.checks, key=lambda check: check.rate, default=None)
        curves.append(charts.LoadCurve(
            label, sl.chosen, tuple(t.rate for t in sl.trials),
            tuple(tuple(figure(t.summary, i) for t in sl.trials) for i in range(len(panels))),
            tuple(t.stable for t in sl.trials),
            None if top is None else top.rate,
            () if top is None else tuple(figure(top.trial.summary, i) for i in range(len(panels)))))
    counts = sorted({n for sl in loads for n in sl.requests})
    fewest = counts[0] if counts else load.LIGHT_REQUESTS
    title = (" and ".join(p.name for p in panels) + " against request rate per replica, for the chosen shape"
             + ("s" if sum(sl.chosen for sl in loads) > 1 else "")
             + (" and the cheapest alternatives on other GPU types" if any(not sl.chosen for sl in loads) else "")
             + f": rates from 10% to 120% of each shape's simulated capacity (an alternative fit never simulated: its "
               f"steady-state estimate), {load.CHART_REQUESTS} simulated requests per point from half of it up and "
               f"down to {fewest} below, {_arrivals(result)}, seed {verify.VERIFY_SEED}; a curve ends where the queue "
               "grows (a cross). The stars are the plan's load as verified with "
               f"{result.checks[0].requests:,} requests (Latency under load).")
    return charts.latency_load_svg(panels, curves), title


def _charts(result: FitResult, loads: list[load.ShapeLoad] | None = None) -> tuple[dict[str, str], dict[str, str], str | None]:
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
    hourly = q.economics.objective is Objective.HOURLY
    # a mixed plan's parts are in the caption; the chart names it by its size and cost
    chosen = charts.Point(_short_plan(result) if len(result.lines) == 1 else
                          f"{len(result.lines)} lines, {money(result.cost, hourly)}", worst * 1e3, result.cost)
    cost_label = "plan cost, USD per hour" if hourly else f"plan cost, USD ({q.economics.objective})"
    latency_label = "forward-pass latency, ms" if encoder else "TPOT, ms"
    many = len(result.lines) > 1
    bars = [charts.MemoryBar(f"{'line ' + str(i) + ': ' if many else ''}{line.candidate.gpu.id} {line.candidate.precision.id} "
                             f"TP {line.candidate.tp}{line.candidate.expert_split()}",
                             line.candidate.memory.weights_per_gpu / 1e9, line.candidate.memory.kv_cache_per_gpu / 1e9,
                             line.candidate.memory.activations_per_gpu / 1e9, line.candidate.memory.runtime_per_gpu / 1e9,
                             line.candidate.memory.capacity_per_gpu / 1e9) for i, line in enumerate(result.lines, start=1)]
    target = None if q.targets.latency_s is None else q.targets.latency_s * 1e3
    svgs = {
        "cost-latency": charts.cost_latency_svg(points or [chosen], chosen, cost_label, latency_label, target,
                                                "latency" if encoder else "TPOT"),
        "memory": charts.memory_svg(bars),
    }
    titles = {"cost-latency": "Cost against latency of the candidates: the Pareto front, and the chosen plan starred "
                              f"({_short_plan(result)})",
              "memory": "Memory use per GPU against usable capacity"}
    drawn = _load_chart(result, loads or [])
    if drawn is not None:
        svgs["latency-load"], titles["latency-load"] = drawn
    return svgs, titles, None


def build_review(catalog: Catalog, result: FitResult, today: date | None = None) -> Review:
    """The review of one fit result. ``today`` dates the price-age check
    (default: today in UTC, or SOURCE_DATE_EPOCH's date when set)."""
    from planner.report.csv import generated_date

    today = today or generated_date()
    notes = Footnotes()
    loads = load.shape_loads(result) if charts.available() else []
    svgs, titles, missing = _charts(result, loads)
    plan = _plan_section(result)
    under_load = _load_section(result, loads)
    if under_load is not None:
        under_load.charts = ["latency-load"] if "latency-load" in svgs else []
    plan.charts = ["memory"] if "memory" in svgs else []
    alternatives = _alternatives_section(catalog, result)
    alternatives.charts = ["cost-latency"] if "cost-latency" in svgs else []
    if missing:
        plan.paragraphs.append(missing)
    variants, traffic_note = _variants(catalog, result)
    spare = None
    if not result.question.redundancy:
        spare = _variant(catalog, result.question, SPARE, redundancy=1)
        variants.append(spare)
    risks = _risks(catalog, result, variants, spare, today, notes)
    sections = [
        _question_section(result),
        plan,
        *([under_load] if under_load is not None else []),
        _risks_section(risks),
        _bom_section(result),
        _pricing_section(catalog, result, notes),
        alternatives,
        _sensitivity_section(result, variants, traffic_note),
        _assumptions_section(catalog, result, notes),
    ]
    sources = notes.number(sections)
    if sources is not None:
        sections.append(sources)
    title = f"Deployment plan: {result.spec.label}"
    return Review(title, _decision(result, risks), sections, svgs, titles)


SPARE = "one spare unit (--redundancy 1)"
