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

Stages, as in solver.py: (1) least cost; (2) among those, fewest GPU-hours.
Rounding to the integer grid follows solver.py's directions (coverage never
overstated, limits never overstated, charges never understated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.plan import solver

DEFAULT_TIME_LIMIT_S = 30.0
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


def solve_fleet(streams: Sequence[Stream], options: Sequence[FleetOption], limits: FleetLimits) -> FleetPlan:
    """The cheapest fleet (see the module note). Raises ValueError for
    malformed input (unknown stream, duplicate keys, periods of unequal
    number, figures too large for CP-SAT)."""
    raise NotImplementedError("fleet solver lands next")
