"""The README's plans priced by hand: each row's command, re-run, answers
the units and total the hand calculation gives (exactly: a plan's total is
the exact decimal sum of its units' published prices)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| `planner (fit [^`]+)` \| .* \| .*: (\d+) x \$([\d,.]+) = \*\*\$([\d,.]+)(/h)?\*\*")


def _rows() -> list[tuple[list[str], int, float, float]]:
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            args = shlex.split(m.group(1))
            rows.append((args, int(m.group(2)), float(m.group(3).replace(",", "")), float(m.group(4).replace(",", ""))))
    return rows


def test_the_readme_has_three_hand_priced_plans():
    assert len(_rows()) == 3


@pytest.mark.parametrize("args, units, unit_price, total", _rows())
def test_a_hand_priced_plan_is_what_planner_answers(cli, args, units, unit_price, total):
    assert units * unit_price == pytest.approx(total, rel=1e-12)  # the hand arithmetic itself
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    (line,) = plan["lines"]
    offer = line["offer"]
    assert offer["units"] == units
    assert offer.get("usd_per_hour_per_unit", offer.get("usd_per_unit")) == unit_price
    assert plan["objective"]["value_usd"] == pytest.approx(total, abs=1e-4)
