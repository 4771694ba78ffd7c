"""A Hugging Face ``config.json`` read as a catalog `Model`.

The config names the architecture in the keys of its ``transformers`` class
(``LlamaConfig``, ``MixtralConfig``, ``DeepseekV3Config`` ...); this module
maps those keys onto the schema's fields. What the schema cannot hold (a
feature that changes sizes or speed and has no field yet) is refused with a
one-line error naming the key, never dropped: a model that silently lost a
feature would be sized wrong without a word.

Parameter counts: the ``model.safetensors.index.json`` beside the config,
when there is one, gives the checkpoint's bytes (``metadata.total_size``),
which divided by the bytes per parameter of an unquantised dtype estimates
the stored count; the count computed from the architecture is checked
against it. Without an index the computed count stands, and the notes say so.

Files are read defensively: size limit, JSON only, an object at the top,
strict types (``true`` is not 1, ``4096.0`` is not 4096), the schema's bounds.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from planner.catalog.architecture import count_params
from planner.catalog.schema import Mla, Model, Moe
from planner.core.errors import InputError

# A real config.json is a few kB (the largest, with per-layer lists or a
# vision tower, some tens of kB); an index a few MB. Anything larger is not
# what it claims to be.
MAX_CONFIG_BYTES = 4_000_000
MAX_INDEX_BYTES = 64_000_000
# How far the computed count may lie from the checkpoint's before a warning.
COUNT_WARN_TOLERANCE = 0.01

CONFIG_NAME = "config.json"
INDEX_NAME = "model.safetensors.index.json"

_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

# Encoders answer in one forward pass; every other model_type is a decoder.
_ENCODERS = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}
# RoBERTa-style position embeddings start after the padding index, so
# max_position_embeddings (514) holds two rows that are not positions.
_POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}
# Two-matrix FFN (GELU) instead of a gated one (SwiGLU/GeGLU).
_PLAIN_FFN = {"gptj", "gpt_neox", "gpt2", "opt", "falcon"} | _ENCODERS
_LAYERNORM = {"gptj", "gpt_neox", "gpt2", "opt", "falcon"} | _ENCODERS
# Families whose projections always carry biases, whatever the config says
# (Qwen2's q/k/v; GPT-NeoX's fused qkv and dense; BERT's every linear).
_ATTENTION_BIAS = {"qwen2", "qwen2_moe", "gpt_neox"} | _ENCODERS
# RMSNorm on each query and key head: q_norm / k_norm weights in these
# architectures' modelling code (transformers), not a config key.
_QK_NORM = {"qwen3", "qwen3_moe", "qwen3_next", "qwen3_5", "qwen3_5_moe", "gemma3", "gemma3_text", "glm4_moe",
            "minimax_m2"}
_ROUTER_BIAS = {"gpt_oss"}  # the router's linear layer has a bias
_MLP_BIAS = {"gptj", "gpt_neox", "gpt_oss"} | _ENCODERS
# transformers' default for tie_word_embeddings where a config leaves it out:
# True in PretrainedConfig, False in the decoder classes that override it.
_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text"} | _ENCODERS

_DTYPES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}

# Keys of features the schema has no field for: refused, naming the key.
_UNSUPPORTED = {
    "index_topk": "a sparse-attention indexer (DeepSeek sparse attention)",
    "cross_attention_layers": "cross-attention layers (Llama 3.2 Vision)",
}


class UnsupportedConfig(InputError):
    """A config.json describes a feature the catalog schema cannot hold yet."""


@dataclass(frozen=True)
class ParsedModel:
    """A model read from a config.json, and what the reader should be told."""

    model: Model
    path: Path  # the config.json read
    warnings: tuple[str, ...] = field(default=())


# --- reading files ---------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json_object(path: Path, what: str, limit: int) -> dict[str, Any]:
    """A JSON file holding one object, read within ``limit`` bytes."""
    try:
        info = path.stat()
    except OSError as exc:  # a symlink loop, a name too long, no permission
        raise InputError(f"cannot read {what} '{path}': {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{what} '{path}' is not a regular file", hint=f"pass a {CONFIG_NAME} or the directory holding it")
    size = info.st_size
    if size > limit:
        raise InputError(f"{what} '{path}' is {size:,} bytes, over the {limit:,}-byte limit",
                         hint=f"is it really a {CONFIG_NAME}?")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} '{path}': {exc.strerror or exc}") from None
    if len(raw) > limit:  # grew since stat, or a special file
        raise InputError(f"{what} '{path}' is over the {limit:,}-byte limit")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InputError(f"{what} '{path}' is not UTF-8 text", hint="pass the JSON config of a model") from None
    except ValueError as exc:  # JSONDecodeError, or NaN/Infinity
        detail = str(exc).splitlines()[0] if str(exc) else "malformed"
        raise InputError(f"{what} '{path}' is not valid JSON: {detail}") from None
    except RecursionError:
        raise InputError(f"{what} '{path}' is nested too deeply to be a model config") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} '{path}' holds a JSON {type(data).__name__}, not an object",
                         hint="a config.json is one JSON object of architecture keys")
    return data


def config_path(path: Path) -> Path:
    """The config.json named by ``path``: the file itself, or the one in a directory."""
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise InputError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if is_dir:
        found = path / CONFIG_NAME
        try:
            exists = found.exists() or found.is_symlink()
        except OSError as exc:
            raise InputError(f"cannot read '{found}': {exc.strerror or exc}") from None
        if not exists:
            raise InputError(f"directory '{path}' holds no {CONFIG_NAME}",
                             hint=f"pass a model directory with its {CONFIG_NAME}, or the file itself")
        return found
    return path


def _index_total(config_file: Path) -> tuple[int | None, int | None]:
    """(total_size bytes, total_parameters) from the safetensors index beside
    the config, each None when absent. A broken index is an input error."""
    index = config_file.parent / INDEX_NAME
    try:
        present = index.exists()
    except OSError:
        present = False
    if not present:
        return None, None
    data = read_json_object(index, "safetensors index", MAX_INDEX_BYTES)
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        return None, None
    values = []
    for key in ("total_size", "total_parameters"):
        value = meta.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**16):
            raise InputError(f"'{index}': metadata.{key} must be a whole number of at most 10^16, not {json.dumps(value)[:40]}")
        values.append(value or None)  # 0: an index written without the figure
    return values[0], values[1]


# --- reading values --------------------------------------------------------


class _Config:
    """Keys of the language model's config: a nested ``text_config`` (Llama 4,
    Gemma 3, multimodal wrappers) first, then the top level."""

    def __init__(self, data: dict[str, Any], where: str):
        text = data.get("text_config")
        if text is not None and not isinstance(text, dict):
            raise InputError(f"{where}: 'text_config' must be an object, not {type(text).__name__}")
        self.inner = text or {}
        self.outer = data
        self.where = where
        self.prefix = "text_config." if text else ""

    def has(self, key: str) -> bool:
        return self.inner.get(key) is not None or self.outer.get(key) is not None

    def raw(self, key: str) -> Any:
        value = self.inner.get(key)
        return value if value is not None else self.outer.get(key)

    def name(self, key: str) -> str:
        return (self.prefix if self.inner.get(key) is not None else "") + key

    def whole(self, key: str, default: int | None = None, *, required: bool = False) -> int | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise InputError(f"{self.where}: '{self.prefix}{key}' is missing",
                                 hint="is this the config.json of a transformer language model?")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{self.where}: '{self.name(key)}' must be a whole number, not {json.dumps(value)[:40]}")
        return value

    def need(self, key: str) -> int:
        value = self.whole(key, required=True)
        assert value is not None
        return value

    def first_int(self, *keys: str, required: bool = True) -> int | None:
        for key in keys:
            if self.has(key):
                return self.whole(key)
        if required:
            raise InputError(f"{self.where}: none of {', '.join(repr(k) for k in keys)} is given",
                             hint="is this the config.json of a transformer language model?")
        return None

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InputError(f"{self.where}: '{self.name(key)}' must be true or false, not {json.dumps(value)[:40]}")
        return value

    def number(self, key: str) -> float | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{self.where}: '{self.name(key)}' must be a number, not {json.dumps(value)[:40]}")
        return float(value)

    def text(self, key: str) -> str | None:
        value = self.raw(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f"{self.where}: '{self.name(key)}' must be text, not {json.dumps(value)[:40]}")
        return value

    def mapping(self, key: str) -> dict[str, Any] | None:
        value = self.raw(key)
        if value is not None and not isinstance(value, dict):
            raise InputError(f"{self.where}: '{self.name(key)}' must be an object, not {json.dumps(value)[:40]}")
        return value

    def strings(self, key: str) -> list[str] | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{self.where}: '{self.name(key)}' must be a list of text")
        return value

    def ints(self, key: str) -> list[int] | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise InputError(f"{self.where}: '{self.name(key)}' must be a list of whole numbers")
        return value

    def refuse(self, key: str, what: str) -> UnsupportedConfig:
        return UnsupportedConfig(
            f"{self.where}: '{self.name(key)}' describes {what}, which planner's model schema cannot express yet",
            hint="add the model to a --catalog file by hand, or pick the nearest catalog model",
        )


# --- the mapping -------------------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return (slug or "model")[:64].rstrip("-._") or "model"


def _precision(cfg: _Config, notes: list[str]) -> str:
    quant = cfg.mapping("quantization_config")
    dtype_text = cfg.text("torch_dtype") or cfg.text("dtype")
    dtype = _DTYPES.get(dtype_text or "")
    if dtype_text is not None and dtype is None:
        raise InputError(f"{cfg.where}: torch_dtype '{dtype_text}' is not one of {', '.join(_DTYPES)}")
    if quant is not None:
        method = str(quant.get("quant_method", "")).lower()
        algo = str(quant.get("quant_algo", "")).lower()
        formats = json.dumps(quant.get("config_groups", "")).lower()
        if method == "fp8" or (method == "modelopt" and algo.startswith("fp8")):
            return "fp8"
        if method == "mxfp4":
            return "mxfp4"
        if (method == "modelopt" and algo == "nvfp4") or "nvfp4" in formats:
            return "nvfp4"
        if method == "compressed-tensors" and "float-quantized" in formats:
            return "fp8"
        notes.append(f"The checkpoint is quantised ({method or 'unknown method'}), a format the schema's "
                     "native precisions do not name; sized at the precision asked for, the release's own "
                     "format is one of the catalog precisions.")
    if dtype is None:
        notes.append("No torch_dtype in config.json: taken as fp32, the dtype transformers loads such a checkpoint in.")
        return "fp32"
    return dtype


def _context(cfg: _Config, model_type: str, notes: list[str]) -> tuple[int, int | None]:
    window = cfg.first_int("max_position_embeddings", "n_positions", "max_seq_len")
    assert window is not None
    window -= _POSITION_OFFSET.get(model_type, 0)
    rope = cfg.mapping("rope_scaling") or cfg.mapping("rope_parameters") or {}
    kind = str(rope.get("rope_type") or rope.get("type") or "")
    factor = rope.get("factor")
    original = rope.get("original_max_position_embeddings")
    extended = None
    if kind in ("yarn", "dynamic", "linear", "longrope") and isinstance(factor, (int, float)) \
            and not isinstance(factor, bool) and math.isfinite(factor) and factor > 1:
        # Without the original window the factor may be how the config already
        # reached max_position_embeddings (Gemma 3: linear x8): nothing more is claimed.
        base = original if isinstance(original, int) and not isinstance(original, bool) and original > 0 else None
        if base and base * factor > 1e9:  # beyond any schema bound, and past what int() of a float keeps exact
            raise InputError(f"{cfg.where}: rope_scaling factor {factor:g} over {base} gives an absurd context")
        reach = int(base * factor) if base else 0
        if base and reach > window:
            extended = reach
            notes.append(f"max_context_extended {reach} is {kind} RoPE scaling x{factor:g} over {base}.")
    return window, extended


def _layer_kinds(cfg: _Config, layers: int) -> tuple[int, int]:
    """(sliding-window layers, linear-attention layers)."""
    window = cfg.whole("sliding_window")
    types = cfg.strings("layer_types")
    if types is not None:
        if len(types) != layers:
            raise InputError(f"{cfg.where}: '{cfg.name('layer_types')}' lists {len(types)} layers, "
                             f"not num_hidden_layers {layers}")
        unknown = sorted(set(types) - {"full_attention", "sliding_attention", "linear_attention"})
        if unknown:
            raise cfg.refuse("layer_types", f"layers of kind {unknown}")
        local = types.count("sliding_attention")
        if local and not window:
            raise InputError(f"{cfg.where}: layer_types has sliding_attention layers but no sliding_window")
        return local, types.count("linear_attention")
    linear = 0
    interval = cfg.whole("full_attention_interval")
    if interval is not None:
        if interval < 1:
            raise InputError(f"{cfg.where}: 'full_attention_interval' must be at least 1")
        linear = layers - layers // interval  # every interval-th layer is full attention
    if not window or not cfg.flag("use_sliding_window", True):
        return 0, linear
    if cfg.has("sliding_window_pattern"):  # Gemma 3: every pattern-th layer is global
        pattern = cfg.whole("sliding_window_pattern")
        assert pattern is not None
        if pattern < 1:
            raise InputError(f"{cfg.where}: 'sliding_window_pattern' must be at least 1")
        return layers - layers // pattern, linear
    model_type = cfg.text("model_type") or ""
    if model_type == "gemma2":  # even-numbered layers are local (transformers Gemma2DecoderLayer)
        return (layers + 1) // 2, linear
    if cfg.has("max_window_layers") and cfg.has("use_sliding_window"):  # Qwen2: layers from this index on
        first = cfg.whole("max_window_layers")
        assert first is not None
        return max(layers - first, 0), linear
    return layers - linear, linear


def _moe(cfg: _Config, layers: int, hidden_ffn: int, notes: list[str]) -> tuple[Moe | None, int]:
    """The MoE block and the dense FFN size of the non-MoE layers."""
    experts = cfg.first_int("n_routed_experts", "num_local_experts", "num_experts", required=False)
    if not experts or experts <= 1:
        return None, hidden_ffn
    active = cfg.first_int("num_experts_per_tok", "experts_per_token", "moe_top_k")
    assert active is not None
    expert_ffn = cfg.first_int("moe_intermediate_size", required=False) or hidden_ffn
    if expert_ffn < 1:
        raise InputError(f"{cfg.where}: the experts' intermediate size must be positive, not {expert_ffn}")
    dense_ffn = cfg.first_int("intermediate_size_mlp", required=False) or hidden_ffn
    shared = cfg.whole("n_shared_experts", 0) or 0
    shared_size = cfg.first_int("shared_expert_intermediate_size", "shared_intermediate_size", required=False)
    if shared_size:
        # One wide shared expert (Qwen2-MoE: 20480 = 8 x 2560) has the parameters
        # and FLOPs of that many experts of the routed size, as its FFN is linear in width.
        if shared_size % expert_ffn:
            raise cfg.refuse("shared_expert_intermediate_size",
                             f"a shared expert {shared_size} wide, not a multiple of the experts' {expert_ffn}")
        shared += shared_size // expert_ffn
        if shared_size != expert_ffn:
            notes.append(f"The shared expert ({shared_size} wide) is counted as {shared_size // expert_ffn} "
                         f"experts of {expert_ffn}.")
    model_type = cfg.text("model_type") or ""
    if model_type.startswith("llama4"):
        shared = max(shared, 1)  # Llama 4 MoE layers add one shared expert of the routed size
    # MoE on every step-th layer (1-based), dense FFNs between: Llama 4's
    # interleave_moe_layer_step, Qwen2-MoE's decoder_sparse_step
    interleave = cfg.whole("interleave_moe_layer_step", 1) or 1
    sparse_step = cfg.whole("decoder_sparse_step", 1) or 1
    if interleave != 1 and sparse_step != 1:
        raise cfg.refuse("decoder_sparse_step", "two MoE layer steps at once")
    step = max(interleave, sparse_step)
    if not 1 <= step <= 64:
        raise cfg.refuse("interleave_moe_layer_step", f"an MoE layer step of {step}")
    dense_layers = cfg.whole("first_k_dense_replace", 0) or 0
    if cfg.whole("moe_layer_freq", 1) != 1:
        raise cfg.refuse("moe_layer_freq", "MoE on every few layers only")
    only_dense = cfg.ints("mlp_only_layers") or []
    if only_dense:
        if sorted(only_dense) != list(range(len(only_dense))):
            raise cfg.refuse("mlp_only_layers", "dense layers between MoE layers")
        dense_layers = max(dense_layers, len(only_dense))
    if dense_layers > layers:
        raise InputError(f"{cfg.where}: first_k_dense_replace {dense_layers} exceeds the {layers} layers")
    try:
        moe = Moe(experts=experts, active_experts=active, shared_experts=shared, expert_ffn_size=expert_ffn,
                  dense_layers=dense_layers, layer_step=step, router_bias=model_type in _ROUTER_BIAS)
    except ValidationError as exc:
        raise _schema_error(cfg.where, exc, prefix="moe.") from None
    return moe, dense_ffn


def _mla(cfg: _Config) -> Mla | None:
    if not cfg.has("kv_lora_rank"):
        return None
    try:
        return Mla(q_lora_rank=cfg.whole("q_lora_rank"), kv_lora_rank=cfg.need("kv_lora_rank"),
                   qk_nope_head_dim=cfg.need("qk_nope_head_dim"), qk_rope_head_dim=cfg.need("qk_rope_head_dim"),
                   v_head_dim=cfg.need("v_head_dim"))
    except ValidationError as exc:
        raise _schema_error(cfg.where, exc, prefix="mla.") from None


def _schema_error(where: str, exc: ValidationError, prefix: str = "") -> InputError:
    err = exc.errors()[0]
    loc = (prefix + ".".join(str(p) for p in err["loc"])).rstrip(".")
    return InputError(f"{where}: {loc or 'model'}: {err['msg']}", hint="the config holds a value no real model has")


def parse_config(
    data: dict[str, Any],
    *,
    name: str,
    source: str,
    as_of: str,
    checkpoint_bytes: int | None = None,
    checkpoint_parameters: int | None = None,
) -> ParsedModel:
    """``data`` (a config.json's object) as a catalog Model named ``name``.

    ``checkpoint_bytes`` / ``checkpoint_parameters`` come from the
    safetensors index beside the file, when there is one.
    """
    cfg = _Config(data, source)
    for key, what in _UNSUPPORTED.items():
        if cfg.has(key):
            raise cfg.refuse(key, what)
    if 0 in (cfg.ints("attn_type_list") or []):  # MiniMax-01: 0 marks a lightning (linear) attention layer
        raise cfg.refuse("attn_type_list", "lightning (linear) attention layers")
    model_type = (cfg.text("model_type") or "").lower()
    notes: list[str] = []
    encoder = model_type in _ENCODERS

    layers = cfg.first_int("num_hidden_layers", "n_layer", "num_layers")
    hidden = cfg.first_int("hidden_size", "n_embd", "d_model")
    heads = cfg.first_int("num_attention_heads", "n_head")
    vocab = cfg.first_int("vocab_size")
    assert layers is not None and hidden is not None and heads is not None and vocab is not None
    if heads < 1 or hidden < 1:
        raise InputError(f"{source}: num_attention_heads and hidden_size must be positive")
    if cfg.flag("multi_query", False):
        kv_heads = 1
    else:
        kv_heads = cfg.first_int("num_key_value_heads", "n_head_kv", "num_kv_heads", required=False) or heads
    head_dim = cfg.whole("head_dim") or hidden // heads
    ffn = cfg.first_int("intermediate_size", "n_inner", "ffn_dim", required=False) or 4 * hidden
    ffn_given = cfg.has("intermediate_size") or cfg.has("n_inner") or cfg.has("ffn_dim")

    mla = _mla(cfg)
    if mla is not None:
        head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim
        kv_heads = heads  # the latent is expanded per head; the KV cache holds the latent (perf.py)
    moe, ffn = _moe(cfg, layers, ffn, notes)
    if not ffn_given and (moe is None or moe.dense_layers):  # GPT-J's n_inner null: 4 x hidden
        notes.append(f"No intermediate_size: the dense FFN is taken as 4 x hidden = {ffn}.")
    if isinstance(data.get("vision_config"), dict) or isinstance(data.get("audio_config"), dict):
        notes.append("Only the language model is counted; the vision or audio encoder beside it is not.")
    local, linear_layers = _layer_kinds(cfg, layers)
    window = cfg.whole("sliding_window")
    max_context, extended = _context(cfg, model_type, notes)
    sliding = None
    if local and window and window < max_context:
        sliding = {"window": window, "layers": local}
    chunk = cfg.whole("attention_chunk_size")
    if chunk and chunk < max_context:
        if sliding is not None:
            raise cfg.refuse("attention_chunk_size", "chunked attention beside a sliding window")
        # Llama 4: layers with RoPE attend within chunks of this size, the
        # NoPE layers (every 4th) to the whole context. A chunk holds at most
        # `chunk` tokens, so a window of that size bounds its KV cache from above.
        rope_layers = cfg.ints("no_rope_layers")
        interval = cfg.whole("no_rope_layer_interval", 4) or 4
        local_layers = sum(1 for v in rope_layers if v) if rope_layers else layers - layers // interval
        sliding = {"window": chunk, "layers": local_layers}
        notes.append(f"Chunked attention ({chunk}-token chunks on {local_layers} layers) is modelled as a "
                     f"{chunk}-token sliding window: an upper bound on its KV cache.")
    linear = None
    if linear_layers:
        linear = {
            "layers": linear_layers,
            "key_heads": cfg.whole("linear_num_key_heads", required=True),
            "value_heads": cfg.whole("linear_num_value_heads", required=True),
            "key_head_dim": cfg.whole("linear_key_head_dim", required=True),
            "value_head_dim": cfg.whole("linear_value_head_dim", required=True),
            "conv_kernel": cfg.whole("linear_conv_kernel_dim", 4),
        }
        if cfg.flag("attn_output_gate", False):
            notes.append("The full-attention layers' output gate (attn_output_gate) is not counted.")

    tied = cfg.flag("tie_word_embeddings", model_type in _TIED_BY_DEFAULT)
    if not cfg.has("tie_word_embeddings") and not encoder:
        notes.append(f"tie_word_embeddings is absent: taken as {str(tied).lower()}, the transformers default "
                     f"for {model_type or 'this model'}.")
    precision = _precision(cfg, notes)
    family = _slug(model_type or "unknown")[:64]
    hf_ids = [name] if _HF_ID.match(name) and len(name) <= 200 else []
    fields: dict[str, Any] = {
        "id": _slug(name.split("/")[-1]),
        "hf_ids": hf_ids,
        "name": name,
        "family": family,
        "kind": "encoder" if encoder else "decoder",
        "layers": layers,
        "hidden_size": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
        "ffn_size": ffn,
        "ffn_gated": model_type not in _PLAIN_FFN,
        "vocab_size": vocab,
        "tied_embeddings": tied,
        "max_context": max_context,
        "max_context_extended": extended,
        "norm": "layernorm" if model_type in _LAYERNORM else "rmsnorm",
        "attention_bias": model_type in _ATTENTION_BIAS or cfg.flag("attention_bias", False),
        "qk_norm": model_type in _QK_NORM,
        "attention_output_gate": cfg.flag("attn_output_gate", False),
        "mlp_bias": model_type in _MLP_BIAS or cfg.flag("mlp_bias", False),
        "learned_positions": encoder,
        "token_types": (cfg.whole("type_vocab_size", 0) or 0) if encoder else 0,
        "pooler": encoder,
        "moe": moe,
        "mla": mla,
        "sliding_window": sliding,
        "linear_attention": linear,
        "params_published": 1.0,  # replaced below, once the architecture is known
        "precision_native": precision,
        "sources": {"architecture": source, "params": source},
        "as_of": as_of,
    }
    try:
        draft = Model.model_validate(fields)
    except ValidationError as exc:
        raise _schema_error(source, exc) from None
    counts = count_params(draft)
    if counts.total > 1e15:
        raise InputError(f"{source}: the architecture works out to {counts.total:.3g} parameters, "
                         "more than any real model", hint="check num_hidden_layers, hidden_size and vocab_size")

    warnings: list[str] = []
    published: float = float(counts.total)
    params_source = f"computed from the architecture in {source} (no safetensors index beside it)"
    stored = None
    if checkpoint_parameters is not None:
        stored, how = checkpoint_parameters, f"metadata.total_parameters {checkpoint_parameters:,}"
    elif checkpoint_bytes is not None and precision in _BYTES:
        stored = round(checkpoint_bytes / _BYTES[precision])
        how = (f"metadata.total_size {checkpoint_bytes:,} bytes / {_BYTES[precision]} bytes per {precision} "
               "parameter, an estimate")
    elif checkpoint_bytes is not None:
        notes.append(f"The safetensors index is not used to count parameters: a {precision} checkpoint mixes "
                     "formats and scales, so its bytes give no exact count.")
    if stored is not None:
        published = float(stored)
        params_source = f"{INDEX_NAME} beside {source}: {how}"
        if abs(counts.total - stored) > COUNT_WARN_TOLERANCE * stored:
            mtp = cfg.whole("num_nextn_predict_layers", 0) or 0
            why = (f"; the checkpoint also holds {mtp} multi-token-prediction layer(s), which planner does not count"
                   if mtp else "")
            warnings.append(f"{name}: the architecture works out to {counts.total:,} parameters, "
                            f"{(counts.total - stored) / stored:+.1%} from the checkpoint's {stored:,}{why}")
    else:
        notes.append("params_published is the count computed from the architecture: no checkpoint figure was read.")
    fields["params_published"] = published
    fields["sources"] = {"architecture": source, "params": params_source}
    fields["notes"] = " ".join(notes)[:2000] or None
    try:
        model = Model.model_validate(fields)
    except ValidationError as exc:
        raise _schema_error(source, exc) from None
    return ParsedModel(model, Path(source), tuple(warnings))


def _name_for(data: dict[str, Any], config_file: Path, name: str | None) -> str:
    if name:
        return name
    given = data.get("_name_or_path")
    if isinstance(given, str) and _HF_ID.match(given) and len(given) <= 200:
        return given
    # absolute(), not resolve(): a config.json linked into a cache's blobs/
    # is named by the folder it was found in, not by where the link points
    folder = config_file.absolute().parent.name if config_file.name == CONFIG_NAME else config_file.stem
    return (folder or config_file.stem or "model")[:200]


def load_config(path: str | Path, *, name: str | None = None) -> ParsedModel:
    """The model in a config.json file, or in the config.json of a model
    directory; ``name`` overrides the name taken from the file."""
    config_file = config_path(Path(path))
    data = read_json_object(config_file, "model config", MAX_CONFIG_BYTES)
    try:
        mtime = config_file.stat().st_mtime
        as_of = _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc).date().isoformat()
    except (OSError, OverflowError, ValueError):
        as_of = _dt.date.today().isoformat()
    total_bytes, total_params = _index_total(config_file)
    label = _name_for(data, config_file, name)
    return parse_config(data, name=label, source=str(config_file), as_of=as_of,
                        checkpoint_bytes=total_bytes, checkpoint_parameters=total_params)


def is_hf_id(text: str) -> bool:
    """Spelled like a Hub repository id, ``org/name``."""
    return bool(_HF_ID.match(text)) and len(text) <= 200


