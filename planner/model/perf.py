"""The performance model: memory, TTFT, TPOT and throughput of one deployment.

Pure functions of (architecture, deployment, request shape, engine factors).
Every result breaks down into parts that add up. Units: bytes, seconds,
FLOPs, FLOP/s inside; the dict for JSON converts at the edge.

The model is a roofline (Williams, Waterman & Patterson, CACM 2009): each
forward pass takes the longer of its memory traffic over the achieved
bandwidth and its FLOPs over the achieved matrix throughput, plus the
tensor-parallel all-reduces and a fixed per-pass cost. Achieved shares of
peak and the fixed costs are the engine's FITTED factors (catalog/engines.yaml,
fitted by benchmarks/fit_efficiency.py on the published measurements).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from planner.catalog.architecture import count_params, moe_layer_count
from planner.core.errors import InputError
from planner.catalog.schema import Engine, EngineFactors, Gpu, Model, ModelKind, Precision
from planner.catalog.support import KV_CACHE, gemm_rate, support
from planner.model import experts
from planner.model.workload import Deployment, Shape

ACTIVATION_BYTES = 2  # activations and all-reduce messages are 16-bit
LOGIT_BYTES = 4  # logits are upcast to FP32 for sampling (vLLM, HF Transformers)
# CUDA context and framework state outside the allocator: "~0.5-1 GiB" per
# GPU (references/SOURCES.md, memory column conventions); low end taken.
CUDA_CONTEXT_BYTES = 0.5 * 2**30
# The largest batch searched when the engine sets no concurrency cap: a search
# bound, not a hardware fact (memory stops real deployments well before it).
UNCAPPED_BATCH_SEARCH = 4096
TPOT_SAMPLES = 5  # decode steps evaluated (evenly spaced) to average TPOT over the output; step time is piecewise linear in context
# GEMMs in these formats reach a smaller share of their (higher) peak than
# 16-bit GEMMs do, so they get their own fitted share (compute_8bit).
LOW_PRECISION_FORMATS = ("fp8", "int8", "int4", "fp4")


# --- formats the hardware runs ----------------------------------------------


def matmul_format(gpu: Gpu, precision: Precision, engine: Engine) -> tuple[str, float] | None:
    """The format the GEMMs of ``precision`` run in on ``gpu`` under ``engine``,
    and its peak FLOP/s; None where the engine cannot run it there.

    The format support matrix decides (planner/catalog/support.py): natively,
    the precision's own ``compute`` format; through a weight-only kernel, the
    rule's ``compute`` (FP8 Marlin on Ampere runs at the 16-bit rate).
    """
    found = support(gpu, precision, engine)
    if found.compute is None:
        return None
    rate = gemm_rate(gpu, found.compute)
    return None if rate is None else (found.compute, rate)


_PEAKS: dict[tuple[int, int, int], tuple[Gpu, Precision, Engine, tuple[str, float, float]]] = {}


def deployment_matmul_format(dep: Deployment) -> tuple[str, float]:
    """``matmul_format`` of a deployment, which must be able to run at all."""
    fmt, matmul_peak, _attention_peak = _peaks(dep.gpu, dep.precision, dep.engine)
    return fmt, matmul_peak


def _peaks(gpu: Gpu, precision: Precision, engine: Engine) -> tuple[str, float, float]:
    """(GEMM format, its peak FLOP/s, attention peak FLOP/s), memoised per GPU,
    precision and engine object: every forward pass asks, and the answer never
    changes. The entry holds the objects themselves, so their ids cannot be reused."""
    key = (id(gpu), id(precision), id(engine))
    hit = _PEAKS.get(key)
    if hit is not None:
        return hit[3]
    found = support(gpu, precision, engine)
    rate = gemm_rate(gpu, found.compute) if found.compute else None
    if found.compute is None or rate is None:
        raise InputError(found.rule, hint=f"see `planner catalog show {gpu.id}` for what runs there")
    if len(_PEAKS) > 4096:
        _PEAKS.clear()
    result = (found.compute, rate, attention_rate(gpu))
    _PEAKS[key] = (gpu, precision, engine, result)
    return result


def attention_rate(gpu: Gpu) -> float:
    """Peak FLOP/s for attention (QK^T and AV run in 16-bit)."""
    rate = gemm_rate(gpu, "fp16") or gemm_rate(gpu, "fp32")
    if rate is None:
        raise InputError(f"GPU '{gpu.id}' has neither a 16-bit nor an FP32 throughput in the catalog")
    return rate


def check_deployment(model: Model, dep: Deployment) -> None:
    """Reject shapes that cannot run at all, with the reason."""
    if dep.tp < 1 or dep.pp < 1 or dep.batch < 1 or dep.dp < 1 or dep.ep < 1:
        raise InputError("tp, pp, dp, ep and batch must be at least 1")
    if model.heads % dep.tp:
        raise InputError(f"tensor parallelism {dep.tp} does not divide {model.id}'s {model.heads} attention heads",
                         hint="choose a TP degree that divides the head count")
    if model.mla is None and model.kv_heads % dep.tp and dep.tp % model.kv_heads:
        raise InputError(f"tensor parallelism {dep.tp} and {model.kv_heads} KV heads neither divide the other")
    if dep.pp > model.layers:
        raise InputError(f"pipeline parallelism {dep.pp} exceeds {model.id}'s {model.layers} layers")
    if dep.gpus > 1 and dep.gpu.interconnect_gbs is None:
        raise InputError(f"'{dep.gpu.id}' has no GPU-to-GPU link, so it cannot be split over {dep.gpus} GPUs")
    limit = dep.gpu.tensor_parallel_limit
    if dep.tp > limit and (dep.gpu.scale_out_gbs is None or dep.tp % limit):
        # across nodes only over a network the catalog gives, whole nodes at a time
        where = "node" if limit == dep.gpu.gpus_per_node else "NVLink domain"
        if dep.gpu.scale_out_gbs is None:
            raise InputError(f"tensor parallelism {dep.tp} exceeds the {limit} GPUs of one {dep.gpu.id} {where}",
                             hint="use pipeline parallelism across nodes")
        raise InputError(f"tensor parallelism {dep.tp} spans {dep.gpu.id} {where}s of {limit} GPUs but not whole ones",
                         hint=f"use a multiple of {limit}, or pipeline parallelism across nodes")
    experts.check_experts(model, dep)
    if not dep.precision.weight_format:
        raise InputError(f"'{dep.precision.id}' is a compute mode, not a weight format")
    if not dep.kv_precision.kv_cache:
        raise InputError(f"'{dep.kv_precision.id}' is not a KV-cache format",
                         hint="use fp16, bf16, fp8 or another precision marked kv_cache")
    deployment_matmul_format(dep)  # raises, naming the rule, when the engine cannot run the weights here
    kv = support(dep.gpu, dep.kv_precision, dep.engine, KV_CACHE)
    if not kv.runs:
        raise InputError(kv.rule, hint=f"see `planner catalog show {dep.gpu.id}` for the KV-cache formats that run there")


# --- memory -------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """Bytes on the most loaded GPU of one replica (the GPU that decides
    whether the replica fits), with the replica's totals derived from them."""

    weights_per_gpu: float
    kv_cache_per_gpu: float
    activations_per_gpu: float
    runtime_per_gpu: float
    capacity_per_gpu: float  # usable: total memory x utilisation
    # The replica's weights, kept rather than derived: with PP the embedding
    # and the output head sit on the first and last stages only, so the GPUs
    # do not hold equal shares and weights_per_gpu x GPUs overstates it; with
    # attention DP all but the routed experts are held once per rank.
    weights: float
    tp: int
    pp: int
    dp: int = 1  # attention data-parallel ranks: each holds its own sequences' KV cache

    @property
    def gpus(self) -> int:
        return self.tp * self.dp * self.pp

    @property
    def per_gpu(self) -> float:
        return self.weights_per_gpu + self.kv_cache_per_gpu + self.activations_per_gpu + self.runtime_per_gpu

    @property
    def kv_cache(self) -> float:
        return self.kv_cache_per_gpu * self.gpus

    @property
    def activations(self) -> float:
        # pipeline stages run a pass one after another, so the replica's live
        # activations at any moment are one stage's: its tp x dp GPUs, not all of them
        return self.activations_per_gpu * self.tp * self.dp

    @property
    def runtime(self) -> float:
        return self.runtime_per_gpu * self.gpus

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations + self.runtime

    @property
    def fits(self) -> bool:
        return self.per_gpu <= self.capacity_per_gpu


_SPLITS: dict[tuple[int, int], tuple[Model, Precision, tuple[float, float]]] = {}


def weight_split(model: Model, precision: Precision) -> tuple[float, float]:
    """(transformer-layer bytes, embedding + output-head bytes) at ``precision``
    (memoised per model and precision object)."""
    # The entry holds the model and precision themselves, so their ids cannot
    # be reused by other objects while it lives: a key match is the same pair.
    key = (id(model), id(precision))
    hit = _SPLITS.get(key)
    if hit is not None:
        return hit[2]
    if len(_SPLITS) > 4096:
        _SPLITS.clear()
    result = _weight_split(model, precision)
    _SPLITS[key] = (model, precision, result)
    return result


def _weight_split(model: Model, precision: Precision) -> tuple[float, float]:
    counts = count_params(model)
    embed_params = counts.embedding + counts.head
    body_params = counts.total - embed_params
    embed_bits = precision.embeddings_bits or precision.bits_per_weight
    return body_params * precision.bits_per_weight / 8, embed_params * embed_bits / 8


def attention_layer_counts(model: Model) -> tuple[int, int, int]:
    """(full-attention, sliding-window, linear-attention) layers; they add up
    to ``model.layers``."""
    local = model.sliding_window.layers if model.sliding_window else 0
    linear = model.linear_attention.layers if model.linear_attention else 0
    return model.layers - local - linear, local, linear


def _kv_elements_per_layer_token(model: Model, tp: int) -> int:
    """Cached elements per token of one attention layer on one TP rank."""
    if model.mla is not None:
        return model.mla.kv_lora_rank + model.mla.qk_rope_head_dim
    return 2 * math.ceil(model.kv_heads / tp) * model.head_dim


def kv_elements_per_token(model: Model, tp: int = 1) -> int:
    """Cached elements per token, all softmax-attention layers (full and
    sliding-window; linear-attention layers cache none), on one of ``tp``
    tensor-parallel ranks: 2 x layers x KV heads x head dim (K and V; MHA,
    GQA and MQA alike), the KV heads split over TP and replicated when TP
    exceeds them; or for MLA the compressed latent plus the shared RoPE key,
    whole on every rank (DeepSeek-V2 paper, section 2.1: (d_c + d_h^R) x layers).
    This is the growth per token while the context is shorter than every
    sliding window; ``kv_elements_per_sequence`` gives the whole cache."""
    if model.kind is ModelKind.ENCODER:
        return 0
    full, local, _linear = attention_layer_counts(model)
    return (full + local) * _kv_elements_per_layer_token(model, tp)


def kv_elements_per_sequence(model: Model, context: int, tp: int = 1) -> int:
    """Cached K/V elements of one sequence of ``context`` tokens on one TP
    rank: a full-attention layer keeps every token, a sliding-window layer
    only the last ``window`` (Beltagy et al. 2020, Longformer; Mistral 7B's
    rolling buffer cache, arXiv:2310.06825 section 2):
    per-layer elements x (full layers x context + local layers x min(context, window))."""
    if model.kind is ModelKind.ENCODER:
        return 0
    full, local, _linear = attention_layer_counts(model)
    window = model.sliding_window.window if model.sliding_window else 0
    return _kv_elements_per_layer_token(model, tp) * (full * context + local * min(context, window))


def linear_state_bytes_per_sequence(model: Model, tp: int = 1) -> float:
    """Fixed per-sequence state of the linear-attention layers on one TP rank,
    whatever the context: per layer the recurrent state, value heads x key
    dim x value dim elements (Gated DeltaNet's S_t, one d_k x d_v matrix per
    head: Yang et al. 2024, arXiv:2412.06464, eq. 10) at ``state_bits``, plus
    the causal convolution's last (kernel - 1) inputs over q, k and v,
    (2 x key heads x key dim + value heads x value dim) x (kernel - 1)
    elements in 16-bit. Heads split over TP."""
    la = model.linear_attention
    if la is None or model.kind is ModelKind.ENCODER:
        return 0.0
    value_heads = math.ceil(la.value_heads / tp)
    key_heads = math.ceil(la.key_heads / tp)
    recurrent = value_heads * la.key_head_dim * la.value_head_dim * la.state_bits / 8
    conv = (2 * key_heads * la.key_head_dim + value_heads * la.value_head_dim) * (la.conv_kernel - 1) * ACTIVATION_BYTES
    return la.layers * (recurrent + conv)


def kv_bits(precision: Precision) -> float:
    """Bits per cached element of a KV-cache format."""
    if precision.kv_bits is None:
        raise InputError(f"'{precision.id}' is not a KV-cache format",
                         hint="use fp16, bf16, fp8 or another precision marked kv_cache")
    return precision.kv_bits


def kv_bytes_per_token_per_gpu(model: Model, dep: Deployment) -> float:
    """KV bytes per token on one GPU: elements per TP rank, layers split over PP
    (the growth per token while the context is within every sliding window)."""
    if model.kind is ModelKind.ENCODER:
        return 0.0
    return kv_elements_per_token(model, dep.tp) * (kv_bits(dep.kv_precision) / 8) / dep.pp


def kv_bytes_per_sequence_per_gpu(model: Model, dep: Deployment, context: int) -> float:
    """KV-cache bytes of one sequence of ``context`` tokens on one GPU, layers
    split over PP: the K/V of the softmax-attention layers (sliding-window
    layers capped at their window) in the KV-cache format, plus the fixed
    state of any linear-attention layers."""
    if model.kind is ModelKind.ENCODER:
        return 0.0
    if model.sliding_window is None and model.linear_attention is None:
        return kv_bytes_per_token_per_gpu(model, dep) * context
    kv = kv_elements_per_sequence(model, context, dep.tp) * (kv_bits(dep.kv_precision) / 8)
    return (kv + linear_state_bytes_per_sequence(model, dep.tp)) / dep.pp


def _ffn_width(model: Model) -> int:
    """Intermediate width one token passes through (routed + shared experts for MoE)."""
    if model.moe is None:
        return model.ffn_size
    moe = model.moe
    routed = (moe.active_experts + moe.shared_experts) * moe.expert_ffn_size
    return max(routed, model.ffn_size if moe_layer_count(model) < model.layers else 0)


def activation_bytes_per_gpu(model: Model, dep: Deployment, shape: Shape, batch: int) -> float:
    """Peak transient working set of one forward pass on one GPU.

    The largest pass is a prefill of ``tokens`` tokens (the engine's prefill
    chunk, else the whole batch of prompts): the residual stream and
    attention projections (~4 x hidden) plus the FFN's up and gate outputs
    (2 x FFN width / TP), in 16-bit; plus FP32 logits for one position per
    sequence (vocab / TP). Attention scores are not materialised (FlashAttention).
    The 4 x hidden + 2 x FFN width per token is an ESTIMATE of the live
    tensors, not a sourced constant; with it the published peak-memory rows in
    benchmarks/data (Qwen2.5 with Transformers, prompts up to 30,720 tokens)
    are predicted within a median 1.7%.
    """
    tokens = batch * shape.input
    if dep.engine.prefill_chunk_tokens:
        tokens = min(tokens, max(dep.engine.prefill_chunk_tokens, batch))
    tokens = max(tokens, batch)
    per_token = (4 * model.hidden_size + 2 * _ffn_width(model) / dep.tp) * ACTIVATION_BYTES
    logits = 0.0 if model.kind is ModelKind.ENCODER else batch * model.vocab_size / dep.tp * LOGIT_BYTES
    return tokens * per_token + logits


def _weights_per_gpu(model: Model, dep: Deployment) -> float:
    """Weights on the most loaded GPU: layers split over TP x PP; with PP the
    first stage holds the embedding and the last the head (both when tied)."""
    layers_bytes, embed_bytes = weight_split(model, dep.precision)
    if dep.dp > 1:  # the routed experts spread over the whole stage, the rest over a rank's tp GPUs
        routed = experts.routed_bytes(model, dep.precision)
        layers_per_gpu = (layers_bytes - routed) / (dep.tp * dep.pp) + routed / (dep.stage_gpus * dep.pp)
    else:
        layers_per_gpu = layers_bytes / (dep.tp * dep.pp)
    if dep.pp == 1 or model.tied_embeddings or model.kind is ModelKind.ENCODER:
        return layers_per_gpu + embed_bytes / dep.tp
    return layers_per_gpu + embed_bytes / 2 / dep.tp


def _runtime_per_gpu(dep: Deployment) -> float:
    return CUDA_CONTEXT_BYTES + dep.engine.workspace_gib * 2**30


def _bytes_per_gpu(model: Model, dep: Deployment, shape: Shape) -> Callable[[int], tuple[float, float, float, float]]:
    """(weights, KV cache, activations, runtime) bytes on the most loaded GPU
    as a function of the batch; what does not depend on the batch is worked
    out once, as max_batch asks at many batches."""
    weights = _weights_per_gpu(model, dep)
    runtime = _runtime_per_gpu(dep)
    kv_per_sequence = kv_bytes_per_sequence_per_gpu(model, dep, shape.context)

    def at(batch: int) -> tuple[float, float, float, float]:
        on_rank = math.ceil(batch / dep.dp)  # an attention-DP rank holds its own sequences only
        return weights, kv_per_sequence * on_rank, activation_bytes_per_gpu(model, dep, shape, on_rank), runtime

    return at


def memory(model: Model, dep: Deployment, shape: Shape, batch: int | None = None) -> Memory:
    batch = dep.batch if batch is None else batch
    weights, kv_cache, activations, runtime = _bytes_per_gpu(model, dep, shape)(batch)
    layers_bytes, embed_bytes = weight_split(model, dep.precision)
    held = layers_bytes + embed_bytes
    if dep.dp > 1:  # every rank holds its own copy of all but the routed experts
        routed = experts.routed_bytes(model, dep.precision)
        held = routed + (held - routed) * dep.dp
    return Memory(
        weights_per_gpu=weights,
        kv_cache_per_gpu=kv_cache,
        activations_per_gpu=activations,
        runtime_per_gpu=runtime,
        capacity_per_gpu=_capacity_per_gpu(dep),
        weights=held,
        tp=dep.tp,
        pp=dep.pp,
        dp=dep.dp,
    )


def _capacity_per_gpu(dep: Deployment) -> float:
    return dep.gpu.memory_total_bytes * dep.utilization


def max_batch(model: Model, dep: Deployment, shape: Shape, cap: int | None = None) -> int:
    """Largest batch per replica that fits memory (0 when even one sequence does not)."""
    # the engine's cap is per scheduler: an attention-DP replica runs one per rank
    limit = cap or (dep.engine.max_batch * dep.dp if dep.engine.max_batch else UNCAPPED_BATCH_SEARCH)
    capacity = _capacity_per_gpu(dep)
    at = _bytes_per_gpu(model, dep, shape)

    def fits(batch: int) -> bool:  # Memory.fits, without building a Memory per try
        weights, kv_cache, activations, runtime = at(batch)
        return weights + kv_cache + activations + runtime <= capacity

    if not fits(1):
        return 0
    lo, hi = 1, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- time -----------------------------------------------------------------------


@dataclass(frozen=True)
class PassTime:
    """One forward pass of a replica: the roofline terms and what bounds it."""

    memory_s: float  # bytes moved / achieved bandwidth (per GPU, summed over PP stages)
    compute_s: float  # FLOPs / achieved throughput
    communication_s: float  # TP all-reduces and PP hand-offs
    overhead_s: float  # fixed per-pass cost (fitted)
    bytes_per_gpu: float
    overlap: float = math.inf  # p of the p-norm that merges memory and compute time

    @property
    def roofline_s(self) -> float:
        """Memory and compute time merged: max() when they overlap perfectly
        (p = inf), their sum when not at all (p = 1); the fitted p lies between."""
        if math.isinf(self.overlap):
            return max(self.memory_s, self.compute_s)
        p = self.overlap
        big = max(self.memory_s, self.compute_s)
        if big == 0:
            return 0.0
        return big * ((self.memory_s / big) ** p + (self.compute_s / big) ** p) ** (1 / p)

    @property
    def total_s(self) -> float:
        return self.roofline_s + self.communication_s + self.overhead_s

    @property
    def bound(self) -> str:
        terms = {"memory": self.memory_s, "compute": self.compute_s, "communication": self.communication_s}
        return max(terms, key=terms.__getitem__)


def _attention_dims(model: Model, decode: bool) -> int:
    """qk + v width per head that attention FLOPs scale with."""
    if model.mla is None:
        return 2 * model.head_dim
    a = model.mla
    if decode:  # weights absorbed: attend in the latent space (DeepSeek-V2, appendix B)
        return (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank
    return (a.qk_nope_head_dim + a.qk_rope_head_dim) + a.v_head_dim


def gemm_flops(model: Model, tokens: int, sequences: int) -> float:
    """2 FLOPs per GEMM parameter per token; the output head only for the
    last position of each sequence (the one that is sampled)."""
    counts = count_params(model)
    body = counts.matmul_active - counts.head_matmul
    return 2.0 * body * tokens + 2.0 * counts.head_matmul * sequences


def _attended_pairs(query_tokens: int, context: int, causal: bool, window: int | None) -> float:
    """(query, key) pairs one sequence's pass attends to: a decode step
    ``context`` (at most ``window``); a causal prefill of S tokens S(S+1)/2,
    or with a window W < S, W(W+1)/2 + (S - W) x W (each later query sees W
    keys); an encoder S^2 (S x min(S, W) with a window)."""
    if query_tokens == 1:
        return context if window is None else min(context, window)
    s = query_tokens
    if not causal:
        return s * (s if window is None else min(s, window))
    if window is None or s <= window:
        return s * (s + 1) / 2
    return window * (window + 1) / 2 + (s - window) * window


def is_causal(model: Model) -> bool:
    """Whether the model's attention is causal: as its catalog entry says,
    else decoders causal and encoders bidirectional."""
    if model.causal_attention is not None:
        return model.causal_attention
    return model.kind is ModelKind.DECODER


def linear_attention_flops(model: Model, tokens: int) -> float:
    """Gated DeltaNet recurrence, per token and linear layer: reading the
    state with the key (S k), the rank-one write (v - S k) k^T into it and
    reading it with the query (S q) are each a d_k x d_v matrix-vector
    product or outer product, 2 x d_k x d_v FLOPs per value head
    (Yang et al. 2024, arXiv:2412.06464, eq. 10): 6 x value heads x d_k x d_v
    per token, whatever the context."""
    la = model.linear_attention
    if la is None:
        return 0.0
    return 6.0 * la.value_heads * la.key_head_dim * la.value_head_dim * la.layers * tokens


def attention_flops(model: Model, query_tokens: int, context: int, sequences: int, causal: bool) -> float:
    """QK^T and AV: 2 FLOPs x heads x (qk + v width) per (query, key) pair.
    A causal prefill of S tokens has S(S+1)/2 pairs; an encoder S^2; a
    decode step ``context`` pairs per sequence. Sliding-window layers see at
    most ``window`` keys per query; linear-attention layers cost a fixed
    amount per token (``linear_attention_flops``)."""
    width = 2 * model.heads * _attention_dims(model, decode=query_tokens == 1)
    if model.sliding_window is None and model.linear_attention is None:
        pairs = _attended_pairs(query_tokens, context, causal, None)
        return width * model.layers * pairs * sequences
    full, local, _linear = attention_layer_counts(model)
    window = model.sliding_window.window if model.sliding_window else None
    pairs = full * _attended_pairs(query_tokens, context, causal, None)
    if local:
        pairs += local * _attended_pairs(query_tokens, context, causal, window)
    return width * pairs * sequences + linear_attention_flops(model, query_tokens * sequences)


def decode_weight_bytes(model: Model, precision: Precision, batch: int) -> float:
    """Weight bytes one decode step reads. For MoE only the experts the batch's
    tokens are routed to: with uniform routing of ``batch`` tokens choosing k of
    E experts, E x (1 - (1 - k/E)^batch) distinct experts per layer are read."""
    layers_bytes, embed_bytes = weight_split(model, precision)
    head_bytes = embed_bytes if model.tied_embeddings else embed_bytes / 2  # the gather reads one row per token
    if model.moe is None:
        return layers_bytes + head_bytes
    moe = model.moe
    counts = count_params(model)
    moe_layers = moe_layer_count(model)
    dense_layers = model.layers - moe_layers
    expert_params = (counts.ffn - dense_layers * (3 if model.ffn_gated else 2) * model.hidden_size * model.ffn_size) / (
        moe_layers * (moe.experts + moe.shared_experts)
    )
    routed_params = moe_layers * moe.experts * expert_params
    touched = moe.experts * (1 - (1 - moe.active_experts / moe.experts) ** batch)
    bytes_per_param = precision.bits_per_weight / 8
    unread = (moe.experts - touched) / moe.experts * routed_params * bytes_per_param
    return layers_bytes - unread + head_bytes


def _allreduce_s(message_bytes: float, dep: Deployment, factors: EngineFactors) -> float:
    """Ring all-reduce: 2(n-1)/n of the message over each GPU's one-way link
    bandwidth (half the bidirectional figure), plus a fixed latency (fitted)."""
    if dep.tp == 1:
        return 0.0
    one_way = _one_way_bytes_per_s(dep.gpu, dep.gpu.link_gbs(dep.tp))
    return factors.allreduce_us * 1e-6 + 2 * (dep.tp - 1) / dep.tp * message_bytes / one_way


def _one_way_bytes_per_s(gpu: Gpu, bidirectional_gbs: float | None) -> float:
    """Half a link's bidirectional GB/s, in bytes/s. check_deployment refuses
    to split a GPU with no link, and the catalog schema requires the host link
    of a GPU whose fast interconnect reaches only part of a node."""
    if bidirectional_gbs is None:
        raise InputError(f"'{gpu.id}' has no GPU-to-GPU link in the catalog")
    return bidirectional_gbs * 1e9 / 2


def _handoff_s(message_bytes: float, dep: Deployment, factors: EngineFactors) -> float:
    if dep.pp == 1:
        return 0.0
    # stages sit on different nodes or bridge pairs: the host link carries the hand-off
    one_way = _one_way_bytes_per_s(dep.gpu, dep.gpu.host_link_gbs or dep.gpu.interconnect_gbs)
    return factors.allreduce_us * 1e-6 + message_bytes / one_way


def _pass(
    model: Model,
    dep: Deployment,
    factors: EngineFactors,
    *,
    tokens: int,
    sequences: int,
    context: int,
    causal: bool,
    weight_bytes: float,
    kv_bytes_per_gpu: float,
    overhead_s: float,
) -> PassTime:
    """Roofline of one forward pass over the whole replica (all PP stages in turn)."""
    fmt, matmul_peak, attn_peak = _peaks(dep.gpu, dep.precision, dep.engine)
    matmul_share = factors.compute_8bit if fmt in LOW_PRECISION_FORMATS else factors.compute
    bandwidth = dep.gpu.memory_bandwidth_bytes_per_s * factors.bandwidth
    gemm = gemm_flops(model, tokens, sequences)
    attn = attention_flops(model, tokens // max(sequences, 1), context, sequences, causal)
    # per GPU: GEMMs and weights split over TP, layers over PP; PP stages run one after another
    bytes_per_gpu = weight_bytes / dep.gpus + kv_bytes_per_gpu
    memory_s = dep.pp * bytes_per_gpu / bandwidth
    compute_s = (gemm / (matmul_peak * matmul_share) + attn / (attn_peak * factors.compute)) / dep.tp
    if model.moe is not None:
        compute_s += experts.expert_gemm_s(model, tokens, matmul_peak * matmul_share) / dep.tp
    message = tokens * model.hidden_size * ACTIVATION_BYTES
    comm = 2 * model.layers * _allreduce_s(message, dep, factors) + (dep.pp - 1) * _handoff_s(message, dep, factors)
    overlap = math.inf if factors.overlap is None else factors.overlap  # None: perfect overlap
    return PassTime(memory_s, compute_s, comm, overhead_s, bytes_per_gpu, overlap)


def prefill(model: Model, dep: Deployment, factors: EngineFactors, sequences: int, prompt: int) -> PassTime:
    """Prefill of ``sequences`` prompts of ``prompt`` tokens: weights are read
    once per prefill chunk, FLOPs grow with tokens and attention with prompt^2."""
    tokens = sequences * prompt
    chunk = dep.engine.prefill_chunk_tokens
    if dep.dp > 1:  # each rank prefills its own prompts, in its own chunks
        on_rank = math.ceil(sequences / dep.dp)
        passes = math.ceil(on_rank * prompt / chunk) if chunk else 1
        layers_bytes, embed_bytes = weight_split(model, dep.precision)
        return _data_parallel_pass(
            model, dep, factors, stage_tokens=tokens, rank_tokens=on_rank * prompt, rank_sequences=on_rank,
            attention=attention_flops(model, prompt, prompt, on_rank, is_causal(model)),
            weight_bytes=(layers_bytes + embed_bytes / 2) * passes,
            expert_bytes=experts.routed_bytes(model, dep.precision) * passes,
            kv_bytes_per_gpu=0.0, overhead_s=factors.prefill_overhead_ms * 1e-3 + experts.prefill_overhead_s(model))
    passes = math.ceil(tokens / chunk) if chunk else 1
    layers_bytes, embed_bytes = weight_split(model, dep.precision)
    weights = (layers_bytes + embed_bytes / 2) * passes
    return _pass(
        model, dep, factors, tokens=tokens, sequences=sequences, context=prompt, causal=is_causal(model),
        weight_bytes=weights, kv_bytes_per_gpu=0.0,
        overhead_s=factors.prefill_overhead_ms * 1e-3 + experts.prefill_overhead_s(model),
    )


def decode_step(model: Model, dep: Deployment, factors: EngineFactors, batch: int, context: int) -> PassTime:
    """One decode step: every sequence of the batch emits one token.

    With PP the batch is split into micro-batches of ceil(batch/pp) that
    stream through the stages; a token of each sequence needs a micro-batch
    to pass all pp stages, so the step costs pp stage-times at that
    micro-batch (at batch 1, no overlap at all).
    """
    micro = math.ceil(batch / dep.pp)
    weights = decode_weight_bytes(model, dep.precision, micro)
    if dep.dp > 1:
        on_rank = math.ceil(micro / dep.dp)
        return _data_parallel_pass(
            model, dep, factors, stage_tokens=micro, rank_tokens=on_rank, rank_sequences=on_rank,
            attention=attention_flops(model, 1, context, on_rank, True), weight_bytes=weights,
            expert_bytes=experts.routed_bytes(model, dep.precision) * experts.touched_share(model, micro),
            kv_bytes_per_gpu=kv_bytes_per_sequence_per_gpu(model, dep, context) * on_rank,
            overhead_s=factors.decode_overhead_ms * 1e-3)
    kv = kv_bytes_per_sequence_per_gpu(model, dep, context) * micro
    return _pass(
        model, dep, factors, tokens=micro, sequences=micro, context=context, causal=True,
        weight_bytes=weights, kv_bytes_per_gpu=kv, overhead_s=factors.decode_overhead_ms * 1e-3,
    )


@dataclass(frozen=True)
class Timing:
    ttft_s: float
    tpot_s: float | None  # None for encoders and single-token outputs
    e2e_s: float
    tokens_per_s: float | None  # output tokens per second, one replica
    samples_per_s: float | None  # encoders: sequences per second, one replica
    prefill: PassTime
    decode: PassTime | None  # the step at mid-output, for the breakdown

    @property
    def bound(self) -> str:
        return (self.decode or self.prefill).bound


def decode_steps(
    model: Model, dep: Deployment, factors: EngineFactors, batch: int, start: int, steps: int, samples: int = TPOT_SAMPLES
) -> list[PassTime]:
    """Evenly spaced decode steps over ``steps`` tokens generated after a
    context of ``start``: their mean is the TPOT (step time grows with context)."""
    n = min(steps, samples)
    contexts = [start + 1 + round(i * (steps - 1) / max(n - 1, 1)) for i in range(n)]
    return [decode_step(model, dep, factors, batch, c) for c in contexts]


def timing(model: Model, dep: Deployment, shape: Shape, factors: EngineFactors, batch: int | None = None) -> Timing:
    batch = dep.batch if batch is None else batch
    if model.kind is ModelKind.ENCODER:
        forward = prefill(model, dep, factors, batch, shape.input)
        return Timing(forward.total_s, None, forward.total_s, None, batch / forward.total_s, forward, None)
    first = prefill(model, dep, factors, 1, shape.input)
    batch_prefill = prefill(model, dep, factors, batch, shape.input) if batch > 1 else first
    steps = shape.output - 1
    if steps <= 0:
        step = decode_step(model, dep, factors, batch, shape.input + 1)
        return Timing(first.total_s, None, first.total_s, batch / batch_prefill.total_s, None, first, step)
    # TPOT grows with context: average evenly spaced steps over the output
    passes = decode_steps(model, dep, factors, batch, shape.input, steps)
    tpot = sum(x.total_s for x in passes) / len(passes)
    middle = passes[len(passes) // 2]
    # A request that joins a running batch gets its first token after its own
    # prefill; with others in flight that pass also carries their decode step.
    ttft = first.total_s + (middle.total_s - middle.overhead_s if batch > 1 else 0.0)
    e2e = ttft + steps * tpot
    # Throughput: a batch's prefill, then (output - 1) steps of the whole batch.
    throughput = batch * shape.output / (batch_prefill.total_s + steps * tpot)
    return Timing(ttft, tpot, e2e, throughput, None, first, middle)


def physical_limit(factors: EngineFactors) -> EngineFactors:
    """The same formulas at 100% of peak bandwidth and compute, no fixed costs."""
    return factors.model_copy(
        update={"bandwidth": 1.0, "compute": 1.0, "compute_8bit": 1.0, "decode_overhead_ms": 0.0, "prefill_overhead_ms": 0.0,
                "allreduce_us": 0.0, "overlap": None}
    )


# --- one engine iteration under continuous batching -----------------------------


def prefill_pairs(tokens: int, offset: int) -> int:
    """Causal (query, key) pairs of a prefill chunk of ``tokens`` tokens whose
    prompt already has ``offset`` tokens in the cache: query i (1-based)
    attends to offset + i keys, so tokens x offset + tokens(tokens+1)/2."""
    return tokens * offset + tokens * (tokens + 1) // 2


def step(
    model: Model,
    dep: Deployment,
    factors: EngineFactors,
    *,
    decodes: int = 0,
    decode_context: int = 0,
    prefill_tokens: int = 0,
    prefill_sequences: int = 0,
    prefill_pairs: int = 0,
    prefill_offset: int = 0,
) -> PassTime:
    """One iteration of a continuously batched engine: ``decodes`` sequences
    emit a token each while ``prefill_tokens`` prompt tokens of
    ``prefill_sequences`` prompts are prefilled in the same pass.

    ``decode_context`` is the SUM of the decoding sequences' contexts (keys
    each new token attends to); ``prefill_pairs`` the sum of each chunk's
    causal pairs (``prefill_pairs()``); ``prefill_offset`` the sum of each
    chunk's tokens already cached (their KV is read, as chunked prefill does).
    Sums suffice: KV reads and attention FLOPs are linear in them.

    The same roofline as ``decode_step`` and ``prefill``, and equal to them
    when the other phase is absent (tests/test_serving.py): weights are read
    once per step (MoE: the experts the step's tokens touch, as
    ``decode_weight_bytes``; a step that carries prefill uses ``prefill``'s
    weight and fixed-cost convention), one all-reduce pair per layer over
    all the step's tokens. With PP the decodes stream through the stages in
    micro-batches of ceil(decodes/pp) as in ``decode_step``; prefill tokens
    pass the stages one after another as in ``prefill``.
    """
    if decodes < 0 or prefill_tokens < 0 or decodes + prefill_tokens == 0:
        raise ValueError("a step carries at least one decode or prefill token")
    if dep.dp > 1:
        return _data_parallel_step(model, dep, factors, decodes=decodes, decode_context=decode_context,
                                   prefill_tokens=prefill_tokens, prefill_sequences=prefill_sequences,
                                   prefill_pairs=prefill_pairs, prefill_offset=prefill_offset)
    micro = math.ceil(decodes / dep.pp)
    context = decode_context * micro / decodes if decodes else 0.0  # the micro-batch's share of the contexts
    tokens = micro + prefill_tokens
    sequences = micro + prefill_sequences
    layers_bytes, embed_bytes = weight_split(model, dep.precision)
    if prefill_tokens:
        # prefill reads every weight; MoE experts no token of the step touches are skipped
        untouched = decode_weight_bytes(model, dep.precision, 1 << 30) - decode_weight_bytes(model, dep.precision, tokens)
        weights = layers_bytes + embed_bytes / 2 - untouched
        overhead = factors.prefill_overhead_ms * 1e-3 + experts.prefill_overhead_s(model)
    else:
        weights = decode_weight_bytes(model, dep.precision, micro)
        overhead = factors.decode_overhead_ms * 1e-3
    kv = kv_bytes_per_token_per_gpu(model, dep) * (context + prefill_offset)
    fmt, matmul_peak, attn_peak = _peaks(dep.gpu, dep.precision, dep.engine)
    matmul_share = factors.compute_8bit if fmt in LOW_PRECISION_FORMATS else factors.compute
    bandwidth = dep.gpu.memory_bandwidth_bytes_per_s * factors.bandwidth
    gemm = gemm_flops(model, tokens, sequences)
    # per (query, key) pair, as attention_flops: decode in the absorbed MLA space, prefill with full heads
    causal = model.kind is ModelKind.DECODER
    attn = (attention_flops(model, 1, 1, 1, causal=True) * context
            + _prefill_pair_flops(model, causal) * prefill_pairs)
    bytes_per_gpu = weights / dep.gpus + kv
    memory_s = dep.pp * bytes_per_gpu / bandwidth
    compute_s = (gemm / (matmul_peak * matmul_share) + attn / (attn_peak * factors.compute)) / dep.tp
    if model.moe is not None:
        compute_s += experts.expert_gemm_s(model, tokens, matmul_peak * matmul_share) / dep.tp
    message = tokens * model.hidden_size * ACTIVATION_BYTES
    comm = 2 * model.layers * _allreduce_s(message, dep, factors) + (dep.pp - 1) * _handoff_s(message, dep, factors)
    overlap = math.inf if factors.overlap is None else factors.overlap
    return PassTime(memory_s, compute_s, comm, overhead, bytes_per_gpu, overlap)


def _prefill_pair_flops(model: Model, causal: bool) -> float:
    """Attention FLOPs of one (query, key) pair of a prefill, all layers: read
    off ``attention_flops`` (2 queries of a causal prompt make 3 pairs; an
    encoder's 2 tokens make 4)."""
    return attention_flops(model, 2, 2, 1, causal=causal) / (3 if causal else 4)


# --- attention data parallelism (mixtures of experts) ----------------------------


def _data_parallel_step(
    model: Model, dep: Deployment, factors: EngineFactors, *, decodes: int, decode_context: int,
    prefill_tokens: int, prefill_sequences: int, prefill_pairs: int, prefill_offset: int,
) -> PassTime:
    """``step`` with attention data parallelism: the decodes spread evenly
    over the ranks, the prefilling prompts go to ranks whole; the step lasts
    as long as its busiest rank, while the expert layers see the tokens of
    every rank."""
    micro = math.ceil(decodes / dep.pp)
    on_rank = math.ceil(micro / dep.dp)
    context = decode_context / decodes * on_rank if decodes else 0.0  # the busiest rank's share of the contexts
    share = experts.rank_share(prefill_sequences, dep.dp) if prefill_tokens else 0.0
    stage_tokens = micro + prefill_tokens
    layers_bytes, embed_bytes = weight_split(model, dep.precision)
    routed = experts.routed_bytes(model, dep.precision)
    touched = routed * experts.touched_share(model, stage_tokens)
    if prefill_tokens:
        weights = layers_bytes + embed_bytes / 2 - (routed - touched)
        overhead = factors.prefill_overhead_ms * 1e-3 + experts.prefill_overhead_s(model)
    else:
        weights = decode_weight_bytes(model, dep.precision, micro)
        overhead = factors.decode_overhead_ms * 1e-3
    causal = model.kind is ModelKind.DECODER
    attention = (attention_flops(model, 1, 1, 1, causal=True) * context
                 + _prefill_pair_flops(model, causal) * prefill_pairs * share)
    return _data_parallel_pass(
        model, dep, factors, stage_tokens=stage_tokens, rank_tokens=on_rank + prefill_tokens * share,
        rank_sequences=on_rank + prefill_sequences * share, attention=attention, weight_bytes=weights,
        expert_bytes=touched, kv_bytes_per_gpu=kv_bytes_per_token_per_gpu(model, dep) * (context + prefill_offset * share),
        overhead_s=overhead)


def _data_parallel_pass(
    model: Model,
    dep: Deployment,
    factors: EngineFactors,
    *,
    stage_tokens: float,
    rank_tokens: float,
    rank_sequences: float,
    attention: float,
    weight_bytes: float,
    expert_bytes: float,
    kv_bytes_per_gpu: float,
    overhead_s: float,
) -> PassTime:
    """Roofline of one pass with attention data parallelism, on the busiest
    rank. Attention, shared experts and dense layers: the rank's own tokens
    and weights, split over its tp GPUs. Routed experts: every rank's tokens
    (``stage_tokens``), their weights (``expert_bytes`` read) split over the
    stage's tp x dp GPUs. Communication per layer: the rank's tensor-parallel
    all-reduce after attention (and after a dense FFN), and for an MoE layer
    the traffic that brings the ranks' tokens to their experts and back
    (experts.py). ``attention`` is the busiest rank's attention FLOPs."""
    fmt, matmul_peak, attn_peak = _peaks(dep.gpu, dep.precision, dep.engine)
    matmul_share = factors.compute_8bit if fmt in LOW_PRECISION_FORMATS else factors.compute
    bandwidth = dep.gpu.memory_bandwidth_bytes_per_s * factors.bandwidth
    bytes_per_gpu = (weight_bytes - expert_bytes) / (dep.tp * dep.pp) + expert_bytes / (dep.stage_gpus * dep.pp) + kv_bytes_per_gpu
    memory_s = dep.pp * bytes_per_gpu / bandwidth
    on_rank = math.ceil(rank_tokens)  # whole tokens: a rank's share of prompt tokens may be fractional on average
    rank_gemm = gemm_flops(model, on_rank, math.ceil(rank_sequences)) - experts.routed_gemm_flops(model, on_rank)
    stage_gemm = experts.routed_gemm_flops(model, stage_tokens)
    compute_s = ((rank_gemm / dep.tp + stage_gemm / dep.stage_gpus) / (matmul_peak * matmul_share)
                 + attention / dep.tp / (attn_peak * factors.compute)
                 + experts.expert_gemm_s(model, stage_tokens, matmul_peak * matmul_share) / dep.stage_gpus)
    message = rank_tokens * model.hidden_size * ACTIVATION_BYTES
    moe_layers = moe_layer_count(model)
    if dep.ep > 1:
        moe_comm = experts.all_to_all_s(model, dep, factors, stage_tokens)
    else:
        moe_comm = experts.stage_allreduce_s(stage_tokens * model.hidden_size * ACTIVATION_BYTES, dep, factors)
    comm = ((2 * model.layers - moe_layers) * _allreduce_s(message, dep, factors) + moe_layers * moe_comm
            + (dep.pp - 1) * _handoff_s(message, dep, factors))
    overlap = math.inf if factors.overlap is None else factors.overlap
    return PassTime(memory_s, compute_s, comm, overhead_s, bytes_per_gpu, overlap)
