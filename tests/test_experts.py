"""Expert parallelism, attention data parallelism and the rack-scale NVLink domain."""

from __future__ import annotations

import dataclasses
import json

import pytest

from planner.catalog.architecture import count_params
from planner.core.errors import InputError
from planner.model import experts, perf
from planner.model.serving import scheduler_for
from planner.model.workload import Deployment, Shape


def _dep(catalog, gpu="h200-sxm", tp=1, dp=1, ep=1, pp=1, batch=1, engine="sglang", precision="fp8"):
    return Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision(precision), kv_precision=catalog.precision("fp8"),
                      engine=catalog.engine(engine), tp=tp, pp=pp, dp=dp, ep=ep, batch=batch)


def _factors(dep):
    return dep.engine.factors_for(dep.gpu)


# --- the NVL72 domain ----------------------------------------------------------------


def test_tp8_and_ep16_inside_one_gb200_nvl72_domain_are_accepted(catalog):
    model = catalog.model("deepseek-v3")
    gb200 = catalog.gpu("gb200")
    assert gb200.gpus_per_node == 4 and gb200.fast_domain == 72
    perf.check_deployment(model, _dep(catalog, "gb200", tp=8))
    perf.check_deployment(model, _dep(catalog, "gb200", tp=8, dp=2, ep=16))
    perf.check_deployment(model, _dep(catalog, "gb200", dp=16, ep=16))
    # an HGX board's domain is its 8 GPUs: TP16 leaves it, over the network
    # where the catalog gives one, else not at all
    perf.check_deployment(model, _dep(catalog, "h200-sxm", tp=16))
    assert catalog.gpu("h200-sxm").link_gbs(16) == catalog.gpu("h200-sxm").scale_out_gbs == 100
    with pytest.raises(InputError, match="exceeds the 8 GPUs of one mi300x node"):
        perf.check_deployment(model, _dep(catalog, "mi300x", tp=16, engine="vllm"))


def test_gb200_tp8_all_reduce_and_ep16_all_to_all_run_at_nvlink_speed(catalog):
    """TP8 on GB200 crosses two 4-GPU trays and still gets NVLink 5's 1,800
    GB/s (900 each way); EP16's dispatch and combine likewise."""
    model = catalog.model("deepseek-v3")
    gb200 = catalog.gpu("gb200")
    assert gb200.link_gbs(8) == gb200.interconnect_gbs == 1800
    dep = _dep(catalog, "gb200", dp=16, ep=16)
    factors = _factors(dep).model_copy(update={"allreduce_us": 0.0})
    tokens = 1024
    # per GPU each way: 1024/16 tokens x 8 experts x 7168 x 2 bytes x moe_tp 1 x 15/16, over 900 GB/s
    leaving = tokens / 16 * 8 * 7168 * 2 * 15 / 16
    assert experts.all_to_all_s(model, dep, factors, tokens) == pytest.approx(2 * leaving / 900e9, rel=1e-12)


# --- memory per GPU with experts sharded ------------------------------------------------


@pytest.mark.parametrize("gpus", [8, 16])
def test_deepseek_v3_weights_per_gpu_with_ep_match_a_hand_calculation(catalog, gpus):
    """DeepSeek-V3 (config.json): 61 layers, the first 3 dense, 256 routed
    experts of 3 x 7168 x 2048 parameters in each of the other 58. With
    attention DP over ``gpus`` ranks (tp 1) and EP ``gpus``, a GPU holds
    1/gpus of the routed experts and all the rest (attention, shared
    experts, dense layers, embeddings). FP8: one byte per parameter,
    embeddings at the precision's embedding width."""
    model = catalog.model("deepseek-v3")
    fp8 = catalog.precision("fp8")
    routed = 58 * 256 * 3 * 7168 * 2048  # 653.9e9 parameters
    counts = count_params(model)
    embedding = counts.embedding + counts.head
    rest = counts.total - routed - embedding
    embedding_bytes = (fp8.embeddings_bits or fp8.bits_per_weight) / 8
    expected = routed / gpus + rest + embedding * embedding_bytes
    dep = _dep(catalog, "h100-sxm" if gpus == 16 else "h200-sxm", dp=gpus, ep=gpus)
    memory = perf.memory(model, dep, Shape(1024, 1024))
    assert memory.weights_per_gpu == pytest.approx(expected, rel=1e-9)
    assert routed / gpus / 1e9 == pytest.approx(653.94 / gpus, rel=1e-3)
    # tensor parallelism over the same GPUs splits everything instead
    tp_dep = _dep(catalog, "h200-sxm", tp=8)
    assert perf.memory(model, tp_dep, Shape(1024, 1024)).weights_per_gpu == pytest.approx(
        (counts.total - embedding) / 8 + embedding * embedding_bytes / 8, rel=1e-9)


def test_attention_dp_ranks_hold_only_their_own_sequences_kv(catalog):
    model = catalog.model("deepseek-v3")
    dep = _dep(catalog, dp=8, ep=8, batch=64)
    shape = Shape(1024, 1024)
    per_sequence = perf.kv_bytes_per_sequence_per_gpu(model, dep, shape.context)
    assert perf.memory(model, dep, shape).kv_cache_per_gpu == pytest.approx(per_sequence * 8)
    # MLA's latent is whole on every TP rank: TP8 keeps all 64 sequences on each GPU
    tp = _dep(catalog, tp=8, batch=64)
    assert perf.memory(model, tp, shape).kv_cache_per_gpu == pytest.approx(per_sequence * 64)


# --- the all-to-all ----------------------------------------------------------------------


def test_all_to_all_grows_when_ep_crosses_nodes(catalog):
    """Same tokens per GPU: EP8 inside one H100 node rides NVLink; EP16 over
    two nodes sends 8 of every 15 peers' shares over the 100 GB/s network."""
    model = catalog.model("deepseek-v3")
    factors = _factors(_dep(catalog, "h100-sxm")).model_copy(update={"allreduce_us": 0.0})
    inside = experts.all_to_all_s(model, _dep(catalog, "h100-sxm", dp=8, ep=8), factors, 8 * 512)
    across = experts.all_to_all_s(model, _dep(catalog, "h100-sxm", dp=16, ep=16), factors, 16 * 512)
    assert across > 5 * inside
    leaving = 512 * 8 * 7168 * 2 * 15 / 16
    assert across == pytest.approx(2 * leaving * 8 / 15 / 50e9, rel=1e-12)  # the network share decides


def test_expert_parallel_groups_beyond_the_domain_need_a_network_figure(catalog):
    model = catalog.model("deepseek-v3")
    assert catalog.gpu("mi300x").scale_out_gbs is None
    with pytest.raises(InputError, match="no scale-out network figure"):
        perf.check_deployment(model, _dep(catalog, "mi300x", dp=16, ep=16, engine="vllm"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dp": 8, "ep": 3}, "ep 3 does not divide the 8 GPUs"),
    ({"tp": 8, "ep": 8, "model": "llama-3.1-70b"}, "is dense: it has no experts"),
    ({"dp": 2, "model": "llama-3.1-70b"}, "is dense: attention data-parallel"),
])
def test_shapes_that_cannot_run_are_refused(catalog, kwargs, message):
    model = catalog.model(kwargs.pop("model", "deepseek-v3"))
    with pytest.raises(InputError, match=message):
        perf.check_deployment(model, _dep(catalog, **kwargs))


def test_experts_that_do_not_split_evenly_over_ep_are_refused(catalog):
    model = catalog.model("mixtral-8x7b")  # 8 experts
    with pytest.raises(InputError, match="does not divide mixtral-8x7b's 8 routed experts"):
        perf.check_deployment(model, _dep(catalog, dp=16, ep=16, precision="bf16"))


# --- time with attention DP -----------------------------------------------------------------


def test_ep_without_dp_is_priced_as_tensor_parallel(catalog):
    """Without attention DP every GPU holds every token, so the engines
    combine expert outputs with the all-reduce tensor parallelism uses."""
    model = catalog.model("deepseek-v3")
    shape = Shape(1024, 256)
    tp = perf.timing(model, _dep(catalog, tp=8, batch=32), shape, _factors(_dep(catalog)))
    ep = perf.timing(model, _dep(catalog, tp=8, ep=8, batch=32), shape, _factors(_dep(catalog)))
    assert (ep.ttft_s, ep.tpot_s) == (tp.ttft_s, tp.tpot_s)


def test_a_dp_rank_decodes_its_share_and_the_experts_see_every_rank(catalog):
    """DP8 at batch 64: each rank's attention reads 8 sequences' KV; the
    experts' weights read are those 64 tokens touch, over all 8 GPUs."""
    model = catalog.model("deepseek-v3")
    dep = _dep(catalog, dp=8, ep=8, batch=64)
    step = perf.decode_step(model, dep, _factors(dep), 64, 2048)
    fp8 = catalog.precision("fp8")
    routed = experts.routed_bytes(model, fp8)
    touched = routed * experts.touched_share(model, 64)
    weights = perf.decode_weight_bytes(model, fp8, 64)
    kv = perf.kv_bytes_per_sequence_per_gpu(model, dep, 2048) * 8
    assert step.bytes_per_gpu == pytest.approx((weights - touched) + touched / 8 + kv, rel=1e-12)


def test_a_replica_of_dp_ranks_runs_one_scheduler_per_rank(catalog):
    engine = catalog.engine("sglang")
    one, eight = scheduler_for(engine), scheduler_for(engine, 8)
    assert eight.max_num_batched_tokens == 8 * one.max_num_batched_tokens
    assert eight.max_num_seqs == (None if one.max_num_seqs is None else 8 * one.max_num_seqs)


# --- the command line -------------------------------------------------------------------------


def test_predict_takes_dp_and_ep_and_reports_them(cli):
    result = cli("predict", "deepseek-v3", "--gpu", "h200", "--precision", "fp8", "--dp", "8", "--ep", "8",
                     "--engine", "sglang", "--format", "json")
    assert result.exit_code == 0, (result.stdout + result.stderr)
    data = json.loads(result.stdout)
    assert (data["gpus"], data["tp"], data["dp"], data["ep"], data["moe_tp"]) == (8, 1, 8, 8, 1)
    assert data["fits"] is True
    table = cli("predict", "deepseek-v3", "--gpu", "h200", "--precision", "fp8", "--dp", "8", "--ep", "8")
    assert "TP 1, DP 8, EP 8, PP 1" in table.stdout


def test_predict_refuses_ep_on_a_dense_model_with_one_line(cli):
    result = cli("predict", "llama-3.1-8b", "--gpu", "h100", "--ep", "2")
    assert result.exit_code == 2
    assert "is dense: it has no experts to split over ep 2" in (result.stdout + result.stderr)
    assert "Traceback" not in (result.stdout + result.stderr)


def test_a_dp_replica_holds_all_but_the_routed_experts_once_per_rank(catalog):
    model = catalog.model("deepseek-v3")
    dep = _dep(catalog, dp=8, ep=8)
    memory = perf.memory(model, dep, Shape(1024, 1024))
    routed = experts.routed_bytes(model, dep.precision)
    layers, embed = perf.weight_split(model, dep.precision)
    assert memory.weights == pytest.approx(routed + 8 * (layers + embed - routed))
    assert memory.weights == pytest.approx(8 * memory.weights_per_gpu, rel=1e-9)  # no PP: every GPU holds the same


def test_batch_max_counts_every_rank_s_scheduler(catalog):
    """An engine capped at 16 sequences per scheduler: DP8 runs eight schedulers."""
    model = catalog.model("deepseek-v3")
    capped = catalog.engine("sglang").model_copy(update={"max_batch": 16})
    one = dataclasses.replace(_dep(catalog, tp=8), engine=capped)
    eight = dataclasses.replace(_dep(catalog, dp=8, ep=8), engine=capped)
    assert perf.max_batch(model, one, Shape(128, 128)) == 16
    assert perf.max_batch(model, eight, Shape(128, 128)) == 128


# --- fit explores the layouts ---------------------------------------------------------------


def test_fit_scores_attention_dp_by_expert_parallel_shapes(catalog):
    """For a mixture of experts the candidates hold DP x EP stages within the
    node and, where the network is known, over whole nodes, with ranks of 1
    GPU up to a node's (tensor-parallel inside a rank) and the experts split
    over the whole stage; a dense model gets none."""
    from planner.model.resolve import resolve_spec
    from planner.plan.candidates import ScoredShape, enumerate_candidates, expert_parallel_degrees
    from planner.plan.question import Targets

    spec = resolve_spec(catalog, "deepseek-v3")
    h200 = catalog.gpu("h200-sxm")
    assert expert_parallel_degrees(spec, h200, 8) == [2, 4, 8, 16, 32]
    assert expert_parallel_degrees(spec, catalog.gpu("mi300x"), 8) == [2, 4, 8]  # no network figure: one node
    assert expert_parallel_degrees(resolve_spec(catalog, "llama-3.1-70b"), h200, 8) == []
    cands, _ = enumerate_candidates(catalog, spec, Shape(1024, 256), Targets(latency_s=0.1), catalog.engine("sglang"),
                                    gpus=[h200], precisions=[catalog.precision("fp8")],
                                    kv_precisions=[catalog.precision("fp8")], unit_gpus={"h200-sxm": 8})
    wide = {(c.tp, c.dp, c.ep): c for c in cands if c.dp > 1}
    assert set(wide) == {(tp, stage // tp, stage) for stage in (2, 4, 8, 16, 32) for tp in (1, 2, 4, 8) if tp < stage}
    assert (8, 4, 32) in wide and (2, 4, 8) in wide  # a node per rank over four nodes; TP2 x DP4 in one
    assert isinstance(wide[(1, 8, 8)], ScoredShape) and wide[(1, 8, 8)].gpus == 8
    assert wide[(1, 8, 8)].key == "h200-sxm tp1 dp8 ep8 pp1 fp8 kv=fp8"


def test_an_expert_parallel_stage_over_nodes_takes_whole_nodes(catalog):
    from planner.plan.candidates import DeploymentShape
    from planner.plan.offers import Acquisition, Offer
    from planner.plan.placement import place

    def rent(gpus):
        g = catalog.gpu("h100-sxm")
        return Offer(key=f"rent {gpus}", acquisition=Acquisition.RENT, gpu=g, gpus=gpus, label=f"{gpus}x h100",
                     hourly_usd=1.0 * gpus, capex_usd=0.0, power_w=700.0 * gpus, power_basis="GPU TDP only")

    shape = DeploymentShape(catalog.gpu("h100-sxm"), catalog.precision("fp8"), catalog.precision("fp8"), 1, 1, dp=16, ep=16)
    placed = place(shape, rent(8))
    assert placed is not None and placed.offers_per_unit == 2 and placed.gpus_per_unit == 16
    assert place(shape, rent(1)) is None  # single GPUs are not the nodes the network figure describes
