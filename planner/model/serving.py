"""Serving one replica under load: a discrete-event simulation of the
engine's iteration-level (continuous-batching) schedule, with percentiles.

What is modelled
----------------
* Requests arrive as the load says (planner/model/traffic.py: a burst,
  closed-loop concurrency, open-loop Poisson or gamma arrivals) with lengths
  drawn as planner/model/lengths.py says, and wait in a first-come queue.
* Each engine iteration ("step") carries the running sequences' decode
  tokens and prefill chunks, as the engine's scheduler knobs allow
  (catalog/engines.yaml ``scheduler:``; vLLM's max_num_seqs and
  max_num_batched_tokens, chunked prefill, and the policy):
  - ``mixed`` (vLLM V1, TensorRT-LLM in-flight batching): every running
    decode first, then unfinished prompts' chunks, then new prompts, until
    the step's token budget is spent;
  - ``prefill-first`` (SGLang without --enable-mixed-chunk): a step prefills
    (unfinished prompts, then new ones) whenever there is a prompt to
    prefill, else it decodes every running sequence.
  Without chunked prefill a prompt is prefilled whole in one step; one
  longer than the budget runs alone, in budget-sized passes (as
  ``perf.prefill`` costs it: TensorRT-LLM refuses such a prompt unless
  chunked context is on). A step's first new prompt is admitted beside the
  running decodes when it fits the budget on its own, though the two
  together exceed it: counting the decodes against it, a prompt near the
  budget (8,192 tokens against TensorRT-LLM's default max_num_tokens of
  8,192) would wait until every running request finished, one request at a
  time, which is not what measured engines do (silicon-hopper's 8,192-token
  TensorRT-LLM runs on H200: TPOT grows from 9 to 66 ms with concurrency,
  TTFT 0.4-2.9 s); a deployment that serves such prompts raises
  max_num_tokens by the running batch, as this assumes.
* A step lasts ``perf.step``: the same fitted roofline as ``perf.timing``
  (weights read once per step, KV reads and attention FLOPs from the sum of
  contexts and each chunk's causal pairs, TP all-reduces, PP stages).
  Decode-only steps are evaluated in closed form from two ``perf.step``
  calls per decode count (their time is exactly linear in the summed
  context up to the roofline merge), so there is no bucketing error.
* KV cache: capacity in tokens = (usable memory - weights - activations -
  runtime) / KV bytes per token, from ``perf.memory`` at the scheduler's
  largest step. A request is admitted only when a running slot is free and
  the cache has room, by the engine's ``admission``:
  - ``reserve`` (TensorRT-LLM's default GUARANTEED_NO_EVICT; SGLang, whose
    admission reserves an estimate of the remaining outputs, at its
    conservative end): room for the WHOLE final context (input + output),
    so nothing is ever preempted;
  - ``on-demand`` (vLLM): room for the prompt (and this step's decode
    tokens); each decode token then takes a slot, and when a step's decode
    tokens do not fit, the latest admitted request is preempted: its KV is
    freed, it goes back to the head of the queue, and when readmitted it
    prefills its input plus the tokens it had generated (recompute), whose
    last position samples its next token. No new request is admitted in a
    step that preempted (as vLLM V1's scheduler does).
* Per request: queue wait (arrival to admission; a request that arrives
  during a step waits at least for that step to end), TTFT (arrival to the
  end of the step that finishes its prompt: the first token is sampled
  there), TPOT (mean gap between its later tokens), each inter-token
  latency, e2e.
* Checked special cases (tests/test_serving.py): at closed-loop concurrency
  1 TTFT and TPOT are ``perf.timing``'s at batch 1; C clients with equal
  lengths whose C prompts fit one step run in lockstep static batches,
  whose tokens/s is ``perf.timing``'s throughput at batch C (but whose TTFT
  is the whole batch's prefill, not one prompt's).
* Equal lengths keep whatever grouping the start gave: clients that start
  together finish in the same step and resend together, for ever. Measured
  fixed-length runs drift apart (benchmarks/serving_accuracy.py), so their
  TTFT is overestimated here; ``Closed.stagger_s`` spreads the start.

What is not modelled: prefix caching, speculative decoding, swapping KV to
host memory, SGLang's retraction of running requests, KV block rounding
(16-token pages), CPU scheduling overlap and API-server time (tokenising,
detokenising, network), priority or length-aware scheduling, disaggregated
prefill, more than one replica (a load balancer is above this), limits on
how many prompts may be partly prefilled at once.

Little's law (Little, Operations Research 9(3), 1961): over a window in
steady state, mean requests in the system = throughput (requests/s) x mean
time in the system (e2e). ``Served.summary`` measures the three
independently, so the law is a check of the simulation (tests/test_serving.py).

Percentiles are nearest-rank (the smallest value with at least p of the
weight at or below it), over requests that finish inside the summary window;
ITL over every token gap in the window, weighted by how many sequences saw it.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from planner.catalog.schema import Engine, EngineFactors, KvAdmission, Model, ModelKind, SchedulerPolicy
from planner.core.errors import InputError
from planner.model import perf
from planner.model.lengths import LengthSource
from planner.model.traffic import Burst, Closed, Load, Open
from planner.model.workload import Deployment, Shape

# Token budget per step for an engine whose catalog entry has no scheduler
# block and no prefill chunk: a policy default, vLLM V1's on large GPUs.
DEFAULT_TOKEN_BUDGET = 8192


@dataclass(frozen=True)
class SchedulerSettings:
    """The knobs the simulation obeys (see ``scheduler_for``)."""

    max_num_seqs: int | None  # None: only the KV cache limits running sequences
    max_num_batched_tokens: int
    chunked_prefill: bool
    policy: SchedulerPolicy
    admission: KvAdmission = KvAdmission.RESERVE
    # A decode worker of disaggregated pools: each prompt's KV cache arrives
    # from a prefill worker (planner/model/disaggregated.py), so admitting a
    # request takes cache and a step's token budget but no step time.
    prompts_cached: bool = False

    def __post_init__(self) -> None:
        if self.max_num_seqs is not None and self.max_num_seqs < 1:
            raise InputError(f"max_num_seqs {self.max_num_seqs} must be at least 1")
        if self.max_num_batched_tokens < 1:
            raise InputError(f"max_num_batched_tokens {self.max_num_batched_tokens} must be at least 1")


def scheduler_for(engine: Engine, ranks: int = 1) -> SchedulerSettings:
    """The engine's catalogued scheduler, or the stated default for an engine
    without one: its concurrency cap (``max_batch``) as max_num_seqs, its
    prefill chunk as the token budget with chunked prefill (else 8,192 tokens
    and whole prompts), and mixed steps when it chunks, prefill-first when not
    (an engine that prefills whole prompts runs them apart from decodes).

    A replica of ``ranks`` attention data-parallel ranks runs one scheduler
    per rank, so its caps are ``ranks`` times one's."""
    s = engine.scheduler
    if s is not None:
        settings = SchedulerSettings(s.max_num_seqs, s.max_num_batched_tokens, s.chunked_prefill, s.policy, s.admission)
    else:
        chunk = engine.prefill_chunk_tokens
        settings = SchedulerSettings(
            max_num_seqs=engine.max_batch,
            max_num_batched_tokens=chunk or DEFAULT_TOKEN_BUDGET,
            chunked_prefill=chunk is not None,
            policy=SchedulerPolicy.MIXED if chunk else SchedulerPolicy.PREFILL_FIRST,
        )
    return for_ranks(settings, ranks)


def for_ranks(settings: SchedulerSettings, ranks: int) -> SchedulerSettings:
    """One rank's scheduler knobs as a replica of ``ranks`` attention-DP ranks
    sees them: each rank schedules its own, so the caps add up."""
    if ranks == 1:
        return settings
    seqs = None if settings.max_num_seqs is None else settings.max_num_seqs * ranks
    return replace(settings, max_num_seqs=seqs, max_num_batched_tokens=settings.max_num_batched_tokens * ranks)


def kv_capacity_tokens(model: Model, dep: Deployment, settings: SchedulerSettings) -> int:
    """Tokens the replica's KV cache holds: what the most loaded GPU has left
    after weights, the activations of the largest step (the token budget,
    logits for max_num_seqs sequences) and the runtime, over KV bytes per token."""
    batch = settings.max_num_seqs or 1
    # the largest step carries the token budget spread over the sequences (an
    # engine that does not chunk prompts still never steps more than its
    # budget), and logits for every sequence
    per_sequence = max(1, settings.max_num_batched_tokens // batch)
    mem = perf.memory(model, dep, Shape(per_sequence, 1), batch=batch)
    free = mem.capacity_per_gpu - mem.weights_per_gpu - mem.activations_per_gpu - mem.runtime_per_gpu
    per_token = perf.kv_bytes_per_token_per_gpu(model, dep)
    if free <= 0 or per_token <= 0:
        raise InputError(f"{model.id} on {dep.gpus} x {dep.gpu.id}: weights and activations leave no room for a KV cache",
                         hint="use more GPUs per replica, a smaller precision or a smaller token budget")
    return int(free // per_token) * dep.dp  # each attention-DP rank caches its own sequences


# --- step cost ----------------------------------------------------------------------


class StepCost:
    """Seconds per step, memoised. Decode-only steps: memory and compute time
    are linear in the summed context, so two ``perf.step`` evaluations per
    decode count give the exact line (tests compare with ``perf.step``);
    steps with prefill call ``perf.step`` directly."""

    def __init__(self, model: Model, dep: Deployment, factors: EngineFactors):
        self.model, self.dep, self.factors = model, dep, factors
        self._lines: dict[int, tuple[float, float, float, float, float, float]] = {}

    def decode(self, decodes: int, context_sum: int) -> float:
        line = self._lines.get(decodes)
        if line is None:
            probe = 1024 * decodes
            a = perf.step(self.model, self.dep, self.factors, decodes=decodes, decode_context=0)
            b = perf.step(self.model, self.dep, self.factors, decodes=decodes, decode_context=probe)
            line = (a.memory_s, (b.memory_s - a.memory_s) / probe, a.compute_s, (b.compute_s - a.compute_s) / probe,
                    a.communication_s + a.overhead_s, a.overlap)
            self._lines[decodes] = line
        m0, m1, c0, c1, fixed, overlap = line
        memory, compute = m0 + m1 * context_sum, c0 + c1 * context_sum
        # PassTime.roofline_s, inlined: this runs once per simulated decode step
        big = memory if memory > compute else compute
        if overlap == math.inf or big <= 0:
            return big + fixed
        return big * ((memory / big) ** overlap + (compute / big) ** overlap) ** (1 / overlap) + fixed

    def mixed(self, decodes: int, context_sum: int, tokens: int, sequences: int, pairs: int, offset: int) -> float:
        return perf.step(self.model, self.dep, self.factors, decodes=decodes, decode_context=context_sum,
                         prefill_tokens=tokens, prefill_sequences=sequences, prefill_pairs=pairs,
                         prefill_offset=offset).total_s


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    """Seconds."""

    mean: float
    p50: float
    p90: float
    p99: float
    count: int  # values, or their total weight when weighted


def percentiles(values: Sequence[float], weights: Sequence[float] | None = None) -> Percentiles | None:
    """Nearest-rank percentiles (weighted when ``weights`` are given); None for no values."""
    if not values:
        return None
    w = [1.0] * len(values) if weights is None else list(weights)
    pairs = sorted(zip(values, w))
    total = sum(w)
    if total <= 0:
        return None
    marks = [0.5 * total, 0.9 * total, 0.99 * total]
    found: list[float] = []
    acc = 0.0
    i = 0
    for value, weight in pairs:
        acc += weight
        while i < 3 and acc >= marks[i] * (1 - 1e-12):
            found.append(value)
            i += 1
        if i == 3:
            break
    while len(found) < 3:
        found.append(pairs[-1][0])
    mean = sum(v * x for v, x in pairs) / total
    return Percentiles(mean, found[0], found[1], found[2], round(total))


@dataclass(frozen=True)
class Summary:
    """Figures over a window [start, end] of simulated time (seconds)."""

    start: float
    end: float
    requests: int  # finished inside the window
    queue_wait: Percentiles | None
    ttft: Percentiles | None
    tpot: Percentiles | None  # requests with at least two output tokens
    itl: Percentiles | None
    e2e: Percentiles | None
    requests_per_s: float
    tokens_per_s: float  # output tokens emitted in the window / its length
    mean_concurrency: float  # time-average of requests in the system (queued or running)
    mean_running: float  # time-average of requests admitted and unfinished


@dataclass(frozen=True)
class Served:
    """Everything one simulation recorded; ``summary()`` turns it into figures."""

    arrival: tuple[float, ...]
    admitted: tuple[float, ...]
    first_token: tuple[float, ...]
    finish: tuple[float, ...]
    input: tuple[int, ...]
    output: tuple[int, ...]
    step_end: tuple[float, ...]  # end time of each step, increasing
    step_tokens: tuple[int, ...]  # output tokens each step emitted
    step_decodes: tuple[int, ...]
    itl_time: tuple[float, ...]  # when each ITL sample ended (increasing)
    itl_value: tuple[float, ...]
    itl_weight: tuple[int, ...]  # sequences that saw that gap
    kv_capacity: int  # tokens
    settings: SchedulerSettings
    preemptions: int = 0  # requests preempted (on-demand admission) and recomputed later

    @property
    def makespan(self) -> float:
        return max(self.finish) if self.finish else 0.0

    def summary(self, start: float = 0.0, end: float | None = None) -> Summary:
        end = self.makespan if end is None else end
        if not end > start:
            raise InputError(f"summary window [{start:g}, {end:g}] s is empty", hint="give end > start")
        span = end - start
        done = [i for i, f in enumerate(self.finish) if start <= f <= end]
        tpot = [(self.finish[i] - self.first_token[i]) / (self.output[i] - 1) for i in done if self.output[i] > 1]
        lo, hi = bisect_left(self.itl_time, start), bisect_right(self.itl_time, end)
        s_lo, s_hi = bisect_left(self.step_end, start), bisect_right(self.step_end, end)

        def overlap(a: float, b: float) -> float:
            return max(0.0, min(b, end) - max(a, start))

        in_system = sum(overlap(a, f) for a, f in zip(self.arrival, self.finish))
        running = sum(overlap(a, f) for a, f in zip(self.admitted, self.finish))
        return Summary(
            start=start,
            end=end,
            requests=len(done),
            queue_wait=percentiles([self.admitted[i] - self.arrival[i] for i in done]),
            ttft=percentiles([self.first_token[i] - self.arrival[i] for i in done]),
            tpot=percentiles(tpot),
            itl=percentiles(self.itl_value[lo:hi], self.itl_weight[lo:hi]),
            e2e=percentiles([self.finish[i] - self.arrival[i] for i in done]),
            requests_per_s=len(done) / span,
            tokens_per_s=sum(self.step_tokens[s_lo:s_hi]) / span,
            mean_concurrency=in_system / span,
            mean_running=running / span,
        )


# --- the simulation -----------------------------------------------------------------


def simulate(
    model: Model,
    dep: Deployment,
    load: Load,
    lengths: LengthSource,
    *,
    seed: int = 0,
    settings: SchedulerSettings | None = None,
    factors: EngineFactors | None = None,
) -> Served:
    """Serve ``load`` on one replica (``dep``; its ``batch`` is ignored: the
    scheduler decides the batch each step). Deterministic for a given seed."""
    if model.kind is ModelKind.ENCODER:
        raise InputError(f"{model.id} is an encoder: it generates no tokens to schedule", hint="use predict for encoders")
    perf.check_deployment(model, dep)
    settings = settings or scheduler_for(dep.engine, dep.dp)
    factors = factors or dep.engine.factors_for(dep.gpu)
    capacity = kv_capacity_tokens(model, dep, settings)
    n = load.requests
    length_rng = random.Random(f"lengths-{seed}")
    drawn = [lengths.sample(length_rng) for _ in range(n)]
    inputs = [d[0] for d in drawn]
    outputs = [d[1] for d in drawn]
    longest = max(i + o for i, o in drawn)
    if longest > capacity // dep.dp:  # a request is cached whole on one attention-DP rank
        raise InputError(f"a request of {longest:,} tokens does not fit the KV cache of {capacity // dep.dp:,} tokens "
                         f"({model.id} on {dep.gpus} x {dep.gpu.id})",
                         hint="shorten the requests or give the replica more memory")
    if isinstance(load, Open):
        arrivals = load.arrivals(random.Random(f"arrivals-{seed}"))
    elif isinstance(load, Burst):
        arrivals = [0.0] * n
    else:
        first = min(load.concurrency, n)
        arrivals = [i * load.stagger_s for i in range(first)] + [math.inf] * (n - first)
    return _Simulation(StepCost(model, dep, factors), settings, capacity, inputs, outputs, arrivals,
                       closed=isinstance(load, Closed)).run()


class _Simulation:
    def __init__(self, cost: StepCost, settings: SchedulerSettings, capacity: int, inputs: list[int], outputs: list[int],
                 arrivals: list[float], closed: bool):
        self.cost, self.settings, self.capacity = cost, settings, capacity
        self.inputs, self.outputs = inputs, outputs
        self.arrival = arrivals  # closed loop: inf until the request is sent
        self.closed = closed

    def run(self) -> Served:
        s = self.settings
        n = len(self.inputs)
        inputs, outputs, arrival, capacity = self.inputs, self.outputs, self.arrival, self.capacity
        budget_max = s.max_num_batched_tokens
        max_seqs = s.max_num_seqs or n
        mixed = s.policy is SchedulerPolicy.MIXED
        reserve = s.admission is KvAdmission.RESERVE
        cost = self.cost
        sent = n if not self.closed else sum(1 for a in arrival if a < math.inf)
        next_arrival = 0  # arrivals are in request order and non-decreasing
        waiting: deque[int] = deque()
        prefilling: deque[int] = deque()  # admitted, prompt unfinished, in admission order
        active: dict[int, None] = {}  # admitted and unfinished, in admission order (the last is preempted first)
        prompt = list(inputs)  # tokens to prefill: the input, or after a preemption input + generated (recompute)
        generated = [0] * n  # output tokens emitted before the current prefill
        prefilled = [0] * n
        admitted = [math.nan] * n
        first_token = [math.nan] * n
        finish = [math.nan] * n
        last_token = [0.0] * n  # of a preempted request: when it emitted its last token
        joined = [0] * n  # decode steps done when the request started decoding
        epoch = [0] * n  # bumped at each preemption: stale entries of ``ends`` are skipped
        completed = 0  # requests finished in this step (closed loop: each sends the next)
        kv_used = 0  # tokens held or reserved
        preemptions = 0
        # decoding sequences, kept as sums: a sequence that joined after decode
        # step D0 with a prompt of P tokens has context P + 1 + (D - D0) at decode step D
        decoding = 0
        context_base = 0  # sum of P + 1 - D0 over decoding sequences
        decode_steps = 0
        ends: list[tuple[int, int, int]] = []  # (decode step after which it finishes, request, epoch)
        fresh: dict[int, float] = {}  # decoding sequences that have not decoded yet: their last token's time
        last_decode_end = 0.0
        t = 0.0
        finished = 0
        step_end: list[float] = []
        step_tokens: list[int] = []
        step_decodes: list[int] = []
        itl_time: list[float] = []
        itl_value: list[float] = []
        itl_weight: list[int] = []

        def held(r: int) -> int:
            """KV tokens request r holds (on-demand) or has reserved."""
            if reserve:
                return inputs[r] + outputs[r]
            if r in prefilling:
                return prompt[r]
            return prompt[r] + decode_steps - joined[r]

        def retire(r: int) -> None:
            nonlocal kv_used, finished, completed
            kv_used -= held(r)
            del active[r]
            finish[r] = t
            finished += 1
            completed += 1

        while finished < n:
            while next_arrival < n and arrival[next_arrival] <= t:
                waiting.append(next_arrival)
                next_arrival += 1
            # --- on demand: make room for this step's decode tokens, preempting
            # the latest admitted request (recompute) while the cache is short
            preempted = False
            if not reserve and decoding and (mixed or not prefilling) and kv_used + decoding > capacity:
                while kv_used + decoding > capacity:
                    r = next(reversed(active))
                    kv_used -= held(r)
                    del active[r]
                    if r in prefilling:
                        prefilling.remove(r)
                    else:
                        decoding -= 1
                        context_base -= prompt[r] + 1 - joined[r]
                        generated[r] += 1 + decode_steps - joined[r]
                        last_token[r] = fresh.pop(r, last_decode_end)
                        epoch[r] += 1
                        prompt[r] = inputs[r] + generated[r]
                    prefilled[r] = 0
                    waiting.appendleft(r)
                    preemptions += 1
                    preempted = True
            # --- compose the step
            decodes = 0
            chunks: list[tuple[int, int]] = []  # (request, tokens)
            budget = budget_max
            if mixed and decoding:
                decodes = decoding
                budget = max(0, budget - decoding)
            for r in prefilling:  # unfinished prompts first, oldest first
                if budget <= 0:
                    break
                take = min(prompt[r] - prefilled[r], budget)
                chunks.append((r, take))
                budget -= take
            while waiting and budget > 0 and len(active) < max_seqs and not preempted:
                r = waiting[0]
                need = inputs[r] + outputs[r] if reserve else prompt[r]
                if kv_used + need + (decodes if not reserve else 0) > capacity:
                    break  # first come, first served: later requests wait behind it
                if s.chunked_prefill:
                    take = min(prompt[r], budget)
                elif prompt[r] <= budget or (not chunks and prompt[r] <= budget_max):
                    # unchunked: the whole prompt. The step's first prompt
                    # rides beside the decodes when it fits the budget alone:
                    # counted against decodes too, a prompt near the budget
                    # would wait for every decode to finish (one request at
                    # a time); operators raise the budget to avoid that
                    # (see the module note).
                    take = prompt[r]
                elif not chunks and budget == budget_max:
                    # Longer than the budget: it runs alone, in budget-sized
                    # passes, as perf.prefill costs it (TensorRT-LLM refuses a
                    # prompt over max_num_tokens unless chunked context is on).
                    take = budget_max
                else:
                    break
                waiting.popleft()
                if math.isnan(admitted[r]):
                    admitted[r] = t
                kv_used += need
                active[r] = None
                prefilling.append(r)
                chunks.append((r, take))
                budget -= take
            if not mixed and not chunks and decoding:
                decodes = decoding
            if not decodes and not chunks:
                if next_arrival < n and arrival[next_arrival] < math.inf:
                    t = max(t, arrival[next_arrival])
                    continue
                raise RuntimeError("serving simulation stalled: nothing runs and nothing can be admitted")
            # --- its duration
            context_sum = context_base + decodes * decode_steps if decodes else 0
            if chunks and s.prompts_cached:
                t += cost.decode(decodes, context_sum) if decodes else 0.0
            elif chunks:
                tokens = pairs = offset = 0
                for r, take in chunks:
                    tokens += take
                    pairs += perf.prefill_pairs(take, prefilled[r])
                    offset += prefilled[r]
                t += cost.mixed(decodes, context_sum, tokens, len(chunks), pairs, offset)
            else:
                t += cost.decode(decodes, context_sum)
            emitted = decodes
            # --- decode bookkeeping
            if decodes:
                decode_steps += 1
                if not reserve:
                    kv_used += decodes  # each decoding sequence cached one more token
                old = decodes - len(fresh)
                if old:
                    itl_time.append(t)
                    itl_value.append(t - last_decode_end)
                    itl_weight.append(old)
                for gap_start in fresh.values():
                    itl_time.append(t)
                    itl_value.append(t - gap_start)
                    itl_weight.append(1)
                fresh = {}
                last_decode_end = t
                while ends and ends[0][0] <= decode_steps:
                    _, r, stamp = heapq.heappop(ends)
                    if stamp != epoch[r]:
                        continue  # preempted since: its new entry decides
                    decoding -= 1
                    context_base -= prompt[r] + 1 - joined[r]
                    retire(r)
            # --- prefill bookkeeping: a finished prompt samples a token
            for r, take in chunks:
                prefilled[r] += take
                if prefilled[r] < prompt[r]:
                    continue
                # only a step's last chunk can leave its prompt unfinished, so
                # prompts finish in admission order
                assert prefilling[0] == r
                prefilling.popleft()
                emitted += 1
                if generated[r] == 0:
                    first_token[r] = t
                else:  # resumed after a preemption: the gap since its last token
                    itl_time.append(t)
                    itl_value.append(t - last_token[r])
                    itl_weight.append(1)
                joined[r] = decode_steps  # (held() counts from here)
                if generated[r] + 1 == outputs[r]:
                    retire(r)
                    continue
                decoding += 1
                context_base += prompt[r] + 1 - decode_steps
                heapq.heappush(ends, (decode_steps + outputs[r] - generated[r] - 1, r, epoch[r]))
                fresh[r] = t
            assert 0 <= kv_used <= capacity, "KV accounting broke"
            step_end.append(t)
            step_tokens.append(emitted)
            step_decodes.append(decodes)
            # --- closed loop: each completion sends the next request now
            if self.closed:
                while completed and sent < n:
                    completed -= 1
                    arrival[sent] = t
                    sent += 1
            completed = 0

        assert kv_used == 0 and not active, "requests left holding KV"
        return Served(
            arrival=tuple(arrival), admitted=tuple(admitted), first_token=tuple(first_token),
            finish=tuple(finish), input=tuple(inputs), output=tuple(outputs), step_end=tuple(step_end),
            step_tokens=tuple(step_tokens), step_decodes=tuple(step_decodes), itl_time=tuple(itl_time),
            itl_value=tuple(itl_value), itl_weight=tuple(itl_weight), kv_capacity=self.capacity, settings=self.settings,
            preemptions=preemptions,
        )
