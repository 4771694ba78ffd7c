"""One way to write each kind of quantity, shared by every report."""

from __future__ import annotations

import pytest

from planner.report import format as fmt


@pytest.mark.parametrize("seconds, text", [
    (0.0331, "33.1 ms"), (0.000125, "0.125 ms"), (0.9997, "1 s"), (1.0, "1 s"), (2.345, "2.35 s"),
    (16.3, "16.3 s"), (16.34, "16.3 s"), (150, "2.5 min"), (7200, "2 h"), (None, "-"),
])
def test_durations_read_in_the_unit_that_suits_them(seconds, text):
    assert fmt.duration(seconds) == text and fmt.milliseconds(seconds) == text


def test_fixed_milliseconds_keep_two_decimals_for_breakdowns():
    assert fmt.milliseconds_fixed(0.0331) == "33.10 ms" and fmt.milliseconds_fixed(12.0) == "12 s"


@pytest.mark.parametrize("value, text", [
    (19694.2, "19,694"), (0.000123456, "0.000123"), (1.9, "1.9"), (5 / 3, "1.67"), (1e-7, "0.0000001"), (0, "0"),
])
def test_significant_figures_never_use_an_exponent(value, text):
    assert fmt.significant(value) == text and "e" not in fmt.significant(value, 4)


@pytest.mark.parametrize("value, limit, shown", [
    (1.9, 5 / 3, ("1.9", "1.67")),  # the '2 req/s against 2 (+14%)'
    (5000.4, 5000, ("5,000.4", "5,000")),  # more figures until two different numbers read differently
    (6475.1, 5000, ("6,475", "5,000")), (2, 2, ("2", "2")),
])
def test_a_figure_and_its_target_read_differently_when_they_differ(value, limit, shown):
    assert fmt.against(value, limit) == shown


def test_percent_keeps_a_decimal_below_ten():
    assert fmt.percent(0.2) == "0.2%" and fmt.percent(18.4) == "18%" and fmt.percent(9.96) == "10%"


@pytest.mark.parametrize("value, hourly, text", [(6.88, True, "$6.88/h"), (30000, False, "$30,000"), (None, True, "-")])
def test_money_shows_cents_per_hour_and_whole_dollars_to_buy(value, hourly, text):
    assert fmt.money(value, hourly) == text


def test_signed_money_and_percent_change():
    assert fmt.signed_money(-1.2, True) == "-$1.20/h" and fmt.signed_money(30000, False) == "+$30,000"
    assert fmt.percent_change(0.3) == "+0.3%" and fmt.percent_change(-12.4) == "-12%" and fmt.percent_change(0.01) == "0.0%"


def test_sizes_are_decimal_or_binary_as_named():
    assert fmt.decimal_size(440e6) == "440.00 MB" and fmt.binary_size(2**30 * 80) == "80.00 GiB"
    assert fmt.gigabytes(13.33e9) == "13.33 GB" and fmt.flops(2.2e10) == "22.00 GFLOP"


def test_counts_read_as_people_write_them():
    assert fmt.readable_count(13_000_000_000) == "13B" and fmt.readable_count(6_738_415_616) == "6.738B"
    assert fmt.parameters(70_553_706_496) == "70.55B" and fmt.parameters(110_000_000) == "110.0M"
    assert fmt.number(12345.6) == "12,346" and fmt.number(0.1234) == "0.123"


def test_a_time_and_its_target_gain_figures_when_they_would_read_the_same():
    assert fmt.durations_against(0.02997, 0.030) == ("29.97 ms", "30 ms")
    assert fmt.durations_against(0.654, 1.0) == ("654 ms", "1 s")


def test_a_target_reads_as_typed():
    assert fmt.typed_duration(0.09999) == "99.99 ms" and fmt.typed_duration(20) == "20 s"
    assert fmt.typed_duration(1.0) == "1 s" and fmt.duration(0.09999) == "100 ms"
