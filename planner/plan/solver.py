"""The cheapest mix of replica options that serves a demand within limits.

Data in, plan out: a list of `ReplicaOption` (one way to add replicas of
the model in whole units of hardware, reduced to the figures a plan adds up:
the pool its GPUs come from, GPUs and replicas per unit, throughput, cost,
power, quality loss) and the `Limits` of the question go in; a `Plan` comes
out. A unit is whatever is rented or bought whole: an instance hosting
several replicas, several instances hosting one pipeline-parallel replica,
or one replica on owned GPUs. Nothing here knows about the catalog, the
performance model or the terminal.

The model (CP-SAT, integers only)
---------------------------------
One integer variable x_i per option: how many units of it to take. The
answer may mix GPU types, precisions and offers.

    sum_i x_i * throughput_i             >= demand
    sum_{i in pool p} x_i * gpus_i       <= inventory[p]   for each listed pool p
    sum_i x_i * gpus_i                   <= max_gpus
    sum_i x_i * power_w_i                <= max_power_w
    sum_i x_i * hourly_usd_i             <= max_hourly_usd
    sum_i x_i * capex_usd_i              <= max_capex_usd
    sum_i x_i * replicas_i               >= min_replicas
    sum_i x_i * throughput_i - spares * largest >= demand   (N+k: any k units down)

where largest >= throughput_i for every option in use (a boolean per
option), so the plan still serves its demand with its `spares` largest units
lost. Spread over `zones` zones (each option's units dealt round-robin, so a
zone holds at most ceil(x_i / zones) of them), the plan also serves its
demand with any one zone down:

    sum_i (x_i - ceil(x_i / zones)) * throughput_i >= demand,  sum_i x_i >= zones

Disaggregated pools: an option may be a prefill or a decode worker
(`role`), serving requests only with workers of the other role that keep the
KV cache in the same format (`link`). For each link L a variable y_L, the
requests the pools serve, joins the whole replicas in the demand row:

    sum_{i whole} x_i * throughput_i + sum_L y_L     >= demand
    sum_{i prefill of L} x_i * throughput_i          >= y_L
    sum_{i decode of L} x_i * throughput_i           >= y_L

so the solver picks the pools' shapes and their ratio (N+k spares and zones
take whole replicas only).

The objective is lexicographic, solved as three stages, each fixing the
optimum of the one before: (1) the least total cost; (2) among those, the
least worst quality loss over the options in use; (3) among those, the
fewest GPUs. A weighted single objective would need weights that depend on
the magnitudes of the data to stay lexicographic and would overflow sooner;
stages keep each objective in its own units.

CP-SAT has no floats, so every real number is scaled by a named constant and
rounded to an integer in the direction that keeps the model conservative: any
plan the integer model accepts also satisfies the limits in real numbers (the
comments in `solve` give each direction). The price: a plan that is tight to
the last fraction of a unit may be rejected, or pay for one replica more.
Floats are read as the shortest decimal that prints them (0.1 is the decimal
0.1, not 0.1000000000000000055...), so figures with no more decimals than the
scale resolves are scaled exactly, and `check_plan` judges in those decimals.

Every variable gets the tightest upper bound a best plan can need (see
`_replica_bound`), which keeps the search small: a few hundred options
solve in a fraction of a second.

The status says how far to trust the answer: "optimal" when every stage was
proved, "feasible" when the time limit stopped a stage with a plan in hand,
"infeasible" when no plan exists, and "unknown" when the time limit ran out
before a plan was found or ruled out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from ortools.sat.python import cp_model

# Integer units per real unit. Resolutions: 1e-4 USD, 1e-3 throughput unit/s,
# 1e-3 W, 1e-3 percentage point of quality loss.
COST_SCALE = 10_000  # per USD; applies to cost, hourly_usd and capex_usd
THROUGHPUT_SCALE = 1_000  # per target unit/s (tokens/s, requests/s or samples/s)
POWER_SCALE = 1_000  # per watt
QUALITY_SCALE = 1_000  # per percentage point of quality loss

# Reproducible answers, so golden outputs stay stable: one search worker with
# a fixed seed is deterministic. Parallel workers race, and which of several
# plans equal on all three stages wins can vary between runs; interleave_search
# would fix that but ran 3-10x slower on 400 options, while one worker was
# as fast as two. Only a time limit that cuts a stage short can make two runs
# differ.
RANDOM_SEED = 7
DEFAULT_TIME_LIMIT_S = 10.0  # a stage the limit cuts short reports "feasible", not "optimal"
NUM_WORKERS = 1

# CP-SAT works in signed 64-bit integers and rejects a model whose sums could
# overflow; single scaled figures above this leave no room for the sums.
MAX_SCALED = 2**53

ROLES = ("", "prefill", "decode")

OPTIMAL = "optimal"
FEASIBLE = "feasible"  # a plan, but a time limit stopped a stage before proving it best
INFEASIBLE = "infeasible"  # proved: no plan satisfies the limits
UNKNOWN = "unknown"  # the time limit ran out before any plan was found or ruled out


@dataclass(frozen=True)
class ReplicaOption:
    """One way to add replicas in whole units, with its per-unit figures.

    `cost` is what the objective minimises (hourly price, capital or TCO: the
    caller decides); `hourly_usd` and `capex_usd` are only for budgets.
    `pool` is what caps the GPUs the option draws on (`Limits.inventory`);
    empty means the GPU type's own.
    """

    key: str
    gpu: str
    gpus_per_unit: int
    throughput: float  # target units/s one unit serves
    cost: float  # USD
    hourly_usd: float  # USD/h
    capex_usd: float  # USD
    power_w: float  # W
    quality_loss_pct: float  # percentage points; lower is better
    replicas_per_unit: int = 1
    pool: str = ""
    # "" serves whole requests; "prefill" or "decode" is a worker of a
    # disaggregated pool, serving requests only with the other role's
    # workers of the same `link` (the KV-cache format the pools share)
    role: str = ""
    link: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("option key must not be empty")
        if self.role not in ROLES:
            raise ValueError(f"{self.key}: role must be one of {ROLES}, got {self.role!r}")
        for name in ("gpus_per_unit", "replicas_per_unit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{self.key}: {name} must be an integer")
            if value < 1:
                raise ValueError(f"{self.key}: {name} must be >= 1, got {value}")
        if not self.pool:
            object.__setattr__(self, "pool", self.gpu)
        for name in ("throughput", "cost", "hourly_usd", "capex_usd", "power_w", "quality_loss_pct"):
            _require_non_negative(f"{self.key}: {name}", getattr(self, name))


@dataclass(frozen=True)
class Limits:
    """What a plan must serve and what it may not exceed. None = no limit."""

    demand: float = 0.0  # target units/s to cover; 0 = none
    inventory: Mapping[str, int] | None = None  # max GPUs per pool (a GPU type, or its owned GPUs); absent unlimited
    max_gpus: int | None = None
    max_power_w: float | None = None
    max_hourly_usd: float | None = None
    max_capex_usd: float | None = None
    min_replicas: int = 1  # replicas in total, over all options
    spares: int = 0  # units the plan may lose and still serve the demand (N+k redundancy)
    zones: int = 1  # zones the units are spread over; with more than 1, losing any one zone still serves the demand
    time_limit_s: float = DEFAULT_TIME_LIMIT_S  # for all stages together

    def __post_init__(self) -> None:
        _require_non_negative("demand", self.demand)
        if self.inventory is not None:
            for gpu, count in self.inventory.items():
                _require_count(f"inventory[{gpu}]", count)
            # a private read-only copy: the caller's dict may change after the call
            object.__setattr__(self, "inventory", MappingProxyType(dict(self.inventory)))
        if self.max_gpus is not None:
            _require_count("max_gpus", self.max_gpus)
        for name in ("max_power_w", "max_hourly_usd", "max_capex_usd"):
            if getattr(self, name) is not None:
                _require_non_negative(name, getattr(self, name))
        _require_count("min_replicas", self.min_replicas)
        _require_count("spares", self.spares)
        _require_count("zones", self.zones)
        if self.zones < 1:
            raise ValueError("zones must be at least 1")
        if not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise ValueError(f"time_limit_s must be a positive number of seconds, got {self.time_limit_s}")


@dataclass(frozen=True)
class PlanLine:
    option: ReplicaOption
    units: int

    @property
    def replicas(self) -> int:
        return self.units * self.option.replicas_per_unit

    @property
    def gpus(self) -> int:
        return self.units * self.option.gpus_per_unit


@dataclass(frozen=True)
class Plan:
    """The answer. Totals are exact sums of the lines' decimal figures.

    `status` is OPTIMAL, FEASIBLE, INFEASIBLE or UNKNOWN (module constants);
    lines are empty and cost is 0 unless there is a plan. `cost_bound` is the
    lower bound on cost the solver proved (USD, in the scaled model; exact when
    option costs are multiples of 1/COST_SCALE), None without a plan.
    """

    status: str
    lines: tuple[PlanLine, ...]
    cost: float  # USD: sum of units * option.cost
    cost_bound: float | None = None

    @property
    def replicas(self) -> int:
        return sum(line.replicas for line in self.lines)

    @property
    def gpus(self) -> int:
        return sum(line.gpus for line in self.lines)

    @property
    def gpus_by_pool(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.lines:
            counts[line.option.pool] = counts.get(line.option.pool, 0) + line.gpus
        return counts

    @property
    def throughput(self) -> float:
        return float(_exact_served(self.lines))

    @property
    def hourly_usd(self) -> float:
        return float(_exact_total(self.lines, "hourly_usd"))

    @property
    def capex_usd(self) -> float:
        return float(_exact_total(self.lines, "capex_usd"))

    @property
    def power_w(self) -> float:
        return float(_exact_total(self.lines, "power_w"))

    @property
    def max_quality_loss_pct(self) -> float:
        return max((line.option.quality_loss_pct for line in self.lines if line.units > 0), default=0.0)


def solve(options: Sequence[ReplicaOption], limits: Limits) -> Plan:
    """The cheapest plan, ties broken toward lower quality loss, then fewer GPUs.

    Returns a Plan whatever the outcome; "infeasible" is an answer, not an
    exception. Raises ValueError for duplicate option keys or numbers too
    large for CP-SAT's 64-bit arithmetic.
    """
    keys = [option.key for option in options]
    if len(set(keys)) != len(keys):
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        raise ValueError(f"option keys must be unique; repeated: {', '.join(duplicates)}")

    model = cp_model.CpModel()
    inventory = limits.inventory or {}

    # Throughput: a replica is credited with no more than it serves (DOWN) and
    # the demand is never understated (UP), so scaled coverage implies real
    # coverage: sum x*floor(t*S) >= ceil(d*S) gives sum x*t >= d.
    demand = to_grid(limits.demand, THROUGHPUT_SCALE, math.ceil)
    served = {c.key: to_grid(c.throughput, THROUGHPUT_SCALE, math.floor) for c in options}

    # Budgets: each replica is charged at least its real figure (UP) against a
    # limit never overstated (DOWN), so a scaled total within the scaled limit
    # is within the real limit. The objective rounds to nearest instead: there
    # is nothing to protect, only prices to compare.
    budgets: list[tuple[int, dict[str, int]]] = []  # (scaled limit, scaled charge per option key)
    for limit_name, attr, scale in (
        ("max_power_w", "power_w", POWER_SCALE),
        ("max_hourly_usd", "hourly_usd", COST_SCALE),
        ("max_capex_usd", "capex_usd", COST_SCALE),
    ):
        limit = getattr(limits, limit_name)
        if limit is not None:
            charge = {c.key: to_grid(getattr(c, attr), scale, math.ceil) for c in options}
            budgets.append((to_grid(limit, scale, math.floor), charge))

    variables: list[tuple[ReplicaOption, cp_model.IntVar]] = []
    uppers: dict[str, int] = {}
    for option in options:
        upper = _replica_bound(option, served[option.key], demand, limits, inventory, budgets)
        if upper > 0:
            variables.append((option, model.new_int_var(0, upper, f"x[{option.key}]")))
            uppers[option.key] = upper

    xs = [x for _, x in variables]
    model.add(_served(model, variables, served, demand) >= demand)
    for pool in sorted({c.pool for c, _ in variables} & set(inventory)):
        in_pool = [(c, x) for c, x in variables if c.pool == pool]
        model.add(_weighted(in_pool, lambda c: c.gpus_per_unit) <= inventory[pool])
    total_gpus = _weighted(variables, lambda c: c.gpus_per_unit)
    if limits.max_gpus is not None:
        model.add(total_gpus <= limits.max_gpus)
    for limit, charge in budgets:
        model.add(_weighted(variables, lambda c, charge=charge: charge[c.key]) <= limit)
    model.add(_weighted(variables, lambda c: c.replicas_per_unit) >= limits.min_replicas)
    if (limits.spares or limits.zones > 1) and any(c.role for c, _ in variables):
        raise ValueError("N+k spares and zones are planned over whole replicas: leave out prefill and decode workers")
    if limits.spares and variables:
        # N+k: with its `spares` largest units down the plan still serves the
        # demand; `largest` is at least the throughput of every unit in use.
        largest = model.new_int_var(0, max(served[c.key] for c, _ in variables), "largest_unit")
        for option, x in variables:
            in_use = model.new_bool_var(f"in_use[{option.key}]")
            model.add(x >= 1).only_enforce_if(in_use)
            model.add(x == 0).only_enforce_if(~in_use)
            model.add(largest >= served[option.key]).only_enforce_if(in_use)
        model.add(_weighted(variables, lambda c: served[c.key]) - limits.spares * largest >= demand)
        model.add(cp_model.LinearExpr.sum(xs) >= limits.spares + 1)
    if limits.zones > 1 and variables:
        zones = limits.zones
        kept = []  # units left when the zone holding the most of each option is down
        for option, x in variables:
            in_worst_zone = model.new_int_var(0, uppers[option.key], f"in_worst_zone[{option.key}]")
            model.add_division_equality(in_worst_zone, x + (zones - 1), zones)  # ceil(x / zones)
            kept.append((served[option.key], x, in_worst_zone))
        model.add(cp_model.LinearExpr.weighted_sum([x for _, x, _ in kept], [t for t, _, _ in kept])
                  - cp_model.LinearExpr.weighted_sum([z for _, _, z in kept], [t for t, _, _ in kept]) >= demand)
        model.add(cp_model.LinearExpr.sum(xs) >= zones)

    time_left = limits.time_limit_s

    # Stage 1: least cost.
    total_cost = _weighted(variables, lambda c: to_grid(c.cost, COST_SCALE, round))
    model.minimize(total_cost)
    status, solver = run_model(model, time_left)
    if status == cp_model.INFEASIBLE:
        return Plan(INFEASIBLE, (), 0.0)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Plan(UNKNOWN, (), 0.0)
    proven = status == cp_model.OPTIMAL
    cost_bound = solver.best_objective_bound / COST_SCALE
    best = [solver.value(x) for x in xs]
    time_left -= solver.wall_time
    # "<=", not "==": when stage 1 was cut short a later stage may still find
    # a cheaper plan, and should keep it.
    model.add(total_cost <= solver.value(total_cost))

    # Stage 2: least worst quality loss among the options in use. Loss is
    # only a tie-breaker, so it rounds to nearest.
    loss = {c.key: to_grid(c.quality_loss_pct, QUALITY_SCALE, round) for c, _ in variables}
    if len(set(loss.values())) > 1:
        worst = model.new_int_var(0, max(loss.values()), "worst_quality_loss")
        for option, x in variables:
            used = model.new_bool_var(f"used[{option.key}]")
            model.add(x >= 1).only_enforce_if(used)
            model.add(x == 0).only_enforce_if(~used)
            model.add(worst >= loss[option.key]).only_enforce_if(used)
        best, proven, time_left = _next_stage(model, worst, xs, best, proven, time_left)

    # Stage 3: fewest GPUs.
    best, proven, time_left = _next_stage(model, total_gpus, xs, best, proven, time_left)

    lines = tuple(PlanLine(c, value) for (c, _), value in zip(variables, best) if value > 0)
    return Plan(
        OPTIMAL if proven else FEASIBLE,
        lines,
        float(_exact_total(lines, "cost")),
        cost_bound,
    )


def check_plan(plan: Plan, limits: Limits) -> list[str]:
    """Every limit the plan breaks, one message each; an empty list means feasible.

    Independent of the solver: plain arithmetic over the options' decimal
    figures (exact fractions), no scaling, no CP-SAT.
    """
    problems = []
    lines = [line for line in plan.lines if line.units != 0]
    for line in plan.lines:
        if line.units < 0:
            problems.append(f"{line.option.key}: negative unit count {line.units}")

    served = _exact_served(lines)
    if served < exact(limits.demand):
        problems.append(f"throughput {_show(served)}/s is below the demand {_show(limits.demand)}/s")

    gpus_by_pool: dict[str, int] = {}
    for line in lines:
        gpus_by_pool[line.option.pool] = gpus_by_pool.get(line.option.pool, 0) + line.gpus
    for pool, used in sorted(gpus_by_pool.items()):
        available = (limits.inventory or {}).get(pool)
        if available is not None and used > available:
            problems.append(f"{used} x {pool} exceeds the inventory of {available}")

    total_gpus = sum(line.gpus for line in lines)
    if limits.max_gpus is not None and total_gpus > limits.max_gpus:
        problems.append(f"{total_gpus} GPUs exceed max_gpus {limits.max_gpus}")

    for limit_name, attr, unit in (
        ("max_power_w", "power_w", "W"),
        ("max_hourly_usd", "hourly_usd", "USD/h"),
        ("max_capex_usd", "capex_usd", "USD"),
    ):
        limit = getattr(limits, limit_name)
        total = _exact_total(lines, attr)
        if limit is not None and total > exact(limit):
            problems.append(f"{attr} {_show(total)} {unit} exceeds {limit_name} {_show(limit)} {unit}")

    replicas = sum(line.replicas for line in lines)
    if replicas < limits.min_replicas:
        problems.append(f"{replicas} replicas is below min_replicas {limits.min_replicas}")
    if limits.zones > 1:
        left = sum(((line.units - -(-line.units // limits.zones)) * exact(line.option.throughput) for line in lines),
                   Fraction(0))
        if sum(line.units for line in lines) < limits.zones or left < exact(limits.demand):
            problems.append(f"with one of {limits.zones} zones down the plan serves {_show(left)}/s, "
                            f"below the demand {_show(limits.demand)}/s")
    if limits.spares:
        units = sorted((exact(line.option.throughput) for line in lines for _ in range(min(line.units, limits.spares))),
                       reverse=True)
        left = served - sum(units[: limits.spares], Fraction(0))
        if sum(line.units for line in lines) < limits.spares + 1 or left < exact(limits.demand):
            problems.append(f"with its {limits.spares} largest unit(s) down the plan serves {_show(left)}/s, "
                            f"below the demand {_show(limits.demand)}/s")
    return problems


# --- helpers ------------------------------------------------------------------


def _require_non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _require_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def _show(value: float | Fraction) -> str:
    """A figure for a message: thousands separated, no exponent, no trailing zeros."""
    return f"{float(value):,.6f}".rstrip("0").rstrip(".")


def exact(value: float) -> Fraction:
    """The decimal a float prints as, exactly (0.1 -> 1/10)."""
    return Fraction(repr(float(value))) if isinstance(value, float) else Fraction(value)


def decimal_total(terms: Iterable[tuple[int, float]]) -> float:
    """The sum of count x figure over (count, figure) terms, each figure read as
    the decimal it prints as and added exactly, as a plan's totals are."""
    return float(sum((count * exact(figure) for count, figure in terms), Fraction(0)))


def _exact_total(lines: Sequence[PlanLine], attr: str) -> Fraction:
    return sum((line.units * exact(getattr(line.option, attr)) for line in lines), Fraction(0))


def to_grid(value: float, scale: int, rounding) -> int:
    """`value` in units of 1/scale, rounded by `rounding` (math.floor, math.ceil or round)."""
    scaled = int(rounding(exact(value) * scale))
    if scaled > MAX_SCALED:
        raise ValueError(f"{value:g} is too large for the solver once scaled by {scale}")
    return scaled


def _served(model: cp_model.CpModel, variables: Sequence[tuple[ReplicaOption, cp_model.IntVar]],
            served: Mapping[str, int], demand: int) -> cp_model.LinearExpr:
    """What the plan serves, scaled: whole replicas, plus for each link of
    disaggregated pools a variable no larger than what its prefill workers
    or its decode workers take (each role alone serves nothing)."""
    whole = [(c, x) for c, x in variables if not c.role]
    total = _weighted(whole, lambda c: served[c.key])
    for link in sorted({c.link for c, _ in variables if c.role}):
        pooled = model.new_int_var(0, demand, f"pooled[{link}]")
        for role in ROLES[1:]:
            workers = [(c, x) for c, x in variables if c.role == role and c.link == link]
            model.add(_weighted(workers, lambda c: served[c.key]) >= pooled)
        total = total + pooled
    return total


def _exact_served(lines: Sequence[PlanLine]) -> Fraction:
    """What the plan's lines serve in real numbers: whole replicas, plus per
    link the fewer of its prefill and its decode workers' throughput."""
    total = _exact_total([line for line in lines if not line.option.role], "throughput")
    for link in {line.option.link for line in lines if line.option.role}:
        total += min(_exact_total([line for line in lines if line.option.role == role and line.option.link == link],
                                  "throughput") for role in ROLES[1:])
    return total


def _weighted(variables: Sequence[tuple[ReplicaOption, cp_model.IntVar]], coefficient) -> cp_model.LinearExpr:
    return cp_model.LinearExpr.weighted_sum([x for _, x in variables], [coefficient(c) for c, _ in variables])


def _replica_bound(option, served, demand, limits, inventory, budgets) -> int:
    """Most units of `option` any lexicographically best plan can hold.

    If x_i exceeded ceil(demand / served_i) + spares, the replica floor and
    the unit floor, dropping one unit of i would still cover the demand with
    any `spares` units down (the spares are at most that many units of i, or
    units elsewhere no larger), meet both floors, break no upper limit, cost
    no more, lose no quality, and save GPUs: that plan was not the best. An
    option that serves nothing (or a question with no demand) only ever
    helps reach the floors.
    """
    floor = max(limits.min_replicas, limits.spares + 1 if limits.spares else 0, limits.zones if limits.zones > 1 else 0)
    if demand > 0 and served > 0:
        needed = -(-demand // served)
        # with zones, x - ceil(x / zones) >= x / 2 - 1 for zones >= 2, so
        # 2 * needed + zones units of i alone survive any zone's loss
        upper = max(floor, needed + limits.spares, 2 * needed + limits.zones if limits.zones > 1 else 0)
    else:
        upper = floor
    per_replica = option.gpus_per_unit
    if option.pool in inventory:
        upper = min(upper, inventory[option.pool] // per_replica)
    if limits.max_gpus is not None:
        upper = min(upper, limits.max_gpus // per_replica)
    for limit, charge in budgets:
        if charge[option.key] > 0:
            upper = min(upper, limit // charge[option.key])
    return upper


def run_model(model: cp_model.CpModel, time_limit_s: float,
              **parameters: object) -> tuple[cp_model.CpSolverStatus, cp_model.CpSolver]:
    """Solve with the project's reproducible settings (one worker, fixed
    seed) and any further CP-SAT ``parameters``; ValueError for a model whose
    numbers CP-SAT rejects."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = NUM_WORKERS
    solver.parameters.random_seed = RANDOM_SEED
    for name, value in parameters.items():
        setattr(solver.parameters, name, value)
    status = solver.solve(model)
    if status == cp_model.MODEL_INVALID:
        raise ValueError(f"the numbers are out of range for the solver: {model.validate()}")
    return status, solver


def _next_stage(model, objective, xs, best, proven, time_left):
    """Minimise `objective` from the previous stage's plan, then fix its optimum.

    The previous plan is feasible here and is given as a hint, so this stage
    can only improve on it; if the time limit stops it with nothing better,
    that plan stands, unproven.
    """
    if time_left <= 0:
        return best, False, time_left
    model.clear_hints()
    for x, value in zip(xs, best):
        model.add_hint(x, value)
    model.minimize(objective)
    status, solver = run_model(model, time_left)
    time_left -= solver.wall_time
    if status == cp_model.INFEASIBLE:
        raise RuntimeError("a tie-break stage lost the plan of the stage before it (a bug in planner.plan.solver)")
    if status != cp_model.OPTIMAL and status != cp_model.FEASIBLE:
        return best, False, time_left
    model.add(objective <= solver.value(objective))
    return [solver.value(x) for x in xs], proven and status == cp_model.OPTIMAL, time_left


# --- the most a question's limits allow ------------------------------------------


def max_throughput(options: Sequence[ReplicaOption], limits: Limits) -> float | None:
    """The most throughput (target units/s) any mix of `options`' whole
    replicas (prefill and decode workers left out) serves within
    `limits`' upper limits (inventory pools, max_gpus, power, budgets); the
    demand, min_replicas, spares and zones are ignored, so with N+k or zones
    less of it counts toward a demand. None when unbounded: some option that
    serves something can be added without end (its pool is not in the
    inventory, no GPU cap, and no budget charges for it).

    Exact when CP-SAT proves the optimum; when the time limit stops it first,
    its proved upper bound (so the answer is never an understatement). Raises
    ValueError for numbers too large for CP-SAT's 64-bit arithmetic.
    """
    inventory = limits.inventory or {}
    budgets: list[tuple[int, dict[str, int]]] = []
    for limit_name, attr, scale in (
        ("max_power_w", "power_w", POWER_SCALE),
        ("max_hourly_usd", "hourly_usd", COST_SCALE),
        ("max_capex_usd", "capex_usd", COST_SCALE),
    ):
        limit = getattr(limits, limit_name)
        if limit is not None:
            # the same conservative rounding as `solve`: charges UP, limits DOWN
            charge = {c.key: to_grid(getattr(c, attr), scale, math.ceil) for c in options}
            budgets.append((to_grid(limit, scale, math.floor), charge))
    model = cp_model.CpModel()
    variables: list[tuple[ReplicaOption, cp_model.IntVar]] = []
    most_units = 0
    for option in options:
        served = to_grid(option.throughput, THROUGHPUT_SCALE, math.floor)
        if served <= 0 or option.role:
            # serves nothing, or only with workers of the other role: the
            # most is taken over whole replicas (an understatement where
            # disaggregated pools would serve more)
            continue
        upper = _limit_bound(option, limits, inventory, budgets)
        if upper is None:
            return None
        if upper > 0:
            variables.append((option, model.new_int_var(0, upper, f"x[{option.key}]")))
            most_units += upper
    if not variables:
        return 0.0
    for pool in sorted({c.pool for c, _ in variables} & set(inventory)):
        in_pool = [(c, x) for c, x in variables if c.pool == pool]
        model.add(_weighted(in_pool, lambda c: c.gpus_per_unit) <= inventory[pool])
    if limits.max_gpus is not None:
        model.add(_weighted(variables, lambda c: c.gpus_per_unit) <= limits.max_gpus)
    for limit, charge in budgets:
        model.add(_weighted(variables, lambda c, charge=charge: charge[c.key]) <= limit)
    # Served rounds DOWN per unit here, as in `solve`; the answer is the
    # real total of the best mix, so the rounding only affects which mix wins
    # among near-equals (by less than 1/THROUGHPUT_SCALE per unit).
    model.maximize(_weighted(variables, lambda c: to_grid(c.throughput, THROUGHPUT_SCALE, math.floor)))
    status, solver = run_model(model, limits.time_limit_s)
    if status == cp_model.OPTIMAL:
        best = tuple(PlanLine(c, solver.value(x)) for c, x in variables if solver.value(x) > 0)
        return float(_exact_total(best, "throughput"))
    # cut short (or, impossibly, infeasible: no replicas at all is always
    # allowed): the proved bound, plus the most the flooring can have dropped
    return (solver.best_objective_bound + most_units) / THROUGHPUT_SCALE


def _limit_bound(option: ReplicaOption, limits: Limits, inventory: Mapping[str, int],
                 budgets: Sequence[tuple[int, Mapping[str, int]]]) -> int | None:
    """Most units of `option` the upper limits alone allow; None: no limit applies."""
    bounds = []
    if option.pool in inventory:
        bounds.append(inventory[option.pool] // option.gpus_per_unit)
    if limits.max_gpus is not None:
        bounds.append(limits.max_gpus // option.gpus_per_unit)
    for limit, charge in budgets:
        if charge[option.key] > 0:
            bounds.append(limit // charge[option.key])
    return min(bounds) if bounds else None
