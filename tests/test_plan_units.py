"""The plan's building blocks: dominance pruning, single-shape plans,
alternatives, and the explanation of an empty answer (exact texts)."""

from __future__ import annotations

import math
import types
from dataclasses import replace

import pytest

from planner.core.errors import EXIT_NO_PLAN, NoPlanError
from planner.core.units import Money, parse_rate
from planner.model.resolve import resolve_spec
from planner.model.workload import Shape
from planner.plan import fit as fit_module
from planner.plan import solver
from planner.plan.candidates import DeploymentShape, RejectedShape, ScoredShape, enumerate_candidates, evaluate
from planner.plan.fit import PlanQuality, fit, prune_dominated, single_shape_plan
from planner.plan.question import Question, Targets


def _loss(catalog, model="llama-3.1-8b"):
    """The ranking loss fit uses: the model's own quality figures."""
    return PlanQuality(catalog, catalog.model(model)).rank


def _shape(catalog, gpu="h100-sxm", precision="bf16", kv="bf16", tp=1, pp=1, model="llama-3.1-8b", targets=Targets()):
    spec = resolve_spec(catalog, model)
    shape = DeploymentShape(catalog.gpu(gpu), catalog.precision(precision), catalog.precision(kv), tp, pp)
    scored = evaluate(spec, Shape(512, 256), targets, shape, catalog.engine("vllm"))
    assert isinstance(scored, ScoredShape), scored
    return scored


# --- dominance ---------------------------------------------------------------


def test_k_replicas_of_a_smaller_shape_dominate_when_they_serve_as_much(catalog):
    one, two = _shape(catalog, tp=1), _shape(catalog, tp=2)
    assert two.throughput < 2 * one.throughput  # TP 2 scales sublinearly
    assert prune_dominated([two, one], need_throughput=True, loss=_loss(catalog)) == [one]
    # exactly as much is enough (k x B's throughput >= A's)
    assert prune_dominated([replace(two, throughput=2 * one.throughput), one], need_throughput=True, loss=_loss(catalog)) == [one]


def test_a_shape_serving_more_than_k_replicas_survives(catalog):
    one, two = _shape(catalog, tp=1), _shape(catalog, tp=2)
    faster = replace(two, throughput=2 * one.throughput + 1)
    assert {c.key for c in prune_dominated([faster, one], need_throughput=True, loss=_loss(catalog))} == {faster.key, one.key}
    # without a throughput target throughput is moot: fewer GPUs at the same quality win
    assert prune_dominated([faster, one], need_throughput=False, loss=_loss(catalog)) == [one]


def test_a_lossier_shape_never_dominates(catalog):
    bf16_tp2 = _shape(catalog, tp=2)
    fp8_tp1 = _shape(catalog, precision="fp8", tp=1)
    assert _loss(catalog)(fp8_tp1) > 0  # Llama-3.1-8B's own FP8 figure
    kept = prune_dominated([bf16_tp2, fp8_tp1], need_throughput=False, loss=_loss(catalog))
    assert {c.key for c in kept} == {bf16_tp2.key, fp8_tp1.key}


def test_shapes_on_other_gpu_types_never_dominate(catalog):
    h100, a100 = _shape(catalog, tp=1), _shape(catalog, gpu="a100-sxm-80gb", tp=2)
    assert {c.key for c in prune_dominated([a100, h100], need_throughput=False, loss=_loss(catalog))} == {a100.key, h100.key}


# --- single-shape plans -----------------------------------------------------------


def test_single_shape_plan_takes_enough_replicas(catalog):
    c = _shape(catalog, tp=2)
    q = Question("llama-3.1-8b")
    cost, line = single_shape_plan(q, 2.5 * c.throughput, c)
    assert line.replicas == 3 and line.gpus == 6
    assert cost == pytest.approx(3 * 2 * catalog.gpu("h100-sxm").prices.cloud_usd_per_gpu_hour.value)
    assert single_shape_plan(q, 2 * c.throughput, c)[1].replicas == 2  # exactly two replicas' worth
    assert single_shape_plan(q, 0.0, c)[1].replicas == 1  # no throughput target: one replica


@pytest.mark.parametrize("limit, allowed, forbidden", [
    ("inventory", {"inventory": {"h100-sxm": 6}}, {"inventory": {"h100-sxm": 5}}),
    ("max_gpus", {"max_gpus": 6}, {"max_gpus": 5}),
    ("max_power_w", {"max_power_w": 6 * 700.0}, {"max_power_w": 6 * 700.0 - 1}),  # H100 SXM TDP 700 W
    ("hourly budget", {"budget": Money(6 * 6.88, "h")}, {"budget": Money(6 * 6.88 - 0.01, "h")}),
    ("purchase budget", {"budget": Money(6 * 30_000)}, {"budget": Money(6 * 30_000 - 1)}),
])
def test_each_limit_forbids_a_single_shape_plan_on_its_own(catalog, limit, allowed, forbidden):
    c = _shape(catalog, tp=2)  # 3 replicas x 2 GPUs below
    gpu = catalog.gpu("h100-sxm")
    assert gpu.tdp_w == 700 and gpu.prices.cloud_usd_per_gpu_hour.value == 6.88
    assert gpu.prices.purchase_usd.value == 30_000
    demand = 2.5 * c.throughput
    assert single_shape_plan(Question("llama-3.1-8b", **allowed), demand, c) is not None, limit
    assert single_shape_plan(Question("llama-3.1-8b", **forbidden), demand, c) is None, limit


# --- alternatives --------------------------------------------------------------------


def test_alternatives_are_the_best_single_shape_plan_per_unused_gpu_type(catalog):
    result = fit(catalog, Question("llama-3.1-70b", targets=Targets(latency_s=0.05, throughput=parse_rate("5000 tok/s")),
                                   gpus=("h100-sxm", "a100-sxm-80gb", "l40s")))
    used = {line.candidate.gpu.id for line in result.lines}
    assert result.alternatives and all(a.gpu not in used for a in result.alternatives)
    costs = [a.plan_cost for a in result.alternatives]
    assert costs == sorted(costs)
    for alt in result.alternatives:
        cheapest = min(cost for cost, line in result.singles if line.candidate.gpu.id == alt.gpu)
        assert alt.plan_cost == cheapest
        assert alt.line.candidate.gpu.id == alt.gpu
        assert alt.line.candidate.throughput * alt.line.replicas >= 5000
    assert {a.gpu for a in result.alternatives} == {line.candidate.gpu.id for _c, line in result.singles} - used
    assert result.cost <= costs[0]  # the plan is no dearer than any alternative


def test_next_best_plans_exclude_the_chosen_line_and_rise_in_cost(catalog):
    result = fit(catalog, Question("llama-3.1-8b", targets=Targets(latency_s=0.05), gpus=("h100-sxm", "l4"), top=4))
    assert len(result.others) == min(3, len(result.singles) - 1)
    assert len(result.others) >= 2
    chosen = {(line.candidate.key, line.replicas) for line in result.lines}
    assert all((line.candidate.key, line.replicas) not in chosen for line in result.others)
    costs = [line.candidate.cost(Question("x").economics) * line.replicas for line in result.others]
    assert costs == sorted(costs) and result.cost <= costs[0]


# --- an empty answer, explained ---------------------------------------------------------


def _no_plan(catalog, **question) -> str:
    """The library's message: it names the question's fields (the CLI shows flags)."""
    with pytest.raises(NoPlanError) as info:
        fit(catalog, Question("llama-3.1-8b", **question))
    assert info.value.exit_code == EXIT_NO_PLAN
    return str(info.value)


def test_budget_too_small_names_the_budget_that_would_do(catalog):
    # one H100 SXM at the catalog's $6.88/GPU-hour is the cheapest replica meeting 50 ms
    assert _no_plan(catalog, targets=Targets(latency_s=0.05), gpus=("h100-sxm",), budget=Money(0.5, "h")) == (
        "no plan serves one replica within the limits: relax budget to $6.88/h")
    assert _no_plan(catalog, gpus=("h100-sxm",), budget=Money(100)) == (
        "no plan serves one replica within the limits: relax budget to $30,000")


def test_each_limit_is_lifted_alone(catalog):
    """20,000 tok/s under inventory 2, --max-gpus 3 and 1000 W: lifting the
    inventory or the GPU cap alone still breaks the power cap, so only
    --max-power is offered (two H100s at 700 W TDP each)."""
    text = _no_plan(catalog, targets=Targets(latency_s=0.05, throughput=parse_rate("20000 tok/s")), gpus=("h100-sxm",),
                    inventory={"h100-sxm": 2}, max_gpus=3, max_power_w=1000)
    assert text.startswith("no plan serves 20000 tok/s within the limits; the allowed hardware serves at most about ")
    assert text.endswith(" tokens/s: relax max_power_w to 1400W")


def test_inventory_alone_binding_names_the_inventory_needed(catalog):
    text = _no_plan(catalog, targets=Targets(latency_s=0.05, throughput=parse_rate("20000 tok/s")), gpus=("h100-sxm",),
                    inventory={"h100-sxm": 1})
    assert text.endswith(": relax inventory to h100-sxm=2")


def test_solver_time_out_says_so(catalog, monkeypatch):
    monkeypatch.setattr(fit_module.solver, "solve", lambda cands, limits: types.SimpleNamespace(status=solver.UNKNOWN))
    assert _no_plan(catalog, targets=Targets(latency_s=0.05), gpus=("h100-sxm",)) == (
        "the solver found no plan within its time limit; narrow the question (gpus, precisions)")


def test_a_model_too_big_for_every_gpu(catalog):
    with pytest.raises(NoPlanError) as info:
        fit(catalog, Question("llama-3.1-405b", gpus=("l4",), precisions=("bf16",), gpus_per_node=1))
    assert str(info.value) == (
        "llama-3.1-405b does not fit in memory on any allowed GPU, even split over a node (largest GPU 22.49 GiB); "
        "allow more GPUs per replica, a smaller precision, or shorter sequences")


def test_unreachable_tpot_names_the_fastest_shape_and_rounds_the_relaxation_up(catalog):
    text = _no_plan(catalog, targets=Targets(latency_s=0.001), gpus=("h100-sxm", "l4"))
    spec = resolve_spec(catalog, "llama-3.1-8b")
    cands, _ = enumerate_candidates(catalog, spec, Shape(512, 256), Targets(latency_s=0.001), catalog.engine("vllm"),
                                    gpus=[catalog.gpu("h100-sxm"), catalog.gpu("l4")])
    timed = [(c, c.prediction if isinstance(c, ScoredShape) else c.batch_one_timing) for c in cands]
    fastest, timing = min(((c, t) for c, t in timed if t is not None), key=lambda pair: pair[1].tpot_s)
    assert isinstance(fastest, RejectedShape)  # nothing meets 1 ms: the closest is a latency miss at batch 1
    best_ms = timing.tpot_s * 1e3
    relax = math.ceil(best_ms * 10) / 10
    assert relax >= best_ms
    assert text == (f"no plan meets TPOT 1 ms: the fastest, {fastest.gpus}x {fastest.gpu.id} {fastest.precision.id} "
                    f"(TP {fastest.tp}), reaches {best_ms:.3g} ms; relax targets.latency_s to {relax:g}ms "
                    "or allow faster GPUs or lower precisions")
    assert fastest.key == "h100-sxm tp1 pp1 int4 kv=fp16"  # weight-only INT4 reads the fewest bytes


def test_unreachable_ttft_is_named(catalog):
    text = _no_plan(catalog, targets=Targets(ttft_s=0.0001), gpus=("h100-sxm", "l4"))
    assert text.startswith("no plan meets TTFT 0.1 ms: the fastest, 8x h100-sxm ")
    assert "relax targets.ttft_s to " in text


def test_no_plan_exits_4_with_the_message(cli):
    result = cli("fit", "llama-3.1-8b", "--latency", "50ms", "--gpu", "h100-sxm", "--budget", "$0.50/h")
    assert result.exit_code == EXIT_NO_PLAN
    assert "relax --budget to $6.88/h" in result.stderr
    assert "Traceback" not in result.stderr
