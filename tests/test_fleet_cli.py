"""`planner fit --scenario FILE`: a fleet from a scenario file, on the command line."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import ROOT

SCENARIO = str(ROOT / "examples" / "fleet-readme.yaml")


@pytest.mark.parametrize(("extra", "flag"), [
    (["llama-3.1-8b"], "MODEL"),
    (["--latency", "50ms"], "--latency"),
    (["--throughput", "5 req/s"], "--throughput"),
    (["--gpu", "l40s"], "--gpu"),
    (["--owned", "h100-sxm=8"], "--owned"),
    (["--budget", "$40/h"], "--budget"),
    (["--explain"], "--explain"),
    (["--csv-kind", "candidates"], "--csv-kind"),
    (["--input", "512"], "--input"),
    (["--redundancy", "N+1"], "--redundancy"),
])
def test_question_flags_do_not_mix_with_a_scenario(cli, extra, flag):
    result = cli("fit", "--scenario", SCENARIO, *extra)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"planner: error: {flag} cannot be given with --scenario")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_flag_given_its_default_value_still_counts_as_given(cli):
    result = cli("fit", "--scenario", SCENARIO, "--engine", "vllm")
    assert result.exit_code == 2 and "--engine cannot be given with --scenario" in result.stderr


def test_fit_without_model_or_scenario_says_what_is_missing(cli):
    result = cli("fit", "--latency", "50ms")
    assert result.exit_code == 2
    assert result.stderr == ("planner: error: Missing argument 'MODEL' or option '--scenario' "
                             "(see planner fit --help)\n")


def test_unknown_format_with_a_scenario_is_an_input_error(cli):
    result = cli("fit", "--scenario", SCENARIO, "--format", "xml")
    assert result.exit_code == 2 and "unknown format 'xml'" in result.stderr


def test_help_names_the_scenario_option(cli):
    result = cli("fit", "--help")
    assert "--scenario FILE" in result.stdout and "[MODEL]" in result.stdout


def test_scenario_end_to_end_in_every_format(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    table = cli("fit", "--scenario", "examples/fleet-readme.yaml")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.startswith("Fleet readme-fleet: 2 workloads") and "/day" in table.stdout
    assert "Workloads" in table.stdout and "Fleet plan" in table.stdout and "What binds:" in table.stdout

    data = json.loads(cli("fit", "--scenario", "examples/fleet-readme.yaml", "--format", "json").stdout)
    assert data["scenario"] == "readme-fleet" and data["cost"]["unit"] == "USD/day"
    assert [s["workload"] for s in data["streams"]] == ["chat", "embed"]
    assert len(data["by_hour"]["gpus"]) == 24
    assert data["cost"]["static_peak"] is None or data["cost"]["value"] <= data["cost"]["static_peak"] + 1e-6
    # the lines' costs add up to the fleet's, and each hour's units serve that hour's demand
    assert sum(line["cost"] for s in data["streams"] for line in s["lines"]) == pytest.approx(data["cost"]["value"],
                                                                                           abs=1e-2)
    for stream in data["streams"]:
        for hour, demand in enumerate(stream["demand"]["by_hour"]):
            served = sum(line["by_hour"][hour] * line["throughput_per_unit"] for line in stream["lines"])
            assert served >= demand * (1 - 1e-9), (stream["name"], hour)

    rows = list(csv.DictReader(io.StringIO(cli("fit", "--scenario", "examples/fleet-readme.yaml", "--format", "csv").stdout)))
    fleet_total = rows[-1]
    assert fleet_total["workload"] == "fleet" and fleet_total["line"] == "total"
    assert float(fleet_total["objective_usd_per_day"]) == pytest.approx(data["cost"]["value"], abs=1e-2)

    out = tmp_path / "review.md"
    written = cli("fit", "--scenario", "examples/fleet-readme.yaml", "--format", "markdown", "-o", str(out))
    assert written.exit_code == 0 and "planner: wrote" in written.stderr
    assert out.read_text().startswith("# Fleet plan: readme-fleet")
    html = cli("fit", "--scenario", "examples/fleet-readme.yaml", "--format", "html").stdout
    assert "<h2>Workload chat</h2>" in html and "<h2>Workload embed</h2>" in html


def test_missing_scenario_file_is_an_input_error(cli, tmp_path):
    result = cli("fit", "--scenario", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and result.stderr.startswith("planner: error: ")
    assert result.stderr.count("\n") == 1


# The command line's own work (flags, formats, -o) with the scenario loader
# and the fleet search stood in for by a FleetResult built from real
# placements (test_fleet_report.py), so no fleet is solved here.
from test_fleet_report import build_fleet, fits  # noqa: E402,F401  (fits: the fixture of real `fit` results)


@pytest.fixture
def stood_in(monkeypatch, fits):  # noqa: F811
    import planner.plan.fleet
    import planner.plan.scenario

    seen = {}

    def load_scenario(path):
        seen["path"] = path
        return "the scenario"

    def fit_fleet(catalog, loaded):
        seen["scenario"] = loaded
        return build_fleet(fits, separate_cost=500.0)

    monkeypatch.setattr(planner.plan.scenario, "load_scenario", load_scenario)
    monkeypatch.setattr(planner.plan.fleet, "fit_fleet", fit_fleet)
    return seen


def test_each_format_renders_the_fleet(cli, stood_in, tmp_path):
    table = cli("fit", "--scenario", "fleet.yaml")
    assert table.exit_code == 0, table.stderr
    assert str(stood_in["path"]) == "fleet.yaml" and stood_in["scenario"] == "the scenario"
    assert table.stdout.startswith("Fleet test-fleet: 2 workloads") and "Fleet plan" in table.stdout
    data = json.loads(cli("fit", "--scenario", "fleet.yaml", "--format", "json").stdout)
    assert data["scenario"] == "test-fleet" and data["cost"]["one_at_a_time"] == 500.0
    rows = list(csv.DictReader(io.StringIO(cli("fit", "--scenario", "fleet.yaml", "-f", "csv").stdout)))
    assert rows[-1]["workload"] == "fleet"
    assert cli("fit", "--scenario", "fleet.yaml", "--format", "html").stdout.startswith("<!DOCTYPE html>")
    assert cli("fit", "--scenario", "fleet.yaml", "--format", "markdown").stdout.startswith("# Fleet plan: test-fleet")


def test_output_files_are_written_whole(cli, stood_in, tmp_path):
    from planner.report import charts

    text = tmp_path / "fleet.txt"
    result = cli("fit", "--scenario", "fleet.yaml", "-o", str(text))
    assert result.exit_code == 0 and result.stderr == f"planner: wrote {text}\n"
    assert text.read_text().startswith("Fleet test-fleet:")
    review = tmp_path / "review.md"
    result = cli("fit", "--scenario", "fleet.yaml", "--format", "markdown", "-o", str(review))
    assert result.exit_code == 0, result.stderr
    if charts.available():
        chart = tmp_path / "review-fleet-cost.svg"
        assert chart.read_text().startswith("<svg") and "(review-fleet-cost.svg)" in review.read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if ".planner-" in p.name) == []


def test_no_fleet_is_exit_4_with_the_reason_and_json_says_infeasible(cli, stood_in, monkeypatch):
    import planner.plan.fleet
    from planner.core.errors import NoPlanError

    def no_fleet(catalog, loaded):
        raise NoPlanError("no fleet serves chat within budget $10/h")

    monkeypatch.setattr(planner.plan.fleet, "fit_fleet", no_fleet)
    table = cli("fit", "--scenario", "fleet.yaml")
    assert table.exit_code == 4 and table.stderr.startswith("planner: error: no fleet serves chat within budget $10/h")
    data = cli("fit", "--scenario", "fleet.yaml", "--format", "json")
    assert data.exit_code == 4
    assert json.loads(data.stdout) == {"status": "infeasible", "reason": "no fleet serves chat within budget $10/h",
                                       "scenario": "fleet.yaml"}
