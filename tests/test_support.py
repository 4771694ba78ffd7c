"""The format support matrix (catalog/support.yaml, planner/catalog/support.py):
what each engine runs on each GPU, and that predict, fit and `catalog show`
all obey it."""

from __future__ import annotations

import json

import pytest

from planner.catalog.load import load_catalog
from planner.catalog.schema import capability_key
from planner.catalog.support import KV_CACHE, NATIVE, NO_RULE, UNSUPPORTED, WEIGHT_ONLY, gemm_rate, support
from planner.core.errors import CatalogError, InputError
from planner.model import perf
from planner.model.resolve import resolve_spec
from planner.model.workload import Deployment, Shape
from planner.plan.candidates import ScoredShape, enumerate_candidates
from planner.plan.question import Targets

CATALOG = load_catalog()
ENGINES = sorted(CATALOG.engines)


def _weight_formats(catalog=CATALOG):
    return [p for p in catalog.precisions.values() if p.weight_format]


def _kv_formats(engine, catalog=CATALOG):
    return [catalog.precisions[f] for f in engine.kv_cache_formats]


# --- the whole catalog: nothing proposed that cannot run -------------------------------------


@pytest.mark.parametrize("engine_id", ENGINES)
def test_no_candidate_uses_a_format_its_gpu_and_engine_cannot_run(engine_id):
    """Every GPU x every weight and KV format the engine serves, a small model and
    no latency target, so every runnable shape is scored: each candidate's GPU
    runs its weight format (at a rate the GPU lists) and its KV format, and each
    (GPU, format) the matrix refuses appears in ruled_out with its reason."""
    engine = CATALOG.engine(engine_id)
    spec = resolve_spec(CATALOG, "qwen2.5-0.5b")
    weights = [p for p in _weight_formats() if engine.id in p.engines]
    kvs = _kv_formats(engine)
    cands, ruled_out = enumerate_candidates(
        CATALOG, spec, Shape(128, 16), Targets(), engine, precisions=weights, kv_precisions=kvs,
        max_quality_loss=100.0)
    refused = dict(ruled_out)
    seen = set()
    for c in cands:
        weight_support = support(c.gpu, c.precision, engine)
        kv_support = support(c.gpu, c.kv_precision, engine, KV_CACHE)
        assert weight_support.runs and kv_support.runs, (c.key, weight_support.rule, kv_support.rule)
        # independent of the matrix: a native format needs the GPU's own rate for it
        if weight_support.mode == NATIVE:
            assert gemm_rate(c.gpu, c.precision.compute) is not None, c.key
        seen.add((c.gpu.id, c.precision.id))
    for gpu in CATALOG.gpus.values():
        for precision in weights:
            if not support(gpu, precision, engine).runs:
                assert f"{gpu.id} {precision.id}" in refused, (gpu.id, precision.id)
                assert (gpu.id, precision.id) not in seen
        for kv in kvs:
            if not support(gpu, kv, engine, KV_CACHE).runs:
                assert f"{gpu.id} KV {kv.id}" in refused
                assert not any(c.gpu.id == gpu.id and c.kv_precision.id == kv.id for c in cands)


def test_the_property_test_is_not_vacuous():
    """Scored candidates exist for the GPUs the engines do run on, so the test above checks something."""
    spec = resolve_spec(CATALOG, "qwen2.5-0.5b")
    cands, _ = enumerate_candidates(CATALOG, spec, Shape(128, 16), Targets(), CATALOG.engine("vllm"),
                                    max_quality_loss=100.0)
    scored = {c.gpu.id for c in cands if isinstance(c, ScoredShape)}
    assert {"v100-sxm-32gb", "t4", "a100-sxm-80gb", "h100-sxm", "b200", "mi300x", "gaudi3"} <= scored


# --- the generations the brief names ---------------------------------------------------------


@pytest.mark.parametrize("engine_id", ENGINES)
@pytest.mark.parametrize("gpu_id", ["v100-sxm-32gb", "v100-sxm-16gb"])
def test_a_v100_never_gets_fp8_bf16_or_nvfp4(gpu_id, engine_id):
    """Volta has FP16 tensor cores only (precisions.md section 2): no engine runs FP8,
    BF16 or NVFP4 there, as weights or as the KV cache."""
    gpu, engine = CATALOG.gpu(gpu_id), CATALOG.engine(engine_id)
    for fmt in ("fp8", "bf16", "nvfp4"):
        precision = CATALOG.precision(fmt)
        assert not support(gpu, precision, engine).runs, (engine_id, fmt)
        assert not support(gpu, precision, engine, KV_CACHE).runs, (engine_id, fmt)


def test_a_v100_runs_fp16():
    """vLLM's CUDA requirement is compute capability 7.0; llama.cpp and Transformers run FP16 there too."""
    v100 = CATALOG.gpu("v100-sxm-32gb")
    for engine in ("vllm", "llama.cpp", "transformers", "tensorrt"):
        assert support(v100, CATALOG.precision("fp16"), CATALOG.engine(engine)).mode == NATIVE, engine


@pytest.mark.parametrize("engine_id", ENGINES)
def test_a_t4_never_gets_bf16(engine_id):
    t4, engine = CATALOG.gpu("t4"), CATALOG.engine(engine_id)
    assert not support(t4, CATALOG.precision("bf16"), engine).runs
    assert not support(t4, CATALOG.precision("bf16"), engine, KV_CACHE).runs


def test_nvfp4_runs_natively_only_from_compute_capability_10():
    """NVFP4 W4A4 needs Blackwell's FP4 tensor cores (NVIDIA NVFP4 blog)."""
    natives = set()
    for gpu in CATALOG.gpus.values():
        for engine in CATALOG.engines.values():
            if support(gpu, CATALOG.precision("nvfp4"), engine).mode == NATIVE:
                assert gpu.compute_capability is not None, gpu.id
                assert capability_key(gpu.compute_capability) >= (10, 0), (gpu.id, engine.id)
                natives.add(gpu.id)
    assert {"b200", "gb200", "rtx-5090", "rtx-pro-6000"} <= natives


def test_weight_only_fp4_on_hopper_depends_on_the_engine():
    """vLLM and SGLang run NVFP4 checkpoints on Hopper through FP4 Marlin at the 16-bit
    rate (vLLM marlin_utils_fp4.py, SGLang PR #19652); TensorRT-LLM's Hopper W4A16 NVFP4
    was an open pull request, so it does not run there."""
    h100, nvfp4 = CATALOG.gpu("h100-sxm"), CATALOG.precision("nvfp4")
    for engine in ("vllm", "sglang"):
        found = support(h100, nvfp4, CATALOG.engine(engine))
        assert (found.mode, found.compute) == (WEIGHT_ONLY, "fp16"), engine
    assert support(h100, nvfp4, CATALOG.engine("trtllm")).mode == UNSUPPORTED


def test_fp8_on_ampere_is_weight_only_at_the_16_bit_rate():
    """vLLM fp8.md: compute capability >= 7.5 runs FP8 checkpoints as W8A16 through FP8 Marlin."""
    a100, fp8 = CATALOG.gpu("a100-sxm-80gb"), CATALOG.precision("fp8")
    found = support(a100, fp8, CATALOG.engine("vllm"))
    assert (found.mode, found.compute, found.rule_id) == (WEIGHT_ONLY, "fp16", "vllm-fp8-marlin")
    assert perf.matmul_format(a100, fp8, CATALOG.engine("vllm")) == ("fp16", a100.tensor_flops("fp16"))
    assert support(CATALOG.gpu("h100-sxm"), fp8, CATALOG.engine("vllm")).mode == NATIVE


def test_mxfp4_on_hopper_is_a_16_bit_gemm():
    """gpt-oss on Hopper: vLLM's Triton kernel unpacks FP4 in the matmul and computes in BF16."""
    found = support(CATALOG.gpu("h100-sxm"), CATALOG.precision("mxfp4"), CATALOG.engine("vllm"))
    assert (found.mode, found.compute) == (WEIGHT_ONLY, "bf16")


def test_every_nvidia_gpu_has_a_sourced_compute_capability():
    for gpu in CATALOG.gpus.values():
        if gpu.vendor == "NVIDIA":
            assert gpu.compute_capability, gpu.id
            assert "cuda-gpus" in gpu.sources["compute_capability"], gpu.id


def test_every_rule_names_a_source_and_a_date():
    for rule in CATALOG.support.values():
        assert rule.source and rule.as_of, rule.id


def test_measured_combinations_run():
    """A published measurement proves its combination runs: every row of the validation
    set that maps to the catalog passes the matrix (benchmarks/data/measured.csv)."""
    from planner.model.validation import Case, bundled_measurements, read_rows, to_case

    path = bundled_measurements()
    assert path is not None
    cases = [to_case(CATALOG, i, row) for i, row in enumerate(read_rows(path))]
    refused = [c for c in cases if not isinstance(c, Case) and "support rule" in c]
    assert refused == []
    assert sum(isinstance(c, Case) for c in cases) > 50


# --- predict, fit --explain, catalog show ---------------------------------------------------


def test_predict_refuses_an_unsupported_combination_naming_the_rule(cli):
    result = cli("predict", "llama-3.1-8b", "--gpu", "v100-sxm-32gb", "--precision", "fp8")
    assert result.exit_code == 2
    assert "support rule 'vllm-fp8-volta'" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_predict_refuses_an_unsupported_kv_cache(cli):
    result = cli("predict", "llama-3.1-8b", "--gpu", "a100-sxm-80gb", "--precision", "bf16", "--kv-precision", "nvfp4",
                 "--engine", "trtllm")
    assert result.exit_code == 2
    assert "support rule 'trtllm-kv-nvfp4'" not in result.stderr  # the rule covers 10.0+ only
    assert "not known to keep its KV cache in nvfp4" in result.stderr


def test_predict_library_error_names_the_rule(catalog):
    from planner.model.predict import predict

    with pytest.raises(InputError) as info:
        predict(catalog, "llama-3.1-8b", "t4", precision="bf16")
    assert "vllm-bf16-volta-turing" in str(info.value)


def test_fit_explain_names_the_rule(cli):
    # owned, so the price book does not decide whether they are considered
    result = cli("fit", "llama-3.1-70b", "--gpu", "v100-sxm-32gb,v100-sxm-16gb", "--owned", "v100-sxm-32gb=8,v100-sxm-16gb=8",
                 "--latency", "100ms", "--explain", "--format", "json")
    assert result.exit_code in (0, 4), result.stderr
    reasons = {row["what"]: row["why"] for row in json.loads(result.stdout)["ruled_out"]}
    assert "support rule 'vllm-fp8-volta'" in reasons["v100-sxm-32gb fp8"]
    assert "support rule 'vllm-bf16-volta-turing'" in reasons["v100-sxm-32gb bf16"]
    # NVFP4 on Llama 3.1 70B is excluded by its quality figure before the
    # hardware is asked; allowed by a looser limit, it reaches the support matrix
    assert reasons["nvfp4"].startswith("published quality loss")
    named = cli("fit", "llama-3.1-70b", "--gpu", "v100-sxm-16gb", "--owned", "v100-sxm-16gb=8", "--max-quality-loss", "10",
                "--latency", "100ms", "--explain", "--format", "json")
    named_reasons = {row["what"]: row["why"] for row in json.loads(named.stdout)["ruled_out"]}
    assert "support rule 'vllm-nvfp4-volta'" in named_reasons["v100-sxm-16gb nvfp4"]
    plan = json.loads(result.stdout)
    used = {line["precision"] for line in plan.get("lines", [])} if "lines" in plan else set()
    assert not used & {"fp8", "bf16", "nvfp4"}


def test_fit_explain_table_names_the_rule(cli):
    result = cli("fit", "llama-3.1-70b", "--gpu", "v100-sxm-32gb", "--owned", "v100-sxm-32gb=8", "--latency", "100ms",
                 "--explain")
    assert result.exit_code in (0, 4), result.stderr
    assert "'vllm-fp8-volta'" in result.stdout


def test_catalog_show_lists_what_runs_on_a_gpu(cli):
    result = cli("catalog", "show", "v100-sxm-32gb")
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert runs["vllm"]["weights"]["fp16"] == "native"
    assert runs["vllm"]["weights"]["fp8"] == "no"
    assert runs["vllm"]["weights"]["int4"] == "weight-only (fp16 rate)"
    assert runs["vllm"]["kv_cache"] == {"fp16": "native", "bf16": "no", "fp8": "no"}
    assert runs["llama.cpp"]["kv_cache"]["q8_0"] == "native"
    assert set(runs) == set(CATALOG.engines)


def test_catalog_show_on_ampere_gives_the_weight_only_rate(cli):
    runs = json.loads(cli("catalog", "show", "a100-sxm-80gb").stdout)["runs"]
    assert runs["vllm"]["weights"]["fp8"] == "weight-only (fp16 rate)"
    assert runs["trtllm"]["weights"]["nvfp4"] == "no"


# --- overlays, defaults, rule order ----------------------------------------------------------


def _write(tmp_path, text):
    path = tmp_path / "overlay.yaml"
    path.write_text(text, encoding="utf-8")
    return path


RULE = """
support:
  - id: my-vllm-fp8-volta
    engines: [vllm]
    formats: [fp8]
    compute_capability: {{min: "7.0", max: "7.0"}}
    mode: {mode}
    {compute}
    source: our own test on a V100 cluster
    as_of: 2026-11
"""


def test_an_overlay_can_add_a_rule(tmp_path):
    """A new rule comes after the built-in ones, so it decides where both match."""
    path = _write(tmp_path, RULE.format(mode="weight-only", compute="compute: fp16"))
    catalog = load_catalog([path])
    found = support(catalog.gpu("v100-sxm-32gb"), catalog.precision("fp8"), catalog.engine("vllm"))
    assert (found.mode, found.compute, found.rule_id) == (WEIGHT_ONLY, "fp16", "my-vllm-fp8-volta")
    assert "our own test on a V100 cluster" in found.rule
    # the built-in catalog is untouched
    assert not support(CATALOG.gpu("v100-sxm-32gb"), CATALOG.precision("fp8"), CATALOG.engine("vllm")).runs


def test_an_overlay_rule_reaches_predict(tmp_path, cli):
    path = _write(tmp_path, RULE.format(mode="weight-only", compute="compute: fp16"))
    result = cli("predict", "llama-3.1-8b", "--gpu", "v100-sxm-32gb", "--precision", "fp8", "--catalog", str(path),
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["matmul_format"] == "fp16"


def test_an_overlay_can_change_a_rule_in_place(tmp_path):
    path = _write(tmp_path, "support:\n  - id: vllm-fp8-marlin\n    compute_capability: {min: '8.0', max: '8.6'}\n")
    catalog = load_catalog([path])
    t4, fp8, vllm = catalog.gpu("t4"), catalog.precision("fp8"), catalog.engine("vllm")
    assert not support(t4, fp8, vllm).runs  # now no rule covers 7.5
    assert support(catalog.gpu("a100-sxm-80gb"), fp8, vllm).mode == WEIGHT_ONLY


NEW_GPU = """
gpus:
  - id: acme-x1
    vendor: Acme
    name: Acme X1
    family: acme-gen1
    segment: datacenter
    form_factor: PCIe card
    release_year: 2026
    memory_label: "64 GB"
    memory_label_unit: GiB
    memory_type: HBM3
    memory_class: hbm
    memory_total_gib: 64
    memory_bandwidth_gbs: 2000
    tensor_tflops: {bf16: 400, fp16: 400}
    interconnect: none
    gpus_per_node: 1
    sources: {specs: our datasheet}
"""


def test_a_gpu_no_rule_covers_runs_nothing_until_a_rule_says_so(tmp_path, cli):
    """The stated conservative rule: an unknown family gets no assumptions."""
    path = _write(tmp_path, NEW_GPU)
    catalog = load_catalog([path])
    acme, vllm = catalog.gpu("acme-x1"), catalog.engine("vllm")
    found = support(acme, catalog.precision("bf16"), vllm)
    assert found.mode == UNSUPPORTED and NO_RULE in found.rule and "family acme-gen1" in found.rule
    result = cli("predict", "llama-3.1-8b", "--gpu", "acme-x1", "--catalog", str(path))
    assert result.exit_code == 2 and "no support rule covers it" in result.stderr
    with_rule = _write(tmp_path, NEW_GPU + """
support:
  - id: acme-vllm-bf16
    engines: [vllm]
    formats: [bf16]
    families: [acme-gen1]
    mode: native
    source: Acme's vLLM plugin documentation
    as_of: 2026-10
  - id: acme-vllm-kv
    engines: [vllm]
    formats: [bf16]
    use: kv-cache
    gpus: [acme-x1]
    mode: native
    source: Acme's vLLM plugin documentation
    as_of: 2026-10
""")
    result = cli("predict", "llama-3.1-8b", "--gpu", "acme-x1", "--catalog", str(with_rule), "--format", "json")
    assert result.exit_code == 0, result.stderr


def test_an_nvidia_gpu_without_a_compute_capability_is_not_guessed():
    h100 = CATALOG.gpu("h100-sxm").model_copy(update={"compute_capability": None})
    found = support(h100, CATALOG.precision("bf16"), CATALOG.engine("vllm"))
    assert found.mode == UNSUPPORTED and NO_RULE in found.rule


def test_a_native_rule_needs_the_gpus_rate(tmp_path):
    """A rule cannot conjure a rate the GPU's entry does not give."""
    path = _write(tmp_path, """
support:
  - id: bold-claim
    engines: [vllm]
    formats: [nvfp4]
    gpus: [h100-sxm]
    mode: native
    source: a claim for the test
    as_of: '2026'
""")
    catalog = load_catalog([path])
    found = support(catalog.gpu("h100-sxm"), catalog.precision("nvfp4"), catalog.engine("vllm"))
    assert found.mode == UNSUPPORTED and "no fp4 rate" in found.rule


def test_the_last_matching_rule_decides(tmp_path):
    path = _write(tmp_path, RULE.format(mode="unsupported", compute="") .replace("7.0\", max: \"7.0", "7.5\", max: \"7.5"))
    catalog = load_catalog([path])
    found = support(catalog.gpu("t4"), catalog.precision("fp8"), catalog.engine("vllm"))
    assert (found.mode, found.rule_id) == (UNSUPPORTED, "my-vllm-fp8-volta")


def test_the_engine_gate_comes_first():
    """A format the engine does not serve is refused before the matrix is asked."""
    found = support(CATALOG.gpu("h100-sxm"), CATALOG.precision("q4_k_m"), CATALOG.engine("vllm"))
    assert found.mode == UNSUPPORTED and found.rule_id is None and "does not serve" in found.rule


def test_deployments_check_the_kv_cache_too():
    dep = Deployment(gpu=CATALOG.gpu("h100-sxm"), precision=CATALOG.precision("bf16"),
                     kv_precision=CATALOG.precision("nvfp4"), engine=CATALOG.engine("trtllm"))
    with pytest.raises(InputError, match="KV cache in nvfp4"):
        perf.check_deployment(CATALOG.model("llama-3.1-8b"), dep)
    ok = Deployment(gpu=CATALOG.gpu("b200"), precision=CATALOG.precision("bf16"),
                    kv_precision=CATALOG.precision("nvfp4"), engine=CATALOG.engine("trtllm"))
    perf.check_deployment(CATALOG.model("llama-3.1-8b"), ok)


@pytest.mark.parametrize("body, fragment", [
    ("  - id: r\n    engines: [vllm]\n    formats: [fp8]\n    mode: native\n    source: s\n    as_of: '2026'\n",
     "select hardware"),
    ("  - id: r\n    engines: [vllm]\n    formats: [fp8]\n    gpus: [h100-sxm]\n    mode: weight-only\n    source: s\n"
     "    as_of: '2026'\n", "needs compute"),
    ("  - id: r\n    engines: [vllm]\n    formats: [fp8]\n    gpus: [h100-sxm]\n    mode: native\n    compute: fp16\n"
     "    source: s\n    as_of: '2026'\n", "only for mode weight-only"),
    ("  - id: r\n    engines: [nope]\n    formats: [fp8]\n    gpus: [h100-sxm]\n    mode: native\n    source: s\n"
     "    as_of: '2026'\n", "unknown engine 'nope'"),
    ("  - id: r\n    engines: [vllm]\n    formats: [int4]\n    use: kv-cache\n    gpus: [h100-sxm]\n    mode: native\n"
     "    source: s\n    as_of: '2026'\n", "not a precision marked kv_cache"),
    ("  - id: r\n    engines: [vllm]\n    formats: [fp8]\n    gpus: [h999]\n    mode: native\n    source: s\n"
     "    as_of: '2026'\n", "unknown GPU 'h999'"),
    ("  - id: r\n    engines: [vllm]\n    formats: [fp8]\n    compute_capability: {min: '9.0', max: '8.0'}\n"
     "    mode: native\n    source: s\n    as_of: '2026'\n", "above max"),
    ("  - id: r\n    engines: [vllm]\n    formats: [fp8]\n    gpus: [h100-sxm]\n    mode: native\n    as_of: '2026'\n",
     "source"),
])
def test_bad_rules_are_catalog_errors(tmp_path, body, fragment):
    path = _write(tmp_path, "support:\n" + body)
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    assert any(fragment in problem for problem in info.value.problems), info.value.problems


def test_the_public_api_answers_the_same_question():
    import planner

    found = planner.support(CATALOG.gpu("a100"), CATALOG.precision("fp8"), CATALOG.engine("vllm"))
    assert isinstance(found, planner.Support) and found.label == "weight-only (fp16 rate)"
