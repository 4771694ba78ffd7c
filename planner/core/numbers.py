"""Numbers as people read them, for every message and report: significant
figures without an exponent, a time in the unit that suits it, and a figure
beside its target at the precision the comparison needs. Pure text; the
report layer's format module builds on it."""

from __future__ import annotations

import math

NONE = "-"  # a figure the catalog or the model does not have


def significant(value: float, digits: int = 3) -> str:
    """``digits`` significant figures in plain decimal, never an exponent:
    0.000123, 1.9, 1,670 (trailing zeros dropped, as ``g`` does)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{round(value, decimals):,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def duration(seconds: float | None, digits: int = 3) -> str:
    """A time in the unit that reads best, ``digits`` significant figures:
    0.612 ms, 50.8 ms, 354 ms, 1 s, 16.3 s, 2.5 min, 3.1 h; never 1.63e+04 ms."""
    if seconds is None:
        return NONE
    if abs(seconds) < 1:
        shown = significant(seconds * 1e3, digits)
        # 999.7 ms rounds to 1,000 ms: say 1 s instead
        return f"{shown} ms" if abs(float(shown.replace(",", ""))) < 1000 else "1 s"
    if abs(seconds) < 60:
        return f"{significant(seconds, digits)} s"
    if abs(seconds) < 3600:
        return f"{significant(seconds / 60, digits)} min"
    return f"{significant(seconds / 3600, digits)} h"


def typed_duration(seconds: float) -> str:
    """A target as the user typed it: the fewest figures, from three up to six,
    that give it back exactly (99.99 ms, not 100 ms)."""
    for digits in range(3, 7):
        text = duration(seconds, digits)
        number, unit = text.split(" ")
        scale = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}[unit]
        if math.isclose(float(number.replace(",", "")) * scale, seconds, rel_tol=1e-9):
            return text
    return duration(seconds, 6)


def against(value: float, limit: float) -> tuple[str, str]:
    """A figure and the target it is compared with, to the precision the
    comparison needs: three significant figures, more until two different
    numbers read differently (1.9 against 1.67, 5,000.4 against 5,000)."""
    digits = 3
    shown, target = significant(value, digits), significant(limit, digits)
    while value != limit and shown == target and digits < 9:
        digits += 1
        shown, target = significant(value, digits), significant(limit, digits)
    return shown, target


def durations_against(value_s: float, limit_s: float) -> tuple[str, str]:
    """A time and its target, each in the unit that reads best, or both in ms
    with more figures where they would read the same (29.97 ms against 30 ms)."""
    shown, target = duration(value_s), typed_duration(limit_s)
    if shown == target and value_s != limit_s:
        shown, target = (f"{x} ms" for x in against(value_s * 1e3, limit_s * 1e3))
    return shown, target
