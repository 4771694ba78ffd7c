"""Quality loss per model: published figures for weights and KV cache apart,
chosen by the rule in planner/model/quality.py, used by `fit` and shown with
their sources."""

from __future__ import annotations

import json
import re
import pytest

from planner.catalog.load import load_catalog, validate_file
from planner.core.errors import EXIT_CATALOG
from planner.model.quality import Rule, deployment_quality, quality_loss
from planner.model.resolve import resolve_spec
from planner.model.workload import Shape
from planner.plan.candidates import enumerate_candidates
from planner.plan.question import Targets

SHAPE = Shape(512, 256)


def _figure(catalog, model, precision, part="weights"):
    return quality_loss(catalog, catalog.model(model), catalog.precision(precision), part)


def _enumerate(catalog, model, gpu, **kwargs):
    for name in ("precisions", "kv_precisions"):
        if name in kwargs:
            kwargs[name] = [catalog.precision(p) for p in kwargs[name]]
    return enumerate_candidates(catalog, resolve_spec(catalog, model), SHAPE, Targets(), catalog.engine("vllm"),
                                gpus=[catalog.gpu(gpu)], **kwargs)


def _fit_json(cli, *args):
    result = cli("fit", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- the rule ----------------------------------------------------------------


def test_an_8b_model_under_nvfp4_gets_the_8b_figure_not_the_671b_one(catalog):
    """Llama-3.1-8B-Instruct NVFP4 round-to-nearest: BF16 78.9 vs 74.0 average
    (ISTA-DASLab card, arXiv:2509.23202) = 6.21%, not NVIDIA's 'at most 1%'
    measured on DeepSeek-R1 against its FP8 release."""
    figure = _figure(catalog, "llama-3.1-8b", "nvfp4")
    assert figure.rule is Rule.EXACT and not figure.flagged
    assert figure.loss_pct == pytest.approx((78.9 - 74.0) / 78.9 * 100, abs=0.01)
    assert "ISTA-DASLab/Llama-3.1-8B-Instruct" in figure.source
    assert figure.loss_pct != catalog.quality["deepseek-r1-nvfp4-modelopt"].loss_pct


def test_nvfp4_is_not_proposed_for_the_8b_model_under_the_default_limit(catalog):
    cands, ruled_out = _enumerate(catalog, "llama-3.1-8b", "b200")
    reasons = dict(ruled_out)
    assert reasons["nvfp4"].startswith("published quality loss 6.21% > 3% allowed")
    assert "nvfp4" not in {c.precision.id for c in cands}


def test_a_model_without_its_own_figure_borrows_the_nearest_size_of_its_family_and_says_so(catalog):
    """Llama-3.3-70B has no FP8 figure; Llama-3.1-70B (the same 70.6B
    architecture) has two (0.13% instruct, 0.18% base): the larger is used."""
    figure = _figure(catalog, "llama-3.3-70b", "fp8")
    assert figure.rule is Rule.NEAREST and figure.flagged
    assert figure.loss_pct == 0.18 and figure.figure_id == "llama-3.1-70b-base-fp8"
    assert "Meta-Llama-3.1-70B-FP8" in figure.measured_on
    assert figure.label.startswith("borrowed: nearest size in family, from Meta-Llama-3.1-70B-FP8")


def test_nearest_size_is_nearest_on_a_log_scale(catalog):
    """Qwen2.5-14B (14.8B) under INT8 W8A8: the qwen family has 1.54B and
    72.7B figures; 72.7B is 4.9x away, 1.54B 9.6x, so 72.7B is borrowed."""
    figure = _figure(catalog, "qwen2.5-14b", "int8")
    assert figure.rule is Rule.NEAREST and figure.figure_id == "qwen2.5-72b-base-w8a8"


def test_tied_figures_use_the_largest_loss(catalog):
    """Llama-2-7B INT4 g128 on WikiText-2 (AWQ Table 4): AWQ 5.60, GPTQ 5.69 on
    FP16 5.47; the plan must hold for both, so GPTQ's 4.02% is used."""
    figure = _figure(catalog, "llama-2-7b", "int4")
    assert figure.rule is Rule.EXACT and figure.loss_pct == pytest.approx((5.69 - 5.47) / 5.47 * 100, abs=0.01)


def test_a_family_without_figures_falls_back_to_the_format_default_flagged(catalog):
    """GPT-J 6B: no figure of its own or of its family, so the format's single figure, flagged."""
    assert not [f for f in catalog.quality.values() if f.family == "gpt-j"]
    figure = _figure(catalog, "gpt-j-6b", "int4")
    assert figure.rule is Rule.FORMAT_DEFAULT and figure.flagged
    assert figure.loss_pct == catalog.precision("int4").quality.loss_pct
    assert figure.label == "assumed: format default, not measured on this model"


def test_native_upcast_and_baseline_formats_lose_nothing(catalog):
    assert _figure(catalog, "deepseek-v3", "fp8").rule is Rule.NATIVE
    upcast = _figure(catalog, "deepseek-v3", "bf16")
    assert upcast.rule is Rule.UPCAST and upcast.loss_pct == 0 and "only costs memory" in upcast.metric
    assert _figure(catalog, "llama-3.1-8b", "fp16").rule is Rule.BASELINE
    assert _figure(catalog, "llama-3.1-8b", "bf16").rule is Rule.NATIVE


def test_an_mxfp4_release_is_its_own_baseline(catalog):
    """A release in MXFP4 (as gpt-oss ships its MoE weights): MXFP4 is the
    release itself, 16-bit is an upcast, and NVFP4 needs a figure measured
    against that release (none in the catalog), so it is unknown."""
    release = catalog.model("deepseek-v3").model_copy(update={"precision_native": "mxfp4"})
    assert quality_loss(catalog, release, catalog.precision("mxfp4"), "weights").rule is Rule.NATIVE
    assert quality_loss(catalog, release, catalog.precision("bf16"), "weights").rule is Rule.UPCAST
    assert quality_loss(catalog, release, catalog.precision("nvfp4"), "weights").rule is Rule.UNKNOWN


def test_a_16_bit_release_in_the_other_16_bit_format_is_the_baseline_not_an_upcast(catalog):
    figure = _figure(catalog, "llama-2-7b", "bf16")  # released in FP16
    assert figure.rule is Rule.BASELINE and figure.loss_pct == 0


# --- native FP8 releases -------------------------------------------------------


def test_deepseek_v3_int8_weight_only_is_unknown_without_a_figure_against_its_fp8_release(catalog):
    """The 16-bit INT8 W8A16 figures (and the format default) are measured
    against 16-bit releases; DeepSeek-V3 ships in FP8, so none applies."""
    figure = _figure(catalog, "deepseek-v3", "int8-weight-only")
    assert figure.rule is Rule.UNKNOWN and figure.loss_pct is None
    assert "fp8 release" in figure.metric


@pytest.mark.parametrize("limit", [3.0, 100.0])
def test_deepseek_v3_never_gets_int8_weight_only_under_a_quality_limit(catalog, limit):
    cands, ruled_out = _enumerate(catalog, "deepseek-v3", "h200-sxm", max_quality_loss=limit)
    assert "int8-weight-only" not in {c.precision.id for c in cands}
    assert dict(ruled_out)["int8-weight-only"].startswith("quality unknown on this model")


def test_naming_an_unknown_format_plans_with_it_and_says_its_quality_is_unknown(cli):
    plan = _fit_json(cli, "deepseek-v3", "--gpu", "h200", "--precision", "int8-weight-only")
    line = plan["lines"][0]
    assert line["precision"] == "int8-weight-only"
    assert line["quality_loss_pct"] is None
    assert line["quality"]["weights"]["rule"] == "unknown" and line["quality"]["weights"]["flagged"] is True
    assert any(note.startswith("QUALITY UNKNOWN: no published figure says what int8-weight-only weights cost")
               for note in plan["quality_notes"])
    text = cli("fit", "deepseek-v3", "--gpu", "h200", "--precision", "int8-weight-only").stdout
    assert "unknown (no published figure)" in " ".join(text.split())


def test_an_fp8_release_uses_figures_measured_against_fp8(catalog):
    """DeepSeek-R1's NVFP4 figures are measured against its FP8 release;
    DeepSeek-V3 (same family and size, FP8 release) borrows them, flagged."""
    figure = _figure(catalog, "deepseek-v3", "nvfp4")
    assert figure.rule is Rule.NEAREST and figure.flagged
    assert catalog.quality[figure.figure_id].baseline_precision == "fp8"


# --- KV cache apart from weights ------------------------------------------------


def test_the_fp8_kv_figure_is_not_the_fp8_weight_figure(catalog):
    weights = _figure(catalog, "llama-3-8b", "fp8")
    kv = _figure(catalog, "llama-3-8b", "fp8", "kv_cache")
    assert weights.figure_id == "llama-3-8b-instruct-fp8-autofp8" and weights.loss_pct == 0.71
    assert kv.figure_id != weights.figure_id and catalog.quality[kv.figure_id].part == "kv_cache"
    assert kv.part == "kv_cache"


def test_without_kv_figures_a_kv_format_is_unknown_not_its_weight_figure(catalog):
    only_weights = load_catalog()  # a fresh copy: changing it leaves the cached catalog alone
    only_weights.quality = {k: v for k, v in only_weights.quality.items() if v.part == "weights"}
    kv = quality_loss(only_weights, only_weights.model("llama-3-8b"), only_weights.precision("fp8"), "kv_cache")
    assert kv.rule is Rule.UNKNOWN and kv.loss_pct is None
    assert "does not apply to the KV cache" in kv.metric
    assert quality_loss(only_weights, only_weights.model("llama-3-8b"), only_weights.precision("fp16"),
                        "kv_cache").loss_pct == 0


def test_a_kv_figure_from_another_family_is_flagged(catalog):
    figure = _figure(catalog, "mistral-7b", "fp8", "kv_cache")
    assert figure.rule is Rule.OTHER_FAMILY and figure.flagged and figure.label.startswith("borrowed: nearest size, other")


def test_weights_and_kv_losses_add_and_an_unknown_part_makes_the_total_unknown(catalog):
    m = catalog.model("llama-3.1-8b")
    both = deployment_quality(catalog, m, catalog.precision("fp8"), catalog.precision("fp8"))
    assert both.loss_pct == pytest.approx(both.weights.loss_pct + both.kv_cache.loss_pct)
    unknown = deployment_quality(catalog, catalog.model("deepseek-v3"), catalog.precision("int4"), catalog.precision("fp16"))
    assert unknown.loss_pct is None and unknown.rank_pct == 100.0


# --- reports -----------------------------------------------------------------------


def test_fit_json_carries_each_figure_with_its_source_and_rule(cli):
    plan = _fit_json(cli, "llama-3.1-8b", "--latency", "30ms", "--precision", "fp8", "--kv-precision", "fp8")
    quality = plan["lines"][0]["quality"]
    assert quality["weights"]["precision"] == "fp8" and quality["weights"]["rule"] == "exact"
    assert quality["weights"]["loss_pct"] == 0.47
    assert quality["weights"]["source"].startswith("huggingface.co/neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8")
    assert quality["kv_cache"]["rule"] == "nearest size in family" and quality["kv_cache"]["flagged"] is True
    assert quality["kv_cache"]["source"].startswith("sgl-project/sglang PR #1204")
    assert plan["lines"][0]["quality_loss_pct"] == pytest.approx(0.47 + quality["kv_cache"]["loss_pct"])


def test_terminal_report_marks_borrowed_figures_and_cites_them(cli):
    text = cli("fit", "llama-3.3-70b", "--gpu", "h100", "--precision", "fp8", "--kv-precision", "bf16").stdout
    flat = " ".join(text.split())
    assert "0.18%*" in flat
    assert "Quality of fp8 weights on llama-3.3-70b: 0.18% (borrowed: nearest size in family" in flat
    assert "source: huggingface.co/neuralmagic/Meta-Llama-3.1-70B-FP8" in flat


def test_design_review_shows_the_figures_with_their_sources(cli):
    result = cli("fit", "llama-3.1-8b", "--latency", "30ms", "--precision", "fp8", "--kv-precision", "bf16",
                 "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert ("- Quality of fp8 weights on llama-3.1-8b: 0.47% (exact, LLM Compressor, per-tensor static scales; "
            in result.stdout)


def test_explain_gives_the_figure_and_source_of_an_excluded_format(cli):
    plan = _fit_json(cli, "llama-3.1-8b", "--latency", "30ms", "--gpu", "b200", "--explain")
    why = {row["what"]: row["why"] for row in plan["ruled_out"]}
    assert why["nvfp4"].startswith("published quality loss 6.21% > 3% allowed (--max-quality-loss); exact: ")
    assert "source: huggingface.co/ISTA-DASLab/Llama-3.1-8B-Instruct-FPQuant-QAT-NVFP4" in why["nvfp4"]


# --- overlays and checks ------------------------------------------------------------------


FIGURE = """\
quality:
  - id: deepseek-v3-int8-wo-inhouse
    precision: int8-weight-only
    part: weights
    model: deepseek-v3
    family: deepseek
    params_b: 671
    measured_on: DeepSeek-V3 INT8 W8A16 (in-house)
    baseline_precision: fp8
    method: GPTQ
    metric: in-house eval suite against the FP8 release
    loss_pct: 0.9
    source: our evaluation run 2026-11-30
    as_of: 2026-11-30
"""


def test_an_overlay_can_add_a_figure(tmp_path, catalog):
    path = tmp_path / "mine.yaml"
    path.write_text(FIGURE)
    assert validate_file(path) == []
    mine = load_catalog([path])
    figure = quality_loss(mine, mine.model("deepseek-v3"), mine.precision("int8-weight-only"), "weights")
    assert figure.rule is Rule.EXACT and figure.loss_pct == 0.9 and figure.source == "our evaluation run 2026-11-30"
    cands, ruled_out = _enumerate(mine, "deepseek-v3", "h200-sxm", precisions=["int8-weight-only"],
                                  kv_precisions=["bf16"])
    assert ruled_out == [] and {c.precision.id for c in cands} == {"int8-weight-only"}


def test_an_overlay_can_change_a_builtin_figure(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("quality:\n  - id: llama-3.1-8b-instruct-nvfp4-rtn\n    loss_pct: 9.5\n")
    mine = load_catalog([path])
    figure = quality_loss(mine, mine.model("llama-3.1-8b"), mine.precision("nvfp4"), "weights")
    assert figure.loss_pct == 9.5 and figure.figure_id == "llama-3.1-8b-instruct-nvfp4-rtn"


def test_a_figure_for_a_model_not_yet_in_the_catalog_is_allowed(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(FIGURE.replace("model: deepseek-v3", "model: some-future-model"))
    assert validate_file(path) == []


@pytest.mark.parametrize("change, problem", [
    (("precision: int8-weight-only", "precision: int3"), "field 'precision': unknown precision 'int3'"),
    (("part: weights", "part: kv_cache"), "field 'part': 'int8-weight-only' is not a precision marked kv_cache"),
    (("loss_pct: 0.9", "loss_pct: -1"), "field 'loss_pct'"),
    (("    source: our evaluation run 2026-11-30\n", ""), "field 'source': Field required"),
])
def test_bad_figures_are_catalog_errors(tmp_path, change, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(FIGURE.replace(*change))
    problems = validate_file(path)
    assert len(problems) == 1 and problem in problems[0] and "quality 'deepseek-v3-int8-wo-inhouse'" in problems[0]


def test_bad_figure_in_an_overlay_is_a_one_line_cli_error(cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(FIGURE.replace("precision: int8-weight-only", "precision: int3"))
    result = cli("fit", "13B", "--catalog", str(path))
    assert result.exit_code == EXIT_CATALOG and "Traceback" not in result.stderr
    assert "quality 'deepseek-v3-int8-wo-inhouse': field 'precision': unknown precision 'int3'" in result.stderr


# --- the data --------------------------------------------------------------------------


_WORKED = re.compile(r"\(([\d.]+) - ([\d.]+)\) / ([\d.]+)$")


def test_every_worked_percentage_matches_its_loss(catalog):
    """Where a figure's metric shows its arithmetic, '(a - b) / c', the stored
    loss is that relative difference in percent, rounded to 0.01 (tolerance
    0.006 for the rounding)."""
    checked = 0
    for figure in catalog.quality.values():
        found = _WORKED.search(figure.metric.split(" (")[0].strip()) or _WORKED.search(figure.metric.strip())
        if not found:
            continue
        a, b, base = map(float, found.groups())
        assert abs(abs(a - b) / base * 100 - figure.loss_pct) <= 0.006, figure.id
        checked += 1
    assert checked >= 30


def test_every_figure_names_a_source_a_date_and_a_known_format(catalog):
    assert len(catalog.quality) >= 40
    for figure in catalog.quality.values():
        assert figure.precision in catalog.precisions and figure.source and figure.as_of
    covered = {f.precision for f in catalog.quality.values()}
    assert {"fp8", "int8", "int8-weight-only", "int4", "nvfp4", "mxfp4", "q8_0", "q4_0", "q4_k_m", "q5_k_m"} <= covered


def test_a_figure_measured_against_a_16_bit_release_does_not_apply_to_an_fp8_release(tmp_path):
    """The same family and size, but measured against BF16 weights: it says
    nothing about re-quantising DeepSeek-V3's FP8 release."""
    path = tmp_path / "bf16-baseline.yaml"
    path.write_text(FIGURE.replace("baseline_precision: fp8", "baseline_precision: bf16")
                    .replace("model: deepseek-v3", "model: some-bf16-deepseek"))
    mine = load_catalog([path])
    figure = quality_loss(mine, mine.model("deepseek-v3"), mine.precision("int8-weight-only"), "weights")
    assert figure.rule is Rule.UNKNOWN
    other = tmp_path / "fp8-baseline.yaml"
    other.write_text(FIGURE.replace("model: deepseek-v3", "model: some-fp8-deepseek"))
    mine = load_catalog([other])
    figure = quality_loss(mine, mine.model("deepseek-v3"), mine.precision("int8-weight-only"), "weights")
    assert figure.rule is Rule.NEAREST and figure.loss_pct == 0.9
