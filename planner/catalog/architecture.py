"""Parameter counts and per-token FLOPs computed from a model's architecture.

Counts follow the standard transformer layout (Vaswani et al. 2017; the
Llama, Mixtral, Qwen2, DeepSeek-V3 and BERT reference configs): attention
projections, the (gated or plain) FFN or its experts, norms, embeddings and
the output head. Biases and norms are included where the config has them;
they are a fraction of a percent but keep the count honest.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.schema import Model, ModelKind


@dataclass(frozen=True)
class ParamCounts:
    """Parameters by part. ``total`` is what is stored; ``active`` what one token uses."""

    embedding: int  # token (+ position, token-type) embeddings
    attention: int  # all layers
    ffn: int  # all layers, every expert
    ffn_active: int  # all layers, only the experts one token is routed to
    norms: int
    head: int  # output projection (0 when tied or an encoder without an LM head)
    other: int  # router gates, BERT pooler
    head_matmul: int  # output-head GEMM parameters per token (counted even when tied)

    @property
    def total(self) -> int:
        return self.embedding + self.attention + self.ffn + self.norms + self.head + self.other

    @property
    def active(self) -> int:
        return self.embedding + self.attention + self.ffn_active + self.norms + self.head + self.other

    @property
    def matmul_active(self) -> int:
        """Parameters that take part in a matrix multiply for each token.

        The embedding lookup is a gather, not a GEMM, so it is excluded; the
        output head is a GEMM and is included (even when tied).
        """
        return self.attention + self.ffn_active + self.other + self.head_matmul


def attention_params(m: Model) -> int:
    """Attention projections of one layer, biases included."""
    h = m.hidden_size
    if m.mla is not None:
        a = m.mla
        qk_head = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            q = h * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * m.heads * qk_head  # down, norm, up
        else:
            q = h * m.heads * qk_head
        kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank  # down (latent + rope key), norm
        kv += a.kv_lora_rank * m.heads * (a.qk_nope_head_dim + a.v_head_dim)  # up to K (nope) and V
        out = m.heads * a.v_head_dim * h
        return q + kv + out
    q_width = m.heads * m.head_dim * (2 if m.attention_output_gate else 1)  # queries (+ output gate)
    q = h * q_width
    kv = 2 * h * m.kv_heads * m.head_dim
    out = m.heads * m.head_dim * h
    bias = (q_width + 2 * m.kv_heads * m.head_dim + h) if m.attention_bias else 0
    qk_norm = 2 * m.head_dim if m.qk_norm else 0
    return q + kv + out + bias + qk_norm


def linear_attention_params(m: Model) -> int:
    """One Gated DeltaNet layer (Yang, Kautz & Hatamizadeh 2024, arXiv:2412.06464,
    as Qwen3-Next and Qwen3.5 configure it): projections of the input to
    queries and keys (key heads x key dim each), values and the output gate z
    (value heads x value dim each), and the per-value-head decay and write
    strength (a, b); a depthwise causal convolution over q, k and v; a
    per-head decay rate and time-step bias; the gated RMSNorm of the output
    (value dim); and the output projection."""
    la = m.linear_attention
    if la is None:
        return 0
    h = m.hidden_size
    key_width = la.key_heads * la.key_head_dim
    value_width = la.value_heads * la.value_head_dim
    projections = h * (2 * key_width + 2 * value_width) + h * 2 * la.value_heads
    conv = (2 * key_width + value_width) * la.conv_kernel
    decay = 2 * la.value_heads  # A_log and dt_bias
    norm = la.value_head_dim
    out = value_width * h
    return projections + conv + decay + norm + out


def moe_layer_count(m: Model) -> int:
    """Layers whose FFN is a mixture of experts: after the leading dense
    layers, every ``layer_step``-th layer (layer i, counting from 0, when
    (i + 1) is a multiple of the step: Llama 4's interleave_moe_layer_step)."""
    if m.moe is None:
        return 0
    step = m.moe.layer_step
    return sum(1 for i in range(m.moe.dense_layers, m.layers) if (i + 1) % step == 0)


def ffn_params(hidden: int, intermediate: int, gated: bool, bias: bool) -> int:
    """One feed-forward block: up (and gate) then down projection."""
    matrices = 3 if gated else 2
    weights = matrices * hidden * intermediate
    biases = ((matrices - 1) * intermediate + hidden) if bias else 0
    return weights + biases


_CACHE: dict[int, tuple[Model, ParamCounts]] = {}


def count_params(m: Model) -> ParamCounts:
    """Parameter counts of ``m`` (memoised per model object: the model is
    evaluated thousands of times while fitting and searching)."""
    cached = _CACHE.get(id(m))
    if cached is not None and cached[0] is m:
        return cached[1]
    counts = _count_params(m)
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[id(m)] = (m, counts)
    return counts


def _count_params(m: Model) -> ParamCounts:
    h = m.hidden_size
    norm_size = h * (2 if m.norm == "layernorm" else 1)  # layernorm has a bias

    embedding = m.vocab_size * h
    if m.learned_positions:
        embedding += m.max_context * h
    embedding += m.token_types * h

    linear_layers = m.linear_attention.layers if m.linear_attention else 0
    attention = (m.layers - linear_layers) * attention_params(m) + linear_layers * linear_attention_params(m)

    dense_ffn = ffn_params(h, m.ffn_size, m.ffn_gated, m.mlp_bias)
    router = 0
    if m.moe is None:
        ffn = ffn_active = m.layers * dense_ffn
    else:
        e = m.moe
        moe_layers = moe_layer_count(m)
        dense_layers = m.layers - moe_layers
        expert = ffn_params(h, e.expert_ffn_size, m.ffn_gated, m.mlp_bias)
        ffn = dense_layers * dense_ffn + moe_layers * (e.experts + e.shared_experts) * expert
        ffn_active = dense_layers * dense_ffn + moe_layers * (e.active_experts + e.shared_experts) * expert
        router = moe_layers * (h * e.experts + (e.experts if e.router_bias else 0))

    # two norms per layer plus one more: the final norm of a pre-norm decoder,
    # or the embedding norm of a post-norm encoder (BERT)
    norms = (2 * m.layers + 1) * norm_size

    head = 0
    head_matmul = 0
    if m.kind is ModelKind.DECODER:
        head_matmul = m.vocab_size * h
        head = 0 if m.tied_embeddings else m.vocab_size * h
    pooler = (h * h + h) if m.pooler else 0

    return ParamCounts(
        embedding=embedding,
        attention=attention,
        ffn=ffn,
        ffn_active=ffn_active,
        norms=norms,
        head=head,
        other=router + pooler,
        head_matmul=head_matmul,
    )


# How far a catalog model's computed counts may lie from the published ones
# before loading refuses it. Published counts are often rounded ("7B" for
# Llama 2's 6.74B is 3.7% off, "72B" for Qwen2's 72.7B 1%), so the load check
# allows 5%: enough for a count quoted to two significant figures, while an
# architecture that is not the model it names (a hidden size or expert count
# mistyped, a field off by an order of magnitude) is far outside it. The
# built-in models are held to 1% by tests/test_params.py.
PUBLISHED_TOLERANCE = 0.05


def comparable_active(m: Model, counts: ParamCounts) -> int:
    """The computed active count, less the parts the published active figure
    leaves out (``params_active_excludes``), so the two compare like for like."""
    return counts.active - sum(getattr(counts, part) for part in m.params_active_excludes)


def published_mismatches(m: Model, tolerance: float = PUBLISHED_TOLERANCE) -> list[tuple[str, int, float]]:
    """(field, computed, published) for each published count the architecture
    misses by more than ``tolerance`` (relative to the published count)."""
    counts = count_params(m)
    pairs = [("params_published", counts.total, m.params_published)]
    if m.params_active_published is not None:
        pairs.append(("params_active_published", comparable_active(m, counts), m.params_active_published))
    return [(name, computed, published) for name, computed, published in pairs
            if abs(computed - published) > tolerance * published]
