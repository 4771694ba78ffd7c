"""benchmarks/data/static-batch.csv: published mean TTFT of static batches
(a burst of B prompts of one length sent together), held out from every fit.
Provenance: benchmarks/data/STATIC-BATCH.md.

Checked here: each row is readable by planner's reader, carries a pinned
source, and becomes a burst of its batch_size; and the serving simulation's
burst TTFT on each row respects two lower bounds from the analytical
prefill time (perf.prefill). How close the simulation comes to the published
figures is the benchmark's business (benchmarks/serving_accuracy.py
--static-only), not a test's.
"""

from __future__ import annotations

import csv
import re

import pytest

from conftest import ROOT
from planner.model import perf, serving, traffic
from planner.model.lengths import fixed
from planner.model.measurements import Given, observation, read_runs

DATA = ROOT / "benchmarks" / "data" / "static-batch.csv"
MEASURED = ROOT / "benchmarks" / "data" / "measured.csv"
# a figure's page at one commit: the table can be checked as it was read
PINNED_GITHUB = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/blob/[0-9a-f]{40}/\S+$")


def _rows() -> list[dict[str, str]]:
    with DATA.open(newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = _rows()
BATCHED = [i for i, row in enumerate(ROWS) if int(row["batch_size"]) > 1]


def test_same_columns_as_measured_csv():
    with DATA.open(newline="") as a, MEASURED.open(newline="") as b:
        assert next(csv.reader(a)) == next(csv.reader(b))


def test_rows_have_sources_and_positive_ttft():
    assert len(BATCHED) >= 10
    for row in ROWS:
        assert PINNED_GITHUB.match(row["source"]), row["source"]
        assert row["source_detail"].strip() and row["notes"].strip()
        assert row["metric"] == "ttft_ms" and row["unit"] == "ms"
        assert float(row["value"]) > 0
        assert int(row["input_len"]) > 1  # a one-token prompt is no prefill (left out, STATIC-BATCH.md)


def test_every_row_parses_and_batches_become_bursts(catalog):
    runs = read_runs(DATA)
    assert len(runs) == len(ROWS)
    for row, run in zip(ROWS, runs):
        obs = observation(catalog, run, Given())
        batch = int(row["batch_size"])
        assert obs.ttft_s == pytest.approx(float(row["value"]) / 1e3)
        assert obs.tpot_s is None
        assert (obs.input_len, obs.output_len) == (int(row["input_len"]), int(row["output_len"]))
        assert obs.deployment.tp == int(row["tp"])
        assert obs.concurrency == batch
        assert obs.burst  # a static batch: one burst of batch_size requests, not a closed loop


def test_batched_rows_are_held_out():
    """No batch > 1 row is in measured.csv, which benchmarks/fit_efficiency.py fits on."""
    def key(row):
        return (row["source"], row["model"], row["gpu"], row["tp"], row["batch_size"], row["input_len"],
                row["output_len"], row["metric"])
    with MEASURED.open(newline="") as handle:
        fitted = {key(row) for row in csv.DictReader(handle)}
    assert not [key(ROWS[i]) for i in BATCHED if key(ROWS[i]) in fitted]


def _served(catalog, index):
    """The row's observation and the deployment it names."""
    obs = observation(catalog, read_runs(DATA)[index], Given())
    return obs, obs.deployment


@pytest.mark.parametrize("index", BATCHED)
def test_burst_ttft_at_least_the_prefill(catalog, index):
    """Every request of the burst waits at least for its own prompt's
    prefill, so the mean TTFT is at least one prompt's perf.prefill; the last
    first token waits for all B prompts, which take no less than one pass
    over the whole batch (perf.prefill of B prompts: steps split it, and each
    step reads the weights again and pays its fixed cost)."""
    obs, dep = _served(catalog, index)
    factors = dep.engine.factors_for(dep.gpu)
    b, prompt = obs.concurrency, obs.input_len
    summary = serving.simulate(obs.model, dep, traffic.Burst(b), fixed(prompt, obs.output_len), factors=factors).summary()
    assert summary.ttft is not None and summary.ttft.count == b
    one_prompt = perf.prefill(obs.model, dep, factors, 1, prompt).total_s
    whole_batch = perf.prefill(obs.model, dep, factors, b, prompt).total_s
    assert summary.ttft.mean >= one_prompt * (1 - 1e-9)
    assert b <= 100  # nearest-rank p99 of at most 100 values is their maximum
    assert summary.ttft.p99 >= whole_batch * (1 - 1e-9)
