"""Fit each engine's efficiency factors on published measurements and write
catalog/engines-fitted.yaml.

    python benchmarks/fit_efficiency.py            # fit, print, write the file
    python benchmarks/fit_efficiency.py --check    # fit and fail if the file differs
    python benchmarks/fit_efficiency.py --serving  # also print the serving runs' in-sample and held-out errors

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
rows (memory rows excluded: no factor changes them). With --serving, the
rows of vLLM, SGLang and TensorRT-LLM also include the dense aggregated closed-loop runs of
benchmarks/data/silicon-hopper.csv (benchmarks/serving_accuracy.py reads
them; MoE runs are left out: expert parallelism is not modelled), each
configuration's mean TTFT and TPOT weighted SERVING_WEIGHT of a published
row. They are predicted by the serving simulation through the surrogate of
planner/model/calibrate.py: its ratios are taken at the start values, the
engine is fitted, the ratios retaken at the fit and one more sweep run.
That fit is written as an overlay, benchmarks/engines-fitted-serving.yaml,
not into the catalog: moving the catalog's factors moves the plans the
scenario tests and examples pin, which is a change of its own. A parameter that fewer
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

sys.path.insert(0, str(ROOT / "benchmarks"))

from planner.catalog.load import load_catalog  # noqa: E402
from planner.catalog.schema import EngineFactors  # noqa: E402
from planner.model import calibrate  # noqa: E402
from planner.model.calibrate import Observation, Predicted, Surrogate  # noqa: E402
from planner.model.validation import Case, predict_case, read_rows, to_case  # noqa: E402
from serving_accuracy import DATA as SILICON, report, silicon_observations  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "measured.csv"
OUT = ROOT / "catalog" / "engines-fitted.yaml"
SERVING_OUT = ROOT / "benchmarks" / "engines-fitted-serving.yaml"  # --serving: an overlay, not the catalog
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


SERVING_ENGINES = ("vllm", "sglang", "trtllm")  # the engines silicon-hopper.csv measures
# Each serving configuration counts this much against one published row:
# there are ten times as many of them (771 against 84), and the published
# rows are the only ones off Hopper and at batch 1, so they keep a say.
SERVING_WEIGHT = 0.1


@dataclass
class ServingCase:
    """One closed-loop serving run of silicon-hopper.csv (mean TTFT and
    TPOT), predicted through the surrogate of planner/model/calibrate.py
    while fitting and by the serving simulation when reported."""

    obs: Observation
    surrogate: Surrogate | None = None  # one observation's surrogate, set by fit_engines
    metric: str = "serving"
    group: str = "serving"

    @property
    def deployment(self):
        return self.obs.deployment

    @property
    def engine(self) -> str:
        return self.obs.deployment.engine.id

    def predicted(self, factors: EngineFactors) -> Predicted:
        assert self.surrogate is not None, "fit_engines sets the surrogate before fitting"
        return self.surrogate.predict(0, factors)


def load_cases(catalog, serving: bool = True) -> dict[str, list]:
    """measured.csv's rows (memory excluded) and, with ``serving``, the
    silicon-hopper serving runs, by engine."""
    by_engine: dict[str, list] = defaultdict(list)
    for index, row in enumerate(read_rows(DATA), start=2):
        case = to_case(catalog, index, row)
        if isinstance(case, Case) and case.metric != "memory_gb":
            by_engine[case.engine].append(case)
    if serving:
        observations, _skipped = silicon_observations(catalog)
        for obs in observations:
            by_engine[obs.deployment.engine.id].append(ServingCase(obs))
    return by_engine


def loss(case, factors: EngineFactors) -> float:
    if isinstance(case, ServingCase):
        return SERVING_WEIGHT * calibrate.log_error(case.obs, case.predicted(factors))
    return abs(math.log(predict_case(case, factors) / case.measured))


def set_surrogates(cases: list, params: dict[str, float], grouping: "Grouping") -> None:
    """Take the serving cases' simulation / shortcut ratios at ``params``."""
    for c in cases:
        if isinstance(c, ServingCase):
            c.surrogate = Surrogate.at([c.obs], lambda o: factors_of(params, grouping, c), requests=_ratio_requests)


def _ratio_requests(obs: Observation) -> int:
    """Two requests per client (at least 40) for the surrogate's ratios: a
    third of the reported runs' simulation time, enough to fit on (the
    reported figures simulate the runs in full)."""
    return max(2 * obs.concurrency, 40)


COMPUTE_GROUPS = ("ttft", "throughput", "encoder", "serving")  # metrics whose rows can tell compute shares apart
BANDWIDTH_GROUPS = ("decode", "throughput", "serving")


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


def objective(params: dict[str, float], grouping: Grouping, cases: list) -> float:
    return sum(loss(c, factors_of(params, grouping, c)) for c in cases)


def fit(cases: list, grouping: Grouping, start: dict[str, float], names: list[str] | None = None,
        sweeps: int | None = None) -> dict[str, float]:
    """Coordinate search: per parameter, a grid over its range, narrowed
    around the best point three times; four sweeps over all parameters."""
    params = dict(start)
    for _sweep in range(SWEEPS if sweeps is None else sweeps):
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
            if isinstance(case, ServingCase):
                base_p = case.predicted(factors_of(params, grouping, case))
                moved_p = [case.predicted(factors_of({**params, name: v}, grouping, case)) for v in (lo, hi)]
                shift = max(max(abs(math.log(m.ttft_s / base_p.ttft_s)), abs(math.log(m.tpot_s / base_p.tpot_s)))
                            for m in moved_p)
            else:
                base = predict_case(case, factors_of(params, grouping, case))
                moved = [predict_case(case, factors_of({**params, name: v}, grouping, case)) for v in (lo, hi)]
                shift = max(abs(math.log(m / base)) for m in moved)
            if shift > SENSITIVE:
                sensitive += 1
        result[name] = sensitive >= MIN_ROWS_PER_CLASS
    return result


def cross_validate(by_engine: dict[str, list[Case]], fitted: dict[str, dict]) -> list[tuple[Case, float]]:
    """Leave-one-out over the published rows: refit each engine without one
    row (warm start, lighter search; the serving runs stay in, through the
    surrogate the full fit left them), then predict that row. Returns (case,
    predicted) for every published row."""
    global SWEEPS
    results = []
    saved, SWEEPS = SWEEPS, 2
    try:
        for engine, cases in by_engine.items():
            for held in cases:
                if isinstance(held, ServingCase):
                    continue
                rest = [c for c in cases if c is not held]
                entry = fitted[engine]
                params = fit(rest, entry["grouping"], entry["params"], entry["free"]) if rest else entry["params"]
                results.append((held, predict_case(held, factors_of(params, entry["grouping"], held))))
    finally:
        SWEEPS = saved
    return results


def fit_engines(by_engine: dict[str, list], verbose: bool = False, refresh: bool = True) -> dict[str, dict]:
    """Fit every engine on its rows: the reference engine first, then the
    others, which borrow what their rows cannot decide. Serving runs are fitted
    through their surrogate: taken at the start values, fitted, retaken at
    the fit and fitted once more (``refresh``); without ``refresh`` the
    surrogates they carry are used as they are (held-out refits)."""
    fitted: dict[str, dict] = {}
    order = [REFERENCE_ENGINE] + sorted(e for e in by_engine if e != REFERENCE_ENGINE)
    for engine in order:
        cases = by_engine[engine]
        grouping = grouping_of(cases)
        start = {name: START[name] for name in SHARED}
        start.update({f"bandwidth@{k}": START["bandwidth"] for k in grouping.bandwidth})
        start.update({f"compute@{k}": START["compute"] for k in grouping.compute})
        serving = any(isinstance(c, ServingCase) for c in cases)
        if serving and refresh:
            set_surrogates(cases, start, grouping)
        params = fit(cases, grouping, start)
        if serving and refresh:  # the simulation's ratios at the fitted factors, and one more sweep
            set_surrogates(cases, params, grouping)
            params = fit(cases, grouping, params, sweeps=1)
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
        fitted[engine] = {"params": params, "grouping": grouping, "free": free_names,
                          "rows": sum(not isinstance(c, ServingCase) for c in cases),
                          "serving": sum(isinstance(c, ServingCase) for c in cases),
                          "serving_rows": sum(c.obs.runs for c in cases if isinstance(c, ServingCase)),
                          "score": objective(params, grouping, cases) / max(len(cases), 1), "notes": notes}
        if verbose:
            print(f"{engine:13s} rows {len(cases):3d}  mean loss {fitted[engine]['score']:.3f}  "
                  + "  ".join(f"{k}={_round(k, v)}" for k, v in params.items()))
            for note in notes:
                print(f"{'':13s} note: {note}")

    return fitted


def leave_one_gpu_out(by_engine: dict[str, list], only: tuple[str, ...] = ()) -> list[tuple]:
    """Leave-one-GPU-out: for each GPU type, refit every engine on the rows
    of the other GPUs (from the start values, with the groups the remaining
    rows support), then predict that GPU's rows. A GPU whose family or memory
    class no other row shares falls to the default group, as a GPU the data
    has never seen does. This is the error to expect on hardware one does not
    own yet. Returns (case, predicted) for every row."""
    gpus = sorted(only or {c.deployment.gpu.id for cases in by_engine.values() for c in cases})
    for cases in by_engine.values():  # the surrogates the full fit left (no re-simulation per GPU)
        assert all(c.surrogate is not None for c in cases if isinstance(c, ServingCase)), "fit_engines first"
    results = []
    for gpu in gpus:
        rest = {e: [c for c in cases if c.deployment.gpu.id != gpu] for e, cases in by_engine.items()}
        fitted = fit_engines({e: cases for e, cases in rest.items() if cases}, refresh=False)
        for engine, cases in by_engine.items():
            entry = fitted.get(engine, fitted[REFERENCE_ENGINE])  # no rows left: the reference engine's
            for case in cases:
                if case.deployment.gpu.id == gpu:
                    factors = factors_of(entry["params"], entry["grouping"], case)
                    if isinstance(case, ServingCase):
                        results.append((case, calibrate.safe_predict(case.obs, factors)))
                    else:
                        results.append((case, predict_case(case, factors)))
    return results


def serving_k_fold(by_engine: dict[str, list], fitted: dict[str, dict], folds: int = 5) -> list[tuple[Observation, Predicted]]:
    """5-fold cross-validation of the serving runs: fold k holds every fifth
    configuration of each engine from the k-th; each engine is refitted on
    its published rows and the other folds (surrogates as the full fit left
    them, two sweeps from the fitted values), then the fold is simulated."""
    global SWEEPS
    results = []
    saved, SWEEPS = SWEEPS, 2
    try:
        for engine, cases in by_engine.items():
            serving = [c for c in cases if isinstance(c, ServingCase)]
            entry = fitted[engine]
            for k in range(folds):
                held = {id(c) for c in serving[k::folds]}
                rest = [c for c in cases if id(c) not in held]
                params = fit(rest, entry["grouping"], entry["params"], entry["free"])
                for c in serving[k::folds]:
                    results.append((c.obs, calibrate.safe_predict(c.obs, factors_of(params, entry["grouping"], c))))
    finally:
        SWEEPS = saved
    return results


def serving_report(by_engine: dict[str, list], fitted: dict[str, dict], by_gpu: list) -> dict[str, dict]:
    """Median |error| of mean TTFT and TPOT of the serving runs, by engine:
    in sample, 5-fold, and leave-one-GPU-out (the H200 runs predicted by
    factors fitted without any H200 row, and the reverse)."""
    in_sample = []
    for engine, cases in by_engine.items():
        entry = fitted[engine]
        for c in cases:
            if isinstance(c, ServingCase):
                in_sample.append((c.obs, calibrate.safe_predict(c.obs, factors_of(entry["params"], entry["grouping"], c))))
    out = {"in sample": report("serving runs, in sample (simulation, fitted factors):", in_sample)}
    out["5-fold"] = report("serving runs, 5-fold cross-validated:", serving_k_fold(by_engine, fitted))
    logo = [(c.obs, p) for c, p in by_gpu if isinstance(c, ServingCase)]
    out["leave-one-GPU-out"] = report("serving runs, leave-one-GPU-out (H100 <-> H200):", logo)
    return out


def _print_errors(title: str, results: list[tuple[Case, float]]) -> None:
    import statistics

    errors: dict[str, list[float]] = defaultdict(list)
    for case, predicted in results:
        if isinstance(case, ServingCase):
            continue  # reported by engine in serving_report
        errors[case.group].append(predicted / case.measured - 1)
    print(title)
    for group, errs in sorted(errors.items()):
        print(f"  {group:10s} rows {len(errs):3d}  median |error| {100 * statistics.median(abs(e) for e in errs):5.1f}%  "
              f"within 25% {100 * sum(abs(e) <= 0.25 for e in errs) / len(errs):4.0f}%")


def _round(name: str, value: float) -> float:
    return round(value, 3) if name.split("@")[0] in GROUPED + ("compute_8bit",) else round(value, 2)


def _factors_line(p: dict[str, float], bandwidth_key: str, compute_key: str) -> str:
    return (f"{{bandwidth: {_round('bandwidth', p['bandwidth@' + bandwidth_key])}, "
            f"compute: {_round('compute', p['compute@' + compute_key])}, compute_8bit: {_round('compute', p['compute_8bit'])}, "
            f"decode_overhead_ms: {_round('x', p['decode_overhead_ms'])}, "
            f"prefill_overhead_ms: {_round('x', p['prefill_overhead_ms'])}, allreduce_us: {_round('x', p['allreduce_us'])}, "
            f"overlap: {_round('x', p['overlap'])}}}")


def _overlay_lines(catalog, engine: str, p: dict[str, float], g: Grouping) -> list[str]:
    """The overlay's factor groups: ``default`` in full, then every group the
    built-in entry or the fit has, each with the field its kind decides
    (a family key the compute share, a memory-class key the bandwidth share,
    a segment key both), so no built-in group is left to shadow the fit:
    factors_for takes, field by field, the most specific key that gives it."""
    lines = [f"      default: {_factors_line(p, g.bandwidth[0], g.compute[0])}"]
    keys = sorted((set(catalog.engines[engine].factors) | set(g.bandwidth) | set(g.compute)) - {"default"})
    for key in keys:
        gpus = [gpu for gpu in catalog.gpus.values() if key in (gpu.family, gpu.memory_class, gpu.segment)]
        if not gpus:
            continue
        fields = []
        if any(gpu.memory_class == key or gpu.segment == key for gpu in gpus):
            fields.append(f"bandwidth: {_round('bandwidth', p['bandwidth@' + g.bandwidth_key(gpus[0])])}")
        if any(gpu.family == key or gpu.segment == key for gpu in gpus):
            fields.append(f"compute: {_round('compute', p['compute@' + g.compute_key(gpus[0])])}")
        lines.append(f"      {key}: {{{', '.join(fields)}}}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the output file differs from a fresh fit")
    parser.add_argument("--cv", action="store_true", help="also report leave-one-out cross-validated errors (slow)")
    parser.add_argument("--cv-gpu", action="store_true",
                        help="also report leave-one-GPU-out errors: each GPU type predicted by factors fitted without it (slow)")
    parser.add_argument("--serving", action="store_true",
                        help=f"also fit {', '.join(SERVING_ENGINES)} on the silicon-hopper.csv serving runs and write them as "
                             f"the overlay {SERVING_OUT.relative_to(ROOT)} (not the catalog), and report the runs' "
                             "errors in sample, 5-fold and H100 <-> H200 (slow)")
    parser.add_argument("--no-held-out", action="store_true", help="with --serving: write the overlay, skip the held-out report")
    args = parser.parse_args()

    catalog = load_catalog()
    by_engine = load_cases(catalog, serving=args.serving)
    digest = hashlib.sha256(DATA.read_bytes()).hexdigest()[:16]
    silicon_digest = hashlib.sha256(SILICON.read_bytes()).hexdigest()[:16]

    fitted = fit_engines(by_engine, verbose=True)

    if args.serving:
        out = SERVING_OUT
        lines = [
            "# GENERATED by benchmarks/fit_efficiency.py --serving -- do not edit by hand; rerun the script.",
            "# A catalog OVERLAY (planner ... --catalog this-file): FITTED efficiency factors of",
            f"# {', '.join(SERVING_ENGINES)}, fitted on benchmarks/data/measured.csv (sha256 {digest}...) and",
            "# the dense aggregated closed-loop runs of benchmarks/data/silicon-hopper.csv",
            f"# (sha256 {silicon_digest}...; SILICON.md; MoE runs left out: expert parallelism is not",
            f"# modelled), each configuration weighted {SERVING_WEIGHT} of a published row, predicted by the",
            "# serving simulation. Every factor group the built-in entry has is overridden.",
            "engines:",
        ]
        for engine in SERVING_ENGINES:
            entry = fitted[engine]
            fitted_on = (f"{entry['rows']} published measurements of {engine} in benchmarks/data/measured.csv (sha256 "
                         f"{digest}) and {entry['serving']} closed-loop serving configurations ({entry['serving_rows']} rows) "
                         f"in benchmarks/data/silicon-hopper.csv (sha256 {silicon_digest}), mean loss {entry['score']:.3f}")
            if entry["notes"]:
                fitted_on += "; " + "; ".join(entry["notes"])
            lines += [f"  - id: {engine}", f"    fitted_on: \"{fitted_on}\"", "    factors:"]
            lines += _overlay_lines(catalog, engine, entry["params"], entry["grouping"])
    else:
        out = OUT
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
            lines.append(f"      default: {_factors_line(p, g.bandwidth[0], g.compute[0])}")
            for key in g.bandwidth[1:]:
                lines.append(f"      {key}: {{bandwidth: {_round('bandwidth', p['bandwidth@' + key])}}}")
            for key in g.compute[1:]:
                lines.append(f"      {key}: {{compute: {_round('compute', p['compute@' + key])}}}")
    if args.cv:
        _print_errors("leave-one-out cross-validation (each row predicted by factors fitted without it):",
                      cross_validate(by_engine, fitted))
    held_out = args.serving and not args.no_held_out
    if args.cv_gpu or held_out:  # --serving alone: the two GPU types the serving runs measure
        by_gpu = leave_one_gpu_out(by_engine, () if args.cv_gpu else ("h100-sxm", "h200-sxm"))
        if args.cv_gpu:
            _print_errors("leave-one-GPU-out (each GPU type's rows predicted by factors fitted without that GPU):", by_gpu)
        if held_out:
            serving_report(by_engine, fitted, by_gpu)
    text = "\n".join(lines) + "\n"
    if args.check:
        if not out.is_file() or out.read_text() != text:
            print(f"{out} differs from a fresh fit: rerun benchmarks/fit_efficiency.py", file=sys.stderr)
            return 1
        print(f"{out} matches a fresh fit")
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
