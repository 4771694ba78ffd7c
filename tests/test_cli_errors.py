"""The last line of defence in `planner.cli.main`: unexpected errors,
interrupts and a closed pipe end cleanly, with the documented exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
import importlib

app_module = importlib.import_module("planner.cli.app")  # the module; planner.cli.app names the typer app
from planner.core.errors import EXIT_INTERNAL  # noqa: E402


def _raising(exc: BaseException):
    def app(*args, **kwargs):
        raise exc
    return app


def test_an_unexpected_exception_is_one_line_and_exit_1(monkeypatch):
    monkeypatch.setattr(app_module, "app", _raising(ZeroDivisionError("division\nby   zero")))
    result = run_cli("catalog", "list")
    assert result.exit_code == EXIT_INTERNAL == 1
    assert result.stderr == ("planner: error: internal error: ZeroDivisionError: division by zero "
                             "(set PLANNER_DEBUG=1 for a traceback, and please report it)\n")
    assert result.stdout == ""


def test_a_long_internal_message_is_cut_at_200_characters(monkeypatch):
    monkeypatch.setattr(app_module, "app", _raising(RuntimeError("x" * 500)))
    result = run_cli("catalog", "list")
    assert f"RuntimeError: {'x' * 200}... (set PLANNER_DEBUG=1" in result.stderr
    assert "x" * 201 not in result.stderr


def test_planner_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("PLANNER_DEBUG", "1")
    monkeypatch.setattr(app_module, "app", _raising(ZeroDivisionError("boom")))
    with pytest.raises(ZeroDivisionError, match="boom"):
        app_module.main(["catalog", "list"])


def test_an_interrupt_exits_130(monkeypatch):
    monkeypatch.setattr(app_module, "app", _raising(KeyboardInterrupt()))
    result = run_cli("catalog", "list")
    assert result.exit_code == 130
    assert result.stderr == "planner: error: interrupted\n"


def test_a_broken_pipe_exits_0_silently(monkeypatch):
    monkeypatch.setattr(app_module, "app", _raising(BrokenPipeError()))
    result = run_cli("catalog", "list")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_a_command_function_raising_is_caught_the_same_way(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("gpus")
    monkeypatch.setattr(app_module, "load_catalog", broken)
    result = run_cli("catalog", "list")
    assert result.exit_code == EXIT_INTERNAL
    assert result.stderr.startswith("planner: error: internal error: KeyError: 'gpus' (set PLANNER_DEBUG=1")
    assert "Traceback" not in result.stderr


def test_reader_closing_the_pipe_early_leaves_no_traceback():
    """`planner catalog list | head -0`: the reader has gone before the first line."""
    proc = subprocess.Popen([sys.executable, "-m", "planner", "catalog", "list", "--format", "json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin", "TERMINAL_WIDTH": "120"})
    proc.stdout.close()  # before planner has written anything (it takes ~1 s to start), so every write meets EPIPE
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"Exception ignored" not in err, err
