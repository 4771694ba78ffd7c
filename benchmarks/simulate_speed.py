"""How fast the serving simulation runs: requests simulated per second of
wall time, on one core.

The representative case: Llama-3.1-8B in FP8 (FP8 KV cache) on one H100 SXM
under vLLM's catalogued scheduler, 10,000 requests with lognormal lengths
(input mean 1,024 / p99 4,096 tokens, output mean 256 / p99 1,024),
Poisson arrivals at 80% of the replica's capacity. Capacity is measured
first with a closed loop at the scheduler's full concurrency (not timed).
Then the same 10,000 requests the way `planner predict --load` runs them
(planner.predict with a load: resolving the deployment, the static figures,
the simulation and the steady-window summary), against the 1 s target.

    .venv/bin/python benchmarks/simulate_speed.py
"""

from __future__ import annotations

import time

from planner.catalog.load import load_catalog
from planner.model import serving, traffic
from planner.model.predict import predict
from planner.model.lengths import Lengths, Lognormal
from planner.model.workload import Deployment

REQUESTS = 10_000
LOAD_SHARE = 0.8
REPEATS = 3
TARGET_S = 1.0  # wall time for 10,000 requests through predict


def main() -> None:
    catalog = load_catalog()
    model = catalog.model("llama-3.1-8b")
    dep = Deployment(gpu=catalog.gpu("h100-sxm"), precision=catalog.precision("fp8"),
                     kv_precision=catalog.precision("fp8"), engine=catalog.engine("vllm"))
    lengths = Lengths(Lognormal(1024, 4096), Lognormal(256, 1024))
    settings = serving.scheduler_for(dep.engine)
    closed = serving.simulate(model, dep, traffic.Closed(settings.max_num_seqs or 1024, 5000), lengths, seed=1)
    capacity = closed.summary(0.2 * closed.makespan, 0.8 * closed.makespan).requests_per_s
    load = traffic.Open(LOAD_SHARE * capacity, REQUESTS)

    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        served = serving.simulate(model, dep, load, lengths, seed=7)
        best = min(best, time.perf_counter() - start)
    s = served.summary(0.1 * served.makespan, 0.9 * served.makespan)
    print(f"case: {model.id} fp8 on 1 x {dep.gpu.id}, vLLM scheduler, {REQUESTS:,} requests, "
          f"Poisson at {LOAD_SHARE:.0%} of {capacity:.1f} requests/s")
    print(f"simulated {REQUESTS:,} requests ({len(served.step_end):,} engine steps, "
          f"{served.makespan:.0f} s of serving) in {best * 1e3:.0f} ms wall (best of {REPEATS})")
    print(f"speed: {REQUESTS / best:,.0f} requests simulated per second")
    print(f"figures (middle 80% of the run): {s.requests_per_s:.1f} requests/s, {s.tokens_per_s:,.0f} tokens/s, "
          f"mean concurrency {s.mean_concurrency:.0f}")
    for name in ("ttft", "tpot", "itl", "e2e", "queue_wait"):
        p = getattr(s, name)
        print(f"  {name:<10} mean {p.mean * 1e3:8.1f} ms  p50 {p.p50 * 1e3:8.1f}  p90 {p.p90 * 1e3:8.1f}  p99 {p.p99 * 1e3:8.1f}")

    form = traffic.LoadForm("rate", rate=LOAD_SHARE * capacity, text=f"rate:{LOAD_SHARE * capacity:.1f}/s")
    through = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = predict(catalog, model.id, dep.gpu.id, precision="fp8", kv_precision="fp8", engine="vllm",
                         lengths=lengths, load=form, requests=REQUESTS, seed=7)
        through = min(through, time.perf_counter() - start)
    assert result.serving is not None and result.serving.requests == REQUESTS
    verdict = "met" if through < TARGET_S else "MISSED"
    print(f"predict --load {form.text} --requests {REQUESTS:,}: {through:.2f} s wall (best of {REPEATS}); "
          f"target < {TARGET_S:g} s: {verdict}")


if __name__ == "__main__":
    main()
