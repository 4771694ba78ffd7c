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

A burst is one static batch: its window is the whole run. Where the window
would be empty (a closed loop that sends no more than its first requests),
the whole run is summarised and the window says so.

Overload
--------
An open loop whose arrivals come faster than the replica serves them has no
steady state: its queue, and with it every latency, grows for as long as the
run lasts, so percentiles over a window describe the run's length, not the
load. It is detected in the window by two signs together: the waiting queue
(arrived, not yet admitted) grows by more than 5% of the window's arrivals
(and by 5 requests or more), and fewer requests finish in the window than
95% of those that arrive. In steady state both counts move only by the
queue's fluctuation, which is small beside 5% of some 1,800 arrivals. The
rate the replica serves while saturated (finished requests over the window)
is then its capacity at these lengths, and the backlog's growth rate
(requests/s) is the arrival rate less that. Thresholds are policy, stated here, not facts.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from planner.catalog.schema import EngineFactors, Model, ModelKind
from planner.core.errors import InputError
from planner.model.lengths import Fixed, LengthSource, Lengths, Lognormal, Samples, Uniform
from planner.model.serving import SchedulerSettings, Served, Summary, scheduler_for, simulate
from planner.model.traffic import Burst, LoadForm
from planner.model.workload import Deployment, Shape

WARM_UP_SHARE = 0.10  # of the requests' arrivals cut from the start of the window
OVERLOAD_GROWTH_SHARE = 0.05  # queue growth over the window, as a share of its arrivals
OVERLOAD_MIN_GROWTH = 5  # requests: below this a growing queue is noise
OVERLOAD_SERVED_SHARE = 0.95  # finished / arrived in the window, below which the replica falls behind


@dataclass(frozen=True)
class Window:
    """The span the figures are taken over (seconds of simulated time)."""

    start_s: float
    end_s: float
    rule: str  # in words, for reports


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
    replaced where the user capped concurrent sequences; and their source in words."""
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
    return settings, source


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
    admitted = sorted(served.admitted)
    finished = sorted(served.finish)

    def waiting(t: float) -> int:
        return _count_at_or_before(arrivals, t) - _count_at_or_before(admitted, t)

    arrived_in = _count_at_or_before(arrivals, end) - _count_at_or_before(arrivals, start)
    finished_in = _count_at_or_before(finished, end) - _count_at_or_before(finished, start)
    growth = waiting(end) - waiting(start)
    if (growth > max(OVERLOAD_GROWTH_SHARE * arrived_in, OVERLOAD_MIN_GROWTH)
            and finished_in < OVERLOAD_SERVED_SHARE * arrived_in):
        return Overload(arrived_in / span, finished_in / span, (arrived_in - finished_in) / span)
    return None


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
    spec = load.load(requests)
    served = simulate(model, dep, spec, lengths, seed=seed, settings=settings, factors=factors)
    window = summary_window(served, isinstance(spec, Burst))
    overload = detect_overload(served, window) if load.kind == "rate" else None
    return ServingPrediction(
        load=load, requests=spec.requests, requests_defaulted=requests is None, seed=seed, lengths=lengths,
        settings=settings, settings_source=source, served=served, window=window,
        summary=served.summary(window.start_s, window.end_s), overload=overload,
    )
