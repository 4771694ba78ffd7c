"""perf.check_deployment: each shape that cannot run is refused with its
reason (exact texts), and the edge of each rule runs."""

from __future__ import annotations

import dataclasses

import pytest

from planner.core.errors import InputError
from planner.model import perf
from planner.model.workload import Deployment


def _dep(catalog, gpu="h100-sxm", precision="bf16", kv="bf16", engine="vllm", **kwargs):
    return Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision(precision), kv_precision=catalog.precision(kv),
                      engine=catalog.engine(engine), **kwargs)


def _refusal(catalog, model, dep) -> str:
    with pytest.raises(InputError) as info:
        perf.check_deployment(catalog.model(model), dep)
    return info.value.message


@pytest.mark.parametrize("field", ["tp", "pp", "batch", "dp", "ep"])
def test_each_degree_must_be_at_least_one(catalog, field):
    dep = dataclasses.replace(_dep(catalog), **{field: 0})
    assert _refusal(catalog, "llama-3.1-8b", dep) == "tp, pp, dp, ep and batch must be at least 1"


def test_kv_heads_and_tp_must_divide_one_another(catalog):
    """Qwen2.5-0.5B: 14 heads, 2 KV heads. TP 7 divides the heads but
    neither divides nor is divided by the KV heads; TP 2 splits them."""
    dep = dataclasses.replace(_dep(catalog), tp=7)
    assert _refusal(catalog, "qwen2.5-0.5b", dep) == "tensor parallelism 7 and 2 KV heads neither divide the other"
    perf.check_deployment(catalog.model("qwen2.5-0.5b"), _dep(catalog, tp=2))


def test_mla_caches_one_latent_so_any_tp_dividing_the_heads_runs(catalog):
    """DeepSeek-V3's MLA has no KV heads to split: TP 8 runs on its 128 heads."""
    model = catalog.model("deepseek-v3")
    assert model.mla is not None
    perf.check_deployment(model, _dep(catalog, gpu="h200-sxm", tp=8))


def test_one_stage_per_layer_at_most(catalog):
    """Llama-3.1-8B has 32 layers: 32 pipeline stages run, 33 do not."""
    perf.check_deployment(catalog.model("llama-3.1-8b"), _dep(catalog, pp=32))
    assert _refusal(catalog, "llama-3.1-8b", _dep(catalog, pp=33)) == (
        "pipeline parallelism 33 exceeds llama-3.1-8b's 32 layers")


def test_a_gpu_with_no_link_runs_alone_only(catalog):
    """An M2 Ultra lists no GPU-to-GPU link: one runs, two cannot share a replica
    (llama.cpp's Metal backend: vLLM has no Apple GPU backend)."""
    apple = dict(gpu="apple-m2-ultra", precision="fp16", kv="fp16", engine="llama.cpp")
    perf.check_deployment(catalog.model("qwen2.5-0.5b"), _dep(catalog, **apple))
    dep = _dep(catalog, **apple, pp=2)
    assert _refusal(catalog, "qwen2.5-0.5b", dep) == (
        "'apple-m2-ultra' has no GPU-to-GPU link, so it cannot be split over 2 GPUs")
