"""Lay out a `fit` result: the decision first, the table that backs it, then
what was assumed and what the alternatives would cost. Computes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.text import Text

from planner.catalog.schema import ModelKind
from planner.plan.candidates import Constraint, DeploymentShape, RejectedShape
from planner.plan.candidates import DECODE, PREFILL
from planner.plan.fit import FitResult, Line, line_prediction
from planner.plan.offers import Acquisition
from planner.model.predict import prediction_dict
from planner.model.slo import DEFAULT_PERCENTILE, Metric, Slo
from planner.core.units import HOURS_PER_MONTH, format_rate
from planner.plan.question import DEFAULT_MAX_QUALITY_LOSS, Objective
from planner.report.format import (TextTable, against, duration, durations_against, money, percent, signed_money,
                                   significant, typed_duration)
from planner.report.layout import laid_out

OBJECTIVE_WORDS = {
    Objective.HOURLY: "rent per hour",
    Objective.CAPEX: "purchase price of the servers",
    Objective.TCO: "purchase price of the servers plus their energy and colocation",
}


# references/procurement/SOURCES.md, "Consumer GPU licence terms".
CONSUMER_NOTE = ("CONSUMER CARDS: NVIDIA's GeForce driver licence, section 2.1.3, reads \"No Datacenter Deployment. "
                 "The SOFTWARE is not licensed for datacenter deployment\" (clause dated November 2017); "
                 "GeForce RTX 40-series cards do no peer-to-peer transfers with NVIDIA's driver, and ECC is off by "
                 "default where it exists at all (references/procurement/SOURCES.md).")


def typed(value: float) -> str:
    """A value the user typed or the catalog holds, as ``g`` shows it but never
    in exponent form (six significant figures)."""
    return significant(value, 6)


def hardware(line: Line) -> str:
    """What a plan line rents, buys or uses, as a buyer reads it."""
    offer = line.offer
    if offer.acquisition is Acquisition.OWNED:
        return f"{line.gpus} x {offer.gpu.id} (owned)"
    if offer.acquisition is Acquisition.BUY:
        return f"{line.instances} x {offer.label} ({offer.gpus} x {offer.gpu.id} each)"
    assert offer.price is not None
    return (f"{line.instances} x {offer.label} ({offer.gpus} x {offer.gpu.id} each; "
            f"{offer.price.pricing.value}, {offer.price.region})")


def unit_name(line: Line) -> str:
    """A plan table's short hardware cell: '1 x g4dn.xlarge', '1 x dgx-h100', 'owned'."""
    offer = line.offer
    if offer.acquisition is Acquisition.OWNED:
        return "owned"
    name = offer.instance.name if offer.instance is not None else offer.server.id if offer.server is not None else offer.label
    return f"{line.instances} x {name}"


def price_notes(result: FitResult) -> list[str]:
    """Each price the plan stands on: what, how much, where, when, from where."""
    notes: list[str] = []
    seen: set[str] = set()
    for line in result.lines:
        offer = line.offer
        if offer.key in seen:
            continue
        seen.add(offer.key)
        if offer.price is not None:
            price = offer.price
            region = price.region + (f" ({price.region_note})" if price.region_note else "")
            notes.append(f"Price of {offer.label}: ${significant(price.usd_per_hour, 4)}/h per instance, {price.pricing.value}, "
                         f"{region}, as of {price.as_of} ({price.source})"
                         + (f"; {price.note}" if price.note else "") + ".")
        elif offer.server is not None:
            parts = "; ".join(f"{part.quantity} x {part.item} at ${part.unit_usd:,.0f} (as of {part.as_of}, {part.source})"
                              for part in offer.server.parts)
            notes.append(f"Price of {offer.label}: ${offer.capex_usd:,.0f} ({parts}); includes {offer.server.includes}.")
        else:
            notes.append(f"{offer.gpu.id}: owned, so no rent or purchase is counted"
                         + (" (only its energy and colocation, in TCO)" if result.question.economics.objective is Objective.TCO else "")
                         + ".")
        if result.question.economics.objective is Objective.TCO:
            notes.append(f"Power of {offer.label}: {offer.power_basis}.")
    return notes


def _worst(result: FitResult, attr: str) -> float | None:
    values = [getattr(line.candidate.prediction, attr) for line in result.lines]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _simulated_worst(result: FitResult, slo: Slo) -> float | None:
    """The worst line's statistic for ``slo`` at the plan's load: simulated
    for whole replicas and decode workers (these answer for TPOT alone);
    for prefill workers, their TTFT bound at the target's statistic
    (planner/plan/disaggregation.py: a queueing formula, not simulated)."""
    roles = {line.candidate.key: line.candidate.role for line in result.lines}
    values = [v for check in result.checks
              if (roles.get(check.key) != DECODE or slo.metric is Metric.TPOT)
              and (v := slo.observed(check.trial.summary)) is not None]
    if slo.metric is Metric.TTFT:
        values += [line.candidate.prediction.ttft_s for line in result.lines if line.candidate.role == PREFILL]
    return max(values) if values else None


def headroom(result: FitResult) -> list[dict[str, Any]]:
    """Each target, the plan's worst line against it, and the spare share.
    Decoders: the statistic each target caps, from the simulation of every
    line at the load the plan gives it (``simulated``); encoders: the static
    batch's figures."""
    t = result.question.targets
    encoder = result.spec.model.kind is ModelKind.ENCODER
    rows = []
    if result.checks:
        for slo in t.slos():
            value = _simulated_worst(result, slo)
            if value is not None:
                rows.append({"target": slo.name, "statistic": slo.statistic.value, "limit": slo.seconds * 1e3,
                             "predicted": value * 1e3, "unit": "ms", "simulated": True,
                             "headroom_pct": 100 * (1 - value / slo.seconds)})
    else:
        checks = [
            ("latency (forward pass)" if encoder else "TPOT", t.latency_s, _worst(result, "e2e_s" if encoder else "tpot_s")),
            ("TTFT", t.ttft_s, _worst(result, "ttft_s")),
            ("e2e latency", t.e2e_s, _worst(result, "e2e_s")),
        ]
        for name, target, value in checks:
            if target is not None and value is not None:
                rows.append({"target": name, "limit": target * 1e3, "predicted": value * 1e3, "unit": "ms",
                             "simulated": False, "headroom_pct": 100 * (1 - value / target)})
    if t.throughput is not None:
        rows.append({"target": "throughput", "limit": t.throughput.per_second, "predicted": result.throughput,
                     "unit": t.throughput.symbol, "simulated": False,
                     "headroom_pct": 100 * (result.throughput / t.throughput.per_second - 1)})
    return rows


def replicas_words(line: Line) -> str:
    """'2 replicas', or for a worker of a disaggregated pool '3 decode workers'."""
    role = line.candidate.role
    noun = f"{role} worker" if role else "replica"
    return f"{line.replicas} {noun}{'s' if line.replicas != 1 else ''}"


def pool_ratio(result: FitResult) -> str | None:
    """The plan's pools as engines write them ('1P3D': prefill, decode
    workers), or None for a plan of whole replicas."""
    prefill = sum(line.replicas for line in result.lines if line.candidate.role == PREFILL)
    decode = sum(line.replicas for line in result.lines if line.candidate.role == DECODE)
    return f"{prefill}P{decode}D" if prefill or decode else None


def disaggregation_note(result: FitResult, brief: bool = False) -> str | None:
    """Why the plan holds disaggregated prefill/decode pools, or why not.
    ``brief`` (the terminal and the review) leaves out the reason when the
    question has no throughput target: one replica, nothing to split."""
    v = result.disaggregation
    if v is None or (brief and not v.offered and result.question.targets.throughput is None):
        return None
    if not v.offered:
        return f"Disaggregated prefill/decode pools: not considered ({v.why_not})."
    hourly = result.question.economics.objective is Objective.HOURLY
    q, prompt = result.question, result.shape.input
    target = "" if q.targets.latency_s is None else f" within the TPOT target of {typed_duration(q.targets.latency_s)}"
    batches = ""
    if v.decode_batch is not None and v.replica_batch is not None and v.shape:
        batches = (f" On {v.shape}, a decode worker holds {v.decode_batch} sequences{target}, with no prompt in its steps;"
                   f" a whole replica runs {v.replica_batch} requests at the targets, its steps also carrying the "
                   f"{prompt:,}-token prompts.")
    ratio = f" ({v.workers[0]}P{v.workers[1]}D)" if v.workers else ""
    if v.chosen:
        if v.other_cost is None:
            return (f"Disaggregated prefill/decode pools{ratio}: no plan of whole replicas meets the targets within the "
                    f"limits.{batches}")
        return (f"Disaggregated prefill/decode pools{ratio} win: {money(v.plan_cost, hourly)} against "
                f"{money(v.other_cost, hourly)} for the cheapest plan of whole replicas.{batches}")
    if v.other_cost is None:
        return "Whole replicas: no disaggregated prefill/decode pools meet the targets within the limits."
    return (f"Whole replicas win: {money(v.plan_cost, hourly)} against {money(v.other_cost, hourly)} for the "
            f"cheapest disaggregated prefill/decode pools{ratio}: what separating the prompts saves is less than a "
            f"second pool, rounded up to whole units, and the KV transfer (priced over the scale-out network) "
            f"cost.{batches}")


def disaggregation_dict(result: FitResult) -> dict[str, Any]:
    v = result.disaggregation
    assert v is not None
    return {"considered": v.offered, "why_not": v.why_not, "chosen": v.chosen,
            "pools": pool_ratio(result),
            "other_objective_usd": None if v.other_cost is None else round(v.other_cost, 4),
            "other_workers": None if v.chosen or v.workers is None else {"prefill": v.workers[0], "decode": v.workers[1]},
            "decode_batch": v.decode_batch, "replica_batch": v.replica_batch, "compared_shape": v.shape,
            "reason": disaggregation_note(result)}


def serving_notes(result: FitResult) -> list[str]:
    """How a decoder's plan was checked under load, and the headroom kept."""
    q = result.question
    if not result.checks:
        return []
    arrivals = "Poisson arrivals" if q.burstiness == 1 else f"gamma arrivals (coefficient of variation {typed(q.burstiness)})"
    percentile = [s.name for s in q.targets.slos()]
    notes = []
    if percentile:
        defaults = [s for s in q.targets.slos() if s.statistic is DEFAULT_PERCENTILE]
        notes.append("Latency targets cap " + ", ".join(percentile) + " over requests"
                     + (f" ({DEFAULT_PERCENTILE.value} is the default; give e.g. --latency p90:40ms)" if defaults else "")
                     + ".")
    parts = []
    roles = {line.candidate.key: line.candidate.role for line in result.lines}
    for check in result.checks:
        s = check.trial.summary
        decode = roles.get(check.key) == DECODE  # its prompts arrive cached: TPOT alone is its own
        figures = ", ".join(f"{name} {fmt}" for name, fmt in (
            ("p99 TTFT", None if decode else _ms(s.ttft.p99 if s.ttft else None)),
            ("p99 TPOT", _ms(s.tpot.p99 if s.tpot else None)),
            ("p99 e2e", None if decode else _ms(s.e2e.p99 if s.e2e else None))) if fmt)
        parts.append(f"{check.key} at {typed(round(check.rate, 3))} req/s per {'worker' if decode else 'replica'}: {figures}, "
                     f"{s.mean_concurrency:,.1f} requests in flight on average"
                     + ("" if check.meets else " (MISSES: " + "; ".join(check.trial.misses) + ")"))
    demand = q.targets.throughput is not None
    notes.append(("Verified by simulation at the target load: " if demand else
                  "Simulated (no throughput target, so at the rate each replica can take): ")
                 + "; ".join(parts) + f" ({result.checks[0].requests:,} requests per run, {arrivals}, "
                 "continuous batching with the engine's scheduler; planner/plan/verify.py).")
    notes.append("In the plan table, batch is the mean number of requests running on a replica at that load and "
                 "TTFT and TPOT their means there; tok/s is what the replicas may be given: their simulated capacity "
                 "at the targets less the headroom.")
    prefill = [line.candidate for line in result.lines if line.candidate.role == PREFILL]
    if prefill:
        statistic = q.targets.ttft_statistic.value
        notes.append(f"Prefill workers are not simulated: each is loaded to the most its {statistic} TTFT bound "
                     "allows (wait in a queue of Poisson arrivals, M/D/1 for a mean and the M/M/1 wait quantile for "
                     "a percentile, plus its prefill pass and the KV transfer to a decode worker; "
                     "planner/plan/disaggregation.py) less the headroom; their TTFT in the table is that bound "
                     "and their batch the prompts one pass takes. Decode workers are simulated with their prompts "
                     "arriving cached.")
    if demand:
        source = "--headroom" if q.headroom is not None else "default: the measured leave-one-GPU-out error of throughput, rounded up"
        notes.append(f"Headroom: each replica is loaded to at most its simulated capacity at the targets / "
                     f"{1 + result.headroom:.2f} ({percent(100 * result.headroom)} kept free; {source}).")
    return notes


def _ms(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return f"{seconds * 1e3:,.0f} ms" if seconds >= 1 else f"{seconds * 1e3:,.1f} ms"


def line_objective(result: FitResult, line: Line) -> float:
    """The objective's cost of one plan line, USD."""
    return (line.placement.cost(result.question.economics) or 0.0) * line.units


def _line_costs(result: FitResult, line: Line) -> dict[str, float | None]:
    p = line.placement
    return {
        "cost_per_hour_usd": p.hourly_usd * line.units,
        "cost_per_month_usd": p.hourly_usd * line.units * HOURS_PER_MONTH,
        "capex_usd": p.capex_usd * line.units,
        "objective_usd": line_objective(result, line),
        "power_w": None if p.power_w is None else p.power_w * line.units,
    }


def offer_dict(line: Line) -> dict[str, Any]:
    """The JSON of what a line rents, buys or uses."""
    offer = line.offer
    data: dict[str, Any] = {"acquisition": offer.acquisition.value, "label": offer.label, "units": line.instances,
                            "gpus_per_unit": offer.gpus}
    if offer.price is not None and offer.instance is not None and offer.provider is not None:
        data.update(provider=offer.provider.id, instance=offer.instance.name, pricing=offer.price.pricing.value,
                    region=offer.price.region, usd_per_hour_per_unit=offer.price.usd_per_hour,
                    price_as_of=offer.price.as_of, price_source=offer.price.source)
    if offer.server is not None:
        data.update(server=offer.server.id, usd_per_unit=offer.capex_usd,
                    parts=[{"item": part.item, "quantity": part.quantity, "unit_usd": part.unit_usd,
                            "as_of": part.as_of, "source": part.source} for part in offer.server.parts])
    return data


def assumptions(result: FitResult) -> list[str]:
    q, spec = result.question, result.spec
    notes = [
        f"Request shape: {result.shape.input:,} input and {result.shape.output:,} output tokens per request"
        + (" (defaults; set --input/--output)" if q.default_lengths else "") + ".",
        f"Engine: {result.engine.name}, with efficiency factors fitted on published measurements "
        "(catalog/engines-fitted.yaml: " + result.engine.fitted_on.split(";")[0] + ").",
        f"Objective: {OBJECTIVE_WORDS[q.economics.objective]}"
        + (f" over {typed(q.economics.years)} years at ${typed(q.economics.power_usd_per_kwh)}/kWh and PUE "
           f"{typed(q.economics.pue)}, colocation ${typed(q.economics.colo_usd_per_kw_month)} per kW-month"
           if q.economics.objective is Objective.TCO else "")
        + (f", renting {q.pricing.value} from {', '.join(q.providers) if q.providers else 'the default providers'}"
           + (f" in {q.region}" if q.region else " in the cheapest region listed")
           if q.economics.objective is Objective.HOURLY else "") + ".",
        f"Quality: formats whose published loss on this model (weights plus KV cache) exceeds {typed(q.max_quality_loss)}%, "
        "or is unknown, are excluded unless named"
        + (" (default; --max-quality-loss)" if q.max_quality_loss == DEFAULT_MAX_QUALITY_LOSS else "") + ".",
    ]
    excluded = [what for what, why in result.ruled_out if why.startswith(QUALITY_REASONS)]
    if excluded:
        notes.append("Excluded for quality: " + ", ".join(excluded) + " (--explain gives each figure and its source).")
    if spec.note:
        notes.append(f"Model: {spec.note}.")
    if spec.approximate:
        notes.append(f"APPROXIMATE: {spec.label} is a bare parameter count, so its architecture is derived "
                     f"({spec.model.notes}).")
    if spec.model.kind is ModelKind.DECODER and q.targets.latency_s is not None:
        notes.append("--latency is the per-token decode latency (TPOT) for this decoder.")
    elif spec.model.kind is ModelKind.ENCODER and q.targets.latency_s is not None:
        notes.append("--latency is the latency of one forward pass for this encoder.")
    notes.extend(serving_notes(result))
    notes.extend(price_notes(result))
    if q.redundancy:
        notes.append(f"Redundancy N+{q.redundancy}: the plan still serves its throughput with any {q.redundancy} "
                     "instance(s), server(s) or owned replica(s) down.")
    if q.zones > 1:
        notes.append(f"Zones: the plan's units are spread round-robin over {q.zones} zones and still serve the "
                     "throughput with any one zone down.")
    if any(line.candidate.gpu.segment == "consumer" for line in result.lines):
        notes.append(CONSUMER_NOTE)
    notes.append(f"Solver: CP-SAT, {result.status}.")
    return notes


# How candidates.py words a format ruled out on quality.
QUALITY_REASONS = ("published quality loss", "quality unknown")


def loss_cell(result: FitResult, c: DeploymentShape) -> str:
    """The plan table's loss: weights plus KV, '*' when a figure is borrowed
    or assumed (the notes say which), 'unknown' when a figure is missing."""
    quality = result.quality_of(c)
    loss = "unknown" if quality.loss_pct is None else f"{typed(quality.loss_pct)}%"
    return loss + ("*" if quality.flagged else "")


def _unknown_quality(result: FitResult) -> list[str]:
    """The formats of the plan whose quality on this model is unknown, as 'fp8 weights'."""
    found: list[str] = []
    for line in result.lines:
        quality = result.quality_of(line.candidate)
        for part, figure in (("weights", quality.weights), ("KV cache", quality.kv_cache)):
            name = f"{figure.precision} {part}"
            if figure.loss_pct is None and name not in found:
                found.append(name)
    return found


def quality_notes(result: FitResult) -> list[str]:
    """One note per format the plan uses: its quality figure, how it was chosen,
    and its source; first a legend when the loss column carries a '*'."""
    notes: list[str] = []
    unknown = _unknown_quality(result)
    if unknown:
        notes.append(f"QUALITY UNKNOWN: no published figure says what {', '.join(unknown)} cost "
                     f"{result.spec.label}; it is in the plan because it was named (--precision / --kv-precision).")
    if any(result.quality_of(line.candidate).flagged for line in result.lines):
        notes.append("* in the loss column: a figure not measured on this model (borrowed from another model, a "
                     "format default, or unknown); the notes below say which.")
    encoder = result.spec.model.kind is ModelKind.ENCODER
    seen: set[tuple[str, str]] = set()
    for line in result.lines:
        quality = result.quality_of(line.candidate)
        parts = [("weights", quality.weights)] + ([] if encoder else [("KV cache", quality.kv_cache)])
        for part, figure in parts:
            if (part, figure.precision) in seen:
                continue
            seen.add((part, figure.precision))
            notes.append(f"Quality of {figure.precision} {part} on {result.spec.label}: {figure.describe()}.")
    return notes


def explain_rows(result: FitResult) -> list[tuple[str, str]]:
    """Every GPU type and precision ruled out, with the first constraint it broke."""
    rows = list(result.ruled_out)
    by_pair: dict[tuple[str, str], list[RejectedShape]] = {}
    working: set[tuple[str, str]] = set()  # pairs with at least one shape that works
    for c in result.candidates:
        pair = (c.gpu.id, c.precision.id)
        if isinstance(c, RejectedShape):
            by_pair.setdefault(pair, []).append(c)
        else:
            working.add(pair)
    for (gpu, precision), group in by_pair.items():
        if (gpu, precision) not in working:
            # the most capable shape tried: one that fit memory, else the one with most GPUs;
            # among those that fit, the fewest pipeline stages (each adds a hand-off per token)
            closest = max(group, key=lambda c: (c.constraint is not Constraint.MEMORY,
                                                 0 if c.constraint is Constraint.MEMORY else -c.pp, c.gpus))
            rows.append((f"{gpu} {precision}", f"{closest.reason} ({closest.key.split(' ', 1)[1]})"))
    return rows


def _percentiles_ms(p: Any) -> dict[str, float] | None:
    return None if p is None else {k: round(getattr(p, k) * 1e3, 3) for k in ("mean", "p50", "p90", "p99")}


def load_dict(check: Any, simulated: Mapping[str, Any]) -> dict[str, Any]:
    """One line's replica as simulated at the load the plan gives it, with
    its capacity from ``simulated`` (the search's simulated shapes, by key)."""
    s = check.trial.summary
    sim = simulated.get(check.key)
    return {
        "requests_per_s_per_replica": round(check.rate, 6),
        "capacity_requests_per_s_per_replica": None if sim is None else round(sim.capacity.rate, 6),
        "capacity_limit": None if sim is None else sim.capacity.limit,
        "in_flight_per_replica": round(s.mean_concurrency, 3),
        "ttft_ms": _percentiles_ms(s.ttft), "tpot_ms": _percentiles_ms(s.tpot), "itl_ms": _percentiles_ms(s.itl),
        "e2e_ms": _percentiles_ms(s.e2e), "queue_wait_ms": _percentiles_ms(s.queue_wait),
        "meets": check.meets, "simulated_requests": check.requests, "burstiness_cv": check.cv,
    }


def fit_dict(result: FitResult, explain: bool = False) -> dict[str, Any]:
    q = result.question
    lines = []
    for line in result.lines:
        entry = prediction_dict(line_prediction(result, line))
        quality = result.quality_of(line.candidate)
        entry.update(role=line.candidate.role or "replica",
                     replicas=line.replicas, gpus=line.gpus, hardware=hardware(line), offer=offer_dict(line),
                     quality_loss_pct=quality.loss_pct,
                     quality={"weights": quality.weights.as_json(), "kv_cache": quality.kv_cache.as_json()})
        entry.update(_line_costs(result, line))
        check = next((c for c in result.checks if c.key == line.candidate.key), None)
        if check is not None:
            entry["load"] = load_dict(check, result.simulated)
        lines.append(entry)
    data: dict[str, Any] = {
        "status": result.status,
        "objective": {"kind": q.economics.objective, "value_usd": round(result.cost, 4)},
        "pricing": {"model": q.pricing.value, "providers": list(q.providers) if q.providers else "default",
                    "region": q.region, "redundancy": q.redundancy},
        "model": result.spec.label,
        "approximate": result.spec.approximate,
        **({"resolved": result.spec.note} if result.spec.note else {}),
        **({"warnings": list(result.spec.warnings)} if result.spec.warnings else {}),
        "targets": {
            "latency_ms": None if q.targets.latency_s is None else q.targets.latency_s * 1e3,
            "ttft_ms": None if q.targets.ttft_s is None else q.targets.ttft_s * 1e3,
            "e2e_ms": None if q.targets.e2e_s is None else q.targets.e2e_s * 1e3,
            "throughput": None if q.targets.throughput is None else format_rate(q.targets.throughput),
            "statistics": {"latency": q.targets.latency_statistic.value, "ttft": q.targets.ttft_statistic.value,
                           "e2e": q.targets.e2e_statistic.value},
        },
        "headroom_share": result.headroom,
        "burstiness_cv": q.burstiness,
        "input": result.shape.input,
        "output": result.shape.output,
        "engine": result.engine.id,
        "total": {
            "gpus": result.gpus,
            "units": sum(line.instances for line in result.lines),
            "cost_per_hour_usd": result.hourly_usd,
            "cost_per_month_usd": round(result.hourly_usd * HOURS_PER_MONTH, 4),
            "capex_usd": result.capex_usd,
            "power_w": result.power_w,
            "output_tokens_per_s": round(result.tokens_per_s, 3) if result.spec.model.kind is ModelKind.DECODER else None,
            "throughput": round(result.throughput, 3),
        },
        "headroom": headroom(result),
        "lines": lines,
        "alternatives": [
            {"gpu": a.gpu, "shape": a.line.candidate.key, "hardware": hardware(a.line), "replicas": a.line.replicas,
             "gpus": a.line.gpus,
             "objective_usd": round(a.plan_cost, 4), "difference_usd": round(a.plan_cost - result.cost, 4)}
            for a in result.alternatives
        ],
        "assumptions": assumptions(result),
        "quality_notes": quality_notes(result),
    }
    if result.disaggregation is not None:
        data["disaggregation"] = disaggregation_dict(result)
    if result.others:
        data["next_best"] = [
            {"shape": line.candidate.key, "hardware": hardware(line), "replicas": line.replicas, "gpus": line.gpus,
             "objective_usd": round(line_objective(result, line), 4)}
            for line in result.others
        ]
    if explain:
        data["ruled_out"] = [{"what": what, "why": why} for what, why in explain_rows(result)]
    return data


def headline(result: FitResult) -> str:
    q = result.question
    hourly = q.economics.objective is Objective.HOURLY
    parts = []
    for line in result.lines:
        c = line.candidate
        shape = f"TP {c.tp}{c.expert_split()}" + (f" x PP {c.pp}" if c.pp > 1 else "")
        kv = "" if result.spec.model.kind is ModelKind.ENCODER else f", {c.kv_precision.id} KV cache"
        parts.append(f"{hardware(line)}: {replicas_words(line)} ({shape}, {c.precision.id} weights{kv})")
    cost = money(result.cost, hourly)
    pools = pool_ratio(result)
    if pools:
        cost += f", disaggregated {pools}"
    meets = []
    for row in headroom(result):
        if row["unit"] == "ms":
            predicted, limit = durations_against(row["predicted"] / 1e3, row["limit"] / 1e3)
            meets.append(f"{row['target']} {predicted} against {limit} ({percent(row['headroom_pct'])} headroom)")
        else:
            predicted, limit = against(row["predicted"], row["limit"])
            meets.append(f"{predicted} {row['unit']} against {limit} {row['unit']} "
                         f"({percent(row['headroom_pct'])} headroom)")
    text = f"Cheapest plan for {result.spec.label}: " + " + ".join(parts) + f", {cost}"
    if q.economics.objective is not Objective.HOURLY:
        text += f" ({OBJECTIVE_WORDS[q.economics.objective]})"
    text += "."
    if meets:
        text += " Meets " + "; ".join(meets) + "."
    else:
        text += " No target was given: the cheapest deployment that fits."
    unknown = _unknown_quality(result)
    if unknown:
        text += f" Quality loss of {', '.join(unknown)} on this model: unknown (no published figure)."
    return text


def _plan_table(result: FitResult) -> TextTable:
    """One row per plan line, and a total row for a mixed plan; no cell wraps."""
    q = result.question
    encoder = result.spec.model.kind is ModelKind.ENCODER
    # no edge, no edge padding, one space between columns: room for more before it turns into cards
    plan = TextTable(title="Plan", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                     collapse_padding=True)
    speed = "samples/s" if encoder else "tok/s"
    cols = ["units", "GPUs", "replicas", "shape", "batch"] + ([] if encoder else ["TTFT"]) + [
        "latency" if encoder else "TPOT", speed, "mem/GPU", "loss", "$/h"]
    if q.economics.objective is not Objective.HOURLY:
        cols.append("capex" if q.economics.objective is Objective.CAPEX else "TCO")
    for col in cols:
        plan.add_column(col, justify="left" if col in ("units", "GPUs", "shape") else "right", no_wrap=True)
    for line in result.lines:
        c = line.candidate
        costs = _line_costs(result, line)
        m = c.memory
        parallel = f"TP{c.tp}{c.expert_split(spaced=False)}" + (f" PP{c.pp}" if c.pp > 1 else "")
        numerics = c.precision.id if encoder else f"{c.precision.id}/{c.kv_precision.id}"
        role = f"{c.role} " if c.role else ""
        ttft = "-" if c.role == DECODE else duration(c.prediction.ttft_s)  # a decode worker's requests come prefilled
        row = [unit_name(line), f"{line.gpus} x {c.gpu.id}", str(line.replicas), f"{role}{parallel} {numerics}",
               str(c.batch)] + ([] if encoder else [ttft]) + [
            duration(c.prediction.e2e_s if encoder else c.prediction.tpot_s),
            f"{c.throughput * line.replicas:,.0f}" if encoder else f"{c.tokens_per_s * line.replicas:,.0f}",
            f"{m.per_gpu / 1e9:,.1f} GB ({100 * m.per_gpu / m.capacity_per_gpu:.0f}%)",
            loss_cell(result, c), money(costs["cost_per_hour_usd"], True),
        ]
        if q.economics.objective is not Objective.HOURLY:
            row.append(money(costs["objective_usd"]))
        plan.add_row(*row)
    if len(result.lines) > 1:
        total = ["total", f"{result.gpus} GPUs", str(sum(line.replicas for line in result.lines)), "", ""] + (
            [] if encoder else [""]) + ["", f"{(result.throughput if encoder else result.tokens_per_s):,.0f}", "", "",
                                        money(result.hourly_usd, True)]
        if q.economics.objective is not Objective.HOURLY:
            total.append(money(result.cost))
        plan.add_row(*total, style="bold")
    return plan


def fit_renderables(result: FitResult, explain: bool = False, width: int = 120) -> list[Any]:
    """Rich renderables laid out for ``width`` columns: no number or id is ever
    cut. The plan table is shown whole or, where it would not fit, as one
    field/value card per plan line; the other tables wrap their labels, or
    turn into cards too."""
    q = result.question
    hourly = q.economics.objective is Objective.HOURLY
    out: list[Any] = [Text(headline(result), style="bold")]

    plan = _plan_table(result)
    titles = [f"Plan line {i + 1}" for i in range(len(result.lines))] + ["Plan total"]
    out.extend(laid_out(plan, width, titles))

    if result.alternatives:
        alts = TextTable(title="Best alternative on each other GPU type", title_justify="left")
        for col in ("hardware", "shape", "replicas", "GPUs", "cost", "vs plan"):
            label = col in ("hardware", "shape")
            alts.add_column(col, justify="left" if label else "right", no_wrap=not label)
        shown = result.alternatives[:8]
        for a in shown:
            alts.add_row(hardware(a.line), a.line.candidate.key.split(" ", 1)[1], str(a.line.replicas), str(a.line.gpus),
                          money(a.plan_cost, hourly), signed_money(a.plan_cost - result.cost, hourly))
        out.extend(laid_out(alts, width, [f"Alternative on {a.gpu}" for a in shown], optional=("GPUs", "replicas")))

    if result.others:
        top = TextTable(title="Next best plans", title_justify="left")
        for col in ("hardware", "shape", "replicas", "GPUs", "cost"):
            label = col in ("hardware", "shape")
            top.add_column(col, justify="left" if label else "right", no_wrap=not label)
        for line in result.others:
            top.add_row(hardware(line), line.candidate.key, str(line.replicas), str(line.gpus),
                        money(line_objective(result, line), hourly))
        out.extend(laid_out(top, width, [f"Next best plan {i + 1}" for i in range(len(result.others))],
                              optional=("GPUs", "replicas")))

    if explain:
        ruled = TextTable(title="Ruled out", title_justify="left")
        ruled.add_column("GPU / precision")
        ruled.add_column("first constraint broken")
        rows = explain_rows(result)
        for what, why in rows:
            ruled.add_row(what, why)
        out.extend(laid_out(ruled, width, [f"Ruled out: {what}" for what, _ in rows]))
    note = disaggregation_note(result, brief=True)
    out.append(Text("\n".join(([note] if note else []) + quality_notes(result) + assumptions(result)), style="dim"))
    return out
