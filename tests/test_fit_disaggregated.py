"""Disaggregated prefill/decode pools in `fit`: the solver couples the two
roles, the roles are scored and checked as the module notes say, and fit
chooses pools where prompts crowd a tight TPOT and not where they do not."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import ROOT

from planner.model.capacity import run_open
from planner.model.lengths import fixed
from planner.model.serving import scheduler_for
from planner.model.slo import Metric, Slo, Statistic
from planner.model.workload import Deployment, ModelSpec, Shape
from planner.plan import disaggregation
from planner.plan.candidates import DECODE, PREFILL, ScoredShape
from planner.plan.question import Targets
from planner.plan.solver import INFEASIBLE, OPTIMAL, Limits, Plan, PlanLine, ReplicaOption, check_plan, solve
from planner.core.units import parse_rate


def option(key, throughput, cost, role="", link="fp8/fp8, site, net"):
    return ReplicaOption(key, "h100", 1, throughput, cost, cost, 0.0, 0.0, 0.0, role=role,
                         link=link if role else "")


# --- the solver's coupling of the two roles --------------------------------------


def test_pools_serve_the_fewer_of_their_two_roles():
    """Prefill workers take 10 req/s each, decode workers 5, a whole replica
    4 at twice the price: 20 req/s is cheapest as 2 prefill + 4 decode
    workers (cost 6) against 5 whole replicas (cost 10)."""
    options = [option("p", 10, 1, PREFILL), option("d", 5, 1, DECODE), option("w", 4, 2)]
    plan = solve(options, Limits(demand=20))
    assert plan.status == OPTIMAL
    assert {line.option.key: line.units for line in plan.lines if line.units} == {"p": 2, "d": 4}
    assert plan.throughput == pytest.approx(20)
    assert check_plan(plan, Limits(demand=20)) == []


def test_one_role_alone_serves_nothing():
    """Prefill workers with no decode worker (or the reverse) serve no
    request: check_plan rejects such a plan, and the solver, given only one
    role beside a whole replica, buys whole replicas."""
    options = [option("p", 10, 1, PREFILL), option("d", 5, 1, DECODE)]
    only_prefill = Plan(OPTIMAL, (PlanLine(options[0], 4),), 4.0)
    assert only_prefill.throughput == 0
    assert any("below the demand" in problem for problem in check_plan(only_prefill, Limits(demand=20)))
    plan = solve([option("p", 10, 1, PREFILL), option("w", 4, 2)], Limits(demand=20))
    assert {line.option.key: line.units for line in plan.lines if line.units} == {"w": 5}


def test_pools_pair_only_over_one_link():
    """A prefill worker and a decode worker that do not share a link (KV
    format, site, network) never serve together."""
    options = [option("p", 10, 1, PREFILL, link="a"), option("d", 5, 1, DECODE, link="b")]
    assert solve(options, Limits(demand=20)).status == INFEASIBLE


def test_pools_refuse_spares_and_zones():
    options = [option("p", 10, 1, PREFILL), option("d", 5, 1, DECODE), option("w", 4, 2)]
    with pytest.raises(ValueError, match="whole replicas"):
        solve(options, Limits(demand=20, spares=1))


# --- scoring the roles ---------------------------------------------------------------


def _scored(catalog, model="llama-3.1-8b", gpu="h100-sxm", tp=1):
    spec = ModelSpec(catalog.model(model), approximate=False, label=model)
    fp8 = catalog.precision("fp8")
    g = catalog.gpu(gpu)
    engine = catalog.engine("vllm")
    dep = Deployment(gpu=g, precision=fp8, kv_precision=fp8, engine=engine, tp=tp, pp=1, batch=1)
    c = ScoredShape(g, fp8, fp8, tp, 1, batch=1, prediction=None, memory=None, throughput=1.0, tokens_per_s=1.0,
                    factors=engine.factors_for(g))
    return spec, c, engine, dep


def test_prefill_worker_ttft_includes_the_kv_transfer(catalog):
    """A prefill worker's TTFT at its credited load meets the target and is
    at least one prompt's prefill plus its KV cache's transfer over the
    scale-out network (100 GB/s per H100: AWS p5 EFA, catalog/gpus.yaml)."""
    spec, c, engine, dep = _scored(catalog)
    shape = Shape(8192, 256)
    targets = Targets(latency_s=0.02, ttft_s=2.0, throughput=parse_rate("1000 tok/s"))
    worker = disaggregation.prefill_role(spec, shape, targets, c, engine, None, None)
    assert worker is not None and worker.role == PREFILL
    move = disaggregation.transfer_s(spec, dep, shape.input, 100.0)
    # 8,192 tokens x 32 layers x 8 KV heads x 128 x 2 (K and V) x 1 byte (FP8) = 537 MB over 50 GB/s one way
    assert move == pytest.approx(8192 * 32 * 8 * 128 * 2 / 50e9, rel=0.05)
    assert worker.prediction.ttft_s <= 2.0
    assert worker.prediction.ttft_s >= worker.prediction.prefill.total_s + move
    # a TTFT target between the prefill alone and the prefill plus the
    # transfer: no load meets it, so the shape is not offered as a prefill worker
    between = worker.prediction.prefill.total_s + move / 2
    assert disaggregation.prefill_role(spec, shape, targets.replace(ttft_s=between), c, engine, None, None) is None
    assert disaggregation.prefill_role(spec, shape, targets.replace(ttft_s=between + move), c, engine, None,
                                       None) is not None


def test_no_ttft_target_offers_no_pools(catalog):
    spec, c, engine, _dep = _scored(catalog)
    targets = Targets(latency_s=0.02, throughput=parse_rate("1000 tok/s"))
    why = disaggregation.why_not_offered(spec, Shape(8192, 256), targets, 0, 1)
    assert why is not None and "--ttft" in why
    assert disaggregation.prefill_role(spec, Shape(8192, 256), targets, c, engine, None, None) is None


def test_a_decode_worker_is_simulated_without_its_prompts(catalog):
    """The same replica at the same arrival rate: with each prompt arriving
    cached (a decode worker) its p99 TPOT is lower than with the prompts in
    its steps (a whole replica), and no lower than a decode step can be."""
    spec, _c, engine, dep = _scored(catalog)
    slos = (Slo(Metric.TPOT, 1.0, Statistic.P99),)
    settings = scheduler_for(engine)
    lengths = fixed(8192, 128)
    whole = run_open(spec.model, dep, lengths, 2.0, slos, requests=300, settings=settings)
    worker = run_open(spec.model, dep, lengths, 2.0, slos, requests=300,
                      settings=replace(settings, prompts_cached=True))
    assert worker.summary.tpot.p99 < whole.summary.tpot.p99
    assert worker.summary.tpot.p99 > 0


# --- fit: where pools pay and where they do not --------------------------------------

# A tight TPOT for an 8B model on H100s at 5,000 tok/s, 1 s p99 TTFT (the
# README's example and examples/8b-long-prompts).
QUESTION = ["llama-3.1-8b", "--throughput", "5000 tok/s", "--latency", "15ms", "--ttft", "1s", "--gpu", "h100-sxm",
            "--output", "256", "--format", "json"]


def _fit(cli, *args):
    result = cli("fit", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_long_prompts_and_a_tight_tpot_choose_pools(cli):
    """4,096-token prompts: a whole replica's steps carry prompt chunks, so
    at TPOT 15 ms it holds few sequences; pools win, with the ratio in the
    answer and the reason in the review."""
    plan = _fit(cli, *QUESTION, "--input", "4096")
    verdict = plan["disaggregation"]
    assert verdict["considered"] and verdict["chosen"]
    assert verdict["pools"] and verdict["pools"].endswith("D") and "P" in verdict["pools"]
    assert plan["objective"]["value_usd"] < verdict["other_objective_usd"]
    assert "win" in verdict["reason"] and "4,096-token prompts" in verdict["reason"]
    assert verdict["decode_batch"] > verdict["replica_batch"]
    roles = {line["role"] for line in plan["lines"]}
    assert roles == {PREFILL, DECODE}
    # every target holds: decode workers simulated, prefill workers' bound
    for row in plan["headroom"]:
        assert row["headroom_pct"] >= 0, row
    # the README quotes this answer
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = (f"({verdict['pools']}) win: ${plan['objective']['value_usd']:,.2f}/h against "
              f"${verdict['other_objective_usd']:,.2f}/h")
    assert quoted in readme


def test_short_prompts_keep_whole_replicas(cli):
    """256-token prompts barely load a step: whole replicas are the answer,
    and the review says what the pools would have cost."""
    plan = _fit(cli, *QUESTION, "--input", "256")
    verdict = plan["disaggregation"]
    assert verdict["considered"] and not verdict["chosen"]
    assert {line["role"] for line in plan["lines"]} == {"replica"}
    assert verdict["other_objective_usd"] >= plan["objective"]["value_usd"]
    assert verdict["reason"].startswith("Whole replicas win")


def test_the_bom_counts_what_the_pools_serve():
    """examples/8b-long-prompts/plan.csv (regenerated by examples/regenerate.py,
    kept current by test_reports): a role on every row, prefill rows leave
    output_tokens_per_s blank (their requests are counted where they decode),
    and the totals row is still the column sums."""
    import csv

    rows = list(csv.DictReader((ROOT / "examples" / "8b-long-prompts" / "plan.csv").open(newline="", encoding="utf-8")))
    items, total = rows[:-1], rows[-1]
    assert {row["role"] for row in items} == {PREFILL, DECODE}
    for row in items:
        assert (row["output_tokens_per_s"] == "") == (row["role"] == PREFILL)
        assert (row["ttft_ms"] == "") == (row["role"] == DECODE)
    served = sum(float(row["output_tokens_per_s"]) for row in items if row["output_tokens_per_s"])
    assert float(total["output_tokens_per_s"]) == pytest.approx(served, abs=0.2)
    assert served >= 5000  # the question's throughput target
    assert float(total["extended_usd_per_hour"]) == pytest.approx(sum(float(r["extended_usd_per_hour"]) for r in items))
