"""`planner fit --scenario FILE`: a fleet from a scenario file, on the command line."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import ROOT, fleet_landed

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


# End to end: runs once planner/plan/scenario.py and fleet.fit_fleet are merged
# (conftest.fleet_landed); the skip goes when they land.
needs_fleet = pytest.mark.skipif(not fleet_landed(), reason="fit --scenario lands with planner/plan/scenario.py")


@needs_fleet
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


@needs_fleet
def test_missing_scenario_file_is_an_input_error(cli, tmp_path):
    result = cli("fit", "--scenario", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and result.stderr.startswith("planner: error: ")
    assert result.stderr.count("\n") == 1
