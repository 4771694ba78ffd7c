"""Hypothesis strategies: tiny candidate sets and the limits to plan them under.

Every figure is a decimal with no more places than the solver's scales resolve
(throughput 2 places against 1e-3, USD 3 places against 1e-4, watts 2 places
against 1e-3, quality loss 2 places against 1e-3). The solver's conservative
rounding is then exact, so it must agree with an exhaustive search in real
numbers to the last cent; off-grid figures are tested separately.

The demand stays within DEMAND_IN_REPLICAS replicas of every candidate that
serves anything, which keeps the exhaustive search to at most some 15,000
replica vectors (usually far fewer: inventories and caps cut it).
"""

from __future__ import annotations

from hypothesis import strategies as st

from planner.plan.solver import Limits, ReplicaOption

GPU_TYPES = ("gpu-a", "gpu-b", "gpu-c")
GPUS_PER_REPLICA = (1, 2, 4, 8)
QUALITY_LOSSES_PCT = (0.0, 0.5, 1.0, 1.25, 3.0)
MAX_CANDIDATES = 4
# The demand is at most this many replicas' worth of the weakest candidate.
DEMAND_IN_REPLICAS = 8
# A budget is at most this many of the dearest replica's figure.
REPLICAS_IN_BUDGET = 8


def decimals(max_units: int, places: int) -> st.SearchStrategy[float]:
    """Floats k / 10**places for k in 0..max_units: decimals on an exact grid."""
    return evenly(0, max_units).map(lambda units: units / 10**places)


def evenly(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers spread over [low, high]; `st.integers` crowds them near `low`."""
    step = max(1, -(-(high - low + 1) // 10))
    starts = range(low, high + 1, step)
    return st.sampled_from(starts).flatmap(lambda start: st.integers(start, min(start + step - 1, high)))


def sometimes(strategy: st.SearchStrategy, one_in: int) -> st.SearchStrategy:
    """`strategy` one time in `one_in`, None otherwise.

    Hypothesis favours simple values such as 0 and None, so a plain
    `st.none() | strategy` or `st.integers(0, 9) == 0` fires far more often
    than its odds suggest; choosing among equal options keeps the odds stated.
    """
    return st.sampled_from((True,) + (False,) * (one_in - 1)).flatmap(lambda on: strategy if on else st.none())


# Coarse prices (multiples of 0.5 USD) make equal costs common, so the
# tie-breaking stages are exercised; fine ones test the cost scale.
costs_usd = st.sampled_from(range(9)).map(lambda halves: halves / 2) | decimals(100_000, 3)


@st.composite
def candidates(draw, gpu_types: tuple[str, ...] = GPU_TYPES) -> ReplicaOption:
    serves_nothing = draw(sometimes(st.just(True), 10)) is not None
    return ReplicaOption(
        key="draft",  # renumbered by candidate_sets
        gpu=draw(st.sampled_from(gpu_types)),
        gpus_per_unit=draw(st.sampled_from(GPUS_PER_REPLICA)),
        throughput=0.0 if serves_nothing else draw(evenly(1_000, 4_000).map(lambda units: units / 100)),
        cost=draw(costs_usd),
        hourly_usd=draw(decimals(10_000, 3)),
        capex_usd=draw(decimals(5_000_000, 2)),
        power_w=draw(decimals(100_000, 2)),
        quality_loss_pct=draw(st.sampled_from(QUALITY_LOSSES_PCT)),
    )


@st.composite
def candidate_sets(draw) -> list[ReplicaOption]:
    """1-4 candidates over 1-3 GPU types, keys c0, c1, ..."""
    # sizes drawn evenly: st.lists would mostly give the shortest
    gpu_types = GPU_TYPES[: draw(st.sampled_from(range(1, len(GPU_TYPES) + 1)))]
    size = draw(st.sampled_from(range(1, MAX_CANDIDATES + 1)))
    drawn = draw(st.lists(candidates(gpu_types), min_size=size, max_size=size))
    return [
        ReplicaOption(f"c{i}", c.gpu, c.gpus_per_unit, c.throughput, c.cost, c.hourly_usd, c.capex_usd, c.power_w,
                  c.quality_loss_pct)
        for i, c in enumerate(drawn)
    ]


@st.composite
def limits_for(draw, cands: list[ReplicaOption]) -> Limits:
    """Limits for `cands`: a demand, inventories, and sometimes caps and budgets.

    Caps and budgets are drawn on the scale of a few replicas of these
    candidates, so that they bind often without making most questions
    infeasible.
    """
    serving = [round(c.throughput * 100) for c in cands if c.throughput > 0]
    if draw(sometimes(st.just(True), 6)) is not None:
        demand = 0.0
    elif serving:
        demand = draw(evenly(1, DEMAND_IN_REPLICAS * min(serving)).map(lambda units: units / 100))
    else:
        demand = draw(st.integers(1, 1_000).map(lambda units: units / 100))  # infeasible
    inventory = {}
    for gpu in sorted({c.gpu for c in cands}):
        count = draw(sometimes(evenly(0, 16), 2))
        if count is not None:
            inventory[gpu] = count

    def budget(attr: str, places: int):
        """None, or between the cheapest replica's figure and several of the dearest's."""
        figures = [round(getattr(c, attr) * 10**places) for c in cands]
        units = evenly(min(figures), max(REPLICAS_IN_BUDGET * max(figures), min(figures)))
        return draw(sometimes(units.map(lambda n: n / 10**places), 3))

    return Limits(
        demand=demand,
        inventory=inventory or None,
        max_gpus=draw(sometimes(evenly(1, 32), 3)),
        max_power_w=budget("power_w", 2),
        max_hourly_usd=budget("hourly_usd", 3),
        max_capex_usd=budget("capex_usd", 2),
        min_replicas=draw(st.sampled_from((0, 1, 1, 2))),
    )


@st.composite
def questions(draw) -> tuple[list[ReplicaOption], Limits]:
    cands = draw(candidate_sets())
    return cands, draw(limits_for(cands))
