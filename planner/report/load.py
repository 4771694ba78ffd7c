"""Latency against load for the design review: each charted shape's replica
simulated at rates around its capacity, and where its queue takes off.

The chosen shapes' capacities are `fit`'s own (planner/plan/verify.py); an
alternative shape that `fit` never simulated is swept around its
steady-state estimate (planner/model/steady.py) instead, and the sweep says
how far it meets the targets. Runs use verify.py's seed and burstiness with
fewer requests (``CHART_REQUESTS``), and fewer still at light load, where
requests hardly meet in the queue and a run of the same requests would
cost the most steps: the chart is for the shape of the curve; the verified
figures are the LineChecks'.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.schema import ModelKind
from planner.model.capacity import Trial, sweep
from planner.model.serving import SchedulerSettings
from planner.model.slo import DEFAULT_PERCENTILE, Metric, Slo, Statistic
from planner.plan import verify
from planner.plan.candidates import ScoredShape
from planner.plan.fit import FitResult

CHART_REQUESTS = 600  # simulated per point at half of capacity and above
LIGHT_REQUESTS = 150  # the fewest per point, at the lightest load
# Rates as shares of each shape's capacity: dense around the capacity, where the knee is.
SHARES = (0.1, 0.3, 0.5, 0.7, 0.85, 1.0, 1.1, 1.2)
EXTEND_STEP = 1.25  # past 120% a curve that still meets every target goes on in these steps ...
MAX_SHARE = 3.0  # ... up to this share of the rate it was scaled to
MAX_CURVES = 4  # shapes charted: the chosen ones first, then the cheapest alternatives
# The knee: the lowest charted rate at which the queue grows, or at which
# p99 TTFT is more than this many times its value at the lightest load (a
# presentation threshold, not a measured figure).
KNEE_TTFT_FACTOR = 3.0


@dataclass(frozen=True)
class ShapeLoad:
    """One charted shape: its sweep and what it was scaled to."""

    key: str
    shape: ScoredShape
    chosen: bool
    gpu_words: str  # "plan line" or "best plan on l4"
    base_rate: float  # requests/s per replica the shares scale
    simulated: verify.Simulated | None  # fit's capacity search; None for a shape fit never simulated
    trials: tuple[Trial, ...]  # by increasing rate; the last may be where the queue grows
    requests: tuple[int, ...]  # simulated in each trial
    checks: tuple[verify.LineCheck, ...]  # the plan's LineChecks of this shape (chosen shapes)

    @property
    def knee(self) -> Trial | None:
        """The lowest charted rate at which the queue grows or p99 TTFT has
        risen KNEE_TTFT_FACTOR-fold over the lightest load; None if no
        charted rate gets there."""
        first = self.trials[0].summary.ttft if self.trials else None
        for trial in self.trials:
            ttft = trial.summary.ttft
            if not trial.stable or (first is not None and ttft is not None and ttft.p99 > KNEE_TTFT_FACTOR * first.p99):
                return trial
        return None

    @property
    def highest_passing(self) -> Trial | None:
        """The highest charted rate meeting every target (below the first that does not)."""
        found = None
        for trial in self.trials:
            if not trial.passes:
                break
            found = trial
        return found

    @property
    def first_failing(self) -> Trial | None:
        return next((t for t in self.trials if not t.passes), None)


def panel_slos(result: FitResult) -> list[Slo | None]:
    """What each panel plots, and its target where one is given: TTFT and
    TPOT always (at the target's statistic, else p99), e2e when targeted."""
    by_metric = {slo.metric: slo for slo in result.question.targets.slos()}
    panels: list[Slo | None] = [by_metric.get(Metric.TTFT), by_metric.get(Metric.TPOT)]
    if Metric.E2E in by_metric:
        panels.append(by_metric[Metric.E2E])
    return panels


def panel_statistic(slo: Slo | None) -> Statistic:
    return DEFAULT_PERCENTILE if slo is None else slo.statistic


def applies(result: FitResult) -> bool:
    """A decoder whose question has a latency target and whose plan was verified."""
    return (result.spec.model.kind is ModelKind.DECODER and bool(result.question.targets.slos())
            and bool(result.checks))


def settings_of(result: FitResult) -> SchedulerSettings:
    """The scheduler fit simulated with (planner/plan/fit.py)."""
    return verify.settings_for(result.engine, result.question.max_batch)


def requests_at(share: float) -> int:
    """Requests per point: CHART_REQUESTS from half of capacity up, in
    proportion below (a run's steps grow as the load falls: fewer requests
    keep every point about as costly)."""
    return max(LIGHT_REQUESTS, min(CHART_REQUESTS, round(CHART_REQUESTS * share / 0.5)))


def _sweep_shape(result: FitResult, verifier: verify.Verifier, shape: ScoredShape,
                 base: float) -> tuple[tuple[Trial, ...], tuple[int, ...]]:
    q = result.question
    dep = verifier.deployment(shape)
    trials: list[Trial] = []
    counts: list[int] = []

    def run(share: float) -> Trial:
        n = requests_at(share)
        (trial,) = sweep(verifier.model, dep, verifier.lengths, verifier.slos, [base * share], requests=n,
                         cv=q.burstiness, seed=verify.VERIFY_SEED, settings=verifier.settings)
        trials.append(trial)
        counts.append(n)
        return trial

    for share in SHARES:
        if not run(share).stable:  # the queue grows: the curve ends here
            return tuple(trials), tuple(counts)
    share = SHARES[-1]
    while trials[-1].passes and share * EXTEND_STEP <= MAX_SHARE:
        share *= EXTEND_STEP
        if not run(share).stable:
            break
    return tuple(trials), tuple(counts)


def shape_loads(result: FitResult) -> list[ShapeLoad]:
    """The chosen shapes (plan order) and the cheapest alternatives on other
    GPU types, MAX_CURVES in all, each swept; empty where the chart does not
    apply (module note)."""
    if not applies(result):
        return []
    verifier = verify.Verifier.of_question(result.spec.model, result.engine, result.question, result.headroom)
    picked: list[tuple[str, ScoredShape, bool, str]] = []
    for line in result.lines:
        if line.candidate.key not in {key for key, *_ in picked}:
            picked.append((line.candidate.key, line.candidate, True, "plan line"))
    for alt in result.alternatives:
        if len(picked) >= MAX_CURVES:
            break
        picked.append((alt.line.candidate.key, alt.line.candidate, False, f"best plan on {alt.gpu}"))
    loads = []
    for key, shape, chosen, words in picked[:MAX_CURVES]:
        sim = result.simulated.get(key)
        if sim is not None and sim.capacity.rate > 0:
            base = sim.capacity.rate
        else:  # never simulated by fit: its steady-state estimate, requests/s
            sim = None
            base = shape.tokens_per_s / max(result.question.output_tokens, 1)
        if not base > 0:
            continue
        trials, counts = _sweep_shape(result, verifier, shape, base)
        loads.append(ShapeLoad(key, shape, chosen, words, base, sim, trials, counts,
                               tuple(c for c in result.checks if c.key == key)))
    return loads
