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

    .venv/bin/python benchmarks/serving_accuracy.py [--limit-concurrency 512]

Nothing here is fitted: the engine factors are the catalog's.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict
from pathlib import Path

from planner.catalog.load import load_catalog
from planner.model import perf, serving, traffic
from planner.model.lengths import fixed
from planner.model.predict import default_kv_precision
from planner.model.workload import Deployment, Shape

DATA = Path(__file__).resolve().parent / "data" / "silicon-hopper.csv"  # a copy of the shared validation file; provenance in data/SILICON.md
GPUS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm"}
# Hub repository -> catalog model, where the catalog entry gives no hf_ids
MODELS = {
    "meta-llama/llama-3.1-8b-instruct": "llama-3.1-8b",
    "nvidia/llama-3.1-8b-instruct-fp8": "llama-3.1-8b",
    "meta-llama/llama-3.1-70b": "llama-3.1-70b",
    "qwen/qwen3-32b": "qwen3-32b",
}


def _concurrency(source: str) -> int | None:
    for part in source.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "silicon_concurrency" and value.isdigit():
            return int(value)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-concurrency", type=int, default=512, help="skip runs above this N (simulation time)")
    args = parser.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"{DATA} is missing: it ships with the repository (benchmarks/data/SILICON.md)")
    catalog = load_catalog()
    by_hf = {hf.lower(): m for m in catalog.models.values() for hf in m.hf_ids}
    for hf, model_id in MODELS.items():
        if model_id in catalog.models:
            by_hf.setdefault(hf, catalog.models[model_id])
    errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    skipped: dict[str, int] = defaultdict(int)
    with DATA.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["mode"] != "agg":
                skipped["disaggregated"] += 1
                continue
            model = by_hf.get(row["model_path"].lower())
            if model is None or model.moe is not None:
                skipped["MoE or not in the catalog"] += 1
                continue
            n = _concurrency(row["silicon_data_source"])
            if n is None or n > args.limit_concurrency:
                skipped["concurrency unknown or over the limit"] += 1
                continue
            if int(row["pp_size"] or 1) != 1 or int(row["attention_dp_size"] or 1) > 1:
                skipped["pipeline or attention DP"] += 1
                continue
            weights = row["precision"] or "bf16"
            engine = catalog.engine(row["backend"])
            dep = Deployment(gpu=catalog.gpu(GPUS[row["system"]]), precision=catalog.precision(weights),
                             kv_precision=catalog.precision(default_kv_precision(catalog, weights)),
                             engine=engine, tp=int(row["tp_size"]), batch=n)
            shape = Shape(int(row["isl"]), int(row["osl"]))
            try:
                served = serving.simulate(model, dep, traffic.Closed(n, max(120, 6 * n)), fixed(shape.input, shape.output))
            except Exception as exc:  # a shape the planner refuses (e.g. no KV room): count it
                skipped[f"refused: {type(exc).__name__}"] += 1
                continue
            s = served.summary()
            timing = perf.timing(model, dep, shape, engine.factors_for(dep.gpu), batch=n)
            ttft, tpot = float(row["silicon_ttft_ms"]) / 1e3, float(row["silicon_tpot_ms"]) / 1e3
            e = errors[engine.id]
            e["sim ttft"].append(s.ttft.mean / ttft - 1)
            e["sim tpot"].append(s.tpot.mean / tpot - 1)
            e["timing ttft"].append(timing.ttft_s / ttft - 1)
            e["timing tpot"].append((timing.tpot_s or 0) / tpot - 1)

    print(f"{'engine':<8}{'runs':>6}  {'TTFT sim':>9}{'timing':>9}  {'TPOT sim':>9}{'timing':>9}   (median |error|; bias)")
    for engine_id, e in sorted(errors.items()):
        def cell(key: str) -> str:
            values = e[key]
            return f"{statistics.median(abs(v) for v in values):8.0%}"

        def bias(key: str) -> str:
            return f"{statistics.median(e[key]):+.0%}"

        print(f"{engine_id:<8}{len(e['sim ttft']):>6}  {cell('sim ttft'):>9}{cell('timing ttft'):>9}  "
              f"{cell('sim tpot'):>9}{cell('timing tpot'):>9}   "
              f"bias TTFT {bias('sim ttft')} / {bias('timing ttft')}, TPOT {bias('sim tpot')} / {bias('timing tpot')}")
    print("skipped: " + ", ".join(f"{why} {count}" for why, count in sorted(skipped.items())))


if __name__ == "__main__":
    main()
