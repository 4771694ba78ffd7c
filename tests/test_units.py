"""Quantity parsers: the forms the issue names, clear errors, exact round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.core.errors import InputError
from planner.core.units import (
    GiB,
    Money,
    Rate,
    format_duration,
    format_money,
    format_params,
    format_power,
    format_rate,
    format_size,
    parse_count,
    parse_duration,
    parse_money,
    parse_params,
    parse_power,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("13B", 13 * 10**9),
        ("13b", 13 * 10**9),
        ("110M", 110 * 10**6),
        ("1.5T", 1_500_000_000_000),
        ("7e9", 7 * 10**9),
        ("6_738_415_616", 6_738_415_616),
        ("500K", 500_000),
        (" 70 B ", 70 * 10**9),
        ("0.5B", 500_000_000),
    ],
)
def test_parse_params(text, expected):
    assert parse_params(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("13X", "unknown suffix 'X', expected K, M, B or T"),
        ("0", "greater than zero"),
        ("-7B", "negative"),
        ("nan", "not a number"),
        ("inf", "not a number"),
        ("2e15", "absurdly large"),
        ("1e999999999B", "out of any sensible range"),
        ("", "not a number"),
        ("B", "not a number"),
        ("1.5", "not a whole number"),
    ],
)
def test_parse_params_rejects(text, fragment):
    with pytest.raises(InputError) as info:
        parse_params(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, seconds",
    [("100ms", 0.1), ("0.1s", 0.1), ("2s", 2.0), ("250us", 250e-6), ("1min", 60.0), ("5 ms", 0.005), ("1.5h", 5400.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-15)


@pytest.mark.parametrize("text", ["100", "100mss", "-1ms", "0ms", "1e9h", "ms", "NaNms"])
def test_parse_duration_rejects(text):
    with pytest.raises(InputError):
        parse_duration(text)


@pytest.mark.parametrize(
    "text, n_bytes",
    [("80GB", 80 * 10**9), ("80GiB", 80 * GiB), ("440MB", 440 * 10**6), ("1.5TB", 1_500_000_000_000), ("512 KiB", 512 * 1024)],
)
def test_parse_size(text, n_bytes):
    assert parse_size(text) == n_bytes


@pytest.mark.parametrize("text", ["80", "80GX", "0GB", "2EB"])
def test_parse_size_rejects(text):
    with pytest.raises(InputError):
        parse_size(text)


@pytest.mark.parametrize(
    "text, rate",
    [
        ("2000tok/s", Rate(2000.0, "tokens")),
        ("2k tok/s", Rate(2000.0, "tokens")),
        ("10 req/s", Rate(10.0, "requests")),
        ("15 samples/s", Rate(15.0, "samples")),
        ("100 rps", Rate(100.0, "requests")),
        ("600 req/min", Rate(10.0, "requests")),
        ("1.5M tokens/s", Rate(1_500_000.0, "tokens")),
    ],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["2000", "2000 tok", "10 bananas/s", "0 tok/s", "-5 rps"])
def test_parse_rate_rejects(text):
    with pytest.raises(InputError):
        parse_rate(text)


@pytest.mark.parametrize(
    "text, money",
    [
        ("$2.50/h", Money(2.5, "h")),
        ("2.5 USD/hour", Money(2.5, "h")),
        ("$40000", Money(40000.0)),
        ("$40k", Money(40000.0)),
        ("3 usd/hr", Money(3.0, "h")),
        ("$1,800/month", Money(1800.0, "month")),
        ("$20k/year", Money(20000.0, "year")),
    ],
)
def test_parse_money(text, money):
    assert parse_money(text) == money


@pytest.mark.parametrize("text", ["2.5", "$", "EUR 3", "$-1", "$0/h", "$2.5/day"])
def test_parse_money_rejects(text):
    with pytest.raises(InputError):
        parse_money(text)


@pytest.mark.parametrize("text, watts", [("700W", 700.0), ("10kW", 10_000.0), ("1.2 MW", 1_200_000.0)])
def test_parse_power(text, watts):
    assert parse_power(text) == watts


def test_parse_count():
    assert parse_count("2048", "input length") == 2048
    assert parse_count("8k", "input length") == 8000
    with pytest.raises(InputError):
        parse_count("12.5", "input length")


def test_format_examples():
    assert format_params(13 * 10**9) == "13B"
    assert format_params(6_738_415_616) == "6.738415616B"
    assert format_params(110 * 10**6) == "110M"
    assert format_duration(0.1) == "100ms"
    assert format_size(80 * GiB, binary=True) == "80GiB"
    assert format_size(440 * 10**6) == "440MB"


# --- exact round trips (format, then parse, gives back the same value) ---


@given(st.integers(min_value=1, max_value=10**15))
def test_params_round_trip(n):
    assert parse_params(format_params(n)) == n


positive_floats = st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(positive_floats)
def test_duration_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=1, max_value=10**18), st.booleans())
def test_size_round_trip(n_bytes, binary):
    text = format_size(n_bytes, binary=binary)
    assert parse_size(text) == n_bytes or (binary and abs(parse_size(text) - n_bytes) <= 1)


@given(st.floats(min_value=1e-6, max_value=1e11, allow_nan=False), st.sampled_from(["tokens", "requests", "samples"]))
def test_rate_round_trip(value, kind):
    rate = Rate(value, kind)
    assert parse_rate(format_rate(rate)) == rate
    assert format_rate(rate).endswith(" " + rate.symbol)


@pytest.mark.parametrize("text, symbol", [("2k tok/s", "tok/s"), ("100 rps", "req/s"), ("15 samples/min", "samples/s")])
def test_a_rate_says_its_unit(text, symbol):
    assert parse_rate(text).symbol == symbol


@given(st.floats(min_value=0.01, max_value=1e11, allow_nan=False), st.sampled_from([None, "h", "month", "year"]))
def test_money_round_trip(usd, period):
    money = Money(usd, period)
    assert parse_money(format_money(money)) == money


@given(st.floats(min_value=1e-3, max_value=1e9, allow_nan=False))
def test_power_round_trip(watts):
    assert parse_power(format_power(watts)) == watts
    assert math.isfinite(parse_power(format_power(watts)))
