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
from planner.plan.fit import PlanQuality, fit, single_shape_plan
from planner.plan.offers import Acquisition, Offer
from planner.plan.placement import place, prune_dominated
from planner.plan.offers import purchases, rentals
from planner.plan.question import Economics, Question, Targets


def _loss(catalog, model="llama-3.1-8b"):
    """The ranking loss fit uses: the model's own quality figures."""
    return PlanQuality(catalog, catalog.model(model)).rank


def _shape(catalog, gpu="h100-sxm", precision="bf16", kv="bf16", tp=1, pp=1, model="llama-3.1-8b", targets=Targets()):
    spec = resolve_spec(catalog, model)
    shape = DeploymentShape(catalog.gpu(gpu), catalog.precision(precision), catalog.precision(kv), tp, pp)
    scored = evaluate(spec, Shape(512, 256), targets, shape, catalog.engine("vllm"))
    assert isinstance(scored, ScoredShape), scored
    return scored


# --- offers and placements ------------------------------------------------------


def _rent(catalog, gpu="h100-sxm", gpus=1, hourly=6.0, key=None):
    """A rentable unit at a stated price (tests own their prices, not the price book's)."""
    g = catalog.gpu(gpu)
    return Offer(key=key or f"rent test-{gpu}-{gpus}x", acquisition=Acquisition.RENT, gpu=g, gpus=gpus,
                 label=f"test {gpus}x {gpu}", hourly_usd=hourly, capex_usd=0.0, power_w=(g.tdp_w or 0) * gpus,
                 power_basis="GPU TDP only")


def _placed(shape, offer):
    p = place(shape, offer)
    assert p is not None
    return p


def test_a_tensor_parallel_group_never_spans_instances(catalog):
    """TP needs the GPUs' own link: a TP 2 shape cannot be placed on a 1-GPU
    instance type, while pipeline stages may span instances of one type."""
    one_gpu = _rent(catalog, gpus=1)
    assert place(_shape(catalog, tp=2), one_gpu) is None
    spanning = _placed(_shape(catalog, tp=1, pp=2), one_gpu)
    assert (spanning.replicas_per_unit, spanning.offers_per_unit, spanning.gpus_per_unit) == (1, 2, 2)
    assert spanning.hourly_usd == 2 * one_gpu.hourly_usd


def test_an_instance_hosts_as_many_replicas_as_fit(catalog):
    eight = _rent(catalog, gpus=8, hourly=48.0)
    p = _placed(_shape(catalog, tp=2), eight)
    assert (p.replicas_per_unit, p.offers_per_unit, p.gpus_per_unit) == (4, 1, 8)
    assert p.throughput == 4 * p.shape.throughput
    # a TP 2 x PP 3 replica on 4-GPU instances: 2 stages per instance, so 2 instances
    four = _rent(catalog, gpus=4, hourly=24.0)
    p = _placed(_shape(catalog, model="llama-3.1-70b", tp=2, pp=3), four)
    assert (p.replicas_per_unit, p.offers_per_unit) == (1, 2)


def test_k_units_of_a_smaller_placement_dominate_when_they_serve_as_much(catalog):
    one, two = _shape(catalog, tp=1), _shape(catalog, tp=2)
    assert two.throughput < 2 * one.throughput  # TP 2 scales sublinearly
    small, big = _placed(one, _rent(catalog, gpus=1, hourly=6.0)), _placed(two, _rent(catalog, gpus=2, hourly=12.0))
    econ = Question("x").economics
    assert prune_dominated([big, small], need_throughput=True, economics=econ, loss=_loss(catalog)) == [small]


def test_a_cheaper_large_instance_is_not_dominated(catalog):
    """Eight 1-GPU instances cost more than one 8-GPU instance priced below 8x: both stay."""
    one = _shape(catalog, tp=1)
    small = _placed(one, _rent(catalog, gpus=1, hourly=6.0))
    big = _placed(one, _rent(catalog, gpus=8, hourly=40.0))
    econ = Question("x").economics
    kept = prune_dominated([big, small], need_throughput=True, economics=econ, loss=_loss(catalog))
    assert {p.key for p in kept} == {small.key, big.key}


def test_a_lossier_placement_never_dominates(catalog):
    bf16_tp2 = _placed(_shape(catalog, tp=2), _rent(catalog, gpus=2, hourly=12.0))
    fp8_tp1 = _placed(_shape(catalog, precision="fp8", tp=1), _rent(catalog, gpus=1, hourly=6.0))
    assert _loss(catalog)(fp8_tp1.shape) > 0  # Llama-3.1-8B's own FP8 figure
    kept = prune_dominated([bf16_tp2, fp8_tp1], need_throughput=False, economics=Question("x").economics,
                           loss=_loss(catalog))
    assert {p.key for p in kept} == {bf16_tp2.key, fp8_tp1.key}


def test_placements_in_other_pools_never_dominate(catalog):
    h100 = _placed(_shape(catalog, tp=1), _rent(catalog, gpus=1, hourly=6.0))
    a100 = _placed(_shape(catalog, gpu="a100-sxm-80gb", tp=2), _rent(catalog, gpu="a100-sxm-80gb", gpus=2, hourly=1.0))
    kept = prune_dominated([a100, h100], need_throughput=False, economics=Question("x").economics, loss=_loss(catalog))
    assert {p.key for p in kept} == {a100.key, h100.key}


# --- single-shape plans -----------------------------------------------------------


def test_single_shape_plan_takes_enough_units(catalog):
    p = _placed(_shape(catalog, tp=2), _rent(catalog, gpus=2, hourly=12.0))
    q = Question("llama-3.1-8b")
    cost, line = single_shape_plan(q, 2.5 * p.throughput, p)
    assert line.replicas == 3 and line.gpus == 6 and line.instances == 3
    assert cost == pytest.approx(3 * 12.0)
    assert single_shape_plan(q, 2 * p.throughput, p)[1].replicas == 2  # exactly two replicas' worth
    assert single_shape_plan(q, 0.0, p)[1].replicas == 1  # no throughput target: one replica
    # N+1: one unit more than the demand needs
    assert single_shape_plan(q.replace(redundancy=1), 2 * p.throughput, p)[1].replicas == 3


@pytest.mark.parametrize("limit, allowed, forbidden", [
    ("available", {"available": {"h100-sxm": 6}}, {"available": {"h100-sxm": 5}}),
    ("max_gpus", {"max_gpus": 6}, {"max_gpus": 5}),
    ("max_power_w", {"max_power_w": 6 * 700.0}, {"max_power_w": 6 * 700.0 - 1}),  # H100 SXM TDP 700 W
    ("hourly budget", {"budget": Money(3 * 12.0, "h")}, {"budget": Money(3 * 12.0 - 0.01, "h")}),
    ("monthly budget", {"budget": Money(3 * 12.0 * 730, "month")}, {"budget": Money(3 * 12.0 * 730 - 1, "month")}),
])
def test_each_limit_forbids_a_single_shape_plan_on_its_own(catalog, limit, allowed, forbidden):
    p = _placed(_shape(catalog, tp=2), _rent(catalog, gpus=2, hourly=12.0))  # 3 units x 2 GPUs below
    assert catalog.gpu("h100-sxm").tdp_w == 700
    demand = 2.5 * p.throughput
    assert single_shape_plan(Question("llama-3.1-8b", **allowed), demand, p) is not None, limit
    assert single_shape_plan(Question("llama-3.1-8b", **forbidden), demand, p) is None, limit


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
    chosen = {(line.placement.key, line.units) for line in result.lines}
    assert all((line.placement.key, line.units) not in chosen for line in result.others)
    costs = [line.placement.cost(Question("x").economics) * line.units for line in result.others]
    assert costs == sorted(costs) and result.cost <= costs[0]


# --- an empty answer, explained ---------------------------------------------------------


def _no_plan(catalog, **question) -> str:
    """The library's message: it names the question's fields (the CLI shows flags)."""
    with pytest.raises(NoPlanError) as info:
        fit(catalog, Question("llama-3.1-8b", **question))
    assert info.value.exit_code == EXIT_NO_PLAN
    return str(info.value)


def _cheapest_h100(catalog):
    """The price book's cheapest 1-GPU H100 SXM instance (default providers,
    on-demand) and cheapest H100 SXM server: one replica of an 8B model needs one GPU."""
    gpu = catalog.gpu("h100-sxm")
    rent, _ = rentals(catalog, Question("x"), [gpu])
    buy, _ = purchases(catalog, Question("x", economics=Economics(objective="capex")), [gpu])
    return min(o.hourly_usd for o in rent if o.gpus == 1), min(o.capex_usd for o in buy)


def test_budget_too_small_names_the_budget_that_would_do(catalog):
    hourly, server = _cheapest_h100(catalog)
    assert _no_plan(catalog, targets=Targets(latency_s=0.05), gpus=("h100-sxm",), budget=Money(0.5, "h")) == (
        f"no plan serves one replica within the limits: relax budget to ${hourly:,.2f}/h")
    assert _no_plan(catalog, gpus=("h100-sxm",), budget=Money(100), economics=Economics(objective="capex")) == (
        f"no plan serves one replica within the limits: relax budget to ${server:,.0f}")


def test_each_limit_is_lifted_alone(catalog):
    """20,000 tok/s under inventory 2, --max-gpus 3 and 1000 W: lifting the
    inventory or the GPU cap alone still breaks the power cap, so only
    --max-power is offered (two H100s at 700 W TDP each)."""
    text = _no_plan(catalog, targets=Targets(latency_s=0.05, throughput=parse_rate("20000 tok/s")), gpus=("h100-sxm",),
                    available={"h100-sxm": 2}, max_gpus=3, max_power_w=1000)
    assert text.startswith("no plan serves 20000 tok/s within the limits; the allowed hardware serves at most about ")
    assert text.endswith(" tokens/s: relax max_power_w to 1400W")


def test_inventory_alone_binding_names_the_inventory_needed(catalog):
    text = _no_plan(catalog, targets=Targets(latency_s=0.05, throughput=parse_rate("20000 tok/s")), gpus=("h100-sxm",),
                    available={"h100-sxm": 1})
    assert text.endswith(": relax available to h100-sxm=2")


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


def test_no_plan_exits_4_with_the_message(cli, catalog):
    result = cli("fit", "llama-3.1-8b", "--latency", "50ms", "--gpu", "h100-sxm", "--budget", "$0.50/h")
    assert result.exit_code == EXIT_NO_PLAN
    assert f"relax --budget to ${_cheapest_h100(catalog)[0]:,.2f}/h" in result.stderr
    assert "Traceback" not in result.stderr
