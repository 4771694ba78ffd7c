"""The design-review report's content, independent of its format.

Builds sections of paragraphs, tables and charts from a fit result: the
question as asked and as interpreted, the plan with its memory and latency
breakdowns, the alternatives, a sensitivity study (each variant re-solved,
not extrapolated), and the risks and assumptions with their sources and the
model's measured accuracy. report_markdown and report_html lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.catalog.schema import ModelKind
from planner.report import charts
from planner.catalog.architecture import count_params
from planner.catalog.load import Catalog
from planner.core.errors import NoPlanError
from planner.plan.fit import FitResult, fit
from planner.plan.question import Objective, Question, Targets
from planner.report.fit import OBJECTIVE_WORDS, assumptions, headline, headroom, line_objective, loss_cell, quality_notes
from planner.core.units import Rate, format_rate
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


def _describe_plan(result: FitResult) -> str:
    return " + ".join(f"{line.gpus}x {line.candidate.gpu.id} {line.candidate.precision.id}" for line in result.lines)


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
        ["GPU types", ", ".join(q.gpus) if q.gpus else "all in the catalog with a price"],
        ["precisions", ", ".join(q.precisions) if q.precisions else f"all with a published loss <= {q.max_quality_loss:g}% on this model (weights plus KV cache)"],
        ["limits", ", ".join(filter(None, [
            f"available {', '.join(f'{k}={v}' for k, v in q.available.items())}" if q.available else "",
            f"budget {q.budget}" if q.budget else "", f"at most {q.max_gpus} GPUs" if q.max_gpus else "",
            f"at most {q.max_power_w:,.0f} W" if q.max_power_w else ""])) or "none"],
        ["objective", OBJECTIVE_WORDS[q.economics.objective]],
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
            c.gpu.id, str(line.gpus), str(line.replicas), f"{c.tp} x {c.pp}", c.precision.id,
            "-" if encoder else c.kv_precision.id, str(c.batch), "-" if encoder else milliseconds(c.prediction.ttft_s),
            milliseconds(c.prediction.e2e_s if encoder else c.prediction.tpot_s),
            f"{(c.throughput if encoder else c.tokens_per_s) * line.replicas:,.0f}", loss_cell(result, c),
            money(line_objective(result, line), hourly),
        ])
    sec.tables.append(DocTable(["GPU", "GPUs", "replicas", "TP x PP", "weights", "KV cache", "batch/replica", "TTFT",
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


def _alternatives_section(result: FitResult) -> Section:
    q = result.question
    hourly = q.economics.objective is Objective.HOURLY
    sec = Section("Alternatives")
    rows = [[a.gpu, a.line.candidate.key.split(" ", 1)[1], str(a.line.gpus), money(a.plan_cost, hourly),
             signed_money(a.plan_cost - result.cost, hourly)]
            for a in result.alternatives]
    if rows:
        sec.tables.append(DocTable(["GPU type", "best shape", "GPUs", "cost", "vs plan"], rows, "Best plan on each other GPU type"))
    best: dict[str, tuple[float, str, int]] = {}
    for cost, line in result.singles:
        c = line.candidate
        if c.precision.id not in best or cost < best[c.precision.id][0]:
            best[c.precision.id] = (cost, c.key, line.gpus)
    prec_rows = [[p, key, str(gpus), money(cost, hourly), signed_money(cost - result.cost, hourly)]
                 for p, (cost, key, gpus) in sorted(best.items(), key=lambda kv: kv[1][0])]
    if prec_rows:
        sec.tables.append(DocTable(["weight precision", "best shape", "GPUs", "cost", "vs plan"], prec_rows,
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
    for line in result.lines:
        g = line.candidate.gpu
        if g.notes:
            sec.bullets.append(f"{g.id} catalog notes: {g.notes}")
    sec.bullets.extend(assumptions(result))
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
    chosen = charts.Point(_describe_plan(result), worst * 1e3, result.cost)
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

