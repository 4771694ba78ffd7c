"""The package's data flows one way: each subpackage imports only the ones
below it (core < catalog < model < plan < report < cli). An upward import
means the cut is wrong: move the code, don't add the arrow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "planner"
LAYERS = ("core", "catalog", "model", "plan", "report", "cli")


def _layer(module: str) -> int | None:
    """Position of a planner module's subpackage in LAYERS; None for the package root."""
    parts = module.split(".")
    if parts[0] != "planner" or len(parts) == 1:
        return None
    return LAYERS.index(parts[1])


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for every import of planner code in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names if alias.name.split(".")[0] == "planner"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "planner":
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or ""), []))
    return found


def upward_imports(root: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = rel.parts
        if len(parts) < 3:  # planner/__init__.py, planner/__main__.py: the API sits on top
            continue
        if parts[1] not in LAYERS:
            problems.append(f"{rel}: subpackage '{parts[1]}' has no place in the layers {LAYERS}")
            continue
        own = LAYERS.index(parts[1])
        for line, module, names in _imports(path):
            if module.startswith("."):
                problems.append(f"{rel}:{line}: relative import '{module}' (use the absolute name)")
                continue
            if module == "planner":
                # the root is the public API, above every layer; only its version may be read
                names = [n for n in names if n != "__version__"]
                if names:
                    problems.append(f"{rel}:{line}: imports {names} from the package root")
                continue
            if module.split(".")[1] not in LAYERS:
                problems.append(f"{rel}:{line}: imports '{module}', outside the layers")
                continue
            if _layer(module) > own:
                problems.append(f"{rel}:{line}: {parts[1]} imports {module} from a layer above it")
    return problems


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports() == []


def test_every_subpackage_says_what_it_owns_and_may_import():
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc, f"planner/{layer}/__init__.py has no docstring"
        below = LAYERS[:LAYERS.index(layer)]
        assert "import" in doc.lower(), f"planner/{layer}: the docstring does not say what it may import"
        assert all(f"planner.{b}" in doc for b in below) or layer == "cli", f"planner/{layer}: name the layers it may import"


@pytest.mark.parametrize("source, expected", [
    ("from planner.plan.fit import fit\n", "model imports planner.plan.fit from a layer above it"),
    ("from planner.report import charts\n", "model imports planner.report from a layer above it"),
    ("def f():\n    import planner.cli.app\n", "model imports planner.cli.app from a layer above it"),
    ("from planner import fit\n", "imports ['fit'] from the package root"),
    ("from . import perf\n", "relative import"),
])
def test_the_check_catches_an_upward_import(tmp_path, source, expected):
    (tmp_path / "planner" / "model").mkdir(parents=True)
    (tmp_path / "planner" / "model" / "bad.py").write_text(source)
    problems = upward_imports(tmp_path / "planner")
    assert len(problems) == 1 and expected in problems[0]


def test_the_check_allows_downward_and_sideways_imports(tmp_path):
    (tmp_path / "planner" / "plan").mkdir(parents=True)
    (tmp_path / "planner" / "plan" / "ok.py").write_text(
        "from planner.model import perf\nfrom planner.plan.solver import solve\nfrom planner.core.units import Rate\n"
        "from planner import __version__\n")
    assert upward_imports(tmp_path / "planner") == []
