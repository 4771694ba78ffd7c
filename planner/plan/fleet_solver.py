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
  * when they do not fit, pools held all day (owned GPUs) are shared out
    (fleet_pools.py): what each stream costs with less of them, then one
    small model picks each stream's share. That is the joint optimum when
    the shares' plans keep within the other limits together; else its
    optimum is a tighter lower bound, and the shares picked within every
    limit are a plan to start from;
  * a ``start`` fleet (``solve_fleet(..., start=)``, `fit --scenario` passes
    the one sized for the peak) keeps its held units and has each stream's
    hourly units chosen again; the joint search starts from it and the
    answer is never dearer than it.
A group's routes share its time limit (the limit times its share of the
streams): solving apart gets a quarter of it, the start fleet's hourly units
a tenth of what is left, sharing out the held pools nine tenths of what
is then left, and the joint model the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.plan.fleet_model import (DEFAULT_TIME_LIMIT_S, MIN_SOLVE_S, PERIODS_PER_DAY, FleetLimits, FleetLine,
                                      FleetOption, Part, Stream, covers, fleet_cost, solve_group, within)
from planner.plan.fleet_pools import share_held_pools
from planner.plan.solver import FEASIBLE, INFEASIBLE, OPTIMAL, UNKNOWN

__all__ = ["DEFAULT_TIME_LIMIT_S", "PERIODS_PER_DAY", "FleetLimits", "FleetLine", "FleetOption", "FleetPlan", "Stream",
           "fleet_cost", "solve_fleet"]


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
        deadline = time.perf_counter() + limits.time_limit_s * len(group) / len(streams)
        known = tuple(line if line.option.key not in flexible else FleetLine(line.stream, line.option, 0, line.by_period)
                      for line in start if line.stream in group)
        if not (covers(known, members, by_stream) and within(known, limits, periods)):
            known = ()
        parts.append(_solve_linked(members, by_stream, limits, periods, known, deadline))
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


def _solve_linked(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
                  periods: int, known: tuple[FleetLine, ...], deadline: float) -> Part:
    """One group of linked streams, by the cheapest route that answers (the
    module note): apart, then the held pools shared out, then the joint
    model started from the best plan in hand; never dearer than ``known``."""
    def left(share: float = 1.0) -> float:
        return max((deadline - time.perf_counter()) * share, MIN_SOLVE_S)

    floor, hint, found = None, (), None
    if len(streams) > 1:
        own, hint, floor = _apart(streams, by_stream, limits, periods, left(0.25))
        if floor is not None and within(hint, limits, periods):
            return Part(OPTIMAL, hint, floor)
    if known:
        known = _rescaled(streams, by_stream, limits, periods, known, left(0.1))
    if len(streams) > 1 and floor is not None:
        shared = share_held_pools(streams, by_stream, limits, periods, own, left(0.9), known)
        if shared is not None:
            if shared.part is not None and shared.part.status == OPTIMAL:
                return shared.part
            floor = max(floor, shared.floor) if shared.floor is not None else floor
            hint, found = shared.hint, shared.part
    in_hand = [lines for lines in (known, found.lines if found is not None else ()) if lines]
    start = min(in_hand, key=lambda lines: fleet_cost(lines, limits)) if in_hand else hint
    part = solve_group(streams, by_stream, limits, periods, left(), start)
    if floor is not None and part.cost_bound is not None:
        part = Part(part.status, part.lines, max(part.cost_bound, floor))
    for lines in in_hand:
        if part.status not in (OPTIMAL, FEASIBLE) or fleet_cost(lines, limits) < fleet_cost(part.lines, limits):
            part = Part(FEASIBLE, lines, part.cost_bound if part.cost_bound is not None else floor)
    return part




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


def _apart(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
           periods: int, time_limit_s: float) -> tuple[dict[str, Part], tuple[FleetLine, ...], float | None]:
    """The streams solved one by one, each as if the shared limits were its
    alone: (each stream's answer, their lines together, the sum of their
    proved least costs or None when one was not proved). Each stream's
    least cost on its own bounds its cost in any joint plan, so the sum is a
    lower bound of the joint cost; when the lines together keep within the
    shared limits, they are the joint optimum (likewise their GPU-hours among
    the cheapest plans), found without the joint model."""
    deadline = time.perf_counter() + time_limit_s
    own = {}
    for i, s in enumerate(streams):  # what a quick solve leaves, a slow one may use
        own[s.name] = solve_group([s], by_stream, limits, periods, (deadline - time.perf_counter()) / (len(streams) - i))
    lines = tuple(line for p in own.values() for line in p.lines)
    floor = sum(p.cost_bound or 0.0 for p in own.values()) if all(p.status == OPTIMAL for p in own.values()) else None
    return own, lines, floor


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
    parts = [solve_group([s], by_stream, free, periods, free.time_limit_s, fixed=held) for s in streams]
    if any(p.status not in (OPTIMAL, FEASIBLE) for p in parts):
        return known
    lines = tuple(line for p in parts for line in p.lines)
    if covers(lines, streams, by_stream) and within(lines, limits, periods) and \
            fleet_cost(lines, limits) < fleet_cost(known, limits):
        return lines
    return known

