"""The procurement CSV: one row per thing rented, bought or used, totals that
are the column sums, and the question on every row."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from conftest import run_cli
from planner.core.units import HOURS_PER_MONTH
from planner.plan.fit import fit
from planner.plan.question import Economics, Objective, Question, Targets
from planner.core.units import Rate
from planner.plan.verify import DEFAULT_HEADROOM
from planner.report.csv import BOM_COLUMNS, CANDIDATE_COLUMNS, QUESTION_COLUMNS, SUMMED, bom_csv, candidates_csv

# Four owned H100s cannot serve 10,000 tok/s at TPOT 50 ms alone, and owned
# GPUs cost nothing per hour, so the plan uses them and rents the rest: at
# least one owned and one rented line, whatever the price book's figures.
MIXED = ["fit", "llama-3.1-70b", "--throughput", "10000 tok/s", "--latency", "50ms", "--gpu", "h100-sxm,a100-sxm-80gb,l40s",
         "--owned", "h100-sxm=4"]
GENERATED = date(2026, 1, 2)

# A made-up server for the tests alone (not catalog data): two kinds of parts,
# cheap enough that a capex plan on L40S buys it.
TEST_SERVER = """
servers:
  - id: test-l40s-box
    name: "Test L40S box"
    gpu: l40s
    gpus: 4
    includes: "test fixture: chassis and four cards"
    parts:
      - {item: "Test chassis", quantity: 1, unit_usd: 1000, as_of: 2026-01, source: "test fixture chassis"}
      - {item: "Test L40S card", quantity: 4, unit_usd: 100, as_of: 2025-12, source: "test fixture card"}
"""
BOUGHT = ["fit", "llama-3.1-8b", "--latency", "60ms", "--throughput", "3000 tok/s", "--gpu", "l40s", "--objective", "capex"]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _value(cell: str) -> float:
    return 0.0 if cell == "" else float(cell)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The MIXED plan as CSV (dated by SOURCE_DATE_EPOCH) and as JSON, solved once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERMINAL_WIDTH", "120")
        mp.setenv("NO_COLOR", "1")
        mp.setenv("SOURCE_DATE_EPOCH", "1767312000")  # 2026-01-02T00:00:00Z
        as_csv = run_cli(*MIXED, "--format", "csv")
        as_json = run_cli(*MIXED, "--format", "json")
    assert as_csv.exit_code == 0, as_csv.stderr
    assert as_json.exit_code == 0, as_json.stderr
    return _rows(as_csv.stdout), json.loads(as_json.stdout), as_csv.stdout


@pytest.fixture(scope="module")
def bought(tmp_path_factory):
    overlay = tmp_path_factory.mktemp("overlay") / "server.yaml"
    overlay.write_text(TEST_SERVER)
    as_csv = run_cli(*BOUGHT, "--format", "csv", "--catalog", str(overlay))
    as_json = run_cli(*BOUGHT, "--format", "json", "--catalog", str(overlay))
    assert as_csv.exit_code == 0, as_csv.stderr
    return _rows(as_csv.stdout), json.loads(as_json.stdout), overlay


def test_totals_row_is_the_column_sums(mixed):
    rows, _plan, text = mixed
    assert "\r\n" in text  # RFC 4180 line ends
    items, total = rows[:-1], rows[-1]
    assert len(items) >= 2 and total["line"] == "total"
    for column in SUMMED:
        assert _value(total[column]) == pytest.approx(sum(_value(row[column]) for row in items), rel=1e-9, abs=1e-9), column


def test_totals_match_the_json_plan(mixed):
    rows, plan, _text = mixed
    total = rows[-1]
    assert int(total["total_gpus"]) == plan["total"]["gpus"]
    assert int(total["units"]) == plan["total"]["units"]
    assert float(total["extended_usd_per_hour"]) == pytest.approx(plan["total"]["cost_per_hour_usd"], rel=1e-9)
    # a month is 730 h (planner.core.units.HOURS_PER_MONTH); the CSV rounds to 4 decimals
    assert float(total["extended_usd_per_month"]) == pytest.approx(plan["total"]["cost_per_hour_usd"] * HOURS_PER_MONTH,
                                                                   abs=1e-3)
    assert float(total["power_w"]) == pytest.approx(plan["total"]["power_w"])


def test_each_line_item_says_what_is_acquired(mixed):
    rows, plan, _text = mixed
    items = rows[:-1]
    assert {row["acquisition"] for row in items} == {"owned", "rent"}
    for row, line in zip(items, plan["lines"]):
        offer = line["offer"]
        assert row["acquisition"] == offer["acquisition"]
        assert int(row["total_gpus"]) == line["gpus"] and int(row["replicas"]) == line["replicas"]
        if row["acquisition"] == "rent":
            assert row["instance_type_or_server"] == offer["instance"] and row["provider"]
            assert row["region"] == offer["region"] and row["pricing_model"] == "on-demand"
            assert float(row["unit_price_usd_per_hour"]) == offer["usd_per_hour_per_unit"]
            assert float(row["extended_usd_per_hour"]) == pytest.approx(int(row["units"]) * offer["usd_per_hour_per_unit"])
            assert float(row["extended_usd_per_month"]) == pytest.approx(float(row["extended_usd_per_hour"]) * 730, abs=1e-3)
            assert int(row["units"]) * int(row["gpus_per_unit"]) >= int(row["total_gpus"])
            assert row["price_as_of"] == offer["price_as_of"] and row["price_source"] == offer["price_source"]
            assert row["purchase_price_usd_per_unit"] == "" and float(row["purchase_extended_usd"]) == 0
        else:  # owned: nothing rented or bought, nothing counted
            assert row["units"] == "" and row["unit_price_usd_per_hour"] == ""
            assert float(row["extended_usd_per_hour"]) == 0 and "sunk" in row["price_includes"]
        for column in ("total_gpus", "extended_usd_per_hour", "extended_usd_per_month", "power_w", "output_tokens_per_s"):
            assert "," not in row[column] and "$" not in row[column]
            float(row[column])


def test_every_row_carries_the_question(mixed):
    rows, plan, _text = mixed
    expected = {
        "model": plan["model"], "engine": "vllm", "target_latency_ms": "50", "target_ttft_ms": "", "target_e2e_ms": "",
        "target_throughput": "10000", "target_throughput_unit": "tok/s", "input_tokens": str(plan["input"]),
        "output_tokens": str(plan["output"]), "objective": "hourly", "pricing_asked": "on-demand",
        "providers_asked": "default", "region_asked": "cheapest listed", "redundancy": "N+0", "generated": "2026-01-02",
        # p99 unless asked; headroom the default share kept free, in percent; Poisson arrivals
        "target_latency_statistic": "p99", "target_ttft_statistic": "", "target_e2e_statistic": "",
        "headroom_pct": f"{100 * DEFAULT_HEADROOM:g}", "burstiness_cv": "1",
    }
    assert set(expected) == set(QUESTION_COLUMNS)
    for row in rows:  # the totals row too
        assert {column: row[column] for column in QUESTION_COLUMNS} == expected


def test_generated_date_is_given_or_today(catalog):
    q = Question(model="llama-3.1-8b", targets=Targets(latency_s=0.06), gpus=("l4",))
    result = fit(catalog, q)
    for text in (bom_csv(result, GENERATED), candidates_csv(result, GENERATED)):
        assert {row["generated"] for row in _rows(text)} == {"2026-01-02"}
    today = _rows(bom_csv(result))[0]["generated"]
    assert date.fromisoformat(today) >= GENERATED


def test_columns_keep_one_unit_each():
    """Memory only in GB (10^9 bytes); money in USD with its period in the name."""
    for columns in (BOM_COLUMNS, CANDIDATE_COLUMNS):
        assert len(set(columns)) == len(columns)
        assert not any("gib" in column for column in columns), "GiB beside GB"
        assert all(column.endswith("_gb") for column in columns if "memory" in column)
        for column in columns:
            if "usd" in column:
                assert (column.endswith(("_usd_per_hour", "_usd_per_month", "usd_per_hour_per_unit",
                                         "usd_per_hour_per_replica")) or column.startswith("purchase")), column


def test_bought_plan_lists_purchase_prices(bought):
    rows, plan, _overlay = bought
    items, total = rows[:-1], rows[-1]
    assert [line["offer"]["server"] for line in plan["lines"]] == ["test-l40s-box"] * len(plan["lines"])
    for row in items:
        assert row["acquisition"] == "buy" and row["instance_type_or_server"] == "Test L40S box"
        assert float(row["purchase_price_usd_per_unit"]) == 1400  # 1 x 1,000 + 4 x 100
        assert float(row["purchase_extended_usd"]) == 1400 * int(row["units"])
        assert float(row["extended_usd_per_hour"]) == 0 and row["unit_price_usd_per_hour"] == ""
        assert row["price_as_of"] == "2026-01; 2025-12"
        assert row["price_source"] == "test fixture chassis; test fixture card"
        assert row["region"] == "" and row["pricing_model"] == ""
        assert row["pricing_asked"] == "" and row["objective"] == "capex"
    assert float(total["purchase_extended_usd"]) == plan["total"]["capex_usd"]


def test_candidates_are_priced_per_placement(catalog):
    q = Question(model="llama-3.1-70b", targets=Targets(latency_s=0.05, throughput=Rate(5000, "tokens")),
                 gpus=("h100-sxm", "l40s"), economics=Economics(objective=Objective.HOURLY))
    result = fit(catalog, q)
    rows = _rows(candidates_csv(result, GENERATED))
    chosen = [row for row in rows if row["status"] == "chosen"]
    assert chosen and all(row["acquisition"] and row["usd_per_hour_per_unit"] for row in chosen)
    assert sum(int(row["replicas_in_plan"]) for row in rows) == sum(line.replicas for line in result.lines)
    # one row per placement the solver saw, plus one per shape it never saw
    placed = [row for row in rows if row["status"] in ("chosen", "not chosen")]
    assert len(placed) == len(result.pool)
    assert len({row["instance_type_or_server"] for row in placed}) > 1
    for row in placed:
        per_unit = float(row["usd_per_hour_per_unit"])
        assert float(row["usd_per_hour_per_replica"]) == pytest.approx(per_unit / int(row["replicas_per_unit"]), abs=1e-4)
    for row in rows:
        assert row["status"] in ("chosen", "not chosen", "ruled out", "dominated", "not placed")
        if row["status"] != "chosen":
            assert row["why"]
        if row["status"] in ("ruled out", "dominated", "not placed"):
            assert row["acquisition"] == "" and row["replicas_in_plan"] == "0"


def test_an_encoders_rows_count_samples_not_tokens(catalog):
    q = Question(model="bert-base", targets=Targets(latency_s=0.001, throughput=Rate(2000, "samples")), input_tokens=128,
                 engine="tensorrt")
    result = fit(catalog, q)
    rows = _rows(bom_csv(result, GENERATED))
    items, total = rows[:-1], rows[-1]
    assert all(row["output_tokens_per_s"] == "" and row["kv_cache_precision"] == "" for row in rows)
    assert float(total["samples_per_s"]) == pytest.approx(sum(float(row["samples_per_s"]) for row in items))
    assert float(total["samples_per_s"]) == pytest.approx(result.throughput, abs=0.05 * len(items))  # 1 decimal per row
    assert total["target_throughput_unit"] == "samples/s"
