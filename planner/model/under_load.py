"""One deployment under a load: the serving simulation (serving.py) run for
`planner predict --load`, summarised over a steady window, with overload
said plainly.

The summary window
------------------
A run starts empty and, once the last request has arrived, drains: neither
end is the steady state a user asks about. So the figures are taken over
[arrival of the request at the 10% mark, arrival of the last request]:

* the warm-up cut is the first 10% of the requests' arrivals, while the
  replica fills from empty (for a closed loop, its clients' first requests,
  all sent at once, 2 of the 20 each sends by default);
* the cool-down cut is everything after the last arrival: an open loop
  drains, and a closed loop has fewer clients left than it was asked for.

With the default request count, a run whose window spans fewer than
MIN_LIFETIMES mean request lifetimes (its e2e) is run again with more
requests (at most DEFAULT_MAX_REQUESTS): a rate of 2,000 requests that
each live 10 s would otherwise still be filling up when the window opens.

A burst is one static batch: its window is the whole run. Where the window
would be empty (a closed loop that sends no more than its first requests),
the whole run is summarised and the window says so.

Overload
--------
An open loop whose arrivals come faster than the replica serves them has no
steady state: its queue, and with it every latency, grows for as long as the
run lasts, so percentiles over a window describe the run's length, not the
load. It is detected in the window: the requests in the system (arrived,
not finished; queued or running) grow by more than 5% of the window's
arrivals, and by 5 requests or more. In steady state that count moves only
by its fluctuation, small beside 5% of the 1,800 or more arrivals of a
window that spans 15 or more request lifetimes (a window still filling up
from the start would look like growth: hence the lifetimes rule). The
rate the replica serves while saturated (output tokens/s over the window's
second half, over the mean output per request) is then its capacity at
these lengths, and the backlog's growth rate (requests/s) is the arrival
rate less that. With the default request count an overloaded rate is run
again with 10,000 requests, so that the replica has filled. Thresholds are policy, stated here, not facts.
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from planner.catalog.schema import EngineFactors, Model, ModelKind
from planner.core.errors import InputError
from planner.model.lengths import Fixed, LengthSource, Lengths, Lognormal, Samples, Uniform
from planner.model.serving import SchedulerSettings, Served, Summary, for_ranks, scheduler_for, simulate
from planner.model.traffic import DEFAULT_MAX_REQUESTS, Burst, LoadForm
from planner.model.workload import Deployment, Shape

WARM_UP_SHARE = 0.10  # of the requests' arrivals cut from the start of the window
OVERLOAD_GROWTH_SHARE = 0.05  # queue growth over the window, as a share of its arrivals
OVERLOAD_MIN_GROWTH = 5  # requests: below this a growing queue is noise
# The window spans at least this many mean request lifetimes (e2e) when the
# request count is the default: requests that straddle its edges, and the
# warm-up (10% of the arrivals, so 1.5 lifetimes or more), then weigh
# about 1/15 or less. Policy, chosen with tests/test_predict_load.py's
# Little's-law check.
MIN_LIFETIMES = 15
# Requests an overloaded rate is run with by default: 2,000 arrivals at four
# times the capacity are over before a 1,024-sequence replica fills.
OVERLOAD_REQUESTS = 10_000


@dataclass(frozen=True)
class Window:
    """The span the figures are taken over (seconds of simulated time)."""

    start_s: float
    end_s: float
    rule: str  # in words, for reports
    lifetimes: float | None = None  # window length over the mean e2e: how many request lifetimes it spans


@dataclass(frozen=True)
class Overload:
    """An open loop the replica cannot keep up with."""

    arrivals_per_s: float  # measured over the window
    served_per_s: float  # finished over the window: the saturated replica's rate
    queue_growth_per_s: float  # requests added to the backlog per second: arrivals - served


@dataclass(frozen=True)
class ServingPrediction:
    """A simulated load on one replica and its summary."""

    load: LoadForm
    requests: int
    requests_defaulted: bool  # the caller named no count: LoadForm.default_requests chose it
    seed: int
    lengths: LengthSource
    settings: SchedulerSettings
    settings_source: str  # where the scheduler knobs came from, in words
    served: Served
    window: Window
    summary: Summary
    overload: Overload | None
    requests_rule: str = "as asked"  # how the request count was chosen, in words

    @property
    def short_window(self) -> bool:
        """The window spans fewer than MIN_LIFETIMES mean request lifetimes:
        the warm-up may still show in its figures."""
        return self.window.lifetimes is not None and self.window.lifetimes < MIN_LIFETIMES

    @property
    def steady(self) -> bool:
        return self.overload is None


def mean_lengths(lengths: LengthSource) -> Shape:
    """Mean input and output tokens, rounded to whole tokens (at least 1):
    what the static figures of a length distribution are computed at."""
    if isinstance(lengths, Samples):
        n = len(lengths.pairs)
        mean_in = sum(p[0] for p in lengths.pairs) / n
        mean_out = sum(p[1] for p in lengths.pairs) / n
    else:
        mean_in, mean_out = lengths.input.mean, lengths.output.mean
    return Shape(max(1, round(mean_in)), max(1, round(mean_out)))


def longest_lengths(lengths: LengthSource) -> Shape | None:
    """The longest request the lengths can draw (input, output), or None
    where a distribution has no upper bound (a lognormal without ``max``)."""
    if isinstance(lengths, Samples):
        return Shape(*max(lengths.pairs, key=sum))

    def most(d: Fixed | Uniform | Lognormal) -> int | None:
        if isinstance(d, Fixed):
            return d.tokens
        if isinstance(d, Uniform):
            return d.high
        return d.most

    top_in, top_out = most(lengths.input), most(lengths.output)
    return None if top_in is None or top_out is None else Shape(top_in, top_out)


def is_fixed(lengths: LengthSource) -> bool:
    return isinstance(lengths, Lengths) and isinstance(lengths.input, Fixed) and isinstance(lengths.output, Fixed)


def settings_for(dep: Deployment, max_num_seqs: int | None = None) -> tuple[SchedulerSettings, str]:
    """The engine's scheduler knobs (``scheduler_for``), with max_num_seqs
    replaced where the user capped concurrent sequences; and their source in
    words. The cap is each scheduler's: an attention-DP replica runs one per
    rank, and its caps add up (``serving.for_ranks``)."""
    engine = dep.engine
    settings = scheduler_for(engine)
    if engine.scheduler is not None:
        source = f"catalog/engines.yaml scheduler of {engine.id}: {engine.scheduler.version}"
    else:
        source = (f"{engine.id} has no catalogued scheduler: its concurrency cap and prefill chunk, "
                  "else an 8,192-token budget (planner/model/serving.py)")
    if max_num_seqs is not None and max_num_seqs != settings.max_num_seqs:
        settings = dataclasses.replace(settings, max_num_seqs=max_num_seqs)
        source += f"; max_num_seqs {max_num_seqs} from --max-batch"
    if dep.dp > 1:
        source += f"; one scheduler per attention-DP rank, {dep.dp} in all"
    return for_ranks(settings, dep.dp), source


def summary_window(served: Served, burst: bool) -> Window:
    """The steady window (see the module docstring)."""
    whole = Window(0.0, served.makespan, "the whole run")
    if burst:
        return dataclasses.replace(whole, rule="the whole run (a burst is one static batch)")
    n = len(served.arrival)
    mark = int(WARM_UP_SHARE * n)
    start, end = served.arrival[mark], served.arrival[-1]
    if not end > start or not any(start <= f <= end for f in served.finish):
        return dataclasses.replace(whole, rule="the whole run (too few requests for a steady window: raise --requests)")
    return Window(start, end, f"from the arrival of request {mark + 1:,} (the first {WARM_UP_SHARE:.0%} warm the "
                              f"replica up) to the last arrival (after it the replica drains)")


def _count_at_or_before(times: Sequence[float], t: float) -> int:
    return bisect_right(times, t)


def detect_overload(served: Served, window: Window) -> Overload | None:
    """Overload of an open loop in ``window`` (see the module docstring), or None."""
    start, end = window.start_s, window.end_s
    span = end - start
    if span <= 0:
        return None
    arrivals = sorted(served.arrival)
    finished = sorted(served.finish)
    arrived_in = _count_at_or_before(arrivals, end) - _count_at_or_before(arrivals, start)
    finished_in = _count_at_or_before(finished, end) - _count_at_or_before(finished, start)
    growth = arrived_in - finished_in  # requests added to those in the system over the window
    if not growth > max(OVERLOAD_GROWTH_SHARE * arrived_in, OVERLOAD_MIN_GROWTH):
        return None
    # What the saturated replica serves: output tokens/s over the window's
    # second half (by then its running set has filled), over the mean output
    # per request. Completions lag: a request admitted late in a short run
    # is still decoding when the run ends.
    middle = start + span / 2
    lo, hi = bisect_right(served.step_end, middle), bisect_right(served.step_end, end)
    mean_output = sum(served.output) / len(served.output)
    served_per_s = sum(served.step_tokens[lo:hi]) / (end - middle) / mean_output
    arrivals_per_s = arrived_in / span
    return Overload(arrivals_per_s, served_per_s, max(0.0, arrivals_per_s - served_per_s))


def serve(
    model: Model,
    dep: Deployment,
    load: LoadForm,
    lengths: LengthSource,
    *,
    requests: int | None = None,
    seed: int = 0,
    max_num_seqs: int | None = None,
    factors: EngineFactors | None = None,
) -> ServingPrediction:
    """Simulate ``load`` on one replica ``dep`` and summarise it over the
    steady window. ``requests`` defaults to ``load.default_requests()``."""
    if model.kind is ModelKind.ENCODER:
        raise InputError(f"{model.id} is an encoder: it generates no tokens, so there is no load to schedule",
                         hint="leave --load out: predict gives its forward-pass time")
    settings, source = settings_for(dep, max_num_seqs)

    def run(n: int | None) -> tuple[Served, Window, Summary, Overload | None]:
        spec = load.load(n)
        served = simulate(model, dep, spec, lengths, seed=seed, settings=settings, factors=factors)
        window = summary_window(served, isinstance(spec, Burst))
        summary = served.summary(window.start_s, window.end_s)
        if summary.e2e is not None and not isinstance(spec, Burst):
            window = dataclasses.replace(window, lifetimes=(window.end_s - window.start_s) / summary.e2e.mean)
        return served, window, summary, detect_overload(served, window) if load.kind == "rate" else None

    served, window, summary, overload = run(requests)
    rule = "as asked" if requests is not None else load.default_rule()
    if requests is None:
        if overload is not None and len(served.arrival) < OVERLOAD_REQUESTS:
            # Overloaded (or a window still filling up, which looks the same):
            # a longer run lets the replica fill and shows which it is.
            served, window, summary, overload = run(OVERLOAD_REQUESTS)
        # Too short a run for its request lifetimes: its warm-up still shows in
        # the window. Run again, longer by the shortfall and a 30% margin (a
        # longer run's lifetimes can be longer still, near capacity: so up to
        # three times).
        for _ in range(3):
            if overload is not None or window.lifetimes is None or window.lifetimes >= MIN_LIFETIMES:
                break
            n = len(served.arrival)
            more = min(DEFAULT_MAX_REQUESTS, math.ceil(n * 1.3 * MIN_LIFETIMES / window.lifetimes))
            if more <= n:
                break
            served, window, summary, overload = run(more)
        n = len(served.arrival)
        if n > load.default_requests():
            rule += (f", raised to {n:,}: the replica is overloaded, and a longer run shows what it serves once full"
                     if overload is not None else
                     f", raised to {n:,} for a window of {MIN_LIFETIMES} or more mean request lifetimes "
                     f"(at most {DEFAULT_MAX_REQUESTS:,})")
    return ServingPrediction(
        load=load, requests=len(served.arrival), requests_defaulted=requests is None, seed=seed, lengths=lengths,
        settings=settings, settings_source=source, served=served, window=window, summary=summary, overload=overload,
        requests_rule=rule,
    )
