"""The models served in the Hopper measurements resolve to catalog entries
by their Hugging Face repository id, and `planner predict` answers for each.

SILICON_MODEL_PATHS are the distinct values of the `model_path` column of
/work/shared/validation/silicon-hopper.csv (see SILICON.md there), copied
here so the test needs nothing outside the repository.
"""

from __future__ import annotations

import json

import pytest

from planner.model.resolve import resolve_model

from conftest import run_cli
from planner.catalog.load import load_catalog

# model_path -> (catalog id, weight precision, TP degree) of a deployment on
# H200 that the measurements also use (precision column; MoE runs on up to 8 GPUs).
SILICON_MODEL_PATHS = {
    "Qwen/Qwen3-32B": ("qwen3-32b", "bf16", 1),
    "deepseek-ai/DeepSeek-R1": ("deepseek-r1", "fp8", 8),
    "openai/gpt-oss-120b": ("gpt-oss-120b", "mxfp4", 1),
    "meta-llama/Llama-3.1-8B-Instruct": ("llama-3.1-8b", "bf16", 1),
    "Qwen/Qwen3-235B-A22B-FP8": ("qwen3-235b-a22b", "fp8", 4),
    "meta-llama/Llama-3.1-70B": ("llama-3.1-70b", "bf16", 4),
    "MiniMaxAI/MiniMax-M2.5": ("minimax-m2.5", "fp8", 4),
    "deepseek-ai/DeepSeek-V3": ("deepseek-v3", "fp8", 8),
    "Qwen/Qwen3.5-397B-A17B": ("qwen3.5-397b-a17b", "bf16", 8),
    "moonshotai/Kimi-K2.5": ("kimi-k2.5", "int4", 8),
    "zhipuai/GLM-5": ("glm-5", "fp8", 8),
    "nvidia/Llama-3.1-8B-Instruct-FP8": ("llama-3.1-8b", "fp8", 1),
}

CATALOG = load_catalog()


@pytest.mark.parametrize("model_path", sorted(SILICON_MODEL_PATHS))
def test_each_measured_model_path_resolves_through_hf_ids(model_path):
    expected = SILICON_MODEL_PATHS[model_path][0]
    assert resolve_model(CATALOG, model_path).model.id == expected
    assert resolve_model(CATALOG, model_path.upper()).model.id == expected  # the Hub matches names without regard to case


@pytest.mark.parametrize("model_path", sorted(SILICON_MODEL_PATHS))
def test_predict_answers_for_each_measured_model_on_h200(model_path):
    model_id, precision, tp = SILICON_MODEL_PATHS[model_path]
    result = run_cli("predict", model_path, "--gpu", "h200-sxm", "--precision", precision, "--tp", str(tp),
                     "--input", "1024", "--output", "1024", "--format", "json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == model_id
    assert answer["fits"] is True, answer["fit_reason"]  # every one of them runs on at most 8 H200s
    assert answer["ttft_ms"] > 0 and answer["tpot_ms"] > 0


def test_hf_ids_are_unique_across_models():
    seen: dict[str, str] = {}
    for model in CATALOG.models.values():
        for hf_id in model.hf_ids:
            key = hf_id.lower()
            assert key not in seen, f"{hf_id} names both {seen[key]} and {model.id}"
            seen[key] = model.id


def test_every_model_names_its_hub_repositories():
    assert [m.id for m in CATALOG.models.values() if not m.hf_ids] == []


def test_a_documented_extended_context_exceeds_the_native_one():
    extended = {m.id: (m.max_context, m.max_context_extended) for m in CATALOG.models.values() if m.max_context_extended}
    assert extended["qwen3-32b"] == (32_768, 131_072)  # Qwen3-32B card: 32,768 natively, 131,072 with YaRN
    assert all(native < longer for native, longer in extended.values())


@pytest.mark.parametrize("count", [1_000_000_000, 11_000_000_000, 12_000_000_000, 26_000_000_000, 100_000_000_000])
def test_a_derived_architecture_has_only_full_attention_and_no_hub_id(count):
    """Bare counts ("26B") borrow a catalog layout: never one with
    sliding-window or linear-attention layers, whose layer split would not
    fit the derived depth, and never a Hub repository id."""
    from planner.model.derive import derive_architecture
    model = derive_architecture(CATALOG, count)
    assert model.sliding_window is None and model.linear_attention is None
    assert model.hf_ids == []


def test_a_mixture_of_experts_without_an_expert_layer_is_refused():
    """layer_step larger than the layers after the dense ones leaves no MoE
    layer; the schema refuses it rather than divide by zero later."""
    from pydantic import ValidationError
    from planner.catalog.schema import Model
    entry = CATALOG.model("mixtral-8x7b").model_dump()
    entry["moe"]["layer_step"] = 64  # 32 layers: (i + 1) % 64 is never 0
    with pytest.raises(ValidationError, match="no layer is a mixture of experts"):
        Model.model_validate(entry, strict=False)
