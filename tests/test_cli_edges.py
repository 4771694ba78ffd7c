"""Edges of the command line: empty values, usage errors, closed pipes and
strict JSON (see the exit codes in planner/core/errors.py and the README)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli


@pytest.mark.parametrize(("args", "flag"), [
    (("--budget", ""), "--budget"),
    (("--latency", ""), "--latency"),
    (("--latency", " "), "--latency"),
    (("--ttft", ""), "--ttft"),
    (("--e2e", ""), "--e2e"),
    (("--throughput", ""), "--throughput"),
    (("--available", ""), "--available"),
    (("--max-power", ""), "--max-power"),
    (("--gpu", ""), "--gpu"),
    (("--gpu", ",", "--gpu", " "), "--gpu"),
    (("--segment", ""), "--segment"),
    (("--precision", ","), "--precision"),
    (("--kv-precision", ""), "--kv-precision"),
])
def test_fit_refuses_an_empty_value_naming_the_flag(args, flag):
    result = run_cli("fit", "13B", "--throughput", "100 tok/s", *args) if flag != "--throughput" \
        else run_cli("fit", "13B", "--latency", "100ms", *args)
    assert result.exit_code == 2, result
    assert result.stderr == f"planner: error: {flag} is empty (give a value or leave {flag} out)\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--gpu", ""), "--gpu is empty (give a value)"),
    (("--gpu", "h100", "--precision", " "), "--precision is empty (give a value)"),
    (("--gpu", "h100", "--kv-precision", ""), "--kv-precision is empty (give a value or leave --kv-precision out)"),
])
def test_predict_refuses_an_empty_value_naming_the_flag(args, message):
    result = run_cli("predict", "13B", *args)
    assert (result.exit_code, result.stderr) == (2, f"planner: error: {message}\n")


# --- usage errors ----------------------------------------------------------------


@pytest.mark.parametrize(("args", "line"), [
    (("fit",), "Missing argument 'MODEL' or option '--scenario' (see planner fit --help)"),
    (("fit", "13B", "--bogus"), "No such option: --bogus"),
    (("fit", "13B", "--latency", "100ms", "--max-gpus", "x"), "Invalid value for '--max-gpus'"),
    (("predict", "13B"), "Missing option '--gpu' (see planner predict --help)"),
    (("catalog", "list", "--format"), "Option '--format' requires an argument (see planner catalog list --help)"),
    (("catalog", "nosuch"), "No such command 'nosuch' (see planner catalog --help)"),
    (("nosuch",), "No such command 'nosuch' (see planner --help)"),
])
def test_a_usage_error_is_one_line_and_exit_2(args, line):
    result = run_cli(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("planner: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert line in result.stderr
    assert "(see planner" in result.stderr and "Usage:" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [("--help",), ("fit", "--help"), ("catalog", "list", "--help"), ("--version",)])
def test_help_and_version_still_exit_0(args):
    result = run_cli(*args)
    assert result.exit_code == 0 and result.stdout and result.stderr == ""


def test_planner_alone_shows_its_help_as_a_usage_error():
    result = run_cli()
    assert result.exit_code == 2 and "Usage: planner" in result.stderr


# --- a reader that goes away ---------------------------------------------------------


@pytest.mark.parametrize("args", [("catalog", "list"), ("catalog", "list", "--format", "json"), ("--help",)])
def test_a_reader_gone_early_ends_planner_quietly_with_0(args):
    """`planner catalog list | head -0`, with a real pipe and a real process: the
    reader closes before planner (~1 s to start) writes, so every write meets EPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "planner", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin", "TERMINAL_WIDTH": "80"})
    proc.stdout.close()
    _out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, b"")


# --- strict JSON --------------------------------------------------------------------


def _no_constant(constant: str):
    raise AssertionError(f"JSON carries {constant}")


@pytest.mark.parametrize("args", [
    ("size", "13B"),
    ("size", "bert-base"),
    ("fit", "13B", "--latency", "100ms", "--explain", "--top", "3"),
    ("fit", "bert-base", "--latency", "1ms", "--input", "128", "--engine", "tensorrt"),
    ("fit", "13B", "--latency", "100ms", "--objective", "tco"),
    ("fit", "13B", "--latency", "1us"),  # infeasible: still an object with the status
    ("predict", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--batch", "max"),
    ("predict", "bert-base", "--gpu", "t4", "--precision", "fp16", "--input", "128"),  # vLLM runs no BF16 on a T4
    ("validate", str(ROOT / "benchmarks" / "data" / "measured.csv")),
    ("catalog", "list"),
    ("catalog", "show", "h100-sxm"),
    ("catalog", "show", "int4"),
    ("catalog", "show", "llama-3.1-70b"),
    ("catalog", "show", "vllm"),
])
def test_every_command_prints_strict_json(args):
    result = run_cli(*args, *(() if args[:2] == ("catalog", "show") else ("--format", "json")))
    assert result.exit_code in (0, 4), result.stderr
    json.loads(result.stdout, parse_constant=_no_constant)


def test_to_json_refuses_a_non_finite_number():
    from planner.report.size import to_json

    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            to_json({"x": bad})


def test_a_catalog_overlay_cannot_bring_an_infinite_factor(tmp_path):
    overlay = tmp_path / "engine.yaml"
    overlay.write_text(
        "engines:\n  - id: myeng\n    name: My engine\n    factors:\n      default: {bandwidth: 0.8, compute: 0.6, "
        "compute_8bit: 0.4, decode_overhead_ms: 3, prefill_overhead_ms: 3, allreduce_us: 30, overlap: .inf}\n"
        "    fitted_on: none\n    memory_utilization: 0.9\n    workspace_gib: 0\n    kv_cache_formats: [fp16]\n"
        "    sources: {all: test}\n")
    result = run_cli("catalog", "show", "myeng", "--catalog", str(overlay))
    assert result.exit_code == 3 and "overlap" in result.stderr


def test_an_error_whose_reader_has_gone_still_exits_with_its_code():
    """`planner fit 2>&1 | head -0`: the message cannot be shown, the exit code still tells."""
    proc = subprocess.Popen([sys.executable, "-m", "planner", "fit"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})
    proc.stdout.close()
    assert proc.wait(timeout=60) == 2
