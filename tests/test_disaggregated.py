"""Disaggregated serving: two pools, the KV transfer between them, and the CLI."""

from __future__ import annotations

import json

import pytest

from planner.core.errors import InputError
from planner.model import disaggregated, perf
from planner.model.predict_pools import parse_pool
from planner.model.workload import Deployment, Shape


def _dep(catalog, gpu="h200-sxm", tp=8, dp=1, ep=1, kv="fp8"):
    return Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision("fp8"), kv_precision=catalog.precision(kv),
                      engine=catalog.engine("sglang"), tp=tp, dp=dp, ep=ep)


def test_kv_transfer_moves_the_unique_cache_once(catalog):
    """DeepSeek-V3's MLA cache: (512 latent + 64 RoPE) x 61 layers per token,
    one byte each in FP8, whatever the tensor parallelism (the latent sits
    whole on every TP rank, and moves once)."""
    model = catalog.model("deepseek-v3")
    assert disaggregated.kv_transfer_bytes(model, _dep(catalog), 8192) == 8192 * 576 * 61


def test_a_disaggregated_ttft_includes_the_kv_transfer(catalog):
    """Two H200 nodes over the 100 GB/s network: an 8,192-token prompt's 288 MB
    go from 8 GPUs at 50 GB/s each way, 0.72 ms plus the fixed latency; on
    GB200 inside one NVL72 rack, over NVLink at 900 GB/s each way."""
    model = catalog.model("deepseek-v3")
    shape = Shape(8192, 1024)
    pools = disaggregated.Pools(_dep(catalog), _dep(catalog))
    factors = pools.prefill.engine.factors_for(pools.prefill.gpu)
    timing = disaggregated.closed_loop(model, pools, shape, 1, factors, factors)
    moved = 8192 * 576 * 61
    assert timing.transfer_s == pytest.approx(factors.allreduce_us * 1e-6 + moved / (8 * 50e9), rel=1e-12)
    assert timing.ttft_s == pytest.approx(timing.queue_s + timing.prefill_s + timing.transfer_s, rel=1e-12)
    assert timing.prefill_s == pytest.approx(perf.prefill(model, pools.prefill, factors, 1, 8192).total_s)
    rack = disaggregated.Pools(_dep(catalog, "gb200"), _dep(catalog, "gb200"))
    gbs, link = disaggregated.transfer_link_gbs(rack)
    assert gbs == 1800 and "72-GPU domain" in link


def test_tpot_comes_from_the_decode_pool_alone(catalog):
    """No prompt shares a decode step: TPOT is the decode pool's step at its
    batch, the clients spread over the decode workers."""
    model = catalog.model("deepseek-v3")
    shape = Shape(4096, 512)
    pools = disaggregated.Pools(_dep(catalog), _dep(catalog, tp=1, dp=8, ep=8), 1, 2)
    factors = pools.decode.engine.factors_for(pools.decode.gpu)
    timing = disaggregated.closed_loop(model, pools, shape, 64, factors, factors)
    assert timing.decode_batch == 32
    steps = perf.decode_steps(model, pools.decode, factors, 32, 4096, 511)
    assert timing.tpot_s == pytest.approx(sum(s.total_s for s in steps) / len(steps))


def test_a_prefill_pool_that_cannot_keep_up_caps_the_loop(catalog):
    model = catalog.model("deepseek-v3")
    shape = Shape(8192, 16)
    pools = disaggregated.Pools(_dep(catalog), _dep(catalog))
    factors = pools.prefill.engine.factors_for(pools.prefill.gpu)
    light = disaggregated.closed_loop(model, pools, shape, 1, factors, factors)
    heavy = disaggregated.closed_loop(model, pools, shape, 256, factors, factors)
    assert light.prefill_utilization < 1 and heavy.prefill_utilization == 1
    assert heavy.ttft_s > 10 * light.ttft_s
    more = disaggregated.closed_loop(model, disaggregated.Pools(pools.prefill, pools.decode, 4, 1), shape, 256,
                                     factors, factors)
    assert more.ttft_s < heavy.ttft_s  # more prefill workers shorten the wait


def test_pools_must_share_the_kv_format(catalog):
    pools = disaggregated.Pools(_dep(catalog, kv="fp8"), _dep(catalog, kv="fp16"))
    with pytest.raises(InputError, match="same format"):
        disaggregated.check_pools(catalog.model("deepseek-v3"), pools)


@pytest.mark.parametrize(("text", "message"), [
    ("tp8", "is not key=value"),
    ("gpus=8", "unknown key 'gpus'"),
    ("tp=0", "must be a whole number"),
    ("tp=2,tp=4", "given twice"),
])
def test_pool_specs_are_checked(text, message):
    with pytest.raises(InputError, match=message):
        parse_pool(text, "--prefill-pool")


def test_predict_disaggregated_json(cli):
    result = cli("predict", "deepseek-v3", "--gpu", "h200", "--precision", "fp8", "--tp", "8", "--batch", "64",
                 "--input", "8192", "--output", "1024", "--disaggregated", "--prefill-pool", "workers=2",
                 "--decode-pool", "dp=8,ep=8", "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ratio"] == "2P1D" and data["gpus"] == 24
    assert (data["decode_pool"]["tp"], data["decode_pool"]["dp"], data["decode_pool"]["ep"]) == (1, 8, 8)
    parts = data["ttft_parts_ms"]
    assert data["ttft_ms"] == pytest.approx(sum(parts.values()), abs=1e-3)
    assert parts["kv_transfer"] > 0


def test_pool_flags_need_disaggregated(cli):
    result = cli("predict", "deepseek-v3", "--gpu", "h200", "--decode-pool", "tp=8")
    assert result.exit_code == 2
    assert "add --disaggregated" in result.stderr and "Traceback" not in result.stderr


def test_a_prompt_s_cache_moves_from_one_dp_rank(catalog):
    """With attention DP a prompt is cached on one rank: its tp GPUs send it."""
    model = catalog.model("deepseek-v3")
    pools = disaggregated.Pools(_dep(catalog, tp=1, dp=8, ep=8), _dep(catalog, tp=1, dp=8, ep=8))
    factors = pools.prefill.engine.factors_for(pools.prefill.gpu)
    moved = 8192 * 576 * 61
    assert disaggregated.transfer_s(model, pools, 8192, factors) == pytest.approx(
        factors.allreduce_us * 1e-6 + moved / (1 * 50e9), rel=1e-12)
