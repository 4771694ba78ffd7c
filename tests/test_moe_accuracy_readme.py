"""The README's figures for the disaggregated MoE runs are what
benchmarks/moe_accuracy.py computes today (README, "Mixtures of experts and
disaggregated serving"): a change to the model or to the benchmark's reading
of benchmarks/data/silicon-hopper.csv that moves them fails here until the
README says the new figures. Exact to the README's rounding."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from conftest import ROOT

from planner.catalog.load import load_catalog

README = re.sub(r"\s+", " ", (ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def moe_accuracy():
    benchmarks = str(ROOT / "benchmarks")
    sys.path.insert(0, benchmarks)  # moe_accuracy imports serving_accuracy beside it
    try:
        spec = importlib.util.spec_from_file_location("moe_accuracy", ROOT / "benchmarks" / "moe_accuracy.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["moe_accuracy"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(benchmarks)
    return module


def test_the_readme_quotes_the_disaggregated_figures(moe_accuracy):
    runs, total = moe_accuracy.disaggregated_runs(load_catalog())
    answered = sum(r.runs for r in runs if r.predicted is not None)
    configurations = [r for r in runs if r.predicted is not None]
    inferred = sum(not r.workers_given for r in configurations)
    figures = moe_accuracy.disaggregated_errors(runs)
    poisson, in_step, between, tpot_all, count = figures["all"]
    tpot_given = figures["worker counts given"][3]
    quoted = [
        f"The {total} disaggregated runs",
        f"answered for {answered} ({100 * answered / total:.0f}%)",
        f"for {inferred} of {count} configurations",
        f"within {tpot_given:.1f}% median where the counts are given and {tpot_all:.1f}% over all",
        f"the model is {poisson:.0f}% low (median)",
        f"{in_step:.0f}% high",
        f"{between:.0f}% of the measured TTFTs lie between the two",
    ]
    missing = [q for q in quoted if q not in README]
    assert not missing, f"README does not say: {missing}"


def test_a_repeated_run_counts_once(moe_accuracy):
    """Rows repeating a db-dump run figure for figure join that run (its
    worker counts), so no run is scored twice."""
    runs, _total = moe_accuracy.disaggregated_runs(load_catalog())
    measured = [(r.engine, r.gpu, r.isl, r.osl, r.clients, round(r.ttft_s, 9), round(r.tpot_s, 9)) for r in runs]
    given = [m for m, r in zip(measured, runs) if r.workers_given]
    inferred = [m for m, r in zip(measured, runs) if not r.workers_given]
    assert given and inferred
    assert not set(given) & set(inferred)
