"""Time terms of the performance model against hand-worked figures: bytes a
decode step reads, attention FLOPs, pipeline hand-offs, the TPOT samples."""

from __future__ import annotations

import pytest

from planner.model import perf
from planner.catalog.architecture import count_params
from planner.model.workload import Deployment, Shape

EXACT = 1e-12


def _dep(catalog, gpu="h100-sxm", precision="bf16", tp=1, pp=1):
    return Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision(precision), kv_precision=catalog.precision("bf16"),
                      engine=catalog.engine("vllm"), tp=tp, pp=pp)


def test_one_token_of_deepseek_v3_reads_its_activated_parameters(catalog):
    """At batch 1 a decode step reads the dense part, the shared expert and
    8 of 256 routed experts in each MoE layer, and the output head (the input
    embedding is a one-row gather). DeepSeek-V3 README_WEIGHTS.md, Main Model
    Weights: 36.6B activated parameters including the 0.9B output head, so
    73.2 GB in BF16; within 1% (the published figure is rounded to 0.1B)."""
    model = catalog.model("deepseek-v3")
    read = perf.decode_weight_bytes(model, catalog.precision("bf16"), 1)
    assert read == pytest.approx(36.6e9 * 2, rel=0.01)
    counts = count_params(model)
    assert read == pytest.approx((counts.active - counts.embedding) * 2, rel=1e-9)


def test_a_large_batch_reads_every_expert(catalog):
    """With 4,096 tokens each picking 2 of 8 Mixtral experts, every expert is
    read: the whole model but the embedding table."""
    model = catalog.model("mixtral-8x7b")
    counts = count_params(model)
    read = perf.decode_weight_bytes(model, catalog.precision("bf16"), 4096)
    assert read == pytest.approx((counts.total - counts.embedding) * 2, rel=1e-9)


def test_mla_prefill_attention_flops(catalog):
    """DeepSeek-V3 prefill attends with full heads: per (query, key) pair and
    head, QK^T over qk_head_dim 192 (128 nope + 64 rope) and AV over
    v_head_dim 128, 2 FLOPs per multiply-add (config.json). 128 heads, 61
    layers, a causal prompt of 1,000 tokens has 1000 x 1001 / 2 pairs."""
    model = catalog.model("deepseek-v3")
    expected = 2 * 128 * (192 + 128) * 61 * (1000 * 1001 / 2)
    assert perf.attention_flops(model, 1000, 1000, 1, causal=True) == pytest.approx(expected, rel=EXACT)


def test_gqa_decode_attention_flops(catalog):
    """Llama-3.1-8B decode: 32 heads x (128 + 128) x 2 FLOPs x 32 layers per
    cached token, 4,096 tokens of context, 3 sequences."""
    model = catalog.model("llama-3.1-8b")
    assert perf.attention_flops(model, 1, 4096, 3, causal=True) == pytest.approx(2 * 32 * 256 * 32 * 4096 * 3, rel=EXACT)


def test_pipeline_hand_off_crosses_the_link_one_way(catalog):
    """Llama-3.1-8B, PP 2 on H100 SXM, no TP: one decode step of 1 token hands
    4,096 x 2 B of activations from stage 1 to stage 2 once, over half the
    900 GB/s bidirectional NVLink figure (450 GB/s one way; the H100 entry
    lists no separate host link), plus vLLM's fitted 36.6 us latency."""
    factors = catalog.engine("vllm").factors_for(catalog.gpu("h100-sxm"))
    assert factors.allreduce_us == 36.6
    step = perf.decode_step(catalog.model("llama-3.1-8b"), _dep(catalog, pp=2), factors, 1, 100)
    assert step.communication_s == pytest.approx(36.6e-6 + 4096 * 2 / 450e9, rel=1e-9)


def test_tensor_parallel_all_reduces(catalog):
    """TP 2: two ring all-reduces per layer (after attention and after the
    FFN), each 2(n-1)/n = 1 times the 4,096 x 2 B message over 450 GB/s one
    way, plus 36.6 us each; 32 layers."""
    factors = catalog.engine("vllm").factors_for(catalog.gpu("h100-sxm"))
    step = perf.decode_step(catalog.model("llama-3.1-8b"), _dep(catalog, tp=2), factors, 1, 100)
    assert step.communication_s == pytest.approx(2 * 32 * (36.6e-6 + 4096 * 2 / 450e9), rel=1e-9)


def test_tpot_samples_start_after_the_prompt(catalog):
    """The first generated token after a 100-token prompt is decoded with
    context 101 and the last of 5 steps with 105."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = dep.engine.factors_for(dep.gpu)
    steps = perf.decode_steps(model, dep, factors, 8, 100, 5)
    assert [s.total_s for s in steps] == [perf.decode_step(model, dep, factors, 8, c).total_s for c in range(101, 106)]
    spread = perf.decode_steps(model, dep, factors, 8, 100, 9, samples=3)  # contexts 101, 105, 109
    assert [s.total_s for s in spread] == [perf.decode_step(model, dep, factors, 8, c).total_s for c in (101, 105, 109)]


def _factors(catalog, dep):
    return dep.engine.factors_for(dep.gpu)


def test_a_single_output_step_is_sampled_once_right_after_the_prompt(catalog):
    """Two output tokens: the second is the only decode step, at context 101
    after a 100-token prompt."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = _factors(catalog, dep)
    steps = perf.decode_steps(model, dep, factors, 4, 100, 1)
    assert [s.total_s for s in steps] == [perf.decode_step(model, dep, factors, 4, 101).total_s]


def test_a_request_alone_gets_its_first_token_after_its_own_prefill(catalog):
    """At batch 1 nothing else is in flight: TTFT is the prompt's prefill
    alone, and throughput is the output over prefill plus (output - 1) steps."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = _factors(catalog, dep)
    shape = Shape(512, 3)
    t = perf.timing(model, dep, shape, factors, 1)
    first = perf.prefill(model, dep, factors, 1, 512)
    assert t.ttft_s == first.total_s
    steps = perf.decode_steps(model, dep, factors, 1, 512, 2)
    tpot = sum(s.total_s for s in steps) / 2
    assert t.tpot_s == pytest.approx(tpot, rel=EXACT)
    assert t.e2e_s == pytest.approx(first.total_s + 2 * tpot, rel=EXACT)
    assert t.tokens_per_s == pytest.approx(3 / (first.total_s + 2 * tpot), rel=EXACT)


def test_a_request_joining_a_batch_waits_for_the_others_decode_step(catalog):
    """At batch 8 the prefill pass also carries the running batch's decode
    step (its fixed overhead counted once, in the prefill)."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = _factors(catalog, dep)
    t = perf.timing(model, dep, Shape(512, 3), factors, 8)
    first = perf.prefill(model, dep, factors, 1, 512)
    middle = t.decode
    assert t.ttft_s == pytest.approx(first.total_s + middle.total_s - middle.overhead_s, rel=EXACT)
    batch_prefill = perf.prefill(model, dep, factors, 8, 512)
    assert t.tokens_per_s == pytest.approx(8 * 3 / (batch_prefill.total_s + 2 * t.tpot_s), rel=EXACT)


def test_a_single_output_token_is_the_prefill_alone(catalog):
    """One output token is produced by the prefill: no TPOT; at batch 4 the
    throughput is 4 tokens per batched prefill."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = _factors(catalog, dep)
    t = perf.timing(model, dep, Shape(512, 1), factors, 4)
    first = perf.prefill(model, dep, factors, 1, 512)
    assert t.tpot_s is None and t.samples_per_s is None
    assert t.ttft_s == t.e2e_s == first.total_s
    assert t.tokens_per_s == pytest.approx(4 / perf.prefill(model, dep, factors, 4, 512).total_s, rel=EXACT)
    assert t.decode.total_s == perf.decode_step(model, dep, factors, 4, 513).total_s
    one = perf.timing(model, dep, Shape(512, 1), factors, 1)
    assert one.tokens_per_s == pytest.approx(1 / first.total_s, rel=EXACT)


def test_the_physical_limit_is_peak_rates_and_no_fixed_costs(catalog):
    dep = _dep(catalog)
    limit = perf.physical_limit(_factors(catalog, dep))
    assert (limit.bandwidth, limit.compute, limit.compute_8bit) == (1.0, 1.0, 1.0)
    assert (limit.decode_overhead_ms, limit.prefill_overhead_ms, limit.allreduce_us) == (0.0, 0.0, 0.0)
    assert limit.overlap is None  # perfect overlap: the roofline's max()
    # a TP-2 decode step at the limit: weights / peak bandwidth, no overhead, all-reduce by bytes alone
    model = catalog.model("llama-3.1-8b")
    step = perf.decode_step(model, _dep(catalog, tp=2), limit, 1, 100)
    assert step.overhead_s == 0.0
    assert step.communication_s == pytest.approx(2 * 32 * (4096 * 2 / 450e9), rel=1e-9)
    assert step.memory_s == pytest.approx(step.bytes_per_gpu / 3350e9, rel=1e-9)  # H100 SXM 3.35 TB/s


def test_tpot_averages_five_evenly_spaced_steps_and_shows_the_middle_one(catalog):
    """257 output tokens after a 100-token prompt: 256 decode steps at
    contexts 101..356; the five samples sit at 101 + round(i x 255 / 4):
    101, 165, 229, 292, 356 (round half to even: 63.75 -> 64, 127.5 -> 128,
    191.25 -> 191). The breakdown shows the middle one, 229."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = _factors(catalog, dep)
    t = perf.timing(model, dep, Shape(100, 257), factors, 8)
    steps = [perf.decode_step(model, dep, factors, 8, c).total_s for c in (101, 165, 229, 292, 356)]
    assert t.tpot_s == pytest.approx(sum(steps) / 5, rel=EXACT)
    assert t.decode.total_s == steps[2]


def test_passes_are_frozen(catalog):
    import dataclasses

    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    t = perf.timing(model, dep, Shape(100, 3), _factors(catalog, dep), 1)
    for value, name in ((t, "ttft_s"), (t.prefill, "memory_s"), (perf.memory(model, dep, Shape(1, 1), 1), "weights")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, 0.0)


@pytest.mark.parametrize("memory_s, compute_s, overlap, expected", [
    (3.0, 4.0, 2.0, 5.0),  # the Euclidean norm of a 3-4-5 triangle
    (3.0, 4.0, 1.0, 7.0),  # no overlap: the sum
    (3.0, 4.0, float("inf"), 4.0),  # perfect overlap: the larger
    (1.0, 0.0, 2.0, 1.0),
    (0.0, 0.0, 2.0, 0.0),
])
def test_roofline_merges_memory_and_compute_with_a_p_norm(memory_s, compute_s, overlap, expected):
    p = perf.PassTime(memory_s, compute_s, 0.5, 0.25, 0.0, overlap)
    assert p.roofline_s == pytest.approx(expected, rel=EXACT)
    assert p.total_s == pytest.approx(expected + 0.75, rel=EXACT)


def test_mla_decode_attends_in_the_latent_space(catalog):
    """DeepSeek-V3 decode with absorbed weights (DeepSeek-V2 appendix B): per
    head QK^T over kv_lora_rank + rope dim (512 + 64) and AV over the 512
    latent: 2 x 128 heads x 1,088 x 61 layers per cached token."""
    model = catalog.model("deepseek-v3")
    assert perf.attention_flops(model, 1, 1000, 2, causal=True) == pytest.approx(2 * 128 * 1088 * 61 * 1000 * 2, rel=EXACT)


def test_encoder_attention_is_every_pair(catalog):
    """BERT-base, 128 tokens, not causal: 128^2 pairs x 2 x 12 heads x (64 + 64) x 12 layers."""
    model = catalog.model("bert-base")
    assert perf.attention_flops(model, 128, 128, 3, causal=False) == 2 * 12 * 128 * 12 * 128 * 128 * 3


def test_the_output_head_runs_once_per_sequence(catalog):
    """One more sequence over the same tokens adds one output-head GEMM:
    2 x 128,256 x 4,096 FLOPs for Llama-3.1-8B."""
    model = catalog.model("llama-3.1-8b")
    assert perf.gemm_flops(model, 10, 3) - perf.gemm_flops(model, 10, 2) == 2 * 128_256 * 4096


def test_tensor_parallel_4_all_reduce_moves_one_and_a_half_messages(catalog):
    """TP 4: the ring all-reduce moves 2 x 3 / 4 = 1.5 times the 8,192 B
    message over 450 GB/s one way; at the physical limit (no latency term),
    2 all-reduces x 32 layers. Exact to float rounding."""
    dep = _dep(catalog, tp=4)
    limit = perf.physical_limit(_factors(catalog, dep))
    step = perf.decode_step(catalog.model("llama-3.1-8b"), dep, limit, 1, 100)
    assert step.communication_s == pytest.approx(2 * 32 * 1.5 * 8192 / 450e9, rel=EXACT, abs=0)  # microseconds: no abs slack


def test_prefill_reads_the_weights_once_per_chunk(catalog):
    """Llama-3.1-8B in BF16: 6,979,588,096 layer parameters (8,030,261,248
    minus the 525,336,576-parameter embedding and head) and the head read
    once per pass (the embedding is a gather): 15,009,849,344 B per pass. A
    20,000-token prompt under vLLM's 8,192-token chunk takes 3 passes;
    without chunking (Transformers) one."""
    model = catalog.model("llama-3.1-8b")
    per_pass = 6_979_588_096 * 2 + 525_336_576 * 2
    assert per_pass == 15_009_849_344
    dep = _dep(catalog)
    chunked = perf.prefill(model, dep, _factors(catalog, dep), 1, 20_000)
    assert chunked.bytes_per_gpu == 3 * per_pass
    whole = Deployment(gpu=dep.gpu, precision=dep.precision, kv_precision=dep.kv_precision,
                       engine=catalog.engine("transformers"))
    assert perf.prefill(model, whole, _factors(catalog, whole), 1, 20_000).bytes_per_gpu == per_pass


def test_prefill_compute_is_causal_attention_and_gemms_at_their_fitted_shares(catalog):
    """A 1,000-token causal prefill: GEMMs at BF16 peak x the fitted compute
    share, attention (1000 x 1001 / 2 pairs) at the 16-bit peak x the same share."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = _factors(catalog, dep)
    peak = 989.4e12  # H100 SXM dense BF16 and FP16
    gemm = perf.gemm_flops(model, 1000, 1)
    attn = 2 * 32 * 256 * 32 * (1000 * 1001 / 2)
    p = perf.prefill(model, dep, factors, 1, 1000)
    assert p.compute_s == pytest.approx(gemm / (peak * factors.compute) + attn / (peak * factors.compute), rel=EXACT)
    assert factors.compute < 1


def test_moe_decode_reads_only_touched_experts_without_gated_ffns(catalog):
    """An ungated DeepSeek-V3 variant (2 FFN matrices per expert, not 3): a
    batch-1 decode step still reads exactly its activated parameters but the
    input embedding, as for the real model."""
    model = catalog.model("deepseek-v3").model_copy(update={"ffn_gated": False})
    counts = count_params(model)
    read = perf.decode_weight_bytes(model, catalog.precision("bf16"), 1)
    assert read == pytest.approx((counts.active - counts.embedding) * 2, rel=1e-9)


def test_two_output_tokens_have_one_decode_step(catalog):
    """The first token comes from the prefill, the second from one decode
    step at context 513 after a 512-token prompt: that step is the TPOT."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog)
    factors = _factors(catalog, dep)
    t = perf.timing(model, dep, Shape(512, 2), factors, 1)
    step = perf.decode_step(model, dep, factors, 1, 513).total_s
    assert t.tpot_s == step
    assert t.e2e_s == pytest.approx(perf.prefill(model, dep, factors, 1, 512).total_s + step, rel=EXACT, abs=0)
