"""Context limits: a request longer than the model's context window is an
input error naming the limit, in every command that takes a request shape;
a window documented with RoPE scaling is allowed only when asked for."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT, run_cli
from planner.catalog.load import load_catalog
from planner.core.errors import EXIT_BAD_INPUT, InputError
from planner.model.resolve import resolve_spec
from planner.model.workload import Shape, check_context, context_window


@pytest.mark.parametrize("args, limit", [
    # llama-3.1-8b: max_position_embeddings 131072 (its config.json)
    (("fit", "llama-3.1-8b", "--input", "200000", "--latency", "100ms"), "131,072"),
    # llama-2-7b: 4096
    (("predict", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--input", "10000"), "4,096"),
    # bert-base: 512 learned positions; an encoder has no output tokens
    (("fit", "bert-base", "--input", "2000", "--latency", "1ms"), "512"),
])
def test_a_context_overrun_exits_2_naming_the_limit(args, limit):
    result = run_cli(*args)
    assert result.exit_code == EXIT_BAD_INPUT == 2
    assert f"context window of {limit} tokens" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_input_and_output_together_must_fit():
    # 4,000 + 97 = 4,097 is one token over llama-2-7b's 4,096; 4,000 + 96 fits
    over = run_cli("predict", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--input", "4000", "--output", "97")
    assert over.exit_code == 2 and "4,000 input + 97 output = 4,097 tokens" in over.stderr
    assert "--input or --output" in over.stderr
    fits = run_cli("predict", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--input", "4000", "--output", "96")
    assert fits.exit_code == 0, fits.stderr


def test_a_bare_parameter_count_has_no_window_to_check():
    result = run_cli("predict", "13B", "--gpu", "h100-sxm", "--input", "300000", "--output", "1", "--format", "json")
    assert result.exit_code == 0, result.stderr


def _overlay_with_extended_context(tmp_path, extended: int):
    """A copy of llama-2-7b whose card documents a RoPE-scaled window."""
    entry = next(m for m in yaml.safe_load((ROOT / "catalog" / "models.yaml").read_text())["models"]
                 if m["id"] == "llama-2-7b")
    entry = {**entry, "id": "scaled-7b", "aliases": [], "max_context_extended": extended}
    entry.pop("hf_ids", None)
    path = tmp_path / "scaled.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    return path


def test_rope_scaling_is_an_explicit_opt_in(tmp_path):
    overlay = str(_overlay_with_extended_context(tmp_path, 16384))
    base = ("predict", "scaled-7b", "--gpu", "a100-sxm-80gb", "--input", "8000", "--catalog", overlay)
    refused = run_cli(*base)
    assert refused.exit_code == 2
    assert "context window of 4,096 tokens" in refused.stderr
    assert "16,384 tokens with RoPE scaling: add --rope-scaling" in refused.stderr
    allowed = run_cli(*base, "--rope-scaling")
    assert allowed.exit_code == 0, allowed.stderr
    # even with the opt-in, the documented extended window is the limit
    beyond = run_cli("predict", "scaled-7b", "--gpu", "a100-sxm-80gb", "--input", "20000", "--catalog", overlay,
                     "--rope-scaling")
    assert beyond.exit_code == 2 and "context window of 16,384 tokens" in beyond.stderr


def test_fit_takes_the_same_opt_in(tmp_path):
    overlay = str(_overlay_with_extended_context(tmp_path, 16384))
    base = ("fit", "scaled-7b", "--input", "8000", "--output", "100", "--latency", "1s", "--catalog", overlay)
    assert run_cli(*base).exit_code == 2
    assert run_cli(*base, "--rope-scaling").exit_code == 0


def test_the_library_check_names_the_field():
    catalog = load_catalog()
    spec = resolve_spec(catalog, "llama-2-7b")
    assert context_window(spec.model) == 4096
    assert context_window(spec.model, rope_scaling=True) == 4096  # nothing documented: the opt-in changes nothing
    check_context(spec, Shape(4000, 96))
    with pytest.raises(InputError) as caught:
        check_context(spec, Shape(4000, 97))
    assert caught.value.field == "input_tokens"


def test_size_checks_the_context_and_sizes_its_kv_cache():
    # llama-3.1-8b: 32 layers x 8 KV heads x 128 dims x (K and V) = 65,536
    # elements per token; 128,000 tokens at 16 bits = 16,777,216,000 bytes
    result = run_cli("size", "llama-3.1-8b", "--context", "128000", "-p", "bf16", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = {tuple(r["precisions"]): r for r in json.loads(result.stdout)["kv_cache_per_sequence"]}
    assert rows[("bf16", "fp16")]["size_bytes"] == 32 * 8 * 128 * 2 * 2 * 128_000
    over = run_cli("size", "llama-3.1-8b", "--context", "200k")
    assert over.exit_code == 2 and "context window of 131,072 tokens (shorten --context" in over.stderr


def test_size_of_a_sliding_window_model_caps_the_local_layers():
    # gpt-oss-120b (its config.json): 36 layers, half of them attend to a
    # 128-token window; 8 KV heads x 64 dims; 2 x 8 x 64 x 2 bytes = 2,048
    # bytes per layer and token at 16 bits
    result = run_cli("size", "gpt-oss-120b", "--context", "131072", "-p", "mxfp4", "--format", "json")
    rows = {tuple(r["precisions"]): r for r in json.loads(result.stdout)["kv_cache_per_sequence"]}
    assert rows[("bf16", "fp16")]["size_bytes"] == 18 * 2048 * 131072 + 18 * 2048 * 128


def test_size_of_a_bare_count_says_why_no_kv_is_shown():
    result = run_cli("size", "13B", "--context", "4096", "-p", "fp16")
    assert result.exit_code == 0
    assert "bare parameter count has no architecture" in result.stdout
