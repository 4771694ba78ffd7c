"""`fit`: the question in, the cheapest plan out (library API of `planner fit`).

Enumerates and scores candidates (candidates.py), drops the dominated ones,
hands the rest to the CP-SAT solver (solver.py), and, when nothing is
feasible, works out which constraint binds and the smallest relaxation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from planner.model import perf

from planner.plan import diagnose, solver
from planner.plan.candidates import (
    Candidate,
    DeploymentShape,
    ScoredShape,
    enumerate_candidates,
)
from planner.catalog.load import Catalog
from planner.core.errors import Field, InputError, NoPlanError
from planner.catalog.schema import Engine, Gpu, Model, ModelKind
from planner.model.predict import Prediction
from planner.model.quality import DeploymentQuality, deployment_quality
from planner.model.resolve import resolve_spec
from planner.model.workload import Deployment, ModelSpec, Shape, check_context
from planner.plan.question import Economics, Question, check_targets_apply

class PlanQuality:
    """The quality figures (weights and KV cache, planner/model/quality.py) of
    each shape's formats on the model asked about, looked up once per pair."""

    def __init__(self, catalog: Catalog, model: Model) -> None:
        self._catalog, self._model = catalog, model
        self._cache: dict[tuple[str, str], DeploymentQuality] = {}

    def __call__(self, c: DeploymentShape) -> DeploymentQuality:
        key = (c.precision.id, c.kv_precision.id)
        if key not in self._cache:
            self._cache[key] = deployment_quality(self._catalog, self._model, c.precision, c.kv_precision)
        return self._cache[key]

    def rank(self, c: DeploymentShape) -> float:
        """Weights plus KV loss for ordering shapes; an unknown loss ranks after every known one."""
        return self(c).rank_pct


@dataclass(frozen=True)
class Line:
    """One line of the plan: a scored shape and how many replicas of it."""

    candidate: ScoredShape
    replicas: int

    @property
    def gpus(self) -> int:
        return self.candidate.gpus * self.replicas


@dataclass(frozen=True)
class Alternative:
    gpu: str
    plan_cost: float  # objective cost of the best plan on this GPU type alone
    line: Line


@dataclass(frozen=True)
class FitResult:
    question: Question
    spec: ModelSpec
    shape: Shape
    engine: Engine
    status: str
    cost: float  # objective
    lines: tuple[Line, ...]
    candidates: tuple[Candidate, ...]  # every shape considered, scored or rejected
    ruled_out: tuple[tuple[str, str], ...]
    alternatives: tuple[Alternative, ...]
    others: tuple[Line, ...]  # next-best single-shape plans (--top)
    pool: tuple[ScoredShape, ...]  # viable and not dominated: what the solver saw
    # (objective cost, line) of the cheapest plan made of each pool candidate
    # alone, where the limits allow one; in pool order
    singles: tuple[tuple[float, Line], ...]
    # the figures behind every shape's quality loss (weights and KV cache)
    quality: PlanQuality = field(repr=False, compare=False)

    @property
    def gpus(self) -> int:
        return sum(line.gpus for line in self.lines)

    def quality_of(self, c: DeploymentShape) -> DeploymentQuality:
        """The weight and KV-cache figures of one shape, with their sources and rules."""
        return self.quality(c)

    def quality_loss(self, c: DeploymentShape) -> float | None:
        """Weights plus KV-cache loss in percent; None when either is unknown."""
        return self.quality(c).loss_pct

    @property
    def hourly_usd(self) -> float | None:
        return _total(self.lines, lambda c: c.hourly_usd)

    @property
    def capex_usd(self) -> float | None:
        return _total(self.lines, lambda c: c.capex_usd)

    @property
    def power_w(self) -> float | None:
        return _total(self.lines, lambda c: c.power_w)

    # Rates are the performance model's floats, not catalog decimals: added as floats.
    @property
    def tokens_per_s(self) -> float:
        return sum(line.candidate.tokens_per_s * line.replicas for line in self.lines)

    @property
    def throughput(self) -> float:
        return sum(line.candidate.throughput * line.replicas for line in self.lines)


def _total(lines: Sequence[Line], per_replica: Callable[[ScoredShape], float | None]) -> float | None:
    """A price or power total, added exactly as the solver adds the same figures
    (so the plan's total and the solver's agree to the last digit); None when a
    line lacks the figure."""
    terms = []
    for line in lines:
        value = per_replica(line.candidate)
        if value is None:
            return None
        terms.append((line.replicas, value))
    return solver.decimal_total(terms)


def _replica_option(c: ScoredShape, economics: Economics, loss: Callable[[DeploymentShape], float]) -> solver.ReplicaOption:
    return solver.ReplicaOption(
        key=c.key,
        gpu=c.gpu.id,
        gpus_per_replica=c.gpus,
        throughput=c.throughput,
        cost=c.cost(economics) or 0.0,
        hourly_usd=c.hourly_usd or 0.0,
        capex_usd=c.capex_usd or 0.0,
        power_w=c.power_w or 0.0,
        quality_loss_pct=loss(c),
    )


def prune_dominated(cands: list[ScoredShape], need_throughput: bool,
                    loss: Callable[[DeploymentShape], float]) -> list[ScoredShape]:
    """Drop candidates another beats outright on the same GPU type: B dominates
    A when A's GPUs are a multiple k of B's, k replicas of B serve at least A's
    throughput, and B loses no more quality by ``loss`` (PlanQuality.rank: k x
    B costs, draws and occupies exactly what A does). Without a throughput
    target throughput is moot."""
    by_gpu: dict[str, list[ScoredShape]] = {}
    for c in cands:
        by_gpu.setdefault(c.gpu.id, []).append(c)
    kept: list[ScoredShape] = []
    for group in by_gpu.values():
        group.sort(key=lambda c: (c.gpus, loss(c), -c.throughput))
        survivors: list[ScoredShape] = []
        for a in group:
            dominated = False
            for b in survivors:
                if a.gpus % b.gpus:
                    continue
                k = a.gpus // b.gpus
                if loss(b) <= loss(a) and (not need_throughput or k * b.throughput >= a.throughput):
                    dominated = True
                    break
            if not dominated:
                survivors.append(a)
        kept.extend(survivors)
    return kept


def _limits(q: Question, demand: float, time_limit: float = solver.DEFAULT_TIME_LIMIT_S) -> solver.Limits:
    budget = q.budget
    return solver.Limits(
        demand=demand,
        inventory=q.inventory,
        max_gpus=q.max_gpus,
        max_power_w=q.max_power_w,
        max_hourly_usd=budget.usd if budget is not None and budget.per_hour else None,
        max_capex_usd=budget.usd if budget is not None and not budget.per_hour else None,
        time_limit_s=time_limit,
    )


def _demand(q: Question, spec: ModelSpec) -> float:
    rate = q.targets.throughput
    if rate is None:
        return 0.0
    if spec.model.kind is ModelKind.ENCODER and rate.kind == "tokens":
        raise InputError("an encoder's throughput is in samples/s or req/s, not tok/s",
                         hint=["e.g. ", Field("targets.throughput"), " '500 samples/s'"], field="targets.throughput")
    if spec.model.kind is ModelKind.DECODER and rate.kind == "samples":
        raise InputError("a decoder's throughput is in tok/s or req/s, not samples/s",
                         hint=["e.g. ", Field("targets.throughput"), " '2000 tok/s'"], field="targets.throughput")
    return rate.per_second


def _allowed_gpus(catalog: Catalog, q: Question) -> list[Gpu] | None:
    """The GPU types the question allows (None: every one), by name and segment."""
    gpus = [catalog.gpu(g) for g in q.gpus] if q.gpus else None
    if not q.segments:
        return gpus
    kept = [g for g in (gpus or catalog.gpus.values()) if g.segment in q.segments]
    if not kept:
        raise InputError("no GPU is left in the allowed segments", hint=["widen ", Field("segments"), " or ", Field("gpus")],
                         field="segments")
    return kept


def fit(catalog: Catalog, q: Question) -> FitResult:
    spec = resolve_spec(catalog, q.model)
    check_targets_apply(q.targets, q.output_tokens, decoder=spec.model.kind is ModelKind.DECODER)
    shape = Shape(q.input_tokens, 0 if spec.model.kind is ModelKind.ENCODER else q.output_tokens)
    check_context(spec, shape, q.rope_scaling)
    engine = catalog.engine(q.engine)
    if q.max_batch is not None:
        engine = engine.model_copy(update={"max_batch": q.max_batch})
    demand = _demand(q, spec)
    if q.inventory:  # by id, whichever alias was given; unknown names are an input error
        q = q.replace(inventory={catalog.gpu(name).id: count for name, count in q.inventory.items()})
    gpus = _allowed_gpus(catalog, q)
    precisions = [catalog.precision(p) for p in q.precisions] if q.precisions else None
    kvs = [catalog.precision(p) for p in q.kv_precisions] if q.kv_precisions else None
    cands, ruled_out = enumerate_candidates(
        catalog, spec, shape, q.targets, engine, gpus=gpus, precisions=precisions, kv_precisions=kvs,
        max_quality_loss=q.max_quality_loss, gpus_per_node=q.gpus_per_node,
        memory_utilization=q.memory_utilization, economics=q.economics,
    )
    viable = [c for c in cands if isinstance(c, ScoredShape) and (demand == 0 or c.throughput > 0)]
    if not viable:
        raise NoPlanError(diagnose.why_no_candidate(spec, q, cands, ruled_out, {g.id for g in gpus or catalog.gpus.values()}))
    quality = PlanQuality(catalog, spec.model)
    pool = prune_dominated(viable, need_throughput=demand > 0, loss=quality.rank)
    by_key = {c.key: c for c in pool}
    options = [_replica_option(c, q.economics, quality.rank) for c in pool]
    try:
        plan = solver.solve(options, _limits(q, demand))
    except ValueError as exc:  # figures too large for 64-bit integers once scaled
        raise InputError(f"the question cannot be solved: {exc}", hint="check the prices and limits for absurd values") from None
    if plan.status not in (solver.OPTIMAL, solver.FEASIBLE):
        def solve_within(q2: Question) -> solver.Plan:
            return solver.solve(options, _limits(q2, demand, diagnose.RELAXATION_TIME_LIMIT_S))

        def most_within(q2: Question) -> float | None:
            return solver.max_throughput(options, _limits(q2, demand, diagnose.RELAXATION_TIME_LIMIT_S))

        raise NoPlanError(diagnose.why_infeasible(q, demand, plan.status, solve_within, most_within))
    lines = [Line(by_key[line.option.key], line.replicas) for line in plan.lines if line.replicas > 0]
    singles = [p for p in (single_shape_plan(q, demand, c) for c in pool) if p is not None]
    return FitResult(
        q, spec, shape, engine, plan.status, plan.cost, tuple(lines), tuple(cands), tuple(ruled_out),
        alternatives=tuple(_alternatives(lines, singles, quality.rank)),
        others=tuple(_next_best(lines, singles, quality.rank)[: max(q.top - 1, 0)]),
        pool=tuple(pool),
        singles=tuple(singles),
        quality=quality,
    )


# --- single-shape plans (alternatives, --top) ------------------------------------


def single_shape_plan(q: Question, demand: float, c: ScoredShape) -> tuple[float, Line] | None:
    """The cheapest plan made of one candidate only, or None if limits forbid it."""
    replicas = max(1, math.ceil(demand / c.throughput - 1e-9)) if demand > 0 else 1
    gpus = replicas * c.gpus
    if q.inventory and c.gpu.id in q.inventory and gpus > q.inventory[c.gpu.id]:
        return None
    if q.max_gpus is not None and gpus > q.max_gpus:
        return None
    if q.max_power_w is not None and (c.power_w or 0) * replicas > q.max_power_w:
        return None
    if q.budget is not None:
        spend = c.hourly_usd if q.budget.per_hour else c.capex_usd
        if spend is None or spend * replicas > q.budget.usd:
            return None
    cost = c.cost(q.economics)
    return (cost or 0.0) * replicas, Line(c, replicas)


def _rank(single: tuple[float, Line], loss: Callable[[DeploymentShape], float]) -> tuple[float, float, int]:
    cost, line = single
    return cost, loss(line.candidate), line.gpus


def _next_best(lines: list[Line], singles: list[tuple[float, Line]],
               loss: Callable[[DeploymentShape], float]) -> list[Line]:
    """Single-shape plans, cheapest first, other than a line of the chosen plan."""
    chosen_keys = {(line.candidate.key, line.replicas) for line in lines}
    return [line for _cost, line in sorted(singles, key=lambda single: _rank(single, loss))
            if (line.candidate.key, line.replicas) not in chosen_keys]


def _alternatives(lines: list[Line], singles: list[tuple[float, Line]],
                  loss: Callable[[DeploymentShape], float]) -> list[Alternative]:
    """The best single-shape plan on each GPU type the chosen lines do not use."""
    used = {line.candidate.gpu.id for line in lines}
    best: dict[str, tuple[float, Line]] = {}
    for single in singles:
        gpu = single[1].candidate.gpu.id
        if gpu not in used and (gpu not in best or _rank(single, loss) < _rank(best[gpu], loss)):
            best[gpu] = single
    alts = [Alternative(gpu, cost, line) for gpu, (cost, line) in best.items()]
    alts.sort(key=lambda a: a.plan_cost)
    return alts


def line_prediction(result: FitResult, line: Line) -> Prediction:
    """The `planner predict` view of one plan line (for its JSON keys)."""
    c = line.candidate
    dep = Deployment(gpu=c.gpu, precision=c.precision, kv_precision=c.kv_precision, engine=result.engine,
                     tp=c.tp, pp=c.pp, batch=c.batch, memory_utilization=result.question.memory_utilization)
    fmt, _rate = perf.deployment_matmul_format(dep)
    return Prediction(
        spec=result.spec, deployment=dep, shape=result.shape, gpus=line.gpus, replicas=line.replicas,
        memory=c.memory, timing=c.prediction, factors=c.factors, batch_was_max=False, matmul_format=fmt,
    )
