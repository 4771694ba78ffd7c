"""Request lengths and arrival processes: the distributions reproduce the
figures they are given, and bad length files are one-line input errors."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.core.errors import InputError
from planner.model import lengths, traffic
from planner.model.lengths import Fixed, Lognormal, Uniform, read_lengths


@given(mean=st.floats(8, 20_000), ratio=st.floats(1.05, 14.0))
def test_lognormal_parameters_give_back_the_mean_and_p99(mean, ratio):
    """The closed form solves exp(mu + sigma^2/2) = mean and exp(mu + z sigma) = p99 exactly."""
    d = Lognormal(mean, mean * ratio)
    assert math.exp(d.mu + d.sigma**2 / 2) == pytest.approx(mean, rel=1e-9)
    assert math.exp(d.mu + lengths.Z99 * d.sigma) == pytest.approx(mean * ratio, rel=1e-9)
    assert d.sigma > 0


@pytest.mark.parametrize("mean, ratio, seed", [(200, 1.5, 1), (1024, 4.0, 2), (5000, 8.0, 3), (300, 12.0, 4)])
def test_lognormal_samples_reproduce_mean_and_p99(mean, ratio, seed):
    """100,000 draws: the sample mean within 2% and the sample p99 within 3%
    of the figures asked for (the standard error of a lognormal's p99 over
    1,000 tail points is about 1% at these sigmas; rounding to whole tokens
    moves neither by 0.1% at these sizes)."""
    d = Lognormal(mean, mean * ratio)
    rng = random.Random(seed)
    draws = sorted(d.sample(rng) for _ in range(100_000))
    assert statistics.fmean(draws) == pytest.approx(mean, rel=0.02)
    assert draws[int(0.99 * len(draws))] == pytest.approx(mean * ratio, rel=0.03)


@pytest.mark.parametrize("mean, p99, words", [
    (100, 100, "must exceed the mean"),
    (100, 90, "must exceed the mean"),
    (100, 2000, "no lognormal has"),
    (0.5, 10, "at least 1 token"),
])
def test_impossible_lognormal_is_an_input_error(mean, p99, words):
    with pytest.raises(InputError, match=words):
        Lognormal(mean, p99)


def test_uniform_and_fixed():
    rng = random.Random(3)
    draws = [Uniform(10, 20).sample(rng) for _ in range(5000)]
    assert min(draws) == 10 and max(draws) == 20
    assert Fixed(7).sample(rng) == 7
    with pytest.raises(InputError, match="below low"):
        Uniform(20, 10)
    with pytest.raises(InputError, match="whole number"):
        Fixed(0)


def test_lognormal_cap():
    rng = random.Random(1)
    assert max(Lognormal(1000, 8000, most=2000).sample(rng) for _ in range(20_000)) == 2000


# --- arrivals -----------------------------------------------------------------------


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0])
def test_arrival_gaps_have_the_rate_and_cv_asked_for(cv):
    """100,000 gaps: mean 1/rate within 2%, coefficient of variation within 3%
    (the gamma shape is 1/cv^2; cv 1 is the exponential of a Poisson process)."""
    times = traffic.Open(rate=40.0, requests=100_000, cv=cv).arrivals(random.Random(11))
    gaps = [b - a for a, b in zip([0.0] + times, times)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1 / 40.0, rel=0.02)
    assert statistics.pstdev(gaps) / mean == pytest.approx(cv, rel=0.03)


@pytest.mark.parametrize("make, words", [
    (lambda: traffic.Open(rate=0, requests=10), "positive"),
    (lambda: traffic.Open(rate=1, requests=10, cv=0), "cv"),
    (lambda: traffic.Burst(0), "requests"),
    (lambda: traffic.Closed(0, 10), "concurrency"),
])
def test_bad_load_is_an_input_error(make, words):
    with pytest.raises(InputError, match=words):
        make()


# --- files --------------------------------------------------------------------------


def test_csv_and_jsonl_files(tmp_path):
    csv_file = tmp_path / "lengths.csv"
    csv_file.write_text("id,input,output\na,512,128\nb,1000,7\n\n")
    assert read_lengths(csv_file).pairs == ((512, 128), (1000, 7))
    jsonl = tmp_path / "lengths.jsonl"
    jsonl.write_text(json.dumps({"input": 3, "output": 4.0, "text": "x"}) + "\n\n" + json.dumps({"output": 2, "input": 9}) + "\n")
    samples = read_lengths(jsonl)
    assert samples.pairs == ((3, 4), (9, 2))
    rng = random.Random(0)
    assert {samples.sample(rng) for _ in range(200)} == {(3, 4), (9, 2)}


@pytest.mark.parametrize("name, text, words", [
    ("a.csv", "", "is empty"),
    ("a.csv", "input,output\n", "no rows"),
    ("a.csv", "prompt,output\n5,6\n", "no 'input' column"),
    ("a.csv", "input,completion\n5,6\n", "no 'output' column"),
    ("a.csv", "input,output\n5,six\n", "line 2: output 'six' is not a whole number"),
    ("a.csv", "input,output\n5,6\n5.5,6\n", "line 3: input '5.5' is not a whole number"),
    ("a.csv", "input,output\n-5,6\n", "input -5 is negative"),
    ("a.csv", "input,output\n0,6\n", "input is 0"),
    ("a.csv", "input,output\n5\n", "line 2: 1 fields"),
    ("a.jsonl", "", "is empty"),
    ("a.jsonl", '{"input": 5}\n', "line 1: no 'output' key"),
    ("a.jsonl", '{"input": 5, "output": true}\n', "output 'true' is not a whole number"),
    ("a.jsonl", '[5, 6]\n', "a JSON list, not an object"),
    ("a.jsonl", '{"input": 5, "output": 6}\n{"input": \n', "line 2: not JSON"),
    ("a.jsonl", '{"input": "5\\nx", "output": 6}\n', "not a whole number"),
])
def test_bad_length_files_are_one_line_errors(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_lengths(path)
    message = caught.value.message
    assert words in message
    assert "\n" not in message and name in message


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(InputError, match="cannot read length file"):
        read_lengths(tmp_path / "absent.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes(b"input,output\n5,6\xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_lengths(path)


def test_size_and_row_limits(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_text("input,output\n" + "5,6\n" * 50)
    monkeypatch.setattr(lengths, "MAX_LENGTH_FILE_BYTES", 100)
    with pytest.raises(InputError, match="over the .* MB limit"):
        read_lengths(path)
    monkeypatch.setattr(lengths, "MAX_LENGTH_FILE_BYTES", 10**6)
    monkeypatch.setattr(lengths, "MAX_LENGTH_ROWS", 10)
    with pytest.raises(InputError, match="more than 10 rows"):
        read_lengths(path)


@pytest.mark.parametrize("text, expected", [
    ("512", Fixed(512)),
    (" fixed:tokens=64 ", Fixed(64)),
    ("uniform:low=100,high=2000", Uniform(100, 2000)),
    ("Lognormal: mean=1024, p99=4096", Lognormal(1024, 4096)),
    ("lognormal:mean=1024,p99=4096,max=8192", Lognormal(1024, 4096, most=8192)),
])
def test_distributions_from_text(text, expected):
    assert lengths.parse_distribution(text) == expected


@pytest.mark.parametrize("text, words", [
    ("normal:mean=5", "not understood"),
    ("", "not understood"),
    ("uniform:low=1", "needs high"),
    ("uniform:low=1,high=5,mean=3", "has no parameter mean"),
    ("uniform:low=1.5,high=5", "not a whole number"),
    ("lognormal:mean=x,p99=5", "is not name=number"),
    ("lognormal:mean=nan,p99=5", "is not name=number"),
    ("lognormal:mean=5,mean=6,p99=9", "twice"),
    ("lognormal:mean=100,p99=50", "must exceed the mean"),
    ("-5", "not understood"),
])
def test_bad_distribution_text_is_a_one_line_error(text, words):
    with pytest.raises(InputError) as caught:
        lengths.parse_distribution(text)
    assert words in caught.value.message and "\n" not in caught.value.message
