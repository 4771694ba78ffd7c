"""Random and hostile command lines: every one must end in a documented exit
code (never 1, the internal-error code), print no traceback, write nothing on
stderr but planner's own lines, refuse a value outside its documented range
(exit 2, never an answer), and, asked for JSON, print JSON that parses in
strict mode (no NaN or Infinity).

    python benchmarks/fuzz_cli.py                 # 400 invocations, seed 0
    python benchmarks/fuzz_cli.py --runs 2000 --seed 3

Prints the count per exit code and every invocation that broke a rule;
exits 1 if any did.
Runs in-process (fast); writes nothing outside a temporary folder.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.cli import main  # noqa: E402

MODELS = ["13B", "llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "bert-base", "0B", "-7B", "1e400B",
          "13X", "", " ", "meta-llama/Llama-3.1-8B", "{model}", "110M", "7e9"]
DURATIONS = ["100ms", "2s", "0ms", "-1ms", "inf", "nan", "1e308s", "", " ", "fast", "50 ms", "1e-9s"]
RATES = ["5000 tok/s", "20 req/s", "300 samples/s", "0 tok/s", "inf tok/s", "-5 req/s", "lots", "2k tok/s"]
COUNTS = ["1", "0", "-3", "2k", "1e308", "nan", "", "8", "4096", "10000000000", "1" + "0" * 400]
FLOATS = ["0.9", "5", "0", "-1", "nan", "inf", "1e308", "abc", "1"]
GPUS = ["h100-sxm", "h100", "l40s", "v100-sxm-32gb", "rtx-4090", "nope", "", ",", "h100-sxm,a100-sxm-80gb"]
PRECISIONS = ["bf16", "fp8", "int4", "nvfp4", "fp32", "tf32", "bogus", "", ","]
POOLS = ["workers=2", "gpu=h200,tp=8,workers=1", "dp=8,ep=8", "tp=0", "workers=-1", "workers=1e9", "gpu=nope",
         "tp=8,tp=4", "colour=red", "", ",", "=", "tp", "workers=$(id)", "gpu=h100;rm -rf /"]


def _fit_args(rng: random.Random) -> list[str]:
    args = ["fit", rng.choice(MODELS)]
    options = {
        "--latency": DURATIONS, "--ttft": DURATIONS, "--e2e": DURATIONS, "--throughput": RATES,
        "--input": COUNTS, "--output": COUNTS, "--gpu": GPUS, "--precision": PRECISIONS,
        "--kv-precision": PRECISIONS, "--max-quality-loss": ["3", "0", "101", "-1", "2%", "x", "nan"],
        "--available": ["h100-sxm=8", "h100=8", "h100-sxm=0", "gb200=0", "x=1", "h100-sxm=lots", "", "=", "h100-sxm:8"],
        "--owned": ["h100-sxm=8", "h100=16", "a100=0", "x=2", "", "h100-sxm=-1"],
        "--provider": ["aws", "lambda,runpod", "amazon", "", ","], "--pricing": ["on-demand", "spot", "reserved-3y", "x", ""],
        "--region": ["us-east-1", "us-east", "mars", "", " "], "--redundancy": ["N+1", "n+2", "3", "2N", "", "N+101"],
        "--zones": ["1", "2", "3", "0", "17", "x"],
        "--budget": ["$200/h", "$2M", "$150k/month", "$1.8M/year", "$0/h", "$-1", "$1e308/h", "", "free", "$5/week"],
        "--max-gpus": COUNTS,
        "--max-power": ["20kW", "0W", "-1W", "1e308W", "", "x"], "--gpus-per-node": COUNTS,
        "--objective": ["hourly", "capex", "tco", "cheapest", ""], "--years": FLOATS, "--pue": FLOATS,
        "--power-price": ["$0.12/kWh", "0", "20", "x", ""], "--memory-utilization": FLOATS, "--max-batch": COUNTS,
        "--top": COUNTS, "--segment": ["datacenter", "consumer", "cloud", ""], "--engine": ["vllm", "trtllm", "llama.cpp", "x"],
        "--format": ["table", "json", "csv", "markdown", "html", "xml"],
        # always beside a MODEL here: the one-line error that the two do not mix
        "--scenario": ["examples/fleet-readme.yaml", "missing.yaml", ""],
    }
    for flag in rng.sample(sorted(options), rng.randint(0, 5)):
        args += [flag, rng.choice(options[flag])]
    return args


# A value outside the flag's documented range: the run must end in exit 2.
OUT_OF_RANGE = [("--years", "0"), ("--years", "51"), ("--pue", "0.9"), ("--top", "101"), ("--max-gpus", "0"),
                ("--max-batch", "1000001"), ("--max-quality-loss", "101"), ("--memory-utilization", "1.01"),
                ("--latency", "0ms"), ("--latency", "inf"), ("--throughput", "0 tok/s"), ("--input", "0"),
                ("--objective", "cheapest"), ("--budget", "$0/h"), ("--max-power", "0W"), ("--budget", ""),
                ("--gpu", ","), ("--available", "h100-sxm=-1"), ("--owned", "h100-sxm=-1"), ("--zones", "0"),
                ("--zones", "17"), ("--redundancy", "N+101"), ("--pricing", "x"), ("--budget", "$5/week")]


def _predict_args(rng: random.Random) -> list[str]:
    args = ["predict", rng.choice(MODELS), "--gpu", rng.choice(GPUS)]
    options = {"--precision": PRECISIONS, "--kv-precision": PRECISIONS, "--gpus": COUNTS, "--tp": COUNTS, "--pp": COUNTS,
               "--batch": COUNTS + ["max"], "--input": COUNTS, "--output": COUNTS, "--memory-utilization": FLOATS,
               "--max-batch": COUNTS, "--format": ["table", "json", "yaml"], "--dp": COUNTS, "--ep": COUNTS,
               "--prefill-pool": POOLS, "--decode-pool": POOLS}
    for flag in rng.sample(sorted(options), rng.randint(0, 4)):
        args += [flag, rng.choice(options[flag])]
    if rng.random() < 0.2:
        args.append("--disaggregated")
    return args


def _other_args(rng: random.Random, folder: Path) -> list[str]:
    hostile = folder / "hostile.yaml"
    hostile.write_text(rng.choice(["gpus: [{id: x}]\n", "a: &x [1]\nb: *x\n", "gpus:\n  - " * 50 + "x\n", "{{{", "\0"]))
    return rng.choice([
        ["size", rng.choice(MODELS)], ["size", rng.choice(MODELS), "--precision", rng.choice(PRECISIONS)],
        ["catalog", "list", rng.choice(["gpus", "models", "engines", "precisions", "nope"])],
        ["catalog", "show", rng.choice(GPUS + PRECISIONS)], ["catalog", "validate", str(hostile)],
        ["fit", "13B", "--latency", "100ms", "--catalog", str(hostile)],
        ["validate", str(hostile)],
    ])


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def _refuse_constant(name: str) -> object:
    raise ValueError(f"JSON carries {name}")


def problems_with(args: list[str], code: int, out: str, err: str) -> list[str]:
    """What is wrong with one invocation's outcome, by the rules in the docstring."""
    found = []
    if code not in (0, 2, 3, 4, 5):
        found.append(f"exit {code}")
    if "Traceback" in out + err:
        found.append("traceback")
    if any(line and not line.startswith("planner: ") for line in err.splitlines()):
        found.append("stderr line not from planner")
    if "json" in args and code in (0, 4) and out.strip():
        try:
            json.loads(out, parse_constant=_refuse_constant)
        except ValueError as exc:
            found.append(f"JSON: {exc}")
    return found


def main_fuzz() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    codes: Counter[int] = Counter()
    bad: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(opts.runs):
            kind = rng.random()
            args = _fit_args(rng) if kind < 0.5 else _predict_args(rng) if kind < 0.8 else _other_args(rng, folder)
            outside = args[0] == "fit" and rng.random() < 0.2
            if outside:
                args += list(rng.choice(OUT_OF_RANGE))
            code, out, err = run(args)
            codes[code] += 1
            wrong = problems_with(args, code, out, err)
            if outside and code != 2:
                wrong.append(f"exit {code} for a value outside its range ({args[-2]} {args[-1]!r})")
            if wrong:
                bad.append(f"{', '.join(wrong)}: planner {' '.join(map(repr, args))}\n    {err.strip()[:300]}")
    print(f"{opts.runs} invocations, seed {opts.seed}; by exit code: "
          + ", ".join(f"{code}: {n}" for code, n in sorted(codes.items())))
    for line in bad:
        print(line)
    print(f"invocations breaking a rule: {len(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_fuzz())
