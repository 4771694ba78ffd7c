"""Accuracy of planner's performance model on published measurements.

    python benchmarks/accuracy.py [--catalog overlay.yaml]

Prints, per metric group, the median absolute percentage error of
  - planner as shipped (fitted factors, catalog/engines-fitted.yaml), and
  - a pure roofline: the same formulas at 100% of peak bandwidth and
    compute with no fixed costs (what calculators without calibration do).
Leave-one-out cross-validated errors come from `benchmarks/fit_efficiency.py --cv`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.model import perf  # noqa: E402
from planner.catalog.load import load_catalog  # noqa: E402
from planner.model.validation import Case, predict_case, read_rows, to_case, validate  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "measured.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", action="append", default=[], metavar="FILE",
                        help="overlay on the catalog (e.g. benchmarks/engines-fitted-serving.yaml)")
    catalog = load_catalog(parser.parse_args().catalog)
    rows = read_rows(DATA)
    report = validate(catalog, rows)
    roofline: dict[str, list[float]] = defaultdict(list)
    for index, row in enumerate(rows, start=2):
        case = to_case(catalog, index, row)
        if isinstance(case, Case):
            limit = perf.physical_limit(case.deployment.engine.factors_for(case.deployment.gpu))
            roofline[case.group].append(predict_case(case, limit) / case.measured - 1)
    print(f"{len(report.answered)} of {len(rows)} published measurements answered "
          f"({len(rows) - len(report.answered)} skipped)\n")
    print(f"{'metric group':14s} {'rows':>4s}  {'planner':>8s}  {'bias':>7s}  {'<=25%':>6s}  {'roofline':>9s}")
    for s in report.summaries():
        base = roofline[s.group]
        print(f"{s.group:14s} {s.n:4d}  {100 * s.median_ape:7.1f}%  {100 * s.bias:+6.1f}%  {100 * s.within_25:5.0f}%  "
              f"{100 * statistics.median(abs(e) for e in base):8.1f}%")
    print("\nplanner: median |error| with the fitted factors; bias: median signed error; "
          "roofline: same formulas at 100% of peak, no fixed costs (memory rows are unaffected).")


if __name__ == "__main__":
    main()
