"""planner.plan.candidates: which shapes are enumerated, why the others are
ruled out (exact texts), precision filtering, the pipeline-stage search and
the largest batch that meets the latency targets."""

from __future__ import annotations

import dataclasses

import pytest

from planner.core.numbers import duration
from planner.core.units import parse_rate
from planner.model import perf
from planner.model.lengths import fixed
from planner.model.resolve import resolve_spec
from planner.model.serving import scheduler_for
from planner.model.steady import SteadyState
from planner.model.workload import Deployment, Shape
from planner.plan.candidates import (
    EXTRA_PIPELINE_STAGES,
    MAX_PIPELINE_STAGES,
    Constraint,
    DeploymentShape,
    RejectedShape,
    ScoredShape,
    enumerate_candidates,
    evaluate,
    tensor_parallel_degrees,
)
from planner.plan.question import Targets

SHAPE = Shape(512, 256)


def _evaluate(catalog, targets, *, model="llama-3.1-8b", gpu="h100-sxm", precision="bf16", kv="bf16", tp=1, pp=1,
              shape=SHAPE):
    candidate = DeploymentShape(catalog.gpu(gpu), catalog.precision(precision), catalog.precision(kv), tp, pp)
    return evaluate(resolve_spec(catalog, model), shape, targets, candidate, catalog.engine("vllm"))


def _enumerate(catalog, model="llama-3.1-8b", engine="vllm", targets=Targets(), **kwargs):
    kwargs.setdefault("gpus", [catalog.gpu("h100-sxm")])
    for name in ("precisions", "kv_precisions"):
        if name in kwargs:
            kwargs[name] = [catalog.precision(p) for p in kwargs[name]]
    if "gpus" in kwargs and kwargs["gpus"] and isinstance(kwargs["gpus"][0], str):
        kwargs["gpus"] = [catalog.gpu(g) for g in kwargs["gpus"]]
    return enumerate_candidates(catalog, resolve_spec(catalog, model), SHAPE, targets, catalog.engine(engine), **kwargs)


def _steady(catalog, *, model="llama-3.1-8b", gpu="h100-sxm", shape=SHAPE):
    """The steady states a decoder is scored at (planner/model/steady.py)."""
    dep = Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision("bf16"), kv_precision=catalog.precision("bf16"),
                     engine=catalog.engine("vllm"), tp=1, pp=1)
    return SteadyState(catalog.model(model), dep, fixed(shape.input, shape.output), scheduler_for(dep.engine),
                       dep.engine.factors_for(dep.gpu))


def _timing(catalog, batch, **kwargs):
    """A decoder's figures at ``batch`` requests in flight, as evaluate scores them."""
    return _steady(catalog, **kwargs).at(batch)


# --- rejection messages: the figures in them --------------------------------------


def test_a_tpot_miss_shows_both_figures_in_milliseconds(catalog):
    """0.000999 s is 0.999 ms at three significant figures (a scale of 1001
    would print 1 ms)."""
    c = _evaluate(catalog, Targets(latency_s=0.000999))
    assert isinstance(c, RejectedShape) and c.constraint is Constraint.LATENCY
    assert c.reason == f"TPOT {duration(c.batch_one_timing.tpot_s)} > 0.999 ms even at batch 1"
    assert 1 < c.batch_one_timing.tpot_s * 1e3 < 100  # a figure in ms, not s or us


def test_a_ttft_miss_shows_both_figures_in_milliseconds(catalog):
    c = _evaluate(catalog, Targets(ttft_s=0.000999))
    assert isinstance(c, RejectedShape) and c.constraint is Constraint.LATENCY
    assert c.reason == f"TTFT {duration(c.batch_one_timing.ttft_s)} > 0.999 ms even at batch 1"
    assert 1 < c.batch_one_timing.ttft_s * 1e3 < 1000


def test_an_e2e_miss_shows_the_target_as_typed(catalog):
    """99.99 ms stays 99.99 ms (not 100 ms); the prediction reads in its own unit, never in exponent form."""
    c = _evaluate(catalog, Targets(e2e_s=0.09999))
    assert isinstance(c, RejectedShape) and c.constraint is Constraint.LATENCY
    assert c.reason == f"e2e {duration(c.batch_one_timing.e2e_s)} > 99.99 ms even at batch 1"
    assert "e+" not in c.reason


def test_an_encoder_latency_miss_is_named_latency(catalog):
    c = _evaluate(catalog, Targets(latency_s=1e-6), model="bert-base")
    assert isinstance(c, RejectedShape)
    assert c.reason == f"latency {duration(c.batch_one_timing.e2e_s)} > 0.001 ms even at batch 1"


def test_a_target_met_exactly_is_met(catalog):
    """Each latency target is an upper bound: a timing equal to it passes."""
    one = _timing(catalog, 1)
    for targets in (Targets(latency_s=one.tpot_s), Targets(ttft_s=one.ttft_s), Targets(e2e_s=one.e2e_s)):
        c = _evaluate(catalog, targets)
        assert isinstance(c, ScoredShape), targets


def test_weights_too_big_names_the_weights_and_the_usable_memory(catalog):
    """Llama-3.1-70B in BF16 on one L4: 141.1 GB of weights (70,553,706,496
    parameters x 2 B) against 22.49 GiB x 0.9 (vLLM's default utilisation)
    = 21.7 GB usable."""
    c = _evaluate(catalog, Targets(), model="llama-3.1-70b", gpu="l4")
    assert isinstance(c, RejectedShape) and c.constraint is Constraint.MEMORY
    assert c.reason == "weights 141.1 GB > 21.7 GB usable per GPU"


def test_a_sequence_too_long_names_what_one_sequence_needs(catalog):
    """Llama-3.1-8B weights (16.1 GB) fit one L4's 21.7 usable GB, but a
    100,000-token context adds 100,512 x 131,072 B of BF16 KV cache (32
    layers x 8 KV heads x 128 x 2 x 2 B per token) = 13.2 GB."""
    c = _evaluate(catalog, Targets(), gpu="l4", shape=Shape(100_000, 512))
    assert isinstance(c, RejectedShape) and c.constraint is Constraint.MEMORY
    assert c.reason.startswith("one sequence needs ") and c.reason.endswith(" GB > 21.7 GB usable per GPU")
    needed = float(c.reason.split()[3])
    assert needed == pytest.approx((16.06e9 + 100_512 * 131_072) / 1e9, abs=2.0)  # + activations and logits


# --- throughput in the target's unit ---------------------------------------------------


def test_throughput_in_requests_is_tokens_over_output_length(catalog):
    tokens = _evaluate(catalog, Targets(latency_s=0.05, throughput=parse_rate("100 tok/s")))
    requests = _evaluate(catalog, Targets(latency_s=0.05, throughput=parse_rate("10 req/s")))
    assert tokens.throughput == tokens.tokens_per_s
    assert requests.batch == tokens.batch
    assert requests.throughput == pytest.approx(tokens.tokens_per_s / 256, rel=1e-12)  # 256 output tokens per request
    assert requests.tokens_per_s == tokens.tokens_per_s


def test_without_a_throughput_target_throughput_is_in_tokens(catalog):
    c = _evaluate(catalog, Targets(latency_s=0.05))
    assert c.throughput == c.tokens_per_s == c.prediction.tokens_per_s


# --- the largest batch meeting latency ------------------------------------------------


def test_the_batch_is_the_largest_that_meets_the_tpot_target(catalog):
    """TPOT grows with the batch: a target halfway between batch 40 and 41's
    TPOT admits 40 and no more."""
    t40, t41 = _timing(catalog, 40).tpot_s, _timing(catalog, 41).tpot_s
    assert t40 < t41
    c = _evaluate(catalog, Targets(latency_s=(t40 + t41) / 2))
    assert isinstance(c, ScoredShape)
    assert c.batch == 40 and isinstance(c.batch, int)
    assert c.prediction.tpot_s == t40 and c.memory == perf.memory(
        catalog.model("llama-3.1-8b"), _dep(catalog), SHAPE, 40)
    # throughput and latency of one schedule: 40 in flight = request rate x e2e
    assert c.tokens_per_s / SHAPE.output * c.prediction.e2e_s == pytest.approx(40, rel=1e-9)


@pytest.mark.parametrize("batch", [1, 2, 128, 255])
def test_a_target_equal_to_a_batch_tpot_admits_that_batch(catalog, batch):
    c = _evaluate(catalog, Targets(latency_s=_timing(catalog, batch).tpot_s))
    assert isinstance(c, ScoredShape) and c.batch == batch
    assert c.prediction == _steady(catalog).timing(batch, SHAPE)


def test_a_loose_target_takes_the_largest_concurrency_that_fits(catalog):
    """With no binding target a replica runs as many requests as its KV cache
    holds at their final context, within the scheduler's max_num_seqs (vLLM
    V1: 1,024 on GPUs of 70 GiB or more) and the memory check."""
    c = _evaluate(catalog, Targets(latency_s=10.0))
    steady = _steady(catalog)
    most = min(steady.most, perf.max_batch(catalog.model("llama-3.1-8b"), _dep(catalog), SHAPE, cap=1024))
    assert isinstance(c, ScoredShape) and c.batch == most
    assert 256 < most <= 1024
    assert c.prediction == steady.timing(most, SHAPE)


def _dep(catalog):
    return Deployment(gpu=catalog.gpu("h100-sxm"), precision=catalog.precision("bf16"),
                      kv_precision=catalog.precision("bf16"), engine=catalog.engine("vllm"), tp=1, pp=1)


# --- precision filtering ------------------------------------------------------------------


def test_quality_loss_limit_rules_out_lossier_weight_formats(catalog):
    """FP8 weights lose 0.47% on Llama-3.1-8B (its own figure in catalog/quality.yaml):
    out at 0.46%, in at exactly 0.47%; the reason names the figure and its source."""
    _, ruled_out = _enumerate(catalog, precisions=["fp8"], max_quality_loss=0.46)
    reasons = dict(ruled_out)
    assert reasons["fp8"].startswith("published quality loss 0.47% > 0.46% allowed (--max-quality-loss); exact: ")
    assert "source: huggingface.co/neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8" in reasons["fp8"]
    cands, ruled_out = _enumerate(catalog, precisions=["fp8"], kv_precisions=["bf16"], max_quality_loss=0.47)
    assert all(p != "fp8" for p, _ in ruled_out)
    assert {c.precision.id for c in cands} == {"fp8"}


def test_fp32_is_proposed_only_when_asked_for(catalog):
    _, ruled_out = _enumerate(catalog)
    assert ("fp32", "dominated by 16-bit formats (ask for it with --precision)") in ruled_out
    assert ("tf32", "a compute mode, not a weight format") in ruled_out
    cands, ruled_out = _enumerate(catalog, precisions=["fp32"])
    assert ruled_out == [] and {c.precision.id for c in cands} == {"fp32"}


def test_a_weight_format_the_engine_does_not_serve(catalog):
    _, ruled_out = _enumerate(catalog, precisions=["q4_k_m", "bf16"])
    assert ruled_out == [("q4_k_m", "vLLM does not serve q4_k_m")]


def test_unnamed_weight_formats_are_those_the_engine_serves_within_the_loss_limit(catalog):
    """vLLM serves bf16, fp16, fp8, int8, int8-weight-only, int4, nvfp4 and
    mxfp4; at the default 3% limit Llama-3.1-8B's own MXFP4 (6.36%) and NVFP4
    (6.21%, round-to-nearest) figures put both out."""
    cands, ruled_out = _enumerate(catalog)
    reasons = dict(ruled_out)
    assert reasons["mxfp4"].startswith("published quality loss 6.36% > 3% allowed (--max-quality-loss); exact: ")
    assert reasons["nvfp4"].startswith("published quality loss 6.21% > 3% allowed (--max-quality-loss); exact: ")
    assert {c.precision.id for c in cands} == {"bf16", "fp8", "int8", "int8-weight-only", "int4"}
    assert "fp16" not in {c.precision.id for c in cands}  # runs exactly as bf16 does on an H100: one shape


def test_a_format_the_gpu_cannot_run_is_ruled_out_per_gpu(catalog):
    """vLLM runs INT8 W8A8 from Turing on, not on a V100; the support rule that says so is the reason."""
    cands, ruled_out = _enumerate(catalog, gpus=["v100-sxm-32gb", "h100-sxm"], precisions=["int8"], kv_precisions=["fp16"])
    assert [what for what, _why in ruled_out] == ["v100-sxm-32gb int8"]
    assert "support rule 'vllm-int8-volta'" in ruled_out[0][1]
    assert {c.gpu.id for c in cands} == {"h100-sxm"}


def test_kv_formats_are_filtered_with_reasons(catalog):
    _, ruled_out = _enumerate(catalog, precisions=["bf16"], kv_precisions=["int4", "int8", "bf16"])
    assert ("KV int4", "not a KV-cache format") in ruled_out
    assert ("KV int8", "vLLM cannot store its KV cache in int8") in ruled_out


def test_an_unnamed_lossy_kv_format_obeys_the_limit_and_a_named_one_does_not(catalog):
    """Llama-3.1-8B has no FP8 KV figure of its own; the nearest llama size
    with one (Llama-2-13B, 0.6%) is borrowed, and the reason says so."""
    cands, ruled_out = _enumerate(catalog, precisions=["bf16"], max_quality_loss=0.5)
    reasons = dict(ruled_out)
    assert reasons["KV fp8"].startswith("published quality loss 0.6% > 0.5% allowed (--max-quality-loss); "
                                        "borrowed: nearest size in family, from Llama-2-13b-chat")
    assert {c.kv_precision.id for c in cands} == {"fp16"}  # bf16 KV is the same bytes as fp16: one shape
    cands, ruled_out = _enumerate(catalog, precisions=["bf16"], kv_precisions=["fp8"], max_quality_loss=0.5)
    assert ruled_out == [] and {c.kv_precision.id for c in cands} == {"fp8"}
    cands, _ = _enumerate(catalog, precisions=["bf16"], max_quality_loss=0.6)  # exactly the limit
    assert {c.kv_precision.id for c in cands} == {"fp16", "fp8"}


def test_weight_and_kv_losses_add_up_against_the_limit(catalog):
    """FP8 weights (0.47%) with an FP8 cache (0.6%) lose 1.07% together on Llama-3.1-8B."""
    cands, _ = _enumerate(catalog, precisions=["fp8"], max_quality_loss=1.06)
    assert {c.kv_precision.id for c in cands} == {"fp16"}
    cands, _ = _enumerate(catalog, precisions=["fp8"], max_quality_loss=1.07)
    assert {c.kv_precision.id for c in cands} == {"fp16", "fp8"}
    cands, _ = _enumerate(catalog, precisions=["fp8"], kv_precisions=["fp8"], max_quality_loss=0.5)  # named: kept
    assert {c.kv_precision.id for c in cands} == {"fp8"}


def test_an_fp4_kv_cache_needs_fp4_hardware(catalog):
    """TensorRT-LLM stores NVFP4 KV caches; an H100 has no FP4 tensor cores
    to read one back, a B200 has."""
    kwargs = dict(engine="trtllm", precisions=["bf16"], kv_precisions=["nvfp4", "fp8"])
    cands, _ = _enumerate(catalog, gpus=["h100-sxm"], **kwargs)
    assert {c.kv_precision.id for c in cands} == {"fp8"}
    cands, _ = _enumerate(catalog, gpus=["b200"], **kwargs)
    assert {c.kv_precision.id for c in cands} == {"nvfp4", "fp8"}


# --- tensor and pipeline parallelism ---------------------------------------------------------


def test_each_tp_degree_gets_the_shallowest_fitting_pipeline_and_two_deeper(catalog):
    """Llama-3.1-8B fits one H100: every power-of-two TP degree of the node
    is scored at 1, 2 and 3 pipeline stages (EXTRA_PIPELINE_STAGES = 2)."""
    assert EXTRA_PIPELINE_STAGES == 2
    cands, _ = _enumerate(catalog, precisions=["bf16"], kv_precisions=["bf16"])
    assert [(c.tp, c.pp) for c in cands] == [(tp, pp) for tp in (1, 2, 4, 8) for pp in (1, 2, 3)]
    cands, _ = _enumerate(catalog, precisions=["bf16"], kv_precisions=["bf16"], gpus_per_node=2)
    assert [(c.tp, c.pp) for c in cands] == [(tp, pp) for tp in (1, 2) for pp in (1, 2, 3)]


def test_pipeline_stages_are_added_until_the_first_that_fits(catalog):
    """Llama-3.1-70B in BF16 (141 GB) on L4s, two per node: at each TP degree
    stages are added one at a time; the misses before the first fit are
    memory misses, and the search goes two stages past it. At TP 2, 141 GB /
    2 / pp + the KV cache fits 21.7 GB usable from pp 4 (17.6 GB of weights
    per GPU), so TP 2 is tried at 1 to 6 stages."""
    cands, _ = _enumerate(catalog, model="llama-3.1-70b", gpus=["l4"], precisions=["bf16"], kv_precisions=["bf16"],
                          gpus_per_node=2)
    assert {c.tp for c in cands} == {1, 2}
    assert [c.pp for c in cands if c.tp == 2] == [1, 2, 3, 4, 5, 6]
    for tp in (1, 2):
        at_tp = [c for c in cands if c.tp == tp]
        assert [c.pp for c in at_tp] == list(range(1, len(at_tp) + 1))
        first_fit = next(i for i, c in enumerate(at_tp) if not (isinstance(c, RejectedShape) and c.constraint is Constraint.MEMORY))
        assert all(c.constraint is Constraint.MEMORY for c in at_tp[:first_fit])
        assert len(at_tp) == first_fit + 1 + EXTRA_PIPELINE_STAGES
    assert isinstance(next(c for c in cands if (c.tp, c.pp) == (2, 4)), ScoredShape)


def test_a_shape_that_cannot_run_ends_the_pipeline_search(catalog):
    """A GPU too small for one stage and with no GPU-to-GPU link cannot be
    split: the single-stage memory miss, the two-stage refusal, and no more."""
    gpu = catalog.gpu("l4").model_copy(update={"memory_total_gib": 1.0, "interconnect_gbs": None})
    cands, _ = _enumerate(catalog, model="llama-3.1-70b", gpus=[gpu], precisions=["bf16"], kv_precisions=["bf16"],
                          gpus_per_node=1)
    assert [(c.pp, c.constraint) for c in cands] == [(1, Constraint.MEMORY), (2, Constraint.RUNNABLE)]
    assert "no GPU-to-GPU link" in cands[-1].reason


def test_pipeline_search_stops_at_its_bound(catalog):
    """Llama-3.1-405B in BF16 (811 GB) on single L4s never fits 16 stages
    (50 GB per GPU): stages 2 to MAX_PIPELINE_STAGES are tried, no more."""
    cands, _ = _enumerate(catalog, model="llama-3.1-405b", gpus=["l4"], precisions=["bf16"], kv_precisions=["bf16"],
                          gpus_per_node=1)
    assert MAX_PIPELINE_STAGES == 16
    assert [c.pp for c in cands] == list(range(1, 17))
    assert all(c.constraint is Constraint.MEMORY for c in cands)


def test_pipeline_search_stops_at_the_layer_count(catalog):
    """A model no deeper than the stage bound is split at most once per layer."""
    spec = resolve_spec(catalog, "llama-3.1-70b")
    shallow = dataclasses.replace(spec, model=spec.model.model_copy(update={"layers": 5}))
    gpu = catalog.gpu("l4").model_copy(update={"memory_total_gib": 1.0})
    cands, _ = enumerate_candidates(catalog, shallow, SHAPE, Targets(), catalog.engine("vllm"), gpus=[gpu],
                                    precisions=[catalog.precision("bf16")], kv_precisions=[catalog.precision("bf16")],
                                    gpus_per_node=1)
    assert [c.pp for c in cands] == [1, 2, 3, 4, 5]


# --- a shape's own figures ------------------------------------------------------------------


def test_a_shape_draws_its_gpus_tdp(catalog):
    """Prices are the offers' (tests/test_offers.py); a shape only knows its GPUs."""
    shape = DeploymentShape(catalog.gpu("h100-sxm"), catalog.precision("bf16"), catalog.precision("bf16"), 2, 3)
    assert shape.gpus == 6
    assert shape.power_w == 6 * 700
    bare = DeploymentShape(catalog.gpu("apple-m2-ultra"), catalog.precision("bf16"), catalog.precision("bf16"), 1, 1)
    assert bare.power_w is None
    assert shape.key == "h100-sxm tp2 pp3 bf16 kv=bf16"


def test_tp_degrees_divide_the_heads(catalog):
    """Powers of two up to the node that divide the head count: 40 heads
    (Llama-2-13B) split 1, 2, 4 or 8 ways; 14 (Qwen2.5-0.5B) only 1 or 2."""
    assert tensor_parallel_degrees(resolve_spec(catalog, "llama-2-13b"), 8) == [1, 2, 4, 8]
    assert tensor_parallel_degrees(resolve_spec(catalog, "qwen2.5-0.5b"), 8) == [1, 2]
    assert tensor_parallel_degrees(resolve_spec(catalog, "llama-2-13b"), 4) == [1, 2, 4]
    assert tensor_parallel_degrees(resolve_spec(catalog, "llama-2-13b"), 1) == [1]


def test_an_encoder_is_scored_in_samples_per_second(catalog):
    """An encoder emits no tokens: its throughput is sequences per second
    and its token rate 0."""
    c = _evaluate(catalog, Targets(latency_s=1.0), model="bert-base")
    assert isinstance(c, ScoredShape)
    assert c.throughput == c.prediction.samples_per_s > 0
    assert c.tokens_per_s == 0.0


def test_a_scored_shape_prints_without_its_engine_factors(catalog):
    c = _evaluate(catalog, Targets(latency_s=0.05))
    assert "factors=" not in repr(c) and "batch=" in repr(c)


def test_weights_that_exactly_fill_the_gpu_leave_no_room_for_a_sequence(catalog):
    """Usable memory exactly the weights' bytes (memory utilisation 1, a GPU
    of weights / 2^30 GiB, exact in binary): the weights fit, the first
    sequence's cache does not, and that is the reason given."""
    spec = resolve_spec(catalog, "llama-3.1-8b")
    h100 = catalog.gpu("h100-sxm")
    dep = Deployment(gpu=h100, precision=catalog.precision("bf16"), kv_precision=catalog.precision("bf16"),
                     engine=catalog.engine("vllm"))
    weights = perf.memory(spec.model, dep, SHAPE, 1).weights_per_gpu
    gpu = h100.model_copy(update={"memory_total_gib": weights / 2**30})
    c = evaluate(spec, SHAPE, Targets(), DeploymentShape(gpu, dep.precision, dep.kv_precision, 1, 1),
                 catalog.engine("vllm"), memory_utilization=1.0)
    assert isinstance(c, RejectedShape) and c.constraint is Constraint.MEMORY
    assert c.reason.startswith("one sequence needs ") and c.reason.endswith(f" GB > {weights / 1e9:.1f} GB usable per GPU")
