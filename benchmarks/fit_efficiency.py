"""Fit each engine's efficiency factors on published measurements and write
catalog/engines-fitted.yaml.

    python benchmarks/fit_efficiency.py            # fit, print, write the file
    python benchmarks/fit_efficiency.py --check    # fit and fail if the file differs

What is fitted, per engine (a few global factors, never a row):
  - bandwidth, compute: achieved shares of peak memory bandwidth and dense
    tensor throughput, one pair per memory class (hbm, gddr, unified) where
    the engine has at least MIN_ROWS_PER_CLASS rows of that class, else one
    "default" pair;
  - decode_overhead_ms, prefill_overhead_ms, allreduce_us: fixed costs per
    decode step, per prefill pass, and per TP all-reduce / PP hand-off.
The objective is the sum of |log(predicted / measured)| over the engine's
rows (memory rows excluded: no factor changes them). A parameter the data
does not constrain (the objective does not move when it changes) is not
fitted: it takes the reference engine's value and the file says so.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.schema import EngineFactors  # noqa: E402
from planner.validation import Case, predict_case, read_rows, to_case  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "measured.csv"
OUT = ROOT / "catalog" / "engines-fitted.yaml"
MIN_ROWS_PER_CLASS = 3
REFERENCE_ENGINE = "trtllm"  # most rows, every metric: lends values the others cannot fit
BORROW = {"sglang": "vllm"}  # engines with no measurement take another's factors

BOUNDS = {
    "bandwidth": (0.2, 1.0),
    "compute": (0.1, 1.0),
    "decode_overhead_ms": (0.0, 10.0),
    "prefill_overhead_ms": (0.0, 40.0),
    "allreduce_us": (0.0, 100.0),
}
START = {"bandwidth": 0.8, "compute": 0.5, "decode_overhead_ms": 1.0, "prefill_overhead_ms": 2.0, "allreduce_us": 10.0}
SHARED = ("decode_overhead_ms", "prefill_overhead_ms", "allreduce_us")
PER_CLASS = ("bandwidth", "compute")


def load_cases(catalog) -> dict[str, list[Case]]:
    by_engine: dict[str, list[Case]] = defaultdict(list)
    for index, row in enumerate(read_rows(DATA), start=2):
        case = to_case(catalog, index, row)
        if isinstance(case, Case) and case.metric != "memory_gb":
            by_engine[case.engine].append(case)
    return by_engine


def class_keys(cases: list[Case]) -> dict[int, str]:
    counts: dict[str, int] = defaultdict(int)
    for c in cases:
        counts[c.deployment.gpu.memory_class] += 1
    classes = {k for k, n in counts.items() if n >= MIN_ROWS_PER_CLASS}
    if len(classes) <= 1:
        return {c.row: "default" for c in cases}
    return {c.row: (c.deployment.gpu.memory_class if c.deployment.gpu.memory_class in classes else "default") for c in cases}


def factors_of(params: dict[str, float], key: str) -> EngineFactors:
    return EngineFactors(
        bandwidth=params[f"bandwidth@{key}"],
        compute=params[f"compute@{key}"],
        decode_overhead_ms=params["decode_overhead_ms"],
        prefill_overhead_ms=params["prefill_overhead_ms"],
        allreduce_us=params["allreduce_us"],
    )


def objective(params: dict[str, float], cases: list[Case], keys: dict[int, str]) -> float:
    total = 0.0
    cache: dict[str, EngineFactors] = {}
    for case in cases:
        key = keys[case.row]
        if key not in cache:
            cache[key] = factors_of(params, key)
        predicted = predict_case(case, cache[key])
        total += abs(math.log(predicted / case.measured))
    return total


def fit(cases: list[Case], keys: dict[int, str], start: dict[str, float]) -> dict[str, float]:
    """Coordinate search: per parameter, a grid over its range, narrowed
    around the best point three times; four sweeps over all parameters."""
    params = dict(start)
    for _sweep in range(4):
        for name in params:
            lo, hi = BOUNDS[name.split("@")[0]]
            best_value, best = params[name], objective(params, cases, keys)
            for _refine in range(3):
                for i in range(21):
                    value = lo + (hi - lo) * i / 20
                    trial = {**params, name: value}
                    score = objective(trial, cases, keys)
                    if score < best - 1e-12:
                        best, best_value = score, value
                width = (hi - lo) / 10
                lo, hi = max(BOUNDS[name.split("@")[0]][0], best_value - width), min(BOUNDS[name.split("@")[0]][1], best_value + width)
            params[name] = best_value
    return params


def constrained(params: dict[str, float], cases: list[Case], keys: dict[int, str]) -> dict[str, bool]:
    """Whether moving each parameter across its range changes the fit at all."""
    base = objective(params, cases, keys)
    result = {}
    for name in params:
        lo, hi = BOUNDS[name.split("@")[0]]
        moved = [objective({**params, name: v}, cases, keys) for v in (lo, (lo + hi) / 2, hi)]
        result[name] = max(abs(m - base) for m in moved) > 1e-6
    return result


def _round(name: str, value: float) -> float:
    return round(value, 3) if name.split("@")[0] in PER_CLASS else round(value, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if catalog/engines-fitted.yaml differs from a fresh fit")
    args = parser.parse_args()

    catalog = load_catalog()
    by_engine = load_cases(catalog)
    digest = hashlib.sha256(DATA.read_bytes()).hexdigest()[:16]

    fitted: dict[str, dict] = {}
    order = [REFERENCE_ENGINE] + sorted(e for e in by_engine if e != REFERENCE_ENGINE)
    for engine in order:
        cases = by_engine[engine]
        keys = class_keys(cases)
        start = {name: START[name] for name in SHARED}
        for key in sorted(set(keys.values())):
            for name in PER_CLASS:
                start[f"{name}@{key}"] = START[name]
        params = fit(cases, keys, start)
        free = constrained(params, cases, keys)
        reference = fitted.get(REFERENCE_ENGINE)
        notes = []
        for name, ok in free.items():
            if not ok and reference is not None:
                base = name.split("@")[0]
                params[name] = reference["params"].get(name, reference["params"].get(f"{base}@default"))
                notes.append(f"{base} not constrained by its rows: {REFERENCE_ENGINE}'s value")
            elif not ok:
                notes.append(f"{name.split('@')[0]} not constrained by the data: start value kept")
        fitted[engine] = {"params": params, "rows": len(cases), "keys": sorted(set(keys.values())),
                          "score": objective(params, cases, keys) / max(len(cases), 1), "notes": sorted(set(notes))}
        print(f"{engine:13s} rows {len(cases):3d}  mean |log error| {fitted[engine]['score']:.3f}  "
              + "  ".join(f"{k}={_round(k, v)}" for k, v in params.items()))
        for note in fitted[engine]["notes"]:
            print(f"{'':13s} note: {note}")

    lines = [
        "# GENERATED by benchmarks/fit_efficiency.py -- do not edit by hand; rerun the script.",
        "# FITTED efficiency factors: achieved shares of peak and fixed costs per engine,",
        f"# fitted on benchmarks/data/measured.csv (sha256 {digest}..., a copy of the shared",
        "# validation set of published measurements; see benchmarks/data/README.md).",
        "engines:",
    ]
    for engine in catalog.engines:
        source = engine if engine in fitted else BORROW.get(engine, REFERENCE_ENGINE)
        entry = fitted[source]
        if engine in fitted:
            fitted_on = (f"{entry['rows']} published measurements of {engine} in benchmarks/data/measured.csv "
                         f"(mean |log error| {entry['score']:.3f})")
            if entry["notes"]:
                fitted_on += "; " + "; ".join(entry["notes"])
        else:
            fitted_on = f"no published {engine} measurement: the factors of {source}, fitted on its rows"
        lines.append(f"  - id: {engine}")
        lines.append(f"    fitted_on: \"{fitted_on}\"")
        lines.append("    factors:")
        keys = list(entry["keys"])
        if "default" not in keys:  # the schema needs one: the class with most rows stands in
            largest = max(keys, key=lambda k: sum(1 for c in by_engine[source] if c.deployment.gpu.memory_class == k))
            entry["params"].update({f"{n}@default": entry["params"][f"{n}@{largest}"] for n in PER_CLASS})
            keys.append("default")
        for key in keys:
            p = entry["params"]
            lines.append(
                f"      {key}: {{bandwidth: {_round('bandwidth', p[f'bandwidth@{key}'])}, "
                f"compute: {_round('compute', p[f'compute@{key}'])}, "
                f"decode_overhead_ms: {_round('x', p['decode_overhead_ms'])}, "
                f"prefill_overhead_ms: {_round('x', p['prefill_overhead_ms'])}, "
                f"allreduce_us: {_round('x', p['allreduce_us'])}}}"
            )
    text = "\n".join(lines) + "\n"
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} differs from a fresh fit: rerun benchmarks/fit_efficiency.py", file=sys.stderr)
            return 1
        print(f"{OUT} matches a fresh fit")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
