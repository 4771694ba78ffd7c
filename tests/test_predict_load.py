"""`planner predict --load`: load forms and length options from the command
line, the JSON contract, and the laws the simulated figures must obey when
reached the way predict reaches them (planner/model/under_load.py)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import ROOT, run_cli
from planner.core.errors import InputError
from planner.model import perf
from planner.model.lengths import Fixed, Lengths, Lognormal, Uniform
from planner.model.predict import predict, prediction_dict
from planner.model.traffic import DEFAULT_MAX_REQUESTS, DEFAULT_MIN_REQUESTS, LoadForm, parse_load
from planner.model.under_load import MIN_LIFETIMES

BASE = ("predict", "llama-3.1-8b", "--gpu", "h100-sxm", "--precision", "fp8")
LENGTHS_CSV = str(ROOT / "tests/fixtures/lengths/example.csv")
LENGTHS_JSONL = str(ROOT / "tests/fixtures/lengths/example.jsonl")
METRICS = ("queue_wait", "ttft", "tpot", "itl", "e2e")


# --- load forms ---------------------------------------------------------------------


@pytest.mark.parametrize("text, kind, size, rate", [
    ("burst:16", "burst", 16, None),
    ("concurrency:64", "concurrency", 64, None),
    ("Concurrency: 8", "concurrency", 8, None),
    ("rate:5", "rate", None, 5.0),
    ("rate:5/s", "rate", None, 5.0),
    ("rate:300/min", "rate", None, 5.0),
    ("rate:7200/h", "rate", None, 2.0),
    ("rate:2.5 req/s", "rate", None, 2.5),
    ("rate:0.5", "rate", None, 0.5),
])
def test_load_forms_parse(text, kind, size, rate):
    form = parse_load(text)
    assert (form.kind, form.size) == (kind, size)
    assert form.rate == (None if rate is None else pytest.approx(rate, rel=1e-12))
    assert form.cv == 1.0 and form.text == text.strip()


def test_burstiness_is_the_open_loops_only():
    assert parse_load("rate:5/s", 2.0).load(100).cv == 2.0
    with pytest.raises(InputError, match="open-loop rate"):
        parse_load("concurrency:8", 2.0)


def test_default_request_counts():
    """A burst is its own size; a closed loop 20 per client within the bounds; a rate 2,000."""
    assert parse_load("burst:16").default_requests() == 16
    assert parse_load("concurrency:8").default_requests() == DEFAULT_MIN_REQUESTS
    assert parse_load("concurrency:500").default_requests() == 10_000
    assert parse_load("concurrency:90000").default_requests() == DEFAULT_MAX_REQUESTS
    assert parse_load("rate:5").default_requests() == DEFAULT_MIN_REQUESTS
    with pytest.raises(InputError, match="does not apply"):
        parse_load("burst:16").load(100)


# --- command-line errors: one line, exit 2, naming the fix --------------------------

ERRORS = [
    (("--load", "brust:16"), "did you mean burst:16?"),
    (("--load", "concurency:64"), "did you mean concurrency:64?"),
    (("--load", "rat:5"), "did you mean rate:5?"),
    (("--load", "poisson:5"), "burst:16 (16 requests at once), concurrency:64"),
    (("--load", "16"), "is not form:number"),
    (("--load", "burst:"), "gives no number"),
    (("--load", "burst:0"), "must be from 1 to 100,000"),
    (("--load", "burst:-4"), "must be above 0"),
    (("--load", "concurrency:2.5"), "not a whole number of clients"),
    (("--load", "concurrency:1e9"), "not a whole number of clients"),
    (("--load", "burst:5000000"), "must be from 1 to 100,000"),
    (("--load", "rate:0"), "must be above 0"),
    (("--load", "rate:-3/s"), "must be above 0"),
    (("--load", "rate:nan"), "is not a rate"),
    (("--load", "rate:inf"), "is not a rate"),
    (("--load", "rate:1e400"), "is outside"),
    (("--load", "rate:5/fortnight"), "is not a rate"),
    (("--load", "rate:1e-9/s"), "is outside"),
    (("--load", " "), "--load is empty"),
    (("--burstiness", "2"), "--burstiness needs an open-loop load"),
    (("--load", "burst:4", "--burstiness", "2"), "applies to an open-loop rate"),
    (("--load", "rate:5", "--burstiness", "0"), "must be a number above 0"),
    (("--load", "rate:5", "--burstiness", "nan"), "must be a number above 0"),
    (("--load", "rate:5", "--burstiness", "lots"), "must be a number above 0"),
    (("--load", "burst:4", "--requests", "9"), "does not apply"),
    (("--requests", "100"), "--requests needs a load"),
    (("--load", "rate:5", "--requests", "0"), "--requests '0'"),
    (("--load", "rate:5", "--requests", "5000000"), "--requests"),
    (("--load", "rate:5", "--seed", "-1"), "--seed '-1'"),
    (("--load", "rate:5", "--seed", "x"), "--seed 'x'"),
    (("--input", "lognormal:mean=1024"), "--input: length distribution"),
    (("--output", "uniform:low=5,high=2"), "high 2 is below low 5"),
    (("--input", "gamma:k=2"), "is not understood"),
    (("--lengths", LENGTHS_CSV, "--input", "512"), "--lengths and --input both give lengths"),
    (("--lengths", LENGTHS_CSV, "--input", "512", "--output", "9"), "--lengths and --input and --output"),
    (("--lengths", "no-such-file.csv"), "cannot read length file"),
    (("--load", "rate:5", "--gpus", "2"), "a load is simulated on one replica"),
    (("--load", "rate:1", "--input", "uniform:low=1000,high=200000"), "context window"),
]


@pytest.mark.parametrize("args, message", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_bad_load_options_are_one_line_errors(args, message):
    result = run_cli(*BASE, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert message in lines[0]


def test_an_encoder_under_load_is_refused_plainly():
    result = run_cli("predict", "bert-base", "--gpu", "a100-sxm-40gb", "--precision", "fp16", "--input", "128",
                     "--engine", "tensorrt", "--load", "rate:100/s")
    assert result.exit_code == 2
    assert "is an encoder" in result.stderr and "leave --load out" in result.stderr


# --- JSON contract ------------------------------------------------------------------

OLD_KEYS = {"model", "architecture", "approximate", "gpu", "gpus", "tp", "pp", "dp", "ep", "moe_tp", "replicas", "precision",
            "kv_precision", "matmul_format", "engine", "batch", "batch_per_replica", "batch_is_max", "input",
            "output", "fits", "fit_reason", "ttft_ms", "tpot_ms", "e2e_ms", "output_tokens_per_s", "samples_per_s",
            "bound", "memory_gb", "breakdown_ms", "factors"}
SERVING_KEYS = {"load", "lengths", "requests", "requests_default", "requests_rule", "seed", "window", "scheduler",
                "kv_capacity_tokens", "preemptions", "steady", "overload", "ttft_ms", "tpot_ms", "itl_ms", "e2e_ms",
                "queue_wait_ms", "requests_per_s", "output_tokens_per_s", "mean_in_system", "mean_running"}


def _json(*args: str) -> dict:
    result = run_cli(*BASE, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_keeps_every_old_key_and_adds_serving():
    """Without --load the object is exactly the documented contract (README);
    with it, the same keys with the same values, and ``serving`` besides."""
    plain = _json("--input", "700", "--output", "120")
    assert set(plain) == OLD_KEYS
    loaded = _json("--input", "700", "--output", "120", "--load", "concurrency:8")
    assert set(loaded) == OLD_KEYS | {"serving"}
    assert {k: loaded[k] for k in OLD_KEYS} == plain
    sv = loaded["serving"]
    assert set(sv) == SERVING_KEYS
    assert sv["load"] == {"form": "concurrency", "as_given": "concurrency:8", "concurrency": 8}
    assert sv["requests"] == DEFAULT_MIN_REQUESTS and sv["requests_default"] is True
    assert sv["seed"] == 0
    assert set(sv["window"]) == {"start_s", "end_s", "rule", "requests", "lifetimes", "short"}
    assert set(sv["scheduler"]) == {"max_num_seqs", "max_num_batched_tokens", "chunked_prefill", "policy",
                                    "admission", "source"}
    for metric in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "queue_wait_ms"):
        assert set(sv[metric]) == {"mean", "p50", "p90", "p99"}
    assert sv["kv_capacity_tokens"] > 0 and sv["preemptions"] == 0
    assert sv["steady"] is True and sv["overload"] is None
    # eight clients, each always in the system: Little's law holds exactly in the mean
    assert sv["mean_in_system"] == pytest.approx(8, rel=1e-6)


def test_json_says_the_rate_and_its_burstiness():
    sv = _json("--load", "rate:300/min", "--burstiness", "2", "--requests", "800", "--seed", "3")["serving"]
    assert sv["load"] == {"form": "rate", "as_given": "rate:300/min", "rate_per_s": 5.0, "burstiness": 2.0}
    assert (sv["requests"], sv["requests_default"], sv["seed"]) == (800, False, 3)
    assert sv["lengths"] == {"input": "512", "output": "256", "mean_input": 512, "mean_output": 256}


def test_a_burst_is_summarised_whole():
    sv = _json("--load", "burst:12")["serving"]
    assert sv["requests"] == sv["window"]["requests"] == 12
    assert sv["window"]["start_s"] == 0 and "whole run" in sv["window"]["rule"]


def test_same_seed_same_answer_and_another_seed_another():
    args = ("--load", "rate:10/s", "--input", "lognormal:mean=800,p99=3000", "--requests", "600")
    a, b = _json(*args), _json(*args)
    c = _json(*args, "--seed", "1")
    assert a == b
    assert a["serving"]["ttft_ms"] != c["serving"]["ttft_ms"]


def test_max_batch_caps_the_schedulers_running_sequences():
    sv = _json("--load", "concurrency:64", "--max-batch", "16", "--requests", "800")["serving"]
    assert sv["scheduler"]["max_num_seqs"] == 16
    assert "--max-batch" in sv["scheduler"]["source"]
    assert sv["mean_running"] <= 16 + 1e-9
    assert sv["queue_wait_ms"]["p50"] > 0  # 64 clients, 16 run: the rest wait


# --- lengths ------------------------------------------------------------------------


def test_a_distribution_without_a_load_uses_its_mean_and_says_so():
    data = _json("--input", "lognormal:mean=1000,p99=4000", "--output", "uniform:low=100,high=301")
    assert (data["input"], data["output"]) == (1000, 200)
    assert data["lengths"] == {"input": "lognormal:mean=1000,p99=4000", "output": "uniform:low=100,high=301",
                               "mean_input": 1000, "mean_output": 200}
    assert data == {**_json("--input", "1000", "--output", "200"), "lengths": data["lengths"]}
    table = run_cli(*BASE, "--input", "lognormal:mean=1000,p99=4000").stdout
    assert "mean lengths 1,000 in and 256 out" in table and "Add --load for percentiles" in table


@pytest.mark.parametrize("path", [LENGTHS_CSV, LENGTHS_JSONL])
def test_a_length_file_is_drawn_from(path):
    from planner.model.lengths import read_lengths

    pairs = read_lengths(path).pairs
    sv = _json("--lengths", path, "--load", "burst:30")["serving"]
    assert sv["lengths"]["pairs"] == len(pairs)
    assert sv["lengths"]["mean_input"] == round(sum(p[0] for p in pairs) / len(pairs))


def test_the_table_reports_the_load(cli):
    out = cli(*BASE, "--load", "concurrency:16", "--input", "lognormal:mean=600,p99=2400").stdout
    for words in ("under concurrency:16", "Latency under load, one replica", "TTFT", "TPOT", "ITL", "e2e",
                  "queue wait", "p99", "output tokens/s", "KV-cache capacity", "preemptions", "Summary window",
                  "warm the replica up", "Scheduler: max_num_seqs", "Simulated 2,000 requests"):
        assert words in out, words
    assert "lockstep" not in out
    fixed = cli(*BASE, "--load", "concurrency:16", "--requests", "400").stdout
    assert "Equal lengths keep clients that start together in lockstep" in fixed


# --- laws, through the path predict takes ------------------------------------------


def _predict(catalog, engine, load, lengths, seed=0, requests=None):
    return predict(catalog, "llama-3.1-8b", "h100-sxm", precision="fp8", kv_precision="fp8", engine=engine,
                   lengths=lengths, load=load, seed=seed, requests=requests)


SHAPES = st.builds(
    Lengths,
    st.one_of(st.integers(1, 4000).map(Fixed), st.builds(lambda lo, w: Uniform(lo, lo + w), st.integers(1, 2000), st.integers(0, 3000)),
              st.builds(lambda m, r: Lognormal(m, m * r), st.integers(20, 2000), st.floats(1.2, 6))),
    st.one_of(st.integers(1, 600).map(Fixed), st.builds(lambda lo, w: Uniform(lo, lo + w), st.integers(1, 300), st.integers(0, 500)),
              st.builds(lambda m, r: Lognormal(m, m * r), st.integers(2, 400), st.floats(1.2, 6))),
)
LOADS = st.one_of(
    st.integers(1, 64).map(lambda b: LoadForm("burst", size=b, text=f"burst:{b}")),
    st.integers(2, 200).map(lambda c: LoadForm("concurrency", size=c, text=f"concurrency:{c}")),
    st.builds(lambda r, cv: LoadForm("rate", rate=r, cv=cv, text=f"rate:{r}"), st.floats(0.5, 60), st.sampled_from([0.5, 1.0, 2.0])),
)


@settings(max_examples=20, deadline=None)
@given(load=LOADS, lengths=SHAPES, engine=st.sampled_from(["vllm", "sglang", "trtllm"]), seed=st.integers(0, 1000))
def test_percentiles_are_ordered_and_means_lie_within_the_values(catalog, load, lengths, engine, seed):
    """For every metric p99 >= p90 >= p50, and the mean lies between the
    smallest and largest value of the window (recomputed from the run)."""
    requests = None if load.kind == "burst" else 400
    sv = _predict(catalog, engine, load, lengths, seed=seed, requests=requests).serving
    served, s = sv.served, sv.summary
    done = [i for i, f in enumerate(served.finish) if s.start <= f <= s.end]
    values = {
        "queue_wait": [served.admitted[i] - served.arrival[i] for i in done],
        "ttft": [served.first_token[i] - served.arrival[i] for i in done],
        "tpot": [(served.finish[i] - served.first_token[i]) / (served.output[i] - 1) for i in done if served.output[i] > 1],
        "e2e": [served.finish[i] - served.arrival[i] for i in done],
        "itl": [v for t, v in zip(served.itl_time, served.itl_value) if s.start <= t <= s.end],
    }
    for name in METRICS:
        p = getattr(s, name)
        if not values[name]:
            assert p is None, name
            continue
        assert p.p99 >= p.p90 >= p.p50 >= 0, name
        # 1e-12 relative: the mean is a float sum over the values
        lo, hi = min(values[name]), max(values[name])
        assert lo * (1 - 1e-12) - 1e-15 <= p.mean <= hi * (1 + 1e-12) + 1e-15, name
        assert lo <= p.p50 <= hi and p.p99 <= hi, name


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 64), prompt=st.integers(1, 6000), out=st.integers(1, 300),
       engine=st.sampled_from(["vllm", "sglang", "trtllm"]))
def test_a_burst_waits_for_the_whole_batchs_prefill(catalog, batch, prompt, out, engine):
    """burst:B of equal prompts: the last first token comes no sooner than
    perf.prefill of all B prompts (the static batch's prefill); chunked or
    mixed steps read the weights as often and carry decodes besides. Up to
    100 requests the nearest-rank p99 is the largest value."""
    p = _predict(catalog, engine, LoadForm("burst", size=batch, text="b"), Lengths(Fixed(prompt), Fixed(out)))
    sv = p.serving
    whole = perf.prefill(p.spec.model, p.deployment, p.factors, batch, prompt).total_s
    # 1e-9 s: times are sums of step times (float rounding)
    assert sv.summary.ttft.p99 >= whole - 1e-9
    assert max(f - a for f, a in zip(sv.served.first_token, sv.served.arrival)) == sv.summary.ttft.p99


# Derandomised: the bound is statistical (a finite window of a random run),
# so CI checks the same examples every time.
@settings(max_examples=12, deadline=None, derandomize=True)
@given(load=st.one_of(
           st.integers(2, 300).map(lambda c: LoadForm("concurrency", size=c, text=f"concurrency:{c}")),
           st.builds(lambda r, cv: LoadForm("rate", rate=r, cv=cv, text=f"rate:{r}"), st.floats(0.5, 40),
                     st.sampled_from([0.5, 1.0, 2.0]))),
       mean_in=st.sampled_from([200, 800, 2500]), mean_out=st.sampled_from([50, 200, 600]),
       engine=st.sampled_from(["vllm", "sglang", "trtllm"]), seed=st.integers(0, 1000))
def test_littles_law_holds_over_predicts_window(catalog, load, mean_in, mean_out, engine, seed):
    """Little's law (Little 1961): mean requests in the system = requests/s x
    mean e2e, each measured on its own over the window predict reports, with
    the request count predict chooses. Within 5%: the window's edges cut the
    requests that straddle them, an error of the order of one lifetime over
    the window, which the default count keeps at 1/15 or less (on 60 random
    cases when written, the largest gap was 2.4%). An overloaded rate has no
    steady state, so no law to check: it is set aside (and reported so,
    test_an_overloaded_rate_is_reported_as_overloaded)."""
    lengths = Lengths(Lognormal(mean_in, 3 * mean_in), Lognormal(mean_out, 3 * mean_out))
    sv = _predict(catalog, engine, load, lengths, seed=seed).serving
    assume(sv.overload is None)
    assert not sv.short_window, sv.window
    s = sv.summary
    assert s.requests > 1000
    assert s.mean_concurrency == pytest.approx(s.requests_per_s * s.e2e.mean, rel=0.05)


def _capacity(catalog, lengths):
    """Requests/s one replica serves at these lengths: a closed loop at vLLM's full concurrency."""
    return _predict(catalog, "vllm", LoadForm("concurrency", size=1024, text="c"), lengths, requests=8000).serving.summary.requests_per_s


def test_an_overloaded_rate_is_reported_as_overloaded(catalog):
    """Arrivals at twice the replica's capacity: the queue grows, and predict
    says so, with the rate the replica serves (its capacity, within 15%: a
    saturated open loop runs at the scheduler's full concurrency, as the
    closed loop that measures capacity does, but with on-demand preemption)
    and the backlog's growth (arrivals less that). At half the capacity the
    same lengths are steady."""
    lengths = Lengths(Lognormal(800, 2400), Lognormal(200, 600))
    capacity = _capacity(catalog, lengths)
    over = _predict(catalog, "vllm", LoadForm("rate", rate=2 * capacity, text="r"), lengths).serving
    assert over.overload is not None and not over.steady
    o = over.overload
    assert o.served_per_s == pytest.approx(capacity, rel=0.15)
    assert o.queue_growth_per_s == pytest.approx(o.arrivals_per_s - o.served_per_s, rel=1e-9)
    assert o.queue_growth_per_s > 0.3 * capacity
    calm = _predict(catalog, "vllm", LoadForm("rate", rate=0.5 * capacity, text="r"), lengths).serving
    assert calm.overload is None and calm.steady


def test_the_cli_says_overloaded_plainly(cli):
    out = cli(*BASE, "--load", "rate:200/s").stdout
    head = out.splitlines()[0]
    assert "overloaded: the queue grows by " in head and "requests/s; the replica serves at most about " in head
    assert "not a steady state" in head
    assert "TTFT p50" not in head  # no latency headline as if steady
    data = _json("--load", "rate:200/s")["serving"]
    assert data["steady"] is False
    assert data["overload"]["served_per_s"] < data["overload"]["arrivals_per_s"]


def test_a_short_run_is_lengthened_until_its_window_spans_many_lifetimes(catalog):
    """Long outputs at a modest rate: 2,000 arrivals would leave a window of a
    few lifetimes, so predict raises the count and says so."""
    lengths = Lengths(Lognormal(200, 600), Lognormal(600, 1800))
    sv = _predict(catalog, "vllm", LoadForm("rate", rate=30, text="r"), lengths).serving
    assert sv.requests > DEFAULT_MIN_REQUESTS and "raised to" in sv.requests_rule
    assert sv.window.lifetimes >= MIN_LIFETIMES
    asked = _predict(catalog, "vllm", LoadForm("rate", rate=30, text="r"), lengths, requests=500).serving
    assert asked.requests == 500 and asked.short_window and asked.requests_rule == "as asked"


def test_warm_up_and_drain_are_cut_from_the_window(catalog):
    sv = _predict(catalog, "vllm", LoadForm("rate", rate=10, text="r"), Lengths(Fixed(500), Fixed(100))).serving
    n = sv.requests
    assert sv.window.start_s == sv.served.arrival[n // 10]
    assert sv.window.end_s == sv.served.arrival[-1] < sv.served.makespan
    assert math.isclose(sv.summary.start, sv.window.start_s)
