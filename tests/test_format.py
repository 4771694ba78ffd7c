"""One way to write each kind of quantity, shared by every report."""

from __future__ import annotations

import pytest

from planner.report import format as fmt


@pytest.mark.parametrize("seconds, text", [
    (0.0331, "33.1 ms"), (0.000125, "0.125 ms"), (2.345, "2,345 ms"), (16.3, "16.3 s"), (None, "-"),
])
def test_milliseconds_switch_to_seconds_from_ten(seconds, text):
    assert fmt.milliseconds(seconds) == text


def test_fixed_milliseconds_keep_two_decimals_for_breakdowns():
    assert fmt.milliseconds_fixed(0.0331) == "33.10 ms" and fmt.milliseconds_fixed(12.0) == "12.0 s"


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
