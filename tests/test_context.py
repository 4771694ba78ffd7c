"""Context limits: a request longer than the model's context window is an
input error naming the limit, in every command that takes a request shape;
a window documented with RoPE scaling is allowed only when asked for."""

from __future__ import annotations

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
