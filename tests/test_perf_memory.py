"""Memory of one replica against figures worked out by hand.

The figures below are written out as numbers, from the published configs
(catalog/models.yaml cites them) and the formulas in planner/model/perf.py's
docstrings, so a slip in the code cannot move the expected value with it.
Where a figure compares with a published one the source is named; exact
integer arithmetic, so the tolerance is float rounding only (rel 1e-12).
"""

from __future__ import annotations

import pytest

from planner.model import perf
from planner.catalog.architecture import count_params
from planner.model.workload import Deployment, Shape

GIB = 2**30
EXACT = 1e-12


def _dep(catalog, model_gpu="h100-sxm", precision="bf16", kv="bf16", tp=1, pp=1):
    return Deployment(gpu=catalog.gpu(model_gpu), precision=catalog.precision(precision),
                      kv_precision=catalog.precision(kv), engine=catalog.engine("vllm"), tp=tp, pp=pp)


# Llama-3.1-70B (config.json: hidden 8192, 80 layers, 8 KV heads of 128,
# intermediate 28672, vocab 128256, untied head); 70,553,706,496 parameters
# (the checkpoint's exact count, catalog params_published).
# embedding = head = 128,256 x 8,192 = 1,050,673,152 parameters.
# transformer layers = 70,553,706,496 - 2 x 1,050,673,152 = 68,452,360,192.
LLAMA_70B_LAYER_BYTES_BF16 = 68_452_360_192 * 2
LLAMA_70B_EMBED_BYTES_BF16 = 1_050_673_152 * 2  # the input embedding alone; the head is the same size


def test_pipeline_stages_split_the_layers_and_the_embeddings(catalog):
    """With PP and untied embeddings the first stage holds the embedding and
    the last the head: the most loaded GPU holds its share of the layers plus
    one of the two, split over TP."""
    model = catalog.model("llama-3.1-70b")
    for tp, pp, expected in (
        (4, 2, LLAMA_70B_LAYER_BYTES_BF16 / 8 + LLAMA_70B_EMBED_BYTES_BF16 / 4),  # 17,638,426,624 B
        (4, 4, LLAMA_70B_LAYER_BYTES_BF16 / 16 + LLAMA_70B_EMBED_BYTES_BF16 / 4),  # 9,081,881,600 B
        (8, 2, LLAMA_70B_LAYER_BYTES_BF16 / 16 + LLAMA_70B_EMBED_BYTES_BF16 / 8),
    ):
        m = perf.memory(model, _dep(catalog, tp=tp, pp=pp), Shape(1, 1), 1)
        assert m.weights_per_gpu == pytest.approx(expected, rel=EXACT), (tp, pp)
        assert m.weights == pytest.approx(LLAMA_70B_LAYER_BYTES_BF16 + 2 * LLAMA_70B_EMBED_BYTES_BF16, rel=EXACT)


def test_without_pipeline_every_gpu_holds_both_embedding_and_head(catalog):
    model = catalog.model("llama-3.1-70b")
    m = perf.memory(model, _dep(catalog, tp=4), Shape(1, 1), 1)
    assert m.weights_per_gpu == pytest.approx((LLAMA_70B_LAYER_BYTES_BF16 + 2 * LLAMA_70B_EMBED_BYTES_BF16) / 4, rel=EXACT)


def test_tied_embeddings_sit_whole_on_a_stage(catalog):
    """Qwen2.5-0.5B ties its head to the embedding: the one matrix
    (151,936 x 896) is needed by the first stage and the last, so the most
    loaded GPU holds all of it besides its half of the layers."""
    model = catalog.model("qwen2.5-0.5b")
    embedding = 151_936 * 896 * 2
    layers = (count_params(model).total - 151_936 * 896) * 2
    m = perf.memory(model, _dep(catalog, model_gpu="l4", pp=2), Shape(1, 1), 1)
    assert m.weights_per_gpu == pytest.approx(layers / 2 + embedding, rel=EXACT)


def test_replica_parts_with_pipeline_parallelism(catalog):
    """Llama-3.1-70B, BF16, TP 4 x PP 2 on H100, 4 sequences of 1024 + 512 tokens.

    KV: 2 (K, V) x 80 layers x 8 KV heads x 128 x 2 B = 327,680 B per token
    for the whole model (the Llama-3-70B figure of 320 KiB/token), held for
    1,536 tokens x 4 sequences.

    Activations: the working set of one prefill pass of 4,096 tokens (under
    vLLM's 8,192-token chunk): (4 x 8192 + 2 x 28672 / TP 4) x 2 B = 94,208 B
    per token, plus FP32 logits of one position per sequence, 4 x 128,256 / 4
    x 4 B = 513,024 B: 386,388,992 B per GPU. The replica total counts the 4
    TP ranks of ONE stage, not all 8 GPUs: the pipeline stages run a pass one
    after another (perf._pass), so only one stage's activations are live at a
    time.

    Runtime: 0.5 GiB CUDA context on each of the 8 GPUs (vLLM's workspace is 0).
    """
    model = catalog.model("llama-3.1-70b")
    m = perf.memory(model, _dep(catalog, tp=4, pp=2), Shape(1024, 512), 4)
    kv_replica = 327_680 * 1_536 * 4
    act_per_gpu = 4_096 * 94_208 + 513_024
    assert m.kv_cache == pytest.approx(kv_replica, rel=EXACT)
    assert m.kv_cache_per_gpu == pytest.approx(kv_replica / 8, rel=EXACT)
    assert m.activations == pytest.approx(4 * act_per_gpu, rel=EXACT)
    assert m.runtime == pytest.approx(8 * 0.5 * GIB, rel=EXACT)
    assert m.weights == pytest.approx(LLAMA_70B_LAYER_BYTES_BF16 + 2 * LLAMA_70B_EMBED_BYTES_BF16, rel=EXACT)
    weights_per_gpu = LLAMA_70B_LAYER_BYTES_BF16 / 8 + LLAMA_70B_EMBED_BYTES_BF16 / 4
    assert m.per_gpu == pytest.approx(weights_per_gpu + kv_replica / 8 + act_per_gpu + 0.5 * GIB, rel=EXACT)
    assert m.capacity_per_gpu == pytest.approx(80 * GIB * 0.9, rel=0.01)  # H100 SXM 80 GB, vLLM's 0.9 utilisation


def test_mla_kv_cache_is_the_latent_on_every_tp_rank(catalog):
    """DeepSeek-V2 paper (arXiv:2405.04434) section 2.1 and Table 1: MLA caches
    (d_c + d_h^R) x layers elements per token; DeepSeek-V3 has d_c = 512,
    d_h^R = 64 and 61 layers (config.json), so 35,136 elements, 70,272 B in
    BF16. The latent is shared by all heads, so TP does not split it: every
    rank holds all of it. Pipeline stages split the layers. Exact."""
    model = catalog.model("deepseek-v3")
    per_token = 61 * (512 + 64) * 2
    for tp in (1, 2, 8):
        assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog, model_gpu="h200", tp=tp)) == per_token
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog, model_gpu="h200", tp=8, pp=2)) == per_token / 2
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog, model_gpu="h200", tp=8, kv="fp8")) == per_token / 2


def test_gqa_kv_cache_splits_over_tp_and_pp(catalog):
    """Llama-3.1-70B: 327,680 B per token in BF16 (above); TP 4 gives each rank
    2 of the 8 KV heads, PP 2 half the layers: 40,960 B per GPU."""
    model = catalog.model("llama-3.1-70b")
    assert perf.kv_bytes_per_token_per_gpu(model, _dep(catalog, tp=4, pp=2)) == 40_960


def test_without_an_engine_cap_the_batch_search_stops_at_4096(catalog):
    """Qwen2.5-0.5B on an H100 at 256 + 256 tokens: 12,288 B of BF16 KV per
    token (24 layers x 2 KV heads x 64 x 2 x 2 B), 6.3 MB per sequence, so
    well over 4,096 sequences would fit the 71.7 usable GB; with no engine
    cap the search stops at 4,096, with a cap at the cap."""
    model = catalog.model("qwen2.5-0.5b")
    dep = _dep(catalog)
    uncapped = Deployment(gpu=dep.gpu, precision=dep.precision, kv_precision=dep.kv_precision,
                          engine=dep.engine.model_copy(update={"max_batch": None}))
    shape = Shape(256, 256)
    assert perf.kv_bytes_per_token_per_gpu(model, dep) == 12_288
    assert perf.memory(model, uncapped, shape, 4097).fits
    assert perf.max_batch(model, uncapped, shape) == 4096
    assert perf.max_batch(model, dep, shape) == 256  # vLLM's --max-num-seqs
    assert perf.max_batch(model, uncapped, shape, cap=10) == 10


def test_max_batch_is_the_last_batch_that_fits(catalog):
    """Llama-3.1-8B in BF16 on one H100 with 8k-token sequences (1.07 GB of KV
    cache each): the search ends where one more sequence would not fit. When
    even one does not (Llama-3.1-70B's 141 GB on an L4) the answer is 0."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog)
    shape = Shape(7168, 1024)
    most = perf.max_batch(model, dep, shape)
    assert 1 < most < 256
    assert perf.memory(model, dep, shape, most).fits and not perf.memory(model, dep, shape, most + 1).fits
    assert perf.max_batch(catalog.model("llama-3.1-70b"), _dep(catalog, model_gpu="l4"), shape) == 0


def test_max_batch_lands_exactly_on_a_full_gpu(catalog):
    """A GPU whose usable memory is exactly what 40 sequences take: 40 fit
    (the parts equal the capacity), 41 do not. Dividing by 2^30 is exact in
    binary floating point, so the capacity is the same float as the sum."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog)
    shape = Shape(7168, 1024)
    need = perf.memory(model, dep, shape, 40).per_gpu
    gpu = dep.gpu.model_copy(update={"memory_total_gib": need / GIB})
    full = Deployment(gpu=gpu, precision=dep.precision, kv_precision=dep.kv_precision, engine=dep.engine,
                      memory_utilization=1.0)
    at = perf.memory(model, full, shape, 40)
    assert at.per_gpu == at.capacity_per_gpu and at.fits
    assert perf.max_batch(model, full, shape) == 40


def test_max_batch_is_zero_when_one_sequence_does_not_fit_beside_the_weights(catalog):
    """Llama-3.1-8B's 16 GB of weights fit an L4's 21.7 usable GB, a
    100,000-token sequence's 13.2 GB of KV cache beside them does not."""
    model, dep = catalog.model("llama-3.1-8b"), _dep(catalog, model_gpu="l4")
    assert perf.memory(model, dep, Shape(100_000, 512), 0).fits
    assert perf.max_batch(model, dep, Shape(100_000, 512)) == 0


def test_memory_fits_up_to_and_including_the_capacity():
    parts = dict(weights_per_gpu=1.0, kv_cache_per_gpu=1.0, activations_per_gpu=1.0, runtime_per_gpu=1.0, weights=1.0,
                 tp=1, pp=1)
    assert perf.Memory(capacity_per_gpu=4.0, **parts).fits
    assert not perf.Memory(capacity_per_gpu=3.999, **parts).fits


def test_engine_workspace_adds_to_the_cuda_context(catalog):
    """0.5 GiB of CUDA context plus a 1.5 GiB engine workspace: 2 GiB per GPU."""
    dep = _dep(catalog)
    engine = dep.engine.model_copy(update={"workspace_gib": 1.5})
    with_workspace = Deployment(gpu=dep.gpu, precision=dep.precision, kv_precision=dep.kv_precision, engine=engine)
    assert perf.memory(catalog.model("llama-3.1-8b"), with_workspace, Shape(1, 1), 1).runtime_per_gpu == 2 * GIB


def test_kv_elements_per_token(catalog):
    """Llama-3.1-8B: 2 x 32 layers x 8 KV heads x 128 = 65,536 elements per
    token on one GPU (the default, TP 1); an encoder caches nothing."""
    assert perf.kv_elements_per_token(catalog.model("llama-3.1-8b")) == 65_536
    assert perf.kv_elements_per_token(catalog.model("llama-3.1-8b"), 2) == 32_768
    assert perf.kv_elements_per_token(catalog.model("bert-base")) == 0


def test_encoder_activations_have_no_logits(catalog):
    """BERT-base, 8 x 128 tokens under TensorRT (no prefill chunk): (4 x 768
    + 2 x 3072) x 2 B = 18,432 B per token, 1,024 tokens, and no logits."""
    dep = Deployment(gpu=catalog.gpu("a100-sxm-40gb"), precision=catalog.precision("fp16"),
                     kv_precision=catalog.precision("fp16"), engine=catalog.engine("tensorrt"))
    assert perf.activation_bytes_per_gpu(catalog.model("bert-base"), dep, Shape(128, 1), 8) == 1_024 * 18_432


def test_moe_activations_pass_through_the_routed_and_shared_experts(catalog):
    """Mixtral-8x7B routes each token through 2 experts of width 14,336:
    (4 x 4096 + 2 x 28,672) x 2 B = 147,456 B per token, 4 x 100 tokens,
    plus FP32 logits 4 x 32,000 x 4 B. A DeepSeek-V3-like model with no dense
    layers passes through 8 routed + 1 shared expert of width 2,048: FFN
    width 18,432, (4 x 7168 + 2 x 18,432) x 2 B = 131,072 B per token, plus
    logits 4 x 129,280 x 4 B."""
    dep = _dep(catalog)
    mixtral = catalog.model("mixtral-8x7b")
    assert perf.activation_bytes_per_gpu(mixtral, dep, Shape(100, 1), 4) == 400 * 147_456 + 4 * 32_000 * 4
    v3 = catalog.model("deepseek-v3")
    no_dense = v3.model_copy(update={"moe": v3.moe.model_copy(update={"dense_layers": 0})})
    assert v3.hidden_size == 7168 and v3.vocab_size == 129_280
    assert perf.activation_bytes_per_gpu(no_dense, dep, Shape(100, 1), 4) == 400 * 131_072 + 4 * 129_280 * 4


# --- sliding-window and linear-attention layers -------------------------------
#
# gpt-oss-120b (config.json): 36 layers, half of them (18) attend to a
# 128-token sliding window; 8 KV heads of 64. Per layer and token a BF16
# cache holds K and V: 2 x 8 x 64 x 2 bytes = 2,048 bytes.
# KV bytes of one sequence of C tokens = 2,048 x (18 x C + 18 x min(C, 128)).


def test_sliding_window_layers_stop_growing_at_the_window(catalog):
    model = catalog.model("gpt-oss-120b")
    dep = _dep(catalog, model_gpu="h200-sxm", precision="mxfp4")
    assert perf.kv_bytes_per_sequence_per_gpu(model, dep, 100) == 2_048 * (18 * 100 + 18 * 100)
    assert perf.kv_bytes_per_sequence_per_gpu(model, dep, 128) == 2_048 * 36 * 128
    # 8,192 tokens: 18 x 8,192 + 18 x 128 = 149,760 token-layers = 306,708,480 bytes
    assert perf.kv_bytes_per_sequence_per_gpu(model, dep, 8_192) == 306_708_480
    # growth per token before the window fills is every layer's
    assert perf.kv_bytes_per_token_per_gpu(model, dep) == 2_048 * 36


def test_sliding_window_cache_sizes_memory(catalog):
    """The replica's KV cache at batch 4 and a 4,096 + 4,096 context is four
    sequences of 8,192 tokens: 4 x 306,708,480 bytes, not 4 x 2,048 x 36 x 8,192."""
    model = catalog.model("gpt-oss-120b")
    dep = _dep(catalog, model_gpu="h200-sxm", precision="mxfp4")
    mem = perf.memory(model, dep, Shape(input=4_096, output=4_096), batch=4)
    assert mem.kv_cache_per_gpu == 4 * 306_708_480


def test_sliding_window_caps_attention_work(catalog):
    """Decode step at context 1,000: 18 full layers see 1,000 keys, 18 window
    layers 128. Width per pair = 2 FLOPs x 64 heads x (64 + 64) = 16,384."""
    model = catalog.model("gpt-oss-120b")
    assert perf.attention_flops(model, 1, 1_000, 1, causal=True) == 16_384 * (18 * 1_000 + 18 * 128)
    # causal prefill of 1,000: full layers 1,000 x 1,001 / 2 pairs; window
    # layers 128 x 129 / 2 + (1,000 - 128) x 128 = 119,872 pairs
    assert perf.attention_flops(model, 1_000, 1_000, 1, causal=True) == 16_384 * (18 * 500_500 + 18 * 119_872)


# Qwen3.5-397B-A17B (config.json text_config): 60 layers, 45 Gated DeltaNet,
# 15 full attention with 2 KV heads of 256. Per full layer and token (BF16):
# 2 x 2 x 256 x 2 bytes = 2,048 bytes. Per linear layer and sequence: the
# recurrent state, 64 value heads x 128 x 128 in FP32 = 4,194,304 bytes, and
# the conv state, (2 x 16 x 128 + 64 x 128) x (4 - 1) x 2 bytes = 73,728 bytes.


def test_linear_attention_state_is_fixed_per_sequence(catalog):
    model = catalog.model("qwen3.5-397b-a17b")
    assert perf.linear_state_bytes_per_sequence(model) == 45 * (4_194_304 + 73_728)
    dep = _dep(catalog, model_gpu="h200-sxm", tp=1)
    state = 45 * (4_194_304 + 73_728)
    for context in (1, 1_000, 100_000):
        assert perf.kv_bytes_per_sequence_per_gpu(model, dep, context) == 15 * 2_048 * context + state
    assert perf.kv_elements_per_token(model) == 15 * 2 * 2 * 256  # linear layers cache no K/V


def test_linear_attention_state_splits_over_tensor_parallelism(catalog):
    """TP 8: 8 value heads and 2 key heads per rank, 1 of the 2 KV heads
    (replicated), so per rank 15 x 1,024 bytes per token and per linear layer
    8 x 128 x 128 x 4 + (2 x 2 x 128 + 8 x 128) x 3 x 2 = 524,288 + 9,216 bytes."""
    model = catalog.model("qwen3.5-397b-a17b")
    dep = _dep(catalog, model_gpu="h200-sxm", tp=8)
    assert perf.kv_bytes_per_sequence_per_gpu(model, dep, 1_000) == 15 * 1_024 * 1_000 + 45 * (524_288 + 9_216)


def test_linear_attention_work_does_not_grow_with_context(catalog):
    """Decode step: 15 full layers x context pairs x 2 x 32 heads x 512, plus
    per token 6 x 64 value heads x 128 x 128 FLOPs in each of the 45 linear layers."""
    model = catalog.model("qwen3.5-397b-a17b")
    linear = 6 * 64 * 128 * 128 * 45
    for context in (10, 10_000):
        assert perf.attention_flops(model, 1, context, 1, causal=True) == 2 * 32 * 512 * 15 * context + linear


def test_models_without_local_layers_keep_the_per_token_formula(catalog):
    """Llama 3.1 8B: every layer full, so a sequence's cache is the per-token
    bytes times the context (2 x 32 x 8 x 128 x 2 = 131,072 bytes per token)."""
    model = catalog.model("llama-3.1-8b")
    dep = _dep(catalog)
    assert perf.kv_bytes_per_sequence_per_gpu(model, dep, 3_000) == 131_072 * 3_000


def test_interleaved_moe_decode_reads_every_dense_layer_and_the_routed_experts(catalog):
    """Llama 4 Maverick, BF16, batch 1: all non-expert weights plus one routed
    expert in each of the 24 MoE layers (1 of 128 per token). Transformer
    layers hold 797,285,754,880 bytes (398,642,877,440 parameters: total less
    embedding and head, 2 x 202,048 x 5,120); the 127 unread experts of each
    MoE layer are 24 x 127 x 3 x 5,120 x 8,192 = 383,527,157,760 parameters,
    767,054,315,520 bytes; the output head adds 2,068,971,520 bytes (half the embedding +
    head bytes). 797,285,754,880 - 767,054,315,520 + 2,068,971,520 = 32,300,410,880."""
    model = catalog.model("llama-4-maverick")
    assert perf.decode_weight_bytes(model, catalog.precision("bf16"), 1) == 32_300_410_880


def test_chunked_local_layers_of_llama_4_stop_at_the_chunk(catalog):
    """Llama 4 Scout: 36 of 48 layers attend within 8,192-token chunks, 12
    globally; 8 KV heads of 128 in BF16 = 4,096 bytes per layer and token.
    At 100,000 tokens: 4,096 x (12 x 100,000 + 36 x 8,192) = 6,123,159,552 bytes."""
    model = catalog.model("llama-4-scout")
    dep = _dep(catalog, model_gpu="h200-sxm")
    assert perf.kv_bytes_per_sequence_per_gpu(model, dep, 100_000) == 6_123_159_552


def test_an_embedding_model_built_from_a_decoder_keeps_causal_attention(catalog):
    """Qwen3-Embedding-8B runs as one forward pass (kind encoder) but with the
    causal mask of the Qwen3 decoder it comes from: a 1,000-token pass attends
    1,000 x 1,001 / 2 = 500,500 pairs per layer, where BERT attends S^2."""
    qwen = catalog.model("qwen3-embedding-8b")
    assert perf.is_causal(qwen) and not perf.is_causal(catalog.model("bert-base"))
    assert perf.is_causal(catalog.model("llama-3.1-8b"))
    # width per pair 2 x 32 heads x (128 + 128) = 16,384 FLOPs, 36 layers
    assert perf.attention_flops(qwen, 1_000, 1_000, 1, causal=perf.is_causal(qwen)) == 16_384 * 36 * 500_500
