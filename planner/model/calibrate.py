"""Fit an engine's efficiency factors to serving measurements, and say how
far off the fitted model is (in sample and held out).

Pure: observations in, factors and errors out. ``planner calibrate`` (a
user's own benchmark files, read by planner/model/measurements.py) and
benchmarks/fit_efficiency.py (the published serving runs) both use it.

An observation is one benchmark run: a model on one replica (GPU, TP,
precision, engine), fixed input and output lengths, a load (closed-loop
concurrency N, as ``vllm bench serve --max-concurrency N`` and GenAI-Perf
``--concurrency N`` drive it; or a static burst of B requests, as offline
batch benchmarks do), and the measured mean TTFT and/or mean TPOT.

Predicting it
-------------
``predict`` runs the serving simulation (planner/model/serving.py) on the
same load (N clients, as benchmarks/serving_accuracy.py replays them): this
gives the reported figures. Inside the optimiser that is too slow (tens of
ms a run, thousands of evaluations), so the search runs on a surrogate: a
steady-state shortcut per run (``proxy``), scaled by the ratio simulation /
shortcut taken at the current factors and retaken after each search round
(``Surrogate``). The shortcuts:
  * "closed-loop", mixed-step engines whose prompt fits one step beside the
    decodes: ``closed_loop.closed_loop`` (tests/test_calibrate.py checks the
    cached copy here against it);
  * "prefill-first" (SGLang; also mixed-step prompts that span steps): a new
    prompt is prefilled in a step of its own before the next decode step.
    With q = N / output completions per decode step, about 1 - e^-q decode
    steps in one are followed by a prefill step (completions per step
    ~ Poisson(q)) carrying q / (1 - e^-q) prompts; TPOT is a decode step plus
    that share of a prefill step; TTFT is the prefill step that carries 1 + q
    prompts (the size bias of the step a prompt lands in), in token-budget
    chunks, plus half a decode step;
  * "queued", more clients than the KV cache holds: the prefill-first
    figures for the clients that fit, plus a wait of (N / running - 1)
    request lifetimes;
  * "burst", a static batch: its prompts prefilled in budget-sized steps in
    order, each waiting for its step, then one decode step of the batch.
The shortcuts only have to move with the factors as the simulation does: the
ratio sets their level.

Fitting
-------
The objective is the sum over runs and metrics of |log(predicted /
measured)|: a 10% error counts the same on a 20 ms TPOT as on a 2 s TTFT.
``fit`` runs a coordinate search (each factor in turn: a grid over its
``BOUNDS``, narrowed around the best point; a few sweeps, as
benchmarks/fit_efficiency.py does) and then a Nelder-Mead polish that moves
factors together, and repeats with fresh ratios.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from planner.catalog.schema import EngineFactors, Model, SchedulerPolicy
from planner.core.errors import InputError, PlannerError
from planner.model import perf, serving, traffic
from planner.model.lengths import fixed
from planner.model.workload import Deployment

# Ranges the factors are searched in (shares of peak, milliseconds, microseconds).
BOUNDS: dict[str, tuple[float, float]] = {
    "bandwidth": (0.2, 1.0),
    "compute": (0.1, 1.0),
    "compute_8bit": (0.1, 1.0),
    "decode_overhead_ms": (0.0, 10.0),
    "prefill_overhead_ms": (0.0, 40.0),
    "allreduce_us": (0.0, 100.0),
    "overlap": (1.0, 12.0),
    "per_sequence_us": (0.0, 200.0),
}
# What a user's serving measurements can move: decode bandwidth and fixed
# cost (TPOT), prefill compute and fixed cost (TTFT). The rest keep the
# catalog's values unless named.
DEFAULT_FREE = ("bandwidth", "compute", "compute_8bit", "decode_overhead_ms", "prefill_overhead_ms")
SIMULATED_REQUESTS = 6  # per client, at least MIN_SIMULATED_REQUESTS: as benchmarks/serving_accuracy.py
MIN_SIMULATED_REQUESTS = 120




@dataclass(frozen=True)
class Observation:
    """One measured run. Seconds; ``ttft_s`` / ``tpot_s`` None where not measured."""

    label: str  # where it came from: "file:row" or a run id
    model: Model
    deployment: Deployment  # batch ignored: the load decides it
    input_len: int
    output_len: int
    concurrency: int  # closed-loop clients, or the burst's size
    ttft_s: float | None
    tpot_s: float | None
    burst: bool = False  # a static batch of ``concurrency`` requests at once, not a closed loop
    runs: int = 1  # measured runs behind the figures (repeats of one configuration merged)
    requests: int | None = None  # requests the run sent, where known; None: as benchmarks/serving_accuracy.py assumes

    @property
    def gpu(self) -> str:
        return self.deployment.gpu.id

    def metrics(self) -> list[tuple[str, float]]:
        out = []
        if self.ttft_s is not None:
            out.append(("ttft", self.ttft_s))
        if self.tpot_s is not None and self.output_len > 1:
            out.append(("tpot", self.tpot_s))
        return out


@dataclass(frozen=True)
class Predicted:
    ttft_s: float
    tpot_s: float


# --- predicting one observation --------------------------------------------------


def simulate(obs: Observation, factors: EngineFactors, requests: int | None = None) -> Predicted:
    """Mean TTFT and TPOT of the observation's load in the serving simulation."""
    n = obs.concurrency
    load: traffic.Load
    if obs.burst:
        load = traffic.Burst(n)
    else:
        load = traffic.Closed(n, requests or obs.requests or max(MIN_SIMULATED_REQUESTS, SIMULATED_REQUESTS * n))
    served = serving.simulate(obs.model, obs.deployment, load, fixed(obs.input_len, obs.output_len), factors=factors)
    s = served.summary()
    ttft = s.ttft.mean if s.ttft is not None else math.nan
    tpot = s.tpot.mean if s.tpot is not None else math.nan
    return Predicted(ttft, tpot)


# --- the shortcuts -------------------------------------------------------------------
#
# Every shortcut is a weighted sum of step times, and a step's time is, for
# fixed token counts, a simple function of the factors: memory time over the
# bandwidth share, GEMM and attention time over their compute shares, the
# all-reduces' fixed latency, the fixed cost per step, merged by the overlap
# p-norm (perf.step). So each step's terms are taken once (three perf.step
# calls at unit factors) and recombined for any factors: the optimiser's
# thousands of evaluations cost arithmetic, not perf.step calls.

_UNIT = EngineFactors(bandwidth=1.0, compute=1.0, compute_8bit=1.0, decode_overhead_ms=0.0, prefill_overhead_ms=0.0,
                      allreduce_us=0.0, overlap=None)
_TERMS: dict[tuple, tuple[Observation, tuple[float, float, float, float, float, bool]]] = {}


def _step_terms(obs: Observation, kwargs: tuple[tuple[str, int], ...]) -> tuple[float, float, float, float, float, bool]:
    """(memory s at full bandwidth, 8-bit GEMM s at full share, 16-bit compute
    s at full share, communication s without the fixed latency, all-reduces
    per step (their count x the latency is the rest), carries prefill)."""
    key = (id(obs), kwargs)
    hit = _TERMS.get(key)
    if hit is not None:
        return hit[1]
    if len(_TERMS) > 200_000:
        _TERMS.clear()
    args = dict(kwargs)
    unit = perf.step(obs.model, obs.deployment, _UNIT, **args)
    half8 = perf.step(obs.model, obs.deployment, _UNIT.model_copy(update={"compute_8bit": 0.5}), **args)
    latency = perf.step(obs.model, obs.deployment, _UNIT.model_copy(update={"allreduce_us": 1.0}), **args)
    gemm8 = half8.compute_s - unit.compute_s  # the 8-bit GEMMs' time at share 1 (doubles at share 0.5)
    # unit.overhead_s is what the engine's fixed costs leave out (the MoE layers' fitted cost): kept with the communication
    terms = (unit.memory_s, gemm8, unit.compute_s - gemm8, unit.communication_s + unit.overhead_s,
             (latency.communication_s - unit.communication_s) / 1e-6, args.get("prefill_tokens", 0) > 0)
    _TERMS[key] = (obs, terms)
    return terms


def _step_s(obs: Observation, factors: EngineFactors, **kwargs: int) -> float:
    """perf.step(...).total_s, from the step's cached terms."""
    memory, gemm8, compute16, comm, allreduces, prefill = _step_terms(obs, tuple(sorted(kwargs.items())))
    m = memory / factors.bandwidth
    c = gemm8 / factors.compute_8bit + compute16 / factors.compute
    roofline = perf.PassTime(m, c, 0.0, 0.0, 0.0, math.inf if factors.overlap is None else factors.overlap).roofline_s
    overhead = factors.prefill_overhead_ms if prefill else factors.decode_overhead_ms
    return roofline + comm + allreduces * factors.allreduce_us * 1e-6 + overhead * 1e-3


def _prefill_s(obs: Observation, factors: EngineFactors, prompts: float, budget: int) -> float:
    """Seconds to prefill ``prompts`` (fractional: interpolated) prompts of
    the observation's input length, in token-budget chunks."""
    def whole(k: int) -> float:
        if k <= 0:
            return 0.0
        tokens = k * obs.input_len
        chunks = max(1, math.ceil(tokens / budget))
        pairs = round(k * obs.input_len * (obs.input_len + 1) / 2 / chunks)
        return chunks * _step_s(obs, factors, prefill_tokens=round(tokens / chunks),
                                prefill_sequences=max(1, round(k / chunks)), prefill_pairs=pairs)

    k = math.floor(prompts)
    f = prompts - k
    return (1 - f) * whole(k) + f * whole(k + 1) if f else whole(k)


def _closed_loop(obs: Observation, factors: EngineFactors) -> Predicted:
    """closed_loop.closed_loop for one fixed (input, output) pair, on cached
    step terms (tests/test_calibrate.py checks the two agree)."""
    n, i, o = obs.concurrency, obs.input_len, obs.output_len
    q = n / o
    context = i + o / 2  # closed_loop's E[input x output] / E[output] + E[output^2] / (2 E[output])

    def tau(prompts: int) -> float:
        whole = round(max(0.0, n - prompts))
        if prompts == 0:
            return _step_s(obs, factors, decodes=whole, decode_context=round(whole * context))
        return _step_s(obs, factors, decodes=whole, decode_context=round(whole * context), prefill_tokens=round(prompts * i),
                       prefill_sequences=prompts, prefill_pairs=round(prompts * i * (i + 1) / 2))

    def mix(prompts: float) -> float:
        k = math.floor(prompts)
        f = prompts - k
        return (1 - f) * tau(k) + f * tau(k + 1) if f else tau(k)

    return Predicted(mix(1 + q), mix(q))


def _prefill_first(obs: Observation, factors: EngineFactors, settings: serving.SchedulerSettings) -> Predicted:
    n, o = obs.concurrency, obs.output_len
    q = n / max(o, 1)
    share = 1 - math.exp(-q)  # decode steps followed by a prefill step
    per_prefill = q / share if share > 0 else 1.0
    context = obs.input_len + o / 2  # a decoding sequence's mean context
    decode = _step_s(obs, factors, decodes=n, decode_context=round(n * context))
    budget = settings.max_num_batched_tokens
    tpot = decode + share * _prefill_s(obs, factors, per_prefill, budget)
    ttft = _prefill_s(obs, factors, 1 + q, budget) + decode / 2  # it arrives during a step: half of one on average
    return Predicted(ttft, tpot)


def _queued(obs: Observation, factors: EngineFactors, settings: serving.SchedulerSettings, capacity: int) -> Predicted:
    """More clients than the KV cache (or max_num_seqs) holds: that many run
    and the rest queue; a queued request waits for its share of the running
    ones' lifetimes (a proxy only: the ratio to the simulation sets its
    level, see ``Surrogate``)."""
    running = max(1, min(obs.concurrency, capacity // (obs.input_len + obs.output_len), settings.max_num_seqs or obs.concurrency))
    n, o = running, obs.output_len
    q = n / max(o, 1)
    context = obs.input_len + o / 2
    decode = _step_s(obs, factors, decodes=n, decode_context=round(n * context))
    budget = settings.max_num_batched_tokens
    tpot = decode + min(q, 1.0) * _prefill_s(obs, factors, max(q, 1.0), budget)
    ttft = _prefill_s(obs, factors, 1 + q, budget) + (obs.concurrency / running - 1) * o * tpot
    return Predicted(ttft, tpot)


def _burst(obs: Observation, factors: EngineFactors, settings: serving.SchedulerSettings) -> Predicted:
    """A static batch that fits: prompts prefilled in budget-sized steps in
    arrival order, then all decode together."""
    b, budget = obs.concurrency, settings.max_num_batched_tokens
    per_step = max(1, budget // obs.input_len)
    t, ttft_sum, left = 0.0, 0.0, b
    while left > 0:
        k = min(per_step, left)
        t += _prefill_s(obs, factors, k, budget)
        ttft_sum += k * t
        left -= k
    context = obs.input_len + obs.output_len / 2
    tpot = _step_s(obs, factors, decodes=b, decode_context=round(b * context))
    return Predicted(ttft_sum / b, tpot)


_CAPACITY: dict[int, tuple[Observation, int]] = {}


def _capacity(obs: Observation) -> int:
    hit = _CAPACITY.get(id(obs))
    if hit is None:
        if len(_CAPACITY) > 100_000:
            _CAPACITY.clear()
        hit = (obs, serving.kv_capacity_tokens(obs.model, obs.deployment, serving.scheduler_for(obs.deployment.engine, obs.deployment.dp)))
        _CAPACITY[id(obs)] = hit
    return hit[1]


def route_of(obs: Observation) -> str:
    """Which shortcut ``proxy`` takes: "closed-loop" (mixed steps, a prompt
    beside the decodes fits one step, the cache holds every client),
    "prefill-first" (also mixed-step prompts that span steps), "queued" (the
    cache or max_num_seqs cannot hold every client) or "burst". Depends on the
    load and the replica, not on the factors."""
    settings = serving.scheduler_for(obs.deployment.engine, obs.deployment.dp)
    capacity = _capacity(obs)
    n = obs.concurrency
    if n * (obs.input_len + obs.output_len) > capacity or (settings.max_num_seqs is not None and n > settings.max_num_seqs):
        return "queued"
    if obs.burst:
        return "burst"
    if settings.policy is SchedulerPolicy.MIXED and obs.input_len + n <= settings.max_num_batched_tokens:
        return "closed-loop"
    return "prefill-first"


def proxy(obs: Observation, factors: EngineFactors, route: str | None = None) -> Predicted:
    """The fast steady-state shortcut for the observation (see the module note)."""
    route = route or route_of(obs)
    settings = serving.scheduler_for(obs.deployment.engine, obs.deployment.dp)
    if route == "closed-loop":
        return _closed_loop(obs, factors)
    if route == "prefill-first":
        return _prefill_first(obs, factors, settings)
    if route == "burst":
        return _burst(obs, factors, settings)
    return _queued(obs, factors, settings, _capacity(obs))


def predict(obs: Observation, factors: EngineFactors) -> Predicted:
    """Mean TTFT and TPOT the serving simulation gives for the observation."""
    return simulate(obs, factors)


def safe_predict(obs: Observation, factors: EngineFactors) -> Predicted:
    """``predict``, with NaNs where the model refuses the run."""
    try:
        return predict(obs, factors)
    except PlannerError:
        return Predicted(math.nan, math.nan)


@dataclass
class Surrogate:
    """The shortcut scaled to the simulation: per observation, the ratios
    simulation / shortcut of TTFT and TPOT at some factors. The shortcuts
    miss what the simulation's schedule does to a given load (clients that
    start together stay in step; queueing) but move with the factors much as
    it does, so with the ratios (refreshed once after a fit) the optimiser
    can call the shortcut instead of the simulation."""

    observations: list[Observation]
    routes: list[str]
    ratios: list[tuple[float, float]]

    @classmethod
    def at(cls, observations: Sequence[Observation], factors_of: Callable[[Observation], EngineFactors],
           requests: Callable[[Observation], int] | None = None) -> "Surrogate":
        """Ratios at ``factors_of(observation)``; ``requests`` (default: as
        reported) sets how many requests each simulation serves."""
        routes = [route_of(o) for o in observations]
        ratios = []
        for o, r in zip(observations, routes):
            f = factors_of(o)
            fast = proxy(o, f, r)
            try:  # by default the run as reported: with fewer requests the start's lockstep wave weighs more
                full = simulate(o, f, requests(o) if requests else None)
            except PlannerError:
                full = fast
            ratios.append((_ratio(full.ttft_s, fast.ttft_s), _ratio(full.tpot_s, fast.tpot_s)))
        return cls(list(observations), routes, ratios)

    def predict(self, index: int, factors: EngineFactors) -> Predicted:
        p = proxy(self.observations[index], factors, self.routes[index])
        rt, rp = self.ratios[index]
        return Predicted(p.ttft_s * rt, p.tpot_s * rp)

    def subset(self, keep: Callable[[Observation], bool]) -> "Surrogate":
        chosen = [i for i, o in enumerate(self.observations) if keep(o)]
        return Surrogate([self.observations[i] for i in chosen], [self.routes[i] for i in chosen],
                         [self.ratios[i] for i in chosen])


def _ratio(full: float, fast: float) -> float:
    if math.isfinite(full) and math.isfinite(fast) and full > 0 and fast > 0:
        return full / fast
    return 1.0


# --- errors -------------------------------------------------------------------------


@dataclass(frozen=True)
class Error:
    """Signed relative errors (predicted / measured - 1) of one metric."""

    metric: str  # "ttft" or "tpot"
    errors: tuple[float, ...]

    @property
    def rows(self) -> int:
        return len(self.errors)

    @property
    def median_abs_pct(self) -> float:
        return 100 * statistics.median(abs(e) for e in self.errors) if self.errors else math.nan

    @property
    def bias_pct(self) -> float:
        return 100 * statistics.median(self.errors) if self.errors else math.nan


def errors(pairs: Sequence[tuple[Observation, Predicted]]) -> dict[str, Error]:
    """Signed relative errors by metric from (observation, prediction) pairs;
    a prediction the model refused (NaN) is left out."""
    by: dict[str, list[float]] = {"ttft": [], "tpot": []}
    for obs, p in pairs:
        for metric, measured in obs.metrics():
            predicted = p.ttft_s if metric == "ttft" else p.tpot_s
            if math.isfinite(predicted) and predicted > 0:
                by[metric].append(predicted / measured - 1)
    return {m: Error(m, tuple(v)) for m, v in by.items() if v}


def log_error(obs: Observation, p: Predicted) -> float:
    """Summed |log(predicted / measured)| over the observation's metrics."""
    total = 0.0
    for metric, measured in obs.metrics():
        predicted = p.ttft_s if metric == "ttft" else p.tpot_s
        if not (math.isfinite(predicted) and predicted > 0):
            return 10.0  # refused: a large, finite penalty keeps the search going
        total += abs(math.log(predicted / measured))
    return total


# --- fitting ------------------------------------------------------------------------


@dataclass
class Fit:
    params: dict[str, float]
    score: float  # mean |log error| per observation (surrogate)
    free: list[str] = field(default_factory=list)  # the factors the observations moved, and so were fitted
    surrogate: Surrogate | None = None


def coordinate_search(objective: Callable[[dict[str, float]], float], start: dict[str, float], names: Sequence[str],
                      sweeps: int = 3, points: int = 11, refines: int = 3) -> dict[str, float]:
    """Minimise ``objective`` over ``names`` (bounded by BOUNDS, keyed by the
    part of a name before "@"): per parameter a grid of ``points`` over its
    range, narrowed around the best value ``refines`` times; ``sweeps`` passes."""
    params = dict(start)
    best = objective(params)
    for _ in range(sweeps):
        for name in names:
            lo0, hi0 = BOUNDS[name.split("@")[0]]
            lo, hi = lo0, hi0
            best_value = params[name]
            for _refine in range(refines):
                for i in range(points):
                    value = lo + (hi - lo) * i / (points - 1)
                    if value == best_value:
                        continue
                    score = objective({**params, name: value})
                    if score < best - 1e-12:
                        best, best_value = score, value
                width = (hi - lo) / (points - 1)
                lo, hi = max(lo0, best_value - width), min(hi0, best_value + width)
            params[name] = best_value
    return params


def nelder_mead(objective: Callable[[dict[str, float]], float], start: dict[str, float], names: Sequence[str],
                evaluations: int = 400) -> dict[str, float]:
    """Polish ``start`` with the Nelder-Mead simplex (Nelder & Mead, Computer
    Journal 7(4), 1965; reflection 1, expansion 2, contraction 1/2, shrink
    1/2) over ``names`` scaled to [0, 1] by BOUNDS and clipped there. It moves
    factors together, which a coordinate search cannot do along a valley
    (a compute share and a fixed cost that trade against each other)."""
    names = list(names)
    if not names:
        return dict(start)
    lows = [BOUNDS[n.split("@")[0]][0] for n in names]
    spans = [BOUNDS[n.split("@")[0]][1] - lo for n, lo in zip(names, lows)]

    def point(x: list[float]) -> dict[str, float]:
        return {**start, **{n: lo + span * min(1.0, max(0.0, v)) for n, lo, span, v in zip(names, lows, spans, x)}}

    def score(x: list[float]) -> float:
        return objective(point(x))

    x0 = [(start[n] - lo) / span for n, lo, span in zip(names, lows, spans)]
    simplex = [x0] + [[v + (0.1 if i == j else 0.0) * (1 if v < 0.9 else -1) for j, v in enumerate(x0)] for i in range(len(x0))]
    scores = [score(x) for x in simplex]
    used = len(simplex)
    while used < evaluations:
        order = sorted(range(len(simplex)), key=scores.__getitem__)
        simplex, scores = [simplex[i] for i in order], [scores[i] for i in order]
        if scores[-1] - scores[0] < 1e-9:
            break
        centre = [sum(x[j] for x in simplex[:-1]) / (len(simplex) - 1) for j in range(len(x0))]
        worst = simplex[-1]
        reflected = [c + (c - w) for c, w in zip(centre, worst)]
        r = score(reflected)
        used += 1
        if r < scores[0]:
            expanded = [c + 2 * (c - w) for c, w in zip(centre, worst)]
            e = score(expanded)
            used += 1
            simplex[-1], scores[-1] = (expanded, e) if e < r else (reflected, r)
        elif r < scores[-2]:
            simplex[-1], scores[-1] = reflected, r
        else:
            contracted = [c + 0.5 * (w - c) for c, w in zip(centre, worst)]
            k = score(contracted)
            used += 1
            if k < scores[-1]:
                simplex[-1], scores[-1] = contracted, k
            else:
                simplex = [simplex[0]] + [[b + 0.5 * (v - b) for b, v in zip(simplex[0], x)] for x in simplex[1:]]
                scores = [scores[0]] + [score(x) for x in simplex[1:]]
                used += len(simplex) - 1
    best = min(range(len(simplex)), key=scores.__getitem__)
    return point(simplex[best]) if scores[best] <= objective(start) else dict(start)


def with_params(base: EngineFactors, params: dict[str, float]) -> EngineFactors:
    """``base`` with the named fields replaced."""
    return base.model_copy(update=dict(params))


def fit(observations: Sequence[Observation], base: EngineFactors, free: Sequence[str] = DEFAULT_FREE,
        sweeps: int = 3, surrogate: Surrogate | None = None, rounds: int = 3) -> Fit:
    """Factors that minimise the summed |log error| of ``observations``,
    starting from (and keeping the fields not in ``free`` of) ``base``:
    ``rounds`` times, a search on the surrogate, then its ratios retaken at
    the result (the search starts where the last ended). A factor that moves
    no observation by more than 1% across its range keeps ``base``'s value.
    With ``surrogate`` given (ratios already taken), one search on it."""
    if not observations:
        raise InputError("no measurements to fit", hint="give files with at least one usable run")
    start = {name: _start_value(base, name) for name in free}
    given = surrogate is not None
    sur = surrogate or Surrogate.at(observations, lambda o: with_params(base, start))
    movable = [name for name in free if _moves(sur, base, start, name)]

    def objective(params: dict[str, float]) -> float:
        factors = with_params(base, params)
        return sum(log_error(o, sur.predict(i, factors)) for i, o in enumerate(sur.observations))

    params = dict(start)
    for round_ in range(1 if given or not movable else rounds):
        if round_:
            fitted = with_params(base, params)
            sur = Surrogate.at(observations, lambda o: fitted)
        if movable:
            params = coordinate_search(objective, params, movable, sweeps=sweeps)
            params = nelder_mead(objective, params, movable)
    params = {k: v for k, v in params.items() if k in movable}
    return Fit(params, objective(params) / len(observations), movable, sur)


def _start_value(base: EngineFactors, name: str) -> float:
    value = getattr(base, name)
    lo, hi = BOUNDS[name]
    if value is None:  # overlap None is the perfect-overlap limit: start from the top of the range
        return hi
    return min(hi, max(lo, float(value)))


def _moves(sur: Surrogate, base: EngineFactors, start: dict[str, float], name: str) -> bool:
    lo, hi = BOUNDS[name]
    for i, o in enumerate(sur.observations):
        low, high = (sur.predict(i, with_params(base, {**start, name: v})) for v in (lo, hi))
        if o.ttft_s is not None and abs(math.log(high.ttft_s / low.ttft_s)) > 0.01:
            return True
        if o.tpot_s is not None and o.output_len > 1 and abs(math.log(high.tpot_s / low.tpot_s)) > 0.01:
            return True
    return False


def k_fold(observations: Sequence[Observation], base: EngineFactors, free: Sequence[str] = DEFAULT_FREE,
           folds: int = 5, sweeps: int = 2, surrogate: Surrogate | None = None) -> list[tuple[Observation, Predicted]]:
    """Each observation predicted (simulation) by factors fitted without its
    fold; fold k holds every ``folds``-th observation from the k-th. The
    surrogate's ratios (taken once, on all observations) serve every fold."""
    sur = surrogate or Surrogate.at(observations, lambda o: base)
    results: list[tuple[Observation, Predicted]] = []
    for k in range(folds):
        held = [o for i, o in enumerate(observations) if i % folds == k]
        if not held or len(held) == len(observations):
            continue
        held_ids = {id(o) for o in held}
        rest = sur.subset(lambda o: id(o) not in held_ids)
        f = fit(rest.observations, base, free, sweeps=sweeps, surrogate=rest)
        factors = with_params(base, f.params)
        results.extend((o, safe_predict(o, factors)) for o in held)
    return results
