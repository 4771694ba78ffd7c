"""Held pools shared out (planner/plan/fleet_pools.py): the joint optimum
without the joint model when only held pools bind, a true lower bound when
another limit binds, and a plan without a bound when a descent is cut short."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from planner.plan import fleet_pools, fleet_solver, solver
from planner.plan.fleet_model import FleetLimits, FleetOption, Stream, fleet_cost, solve_group, within
from planner.plan.fleet_pools import held_pools, share_held_pools
from planner.plan.fleet_solver import solve_fleet
from test_fleet_solver import _brute_force, _option


def _owned_fleet(rng: random.Random, streams: int = 2):
    """Streams that each want owned GPUs (free) over renting, and one owned GPU: a pool that binds."""
    made, options = [], []
    for i in range(streams):
        name = f"s{i}"
        made.append(Stream(name, (rng.choice([2, 4]), rng.choice([1, 3]))))
        options.append(FleetOption(name, _option(f"{name}-owned", "h100", rng.choice([2, 3]), 0.0, pool="owned:h100"), False))
        options.append(FleetOption(name, _option(f"{name}-rent", "l40s", 2, rng.choice([1.5, 2.0])), True))
        options.append(FleetOption(name, _option(f"{name}-reserved", "l40s", 2, rng.choice([1.0, 1.25])), False))
    return made, options, FleetLimits(inventory={"owned:h100": 1})


def _by_stream(streams, options):
    return {s.name: [o for o in options if o.stream == s.name] for s in streams}


def _own(streams, by_stream, limits):
    return {s.name: solve_group([s], by_stream, limits, len(s.demand), 5.0) for s in streams}


@pytest.mark.parametrize("seed", range(10))
def test_an_owned_pool_that_binds_is_shared_out_to_the_brute_force_optimum(seed, monkeypatch):
    streams, options, limits = _owned_fleet(random.Random(seed))
    joint, shared = [], []
    real_group, real_share = fleet_solver.solve_group, fleet_solver.share_held_pools
    monkeypatch.setattr(fleet_solver, "solve_group",
                        lambda members, *args, **kwargs: joint.append(len(members)) or real_group(members, *args, **kwargs))
    monkeypatch.setattr(fleet_solver, "share_held_pools",
                        lambda *args, **kwargs: shared.append(real_share(*args, **kwargs)) or shared[-1])
    plan = solve_fleet(streams, options, limits)
    assert plan.status == solver.OPTIMAL
    assert Fraction(plan.cost).limit_denominator(10_000) == _brute_force(streams, options, limits)
    assert len(shared) == 1 and shared[0].part.status == solver.OPTIMAL  # both want the GPU: apart, they break the pool
    assert set(joint) == {1}, "the joint model was built"


def _day_fleet(rng: random.Random, streams: int):
    """Workloads over 24 hours (a diurnal curve), each with on-demand and
    reserved L40S and L4 units and the owned H100s, too few for all."""
    made, options = [], []
    for i in range(streams):
        name, peak, trough = f"w{i}", rng.uniform(2, 40), rng.uniform(0.1, 0.9)
        made.append(Stream(name, tuple(round(peak * (trough + (1 - trough) * (1 - abs(h - 14) / 14)), 3)
                                       for h in range(24))))
        per_gpu = rng.uniform(1, 10)
        for gpu, price in (("l4", 0.8), ("l40s", 1.9)):
            rate = round(per_gpu * price ** 0.8, 3)
            options.append(FleetOption(name, _option(f"{name}-{gpu}", gpu, rate, price), True))
            options.append(FleetOption(name, _option(f"{name}-{gpu}-reserved", gpu, rate, round(0.62 * price, 4)), False))
        options.append(FleetOption(name, _option(f"{name}-owned", "h100", round(per_gpu * 4, 3), 0.0,
                                                 pool="owned:h100"), False))
    return made, options, FleetLimits(inventory={"owned:h100": streams // 2 + 1})


@pytest.mark.parametrize("seed", range(2))
def test_sharing_out_agrees_with_the_joint_model_proved_over_a_day(seed):
    """Eight workloads over 24 hours: the pools route's proved optimum is the
    joint CP-SAT model's, proved on its own with a minute to spare."""
    streams, options, limits = _day_fleet(random.Random(seed), 8)
    plan = solve_fleet(streams, options, limits)
    assert solve_fleet(streams, options, FleetLimits(inventory={"owned:h100": 100})).cost < plan.cost - 1  # it binds
    joint = solve_group(streams, _by_stream(streams, options), limits, 24, 60.0)
    assert plan.status == solver.OPTIMAL and joint.status == solver.OPTIMAL
    assert plan.cost == pytest.approx(joint.cost_bound, abs=1e-3)
    assert plan.cost == pytest.approx(fleet_cost(joint.lines, limits), abs=1e-3)


def test_each_point_is_the_streams_least_cost_within_its_allotment():
    """Every point of a stream's descent costs what the stream costs alone
    with its pool's inventory cut to the allotment, and holds no more than it."""
    stream = Stream("s", (7.0, 3.0))
    options = [FleetOption("s", _option("owned", "h100", 2, 0.0, pool="owned:h100"), False),
               FleetOption("s", _option("rent", "l40s", 2, 2.0), True),
               FleetOption("s", _option("reserved", "l40s", 2, 1.25), False)]
    limits = FleetLimits(inventory={"owned:h100": 8})
    by_stream = _by_stream([stream], options)
    own = solve_group([stream], by_stream, limits, 2, 5.0)
    points, whole = fleet_pools._points(stream, by_stream, limits, 2, ["owned:h100"], own, float("inf"))
    assert whole
    assert sorted(p.use[0] for p in points) == [0, 1, 2, 3, 4]  # 4 owned units cover 7 at 2 each; then one fewer at a time
    for p in points:
        alone = solve_group([stream], by_stream, FleetLimits(inventory={"owned:h100": p.allotment[0]}), 2, 5.0)
        assert p.use[0] <= p.allotment[0]
        assert p.cost == round(alone.cost_bound * solver.COST_SCALE)


def test_a_rent_budget_that_binds_leaves_a_plan_within_it_and_a_true_bound():
    """Streams a and b want the one owned GPU; c holds a $1/h reserved unit.
    Without the budget the master gives the GPU to a: b rents a reserved and
    an hourly unit ($3.50/day, $2.50/h at its peak), $5.50/day in all. Each
    stream alone keeps to the $3/h budget, but b and c together pay $3.50/h
    at the peak: the best within it is $6/day (a or b on two reserved units).
    The shares picked within the budget keep to it, and the master's optimum
    is a lower bound."""
    streams = [Stream("a", (4.0, 4.0)), Stream("b", (3.0, 1.0)), Stream("c", (2.0, 2.0))]
    options = [FleetOption("c", _option("c-reserved", "l40s", 2, 1.0), False)]
    for s in ("a", "b"):
        options += [FleetOption(s, _option(f"{s}-owned", "h100", 4, 0.0, pool="owned:h100"), False),
                    FleetOption(s, _option(f"{s}-rent", "l40s", 2, 1.5), True),
                    FleetOption(s, _option(f"{s}-reserved", "l40s", 2, 1.0), False)]
    limits = FleetLimits(inventory={"owned:h100": 1}, max_hourly_usd=3.0)
    by_stream = _by_stream(streams, options)
    shared = share_held_pools(streams, by_stream, limits, 2, _own(streams, by_stream, limits), 10.0)
    best = _brute_force(streams, options, limits)
    assert best == 6
    assert shared is not None and shared.floor == pytest.approx(5.5)
    assert shared.part is not None and shared.part.status == solver.FEASIBLE and within(shared.part.lines, limits, 2)
    plan = solve_fleet(streams, options, limits)
    assert plan.status == solver.OPTIMAL and Fraction(plan.cost).limit_denominator(10_000) == best


def test_a_descent_cut_short_answers_a_plan_without_a_bound(monkeypatch):
    """a would hold 2 owned GPUs and b 1, of 2; with one allotment searched
    below each stream's own plan, a's descent stops at 1 GPU (0 is not
    searched): the master still picks a plan, but its cost bounds nothing."""
    monkeypatch.setattr(fleet_pools, "MAX_POINTS", 2)
    streams = [Stream("a", (4.0, 4.0)), Stream("b", (2.0, 2.0))]
    options = []
    for s in ("a", "b"):
        options += [FleetOption(s, _option(f"{s}-owned", "h100", 2, 0.0, pool="owned:h100"), False),
                    FleetOption(s, _option(f"{s}-rent", "l40s", 2, 1.5), True)]
    limits = FleetLimits(inventory={"owned:h100": 2})
    by_stream = _by_stream(streams, options)
    shared = share_held_pools(streams, by_stream, limits, 2, _own(streams, by_stream, limits), 10.0)
    assert shared is not None and shared.floor is None
    assert shared.part.status == solver.FEASIBLE and within(shared.part.lines, limits, 2)


def test_a_pool_whose_units_are_too_large_for_it_is_passed_over():
    """The stream may use two owned pools, but A100s come only in units of 8
    of which 4 are owned: the descent lowers the H100 pool alone."""
    streams = [Stream("a", (4.0, 2.0)), Stream("b", (4.0, 2.0))]
    options = []
    for s in ("a", "b"):
        options += [FleetOption(s, _option(f"{s}-h100", "h100", 2, 0.0, pool="owned:h100"), False),
                    FleetOption(s, _option(f"{s}-a100x8", "a100", 16, 0.0, gpus=8, pool="owned:a100"), False),
                    FleetOption(s, _option(f"{s}-rent", "l40s", 2, 1.5), True)]
    limits = FleetLimits(inventory={"owned:h100": 2, "owned:a100": 4})
    plan = solve_fleet(streams, options, limits)
    assert plan.status == solver.OPTIMAL
    assert plan.cost == pytest.approx(2 * 1.5)  # an H100 each; each rents one unit more in the busy hour


def test_a_pool_with_an_hourly_option_is_not_held():
    streams = [Stream("a", (1.0,))]
    options = [FleetOption("a", _option("a-owned", "h100", 2, 0.0, pool="owned:h100"), False),
               FleetOption("a", _option("a-spot", "h100", 2, 1.0, pool="aws:h100"), True)]
    limits = FleetLimits(inventory={"owned:h100": 1, "aws:h100": 4})
    assert held_pools(streams, _by_stream(streams, options), limits) == ["owned:h100"]
    assert held_pools(streams, _by_stream(streams, options), FleetLimits(inventory=limits.inventory, static=True)) \
        == ["aws:h100", "owned:h100"]
