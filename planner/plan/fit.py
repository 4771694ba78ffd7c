"""`fit`: the question in, the cheapest plan out (library API of `planner fit`).

Finds what may be rented, bought or is owned (offers.py), enumerates and
scores shapes on those GPUs (candidates.py), places each on the offers in
whole units (placement.py), drops the dominated ones, hands the rest to the
CP-SAT solver (solver.py), and, when nothing is feasible, works out which
constraint binds and the smallest relaxation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from planner.model import perf

from planner.plan import diagnose, disaggregation, solver, verify
from planner.plan.candidates import (
    DECODE,
    PREFILL,
    Candidate,
    Constraint,
    DeploymentShape,
    RejectedShape,
    ScoredShape,
    Serving,
    enumerate_candidates,
)
from planner.plan.offers import Offer, offers_for
from planner.plan.placement import Line, Placement, place, prune_dominated
from planner.catalog.load import Catalog
from planner.core.errors import Field, InputError, NoPlanError
from planner.core.units import format_rate
from planner.catalog.schema import Engine, Gpu, Model, ModelKind
from planner.model.predict import Prediction
from planner.model.quality import DeploymentQuality, deployment_quality
from planner.model.lengths import fixed
from planner.model.resolve import resolve_spec
from planner.model.workload import Deployment, ModelSpec, Shape, check_context
from planner.plan.question import DEFAULT_SEGMENTS, Economics, Question, check_targets_apply

DIAGNOSE_ATTEMPTS = 3  # relaxation searches before the last is taken as it stands (a search bound)


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
    pool: tuple[Placement, ...]  # viable shapes on offers, not dominated: what the solver saw
    offers: tuple[Offer, ...]  # what the question may rent, buy or owns
    # (objective cost, line) of the cheapest plan made of each pool candidate
    # alone, where the limits allow one; in pool order
    singles: tuple[tuple[float, Line], ...]
    # the figures behind every shape's quality loss (weights and KV cache)
    quality: PlanQuality = field(repr=False, compare=False)
    headroom: float = 0.0  # share of each replica's simulated capacity kept free (decoders)
    checks: tuple[verify.LineCheck, ...] = ()  # each line's replica simulated at its load (decoders)
    simulated: dict[str, verify.Simulated] = field(default_factory=dict, repr=False, compare=False)  # by shape key
    # whether disaggregated prefill/decode pools were offered and what they
    # cost against whole replicas (None: the question is an encoder's)
    disaggregation: disaggregation.Verdict | None = None
    # every shape scored as a prefill or decode worker of disaggregated pools
    workers: tuple[ScoredShape, ...] = ()

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
    def hourly_usd(self) -> float:
        return _total(self.lines, lambda p: p.hourly_usd) or 0.0

    @property
    def capex_usd(self) -> float:
        return _total(self.lines, lambda p: p.capex_usd) or 0.0

    @property
    def power_w(self) -> float | None:
        return _total(self.lines, lambda p: p.power_w)

    # Rates are the performance model's floats, not catalog decimals: added as
    # floats. Disaggregated pools serve the fewer of their two roles' rates.
    @property
    def tokens_per_s(self) -> float:
        return disaggregation.served(self.lines, lambda c: c.tokens_per_s)

    @property
    def throughput(self) -> float:
        return disaggregation.served(self.lines, lambda c: c.throughput)


def _total(lines: Sequence[Line], per_unit: Callable[[Placement], float | None]) -> float | None:
    """A price or power total, added exactly as the solver adds the same figures
    (so the plan's total and the solver's agree to the last digit); None when a
    line lacks the figure."""
    terms = []
    for line in lines:
        value = per_unit(line.placement)
        if value is None:
            return None
        terms.append((line.units, value))
    return solver.decimal_total(terms)


def replica_option(p: Placement, economics: Economics, loss: Callable[[DeploymentShape], float]) -> solver.ReplicaOption:
    """The solver's view of a placement: one unit's figures."""
    return solver.ReplicaOption(
        key=p.key,
        gpu=p.shape.gpu.id,
        gpus_per_unit=p.gpus_per_unit,
        throughput=p.throughput,
        cost=p.cost(economics) or 0.0,
        hourly_usd=p.hourly_usd,
        capex_usd=p.capex_usd,
        power_w=p.power_w or 0.0,
        quality_loss_pct=loss(p.shape),
        replicas_per_unit=p.replicas_per_unit,
        pool=p.offer.pool,
        role=p.shape.role,
        link=disaggregation.link(p),
    )


def _pools(q: Question) -> dict[str, int] | None:
    """GPUs per pool: what may be rented or bought of a type (--available),
    and what is owned (its own pool)."""
    pools = dict(q.available or {})
    pools.update({f"owned:{gpu}": count for gpu, count in (q.owned or {}).items()})
    return pools or None


def _limits(q: Question, demand: float, time_limit: float = solver.DEFAULT_TIME_LIMIT_S) -> solver.Limits:
    budget = q.budget
    return solver.Limits(
        demand=demand,
        inventory=_pools(q),
        max_gpus=q.max_gpus,
        max_power_w=q.max_power_w,
        max_hourly_usd=budget.usd_per_hour if budget is not None and budget.per_hour else None,
        max_capex_usd=budget.usd if budget is not None and not budget.per_hour else None,
        spares=q.redundancy,
        zones=q.zones,
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


def _allowed_gpus(catalog: Catalog, q: Question) -> list[Gpu]:
    """The GPU types the question allows, by name and segment. Without a
    segment, named GPUs are taken as named, and otherwise only datacenter and
    workstation parts are planned (consumer cards need --segment consumer)."""
    gpus = [catalog.gpu(g) for g in q.gpus] if q.gpus else list(catalog.gpus.values())
    segments = q.segments or (None if q.gpus else DEFAULT_SEGMENTS)
    if segments is None:
        return gpus
    kept = [g for g in gpus if g.segment in segments]
    if not kept:
        raise InputError("no GPU is left in the allowed segments", hint=["widen ", Field("segments"), " or ", Field("gpus")],
                         field="segments")
    return kept


def fit(catalog: Catalog, q: Question, *, relaxations: bool = True, pools: bool = True) -> FitResult:
    """The cheapest plan for ``q``. When nothing is feasible a NoPlanError
    says why; with ``relaxations`` (the default) it also searches for the
    smallest change of each limit that would give a plan, which takes many
    solves: callers that only need to know there is no plan turn it off.
    ``pools=False`` plans whole replicas only (a fleet, whose solver does not
    couple prefill and decode workers)."""
    spec = resolve_spec(catalog, q.model)
    check_targets_apply(q.targets, q.output_tokens, decoder=spec.model.kind is ModelKind.DECODER)
    shape = Shape(q.input_tokens, 0 if spec.model.kind is ModelKind.ENCODER else q.output_tokens)
    check_context(spec, shape, q.rope_scaling)
    engine = catalog.engine(q.engine)
    if q.max_batch is not None:
        engine = engine.model_copy(update={"max_batch": q.max_batch})
    demand = _demand(q, spec)
    # GPU counts by id, whichever alias was given; unknown names are an input error
    for name in ("available", "owned"):
        counts = getattr(q, name)
        if counts:
            q = q.replace(**{name: {catalog.gpu(gpu).id: count for gpu, count in counts.items()}})
    allowed = _allowed_gpus(catalog, q)
    owned_ids = {gpu for gpu, count in (q.owned or {}).items() if count > 0}
    gpus = allowed + [catalog.gpu(g) for g in sorted(owned_ids - {g.id for g in allowed})]
    offers, unpriced = offers_for(catalog, q, gpus)
    unit_gpus: dict[str, int] = {}
    for offer in offers:
        unit_gpus[offer.gpu.id] = max(unit_gpus.get(offer.gpu.id, 0), offer.gpus)
    offered = [g for g in gpus if g.id in unit_gpus]
    precisions = [catalog.precision(p) for p in q.precisions] if q.precisions else None
    kvs = [catalog.precision(p) for p in q.kv_precisions] if q.kv_precisions else None
    ruled_out = list(unpriced)
    decoder = spec.model.kind is ModelKind.DECODER
    lengths = fixed(q.input_tokens, max(q.output_tokens, 1))
    lengths_mean_output = float(max(q.output_tokens, 1))
    settings = verify.settings_for(engine, q.max_batch)
    headroom = (q.headroom if q.headroom is not None else verify.DEFAULT_HEADROOM) if decoder else 0.0
    cands: list[Candidate] = []
    workers = disaggregation.Offered((), "no GPU is offered" if pools else "a fleet plans whole replicas")
    if offered:
        cands, format_ruled_out = enumerate_candidates(
            catalog, spec, shape, q.targets, engine, gpus=offered, precisions=precisions, kv_precisions=kvs,
            max_quality_loss=q.max_quality_loss, gpus_per_node=q.gpus_per_node,
            memory_utilization=q.memory_utilization, unit_gpus=unit_gpus, serving=Serving(lengths, settings),
        )
        ruled_out += format_ruled_out
        if pools:
            workers = disaggregation.role_shapes(spec, shape, q.targets, cands, engine, q.memory_utilization,
                                               Serving(lengths, settings), headroom, q.redundancy, q.zones)
    if headroom:  # plannable throughput: the estimate with the headroom kept free
        cands = [replace(c, throughput=c.throughput / (1 + headroom)) if isinstance(c, ScoredShape) else c
                 for c in cands]
    verifier = verify.Verifier.of_question(spec.model, engine, q, headroom) if decoder else None
    quality = PlanQuality(catalog, spec.model)
    if not any(isinstance(c, ScoredShape) and (demand == 0 or c.throughput > 0) for c in cands):
        raise NoPlanError(diagnose.why_no_candidate(spec, q, cands, ruled_out, {g.id for g in gpus}))
    search = _Search(cands, offers, q, demand, quality, verifier, lengths_mean_output, workers.shapes)
    try:
        plan, pool, by_key, options = search.solve(q, solver.DEFAULT_TIME_LIMIT_S)
    except ValueError as exc:  # figures too large for 64-bit integers once scaled
        raise InputError(f"the question cannot be solved: {exc}", hint="check the prices and limits for absurd values") from None
    if plan.status not in (solver.OPTIMAL, solver.FEASIBLE) and not relaxations:
        want = format_rate(q.targets.throughput) if q.targets.throughput is not None and demand > 0 else "one replica"
        raise NoPlanError(f"no plan serves {want} within the limits")
    if plan.status not in (solver.OPTIMAL, solver.FEASIBLE):
        def solve_within(q2: Question) -> solver.Plan:
            return search.solve(q2, diagnose.RELAXATION_TIME_LIMIT_S)[0]

        def most_within(q2: Question) -> float | None:
            return solver.max_throughput(search.pool()[2], _limits(q2, demand, diagnose.RELAXATION_TIME_LIMIT_S))

        # The relaxations are searched with simulated scores: a probe that
        # simulates a new shape can change what earlier probes found, so the
        # search is run again until it simulates nothing new (a few rounds).
        for _attempt in range(DIAGNOSE_ATTEMPTS):
            simulated = len(verifier.done) if verifier is not None else 0
            reason = diagnose.why_infeasible(q, demand, plan.status, solve_within, most_within)
            if verifier is None or len(verifier.done) == simulated:
                break
        raise NoPlanError(reason)
    cands = search.cands
    lines = [Line(by_key[line.option.key], line.units) for line in plan.lines if line.units > 0]
    whole = [line for line in lines if not line.candidate.role]
    decoding = [line for line in lines if line.candidate.role == DECODE]
    # the whole replicas' share of the demand; the pools serve the rest, and
    # their decode workers are simulated at it (prefill workers are not)
    share = min(disaggregation.served(whole, lambda c: c.throughput) / max(plan.throughput, 1e-300), 1.0)
    checks: tuple[verify.LineCheck, ...] = ()
    if verifier is not None:
        checks = (_check_lines(verifier, whole, demand * share, q, lengths_mean_output)
                  + _check_lines(verifier, decoding, demand * (1 - share), q, lengths_mean_output))
    by_check = {check.key: check for check in checks}
    lines = [_at_load(line, by_check[line.candidate.key]) if line.candidate.key in by_check else line for line in lines]
    singles = [s for s in (single_shape_plan(q, demand, p) for p in pool if not p.shape.role) if s is not None]
    verdict = None
    if decoder:
        verdict = disaggregation.verdict(workers, plan, options, _limits(q, demand, diagnose.RELAXATION_TIME_LIMIT_S),
                                         [line.candidate for line in lines], search.cands)
    return FitResult(
        q, spec, shape, engine, plan.status, plan.cost, tuple(lines), tuple(cands), tuple(ruled_out),
        alternatives=tuple(_alternatives(lines, singles, quality.rank)),
        others=tuple(_next_best(lines, singles, quality.rank)[: max(q.top - 1, 0)]),
        pool=tuple(pool),
        offers=tuple(offers),
        singles=tuple(singles),
        quality=quality,
        headroom=headroom,
        checks=checks,
        simulated={k: v for k, v in verifier.done.items()} if verifier is not None else {},
        disaggregation=verdict,
        workers=workers.shapes,
    )


class _Search:
    """Solve, simulate the shapes the plan chose, re-score them and solve
    again until the plan is made of simulated shapes (verify.py module note).
    Scores found stay for later solves: the relaxations `fit` suggests when
    nothing is feasible are searched the same way, so they hold."""

    def __init__(self, cands: list[Candidate], offers: list[Offer], q: Question, demand: float, quality: PlanQuality,
                 verifier: verify.Verifier | None, mean_output: float, roles: Sequence[ScoredShape] = ()) -> None:
        self.cands, self.offers, self.q, self.demand = cands, offers, q, demand
        self.quality, self.verifier, self.mean_output = quality, verifier, mean_output
        self.roles = list(roles)  # prefill and decode workers (decode workers are simulated like replicas)

    def pool(self) -> tuple[list[Placement], dict[str, Placement], list[solver.ReplicaOption]]:
        viable = [c for c in self.cands if isinstance(c, ScoredShape) and (self.demand == 0 or c.throughput > 0)]
        # whole replicas, and each role and KV format of pool workers, are
        # pruned apart: a worker's throughput is not a replica's
        groups: dict[tuple[str, str], list[Placement]] = {}
        for c in viable + self.roles:
            for offer in self.offers:
                if (p := place(c, offer)) is not None:
                    groups.setdefault((c.role, disaggregation.link(p)), []).append(p)
        pool = [p for group in groups.values()
                for p in prune_dominated(group, need_throughput=self.demand > 0, economics=self.q.economics,
                                         loss=self.quality.rank)]
        options = [replica_option(p, self.q.economics, self.quality.rank) for p in pool]
        return pool, {p.key: p for p in pool}, options

    def solve(self, q: Question, time_limit: float) -> tuple[solver.Plan, list[Placement], dict[str, Placement],
                                                             list[solver.ReplicaOption]]:
        for round_ in range(verify.MAX_ROUNDS):
            pool, by_key, options = self.pool()
            plan = solver.solve(options, _limits(q, self.demand, time_limit))
            v = self.verifier
            if v is None or plan.status not in (solver.OPTIMAL, solver.FEASIBLE):
                return plan, pool, by_key, options
            # whole replicas and decode workers are simulated; a prefill
            # worker's TTFT is already a queueing bound (disaggregation.py)
            chosen = [by_key[line.option.key].shape for line in plan.lines
                      if line.units > 0 and line.option.role != PREFILL]
            todo = {c.key: c for c in chosen if c.key not in v.done}
            if not todo:
                return plan, pool, by_key, options
            # and the next shapes the solver would reach for: the cheapest per
            # unit of throughput not yet simulated (fewer rounds)
            ranked = sorted((p for p in pool if p.shape.key not in v.done and p.throughput > 0
                             and p.shape.role != PREFILL),
                            key=lambda p: (p.cost(self.q.economics) or 0.0) / p.throughput) if self.demand > 0 else []
            for p in ranked:
                if len(todo) >= len(chosen) + verify.EXTRA_PER_ROUND:
                    break
                todo.setdefault(p.shape.key, p.shape)
            if round_ == verify.MAX_ROUNDS - 2:
                # the last round: whatever is still unsimulated is left out, so the
                # plan the last solve finds is made of simulated shapes only
                self.cands = [c for c in self.cands
                              if not isinstance(c, ScoredShape) or c.key in v.done or c.key in todo]
                self.roles = [c for c in self.roles if c.role == PREFILL or c.key in v.done or c.key in todo]
            for key, c in todo.items():
                sim = v.simulate(key, c, guess=c.tokens_per_s / self.mean_output, search=self.demand > 0)
                self.cands = [_rescored(x, sim, self.q, self.mean_output) if x.key == key else x for x in self.cands]
                rescored = [_rescored(x, sim, self.q, self.mean_output) if x.key == key else x for x in self.roles]
                self.roles = [x for x in rescored if isinstance(x, ScoredShape)]  # a rejected worker leaves
        return plan, pool, by_key, options


def _rescored(c: Candidate, sim: verify.Simulated, q: Question, mean_output: float) -> Candidate:
    """A shape's score replaced by its simulated capacity at the targets, less
    the headroom; a shape that meets them at no load is rejected."""
    cap = sim.capacity
    if cap.rate <= 0 or cap.at is None:
        return RejectedShape(c.gpu, c.precision, c.kv_precision, c.tp, c.pp, f"simulated: {cap.limit}",
                             Constraint.LATENCY, dp=c.dp, ep=c.ep)
    assert isinstance(c, ScoredShape)
    rate = sim.plannable_rate
    per_request = mean_output  # output tokens per request: tokens/s = requests/s x mean output
    kind = q.targets.throughput.kind if q.targets.throughput else "tokens"
    return replace(c, throughput=rate if kind == "requests" else rate * per_request,
                      tokens_per_s=rate * per_request)


def _at_load(line: Line, check: verify.LineCheck) -> Line:
    """The line with its shape's figures as simulated at the plan's load:
    mean TTFT, TPOT and e2e over requests, and the mean running requests as
    its batch (the throughput stays the plannable rate)."""
    s = check.trial.summary
    c = line.candidate
    if s.ttft is None or s.e2e is None:
        return line
    if c.role == DECODE:  # its requests come prefilled: no TTFT of its own, e2e the rest
        timing = replace(c.prediction, tpot_s=s.tpot.mean if s.tpot else None, e2e_s=s.e2e.mean - s.ttft.mean)
    else:
        timing = perf.Timing(s.ttft.mean, s.tpot.mean if s.tpot else None, s.e2e.mean, c.tokens_per_s, None,
                             c.prediction.prefill, c.prediction.decode)
    shape = replace(c, batch=max(1, round(s.mean_running)), prediction=timing)
    return Line(replace(line.placement, shape=shape), line.units)


def _check_lines(verifier: verify.Verifier, lines: list[Line], demand: float, q: Question,
                 mean_output: float) -> tuple[verify.LineCheck, ...]:
    """Each line's replica simulated at the load the plan gives it: the
    demand shared in proportion to plannable rate (module note of verify.py)."""
    kind = q.targets.throughput.kind if q.targets.throughput else "tokens"
    total = sum(verifier.done[line.candidate.key].plannable_rate * line.replicas for line in lines)
    checks = []
    for line in lines:
        sim = verifier.done[line.candidate.key]
        if demand > 0 and total > 0:
            share = sim.plannable_rate / total
            rate = demand * share / (mean_output if kind == "tokens" else 1.0)
            checks.append(verifier.check(line.candidate.key, line.candidate, rate))
        elif sim.capacity.at is not None:  # no demand: the figures at the rate simulated
            checks.append(verify.LineCheck(line.candidate.key, sim.capacity.rate, sim.capacity.at,
                                           sim.capacity.requests, sim.capacity.cv))
    return tuple(checks)


# --- single-shape plans (alternatives, --top) ------------------------------------


def single_shape_plan(q: Question, demand: float, p: Placement) -> tuple[float, Line] | None:
    """The cheapest plan made of one placement only, or None if limits forbid it."""
    units = max(1, math.ceil(demand / p.throughput - 1e-9)) if demand > 0 else 1
    if q.redundancy:
        units = max(units + q.redundancy, q.redundancy + 1)
    if q.zones > 1:  # a zone holds ceil(units / zones): the rest must still serve the demand
        units = max(units, q.zones)
        while (units - -(-units // q.zones)) * p.throughput < demand * (1 - 1e-12):
            units += 1
    gpus = units * p.gpus_per_unit
    cap = (_pools(q) or {}).get(p.offer.pool)
    if cap is not None and gpus > cap:
        return None
    if q.max_gpus is not None and gpus > q.max_gpus:
        return None
    if q.max_power_w is not None and (p.power_w or 0) * units > q.max_power_w:
        return None
    if q.budget is not None:
        spend = p.hourly_usd * units if q.budget.per_hour else p.capex_usd * units
        if spend > (q.budget.usd_per_hour if q.budget.per_hour else q.budget.usd):
            return None
    cost = p.cost(q.economics)
    return (cost or 0.0) * units, Line(p, units)


def _rank(single: tuple[float, Line], loss: Callable[[DeploymentShape], float]) -> tuple[float, float, int]:
    cost, line = single
    return cost, loss(line.candidate), line.gpus


def _next_best(lines: list[Line], singles: list[tuple[float, Line]],
               loss: Callable[[DeploymentShape], float]) -> list[Line]:
    """Single-shape plans, cheapest first, other than a line of the chosen plan."""
    chosen_keys = {(line.placement.key, line.units) for line in lines}
    return [line for _cost, line in sorted(singles, key=lambda single: _rank(single, loss))
            if (line.placement.key, line.units) not in chosen_keys]


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
                     tp=c.tp, pp=c.pp, dp=c.dp, ep=c.ep, batch=c.batch,
                     memory_utilization=result.question.memory_utilization)
    fmt, _rate = perf.deployment_matmul_format(dep)
    return Prediction(
        spec=result.spec, deployment=dep, shape=result.shape, gpus=line.gpus, replicas=line.replicas,
        memory=c.memory, timing=c.prediction, factors=c.factors, batch_was_max=False, matmul_format=fmt,
    )
