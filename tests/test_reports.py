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
from planner.report.csv import BOM_COLUMNS, SUMMED

FLEET = ["fit", "llama-3.1-70b", "--throughput", "5000 tok/s", "--latency", "50ms", "--gpu", "h100-sxm,a100-sxm-80gb,l40s",
         "--inventory", "h100-sxm=8"]


@pytest.fixture(scope="module")
def fleet_csv():
    """The FLEET plan as CSV, solved once for the tests that read it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERMINAL_WIDTH", "120")
        mp.setenv("NO_COLOR", "1")
        return run_cli(*FLEET, "--format", "csv")


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_bom_columns_sum_to_the_totals_row(fleet_csv):
    result = fleet_csv
    assert result.exit_code == 0, result.stderr
    assert "\r\n" in result.stdout  # RFC 4180 line ends
    rows = _rows(result.stdout)
    items, total = rows[:-1], rows[-1]
    assert len(items) >= 2 and total["line"] == "total"
    for column in SUMMED:
        assert float(total[column]) == pytest.approx(sum(float(row[column]) for row in items), rel=1e-9), column
    for row in items:  # numbers are plain numbers a spreadsheet can sum
        for column in ("quantity_gpus", "extended_usd_per_hour", "unit_price_usd_per_hour", "power_w"):
            float(row[column])
            assert "," not in row[column] and "$" not in row[column]
        assert row["hourly_price_as_of"] and row["hourly_price_source"]
        assert int(row["nodes"]) * int(row["gpus_per_node"]) >= int(row["quantity_gpus"])


def test_bom_matches_the_json_plan(cli, fleet_csv):
    plan = json.loads(cli(*FLEET, "--format", "json").stdout)
    rows = _rows(fleet_csv.stdout)
    assert float(rows[-1]["quantity_gpus"]) == plan["total"]["gpus"]
    assert float(rows[-1]["extended_usd_per_hour"]) == pytest.approx(plan["total"]["cost_per_hour_usd"])


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
    for heading in ("## The question", "## The plan", "## Alternatives", "## Sensitivity", "## Risks and assumptions"):
        assert heading in text
    for chart in ("review-cost-latency.svg", "review-memory.svg"):
        assert f"]({chart})" in text
        assert (tmp_path / chart).read_text().lstrip().startswith("<svg")
    assert "latency targets halved" in text and "context doubled" in text


def test_html_report_is_self_contained(cli, tmp_path):
    target = tmp_path / "review.html"
    result = cli(*FLEET, "--format", "html", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    assert "Pareto front" in page and "usable capacity" in page
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
                          capture_output=True, text=True, timeout=600)
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
