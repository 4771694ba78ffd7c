"""What one replica can serve: the highest open-loop request rate at which
every latency target still holds, found by simulating the schedule
(planner/model/serving.py) at trial rates.

Method
------
1. Saturation: a burst of the run's requests keeps the replica full; its
   completions per second over the middle of the run (20%-80% of the
   makespan) are the most it serves with no latency target at all.
2. Each trial rate is an open-loop run of ``requests`` arrivals (Poisson, or
   gamma gaps of coefficient of variation ``cv``) with the same seed: the
   gaps are drawn once and scaled by 1/rate (common random numbers), so a
   higher rate is the same traffic, faster, and the percentiles move
   smoothly with the rate.
3. A trial passes when every target holds over the requests that arrive
   between the 10% and the 90% request (warm-up and drain left out; see
   ``by_arrival``) and the queue is stable: the mean number of requests in the
   system over the fourth fifth of the arrivals is at most
   ``GROWTH_LIMIT`` x that over the second fifth plus 2 (an overloaded
   queue grows linearly through the run; a stable one fluctuates).
4. A first trial at ``LOWEST_SHARE`` of saturation, with
   ``TRICKLE_REQUESTS`` requests (they run nearly one at a time): a target
   missed there is missed at any load. Then saturation itself, then
   bisection between a rate that passes and one that fails. Trial rates are
   powers of ``GRID``, so the answer is the highest grid rate that passes
   (within 2%) whichever way the search reached it.

The answer is a rate (requests/s), the mean concurrency at it (requests in
the system, Little's law: rate x mean e2e, as the simulation measures it),
and the figures at that rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from planner.catalog.schema import EngineFactors, Model
from planner.core.errors import InputError
from planner.model import serving
from planner.model.lengths import LengthSource
from planner.model.serving import Served, SchedulerSettings, Summary, percentiles
from planner.model.slo import Slo
from planner.model.traffic import Burst, Open
from planner.model.workload import Deployment

DEFAULT_REQUESTS = 2000  # per trial: a p99 over ~1,600 requests in the window rests on ~16 above it
WARMUP_LIFETIMES = 2  # request lifetimes cut at the start of a run (a setting: the replica fills within about one)
MAX_TRIAL_REQUESTS = 10_000  # the longest a trial is made (simulation time)
GROWTH_LIMIT = 1.5  # a search setting, not a fact (module note, step 3)
GRID = 1.02  # trial rates are powers of 1.02 requests/s: the answer is within 2% (a search setting)
BRACKET_STEPS = 11  # grid steps per bracketing move from a guess: about 1.24x
MAX_BRACKET = 64.0
LOWEST_SHARE = 1e-3  # the first trial: 0.1% of saturation; a target missed there is missed at any load
TRICKLE_REQUESTS = 200  # requests in that first trial: they run one at a time, so few tell


@dataclass(frozen=True)
class Trial:
    rate: float  # requests/s offered
    summary: Summary
    stable: bool
    misses: tuple[str, ...]  # the targets missed, as "p99 TTFT 812 ms > 500 ms"; empty when all hold
    requests: int = 0  # simulated in the run

    @property
    def passes(self) -> bool:
        return self.stable and not self.misses


@dataclass(frozen=True)
class Capacity:
    rate: float  # requests/s sustained with every target met; 0 when none is met even at a trickle
    at: Trial | None  # the figures at ``rate`` (None when rate is 0)
    limit: str  # what stops a higher rate: a missed target, or "the queue grows"
    saturation_rate: float  # requests/s with no target, the replica full; inf when a guessed search did not need it
    requests: int  # simulated per trial
    cv: float
    trials: tuple[Trial, ...]  # every rate tried, in the order tried

    @property
    def concurrency(self) -> float:
        """Mean requests in the system at ``rate`` (queued or running)."""
        return 0.0 if self.at is None else self.at.summary.mean_concurrency


def run_open(model: Model, dep: Deployment, lengths: LengthSource, rate: float, slos: tuple[Slo, ...], *,
             requests: int = DEFAULT_REQUESTS, cv: float = 1.0, seed: int = 0,
             settings: SchedulerSettings | None = None, factors: EngineFactors | None = None) -> Trial:
    """One open-loop run at ``rate`` requests/s, judged against ``slos``.
    A run whose warm-up cut (the first 10% of arrivals) is shorter than
    ``WARMUP_LIFETIMES`` request lifetimes (mean requests in the system, by
    Little's law) is run again longer, up to ``MAX_TRIAL_REQUESTS``, with
    that many lifetimes cut: the replica starts empty, and a window that
    opens before it has filled reads latencies too low."""
    served = serving.simulate(model, dep, Open(rate, requests, cv), lengths, seed=seed, settings=settings,
                              factors=factors)
    trial = judge(served, rate, slos)
    warm = math.ceil(WARMUP_LIFETIMES * trial.summary.mean_concurrency)
    if warm > 0.1 * requests and requests < MAX_TRIAL_REQUESTS:
        longer = min(MAX_TRIAL_REQUESTS, max(requests, warm + requests))
        served = serving.simulate(model, dep, Open(rate, longer, cv), lengths, seed=seed, settings=settings,
                                  factors=factors)
        trial = judge(served, rate, slos, warmup=warm)
    return trial


def judge(served: Served, rate: float, slos: tuple[Slo, ...], warmup: int = 0) -> Trial:
    """Figures of the arrivals from the 10% mark (or the first ``warmup``
    requests, if more) to the 90% mark, and whether the queue was stable."""
    n = len(served.arrival)
    arrival = served.arrival

    def at(share: float) -> float:
        return arrival[min(n - 1, int(share * n))]

    start = max(at(0.1), arrival[min(n - 1, warmup)])
    window = by_arrival(served, start, at(0.9)) if at(0.9) > start else served.summary()
    early = served.summary(at(0.2), at(0.4)) if at(0.4) > at(0.2) else window
    late = served.summary(at(0.6), at(0.8)) if at(0.8) > at(0.6) else window
    stable = late.mean_concurrency <= GROWTH_LIMIT * early.mean_concurrency + 2
    misses = []
    for slo in slos:
        value = slo.observed(window)
        if value is not None and value > slo.seconds:
            misses.append(f"{slo.name} {_ms(value)} > {_ms(slo.seconds)}")
    if window.requests == 0:
        stable = False
    return Trial(rate, window, stable, tuple(misses), n)


def by_arrival(served: Served, start: float, end: float) -> Summary:
    """The window's figures, with the per-request ones (TTFT, TPOT, e2e,
    queue wait) over the requests that ARRIVED in [start, end), however late
    they finish. ``Served.summary`` takes the requests that finish in the
    window, which on a short run over-weights requests that arrived before
    it, during warm-up, at a lighter load, and leaves out the slowest of
    those that arrived near its end: optimistic, the more so the fewer
    request lifetimes the window spans. Rates, ITL and the means in the
    system stay those of the time window."""
    base = served.summary(start, end)
    picked = [i for i, a in enumerate(served.arrival) if start <= a < end]
    if not picked:
        return base
    arrival, first, finish = served.arrival, served.first_token, served.finish
    tpot = [(finish[i] - first[i]) / (served.output[i] - 1) for i in picked if served.output[i] > 1]
    return replace(
        base,
        requests=len(picked),
        queue_wait=percentiles([served.admitted[i] - arrival[i] for i in picked]),
        ttft=percentiles([first[i] - arrival[i] for i in picked]),
        tpot=percentiles(tpot),
        e2e=percentiles([finish[i] - arrival[i] for i in picked]),
    )


def saturation_rate(model: Model, dep: Deployment, lengths: LengthSource, *, requests: int = DEFAULT_REQUESTS,
                    seed: int = 0, settings: SchedulerSettings | None = None,
                    factors: EngineFactors | None = None) -> float:
    """Requests/s of a replica kept full (module note, step 1)."""
    served = serving.simulate(model, dep, Burst(requests), lengths, seed=seed, settings=settings, factors=factors)
    span = served.makespan
    middle = served.summary(0.2 * span, 0.8 * span)
    return middle.requests_per_s if middle.requests else requests / span


def _grid(k: int) -> float:
    return float(GRID**k)


def _index(rate: float, down: bool = False) -> int:
    """The grid index just below ``rate`` (``down``), else the nearest."""
    x = math.log(rate) / math.log(GRID)
    return math.floor(x + 1e-9) if down else round(x)


def capacity(model: Model, dep: Deployment, lengths: LengthSource, slos: tuple[Slo, ...], *,
             requests: int = DEFAULT_REQUESTS, cv: float = 1.0, seed: int = 0,
             settings: SchedulerSettings | None = None, factors: EngineFactors | None = None,
             guess: float | None = None, bracket_only: bool = False) -> Capacity:
    """The highest request rate meeting every target (module note). With a
    ``guess`` (an estimate of the answer, requests/s) the search brackets it
    first, ``BRACKET_STEPS`` grid steps at a time, which takes far fewer
    trials than starting from saturation when the guess is near. Trial rates
    lie on a geometric grid (``GRID``), so searches that start differently
    but see the same pass/fail answers end on the same rate. With
    ``bracket_only``, a guess that misses is stepped down only until a rate
    meets the targets: a rate it serves, not the highest."""
    if requests < 50:
        raise InputError(f"{requests} requests are too few to judge percentiles", hint="simulate at least 50")
    settings = settings or serving.scheduler_for(dep.engine, dep.dp)
    factors = factors or dep.engine.factors_for(dep.gpu)
    trials: list[Trial] = []
    by_index: dict[int, Trial] = {}
    top = math.inf  # measured only when the search starts from saturation

    def trial(k: int) -> Trial:
        if k not in by_index:
            by_index[k] = run_open(model, dep, lengths, _grid(k), slos, requests=requests, cv=cv, seed=seed,
                                   settings=settings, factors=factors)
            trials.append(by_index[k])
        return by_index[k]

    def answer(good: int, bad: int, limit: str | None = None) -> Capacity:
        while bad - good > 1:  # bisect on the grid
            mid = (good + bad) // 2
            if trial(mid).passes:
                good = mid
            else:
                bad = mid
        failed = trial(bad)
        why = limit or (failed.misses[0] if failed.misses else "the queue grows")
        return Capacity(_grid(good), trial(good), why, top, requests, cv, tuple(trials))

    def from_saturation() -> Capacity:
        nonlocal top
        top = saturation_rate(model, dep, lengths, requests=requests, seed=seed, settings=settings, factors=factors)
        low = run_open(model, dep, lengths, top * LOWEST_SHARE, slos, requests=min(requests, TRICKLE_REQUESTS),
                       cv=cv, seed=seed, settings=settings, factors=factors)
        trials.append(low)
        if not low.passes:
            why = low.misses[0] + " even at a trickle of requests" if low.misses else "the queue grows even at a trickle"
            return Capacity(0.0, None, why, top, requests, cv, tuple(trials))
        high = _index(top, down=True)
        if trial(high).passes:  # the replica (nearly) full still meets every target
            return Capacity(_grid(high), trial(high), "the replica is full (no target binds)", top, requests, cv,
                            tuple(trials))
        bad, good = high, high - BRACKET_STEPS  # step down from saturation
        floor = _index(top * LOWEST_SHARE, down=True)
        while good > floor and not trial(good).passes:
            bad, good = good, max(floor, good - BRACKET_STEPS)
        if good == floor and not trial(good).passes:
            return Capacity(0.0, None, "no rate above a trickle meets the targets", top, requests, cv, tuple(trials))
        return answer(good, bad)

    if guess is None or not guess > 0:
        return from_saturation()
    k = _index(guess)
    if trial(k).passes:
        good, bad = k, k + BRACKET_STEPS
        while trial(bad).passes:
            if _grid(bad) > MAX_BRACKET * guess:  # still passing far above the guess: take it as found
                return Capacity(_grid(bad), trial(bad), "not bracketed", top, requests, cv, tuple(trials))
            good, bad = bad, bad + BRACKET_STEPS
        return answer(good, bad)
    bad, good = k, k - BRACKET_STEPS
    while not trial(good).passes:
        if _grid(good) < guess / MAX_BRACKET:
            return from_saturation()
        bad, good = good, good - BRACKET_STEPS
    if bracket_only:  # a rate that meets the targets is all that was asked: not the highest
        return Capacity(_grid(good), trial(good), "a lower bound: not searched further", top, requests, cv,
                        tuple(trials))
    return answer(good, bad)


def sweep(model: Model, dep: Deployment, lengths: LengthSource, slos: tuple[Slo, ...], rates: list[float], *,
          requests: int = DEFAULT_REQUESTS, cv: float = 1.0, seed: int = 0,
          settings: SchedulerSettings | None = None, factors: EngineFactors | None = None) -> list[Trial]:
    """The figures at each of ``rates`` (a latency-against-load curve)."""
    return [run_open(model, dep, lengths, r, slos, requests=requests, cv=cv, seed=seed, settings=settings,
                     factors=factors) for r in rates]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1e3:,.1f} ms"
