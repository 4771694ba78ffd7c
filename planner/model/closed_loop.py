"""Steady state of a closed loop at concurrency C without simulating every
request: an analytical shortcut for the serving simulation, checked against
it (tests/test_serving.py, within the tolerance stated there).

In steady state with mixed steps (planner/model/serving.py), C requests are
always in flight. A completion sends the next request at the end of a step;
it is admitted and prefilled in the next step (its prompt fits the step's
token budget beside the decodes: refused unless 99% of prompts do), then decodes one token per step. So a request lives
output steps, and with mean step time tau:

    e2e = TTFT + (E[output] - 1) x tau,   throughput X = C / e2e   (Little's law)

Per step, prompts start at q = C / E[output] (completions per step), each
bringing E[input] prefill tokens and E[input(input+1)/2] causal pairs; the
other C - q sequences decode. A sequence found decoding at a random step is
length-biased: its input averages E[input x output] / E[output] and its
generated tokens E[output^2] / (2 E[output]) (renewal theory: the age of a
renewal interval). A step carries k = floor(q) or k + 1 prompts, so tau is
the mix (1 - f) tau(k) + f tau(k + 1), f = q - k, each tau from
``perf.step``. TPOT is tau. TTFT is the duration of the step that carries
the prompt, which also carries the prompts of the requests that finished
alongside the one whose completion sent it: about 1 + q prompts.

Moments of the lengths: exact for file samples; for distributions, from
20,000 seeded draws (so lognormal rounding and caps are included).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from planner.catalog.schema import EngineFactors, Model, SchedulerPolicy
from planner.core.errors import InputError
from planner.model import perf
from planner.model.lengths import LengthSource, Samples
from planner.model.serving import SchedulerSettings, kv_capacity_tokens, scheduler_for
from planner.model.workload import Deployment

MOMENT_DRAWS = 20_000


@dataclass(frozen=True)
class ClosedLoop:
    """Mean figures of a closed loop in steady state. Seconds, tokens/s."""

    concurrency: int
    ttft_s: float
    tpot_s: float
    e2e_s: float
    requests_per_s: float
    tokens_per_s: float  # output tokens


@dataclass(frozen=True)
class _Moments:
    input: float
    output: float
    output_sq: float
    input_output: float
    pairs: float  # E[input (input + 1) / 2]
    p99_input: int


# Moments by the identity of the length source they were drawn from: a
# planner scores thousands of steady states of one source.
_MOMENTS: dict[int, tuple[LengthSource, _Moments]] = {}


def length_moments(lengths: LengthSource) -> _Moments:
    hit = _MOMENTS.get(id(lengths))
    if hit is not None and hit[0] is lengths:
        return hit[1]
    if len(_MOMENTS) >= 16:
        _MOMENTS.clear()
    moments = _draw_moments(lengths)
    _MOMENTS[id(lengths)] = (lengths, moments)
    return moments


def _draw_moments(lengths: LengthSource) -> _Moments:
    if isinstance(lengths, Samples):
        pairs = list(lengths.pairs)
    else:
        rng = random.Random("closed-loop-moments")
        pairs = [lengths.sample(rng) for _ in range(MOMENT_DRAWS)]
    n = len(pairs)
    return _Moments(
        input=sum(i for i, _ in pairs) / n,
        output=sum(o for _, o in pairs) / n,
        output_sq=sum(o * o for _, o in pairs) / n,
        input_output=sum(i * o for i, o in pairs) / n,
        pairs=sum(i * (i + 1) / 2 for i, _ in pairs) / n,
        p99_input=sorted(i for i, _ in pairs)[min(n - 1, math.ceil(0.99 * n) - 1)],
    )


def closed_loop(
    model: Model,
    dep: Deployment,
    concurrency: int,
    lengths: LengthSource,
    *,
    settings: SchedulerSettings | None = None,
    factors: EngineFactors | None = None,
    kv_capacity: int | None = None,
) -> ClosedLoop:
    """Steady-state means of ``concurrency`` clients on one replica (see the
    module note). ``kv_capacity``: the replica's KV cache in tokens, when the
    caller has it (``serving.kv_capacity_tokens``)."""
    settings = settings or scheduler_for(dep.engine, dep.dp)
    factors = factors or dep.engine.factors_for(dep.gpu)
    if settings.policy is not SchedulerPolicy.MIXED:
        raise InputError("the closed-loop shortcut models mixed steps only", hint="simulate prefill-first engines")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"concurrency {concurrency!r} must be a whole number of at least 1")
    m = length_moments(lengths)
    if settings.max_num_seqs is not None and concurrency > settings.max_num_seqs:
        raise InputError(f"concurrency {concurrency} exceeds max_num_seqs {settings.max_num_seqs}: requests would queue",
                         hint="simulate to see the queue")
    capacity = kv_capacity_tokens(model, dep, settings) if kv_capacity is None else kv_capacity
    if concurrency * (m.input + m.output) > capacity:
        raise InputError(f"{concurrency} requests of {m.input + m.output:,.0f} tokens on average overflow the KV cache "
                         f"of {capacity:,} tokens: requests would queue", hint="simulate to see the queue")
    if m.p99_input + concurrency > settings.max_num_batched_tokens:
        raise InputError(f"p99 prompts of {m.p99_input:,} tokens beside {concurrency} decodes exceed the token budget "
                         f"of {settings.max_num_batched_tokens:,}: prefill would span steps", hint="simulate instead")

    q = concurrency / m.output  # prompts started per step
    context = m.input_output / m.output + m.output_sq / (2 * m.output)  # a decoding sequence's mean context

    def tau(prompts: int) -> float:
        decodes = max(0.0, concurrency - prompts)
        whole = round(decodes)
        if prompts == 0:
            return perf.step(model, dep, factors, decodes=whole, decode_context=round(whole * context)).total_s
        return perf.step(model, dep, factors, decodes=whole, decode_context=round(whole * context),
                         prefill_tokens=round(prompts * m.input), prefill_sequences=prompts,
                         prefill_pairs=round(prompts * m.pairs)).total_s

    def mix(prompts: float) -> float:  # tau is near linear in the prompt count: interpolate
        k = math.floor(prompts)
        f = prompts - k
        return (1 - f) * tau(k) + f * tau(k + 1) if f else tau(k)

    step_s = mix(q)
    # the step that carries a given prompt also carries the prompts of the
    # other requests that finished in the step before it: about Poisson(q)
    # more, so 1 + q prompts on average (size bias of the step it lands in)
    ttft = mix(1 + q)
    e2e = ttft + (m.output - 1) * step_s
    rate = concurrency / e2e
    return ClosedLoop(concurrency, ttft, step_s, e2e, rate, rate * m.output)
