"""Terminal output never hides a number: every fit, predict and size table,
at 60 to 200 columns, shows the figures of the JSON output whole.

How a JSON value maps to the text a human reads (the report's own formatter,
planner.report.format, so the test checks layout, not rounding):
  fit lines: gpus -> "<gpus> x <gpu>", replicas and batch_per_replica as
  integers, ttft_ms / tpot_ms -> duration(ms / 1000) ("50.8 ms"), e2e_ms for
  an encoder the same, output_tokens_per_s / samples_per_s -> whole number with
  thousands separators, cost_per_hour_usd -> money(hourly) ("$0.53/h"),
  memory_gb.per_gpu -> one decimal GB ("13.9 GB"); alternatives: objective_usd
  and difference_usd -> money / signed money.
  predict: memory_gb parts -> "13.33 GB"; breakdown_ms parts -> "54.17 ms".
  size: rows' size_gb -> decimal_size ("13.00 GB"), bits_per_weight -> "%g".
"""

from __future__ import annotations

import json
import re

import pytest

from planner.report.format import duration, money, signed_money

WIDTHS = (60, 80, 100, 120, 200)

FITS = {
    "13b": ["fit", "13B", "--latency", "100ms"],
    "70b-fleet": ["fit", "llama-3.1-70b", "--throughput", "5000 tok/s", "--latency", "50ms",
                  "--gpu", "h100-sxm,a100-sxm-80gb,l40s", "--owned", "h100-sxm=8", "--explain"],
    "bert-capex": ["fit", "bert-base", "--latency", "1ms", "--input", "128", "--throughput", "2000 samples/s",
                   "--engine", "tensorrt", "--objective", "capex"],
}
PREDICTS = {
    "13b-int8": ["predict", "13B", "--gpu", "rtx-3090", "--precision", "int8-weight-only", "--batch", "13"],
    "bert": ["predict", "bert-base", "--gpu", "l4", "--precision", "fp16", "--input", "128"],
}


def _at(cli, monkeypatch, width: int, args: list[str]) -> str:
    monkeypatch.setenv("TERMINAL_WIDTH", str(width))
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _json(cli, args: list[str]) -> dict:
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _assert_whole(text: str, figures: list[str], width: int) -> None:
    assert "…" not in text, f"a cell was cut at {width} columns"
    assert "e+" not in text and not re.search(r"\de-\d", text), f"an exponent at {width} columns"
    missing = [f for f in figures if f not in text]
    assert not missing, f"at {width} columns these figures are missing or split: {missing}"
    # piped output: no trailing spaces, and prose is not hard-wrapped (the headline is one line)
    assert all(line == line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize("name", FITS)
def test_fit_tables_show_every_figure_at_every_width(cli, monkeypatch, name):
    data = _json(cli, FITS[name])
    encoder = data["lines"][0]["samples_per_s"] is not None
    figures = []
    for line in data["lines"]:
        figures += [f"{line['gpus']} x {line['gpu']}", money(line["cost_per_hour_usd"], True),
                    f"{line['memory_gb']['per_gpu']:,.1f} GB"]
        if encoder:
            figures += [duration(line["e2e_ms"] / 1e3), f"{line['samples_per_s']:,.0f}"]
        else:
            figures += [duration(line["ttft_ms"] / 1e3), duration(line["tpot_ms"] / 1e3),
                        f"{line['output_tokens_per_s']:,.0f}"]
    hourly = data["objective"]["kind"] == "hourly"
    for alt in data["alternatives"][:8]:
        figures += [money(alt["objective_usd"], hourly), signed_money(alt["difference_usd"], hourly)]
    for width in WIDTHS:
        text = _at(cli, monkeypatch, width, FITS[name])
        _assert_whole(text, figures, width)
        assert text.splitlines()[0].startswith("Cheapest plan for") and "Meets" in text.splitlines()[0]


@pytest.mark.parametrize("name", PREDICTS)
def test_predict_tables_show_every_figure_at_every_width(cli, monkeypatch, name):
    data = _json(cli, PREDICTS[name])
    figures = [f"{value:,.2f} GB" for key, value in data["memory_gb"].items() if key != "capacity_per_gpu"]
    for part in data["breakdown_ms"].values():
        if part is not None:
            figures += [f"{part[key]:,.2f} ms" for key in ("memory", "compute", "communication", "overhead", "total")]
    for width in WIDTHS:
        _assert_whole(_at(cli, monkeypatch, width, PREDICTS[name]), figures, width)


def test_an_encoder_prediction_has_no_output_token_formula(cli):
    text = cli(*PREDICTS["bert"]).stdout
    assert "(output - 1) x TPOT" not in text and "one forward pass" in text


def test_size_tables_show_every_figure_at_every_width(cli, monkeypatch):
    args = ["size", "llama-3.1-8b", "--context", "128k"]
    data = _json(cli, args)
    figures = [f"{row['size_gb']:,.2f} GB" for row in data["rows"]] + [f"{kv['size_gb']:,.2f} GB" for kv in data["kv_cache_per_sequence"]]
    for width in WIDTHS:
        text = _at(cli, monkeypatch, width, args)
        _assert_whole(text, figures, width)
        for row in data["rows"]:
            assert re.search(rf"\b{re.escape(row['precision'])}\b", text)


def test_size_says_why_fit_counts_more_at_eight_bits(cli):
    """size's 13.00 GB at int8-weight-only against fit's 13.33 GB: the token
    embedding and output head stay at 16 bits (precisions.yaml embeddings_bits)."""
    data = _json(cli, ["size", "13B", "--precision", "int8-weight-only"])
    assert data["rows"][0]["embeddings_bits"] == 16
    text = cli("size", "13B", "--precision", "int8-weight-only").stdout
    assert "13.00 GB" in text and "16-bit*" in text and "embedding and output head stay at 16 bits" in text


def test_validate_prints_no_exponent(cli):
    text = cli("validate", "benchmarks/data/measured.csv").stdout
    assert "e+" not in text and "19,694" in text


def test_example_text_and_markdown_have_no_exponent():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "examples"
    files = [p for p in root.glob("*/*") if p.suffix in (".txt", ".md")]
    assert files
    for path in files:
        if path.name == "scenario.txt":
            continue
        hits = re.findall(r"\d(?:\.\d+)?e[+-]\d+", path.read_text(encoding="utf-8"))
        assert not hits, f"{path.relative_to(root)}: {hits}"


def test_piped_output_without_a_width_is_not_wrapped_at_80(cli, monkeypatch):
    """Piped with no TERMINAL_WIDTH or COLUMNS, rich would assume 80 columns;
    planner lays tables out at 120 and leaves prose unwrapped."""
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    text = cli(*FITS["13b"]).stdout
    lines = text.splitlines()
    assert lines[0].startswith("Cheapest plan for 13B") and lines[0].endswith("headroom).")
    assert max(len(line) for line in lines) > 80  # the prose and the plan table are not cut down to 80
    assert all(line == line.rstrip() for line in lines)
