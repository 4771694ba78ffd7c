"""Held pools shared out: the joint optimum of streams linked through pools
of GPUs held all day (owned GPUs, most often), found from what each stream
costs with less of them and one small CP-SAT model over those costs.

Why not the joint model: there, integer units meeting one shared pool make
a weak linear bound. On the 100-workload fleet of benchmarks/fleet_speed.py
(an owned pool that binds) its relaxation is 18% below the optimum, and
one CP-SAT worker was still 9% above the optimum after 10 s without a
proof. Found this way, the optimum is proved in about a second.

A pool is *held* when every option of the group in it is held all day:
then a stream's use of it is one number, the same in every period. For a
stream s and an allotment a (the GPUs of each held pool it may use), let
V_s(a) be the stream's least cost on its own within a, every other limit
applied to it alone. V_s only falls as a grows, and only at a few points:
the plan found within a uses some u <= a, and V_s is the same at every
allotment between u and a. So its points are found by a descent from the
stream's own optimum (allotment = the inventory): from each allotment
searched, lower one pool to one GPU below what its plan uses.

The master: each stream picks one of its points, the picked points' use of
each held pool is at most the pool's inventory, least total cost. Its
optimum bounds the joint cost from below: in any joint plan each stream
holds some u of each held pool and costs at least V_s(u); the other shared
limits were applied to each stream alone, which only relaxes them. When
the picked plans keep within every shared limit together, that bound is
met and they are the joint optimum; when they do not, the bound is still
the joint model's floor and the plans its starting point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.plan.fleet_model import (MIN_SOLVE_S, FleetLimits, FleetLine, FleetOption, GroupModel, Part, Stream, fleet_cost,
                                      run, within)
from planner.plan.solver import COST_SCALE, FEASIBLE, INFEASIBLE, OPTIMAL, POWER_SCALE, to_grid

MAX_POINTS = 64  # most allotments searched for one stream (a search bound)
MAX_SOLVE_S = 1.0  # most time one allotment's solve gets (a search bound; they take milliseconds)


@dataclass(frozen=True)
class Shared:
    """What sharing out the held pools found: ``part`` when the picked plans
    keep within every shared limit (optimal when the master was proved);
    else None, with ``floor`` (a lower bound of the joint cost, None when
    not proved) and ``hint`` (the picked plans) for the joint model."""

    part: Part | None
    floor: float | None
    hint: tuple[FleetLine, ...]


@dataclass(frozen=True)
class _Point:
    allotment: tuple[int, ...]  # GPUs of each held pool the stream may use
    use: tuple[int, ...]  # GPUs of each held pool its plan uses
    cost: int  # the plan's cost on the model's grid (COST_SCALE per USD)
    part: Part
    tie_broken: bool  # whether its plan is already the fewest GPU-hours among the cheapest


def held_pools(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits) -> list[str]:
    """The inventory pools in which every option of ``streams`` is held all day."""
    flexible_ok = limits.hourly and not limits.static
    options = [o for s in streams for o in by_stream[s.name]]
    return sorted(pool for pool in (limits.inventory or {})
                  if any(o.option.pool == pool for o in options)
                  and not any(o.option.pool == pool and o.flexible and flexible_ok for o in options))


def share_held_pools(streams: Sequence[Stream], by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits,
                     periods: int, own: Mapping[str, Part], time_limit_s: float,
                     known: Sequence[FleetLine] = ()) -> Shared | None:
    """The held pools shared out among ``streams`` (see the module note).
    ``own``: each stream's proved optimum on its own (every shared limit its
    alone). ``known``: a fleet within the limits (say, the one sized for the
    peak): when another limit binds, each stream may keep its part of it.
    None when no held pool is in play or no share was found. When a
    stream's descent is cut short (more than MAX_POINTS allotments, a solve
    not proved, the time spent), the master picks among the points found: a
    plan, with no bound."""
    deadline = time.perf_counter() + time_limit_s
    pools = held_pools(streams, by_stream, limits)
    if not pools or any(own[s.name].status != OPTIMAL for s in streams):
        return None
    points, complete, models = {}, True, {}
    for s in streams:
        points[s.name], whole = _points(s, by_stream, limits, periods, pools, own[s.name], deadline, models)
        complete = complete and whole
    picked, proved, floor = _master(streams, points, pools, limits, deadline)
    if picked is None:
        return None
    proved, floor = proved and complete, floor if complete else None
    lines = tuple(line for p in picked for line in p.part.lines)
    if not within(lines, limits, periods):
        # A limit the master left to each stream alone binds: the same points
        # picked within every limit are a plan (not proved least: a stream's
        # cheapest plan within less rent, say, may be none of its points),
        # and the master's optimum still bounds the joint cost. Each stream's
        # part of the known fleet is one more point: flatter rent, dearer.
        for s in streams:
            mine = tuple(line for line in known if line.stream == s.name)
            if mine:
                points[s.name].append(_Point((), _use(mine, pools), round(fleet_cost(mine, limits) * COST_SCALE),
                                             Part(FEASIBLE, mine, None), True))
        picked, _, _ = _master(streams, points, pools, limits, deadline, periods=periods)
        if picked is None:
            return Shared(None, floor, lines)
        lines = tuple(line for p in picked for line in p.part.lines)
        return Shared(Part(FEASIBLE, lines, floor) if within(lines, limits, periods) else None, floor, lines)
    status = OPTIMAL if proved else FEASIBLE
    # the fewest GPU-hours among each stream's cheapest plans at its allotment (a tie-break, as in the joint model)
    tidy = _tie_broken(streams, models, pools, picked, deadline)
    if tidy is not None and within(tidy, limits, periods):
        lines = tidy
    return Shared(Part(status, lines, floor), floor, lines)


def _points(stream: Stream, by_stream: Mapping[str, list[FleetOption]], limits: FleetLimits, periods: int,
            pools: Sequence[str], own: Part, deadline: float,
            models: dict[str, GroupModel] | None = None) -> tuple[list[_Point], bool]:
    """The points of V_s: the stream's least cost at every allotment its
    descent reaches (the module note), its own optimum first; and whether
    the descent was whole (else some points are missing, or a point's cost
    is a plan's, not proved least)."""
    mine = [q for q in pools if any(o.option.pool == q for o in by_stream[stream.name])]
    inventory = limits.inventory or {}
    top = tuple(inventory[q] if q in mine else 0 for q in pools)
    first = _Point(top, _use(own.lines, pools), round(own.cost_bound * COST_SCALE), own, True)
    if not any(first.use):
        return [first], True
    model = GroupModel([stream], by_stream, limits, periods, allotted=mine)
    if models is not None:
        models[stream.name] = model  # the tie-break solves its picked allotment again on it
    found, waiting, seen, whole = [first], [first], {top}, True
    while waiting:
        point = waiting.pop()
        for i, used in enumerate(point.use):
            if used == 0:
                continue
            allotment = point.allotment[:i] + (used - 1,) + point.allotment[i + 1:]
            if allotment in seen:
                continue
            seen.add(allotment)
            left = deadline - time.perf_counter()
            if len(seen) > MAX_POINTS or left < MIN_SOLVE_S:
                return found, False
            for q, gpus in zip(pools, allotment):
                if q in mine:
                    model.allot(q, gpus)
            part = model.solve(min(left, MAX_SOLVE_S), tie_break=False)
            if part.status == INFEASIBLE:
                continue
            whole = whole and part.status == OPTIMAL
            if part.status not in (OPTIMAL, FEASIBLE):
                continue
            cost = fleet_cost(part.lines, limits) if part.status == FEASIBLE else part.cost_bound
            child = _Point(allotment, _use(part.lines, pools), round(cost * COST_SCALE), part, False)
            found.append(child)
            waiting.append(child)
    return found, whole


def _use(lines: Sequence[FleetLine], pools: Sequence[str]) -> tuple[int, ...]:
    """GPUs of each held pool the lines hold (held pools' units are the same in every period)."""
    return tuple(sum(line.committed * line.option.gpus_per_unit for line in lines if line.option.pool == q)
                 for q in pools)


def _master(streams: Sequence[Stream], points: Mapping[str, list[_Point]], pools: Sequence[str],
            limits: FleetLimits, deadline: float, periods: int = 0) -> tuple[list[_Point] | None, bool, float | None]:
    """One point per stream, the held pools' inventory kept, least total
    cost: (the picked points, whether proved, the proved lower bound).
    With ``periods``, every other shared limit is kept too, in each period."""
    model = cp_model.CpModel()
    picks: list[tuple[cp_model.IntVar, _Point]] = []
    for s in streams:
        choice = [(model.new_bool_var(f"pick[{s.name}][{i}]"), p) for i, p in enumerate(points[s.name])]
        model.add_exactly_one(b for b, _ in choice)
        picks += choice
    inventory = limits.inventory or {}
    for i, q in enumerate(pools):
        model.add(cp_model.LinearExpr.weighted_sum([b for b, _ in picks], [p.use[i] for _, p in picks]) <= inventory[q])
    for charges, cap in _limits_by_period(limits, [p for _, p in picks], pools, periods):
        model.add(cp_model.LinearExpr.weighted_sum([b for b, _ in picks], charges) <= cap)
    cost = cp_model.LinearExpr.weighted_sum([b for b, _ in picks], [p.cost for _, p in picks])
    model.minimize(cost)
    status, cp = run(model, deadline - time.perf_counter())
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False, None
    picked = [p for b, p in picks if cp.value(b)]
    return picked, status == cp_model.OPTIMAL, cp.best_objective_bound / COST_SCALE


def _limits_by_period(limits: FleetLimits, points: Sequence[_Point], pools: Sequence[str],
                      periods: int) -> list[tuple[list[int], int]]:
    """Each shared limit other than the held pools, in each of ``periods``:
    (each point's charge against it, its cap), on the joint model's grid
    (charges rounded up, caps down)."""
    rows = []
    for pool, cap in sorted((limits.inventory or {}).items()):
        if pool not in pools:
            rows += [([sum(line.by_period[p] * line.option.gpus_per_unit for line in pt.part.lines
                           if line.option.pool == pool) for pt in points], cap) for p in range(periods)]
    for cap, attr, scale in ((limits.max_gpus, "gpus_per_unit", 1), (limits.max_power_w, "power_w", POWER_SCALE),
                             (limits.max_hourly_usd, "hourly_usd", COST_SCALE)):
        if cap is not None:
            rows += [([sum(line.by_period[p] * to_grid(getattr(line.option, attr), scale, math.ceil)
                           for line in pt.part.lines) for pt in points], to_grid(cap, scale, math.floor))
                     for p in range(periods)]
    if limits.max_capex_usd is not None and periods:
        rows.append(([sum(line.committed * to_grid(line.option.capex_usd, COST_SCALE, math.ceil) for line in pt.part.lines)
                      for pt in points], to_grid(limits.max_capex_usd, COST_SCALE, math.floor)))
    return rows


def _tie_broken(streams: Sequence[Stream], models: Mapping[str, GroupModel], pools: Sequence[str],
                picked: Sequence[_Point], deadline: float) -> tuple[FleetLine, ...] | None:
    """Each picked plan solved again at its allotment with the fewest-GPU-hours
    stage, on the model its descent built; None when time runs out or a
    solve does not keep the cost."""
    lines: list[FleetLine] = []
    for s, point in zip(streams, picked):
        if point.tie_broken:
            lines += point.part.lines
            continue
        left = deadline - time.perf_counter()
        if left < MIN_SOLVE_S:
            return None
        model = models[s.name]  # a point not tie-broken came from this stream's descent
        for q, gpus in zip(pools, point.allotment):
            model.allot(q, gpus)  # a pool the stream has no option in is passed over
        part = model.solve(left)
        if part.status != OPTIMAL or round(part.cost_bound * COST_SCALE) != point.cost:
            return None
        lines += part.lines
    return tuple(lines)
