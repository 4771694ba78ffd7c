"""Hypothesis strategies: tiny candidate sets and the limits to plan them under.

Every figure is a decimal with no more places than the solver's scales resolve
(throughput 2 places against 1e-3, USD 3 places against 1e-4, watts 2 places
against 1e-3, quality loss 2 places against 1e-3). The solver's conservative
rounding is then exact, so it must agree with an exhaustive search in real
numbers to the last cent; off-grid figures are tested separately.

The demand stays within a few replicas of every candidate that serves
anything, which keeps the exhaustive search to a few thousand replica vectors.
"""

from __future__ import annotations

from hypothesis import strategies as st

from planner.solver import Candidate, Limits

GPU_TYPES = ("gpu-a", "gpu-b", "gpu-c")
GPUS_PER_REPLICA = (1, 2, 4, 8)
QUALITY_LOSSES_PCT = (0.0, 0.5, 1.0, 1.25, 3.0)
MAX_CANDIDATES = 4
# The demand is at most this many replicas' worth of the weakest candidate.
DEMAND_IN_REPLICAS = 5


def decimals(max_units: int, places: int) -> st.SearchStrategy[float]:
    """Floats k / 10**places for k in 0..max_units: decimals on an exact grid."""
    return st.integers(0, max_units).map(lambda units: units / 10**places)


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


# Coarse prices (multiples of 0.5 USD) make equal costs common, so the
# tie-breaking stages are exercised; fine ones test the cost scale.
costs_usd = st.integers(0, 8).map(lambda halves: halves / 2) | decimals(100_000, 3)


@st.composite
def candidates(draw, gpu_types: tuple[str, ...] = GPU_TYPES) -> Candidate:
    serves_nothing = draw(st.integers(0, 9)) == 0
    return Candidate(
        key="draft",  # renumbered by candidate_sets
        gpu=draw(st.sampled_from(gpu_types)),
        gpus_per_replica=draw(st.sampled_from(GPUS_PER_REPLICA)),
        throughput=0.0 if serves_nothing else draw(decimals(5_000, 2).filter(lambda t: t >= 1)),
        cost=draw(costs_usd),
        hourly_usd=draw(decimals(10_000, 3)),
        capex_usd=draw(decimals(5_000_000, 2)),
        power_w=draw(decimals(100_000, 2)),
        quality_loss_pct=draw(st.sampled_from(QUALITY_LOSSES_PCT)),
    )


@st.composite
def candidate_sets(draw) -> list[Candidate]:
    """1-4 candidates over 1-3 GPU types, keys c0, c1, ..."""
    gpu_types = tuple(draw(st.lists(st.sampled_from(GPU_TYPES), min_size=1, max_size=3, unique=True)))
    drawn = draw(st.lists(candidates(gpu_types), min_size=1, max_size=MAX_CANDIDATES))
    return [
        Candidate(f"c{i}", c.gpu, c.gpus_per_replica, c.throughput, c.cost, c.hourly_usd, c.capex_usd, c.power_w,
                  c.quality_loss_pct)
        for i, c in enumerate(drawn)
    ]


@st.composite
def limits_for(draw, cands: list[Candidate]) -> Limits:
    """Limits for `cands`: a demand, inventories, and sometimes caps and budgets."""
    serving = [round(c.throughput * 100) for c in cands if c.throughput > 0]
    if serving:
        demand = draw(st.just(0.0) | decimals(DEMAND_IN_REPLICAS * min(serving), 2))
    else:
        demand = draw(st.just(0.0) | decimals(1_000, 2))  # any positive demand is infeasible
    inventory = {}
    for gpu in sorted({c.gpu for c in cands}):
        count = draw(optional(st.integers(0, 12)))
        if count is not None:
            inventory[gpu] = count
    return Limits(
        demand=demand,
        inventory=inventory or None,
        max_gpus=draw(optional(st.integers(0, 24))),
        max_power_w=draw(optional(decimals(400_000, 2))),
        max_hourly_usd=draw(optional(decimals(30_000, 3))),
        max_capex_usd=draw(optional(decimals(20_000_000, 2))),
        min_replicas=draw(st.sampled_from((0, 1, 1, 2))),
    )


@st.composite
def questions(draw) -> tuple[list[Candidate], Limits]:
    cands = draw(candidate_sets())
    return cands, draw(limits_for(cands))
