"""The catalog's schema: accelerators, numeric precisions, model architectures.

Strict by design: unknown keys are errors, numbers must be positive where a
negative makes no sense, and every figure carries a source. Field names carry
their units (``memory_bandwidth_gbs`` is decimal GB/s; ``memory_total_gib``
is 2^30-byte GiB as the driver reports it).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

# Bounds that no real part comes near: they turn a typo or a hostile overlay
# into a catalog error instead of an overflow somewhere downstream. Every
# number is finite (allow_inf_nan=False) and strict (Strict below): `true` is
# not 1, and "80" is not 80.
Usd = Annotated[float, Field(gt=0, le=1e8, allow_inf_nan=False)]
Tflops = Annotated[float, Field(ge=1e-3, le=1e6, allow_inf_nan=False)]
Count = Annotated[int, Field(gt=0, le=10_000_000)]
SmallCount = Annotated[int, Field(ge=0, le=10_000_000)]
Milliseconds = Annotated[float, Field(ge=0, le=1e4, allow_inf_nan=False)]
Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]  # a fraction of a peak
Microseconds = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
Bits = Annotated[float, Field(ge=0.5, le=64, allow_inf_nan=False)]
Gbs = Annotated[float, Field(ge=0.1, le=1e6, allow_inf_nan=False)]  # decimal GB/s
Parameters = Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False)]
# The p of the p-norm merging memory and compute time. At p = 100 the merged
# time is within 0.7% of the longer of the two (2^(1/100) = 1.007), so a
# larger p says nothing more; the fitted values lie in 1..12
# (benchmarks/fit_efficiency.py). Perfect overlap, max(), is never written in
# a catalog: it is the physical limit the code asks for (overlap None).
Overlap = Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]

# Characters that would act on a terminal instead of being shown: C0 controls
# other than tab and newline (ESC starts every escape sequence), DEL, the C1
# controls (U+0080-U+009F; U+009B is a one-byte CSI), and the Unicode
# bidirectional overrides and isolates that reorder what is displayed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _printable(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at position {found.start() + 1}; "
            "catalog text must be plain printable text"
        )
    return value


def _single_line(value: str) -> str:
    if "\n" in value or "\t" in value:
        raise ValueError("must be one line: a name is shown in table cells and headlines")
    return value


# Free text (notes, sources): shown on terminals and in reports, so it may
# hold no control characters (see _CONTROL).
Text = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_printable)]
# A name (of a GPU, a format, a model, an engine, a memory type): text on one line.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable), AfterValidator(_single_line)]
# A date as precise as the source gives it: 2025, 2025-06 or 2025-06-17.
AsOf = Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]


class Strict(BaseModel):
    # strict: no coercion, so a boolean or a quoted number is an error where
    # a number is wanted (YAML 1.2 exponents like 6.74e9 are floats: load.py)
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)


# --- accelerators -------------------------------------------------------


class TensorThroughput(Strict):
    """Dense (no 2:4 sparsity) matrix-unit throughput, TFLOP/s or TOP/s."""

    tf32: Tflops | None = None
    bf16: Tflops | None = None
    fp16: Tflops | None = None
    fp8: Tflops | None = None
    int8: Tflops | None = None
    int4: Tflops | None = None
    fp4: Tflops | None = None


GPU_SPEC_FIELDS = (
    "memory_total_gib",
    "memory_bandwidth_gbs",
    "fp32_tflops",
    "tensor_tflops",
    "tdp_w",
    "interconnect_gbs",
    "gpus_per_node",
    "interconnect_domain",
    "host_link_gbs",
    "scale_out_gbs",
    "release_year",
    "memory_label",
    "compute_capability",
)


class Gpu(Strict):
    id: Identifier
    aliases: list[Identifier] = []
    vendor: Name
    name: Name
    family: Identifier  # hardware generation, e.g. hopper, ampere, ada, cdna3
    # NVIDIA's compute capability ("8.0", "12.0"): what CUDA kernels and the
    # engines' support tables key on. None for other vendors.
    compute_capability: Annotated[str, Field(pattern=r"^\d{1,2}\.\d$")] | None = None
    segment: Literal["datacenter", "workstation", "consumer"]
    form_factor: Name
    release_year: Annotated[int, Field(ge=2010, le=2035)]
    memory_label: Name  # as the vendor sells it, verbatim: "80 GB"
    memory_label_unit: Literal["GB", "GiB"]  # what that label actually counts
    memory_type: Name  # as the datasheet names it (HBM3e, GDDR6 with ECC, LPDDR5 unified memory)
    # hbm, gddr or unified: the memory technology, which decides how much of
    # the peak bandwidth real kernels reach (the engines' factors are fitted per class)
    memory_class: Literal["hbm", "gddr", "unified"]
    memory_total_gib: Annotated[float, Field(ge=0.01, le=1e5, allow_inf_nan=False)]  # as the driver reports it
    memory_bandwidth_gbs: Gbs  # peak, decimal GB/s
    fp32_tflops: Tflops | None = None  # vector (non-tensor) FP32
    tensor_tflops: TensorThroughput
    tdp_w: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False)] | None = None
    interconnect: Name  # the GPU-to-GPU link tensor parallelism uses
    # bidirectional GB/s per GPU; None: no GPU-to-GPU link
    interconnect_gbs: Gbs | None = None
    gpus_per_node: Annotated[int, Field(gt=0, le=4096)]
    # GPUs the fast link joins: None, the whole node; fewer than a node (an
    # NVLink bridge: 2), and parallelism wider than that runs over
    # host_link_gbs (PCIe); more than a node (GB200 NVL72: 72 GPUs over
    # NVLink Switch trays), and the fast link reaches across nodes.
    interconnect_domain: Annotated[int, Field(gt=0, le=4096)] | None = None
    host_link_gbs: Gbs | None = None  # bidirectional, per GPU
    # The scale-out network between nodes (InfiniBand, RoCE, EFA) of the
    # system this GPU is sold in: bidirectional GB/s per GPU. None: unknown,
    # and no expert-parallel group may leave the fast domain.
    scale_out_gbs: Gbs | None = None
    sources: dict[Identifier, Text]  # keyed by the field (or "specs") each source backs
    notes: Text | None = None

    @field_validator("sources")
    @classmethod
    def _sources_cover_specs(cls, sources: dict[str, str]) -> dict[str, str]:
        if "specs" not in sources:
            raise ValueError("needs a 'specs' entry naming the datasheet the figures come from")
        unknown = sorted(set(sources) - set(GPU_SPEC_FIELDS) - {"specs"})
        if unknown:
            raise ValueError(f"unknown source key(s) {unknown}; use 'specs' or one of {list(GPU_SPEC_FIELDS)}")
        return sources

    @model_validator(mode="after")
    def _domain_has_a_host_link(self) -> "Gpu":
        if self.interconnect_domain is not None and self.interconnect_domain < self.gpus_per_node and self.host_link_gbs is None:
            raise ValueError("interconnect_domain is set, so host_link_gbs must give the link used beyond it")
        return self

    @property
    def fast_domain(self) -> int:
        """GPUs the fast link (NVLink, Infinity Fabric) joins."""
        return self.gpus_per_node if self.interconnect_domain is None else self.interconnect_domain

    @property
    def tensor_parallel_limit(self) -> int:
        """The widest tensor-parallel group: a node, or the fast domain where
        it reaches across nodes (an NVL72 rack)."""
        return max(self.gpus_per_node, self.fast_domain)

    def link_gbs(self, gpus: int) -> float | None:
        """Bidirectional GB/s per GPU for a tensor-parallel group of ``gpus``:
        the fast link inside its domain; past a domain smaller than the node,
        the host link (PCIe); past the node, the scale-out network."""
        if gpus <= self.fast_domain:
            return self.interconnect_gbs
        if gpus <= self.gpus_per_node:
            return self.host_link_gbs
        return self.scale_out_gbs

    @property
    def memory_total_bytes(self) -> int:
        return int(self.memory_total_gib * 2**30)

    @property
    def memory_bandwidth_bytes_per_s(self) -> float:
        return self.memory_bandwidth_gbs * 1e9

    def tensor_flops(self, fmt: str) -> float | None:
        """Dense FLOP/s (or OP/s) of one compute format, None if not native."""
        if fmt == "fp32":
            return self.fp32_tflops * 1e12 if self.fp32_tflops else None
        value = getattr(self.tensor_tflops, fmt, None)
        return value * 1e12 if value else None


# --- precisions ---------------------------------------------------------


class Quality(Strict):
    """Published quality impact, reduced to one comparable number.

    ``loss_pct`` is the relative degradation in percent: the perplexity
    increase over the 16-bit baseline divided by the baseline, or the drop in
    benchmark accuracy, as ``basis`` states.
    """

    loss_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    basis: Text
    source: Text


class Precision(Strict):
    id: Identifier
    aliases: list[Identifier] = []
    name: Name
    family: Literal["float", "integer", "gguf", "block-fp4"]
    bits_per_weight: Bits  # effective, scales included
    weight_format: bool  # usable as a weight storage format
    compute: Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"]  # matrix format of the GEMMs
    # Which GPUs run it natively, which through a dequantising (weight-only)
    # kernel and at which rate, and which cannot: catalog/support.yaml.
    # Weight-only and W8A8 checkpoints usually keep the token embedding and
    # output head in 16-bit; GGUF's measured bits already average them in.
    embeddings_bits: Bits | None = None  # None: as bits_per_weight
    kv_cache: bool = False
    kv_bits: Bits | None = None  # bits per cached element
    engines: list[Identifier]  # engines that serve this weight format
    quality: Quality
    sources: dict[Identifier, Text]  # keyed by the field (or "specs") each source backs
    notes: Text | None = None

    @model_validator(mode="after")
    def _kv_bits_when_kv(self) -> "Precision":
        if self.kv_cache and self.kv_bits is None:
            raise ValueError("kv_cache is true, so kv_bits must give the bits per cached element")
        if "bits_per_weight" not in self.sources and "specs" not in self.sources:
            raise ValueError("sources needs 'bits_per_weight' (or 'specs') saying where the effective bits come from")
        return self

    @property
    def bytes_per_weight(self) -> float:
        return self.bits_per_weight / 8


# --- models -------------------------------------------------------------


class Moe(Strict):
    experts: Count  # routed experts per MoE layer
    active_experts: Count  # routed experts each token uses
    shared_experts: SmallCount = 0
    expert_ffn_size: Count
    dense_layers: SmallCount = 0  # leading layers with a dense FFN instead
    # Every layer_step-th layer is a mixture of experts, the others dense
    # (Llama 4 Maverick's interleave_moe_layer_step 2: layers 2, 4, 6, ...
    # counting from 1); 1 means every layer after the leading dense ones.
    layer_step: Annotated[int, Field(ge=1, le=64)] = 1
    router_bias: bool = False  # the router's linear layer has a bias (gpt-oss)

    @model_validator(mode="after")
    def _active_le_total(self) -> "Moe":
        if self.active_experts > self.experts:
            raise ValueError(f"active_experts {self.active_experts} > experts {self.experts}")
        return self


class Mla(Strict):
    """Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds a
    compressed latent of ``kv_lora_rank`` plus a shared RoPE key per token."""

    q_lora_rank: Count | None = None
    kv_lora_rank: Count
    qk_nope_head_dim: Count
    qk_rope_head_dim: Count
    v_head_dim: Count


class SlidingWindow(Strict):
    """Local attention: ``layers`` of the model's layers attend to the last
    ``window`` tokens only (Mistral 7B v0.1, Gemma 2/3, gpt-oss); the others
    attend to the whole context. A local layer's KV cache stops growing at
    ``window`` tokens."""

    window: Count
    layers: Count  # how many layers use the window


class LinearAttention(Strict):
    """Linear-attention layers (Gated DeltaNet in Qwen3-Next and Qwen3.5):
    a recurrent state of fixed size per sequence instead of a KV cache that
    grows with the context. ``layers`` of the model's layers are linear; the
    rest use the model's own (full) attention fields."""

    layers: Count
    key_heads: Count
    value_heads: Count
    key_head_dim: Count
    value_head_dim: Count
    conv_kernel: Count = 4  # short causal convolution over q, k, v
    # Bits per element of the recurrent state. Hugging Face Transformers'
    # reference Gated DeltaNet (modeling_qwen3_next.py, torch_chunk_gated_delta_rule)
    # runs the recurrence in float32 and keeps its final state in float32;
    # vLLM keeps it in mamba_ssm_cache_dtype (default: the model's dtype).
    # 32 is the larger, so memory is not under-counted.
    state_bits: Bits = 32


class ModelKind(StrEnum):
    """Decoders generate token by token (TTFT, TPOT); encoders answer in one forward pass."""

    DECODER = "decoder"
    ENCODER = "encoder"


# A Hugging Face repository id as the Hub spells it: "meta-llama/Llama-3.1-8B-Instruct".
HfId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=200)]


class Model(Strict):
    id: Identifier
    aliases: list[Identifier] = []
    # Hub repositories of this architecture (base, instruct, re-quantised
    # releases), so `planner fit meta-llama/Llama-3.1-8B-Instruct` resolves
    # here; matched without regard to case.
    hf_ids: list[HfId] = []
    name: Name
    family: Identifier
    kind: Annotated[ModelKind, Field(strict=False)]  # the text 'decoder' or 'encoder'
    layers: Count
    hidden_size: Count
    heads: Count
    kv_heads: Count
    head_dim: Count
    ffn_size: Count  # dense FFN intermediate size
    ffn_gated: bool  # SwiGLU/GeGLU: three matrices instead of two
    vocab_size: Count
    tied_embeddings: bool
    # the context the model was trained and released for (Llama 4 Scout: 10,485,760)
    max_context: Annotated[int, Field(gt=0, le=100_000_000)]
    # Longer context the model card documents with RoPE scaling (YaRN, NTK):
    # allowed only when the user opts in (--rope-scaling), as the engines ask.
    max_context_extended: Annotated[int, Field(gt=0, le=100_000_000)] | None = None
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    attention_bias: bool = False
    # RMSNorm of each query and key head over head_dim (Qwen3, Gemma 3,
    # GLM-4.5): two head_dim-sized weights per attention layer.
    qk_norm: bool = False
    # A sigmoid gate on the attention output, projected by q_proj alongside
    # the queries (Qwen3-Next, Qwen3.5 attn_output_gate): q_proj is twice as wide.
    attention_output_gate: bool = False
    mlp_bias: bool = False
    # Whether a token attends only to earlier ones. None: decoders are causal,
    # encoders bidirectional (BERT); an embedding model built from a decoder
    # (Qwen3-Embedding) is an encoder with causal attention.
    causal_attention: bool | None = None
    learned_positions: bool = False  # absolute position embeddings (BERT, GPT-2)
    token_types: SmallCount = 0  # BERT segment embeddings
    pooler: bool = False  # BERT pooler dense layer
    moe: Moe | None = None
    mla: Mla | None = None
    sliding_window: SlidingWindow | None = None
    linear_attention: LinearAttention | None = None
    params_published: Parameters  # as the authors state it
    params_active_published: Parameters | None = None  # MoE, per token
    # Parts of the computed active count that the published active figure
    # leaves out (say where in ``sources.params``), so the two are compared
    # like for like rather than with a looser tolerance.
    params_active_excludes: list[Literal["embedding", "head"]] = []
    # The precision the weights were released in. Quality figures of other
    # formats are relative to this release (an FP8 or MXFP4 checkpoint is its
    # own baseline, not a 16-bit one).
    precision_native: Literal["fp32", "bf16", "fp16", "fp8", "int4", "mxfp4", "nvfp4"] = "bf16"
    sources: dict[Identifier, Text]  # keyed by the field (or "specs") each source backs
    as_of: AsOf
    notes: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Model":
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} is not a multiple of kv_heads {self.kv_heads}")
        if "architecture" not in self.sources:
            raise ValueError("sources needs 'architecture' (the published config the numbers come from)")
        if "params" not in self.sources:
            raise ValueError("sources needs 'params' (where the published parameter count is stated)")
        if self.params_active_excludes and self.params_active_published is None:
            raise ValueError("params_active_excludes needs params_active_published")
        local = self.sliding_window.layers if self.sliding_window else 0
        linear = self.linear_attention.layers if self.linear_attention else 0
        if local + linear > self.layers:
            raise ValueError(f"sliding-window ({local}) and linear-attention ({linear}) layers exceed the {self.layers} layers")
        if self.moe is not None and not any((i + 1) % self.moe.layer_step == 0
                                            for i in range(self.moe.dense_layers, self.layers)):
            raise ValueError(f"moe: no layer is a mixture of experts (dense_layers {self.moe.dense_layers}, "
                             f"layer_step {self.moe.layer_step}, {self.layers} layers)")
        if self.max_context_extended is not None and self.max_context_extended <= self.max_context:
            raise ValueError(f"max_context_extended {self.max_context_extended} must exceed max_context {self.max_context}")
        return self


# --- engines and fitted efficiency ---------------------------------------


class EngineFactors(Strict):
    """Achieved shares of peak and fixed costs, FITTED on published measurements
    (benchmarks/fit_efficiency.py; the data it used is named in ``fitted_on``)."""

    bandwidth: Share  # share of peak memory bandwidth reached in decode
    compute: Share  # share of peak reached by 16/32-bit GEMMs and attention
    compute_8bit: Share  # share of their own peak reached by FP8/INT8/FP4 GEMMs
    decode_overhead_ms: Milliseconds  # fixed cost of one decode step (launches, scheduling, sampling)
    prefill_overhead_ms: Milliseconds  # fixed cost of the pass that yields the first token
    allreduce_us: Microseconds  # per TP all-reduce or PP hand-off
    # How memory traffic and compute overlap within a pass: the p of a p-norm,
    # 1 = not at all (times add), large = nearly fully; None = fully (the
    # roofline's max), which only the physical limit asks for (model/perf.py).
    overlap: Overlap | None = None



class PartialFactors(Strict):
    """Factors for one group of GPUs; a field left out comes from a less
    specific group, and finally from ``default``."""

    bandwidth: Share | None = None
    compute: Share | None = None
    compute_8bit: Share | None = None
    decode_overhead_ms: Milliseconds | None = None
    prefill_overhead_ms: Milliseconds | None = None
    allreduce_us: Microseconds | None = None
    overlap: Overlap | None = None


class SchedulerPolicy(StrEnum):
    """How one engine iteration mixes the two phases."""

    MIXED = "mixed"  # decodes ride in the same step as prefill chunks (vLLM V1, TensorRT-LLM in-flight batching)
    PREFILL_FIRST = "prefill-first"  # a step prefills waiting prompts, or decodes; never both (SGLang default)


class KvAdmission(StrEnum):
    """How much KV cache a request must find free to be admitted."""

    # its whole final context (input + output): never preempted (TensorRT-LLM GUARANTEED_NO_EVICT)
    RESERVE = "reserve"
    # its prompt; decode tokens take slots as they come, and a full cache
    # preempts the latest admitted request, to be recomputed later (vLLM)
    ON_DEMAND = "on-demand"


class Scheduler(Strict):
    """The iteration-level scheduler's knobs, as the engine names them, with
    the engine version their defaults are for (``sources`` says where each
    value comes from)."""

    # running sequences at most (vLLM max_num_seqs); None: only the KV cache limits them
    max_num_seqs: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    max_num_batched_tokens: Count  # tokens one step may carry, prefill and decode together
    chunked_prefill: bool  # a prompt longer than the step's token budget is split over steps
    policy: Annotated[SchedulerPolicy, Field(strict=False)]  # the text "mixed" or "prefill-first"
    admission: Annotated[KvAdmission, Field(strict=False)] = KvAdmission.RESERVE  # "reserve" or "on-demand"
    version: Text  # the engine version these defaults are for
    sources: dict[Identifier, Text]  # keyed by the field each source backs

    @model_validator(mode="after")
    def _sourced(self) -> "Scheduler":
        given = {"max_num_batched_tokens", "chunked_prefill", "policy", "admission"} | (
            {"max_num_seqs"} if self.max_num_seqs else set())
        missing = sorted(given - set(self.sources))
        if missing:
            raise ValueError(f"sources must say where {missing} come from")
        return self


class Engine(Strict):
    id: Identifier
    aliases: list[Identifier] = []
    name: Name
    # Keyed "default" (every field), then by GPU family (hopper), memory class
    # (hbm, gddr, unified) or segment (consumer): for each field the most
    # specific key that gives it is used.
    factors: dict[Identifier, PartialFactors]
    fitted_on: Text  # which published measurements the factors were fitted on
    memory_utilization: Share  # share of GPU memory the engine may use
    workspace_gib: Annotated[float, Field(ge=0, le=1e4, allow_inf_nan=False)]  # allocator-visible extra buffers
    prefill_chunk_tokens: Count | None = None  # tokens per prefill pass; None: the whole prompt at once
    max_batch: Annotated[int, Field(gt=0, le=1_000_000)] | None = None  # default cap on concurrent sequences
    kv_cache_formats: list[Identifier]  # precisions the engine can store its KV cache in
    sources: dict[Identifier, Text]  # keyed by the field (or "specs") each source backs
    notes: Text | None = None
    # iteration-level scheduler for the serving simulation (planner/model/serving.py);
    # None: the stated default there
    scheduler: Scheduler | None = None
    # The support rules that name this engine, in catalog order: attached by
    # the loader from catalog/support.yaml (never read from an engine entry),
    # so every deployment carries what its engine runs where.
    _support_rules: tuple["SupportRule", ...] = PrivateAttr(default=())

    @field_validator("factors")
    @classmethod
    def _has_default(cls, value: dict[str, PartialFactors]) -> dict[str, PartialFactors]:
        if "default" not in value:
            raise ValueError("needs a 'default' entry used for hardware without its own factors")
        missing = [name for name in EngineFactors.model_fields if getattr(value["default"], name) is None]
        if missing:
            raise ValueError(f"'default' must give every factor; missing {missing}")
        return value

    def factors_for(self, gpu: "Gpu") -> EngineFactors:
        chain = [self.factors[k] for k in (gpu.family, gpu.memory_class, gpu.segment, "default") if k in self.factors]
        resolved = {
            name: next(getattr(group, name) for group in chain if getattr(group, name) is not None)
            for name in EngineFactors.model_fields
        }
        return EngineFactors(**resolved)


# --- quality figures per model ---------------------------------------------

# Precisions a release can ship in (Model.precision_native): the baseline a
# quality figure was measured against.
ReleasePrecision = Literal["fp32", "bf16", "fp16", "fp8", "mxfp4", "nvfp4"]


class QualityMeasurement(Strict):
    """One published measurement of what a format costs one model.

    ``loss_pct`` is the relative degradation in percent against the
    ``baseline_precision`` release: (baseline score - quantised score) /
    baseline score x 100 for accuracy, (quantised - baseline) / baseline x 100
    for perplexity, as ``metric`` states. A quantised model that scored higher
    is written as 0 and says so in ``notes``. ``model`` is the catalog id when
    the measured model is in the catalog; ``family`` and ``params_b`` are always
    given, so a model without its own figure can borrow the nearest size of its
    family (planner/model/quality.py states the rule).
    """

    id: Identifier
    aliases: list[Identifier] = []
    precision: Identifier  # the format measured (a precisions id)
    part: Literal["weights", "kv_cache"]  # what was quantised
    model: Identifier | None = None  # catalog model id, when the model is in the catalog
    family: Identifier  # the catalog's family id (llama, qwen, mistral, deepseek ...)
    params_b: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False)]  # total parameters, billions
    measured_on: Name  # the checkpoint as its publisher names it
    baseline_precision: ReleasePrecision = "bf16"  # the release the loss is relative to
    method: Name  # RTN, GPTQ, AWQ, SmoothQuant, ModelOpt PTQ, QAT ...
    metric: Text  # what was measured, and how the percentage was worked out
    loss_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    source: Text  # paper table, model card URL with commit or date
    as_of: AsOf
    notes: Text | None = None


# --- the format support matrix -------------------------------------------

# An NVIDIA compute capability as CUDA writes it: "7.0", "8.6", "12.1".
ComputeCapability = Annotated[str, Field(pattern=r"^\d{1,2}\.\d$")]


def capability_key(value: str) -> tuple[int, int]:
    """"8.6" -> (8, 6): compute capabilities compare as (major, minor), so 12.0 > 9.0."""
    major, minor = value.split(".")
    return int(major), int(minor)


class CapabilityRange(Strict):
    """NVIDIA GPUs whose compute capability lies in [min, max] (either end open)."""

    min: ComputeCapability | None = None
    max: ComputeCapability | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "CapabilityRange":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and capability_key(self.min) > capability_key(self.max):
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, value: str) -> bool:
        key = capability_key(value)
        return (self.min is None or key >= capability_key(self.min)) and (
            self.max is None or key <= capability_key(self.max))


class SupportRule(Strict):
    """One line of the format support matrix (catalog/support.yaml): how
    ``engines`` run ``formats`` on the GPUs the rule selects.

    ``native``: the GEMMs run at the format's own matrix rate (its precision's
    ``compute``). ``weight-only``: weights are stored in the format and
    dequantised inside the kernel; the GEMMs run at the rate of ``compute``
    (FP8 Marlin on Ampere runs W8A16 at the 16-bit rate). ``unsupported``: the
    engine cannot run the format there. For ``use: kv-cache`` the formats are
    KV-cache formats and ``native`` means the engine can keep its cache in
    them there (attention reads it at the 16-bit rate either way).

    A GPU is selected by its NVIDIA ``compute_capability`` range, its
    ``family`` (other vendors: cdna3, gaudi3, apple-m3 ...) or its ``gpus`` id;
    any one match selects it. Rules are read in order and the LAST one that
    matches decides, so an overlay's added rule overrides the built-in ones.
    """

    id: Identifier
    aliases: list[Identifier] = []
    engines: Annotated[list[Identifier], Field(min_length=1)]
    formats: Annotated[list[Identifier], Field(min_length=1)]
    use: Literal["weights", "kv-cache"] = "weights"
    compute_capability: CapabilityRange | None = None
    families: list[Identifier] = []
    gpus: list[Identifier] = []
    mode: Literal["native", "weight-only", "unsupported"]
    # weight-only: the matrix format the dequantised GEMMs run in
    compute: Literal["fp32", "bf16", "fp16", "fp8"] | None = None
    source: Text
    as_of: AsOf
    notes: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "SupportRule":
        if self.compute_capability is None and not self.families and not self.gpus:
            raise ValueError("select hardware with compute_capability, families or gpus (a rule for every GPU "
                             "would also decide for GPUs nobody has looked at)")
        if self.mode == "weight-only" and self.compute is None:
            raise ValueError("mode weight-only needs compute: the format the dequantised GEMMs run in")
        if self.mode != "weight-only" and self.compute is not None:
            raise ValueError(f"compute is only for mode weight-only; a {self.mode} rule takes the format's own")
        if self.use == "kv-cache" and self.mode == "weight-only":
            raise ValueError("a KV-cache rule is native (the engine stores its cache in the format) or unsupported")
        return self

    def selects(self, gpu: Gpu) -> bool:
        if gpu.id in self.gpus or gpu.family in self.families:
            return True
        return (self.compute_capability is not None and gpu.compute_capability is not None
                and self.compute_capability.holds(gpu.compute_capability))


# --- the price book: what can be rented or bought, and at what price -----


class PricingModel(StrEnum):
    """How an instance is paid for, as the providers publish it."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"  # interruptible; the provider may reclaim it
    RESERVED_1Y = "reserved-1y"  # one-year commitment, paid per hour used or not
    RESERVED_3Y = "reserved-3y"


class Provider(Strict):
    """A company that rents accelerators, and what its prices include."""

    id: Identifier
    aliases: list[Identifier] = []
    name: Name
    # hyperscaler (AWS, Azure, GCP), gpu-cloud (CoreWeave, Lambda: dedicated
    # instances on their own data centres) or marketplace (RunPod community
    # hosts and the like: capacity and terms vary by host)
    kind: Literal["hyperscaler", "gpu-cloud", "marketplace"]
    default: bool  # in the set `fit` rents from when --provider is not given
    billing: Text  # what an instance's price covers (host vCPU, RAM, storage, network)
    source: Text
    as_of: AsOf
    notes: Text | None = None


class InstancePrice(Strict):
    """One published price of a whole instance."""

    pricing: Annotated[PricingModel, Field(strict=False)]  # the text on-demand, spot, reserved-1y or reserved-3y
    region: Name  # as short as the provider names it (us-east-1, eastus), so `--region` can match it
    region_note: Text | None = None  # what the source adds about the region (other regions at the same price)
    usd_per_hour: Usd  # the whole instance, all its GPUs
    as_of: AsOf
    source: Text
    note: Text | None = None


class Instance(Strict):
    """A shape a provider rents: a GPU type and count with its host."""

    id: Identifier  # provider-name, e.g. aws-p5.48xlarge
    aliases: list[Identifier] = []
    provider: Identifier
    name: Name  # as the provider spells it
    gpu: Identifier  # a catalog GPU id
    gpus: Count  # GPUs in one instance; a tensor-parallel group never spans instances
    vcpus: Annotated[int, Field(gt=0, le=100_000)] | None = None
    ram_gb: Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False)] | None = None
    gpu_interconnect: Text | None = None  # as the provider describes it
    network_gbps: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None = None
    prices: list[InstancePrice] = []
    source: Text  # where the shape (GPUs, vCPUs, RAM, links) is described
    notes: Text | None = None

    @model_validator(mode="after")
    def _one_price_per_market(self) -> "Instance":
        seen: set[tuple[str, str]] = set()
        for price in self.prices:
            market = (price.pricing.value, price.region)
            if market in seen:
                raise ValueError(f"two {price.pricing.value} prices for region {price.region}; keep one")
            seen.add(market)
        return self


class ServerPart(Strict):
    """One line of a server's bill of materials, with its own price and source."""

    item: Name
    quantity: Count
    unit_usd: Usd
    as_of: AsOf
    source: Text
    note: Text | None = None


class Server(Strict):
    """A system that can be bought outright with its GPUs: what capex and TCO plans buy."""

    id: Identifier
    aliases: list[Identifier] = []
    name: Name
    gpu: Identifier
    gpus: Count  # GPUs in one server; a tensor-parallel group never spans servers
    parts: Annotated[list[ServerPart], Field(min_length=1)]  # what one server costs, line by line
    # the system's maximum input power (nameplate), W, where published; else
    # TCO counts the GPUs' TDP only and says so
    max_power_w: Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False)] | None = None
    power_source: Text | None = None
    includes: Text  # what the price covers (CPUs, RAM, NICs, chassis, support), per the source
    notes: Text | None = None

    @model_validator(mode="after")
    def _power_has_source(self) -> "Server":
        if self.max_power_w is not None and self.power_source is None:
            raise ValueError("max_power_w needs power_source")
        return self

    @property
    def price_usd(self) -> float:
        return sum(part.quantity * part.unit_usd for part in self.parts)


SECTIONS: dict[str, type[Strict]] = {"gpus": Gpu, "precisions": Precision, "models": Model, "engines": Engine, "quality": QualityMeasurement,
            "support": SupportRule, "providers": Provider, "instances": Instance, "servers": Server}
