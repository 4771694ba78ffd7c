"""Calibration on a user's own benchmark results: the shortcuts the fit runs
on, the fit itself (it must recover factors it did not see), the readers of
the four formats, and `planner calibrate` end to end (overlay written
atomically, usable with --catalog)."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from conftest import ROOT
from planner.core.errors import InputError
from planner.model import calibrate, closed_loop, perf
from planner.model.calibrate import Observation
from planner.model.lengths import Samples
from planner.model.measurements import Given, observation, read_runs
from planner.model.workload import Deployment

FIXTURES = ROOT / "tests" / "fixtures" / "calibrate"


def _obs(catalog, engine="vllm", model="llama-3.1-8b", gpu="h100-sxm", tp=1, n=8, i=1024, o=256, burst=False,
         ttft=None, tpot=None, precision="bf16") -> Observation:
    dep = Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision(precision), kv_precision=catalog.precision("bf16"),
                     engine=catalog.engine(engine), tp=tp, batch=1)
    return Observation(f"{engine}-{n}-{i}-{o}", catalog.models[model], dep, i, o, n, ttft, tpot, burst)


# --- the shortcuts -------------------------------------------------------------------


@pytest.mark.parametrize("n,i,o", [(1, 512, 128), (8, 1024, 256), (32, 2048, 512)])
def test_cached_closed_loop_equals_the_closed_loop_module(catalog, n, i, o):
    """The fit's closed-loop shortcut recombines cached step terms; it must be
    closed_loop.closed_loop exactly (up to rounding), at factors unlike the catalog's."""
    obs = _obs(catalog, n=n, i=i, o=o, precision="fp8")
    factors = obs.deployment.engine.factors_for(obs.deployment.gpu).model_copy(
        update={"bandwidth": 0.61, "compute": 0.37, "compute_8bit": 0.52, "allreduce_us": 22.0, "overlap": 2.5})
    fast = calibrate.proxy(obs, factors, "closed-loop")
    exact = closed_loop.closed_loop(obs.model, obs.deployment, n, Samples(((i, o),)), factors=factors)
    assert fast.ttft_s == pytest.approx(exact.ttft_s, rel=1e-9)
    assert fast.tpot_s == pytest.approx(exact.tpot_s, rel=1e-9)


def test_cached_step_time_equals_perf_step_with_tensor_parallelism(catalog):
    obs = _obs(catalog, model="llama-3.1-70b", tp=4, precision="fp8")
    factors = obs.deployment.engine.factors_for(obs.deployment.gpu).model_copy(
        update={"bandwidth": 0.7, "compute": 0.45, "compute_8bit": 0.33, "allreduce_us": 12.0, "overlap": 1.7,
                "decode_overhead_ms": 1.1, "prefill_overhead_ms": 4.0})
    for kwargs in ({"decodes": 16, "decode_context": 16 * 1500},
                   {"decodes": 15, "decode_context": 15 * 1500, "prefill_tokens": 1024, "prefill_sequences": 1,
                    "prefill_pairs": 1024 * 1025 // 2}):
        expected = perf.step(obs.model, obs.deployment, factors, **kwargs).total_s
        assert calibrate._step_s(obs, factors, **kwargs) == pytest.approx(expected, rel=1e-9)


def test_routes_follow_the_scheduler_and_the_cache(catalog):
    assert calibrate.route_of(_obs(catalog, engine="vllm", n=8)) == "closed-loop"
    assert calibrate.route_of(_obs(catalog, engine="sglang", n=8)) == "prefill-first"
    assert calibrate.route_of(_obs(catalog, engine="vllm", n=8, burst=True)) == "burst"
    # 70B in FP8 on one H200 leaves room for a few dozen long requests only
    assert calibrate.route_of(_obs(catalog, model="llama-3.1-70b", gpu="h200-sxm", n=256, i=8192, o=1024,
                                   precision="fp8")) == "queued"


# --- the fit -------------------------------------------------------------------------


def test_fit_recovers_factors_it_did_not_see(catalog):
    """Runs simulated with known factors (bandwidth 0.62, compute 0.41,
    fixed costs 2.5 ms / 9 ms) are fitted from the catalog's factors. The
    fitted factors must reproduce them: TPOT within 3% each, TTFT within 5%
    at the median and 25% at worst, three times better than the catalog's.
    (The factors themselves need not come back: at these batch sizes the
    bandwidth share and the fixed cost per step trade against each other.)"""
    truth = catalog.engine("vllm").factors_for(catalog.gpu("h100-sxm")).model_copy(
        update={"bandwidth": 0.62, "compute": 0.41, "decode_overhead_ms": 2.5, "prefill_overhead_ms": 9.0})
    runs = []
    for n, i, o in ((1, 512, 64), (4, 1024, 64), (16, 2048, 64), (8, 512, 128)):
        p = calibrate.simulate(_obs(catalog, n=n, i=i, o=o), truth)
        runs.append(_obs(catalog, n=n, i=i, o=o, ttft=p.ttft_s, tpot=p.tpot_s))
    base = catalog.engine("vllm").factors_for(catalog.gpu("h100-sxm"))
    before = calibrate.errors([(r, calibrate.safe_predict(r, base)) for r in runs])
    fit = calibrate.fit(runs, base, free=("bandwidth", "compute", "decode_overhead_ms", "prefill_overhead_ms"))
    fitted = calibrate.with_params(base, fit.params)
    after = calibrate.errors([(r, calibrate.safe_predict(r, fitted)) for r in runs])
    assert max(abs(e) for e in after["tpot"].errors) < 0.03
    assert after["ttft"].median_abs_pct < 5 and max(abs(e) for e in after["ttft"].errors) < 0.25
    assert after["ttft"].median_abs_pct < before["ttft"].median_abs_pct / 3


def test_fit_refuses_no_runs(catalog):
    base = catalog.engine("vllm").factors_for(catalog.gpu("h100-sxm"))
    with pytest.raises(InputError, match="no measurements"):
        calibrate.fit([], base)


# --- the readers ---------------------------------------------------------------------


def test_reads_vllm_bench_serve_results():
    (run,) = read_runs(FIXTURES / "vllm-c8.json")
    assert run.format == "vllm bench serve"
    assert (run.ttft_ms, run.tpot_ms, run.concurrency, run.input_len, run.output_len) == (61.0, 8.1, 8, 1024, 512)
    assert run.model == "meta-llama/Llama-3.1-8B-Instruct" and not run.burst


def test_reads_genai_perf_exports():
    (run,) = read_runs(FIXTURES / "genai-perf.json")
    assert (run.ttft_ms, run.tpot_ms, run.concurrency, run.input_len, run.output_len) == (95.0, 9.9, 16, 1024, 512)


def test_reads_llama_bench_json():
    pp, tg = read_runs(FIXTURES / "llama-bench.json")
    assert pp.ttft_ms == pytest.approx(512 / 8982.4 * 1e3) and pp.tpot_ms is None and pp.burst and pp.concurrency == 1
    assert tg.tpot_ms == pytest.approx(1e3 / 91.4) and tg.ttft_ms is None and tg.engine == "llama.cpp"


def test_reads_latency_rows_of_the_validation_csv(catalog):
    runs = read_runs(FIXTURES / "measured.csv")
    assert [(r.ttft_ms, r.tpot_ms, r.concurrency) for r in runs] == [(62.0, None, 1), (None, 7.1, 1), (None, 9.0, 16)]
    obs = observation(catalog, runs[2], Given())
    assert obs.deployment.gpu.id == "h100-sxm" and obs.model.id == "llama-3.1-8b" and obs.burst


def test_flags_fill_what_the_file_lacks_and_name_the_flag_when_missing(catalog):
    (run,) = read_runs(FIXTURES / "vllm-c8.json")
    with pytest.raises(InputError, match="does not say the GPU") as err:
        observation(catalog, run, Given(engine="vllm"))
    assert err.value.hint == "give --gpu"
    obs = observation(catalog, run, Given(engine="vllm", gpu="h100-sxm"))
    assert obs.model.id == "llama-3.1-8b" and obs.concurrency == 8 and obs.tpot_s == pytest.approx(0.0081)


def test_an_open_loop_vllm_run_is_refused(tmp_path):
    data = json.loads((FIXTURES / "vllm-c8.json").read_text())
    data.update({"max_concurrency": None, "request_rate": 4.0})
    path = tmp_path / "open.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="open-loop run"):
        read_runs(path)


@pytest.mark.parametrize("name,words", [("not-a-benchmark.json", "JSON in no format"), ("README.md", "not a benchmark result")])
def test_an_unknown_format_is_one_line_naming_the_file(cli, name, words):
    result = cli("calibrate", str(FIXTURES / name), "--engine", "vllm", "--gpu", "h100-sxm")
    assert result.exit_code == 2
    assert words in result.stderr and name in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "Traceback" not in result.stderr


# --- the command ---------------------------------------------------------------------


def test_calibrate_writes_an_overlay_that_predict_and_load_use(cli, tmp_path, catalog):
    out = tmp_path / "mine.yaml"
    result = cli("calibrate", str(FIXTURES / "vllm-c8.json"), str(FIXTURES / "vllm-c32.json"),
                 "--engine", "vllm", "--gpu", "h100-sxm", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "planner: wrote" in result.stderr
    data = yaml.safe_load(out.read_text())
    (entry,) = data["engines"]
    assert entry["id"] == "vllm" and "vllm-c8.json (1 run)" in entry["fitted_on"] and "before" in entry["fitted_on"]
    fitted = entry["factors"]["hopper"]
    assert fitted and all(0 <= v for v in fitted.values())

    from planner.catalog.load import load_catalog

    overlaid = load_catalog([out]).engine("vllm")
    factors = overlaid.factors_for(catalog.gpu("h100-sxm"))
    for name, value in fitted.items():
        assert getattr(factors, name) == pytest.approx(value)
    # other engines and other GPU families keep the catalog's factors
    assert load_catalog([out]).engine("trtllm").factors == catalog.engine("trtllm").factors
    assert overlaid.factors_for(catalog.gpu("a100-sxm-80gb")) == catalog.engine("vllm").factors_for(catalog.gpu("a100-sxm-80gb"))
    predicted = cli("predict", "llama-3.1-8b", "--gpu", "h100-sxm", "--engine", "vllm", "--catalog", str(out))
    assert predicted.exit_code == 0, predicted.stderr


def test_an_overlay_setting_an_engines_factors_changes_the_model(tmp_path, catalog):
    """Overlays merge engine factors group by group (planner/catalog/load.py)."""
    from planner.catalog.load import load_catalog

    path = tmp_path / "fast.yaml"
    path.write_text("engines:\n  - id: vllm\n    fitted_on: \"test\"\n    factors:\n      hopper: {bandwidth: 0.95}\n")
    overlaid = load_catalog([path])
    gpu = catalog.gpu("h100-sxm")
    assert overlaid.engine("vllm").factors_for(gpu).bandwidth == 0.95
    assert overlaid.engine("vllm").factors_for(gpu).compute == catalog.engine("vllm").factors_for(gpu).compute
    obs = _obs(overlaid, n=1, i=128, o=64)
    slow = calibrate.proxy(obs, catalog.engine("vllm").factors_for(gpu))
    fast = calibrate.proxy(obs, overlaid.engine("vllm").factors_for(gpu))
    assert catalog.engine("vllm").factors_for(gpu).bandwidth < 0.95 and fast.tpot_s < slow.tpot_s


def test_runs_of_two_engines_are_refused(cli):
    result = cli("calibrate", str(FIXTURES / "llama-bench.json"), str(FIXTURES / "measured.csv"),
                 "--gpu", "h100-sxm", "--model", "llama-3.1-8b")
    assert result.exit_code == 2 and "2 engines" in result.stderr


def test_a_failed_calibration_leaves_no_file(cli, tmp_path):
    out = tmp_path / "never.yaml"
    result = cli("calibrate", str(FIXTURES / "not-a-benchmark.json"), "--engine", "vllm", "--gpu", "h100-sxm", "-o", str(out))
    assert result.exit_code == 2 and not out.exists()


def test_errors_are_signed_relative_and_skip_refused_predictions(catalog):
    obs = _obs(catalog, ttft=0.1, tpot=0.01)
    e = calibrate.errors([(obs, calibrate.Predicted(0.12, 0.009)), (obs, calibrate.Predicted(math.nan, math.nan))])
    assert e["ttft"].errors == pytest.approx((0.2,)) and e["tpot"].errors == pytest.approx((-0.1,))


def test_serving_error_band_matches_the_readme():
    """error_band's serving entries are the README's pooled serving row."""
    import re

    from planner.model.error_band import MEASURED_ERROR

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = re.search(r"^\| all \| (\d+) \| ([\d.]+)% \| ([\d.]+)% \|", readme, flags=re.MULTILINE)
    assert row, "the README's serving table has an 'all' row"
    ttft, tpot = MEASURED_ERROR["serving_ttft"], MEASURED_ERROR["serving_tpot"]
    assert (ttft.rows, ttft.leave_one_out_pct) == (int(row[1]), float(row[2]))
    assert (tpot.rows, tpot.leave_one_out_pct) == (int(row[1]), float(row[3]))


def test_the_serving_refit_overlay_loads_and_decides_every_group(catalog):
    """benchmarks/engines-fitted-serving.yaml (fit_efficiency.py --serving)
    is a valid overlay, and no built-in factor group shadows it: on an A10
    (ampere family, GDDR memory) TensorRT-LLM's bandwidth is the overlay's
    GDDR share and its compute the overlay's Ampere share."""
    from planner.catalog.load import load_catalog

    path = ROOT / "benchmarks" / "engines-fitted-serving.yaml"
    overlay = yaml.safe_load(path.read_text())
    groups = {e["id"]: e["factors"] for e in overlay["engines"]}
    assert set(groups) == {"vllm", "sglang", "trtllm"}
    refit = load_catalog([path])
    for engine, factors in groups.items():
        for key in catalog.engine(engine).factors:
            assert key in factors, (engine, key)
    a10 = refit.engine("trtllm").factors_for(refit.gpu("a10"))
    assert a10.bandwidth == groups["trtllm"]["gddr"]["bandwidth"]
    assert a10.compute == groups["trtllm"]["ampere"]["compute"]
    h100 = refit.engine("vllm").factors_for(refit.gpu("h100-sxm"))
    assert h100.decode_overhead_ms == groups["vllm"]["default"]["decode_overhead_ms"]
    assert h100.compute == groups["vllm"]["hopper"]["compute"]
