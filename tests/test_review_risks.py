"""The design review a reviewer can sign: the decision first, risks computed
from the plan with their figures, numbered sources, absent options explained,
charts that stay readable for mixed plans."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from conftest import ROOT, run_cli
from planner.plan.question import DEFAULT_SEGMENTS
from planner.report import charts
from planner.model.error_band import MEASURED_ERROR
from planner.report.review import MEMORY_PRESSURE

EXAMPLES = ROOT / "examples"
# Four plan lines on three GPU types (h100-sxm, a100-sxm-80gb, h100-nvl twice):
# --available caps each type, so the solver mixes them.
# --headroom 0: replicas loaded up to their simulated capacity, so some line sits close to the TPOT target
MIXED = ["fit", "llama-3.1-70b", "--throughput", "12000 tok/s", "--latency", "50ms", "--headroom", "0",
         "--gpu", "h100-sxm,a100-sxm-80gb,h100-nvl,l40s", "--available", "h100-sxm=4,h100-nvl=4,a100-sxm-80gb=16"]


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _bullets(section: str) -> list[str]:
    return [line[2:] for line in section.splitlines() if line.startswith("- ")]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    out = tmp_path_factory.mktemp("mixed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERMINAL_WIDTH", "120")
        mp.setenv("NO_COLOR", "1")
        review = run_cli(*MIXED, "--format", "markdown", "-o", str(out / "review.md"))
        plan = run_cli(*MIXED, "--format", "json")
    assert review.exit_code == 0, review.stderr
    return out, json.loads(plan.stdout)


@pytest.mark.parametrize("example", ["13b-chat", "70b-fleet"])
def test_example_risks_name_headroom_and_memory_pressure_with_figures(example):
    text = (EXAMPLES / example / "review.md").read_text(encoding="utf-8")
    bullets = _bullets(_section(text, "Risks"))
    assert len(bullets) == len(set(bullets)), "a risk is said twice"
    headroom = [b for b in bullets if "Headroom: " in b]
    assert headroom and all(re.search(r"leaves -?[\d.]+% headroom, (more|less) than the [\d.]+% median error", b)
                            for b in headroom)
    memory = [b for b in bullets if "Memory pressure: " in b]
    assert memory and all(re.search(r"uses [\d.,]+ GB of [\d.,]+ GB usable per GPU \(\d+%\)", b) for b in memory)


@pytest.mark.parametrize("example", ["13b-chat", "70b-fleet", "bert-base-1ms", "qwen3-32b-hub"])
def test_example_reviews_say_nothing_twice_and_cite_every_source(example):
    text = (EXAMPLES / example / "review.md").read_text(encoding="utf-8")
    for title in ("Risks", "Assumptions", "Pricing assumptions"):
        bullets = _bullets(_section(text, title))
        assert len(bullets) == len(set(bullets)), title
    _check_footnotes(text)


def _check_footnotes(text: str) -> None:
    """Sources are numbered 1..N in order, each cited above them, and nothing cites a number not listed."""
    body, sources = text.split("\n## Sources\n")
    listed = [int(n) for n in re.findall(r"^- \[(\d+)\] ", sources, flags=re.MULTILINE)]
    assert listed == list(range(1, len(listed) + 1)) and listed
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", body)]
    assert set(cited) == set(listed)
    first = list(dict.fromkeys(cited))
    assert first == sorted(first), "numbered in order of first citation"
    assert not re.search(r"\[P\d+\]|\[S\d+\]", _section(text, "Risks")), "inline source tags in the risks"


def test_decision_comes_first_in_three_sentences():
    text = (EXAMPLES / "13b-chat" / "review.md").read_text(encoding="utf-8")
    summary = text.split("\n\n")[1].strip("*")
    assert summary.startswith("Cheapest plan for 13B:")
    assert re.search(r" It meets p99 TPOT [\d.]+ ms against 100 ms, and the best plan on another GPU type ", summary)
    assert " Weigh before signing: " in summary
    assert summary.count(". ") == 2 and summary.endswith(".")  # three sentences ("0.53/h" is no full stop)


def test_mixed_plan_review_flags_thin_headroom_and_full_memory(mixed):
    out, plan = mixed
    assert len(plan["lines"]) >= 3
    text = (out / "review.md").read_text(encoding="utf-8")
    risks = _section(text, "Risks")
    worst = min(plan["headroom"], key=lambda r: r["headroom_pct"])
    assert worst["headroom_pct"] < MEASURED_ERROR["tpot"].leave_one_out_pct  # the question is chosen for this
    assert f"- RISK: Headroom: {worst['target']} " in risks
    # memory is a risk exactly when a line uses MEMORY_PRESSURE of its GPU's usable memory or more
    full = [line for line in plan["lines"]
            if line["memory_gb"]["per_gpu"] >= MEMORY_PRESSURE * line["memory_gb"]["capacity_per_gpu"]]
    assert bool(full) == ("- RISK: Memory pressure: " in risks)
    bullets = _bullets(risks)
    assert len(bullets) == len(set(bullets))
    _check_footnotes(text)
    assert "Weigh before signing: " in text.split("\n\n")[1]


@pytest.mark.skipif(not charts.available(), reason="charts need matplotlib")
def test_mixed_plan_charts_keep_the_plot_wide_and_label_the_chosen_plan(mixed):
    out, plan = mixed
    for name in ("review-cost-latency.svg", "review-memory.svg"):
        svg = (out / name).read_text(encoding="utf-8")
        area = charts.plot_area(svg)
        assert area.width_share >= 0.60, (name, area)
        assert 0 <= area.x and area.x + area.width <= area.figure_width + 0.5
    cost = (out / "review-cost-latency.svg").read_text(encoding="utf-8")
    assert f"chosen: {len(plan['lines'])} lines, $" in cost


def test_plot_area_of_a_foreign_svg_is_an_error():
    with pytest.raises(ValueError, match="data-plot-area"):
        charts.plot_area('<svg viewBox="0 0 10 10"></svg>')


def test_every_precision_and_gpu_is_listed_or_explained(catalog):
    result = run_cli("fit", "13B", "--latency", "100ms", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    alternatives = _section(result.stdout, "Alternatives")
    listed = set(re.findall(r"^\| ([a-z0-9_,\- ]+?) \|", alternatives, flags=re.MULTILINE))
    names = {name.strip() for cell in listed for name in cell.split(",")}
    missing = [p for p in catalog.precisions if p not in names]
    assert not missing, missing
    assert "Weight precisions with no single-shape plan, and why" in alternatives
    assert "GPU types considered with no plan of their own, and why" in alternatives
    assert "no price or offer: " in alternatives
    # the plan's GPU is in the plan; every other datacenter or workstation part (the default) is in a table
    considered = [g.id for g in catalog.gpus.values() if g.segment in DEFAULT_SEGMENTS and g.id != "t4"]
    assert [g for g in considered if g not in names] == []


def test_price_age_is_read_against_the_report_date(monkeypatch):
    later = int(datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp())
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(later))
    old = _section(run_cli("fit", "13B", "--latency", "100ms", "--format", "markdown").stdout, "Risks")
    assert "- RISK: Price age: the price is more than 6 months old on 2030-01-01" in old
    early = int(datetime(2026, 2, 1, tzinfo=timezone.utc).timestamp())
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(early))
    fresh = _section(run_cli("fit", "13B", "--latency", "100ms", "--format", "markdown").stdout, "Risks")
    assert "- Price age: every price is at most 6 months old on 2026-02-01" in fresh


def test_error_band_table_matches_the_readme():
    """The constant table and the README's measured figures are the same numbers."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {
        "tpot": "batch-1 decode speed, TPOT",
        "ttft": "TTFT, prefill speed",
        "throughput": "throughput",
        "encoder": "encoder latency",
    }
    for key, label in rows.items():
        match = re.search(rf"^\| {re.escape(label)} \| (\d+) \| [\d.]+% \| ([\d.]+)% \| ([\d.]+)% \|", readme,
                          flags=re.MULTILINE)
        assert match, label
        band = MEASURED_ERROR[key]
        assert (band.rows, band.leave_one_out_pct, band.leave_one_gpu_out_pct) == (
            int(match[1]), float(match[2]), float(match[3]))
    memory = re.search(r"^\| peak memory \| (\d+) \| ([\d.]+)% \|", readme, flags=re.MULTILINE)
    assert memory and (MEASURED_ERROR["memory"].rows, MEASURED_ERROR["memory"].leave_one_out_pct) == (
        int(memory[1]), float(memory[2]))
