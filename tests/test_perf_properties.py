"""Properties the performance model must keep for any catalog entry (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner.model import perf
from planner.catalog.load import load_catalog
from planner.model.workload import Deployment, Shape

CATALOG = load_catalog()
DECODERS = sorted(m.id for m in CATALOG.models.values() if m.kind == "decoder")
GPUS = sorted(CATALOG.gpus)
FORMATS = sorted(p.id for p in CATALOG.precisions.values() if p.weight_format)

cases = st.fixed_dictionaries({
    "model": st.sampled_from(DECODERS),
    "gpu": st.sampled_from(GPUS),
    "precision": st.sampled_from(FORMATS),
    "kv": st.sampled_from(["fp16", "fp8"]),
    "batch": st.integers(1, 512),
    "context": st.integers(1, 32_000),
})
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _setup(case):
    """The model, a deployment and its factors; cases the GPU cannot run are
    discarded (assume), so they neither pass vacuously nor count as examples."""
    gpu, precision = CATALOG.gpu(case["gpu"]), CATALOG.precision(case["precision"])
    assume(perf.matmul_format(gpu, precision, CATALOG.engine("vllm")) is not None)
    dep = Deployment(gpu=gpu, precision=precision, kv_precision=CATALOG.precision(case["kv"]),
                     engine=CATALOG.engine("vllm"), batch=case["batch"])
    return CATALOG.model(case["model"]), dep, dep.engine.factors_for(gpu)


@SETTINGS
@given(cases)
def test_decode_step_grows_with_batch_and_context(case):
    model, dep, f = _setup(case)
    b, c = case["batch"], case["context"]
    step = perf.decode_step(model, dep, f, b, c).total_s
    assert perf.decode_step(model, dep, f, b + 1, c).total_s >= step
    assert perf.decode_step(model, dep, f, b, c + 256).total_s >= step


@SETTINGS
@given(cases)
def test_more_bandwidth_is_never_slower(case):
    model, dep, f = _setup(case)
    faster = Deployment(**{**dep.__dict__, "gpu": dep.gpu.model_copy(
        update={"memory_bandwidth_gbs": min(dep.gpu.memory_bandwidth_gbs * 2, 1e6)})})
    b, c = case["batch"], case["context"]
    assert perf.decode_step(model, faster, f, b, c).total_s <= perf.decode_step(model, dep, f, b, c).total_s


@SETTINGS
@given(cases)
def test_memory_grows_with_batch_and_max_batch_fits(case):
    model, dep, _f = _setup(case)
    shape = Shape(max(case["context"] // 2, 1), max(case["context"] // 2, 1))
    b = case["batch"]
    assert perf.memory(model, dep, shape, b + 1).per_gpu > perf.memory(model, dep, shape, b).per_gpu
    most = perf.max_batch(model, dep, shape)
    if most:
        assert perf.memory(model, dep, shape, most).fits
        if most < (dep.engine.max_batch or 4096):
            assert not perf.memory(model, dep, shape, most + 1).fits
    else:
        assert not perf.memory(model, dep, shape, 1).fits


@SETTINGS
@given(cases)
def test_throughput_and_latency_trade(case):
    """Batching raises throughput and costs latency (the seed article's trade-off)."""
    model, dep, f = _setup(case)
    shape = Shape(512, 128)
    small = perf.timing(model, dep, shape, f, 1)
    large = perf.timing(model, dep, shape, f, max(case["batch"], 2))
    assert large.tpot_s >= small.tpot_s
    assert large.tokens_per_s >= small.tokens_per_s * 0.999
