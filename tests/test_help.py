"""Every command's --help: placeholders in words, examples that run, and shell completion.

The examples are read from the rendered --help text (the "Examples:" block of
each command's docstring) and run through the CLI, so help can never show a
command line that fails. An example that demonstrates an error says so in a
shell comment, `# exit 4: ...`, and must exit with that code.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_cli


def _commands() -> list[tuple[str, ...]]:
    """Every command and group as the words that name it: (), ("fit",), ("catalog", "list") ..."""
    import typer

    from planner.cli import app

    found: list[tuple[str, ...]] = []

    def walk(command, words: tuple[str, ...]) -> None:
        found.append(words)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return found


def _click_command(words: tuple[str, ...]):
    import typer

    from planner.cli import app

    command = typer.main.get_command(app)
    for word in words:
        command = command.commands[word]
    return command


def _help(words: tuple[str, ...]) -> str:
    result = run_cli(*words, "--help")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _examples(help_text: str) -> list[str]:
    """The `planner ...` lines of the Examples: section (up to the next unindented heading)."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    examples = []
    for line in lines[start + 1:]:
        if line and not line[0].isspace():
            break
        if line.strip().startswith("planner "):
            examples.append(line.strip())
    return examples


COMMANDS = _commands()
EXAMPLES = [(words, example) for words in COMMANDS for example in _examples(_help(words))]


def _name(words: tuple[str, ...]) -> str:
    return " ".join(("planner", *words))


@pytest.mark.parametrize("words", COMMANDS, ids=_name)
def test_help_placeholders_are_words(words):
    text = _help(words)
    # typer's defaults: <str>, <int>, <list[str]>, <path>, {model}; click's: TEXT, INTEGER, FLOAT, PATH
    assert not re.search(r"<[a-z][a-z\[\]| ]*>", text), text
    assert not re.search(r"\{[a-z_]+\}", text), text
    assert not re.search(r"\b(TEXT|INTEGER|FLOAT|PATH|BOOLEAN)\b", text), text


@pytest.mark.parametrize("words", [w for w in COMMANDS if w], ids=_name)
def test_every_value_a_command_takes_is_named(words):
    """Each option that takes a value, and each argument, declares the words its help shows."""
    for param in _click_command(words).params:
        if getattr(param, "is_flag", False) or param.name == "help":
            continue
        assert param.metavar, f"{_name(words)}: {param.name}"


@pytest.mark.parametrize("words", COMMANDS, ids=_name)
def test_every_command_has_examples(words):
    examples = _examples(_help(words))
    assert examples, _name(words)
    # a command's examples are of that command (the root's and groups' of any below them)
    assert all(example.startswith(_name(words)) for example in examples), examples


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A directory holding the files the examples name, as a user's would."""
    (tmp_path / "Llama-3.1-8B").mkdir()
    shutil.copy(ROOT / "tests/fixtures/hf-configs/llama-3.1-8b.json", tmp_path / "Llama-3.1-8B/config.json")
    (tmp_path / "benchmarks/data").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks/data/measured.csv", tmp_path / "benchmarks/data/measured.csv")
    # the overlay the README shows under "catalog validate"
    (tmp_path / "my-prices.yaml").write_text(
        "instances:\n"
        "  - id: aws-p5.48xlarge\n"
        "    prices:\n"
        "      - {pricing: reserved-3y, region: us-east-1, usd_per_hour: 30.0, as_of: \"2026-11\", source: our contract}\n",
        encoding="utf-8",
    )
    # the fleet `planner fit --help` plans
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples/fleet-readme.yaml", tmp_path / "examples/fleet-readme.yaml")
    # the benchmark results `planner calibrate --help` names
    for name, source in (("c8.json", "vllm-c8.json"), ("c32.json", "vllm-c32.json"), ("genai-perf.json", "genai-perf.json")):
        shutil.copy(ROOT / "tests/fixtures/calibrate" / source, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _takes_format(words: tuple[str, ...]) -> bool:
    return any("--format" in getattr(p, "opts", ()) for p in _click_command(words).params)


@pytest.mark.parametrize(("words", "example"), EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_help_example_runs(workspace, words, example):
    tokens = shlex.split(example, comments=True)
    assert tokens[0] == "planner"
    args = tokens[1:]
    comment = example.partition(" # ")[2]
    expected = int(re.match(r"exit (\d+)", comment).group(1)) if comment.startswith("exit ") else 0
    command = tuple(w for w in args if not w.startswith("-"))[: len(words) + 1]
    writes = "-o" in args or "--output-file" in args
    as_json = False
    if not writes and "--format" not in args and "-f" not in args:
        # JSON where the command has it: the same computation, without rendering tables
        target = next((c for c in (command, command[:-1]) if c in COMMANDS), ())
        if target and _takes_format(target):
            args, as_json = [*args, "--format", "json"], True
    result = run_cli(*args)
    assert result.exit_code == expected, f"{example}\n{result.stderr}"
    if expected:
        assert result.stderr.startswith("planner: error: ") and result.stderr.count("\n") == 1, result.stderr
        return
    if writes:
        written = Path(args[args.index("-o" if "-o" in args else "--output-file") + 1])
        assert written.is_file() and written.stat().st_size > 0
        assert "planner: wrote" in result.stderr
    else:
        assert result.stdout.strip()
        if as_json:
            json.loads(result.stdout)


def test_fit_examples_show_every_procurement_flag():
    fit = " ".join(example for words, example in EXAMPLES if words == ("fit",))
    for flag in ("--owned", "--available", "--provider", "--pricing", "--region", "--redundancy", "--zones",
                 "--colo-price"):
        assert f" {flag} " in fit, flag
    assert re.search(r"--budget '\$[\d.]+[kM]?/month'", fit), "a monthly budget"


# --- shell completion ----------------------------------------------------------


def test_root_help_offers_completion():
    text = _help(())
    assert "--install-completion" in text and "--show-completion" in text
    assert "\n    planner --install-completion\n" in text  # the command, whole on its line, to copy


@pytest.fixture
def shell(monkeypatch):
    """Pretend planner runs in the given shell (shellingham walks the real process tree)."""
    import shellingham

    def use(name: str | None) -> None:
        def detect():
            if name is None:
                raise shellingham.ShellDetectionFailure()
            return name, f"/bin/{name}"

        monkeypatch.setattr(shellingham, "detect_shell", detect)

    return use


@pytest.mark.parametrize(("name", "marker"), [
    ("bash", "complete -o default -F _planner_completion planner"),
    ("zsh", "#compdef planner"),
    ("fish", "complete --command planner"),
])
def test_show_completion_prints_the_script_for_the_shell(shell, name, marker):
    shell(name)
    result = run_cli("--show-completion")
    assert result.exit_code == 0, result.stderr
    assert marker in result.stdout and "_PLANNER_COMPLETE" in result.stdout


@pytest.mark.parametrize(("name", "script"), [
    ("bash", ".bash_completions/planner.sh"),
    ("zsh", ".zfunc/_planner"),
    ("fish", ".config/fish/completions/planner.fish"),
])
def test_install_completion_writes_under_home(shell, tmp_path, monkeypatch, name, script):
    shell(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run_cli("--install-completion")
    assert result.exit_code == 0, result.stderr
    assert "_PLANNER_COMPLETE" in (tmp_path / script).read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "line"), [
    (None, "planner: error: cannot tell which shell planner runs in (run it from bash, zsh, fish or PowerShell, "
           "e.g. bash -ic 'planner --install-completion')\n"),
    ("tcsh", "planner: error: no completion for the shell 'tcsh' (run it from bash, zsh, fish or PowerShell, "
             "e.g. bash -ic 'planner --install-completion')\n"),
])
@pytest.mark.parametrize("flag", ["--install-completion", "--show-completion"])
def test_completion_without_a_known_shell_is_a_one_line_input_error(shell, tmp_path, monkeypatch, name, line, flag):
    shell(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run_cli(flag)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", line)
    assert not any(tmp_path.iterdir())  # nothing installed


def _complete(monkeypatch, line: str) -> list[str]:
    """What bash completion offers for the last word of ``line`` (the protocol typer's bash script speaks)."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    monkeypatch.setenv("_PLANNER_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", " ".join(shlex.quote(w) if w else "''" for w in words))
    monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    result = run_cli()
    assert result.exit_code == 0 and not result.stderr, result.stderr
    return result.stdout.split()


def test_completion_offers_commands_and_options(monkeypatch):
    assert _complete(monkeypatch, "planner ") == ["size", "fit", "predict", "capacity", "validate", "calibrate", "catalog"]
    assert _complete(monkeypatch, "planner fit 13B --own") == ["--owned"]
    assert set(_complete(monkeypatch, "planner fit 13B --re")) == {"--redundancy", "--region"}


def test_completion_offers_catalog_ids(monkeypatch, catalog):
    assert _complete(monkeypatch, "planner fit llama-3.1-") == [m for m in catalog.models if m.startswith("llama-3.1-")]
    assert _complete(monkeypatch, "planner predict 13B --gpu l40") == [g for g in catalog.gpus if g.startswith("l40")]
    assert _complete(monkeypatch, "planner catalog show int4") == [p for p in catalog.precisions if p.startswith("int4")]
    # comma-separated lists complete their last item and keep the rest
    offered = _complete(monkeypatch, "planner fit 13B --gpu h100-sxm,h200")
    assert offered == ["h100-sxm," + g for g in catalog.gpus if g.startswith("h200")]
    assert _complete(monkeypatch, "planner fit 13B --provider aws,co") == ["aws,coreweave"]


def test_completion_offers_the_choices_the_commands_accept(monkeypatch):
    import importlib

    from planner.catalog.schema import PricingModel
    from planner.plan.question import SEGMENTS, Objective

    assert _complete(monkeypatch, "planner fit 13B --pricing ") == [p.value for p in PricingModel]
    assert _complete(monkeypatch, "planner fit 13B --objective ") == [o.value for o in Objective]
    # items already in the list are not offered again
    assert _complete(monkeypatch, "planner fit 13B --segment datacenter,") == [
        f"datacenter,{s}" for s in SEGMENTS if s != "datacenter"]
    assert _complete(monkeypatch, "planner catalog list ") == list(importlib.import_module("planner.cli.app")._SECTIONS)
    assert _complete(monkeypatch, "planner size 13B --format ") == ["table", "json"]
    assert _complete(monkeypatch, "planner fit 13B --format ") == ["table", "json", "csv", "markdown", "html"]


def test_a_completion_that_fails_offers_nothing_and_prints_no_error(monkeypatch):
    """A broken catalog must not print an error into the user's prompt on every Tab."""
    import planner.cli.complete as complete

    def broken(*_args, **_kwargs):
        raise RuntimeError("catalog unreadable")

    monkeypatch.setattr(complete, "load_catalog", broken)
    assert _complete(monkeypatch, "planner fit llama-") == []


def test_help_and_completion_load_no_solver_or_charts():
    """Startup stays light: --help and a Tab press import neither OR-tools nor matplotlib."""
    import os
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from planner.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('ortools', 'matplotlib') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    env = {**os.environ, "_PLANNER_COMPLETE": "complete_bash", "COMP_WORDS": "planner fit llama-", "COMP_CWORD": "2"}
    for args, environ in ((["--help"], os.environ), ([], env)):
        done = subprocess.run([sys.executable, "-c", probe, *args], env=environ, capture_output=True, text=True,
                              cwd=ROOT, timeout=60)
        assert done.stderr.endswith("[]"), done.stderr
