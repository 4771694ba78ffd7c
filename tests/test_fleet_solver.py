"""The joint fleet model (planner/plan/fleet_solver.py): optimal against
brute force, never dearer than sizing for the peak or solving the streams one
at a time, and exact in its bookkeeping."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import pytest

from planner.plan import fleet_model, fleet_solver, solver
from planner.plan.fleet_solver import FleetLimits, FleetOption, Stream, fleet_cost, solve_fleet


def _option(key: str, gpu: str, throughput: float, cost: float, *, gpus: int = 1, pool: str = "", power: float = 0.0,
            capex: float = 0.0, hourly: float | None = None) -> solver.ReplicaOption:
    return solver.ReplicaOption(key=key, gpu=gpu, gpus_per_unit=gpus, throughput=throughput, cost=cost,
                                hourly_usd=cost if hourly is None else hourly, capex_usd=capex, power_w=power,
                                quality_loss_pct=0.0, pool=pool)


def _brute_force(streams, options, limits, most=2):
    """The least cost over every assignment of 0..most units: committed
    options one count for the day, flexible ones one count per period. (A
    cheapest plan never holds more units of an option than cover its
    stream's peak alone: _random_fleet keeps that at most 2.)"""
    periods = len(streams[0].demand)
    slots = []  # (option, period or None)
    for o in options:
        if o.flexible and limits.hourly and not limits.static:
            slots += [(o, p) for p in range(periods)]
        else:
            slots.append((o, None))
    best = None
    for counts in itertools.product(range(most + 1), repeat=len(slots)):
        use = [[0] * periods for _ in options]
        committed = [0] * len(options)
        for (o, p), n in zip(slots, counts):
            i = options.index(o)
            if p is None:
                committed[i] = n
                use[i] = [n] * periods
            else:
                use[i][p] = n
        ok = True
        for p in range(periods):
            for s in streams:
                served = sum(Fraction(o.option.throughput) * use[i][p] for i, o in enumerate(options) if o.stream == s.name)
                if served < Fraction(s.demand[p]):
                    ok = False
            for pool, cap in (limits.inventory or {}).items():
                if sum(o.option.gpus_per_unit * use[i][p] for i, o in enumerate(options) if o.option.pool == pool) > cap:
                    ok = False
            if limits.max_hourly_usd is not None:
                rent = sum(Fraction(o.option.hourly_usd) * use[i][p] for i, o in enumerate(options))
                if rent > Fraction(limits.max_hourly_usd):
                    ok = False
        if not ok:
            continue
        if limits.hourly:
            cost = sum(Fraction(o.option.cost) * sum(use[i]) for i, o in enumerate(options))
        else:
            cost = sum(Fraction(o.option.cost) * committed[i] for i, o in enumerate(options))
        best = cost if best is None or cost < best else best
    return best


def _random_fleet(rng: random.Random):
    streams = [Stream("a", tuple(rng.choice([0, 2, 4]) for _ in range(2))),
               Stream("b", tuple(rng.choice([0, 1, 3]) for _ in range(2)))]
    options = []
    for s in ("a", "b"):
        options.append(FleetOption(s, _option(f"{s}-owned", "h100", rng.choice([3, 4]), 0.0, pool="owned:h100"), False))
        options.append(FleetOption(s, _option(f"{s}-rent", "l40s", rng.choice([2, 3]), rng.choice([1.5, 2.0, 2.5])), True))
        options.append(FleetOption(s, _option(f"{s}-reserved", "l40s", rng.choice([2, 3]), rng.choice([1.0, 1.25])), False))
    inventory = {"owned:h100": rng.choice([0, 1, 2])}
    budget = rng.choice([None, 6.0, 9.0])
    return streams, options, FleetLimits(inventory=inventory, max_hourly_usd=budget)


@pytest.mark.parametrize("seed", range(12))
def test_the_joint_plan_is_the_brute_force_optimum(seed):
    streams, options, limits = _random_fleet(random.Random(seed))
    expected = _brute_force(streams, options, limits)
    plan = solve_fleet(streams, options, limits)
    if expected is None:
        assert plan.status == solver.INFEASIBLE
        return
    assert plan.status == solver.OPTIMAL
    assert Fraction(plan.cost).limit_denominator(10_000) == expected
    assert plan.cost == pytest.approx(fleet_cost(plan.lines, limits))


@pytest.mark.parametrize("seed", range(12))
def test_sizing_for_the_peak_never_costs_less_than_autoscaling(seed):
    streams, options, limits = _random_fleet(random.Random(seed))
    auto = solve_fleet(streams, options, limits)
    static = solve_fleet(streams, options, FleetLimits(**{**limits.__dict__, "static": True}))
    if static.status == solver.OPTIMAL:
        assert auto.status == solver.OPTIMAL
        assert auto.cost <= static.cost + 1e-9
    for line in static.lines:
        assert len(set(line.by_period)) == 1


def test_a_night_trough_is_cheaper_autoscaled():
    day = tuple([2.0] * 8 + [10.0] * 16)
    streams = [Stream("chat", day)]
    options = [FleetOption("chat", _option("rent", "l40s", 2.0, 1.0), True)]
    auto = solve_fleet(streams, options, FleetLimits())
    static = solve_fleet(streams, options, FleetLimits(static=True))
    assert auto.cost == pytest.approx(8 * 1 + 16 * 5)  # 1 unit at night, 5 by day, $1/h each
    assert static.cost == pytest.approx(24 * 5)
    assert auto.lines[0].by_period == (1,) * 8 + (5,) * 16


@pytest.mark.parametrize("seed", range(12))
def test_solving_together_never_costs_more_than_one_at_a_time(seed):
    """One at a time: stream a is solved alone with all the limits, then b with
    what a left of the owned pool and the budget; the joint plan is one of the
    joint model's solutions, so it is never dearer."""
    streams, options, limits = _random_fleet(random.Random(seed))
    joint = solve_fleet(streams, options, limits)
    first = solve_fleet([streams[0]], [o for o in options if o.stream == "a"], limits)
    if first.status != solver.OPTIMAL:
        return
    owned_used = max((sum(l.by_period[p] * l.option.gpus_per_unit for l in first.lines if l.option.pool == "owned:h100")
                      for p in range(2)), default=0)
    rent_used = [sum(l.by_period[p] * l.option.hourly_usd for l in first.lines) for p in range(2)]
    left = FleetLimits(inventory={"owned:h100": limits.inventory["owned:h100"] - owned_used},
                       max_hourly_usd=None if limits.max_hourly_usd is None else limits.max_hourly_usd - max(rent_used))
    second = solve_fleet([streams[1]], [o for o in options if o.stream == "b"], left)
    if second.status != solver.OPTIMAL:
        return
    assert joint.status == solver.OPTIMAL
    assert joint.cost <= first.cost + second.cost + 1e-9


def test_a_shared_owned_pool_goes_where_it_saves_most():
    """One owned GPU: worth $1/h to the small stream and $4/h to the large.
    One at a time in order, the small stream takes it; together it goes to
    the large one, and the fleet is strictly cheaper."""
    streams = [Stream("small", (1.0,)), Stream("large", (4.0,))]
    options = [FleetOption("small", _option("small-owned", "h100", 4.0, 0.0, pool="owned:h100"), False),
               FleetOption("small", _option("small-rent", "l40s", 1.0, 1.0), True),
               FleetOption("large", _option("large-owned", "h100", 4.0, 0.0, pool="owned:h100"), False),
               FleetOption("large", _option("large-rent", "l40s", 1.0, 1.0), True)]
    limits = FleetLimits(inventory={"owned:h100": 1}, period_hours=24.0)
    joint = solve_fleet(streams, options, limits)
    assert joint.status == solver.OPTIMAL
    assert joint.cost == pytest.approx(24.0)  # the small stream rents one unit all day
    first = solve_fleet(streams[:1], options[:2], limits)
    second = solve_fleet(streams[1:], options[2:], FleetLimits(inventory={"owned:h100": 0}, period_hours=24.0))
    assert first.cost + second.cost == pytest.approx(4 * 24.0)
    assert joint.cost < first.cost + second.cost


def test_independent_streams_solved_apart_match_solved_together():
    """Without a shared limit the streams are solved one by one; a fleet-wide
    limit that never binds joins them in one model: same cost."""
    rng = random.Random(5)
    streams = [Stream(f"s{i}", tuple(rng.choice([1.0, 4.0, 9.0]) for _ in range(24))) for i in range(6)]
    options = [FleetOption(s.name, _option(f"{s.name}-{g}", g, t, c), flex)
               for s in streams for g, t, c, flex in (("l40s", 2.0, 1.9, True), ("h100", 7.0, 5.5, True),
                                                      ("h100r", 7.0, 3.9, False))]
    apart = solve_fleet(streams, options, FleetLimits())
    together = solve_fleet(streams, options, FleetLimits(max_gpus=10_000))
    assert apart.status == together.status == solver.OPTIMAL
    assert apart.cost == pytest.approx(together.cost)


def test_spares_keep_the_demand_with_units_down():
    streams = [Stream("chat", (5.0,), spares=1)]
    options = [FleetOption("chat", _option("rent", "l40s", 2.0, 1.0), True)]
    plan = solve_fleet(streams, options, FleetLimits())
    assert plan.lines[0].by_period == (4,)  # 3 serve 5 units/s; one more may be down


def test_buying_counts_committed_units_once():
    streams = [Stream("chat", (2.0, 6.0))]
    options = [FleetOption("chat", _option("buy", "h100", 3.0, 40_000.0, capex=40_000.0, hourly=0.0), False)]
    plan = solve_fleet(streams, options, FleetLimits(hourly=False))
    assert plan.lines[0].committed == 2
    assert plan.cost == pytest.approx(80_000.0)


def test_a_flat_day_is_one_period_times_the_hours():
    streams = [Stream("chat", (6.0,) * 24)]
    options = [FleetOption("chat", _option("rent", "l40s", 2.0, 1.25), True)]
    day = solve_fleet(streams, options, FleetLimits())
    one = solve_fleet([Stream("chat", (6.0,))], options, FleetLimits(period_hours=24.0))
    assert day.cost == pytest.approx(one.cost) == pytest.approx(3 * 1.25 * 24)


@pytest.mark.parametrize("streams, options, message", [
    ([], [], "at least one stream"),
    ([Stream("a", (1.0,)), Stream("a", (1.0,))], [], "unique"),
    ([Stream("a", (1.0,)), Stream("b", (1.0, 2.0))], [], "periods"),
    ([Stream("a", (-1.0,))], [], "demand"),
    ([Stream("a", (1.0,))], [FleetOption("z", _option("x", "l40s", 1.0, 1.0), True)], "unknown stream"),
])
def test_malformed_input_is_refused(streams, options, message):
    with pytest.raises(ValueError, match=message):
        solve_fleet(streams, options, FleetLimits())


def test_no_option_for_a_stream_with_demand_is_infeasible():
    plan = solve_fleet([Stream("a", (1.0,)), Stream("b", (1.0,))],
                       [FleetOption("a", _option("x", "l40s", 1.0, 1.0), True)], FleetLimits())
    assert plan.status == solver.INFEASIBLE


def test_a_known_fleet_is_never_answered_worse():
    """The fleet sized for the peak keeps within the limits every hour; the
    autoscaled search started from it answers it or better, even with too
    little time to search."""
    rng = random.Random(3)
    streams = [Stream(f"s{i}", tuple(rng.choice([1.0, 4.0, 9.0]) for _ in range(24))) for i in range(8)]
    options = [FleetOption(s.name, _option(f"{s.name}-{g}", g, t, c, pool=pool), flex)
               for s in streams for g, t, c, flex, pool in (("l40s", 2.0, 1.9, True, ""), ("h100", 7.0, 5.5, True, ""),
                                                            ("owned", 7.0, 0.0, False, "owned:h100"))]
    limits = FleetLimits(inventory={"owned:h100": 5}, max_hourly_usd=60.0)
    static = solve_fleet(streams, options, FleetLimits(**{**limits.__dict__, "static": True}))
    assert static.status in (solver.OPTIMAL, solver.FEASIBLE)
    hurried = solve_fleet(streams, options, FleetLimits(**{**limits.__dict__, "time_limit_s": 0.01}), start=static.lines)
    assert hurried.status in (solver.OPTIMAL, solver.FEASIBLE)
    assert hurried.cost <= static.cost + 1e-9
    for line in hurried.lines:
        assert line.committed == 0 or line.option.pool == "owned:h100"  # flexible options are not held all day


def test_hours_merged_into_one_period_count_every_hour():
    """Eight busy hours and sixteen quiet ones are two periods of the model,
    weighted 8 and 16. A reserved unit ($0.45/h, held all 24 h: $10.80/day)
    is worth holding for the quiet load but not for the busy hours' extra
    units, which rent on demand for 8 h at $1/h ($8/day each)."""
    day = tuple([1.0] * 16 + [10.0] * 8)
    streams = [Stream("chat", day)]
    options = [FleetOption("chat", _option("on-demand", "l40s", 2.0, 1.0), True),
               FleetOption("chat", _option("reserved", "l40s", 2.0, 0.45), False)]
    plan = solve_fleet(streams, options, FleetLimits())
    assert plan.status == solver.OPTIMAL
    by_key = {line.option.key: line for line in plan.lines}
    assert by_key["reserved"].committed == 1
    assert by_key["on-demand"].by_period == (0,) * 16 + (4,) * 8
    assert plan.cost == pytest.approx(0.45 * 24 + 4 * 8)


def test_a_rent_budget_keeps_every_hour_within_it():
    """The cheapest unit rents for more per hour than the budget allows twice
    (its cost is low, its rent high, as a TCO-counted option can be): with a
    $4/h rent budget the fleet takes the unit that rents for less."""
    streams = [Stream("chat", (3.0, 3.0))]
    options = [FleetOption("chat", _option("cheap-to-run", "h100", 2.0, 1.0, hourly=3.0), True),
               FleetOption("chat", _option("cheap-to-rent", "l40s", 2.0, 1.5, hourly=1.5), True)]
    free = solve_fleet(streams, options, FleetLimits())
    assert {line.option.key for line in free.lines} == {"cheap-to-run"}
    capped = solve_fleet(streams, options, FleetLimits(max_hourly_usd=4.0))
    assert capped.status == solver.OPTIMAL
    assert {line.option.key for line in capped.lines} == {"cheap-to-rent"}
    assert capped.cost == pytest.approx(2 * 1.5 * 2)


def test_a_search_that_finds_nothing_answers_the_known_fleet(monkeypatch):
    """With every search cut short before a plan, the known fleet (which
    keeps within the limits) is the answer, marked feasible, not proved."""
    streams = [Stream("a", (2.0, 6.0)), Stream("b", (1.0, 1.0))]
    options = [FleetOption(s, _option(f"{s}-rent", "l40s", 2.0, 1.0), True) for s in ("a", "b")]
    limits = FleetLimits(max_gpus=100)
    known = solve_fleet(streams, options, FleetLimits(max_gpus=100, static=True)).lines
    monkeypatch.setattr(fleet_solver, "solve_group", lambda *args, **kwargs: fleet_model.Part(solver.UNKNOWN, (), None))
    plan = solve_fleet(streams, options, limits, start=known)
    assert plan.status == solver.FEASIBLE
    assert {(line.option.key, line.by_period) for line in plan.lines} == {(line.option.key, line.by_period) for line in known}
