"""The design review's latency-under-load chart and section (planner/report/load.py, review.py)."""

from __future__ import annotations

import re

import pytest

from planner import Question, Targets, fit
from planner.core.units import parse_rate
from planner.report import charts, load, review
from planner.report.format import milliseconds, number
from planner.report.markdown import render_markdown

pytestmark = pytest.mark.skipif(not charts.available(), reason="charts need matplotlib")


@pytest.fixture(scope="module")
def decoder(catalog):
    """A decoder with TPOT and TTFT targets and no throughput target: one replica, simulated at its capacity."""
    result = fit(catalog, Question("13B", Targets(latency_s=0.1, ttft_s=2.0)))
    loads = load.shape_loads(result)
    return result, loads


@pytest.fixture(scope="module")
def encoder(catalog):
    return fit(catalog, Question("bert-base", Targets(latency_s=0.001, throughput=parse_rate("2000 samples/s")),
                                 input_tokens=128, engine="tensorrt"))


def _section_markdown(result, loads) -> str:
    section = review._load_section(result, loads)
    assert section is not None
    return render_markdown(review.Review("t", "s", [section], {}, {}))


def _table(text: str, title: str) -> list[list[str]]:
    """The rows of a Markdown table under its bold title."""
    block = text.split(f"**{title}**", 1)[1].strip().split("\n\n", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in block.splitlines()[2:]]


def test_chart_is_drawn_for_a_decoder_with_targets_and_records_its_plot_area(decoder):
    result, loads = decoder
    svgs, titles, missing = review._charts(result, loads)
    assert missing is None and "latency-load" in svgs
    svg = svgs["latency-load"]
    area = charts.plot_area(svg)
    # the two panels together keep most of the chart's width (benchmarks/screenshot_report.py MIN_PLOT_SHARE)
    assert area.width_share >= 0.6 and 0 < area.height < area.figure_height
    assert "p99 TTFT target 2,000 ms" in svg and "p99 TPOT target 100 ms" in svg
    assert "600 simulated requests per point" in titles["latency-load"]
    # the chosen shape first, then at most MAX_CURVES - 1 alternatives, each on another GPU type
    assert loads[0].chosen and loads[0].key == result.lines[0].candidate.key
    assert 1 < len(loads) <= load.MAX_CURVES
    assert len({sl.shape.gpu.id for sl in loads}) == len(loads)


def test_chart_and_section_absent_for_an_encoder(encoder):
    assert load.shape_loads(encoder) == []
    assert review._load_section(encoder, []) is None
    svgs, _titles, _missing = review._charts(encoder, [])
    assert "latency-load" not in svgs


def test_sweep_spans_the_capacity_and_ends_where_the_queue_grows(decoder):
    result, loads = decoder
    for sl in loads:
        rates = [t.rate for t in sl.trials]
        assert rates == sorted(rates) and len(rates) >= 3
        assert rates[0] == pytest.approx(load.SHARES[0] * sl.base_rate)
        # every point but the last has a steady queue; a curve that stops early stops at a growing queue
        assert all(t.stable for t in sl.trials[:-1])
        if rates[-1] < load.SHARES[-1] * sl.base_rate * (1 - 1e-9):
            assert not sl.trials[-1].stable
        assert list(sl.requests) == [load.requests_at(r / sl.base_rate) for r in rates]
        assert max(sl.requests) <= load.CHART_REQUESTS
    chosen = loads[0]
    assert chosen.simulated is result.simulated[chosen.key]  # fit's own capacity, not a new search
    assert chosen.base_rate == chosen.simulated.capacity.rate


def test_knee_is_the_first_rate_where_ttft_takes_off_or_the_queue_grows(decoder):
    _result, loads = decoder
    for sl in loads:
        knee = sl.knee
        light = sl.trials[0].summary.ttft.p99
        before = sl.trials if knee is None else sl.trials[:sl.trials.index(knee)]
        for trial in before:
            assert trial.stable and trial.summary.ttft.p99 <= load.KNEE_TTFT_FACTOR * light
        if knee is not None:
            assert not knee.stable or knee.summary.ttft.p99 > load.KNEE_TTFT_FACTOR * light


def test_section_names_the_statistic_and_the_verified_figures(decoder):
    result, loads = decoder
    text = _section_markdown(result, loads)
    assert "p99 TPOT at most 100 ms" in text and "p99 TTFT at most 2 s" in text and "p99 is the default" in text
    check = result.checks[0]
    assert f"{check.requests:,} requests per run" in text
    rows = _table(text, "Each plan line's replica at the plan's load, simulated")
    assert len(rows) == len(result.checks)
    for row, check in zip(rows, result.checks):
        s = check.trial.summary
        assert row[0] == check.key
        assert row[1] == f"{number(check.rate)} req/s"
        assert row[2:6] == [milliseconds(s.ttft.p50), milliseconds(s.ttft.p99), milliseconds(s.tpot.p50),
                            milliseconds(s.tpot.p99)]
        assert row[6] == f"{s.mean_concurrency:,.1f}"
        assert row[7] == ("yes" if check.meets else row[7])
    capacities = _table(text, "Capacity at the targets, and the knee")
    chosen = capacities[0]
    cap = result.simulated[check.key].capacity
    assert chosen[0] == check.key and chosen[2].startswith(f"{number(cap.rate)} req/s") and chosen[3] == cap.limit
    assert len(capacities) == len(loads)


def test_headroom_risk_reads_the_simulated_percentile(decoder):
    result, _loads = decoder
    risks = review._headroom_risks(result, set(), review.Footnotes())
    worst_tpot = max(c.trial.summary.tpot.p99 for c in result.checks)
    text = " ".join(r.text for r in risks)
    assert f"p99 TPOT {number(worst_tpot * 1e3)} ms against 100 ms" in text
    # with no throughput target the replica ran at its capacity: the risk says what load keeps the error free
    assert re.search(r"offer one replica at most [\d.,]+ req/s", text)
    # the error band is TPOT's, not the encoder's
    assert "median error measured for TPOT" in text and "encoder" not in text
