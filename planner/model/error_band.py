"""The performance model's measured error, by kind of prediction: what a
plan's headroom must be read against.

The figures are median absolute percentage errors measured on the 84
published measurements of benchmarks/data/measured.csv by
`python benchmarks/fit_efficiency.py --cv --cv-gpu` and
`python benchmarks/accuracy.py`, as the README's "How accurate it is" table
reports them (2026-12-03). "Leave-one-out" predicts each row with factors
fitted without it: the error to expect on a configuration like the measured
ones. "Leave-one-GPU-out" refits without any row of the row's GPU type: the
error to expect on a GPU type with no measurement. Rerun the benchmark and
update this table together with the README.

The serving entries are the serving simulation's median |error| of mean TTFT
and mean TPOT, with the catalog's factors, on the 771 dense closed-loop
run configurations of benchmarks/data/silicon-hopper.csv (vLLM, SGLang and
TensorRT-LLM on H100 and H200, the three engines pooled), from
`python benchmarks/serving_accuracy.py`. The catalog's factors were not
fitted on those runs, so every one of them is held out: the figure stands
for both kinds, and is given as "measured" (no leave-one-GPU-out figure).
The factors refitted on them (benchmarks/engines-fitted-serving.yaml, an
overlay the catalog does not load) have their own figures in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = ("Median absolute percentage error of the performance model on the 84 published measurements of "
          "benchmarks/data/measured.csv, measured by `python benchmarks/fit_efficiency.py --cv --cv-gpu` and "
          "`python benchmarks/accuracy.py`, and of the serving simulation on the 771 closed-loop run configurations "
          "of benchmarks/data/silicon-hopper.csv (held out: not fitted on), by `python benchmarks/serving_accuracy.py`, "
          "on 2026-12-03 (README, \"How accurate it is\")")


@dataclass(frozen=True)
class ErrorBand:
    prediction: str  # the prediction's name as a review says it
    rows: int  # measurements behind the figures
    leave_one_out_pct: float  # on a configuration like the measured ones
    leave_one_gpu_out_pct: float | None  # on a GPU type with no measurement; None where not fitted


MEASURED_ERROR: dict[str, ErrorBand] = {
    "tpot": ErrorBand("TPOT", 24, 6.2, 8.7),
    "ttft": ErrorBand("TTFT", 15, 5.5, 26.6),
    "throughput": ErrorBand("throughput", 34, 7.2, 9.5),
    "encoder": ErrorBand("encoder latency", 5, 7.3, 57.8),
    # peak memory is not fitted: the figure is the plain model's error (benchmarks/accuracy.py)
    "memory": ErrorBand("peak memory", 6, 1.7, None),
    # the serving simulation under closed-loop load, on runs the factors were not fitted on
    "serving_ttft": ErrorBand("mean TTFT under load", 771, 49.4, None),
    "serving_tpot": ErrorBand("mean TPOT under load", 771, 22.4, None),
}


def band(kind: str, gpu_measured: bool) -> tuple[float, str]:
    """The error to expect for one kind of prediction, in percent, and which
    figure it is: leave-one-out where the GPU type has measurements, else
    leave-one-GPU-out."""
    entry = MEASURED_ERROR[kind]
    if entry.leave_one_gpu_out_pct is None:
        return entry.leave_one_out_pct, "measured"
    if gpu_measured:
        return entry.leave_one_out_pct, "leave-one-out"
    return entry.leave_one_gpu_out_pct, "leave-one-GPU-out"
