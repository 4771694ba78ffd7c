"""The README's examples run, and every command is documented there (docs kept honest)."""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = [line.strip()[len("planner "):] for line in README.splitlines() if line.startswith("    planner ")]


def test_readme_has_the_two_setup_commands_first():
    code = [line.strip() for line in README.splitlines() if line.startswith("    ")]
    assert code[0].startswith("python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/planner ")
    assert code[1] == ".venv/bin/pip install '.[test]' && .venv/bin/python -m pytest"


@pytest.mark.parametrize("example", EXAMPLES)
def test_readme_example_runs(cli, monkeypatch, example):
    monkeypatch.chdir(ROOT)
    result = cli(*shlex.split(example))
    assert result.exit_code == 0, f"planner {example}\n{result.stderr}"
    if " -o " in example:
        assert "planner: wrote" in result.stderr
    else:
        assert result.stdout.strip()


def test_every_command_is_in_the_readme():
    from planner.cli import app, catalog_app

    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    names += [f"catalog {c.name}" for c in catalog_app.registered_commands]
    for name in names:
        assert f"planner {name}" in README, name


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - the project's own README
    assert capsys.readouterr().out.strip()
