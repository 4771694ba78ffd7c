"""fit on a 671B mixture of experts (DeepSeek-V3, 37B active): one 8-GPU node
in TP8 at a moderate load, attention DP x EP once the load makes the MLA
cache the cost. Both answers are the README's ("Large mixtures of experts"),
and each is re-checked with predict's own simulation."""

from __future__ import annotations

import json
import re

from conftest import ROOT

QUESTION = ["deepseek-v3", "--latency", "50ms", "--segment", "datacenter", "--format", "json"]
README = re.sub(r"\s+", " ", (ROOT / "README.md").read_text(encoding="utf-8"))


def _fit(cli, throughput: str, *more: str) -> dict:
    result = cli("fit", *QUESTION, "--throughput", throughput, *more)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _quoted_p99_tpot(plan: dict) -> str:
    """How the README's comment line states the plan's simulated p99 TPOT."""
    (tpot,) = [row for row in plan["headroom"] if row["target"] == "p99 TPOT"]
    return f"p99 TPOT {tpot['predicted']:.1f} ms"


def _only_line(plan: dict) -> dict:
    assert len(plan["lines"]) == 1, plan["lines"]
    return plan["lines"][0]


def _p99_tpot_ms(cli, line: dict, target_tokens_per_s: float) -> float:
    """predict --load on one replica of the plan line's shape, at its share of
    the question's request rate."""
    rate = target_tokens_per_s / line["output"] / line["replicas"]
    layout = ["--tp", str(line["tp"])] + (["--dp", str(line["dp"]), "--ep", str(line["ep"])] if line["dp"] > 1 else [])
    result = cli("predict", "deepseek-v3", "--gpu", line["gpu"], "--precision", line["precision"], *layout,
                 "--load", f"rate:{rate:.4f}/s", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["serving"]["tpot_ms"]["p99"]


def test_a_moderate_load_fits_one_node_in_tensor_parallel(cli):
    plan = _fit(cli, "2000 tok/s")
    line = _only_line(plan)
    assert (line["gpus"], line["tp"], line["dp"], line["ep"], line["replicas"]) == (8, 8, 1, 1, 1)
    assert line["offer"]["gpus_per_unit"] == 8  # one node
    cost = plan["objective"]["value_usd"]
    assert f"TP 8, {line['precision']} weights" in README and f"${cost:,.2f}/h" in README
    assert f"${cost:,.2f}/h; {_quoted_p99_tpot(plan)}" in README
    assert f"At 2,000 tok/s about {line['batch']} requests are in flight" in README
    assert _p99_tpot_ms(cli, line, 2000) <= 50


def test_a_high_load_chooses_attention_data_parallel_with_expert_parallel(cli):
    """848 requests in flight: TP8 would keep the whole MLA cache on every
    GPU; DP8 x EP8 keeps an eighth per rank and wins."""
    plan = _fit(cli, "20000 tok/s")
    line = _only_line(plan)
    assert line["tp"] == 1 and line["dp"] == line["ep"] == line["gpus"] == 8
    assert line["moe_tp"] == 1  # whole experts per GPU
    cost = plan["objective"]["value_usd"]
    assert f"TP 1 DP 8 EP 8, {line['precision']} weights" in README and f"${cost:,.2f}/h" in README
    assert f"${cost:,.2f}/h; {_quoted_p99_tpot(plan)}" in README
    assert f"At 20,000 tok/s, {line['batch']} in flight" in README
    p99 = _p99_tpot_ms(cli, line, 20000)
    assert p99 <= 50
    assert f"--load rate:78.125/s` re-checks it (p99 TPOT {p99:.1f} ms)" in README


def test_the_fp8_answer_at_a_moderate_load_is_a_gb200_slice(cli):
    """The README's aside: held to FP8 (671 GB), 2,000 tok/s fits one 4-GPU GB200 slice."""
    plan = _fit(cli, "2000 tok/s", "--precision", "fp8")
    line = _only_line(plan)
    assert (line["gpu"], line["gpus"], line["offer"]["gpus_per_unit"]) == ("gb200", 4, 4)
    assert f"with `--precision fp8` it is a 4-GPU GB200 slice at ${plan['objective']['value_usd']:,.2f}/h" in README


def test_hopper_at_fp8_and_a_high_load_chooses_wide_ep_over_nodes(cli):
    """FP8 weights (671 GB) on H100/H200 at 20,000 tok/s: attention DP ranks
    of a whole node each (TP8 inside the node), experts split over four
    nodes; cheaper than whole-node TP8 replicas, which the plan beat by
    mixing single H100s in pipeline (the answer before mixed layouts)."""
    plan = _fit(cli, "20000 tok/s", "--gpu", "h100-sxm,h200-sxm", "--precision", "fp8")
    line = _only_line(plan)
    assert line["tp"] > 1 and line["dp"] > 1 and line["ep"] == line["tp"] * line["dp"]
    assert line["tp"] * line["dp"] > line["offer"]["gpus_per_unit"]  # the stage spans nodes
    cost = plan["objective"]["value_usd"]
    shape = f"TP {line['tp']} DP {line['dp']} EP {line['ep']}, fp8 weights"
    assert shape in README and f"${cost:,.2f}/h" in README
    (h200,) = [a for a in plan["alternatives"] if a["gpu"] == "h200-sxm"]
    assert "tp8 pp1" in h200["shape"] and h200["objective_usd"] > cost
    assert f"whole-node TP8 replicas, comes to ${h200['objective_usd']:,.2f}/h" in README
    assert _p99_tpot_ms(cli, line, 20000) <= 50


def test_the_readme_comparison_of_the_two_layouts_holds(cli):
    """The README's reason: at batch 848 on eight B200s, DP8 x EP8 steps
    faster and holds less per GPU than TP8."""
    figures = {}
    for name, layout in (("tp", ["--tp", "8"]), ("dp", ["--dp", "8", "--ep", "8"])):
        result = cli("predict", "deepseek-v3", "--gpu", "b200", "--precision", "nvfp4", *layout, "--batch", "848",
                     "--format", "json")
        assert result.exit_code == 0, result.stderr
        figures[name] = json.loads(result.stdout)
    tp, dp = figures["tp"], figures["dp"]
    assert dp["tpot_ms"] < tp["tpot_ms"] and dp["memory_gb"]["per_gpu"] < tp["memory_gb"]["per_gpu"]
    assert f"TPOT {dp['tpot_ms']:.1f} ms against {tp['tpot_ms']:.1f} ms for TP8" in README
    assert f"{dp['memory_gb']['per_gpu']:.0f} GB per GPU against {tp['memory_gb']['per_gpu']:.0f} GB" in README
