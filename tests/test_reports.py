"""Plans people can use: procurement CSV, design-review Markdown and HTML, safe file output."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from planner.core.errors import EXIT_WRITE, OutputError
from planner.report.output import write_files
from planner.report.csv import BOM_COLUMNS

# Owned H100s that cannot serve the traffic alone: an owned line and a rented one.
FLEET = ["fit", "llama-3.1-70b", "--throughput", "10000 tok/s", "--latency", "50ms", "--gpu", "h100-sxm,a100-sxm-80gb,l40s",
         "--owned", "h100-sxm=4"]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_formula_in_a_catalog_name_arrives_as_text(cli, tmp_path):
    overlay = tmp_path / "evil.yaml"
    overlay.write_text("gpus:\n  - id: l4\n    name: '=HYPERLINK(\"http://x\",\"y\")'\n    vendor: '+SUM(A1)'\n")
    result = cli("fit", "llama-3.1-8b", "--latency", "60ms", "--gpu", "l4", "--format", "csv", "--catalog", str(overlay))
    assert result.exit_code == 0, result.stderr
    row = _rows(result.stdout)[0]
    assert row["gpu_name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert row["vendor"] == "'+SUM(A1)"
    for cell in row.values():
        assert not cell.startswith(("=", "+", "@")), cell


def test_candidates_csv_lists_every_shape_and_why_it_lost(cli):
    result = cli("fit", "13B", "--latency", "100ms", "--gpu", "l4,a10g,h100-sxm", "--format", "csv", "--csv-kind", "candidates")
    rows = _rows(result.stdout)
    statuses = {row["status"] for row in rows}
    assert "chosen" in statuses and "ruled out" in statuses
    assert sum(row["status"] == "chosen" for row in rows) >= 1
    for row in rows:
        if row["status"] != "chosen":
            assert row["why"]


def test_markdown_report_writes_charts_beside_it(cli, tmp_path):
    target = tmp_path / "review.md"
    result = cli("fit", "13B", "--latency", "100ms", "--format", "markdown", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    text = target.read_text()
    for heading in ("## The question", "## The plan", "## Alternatives", "## Sensitivity", "## Risks",
                    "## Assumptions", "## Sources"):
        assert heading in text
    for chart in ("review-cost-latency.svg", "review-memory.svg", "review-latency-load.svg"):
        assert f"]({chart})" in text
        assert (tmp_path / chart).read_text().lstrip().startswith("<svg")
    assert "latency targets halved" in text and "context doubled" in text


def test_html_report_is_self_contained(cli, tmp_path):
    target = tmp_path / "review.html"
    result = cli(*FLEET, "--format", "html", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert "Pareto front" in page and "usable capacity" in page and "queue grows (no steady state)" in page
    assert "<h2>Latency under load</h2>" in page
    assert not re.search(r"(src|href)=\"https?:", page) and "@import" not in page and "<script" not in page
    assert "traffic doubled" in page and "Measured accuracy" in page


def test_failed_write_leaves_no_partial_file(cli, tmp_path):
    missing = tmp_path / "no-such-dir" / "plan.csv"
    result = cli("fit", "13B", "--latency", "100ms", "--format", "csv", "-o", str(missing))
    assert result.exit_code == EXIT_WRITE
    assert "does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not missing.parent.exists()
    result = cli("fit", "13B", "--latency", "100ms", "--format", "csv", "-o", "/proc/plan.csv")  # read-only, even for root
    assert result.exit_code == EXIT_WRITE and "Traceback" not in result.stderr


def test_existing_file_replaced_only_on_success(cli, tmp_path):
    target = tmp_path / "plan.csv"
    target.write_text("previous plan\n")
    assert cli("fit", "13B", "--latency", "1ms", "--format", "csv", "-o", str(target)).exit_code != 0
    assert target.read_text() == "previous plan\n"
    assert cli("fit", "13B", "--latency", "100ms", "--format", "csv", "-o", str(target)).exit_code == 0
    assert target.read_text().startswith(",".join(BOM_COLUMNS[:3]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.csv"]  # no temporary file left


def test_write_files_is_all_or_nothing(tmp_path):
    first = tmp_path / "a.md"
    with pytest.raises(OutputError):
        write_files({first: "text", tmp_path / "missing" / "b.svg": "<svg/>"})
    assert not first.exists() and list(tmp_path.iterdir()) == []


def test_examples_are_up_to_date():
    """examples/*/ outputs (every format: table, JSON, CSV, Markdown, HTML) are what the scenarios produce now."""
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "regenerate.py"), "--check"],
                          capture_output=True, text=True, timeout=1800)  # about 10 min alone on 2 cores
    assert done.returncode == 0, done.stdout + done.stderr


def test_reports_without_matplotlib_say_so(cli, monkeypatch):
    import planner.report.charts

    monkeypatch.setattr(planner.report.charts, "available", lambda: False)
    result = cli("fit", "13B", "--latency", "100ms", "--format", "html")
    assert result.exit_code == 0
    assert "<svg" not in result.stdout and "Charts need matplotlib" in result.stdout


def test_catalog_text_cannot_inject_markup(cli, tmp_path):
    overlay = tmp_path / "evil.yaml"
    overlay.write_text("gpus:\n  - id: l4\n    notes: '<script>alert(1)</script>'\n")
    for fmt in ("html", "markdown"):
        result = cli("fit", "llama-3.1-8b", "--latency", "60ms", "--gpu", "l4", "--format", fmt, "--catalog", str(overlay))
        assert result.exit_code == 0, result.stderr
        assert "<script>" not in result.stdout and "&lt;script" in result.stdout


# --- the design review: bill of materials and pricing assumptions


def _section(text: str, title: str) -> str:
    """One '## title' section of a Markdown review."""
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


@pytest.fixture(scope="module")
def fleet_review():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERMINAL_WIDTH", "120")
        mp.setenv("NO_COLOR", "1")
        review = run_cli(*FLEET, "--format", "markdown")
        plan = run_cli(*FLEET, "--format", "json")
    assert review.exit_code == 0, review.stderr
    return review.stdout, json.loads(plan.stdout)


def test_review_names_provider_instance_pricing_and_price_date(fleet_review, catalog):
    text, plan = fleet_review
    bom, pricing = _section(text, "Bill of materials"), _section(text, "Pricing assumptions")
    rented = [line["offer"] for line in plan["lines"] if line["offer"]["acquisition"] == "rent"]
    assert rented
    for offer in rented:
        provider = catalog.providers[offer["provider"]]
        for where in (bom, pricing):
            assert provider.name in where and offer["instance"] in where and offer["pricing"] in where
        # the source is a numbered footnote under Sources, cited where the price is given
        assert f"as of {offer['price_as_of']} [" in pricing and offer["price_source"] in _section(text, "Sources")
        assert provider.billing.rstrip(".") in pricing  # what the provider's price covers
        hourly = offer["units"] * offer["usd_per_hour_per_unit"]
        assert f"${hourly:,.2f}/h" in bom and f"${hourly * 730:,.0f}/month" in bom
    assert "Owned GPUs (h100-sxm) are sunk" in pricing and "h100-sxm | 4 |" in bom
    assert "No redundancy (N+0)" in pricing
    for section in ("Risks", "Assumptions"):
        assert "Price of " not in _section(text, section)  # each price is said once, under Pricing assumptions


def test_review_alternatives_and_sensitivity_name_hardware(fleet_review):
    text, plan = fleet_review
    alternatives = _section(text, "Alternatives")
    assert plan["alternatives"]
    for alternative in plan["alternatives"]:
        assert alternative["hardware"] in alternatives
    sensitivity = _section(text, "Sensitivity")
    for line in plan["lines"]:
        assert line["hardware"] in sensitivity
    assert "$/GPU" not in text and "per GPU-hour" not in text  # no per-GPU prices anywhere


def test_bought_plan_review_lists_the_servers_parts(cli, tmp_path):
    from test_csv_bom import BOUGHT, TEST_SERVER

    overlay = tmp_path / "server.yaml"
    overlay.write_text(TEST_SERVER)
    result = cli(*BOUGHT, "--format", "markdown", "--catalog", str(overlay))
    assert result.exit_code == 0, result.stderr
    bom, pricing = _section(result.stdout, "Bill of materials"), _section(result.stdout, "Pricing assumptions")
    assert "| Test L40S box |" in bom and "$1,400" in bom
    assert "| Test L40S box | Test chassis | 1 | $1,000 | $1,000 | 2026-01 | test fixture chassis |" in bom
    assert "| Test L40S box | Test L40S card | 4 | $100 | $400 | 2025-12 | test fixture card |" in bom
    assert "the price covers test fixture: chassis and four cards" in bom
    assert "bought outright" in pricing and "Rented at" not in pricing


def test_consumer_card_in_the_plan_brings_the_licence_note(cli, tmp_path):
    overlay = tmp_path / "consumer.yaml"
    overlay.write_text("""
providers:
  - {id: testcloud, name: "Test Cloud", kind: marketplace, default: false, billing: "test fixture: the card and its host",
     source: "test fixture", as_of: 2026-01}
instances:
  - id: testcloud-4090
    provider: testcloud
    name: "1x RTX 4090"
    gpu: rtx-4090
    gpus: 1
    source: "test fixture"
    prices:
      - {pricing: on-demand, region: "test-1", usd_per_hour: 0.5, as_of: 2026-01, source: "test fixture price"}
""")
    result = cli("fit", "llama-3.1-8b", "--latency", "60ms", "--gpu", "rtx-4090", "--provider", "testcloud",
                 "--format", "markdown", "--catalog", str(overlay))
    assert result.exit_code == 0, result.stderr
    pricing = _section(result.stdout, "Pricing assumptions")
    assert "CONSUMER CARDS" in pricing and "licence" in pricing
    assert "Test Cloud (marketplace): an instance's price covers test fixture: the card and its host" in pricing
    assert "Rented at on-demand prices from Test Cloud" in pricing
    assert "CONSUMER CARDS" not in _section(result.stdout, "Assumptions")
    assert "Consumer parts: 1 of 1 GPUs are consumer cards (rtx-4090)" in _section(result.stdout, "Risks")


# --- catalog listings: the price book, and GPUs without per-GPU prices


def _listing(cli, section: str) -> list[dict]:
    result = cli("catalog", "list", section, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)[section]


def test_catalog_lists_providers_instances_and_servers(cli, catalog):
    providers = _listing(cli, "providers")
    assert [p["id"] for p in providers] == list(catalog.providers)
    for row in providers:
        assert row["billing"] and row["as_of"] and row["source"]
        assert row["instances"] == sum(i.provider == row["id"] for i in catalog.instances.values())
    instances = _listing(cli, "instances")
    assert len(instances) == len(catalog.instances)
    for row in instances:
        instance = catalog.instances[row["id"]]
        on_demand = [p for p in instance.prices if p.pricing.value == "on-demand"]
        if on_demand:
            cheapest = min(on_demand, key=lambda p: p.usd_per_hour)
            assert (row["on_demand_usd_per_hour"], row["on_demand_region"]) == (cheapest.usd_per_hour, cheapest.region)
        else:
            assert row["on_demand_usd_per_hour"] is None
        assert set(row["other_pricing"]) == {p.pricing.value for p in instance.prices} - {"on-demand"}
    servers = _listing(cli, "servers")
    for row in servers:
        server = catalog.servers[row["id"]]
        assert row["price_usd"] == sum(part.quantity * part.unit_usd for part in server.parts)
        assert row["as_of"] and row["gpus"] == server.gpus
    for section in ("providers", "instances", "servers"):
        table = cli("catalog", "list", section)
        assert table.exit_code == 0 and f"{section} (" in table.stdout


def test_gpu_listing_shows_offers_not_per_gpu_prices(cli, catalog):
    rows = {row["id"]: row for row in _listing(cli, "gpus")}
    for gpu_id, row in rows.items():
        assert "cloud_usd_per_gpu_hour" not in row and "purchase_usd" not in row
        carrying = [i for i in catalog.instances.values() if i.gpu == gpu_id]
        assert row["instances"] == len(carrying)
        assert row["servers"] == sum(s.gpu == gpu_id for s in catalog.servers.values())
        per_gpu = [(p.usd_per_hour / i.gpus, i) for i in carrying for p in i.prices if p.pricing.value == "on-demand"]
        if per_gpu:
            best, instance = min(per_gpu, key=lambda pair: pair[0])
            assert row["cheapest_on_demand_usd_per_gpu_hour"] == pytest.approx(best, abs=1e-4)
            assert row["cheapest_on_demand_instance"].endswith(instance.name)
        else:
            assert row["cheapest_on_demand_usd_per_gpu_hour"] is None
    assert any(row["instances"] for row in rows.values())
    table = cli("catalog", "list", "gpus")
    assert "cloud ($/GPU-h)" not in table.stdout and "purchase ($)" not in table.stdout
    shown = json.loads(cli("catalog", "show", "h100-sxm").stdout)
    assert "prices" not in shown
    assert shown["offers"]["instances"] == rows["h100-sxm"]["instances"]


def test_unknown_catalog_section_names_the_new_ones(cli):
    result = cli("catalog", "list", "offers")
    assert result.exit_code == 2 and "providers, instances or servers" in result.stderr
