"""Why `fit` found no plan, and the smallest change to the question that gives one.

Two kinds of empty answer:

- no shape is left at all (`why_no_candidate`): nothing to consider, nothing
  fits memory, a latency target no shape reaches, or two targets that no
  shape meets together;
- shapes exist but no mix of them fits the question's limits
  (`why_infeasible`): for each limit the question set (available GPUs per
  listed type, max_gpus, max_power_w, budget) the smallest value at which a
  plan exists, found by bisecting that limit and re-solving. (What is owned
  is not offered as a relaxation: it is what the buyer has, not a limit.)

The solver is reached only through the callables `fit` passes in, so this
module does not depend on how replica options are built or priced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import combinations

from planner.catalog.schema import ModelKind
from planner.core.errors import Field, InputError, Text
from planner.core.units import format_rate
from planner.model import perf
from planner.model.workload import ModelSpec
from planner.plan import solver
from planner.plan.candidates import Candidate, RejectedShape, ScoredShape
from planner.plan.question import Question

RELAXATION_TIME_LIMIT_S = 5.0  # each re-solve that explains an empty answer

# Re-solves allowed for one explanation, all limits together. Each may run up
# to RELAXATION_TIME_LIMIT_S, though most take milliseconds; an explanation
# should cost about what the answer did, not minutes. The budget covers one
# lift per limit and per listed GPU type, then about ten bisection steps for
# each of four limits; once spent, a bisection stops at the smallest value
# proved so far, which still works but may not be the smallest. The final
# check of each value shown (at most four solves a limit) comes on top.
MAX_RELAXATION_SOLVES = 48

# Money and watts are bisected until the bracket is within this share of the
# value (0.1%), or within one shown step, whichever is wider; counts exactly.
RELATIVE_TOLERANCE = 0.001
POWER_STEP_W = Fraction(1)  # shown as whole watts
HOURLY_STEP_USD = Fraction(1, 100)  # $/h shown to the cent
WHOLE_STEP_USD = Fraction(1)  # $/month, $/year and capital budgets shown to the dollar

# Reasons shown when nothing is left to consider; the rest are counted.
SHOWN_REASONS = 4


# --- no shape left -------------------------------------------------------------------


def nothing_left(ruled_out: Sequence[tuple[str, str]], gpu_ids: set[str]) -> str:
    """Why no GPU and format is left, most decisive first: GPU types ruled out
    whole (no price), then what cannot run on a GPU (the support matrix),
    then formats ruled out everywhere (engine, quality)."""
    whole = [(what, why) for what, why in ruled_out if what in gpu_ids]
    if whole and len(whole) == len(gpu_ids):
        listed = "; ".join(f"{what}: {why}" for what, why in whole[:SHOWN_REASONS])
        more = f"; and {len(whole) - SHOWN_REASONS} more" if len(whole) > SHOWN_REASONS else ""
        return f"no allowed GPU is left to consider ({listed}{more})"
    on_gpu = [(what, why) for what, why in ruled_out if what.split(" ", 1)[0] in gpu_ids and (what, why) not in whole]
    rest = [(what, why) for what, why in ruled_out if (what, why) not in whole and (what, why) not in on_gpu]
    ordered = whole + on_gpu + rest
    listed = "; ".join(f"{what}: {why}" for what, why in ordered[:SHOWN_REASONS])
    more = f"; and {len(ordered) - SHOWN_REASONS} more" if len(ordered) > SHOWN_REASONS else ""
    return f"no GPU and precision is left to consider ({listed}{more})"


def closest_timing(c: Candidate) -> perf.Timing | None:
    """A scored shape's timing at its batch; a latency miss's at batch 1
    (its fastest: every latency grows with the batch)."""
    return c.prediction if isinstance(c, ScoredShape) else c.batch_one_timing


@dataclass(frozen=True)
class _Target:
    value: float  # seconds
    label: str  # as the message names it: "TPOT", "TTFT", ...
    field: str  # the question's field, shown as its flag by the CLI
    of: Callable[[perf.Timing], float]

    def met_by(self, timing: perf.Timing) -> bool:
        return self.of(timing) <= self.value


def _latency_targets(spec: ModelSpec, q: Question) -> list[_Target]:
    """The latency targets the question set, in the order they are checked."""
    t = q.targets
    if spec.model.kind is ModelKind.ENCODER:
        first = ("latency", lambda timing: timing.e2e_s)
    else:
        first = ("TPOT", lambda timing: timing.tpot_s or 0.0)
    given = [
        (t.latency_s, *first, "targets.latency_s"),
        (t.ttft_s, "TTFT", lambda timing: timing.ttft_s, "targets.ttft_s"),
        (t.e2e_s, "e2e latency", lambda timing: timing.e2e_s, "targets.e2e_s"),
    ]
    return [_Target(value, label, field_name, of) for value, label, of, field_name in given if value is not None]


def _ms(seconds: float) -> str:
    """Milliseconds to three significant figures, never in exponent form (12,346 ms, not 1.23e+04 ms)."""
    ms = seconds * 1e3
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.3g} ms"


def _relaxed_ms(seconds: float) -> str:
    """A target just above ``seconds``: rounded UP to 0.1 ms, plain decimals ("9.7ms", "12345.7ms")."""
    tenths = math.ceil(seconds * 1e4)
    return f"{tenths // 10}ms" if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}ms"


def why_no_candidate(spec: ModelSpec, q: Question, cands: Sequence[Candidate], ruled_out: Sequence[tuple[str, str]],
                     gpu_ids: set[str]) -> Text:
    """Which target no shape meets, the best any reaches, and what to relax;
    or which two targets no shape meets together."""
    if not cands:
        return nothing_left(ruled_out, gpu_ids)
    timed = [(c, timing) for c in cands if (timing := closest_timing(c)) is not None]  # fit in memory and were timed
    if not timed:
        biggest = max(c.gpu.memory_total_gib for c in cands)
        return (f"{spec.label} does not fit in memory on any allowed GPU, even split over a node "
                f"(largest GPU {biggest:g} GiB); allow more GPUs per replica, a smaller precision, or shorter sequences")
    targets = _latency_targets(spec, q)
    for target in targets:
        fastest, timing = min(timed, key=lambda pair: target.of(pair[1]))
        best = target.of(timing)
        if best > target.value:
            return [f"no plan meets {target.label} {_ms(target.value)}: the fastest, {fastest.gpus}x {fastest.gpu.id} "
                    f"{fastest.precision.id} (TP {fastest.tp}{fastest.expert_split()}), reaches {_ms(best)}; relax ", Field(target.field),
                    f" to {_relaxed_ms(best)} or allow faster GPUs or lower precisions"]
    # Each target alone is met by some shape. Two that no shape meets together
    # conflict: name the pair and how close each side gets to the other.
    timings = [timing for _c, timing in timed]
    for a, b in combinations(targets, 2):
        if any(a.met_by(timing) and b.met_by(timing) for timing in timings):
            continue
        b_given_a = min(b.of(timing) for timing in timings if a.met_by(timing))
        a_given_b = min(a.of(timing) for timing in timings if b.met_by(timing))
        return [f"{a.label} {_ms(a.value)} and {b.label} {_ms(b.value)} conflict: no shape meets both; "
                f"the shapes that meet {a.label} reach {b.label} of at best {_ms(b_given_a)}, those that meet "
                f"{b.label} reach {a.label} of at best {_ms(a_given_b)}; relax ", Field(a.field), " or ", Field(b.field)]
    first = next(c for c in cands if isinstance(c, RejectedShape))
    return f"no candidate meets the targets together; for example {first.key}: {first.reason}"


# --- no mix within the limits -----------------------------------------------------------


Solve = Callable[[Question], solver.Plan]
MostThroughput = Callable[[Question], "float | None"]


@dataclass(frozen=True)
class Relaxation:
    """The smallest value of one limit at which a plan exists, the others as given.

    `limit` is the question's field ("available", "max_gpus", "max_power_w",
    "budget"); `gpu` the GPU type for the available GPUs, raised one type at
    a time, None otherwise. `value` is what the message shows (a count,
    watts, or USD in the budget's own period), proved feasible by a solve.
    `proved_smallest` is False when the solve budget ran out before the
    bisection closed (the value still works, but may not be the smallest).
    """

    limit: str
    gpu: str | None
    value: float
    proved_smallest: bool = True


class _Prober:
    """Re-solves the question with one limit changed, within the solve budget."""

    def __init__(self, solve: Solve, budget: int) -> None:
        self._solve, self.left = solve, budget

    def plan(self, q: Question, changes: dict[str, object], check: bool = False) -> solver.Plan | None:
        """The plan for ``q`` with ``changes``; None when none was found
        (infeasible, out of time, a value the question cannot hold, or no
        solves left). A ``check`` of a value about to be shown runs whatever
        the budget: at most four per limit."""
        if self.left <= 0 and not check:
            return None
        try:
            changed = q.replace(**changes)
        except InputError:  # e.g. a count beyond what a question accepts
            return None
        self.left -= 1
        plan = self._solve(changed)
        return plan if plan.status in (solver.OPTIMAL, solver.FEASIBLE) else None


def _without(inventory: dict[str, int], gpu: str) -> dict[str, int] | None:
    rest = {g: n for g, n in inventory.items() if g != gpu}
    return rest or None


def _money_step(q: Question) -> Fraction:
    assert q.budget is not None
    return HOURLY_STEP_USD if q.budget.period == "h" else WHOLE_STEP_USD


def _budget_figure(q: Question, plan: solver.Plan) -> float:
    """What ``plan`` spends in the budget's own terms: rent per its period, or capital."""
    assert q.budget is not None
    if not q.budget.per_hour:
        return plan.capex_usd
    hours = q.budget.usd / q.budget.usd_per_hour  # in the budget's period: 1, 730 or 8,760
    return plan.hourly_usd * hours


def _round_up(value: float, step: Fraction) -> Fraction:
    """``value`` (read as the decimal it prints as) rounded up to a multiple of ``step``."""
    exact = Fraction(repr(float(value)))
    return math.ceil(exact / step) * step


@dataclass
class _Bracket:
    """A limit being bisected: ``low`` has no plan, ``high`` has one."""

    limit: str
    gpu: str | None
    low: float
    high: float

    def changes(self, q: Question, value: float) -> dict[str, object]:
        """The question's fields with this limit set to ``value``."""
        if self.limit == "available":
            assert q.available is not None and self.gpu is not None
            return {"available": {**q.available, self.gpu: int(value)}}
        if self.limit == "budget":
            assert q.budget is not None
            return {"budget": replace(q.budget, usd=float(value))}
        return {self.limit: int(value) if self.limit == "max_gpus" else float(value)}


def _lifted(q: Question, probe: _Prober) -> tuple[list[_Bracket], str | None]:
    """Each limit the question set, lifted alone: a bracket for each one whose
    lifting gives a plan; and, when several types are capped and no one of
    them raised alone suffices, what lifting every cap needs."""
    brackets: list[_Bracket] = []
    whole: str | None = None
    if q.available:
        # the available pools are keyed by GPU type (owned GPUs are pools of their own)
        for gpu, count in sorted(q.available.items()):
            plan = probe.plan(q, {"available": _without(q.available, gpu)})
            if plan is not None:
                brackets.append(_Bracket("available", gpu, count, plan.gpus_by_pool.get(gpu, 0)))
        if not brackets and len(q.available) > 1:
            plan = probe.plan(q, {"available": None})
            if plan is not None:
                needed = {g: n for g, n in sorted(plan.gpus_by_pool.items()) if n > q.available.get(g, n)}
                whole = ", ".join(f"{g}={n}" for g, n in needed.items())
    if q.max_gpus is not None and (plan := probe.plan(q, {"max_gpus": None})) is not None:
        brackets.append(_Bracket("max_gpus", None, q.max_gpus, plan.gpus))
    if q.max_power_w is not None and (plan := probe.plan(q, {"max_power_w": None})) is not None:
        brackets.append(_Bracket("max_power_w", None, q.max_power_w, plan.power_w))
    if q.budget is not None and (plan := probe.plan(q, {"budget": None})) is not None:
        brackets.append(_Bracket("budget", None, q.budget.usd, _budget_figure(q, plan)))
    return brackets, whole


def _bisect(q: Question, b: _Bracket, probe: _Prober) -> Relaxation | None:
    """The smallest value of ``b``'s limit with a plan: counts exactly; watts
    and money to within RELATIVE_TOLERANCE, then rounded up to the shown step
    and checked once more."""
    closed = True
    if b.limit in ("available", "max_gpus"):
        low, high = int(b.low), int(b.high)  # the lifted plan's count works as it stands
        while high - low > 1:
            if probe.left <= 0:
                closed = False
                break
            mid = (low + high) // 2
            if probe.plan(q, b.changes(q, mid)) is None:
                low = mid
            else:
                high = mid
        return Relaxation(b.limit, b.gpu, high, closed)
    step = POWER_STEP_W if b.limit == "max_power_w" else _money_step(q)
    below, above = b.low, b.high  # above is the lifted plan's figure; proved below, once rounded
    while above - below > max(RELATIVE_TOLERANCE * above, float(step)):
        if probe.left <= 0:
            closed = False
            break
        middle = (below + above) / 2
        if probe.plan(q, b.changes(q, middle)) is None:
            below = middle
        else:
            above = middle
    # The shown value must itself work: the solver rounds charges up, so a
    # figure exactly at a plan's total can fall a hair short; try a few steps
    # up. When the bracket closed to within one step, the step below the
    # rounded value may lie inside it and work too: try it first.
    shown = _round_up(above, step)
    tries = [shown - step] if shown - step > below else []
    tries += [shown, shown + step, shown + 2 * step]
    for value in tries:
        if probe.plan(q, b.changes(q, float(value)), check=True) is not None:
            return Relaxation(b.limit, b.gpu, float(value), closed)
    return None


def smallest_relaxations(q: Question, solve: Solve) -> tuple[list[Relaxation], str | None]:
    """For each limit the question set, the smallest value at which a plan
    exists, the other limits as given (available GPUs: one listed type raised
    at a time); and, when no single type's raise suffices but lifting every
    cap does, the counts that plan uses beyond the caps
    ("h100-sxm=10, h200-sxm=8"), else None. Limits whose lifting alone gives
    no plan are left out. Needs at most MAX_RELAXATION_SOLVES calls of ``solve``."""
    probe = _Prober(solve, MAX_RELAXATION_SOLVES)
    brackets, whole = _lifted(q, probe)
    # a lifted plan within the limit as given would mean the question had a
    # plan after all (only a solve cut short by its time limit can do that)
    found = [r for b in brackets if b.high > b.low and (r := _bisect(q, b, probe)) is not None]
    return found, whole


def _shown(q: Question, r: Relaxation) -> str:
    if r.limit == "available":
        return f"{r.gpu}={r.value:.0f}"
    if r.limit == "max_gpus":
        return f"{r.value:.0f}"
    if r.limit == "max_power_w":
        return f"{r.value:.0f}W"
    assert q.budget is not None
    if q.budget.period == "h":
        return f"${r.value:,.2f}/h"
    return f"${r.value:,.0f}" + ("" if q.budget.period is None else f"/{q.budget.period}")


def why_infeasible(q: Question, demand: float, status: str, solve: Solve, most: MostThroughput) -> Text:
    """Why no mix of the shapes serves ``demand`` within the question's limits.

    ``solve(q2)`` runs the solver on question q2's limits; ``most(q2)`` is the
    most throughput the allowed hardware serves within q2's limits (None:
    unbounded). ``status`` is the solver's on the question as asked.
    """
    if status == solver.UNKNOWN:
        return ["the solver found no plan within its time limit; narrow the question (", Field("gpus"), ", ",
                Field("precisions"), ")"]
    found, whole = smallest_relaxations(q, solve)
    relaxed: list[str | Field] = []
    for r in found:
        relaxed += ["; or " if relaxed else "", "relax ", Field(r.limit), f" to {_shown(q, r)}"]
    if whole:
        relaxed += ["; or " if relaxed else "", "relax ", Field("available"), f" to {whole}"]
    rate = q.targets.throughput
    want = format_rate(rate) if rate is not None and demand > 0 else "one replica"
    reach = ""
    if rate is not None and demand > 0:
        served = most(q)
        if served is not None and math.isfinite(served):
            reach = f"; the allowed hardware serves at most about {served:,.0f} {rate.kind}/s"
    hint: list[str | Field] = relaxed or ["allow more GPU types (", Field("gpus"), ") or precisions"]
    return [f"no plan serves {want} within the limits{reach}: ", *hint]
