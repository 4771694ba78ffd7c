"""Hostile and careless overlays: what a tool run as root in CI must refuse,
or show as the text it is. One block per defect; each goes through the
library (load_catalog / validate_file) and the CLI (exit 3, one line per
problem)."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from rich.console import Console

from planner.catalog.load import MAX_NEW_ENTRIES, load_catalog, overlay_changes, validate_file
from planner.core.errors import EXIT_CATALOG, CatalogError
from planner.report.catalog import catalog_tables
from conftest import ROOT


def _gpu(catalog, new_id: str, **changes) -> dict:
    """A complete GPU entry: the L4's, under a new id."""
    entry = catalog.gpu("l4").model_dump(mode="json", exclude_none=True)
    entry.update(id=new_id, aliases=[], **changes)
    return entry


def _write(tmp_path, data, name="overlay.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False, width=1000))
    return path


def _problem_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("planner: catalog: ")]


# --- 1. catalog text is text: never markup, never a terminal escape ---------

HOSTILE_NAMES = ["[/bold]", "[link=https://attacker.example]H100[/link]", "[bold red]x :warning:"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_markup_in_a_name_is_printed_as_typed(cli, catalog, tmp_path, monkeypatch, name):
    monkeypatch.setenv("TERMINAL_WIDTH", "300")  # the whole name on one line
    path = _write(tmp_path, {"gpus": [_gpu(catalog, "odd-gpu", name=name)]})
    result = cli("catalog", "list", "gpus", "--catalog", str(path))
    assert result.exit_code == 0, result.stderr
    assert name in result.stdout
    # a library caller's console with markup on still shows the text
    out = io.StringIO()
    Console(file=out, width=300, no_color=True).print(*catalog_tables(load_catalog([path]), ["gpus"]))
    assert name in out.getvalue() and "\x1b]8;" not in out.getvalue()  # no OSC 8 hyperlink


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x00", "\x7f", "\x9b", "\u202e"])
def test_control_characters_in_text_are_refused(cli, catalog, tmp_path, char):
    path = _write(tmp_path, {"gpus": [_gpu(catalog, "odd-gpu", name=f"H100{char}[2J")]})
    problems = validate_file(path)
    assert len(problems) == 1
    assert "gpus 'odd-gpu': field 'name'" in problems[0] and f"U+{ord(char):04X}" in problems[0]
    result = cli("catalog", "list", "gpus", "--catalog", str(path))
    assert result.exit_code == EXIT_CATALOG
    assert len(_problem_lines(result)) == 1
    assert char not in result.stderr and char not in result.stdout


def test_tab_and_newline_stay_allowed_in_notes(catalog, tmp_path):
    path = _write(tmp_path, {"gpus": [_gpu(catalog, "odd-gpu", notes="line one\n\tline two")]})
    assert validate_file(path) == []


def test_control_characters_quoted_in_a_problem_are_escaped(cli, tmp_path):
    """An id or a key is quoted in the problem before it is validated."""
    path = _write(tmp_path, 'gpus:\n  - id: "x\\e[2J"\n    tdp_w: 1\n')
    problems = validate_file(path)
    assert problems and all("\x1b" not in p and "\\x1b[2j" in p for p in problems)
    result = cli("catalog", "validate", str(path))
    assert result.exit_code == EXIT_CATALOG and "\x1b" not in result.stderr


# --- 2. YAML read strictly: no duplicate keys, no booleans or text as numbers -

def test_duplicate_section_is_refused_with_both_lines(cli, catalog, tmp_path):
    body = yaml.safe_dump({"gpus": [_gpu(catalog, "odd-gpu")]}, width=1000) + "gpus: []\n"
    path = _write(tmp_path, body)
    with pytest.raises(CatalogError, match=r"line \d+: not valid YAML: duplicate key 'gpus' \(first at line 1\)"):
        load_catalog([path])
    result = cli("catalog", "validate", str(path))
    assert result.exit_code == EXIT_CATALOG
    assert result.stderr.count("duplicate key 'gpus'") == 1


def test_duplicate_field_is_refused(tmp_path):
    path = _write(tmp_path, "gpus:\n  - id: l4\n    tdp_w: 72\n    tdp_w: 7200\n")
    assert validate_file(path) == [f"{path}: line 4: not valid YAML: duplicate key 'tdp_w' (first at line 3); "
                                   "each key may appear once"]


@pytest.mark.parametrize("field, value", [
    ("memory_bandwidth_gbs", "true"), ("tdp_w", "false"), ("gpus_per_node", "true"),
    ("memory_bandwidth_gbs", '"300"'), ("gpus_per_node", "8.0"),
])
def test_booleans_and_quoted_numbers_are_not_numbers(cli, tmp_path, field, value):
    path = _write(tmp_path, f"gpus:\n  - id: l4\n    {field}: {value}\n")
    problems = validate_file(path)
    assert len(problems) == 1 and f"field '{field}'" in problems[0]
    result = cli("catalog", "validate", str(path))
    assert result.exit_code == EXIT_CATALOG and len(_problem_lines(result)) == 1


def test_booleans_are_not_numbers_anywhere_in_the_schema(tmp_path):
    body = ("models:\n  - id: llama-2-7b\n    layers: true\n"
            "engines:\n  - id: vllm\n    max_batch: true\n    factors: {default: {bandwidth: true}}\n"
            "precisions:\n  - id: int4\n    bits_per_weight: true\n    quality: {loss_pct: false}\n")
    problems = validate_file(_write(tmp_path, body))
    assert len(problems) == 5, problems


def test_exponents_without_a_dot_are_numbers(tmp_path):
    path = _write(tmp_path, "gpus:\n  - id: l4\n    memory_bandwidth_gbs: 3e2\n")
    assert load_catalog([path]).gpu("l4").memory_bandwidth_gbs == 300.0


# --- 3. the architecture must work out to the published parameter count ------

def test_architecture_far_from_published_count_is_refused(cli, tmp_path):
    path = _write(tmp_path, "models:\n  - id: llama-2-7b\n    hidden_size: 10000000\n    heads: 32\n")
    problems = validate_file(path)
    assert len(problems) == 1
    assert "models 'llama-2-7b': field 'params_published'" in problems[0]
    assert "against the published 6.74e+09" in problems[0] and "within 5%" in problems[0]
    result = cli("catalog", "validate", str(path))
    assert result.exit_code == EXIT_CATALOG and len(_problem_lines(result)) == 1


def test_rounded_published_count_is_accepted(tmp_path):
    """Llama 2 7B is 6.74B; "7B" as its authors round it is 3.7% off."""
    assert validate_file(_write(tmp_path, "models:\n  - id: llama-2-7b\n    params_published: 7e9\n")) == []


def test_active_count_is_checked_too(tmp_path):
    path = _write(tmp_path, "models:\n  - id: mixtral-8x7b\n    params_active_published: 46.7e9\n")
    problems = validate_file(path)
    assert len(problems) == 1 and "field 'params_active_published'" in problems[0]


# --- 4. an overlay that changes nothing says so ------------------------------

@pytest.mark.parametrize("body", ["", "# prices to come\n", "gpus: []\n", "gpus:\n  - id: l4\n    tdp_w: 72\n"])
def test_empty_overlay_says_it_changes_nothing(cli, tmp_path, body):
    path = _write(tmp_path, body)
    assert overlay_changes(path) == ([], [])
    result = cli("catalog", "validate", str(path))
    assert result.exit_code == 0
    assert result.stdout == f"{path}: valid, but adds or changes nothing (no entries, or only what the built-in catalog already says)\n"


def test_overlay_that_changes_a_price_says_what_it_does(cli, tmp_path):
    path = _write(tmp_path, "gpus:\n  - id: l4\n    tdp_w: 70\n")
    assert overlay_changes(path) == ([], ["gpus/l4"])
    assert cli("catalog", "validate", str(path)).stdout == f"{path}: valid (adds 0 and changes 1 catalog entries)\n"


# --- 5. overlays add a bounded number of entries -----------------------------

def test_new_gpus_beyond_the_limit_are_refused(cli, catalog, tmp_path, monkeypatch):
    limit = 5  # the mechanism, kept quick; the limits themselves are checked against the README below
    monkeypatch.setitem(MAX_NEW_ENTRIES, "gpus", limit)
    gpus = [_gpu(catalog, f"odd-{i}") for i in range(limit)]
    at_limit = _write(tmp_path, {"gpus": gpus}, "at-limit.yaml")
    assert validate_file(at_limit) == []
    one_more = _write(tmp_path, {"gpus": [_gpu(catalog, "odd-extra")]}, "one-more.yaml")
    with pytest.raises(CatalogError, match=rf"overlays may add at most {limit} new gpus in all"):
        load_catalog([at_limit, one_more])
    result = cli("catalog", "list", "gpus", "--catalog", str(at_limit), "--catalog", str(one_more))
    assert result.exit_code == EXIT_CATALOG
    assert result.stderr.startswith("planner: error: ") and result.stderr.count("\n") == 1
    assert "one-more.yaml: gpus[0]" in result.stderr


def test_the_readme_states_the_limits():
    text = " ".join((ROOT / "README.md").read_text().split())
    limits = MAX_NEW_ENTRIES
    assert (f"may add at most {limits['gpus']} GPUs, {limits['precisions']} precisions, {limits['models']} models and "
            f"{limits['engines']} engines") in text


def test_changing_every_builtin_entry_is_not_limited(catalog, tmp_path):
    path = _write(tmp_path, {"gpus": [{"id": gpu_id, "tdp_w": 100} for gpu_id in catalog.gpus]})
    assert validate_file(path) == []


# --- 6. numbers are finite everywhere ----------------------------------------

@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1000"])
def test_overlap_must_be_finite_and_bounded(cli, tmp_path, value):
    path = _write(tmp_path, f"engines:\n  - id: vllm\n    factors:\n      default: {{overlap: {value}}}\n")
    problems = validate_file(path)
    assert len(problems) == 1 and "field 'factors.default.overlap'" in problems[0]
    result = cli("catalog", "show", "vllm", "--catalog", str(path))
    assert result.exit_code == EXIT_CATALOG and "Infinity" not in result.stdout


def test_builtin_engines_show_as_strict_json(cli):
    result = cli("catalog", "show", "vllm")
    assert result.exit_code == 0
    json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


@pytest.mark.parametrize("field", ["tdp_w", "memory_total_gib", "interconnect_gbs"])
def test_infinite_gpu_figures_are_refused(tmp_path, field):
    problems = validate_file(_write(tmp_path, f"gpus:\n  - id: l4\n    {field}: .inf\n"))
    assert len(problems) == 1 and f"field '{field}'" in problems[0]


def test_source_keys_are_identifiers(tmp_path):
    """A key is quoted in JSON and in problems as it is: it gets no more room than an id."""
    path = _write(tmp_path, 'models:\n  - id: llama-2-7b\n    sources: {"params\\u202e": x}\n')
    problems = validate_file(path)
    assert problems and all("\u202e" not in p for p in problems)
    assert any("field 'sources." in p for p in problems)


def test_a_name_is_one_line(tmp_path):
    problems = validate_file(_write(tmp_path, 'gpus:\n  - id: l4\n    name: "NVIDIA L4\\nsecond line"\n'))
    assert len(problems) == 1 and "field 'name'" in problems[0] and "one line" in problems[0]


def test_an_unknown_name_suggests_the_close_ones():
    from conftest import run_cli

    result = run_cli("predict", "llama-2-7b", "--gpu", "h10")
    assert result.exit_code == 2
    assert "unknown GPU 'h10' (did you mean h100-sxm, h20 or a10?" in result.stderr
    assert "did you mean fp8?" in run_cli("predict", "llama-2-7b", "--gpu", "h100", "-p", "fp9").stderr
    assert "did you mean vllm?" in run_cli("fit", "llama-2-7b", "--engine", "vlm").stderr


def test_a_name_close_to_nothing_points_to_the_list_without_dumping_it():
    from conftest import run_cli

    result = run_cli("predict", "llama-2-7b", "--gpu", "zzz")
    assert result.exit_code == 2
    assert "see `planner catalog list gpus` for the" in result.stderr
    assert "h100-sxm" not in result.stderr


def test_built_in_files_read_the_same_with_the_strict_loader():
    """Shipped catalog files are parsed by libyaml for speed, which skips the
    anchor and alias refusal: the strict loader must accept each of them and
    read exactly the same data (planner/catalog/load.py, _BuiltinLoader)."""
    from planner.catalog.load import BUILTIN_FILES, builtin_dir, read_yaml

    base = builtin_dir()
    for name in BUILTIN_FILES:
        path = base / name
        assert read_yaml(path, builtin=False) == read_yaml(path, builtin=True), name


def test_the_fast_loader_keeps_the_number_date_and_duplicate_rules(tmp_path):
    from planner.catalog.load import read_yaml
    from planner.core.errors import CatalogError

    path = tmp_path / "x.yaml"
    path.write_text("models:\n  - {id: a, params_published: 6.74e9, as_of: 2025-06-17}\n")
    entry = read_yaml(path, builtin=True)["models"][0]
    assert entry["params_published"] == 6.74e9 and entry["as_of"] == "2025-06-17"
    path.write_text("models:\n  - {id: a, id: b}\n")
    with pytest.raises(CatalogError, match="duplicate key 'id'"):
        read_yaml(path, builtin=True)
