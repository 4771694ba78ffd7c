"""Hostile scenario files against `fit --scenario`'s loader: every one must
load or be refused with planner's own error (a one-line InputError), never
another exception.

    python benchmarks/fuzz_scenario.py               # 3,000 files, seed 0
    python benchmarks/fuzz_scenario.py --runs 10000 --seed 3

Each file is a YAML document built at random from the scenario's own keys
(planner/plan/scenario.py) with values of every wrong kind (null, booleans,
negatives, NaN, 1e308, empty strings and lists, nested junk, profiles of 23
values, trace paths that do not exist or are not CSV, duplicate workload
names), half of them the README's valid scenario with one or two values made
wrong, plus broken YAML and YAML tags. The loader and `Scenario.questions()`
run on each; nothing is searched or solved. Prints the runs, how many loaded,
how many were refused, and any other exception with its file.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import traceback
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.core.errors import PlannerError  # noqa: E402
from planner.plan.scenario import load_scenario  # noqa: E402

ATOMS = [None, True, -1, 0, 1, 2.5, 1e308, float("nan"), "", "x", "p99:50ms", "20 req/s", "$50/h", "N+1",
         "h100-sxm", "-3", "1e400", [], {}, "24", "mean:1s", "reserved-1y", "on-demand", "capex", "5%"]
SHARED_KEYS = ["owned", "available", "providers", "region", "pricing", "commit", "autoscale", "budget", "max_gpus",
               "max_power", "redundancy", "objective", "years", "power_price", "pue", "colo_price", "headroom", "bogus"]
WORKLOAD_KEYS = ["name", "model", "engine", "load", "input", "output", "classes", "latency", "ttft", "e2e",
                 "max_quality_loss", "gpus", "precisions", "burstiness", "max_batch", "segments", "kv_precisions", "weird"]
BROKEN = ["{", ":\n-", "a: [1,", "\x00", "!!python/object/apply:os.system ['true']", "&a [*a, *a]"]


def _value(rng: random.Random, depth: int = 0) -> object:
    r = rng.random()
    if depth < 2 and r < 0.15:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and r < 0.25:
        keys = ["x", "rate", "profile", "unit", "trace", "share", "input", "name"]
        return {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice(ATOMS)


def _load(rng: random.Random) -> object:
    c = rng.random()
    if c < 0.3:
        return {"rate": rng.choice(ATOMS)}
    if c < 0.6:
        return {"profile": [rng.choice([1, 2.5, -1, "x", None, 1e308]) for _ in range(rng.choice([24, 24, 23, 0]))],
                "unit": rng.choice(["req/s", "tok/s", "x", None])}
    if c < 0.7:
        return {"trace": rng.choice(["/etc/passwd", "no-such-file.csv", "", "../x"])}
    return _value(rng)


BASE = yaml.safe_load((Path(__file__).resolve().parent.parent / "examples" / "fleet-readme.yaml").read_text())


def _mutated(rng: random.Random) -> dict:
    """The README's (valid) scenario with one or two values made wrong."""
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    for _ in range(rng.randint(1, 2)):
        part = rng.choice(["shared", "workload", "load"])
        if part == "shared":
            doc["shared"][rng.choice(SHARED_KEYS)] = _value(rng)
        elif part == "workload":
            rng.choice(doc["workloads"])[rng.choice(WORKLOAD_KEYS)] = _value(rng)
        else:
            rng.choice(doc["workloads"])["load"] = _load(rng)
    return doc


def scenario_text(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(BROKEN)
    if rng.random() < 0.5:
        return yaml.safe_dump(_mutated(rng))
    doc: dict[str, object] = {}
    if rng.random() < 0.8:
        doc["name"] = _value(rng)
    if rng.random() < 0.8:
        doc["shared"] = {k: _value(rng) for k in rng.sample(SHARED_KEYS, rng.randint(0, 5))}
    if rng.random() < 0.9:
        doc["workloads"] = [{**{k: _value(rng) for k in rng.sample(WORKLOAD_KEYS, rng.randint(0, 6))},
                             "name": rng.choice(["a", "b", "a"]), "model": "llama-3.1-8b", "load": _load(rng)}
                            for _ in range(rng.randint(0, 3))]
    elif rng.random() < 0.5:
        doc["workloads"] = _value(rng)
    if rng.random() < 0.2:
        doc["extra"] = _value(rng)
    return yaml.safe_dump(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    loaded = refused = crashed = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.yaml"
        for _ in range(args.runs):
            text = scenario_text(rng)
            path.write_text(text, encoding="utf-8")
            try:
                load_scenario(path).questions()
                loaded += 1
            except PlannerError:
                refused += 1
            except Exception:  # noqa: BLE001 - what this benchmark looks for
                crashed += 1
                if crashed <= 5:
                    print(f"--- not planner's error on:\n{text[:400]}", file=sys.stderr)
                    traceback.print_exc(limit=4)
    print(f"{args.runs} scenario files: {loaded} loaded, {refused} refused with planner's error, {crashed} other exceptions")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
