"""Expert parallelism and attention data parallelism of a mixture of experts.

Where the routed experts sit, how much of them a pass reads and computes,
and the traffic that carries each token to its experts and back.

With attention data parallelism (``dp`` ranks) each rank holds its own
requests and runs attention for them, split ``tp`` ways; the expert layers
are shared by all ``tp x dp`` GPUs of the pipeline stage. The routed experts
split into ``ep`` groups (expert parallelism), each sharded ``moe_tp`` ways.
Everything else (attention, shared experts, dense FFN layers, embeddings)
is split ``tp`` ways inside a rank and repeated on every rank, as in
SGLang's DP attention and TensorRT-LLM's attention DP (the engines also
offer to shard the dense layers wider; not modelled).

Between attention and the experts the tokens of different ranks must meet:
- ``ep`` = 1: the experts are tensor-parallel over the stage, so every GPU
  needs every token: an all-gather of the stage's tokens and a
  reduce-scatter of the results, the traffic of one ring all-reduce.
- ``ep`` > 1: an all-to-all dispatch sends each token to the GPUs holding
  its ``k`` experts and a combine brings the results back (DeepSeek-V3
  technical report, arXiv:2412.19437, section 3.4; DeepEP). A token goes to
  each of the ``moe_tp`` shards of an expert, and stays home for the
  experts on its own GPU: per GPU, each way,
  tokens/G x k x hidden x 2 bytes x moe_tp x (1 - 1/ep).
  Inside the fast domain (NVLink) the traffic runs at the fast link;
  across domains the share bound for other domains runs over the scale-out
  network (``Gpu.scale_out_gbs``) at the same time, and the slower decides.
"""

from __future__ import annotations

import math

from planner.catalog.architecture import count_params, moe_layer_count
from planner.catalog.schema import EngineFactors, Model, Precision
from planner.core.errors import InputError
from planner.model.workload import Deployment

MESSAGE_BYTES = 2  # tokens travel in 16-bit, as the all-reduce messages do

# FITTED, global (every engine and GPU): by benchmarks/moe_accuracy.py --fit
# on the aggregated MoE runs of benchmarks/data/silicon-hopper.csv (H100 and
# H200; TensorRT-LLM, vLLM, SGLang; see that script for the held-out errors).
# The routed experts' grouped GEMMs reach this share of what the engine's
# dense GEMMs reach (many small GEMMs, one per expert), and a pass that
# prefills pays this fixed cost per MoE layer (routing, token permutation,
# grouped-GEMM setup) on top of the engine's fixed prefill cost.
EXPERT_GEMM_SHARE = 0.6
MOE_PREFILL_LAYER_US = 200.0


def expert_params(model: Model) -> float:
    """Parameters of one expert (routed or shared) of one MoE layer."""
    assert model.moe is not None
    moe = model.moe
    counts = count_params(model)
    moe_layers = moe_layer_count(model)
    dense_layers = model.layers - moe_layers
    dense_ffn = dense_layers * (3 if model.ffn_gated else 2) * model.hidden_size * model.ffn_size
    return (counts.ffn - dense_ffn) / (moe_layers * (moe.experts + moe.shared_experts))


def routed_bytes(model: Model, precision: Precision) -> float:
    """Bytes of every routed expert of every MoE layer (0 for a dense model)."""
    if model.moe is None:
        return 0.0
    return moe_layer_count(model) * model.moe.experts * expert_params(model) * precision.bits_per_weight / 8


def touched_share(model: Model, tokens: float) -> float:
    """Share of the routed experts that ``tokens`` tokens, each choosing k of
    E experts uniformly, reach: 1 - (1 - k/E)^tokens."""
    if model.moe is None:
        return 0.0
    moe = model.moe
    return 1 - (1 - moe.active_experts / moe.experts) ** tokens


def routed_gemm_flops(model: Model, tokens: float) -> float:
    """GEMM FLOPs of the routed experts for ``tokens`` tokens: 2 per active
    routed parameter per token."""
    if model.moe is None:
        return 0.0
    return 2.0 * moe_layer_count(model) * model.moe.active_experts * expert_params(model) * tokens


def expert_gemm_s(model: Model, tokens: float, rate: float) -> float:
    """Extra seconds the routed experts' GEMMs of ``tokens`` tokens take,
    beyond their FLOPs at ``rate`` (the engine's achieved dense GEMM FLOP/s):
    what EXPERT_GEMM_SHARE below 1 adds."""
    return routed_gemm_flops(model, tokens) / rate * (1 / EXPERT_GEMM_SHARE - 1)


def prefill_overhead_s(model: Model) -> float:
    """The fitted fixed cost of the MoE layers in a pass that prefills."""
    return 0.0 if model.moe is None else moe_layer_count(model) * MOE_PREFILL_LAYER_US * 1e-6


def check_experts(model: Model, dep: Deployment) -> None:
    """Refuse data- or expert-parallel shapes that cannot run."""
    if dep.dp < 1 or dep.ep < 1:
        raise InputError("dp and ep must be at least 1")
    if model.moe is None:
        if dep.ep > 1:
            raise InputError(f"{model.id} is dense: it has no experts to split over ep {dep.ep}",
                             hint="leave --ep out; expert parallelism is for mixtures of experts")
        if dep.dp > 1:
            raise InputError(f"{model.id} is dense: attention data-parallel ranks share expert layers it does not have",
                             hint="serve more copies with --gpus (replicas) instead of --dp")
        return
    if dep.stage_gpus % dep.ep:
        raise InputError(f"ep {dep.ep} does not divide the {dep.stage_gpus} GPUs of a stage (tp {dep.tp} x dp {dep.dp})",
                         hint="choose ep equal to tp x dp or one of its divisors")
    if model.moe.experts % dep.ep:
        raise InputError(f"ep {dep.ep} does not divide {model.id}'s {model.moe.experts} routed experts",
                         hint="choose an ep that divides the expert count")
    domain = dep.gpu.fast_domain
    if dep.stage_gpus > domain and (dep.dp > 1 or dep.ep > 1):
        if dep.gpu.scale_out_gbs is None:
            raise InputError(f"{dep.stage_gpus} GPUs share the experts, more than the {domain} of one "
                             f"{dep.gpu.id} NVLink domain, and the catalog has no scale-out network figure for it",
                             hint=f"keep tp x dp within {domain}")
        if dep.stage_gpus % domain:
            raise InputError(f"{dep.stage_gpus} GPUs share the experts: more than one {domain}-GPU {dep.gpu.id} domain "
                             "but not whole ones", hint=f"make tp x dp a multiple of {domain}")


def _one_way(gbs: float | None) -> float:
    if gbs is None:
        raise InputError("no link figure in the catalog for this GPU-to-GPU traffic")
    return gbs * 1e9 / 2


def stage_allreduce_s(message_bytes: float, dep: Deployment, factors: EngineFactors) -> float:
    """Ring all-reduce (or all-gather + reduce-scatter) over all GPUs of a
    stage: 2(G-1)/G of the message over the slowest link the ring crosses."""
    g = dep.stage_gpus
    if g == 1:
        return 0.0
    gbs = dep.gpu.link_gbs(g)
    return factors.allreduce_us * 1e-6 + 2 * (g - 1) / g * message_bytes / _one_way(gbs)


def all_to_all_s(model: Model, dep: Deployment, factors: EngineFactors, tokens: float) -> float:
    """Dispatch and combine of one MoE layer for ``tokens`` tokens of the
    stage (module docstring): each way a fixed latency (the engine's fitted
    all-reduce latency) plus the bytes over the links they cross."""
    assert model.moe is not None
    g = dep.stage_gpus
    leaving = tokens / g * model.moe.active_experts * model.hidden_size * MESSAGE_BYTES * dep.moe_tp * (1 - 1 / dep.ep)
    gpu = dep.gpu
    if g <= gpu.fast_domain:
        transfer = leaving / _one_way(gpu.interconnect_gbs)
    else:
        domain = gpu.fast_domain
        inside = leaving * (domain - 1) / (g - 1)  # peers spread evenly over the stage
        transfer = max(inside / _one_way(gpu.interconnect_gbs), (leaving - inside) / _one_way(gpu.scale_out_gbs))
    return 2 * (factors.allreduce_us * 1e-6 + transfer)


def rank_share(sequences: int, dp: int) -> float:
    """Share of ``sequences`` that the busiest of ``dp`` ranks holds, the
    requests spread as evenly as whole sequences allow."""
    if sequences <= 0:
        return 0.0
    return math.ceil(sequences / dp) / sequences
