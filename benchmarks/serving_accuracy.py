"""The serving simulation against measured closed-loop serving runs.

benchmarks/data/silicon-hopper.csv (a copy of the shared validation file; see
SILICON.md beside it) gives the
mean TTFT and TPOT of requests at a fixed client concurrency N and fixed
input/output lengths, on H100 and H200 with TensorRT-LLM, vLLM and SGLang.
For the aggregated runs of DENSE catalog models on one replica (no
attention DP, no PP; MoE expert placement is not modelled here) this script
simulates the same closed loop (N clients, 6 x N requests, at least 120)
and prints the median |error| of mean TTFT and TPOT by engine, beside the
errors of perf.timing at batch N (today's analytical figures), so the two
can be compared. Runs whose concurrency does not fit the KV cache (TTFT is
then queueing, SILICON.md "capacity-bound runs") are kept: the simulation
queues them as the engine did.

    .venv/bin/python benchmarks/serving_accuracy.py [--limit-concurrency 512] [--catalog overlay.yaml] [--static-only]

Then (alone with --static-only) the held-out static batches of
benchmarks/data/static-batch.csv (STATIC-BATCH.md beside it: published mean
first-token latency of B prompts of one length sent together), each
simulated as a burst of B requests, beside the batch-1 row of the same table.

Nothing here is fitted: the engine factors are the catalog's (fitted on
these runs among others by benchmarks/fit_efficiency.py, whose --serving
flag prints the held-out errors). Repeated runs of one configuration count
once (their median).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog.load import load_catalog  # noqa: E402
from planner.core.errors import PlannerError  # noqa: E402
from planner.model import perf  # noqa: E402
from planner.model.calibrate import (  # noqa: E402
    Error, Observation, Predicted, errors, predict, route_of, safe_predict, simulate)
from planner.model.measurements import Given, Run, observation, read_runs  # noqa: E402
from planner.model.predict import default_kv_precision  # noqa: E402
from planner.model.workload import Deployment, Shape  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "silicon-hopper.csv"  # a copy of the shared validation file; provenance in data/SILICON.md
GPUS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm"}
# Hub repository -> catalog model, where the catalog entry gives no hf_ids
MODELS = {
    "meta-llama/llama-3.1-8b-instruct": "llama-3.1-8b",
    "nvidia/llama-3.1-8b-instruct-fp8": "llama-3.1-8b",
    "meta-llama/llama-3.1-70b": "llama-3.1-70b",
    "qwen/qwen3-32b": "qwen3-32b",
}


def silicon_concurrency(source: str) -> int | None:
    """The closed-loop client count a silicon-hopper row's source field
    records (``silicon_concurrency=N``), or None where it gives none."""
    for part in source.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "silicon_concurrency" and value.isdigit():
            return int(value)
    return None


def silicon_observations(catalog, limit_concurrency: int = 512) -> tuple[list[Observation], dict[str, int]]:
    """The dense aggregated single-replica runs of silicon-hopper.csv as
    observations, and how many rows were left out, by reason. Repeated runs of
    one configuration (same engine, model, GPU, precision, TP, lengths and
    concurrency; SILICON.md "Repeated runs") become one observation with the
    median of their TTFTs and of their TPOTs, so a configuration counts once."""
    if not DATA.is_file():
        raise SystemExit(f"{DATA} is missing: it ships with the repository (benchmarks/data/SILICON.md)")
    by_hf = {hf.lower(): m for m in catalog.models.values() for hf in m.hf_ids}
    for hf, model_id in MODELS.items():
        if model_id in catalog.models:
            by_hf.setdefault(hf, catalog.models[model_id])
    skipped: dict[str, int] = defaultdict(int)
    runs: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    with DATA.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["mode"] != "agg":
                skipped["disaggregated"] += 1
                continue
            model = by_hf.get(row["model_path"].lower())
            if model is None or model.moe is not None:
                skipped["MoE (expert parallelism not modelled) or not in the catalog"] += 1
                continue
            n = silicon_concurrency(row["silicon_data_source"])
            if n is None or n > limit_concurrency:
                skipped["concurrency unknown or over the limit"] += 1
                continue
            if int(row["pp_size"] or 1) != 1 or int(row["attention_dp_size"] or 1) > 1:
                skipped["pipeline or attention DP"] += 1
                continue
            key = (row["backend"], model.id, row["system"], row["precision"] or "bf16", int(row["tp_size"]),
                   int(row["isl"]), int(row["osl"]), n)
            runs[key].append(row)
    observations = []
    for (engine_id, model_id, system, weights, tp, isl, osl, n), rows in runs.items():
        dep = Deployment(gpu=catalog.gpu(GPUS[system]), precision=catalog.precision(weights),
                         kv_precision=catalog.precision(default_kv_precision(catalog, weights)),
                         engine=catalog.engine(engine_id), tp=tp, batch=1)
        ttft = statistics.median(float(r["silicon_ttft_ms"]) for r in rows) / 1e3
        tpot = statistics.median(float(r["silicon_tpot_ms"]) for r in rows) / 1e3
        obs = Observation(rows[0]["id"], catalog.models[model_id], dep, isl, osl, n, ttft, tpot, runs=len(rows))
        try:
            route_of(obs)  # the replica must hold the model and one request
        except PlannerError as exc:
            skipped[f"refused: {type(exc).__name__}"] += len(rows)
            continue
        observations.append(obs)
    return observations, dict(skipped)


def report(title: str, pairs: list[tuple[Observation, Predicted]]) -> dict[str, dict[str, Error]]:
    """Print median |error| and bias of mean TTFT and TPOT by engine; return them."""
    by_engine: dict[str, list[tuple[Observation, Predicted]]] = defaultdict(list)
    for obs, p in pairs:
        by_engine[obs.deployment.engine.id].append((obs, p))
    print(title)
    out = {}
    for engine_id, chosen in sorted(by_engine.items()):
        e = errors(chosen)
        out[engine_id] = e
        cells = "  ".join(f"{m.upper()} {e[m].median_abs_pct:5.1f}% (bias {e[m].bias_pct:+5.1f}%, {e[m].rows} runs)"
                          for m in ("ttft", "tpot") if m in e)
        print(f"  {engine_id:<8}{cells}")
    pooled = errors(pairs)
    out["all"] = pooled
    print("  all     " + "  ".join(f"{m.upper()} {pooled[m].median_abs_pct:5.1f}% (bias {pooled[m].bias_pct:+5.1f}%, "
                                   f"{pooled[m].rows} runs)" for m in ("ttft", "tpot") if m in pooled))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-concurrency", type=int, default=512, help="skip runs above this N (simulation time)")
    parser.add_argument("--catalog", action="append", default=[], metavar="FILE",
                        help="overlay on the catalog (e.g. benchmarks/engines-fitted-serving.yaml)")
    parser.add_argument("--static-only", action="store_true",
                        help="only the static-batch TTFT rows (benchmarks/data/static-batch.csv), not the closed loops")
    args = parser.parse_args()
    catalog = load_catalog(args.catalog)
    if args.static_only:
        static_batch_ttft(catalog)
        return
    observations, skipped = silicon_observations(catalog, args.limit_concurrency)
    pairs = []
    timing_errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for obs in observations:
        dep, engine = obs.deployment, obs.deployment.engine
        pairs.append((obs, safe_predict(obs, engine.factors_for(dep.gpu))))
        timing = perf.timing(obs.model, dep, Shape(obs.input_len, obs.output_len), engine.factors_for(dep.gpu),
                             batch=obs.concurrency)
        assert obs.ttft_s is not None and obs.tpot_s is not None
        timing_errors[engine.id]["ttft"].append(timing.ttft_s / obs.ttft_s - 1)
        timing_errors[engine.id]["tpot"].append((timing.tpot_s or 0) / obs.tpot_s - 1)
    report("serving simulation, catalog factors (median |error| of mean TTFT and TPOT):", pairs)
    print("perf.timing at batch N, for comparison:")
    for engine_id, e in sorted(timing_errors.items()):
        print(f"  {engine_id:<8}TTFT {100 * statistics.median(abs(v) for v in e['ttft']):5.1f}%  "
              f"TPOT {100 * statistics.median(abs(v) for v in e['tpot']):5.1f}%")
    print("skipped rows: " + ", ".join(f"{why} {count}" for why, count in sorted(skipped.items())))
    static_batch_ttft(catalog)


STATIC_BATCH = Path(__file__).resolve().parent / "data" / "static-batch.csv"  # held out; provenance in data/STATIC-BATCH.md
MEASURED = Path(__file__).resolve().parent / "data" / "measured.csv"
# LMDeploy's profile_generation.py runs each case as `concurrency` threads that
# send their requests one after another, 10 rounds by default
# (docs/en/benchmark/profile_generation.md, STATIC-BATCH.md): a closed loop of
# B clients whose first round is the burst. The table shows that reading too.
PROFILE_GENERATION_ROUNDS = 10


@dataclass(frozen=True)
class StaticRow:
    """One published static-batch TTFT beside what the simulation gives for it."""

    run: Run
    observation: Observation | None  # None: the row does not map onto the catalog
    predicted_s: float | None  # the burst's mean TTFT; None where the model refuses the run
    refused: str | None  # why there is no prediction
    rounds_s: float | None = None  # mean TTFT of B clients sending PROFILE_GENERATION_ROUNDS requests each


def static_batch_rows(catalog, paths: tuple[Path, ...] = (STATIC_BATCH, MEASURED)) -> list[StaticRow]:
    """Every TTFT row of static-batch.csv (batch 1 included, as the
    single-prompt baseline) and the batch > 1 TTFT rows of measured.csv, each
    simulated as a burst of batch_size requests (measurements.read_runs turns
    a measured.csv-style row into a burst of its batch_size)."""
    out = []
    for path in paths:
        for run in read_runs(path):
            if run.ttft_ms is None or (path != STATIC_BATCH and (run.concurrency or 1) <= 1):
                continue
            try:
                obs = observation(catalog, run, Given())
            except PlannerError as exc:
                out.append(StaticRow(run, None, None, exc.message))
                continue
            factors = obs.deployment.engine.factors_for(obs.deployment.gpu)
            try:
                predicted = predict(obs, factors).ttft_s
                rounds = None
                if obs.deployment.engine.id == "lmdeploy":  # profile_generation.py's rounds (above)
                    looped = replace(obs, burst=False, requests=PROFILE_GENERATION_ROUNDS * obs.concurrency)
                    rounds = simulate(looped, factors).ttft_s
            except PlannerError as exc:
                out.append(StaticRow(run, obs, None, exc.message))
                continue
            if not math.isfinite(predicted):
                out.append(StaticRow(run, obs, None, "the simulation finished no request"))
                continue
            if rounds is not None and not math.isfinite(rounds):
                rounds = None
            out.append(StaticRow(run, obs, predicted, None, rounds))
    return out


def _summary(label: str, rows: list[StaticRow], rounds: bool = False) -> str:
    """Rows, median |error|, bias (median signed error) and share within 25%
    of the burst's mean TTFT (or, with ``rounds``, the closed loop's)."""
    predicted = [(r.rounds_s if rounds else r.predicted_s, r.run.ttft_ms) for r in rows]
    errs = [p / (m / 1e3) - 1 for p, m in predicted if p is not None and m]
    refused = len(rows) - len(errs)
    if not errs:
        return f"  {label:<22}{len(rows):>3} rows, none predicted ({refused} refused)"
    within = sum(abs(e) <= 0.25 for e in errs) / len(errs)
    median_abs = 100 * statistics.median(abs(e) for e in errs)
    return (f"  {label:<22}{len(rows):>3} rows, {len(errs):>3} predicted: median |error| {median_abs:5.1f}%, "
            f"bias {100 * statistics.median(errs):+6.1f}%, within 25% {100 * within:3.0f}%"
            + (f" ({refused} refused)" if refused else ""))


def static_batch_ttft(catalog) -> list[StaticRow]:
    """Published mean TTFT of static batches (benchmarks/data/static-batch.csv,
    held out: nothing is fitted on it; and measured.csv's batch > 1 TTFT rows,
    if any), each simulated as a burst of batch_size requests, against the
    burst's mean TTFT in the simulation. Prints the errors by engine and
    overall, and every row beside the batch-1 row of the same table (same
    model, GPU, TP and lengths: the single-prompt baseline, which separates
    the prefill factors' error from the batching's). Returns the rows."""
    rows = static_batch_rows(catalog)
    batched = [r for r in rows if (r.run.concurrency or 1) > 1]
    baseline = {_key(r.run): r for r in rows if (r.run.concurrency or 1) == 1}
    fitted = {_key(run) for run in read_runs(MEASURED) if run.ttft_ms is not None}
    print(f"static-batch TTFT (bursts of batch_size; {STATIC_BATCH.name}, held out; see data/STATIC-BATCH.md):")
    if not batched:
        print("  no row measures TTFT at batch > 1 (none to check)")
        return rows
    by_engine: dict[str, list[StaticRow]] = defaultdict(list)
    for r in batched:
        by_engine[r.observation.deployment.engine.id if r.observation else "unmapped"].append(r)
    for engine_id, chosen in sorted(by_engine.items()):
        print(_summary(f"{engine_id}, batch > 1", chosen))
    print(_summary("all, batch > 1", batched))
    if baseline:
        print(_summary("batch-1 baseline", list(baseline.values())))
    if any(r.rounds_s is not None for r in batched):
        print(_summary("lmdeploy, as 10 rounds", [r for r in batched if r.observation
                                                  and r.observation.deployment.engine.id == "lmdeploy"], rounds=True))
    print(f"  {'model':<12}{'GPU':<15}{'TP':>3}{'batch':>6}{'in':>6}{'out':>6}{'measured':>11}{'burst':>11}{'error':>8}"
          f"{'10 rounds':>11}{'error':>8}   {'batch 1: measured':>17}{'predicted':>11}{'error':>8}")
    first_seen = {r.run.model: i for i, r in reversed(list(enumerate(rows)))}  # the file's order of models
    for r in sorted(batched, key=lambda r: (first_seen[r.run.model], r.run.input_len or 0, r.run.output_len or 0,
                                            r.run.concurrency or 1)):
        base = baseline.get(_key(r.run))
        mark = " *" if base and _key(base.run) in fitted else ""
        print(f"  {_cells(r, wide=True)}   {_cells(base) if base else '':>36}{mark}")
    if any(_key(r.run) in fitted for r in baseline.values()):
        print("  * this batch-1 figure is also in measured.csv, on which the engine's factors were fitted (in sample)")
    reasons: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.refused:
            reasons[r.refused] += 1
    for why, count in sorted(reasons.items()):
        print(f"  refused {count} rows: {why}")
    return rows


def _key(run: Run) -> tuple:
    """One table's configuration at one batch size's lengths: model, GPU, engine, TP, precision, lengths."""
    return (run.model, run.gpu, run.engine, run.tp, run.precision, run.input_len, run.output_len)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:,.0f} ms"


def _pct(predicted: float | None, measured: float | None) -> str:
    """Signed error in whole per cent ("+0%", never "-0%"); "-" without a prediction."""
    if predicted is None or not measured:
        return "-"
    return f"{round(100 * (predicted / measured - 1)) + 0:+d}%"


def _cells(r: StaticRow, wide: bool = False) -> str:
    measured = r.run.ttft_ms / 1e3 if r.run.ttft_ms is not None else None
    error = _pct(r.predicted_s, measured)
    if not wide:
        return f"{_ms(measured):>17}{_ms(r.predicted_s):>11}{error:>8}"
    rounds = _pct(r.rounds_s, measured)
    figures = f"{_ms(measured):>11}{_ms(r.predicted_s):>11}{error:>8}{_ms(r.rounds_s):>11}{rounds:>8}"
    obs = r.observation
    model = obs.model.id if obs else (r.run.model or "?")
    gpu = obs.deployment.gpu.id if obs else (r.run.gpu or "?")
    return (f"{model:<12}{gpu:<15}{r.run.tp or 1:>3}{r.run.concurrency or 1:>6}{r.run.input_len or 0:>6}"
            f"{r.run.output_len or 0:>6}{figures}")


if __name__ == "__main__":
    main()
