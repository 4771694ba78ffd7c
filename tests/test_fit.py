"""`planner fit`: the answer meets its targets and limits, and says why when nothing can."""

from __future__ import annotations

import json

import pytest

from planner.core.errors import EXIT_BAD_INPUT, EXIT_NO_PLAN


def _fit(cli, *args):
    result = cli("fit", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_13b_at_100ms_is_checked_by_predict(cli):
    """The headline question: each plan line, simulated again by `predict
    --load` at the rate the plan gives one replica (the same requests and
    seed), meets p99 TPOT 100 ms, fits, and gives the plan's own figures."""
    plan = _fit(cli, "13B", "--latency", "100ms")
    assert plan["status"] == "optimal"
    assert plan["approximate"] is True
    assert plan["targets"]["statistics"]["latency"] == "p99"
    for line in plan["lines"]:
        load = line["load"]
        assert load["tpot_ms"]["p99"] <= 100 and line["fits"] and load["meets"]
        again = cli("predict", "13B", "--gpu", line["gpu"], "--precision", line["precision"], "--kv-precision",
                    line["kv_precision"], "--tp", str(line["tp"]), "--pp", str(line["pp"]),
                    "--load", f"rate:{load['requests_per_s_per_replica']}", "--requests",
                    str(load["simulated_requests"]), "--input", "512", "--output", "256", "--format", "json")
        assert again.exit_code == 0, again.stderr
        check = json.loads(again.stdout)
        assert check["fits"] is True and check["serving"]["steady"]
        assert check["serving"]["tpot_ms"]["p99"] <= 100
        # the same schedule, requests and seed: the same mean TPOT within the
        # two summary windows' difference (predict's ends at the last arrival)
        assert check["serving"]["tpot_ms"]["mean"] == pytest.approx(line["tpot_ms"], rel=0.05)


def test_plan_json_contract(cli):
    plan = _fit(cli, "llama-3.1-8b", "--latency", "50ms", "--throughput", "3000 tok/s")
    for key in ("status", "objective", "total", "lines", "headroom", "alternatives", "assumptions"):
        assert key in plan
    for key in ("gpus", "cost_per_hour_usd", "capex_usd", "power_w", "output_tokens_per_s"):
        assert key in plan["total"]
    line = plan["lines"][0]
    for key in ("model", "gpu", "tp", "pp", "precision", "kv_precision", "batch", "ttft_ms", "tpot_ms", "fits",
                "memory_gb", "replicas", "cost_per_hour_usd"):
        assert key in line
    assert plan["total"]["output_tokens_per_s"] >= 3000
    assert sum(line["cost_per_hour_usd"] for line in plan["lines"]) == pytest.approx(plan["total"]["cost_per_hour_usd"])


def test_mixing_when_the_cheapest_type_runs_out(cli):
    """Demand beyond what the cheaper type's inventory serves (per token/s, H100 SXM
    at FP8 beats L40S here): the plan mixes types within every limit."""
    inventory = {"l40s": 32, "h100-sxm": 4}
    plan = _fit(cli, "llama-3.1-8b", "--throughput", "60000 tok/s", "--latency", "60ms", "--gpu", "l40s,h100-sxm",
                "--available", ",".join(f"{k}={v}" for k, v in inventory.items()))
    used: dict[str, int] = {}
    for line in plan["lines"]:
        used[line["gpu"]] = used.get(line["gpu"], 0) + line["gpus"]
    assert set(used) == {"l40s", "h100-sxm"}
    for gpu, count in used.items():
        assert count <= inventory[gpu]
    assert plan["total"]["output_tokens_per_s"] >= 60000
    for line in plan["lines"]:
        assert line["tpot_ms"] <= 60


def test_limits_are_respected(cli):
    plan = _fit(cli, "llama-3.1-70b", "--throughput", "10000 tok/s", "--latency", "80ms", "--budget", "$200/h",
                "--max-power", "40kW", "--max-gpus", "40")
    total = plan["total"]
    assert total["cost_per_hour_usd"] <= 200 and total["power_w"] <= 40000 and total["gpus"] <= 40


def test_encoder_latency_is_one_forward_pass(cli):
    plan = _fit(cli, "bert-base", "--latency", "1ms", "--input", "128", "--engine", "tensorrt")
    line = plan["lines"][0]
    assert line["e2e_ms"] <= 1.0 and line["tpot_ms"] is None
    assert any("forward pass" in note for note in plan["assumptions"])


def test_quality_limit(cli):
    plan = _fit(cli, "llama-3.1-8b", "--latency", "30ms", "--max-quality-loss", "0")
    for line in plan["lines"]:
        assert line["quality_loss_pct"] == 0


def test_objectives_price_differently(cli):
    capex = _fit(cli, "llama-3.1-8b", "--latency", "30ms", "--objective", "capex")
    tco = _fit(cli, "llama-3.1-8b", "--latency", "30ms", "--objective", "tco", "--gpu", capex["lines"][0]["gpu"])
    assert capex["objective"]["kind"] == "capex" and tco["objective"]["kind"] == "tco"
    assert tco["objective"]["value_usd"] > capex["objective"]["value_usd"]


def test_explain_names_the_first_broken_constraint(cli):
    result = cli("fit", "llama-3.1-70b", "--latency", "25ms", "--gpu", "a10g,h100-sxm", "--precision", "bf16,fp8",
                 "--explain", "--format", "json")
    data = json.loads(result.stdout)
    reasons = {item["what"]: item["why"] for item in data["ruled_out"]}
    assert "TPOT" in reasons["a10g bf16"] and "> 25 ms even at batch 1" in reasons["a10g bf16"]
    assert "TPOT" in reasons["a10g fp8"]  # A10G runs FP8 checkpoints weight-only (W8A16), still too slow
    table = cli("fit", "llama-3.1-70b", "--latency", "25ms", "--gpu", "a10g,h100-sxm", "--precision", "bf16", "--explain")
    assert "Ruled out" in table.stdout and "a10g bf16" in table.stdout


def test_no_plan_names_the_binding_target_and_relaxation(cli):
    result = cli("fit", "llama-3.1-70b", "--latency", "2ms")
    assert result.exit_code == EXIT_NO_PLAN
    assert "no plan meets TPOT 2 ms: the fastest" in result.stderr
    assert "relax --latency to" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_plan_in_json_is_an_infeasible_object(cli):
    result = cli("fit", "llama-3.1-70b", "--latency", "2ms", "--format", "json")
    assert result.exit_code == EXIT_NO_PLAN
    data = json.loads(result.stdout)
    assert data["status"] == "infeasible" and "relax --latency" in data["reason"]


def test_no_plan_for_inventory_says_how_much_more(cli):
    result = cli("fit", "llama-3.1-8b", "--throughput", "1000000 tok/s", "--available", "h100-sxm=8", "--gpu", "h100-sxm")
    assert result.exit_code == EXIT_NO_PLAN
    assert "relax --available to h100-sxm=" in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (("13B", "--latency", "100"), "has no unit"),
    (("13B", "--latency", "100ms", "--gpu", "h1000"), "unknown GPU 'h1000'"),
    (("13B", "--available", "h100-sxm:8"), "neither GPU=COUNT pairs nor a readable file"),
    (("13B", "--available", "h100-sxm=lots"), "inventory count"),
    (("13B", "--throughput", "5 bananas/s"), "unknown unit"),
    (("13B", "--objective", "cheapest"), "unknown objective"),
    (("13B", "--max-quality-loss", "lots"), "not a percentage"),
    (("bert-base", "--throughput", "100 tok/s"), "samples/s"),
    (("13Q",), "unknown suffix"),
])
def test_bad_input_exits_2_in_one_line(cli, args, fragment):
    result = cli("fit", *args)
    assert result.exit_code == EXIT_BAD_INPUT, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_inventory_file(cli, tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text("inventory:\n  h100-sxm: 4\n")
    plan = _fit(cli, "llama-3.1-8b", "--throughput", "5000 tok/s", "--available", str(path), "--gpu", "h100-sxm")
    assert sum(line["gpus"] for line in plan["lines"]) <= 4


def test_table_leads_with_the_answer(cli):
    result = cli("fit", "13B", "--latency", "100ms")
    assert result.stdout.startswith("Cheapest plan for 13B:")
    assert "Meets p99 TPOT" in result.stdout and "headroom" in result.stdout
    assert "APPROXIMATE" in result.stdout


def test_hostile_catalog_overlay_is_a_catalog_error(cli, tmp_path):
    overlay = tmp_path / "hostile.yaml"
    overlay.write_text("gpus:\n  - id: h100-sxm\n    memory_bandwidth_gbs: 1e300\n    tensor_tflops: {bf16: 1e-300}\n"
                       "instances:\n  - id: aws-p5.48xlarge\n    prices:\n      - {pricing: on-demand, region: x, "
                       "usd_per_hour: 1e300, as_of: '2026', source: x}\n")
    result = cli("fit", "13B", "--latency", "100ms", "--gpu", "h100-sxm", "--catalog", str(overlay))
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
    assert "memory_bandwidth_gbs" in result.stderr and "usd_per_hour" in result.stderr


def test_absurd_limits_are_input_errors(cli):
    result = cli("fit", "13B", "--latency", "100ms", "--max-gpus", str(10**19))
    assert result.exit_code == 2 and "--max-gpus" in result.stderr and "Traceback" not in result.stderr


def test_segment_limits_gpu_types(cli, catalog):
    plan = _fit(cli, "13B", "--latency", "100ms", "--segment", "datacenter")
    for line in plan["lines"]:
        assert catalog.gpu(line["gpu"]).segment == "datacenter"
    for alt in plan["alternatives"]:
        assert catalog.gpu(alt["gpu"]).segment == "datacenter"
    bad = cli("fit", "13B", "--segment", "cloud")
    assert bad.exit_code == 2 and "unknown segment 'cloud'" in bad.stderr


def test_max_batch_overrides_the_engine_cap(cli):
    capped = _fit(cli, "llama-3.1-8b", "--latency", "100ms", "--gpu", "h100-sxm", "--max-batch", "16")
    assert all(line["batch_per_replica"] <= 16 for line in capped["lines"])
    assert cli("fit", "13B", "--max-batch", "0").exit_code == 2


def test_python_api_predict_is_the_function(catalog):
    import planner
    import planner.model.predict  # noqa: F401 - importing the module must not shadow the function

    assert callable(planner.predict)
    assert planner.predict(catalog, "llama-2-7b", "a100-sxm-80gb", precision="fp16").fits


def test_python_api_answers_like_the_cli(catalog):
    import planner

    plan = planner.fit(catalog, planner.Question("13B", planner.Targets(latency_s=0.1)))
    assert plan.status == "optimal" and plan.lines
    assert all(line.candidate.prediction.tpot_s <= 0.1 for line in plan.lines)


def test_with_nothing_left_the_decisive_reasons_come_first(cli):
    # the only GPU allowed has no instance to rent: that, not the formats, is why
    result = cli("fit", "llama-3.1-8b", "--gpu", "apple-m4-max", "--engine", "llama.cpp", "--latency", "100ms")
    assert result.exit_code == 4
    assert "no allowed GPU is left to consider (apple-m4-max: no instance of it in the price book" in result.stderr
    # what cannot run on an allowed GPU (the support matrix) is named before
    # formats ruled out everywhere (q4_0: vLLM does not serve it, found
    # before any GPU is looked at), however many of those there are
    result = cli("fit", "llama-3.1-70b", "--gpu", "v100-sxm-16gb", "--owned", "v100-sxm-16gb=8",
                 "--precision", "q4_0,fp8,bf16,nvfp4,int8", "--max-quality-loss", "10", "--latency", "100ms")
    assert result.exit_code == 4
    reasons = result.stderr.split("(", 1)[1]
    assert reasons.startswith("v100-sxm-16gb ")
