"""`planner capacity`: what one deployment serves under percentile targets,
as JSON and as a terminal table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from planner.model.capacity import Capacity
from planner.model.predict import Prediction
from planner.model.serving import Percentiles
from planner.model.slo import Slo
from planner.report.format import TextTable
from planner.report.layout import laid_out


@dataclass(frozen=True)
class CapacityAnswer:
    prediction: Prediction  # the deployment, resolved (memory, static figures)
    capacity: Capacity  # per replica
    slos: tuple[Slo, ...]
    burstiness: float
    input_label: str
    output_label: str

    @property
    def replicas(self) -> int:
        return self.prediction.replicas

    @property
    def rate(self) -> float:
        """Requests/s the whole deployment sustains (replicas share the load evenly)."""
        return self.capacity.rate * self.replicas


def _ms(p: Percentiles | None) -> dict[str, float] | None:
    if p is None:
        return None
    return {name: round(getattr(p, name) * 1e3, 3) for name in ("mean", "p50", "p90", "p99")}


def capacity_dict(answer: CapacityAnswer) -> dict[str, Any]:
    cap, dep = answer.capacity, answer.prediction.deployment
    at = cap.at.summary if cap.at is not None else None
    return {
        "model": answer.prediction.spec.label,
        "gpu": dep.gpu.id,
        "gpus": answer.prediction.gpus,
        "tp": dep.tp,
        "pp": dep.pp,
        "replicas": answer.replicas,
        "precision": dep.precision.id,
        "kv_precision": dep.kv_precision.id,
        "engine": dep.engine.id,
        "input": answer.input_label,
        "output": answer.output_label,
        "targets": [{"metric": s.metric.value, "statistic": s.statistic.value, "limit_ms": s.seconds * 1e3}
                    for s in answer.slos],
        "arrivals": {"process": "poisson" if answer.burstiness == 1 else "gamma", "cv": answer.burstiness},
        "requests_per_s": round(answer.rate, 4),
        "requests_per_s_per_replica": round(cap.rate, 4),
        "concurrency": round(cap.concurrency * answer.replicas, 2),
        "concurrency_per_replica": round(cap.concurrency, 2),
        "output_tokens_per_s": None if at is None else round(at.tokens_per_s * answer.replicas, 2),
        "limit": cap.limit,
        "saturation_requests_per_s_per_replica": None if math.isinf(cap.saturation_rate) else round(cap.saturation_rate, 4),
        "at_capacity": None if at is None else {
            "ttft_ms": _ms(at.ttft), "tpot_ms": _ms(at.tpot), "itl_ms": _ms(at.itl), "e2e_ms": _ms(at.e2e),
            "queue_wait_ms": _ms(at.queue_wait), "requests_in_window": at.requests,
        },
        "simulation": {"requests_per_trial": cap.requests, "trials": len(cap.trials), "seed": 0},
    }


def capacity_renderables(answer: CapacityAnswer, width: int = 120) -> list[Any]:
    cap, dep = answer.capacity, answer.prediction.deployment
    targets = ", ".join(f"{s.name} {_fmt(s.seconds)}" for s in answer.slos) or "none (the replica full)"
    where = f"{answer.prediction.gpus} x {dep.gpu.id}" + (f" ({answer.replicas} replicas of TP {dep.tp}"
                                                         + (f" x PP {dep.pp}" if dep.pp > 1 else "") + ")"
                                                         if answer.replicas > 1 else f" (TP {dep.tp}"
                                                         + (f" x PP {dep.pp}" if dep.pp > 1 else "") + ")")
    out: list[Any] = []
    if cap.at is None:
        out.append(Text(f"{answer.prediction.spec.label} on {where}: no load meets {targets}: {cap.limit}."))
        return out
    s = cap.at.summary
    out.append(Text(f"{answer.prediction.spec.label} on {where}, {dep.precision.id} weights, {dep.kv_precision.id} KV cache, "
               f"{dep.engine.name}: serves up to {answer.rate:,.2f} req/s ({s.tokens_per_s * answer.replicas:,.0f} "
               f"output tokens/s, {cap.concurrency * answer.replicas:,.1f} requests in flight) within {targets}. "
               f"What stops a higher rate: {cap.limit}."))
    table = TextTable("at that load", "mean", "p50", "p90", "p99", title="Latency at capacity (per request)")
    names = []
    for name, p in (("TTFT", s.ttft), ("TPOT", s.tpot), ("ITL", s.itl), ("e2e", s.e2e), ("queue wait", s.queue_wait)):
        if p is not None:
            table.add_row(name, _fmt(p.mean), _fmt(p.p50), _fmt(p.p90), _fmt(p.p99))
            names.append(name)
    out.extend(laid_out(table, width, names))
    arrivals = "Poisson arrivals" if answer.burstiness == 1 else f"gamma arrivals, coefficient of variation {answer.burstiness:g}"
    sat = "" if math.isinf(cap.saturation_rate) else f"; saturation (no target) {cap.saturation_rate * answer.replicas:,.2f} req/s"
    out.append(Text(f"Requests: {answer.input_label} input, {answer.output_label} output tokens; {arrivals}; "
               f"{cap.requests:,} requests per trial, {len(cap.trials)} trials, seed 0{sat}. Replicas share the load "
               "evenly; each is simulated alone (continuous batching with the engine's scheduler, planner/model/capacity.py)."))
    return out


def _fmt(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:,.1f} s"
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    return f"{seconds * 1e3:,.1f} ms"
