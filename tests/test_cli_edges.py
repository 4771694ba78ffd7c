"""Edges of the command line: empty values, usage errors, closed pipes and
strict JSON (see the exit codes in planner/core/errors.py and the README)."""

from __future__ import annotations

import pytest

from conftest import run_cli


@pytest.mark.parametrize(("args", "flag"), [
    (("--budget", ""), "--budget"),
    (("--latency", ""), "--latency"),
    (("--latency", " "), "--latency"),
    (("--ttft", ""), "--ttft"),
    (("--e2e", ""), "--e2e"),
    (("--throughput", ""), "--throughput"),
    (("--inventory", ""), "--inventory"),
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
