"""Quantities: parse what people type ("13B", "100ms", "80GiB", "2k tok/s",
"$2.50/h", "700W") into SI base units, and format them back.

Inside planner every quantity is in base units: parameters as an int count,
seconds, bytes, per-second rates, US dollars, watts. Parsing is exact: the
number is read as a decimal and scaled by a power of ten or two without
binary rounding, so ``parse(format(x)) == x`` holds exactly (property-tested).

Conventions follow the seed article: K = 10^3, M = 10^6, B = 10^9 (billion),
T = 10^12 for parameter counts; GB = 10^9 bytes and GiB = 2^30 bytes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from planner.core.errors import InputError

MAX_PARAMETERS = 10**15
MAX_SECONDS = Decimal(10**7)  # about four months: longer is surely a typo
MAX_BYTES = 10**18  # an exabyte
MAX_RATE_PER_SECOND = Decimal(10**12)
MAX_USD = Decimal(10**12)
MAX_WATTS = Decimal(10**10)

GB = 10**9
GiB = 2**30

_NUMBER = r"(?P<number>[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][+-]?[0-9]+)?)"


def _split(text: str, what: str, examples: str) -> tuple[Decimal, str]:
    """Split "13.5 B" into (Decimal("13.5"), "B"); reject anything else."""
    if not isinstance(text, str):
        text = str(text)
    stripped = text.strip()
    if stripped.startswith("-"):
        raise InputError(f"{what} '{text}' is negative", hint=f"expected a positive value such as {examples}")
    match = re.fullmatch(_NUMBER + r"\s*(?P<unit>.*)", stripped)
    if not match:
        raise InputError(f"{what} '{text}' is not a number with a unit", hint=f"expected e.g. {examples}")
    raw = match.group("number").replace("_", "")
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise InputError(f"{what} '{text}' is not a number", hint=f"expected e.g. {examples}") from None
    if number != 0 and not -30 <= number.adjusted() <= 30:
        raise InputError(f"{what} '{text}' is out of any sensible range", hint="check the value and its unit")
    return number, match.group("unit").strip()


def _positive(number: Decimal, text: str, what: str, examples: str, limit: Decimal | int) -> None:
    if number <= 0:
        raise InputError(f"{what} '{text}' must be greater than zero", hint=f"expected e.g. {examples}")
    if number > limit:
        raise InputError(f"{what} '{text}' is absurdly large (limit {limit:.0e})", hint="check the value and its unit")


def _plain(d: Decimal) -> str:
    """Decimal as plain digits, no exponent, no trailing zeros."""
    d = d.normalize()
    text = format(d, "f")
    return text


def _exact_decimal(x: float) -> Decimal:
    """The shortest decimal that reads back as exactly ``x``."""
    if not math.isfinite(x):
        raise InputError(f"value {x!r} is not finite")
    return Decimal(repr(float(x)))


# --- parameter counts ---------------------------------------------------

_PARAM_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
_PARAM_EXAMPLES = "13B, 110M, 1.5T, 7e9 or 6_738_415_616"


def parse_params(text: str) -> int:
    """Parse a parameter count ("13B", "110M", "7e9") into an int."""
    number, suffix = _split(text, "parameter count", _PARAM_EXAMPLES)
    key = suffix.upper()
    if key not in _PARAM_SUFFIXES:
        raise InputError(
            f"parameter count '{text}': unknown suffix '{suffix}', expected K, M, B or T",
            hint="e.g. " + _PARAM_EXAMPLES,
        )
    value = number * _PARAM_SUFFIXES[key]
    _positive(value, text, "parameter count", _PARAM_EXAMPLES, MAX_PARAMETERS)
    if value != value.to_integral_value():
        raise InputError(f"parameter count '{text}' is not a whole number of parameters")
    return int(value)


def format_params(count: int) -> str:
    """Format a parameter count with the largest suffix that keeps it exact ("13B", "6.738415616B")."""
    count = int(count)
    for suffix in ("T", "B", "M", "K"):
        scale = _PARAM_SUFFIXES[suffix]
        if count >= scale:
            return _plain(Decimal(count) / scale) + suffix
    return str(count)


# --- durations ----------------------------------------------------------

_DURATION_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "sec": Decimal(1),
    "min": Decimal(60),
    "h": Decimal(3600),
}
_DURATION_EXAMPLES = "100ms, 0.1s, 2s, 250us or 1min"


def parse_duration(text: str) -> float:
    """Parse a duration ("100ms", "0.1s", "250us", "1min") into seconds."""
    number, unit = _split(text, "duration", _DURATION_EXAMPLES)
    if unit == "":
        raise InputError(f"duration '{text}' has no unit", hint="expected ms, s, us or min, e.g. " + _DURATION_EXAMPLES)
    factor = _DURATION_UNITS.get(unit.lower() if unit != "µs" else unit)
    if factor is None:
        raise InputError(f"duration '{text}': unknown unit '{unit}'", hint="expected ns, us, ms, s, min or h")
    seconds = number * factor
    _positive(seconds, text, "duration", _DURATION_EXAMPLES, MAX_SECONDS)
    return float(seconds)


def format_duration(seconds: float) -> str:
    """Format seconds with the unit that reads best ("100ms", "2.5s", "250us")."""
    d = _exact_decimal(seconds)
    if d >= 1:
        return _plain(d) + "s"
    if d >= Decimal("1e-3"):
        return _plain(d / Decimal("1e-3")) + "ms"
    return _plain(d / Decimal("1e-6")) + "us"


# --- sizes --------------------------------------------------------------

_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE_EXAMPLES = "80GB, 80GiB, 440MB or 1.5TB"


def parse_size(text: str) -> int:
    """Parse a memory size ("80GB" = 80e9 bytes, "80GiB" = 80 x 2^30) into bytes."""
    number, unit = _split(text, "size", _SIZE_EXAMPLES)
    if unit == "":
        raise InputError(f"size '{text}' has no unit", hint="expected GB (10^9 bytes) or GiB (2^30), e.g. " + _SIZE_EXAMPLES)
    factor = _SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise InputError(f"size '{text}': unknown unit '{unit}'", hint="expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
    value = number * factor
    _positive(value, text, "size", _SIZE_EXAMPLES, MAX_BYTES)
    return int(value.to_integral_value())


def format_size(n_bytes: int, binary: bool = False) -> str:
    """Format bytes in decimal units (GB = 10^9) or, with ``binary``, GiB = 2^30."""
    n = int(n_bytes)
    units = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if binary else (
        ("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))
    for name, scale in units:
        if n >= scale:
            return _plain(Decimal(n) / scale) + name
    return f"{n}B"


# --- rates --------------------------------------------------------------

RateKind = Literal["tokens", "requests", "samples"]

_RATE_KINDS: dict[str, RateKind] = {
    "tok": "tokens",
    "tokens": "tokens",
    "token": "tokens",
    "req": "requests",
    "reqs": "requests",
    "request": "requests",
    "requests": "requests",
    "samples": "samples",
    "sample": "samples",
}
_RATE_SHORTHAND: dict[str, RateKind] = {"tps": "tokens", "rps": "requests", "qps": "requests", "sps": "samples"}
_RATE_PER = {"s": Decimal(1), "sec": Decimal(1), "min": Decimal(60), "h": Decimal(3600), "hour": Decimal(3600)}
_RATE_SYMBOL: dict[RateKind, str] = {"tokens": "tok/s", "requests": "req/s", "samples": "samples/s"}
_RATE_EXAMPLES = "2000tok/s, 2k tok/s, 10 req/s, 15 samples/s or 100 rps"


@dataclass(frozen=True)
class Rate:
    """A throughput: ``per_second`` things of ``kind`` each second."""

    per_second: float
    kind: RateKind

    def __str__(self) -> str:
        return format_rate(self)

    @property
    def symbol(self) -> str:
        """Its unit: 'tok/s', 'req/s' or 'samples/s'."""
        return _RATE_SYMBOL[self.kind]


def parse_rate(text: str) -> Rate:
    """Parse a throughput target ("2000tok/s", "2k tok/s", "10 req/s", "100 rps")."""
    number, rest = _split(text, "rate", _RATE_EXAMPLES)
    multiplier = Decimal(1)
    m = re.fullmatch(r"(?P<mult>[kKM])?\s*(?P<unit>.*)", rest)
    assert m is not None  # the pattern matches any string
    if m.group("mult") and m.group("unit"):
        multiplier = Decimal(1000) if m.group("mult") in "kK" else Decimal(10**6)
        rest = m.group("unit").strip()
    lowered = rest.lower()
    if lowered in _RATE_SHORTHAND:
        kind, per = _RATE_SHORTHAND[lowered], Decimal(1)
    else:
        parts = re.fullmatch(r"(?P<kind>[a-z]+)\s*/\s*(?P<per>[a-z]+)", lowered)
        if not parts or parts.group("kind") not in _RATE_KINDS or parts.group("per") not in _RATE_PER:
            raise InputError(f"rate '{text}': unknown unit '{rest}'", hint="expected tok/s, req/s, samples/s or rps, e.g. " + _RATE_EXAMPLES)
        kind, per = _RATE_KINDS[parts.group("kind")], _RATE_PER[parts.group("per")]
    value = number * multiplier / per
    _positive(value, text, "rate", _RATE_EXAMPLES, MAX_RATE_PER_SECOND)
    return Rate(float(value), kind)


def format_rate(rate: Rate) -> str:
    return _plain(_exact_decimal(rate.per_second)) + " " + rate.symbol


# --- money --------------------------------------------------------------

_MONEY_EXAMPLES = "$2.50/h, $1,800/month, $20k/year or $40000"

# A month and a year of continuous use, in hours: the months cloud providers
# bill by are 730 h (AWS and Azure price pages: "730 hours per month"), and a
# year is 12 of them (8,760 h, 365 days).
HOURS_PER_MONTH = 730
HOURS_PER_YEAR = 12 * HOURS_PER_MONTH
_PERIOD_HOURS = {"h": 1, "month": HOURS_PER_MONTH, "year": HOURS_PER_YEAR}
_PERIOD_WORDS = {"h": "h", "hr": "h", "hour": "h", "mo": "month", "month": "month", "yr": "year", "year": "year",
                 "y": "year", "a": "year"}


@dataclass(frozen=True)
class Money:
    """An amount in US dollars: recurring (per hour, month or year: rent) or
    once (capital: a purchase). ``period`` is "h", "month", "year" or None."""

    usd: float
    period: str | None = None

    def __post_init__(self) -> None:
        if self.period is not None and self.period not in _PERIOD_HOURS:
            raise ValueError(f"period must be one of {sorted(_PERIOD_HOURS)} or None, got {self.period!r}")

    @property
    def per_hour(self) -> bool:
        """Recurring (a rent budget), as opposed to capital."""
        return self.period is not None

    @property
    def usd_per_hour(self) -> float:
        """A recurring amount per hour (a month is 730 h); a capital amount as is."""
        return self.usd if self.period is None else self.usd / _PERIOD_HOURS[self.period]

    def __str__(self) -> str:
        return format_money(self)


def parse_money(text: str) -> Money:
    """Parse "$2.50/h", "2.5 USD/hour", "$1,800/month", "$20k/year", "$40000" or "$40k"."""
    raw = str(text).strip()
    had_dollar = raw.startswith("$")
    body = raw[1:] if had_dollar else raw
    body = re.sub(r"(?<=\d),(?=\d{3})", "", body)  # thousands separators, as prices are written
    number, rest = _split(body, "amount", _MONEY_EXAMPLES)
    m = re.fullmatch(r"(?P<mult>[kKM](?![a-zA-Z]))?\s*(?P<cur>usd)?\s*(?:(?:/|per\s*)(?P<per>[a-z]+))?", rest, re.IGNORECASE)
    if not m or (not had_dollar and not m.group("cur")):
        raise InputError(f"amount '{text}' is not a dollar amount", hint="expected e.g. " + _MONEY_EXAMPLES)
    period = None
    if m.group("per"):
        period = _PERIOD_WORDS.get(m.group("per").lower())
        if period is None:
            raise InputError(f"amount '{text}': unknown period '{m.group('per')}'",
                             hint="expected /h, /month or /year, e.g. " + _MONEY_EXAMPLES)
    if m.group("mult"):
        number *= Decimal(1000) if m.group("mult") in "kK" else Decimal(10**6)
    _positive(number, text, "amount", _MONEY_EXAMPLES, MAX_USD)
    return Money(float(number), period)


def format_money(money: Money) -> str:
    return "$" + _plain(_exact_decimal(money.usd)) + ("" if money.period is None else f"/{money.period}")


# --- power --------------------------------------------------------------

_POWER_UNITS = {"w": Decimal(1), "kw": Decimal(10**3), "mw": Decimal(10**6)}
_POWER_EXAMPLES = "700W, 10kW or 1.2MW"


def parse_power(text: str) -> float:
    """Parse electrical power ("700W", "10kW") into watts."""
    number, unit = _split(text, "power", _POWER_EXAMPLES)
    factor = _POWER_UNITS.get(unit.lower())
    if factor is None:
        raise InputError(f"power '{text}': unknown unit '{unit}'", hint="expected W, kW or MW, e.g. " + _POWER_EXAMPLES)
    watts = number * factor
    _positive(watts, text, "power", _POWER_EXAMPLES, MAX_WATTS)
    return float(watts)


def format_power(watts: float) -> str:
    d = _exact_decimal(watts)
    if d >= 10**6:
        return _plain(d / 10**6) + "MW"
    if d >= 10**3:
        return _plain(d / 10**3) + "kW"
    return _plain(d) + "W"


# --- plain counts -------------------------------------------------------


def parse_count(text: str, what: str, maximum: int = 10**7) -> int:
    """Parse a positive whole number such as a token count ("2048", "2k", "128K")."""
    number, suffix = _split(text, what, "128, 2048 or 8k")
    factor = {"": 1, "k": 1000, "K": 1000}.get(suffix)
    if factor is None:
        raise InputError(f"{what} '{text}': unknown suffix '{suffix}'", hint="expected a whole number such as 2048 or 8k")
    value = number * factor
    if value != value.to_integral_value():
        raise InputError(f"{what} '{text}' is not a whole number")
    _positive(value, text, what, "128, 2048 or 8k", maximum)
    return int(value)
