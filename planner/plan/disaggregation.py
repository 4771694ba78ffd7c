"""Disaggregated prefill and decode pools as options for `fit`.

A disaggregated deployment serves each request on two workers: a prefill
worker computes the prompt's KV cache and first token and sends the cache
over the network; a decode worker generates the rest, with no prompt ever
sharing its steps (planner/model/disaggregated.py). The two pools are sized
apart, so `fit` offers every scored shape in both roles and the solver
couples them (solver.py): the requests the pools serve together are the
fewer of what the prefill pool and the decode pool can take, the pools
running one checkpoint (weight format) and keeping the KV cache in one
format. The solver so picks the pool shapes, their GPU types and the ratio
of workers (xPyD) for cost, beside or instead of whole replicas.

Scoring a role (one worker, the target's throughput unit)
---------------------------------------------------------
Prefill worker: a pass takes k = max(1, token budget // prompt) prompts, so
the worker serves mu = k / t(k) prompts/s. Prompts arrive as a Poisson
stream at rho x mu; a prompt waits for the worker (M/D/1's mean wait
rho t(k) / (2 (1 - rho)) for a mean target; for a percentile p, M/M/1's
wait quantile ln(rho / (1 - p)) / (mu (1 - rho)), a bound on deterministic
service), is prefilled (t(1), plus rho (t(k) - t(1)) for riding a fuller
pass), and its cache moves (``transfer``): TTFT = wait + prefill + transfer.
The worker is credited with the most load rho whose TTFT meets the target.

Decode worker: the largest batch whose TPOT (the mean decode step over the
output, context growing from the prompt) meets the TPOT target and whose KV
cache fits: requests/s = batch / ((output - 1) x TPOT). That is its first
score; `fit` then simulates the decode workers it chooses as it does whole
replicas (planner/plan/verify.py), with each prompt arriving cached (no
step time: the scheduler's ``prompts_cached``), so a decode worker and a
whole replica are held to the same simulated percentile of TPOT. Prefill
workers are not simulated: their TTFT above is already a queueing bound at
the target's statistic.

Pools are offered only with a TTFT target: they trade TTFT (a queue, and
the transfer) for TPOT, and with no TTFT target a prefill pool could be
credited near saturation, its wait unbounded.

The KV transfer is priced over the scale-out network at the prefill GPU's
per-GPU figure (the solver may put the pools on any units, so the pair is
taken to be in different nodes); a GPU whose catalog entry lacks that figure
is offered as a prefill worker only where its fast domain spans more than
one unit (NVL72: the pools share a domain, and the cache moves over it).
Pools pair only at one site (a provider's region, or what is bought and
owned) and over one network: GPU types whose scale-out figures agree (H100,
H200 and B200 at 100 GB/s per GPU pair with each other), and a GPU without
one with its own type only (`link`). What is not modelled: an
e2e target (it couples the two pools' latencies, so with one no pools are
offered), N+k spares and zones (whole replicas only), and the engine's own
transfer overheads past the fitted collective latency (the measured runs do
not identify one: README, Mixtures of experts and disaggregated serving).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from planner.catalog.schema import Engine, ModelKind
from planner.core.errors import PlannerError
from planner.model import perf
from planner.model.disaggregated import kv_move_s
from planner.model.serving import for_ranks, scheduler_for
from planner.model.slo import Statistic
from planner.model.workload import Deployment, ModelSpec, Shape
from planner.plan import solver
from planner.plan.candidates import DECODE, PREFILL, Candidate, ScoredShape, Serving
from planner.plan.offers import Acquisition
from planner.plan.placement import Line, Placement
from planner.plan.question import Targets

LOAD_STEPS = 40  # bisection steps for the prefill worker's load (to 1e-12 of rho)
QUANTILES = {Statistic.P50: 0.50, Statistic.P90: 0.90, Statistic.P99: 0.99}


@dataclass(frozen=True)
class Offered:
    """The role shapes and, where none could be offered, why (for the review)."""

    shapes: tuple[ScoredShape, ...]
    why_not: str | None = None


def why_not_offered(spec: ModelSpec, shape: Shape, targets: Targets, spares: int, zones: int) -> str | None:
    """Why the question rules out disaggregated pools, or None."""
    if spec.model.kind is not ModelKind.DECODER:
        return "an encoder has no decode phase"
    if shape.output <= 1:
        return "one output token: nothing to decode"
    if targets.throughput is None:
        return "no throughput target: one replica is the answer"
    if targets.ttft_s is None:
        # pools trade TTFT (a queue and a transfer) for TPOT: with no TTFT
        # target a prefill pool could be run near saturation, its wait unbounded
        return "no TTFT target: pools trade TTFT for TPOT, so give --ttft to weigh them"
    if targets.e2e_s is not None:
        return "an e2e target couples the two pools' latencies (not modelled): give TTFT and TPOT targets instead"
    if spares or zones > 1:
        return "N+k spares and zones are planned over whole replicas only"
    return None


def transfer_gbs(dep: Deployment) -> float | None:
    """Bidirectional GB/s per sending GPU for the KV cache, or None where the
    catalog cannot price it (module note)."""
    gpu = dep.gpu
    if gpu.scale_out_gbs is not None:
        return float(gpu.scale_out_gbs)
    if gpu.fast_domain > gpu.gpus_per_node and gpu.interconnect_gbs is not None:
        return float(gpu.interconnect_gbs)
    return None


def transfer_s(spec: ModelSpec, dep: Deployment, prompt: int, gbs: float) -> float:
    """One prompt's KV cache from a prefill worker: the engine's fixed
    collective latency plus the unique bytes over the sending rank's GPUs
    (half the bidirectional figure each way)."""
    return kv_move_s(spec.model, dep, prompt, gbs, dep.tp * dep.pp, dep.engine.factors_for(dep.gpu))


def prefill_wait_s(rho: float, mu: float, full_s: float, statistic: Statistic) -> float:
    """The wait for a prefill worker at load ``rho`` (module note)."""
    if rho <= 0:
        return 0.0
    if statistic is Statistic.MEAN:
        return rho * full_s / (2 * (1 - rho))
    p = QUANTILES[statistic]
    return max(0.0, math.log(rho / (1 - p)) / (mu * (1 - rho)))


def _deployment(c: ScoredShape, engine: Engine, memory_utilization: float | None) -> Deployment:
    return Deployment(gpu=c.gpu, precision=c.precision, kv_precision=c.kv_precision, engine=engine, tp=c.tp,
                      pp=c.pp, dp=c.dp, ep=c.ep, batch=1, memory_utilization=memory_utilization)


def prefill_role(spec: ModelSpec, shape: Shape, targets: Targets, c: ScoredShape, engine: Engine,
                 memory_utilization: float | None, serving: Serving | None, headroom: float = 0.0) -> ScoredShape | None:
    """``c`` as a prefill worker, or None where it cannot meet the TTFT
    target: credited with the most load that meets it less the headroom,
    and shown with its TTFT at that load (at the target's statistic)."""
    dep = _deployment(c, engine, memory_utilization)
    gbs = transfer_gbs(dep)
    if gbs is None:
        return None
    model, factors = spec.model, c.factors
    settings = for_ranks(serving.settings, c.dp) if serving and serving.settings else scheduler_for(engine, c.dp)
    prompt_only = Shape(shape.input, 1)
    room = perf.max_batch(model, dep, prompt_only, cap=perf.UNCAPPED_BATCH_SEARCH)
    if room < 1:
        return None
    together = max(1, min(settings.max_num_batched_tokens // shape.input, room))
    one = perf.prefill(model, dep, factors, 1, shape.input)
    full = perf.prefill(model, dep, factors, together, shape.input).total_s if together > 1 else one.total_s
    mu = together / full
    move = transfer_s(spec, dep, shape.input, gbs)

    def ttft(rho: float) -> float:
        return prefill_wait_s(rho, mu, full, targets.ttft_statistic) + one.total_s + rho * (full - one.total_s) + move

    if targets.ttft_s is None or ttft(0.0) > targets.ttft_s:
        return None  # with no TTFT target a prefill pool's wait is unbounded (why_not_offered)
    lo, hi = 0.0, 1.0  # lo meets the target; the wait grows without bound toward 1
    for _ in range(LOAD_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ttft(mid) <= targets.ttft_s else (lo, mid)
    rho = lo / (1 + headroom)  # the plannable load
    if rho <= 0:
        return None
    requests = rho * mu
    tokens = requests * shape.output
    first = ttft(rho)  # at the target's statistic, at the plannable load
    timing = perf.Timing(first, None, first, tokens, None, one, None)
    kind = targets.throughput.kind if targets.throughput else "tokens"
    return replace(c, role=PREFILL, batch=together, prediction=timing,
                   memory=perf.memory(model, dep, prompt_only, together),
                   throughput=requests if kind == "requests" else tokens, tokens_per_s=tokens)


def decode_role(spec: ModelSpec, shape: Shape, targets: Targets, c: ScoredShape, engine: Engine,
                memory_utilization: float | None, serving: Serving | None, headroom: float = 0.0) -> ScoredShape | None:
    """``c`` as a decode worker, or None where one sequence misses the TPOT
    target: credited with its largest batch's rate less the headroom (its
    TPOT shown at that batch, an upper bound at the lighter load)."""
    dep = _deployment(c, engine, memory_utilization)
    model, factors = spec.model, c.factors
    settings = for_ranks(serving.settings, c.dp) if serving and serving.settings else scheduler_for(engine, c.dp)
    most = perf.max_batch(model, dep, shape, cap=settings.max_num_seqs or perf.UNCAPPED_BATCH_SEARCH)
    if most < 1:
        return None
    steps = shape.output - 1

    def tpot(batch: int) -> tuple[float, perf.PassTime]:
        passes = perf.decode_steps(model, dep, factors, batch, shape.input, steps)
        return sum(x.total_s for x in passes) / len(passes), passes[len(passes) // 2]

    def meets(batch: int) -> bool:
        return targets.latency_s is None or tpot(batch)[0] <= targets.latency_s

    if not meets(1):
        return None
    lo, hi = 1, most  # lo meets; bisect for the largest batch that does
    if meets(hi):
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if meets(mid) else (lo, mid)
    batch = lo
    mean, middle = tpot(batch)
    requests = batch / (steps * mean) / (1 + headroom)
    tokens = requests * shape.output
    # the decode worker's own share of a request: no TTFT of its own (the
    # prefill worker's line has it); e2e is the prefill-free remainder
    timing = perf.Timing(0.0, mean, steps * mean, tokens, None, middle, middle)
    kind = targets.throughput.kind if targets.throughput else "tokens"
    return replace(c, role=DECODE, batch=batch, prediction=timing, memory=perf.memory(model, dep, shape, batch),
                   throughput=requests if kind == "requests" else tokens, tokens_per_s=tokens)


def role_shapes(spec: ModelSpec, shape: Shape, targets: Targets, cands: list[Candidate], engine: Engine,
                memory_utilization: float | None, serving: Serving | None, headroom: float = 0.0, spares: int = 0,
                zones: int = 1) -> Offered:
    """Every scored whole-replica shape as a prefill and as a decode worker,
    where it can meet its role's target."""
    why = why_not_offered(spec, shape, targets, spares, zones)
    if why is not None:
        return Offered((), why)
    shapes: list[ScoredShape] = []
    for c in cands:
        if not isinstance(c, ScoredShape) or c.role:
            continue
        for role in (prefill_role, decode_role):
            try:
                scored = role(spec, shape, targets, c, engine, memory_utilization, serving, headroom)
            except PlannerError:  # a shape the role's pass cannot run: not offered in it
                continue
            if scored is not None and scored.throughput > 0:
                shapes.append(scored)
    has = {s.role for s in shapes}
    if PREFILL not in has:
        return Offered((), "no shape meets the TTFT target as a prefill worker with the KV transfer priced")
    if DECODE not in has:
        return Offered((), "no shape meets the TPOT target as a decode worker")
    return Offered(tuple(shapes))


# --- what a plan's pools serve, and why they were or were not chosen ----------------


def link(p: Placement) -> str:
    """What a worker must share with the other pool's workers: the
    checkpoint's weight format and the KV cache's (it moves as is), the site
    (one provider and region, or the buyer's own), and the network the cache
    moves over: the per-GPU scale-out figure, or for a GPU without one its
    own fast domain (module note). "" for a whole replica."""
    c, offer = p.shape, p.offer
    if not c.role:
        return ""
    if offer.acquisition is Acquisition.RENT:
        site = f"{offer.provider.id if offer.provider else offer.label} {offer.price.region if offer.price else ''}"
    else:
        site = "on premises"
    net = f"scale-out {c.gpu.scale_out_gbs:g} GB/s" if c.gpu.scale_out_gbs is not None else f"{c.gpu.id} domain"
    return f"{c.precision.id}/{c.kv_precision.id}, {site.strip()}, {net}"


def served(lines: Sequence[Line], rate: Callable[[ScoredShape], float]) -> float:
    """What plan lines serve by ``rate`` (per replica or worker): whole
    replicas add up; per KV format, pools serve the fewer of what their
    prefill and their decode workers take (as the solver counts them)."""
    total = sum(rate(line.candidate) * line.replicas for line in lines if not line.candidate.role)
    for pair in {link(line.placement) for line in lines if line.candidate.role}:
        total += min(sum(rate(line.candidate) * line.replicas for line in lines
                         if line.candidate.role == role and link(line.placement) == pair)
                     for role in (PREFILL, DECODE))
    return total


def served_by(lines: Sequence[Line], line: Line, rate: Callable[[ScoredShape], float]) -> float | None:
    """The share of what the plan serves that one line carries, so the
    lines add up to ``served``: a whole replica's own rate; a decode
    worker's share of its pools' rate, in proportion to its capacity; None
    for a prefill worker (its requests are counted where they decode)."""
    c = line.candidate
    if not c.role:
        return rate(c) * line.replicas
    if c.role == PREFILL:
        return None
    pair = link(line.placement)
    pooled = [x for x in lines if x.candidate.role and link(x.placement) == pair]
    decoding = sum(rate(x.candidate) * x.replicas for x in pooled if x.candidate.role == DECODE)
    share = served(pooled, rate) / decoding if decoding > 0 else 0.0
    return rate(c) * line.replicas * share


@dataclass(frozen=True)
class Verdict:
    """Disaggregated pools against whole replicas, for the review: whether
    they were offered (and if not why), whether the plan holds them, and
    the objective cost of the best plan of the other kind (None: no plan of
    that kind within the limits)."""

    offered: bool
    why_not: str | None
    chosen: bool
    plan_cost: float
    other_cost: float | None
    workers: tuple[int, int] | None  # (prefill, decode) workers of whichever plan holds pools
    decode_batch: int | None  # sequences a decode worker holds at the TPOT target
    replica_batch: int | None  # requests a whole replica of the same shape runs at the targets
    shape: str | None  # the shape the two batches compare ("h100-sxm tp8 pp1 fp8 kv=fp8")


def _workers(lines: Sequence[solver.PlanLine]) -> tuple[int, int]:
    return (sum(line.replicas for line in lines if line.option.role == PREFILL),
            sum(line.replicas for line in lines if line.option.role == DECODE))


def verdict(offered: Offered, plan: solver.Plan, options: Sequence[solver.ReplicaOption], limits: solver.Limits,
            chosen: Sequence[ScoredShape], cands: Sequence[Candidate]) -> Verdict:
    """Solve the question again with only the other kind of options (whole
    replicas where the plan holds pools, pools where it does not) and compare."""
    if not offered.shapes:
        return Verdict(False, offered.why_not, False, plan.cost, None, None, None, None, None)
    holds = any(line.option.role for line in plan.lines)
    others = [o for o in options if bool(o.role) != holds]
    other = solver.solve(others, limits) if others else None
    found = other is not None and other.status in (solver.OPTIMAL, solver.FEASIBLE)
    pooled = plan.lines if holds else other.lines if found and other is not None else ()
    workers = _workers(pooled) if pooled else None
    # the batches behind the difference: one shape as a decode worker and as a whole replica
    replicas = {c.key: c for c in cands if isinstance(c, ScoredShape)}
    decoders = {c.key: c for c in offered.shapes if c.role == DECODE}
    if holds:
        picked = next((c for c in chosen if c.role == DECODE), None)
        decode, whole = picked, replicas.get(picked.key.removesuffix(f" {DECODE}")) if picked else None
    else:
        whole = next((c for c in chosen if not c.role), None)
        decode = decoders.get(f"{whole.key} {DECODE}") if whole else None
    return Verdict(True, None, holds, plan.cost, other.cost if found and other is not None else None, workers,
                   decode.batch if decode else None, whole.batch if whole else None,
                   (decode or whole).key.removesuffix(f" {DECODE}") if (decode or whole) else None)
