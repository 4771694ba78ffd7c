"""A fleet's outputs (planner/report/fleet.py, fleet_csv.py, fleet_review.py),
from FleetResult values built here out of real catalog pieces: placements and
simulated checks from `fit` on small questions, the fleet's hours set by hand.
Every expected figure is worked out from those pieces in the test, not read
back from the report."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from planner.core.units import HOURS_PER_MONTH, parse_money, parse_rate
from planner.plan import fleet_solver
from planner.plan.fit import fit, replica_option
from planner.plan.fleet import FleetPlanLine, FleetResult, StreamPlan
from planner.plan.question import Question, Targets

# A day: quiet night, busy afternoon.
PROFILE = (1,) * 8 + (2,) * 8 + (3,) * 6 + (2,) * 2
CHAT_RPS = tuple(1.0 * units for units in PROFILE)  # req/s, in step with the units (the fleet's own arithmetic is not under test)


def _question(**extra) -> dict:
    return {"owned": None, "budget": parse_money("$40/h"), "max_power_w": 20_000.0, **extra}


@pytest.fixture(scope="module")
def fits(catalog):
    chat = fit(catalog, Question(model="llama-3.1-8b", targets=Targets(latency_s=0.05, ttft_s=2.0,
                                                                        throughput=parse_rate("3 req/s")),
                                 gpus=("l40s",), input_tokens=512, output_tokens=128, **_question()))
    embed = fit(catalog, Question(model="bge-large-en-v1.5", targets=Targets(latency_s=0.02,
                                                                              throughput=parse_rate("300 samples/s")),
                                  gpus=("l4",), input_tokens=256, output_tokens=1, **_question()))
    return chat, embed


def build_fleet(fits, *, static_cost: float | None = None, separate_cost: float | None = None,
                binding: tuple[str, ...] = (), name: str = "test-fleet") -> FleetResult:
    """Chat autoscales on one rented placement (one unit held all day, the rest
    by the hour); embed holds one unit all day."""
    chat_fit, embed_fit = fits
    chat_p, embed_p = chat_fit.lines[0].placement, embed_fit.lines[0].placement
    chat_line = FleetPlanLine(chat_p, flexible=True, committed=1, by_hour=PROFILE, check=chat_fit.checks[0])
    embed_line = FleetPlanLine(embed_p, flexible=False, committed=1, by_hour=(1,) * 24, check=None)
    streams = (
        StreamPlan("chat", "chat", 1.0, chat_fit.question, CHAT_RPS, chat_fit, (chat_line,), chat_fit.simulated),
        StreamPlan("embed", "embed", 1.0, embed_fit.question, (300.0,) * 24, embed_fit, (embed_line,)),
    )
    hourly = tuple(u * chat_p.hourly_usd + embed_p.hourly_usd for u in PROFILE)
    gpus = tuple(u * chat_p.gpus_per_unit + embed_p.gpus_per_unit for u in PROFILE)
    cost = sum(hourly)
    econ = chat_fit.question.economics
    plan = fleet_solver.FleetPlan(
        "optimal",
        (fleet_solver.FleetLine("chat", replica_option(chat_p, econ, chat_fit.quality.rank), 1, PROFILE),
         fleet_solver.FleetLine("embed", replica_option(embed_p, econ, embed_fit.quality.rank), 1, (1,) * 24)),
        cost, cost, 24, 0.01)
    return FleetResult(name, "optimal", cost, cost, "USD/day",
                       static_cost if static_cost is not None else 24 * (3 * chat_p.hourly_usd + embed_p.hourly_usd),
                       separate_cost, streams, hourly, gpus, binding, "fleet.yaml", 0.01, plan)


@pytest.fixture(scope="module")
def fleet(fits):
    return build_fleet(fits, separate_cost=10_000.0)


def test_fixture_is_a_real_plan(fits, fleet):
    chat_fit, embed_fit = fits
    assert chat_fit.lines[0].placement.offer.gpu.id == "l40s"
    assert embed_fit.lines[0].placement.offer.gpu.id == "l4"
    assert fleet.streams[0].lines[0].check is not None and fleet.streams[0].lines[0].check.meets


# --- JSON --------------------------------------------------------------------------------


def test_fleet_json_carries_the_whole_solution(fits, fleet):
    from planner.report.fleet import fleet_dict

    data = json.loads(json.dumps(fleet_dict(fleet)))
    chat_p, embed_p = fits[0].lines[0].placement, fits[1].lines[0].placement
    day = sum(u * chat_p.hourly_usd for u in PROFILE) + 24 * embed_p.hourly_usd
    assert data["scenario"] == "test-fleet" and data["status"] == "optimal"
    assert data["cost"]["unit"] == "USD/day"
    assert data["cost"]["value"] == pytest.approx(day, abs=1e-3)
    assert data["cost"]["per_month_usd"] == pytest.approx(day * HOURS_PER_MONTH / 24, abs=1e-2)
    static = 24 * (3 * chat_p.hourly_usd + embed_p.hourly_usd)
    assert data["cost"]["autoscaling_saves"] == pytest.approx(static - day, abs=1e-3)
    assert data["cost"]["together_saves"] == pytest.approx(10_000.0 - day, abs=1e-3)
    chat, embed = data["streams"]
    assert chat["demand"] == {"unit": "req/s", "by_hour": list(CHAT_RPS)}
    assert embed["demand"]["unit"] == "samples/s"
    line = chat["lines"][0]
    assert line["by_hour"] == list(PROFILE) and line["committed"] == 1 and line["peak_units"] == 3
    assert line["flexible"] is True
    assert line["shape"]["gpu"] == "l40s" and line["shape"]["tp"] == chat_p.shape.tp
    assert line["shape"]["precision"] == chat_p.shape.precision.id
    assert line["offer"]["label"] == chat_p.offer.label and line["offer"]["pricing"] == "on-demand"
    assert line["cost"] == pytest.approx(sum(PROFILE) * chat_p.hourly_usd, abs=1e-3)
    assert line["unit_rent_usd_per_hour"] == chat_p.hourly_usd and line["unit_capex_usd"] == 0
    # the simulated check as fit reports a line's load: p99 TTFT and TPOT in ms
    summary = fits[0].checks[0].trial.summary
    assert line["check"]["ttft_ms"]["p99"] == pytest.approx(summary.ttft.p99 * 1e3, abs=1e-3)
    assert line["check"]["tpot_ms"]["p99"] == pytest.approx(summary.tpot.p99 * 1e3, abs=1e-3)
    assert embed["lines"][0]["check"] is None and embed["lines"][0]["shape"]["kv_precision"] is None
    assert data["by_hour"]["gpus"] == list(fleet.gpus_by_hour)
    assert data["by_hour"]["rent_usd_per_hour"][16] == pytest.approx(3 * chat_p.hourly_usd + embed_p.hourly_usd,
                                                                      abs=1e-3)
    assert data["binding"] == []
    rent = next(limit for limit in data["limits"] if limit["name"] == "rent")
    assert rent["cap"] == pytest.approx(40.0) and rent["hour"] == 16
    assert rent["peak"] == pytest.approx(3 * chat_p.hourly_usd + embed_p.hourly_usd, abs=1e-3)


def test_a_lines_capacity_comes_from_every_search_of_its_stream(fits):
    """A line's shape may come from a search other than the stream's `fit`
    (on owned GPUs, at the other peak): its capacity is read from all the
    stream's simulated shapes, not null."""
    from planner.report.fleet import fleet_dict

    fleet = build_fleet(fits)
    chat = fleet.streams[0]
    other_search = dataclasses.replace(chat.fit, simulated={})
    fleet = dataclasses.replace(fleet, streams=(dataclasses.replace(chat, fit=other_search),) + fleet.streams[1:])
    check = json.loads(json.dumps(fleet_dict(fleet)))["streams"][0]["lines"][0]["check"]
    capacity = fits[0].simulated[fits[0].checks[0].key].capacity
    assert check["capacity_requests_per_s_per_replica"] == pytest.approx(capacity.rate, abs=1e-6)
    assert check["capacity_limit"] == capacity.limit


def test_the_why_table_weighs_every_placement_the_fleet_could_choose(catalog, fits):
    """Not only the stream's first search: a placement only the fleet saw
    (here an L4 placement from another search) is a row of chat's why table."""
    from planner.report.fleet_review import _why_table

    fleet = build_fleet(fits)
    chat = fleet.streams[0]
    seen = dataclasses.replace(chat, options=chat.fit.pool + (fits[1].lines[0].placement,))
    table = _why_table(fleet, seen)
    assert "l4" in [row[0] for row in table.rows] and "l4" not in [row[0] for row in _why_table(fleet, chat).rows]


def test_stream_costs_add_up_to_the_fleet(fleet):
    from planner.report.fleet import stream_cost

    assert sum(stream_cost(fleet, s) for s in fleet.streams) == pytest.approx(fleet.cost, rel=1e-12)


def test_missing_comparisons_are_null_and_said(fits):
    from planner.report.fleet import fleet_dict, fleet_headline

    result = build_fleet(fits, separate_cost=None)
    result = FleetResult(**{**result.__dict__, "static_cost": None})
    data = fleet_dict(result)
    assert data["cost"]["static_peak"] is None and data["cost"]["autoscaling_saves"] is None
    assert data["cost"]["together_saves"] is None
    text = fleet_headline(result)
    assert "Sized for the peak (no autoscaling), no fleet fits the limits." in text
    assert "one workload at a time" in text and "no fleet fits the limits" in text


# --- terminal ------------------------------------------------------------------------------


def _text(result: FleetResult, width: int = 120) -> str:
    from planner.report.fleet import fleet_renderables
    from planner.report.layout import render_plain

    return render_plain(fleet_renderables(result, width=width), width)


def test_headline_leads_with_cost_per_day_and_month_and_savings(fits, fleet):
    from planner.report.fleet import fleet_headline

    chat_p, embed_p = fits[0].lines[0].placement, fits[1].lines[0].placement
    day = sum(u * chat_p.hourly_usd for u in PROFILE) + 24 * embed_p.hourly_usd
    static = 24 * (3 * chat_p.hourly_usd + embed_p.hourly_usd)
    text = fleet_headline(fleet)
    assert text.startswith(f"Fleet test-fleet: 2 workloads on 2 plan lines, 2-4 GPUs over the day, ${day:,.2f}/day "
                           f"(${day * HOURS_PER_MONTH / 24:,.0f}/month at 30.4 days); proved optimal.")
    from planner.report.format import percent

    assert (f"Autoscaled vs sized for the peak (${static:,.2f}/day): saves ${static - day:,.2f}/day "
            f"({percent(100 * (static - day) / static)})") in text
    assert f"Planned together vs one at a time ($10,000.00/day): saves ${10_000 - day:,.2f}/day" in text


def test_terminal_shows_workloads_lines_hours_and_limits(fleet):
    text = _text(fleet)
    for expected in ("Workloads", "Fleet plan", "chat", "embed", "llama-3.1-8b", "p99 TPOT 50 ms, p99 TTFT 2 s",
                     "forward pass 20 ms", "3 req/s", "300 samples/s", "0-2",
                     "3 x l40s", "aws g6e.xlarge", "on-demand us-east-1", "GPUs by hour 00-23: ▁▁▁▁▁▁▁▁▅▅▅▅▅▅▅▅██████▅▅", "Shared limits at the busiest hour",
                     "What binds: no shared limit is at its cap in any hour.", "16:00"):
        assert expected in text, expected


@pytest.mark.parametrize("width", [60, 80, 120])
def test_terminal_tables_fit_narrow_terminals(fleet, width):
    """Tables fit the width (turning into cards where they must); prose is left unwrapped for the terminal to wrap."""
    from planner.report.fleet import binding_text, fleet_headline, fleet_notes, hours_text

    prose = {fleet_headline(fleet), hours_text(fleet), binding_text(fleet), *fleet_notes(fleet)}
    text = _text(fleet, width)
    assert all(len(line) <= width for line in text.splitlines() if line not in prose)
    assert "l40s" in text and "bge-large-en-v1.5" in text


def test_a_limit_at_its_cap_is_marked_and_binding_is_said(fits):
    """A rent budget equal to the busiest hour's rent: the limits table marks it, the binding list is shown."""
    from dataclasses import replace

    from planner.core.units import Money
    from planner.report.fleet import limit_uses

    result = build_fleet(fits, binding=("budget $6.39/h",))
    peak = max(result.hourly_usd)
    streams = tuple(replace(s, question=s.question.replace(budget=Money(peak, "h"))) for s in result.streams)
    result = replace(result, streams=streams)
    rent = next(u for u in limit_uses(result) if u.name == "rent")
    assert rent.at_cap and rent.hour == 16
    power = next(u for u in limit_uses(result) if u.name == "power")
    assert not power.at_cap and power.cap == 20_000.0
    text = _text(result)
    assert "at its cap" in text and "What binds: budget $6.39/h (at its cap in some hour" in text


def test_limits_are_read_from_those_the_fleet_was_solved_under(fits):
    """Fleet-wide limits live on FleetResult.limits, not on the streams'
    questions: the limits table takes its caps from there, and each use is
    the fleet's at its busiest hour (GPUs and power: units times per unit)."""
    from dataclasses import replace

    from planner.report.fleet import limit_uses

    chat_p, embed_p = fits[0].lines[0].placement, fits[1].lines[0].placement
    assert chat_p.power_w is not None and embed_p.power_w is not None
    result = replace(build_fleet(fits), limits=fleet_solver.FleetLimits(
        inventory={"owned:h100-sxm": 2, "l40s": 5}, max_gpus=6, max_power_w=9_000.0, max_hourly_usd=12.5))
    uses = {u.name: u for u in limit_uses(result)}
    assert (uses["owned h100-sxm"].cap, uses["owned h100-sxm"].peak) == (2, 0)
    l40s = uses["l40s to rent or buy"]
    assert (l40s.cap, l40s.peak, l40s.hour) == (5, 3 * chat_p.gpus_per_unit, 16)
    assert (uses["GPUs"].cap, uses["GPUs"].peak) == (6, 3 * chat_p.gpus_per_unit + embed_p.gpus_per_unit)
    assert uses["rent"].cap == 12.5
    power = uses["power"]
    assert power.cap == 9_000.0 and power.hour == 16
    assert power.peak == pytest.approx(3 * chat_p.power_w + embed_p.power_w)


def test_feasible_states_its_gap(fits):
    from planner.report.fleet import fleet_headline

    result = build_fleet(fits, separate_cost=None)
    result = FleetResult(**{**result.__dict__, "status": "feasible", "cost_bound": result.cost * 0.9})
    assert "feasible: within 10% of the best possible" in fleet_headline(result)


def test_sparkline_spans_eight_levels():
    from planner.report.fleet import sparkline

    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5]) == "▄▄" and sparkline([0, 0]) == "▁▁" and sparkline([]) == ""


# --- CSV bill of materials -------------------------------------------------------------------


def _rows(result: FleetResult) -> list[dict[str, str]]:
    from datetime import date

    from planner.report.fleet_csv import fleet_bom_csv

    text = fleet_bom_csv(result, generated=date(2026, 1, 1))
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text)))


def test_bom_has_a_row_per_line_then_totals_per_workload_and_fleet(fits, fleet):
    chat_p, embed_p = fits[0].lines[0].placement, fits[1].lines[0].placement
    rows = _rows(fleet)
    assert [(r["workload"], r["line"]) for r in rows] == [("chat", "1"), ("chat", "total"), ("embed", "1"),
                                                         ("embed", "total"), ("fleet", "total")]
    chat = rows[0]
    assert chat["provider"] == chat_p.offer.provider.name and chat["instance_type_or_server"] == "g6e.xlarge"
    assert chat["pricing_model"] == "on-demand" and chat["region"] == chat_p.offer.price.region
    assert (chat["units_committed"], chat["units_peak"], chat["units_flexible_peak"]) == ("1", "3", "2")
    assert float(chat["unit_price_usd_per_hour"]) == pytest.approx(chat_p.hourly_usd)
    assert float(chat["rent_usd_per_day"]) == pytest.approx(sum(PROFILE) * chat_p.hourly_usd, abs=1e-4)
    assert float(chat["rent_usd_per_month"]) == pytest.approx(sum(PROFILE) * chat_p.hourly_usd * HOURS_PER_MONTH / 24,
                                                              abs=1e-3)
    assert chat["ttft_p99_ms"] and chat["demand_unit"] == "req/s"
    assert rows[2]["kv_cache_precision"] == "" and rows[2]["ttft_p99_ms"] == ""
    fleet_row = rows[-1]
    assert float(fleet_row["objective_usd_per_day"]) == pytest.approx(fleet.cost, abs=1e-3)
    assert float(fleet_row["rent_usd_per_day"]) == pytest.approx(
        sum(PROFILE) * chat_p.hourly_usd + 24 * embed_p.hourly_usd, abs=1e-3)
    assert all(r["scenario"] == "test-fleet" and r["generated"] == "2026-01-01" and r["cost_unit"] == "USD/day"
               for r in rows)


def test_bom_numbers_are_plain_and_totals_are_column_sums(fleet):
    from planner.report.fleet_csv import FLEET_SUMMED

    rows = _rows(fleet)
    for row in rows:
        for column in ("rent_usd_per_day", "rent_usd_per_month", "units_peak", "power_w_peak"):
            assert "," not in row[column] and "$" not in row[column]
    items = [r for r in rows if r["line"] != "total"]
    for column in FLEET_SUMMED:
        values = [float(r[column]) for r in items if r[column] != ""]
        if values:
            assert float(rows[-1][column]) == pytest.approx(sum(values), abs=1e-3), column


def test_bom_neutralises_formula_like_names(fits):
    result = build_fleet(fits, name="=HYPERLINK(1)")
    assert all(r["scenario"] == "'=HYPERLINK(1)" for r in _rows(result))


# --- design review ------------------------------------------------------------------------------


def test_review_has_a_section_per_workload_limits_chart_and_comparison(catalog, fleet):
    from planner.report import charts
    from planner.report.fleet_review import build_fleet_review
    from planner.report.html import render_html
    from planner.report.markdown import render_markdown

    review = build_fleet_review(fleet)
    titles = [s.title for s in review.sections]
    assert titles[:3] == ["The fleet", "Workload chat", "Workload embed"]
    assert "Shared limits and what binds" in titles and "Cost over the day" in titles
    assert "Against sizing for the peak and planning one at a time" in titles
    assert review.summary.startswith("Fleet test-fleet:")
    chat = review.sections[1]
    profile = next(t for t in chat.tables if t.title == "Load over the day")
    assert profile.rows == [[hours, f"{units} req/s", str(units), f"${fits_rent(fleet, first):,.2f}/h"]
                            for hours, first, units in (("00-07", 0, 1), ("08-15", 8, 2), ("16-21", 16, 3),
                                                        ("22-23", 22, 2))]
    lines = next(t for t in chat.tables if t.title == "Plan lines")
    assert lines.rows[0][-1] == "meets the targets"
    why = next(t for t in chat.tables if t.title.startswith("Why that GPU"))
    assert why.rows[0][0] == "l40s"
    if charts.available():
        assert "fleet-cost" in review.charts and "<svg" in review.charts["fleet-cost"]
        static = fleet.static_cost / 24
        assert review.chart_titles["fleet-cost"].endswith(f"${static:,.2f}/h.")
    markdown = render_markdown(review)
    assert markdown.startswith("# Fleet plan: test-fleet")
    assert "| this plan: autoscaled, planned together |" in markdown
    html = render_html(review)
    assert "<h2>Workload chat</h2>" in html and html.count("<svg") == (1 if charts.available() else 0)


def fits_rent(result: FleetResult, hour: int) -> float:
    """The chat stream's rent in one hour, from its line's units and unit price."""
    line = result.streams[0].lines[0]
    return line.by_hour[hour] * line.placement.hourly_usd


def test_fleet_cost_chart_is_reproducible_and_scales(fleet):
    from planner.report import charts

    if not charts.available():
        pytest.skip("matplotlib is an optional extra (planner[report])")
    series = [charts.CostSeries(s.name, tuple(u * s.lines[0].placement.hourly_usd for u in s.lines[0].by_hour))
              for s in fleet.streams]
    first, second = charts.fleet_cost_svg(series, 6.39), charts.fleet_cost_svg(series, 6.39)
    assert first == second
    area = charts.plot_area(first)
    assert area.width_share > 0.7
    assert 'id="fleet-cost-' in first
    # the dashed line of the fleet sized for its peak, labelled with its rent; none when there is no such fleet
    assert "sized for the peak: $6.39/h" in first and "stroke-dasharray" in first
    without = charts.fleet_cost_svg(series, None)
    assert "sized for the peak: $" not in without and "stroke-dasharray" not in without


def test_one_off_fleet_has_no_hourly_chart(catalog, fits):
    from planner.report.fleet import fleet_headline
    from planner.report.fleet_review import build_fleet_review

    result = build_fleet(fits, separate_cost=None)
    result = FleetResult(**{**result.__dict__, "cost_unit": "USD"})
    review = build_fleet_review(result)
    assert review.charts == {}
    assert "one-off" in fleet_headline(result)
    # the bill's objective is the units held at their price, once
    held = sum(line.committed * line.placement.cost(s.question.economics) for s in result.streams for line in s.lines)
    fleet_row = _rows(result)[-1]
    assert fleet_row["objective_usd_per_day"] == "" and float(fleet_row["objective_usd"]) == pytest.approx(held, abs=1e-3)


def test_the_why_table_compares_with_a_free_owned_gpu():
    """Owned GPUs cost nothing by the hour: the other GPU types are then dearer
    by dollars, not by a percentage of zero."""
    from planner.report.fleet_review import _versus

    assert _versus(0.0, 0.0) == "+0%"
    assert _versus(2.5, 0.0) == "+$2.5"
    assert _versus(2.5, 0.0, "/h") == "+$2.5/h"  # a rate, as the cost column beside it
    assert _versus(3.0, 2.0, "/h") == "+50%"
