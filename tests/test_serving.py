"""The serving simulation: one engine step against perf's passes, and the
laws and orderings any queue served this way must obey."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from planner.core.errors import InputError
from planner.model import perf, traffic
from planner.model.lengths import Lengths, Lognormal, Uniform, fixed
from planner.model.serving import SchedulerSettings, StepCost, kv_capacity_tokens, scheduler_for, simulate
from planner.catalog.schema import KvAdmission, SchedulerPolicy
from planner.model.workload import Deployment, Shape

EXACT = 1e-9


def _dep(catalog, model="llama-3.1-8b", gpu="h100-sxm", precision="bf16", kv="fp16", engine="vllm", tp=1, pp=1, util=None):
    return Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision(precision), kv_precision=catalog.precision(kv),
                      engine=catalog.engine(engine), tp=tp, pp=pp, memory_utilization=util)


# --- one step -----------------------------------------------------------------------

CASES = [("llama-3.1-8b", 1, 1), ("llama-3.1-8b", 2, 2), ("mixtral-8x7b", 2, 1), ("deepseek-v3", 8, 1), ("deepseek-v3", 4, 2)]


@pytest.mark.parametrize("model_id, tp, pp", CASES)
@pytest.mark.parametrize("batch, context", [(1, 100), (37, 1234), (256, 8000)])
def test_a_decode_only_step_is_decode_step(catalog, model_id, tp, pp, batch, context):
    model = catalog.model(model_id)
    dep = _dep(catalog, tp=tp, pp=pp, gpu="h200")
    f = dep.engine.factors_for(dep.gpu)
    expected = perf.decode_step(model, dep, f, batch, context)
    got = perf.step(model, dep, f, decodes=batch, decode_context=batch * context)
    assert got.total_s == pytest.approx(expected.total_s, rel=EXACT)
    assert got.memory_s == pytest.approx(expected.memory_s, rel=EXACT)
    assert got.compute_s == pytest.approx(expected.compute_s, rel=EXACT)


@pytest.mark.parametrize("model_id, tp, pp", CASES)
@pytest.mark.parametrize("sequences, prompt", [(1, 1000), (3, 2000), (8, 1024)])
def test_a_prefill_only_step_is_prefill(catalog, model_id, tp, pp, sequences, prompt):
    """Prompts that fit one pass (8,192 tokens, vLLM's prefill chunk). MoE:
    1,000 tokens touch every expert to within 1e-13 (uniform routing), so
    the step's touched-expert term equals prefill's read-everything."""
    model = catalog.model(model_id)
    dep = _dep(catalog, tp=tp, pp=pp, gpu="h200")
    f = dep.engine.factors_for(dep.gpu)
    expected = perf.prefill(model, dep, f, sequences, prompt)
    got = perf.step(model, dep, f, prefill_tokens=sequences * prompt, prefill_sequences=sequences,
                    prefill_pairs=sequences * perf.prefill_pairs(prompt, 0))
    assert got.total_s == pytest.approx(expected.total_s, rel=EXACT)


@given(prompt=st.integers(1, 50_000), chunk=st.integers(1, 9000))
def test_chunks_cover_the_prompts_causal_pairs(prompt, chunk):
    """Chunked, a prompt attends over the same S(S+1)/2 pairs as whole."""
    pairs, done = 0, 0
    while done < prompt:
        take = min(chunk, prompt - done)
        pairs += perf.prefill_pairs(take, done)
        done += take
    assert pairs == prompt * (prompt + 1) // 2


def test_riding_decodes_cost_less_than_a_step_of_their_own(catalog):
    """A mixed step costs more than its prefill alone, and less than the
    prefill plus a separate decode step (weights are read once, one fixed cost)."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog)
    f = dep.engine.factors_for(dep.gpu)
    pre = dict(prefill_tokens=2048, prefill_sequences=1, prefill_pairs=perf.prefill_pairs(2048, 0))
    alone = perf.step(model, dep, f, **pre).total_s
    mixed = perf.step(model, dep, f, decodes=64, decode_context=64 * 3000, **pre).total_s
    separate = alone + perf.decode_step(model, dep, f, 64, 3000).total_s
    assert alone < mixed < separate


@settings(max_examples=60, deadline=None)
@given(decodes=st.integers(1, 2048), context=st.integers(0, 10**8), model_id=st.sampled_from(["llama-3.1-8b", "mixtral-8x7b"]),
       pp=st.sampled_from([1, 2]))
def test_memoised_decode_cost_is_exact(catalog, decodes, context, model_id, pp):
    """StepCost's two-point line reproduces perf.step: no bucketing error."""
    model = catalog.model(model_id)
    dep = _dep(catalog, tp=2, pp=pp)
    f = dep.engine.factors_for(dep.gpu)
    cost = StepCost(model, dep, f)
    expected = perf.step(model, dep, f, decodes=decodes, decode_context=context).total_s
    assert cost.decode(decodes, context) == pytest.approx(expected, rel=1e-9)


# --- scheduler knobs ----------------------------------------------------------------


def test_engines_carry_sourced_scheduler_knobs(catalog):
    for engine_id in ("vllm", "sglang", "trtllm"):
        s = catalog.engine(engine_id).scheduler
        assert s is not None and s.version
        for name in ("max_num_batched_tokens", "chunked_prefill", "policy"):
            assert s.sources[name]
    assert catalog.engine("sglang").scheduler.policy is SchedulerPolicy.PREFILL_FIRST
    assert catalog.engine("vllm").scheduler.policy is SchedulerPolicy.MIXED


def test_an_engine_without_knobs_gets_the_stated_default(catalog):
    engine = catalog.engine("llama.cpp")
    assert engine.scheduler is None
    s = scheduler_for(engine)
    assert (s.max_num_seqs, s.max_num_batched_tokens, s.chunked_prefill, s.policy) == (1, 512, True, SchedulerPolicy.MIXED)
    s = scheduler_for(catalog.engine("transformers"))
    assert (s.max_num_seqs, s.chunked_prefill, s.policy) == (64, False, SchedulerPolicy.PREFILL_FIRST)


def test_scheduler_knobs_without_sources_are_refused():
    from pydantic import ValidationError

    from planner.catalog.schema import Scheduler

    with pytest.raises(ValidationError, match="sources must say"):
        Scheduler.model_validate({"max_num_batched_tokens": 8192, "chunked_prefill": True, "policy": "mixed",
                                  "version": "x", "sources": {"policy": "y"}})


# --- the simulation -----------------------------------------------------------------


def _capacity(catalog, dep, shape_or_lengths):
    """Requests/s one replica sustains at these lengths (a Shape, or a length
    distribution): a closed loop at the scheduler's full concurrency."""
    model = catalog.model("llama-3.1-8b")
    lengths = (fixed(shape_or_lengths.input, shape_or_lengths.output) if isinstance(shape_or_lengths, Shape)
               else shape_or_lengths)
    served = simulate(model, dep, traffic.Closed(512, 3000), lengths)
    return served.summary(0.2 * served.makespan, 0.8 * served.makespan).requests_per_s


def test_concurrency_one_matches_the_single_request_timing(catalog):
    """At closed-loop concurrency 1 a request runs alone: TTFT is its own
    prefill and TPOT the batch-1 decode step of perf.timing (averaged over
    the output). Within 1%."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, precision="fp8", kv="fp8")
    shape = Shape(700, 300)
    served = simulate(model, dep, traffic.Closed(1, 10), fixed(shape.input, shape.output))
    s = served.summary()
    t = perf.timing(model, dep, shape, dep.engine.factors_for(dep.gpu), batch=1)
    assert s.ttft.p50 == pytest.approx(t.ttft_s, rel=0.01)
    assert s.tpot.mean == pytest.approx(t.tpot_s, rel=0.01)
    assert s.queue_wait.p99 == 0
    assert s.mean_running == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_a_burst_queues_behind_the_prompts_ahead(catalog, engine):
    """A static batch of B requests: request k cannot have its first token
    before the prompts of requests 0..k are prefilled, which takes at least
    perf.prefill of those k+1 prompts (chunked steps read the weights as
    often, and carry decodes besides); the last request's TTFT is at least
    the whole batch's prefill, as static-batch benchmarks measure."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, engine=engine)
    f = dep.engine.factors_for(dep.gpu)
    prompt, batch = 3000, 24
    served = simulate(model, dep, traffic.Burst(batch), fixed(prompt, 50))
    ttft = [served.first_token[i] - served.arrival[i] for i in range(batch)]
    for k in range(batch):
        assert ttft[k] >= perf.prefill(model, dep, f, k + 1, prompt).total_s - 1e-9
    assert max(ttft) >= perf.prefill(model, dep, f, batch, prompt).total_s
    assert ttft == sorted(ttft)  # first come, first served


LOADS = st.one_of(
    st.builds(lambda r, c: ("open", r, c), st.floats(0.2, 0.85), st.sampled_from([0.5, 1.0, 2.0])),
    st.builds(lambda c: ("closed", c, None), st.integers(1, 300)),
)


# Derandomised: the 6% bound is statistical (a finite window of a random
# run), so CI checks the same examples every time rather than new draws that
# could land in a tail; run with more examples by hand to explore.
@settings(max_examples=8, deadline=None, derandomize=True)
@given(load=LOADS, mean_in=st.sampled_from([200, 800, 2500]), mean_out=st.sampled_from([50, 200, 600]),
       engine=st.sampled_from(["vllm", "sglang", "trtllm"]), seed=st.integers(0, 1000))
def test_littles_law_holds_in_steady_state(catalog, load, mean_in, mean_out, engine, seed):
    """Over the middle 60% of a run (warm-up and drain cut off), mean
    requests in the system = throughput x mean e2e, each measured on its own,
    within 6%, on steady runs whose window spans many request lifetimes."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, engine=engine, precision="fp8", kv="fp8")
    lengths = Lengths(Lognormal(mean_in, mean_in * 3), Lognormal(mean_out, mean_out * 3))
    if load[0] == "open":
        # a share of the capacity at these length distributions (their long
        # tails cost more than the mean lengths would), so the queue is stable
        rate = load[1] * _capacity_at(catalog, dep, mean_in, mean_out, lengths)
        spec = traffic.Open(rate, 4000, cv=load[2])
    else:
        spec = traffic.Closed(load[1], max(3000, 40 * load[1]))  # each client sends 40 or more: windows span many lifetimes
    served = simulate(model, dep, spec, lengths, seed=seed)
    # Little's law is a steady-state identity: a load the replica cannot
    # carry (say prefill-first steps interleaved with one arrival each, which
    # halve the decode rate) grows without bound, and over a window of a
    # growing system L and lambda x W differ. Such runs are set aside, not
    # passed: the two halves of the window must hold about the same number.
    first = served.summary(0.2 * served.makespan, 0.5 * served.makespan)
    second = served.summary(0.5 * served.makespan, 0.8 * served.makespan)
    assume(abs(second.mean_concurrency / first.mean_concurrency - 1) < 0.05)
    s = served.summary(0.2 * served.makespan, 0.8 * served.makespan)
    # The window's edges cut requests that straddle them, an error of the
    # order of a lifetime over the window: the window must span 20 or more.
    assume(s.e2e.mean < 0.05 * 0.6 * served.makespan)
    assert s.requests > 500
    assert s.mean_concurrency == pytest.approx(s.requests_per_s * s.e2e.mean, rel=0.06)


_CAPACITY: dict[tuple, float] = {}


def _capacity_at(catalog, dep, mean_in, mean_out, lengths=None):
    key = (dep.engine.id, dep.precision.id, mean_in, mean_out, lengths is None)
    if key not in _CAPACITY:
        _CAPACITY[key] = _capacity(catalog, dep, Shape(mean_in, mean_out) if lengths is None else lengths)
    return _CAPACITY[key]


@settings(max_examples=10, deadline=None)
@given(load=LOADS, seed=st.integers(0, 1000), engine=st.sampled_from(["vllm", "sglang"]))
def test_percentiles_are_ordered(catalog, load, seed, engine):
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, engine=engine)
    spec = traffic.Open(load[1] * 20, 800, cv=load[2]) if load[0] == "open" else traffic.Closed(load[1], 800)
    s = simulate(model, dep, spec, Lengths(Uniform(10, 3000), Uniform(1, 400)), seed=seed).summary()
    for name in ("queue_wait", "ttft", "tpot", "itl", "e2e"):
        p = getattr(s, name)
        assert p.p99 >= p.p90 >= p.p50 >= 0, name
        assert p.mean > 0 or name == "queue_wait"


def test_more_load_never_lowers_p99_ttft(catalog):
    """The same Poisson draws at higher rates (arrival times shrink in
    proportion) from 20% to 110% of capacity: p99 TTFT never falls."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, precision="fp8", kv="fp8")
    capacity = _capacity(catalog, dep, Shape(600, 200))
    lengths = Lengths(Lognormal(600, 1800), Lognormal(200, 600))
    p99 = [simulate(model, dep, traffic.Open(share * capacity, 3000), lengths, seed=5).summary().ttft.p99
           for share in (0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1)]
    assert p99 == sorted(p99)
    assert p99[-1] > 3 * p99[0]  # and overload shows


def _small_cache(catalog, model, requests):
    """Utilisation that leaves KV room for about ``requests`` requests of 1,500 tokens."""
    probe = _dep(catalog)
    s = scheduler_for(probe.engine)
    mem = perf.memory(model, probe, Shape(s.max_num_batched_tokens, 1), batch=s.max_num_seqs)
    need = requests * 1500 * perf.kv_bytes_per_token_per_gpu(model, probe)
    return (mem.weights_per_gpu + mem.activations_per_gpu + mem.runtime_per_gpu + need) / probe.gpu.memory_total_bytes


def test_a_full_kv_cache_makes_requests_wait(catalog):
    """Reserving admission (TensorRT-LLM's GUARANTEED_NO_EVICT), memory for
    the weights and about five requests' KV: a burst of 40 queues (waits > 0)
    although max_num_seqs would admit them all; the sixth and later are
    admitted only once a request has finished and freed its KV, and no more
    than five ever run. With the whole GPU all 40 are admitted (over a few
    token-budget steps) before any finishes."""
    model = catalog.model("llama-3.1-8b")
    base = scheduler_for(catalog.engine("vllm"))
    reserve = SchedulerSettings(base.max_num_seqs, base.max_num_batched_tokens, True, SchedulerPolicy.MIXED,
                                KvAdmission.RESERVE)
    dep = _dep(catalog, util=_small_cache(catalog, model, 5.5))
    served = simulate(model, dep, traffic.Burst(40), fixed(1000, 500), settings=reserve)
    assert served.kv_capacity // 1500 == 5
    waits = [a - b for a, b in zip(served.admitted, served.arrival)]
    assert max(waits) > 0
    first_free = min(served.finish)
    assert sorted(served.admitted)[5] >= first_free
    assert sum(t < first_free for t in served.admitted) == 5
    assert served.summary().mean_running <= 5 + 1e-9
    assert served.preemptions == 0
    roomy = simulate(model, _dep(catalog), traffic.Burst(40), fixed(1000, 500), settings=reserve)
    assert max(roomy.admitted) < min(roomy.finish)


def test_on_demand_admission_preempts_and_recomputes(catalog):
    """vLLM's on-demand admission with the same small cache: prompts are
    admitted while they fit (eight of 1,000 tokens in 8,250), the growing
    outputs then fill the cache, the latest admitted are preempted and
    recomputed, and still every request emits exactly its output tokens.
    More load than memory costs time: the burst takes longer than with a
    cache for all 40."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, util=_small_cache(catalog, model, 5.5))
    assert scheduler_for(dep.engine).admission is KvAdmission.ON_DEMAND
    served = simulate(model, dep, traffic.Burst(40), fixed(1000, 500))
    assert sum(t == 0 for t in served.admitted) == 8
    assert served.preemptions > 0
    assert sum(served.step_tokens) == 40 * 500
    assert all(f > ft > 0 for f, ft in zip(served.finish, served.first_token))
    roomy = simulate(model, _dep(catalog), traffic.Burst(40), fixed(1000, 500))
    assert roomy.preemptions == 0
    assert served.makespan > roomy.makespan
    s = served.summary()
    for name in ("ttft", "tpot", "itl", "e2e", "queue_wait"):
        p = getattr(s, name)
        assert p.p99 >= p.p90 >= p.p50 >= 0


@settings(max_examples=15, deadline=None)
@given(requests=st.integers(1, 60), mean_in=st.integers(50, 3000), out=st.integers(1, 1500), share=st.floats(1.5, 8),
       seed=st.integers(0, 100), policy=st.sampled_from(list(SchedulerPolicy)))
def test_a_crowded_cache_still_serves_every_token(catalog, requests, mean_in, out, share, seed, policy):
    """Whatever preemption does, every request finishes with exactly its
    output tokens, and its first token comes after its arrival."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, util=_small_cache(catalog, model, share))
    base = scheduler_for(dep.engine)
    settings_ = SchedulerSettings(base.max_num_seqs, base.max_num_batched_tokens, True, policy, KvAdmission.ON_DEMAND)
    lengths = Lengths(Uniform(max(1, mean_in // 2), mean_in), Uniform(1, out))
    try:
        served = simulate(model, dep, traffic.Open(50.0, requests), lengths, seed=seed, settings=settings_)
    except InputError as exc:  # a drawn request longer than the whole cache
        assert "does not fit the KV cache" in exc.message
        return
    assert sum(served.step_tokens) == sum(served.output)
    assert all(a <= ft <= f for a, ft, f in zip(served.arrival, served.first_token, served.finish))


def test_a_request_longer_than_the_cache_is_an_input_error(catalog):
    model = catalog.model("llama-3.1-8b")
    with pytest.raises(InputError, match="does not fit the KV cache"):
        simulate(model, _dep(catalog, util=0.25), traffic.Burst(1), fixed(100_000, 100))


def test_same_seed_same_answer(catalog):
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog)
    lengths = Lengths(Lognormal(500, 2000), Uniform(1, 300))
    a = simulate(model, dep, traffic.Open(10, 500, cv=2.0), lengths, seed=9)
    b = simulate(model, dep, traffic.Open(10, 500, cv=2.0), lengths, seed=9)
    c = simulate(model, dep, traffic.Open(10, 500, cv=2.0), lengths, seed=10)
    assert a == b
    assert a.summary() == b.summary()
    assert a.finish != c.finish


def test_prefill_first_stalls_decodes_that_mixed_steps_carry(catalog):
    """With prefill-first steps a running sequence emits nothing while a new
    prompt prefills, so its worst gap between tokens is longer than with
    mixed steps, where it rides along."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog)
    lengths = fixed(6000, 200)
    load = traffic.Open(2.0, 300)
    base = scheduler_for(dep.engine)
    mixed = simulate(model, dep, load, lengths, settings=base).summary()
    first = simulate(model, dep, load, lengths,
                     settings=SchedulerSettings(base.max_num_seqs, base.max_num_batched_tokens, True,
                                                SchedulerPolicy.PREFILL_FIRST)).summary()
    assert first.itl.p99 > mixed.itl.p99
    assert first.ttft.p50 <= mixed.ttft.p50


def test_throughput_counts_every_output_token(catalog):
    model = catalog.model("llama-3.1-8b")
    served = simulate(model, _dep(catalog), traffic.Closed(16, 200), Lengths(Uniform(1, 900), Uniform(1, 300)), seed=2)
    s = served.summary()
    assert sum(served.step_tokens) == sum(served.output)
    assert s.tokens_per_s == pytest.approx(sum(served.output) / served.makespan, rel=1e-12)
    assert all(not math.isnan(x) for x in served.finish)


def test_a_fixed_length_closed_loop_runs_as_static_batches(catalog):
    """C clients with equal lengths start together, finish together and send
    their next requests together: each cycle is one prefill of the C prompts
    (8,000 tokens, one step within vLLM's 8,192-token budget) then output - 1
    decode steps of the whole batch. That is exactly the cycle perf.timing's
    throughput assumes, so the two agree within 0.5% (timing averages 5
    sampled decode steps; step time is linear in context). Its TTFT differs
    by design: every request here waits for the batch's whole prefill."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, precision="fp8", kv="fp8")
    f = dep.engine.factors_for(dep.gpu)
    concurrency, shape = 8, Shape(1000, 200)
    served = simulate(model, dep, traffic.Closed(concurrency, 20 * concurrency), fixed(shape.input, shape.output))
    s = served.summary()
    t = perf.timing(model, dep, shape, f, batch=concurrency)
    assert s.tokens_per_s == pytest.approx(t.tokens_per_s, rel=0.005)
    assert s.ttft.p50 == pytest.approx(perf.prefill(model, dep, f, concurrency, shape.input).total_s, rel=1e-9)


CLOSED_LENGTHS = {
    "lognormal 1000/250": Lengths(Lognormal(1000, 3000), Lognormal(250, 800)),
    "uniform": Lengths(Uniform(100, 2000), Uniform(20, 500)),
    "long outputs": Lengths(Lognormal(300, 2000), Lognormal(600, 3000)),
}


@pytest.mark.parametrize("engine", ["vllm", "trtllm"])
@pytest.mark.parametrize("lengths_name", sorted(CLOSED_LENGTHS))
@pytest.mark.parametrize("concurrency", [1, 16, 200])
def test_closed_loop_shortcut_matches_the_simulation(catalog, engine, lengths_name, concurrency):
    """The analytical steady state (planner/model/closed_loop.py) against the
    simulation's middle 60% at the same concurrency: mean TTFT, TPOT, e2e and
    tokens/s within 8% (the largest gap when this test was written was
    6.3%, the e2e of long outputs on trtllm at concurrency 200)."""
    from planner.model.closed_loop import closed_loop

    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, engine=engine, precision="fp8", kv="fp8")
    lengths = CLOSED_LENGTHS[lengths_name]
    estimate = closed_loop(model, dep, concurrency, lengths)
    served = simulate(model, dep, traffic.Closed(concurrency, max(400, 30 * concurrency)), lengths, seed=3)
    s = served.summary(0.2 * served.makespan, 0.8 * served.makespan)
    assert estimate.ttft_s == pytest.approx(s.ttft.mean, rel=0.08)
    assert estimate.tpot_s == pytest.approx(s.tpot.mean, rel=0.08)
    assert estimate.e2e_s == pytest.approx(s.e2e.mean, rel=0.08)
    assert estimate.tokens_per_s == pytest.approx(s.tokens_per_s, rel=0.08)


def test_closed_loop_shortcut_refuses_what_it_does_not_model(catalog):
    from planner.model.closed_loop import closed_loop

    model = catalog.model("llama-3.1-8b")
    lengths = fixed(500, 100)
    with pytest.raises(InputError, match="mixed steps only"):
        closed_loop(model, _dep(catalog, engine="sglang"), 8, lengths)
    with pytest.raises(InputError, match="exceeds max_num_seqs"):
        closed_loop(model, _dep(catalog), 5000, lengths)
    with pytest.raises(InputError, match="overflow the KV cache"):
        closed_loop(model, _dep(catalog), 1000, fixed(4000, 4000))
    with pytest.raises(InputError, match="token budget"):
        closed_loop(model, _dep(catalog), 8, fixed(9000, 10))


def test_a_staggered_closed_loop_sends_its_first_requests_apart(catalog):
    """stagger_s spaces the first C requests; every later one is sent when one finishes."""
    model = catalog.model("llama-3.1-8b")
    served = simulate(model, _dep(catalog), traffic.Closed(4, 12, stagger_s=0.5), fixed(100, 20))
    assert served.arrival[:4] == (0.0, 0.5, 1.0, 1.5)
    assert sorted(served.arrival[4:]) == sorted(served.finish)[:8]
    with pytest.raises(InputError, match="stagger"):
        traffic.Closed(4, 12, stagger_s=-1.0)


@settings(max_examples=15, deadline=None)
@given(engine=st.sampled_from(["vllm", "sglang", "trtllm", "llama.cpp", "transformers"]),
       load=LOADS, seed=st.integers(0, 1000), longest=st.sampled_from([300, 3000, 12000]))
def test_no_request_beats_its_own_prefill(catalog, engine, load, seed, longest):
    """Each request's first token comes no sooner than its own prompt's
    prefill run alone (perf.prefill, batch 1): sharing steps, chunking and
    queueing only add time. And queue wait <= TTFT <= e2e."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, engine=engine)
    f = dep.engine.factors_for(dep.gpu)
    spec = traffic.Open(load[1] * 10, 150, cv=load[2]) if load[0] == "open" else traffic.Closed(load[1], 150)
    served = simulate(model, dep, spec, Lengths(Uniform(1, longest), Uniform(1, 300)), seed=seed)
    for i in range(len(served.input)):
        ttft = served.first_token[i] - served.arrival[i]
        # 1e-9 s: times are sums of step times, differenced (float rounding)
        assert ttft >= perf.prefill(model, dep, f, 1, served.input[i]).total_s - 1e-9
        assert served.admitted[i] - served.arrival[i] <= ttft <= served.finish[i] - served.arrival[i]


@given(values=st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=200),
       weighted=st.booleans(), data=st.data())
def test_percentiles_are_ordered_and_the_mean_lies_within_the_values(values, weighted, data):
    """Nearest-rank p50 <= p90 <= p99, each one of the values; the (weighted)
    mean between the smallest and largest; the count is the total weight."""
    from planner.model.serving import percentiles

    weights = (data.draw(st.lists(st.integers(1, 50), min_size=len(values), max_size=len(values)))
               if weighted else None)
    p = percentiles(values, weights)
    assert p.p50 <= p.p90 <= p.p99
    assert {p.p50, p.p90, p.p99} <= set(values)
    # 1e-12 relative: the mean is a float sum of the values
    assert min(values) * (1 - 1e-12) <= p.mean <= max(values) * (1 + 1e-12)
    assert p.count == (len(values) if weights is None else sum(weights))
    if len(set(values)) == 1:  # one value is every percentile and the mean
        assert p.p50 == p.p99 == values[0] and p.mean == pytest.approx(values[0], rel=1e-12)


@pytest.mark.parametrize("n", [1, 99, 100, 101, 1000])
def test_nearest_rank_percentiles_of_one_to_n(n):
    """Of 1..n, the nearest-rank p-th percentile is ceil(p n / 100) (the
    definition: the smallest value with at least p% of the values at or below it)."""
    from planner.model.serving import percentiles

    p = percentiles([float(v) for v in range(n, 0, -1)])
    assert (p.p50, p.p90, p.p99) == tuple(float(math.ceil(q * n / 100)) for q in (50, 90, 99))
    assert p.mean == pytest.approx((n + 1) / 2, rel=1e-12)


def test_a_prompt_as_long_as_the_budget_still_runs_beside_decodes(catalog):
    """TensorRT-LLM prefills whole prompts (no chunking) within max_num_tokens
    (8,192 by default). A prompt of 8,192 tokens fits the budget alone but not
    beside even one decode; were the decodes counted against it, each prompt
    would wait for every running request to finish and the replica would
    serve one request at a time. The simulation lets the step's first prompt
    ride beside the decodes, so eight clients decode together: more than one
    request runs on average and TPOT is above a lone request's."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog, engine="trtllm", precision="fp8", kv="fp8")
    settings = scheduler_for(dep.engine)
    assert not settings.chunked_prefill and settings.max_num_batched_tokens == 8192  # the case this guards
    lengths = fixed(8192, 256)
    alone = simulate(model, dep, traffic.Closed(1, 20), lengths).summary()
    eight = simulate(model, dep, traffic.Closed(8, 80), lengths).summary()
    assert eight.mean_running > 4
    assert eight.tpot.mean > alone.tpot.mean
    assert eight.requests_per_s > 2 * alone.requests_per_s


def test_an_engine_that_does_not_chunk_keeps_room_for_a_kv_cache(catalog):
    """The largest step of an engine that prefills whole prompts still carries
    at most its token budget, so its KV cache is what the same engine has
    with a prefill chunk of the budget: activations of the budget, logits of
    every sequence. (Charged the whole budget per sequence, LMDeploy's 256
    sequences took 161 GB of an 80 GB A100 and left no KV cache.)"""
    model = catalog.model("llama-2-7b")
    dep = _dep(catalog, model="llama-2-7b", gpu="a100-sxm-80gb", precision="fp16", engine="lmdeploy")
    settings = scheduler_for(dep.engine)
    assert not settings.chunked_prefill and settings.max_num_seqs and settings.max_num_seqs > 1  # the case guarded
    chunked = dep.engine.model_copy(update={"prefill_chunk_tokens": settings.max_num_batched_tokens})
    from dataclasses import replace as copy
    expected = kv_capacity_tokens(model, copy(dep, engine=chunked), settings)
    assert kv_capacity_tokens(model, dep, settings) == expected > 0
