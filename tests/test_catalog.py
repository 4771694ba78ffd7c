"""The catalog: strict schema, safe loading, overlays, and the ids the tool promises."""

from __future__ import annotations

import pytest

from planner.catalog.load import load_catalog, validate_file
from planner.core.errors import CatalogError

REQUIRED_GPUS = (
    "h100-sxm h100-pcie h100-nvl h200-sxm h200-nvl b200 gb200 gh200 h20 a100-sxm-80gb a100-sxm-40gb "
    "a100-pcie-80gb l40s l40 l4 a10 a10g a30 a40 t4 v100-sxm-32gb v100-sxm-16gb rtx-4090 rtx-3090 "
    "rtx-3090-ti rtx-5090 rtx-6000-ada rtx-a6000 rtx-pro-6000 mi300x mi325x mi250x gaudi2 gaudi3 "
    "apple-m2-ultra apple-m3-max"
).split()
REQUIRED_PRECISIONS = "fp32 tf32 bf16 fp16 fp8 int8 int8-weight-only int4 nf4 q8_0 q4_0 q4_k_m q5_k_m nvfp4 mxfp4".split()
REQUIRED_MODELS = (
    "llama-2-7b llama-2-13b llama-2-70b llama-3-8b llama-3-70b llama-3.1-8b llama-3.1-70b llama-3.1-405b "
    "llama-3.3-70b mistral-7b mixtral-8x7b mixtral-8x22b qwen2.5-0.5b qwen2.5-7b qwen2.5-14b qwen2.5-72b "
    "gpt-j-6b bert-base bert-large deepseek-v3"
).split()


def test_builtin_has_every_promised_id(catalog):
    assert set(REQUIRED_GPUS) <= set(catalog.gpus)
    assert set(REQUIRED_PRECISIONS) <= set(catalog.precisions)
    assert set(REQUIRED_MODELS) <= set(catalog.models)


def test_alias_lookup(catalog):
    assert catalog.gpu("h100").id == "h100-sxm"
    assert catalog.gpu(" H100-SXM ").id == "h100-sxm"


def test_every_gpu_figure_has_a_source(catalog):
    for gpu in catalog.gpus.values():
        assert gpu.sources["specs"].strip()


def test_native_formats_match_generations(catalog):
    """FP8 tensor cores start with Ada/Hopper; BF16 is absent on Volta/Turing (precisions.md section 2)."""
    for gid in ("a100-sxm-80gb", "a10", "t4", "v100-sxm-32gb", "rtx-3090"):
        assert catalog.gpu(gid).tensor_tflops.fp8 is None, gid
    for gid in ("t4", "v100-sxm-32gb"):
        assert catalog.gpu(gid).tensor_tflops.bf16 is None, gid
    for gid in ("h100-sxm", "l40s", "rtx-4090"):
        assert catalog.gpu(gid).tensor_tflops.fp8 is not None, gid


def _write(tmp_path, text, name="overlay.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_overlay_overrides_a_price(tmp_path):
    """A price of our own (a negotiated contract) replaces the published one, field by field."""
    path = _write(
        tmp_path,
        "instances:\n  - id: aws-p5.48xlarge\n    prices:\n      - {pricing: reserved-3y, region: us-east-1, "
        "usd_per_hour: 30.0, as_of: '2026-11', source: our contract}\n",
    )
    catalog = load_catalog([path])
    (price,) = catalog.instances["aws-p5.48xlarge"].prices
    assert (price.pricing.value, price.usd_per_hour, price.source) == ("reserved-3y", 30.0, "our contract")
    assert catalog.instances["aws-p5.48xlarge"].gpus == load_catalog().instances["aws-p5.48xlarge"].gpus


def test_overlay_adds_a_model(tmp_path, catalog):
    base = catalog.model("llama-2-7b").model_dump(mode="json", exclude_none=True)
    base.update(id="my-7b", name="Our 7B", aliases=[])
    import yaml

    path = _write(tmp_path, yaml.safe_dump({"models": [base]}))
    assert load_catalog([path]).model("my-7b").layers == 32


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("gpus:\n  - id: h100-sxm\n    memory_bandwith_gbs: 3000\n", ["h100-sxm", "memory_bandwith_gbs", "Extra inputs"]),
        ("gpus:\n  - id: h100-sxm\n    memory_bandwidth_gbs: -5\n", ["h100-sxm", "memory_bandwidth_gbs", "greater than or equal to 0.1"]),
        ("gpus:\n  - id: h100-sxm\n    memory_bandwidth_gbs: 1e300\n", ["h100-sxm", "memory_bandwidth_gbs", "less than or equal"]),
        ("gpus:\n  - id: h100-sxm\n    tdp_w: seven hundred\n", ["h100-sxm", "tdp_w", "valid number"]),
        ("gpus:\n  - id: new-gpu\n    name: X\n", ["new-gpu", "vendor", "Field required"]),
        ("models:\n  - id: llama-2-7b\n    kv_heads: 5\n", ["llama-2-7b", "multiple of kv_heads"]),
        ("bogus: []\n", ["unknown section", "bogus"]),
        ("gpus: {a: 1}\n", ["must be a list"]),
        ("gpus:\n  - id: [1]\n", ["id"]),
        ("gpus: [\n", ["not valid YAML"]),
        ("gpus:\n  - id: h100-sxm\n    memory_bandwidth_gbs: .nan\n", ["memory_bandwidth_gbs", "finite"]),
    ],
)
def test_bad_overlay_names_entry_and_field(tmp_path, body, fragments):
    problems = validate_file(_write(tmp_path, body))
    assert problems, "expected the file to be rejected"
    text = "\n".join(problems)
    for fragment in fragments:
        assert fragment in text


def test_every_problem_is_reported(tmp_path):
    body = "gpus:\n  - id: h100-sxm\n    memory_bandwidth_gbs: -5\n    tdp_w: x\n  - id: l4\n    typo: 1\n"
    problems = validate_file(_write(tmp_path, body))
    assert len(problems) == 3


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    problems = validate_file(_write(tmp_path, "\n".join(lines) + "\n"))
    assert any("anchors are not allowed" in p or "aliases are not allowed" in p for p in problems)


def test_huge_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * 3_000_000 + b"\n")
    problems = validate_file(path)
    assert "limit" in problems[0]


def test_python_tags_do_not_run(tmp_path):
    body = "gpus:\n  - !!python/object/apply:os.system ['echo pwned']\n"
    problems = validate_file(_write(tmp_path, body))
    assert problems and "not valid YAML" in problems[0]


def test_deep_nesting_is_refused(tmp_path):
    problems = validate_file(_write(tmp_path, "gpus: " + "[" * 5000 + "]" * 5000 + "\n"))
    assert problems


def test_load_error_is_catalog_error(tmp_path):
    with pytest.raises(CatalogError):
        load_catalog([_write(tmp_path, "gpus:\n  - id: h100-sxm\n    tdp_w: -1\n")])
