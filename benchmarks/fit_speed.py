"""How long `planner fit` takes, on the whole catalog and on a fleet-sized question.

    python benchmarks/fit_speed.py

Prints wall-clock seconds (best and median of several runs) for:
  1. `planner fit 13B --latency 100ms` as a user runs it: a fresh process,
     imports and catalog load included;
  2. the same question in-process (catalog already loaded);
  3. a fleet: 200,000 tok/s of llama-3.1-70b at 50 ms TPOT with inventory
     limits on five GPU types, in-process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.catalog.load import load_catalog  # noqa: E402
from planner.plan.fit import fit  # noqa: E402
from planner.plan.question import Question, Targets  # noqa: E402
from planner.core.units import parse_rate  # noqa: E402

RUNS = 5
FLEET = Question(
    model="llama-3.1-70b",
    targets=Targets(latency_s=0.05, throughput=parse_rate("150000 tok/s")),
    gpus=("h100-sxm", "h200-sxm", "a100-sxm-80gb", "l40s", "b200"),
    available={"h100-sxm": 64, "h200-sxm": 32, "a100-sxm-80gb": 128, "l40s": 64, "b200": 16},
)


def _time(fn) -> list[float]:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _report(name: str, times: list[float], extra: str = "") -> None:
    print(f"{name:58s} best {min(times):6.3f} s  median {statistics.median(times):6.3f} s  {extra}")


def main() -> None:
    cli = [sys.executable, "-m", "planner", "fit", "13B", "--latency", "100ms"]
    _report("planner fit 13B --latency 100ms (fresh process)",
            _time(lambda: subprocess.run(cli, check=True, capture_output=True, cwd=ROOT)))
    catalog = load_catalog()
    question = Question(model="13B", targets=Targets(latency_s=0.1))
    result = fit(catalog, question)
    _report("  same, in-process", _time(lambda: fit(catalog, question)),
            f"{len(result.candidates)} candidates scored")
    fleet = fit(catalog, FLEET)
    _report("fleet: 150k tok/s of llama-3.1-70b, 5 GPU types, inventory", _time(lambda: fit(catalog, FLEET)),
            f"{fleet.status}, {fleet.gpus} GPUs, ${fleet.cost:,.2f}/h, {len(fleet.lines)} lines")


if __name__ == "__main__":
    main()
