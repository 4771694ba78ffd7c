"""The fleet's CP-SAT model for one group of linked streams, and the data
it reads (see fleet_solver.py's module note for the model's equations).

`GroupModel` is built once and may be solved many times: between solves a
held pool's allotment (the most GPUs of that pool the group may hold) can
be lowered, which is how fleet_pools.py finds what a stream costs with less
of a shared pool without building its model again. Nothing here knows about
the catalog, the performance model or the terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ortools.sat.python import cp_model

from planner.plan import solver
from planner.plan.solver import COST_SCALE, FEASIBLE, INFEASIBLE, OPTIMAL, POWER_SCALE, THROUGHPUT_SCALE, UNKNOWN, to_grid

DEFAULT_TIME_LIMIT_S = 30.0
TIE_BREAK_S = 0.1  # least time the fewest-GPU-hours stage gets (a search bound)
MIN_SOLVE_S = 0.05  # least time any one CP-SAT solve is given (a search bound)
PERIODS_PER_DAY = 24


@dataclass(frozen=True)
class Stream:
    """One demand the fleet must serve: per period, in the unit of its options' throughput."""

    name: str
    demand: tuple[float, ...]  # one value per period; all streams have the same number of periods
    spares: int = 0  # N+k: units of this stream that may be down


@dataclass(frozen=True)
class FleetOption:
    """One way to add units for one stream. ``flexible``: its count may
    change from period to period (rented on demand); else it is held all day
    (owned, bought, reserved)."""

    stream: str
    option: solver.ReplicaOption  # option.key unique over all streams
    flexible: bool


@dataclass(frozen=True)
class FleetLimits:
    inventory: Mapping[str, int] | None = None  # most GPUs per pool in any period
    max_gpus: int | None = None  # in any period
    max_power_w: float | None = None  # in any period
    max_hourly_usd: float | None = None  # rent in any period
    max_capex_usd: float | None = None  # purchase of committed units
    hourly: bool = True  # objective: True sums cost per hour over the day; False counts committed cost once
    static: bool = False  # every count constant over the periods (sized for the peak)
    period_hours: float = 1.0  # hours one period stands for
    time_limit_s: float = DEFAULT_TIME_LIMIT_S


@dataclass(frozen=True)
class FleetLine:
    """Units of one option: ``committed`` held all day, ``by_period`` in use in each period (committed included)."""

    stream: str
    option: solver.ReplicaOption
    committed: int
    by_period: tuple[int, ...]

    @property
    def peak_units(self) -> int:
        return max(self.by_period, default=0)



def fleet_cost(lines: Sequence[FleetLine], limits: FleetLimits) -> float:
    """The objective's cost of ``lines``, added in exact decimals: USD per day
    (hourly objective: every unit in use each period, times the hours it
    stands for) or one-off USD (committed units times their cost)."""
    total = Fraction(0)
    for line in lines:
        cost = solver.exact(line.option.cost)
        if limits.hourly:
            total += cost * sum(line.by_period) * solver.exact(limits.period_hours)
        else:
            total += cost * line.committed
    return float(total)


# --- checks and decomposition -----------------------------------------------------


def covers(lines: Sequence[FleetLine], streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]]) -> bool:
    """Whether ``lines`` serve every stream's demand in every period with its
    spares down (the largest unit among the stream's options, as the model
    counts it), in exact decimals."""
    for s in streams:
        mine = [line for line in lines if line.stream == s.name]
        largest = max((solver.exact(o.option.throughput) for o in by_stream[s.name]), default=Fraction(0))
        for p, demand in enumerate(s.demand):
            served = sum(solver.exact(line.option.throughput) * line.by_period[p] for line in mine)
            if served - s.spares * largest < solver.exact(demand):
                return False
    return bool(streams)


def within(lines: Sequence[FleetLine], limits: FleetLimits, periods: int) -> bool:
    """Whether ``lines`` keep within every shared limit in every period, in
    exact decimals (the joint model's integer grid is never more lenient)."""
    inventory = limits.inventory or {}
    for p in range(periods):
        gpus: dict[str, int] = {}
        for line in lines:
            gpus[line.option.pool] = gpus.get(line.option.pool, 0) + line.by_period[p] * line.option.gpus_per_unit
        if any(gpus.get(pool, 0) > cap for pool, cap in inventory.items()):
            return False
        if limits.max_gpus is not None and sum(gpus.values()) > limits.max_gpus:
            return False
        for cap, attr in ((limits.max_power_w, "power_w"), (limits.max_hourly_usd, "hourly_usd")):
            if cap is not None and sum(solver.exact(getattr(line.option, attr)) * line.by_period[p] for line in lines) \
                    > solver.exact(cap):
                return False
    if limits.max_capex_usd is not None and sum(solver.exact(line.option.capex_usd) * line.committed for line in lines) \
            > solver.exact(limits.max_capex_usd):
        return False
    return True


# --- one group of linked streams ---------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A group's answer: status, lines and the proved lower bound of its cost (None without a plan)."""

    status: str
    lines: tuple[FleetLine, ...]
    cost_bound: float | None


class GroupModel:
    """The model of one group of linked streams (the module note of
    fleet_solver.py). ``fixed``: committed units held at these counts.
    ``allotted``: held pools (every option in them held all day) whose GPUs
    `allot` may cap between solves, below their inventory."""

    def __init__(self, streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
                 periods: int, fixed: Mapping[str, int] | None = None, allotted: Sequence[str] = ()) -> None:
        self.streams, self.limits, self.periods = tuple(streams), limits, periods
        # Periods with the same demand for every stream of the group are one
        # period of the model, weighted by how many they are. Sized for the
        # peak (static), every period needs what the peak of each stream needs.
        if limits.static:
            distinct = [tuple(max(s.demand) for s in streams)]
            self.period_of = [0] * periods
        else:
            seen: dict[tuple[float, ...], int] = {}
            self.period_of = [seen.setdefault(tuple(s.demand[p] for s in streams), len(seen)) for p in range(periods)]
            distinct = list(seen)
        weight = [self.period_of.count(k) for k in range(len(distinct))]
        model = self.model = cp_model.CpModel()
        inventory = limits.inventory or {}
        flexible_ok = limits.hourly and not limits.static
        hours = solver.exact(limits.period_hours)
        self.committed: dict[str, cp_model.IntVar] = {}
        self.flexible: dict[str, list[cp_model.IntVar]] = {}
        self.chosen: list[FleetOption] = []
        cost_terms: list[tuple[cp_model.IntVar, int]] = []
        gpu_terms: list[tuple[cp_model.IntVar, int]] = []
        self.infeasible = False
        # per distinct period: the units of each option in use there, as (variable, option)
        in_use: list[list[tuple[cp_model.IntVar, FleetOption]]] = [[] for _ in distinct]
        served = {o.option.key: to_grid(o.option.throughput, THROUGHPUT_SCALE, math.floor)
                  for s in streams for o in by_stream[s.name]}
        power = {key: 0 for key in served} if limits.max_power_w is None else \
            {o.option.key: to_grid(o.option.power_w, POWER_SCALE, math.ceil) for s in streams for o in by_stream[s.name]}
        rent = {key: 0 for key in served} if limits.max_hourly_usd is None else \
            {o.option.key: to_grid(o.option.hourly_usd, COST_SCALE, math.ceil) for s in streams for o in by_stream[s.name]}
        for k, s in enumerate(streams):
            opts = by_stream[s.name]
            largest = max((served[o.option.key] for o in opts), default=0)
            need_peak = to_grid(max(d[k] for d in distinct), THROUGHPUT_SCALE, math.ceil) + s.spares * largest
            mine: list[list[tuple[cp_model.IntVar, int]]] = [[] for _ in distinct]
            for o in opts:
                key = o.option.key
                upper = _upper(o.option, served[key], need_peak, limits, inventory)
                if fixed is not None and not (o.flexible and flexible_ok):
                    upper = max(upper, fixed.get(key, 0))
                if upper <= 0:
                    continue
                self.chosen.append(o)
                per_hour = solver.exact(o.option.cost) * hours * COST_SCALE
                per_period_cost = [int(round(per_hour * w)) for w in weight] if limits.hourly else []
                if o.flexible and flexible_ok:
                    xs = [model.new_int_var(0, upper, f"f[{key}][{p}]") for p in range(len(distinct))]
                    self.flexible[key] = xs
                    for p, x in enumerate(xs):
                        in_use[p].append((x, o))
                        mine[p].append((x, served[key]))
                        cost_terms.append((x, per_period_cost[p]))
                        gpu_terms.append((x, o.option.gpus_per_unit * weight[p]))
                else:
                    x = model.new_int_var(0, upper, f"c[{key}]")
                    if fixed is not None:
                        model.add(x == fixed.get(key, 0))
                    self.committed[key] = x
                    for p in range(len(distinct)):
                        in_use[p].append((x, o))
                        mine[p].append((x, served[key]))
                    held = sum(per_period_cost) if limits.hourly else int(round(solver.exact(o.option.cost) * COST_SCALE))
                    cost_terms.append((x, held))
                    gpu_terms.append((x, o.option.gpus_per_unit * periods))
            # coverage: throughput never overstated, demand never understated
            for p, d in enumerate(distinct):
                need = to_grid(d[k], THROUGHPUT_SCALE, math.ceil) + s.spares * largest
                if need <= 0:
                    continue
                if not mine[p]:
                    self.infeasible = True
                    continue
                model.add(_sum(mine[p]) >= need)
        # shared limits in every period: charges never understated, limits never overstated
        self.allotment: dict[str, cp_model.IntVar] = {}
        for pool in allotted:
            if pool in inventory and any(o.option.pool == pool for o in self.chosen):
                self.allotment[pool] = model.new_int_var(0, inventory[pool], f"allot[{pool}]")
        for use in in_use:
            for pool, cap in inventory.items():
                terms = [(x, o.option.gpus_per_unit) for x, o in use if o.option.pool == pool]
                if terms:
                    model.add(_sum(terms) <= (self.allotment[pool] if pool in self.allotment else cap))
            if limits.max_gpus is not None:
                model.add(_sum([(x, o.option.gpus_per_unit) for x, o in use]) <= limits.max_gpus)
            if limits.max_power_w is not None:
                model.add(_sum([(x, power[o.option.key]) for x, o in use])
                          <= to_grid(limits.max_power_w, POWER_SCALE, math.floor))
            if limits.max_hourly_usd is not None:
                model.add(_sum([(x, rent[o.option.key]) for x, o in use])
                          <= to_grid(limits.max_hourly_usd, COST_SCALE, math.floor))
        if limits.max_capex_usd is not None:
            model.add(_sum([(self.committed[o.option.key], to_grid(o.option.capex_usd, COST_SCALE, math.ceil))
                            for o in self.chosen if o.option.key in self.committed])
                      <= to_grid(limits.max_capex_usd, COST_SCALE, math.floor))
        self.xs = list(self.committed.values()) + [x for v in self.flexible.values() for x in v]
        self.cost = _sum(cost_terms)
        self.gpu_hours = _sum(gpu_terms)
        model.minimize(self.cost)

    def allot(self, pool: str, gpus: int) -> None:
        """Cap the group's GPUs of a held pool at ``gpus`` (at most its
        inventory) for the solves that follow; a pool none of the model's
        options can use (a unit larger than the pool, say) needs no cap."""
        if pool not in self.allotment:
            return
        domain = self.model.proto.variables[self.allotment[pool].index].domain
        domain[len(domain) - 1] = gpus

    def solve(self, time_limit_s: float, hint: Sequence[FleetLine] = (), tie_break: bool = True) -> Part:
        """Least cost, then (a tie-break, with ``tie_break``) the fewest
        GPU-hours among the cheapest plans: it gets as long as the first stage
        took (at least TIE_BREAK_S) and keeps the best it finds; the status
        speaks of the cost only. ``hint``: a starting point (say, the streams'
        plans apart, which may break a shared limit) the search repairs rather
        than starting from nothing."""
        if self.infeasible:
            return Part(INFEASIBLE, (), None)
        if not self.xs:
            empty = all(max(s.demand) == 0 and not s.spares for s in self.streams)
            return Part(OPTIMAL if empty else INFEASIBLE, (), 0.0 if empty else None)
        model = self.model
        model.clear_hints()
        hinted = {line.option.key: line for line in hint}
        for key, x in (self.committed.items() if hinted else ()):
            model.add_hint(x, hinted[key].committed if key in hinted else 0)
        for key, fs in (self.flexible.items() if hinted else ()):
            for p, x in enumerate(fs):
                line = hinted.get(key)
                model.add_hint(x, line.by_period[self.period_of.index(p)] if line is not None else 0)
        status, cp = run(model, time_limit_s, presolve=len(self.streams) > 1)
        if status == cp_model.INFEASIBLE:
            return Part(INFEASIBLE, (), None)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return Part(UNKNOWN, (), None)
        proven = status == cp_model.OPTIMAL
        bound = cp.best_objective_bound / COST_SCALE
        values = {x.index: cp.value(x) for x in self.xs}
        left = min(time_limit_s - cp.wall_time, max(TIE_BREAK_S, cp.wall_time)) if tie_break else 0
        if left > 0:
            second = model.clone()  # this model stays as it was, to be solved again
            second.add(self.cost <= cp.value(self.cost))
            second.clear_hints()
            for x in self.xs:
                second.add_hint(x, values[x.index])
            second.minimize(self.gpu_hours)
            status2, cp2 = run(second, left, presolve=len(self.streams) > 1)
            if status2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                values = {x.index: cp2.value(x) for x in self.xs}
        return Part(OPTIMAL if proven else FEASIBLE, self._lines(values), bound)

    def _lines(self, values: Mapping[int, int]) -> tuple[FleetLine, ...]:
        lines = []
        for o in self.chosen:
            key = o.option.key
            if key in self.committed:
                c = values[self.committed[key].index]
                by_period = tuple(c for _ in range(self.periods))
            else:
                c = 0
                by_period = tuple(values[self.flexible[key][self.period_of[p]].index] for p in range(self.periods))
            if any(by_period):
                lines.append(FleetLine(o.stream, o.option, c, by_period))
        return tuple(lines)


def solve_group(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
                periods: int, time_limit_s: float, hint: Sequence[FleetLine] = (),
                fixed: Mapping[str, int] | None = None, tie_break: bool = True) -> Part:
    """One group's model, built and solved once, both within ``time_limit_s``:
    the search gets what is left after building, less as long again for
    reading its answer back (both grow with the model: about a second each
    for a thousand streams over 24 hours)."""
    started = time.perf_counter()
    model = GroupModel(streams, by_stream, limits, periods, fixed)
    return model.solve(time_limit_s - 2 * (time.perf_counter() - started), hint, tie_break)


def _upper(option: solver.ReplicaOption, served: int, need: int, limits: FleetLimits,
           inventory: Mapping[str, int]) -> int:
    """Most units of ``option`` a cheapest plan can use in one period: beyond
    what covers the stream's peak alone, one unit fewer still covers it, costs
    no more and saves GPUs (solver.py's `_replica_bound`, for one stream)."""
    if served <= 0 or need <= 0:
        return 0
    upper = -(-need // served)
    if option.pool in inventory:
        upper = min(upper, inventory[option.pool] // option.gpus_per_unit)
    if limits.max_gpus is not None:
        upper = min(upper, limits.max_gpus // option.gpus_per_unit)
    return upper


def _sum(terms: Sequence[tuple[cp_model.IntVar, int]]) -> cp_model.LinearExpr:
    return cp_model.LinearExpr.weighted_sum([x for x, _ in terms], [c for _, c in terms])


def run(model: cp_model.CpModel, time_limit_s: float,
        presolve: bool = True) -> tuple[cp_model.CpSolverStatus, cp_model.CpSolver]:
    # Full linear relaxation: a fleet is a covering problem per period whose
    # LP bound is tight; one worker at the default level left a 33% gap after
    # 20 s on 6 streams x 24 hours that this level proves optimal in 0.03 s.
    # Without presolve for one stream's model (``presolve=False``): its
    # presolve solves a lone covering row by dynamic programming over the
    # throughput grid, 27 ms of a 27 ms solve of a stream sized for the peak;
    # and it halved the time of 231 24-hour models of benchmarks/fleet_speed.py
    # (1.14 s to 0.62 s, the same optima).
    # (repair_hint, which repairs a hint that breaks a shared limit, aborted
    # the process now and then in ortools' solver under short time limits:
    # not used.)
    return solver.run_model(model, max(time_limit_s, MIN_SOLVE_S), linearization_level=2, cp_model_presolve=presolve)
