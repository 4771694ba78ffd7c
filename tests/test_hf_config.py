"""Models read from a Hugging Face config.json, Hugging Face ids, release
suffixes, the local Hugging Face cache, and "did you mean".

Real configs (tests/fixtures/hf-configs/<catalog-id>.json, sources in
SOURCES.md there) must parse to the catalog entry's shape and to its
published parameter count within 1%, the tolerance tests/test_params.py
holds the built-in catalog to. Synthetic configs (tests/fixtures/hf/) each
exercise one feature.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, run_cli
from planner.catalog.architecture import comparable_active, count_params
from planner.catalog.hf_config import MAX_CONFIG_BYTES, UnsupportedConfig, load_config, parse_config
from planner.catalog.load import load_catalog
from planner.core.errors import EXIT_BAD_INPUT, InputError
from planner.model.resolve import resolve_model, resolve_spec

REAL = ROOT / "tests" / "fixtures" / "hf-configs"
SYNTHETIC = ROOT / "tests" / "fixtures" / "hf"
LLAMA_8B = REAL / "llama-3.1-8b.json"
TOLERANCE = 0.01  # as tests/test_params.py holds the built-in catalog to its published counts
from test_params import KNOWN_TOTAL_GAPS  # noqa: E402  the stated exceptions, each with its reason


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(autouse=True)
def _empty_hf_cache(tmp_path, monkeypatch):
    """No test reads the machine's own Hugging Face cache."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hf-cache"))


def _config(tmp_path: Path, data: object, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _llama() -> dict:
    return json.loads(LLAMA_8B.read_text())


# --- real configs of catalog models --------------------------------------------------


@pytest.mark.parametrize("path", sorted(REAL.glob("*.json")), ids=lambda p: p.stem)
def test_real_config_parses_to_its_catalog_entry(path, catalog):
    entry = catalog.models.get(path.stem)
    assert entry is not None, f"{path.name} is named after no catalog model id"
    try:
        parsed = load_config(path).model
    except UnsupportedConfig as exc:
        pytest.xfail(f"the schema cannot hold this config yet: {exc}")
    for field in ("kind", "layers", "hidden_size", "heads", "kv_heads", "head_dim", "vocab_size", "tied_embeddings",
                  "ffn_gated"):
        assert getattr(parsed, field) == getattr(entry, field), field
    if entry.moe is not None:
        assert parsed.moe is not None
        for field in ("experts", "active_experts", "shared_experts", "expert_ffn_size", "dense_layers"):
            assert getattr(parsed.moe, field) == getattr(entry.moe, field), f"moe.{field}"
    else:
        assert parsed.moe is None
    assert (parsed.mla is None) == (entry.mla is None)
    # The parsed architecture counts what the catalog entry counts (the
    # entry's own published-count checks, with their stated exceptions, are
    # in tests/test_params.py), and lands within 1% of the published total.
    counts, catalog_counts = count_params(parsed), count_params(entry)
    assert counts.total == pytest.approx(catalog_counts.total, rel=0.001)
    assert counts.active == pytest.approx(catalog_counts.active, rel=0.001)
    if path.stem not in KNOWN_TOTAL_GAPS:
        assert counts.total == pytest.approx(entry.params_published, rel=TOLERANCE)


def test_at_least_the_four_sourced_configs_are_there():
    names = {p.stem for p in REAL.glob("*.json")}
    assert {"llama-3.1-8b", "mixtral-8x7b", "qwen2.5-7b", "deepseek-v3"} <= names
    sources = (REAL / "SOURCES.md").read_text()
    for name in names:
        assert f"| {name} |" in sources or f"{name}.json" in sources, f"{name}.json has no source in SOURCES.md"


def test_deepseek_v3_reads_mla_moe_and_the_fp8_release():
    model = load_config(REAL / "deepseek-v3.json").model
    assert model.mla is not None and model.mla.kv_lora_rank == 512 and model.mla.q_lora_rank == 1536
    assert model.precision_native == "fp8"
    assert model.max_context == 163840 and model.max_context_extended is None  # YaRN 40 x 4096 is the window itself


# --- synthetic features --------------------------------------------------------------


def test_nested_text_config_is_the_language_model():
    parsed = load_config(SYNTHETIC / "gemma3-wrapper")  # a directory holding config.json
    model = parsed.model
    assert (model.layers, model.hidden_size, model.heads, model.kv_heads, model.head_dim) == (12, 640, 4, 1, 256)
    assert model.name == "gemma3-wrapper"  # the directory's name: no _name_or_path
    assert model.family == "gemma3_text"
    # every 6th layer is global: 12 - 12 // 6 = 10 local layers of a 512-token window
    assert model.sliding_window is not None and (model.sliding_window.window, model.sliding_window.layers) == (512, 10)
    assert model.tied_embeddings is True  # absent: Gemma's default, and the notes say so
    assert "tie_word_embeddings is absent" in (model.notes or "")
    assert model.precision_native == "bf16"  # from the top level
    assert model.max_context_extended is None  # linear x8 without an original window claims nothing more


def test_mla_with_shared_experts_and_leading_dense_layers():
    model = load_config(SYNTHETIC / "mla-moe.json").model
    assert model.name == "example/tiny-mla-moe" and model.hf_ids == ["example/tiny-mla-moe"]
    assert model.id == "tiny-mla-moe"
    assert model.mla is not None and model.mla.q_lora_rank is None
    assert model.head_dim == 64 + 32 and model.kv_heads == model.heads
    assert model.moe is not None
    assert (model.moe.experts, model.moe.active_experts, model.moe.shared_experts) == (16, 4, 2)
    assert (model.moe.expert_ffn_size, model.moe.dense_layers, model.ffn_size) == (512, 1, 4096)


def test_sliding_window_from_layer_types_and_mxfp4():
    model = load_config(SYNTHETIC / "sliding-layer-types.json").model
    assert model.sliding_window is not None and (model.sliding_window.window, model.sliding_window.layers) == (128, 2)
    assert model.precision_native == "mxfp4"
    assert model.moe is not None and (model.moe.experts, model.moe.active_experts) == (8, 2)
    assert model.attention_bias and model.mlp_bias  # gpt-oss projections and experts carry biases
    assert model.max_context_extended is None  # 32 x 4096 = 131072 is max_position_embeddings already


def test_linear_attention_every_fourth_layer_full():
    model = load_config(SYNTHETIC / "linear-attention.json").model
    linear = model.linear_attention
    assert linear is not None
    assert (linear.layers, linear.key_heads, linear.value_heads, linear.key_head_dim, linear.value_head_dim,
            linear.conv_kernel) == (6, 4, 8, 64, 64, 4)
    assert model.moe is not None and model.moe.shared_experts == 1


def test_a_wide_shared_expert_counts_as_that_many_experts():
    model = load_config(SYNTHETIC / "qwen2-moe-shared.json").model
    assert model.moe is not None and model.moe.shared_experts == 512 // 128
    assert model.attention_bias  # Qwen2's q/k/v biases, which the config does not state
    assert model.sliding_window is None  # use_sliding_window false


def test_bert_encoder_round_trips_to_the_catalog_count(catalog):
    bert = catalog.models["bert-base"]
    data = {"model_type": "bert", "hidden_size": bert.hidden_size, "num_hidden_layers": bert.layers,
            "num_attention_heads": bert.heads, "intermediate_size": bert.ffn_size, "vocab_size": bert.vocab_size,
            "max_position_embeddings": bert.max_context, "type_vocab_size": bert.token_types}
    model = parse_config(data, name="bert-base-uncased", source="config.json", as_of="2026-12-03").model
    assert model.kind.value == "encoder" and model.pooler and model.learned_positions and not model.ffn_gated
    assert count_params(model).total == bert.params_published  # BertModel, exactly (109,482,240)
    assert model.precision_native == "fp32"  # no torch_dtype: transformers loads float32


def test_rope_scaling_gives_the_extended_context(tmp_path):
    data = _llama() | {"max_position_embeddings": 32768,
                       "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}
    model = load_config(_config(tmp_path, data)).model
    assert (model.max_context, model.max_context_extended) == (32768, 131072)


def test_multi_query_attention(tmp_path):
    data = _llama() | {"multi_query": True}
    del data["num_key_value_heads"]
    assert load_config(_config(tmp_path, data)).model.kv_heads == 1


@pytest.mark.parametrize("extra, key", [
    ({"interleave_moe_layer_step": 2, "decoder_sparse_step": 2, "num_local_experts": 16,
      "num_experts_per_tok": 1}, "decoder_sparse_step"),
    ({"index_topk": 2048}, "index_topk"),
    ({"layer_types": ["mamba"] * 32}, "layer_types"),
    ({"attn_type_list": [0, 1] * 16}, "attn_type_list"),
    ({"num_experts": 8, "num_experts_per_tok": 2, "mlp_only_layers": [3]}, "mlp_only_layers"),
])
def test_a_feature_the_schema_cannot_hold_is_refused_by_its_key(tmp_path, extra, key):
    with pytest.raises(UnsupportedConfig, match=f"'{key}' describes"):
        load_config(_config(tmp_path, _llama() | extra))


# --- the safetensors index beside a config ----------------------------------------------


def _with_index(tmp_path: Path, total_size: int) -> Path:
    folder = tmp_path / "Llama-local"
    folder.mkdir()
    (folder / "config.json").write_text(LLAMA_8B.read_text())
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total_size}, "weight_map": {}}))
    return folder


def test_index_gives_the_stored_count(tmp_path):
    parsed = load_config(_with_index(tmp_path, 2 * 8_030_261_248))  # bf16: 2 bytes per parameter
    assert parsed.model.params_published == 8_030_261_248
    assert "an estimate" in parsed.model.sources["params"]
    assert parsed.warnings == ()


def test_index_far_from_the_architecture_warns_in_one_line(tmp_path):
    folder = _with_index(tmp_path, round(2 * 8_030_261_248 * 1.05))
    parsed = load_config(folder)
    assert len(parsed.warnings) == 1 and "-4.8% from the checkpoint's" in parsed.warnings[0]
    result = run_cli("size", str(folder), "--precision", "bf16")
    assert result.exit_code == 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("planner: warning: Llama-local: ")


def test_no_index_says_the_count_is_computed():
    model = load_config(LLAMA_8B).model
    assert "computed from the architecture" in model.sources["params"]
    assert model.params_published == count_params(model).total


# --- resolution --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["llama-3.1-8b-instruct", "Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct",
                                  "unsloth/Llama-3.1-8B-Instruct", "Meta-Llama-3.1-8B-Instruct-FP8-dynamic"])
def test_releases_resolve_to_their_architecture(catalog, text):
    ref = resolve_model(catalog, text)
    assert ref.model is not None and ref.model.id == "llama-3.1-8b" and ref.label == "llama-3.1-8b"
    assert ref.note is not None and text in ref.note


def test_hf_ids_match_without_regard_to_case(catalog):
    ref = resolve_model(catalog, "QWEN/qwen2.5-7b-INSTRUCT")
    assert ref.model is not None and ref.model.id == "qwen2.5-7b"


def test_counts_and_ids_still_resolve_as_before(catalog):
    assert resolve_model(catalog, "13B").model is None and resolve_model(catalog, "13B").parameters == 13 * 10**9
    assert resolve_model(catalog, "llama-2-13b").note is None


def test_resolve_spec_of_a_config_is_exact(catalog):
    spec = resolve_spec(catalog, str(LLAMA_8B))
    assert not spec.approximate and spec.label == "llama-3.1-8b" and spec.note and "architecture read from" in spec.note


def _cache(tmp_path: Path, monkeypatch, org: str = "acme", name: str = "Tiny-LM") -> Path:
    hub = tmp_path / "hub"
    repo = hub / f"models--{org}--{name}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd\n")
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(LLAMA_8B.read_text())
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return snapshot


def test_a_hugging_face_id_is_read_from_the_local_cache(tmp_path, monkeypatch, catalog):
    _cache(tmp_path, monkeypatch)
    ref = resolve_model(catalog, "acme/Tiny-LM")
    assert ref.model is not None and ref.label == "acme/Tiny-LM" and ref.model.name == "acme/Tiny-LM"
    assert ref.parameters == 8_030_261_248


def test_hf_home_is_used_when_hf_hub_cache_is_not_set(tmp_path, monkeypatch, catalog):
    _cache(tmp_path, monkeypatch)
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # the hub is $HF_HOME/hub
    assert resolve_model(catalog, "acme/Tiny-LM").label == "acme/Tiny-LM"


# --- the command line --------------------------------------------------------------------


def test_size_of_a_config_file():
    result = run_cli("size", str(LLAMA_8B), "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "llama-3.1-8b" and data["parameters"] == 8_030_261_248 and data["architecture_known"]
    assert "architecture read from" in data["resolved"]


def test_size_of_a_model_directory_names_it_by_the_directory(tmp_path):
    folder = tmp_path / "My-Model-7B"
    folder.mkdir()
    (folder / "config.json").write_text((REAL / "qwen2.5-7b.json").read_text())
    result = run_cli("size", str(folder))
    assert result.exit_code == 0, result.stderr
    assert "Model size of My-Model-7B (7.616B parameters)" in result.stdout


def test_size_of_a_hugging_face_id_in_the_catalog():
    result = run_cli("size", "meta-llama/Llama-3.1-8B-Instruct")
    assert result.exit_code == 0, result.stderr
    assert "Model size of llama-3.1-8b" in result.stdout
    assert "meta-llama/Llama-3.1-8B-Instruct" in result.stdout  # the note says how it was read


def test_size_of_an_instruct_name_says_which_release_it_took():
    result = run_cli("size", "llama-3.1-8b-instruct", "--format", "json")
    assert result.exit_code == 0
    note = json.loads(result.stdout)["resolved"]
    assert note == "llama-3.1-8b-instruct is meta-llama/Llama-3.1-8B-Instruct, a release of llama-3.1-8b (Llama 3.1 8B)"


def test_size_of_a_cached_hugging_face_id(tmp_path, monkeypatch):
    _cache(tmp_path, monkeypatch)
    result = run_cli("size", "acme/Tiny-LM")
    assert result.exit_code == 0, result.stderr
    assert "Model size of acme/Tiny-LM" in result.stdout


def test_a_hugging_face_id_not_cached_says_how_to_get_its_config():
    result = run_cli("size", "acme/Nowhere-9B")
    assert result.exit_code == EXIT_BAD_INPUT and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert ("model 'acme/Nowhere-9B' is not in the catalog, not a local path, and not in the local Hugging Face "
            "cache") in result.stderr
    assert "huggingface-cli download acme/Nowhere-9B config.json --local-dir DIR" in result.stderr


def test_did_you_mean():
    result = run_cli("size", "lama-3.1-8b")
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stderr.startswith("planner: error: unknown model 'lama-3.1-8b' (did you mean llama-3.1-8b")
    assert "is not a number with a unit" not in result.stderr


@pytest.mark.parametrize("command", [["predict", "--gpu", "h100-sxm"], ["fit", "--latency", "100ms"]])
def test_predict_and_fit_take_a_config(command):
    result = run_cli(command[0], str(LLAMA_8B), *command[1:], "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "llama-3.1-8b" and data["approximate"] is False
    assert "architecture read from" in data["resolved"]


# --- hostile input: one line, exit 2, no traceback ---------------------------------------


def _one_line_error(result, fragment: str) -> None:
    assert result.exit_code == EXIT_BAD_INPUT, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("planner: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr


def _hostile(tmp_path: Path, case: str) -> Path:
    if case == "too large":
        path = tmp_path / "config.json"
        path.write_text('{"pad": "' + "x" * MAX_CONFIG_BYTES + '"}')
        return path
    if case == "not JSON":
        return _write(tmp_path, "hidden_size: 4096\n")
    if case == "not an object":
        return _config(tmp_path, [1, 2, 3])
    if case == "NaN":
        return _write(tmp_path, '{"hidden_size": NaN}')
    if case == "not UTF-8":
        path = tmp_path / "config.json"
        path.write_bytes(b"\xff\xfe{}")
        return path
    if case == "deep":
        return _write(tmp_path, "[" * 100_000 + "]" * 100_000)
    if case == "string number":
        return _config(tmp_path, _llama() | {"hidden_size": "4096"})
    if case == "boolean number":
        return _config(tmp_path, _llama() | {"num_hidden_layers": True})
    if case == "float number":
        return _config(tmp_path, _llama() | {"num_attention_heads": 32.0})
    if case == "absurd":
        return _config(tmp_path, _llama() | {"hidden_size": 10**12})
    if case == "negative":
        return _config(tmp_path, _llama() | {"num_hidden_layers": -1})
    if case == "missing":
        data = _llama()
        del data["hidden_size"]
        return _config(tmp_path, data)
    if case == "empty directory":
        (tmp_path / "empty").mkdir()
        return tmp_path / "empty"
    if case == "config is a directory":
        (tmp_path / "model" / "config.json").mkdir(parents=True)
        return tmp_path / "model"
    if case == "symlink loop":
        loop = tmp_path / "config.json"
        os.symlink(loop, loop)
        return loop
    if case == "fifo":
        fifo = tmp_path / "config.json"
        os.mkfifo(fifo)
        return fifo
    if case == "missing file":
        return tmp_path / "nothing" / "config.json"
    if case == "bad index":
        folder = _with_index(tmp_path, 0)
        (folder / "model.safetensors.index.json").write_text('{"metadata": {"total_size": "big"}}')
        return folder
    raise AssertionError(case)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case, fragment", [
    ("too large", "over the 4,000,000-byte limit"),
    ("not JSON", "is not valid JSON"),
    ("not an object", "holds a JSON list, not an object"),
    ("NaN", "NaN is not a number JSON allows"),
    ("not UTF-8", "is not UTF-8 text"),
    ("deep", "nested too deeply"),
    ("string number", "'hidden_size' must be a whole number, not \"4096\""),
    ("boolean number", "'num_hidden_layers' must be a whole number, not true"),
    ("float number", "'num_attention_heads' must be a whole number, not 32.0"),
    ("absurd", "hidden_size: Input should be less than or equal to 10000000"),
    ("negative", "layers: Input should be greater than 0"),
    ("missing", "none of 'hidden_size', 'n_embd', 'd_model' is given"),
    ("empty directory", "holds no config.json"),
    ("config is a directory", "is not a regular file"),
    ("symlink loop", "Too many levels of symbolic links"),
    ("fifo", "is not a regular file"),
    ("missing file", "no such file or directory"),
    ("bad index", "metadata.total_size must be a whole number"),
])
def test_hostile_config_is_one_line_exit_2(tmp_path, case, fragment):
    path = _hostile(tmp_path, case)
    _one_line_error(run_cli("size", str(path)), fragment)


def test_library_errors_are_input_errors(tmp_path):
    with pytest.raises(InputError):
        load_config(_config(tmp_path, [1]))


def test_llama4_chunked_attention_and_shared_expert():
    model = load_config(SYNTHETIC / "llama4-chunked.json").model
    assert model.moe is not None
    assert (model.moe.experts, model.moe.active_experts, model.moe.shared_experts, model.moe.expert_ffn_size) == (16, 1, 1, 256)
    # RoPE layers (no_rope_layers 1) attend within 1024-token chunks: bounded above by a 1024-token window
    assert model.sliding_window is not None and (model.sliding_window.window, model.sliding_window.layers) == (1024, 6)
    assert "upper bound" in (model.notes or "") and "Only the language model is counted" in (model.notes or "")


def test_a_linked_config_is_named_by_the_folder_it_was_found_in(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "3f2a").write_text(LLAMA_8B.read_text())
    folder = tmp_path / "Local-Llama"
    folder.mkdir()
    (folder / "config.json").symlink_to(blobs / "3f2a")
    assert load_config(folder).model.name == "Local-Llama"


@pytest.mark.parametrize("extra, fragment", [
    ({"num_key_value_heads": 64}, "heads 32 is not a multiple of kv_heads 64"),
    ({"num_local_experts": 4, "num_experts_per_tok": 8}, "moe: Value error, active_experts 8 > experts 4"),
    ({"layer_types": ["full_attention"] * 3}, "lists 3 layers, not num_hidden_layers 32"),
])
def test_inconsistent_configs_are_one_line_errors(tmp_path, extra, fragment):
    _one_line_error(run_cli("size", str(_config(tmp_path, _llama() | extra))), fragment)


@pytest.mark.parametrize("quant, dtype, native", [
    ({"quant_method": "fp8", "weight_block_size": [128, 128]}, "bfloat16", "fp8"),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "bfloat16", "nvfp4"),
    ({"quant_method": "modelopt", "quant_algo": "FP8"}, "bfloat16", "fp8"),
    ({"quant_method": "mxfp4"}, "bfloat16", "mxfp4"),
    ({"quant_method": "awq", "bits": 4}, "float16", "fp16"),  # 4-bit AWQ: not a native precision; noted
    (None, "float32", "fp32"),
])
def test_native_precision(tmp_path, quant, dtype, native):
    data = _llama() | {"torch_dtype": dtype}
    if quant is not None:
        data["quantization_config"] = quant
    model = load_config(_config(tmp_path, data)).model
    assert model.precision_native == native
    assert ("quantised (awq)" in (model.notes or "")) == (native == "fp16")


@pytest.mark.parametrize("fixture", ["linear-attention.json", "sliding-layer-types.json", "mla-moe.json"])
def test_parsed_features_run_through_predict(fixture):
    result = run_cli("predict", str(SYNTHETIC / fixture), "--gpu", "h100-sxm", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["fits"] and data["memory_gb"]["weights"] > 0 and data["tpot_ms"] > 0


def test_did_you_mean_for_a_mistyped_hugging_face_id():
    result = run_cli("size", "meta-llama/Llama-3.1-8B-Instrct")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "did you mean meta-llama/Llama-3.1-8B-Instruct" in result.stderr


def test_the_count_warning_is_in_the_json_too(tmp_path):
    folder = _with_index(tmp_path, round(2 * 8_030_261_248 * 1.05))
    result = run_cli("predict", str(folder), "--gpu", "h100-sxm", "--format", "json")
    assert result.exit_code == 0 and result.stderr.startswith("planner: warning: Llama-local: ")
    assert json.loads(result.stdout)["warnings"][0].startswith("Llama-local: the architecture works out to")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
KEYS = sorted(set(json.loads(LLAMA_8B.read_text())) | set(json.loads((SYNTHETIC / "mla-moe.json").read_text()))
              | set(json.loads((SYNTHETIC / "linear-attention.json").read_text()))
              | {"text_config", "layer_types", "sliding_window", "sliding_window_pattern", "quantization_config",
                 "attention_chunk_size", "no_rope_layers", "shared_expert_intermediate_size", "n_shared_experts",
                 "interleave_moe_layer_step", "multi_query", "type_vocab_size", "rope_parameters"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(["llama", "mla-moe", "linear"]), changes=st.dictionaries(st.sampled_from(KEYS), json_values,
                                                                                        max_size=4))
def test_any_mutated_config_parses_or_is_an_input_error(base, changes):
    """Hostile values anywhere: the parser answers with a model or an InputError, never anything else."""
    source = {"llama": LLAMA_8B, "mla-moe": SYNTHETIC / "mla-moe.json",
              "linear": SYNTHETIC / "linear-attention.json"}[base]
    data = json.loads(source.read_text()) | changes
    try:
        parsed = parse_config(data, name="fuzz", source="config.json", as_of="2026-12-03")
    except InputError:
        return
    assert count_params(parsed.model).total <= 1e15


def test_gpt_j_keys_round_trip_to_the_catalog_count(catalog):
    gptj = catalog.models["gpt-j-6b"]
    # GPT-2-style key names, n_inner null (the FFN is 4 x n_embd), as gpt-j-6b's config.json has them
    data = {"model_type": "gptj", "n_embd": gptj.hidden_size, "n_layer": gptj.layers, "n_head": gptj.heads,
            "n_inner": None, "n_positions": gptj.max_context, "vocab_size": gptj.vocab_size,
            "tie_word_embeddings": False, "torch_dtype": "float16"}
    model = parse_config(data, name="EleutherAI/gpt-j-6b", source="config.json", as_of="2026-12-03").model
    for field in ("layers", "hidden_size", "heads", "kv_heads", "head_dim", "ffn_size", "ffn_gated", "norm",
                  "attention_bias", "mlp_bias", "precision_native"):
        assert getattr(model, field) == getattr(gptj, field), field
    assert count_params(model).total == count_params(gptj).total


def test_xlm_roberta_positions_leave_out_the_padding_offset():
    data = {"model_type": "xlm-roberta", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 514, "type_vocab_size": 1}
    model = parse_config(data, name="x", source="config.json", as_of="2026-12-03").model
    assert model.kind.value == "encoder" and model.max_context == 512 and model.token_types == 1


def test_interleaved_moe_layers_are_read_as_a_layer_step():
    """Llama 4 Maverick: MoE on every 2nd layer (interleave_moe_layer_step 2),
    dense FFNs of intermediate_size_mlp between; the catalog holds the same
    as moe.layer_step."""
    data = json.loads((SYNTHETIC / "llama4-chunked.json").read_text())
    data["text_config"] = {**data.get("text_config", {}), "interleave_moe_layer_step": 2}
    parsed = parse_config(data, name="interleaved", source="test", as_of="2026-12-03").model
    assert parsed.moe is not None and parsed.moe.layer_step == 2
