"""`planner size`, `planner catalog`, `--version` and help, end to end in-process."""

from __future__ import annotations

import json

import pytest

from planner import __version__
from planner.core.errors import EXIT_BAD_INPUT, EXIT_CATALOG


def _rows(result):
    return {row["precision"]: row for row in json.loads(result.stdout)["rows"]}


def test_size_10b_matches_the_seed_article(cli):
    """Seed article: 10B parameters -> FP32 40 GB, FP16 20 GB, INT8 10 GB (1k = 1000)."""
    result = cli("size", "10B", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = _rows(result)
    assert rows["fp32"]["size_gb"] == 40
    assert rows["fp16"]["size_gb"] == 20
    assert rows["int8"]["size_gb"] == 10
    assert rows["bf16"]["size_gib"] == pytest.approx(20e9 / 2**30)


def test_size_110m_is_440mb_at_fp32(cli):
    """Seed article worked example: BERT-base, about 110M parameters, FP32 -> 440 MB."""
    result = cli("size", "110M")
    assert result.exit_code == 0
    fp32_line = next(line for line in result.stdout.splitlines() if line.startswith("│ fp32 "))
    assert "440.00 MB" in fp32_line
    assert "1 GB = 10^9 bytes" in result.stdout


def test_size_of_catalog_model_uses_exact_count(cli, catalog):
    from planner.catalog.architecture import count_params

    result = cli("size", "llama-2-13b", "--format", "json")
    data = json.loads(result.stdout)
    exact = count_params(catalog.model("llama-2-13b")).total
    assert data["parameters"] == exact != 13 * 10**9
    assert data["forward_flops_exact"] is True
    assert _rows(result)["fp16"]["size_bytes"] == 2 * exact


def test_size_flops_about_twice_params(cli):
    data = json.loads(cli("size", "13B", "--format", "json").stdout)
    assert data["forward_flops_per_token"] == 26e9
    assert data["forward_flops_exact"] is False


def test_size_precision_filter(cli):
    rows = _rows(cli("size", "7B", "-p", "fp16", "-p", "int4", "--format", "json"))
    assert list(rows) == ["fp16", "int4"]
    assert rows["int4"]["bytes_per_parameter"] > 0.5  # scales and zero points included


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("size", "13X"), "unknown suffix 'X'"),
        (("size", "13B", "-p", "fp7"), "unknown precision 'fp7'"),
        (("size", "13B", "--format", "xml"), "unknown format 'xml'"),
        (("size", "0"), "greater than zero"),
        (("catalog", "list", "gpu"), "unknown catalog section"),
        (("catalog", "show", "nonexistent"), "no catalog entry"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, fragment):
    result = cli(*args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_catalog_list_gpus_lists_every_id(cli, catalog):
    result = cli("catalog", "list", "gpus", "--format", "json")
    ids = [row["id"] for row in json.loads(result.stdout)["gpus"]]
    assert ids == list(catalog.gpus)
    table = cli("catalog", "list", "gpus")
    for gid in catalog.gpus:
        assert gid in table.stdout


def test_catalog_show_includes_sources(cli):
    data = json.loads(cli("catalog", "show", "h100").stdout)
    assert data["id"] == "h100-sxm" and data["section"] == "gpus"
    assert data["sources"]["specs"]


def test_catalog_validate_good_and_bad(cli, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("gpus:\n  - id: l4\n    tdp_w: 72\n")
    assert cli("catalog", "validate", str(good)).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus:\n  - id: l4\n    tdp_w: lots\n    bandwidth: 3\n")
    result = cli("catalog", "validate", str(bad))
    assert result.exit_code == EXIT_CATALOG
    assert "'l4'" in result.stderr and "tdp_w" in result.stderr and "bandwidth" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_overlay_on_any_command(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus:\n  - id: l4\n    tdp_w: -3\n")
    result = cli("size", "13B", "--catalog", str(bad))
    assert result.exit_code == EXIT_CATALOG
    assert "tdp_w" in result.stderr


def test_missing_overlay_file(cli, tmp_path):
    result = cli("size", "13B", "--catalog", str(tmp_path / "nope.yaml"))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cannot read catalog file" in result.stderr


def test_version(cli):
    assert cli("--version").stdout.strip() == f"planner {__version__}"


@pytest.mark.parametrize(
    "command",
    [(), ("size",), ("fit",), ("predict",), ("validate",), ("catalog",), ("catalog", "list"), ("catalog", "show"),
     ("catalog", "validate")],
)
def test_help_on_every_command_has_examples(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout
    if command not in ((), ("catalog",)):
        assert "Examples" in result.stdout
