"""The performance model: memory formulas, roofline bounds, parallelism, MoE, encoders."""

from __future__ import annotations

import json

import pytest

from planner.model import perf
from planner.catalog.architecture import count_params
from planner.core.errors import InputError
from planner.model.predict import predict
from planner.model.workload import Deployment, Shape


def _dep(catalog, gpu="h100-sxm", precision="bf16", kv="bf16", engine="vllm", tp=1, pp=1, batch=1, **kw):
    return Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision(precision), kv_precision=catalog.precision(kv),
                      engine=catalog.engine(engine), tp=tp, pp=pp, batch=batch, **kw)


def test_llama3_8b_kv_per_token_matches_reference(catalog):
    """references/precisions.md section 3: Llama-3-8B holds 128 KiB per token in BF16, 64 KiB in FP8."""
    model = catalog.model("llama-3-8b")
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog)) == 128 * 1024
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog, kv="fp8")) == 64 * 1024


def test_gqa_kv_cache_is_an_eighth_of_mha(catalog):
    """Llama-2-70B: 64 query heads, 8 KV heads -> 1/8 of the MHA formula 2 x L x heads x d x bytes."""
    model = catalog.model("llama-2-70b")
    mha = 2 * model.layers * model.heads * model.head_dim * 2
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog)) * 8 == mha


def test_mla_caches_the_latent(catalog):
    """DeepSeek-V3 MLA: (kv_lora_rank 512 + rope 64) x 61 layers elements per token (DeepSeek-V2 paper, sec 2.1)."""
    model = catalog.model("deepseek-v3")
    assert perf.kv_elements_per_token(model) == 61 * (512 + 64)
    mha = 2 * model.layers * model.heads * model.head_dim
    assert perf.kv_elements_per_token(model) < mha / 50


def test_kv_split_over_tp_and_replicated_past_kv_heads(catalog):
    model = catalog.model("llama-3.1-70b")  # 8 KV heads
    one = perf.kv_bytes_per_token_per_gpu(model, _dep(catalog))
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog, tp=8)) == one / 8
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog, tp=16, gpu="h100-sxm")) == one / 8  # replicated


@pytest.mark.parametrize("model_id, gpu, tp, pp, batch", [
    ("llama-2-7b", "a100-sxm-80gb", 1, 1, 8),
    ("llama-3.1-70b", "h100-sxm", 4, 1, 64),
    ("mixtral-8x7b", "h100-sxm", 2, 2, 16),
    ("qwen2.5-0.5b", "l4", 1, 1, 1),
])
def test_most_loaded_gpu_holds_at_least_its_share(catalog, model_id, gpu, tp, pp, batch):
    """The parts themselves are checked against hand figures in test_perf_memory.py."""
    model = catalog.model(model_id)
    m = perf.memory(model, _dep(catalog, gpu=gpu, tp=tp, pp=pp, batch=batch), Shape(1024, 512))
    assert m.per_gpu <= m.total
    assert m.per_gpu * tp * pp >= m.total * 0.99  # the most loaded GPU holds at least its share


def test_weights_at_16_bit_match_parameter_count(catalog):
    model = catalog.model("llama-2-13b")
    m = perf.memory(model, _dep(catalog), Shape(1, 1))
    assert m.weights == 2 * count_params(model).total


def test_quantised_weights_keep_embeddings_16_bit(catalog):
    model = catalog.model("qwen2.5-7b")
    counts = count_params(model)
    embed = counts.embedding + counts.head
    expected = (counts.total - embed) * 4.156 / 8 + embed * 2
    m = perf.memory(model, _dep(catalog, precision="int4", kv="fp16"), Shape(1, 1))
    assert m.weights == pytest.approx(expected, rel=1e-3)


def _every_runnable(catalog):
    """Every model x GPU x weight format that some engine runs, with the first such engine."""
    for model in catalog.models.values():
        for gpu in catalog.gpus.values():
            for precision in catalog.precisions.values():
                engine = next((e for e in catalog.engines.values() if precision.weight_format
                               and perf.matmul_format(gpu, precision, e) is not None), None)
                if engine is not None:
                    yield model, gpu, precision, engine


def test_no_prediction_beats_the_physical_limit(catalog):
    """Every model x GPU x precision: each pass is no faster than the same formulas at
    100% of peak, nor than the plain bounds bytes / peak bandwidth and FLOPs / peak FLOP/s."""
    checked = 0
    for model, gpu, precision, engine in _every_runnable(catalog):
        dep = _dep(catalog, gpu=gpu.id, precision=precision.id, kv="fp16", engine=engine.id)
        factors = dep.engine.factors_for(gpu)
        limit = perf.physical_limit(factors)
        prompt = 256
        real_p = perf.prefill(model, dep, factors, 1, prompt)
        ideal_p = perf.prefill(model, dep, limit, 1, prompt)
        assert real_p.total_s >= ideal_p.total_s
        _fmt, peak = perf.matmul_format(gpu, precision, engine)
        assert real_p.total_s >= perf.gemm_flops(model, prompt, 1) / max(peak, perf.attention_rate(gpu))
        if model.kind == "decoder":
            real_d = perf.decode_step(model, dep, factors, 1, prompt)
            ideal_d = perf.decode_step(model, dep, limit, 1, prompt)
            assert real_d.total_s >= ideal_d.total_s
            weights_read = perf.decode_weight_bytes(model, precision, 1)
            assert real_d.total_s >= weights_read / gpu.memory_bandwidth_bytes_per_s
        checked += 1
    assert checked > 5000


def test_nvlink_beats_pcie_at_tp2(catalog):
    model = catalog.model("llama-3.1-70b")
    nvlink = catalog.gpu("h100-sxm")
    pcie = nvlink.model_copy(update={"interconnect": "PCIe Gen5 x16", "interconnect_gbs": 128})
    shape = Shape(2048, 128)

    def tpot(gpu):
        dep = Deployment(gpu=gpu, precision=catalog.precision("fp8"), kv_precision=catalog.precision("fp8"),
                         engine=catalog.engine("vllm"), tp=2, batch=32)
        return perf.timing(model, dep, shape, dep.engine.factors_for(gpu)).tpot_s

    assert tpot(nvlink) < tpot(pcie)


def test_decode_bound_moves_from_memory_to_compute(catalog):
    """A 7B model on an H100: batch 1 decode is bandwidth-bound, batch 512 compute-bound."""
    model = catalog.model("mistral-7b")
    dep = _dep(catalog)
    factors = dep.engine.factors_for(dep.gpu)
    assert perf.decode_step(model, dep, factors, 1, 256).bound == "memory"
    assert perf.decode_step(model, dep, factors, 512, 256).bound == "compute"


def test_tpot_grows_with_context(catalog):
    model = catalog.model("llama-2-7b")
    dep = _dep(catalog, batch=16)
    factors = dep.engine.factors_for(dep.gpu)
    short = perf.decode_step(model, dep, factors, 16, 128).total_s
    long = perf.decode_step(model, dep, factors, 16, 4096).total_s
    assert long > short


def test_moe_reads_only_routed_experts_at_batch_1(catalog):
    model = catalog.model("mixtral-8x7b")
    p = catalog.precision("bf16")
    counts = count_params(model)
    one = perf.decode_weight_bytes(model, p, 1)
    # batch 1 touches 2 of 8 experts: about the active parameters (head read once, embedding row ~0)
    assert one == pytest.approx((counts.active - counts.embedding / 2) * 2, rel=0.02)
    many = perf.decode_weight_bytes(model, p, 256)
    assert many == pytest.approx((counts.total - counts.embedding / 2) * 2, rel=0.01)
    assert perf.decode_weight_bytes(model, p, 4) > one


def test_moe_memory_holds_all_experts_and_flops_use_active(catalog):
    model = catalog.model("mixtral-8x7b")
    counts = count_params(model)
    m = perf.memory(model, _dep(catalog, tp=2), Shape(1, 1))
    assert m.weights == 2 * counts.total
    assert perf.gemm_flops(model, 1, 1) == pytest.approx(2 * counts.matmul_active, rel=1e-9)
    assert counts.matmul_active < counts.total / 3


def test_encoder_latency_and_samples(catalog):
    p = predict(catalog, "bert-base", "a100-sxm-40gb", precision="fp16", batch=8, input_tokens=128, engine="tensorrt")
    assert p.timing.tpot_s is None and p.timing.tokens_per_s is None
    assert p.timing.samples_per_s == pytest.approx(8 / p.timing.e2e_s)
    assert p.memory.kv_cache == 0


def test_pipeline_parallel_batch_1_has_no_overlap(catalog):
    model = catalog.model("llama-2-70b")
    one = _dep(catalog, tp=2, pp=1)
    two = _dep(catalog, tp=2, pp=2)
    f = one.engine.factors_for(one.gpu)
    # at batch 1 a token still passes every layer in turn: PP adds hand-offs, never speed
    assert perf.decode_step(model, two, f, 1, 512).total_s >= perf.decode_step(model, one, f, 1, 512).total_s * 0.99


def test_prediction_that_does_not_fit_says_why(catalog):
    p = predict(catalog, "llama-3.1-70b", "l4", precision="bf16")
    assert not p.fits
    assert "usable" in p.fit_reason
    assert p.timing.tpot_s > 0


def test_derived_architecture_matches_count(catalog):
    p = predict(catalog, "13B", "h100", precision="bf16")
    assert p.spec.approximate
    assert count_params(p.spec.model).total == pytest.approx(13e9, rel=0.01)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(tp=3), "does not divide"),
    (dict(precision="fp8", gpu="t4"), None),  # runs through its 16-bit fallback
    (dict(precision="tf32"), "compute mode"),
    (dict(kv_precision="int4"), "not a KV-cache format"),
    (dict(gpus=3, tp=2), "not a multiple"),
    (dict(tp=16, gpu="mi300x"), "exceeds"),  # no scale-out network in the catalog: TP stays in the node
])
def test_impossible_deployments_are_refused(catalog, kwargs, fragment):
    args = dict(model="llama-2-7b", gpu="h100-sxm", precision="bf16")
    args.update(kwargs)
    if fragment is None:
        assert predict(catalog, args.pop("model"), args.pop("gpu"), **args).matmul_format == "fp16"
        return
    with pytest.raises(InputError) as info:
        predict(catalog, args.pop("model"), args.pop("gpu"), **args)
    assert fragment in str(info.value)


def test_predict_json_contract(cli):
    result = cli("predict", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--precision", "fp16", "--batch", "1",
                 "--input", "128", "--output", "128", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("model", "gpu", "gpus", "tp", "pp", "replicas", "precision", "kv_precision", "batch", "input", "output",
                "fits", "ttft_ms", "tpot_ms", "e2e_ms", "output_tokens_per_s", "bound", "memory_gb", "approximate"):
        assert key in data, key
    for key in ("weights", "kv_cache", "activations", "runtime", "total", "per_gpu", "capacity_per_gpu"):
        assert key in data["memory_gb"], key
    assert data["e2e_ms"] == pytest.approx(data["ttft_ms"] + 127 * data["tpot_ms"], rel=1e-3)
    assert data["bound"] == "memory"


def test_predict_batch_max_and_replicas(cli):
    data = json.loads(cli("predict", "llama-3.1-8b", "--gpu", "h100", "--gpus", "4", "--batch", "max",
                          "--format", "json").stdout)
    assert data["replicas"] == 4 and data["batch_is_max"]
    assert data["batch"] == 4 * data["batch_per_replica"]
    assert data["fits"]


def test_unknown_engine_is_an_error(cli):
    result = cli("predict", "llama-2-7b", "--gpu", "h100", "--engine", "fastllm")
    assert result.exit_code == 2 and "unknown engine 'fastllm'" in result.stderr


def test_tensor_parallel_beyond_a_bridge_crosses_pcie(catalog):
    """An NVLink bridge joins pairs: TP 4 on RTX A6000s all-reduces over PCIe Gen4 (64 GB/s), not the bridge."""
    gpu = catalog.gpu("rtx-a6000")
    assert gpu.link_gbs(2) == gpu.interconnect_gbs and gpu.link_gbs(4) == 64
    model = catalog.model("llama-3.1-70b")
    bridged = _dep(catalog, gpu="rtx-a6000", tp=4)
    switched = Deployment(gpu=gpu.model_copy(update={"interconnect_domain": None}), precision=bridged.precision,
                          kv_precision=bridged.kv_precision, engine=bridged.engine, tp=4)
    f = bridged.engine.factors_for(gpu)
    assert perf.prefill(model, bridged, f, 1, 2048).communication_s > perf.prefill(model, switched, f, 1, 2048).communication_s
