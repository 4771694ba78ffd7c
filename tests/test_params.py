"""Computed parameter counts against the published ones (README: "within 1%").

Each catalog model's ``params_published`` (and, for mixtures of experts,
``params_active_published``) is sourced in its ``sources.params`` entry in
catalog/models.yaml; the tolerance is 1% for every model. Where a published
active figure leaves out a part the planner counts, the entry lists it in
``params_active_excludes`` and says why in its notes; the tolerance itself
is never widened.
"""

from __future__ import annotations

import pytest

from planner.catalog.load import load_catalog
from planner.catalog.architecture import comparable_active, count_params

TOLERANCE = 0.01  # README, "Checked against": each computed count within 1% of the published one

CATALOG = load_catalog()

# Counts the architecture misses by more than 1% because the published figure
# is a rounded headline ("1T", "17B active", "10B active") with no exact count
# published, or because a part is not modelled. Each is a known gap, not a
# pass: strict xfail, so the test fails as soon as the gap closes (then take
# the entry out). The load-time check (5%) still holds every one of them.
KNOWN_TOTAL_GAPS = {
    "kimi-k2": "1,026.4B computed against the K2 report's 1.04T (-1.3%); no exact checkpoint count sourced",
    "kimi-k2.5": "same language model as kimi-k2 (-1.3%)",
    "llama-4-scout": "107.8B computed against the card's 109B (-1.1%): the vision encoder is not modelled",
    "mistral-nemo-12b": "12.25B computed against the rounded 12B headline (+2.1%); no exact checkpoint count sourced",
    "phi-4": "14.66B computed against the report's rounded 14B (+4.7%); no exact checkpoint count sourced",
}
KNOWN_ACTIVE_GAPS = {
    "llama-4-scout": "17.17B computed against the card's rounded 17B (+1.0%)",
    "llama-4-maverick": "17.19B computed against the card's rounded 17B (+1.1%)",
    "minimax-m2": "10.42B (without the input embedding) against the rounded 10B headline (+4.2%)",
    "minimax-m2.5": "same architecture as minimax-m2 (+4.2%)",
    "qwen3-30b-a3b": "3.35B computed against the card's 3.3B (+1.6%)",
    "glm-4.5-air": "12.18B (without embedding and head) against the rounded 12B headline (+1.5%)",
    "qwen3.5-397b-a17b": "17.35B computed against the card's rounded 17B (+2.0%)",
}


def _cases(ids, gaps):
    return [pytest.param(i, marks=pytest.mark.xfail(strict=True, reason=gaps[i])) if i in gaps else i for i in ids]


MODELS = _cases(sorted(CATALOG.models), KNOWN_TOTAL_GAPS)
MOE = _cases(sorted(m.id for m in CATALOG.models.values() if m.params_active_published is not None), KNOWN_ACTIVE_GAPS)


def _relative_error(computed: float, published: float) -> float:
    return abs(computed - published) / published


@pytest.mark.parametrize("model_id", MODELS)
def test_total_within_one_percent_of_published(model_id):
    model = CATALOG.model(model_id)
    computed = count_params(model).total
    assert _relative_error(computed, model.params_published) <= TOLERANCE, (
        f"{model_id}: computed {computed:,} vs published {model.params_published:,.0f}")


@pytest.mark.parametrize("model_id", MOE)
def test_active_within_one_percent_of_published(model_id):
    model = CATALOG.model(model_id)
    computed = comparable_active(model, count_params(model))
    assert _relative_error(computed, model.params_active_published) <= TOLERANCE, (
        f"{model_id}: computed {computed:,} vs published {model.params_active_published:,.0f}")


def test_every_mixture_of_experts_states_its_active_count():
    stated = sorted(m.id for m in CATALOG.models.values() if m.params_active_published is not None)
    assert stated == sorted(m.id for m in CATALOG.models.values() if m.moe is not None)


def test_known_gaps_name_catalog_models():
    assert set(KNOWN_TOTAL_GAPS) | set(KNOWN_ACTIVE_GAPS) <= set(CATALOG.models)


def test_an_exclusion_is_explained_in_the_notes():
    for model in CATALOG.models.values():
        for part in model.params_active_excludes:
            assert model.notes and part in model.notes, model.id


def test_deepseek_v3_active_count_leaves_out_only_the_input_embedding():
    """DeepSeek-V3 README_WEIGHTS.md, Main Model Weights: 36.6B activated,
    including the 0.9B output head (129,280 x 7,168 = 0.93B) but not the
    input embedding, which the planner counts; 1% tolerance as above."""
    model = CATALOG.model("deepseek-v3")
    counts = count_params(model)
    assert counts.embedding == counts.head == 129_280 * 7_168
    assert _relative_error(counts.active, 36.6e9) > TOLERANCE  # the raw count is not comparable
    assert _relative_error(counts.active - counts.embedding, 36.6e9) <= TOLERANCE


# Parts the new architecture features add, checked by hand from the configs.

def test_interleaved_moe_layers_of_llama_4_maverick():
    """Maverick config.json: interleave_moe_layer_step 2, 48 layers, so 24 MoE
    layers of 128 routed + 1 shared expert (8192) and 24 dense FFNs of
    intermediate_size_mlp 16384; gated FFNs have 3 matrices of 5120 x width."""
    model = CATALOG.model("llama-4-maverick")
    counts = count_params(model)
    expert = 3 * 5120 * 8192
    assert counts.ffn == 24 * 129 * expert + 24 * 3 * 5120 * 16384
    assert counts.ffn_active == 24 * 2 * expert + 24 * 3 * 5120 * 16384


def test_gated_deltanet_layer_of_qwen3_5():
    """Qwen3.5-397B-A17B text_config: hidden 4096, 16 key heads and 64 value
    heads of 128, conv kernel 4. One linear-attention layer holds q, k
    (16 x 128 each), v, z (64 x 128 each) and a, b (64 each) projections,
    a depthwise conv over q, k, v, A_log and dt_bias (64 each), a 128-wide
    gated norm and the 8192 -> 4096 output projection."""
    from planner.catalog.architecture import linear_attention_params
    model = CATALOG.model("qwen3.5-397b-a17b")
    expected = 4096 * (2 * 2048 + 2 * 8192) + 4096 * 128 + (2 * 2048 + 8192) * 4 + 128 + 128 + 8192 * 4096
    assert linear_attention_params(model) == expected
