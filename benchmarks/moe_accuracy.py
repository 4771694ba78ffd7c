"""The serving simulation against measured mixture-of-experts serving runs.

benchmarks/data/silicon-hopper.csv (SILICON.md beside it) holds closed-loop
runs of eight MoE models on H100 and H200 with TensorRT-LLM, vLLM and
SGLang, served tensor-parallel, expert-parallel and with attention data
parallelism. This script simulates each aggregated run (N clients, as
benchmarks/serving_accuracy.py does for the dense ones) on the layout the
row gives (tp, attention DP, moe_ep), and prints the median |error| of mean
TTFT and TPOT by engine and layout, with the share of rows answered.

    .venv/bin/python benchmarks/moe_accuracy.py [--limit-concurrency 512] [--fit] [--catalog overlay.yaml]

The engine factors are the catalog's, fitted by benchmarks/fit_efficiency.py
on dense rows only. Two global MoE factors (planner/model/experts.py:
EXPERT_GEMM_SHARE and MOE_PREFILL_LAYER_US) are fitted on these rows; --fit
searches them again on every GPU's rows, then leave-one-GPU-out: on H100's
rows alone, scored on H200's, and the reverse, and prints those held-out
errors. Repeated runs of one configuration count once (their median).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog.load import load_catalog  # noqa: E402
from planner.core.errors import PlannerError  # noqa: E402
from planner.model import disaggregated, experts, perf  # noqa: E402
from planner.model.calibrate import Observation, Predicted, errors, route_of, safe_predict  # noqa: E402
from planner.model.predict import default_kv_precision  # noqa: E402
from planner.model.workload import Deployment, Shape  # noqa: E402

from serving_accuracy import DATA, GPUS, silicon_concurrency  # noqa: E402

# The file's precision label -> catalog weight format. "fp4" rows are
# gpt-oss-120b, whose checkpoint is MXFP4 (Hopper has no FP4 GEMMs, so the
# engines run it weight-only); "int4" rows are Kimi-K2.5's INT4 checkpoint.
PRECISIONS = {"": "bf16", "fp8": "fp8", "fp4": "mxfp4", "int4": "int4"}


def layout(row: dict[str, str]) -> tuple[int, int, int, int]:
    """(tp, dp, ep, pp) of an aggregated row; SILICON.md: moe_tp x moe_ep = tp x attention_dp."""
    tp = int(row["tp_size"] or 1)
    dp = int(row["attention_dp_size"] or 1)
    ep = int(row["moe_ep_size"] or 1)
    return tp, dp, ep, int(row["pp_size"] or 1)


def moe_rows(catalog, mode: str):
    """(row, catalog model, concurrency or None) for each MoE row of the mode
    ("agg" or "disagg") whose model the catalog has."""
    by_hf = {hf.lower(): m for m in catalog.models.values() for hf in m.hf_ids}
    with DATA.open(newline="") as handle:
        for row in csv.DictReader(handle):
            model = by_hf.get(row["model_path"].lower())
            if row["mode"] == mode and model is not None and model.moe is not None:
                yield row, model, silicon_concurrency(row["silicon_data_source"])


def _measured(row: dict[str, str], n: int | None) -> tuple:
    """What a run measured and under what load: rows that agree on all of it
    are one run listed twice."""
    return (row["backend"], row["system"], row["isl"], row["osl"], n,
            round(float(row["silicon_ttft_ms"]), 3), round(float(row["silicon_tpot_ms"]), 3))


def moe_observations(catalog, limit_concurrency: int = 512) -> tuple[list[Observation], dict[str, int], int]:
    """The aggregated MoE runs as observations (repeats merged), the rows
    left out by reason, and the number of MoE aggregated rows in all."""
    skipped: dict[str, int] = defaultdict(int)
    runs: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    labelled: dict[tuple, str] = {}  # what a run measured, on its layout -> the model label it counts under
    total = 0
    for row, model, n in moe_rows(catalog, "agg"):
        total += 1
        if n is None or n > limit_concurrency:
            skipped["concurrency unknown or over the limit"] += 1
            continue
        tp, dp, ep, pp = layout(row)
        moe_tp = int(row["moe_tp_size"] or 1)
        if moe_tp * ep != tp * dp:
            skipped["moe_tp x moe_ep is not tp x attention_dp"] += 1
            continue
        # a run filed under two model labels (DeepSeek-R1 and -V3: one architecture) counts once
        model_id = labelled.setdefault(_measured(row, n) + (tp, dp, ep, pp), model.id)
        key = (row["backend"], model_id, row["system"], PRECISIONS[row["precision"]], tp, dp, ep, pp,
               int(row["isl"]), int(row["osl"]), n)
        runs[key].append(row)
    observations = []
    for (engine_id, model_id, system, weights, tp, dp, ep, pp, isl, osl, n), rows in runs.items():
        try:
            dep = Deployment(gpu=catalog.gpu(GPUS[system]), precision=catalog.precision(weights),
                             kv_precision=catalog.precision(default_kv_precision(catalog, weights)),
                             engine=catalog.engine(engine_id), tp=tp, pp=pp, dp=dp, ep=ep, batch=1)
            ttft = statistics.median(float(r["silicon_ttft_ms"]) for r in rows) / 1e3
            tpot = statistics.median(float(r["silicon_tpot_ms"]) for r in rows) / 1e3
            obs = Observation(rows[0]["id"], catalog.models[model_id], dep, isl, osl, n, ttft, tpot, runs=len(rows))
            route_of(obs)  # the replica must hold the model and one request
        except PlannerError as exc:
            skipped[f"refused: {str(exc).split(':')[0][:60]}"] += len(rows)
            continue
        observations.append(obs)
    return observations, dict(skipped), total


# --- disaggregated runs ---------------------------------------------------------------


@dataclass(frozen=True)
class DisaggRun:
    """One disaggregated configuration (repeats merged) and what the model says."""

    label: str
    model_id: str
    engine: str
    gpu: str
    pools: disaggregated.Pools | None  # None: refused
    workers_given: bool
    isl: int
    osl: int
    clients: int
    ttft_s: float
    tpot_s: float
    runs: int
    predicted: disaggregated.DisaggregatedTiming | None = None  # Poisson arrivals
    in_step: disaggregated.DisaggregatedTiming | None = None  # clients in step
    refused: str | None = None


def _pool(catalog, row: dict[str, str], side: str, weights: str, engine: str, gpu: str) -> Deployment:
    tp = int(row[f"{side}_tp_size"] or 1)
    dp = int(row[f"{side}_attention_dp_size"] or 1)
    ep = max(1, int(row[f"{side}_moe_ep_size"] or 1))
    pp = int(row[f"{side}_pp_size"] or 1)
    return Deployment(gpu=catalog.gpu(gpu), precision=catalog.precision(weights),
                      kv_precision=catalog.precision(default_kv_precision(catalog, weights)),
                      engine=catalog.engine(engine), tp=tp, pp=pp, dp=dp, ep=ep, batch=1)


def fewest_decode_workers(model, decode: Deployment, shape: Shape, clients: int) -> int:
    """Where the row leaves the worker count blank: the fewest decode workers
    whose KV caches hold every client (a stated assumption, not a reading)."""
    most = max(perf.max_batch(model, decode, shape, cap=perf.UNCAPPED_BATCH_SEARCH), 1)
    return max(1, math.ceil(clients / most))


def disaggregated_runs(catalog, limit_concurrency: int = 4096) -> tuple[list[DisaggRun], int]:
    """The disaggregated MoE runs, predicted with the catalog's factors.

    The 2026-03-25 and 2026-04-06 dumps leave the worker counts blank; 54
    of their 248 MoE rows repeat, figure for figure (TTFT and TPOT to the
    microsecond, same engine, system, shape and concurrency), a db-dump row
    that gives them (SILICON.md: the sources overlap). Such a row is that
    run again and counts with it, under the db-dump row's layout (its model
    label too: the db-dump files these DeepSeek-R1 runs as DeepSeek-V3, the
    same architecture). Only rows with no such twin fall back to inferred
    worker counts."""
    rows = [(row, model, n) for row, model, n in moe_rows(catalog, "disagg")]
    total = len(rows)
    groups: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    listed: dict[tuple, tuple] = {}  # what a run with worker counts measured -> its group
    # rows giving the worker counts first, so that their repeats can join them
    for row, model, n in sorted(rows, key=lambda t: not (t[0]["prefill_num_workers"] and t[0]["decode_num_workers"])):
        if n is None or n > limit_concurrency:
            continue
        given = bool(row["prefill_num_workers"] and row["decode_num_workers"])
        if not given and _measured(row, n) in listed:
            groups[listed[_measured(row, n)]].append(row)  # the same run again
            continue
        layout_key = tuple(row[f"{side}_{f}"] for side in ("prefill", "decode")
                           for f in ("num_workers", "tp_size", "pp_size", "attention_dp_size", "moe_ep_size"))
        key = (row["backend"], model.id, row["system"], row["precision"], layout_key, int(row["isl"]), int(row["osl"]), n)
        groups[key].append(row)
        if given:
            listed.setdefault(_measured(row, n), key)
    out = []
    for (engine, model_id, system, precision, _layout, isl, osl, n), rows in groups.items():
        model = catalog.models[model_id]
        row = rows[0]  # the row giving the worker counts, where one does
        gpu, weights = GPUS[system], PRECISIONS[precision]
        ttft = statistics.median(float(r["silicon_ttft_ms"]) for r in rows) / 1e3
        tpot = statistics.median(float(r["silicon_tpot_ms"]) for r in rows) / 1e3
        given = bool(row["prefill_num_workers"] and row["decode_num_workers"])
        base = dict(label=row["id"], model_id=model_id, engine=engine, gpu=gpu, workers_given=given, isl=isl, osl=osl,
                    clients=n, ttft_s=ttft, tpot_s=tpot, runs=len(rows))
        try:
            prefill, decode = (_pool(catalog, row, side, weights, engine, gpu) for side in ("prefill", "decode"))
            shape = Shape(isl, osl)
            decode_workers = int(row["decode_num_workers"]) if given else fewest_decode_workers(model, decode, shape, n)
            pools = disaggregated.Pools(prefill, decode, int(row["prefill_num_workers"]) if given else 1, decode_workers)
            factors = catalog.engine(engine).factors_for(catalog.gpu(gpu))
            timing = disaggregated.closed_loop(model, pools, shape, n, factors, factors)
            in_step = disaggregated.closed_loop(model, pools, shape, n, factors, factors, in_step=True)
        except PlannerError as exc:
            out.append(DisaggRun(pools=None, refused=str(exc)[:70], **base))
            continue
        out.append(DisaggRun(pools=pools, predicted=timing, in_step=in_step, **base))
    return out, total


def disaggregated_errors(runs: list[DisaggRun]) -> dict[str, tuple[float, float, float, float, int]]:
    """By group: median |error| % of TTFT with Poisson arrivals and with the
    clients in step, the share of runs whose measured TTFT lies between the
    two, median |error| % of TPOT, and the configurations."""
    groups: dict[str, list[DisaggRun]] = defaultdict(list)
    for r in runs:
        if r.predicted is None:
            continue
        groups["all"].append(r)
        groups[f"GPU {r.gpu}"].append(r)
        groups[f"engine {r.engine}"].append(r)
        groups["worker counts given" if r.workers_given else "worker counts inferred"].append(r)
    out = {}
    for label, chosen in groups.items():
        pairs = [(r, r.predicted, r.in_step) for r in chosen if r.predicted and r.in_step]
        poisson = statistics.median(abs(p.ttft_s / r.ttft_s - 1) for r, p, _s in pairs)
        in_step = statistics.median(abs(s.ttft_s / r.ttft_s - 1) for r, _p, s in pairs)
        between = sum(p.ttft_s <= r.ttft_s <= s.ttft_s for r, p, s in pairs) / len(pairs)
        tpot = statistics.median(abs(p.tpot_s / r.tpot_s - 1) for r, p, _s in pairs)
        out[label] = (100 * poisson, 100 * in_step, 100 * between, 100 * tpot, len(pairs))
    return out


def print_disaggregated(catalog) -> None:
    runs, total = disaggregated_runs(catalog)
    answered = sum(r.runs for r in runs if r.predicted is not None)
    print(f"\nMoE disaggregated rows: {total}; answered {answered} ({100 * answered / max(total, 1):.0f}%). A row repeating "
          "a run listed with its worker counts\ncounts as that run. No factor is fitted on these rows: every figure "
          "below is held out, for either GPU.")
    refused: dict[str, int] = defaultdict(int)
    for r in runs:
        if r.refused:
            refused[r.refused] += r.runs
    if refused:
        print("refused: " + ", ".join(f"{why} ({count})" for why, count in sorted(refused.items())))
    print("median |error| of mean TTFT (prefill wait + prefill + KV transfer) with Poisson arrivals and with the\n"
          "clients in step, the runs whose TTFT lies between the two, and TPOT (decode pool alone):")
    for label, (poisson, in_step, between, tpot, count) in sorted(disaggregated_errors(runs).items()):
        print(f"  {label:<24}TTFT {poisson:5.1f}% / {in_step:5.1f}%  between {between:3.0f}%  TPOT {tpot:5.1f}%  "
              f"{count} configurations")


def shape_of(obs: Observation) -> str:
    dep = obs.deployment
    if dep.dp > 1:
        return f"DP{dep.dp}" + (f" EP{dep.ep}" if dep.ep > 1 else " expert-TP")
    return f"TP{dep.tp} EP{dep.ep}" if dep.ep > 1 else "TP"


def _line(label: str, pairs: list[tuple[Observation, Predicted]]) -> str:
    e = errors(pairs)
    cells = "  ".join(f"{m.upper()} {e[m].median_abs_pct:5.1f}% (bias {e[m].bias_pct:+6.1f}%)" for m in ("ttft", "tpot") if m in e)
    return f"  {label:<22}{cells}  {len(pairs)} configurations"


# --- fitting the two global MoE factors ---------------------------------------------

SHARES = (1.0, 0.85, 0.7, 0.6, 0.5, 0.4, 0.3)  # EXPERT_GEMM_SHARE searched
LAYER_US = (0.0, 25.0, 50.0, 100.0, 200.0, 300.0, 450.0, 700.0)  # MOE_PREFILL_LAYER_US searched
_OBS: list[Observation] = []


def _predict_at(args: tuple[int, float, float]) -> Predicted:
    index, share, layer_us = args
    experts.EXPERT_GEMM_SHARE, experts.MOE_PREFILL_LAYER_US = share, layer_us
    obs = _OBS[index]
    return safe_predict(obs, obs.deployment.engine.factors_for(obs.deployment.gpu))


def _start(observations: list[Observation]) -> None:
    _OBS[:] = observations


def predict_all(pool, indices: list[int], share: float, layer_us: float) -> list[Predicted]:
    return pool.map(_predict_at, [(i, share, layer_us) for i in indices], chunksize=4)


def score(observations: list[Observation], indices: list[int], predicted: list[Predicted]) -> float:
    """Mean of the median |log error| of TTFT and of TPOT (unanswered rows left out)."""
    pairs = [(observations[i], p) for i, p in zip(indices, predicted) if p.ttft_s == p.ttft_s]
    e = errors(pairs)
    return (e["ttft"].median_abs_pct + e["tpot"].median_abs_pct) / 2


def fit(pool, observations: list[Observation], indices: list[int]) -> tuple[float, float]:
    """Coordinate search over the grids, from the neutral point: share, then
    layer cost, then share again."""
    share, layer_us = 1.0, 0.0
    for grid_name in ("share", "layer", "share"):
        grid = SHARES if grid_name == "share" else LAYER_US
        scored = []
        for value in grid:
            point = (value, layer_us) if grid_name == "share" else (share, value)
            scored.append((score(observations, indices, predict_all(pool, indices, *point)), point))
        share, layer_us = min(scored)[1]
    return share, layer_us


def run_fit(observations: list[Observation]) -> None:
    import multiprocessing

    everything = list(range(len(observations)))
    by_gpu = {g: [i for i in everything if observations[i].gpu == g] for g in sorted({o.gpu for o in observations})}
    with multiprocessing.Pool(initializer=_start, initargs=(observations,)) as pool:
        share, layer_us = fit(pool, observations, everything)
        print(f"fitted on every GPU: EXPERT_GEMM_SHARE {share}, MOE_PREFILL_LAYER_US {layer_us}")
        print("leave one GPU out (fitted on the other GPU's rows, scored on this one's):")
        for held, rows in by_gpu.items():
            train = [i for i in everything if i not in set(rows)]
            s, u = fit(pool, observations, train)
            predicted = predict_all(pool, rows, s, u)
            pairs = [(observations[i], p) for i, p in zip(rows, predicted) if p.ttft_s == p.ttft_s]
            print(_line(f"{held} (share {s}, {u:g} us)", pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-concurrency", type=int, default=512, help="skip runs above this N (simulation time)")
    parser.add_argument("--fit", action="store_true", help="fit the two MoE factors again, and leave one GPU out")
    parser.add_argument("--disaggregated-only", action="store_true", help="only the disaggregated runs")
    parser.add_argument("--catalog", action="append", default=[], metavar="FILE",
                        help="overlay on the catalog (e.g. benchmarks/engines-fitted-serving.yaml)")
    args = parser.parse_args()
    catalog = load_catalog(args.catalog)
    if args.disaggregated_only:
        print_disaggregated(catalog)
        return
    observations, skipped, total = moe_observations(catalog, args.limit_concurrency)
    if args.fit:
        run_fit(observations)
        return
    pairs = [(obs, safe_predict(obs, obs.deployment.engine.factors_for(obs.deployment.gpu))) for obs in observations]
    answered = sum(o.runs for o, p in pairs if p.ttft_s == p.ttft_s)
    print(f"MoE aggregated rows: {total}; answered {answered} ({100 * answered / total:.0f}%)")
    print("skipped rows: " + ", ".join(f"{why} {count}" for why, count in sorted(skipped.items())))
    groups: dict[str, list] = defaultdict(list)
    for obs, p in pairs:
        groups[f"engine {obs.deployment.engine.id}"].append((obs, p))
        groups[f"GPU {obs.gpu}"].append((obs, p))
        groups[f"layout {shape_of(obs)}"].append((obs, p))
        groups[f"model {obs.model.id}"].append((obs, p))
    print("median |error| of mean TTFT and TPOT (engine factors fitted on dense rows; the two MoE factors on\n"
          "these rows, so in sample: --fit prints leave-one-GPU-out):")
    for label in sorted(groups):
        print(_line(label, groups[label]))
    print(_line("all", pairs))
    print_disaggregated(catalog)


if __name__ == "__main__":
    main()
