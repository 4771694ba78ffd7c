"""The cheapest fleet: many demand streams over the hours of a day, solved
together under shared limits.

Data in, plan out, as solver.py is for one workload: a `Stream` per demand
(one workload, or one request-size class of it) with its demand in each
period of the day, a `FleetOption` per way to add units for a stream (a
`solver.ReplicaOption` and whether its count may change from period to
period), and the shared `FleetLimits`. Nothing here knows about the catalog,
the performance model or the terminal.

The model (CP-SAT, integers only)
---------------------------------
Periods are the hours of a day (or any equal spans: ``FleetLimits.period_hours``).
Periods whose demands are equal for every stream are interchangeable, so they
are solved once and weighted by how many there are (a flat day is one period).
For each option i of stream s:

    c_i      committed units, held every period (owned, bought or reserved)
    f_i,p    flexible units in period p (rented on demand; 0 unless the option is flexible)

    sum_i (c_i + f_i,p) * throughput_i >= demand_s,p + spares_s * largest_s      for each stream s, period p
    sum_{i in pool q} (c_i + f_i,p) * gpus_i  <= inventory[q]                     for each listed pool q, period p
    sum_i (c_i + f_i,p) * gpus_i              <= max_gpus                         for each period p
    sum_i (c_i + f_i,p) * power_w_i           <= max_power_w                      for each period p
    sum_i (c_i + f_i,p) * hourly_usd_i        <= max_hourly_usd                   for each period p
    sum_i c_i * capex_usd_i                   <= max_capex_usd

where ``largest_s`` is the largest throughput of one unit among the stream's
options (a conservative N+k: any k units of the stream may be down).

Cost per day, with w_p the hours period p stands for:

    hourly objective:  sum_p w_p * sum_i (c_i + f_i,p) * cost_i      (cost_i in USD per hour)
    capex or tco:      sum_i c_i * cost_i                            (cost_i one-off; nothing is flexible)

With ``FleetLimits.static`` every option's count is the same in every period
(sized for the peak): the autoscaled optimum is never dearer than the static
one, since a static plan is one of the autoscaled model's solutions.

Stages, as in solver.py: (1) least cost; (2) among those, fewest GPU-hours,
searched for no longer than stage 1 took (a tie-break: "optimal" means the
cost is proved least).
Rounding to the integer grid follows solver.py's directions (coverage never
overstated, limits never overstated, charges never understated).

Before the joint model, cheaper routes to the same answer:
  * streams linked by no shared limit (no fleet-wide limit, no listed pool in
    common) are solved apart: the sum of their optima is the joint optimum;
  * linked streams are first solved one by one as if the shared limits were
    each one's alone; when those plans fit the limits together they are the
    joint optimum, and either way the sum of their proved costs bounds the
    joint cost from below (so a "feasible" answer states a true gap);
  * a ``start`` fleet (``solve_fleet(..., start=)``, `fit --scenario` passes
    the one sized for the peak) keeps its held units and has each stream's
    hourly units chosen again; the joint search starts from it and the
    answer is never dearer than it.
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


@dataclass(frozen=True)
class FleetPlan:
    """The answer: status as solver.py's (optimal, feasible, infeasible,
    unknown); lines with any unit in any period; cost per day in the
    objective's terms (USD per day for hourly; one-off USD otherwise);
    ``cost_bound`` the proved lower bound (None without a plan), so the gap
    of a "feasible" answer can be stated."""

    status: str
    lines: tuple[FleetLine, ...]
    cost: float
    cost_bound: float | None
    periods: int
    solve_s: float  # wall time of the solve

    def lines_of(self, stream: str) -> tuple[FleetLine, ...]:
        return tuple(line for line in self.lines if line.stream == stream)


def solve_fleet(streams: Sequence[Stream], options: Sequence[FleetOption], limits: FleetLimits, *,
                start: Sequence[FleetLine] = ()) -> FleetPlan:
    """The cheapest fleet (see the module note). ``start``: a fleet known to
    keep within the limits (say, the one sized for the peak); the search
    starts from it and never answers worse. Raises ValueError for malformed
    input (unknown stream, duplicate keys, periods of unequal number,
    figures too large for CP-SAT)."""
    started = time.perf_counter()
    periods = _check(streams, options, limits)
    by_stream: dict[str, list[FleetOption]] = {s.name: [] for s in streams}
    for o in options:
        by_stream[o.stream].append(o)
    flexible = {o.option.key for o in options if o.flexible and limits.hourly and not limits.static}
    # Streams that share no limit are independent: solved apart, each is a
    # small model, and the sum of their optima is the joint optimum.
    groups = _independent_groups(streams, by_stream, limits)
    parts = []
    for group in groups:
        members = [s for s in streams if s.name in group]
        share = limits.time_limit_s * len(group) / len(streams)
        known = tuple(line if line.option.key not in flexible else FleetLine(line.stream, line.option, 0, line.by_period)
                      for line in start if line.stream in group)
        if not (_covers(known, members, by_stream) and _within(known, limits, periods)):
            known = ()
        if known:
            known = _rescaled(members, by_stream, limits, periods, known, share / 4)
        apart, hint, floor = _apart_if_it_fits(members, by_stream, limits, periods, share / 2) if len(members) > 1 \
            else (None, (), None)
        part = apart or _solve_group(members, by_stream, limits, periods, share, known or hint)
        if floor is not None and part.cost_bound is not None:
            part = _Part(part.status, part.lines, max(part.cost_bound, floor))
        if known and (part.status not in (OPTIMAL, FEASIBLE) or fleet_cost(known, limits) < fleet_cost(part.lines, limits)):
            part = _Part(FEASIBLE, known, part.cost_bound if part.cost_bound is not None else floor)
        parts.append(part)
    statuses = [p.status for p in parts]
    if INFEASIBLE in statuses:
        status = INFEASIBLE
    elif UNKNOWN in statuses:
        status = UNKNOWN
    else:
        status = OPTIMAL if all(s == OPTIMAL for s in statuses) else FEASIBLE
    if status in (INFEASIBLE, UNKNOWN):
        return FleetPlan(status, (), 0.0, None, periods, time.perf_counter() - started)
    lines = tuple(line for p in parts for line in p.lines)
    bound = sum(p.cost_bound or 0.0 for p in parts)
    return FleetPlan(status, lines, fleet_cost(lines, limits), bound, periods, time.perf_counter() - started)


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


def _check(streams: Sequence[Stream], options: Sequence[FleetOption], limits: FleetLimits) -> int:
    names = [s.name for s in streams]
    if not streams:
        raise ValueError("a fleet needs at least one stream")
    if len(set(names)) != len(names):
        raise ValueError(f"stream names must be unique; repeated: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    periods = len(streams[0].demand)
    for s in streams:
        if len(s.demand) != periods or periods < 1:
            raise ValueError(f"stream {s.name}: {len(s.demand)} periods, expected {periods} (at least 1)")
        for d in s.demand:
            if not (math.isfinite(d) and d >= 0):
                raise ValueError(f"stream {s.name}: demand {d} must be a finite number >= 0")
        if isinstance(s.spares, bool) or not isinstance(s.spares, int) or s.spares < 0:
            raise ValueError(f"stream {s.name}: spares must be a whole number >= 0")
    keys = [o.option.key for o in options]
    if len(set(keys)) != len(keys):
        raise ValueError(f"option keys must be unique; repeated: {', '.join(sorted({k for k in keys if keys.count(k) > 1}))}")
    known = set(names)
    for o in options:
        if o.stream not in known:
            raise ValueError(f"option {o.option.key} names unknown stream {o.stream}")
    if not (math.isfinite(limits.period_hours) and limits.period_hours > 0):
        raise ValueError(f"period_hours must be a positive number, got {limits.period_hours}")
    if not (math.isfinite(limits.time_limit_s) and limits.time_limit_s > 0):
        raise ValueError(f"time_limit_s must be a positive number of seconds, got {limits.time_limit_s}")
    return periods


def _independent_groups(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]],
                        limits: FleetLimits) -> list[set[str]]:
    """Streams linked by a shared limit, in groups: a fleet-wide limit links
    them all; a listed inventory pool links the streams with options in it."""
    names = [s.name for s in streams]
    fleet_wide = any(v is not None for v in (limits.max_gpus, limits.max_power_w, limits.max_hourly_usd,
                                             limits.max_capex_usd))
    if fleet_wide:
        return [set(names)]
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    first_in_pool: dict[str, str] = {}
    inventory = limits.inventory or {}
    for name in names:
        for o in by_stream[name]:
            pool = o.option.pool
            if pool in inventory:
                other = first_in_pool.setdefault(pool, name)
                parent[root(name)] = root(other)
    groups: dict[str, set[str]] = {}
    for name in names:
        groups.setdefault(root(name), set()).add(name)
    return list(groups.values())


def _apart_if_it_fits(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
                      periods: int, time_limit_s: float) -> tuple[_Part | None, tuple[FleetLine, ...], float | None]:
    """The streams solved one by one, each as if the shared limits were its
    alone; when their plans together keep within the shared limits, that is
    the joint optimum (each stream's cost is a lower bound of its cost in any
    joint plan, and each is met; likewise its GPU-hours among its cheapest
    plans), found without the joint model. None when they do not fit
    together, or a stream's own solve was not proved; the lines found come
    back either way, as a starting point for the joint model, with the sum of
    the streams' proved least costs (a lower bound of the joint cost)."""
    parts = [_solve_group([s], by_stream, limits, periods, time_limit_s / len(streams)) for s in streams]
    lines = tuple(line for p in parts for line in p.lines)
    # each stream's proved least cost on its own bounds its cost in any joint plan
    floor = sum(p.cost_bound or 0.0 for p in parts) if all(p.status == OPTIMAL for p in parts) else None
    if floor is None or not _within(lines, limits, periods):
        return None, lines, floor
    return _Part(OPTIMAL, lines, floor), lines, floor


def _rescaled(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
              periods: int, known: tuple[FleetLine, ...], time_limit_s: float) -> tuple[FleetLine, ...]:
    """A known fleet with its units held all day kept and each stream's
    hourly units chosen again, hour by hour (one small model per stream): on a
    fleet sized for the peak this is autoscaling its on-demand part. Kept only
    if it still covers every stream and keeps within every shared limit, and
    costs less; else the known fleet."""
    if not (limits.hourly and not limits.static):
        return known
    held = {line.option.key: line.committed for line in known}
    free = FleetLimits(hourly=True, period_hours=limits.period_hours, time_limit_s=max(time_limit_s / len(streams), MIN_SOLVE_S))
    parts = [_solve_group([s], by_stream, free, periods, free.time_limit_s, fixed=held) for s in streams]
    if any(p.status not in (OPTIMAL, FEASIBLE) for p in parts):
        return known
    lines = tuple(line for p in parts for line in p.lines)
    if _covers(lines, streams, by_stream) and _within(lines, limits, periods) and \
            fleet_cost(lines, limits) < fleet_cost(known, limits):
        return lines
    return known


def _covers(lines: Sequence[FleetLine], streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]]) -> bool:
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


def _within(lines: Sequence[FleetLine], limits: FleetLimits, periods: int) -> bool:
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
class _Part:
    status: str
    lines: tuple[FleetLine, ...]
    cost_bound: float | None


def _solve_group(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
                 periods: int, time_limit_s: float, hint: Sequence[FleetLine] = (),
                 fixed: Mapping[str, int] | None = None) -> _Part:
    # Periods with the same demand for every stream of the group are one
    # period of the model, weighted by how many they are. Sized for the peak
    # (static), every period needs what the peak of each stream needs.
    if limits.static:
        distinct = [tuple(max(s.demand) for s in streams)]
        weight = [periods]
        period_of = [0] * periods
    else:
        seen: dict[tuple[float, ...], int] = {}
        period_of = []
        for p in range(periods):
            period_of.append(seen.setdefault(tuple(s.demand[p] for s in streams), len(seen)))
        distinct = list(seen)
        weight = [period_of.count(k) for k in range(len(distinct))]
    model = cp_model.CpModel()
    inventory = limits.inventory or {}
    flexible_ok = limits.hourly and not limits.static
    hours = solver.exact(limits.period_hours)
    committed: dict[str, cp_model.IntVar] = {}
    flexible: dict[str, list[cp_model.IntVar]] = {}
    chosen: list[FleetOption] = []
    cost_terms: list[tuple[cp_model.IntVar, int]] = []
    gpu_terms: list[tuple[cp_model.IntVar, int]] = []
    # per distinct period: the units of each option in use there, as (variable, option)
    in_use: list[list[tuple[cp_model.IntVar, FleetOption]]] = [[] for _ in distinct]
    for k, s in enumerate(streams):
        opts = by_stream[s.name]
        largest = max((to_grid(o.option.throughput, THROUGHPUT_SCALE, math.floor) for o in opts), default=0)
        peak = max(d[k] for d in distinct)
        need_peak = to_grid(peak, THROUGHPUT_SCALE, math.ceil) + s.spares * largest
        for o in opts:
            served = to_grid(o.option.throughput, THROUGHPUT_SCALE, math.floor)
            upper = _upper(o.option, served, need_peak, limits, inventory)
            if fixed is not None and not (o.flexible and flexible_ok):
                upper = max(upper, fixed.get(o.option.key, 0))
            if upper <= 0:
                continue
            chosen.append(o)
            key = o.option.key
            if limits.hourly:
                per_period_cost = [int(round(solver.exact(o.option.cost) * hours * w * COST_SCALE)) for w in weight]
            else:
                per_period_cost = []
            if o.flexible and flexible_ok:
                xs = [model.new_int_var(0, upper, f"f[{key}][{p}]") for p in range(len(distinct))]
                flexible[key] = xs
                for p, x in enumerate(xs):
                    in_use[p].append((x, o))
                    cost_terms.append((x, per_period_cost[p]))
                    gpu_terms.append((x, o.option.gpus_per_unit * weight[p]))
            else:
                x = model.new_int_var(0, upper, f"c[{key}]")
                if fixed is not None:
                    model.add(x == fixed.get(key, 0))
                committed[key] = x
                for p in range(len(distinct)):
                    in_use[p].append((x, o))
                held = sum(per_period_cost) if limits.hourly else int(round(solver.exact(o.option.cost) * COST_SCALE))
                cost_terms.append((x, held))
                gpu_terms.append((x, o.option.gpus_per_unit * periods))
        # coverage: throughput never overstated, demand never understated
        for p, d in enumerate(distinct):
            need = to_grid(d[k], THROUGHPUT_SCALE, math.ceil) + s.spares * largest
            if need <= 0:
                continue
            terms = [(x, to_grid(o.option.throughput, THROUGHPUT_SCALE, math.floor))
                     for x, o in in_use[p] if o.stream == s.name]
            if not terms:
                return _Part(INFEASIBLE, (), None)
            model.add(cp_model.LinearExpr.weighted_sum([x for x, _ in terms], [c for _, c in terms]) >= need)
    # shared limits in every period: charges never understated, limits never overstated
    for p in range(len(distinct)):
        use = in_use[p]
        for pool, cap in inventory.items():
            terms = [(x, o.option.gpus_per_unit) for x, o in use if o.option.pool == pool]
            if terms:
                model.add(_sum(terms) <= cap)
        if limits.max_gpus is not None:
            model.add(_sum([(x, o.option.gpus_per_unit) for x, o in use]) <= limits.max_gpus)
        if limits.max_power_w is not None:
            model.add(_sum([(x, to_grid(o.option.power_w, POWER_SCALE, math.ceil)) for x, o in use])
                      <= to_grid(limits.max_power_w, POWER_SCALE, math.floor))
        if limits.max_hourly_usd is not None:
            model.add(_sum([(x, to_grid(o.option.hourly_usd, COST_SCALE, math.ceil)) for x, o in use])
                      <= to_grid(limits.max_hourly_usd, COST_SCALE, math.floor))
    if limits.max_capex_usd is not None:
        model.add(_sum([(committed[o.option.key], to_grid(o.option.capex_usd, COST_SCALE, math.ceil))
                        for o in chosen if o.option.key in committed])
                  <= to_grid(limits.max_capex_usd, COST_SCALE, math.floor))
    xs = list(committed.values()) + [x for v in flexible.values() for x in v]
    if not xs:
        empty = all(max(s.demand) == 0 and not s.spares for s in streams)
        return _Part(OPTIMAL if empty else INFEASIBLE, (), 0.0 if empty else None)
    cost = _sum(cost_terms)
    model.minimize(cost)
    # a starting point (the streams' plans apart, which may break a shared
    # limit): the search repairs it rather than starting from nothing
    hinted = {line.option.key: line for line in hint}
    for key, x in (committed.items() if hinted else ()):
        model.add_hint(x, hinted[key].committed if key in hinted else 0)
    for key, fs in (flexible.items() if hinted else ()):
        for p, x in enumerate(fs):
            line = hinted.get(key)
            model.add_hint(x, line.by_period[period_of.index(p)] if line is not None else 0)
    status, cp = _run(model, time_limit_s)
    if status == cp_model.INFEASIBLE:
        return _Part(INFEASIBLE, (), None)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return _Part(UNKNOWN, (), None)
    proven = status == cp_model.OPTIMAL
    bound = cp.best_objective_bound / COST_SCALE
    values = {x.index: cp.value(x) for x in xs}
    # Stage 2, the fewest GPU-hours among the cheapest fleets, is a tie-break:
    # it gets as long as stage 1 took (at least TIE_BREAK_S) and keeps the
    # best it finds; the status speaks of the cost only.
    left = min(time_limit_s - cp.wall_time, max(TIE_BREAK_S, cp.wall_time))
    if left > 0:
        model.add(cost <= cp.value(cost))
        model.clear_hints()
        for x in xs:
            model.add_hint(x, values[x.index])
        model.minimize(_sum(gpu_terms))
        status2, cp2 = _run(model, left)
        if status2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            values = {x.index: cp2.value(x) for x in xs}
    lines = []
    for o in chosen:
        key = o.option.key
        if key in committed:
            c = values[committed[key].index]
            by_period = tuple(c for _ in range(periods))
        else:
            c = 0
            by_period = tuple(values[flexible[key][period_of[p]].index] for p in range(periods))
        if any(by_period):
            lines.append(FleetLine(o.stream, o.option, c, by_period))
    return _Part(OPTIMAL if proven else FEASIBLE, tuple(lines), bound)


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


def _run(model: cp_model.CpModel, time_limit_s: float) -> tuple[cp_model.CpSolverStatus, cp_model.CpSolver]:
    # Full linear relaxation: a fleet is a covering problem per period whose
    # LP bound is tight; one worker at the default level left a 33% gap after
    # 20 s on 6 streams x 24 hours that this level proves optimal in 0.03 s.
    # (repair_hint, which repairs a hint that breaks a shared limit, aborted
    # the process now and then in ortools' solver under short time limits:
    # not used.)
    return solver.run_model(model, max(time_limit_s, MIN_SOLVE_S), linearization_level=2)
