"""planner.plan.solver: optimal against brute force, conservative in its rounding, honest when infeasible."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from itertools import product

import pytest
from hypothesis import given, settings
from strategies import questions

from planner.plan.solver import (
    COST_SCALE,
    INFEASIBLE,
    OPTIMAL,
    Limits,
    Plan,
    PlanLine,
    ReplicaOption,
    check_plan,
    solve,
)


def candidate(key, gpu="h100", gpus=1, throughput=1000.0, cost=1.0, *, hourly=None, capex=0.0, power=0.0, loss=0.0):
    return ReplicaOption(key, gpu, gpus, throughput, cost, cost if hourly is None else hourly, capex, power, loss)


def replicas(plan: Plan) -> dict[str, int]:
    return {line.option.key: line.replicas for line in plan.lines}


# --- optimality by exhaustive search --------------------------------------------


def _real(value: float) -> Fraction:
    """The decimal a figure is written as, exactly."""
    return Fraction(str(value))


def best_by_exhaustion(cands: list[ReplicaOption], limits: Limits):
    """The lexicographically least (cost, worst quality loss, GPUs) over every
    feasible replica vector, in exact arithmetic; None when nothing is feasible.

    A best plan never holds more than max(min_replicas, ceil(demand /
    throughput)) replicas of one candidate: one more could be dropped at no
    loss. The search goes one replica beyond that, so a solver whose own bound
    was too tight would be caught.
    """
    inventory = limits.inventory or {}
    ranges = []
    for c in cands:
        if limits.demand > 0 and c.throughput > 0:
            most = max(limits.min_replicas, math.ceil(_real(limits.demand) / _real(c.throughput))) + 1
        else:
            most = limits.min_replicas + 1
        if c.gpu in inventory:
            most = min(most, inventory[c.gpu] // c.gpus_per_unit)
        if limits.max_gpus is not None:
            most = min(most, limits.max_gpus // c.gpus_per_unit)
        ranges.append(range(most + 1))

    # Exact: every figure as an integer count of one common fraction of a unit.
    attrs = ("throughput", "cost", "hourly_usd", "capex_usd", "power_w", "quality_loss_pct")
    caps = {"hourly_usd": limits.max_hourly_usd, "capex_usd": limits.max_capex_usd, "power_w": limits.max_power_w}
    figures = [_real(getattr(c, a)) for c in cands for a in attrs]
    figures += [_real(limits.demand)] + [_real(v) for v in caps.values() if v is not None]
    unit = math.lcm(*(f.denominator for f in figures))

    def units(value):
        return int(_real(value) * unit)

    per = [{a: units(getattr(c, a)) for a in attrs} for c in cands]
    demand = units(limits.demand)
    limited = [(a, units(cap)) for a, cap in caps.items() if cap is not None]
    gpu_types = sorted({c.gpu for c in cands} & set(inventory))

    best = None
    for xs in product(*ranges):
        if sum(xs) < limits.min_replicas:
            continue
        if sum(x * p["throughput"] for x, p in zip(xs, per)) < demand:
            continue
        gpus = sum(x * c.gpus_per_unit for x, c in zip(xs, cands))
        if limits.max_gpus is not None and gpus > limits.max_gpus:
            continue
        if any(
            sum(x * c.gpus_per_unit for x, c in zip(xs, cands) if c.gpu == g) > inventory[g] for g in gpu_types
        ):
            continue
        if any(sum(x * p[a] for x, p in zip(xs, per)) > cap for a, cap in limited):
            continue
        key = (
            sum(x * p["cost"] for x, p in zip(xs, per)),
            max((p["quality_loss_pct"] for x, p in zip(xs, per) if x > 0), default=0),
            gpus,
        )
        if best is None or key < best[0]:
            best = (key, xs)
    if best is None:
        return None
    (cost, loss, gpus), xs = best
    return Fraction(cost, unit), Fraction(loss, unit), gpus, xs


def plan_key(plan: Plan):
    cost = sum((line.replicas * _real(line.option.cost) for line in plan.lines), Fraction(0))
    loss = max((_real(line.option.quality_loss_pct) for line in plan.lines), default=Fraction(0))
    return cost, loss, plan.gpus


@settings(max_examples=100, deadline=None)
@given(questions())
def test_solver_matches_exhaustive_search(question):
    cands, limits = question
    plan = solve(cands, limits)
    expected = best_by_exhaustion(cands, limits)
    if expected is None:
        assert plan.status == INFEASIBLE
        assert plan.lines == () and plan.cost == 0
        return
    cost, loss, gpus, xs = expected
    # the exhaustive search's plan passes the independent check too
    brute_plan = Plan(OPTIMAL, tuple(PlanLine(c, x) for c, x in zip(cands, xs) if x), float(cost))
    assert check_plan(brute_plan, limits) == []

    assert plan.status == OPTIMAL
    assert check_plan(plan, limits) == []
    # Figures lie on the scale grid (tests/strategies.py), so the match is exact.
    assert plan_key(plan) == (cost, loss, gpus)
    assert plan.cost == pytest.approx(float(cost), rel=1e-9, abs=0.1 / COST_SCALE)
    assert all(line.replicas > 0 for line in plan.lines)


# --- the answers a planner must get right ---------------------------------------------


def test_mixes_gpu_types_when_the_cheapest_runs_out():
    cheap = candidate("l40s tp1", gpu="l40s", throughput=1000.0, cost=1.0)
    dear = candidate("h100 tp1", gpu="h100", throughput=1000.0, cost=3.0)
    limits = Limits(demand=5000.0, inventory={"l40s": 3, "h100": 8})
    plan = solve([dear, cheap], limits)
    assert plan.status == OPTIMAL
    assert replicas(plan) == {"l40s tp1": 3, "h100 tp1": 2}
    assert plan.gpus_by_pool == {"l40s": 3, "h100": 2}
    assert plan.throughput >= 5000.0
    assert plan.cost == pytest.approx(9.0)
    assert check_plan(plan, limits) == []


def test_cost_comes_before_quality():
    lossy = candidate("int4", cost=1.0, loss=3.0)
    exact = candidate("bf16", cost=1.5, loss=0.0)
    assert replicas(solve([exact, lossy], Limits(demand=1000.0))) == {"int4": 1}


def test_equal_cost_prefers_lower_quality_loss():
    lossy = candidate("int4", cost=2.0, loss=3.0)
    exact = candidate("bf16", cost=2.0, loss=0.5)
    plan = solve([lossy, exact], Limits(demand=3000.0))
    assert plan.status == OPTIMAL
    assert replicas(plan) == {"bf16": 3}
    assert plan.max_quality_loss_pct == 0.5


def test_equal_cost_and_quality_prefers_fewer_gpus():
    wide = candidate("tp4", gpus=4, throughput=2000.0, cost=4.0)
    narrow = candidate("tp2", gpus=2, throughput=2000.0, cost=4.0)
    plan = solve([wide, narrow], Limits(demand=4000.0))
    assert plan.status == OPTIMAL
    assert replicas(plan) == {"tp2": 2}
    assert plan.gpus == 4


def test_demand_beyond_the_whole_inventory_is_infeasible():
    cands = [candidate("a", gpu="a100", throughput=500.0), candidate("b", gpu="h100", throughput=900.0)]
    limits = Limits(demand=10_000.0, inventory={"a100": 4, "h100": 4})
    plan = solve(cands, limits)
    assert plan.status == INFEASIBLE
    assert plan.lines == ()
    assert plan.cost == 0
    assert plan.cost_bound is None


def test_no_demand_gives_the_single_cheapest_replica():
    cands = [candidate("a", cost=2.5), candidate("b", gpus=2, cost=1.25), candidate("c", cost=4.0)]
    plan = solve(cands, Limits(demand=0.0))
    assert plan.status == OPTIMAL
    assert replicas(plan) == {"b": 1}
    assert plan.cost == 1.25


def test_no_demand_and_no_replica_floor_is_the_empty_plan():
    plan = solve([candidate("a")], Limits(demand=0.0, min_replicas=0))
    assert plan.status == OPTIMAL
    assert plan.lines == ()
    assert plan.cost == 0


def test_no_candidates():
    assert solve([], Limits(demand=1.0)).status == INFEASIBLE
    assert solve([], Limits(min_replicas=0)) == Plan(OPTIMAL, (), 0.0, 0.0)


def test_a_candidate_serving_nothing_can_meet_the_replica_floor():
    idle = candidate("idle", throughput=0.0, cost=0.5)
    busy = candidate("busy", throughput=100.0, cost=1.0)
    assert replicas(solve([idle, busy], Limits(min_replicas=2))) == {"idle": 2}
    # with a demand, it buys nothing
    assert replicas(solve([idle, busy], Limits(demand=150.0, min_replicas=2))) == {"busy": 2}


def test_caps_on_gpus_power_and_capex_hold():
    big = candidate("8x", gpus=8, throughput=8000.0, cost=8.0, capex=250_000.0, power=5600.0)
    small = candidate("1x", gpus=1, throughput=900.0, cost=1.2, capex=30_000.0, power=700.0)
    limits = Limits(demand=16_000.0, max_gpus=20, max_power_w=14_000.0, max_capex_usd=800_000.0)
    plan = solve([big, small], limits)
    assert plan.status == OPTIMAL
    assert replicas(plan) == {"8x": 2}
    assert check_plan(plan, limits) == []
    assert solve([big, small], Limits(demand=16_000.0, max_power_w=11_000.0)).status == INFEASIBLE


def test_totals_are_the_decimals_written():
    plan = Plan(OPTIMAL, (PlanLine(candidate("a", cost=0.1, hourly=0.1), 3),), 0.3)
    assert plan.hourly_usd == 0.3  # not 0.30000000000000004
    assert check_plan(plan, Limits(max_hourly_usd=0.3, min_replicas=3)) == []


# --- rounding never turns an infeasible plan into an answer ----------------------------


@pytest.mark.parametrize(
    ("hourly", "budget", "overspend"),
    [
        # 1.00004 USD/h is finer than COST_SCALE: to nearest it would be 1.0000,
        # and 3 replicas (30000) would fit 3.00011 (30001)
        (1.00004, 3.00011, "hourly_usd 3.00012 USD/h exceeds max_hourly_usd 3.00011 USD/h"),
        # a budget of 2.99996 to nearest would be 3.0000 and fit 3 x 1.0000
        (1.0, 2.99996, "hourly_usd 3 USD/h exceeds max_hourly_usd 2.99996 USD/h"),
    ],
)
def test_budget_rounding_never_accepts_an_overspend(hourly, budget, overspend):
    c = candidate("a", throughput=10.0, hourly=hourly)
    limits = Limits(demand=30.0, max_hourly_usd=budget)
    assert check_plan(Plan(OPTIMAL, (PlanLine(c, 3),), 3.0), limits) == [overspend]
    assert solve([c], limits).status == INFEASIBLE


@pytest.mark.parametrize(
    ("throughput", "demand", "shortfall"),
    [
        # 1.0006/s is finer than THROUGHPUT_SCALE: to nearest it would be 1.001,
        # and 3 replicas (3.003) would seem to cover 3.0025/s
        (1.0006, 3.0025, "throughput 3.0018/s is below the demand 3.0025/s"),
        # a demand of 3.0002/s to nearest would be 3.000, met by 3 x 1.000
        (1.0, 3.0002, "throughput 3/s is below the demand 3.0002/s"),
    ],
)
def test_throughput_rounding_never_overstates_what_is_served(throughput, demand, shortfall):
    c = candidate("a", throughput=throughput, cost=1.0)
    limits = Limits(demand=demand)
    assert check_plan(Plan(OPTIMAL, (PlanLine(c, 3),), 3.0), limits) == [shortfall]
    plan = solve([c], limits)
    assert replicas(plan) == {"a": 4}
    assert check_plan(plan, limits) == []


def test_conservative_rounding_may_buy_a_replica_more_than_needed():
    # the price of never overstating: 3 x 1.0004/s does cover 3.0011/s, but the
    # solver credits 1.000/s per replica and cannot tell
    c = candidate("a", throughput=1.0004, cost=1.0)
    limits = Limits(demand=3.0011)
    assert check_plan(Plan(OPTIMAL, (PlanLine(c, 3),), 3.0), limits) == []
    assert replicas(solve([c], limits)) == {"a": 4}


def test_off_grid_questions_are_never_answered_with_a_broken_plan():
    rng = random.Random(11)
    for _ in range(30):
        cands = [
            ReplicaOption(f"c{i}", rng.choice("xy"), rng.choice((1, 2)), rng.uniform(0.5, 3), rng.uniform(0, 2),
                      rng.uniform(0, 2), rng.uniform(0, 2), rng.uniform(0, 2), rng.uniform(0, 2))
            for i in range(4)
        ]
        limits = Limits(demand=rng.uniform(1, 6), inventory={"x": rng.randint(0, 6)}, max_hourly_usd=rng.uniform(1, 5),
                        max_capex_usd=rng.uniform(1, 5), max_power_w=rng.uniform(1, 5))
        plan = solve(cands, limits)
        if plan.status != INFEASIBLE:
            assert check_plan(plan, limits) == []


# --- the independent check ------------------------------------------------------------


def test_check_plan_names_every_broken_limit():
    c = candidate("a", gpu="h100", gpus=4, throughput=100.0, cost=1.0, hourly=2.0, capex=10.0, power=700.0)
    plan = Plan(OPTIMAL, (PlanLine(c, 3),), 3.0)
    limits = Limits(
        demand=500.0,
        inventory={"h100": 8},
        max_gpus=10,
        max_power_w=2000.0,
        max_hourly_usd=5.0,
        max_capex_usd=20.0,
        min_replicas=4,
    )
    assert check_plan(plan, limits) == [
        "throughput 300/s is below the demand 500/s",
        "12 x h100 exceeds the inventory of 8",
        "12 GPUs exceed max_gpus 10",
        "power_w 2,100 W exceeds max_power_w 2,000 W",
        "hourly_usd 6 USD/h exceeds max_hourly_usd 5 USD/h",
        "capex_usd 30 USD exceeds max_capex_usd 20 USD",
        "3 replicas is below min_replicas 4",
    ]


# --- scale and reproducibility (nothing timed: speed lives in benchmarks) -----------


def _catalog_like(count: int, seed: int) -> list[ReplicaOption]:
    rng = random.Random(seed)
    cands = []
    for i in range(count):
        gpus = rng.choice((1, 2, 4, 8))
        hourly = round(gpus * rng.uniform(0.5, 4.0), 3)
        cands.append(
            ReplicaOption(f"c{i}", rng.choice(("h100", "a100", "l40s", "l4", "mi300x")), gpus,
                      round(rng.uniform(500, 20_000), 1), hourly, hourly, gpus * 25_000.0, gpus * 500.0,
                      rng.choice((0.0, 0.5, 1.0, 2.5)))
        )
    return cands


def test_a_few_hundred_candidates_reach_a_proven_optimum():
    cands = _catalog_like(300, seed=1)
    limits = Limits(demand=400_000.0, inventory={"h100": 16, "a100": 24, "l40s": 8}, max_power_w=60_000.0)
    plan = solve(cands, limits)
    assert plan.status == OPTIMAL
    assert check_plan(plan, limits) == []
    assert plan.cost_bound == pytest.approx(plan.cost)


def test_the_same_question_gets_the_same_plan():
    # many exact ties in cost, quality and GPUs: the pick among them must not drift
    cands = [ReplicaOption(f"k{i}", "h100", 1, 1000.0, 1.0, 1.0, 0.0, 0.0, 0.0) for i in range(40)]
    cands += _catalog_like(100, seed=2)
    limits = Limits(demand=35_000.0, inventory={"h100": 20})
    first = solve(cands, limits)
    assert all(solve(cands, limits) == first for _ in range(3))


# --- bad calls ---------------------------------------------------------------------


def test_repeated_keys_are_rejected():
    with pytest.raises(ValueError, match="repeated: a"):
        solve([candidate("a"), candidate("a")], Limits())


@pytest.mark.parametrize(
    "build",
    [
        lambda: candidate("a", gpus=0),
        lambda: candidate("a", throughput=-1.0),
        lambda: candidate("a", cost=float("nan")),
        lambda: Limits(demand=float("inf")),
        lambda: Limits(inventory={"h100": -1}),
        lambda: Limits(time_limit_s=0),
    ],
)
def test_malformed_figures_are_rejected(build):
    with pytest.raises(ValueError):
        build()


def test_a_cut_short_search_still_answers_with_a_valid_plan_or_none():
    cands = _catalog_like(300, seed=3)
    limits = Limits(demand=2_000_000.0, inventory={"h100": 64, "a100": 64}, time_limit_s=0.001)
    plan = solve(cands, limits)
    assert plan.status in {"optimal", "feasible", "unknown"}
    if plan.status == "unknown":
        assert plan.lines == ()
    else:
        assert check_plan(plan, limits) == []
