"""Fit each engine's efficiency factors on published measurements and write
catalog/engines-fitted.yaml.

    python benchmarks/fit_efficiency.py            # fit, print, write the file
    python benchmarks/fit_efficiency.py --check    # fit and fail if the file differs

What is fitted, per engine (a few global factors, never a row):
  - bandwidth, compute: achieved shares of peak memory bandwidth and dense
    tensor throughput, one pair per memory class (hbm, gddr, unified) where
    the engine has at least MIN_ROWS_PER_CLASS rows of that class, else one
    "default" pair (compute likewise per GPU family);
  - compute_8bit: the share of their own peak that FP8/INT8/FP4 GEMMs reach;
  - decode_overhead_ms, prefill_overhead_ms, allreduce_us: fixed costs per
    decode step, per prefill pass, and per TP all-reduce / PP hand-off;
  - overlap: how memory traffic and compute overlap within a pass (the p of
    the p-norm that merges them: 1 adds them, large takes the max).
The objective is the sum of |log(predicted / measured)| over the engine's
rows (memory rows excluded: no factor changes them). A parameter that fewer
than three rows depend on (their predictions move by over 1% across its
range) is not fitted: it takes the reference engine's value, and the file
says so.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.catalog.load import load_catalog  # noqa: E402
from planner.catalog.schema import EngineFactors  # noqa: E402
from planner.model.validation import Case, predict_case, read_rows, to_case  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "measured.csv"
OUT = ROOT / "catalog" / "engines-fitted.yaml"
MIN_ROWS_PER_CLASS = 3
SWEEPS = 4
REFERENCE_ENGINE = "trtllm"  # most rows, every metric: lends values the others cannot fit
BORROW = {"sglang": "vllm"}  # engines with no measurement take another's factors

BOUNDS = {
    "bandwidth": (0.2, 1.0),
    "compute": (0.1, 1.0),
    "compute_8bit": (0.1, 1.0),
    "decode_overhead_ms": (0.0, 10.0),
    "prefill_overhead_ms": (0.0, 40.0),
    "allreduce_us": (0.0, 100.0),
    "overlap": (1.0, 12.0),
}
START = {"bandwidth": 0.8, "compute": 0.5, "compute_8bit": 0.5, "decode_overhead_ms": 1.0, "prefill_overhead_ms": 2.0, "allreduce_us": 10.0, "overlap": 4.0}
SHARED = ("compute_8bit", "decode_overhead_ms", "prefill_overhead_ms", "allreduce_us", "overlap")
GROUPED = ("bandwidth", "compute")


def load_cases(catalog) -> dict[str, list[Case]]:
    by_engine: dict[str, list[Case]] = defaultdict(list)
    for index, row in enumerate(read_rows(DATA), start=2):
        case = to_case(catalog, index, row)
        if isinstance(case, Case) and case.metric != "memory_gb":
            by_engine[case.engine].append(case)
    return by_engine


COMPUTE_GROUPS = ("ttft", "throughput", "encoder")  # metrics whose rows can tell compute shares apart
BANDWIDTH_GROUPS = ("decode", "throughput")


@dataclass
class Grouping:
    """Which GPU groups get their own bandwidth (by memory class) and compute
    (by family) share. The first key of each is the default: the group with
    the most rows, which also serves GPUs of groups too small to fit."""

    bandwidth: list[str]
    compute: list[str]

    def bandwidth_key(self, gpu) -> str:
        return gpu.memory_class if gpu.memory_class in self.bandwidth else self.bandwidth[0]

    def compute_key(self, gpu) -> str:
        return gpu.family if gpu.family in self.compute else self.compute[0]


def grouping_of(cases: list[Case]) -> Grouping:
    """Groups with MIN_ROWS_PER_CLASS rows that depend on them; one group
    ("default") when fewer than two qualify."""
    by_class: dict[str, int] = defaultdict(int)
    by_family: dict[str, int] = defaultdict(int)
    for c in cases:
        if c.group in BANDWIDTH_GROUPS:
            by_class[c.deployment.gpu.memory_class] += 1
        if c.group in COMPUTE_GROUPS and c.deployment.precision.compute not in ("fp8", "int8", "fp4"):
            by_family[c.deployment.gpu.family] += 1  # rows whose GEMMs run at the 16-bit share

    def keys(counts: dict[str, int]) -> list[str]:
        qualified = sorted((k for k, n in counts.items() if n >= MIN_ROWS_PER_CLASS), key=lambda k: (-counts[k], k))
        return qualified if len(qualified) > 1 else ["default"]

    return Grouping(keys(by_class), keys(by_family))


def factors_of(params: dict[str, float], grouping: Grouping, case: Case) -> EngineFactors:
    gpu = case.deployment.gpu
    return EngineFactors(
        bandwidth=params[f"bandwidth@{grouping.bandwidth_key(gpu)}"],
        compute=params[f"compute@{grouping.compute_key(gpu)}"],
        compute_8bit=params["compute_8bit"],
        decode_overhead_ms=params["decode_overhead_ms"],
        prefill_overhead_ms=params["prefill_overhead_ms"],
        allreduce_us=params["allreduce_us"],
        overlap=params["overlap"],
    )


def objective(params: dict[str, float], grouping: Grouping, cases: list[Case]) -> float:
    return sum(abs(math.log(predict_case(c, factors_of(params, grouping, c)) / c.measured)) for c in cases)


def fit(cases: list[Case], grouping: Grouping, start: dict[str, float], names: list[str] | None = None) -> dict[str, float]:
    """Coordinate search: per parameter, a grid over its range, narrowed
    around the best point three times; four sweeps over all parameters."""
    params = dict(start)
    for _sweep in range(SWEEPS):
        for name in names if names is not None else list(params):
            lo, hi = BOUNDS[name.split("@")[0]]
            best_value, best = params[name], objective(params, grouping, cases)
            for _refine in range(3):
                for i in range(21):
                    value = lo + (hi - lo) * i / 20
                    trial = {**params, name: value}
                    score = objective(trial, grouping, cases)
                    if score < best - 1e-12:
                        best, best_value = score, value
                width = (hi - lo) / 10
                lo, hi = max(BOUNDS[name.split("@")[0]][0], best_value - width), min(BOUNDS[name.split("@")[0]][1], best_value + width)
            params[name] = best_value
    return params


SENSITIVE = 0.01  # a row is sensitive to a parameter that moves its prediction by more than 1%


def constrained(params: dict[str, float], grouping: Grouping, cases: list[Case]) -> dict[str, bool]:
    """Whether the rows pin each parameter down: at least MIN_ROWS_PER_CLASS rows
    whose prediction moves by more than 1% across the parameter's range. A
    parameter one or two rows decide would fit those rows, not the engine."""
    result = {}
    for name in params:
        lo, hi = BOUNDS[name.split("@")[0]]
        sensitive = 0
        for case in cases:
            base = predict_case(case, factors_of(params, grouping, case))
            moved = [predict_case(case, factors_of({**params, name: v}, grouping, case)) for v in (lo, hi)]
            if max(abs(math.log(m / base)) for m in moved) > SENSITIVE:
                sensitive += 1
        result[name] = sensitive >= MIN_ROWS_PER_CLASS
    return result


def cross_validate(by_engine: dict[str, list[Case]], fitted: dict[str, dict]) -> list[tuple[Case, float]]:
    """Leave-one-out: refit each engine without one row (warm start, lighter
    search), then predict that row. Returns (case, predicted) for every row."""
    global SWEEPS
    results = []
    saved, SWEEPS = SWEEPS, 2
    try:
        for engine, cases in by_engine.items():
            for held in cases:
                rest = [c for c in cases if c is not held]
                entry = fitted[engine]
                params = fit(rest, entry["grouping"], entry["params"], entry["free"]) if rest else entry["params"]
                results.append((held, predict_case(held, factors_of(params, entry["grouping"], held))))
    finally:
        SWEEPS = saved
    return results


def fit_engines(by_engine: dict[str, list[Case]], verbose: bool = False) -> dict[str, dict]:
    """Fit every engine on its rows: the reference engine first, then the
    others, which borrow what their rows cannot decide."""
    fitted: dict[str, dict] = {}
    order = [REFERENCE_ENGINE] + sorted(e for e in by_engine if e != REFERENCE_ENGINE)
    for engine in order:
        cases = by_engine[engine]
        grouping = grouping_of(cases)
        start = {name: START[name] for name in SHARED}
        start.update({f"bandwidth@{k}": START["bandwidth"] for k in grouping.bandwidth})
        start.update({f"compute@{k}": START["compute"] for k in grouping.compute})
        params = fit(cases, grouping, start)
        free = constrained(params, grouping, cases)
        reference = fitted.get(REFERENCE_ENGINE)
        notes = []
        for base in SHARED + GROUPED:
            names = [n for n in params if n.split("@")[0] == base]
            if any(free[n] for n in names):
                for n in names:
                    if not free[n]:  # a group the rows do not reach: the default group's value
                        params[n] = params[names[0]]
                continue
            if reference is None:
                notes.append(f"{base} not constrained by the data: start value kept")
                continue
            # nothing in this engine's rows moves it: take the reference engine's, groups and all
            for n in names:
                del params[n]
            params.update({n: v for n, v in reference["params"].items() if n.split("@")[0] == base})
            if base in GROUPED:
                setattr(grouping, base, list(getattr(reference["grouping"], base)))
            notes.append(f"{base} not constrained by its rows: {REFERENCE_ENGINE}'s")
        free_names = [n for n in params if free.get(n, False)]  # what the rows decide; the rest stays borrowed
        fitted[engine] = {"params": params, "grouping": grouping, "rows": len(cases), "free": free_names,
                          "score": objective(params, grouping, cases) / max(len(cases), 1), "notes": notes}
        if verbose:
            print(f"{engine:13s} rows {len(cases):3d}  mean |log error| {fitted[engine]['score']:.3f}  "
                  + "  ".join(f"{k}={_round(k, v)}" for k, v in params.items()))
            for note in notes:
                print(f"{'':13s} note: {note}")

    return fitted


def leave_one_gpu_out(by_engine: dict[str, list[Case]]) -> list[tuple[Case, float]]:
    """Leave-one-GPU-out: for each GPU type, refit every engine on the rows
    of the other GPUs (from the start values, with the groups the remaining
    rows support), then predict that GPU's rows. A GPU whose family or memory
    class no other row shares falls to the default group, as a GPU the data
    has never seen does. This is the error to expect on hardware one does not
    own yet. Returns (case, predicted) for every row."""
    gpus = sorted({c.deployment.gpu.id for cases in by_engine.values() for c in cases})
    results = []
    for gpu in gpus:
        rest = {e: [c for c in cases if c.deployment.gpu.id != gpu] for e, cases in by_engine.items()}
        fitted = fit_engines({e: cases for e, cases in rest.items() if cases})
        for engine, cases in by_engine.items():
            entry = fitted.get(engine, fitted[REFERENCE_ENGINE])  # no rows left: the reference engine's
            for case in cases:
                if case.deployment.gpu.id == gpu:
                    results.append((case, predict_case(case, factors_of(entry["params"], entry["grouping"], case))))
    return results


def _print_errors(title: str, results: list[tuple[Case, float]]) -> None:
    import statistics

    errors: dict[str, list[float]] = defaultdict(list)
    for case, predicted in results:
        errors[case.group].append(predicted / case.measured - 1)
    print(title)
    for group, errs in sorted(errors.items()):
        print(f"  {group:10s} rows {len(errs):3d}  median |error| {100 * statistics.median(abs(e) for e in errs):5.1f}%  "
              f"within 25% {100 * sum(abs(e) <= 0.25 for e in errs) / len(errs):4.0f}%")


def _round(name: str, value: float) -> float:
    return round(value, 3) if name.split("@")[0] in GROUPED + ("compute_8bit",) else round(value, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if catalog/engines-fitted.yaml differs from a fresh fit")
    parser.add_argument("--cv", action="store_true", help="also report leave-one-out cross-validated errors (slow)")
    parser.add_argument("--cv-gpu", action="store_true",
                        help="also report leave-one-GPU-out errors: each GPU type predicted by factors fitted without it (slow)")
    args = parser.parse_args()

    catalog = load_catalog()
    by_engine = load_cases(catalog)
    digest = hashlib.sha256(DATA.read_bytes()).hexdigest()[:16]

    fitted = fit_engines(by_engine, verbose=True)

    lines = [
        "# GENERATED by benchmarks/fit_efficiency.py -- do not edit by hand; rerun the script.",
        "# FITTED efficiency factors: achieved shares of peak and fixed costs per engine,",
        f"# fitted on benchmarks/data/measured.csv (sha256 {digest}..., a copy of the shared",
        "# validation set of published measurements; see benchmarks/data/README.md).",
        "# bandwidth is per memory class (hbm, gddr, unified) and compute per GPU family",
        "# where the data has enough rows of each; everything else is one value per engine.",
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
        p, g = entry["params"], entry["grouping"]
        lines.append(f"  - id: {engine}")
        lines.append(f"    fitted_on: \"{fitted_on}\"")
        lines.append("    factors:")
        lines.append(
            f"      default: {{bandwidth: {_round('bandwidth', p['bandwidth@' + g.bandwidth[0]])}, "
            f"compute: {_round('compute', p['compute@' + g.compute[0]])}, compute_8bit: {_round('compute', p['compute_8bit'])}, "
            f"decode_overhead_ms: {_round('x', p['decode_overhead_ms'])}, "
            f"prefill_overhead_ms: {_round('x', p['prefill_overhead_ms'])}, allreduce_us: {_round('x', p['allreduce_us'])}, "
            f"overlap: {_round('x', p['overlap'])}}}"
        )
        for key in g.bandwidth[1:]:
            lines.append(f"      {key}: {{bandwidth: {_round('bandwidth', p['bandwidth@' + key])}}}")
        for key in g.compute[1:]:
            lines.append(f"      {key}: {{compute: {_round('compute', p['compute@' + key])}}}")
    if args.cv:
        _print_errors("leave-one-out cross-validation (each row predicted by factors fitted without it):",
                      cross_validate(by_engine, fitted))
    if args.cv_gpu:
        _print_errors("leave-one-GPU-out (each GPU type's rows predicted by factors fitted without that GPU):",
                      leave_one_gpu_out(by_engine))
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
