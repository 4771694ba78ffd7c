"""Plans a buyer can execute: owned before rented, whole instances, never a
free GPU, aliases that bind, redundancy that survives a loss, consumer cards
only when asked (issue: plans in real instance shapes, providers and pricing
models)."""

from __future__ import annotations

import json

import pytest

from planner.core.errors import InputError, NoPlanError
from planner.core.units import Money, parse_rate
from planner.plan.fit import _limits, fit, replica_option
from planner.plan.offers import Acquisition
from planner.plan.question import Economics, Question, Targets
from planner.plan import solver

FLEET = dict(targets=Targets(latency_s=0.05, throughput=parse_rate("5000 tok/s")),
             gpus=("h100-sxm", "a100-sxm-80gb", "l40s"), owned={"h100-sxm": 8})


def test_owned_gpus_are_used_before_anything_is_rented(catalog):
    """examples/70b-fleet: eight owned H100s meet 5,000 tok/s at 50 ms TPOT on
    their own, so nothing is rented and the plan costs nothing per hour."""
    result = fit(catalog, Question("llama-3.1-70b", **FLEET))
    assert [line.offer.acquisition for line in result.lines] == [Acquisition.OWNED]
    assert result.gpus <= 8 and result.hourly_usd == 0 and result.cost == 0
    assert result.throughput >= 5000


def test_owned_gpus_are_not_bought_again(catalog):
    result = fit(catalog, Question("llama-3.1-70b", **FLEET, economics=Economics(objective="capex")))
    assert all(line.offer.acquisition is Acquisition.OWNED for line in result.lines)
    assert result.capex_usd == 0
    # beyond what is owned, servers are bought, and only they count
    more = fit(catalog, Question("llama-3.1-70b", **{**FLEET, "targets": Targets(latency_s=0.05, throughput=parse_rate(
        "12000 tok/s"))}, economics=Economics(objective="capex")))
    bought = [line for line in more.lines if line.offer.acquisition is Acquisition.BUY]
    assert bought, "12,000 tok/s needs more than the 8 owned H100s"
    assert more.capex_usd == pytest.approx(sum(line.instances * line.offer.capex_usd for line in bought))


def test_owned_energy_and_colocation_count_in_tco(catalog):
    result = fit(catalog, Question("llama-3.1-70b", **FLEET, economics=Economics(objective="tco")))
    assert all(line.offer.acquisition is Acquisition.OWNED for line in result.lines)
    # per GPU used: 0.7 kW (H100 TDP) x PUE 1.58 x 5 years x 8,760 h x $0.0895/kWh,
    # plus 0.7 kW x $184.06/kW-month x 60 months (CBRE H2 2024, tco.md section 7)
    per_gpu = 0.7 * 1.58 * 5 * 8760 * 0.0895 + 0.7 * 184.06 * 60
    assert result.cost == pytest.approx(per_gpu * result.gpus, rel=1e-9)
    free_site = fit(catalog, Question("llama-3.1-70b", **FLEET, economics=Economics(objective="tco", colo_usd_per_kw_month=0)))
    assert free_site.cost == pytest.approx(0.7 * 1.58 * 5 * 8760 * 0.0895 * free_site.gpus, rel=1e-9)


def test_a_bought_server_costs_its_parts_energy_and_colocation(catalog):
    """DGX H100: $270,000 (tco.md section 3) drawing at most 10.2 kW (section
    5): 10.2 x 1.58 x 43,800 h x $0.0895/kWh of energy and 10.2 x $184.06 x 60
    of colocation over 5 years."""
    result = fit(catalog, Question("llama-3.1-70b", targets=Targets(latency_s=0.05), gpus=("h100-sxm",),
                                   economics=Economics(objective="tco")))
    (line,) = result.lines
    assert line.offer.server is not None and line.offer.server.id == "dgx-h100"
    expected = 270_000 + 10.2 * 1.58 * 43_800 * 0.0895 + 10.2 * 184.06 * 60
    assert result.cost == pytest.approx(line.units * expected, rel=1e-9)


def test_a_tensor_parallel_group_never_spans_1_gpu_instances(catalog):
    """Every rented line's TP group fits one instance of its type."""
    for model, targets in (("llama-3.1-70b", Targets(latency_s=0.05, throughput=parse_rate("20000 tok/s"))),
                           ("13B", Targets(latency_s=0.1))):
        result = fit(catalog, Question(model, targets=targets, top=5))
        for line in (*result.lines, *result.others, *(a.line for a in result.alternatives)):
            assert line.candidate.tp <= line.offer.gpus, line.placement.key
            assert line.gpus == line.instances * line.offer.gpus or line.offer.acquisition is Acquisition.OWNED


def test_a_gpu_without_a_price_never_appears_in_a_budget_limited_plan(catalog):
    """Every line of a budget-limited plan is priced for the budget's kind (or owned)."""
    for economics, budget in ((Economics(), Money(200, "h")), (Economics(objective="capex"), Money(5_000_000))):
        result = fit(catalog, Question("llama-3.1-70b", targets=Targets(latency_s=0.05), budget=budget,
                                       economics=economics))
        for line in result.lines:
            if economics.objective.value == "hourly":
                assert line.offer.price is not None and line.placement.hourly_usd > 0
            else:
                assert line.offer.server is not None and line.placement.capex_usd > 0
    # the GPUs the price book cannot rent are named as ruled out, never planned at $0
    result = fit(catalog, Question("13B", targets=Targets(latency_s=0.1), budget=Money(5, "h")))
    unpriced = {what for what, why in result.ruled_out if "in the price book" in why or "price in region" in why
                or "price for its instances" in why}
    assert {"h20", "mi300x"} <= unpriced  # datacenter parts no provider in the book rents at a price
    assert not unpriced & {c.gpu.id for c in result.candidates}


def test_an_alias_in_available_binds(catalog):
    """`h100=0` excludes the H100 SXM from the market; `h100=2` caps it."""
    q = Question("llama-3.1-8b", targets=Targets(latency_s=0.05, throughput=parse_rate("100000 tok/s")),
                 gpus=("h100-sxm",))
    with pytest.raises(NoPlanError, match="h100-sxm: excluded: available count 0"):
        fit(catalog, q.replace(available={"h100": 0}))
    with pytest.raises(NoPlanError, match="relax available to h100-sxm="):
        fit(catalog, q.replace(available={"h100": 2}))
    assert fit(catalog, q).gpus > 2


def test_n_plus_1_survives_the_loss_of_any_unit(catalog):
    q = Question("llama-3.1-70b", targets=Targets(latency_s=0.05, throughput=parse_rate("5000 tok/s")), redundancy=1)
    result = fit(catalog, q)
    total = result.throughput
    for line in result.lines:
        unit = line.placement.throughput
        assert total - unit >= 5000, line.placement.key
    plain = fit(catalog, q.replace(redundancy=0))
    assert result.cost >= plain.cost
    # the solver's own check agrees
    options = {p.key: replica_option(p, q.economics, result.quality.rank) for p in result.pool}
    plan = solver.Plan(solver.OPTIMAL, tuple(solver.PlanLine(options[line.placement.key], line.units)
                                             for line in result.lines), result.cost)
    assert solver.check_plan(plan, _limits(q, 5000)) == []


def test_without_a_throughput_target_n_plus_1_takes_two_units(catalog):
    result = fit(catalog, Question("13B", targets=Targets(latency_s=0.1), redundancy=1))
    assert sum(line.units for line in result.lines) >= 2


def test_consumer_cards_only_when_asked(catalog):
    """RunPod rents RTX 4090s, but a default question never considers a
    consumer card; named, or with --segment consumer, it is planned and the
    plan quotes the licence's datacenter clause."""
    from planner.report.fit import assumptions

    q = Question("13B", targets=Targets(latency_s=0.1), providers=("runpod",))
    default = fit(catalog, q)
    assert not {c.gpu.segment for c in default.candidates} & {"consumer"}
    named = fit(catalog, q.replace(gpus=("rtx-4090",)))
    assert {line.candidate.gpu.id for line in named.lines} == {"rtx-4090"}
    assert any("No Datacenter Deployment" in note for note in assumptions(named))
    widened = fit(catalog, q.replace(segments=("consumer",)))
    assert {line.candidate.gpu.segment for line in widened.lines} == {"consumer"}


def test_the_default_answer_is_a_datacenter_instance_with_provider_and_pricing(cli):
    """`planner fit 13B --latency 100ms`: a datacenter or workstation GPU in an
    instance of a default provider, named in the headline."""
    result = cli("fit", "13B", "--latency", "100ms", "--format", "json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    (line,) = plan["lines"]
    assert line["offer"]["acquisition"] == "rent" and line["offer"]["pricing"] == "on-demand"
    assert line["offer"]["provider"] in {"aws", "azure", "gcp", "coreweave", "lambda"}
    text = cli("fit", "13B", "--latency", "100ms")
    assert line["offer"]["label"] in " ".join(text.stdout.split()) and "on-demand" in text.stdout


def test_unknown_provider_and_empty_pricing_are_input_errors(catalog):
    with pytest.raises(InputError, match="unknown provider 'amazon'"):
        fit(catalog, Question("13B", providers=("amazon",)))
    with pytest.raises(InputError, match="unknown pricing model"):
        Question("13B", pricing="cheap")


def test_a_pricing_model_without_prices_says_so(catalog):
    with pytest.raises(NoPlanError, match="no reserved-3y price"):
        fit(catalog, Question("13B", gpus=("gh200",), pricing="reserved-3y", targets=Targets(latency_s=0.1)))


def test_a_monthly_budget_is_730_hours(catalog):
    q = Question("13B", targets=Targets(latency_s=0.1))
    cheapest = fit(catalog, q)
    monthly = cheapest.hourly_usd * 730
    assert fit(catalog, q.replace(budget=Money(monthly, "month"))).cost == cheapest.cost
    with pytest.raises(NoPlanError):
        fit(catalog, q.replace(budget=Money(monthly * 0.99, "month")))


def test_zones_survive_the_loss_of_a_zone(catalog):
    q = Question("llama-3.1-70b", targets=Targets(latency_s=0.05, throughput=parse_rate("5000 tok/s")), zones=2)
    result = fit(catalog, q)
    assert sum(line.units for line in result.lines) >= 2
    left = sum((line.units - -(-line.units // 2)) * line.placement.throughput for line in result.lines)
    assert left >= 5000
