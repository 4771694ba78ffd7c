"""`fit --scenario`: a fleet of workloads planned together (library API).

A scenario (planner/plan/scenario.py) lists workloads, each a model with its
load over the day, request lengths, targets and limits, and the limits they
share (owned and available GPUs, providers, pricing, budget, power). Each
workload, or each request-size class of it, is one demand stream. For each
stream the single-workload search (fit.py) finds and simulates the shapes
worth planning; those shapes, placed on every offer the scenario allows (on
demand: flexible by the hour; owned, bought or reserved: held all day), are
the options of one joint CP-SAT model (fleet_solver.py) that picks the
cheapest fleet for every hour under the shared limits.

Replicas are never shared between workloads: sharing one replica between
two workloads of the same model would need their mixed traffic simulated
against the stricter targets, which is not modelled; each workload gets its
own replicas.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.plan import fleet_solver, verify
from planner.plan.fit import FitResult
from planner.plan.placement import Placement
from planner.plan.question import Question

HOURS = fleet_solver.PERIODS_PER_DAY


@dataclass(frozen=True)
class FleetPlanLine:
    """Units of one placement for one stream over the day."""

    placement: Placement
    flexible: bool  # rented on demand, counted hour by hour; else held all day
    committed: int  # units held all day
    by_hour: tuple[int, ...]  # units in use in each of the 24 hours (committed included)
    check: verify.LineCheck | None  # one replica simulated at its share of the peak hour's load (decoders)

    @property
    def peak_units(self) -> int:
        return max(self.by_hour, default=0)


@dataclass(frozen=True)
class StreamPlan:
    """One demand stream: a workload, or one request-size class of it."""

    name: str  # "chat", or "chat/long" for a class
    workload: str  # the workload's name
    share: float  # of the workload's requests (1.0 without classes)
    question: Question  # the stream's own question: model, lengths, targets, peak throughput, limits
    demand: tuple[float, ...]  # per hour, in the question's throughput unit
    fit: FitResult  # the single-stream search whose simulated shapes gave the options
    lines: tuple[FleetPlanLine, ...]


@dataclass(frozen=True)
class FleetResult:
    """The fleet's answer. Costs are per day for the hourly objective (USD/day)
    and one-off for capex and tco (USD): ``cost_unit`` says which."""

    name: str  # the scenario's
    status: str  # fleet_solver's: optimal, feasible (gap stated by cost_bound)
    cost: float  # the plan (autoscaled where capacity is rented on demand)
    cost_bound: float | None
    cost_unit: str  # "USD/day" or "USD"
    static_cost: float | None  # the same question sized for the peak hour (no autoscaling); None if no such plan
    separate_cost: float | None  # workloads fitted one at a time in file order, each with what the earlier left; None if that fails
    streams: tuple[StreamPlan, ...]
    hourly_usd: tuple[float, ...]  # rent per hour of the day (0 for bought and owned)
    gpus_by_hour: tuple[int, ...]
    binding: tuple[str, ...]  # shared limits at their cap in some hour, as the user wrote them ("budget $400/h")
    scenario_path: str | None  # where the scenario was read from
    solve_s: float
    plan: fleet_solver.FleetPlan
