"""Property-based fuzzing of every door: the CLI's commands and the Python API.

Whatever is passed, planner ends with a documented exit code (never 1, the
internal-error code), never prints a traceback, refuses a value outside its
documented range (exit 2, not an answer), and prints JSON that parses in
strict mode (no NaN or Infinity). Bounded to run in CI in well under a
minute; `benchmarks/fuzz_cli.py` is the long run that prints counts.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from conftest import run_cli
from hypothesis import strategies as st

from planner.core.errors import EXIT_BAD_INPUT, PlannerError
from planner.core.units import Money, parse_rate
from planner.plan.question import Economics, Question, Targets

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DOCUMENTED_EXITS = {0, 2, 3, 4, 5}

# Ordinary values and hostile ones: empty, blank, separators, huge, non-finite,
# negative, markup, control characters, other scripts.
HOSTILE = st.sampled_from(["", " ", ",", "=", "-1", "0", "nan", "inf", "-inf", "1e308", "1" + "0" * 400, "[/bold]",
                           "\x1b[2J", "{x}", "$", "%", "\u00e9", "13\u202fB"]) | st.text(max_size=12)
DURATIONS = st.sampled_from(["100ms", "2s", "50 ms", "1e-9s", "1h", "p90:40ms", "mean:2s", "p99:", "p100:1s"]) | HOSTILE
RATES = st.sampled_from(["5000 tok/s", "20 req/s", "300 samples/s", "2k tok/s"]) | HOSTILE
COUNTS = st.sampled_from(["1", "2", "8", "2k", "4096"]) | HOSTILE
FLOATS = st.sampled_from(["0.5", "0.9", "1", "1.2", "5"]) | HOSTILE
MODELS = st.sampled_from(["13B", "llama-3.1-8b", "mixtral-8x7b", "bert-base", "110M", "deepseek-v3"]) | HOSTILE
GPUS = st.sampled_from(["h100-sxm", "h100", "l40s", "a100-sxm-80gb", "rtx-4090"]) | HOSTILE
PRECISIONS = st.sampled_from(["bf16", "fp8", "int4", "fp32", "int8-weight-only"]) | HOSTILE

FIT_OPTIONS = {
    "--latency": DURATIONS, "--ttft": DURATIONS, "--e2e": DURATIONS, "--throughput": RATES, "--input": COUNTS,
    "--output": COUNTS, "--gpu": GPUS, "--precision": PRECISIONS, "--kv-precision": PRECISIONS,
    "--max-quality-loss": FLOATS, "--available": st.sampled_from(["h100-sxm=8", "h100=2", "l40s=0"]) | HOSTILE,
    "--budget": st.sampled_from(["$200/h", "$2M", "$1/h", "$20k/month", "$1M/year"]) | HOSTILE, "--max-gpus": COUNTS,
    "--owned": st.sampled_from(["h100-sxm=8", "h100=2", "a100=0"]) | HOSTILE,
    "--provider": st.sampled_from(["aws", "lambda,runpod", "amazon"]) | HOSTILE,
    "--pricing": st.sampled_from(["on-demand", "spot", "reserved-1y", "reserved-3y"]) | HOSTILE,
    "--region": st.sampled_from(["us-east-1", "us-east", "eastus"]) | HOSTILE,
    "--redundancy": st.sampled_from(["N+1", "N+2"]) | HOSTILE, "--zones": st.sampled_from(["1", "2", "3"]) | HOSTILE,
    "--max-power": st.sampled_from(["20kW", "700W"]) | HOSTILE, "--gpus-per-node": COUNTS,
    "--objective": st.sampled_from(["hourly", "capex", "tco"]) | HOSTILE, "--years": FLOATS, "--pue": FLOATS,
    "--power-price": st.sampled_from(["$0.12/kWh", "0.2"]) | HOSTILE, "--memory-utilization": FLOATS,
    "--max-batch": COUNTS, "--top": COUNTS, "--segment": st.sampled_from(["datacenter", "consumer"]) | HOSTILE,
    "--engine": st.sampled_from(["vllm", "trtllm", "llama.cpp"]) | HOSTILE,
    "--headroom": st.sampled_from(["0", "20%", "0.5"]) | HOSTILE, "--burstiness": FLOATS,
}
PREDICT_OPTIONS = {
    "--precision": PRECISIONS, "--kv-precision": PRECISIONS, "--gpus": COUNTS, "--tp": COUNTS, "--pp": COUNTS,
    "--batch": COUNTS | st.just("max"), "--input": COUNTS, "--output": COUNTS, "--memory-utilization": FLOATS,
    "--max-batch": COUNTS, "--engine": st.sampled_from(["vllm", "trtllm"]) | HOSTILE,
    "--load": st.sampled_from(["burst:8", "concurrency:4", "rate:2/s", "rate:0", "brust:1"]) | HOSTILE,
    "--burstiness": FLOATS, "--requests": st.sampled_from(["100", "200"]) | HOSTILE,
}
CAPACITY_OPTIONS = {
    "--ttft": DURATIONS, "--tpot": DURATIONS, "--e2e": DURATIONS, "--precision": PRECISIONS, "--tp": COUNTS,
    "--input": COUNTS | st.just("lognormal:mean=300,p99=900"), "--output": COUNTS, "--burstiness": FLOATS,
    "--requests": st.sampled_from(["100", "60"]) | HOSTILE,
}


def _run(args: list[str]) -> tuple[int, str, str]:
    result = run_cli(*args)
    return result.exit_code, result.stdout, result.stderr


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"JSON carries {constant}")

    return json.loads(text, parse_constant=refuse)


def _check(args: list[str], json_out: bool) -> tuple[int, str, str]:
    code, out, err = _run(args)
    assert code in DOCUMENTED_EXITS, (args, code, err)
    assert "Traceback" not in err + out, args
    assert all(line.startswith("planner: ") for line in err.splitlines() if line), (args, err)
    if json_out and code in (0, 4) and out.strip():
        _strict_json(out)
    return code, out, err


def _options(table: dict) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(sorted(table)), max_size=4, unique=True).flatmap(
        lambda flags: st.tuples(*[table[f] for f in flags]).map(
            lambda values: [part for flag, value in zip(flags, values) for part in (flag, value)]))


@SETTINGS
@given(model=MODELS, options=_options(FIT_OPTIONS), fmt=st.sampled_from(["table", "json", "csv"]))
def test_fit_ends_in_a_documented_exit_whatever_it_is_asked(model, options, fmt):
    _check(["fit", model, *options, "--format", fmt], json_out=fmt == "json")


@SETTINGS
@given(model=MODELS, gpu=GPUS, options=_options(PREDICT_OPTIONS), fmt=st.sampled_from(["table", "json"]))
def test_predict_ends_in_a_documented_exit_whatever_it_is_asked(model, gpu, options, fmt):
    _check(["predict", model, "--gpu", gpu, *options, "--format", fmt], json_out=fmt == "json")


@SETTINGS
@given(model=MODELS, gpu=GPUS, options=_options(CAPACITY_OPTIONS), fmt=st.sampled_from(["table", "json"]))
def test_capacity_ends_in_a_documented_exit_whatever_it_is_asked(model, gpu, options, fmt):
    _check(["capacity", model, "--gpu", gpu, "--ttft", "2s", "--requests", "100", *options, "--format", fmt],
           json_out=fmt == "json")


@SETTINGS
@given(args=st.one_of(
    st.tuples(st.just("size"), MODELS).map(list),
    st.tuples(st.just("size"), MODELS, st.just("--precision"), PRECISIONS).map(list),
    st.tuples(st.just("catalog"), st.just("list"), st.sampled_from(["gpus", "models", "engines"]) | HOSTILE).map(list),
    st.tuples(st.just("catalog"), st.just("show"), GPUS | PRECISIONS).map(list),
    st.lists(HOSTILE, min_size=1, max_size=3),  # no arguments at all prints the help, by design
))
def test_other_commands_end_in_a_documented_exit(args):
    _check([*args, "--format", "json"] if args[:1] == ["size"] else list(args), json_out=args[:1] == ["size"])


# Values outside each flag's documented range: an input error, never an answer.
OUT_OF_RANGE = [
    ("--years", "0"), ("--years", "51"), ("--pue", "0.9"), ("--pue", "6"), ("--top", "0"), ("--top", "101"),
    ("--max-gpus", "0"), ("--gpus-per-node", "0"), ("--max-batch", "0"), ("--max-batch", "1000001"),
    ("--max-quality-loss", "-1"), ("--max-quality-loss", "101"), ("--memory-utilization", "0"),
    ("--memory-utilization", "1.01"), ("--memory-utilization", "nan"), ("--power-price", "0"), ("--power-price", "10"),
    ("--latency", "0ms"), ("--latency", "-5ms"), ("--latency", "inf"), ("--throughput", "0 tok/s"),
    ("--throughput", "inf tok/s"), ("--input", "0"), ("--output", "0"), ("--objective", "cheapest"),
    ("--segment", "cloud"), ("--budget", "$0/h"), ("--max-power", "0W"), ("--owned", "h100-sxm=-1"),
    ("--zones", "0"), ("--zones", "17"), ("--redundancy", "N+101"), ("--redundancy", "2N"), ("--pricing", "x"),
    ("--budget", "$5/week"), ("--budget", "$2M"), ("--provider", "amazon"), ("--region", " "),
    ("--colo-price", "-1"), ("--colo-price", "$20000/kW-month"), ("--colo-price", "cheap"),
    ("--headroom", "-1%"), ("--headroom", "1001%"), ("--burstiness", "0"), ("--burstiness", "101"),
    ("--latency", "p95:40ms"), ("--ttft", "p99:0ms"),
]


@pytest.mark.parametrize("flag, value", OUT_OF_RANGE)
def test_fit_refuses_values_outside_their_range(flag, value):
    code, _out, err = _check(["fit", "13B", "--latency", "100ms", flag, value, "--format", "json"], json_out=True)
    assert code == EXIT_BAD_INPUT, (flag, value, err)
    assert len(err.strip().splitlines()) == 1


# --- the Python API gets the same protection --------------------------------------

NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
                    st.sampled_from([0, 1, 0.5, 3.0, 10**400]))


@SETTINGS
@given(years=NUMBERS, pue=NUMBERS, price=NUMBERS, objective=st.sampled_from(["hourly", "capex", "tco", "x", ""]))
def test_economics_is_valid_or_an_input_error(years, pue, price, objective):
    try:
        e = Economics(objective=objective, years=years, pue=pue, power_usd_per_kwh=price)
    except PlannerError as exc:
        assert exc.exit_code == EXIT_BAD_INPUT and "\n" not in str(exc)
        return
    assert 0 < e.years <= 50 and 1 <= e.pue <= 5 and 0 < e.power_usd_per_kwh < 10


@SETTINGS
@given(latency=st.none() | NUMBERS, top=st.one_of(st.integers(-5, 200), st.just(True)),
       max_loss=NUMBERS, utilization=st.none() | NUMBERS, max_gpus=st.none() | st.integers(-5, 10**9),
       inventory=st.none() | st.dictionaries(st.sampled_from(["h100", "l40s", "nope"]), st.integers(-2, 10**8), max_size=2))
def test_a_question_is_valid_or_an_input_error_and_fit_answers_it(catalog, latency, top, max_loss, utilization,
                                                                   max_gpus, inventory):
    from planner.plan.fit import fit

    try:
        q = Question("13B", Targets(latency_s=latency), top=top, max_quality_loss=max_loss,
                     memory_utilization=utilization, max_gpus=max_gpus, available=inventory,
                     budget=Money(500, "h"))
    except PlannerError as exc:
        assert exc.exit_code == EXIT_BAD_INPUT and "\n" not in str(exc)
        return
    assert q.targets.latency_s is None or (math.isfinite(q.targets.latency_s) and q.targets.latency_s > 0)
    try:
        result = fit(catalog, q.replace(gpus=("h100-sxm", "l40s")))
    except PlannerError as exc:
        assert "\n" not in str(exc)
        return
    assert result.lines and all(line.replicas >= 1 for line in result.lines)


def test_throughput_targets_from_python_are_checked_too():
    with pytest.raises(PlannerError):
        Targets(throughput=5000)  # a bare number has no kind: tokens, requests or samples
    assert Targets(throughput=parse_rate("5000 tok/s")).throughput.per_second == 5000
