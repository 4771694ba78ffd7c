"""The question is validated once, in the library: Python callers get the same
checks as the CLI, and errors name the field (the CLI names the flag)."""

from __future__ import annotations

import pytest

from planner.core.errors import EXIT_BAD_INPUT, Field, InputError, PlannerError
from planner.core.units import Money, parse_money, parse_rate
from planner.plan.question import (
    DEFAULT_MAX_QUALITY_LOSS,
    Economics,
    Objective,
    Question,
    Targets,
    parse_energy_price,
    parse_inventory,
    parse_redundancy,
    parse_percent,
)


def test_positional_fields_as_the_readme_writes_them():
    q = Question("13B", Targets(latency_s=0.1))
    assert q.model == "13B" and q.targets.latency_s == 0.1
    assert q.max_quality_loss == DEFAULT_MAX_QUALITY_LOSS and q.economics.objective is Objective.HOURLY
    assert q.default_lengths


def test_objective_is_an_enum_and_reads_as_its_name():
    e = Economics(objective="tco")
    assert e.objective is Objective.TCO and f"{e.objective}" == "tco"


@pytest.mark.parametrize("build, field, text", [
    (lambda: Economics(objective="bogus"), "economics.objective", "unknown objective 'bogus'"),
    (lambda: Economics(years=-3), "economics.years", "economics.years -3.0 must be between 0 and 50"),
    (lambda: Economics(pue=0.5), "economics.pue", "economics.pue 0.5 must be between 1 and 5"),
    (lambda: Economics(power_usd_per_kwh=0), "economics.power_usd_per_kwh", "must be between 0 and 10 per kWh"),
    (lambda: Economics(colo_usd_per_kw_month=-1), "economics.colo_usd_per_kw_month",
     "must be between 0 and 10,000 per kW-month"),
    (lambda: Question("13B", max_quality_loss=101), "max_quality_loss", "max_quality_loss 101.0 must be between 0 and 100 percent"),
    (lambda: Question("13B", top=0), "top", "top 0 must be between 1 and 100"),
    (lambda: Question("13B", max_gpus=0), "max_gpus", "max_gpus 0 must be between 1 and 10,000,000"),
    (lambda: Question("13B", max_gpus=10**400), "max_gpus", "must be between 1 and 10,000,000"),
    (lambda: Question("13B", max_batch=2_000_000), "max_batch", "max_batch 2000000 must be between 1 and 1,000,000"),
    (lambda: Question("13B", memory_utilization=5), "memory_utilization", "memory_utilization 5.0 must be between 0 and 1"),
    (lambda: Question("13B", memory_utilization=float("nan")), "memory_utilization", "must be between 0 and 1"),
    (lambda: Question("13B", input_tokens=0), "input_tokens", "input_tokens 0 must be between 1 and 10,000,000"),
    (lambda: Question("13B", max_power_w=float("inf")), "max_power_w", "must be a positive number of watts"),
    (lambda: Question("13B", segments=("cloud",)), "segments", "unknown segment 'cloud'"),
    (lambda: Question("13B", available={"h100": 10**8}), "available", "available count for 'h100' must be a whole number"),
    (lambda: Question("13B", available={"h100": True}), "available", "available['h100']: input should be a valid integer"),
    (lambda: Question("13B", targets={"latency_s": "soon"}), "targets.latency_s", "targets.latency_s: input should be a valid number"),
    (lambda: Question(" "), "model", "model is empty"),
    (lambda: Question("13B", owned={"h100": -1}), "owned", "owned count for 'h100' must be a whole number"),
    (lambda: Question("13B", redundancy=101), "redundancy", "redundancy 101 must be between 0 and 100"),
    (lambda: Question("13B", pricing="monthly"), "pricing", "unknown pricing model 'monthly'"),
    (lambda: Question("13B", region=" "), "region", "region is empty"),
    (lambda: Question("13B", budget=Money(100)), "budget", "budget $100 is capital, but the objective rents by the hour"),
    (lambda: Question("13B", budget=Money(100, "h"), economics=Economics(objective="capex")), "budget",
     "budget $100/h is recurring rent, but the objective buys servers"),
    (lambda: Question("13B", top=2.5), "top", "top: input should be a valid integer"),
    (lambda: Question("13B", colour="red"), "colour", "colour: extra inputs are not permitted"),
    (lambda: Targets(latency_s=0), "targets.latency_s", "targets.latency_s 0.0 must be a positive number of seconds"),
    (lambda: Targets(ttft_s=float("inf")), "targets.ttft_s", "must be a positive number of seconds"),
])
def test_invalid_fields_are_one_input_error_naming_the_field(build, field, text):
    with pytest.raises(InputError) as caught:
        build()
    assert caught.value.field == field
    assert text in str(caught.value)
    assert caught.value.exit_code == EXIT_BAD_INPUT and "\n" not in str(caught.value)


def test_a_question_is_frozen_and_replace_validates_again():
    q = Question("13B", top=2)
    with pytest.raises(Exception):
        q.top = 3  # type: ignore[misc]
    assert q.replace(top=3).top == 3 and q.top == 2
    with pytest.raises(InputError, match="top 0 must be"):
        q.replace(top=0)


def test_name_lists_are_trimmed_and_empty_means_none():
    q = Question("13B", gpus=[" H100-SXM ", ""], precisions=[], segments="datacenter")
    assert q.gpus == ("h100-sxm",) and q.precisions is None and q.segments == ("datacenter",)


def test_errors_render_fields_as_each_front_end_names_them():
    exc = PlannerError(["relax ", Field("economics.years"), " to 3"], hint=["see ", Field("top")])
    assert exc.message == "relax economics.years to 3"
    assert exc.render({"economics.years": "--years", "top": "--top"}) == "relax --years to 3 (see --top)"
    # text the user typed is never read as a template
    assert PlannerError("model '{x}' unknown").render({"x": "--y"}) == "model '{x}' unknown"


def test_parsers_at_the_edge():
    assert parse_percent("2.5 %") == 2.5
    assert parse_energy_price("$0.12/kWh") == 0.12
    assert parse_inventory("H100-SXM=16, l40s=2k") == {"h100-sxm": 16, "l40s": 2000}
    assert parse_inventory(" ") is None
    assert parse_inventory("gb200=0") == {"gb200": 0}  # excludes a type, as a file's `gb200: 0` does
    with pytest.raises(InputError, match="not a percentage"):
        parse_percent("lots")
    with pytest.raises(InputError, match="not GPU=COUNT"):
        parse_inventory("h100-sxm=1,=2")


@pytest.mark.parametrize("count", ["10000000000000000000000000", "-1", "1.5", "true", "eight"])
def test_an_inventory_file_count_out_of_range_is_one_error(tmp_path, count):
    """An inventory file's counts are held to the same range as GPU=COUNT pairs'."""
    path = tmp_path / "inventory.yaml"
    path.write_text(f"h100-sxm: {count}\n")
    with pytest.raises(InputError, match="count for 'h100-sxm' must be a whole number from 0 to") as info:
        parse_inventory(str(path))
    assert "\n" not in str(info.value)


def test_redundancy_reads_n_plus_k():
    assert parse_redundancy("N+1") == 1
    assert parse_redundancy("n + 2") == 2
    assert parse_redundancy("3") == 3
    with pytest.raises(InputError, match="is not N\\+k"):
        parse_redundancy("2N")


def test_fit_resolves_inventory_aliases_to_ids(catalog):
    """`h100=8` limits h100-sxm: an alias is not a different, unlimited type."""
    from planner.core.errors import NoPlanError
    from planner.plan.fit import fit

    q = Question("llama-3.1-8b", Targets(throughput=parse_rate("1000000 tok/s")), gpus=("h100-sxm",),
                 available={"h100": 8})
    with pytest.raises(NoPlanError, match="relax available to h100-sxm="):
        fit(catalog, q)


def test_fit_limits_gpu_types_by_segment(catalog):
    from planner.plan.fit import fit

    plan = fit(catalog, Question("13B", Targets(latency_s=0.1), segments=("datacenter",),
                                 budget=parse_money("$100/h")))
    assert {line.candidate.gpu.segment for line in plan.lines} == {"datacenter"}
    with pytest.raises(InputError, match="no GPU is left in the allowed segments"):
        fit(catalog, Question("13B", gpus=("h100-sxm",), segments=("consumer",)))


def test_every_field_of_the_question_has_a_flag():
    """A new field must get its flag in the CLI's table, or errors about it would name the field."""
    from planner.cli.app import FLAGS

    paths = [f"targets.{f}" for f in Targets.model_fields] + [f"economics.{f}" for f in Economics.model_fields]
    paths += [f for f in Question.model_fields if f not in ("targets", "economics", "asked")]
    assert sorted(set(paths) - set(FLAGS["fit"])) == []
    assert sorted(set(FLAGS["fit"]) - set(paths)) == []
