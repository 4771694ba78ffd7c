"""`fit --scenario`: a fleet of workloads planned together (library API).

A scenario (planner/plan/scenario.py) lists workloads, each a model with its
load over the day, request lengths, targets and limits, and the limits they
share (owned and available GPUs, providers, pricing, budget, power). Each
workload, or each request-size class of it, is one demand stream. For each
stream the single-workload search (fit.py) finds and simulates the shapes
worth planning; those shapes, placed on every offer the scenario allows (on
demand: flexible by the hour; owned, bought or reserved: held all day), are
the options of one joint CP-SAT model (fleet_solver.py) that picks the
cheapest fleet for every hour under the shared limits.

Replicas are never shared between workloads: sharing one replica between
two workloads of the same model would need their mixed traffic simulated
against the stricter targets, which is not modelled; each workload gets its
own replicas.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from planner.catalog.load import Catalog
from planner.core.errors import InputError, NoPlanError
from planner.core.units import format_money, format_power
from planner.plan import fleet_solver, solver, verify
from planner.plan.fit import FitResult
from planner.plan.fleet_streams import StreamOptions, option_key, stream_options
from planner.plan.placement import Placement
from planner.plan.question import Objective, Question
from planner.plan.scenario import Scenario

HOURS = fleet_solver.PERIODS_PER_DAY
PLANNED = (solver.OPTIMAL, solver.FEASIBLE)
# A line is checked at its load rounded up to a step of 1/CHECK_STEPS of its
# plannable rate (_Checks): at most 5% of that rate above its load (stricter,
# never laxer), and at most 20 checks a shape however many streams use it.
# Policy: a trade of check runs against how far above its load a line is checked.
CHECK_STEPS = 20
# Time for each solve that only asks why a fleet is infeasible (a search bound).
DIAGNOSE_TIME_LIMIT_S = 5.0


@dataclass(frozen=True)
class FleetPlanLine:
    """Units of one placement for one stream over the day."""

    placement: Placement
    flexible: bool  # rented on demand, counted hour by hour; else held all day
    committed: int  # units held all day
    by_hour: tuple[int, ...]  # units in use in each of the 24 hours (committed included)
    check: verify.LineCheck | None  # one replica simulated at its share of the peak hour's load (decoders)

    @property
    def peak_units(self) -> int:
        return max(self.by_hour, default=0)


@dataclass(frozen=True)
class StreamPlan:
    """One demand stream: a workload, or one request-size class of it."""

    name: str  # "chat", or "chat/long" for a class
    workload: str  # the workload's name
    share: float  # of the workload's requests (1.0 without classes)
    question: Question  # the stream's own question: model, lengths, targets, peak throughput, limits
    demand: tuple[float, ...]  # per hour, in the question's throughput unit
    fit: FitResult  # the single-stream search whose simulated shapes gave the options
    lines: tuple[FleetPlanLine, ...]
    # every shape the stream's searches simulated (with owned GPUs and on
    # the market alone, at each peak searched), by shape key
    simulated: Mapping[str, verify.Simulated] = field(default_factory=dict, repr=False, compare=False)
    # every placement the fleet model could choose for the stream (all its
    # searches, every offer and pricing the scenario allows)
    options: tuple[Placement, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class FleetResult:
    """The fleet's answer. Costs are per day for the hourly objective (USD/day)
    and one-off for capex and tco (USD): ``cost_unit`` says which."""

    name: str  # the scenario's
    status: str  # fleet_solver's: optimal, feasible (gap stated by cost_bound)
    cost: float  # the plan (autoscaled where capacity is rented on demand)
    cost_bound: float | None
    cost_unit: str  # "USD/day" or "USD"
    static_cost: float | None  # the same question sized for the peak hour (no autoscaling); None if no such plan
    separate_cost: float | None  # workloads fitted one at a time in file order, each with what the earlier left; None if that fails
    streams: tuple[StreamPlan, ...]
    hourly_usd: tuple[float, ...]  # rent per hour of the day (0 for bought and owned)
    gpus_by_hour: tuple[int, ...]
    binding: tuple[str, ...]  # shared limits at their cap in some hour, as the user wrote them ("budget $400/h")
    scenario_path: str | None  # where the scenario was read from
    solve_s: float
    plan: fleet_solver.FleetPlan
    limits: fleet_solver.FleetLimits | None = None  # the shared limits the fleet was solved under


# --- fit_fleet ---------------------------------------------------------------


def fit_fleet(catalog: Catalog, scenario: Scenario, *,
              time_limit_s: float = fleet_solver.DEFAULT_TIME_LIMIT_S) -> FleetResult:
    """The cheapest fleet serving every workload of ``scenario`` in every
    hour (module note), with the same fleet sized for the peak
    (``static_cost``) and the workloads fitted one at a time in file order
    (``separate_cost``) for comparison. Raises NoPlanError naming the
    workload that cannot be served within the limits alone, else the shared
    limit that binds; InputError for a bad name or figure. ``time_limit_s``
    bounds each solve (the plan, the peak-sized one, each workload of the
    baseline)."""
    started = time.perf_counter()
    limits = fleet_limits(catalog, scenario, time_limit_s)
    found = stream_options(catalog, scenario)
    streams = [fleet_solver.Stream(f.stream.name, f.stream.demand, scenario.shared.redundancy) for f in found]
    options = [o for f in found for o in f.options()]
    # sized for the peak first: that fleet keeps within the limits every hour,
    # so the autoscaled search starts from it and never answers worse
    static = _solve(streams, options, replace(limits, static=True))
    plan = _solve(streams, options, limits, start=static.lines if static.status in PLANNED else ())
    if plan.status not in PLANNED:
        raise NoPlanError(_why_infeasible(scenario, found, streams, options, limits, plan.status))
    separate = separate_cost(found, streams, limits)
    by_key = {option_key(f.stream.name, p): (p, flexible)
              for f in found for p, flexible in zip(f.placements, f.flexible)}
    checks = _Checks()
    stream_plans = []
    for f, stream in zip(found, streams):
        lines = []
        for line in plan.lines_of(stream.name):
            placement, flexible = by_key[line.option.key]
            lines.append(FleetPlanLine(placement, flexible, line.committed, line.by_period, None))
        lines = checks.of(f, lines)
        s = f.stream
        stream_plans.append(StreamPlan(s.name, s.workload, s.share, s.question, s.demand, f.fit, tuple(lines),
                                       f.simulated, tuple(f.placements)))
    hourly = tuple(solver.decimal_total([(line.by_period[h], line.option.hourly_usd) for line in plan.lines])
                   for h in range(len(streams[0].demand)))
    gpus = tuple(sum(line.by_period[h] * line.option.gpus_per_unit for line in plan.lines)
                 for h in range(len(streams[0].demand)))
    return FleetResult(
        name=scenario.name, status=plan.status, cost=plan.cost, cost_bound=plan.cost_bound,
        cost_unit="USD/day" if limits.hourly else "USD",
        static_cost=static.cost if static.status in PLANNED else None,
        separate_cost=separate, streams=tuple(stream_plans), hourly_usd=hourly, gpus_by_hour=gpus,
        binding=binding(scenario, plan, options, limits), scenario_path=scenario.path,
        solve_s=time.perf_counter() - started, plan=plan, limits=limits,
    )


def _solve(streams: Sequence[fleet_solver.Stream], options: Sequence[fleet_solver.FleetOption],
           limits: fleet_solver.FleetLimits, start: Sequence[fleet_solver.FleetLine] = ()) -> fleet_solver.FleetPlan:
    try:
        return fleet_solver.solve_fleet(streams, options, limits, start=start)
    except ValueError as exc:  # figures too large for 64-bit integers once scaled
        raise InputError(f"the scenario cannot be solved: {exc}",
                         hint="check the loads, prices and limits for absurd values") from None


def fleet_limits(catalog: Catalog, scenario: Scenario, time_limit_s: float) -> fleet_solver.FleetLimits:
    """The shared limits as the fleet solver takes them."""
    s = scenario.shared

    def gpu_id(gpu: str, key: str) -> str:
        try:
            return catalog.gpu(gpu).id
        except InputError as exc:
            raise InputError(f"shared.{key}: {exc.message}", hint=exc.hint, field=f"shared.{key}") from None

    pools = {gpu_id(gpu, "available"): count for gpu, count in (s.available or {}).items()}
    pools.update({f"owned:{gpu_id(gpu, 'owned')}": count for gpu, count in (s.owned or {}).items()})
    budget = s.budget
    return fleet_solver.FleetLimits(
        inventory=pools or None, max_gpus=s.max_gpus, max_power_w=s.max_power,
        max_hourly_usd=budget.usd_per_hour if budget is not None and budget.per_hour else None,
        max_capex_usd=budget.usd if budget is not None and not budget.per_hour else None,
        hourly=s.objective is Objective.HOURLY, time_limit_s=time_limit_s,
    )


# --- the baseline: workloads one at a time -----------------------------------


def separate_cost(found: Sequence[StreamOptions], streams: Sequence[fleet_solver.Stream],
                  limits: fleet_solver.FleetLimits) -> float | None:
    """The sum of separate optima: each workload solved alone in file order
    (its classes together), given what the earlier ones left of every shared
    limit in their busiest hour. None when a workload finds nothing left."""
    left = limits
    total = 0.0
    for members in _by_workload(found).values():
        mine = [streams[i] for i in members]
        names = {s.name for s in mine}
        options = [o for i in members for o in found[i].options() if o.stream in names]
        plan = _solve(mine, options, left)
        if plan.status not in PLANNED:
            return None
        total += plan.cost
        left = _left_after(left, plan)
    return total


def _by_workload(found: Sequence[StreamOptions]) -> dict[int, list[int]]:
    """The streams' places in ``found``, by their workload's place in the file."""
    members: dict[int, list[int]] = {}
    for i, f in enumerate(found):
        members.setdefault(f.index, []).append(i)
    return members


def _peak(plan: fleet_solver.FleetPlan, per_unit: str, pool: str | None = None) -> float:
    """The most of a figure the plan uses in any period (of one pool's options, given one)."""
    lines = [line for line in plan.lines if pool is None or line.option.pool == pool]
    periods = max((len(line.by_period) for line in plan.lines), default=0)
    return max((sum(line.by_period[p] * getattr(line.option, per_unit) for line in lines)
                for p in range(periods)), default=0.0)


def _left_after(limits: fleet_solver.FleetLimits, plan: fleet_solver.FleetPlan) -> fleet_solver.FleetLimits:
    """What a plan leaves of each limit for the next workload (its busiest hour taken out)."""
    inventory = None
    if limits.inventory is not None:
        inventory = {pool: max(cap - int(_peak(plan, "gpus_per_unit", pool)), 0)
                     for pool, cap in limits.inventory.items()}

    def less(cap: float | None, used: float) -> float | None:
        return None if cap is None else max(cap - used, 0.0)

    max_gpus = limits.max_gpus
    if max_gpus is not None:
        max_gpus = max(max_gpus - int(_peak(plan, "gpus_per_unit")), 0)
    capex = sum(line.committed * line.option.capex_usd for line in plan.lines)
    return replace(limits, inventory=inventory, max_gpus=max_gpus,
                   max_power_w=less(limits.max_power_w, _peak(plan, "power_w")),
                   max_hourly_usd=less(limits.max_hourly_usd, _peak(plan, "hourly_usd")),
                   max_capex_usd=less(limits.max_capex_usd, capex))


# --- what binds, and why nothing fits ----------------------------------------


def binding(scenario: Scenario, plan: fleet_solver.FleetPlan, options: Sequence[fleet_solver.FleetOption],
            limits: fleet_solver.FleetLimits) -> tuple[str, ...]:
    """The shared limits at their cap in some hour: not one more unit of any
    option drawing on the limit fits under it then, as the file states them."""
    found: list[str] = []
    s = scenario.shared

    def at_cap(cap: float, per_unit: str, pool: str | None = None) -> bool:
        steps = [getattr(o.option, per_unit) for o in options
                 if (pool is None or o.option.pool == pool) and getattr(o.option, per_unit) > 0]
        if not steps:
            return False
        return _peak(plan, per_unit, pool) + min(steps) > cap * (1 + 1e-9)

    for pool, cap in sorted((limits.inventory or {}).items()):
        if at_cap(cap, "gpus_per_unit", pool):
            owned = pool.startswith("owned:")
            found.append(f"{'owned' if owned else 'available'} {pool.removeprefix('owned:')} {cap}")
    if limits.max_gpus is not None and at_cap(limits.max_gpus, "gpus_per_unit"):
        found.append(f"max_gpus {limits.max_gpus}")
    if limits.max_power_w is not None and at_cap(limits.max_power_w, "power_w"):
        found.append(f"max_power {format_power(limits.max_power_w)}")
    if s.budget is not None:
        if limits.max_hourly_usd is not None and at_cap(limits.max_hourly_usd, "hourly_usd"):
            found.append(f"budget {format_money(s.budget)}")
        if limits.max_capex_usd is not None:
            spent = sum(line.committed * line.option.capex_usd for line in plan.lines)
            steps = [o.option.capex_usd for o in options if o.option.capex_usd > 0]
            if steps and spent + min(steps) > limits.max_capex_usd * (1 + 1e-9):
                found.append(f"budget {format_money(s.budget)}")
    return tuple(found)


def _why_infeasible(scenario: Scenario, found: Sequence[StreamOptions],
                    streams: Sequence[fleet_solver.Stream], options: Sequence[fleet_solver.FleetOption],
                    limits: fleet_solver.FleetLimits, status: str) -> str:
    """One line: the workload that the shared limits cannot serve even alone,
    else the limit that, lifted, lets the fleet through."""
    if status == solver.UNKNOWN:
        return (f"no fleet was found within the {limits.time_limit_s:g} s time limit "
                "(try a longer time limit or fewer workloads)")
    quick = replace(limits, time_limit_s=min(limits.time_limit_s, DIAGNOSE_TIME_LIMIT_S))
    for index, members in _by_workload(found).items():
        names = {streams[i].name for i in members}
        alone = _solve([streams[i] for i in members], [o for o in options if o.stream in names], quick)
        if alone.status == solver.INFEASIBLE:
            name = scenario.workloads[index].name
            return f"workload '{name}' cannot be served within the shared limits even alone"
    s = scenario.shared
    lifts = [(f"budget {s.budget}", dict(max_hourly_usd=None, max_capex_usd=None)),
             (f"max_gpus {s.max_gpus}", dict(max_gpus=None)),
             (f"max_power {format_power(s.max_power) if s.max_power else ''}", dict(max_power_w=None)),
             ("the owned and available GPU counts", dict(inventory=None))]
    binds = []
    for said, change in lifts:
        if all(getattr(quick, k) is None for k in change):
            continue
        if _solve(streams, options, replace(quick, **change)).status in PLANNED:  # type: ignore[arg-type]
            binds.append(said)
    if binds:
        return (f"the workloads together exceed {' or '.join(binds)}: each fits alone, "
                "but no fleet serves them all within it")
    return "the workloads together exceed the shared limits: each fits alone, but no fleet serves them all"


# --- line checks ---------------------------------------------------------------


class _Checks:
    """Each line's replica simulated at the most load the plan gives it in
    any hour: the stream's demand shared among its replicas in proportion to
    their plannable rates (as `fit` checks its lines), rounded up to a
    1/CHECK_STEPS step of the plannable rate. Memoised by search, shape and
    step, so streams asking the same question share their checks (a fleet of
    a thousand workloads of ten models runs a few hundred checks, not
    thousands)."""

    def __init__(self) -> None:
        self._verifiers: dict[int, verify.Verifier] = {}
        self._done: dict[tuple[int, str, float], verify.LineCheck] = {}

    def _verifier(self, result: FitResult) -> verify.Verifier | None:
        if not result.simulated and not result.checks:
            return None
        if id(result) not in self._verifiers:
            self._verifiers[id(result)] = verify.Verifier.of_question(result.spec.model, result.engine,
                                                                      result.question, result.headroom)
        return self._verifiers[id(result)]

    def of(self, f: StreamOptions, lines: list[FleetPlanLine]) -> list[FleetPlanLine]:
        verifier = self._verifier(f.fit)
        if verifier is None or not lines:  # an encoder: its latency is one forward pass, not simulated
            return lines
        q = f.stream.question
        kind = q.targets.throughput.kind if q.targets.throughput else "requests"
        per_request = max(q.output_tokens, 1) if kind == "tokens" else 1
        worst: dict[int, float] = {}
        for hour, demand in enumerate(f.stream.demand):
            total = sum(f.simulated[line.placement.shape.key].plannable_rate * line.by_hour[hour]
                        * line.placement.replicas_per_unit for line in lines)
            if demand <= 0 or total <= 0:
                continue
            for i, line in enumerate(lines):
                if line.by_hour[hour] > 0:
                    rate = demand / per_request * f.simulated[line.placement.shape.key].plannable_rate / total
                    worst[i] = max(worst.get(i, 0.0), rate)
        checked = []
        for i, line in enumerate(lines):
            load = worst.get(i)
            if load is None:
                checked.append(line)
                continue
            # checked at the load rounded up to a step of the plannable rate:
            # a few checks a shape serve any number of streams
            plannable = f.simulated[line.placement.shape.key].plannable_rate
            step = math.ceil(load / plannable * CHECK_STEPS - 1e-9) / CHECK_STEPS * plannable
            memo = (id(f.fit), line.placement.shape.key, round(step, 9))
            if memo not in self._done:
                self._done[memo] = verifier.check(line.placement.shape.key, line.placement.shape, step)
            checked.append(replace(line, check=self._done[memo]))
        return checked
