"""Mutation testing: how many small code changes do the tests notice?

    python benchmarks/mutation.py                          # perf, candidates, solver
    python benchmarks/mutation.py --module planner/model/perf.py
    python benchmarks/mutation.py --sample 60              # 60 mutants per module, seed 0
    python benchmarks/mutation.py --list-survivors         # print each survivor
    python benchmarks/mutation.py --workers 2 --timeout 20

Prints the kill rate per module and overall. A mutant is one change made
through the module's syntax tree:

  arithmetic   + <-> -, * <-> /, // -> /, ** -> *
  comparison   < <-> <=, > <-> >=, == <-> !=, in <-> not in, is <-> is not
  boolean      and <-> or, `not x` -> `x`
  constant     0 <-> 1, other numbers n -> n + 1, True <-> False
  return       `return x` -> `return None`

Docstrings, annotations, strings and logging calls are left alone. Each
mutant runs the module's own test files (TESTS below; fastest first) with
`pytest -x`; a failure, an error, or a run past --timeout kills it (a hang
counts as killed and is reported as such). Workers each hold their own copy
of the source tree in a temporary folder, so mutants never meet; each
worker imports the heavy third-party packages once and forks a child per
mutant, which imports planner afresh from the mutated copy.

EQUIVALENT lists mutants that cannot change behaviour, each with its
reason; they are counted apart and reported, never as kills.
"""

from __future__ import annotations

import argparse
import ast
import copy
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The test files that exercise each module, quickest to fail first.
TESTS = {
    "planner/model/perf.py": ["tests/test_perf_memory.py", "tests/test_perf_timing.py", "tests/test_perf_checks.py",
                              "tests/test_perf.py", "tests/test_params.py", "tests/test_plan_units.py",
                              "tests/test_perf_properties.py", "tests/test_fit.py"],
    "planner/plan/candidates.py": ["tests/test_candidates.py", "tests/test_candidates_types.py", "tests/test_plan_units.py",
                                   "tests/test_fit.py", "tests/test_cli_errors.py"],
    "planner/plan/solver.py": ["tests/test_solver_units.py", "tests/test_plan_units.py", "tests/test_solver.py", "tests/test_fit.py"],
}

# (module, enclosing function, original code, mutated code): why the change
# cannot be observed. Keep each reason to one line; real survivors stay out.
EQUIVALENT: dict[tuple[str, str, str, str], str] = {
    ("planner/model/perf.py", "_ffn_width", "0", "1"):
        "max(routed width, 1) == routed width: every MoE routes through at least one expert FFN of width >= 1",
    ("planner/model/perf.py", "weight_split", "len(_SPLITS) > 4096", "len(_SPLITS) >= 4096"):
        "memo size bound: clearing the cache one entry sooner only recomputes the same values",
    ("planner/model/perf.py", "weight_split", "4096", "4097"):
        "memo size bound: clearing the cache one entry later only keeps one more entry",
    ("planner/model/perf.py", "_peaks", "len(_PEAKS) > 4096", "len(_PEAKS) >= 4096"):
        "memo size bound: clearing the cache one entry sooner only recomputes the same values",
    ("planner/model/perf.py", "_peaks", "4096", "4097"):
        "memo size bound: clearing the cache one entry later only keeps one more entry",
    ("planner/model/perf.py", "timing", "batch > 1", "batch >= 1"):
        "at batch 1 the batch's prefill is the first prefill: working it out again gives the same pass (skipped for speed)",
    ("planner/model/perf.py", "decode_step", "True", "False"):
        "a decode step has one query per sequence, for which attention_flops counts `context` pairs, causal or not",
    ("planner/model/perf.py", "_handoff_s", "0.0", "1.0"):
        "returned only at pp = 1, where _pass multiplies the hand-off time by pp - 1 = 0",
    ("planner/model/perf.py", "_pass", "tokens // max(sequences, 1)", "tokens / max(sequences, 1)"):
        "tokens is always sequences x query length (prefill: x prompt; decode: x 1), so / and // give the same number",
    ("planner/plan/candidates.py", "evaluate", "most - 1", "most + 1"):
        "latency grows with the batch and `most` already missed it, so a bisection reaching above most finds the same batch",
    ("planner/plan/candidates.py", "_throughput", "0.0", "1.0"):
        "timing() gives encoders samples_per_s and decoders tokens_per_s, so the `or 0.0` default is never taken",
    ("planner/plan/solver.py", "<module>", "7", "8"):
        "RANDOM_SEED: any fixed seed is as reproducible; which of several equally good plans it picks is arbitrary",
    ("planner/plan/solver.py", "_replica_bound", "demand > 0", "demand >= 0"):
        "at demand 0 the first branch gives max(min_replicas, ceil(0 / served)) = min_replicas, the else branch's value",
}

PRELOAD = ("pytest", "hypothesis", "pydantic", "yaml", "typer", "rich", "ortools.sat.python.cp_model", "numpy")


# --- making mutants ---------------------------------------------------------------

SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div, ast.Pow: ast.Mult,
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.And: ast.Or, ast.Or: ast.And,
}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int  # node position in ast.walk order
    kind: str
    line: int
    function: str
    before: str
    after: str

    @property
    def label(self) -> str:
        return f"{self.module}:{self.line} ({self.function}) {self.kind}: `{self.before}` -> `{self.after}`"

    @property
    def allow_key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.before, self.after)


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, logging calls."""
    skip: set[int] = set()

    def all_of(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            all_of(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            all_of(node.returns)
            for arg in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                all_of(arg.annotation)
        if isinstance(node, ast.AnnAssign):
            all_of(node.annotation)
        if isinstance(node, ast.ImportFrom):
            all_of(node)
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            if owner in ("logging", "logger", "log", "warnings"):
                all_of(node)
    return skip


def _functions(tree: ast.AST) -> dict[int, str]:
    """id(node) -> name of the innermost enclosing function or class."""
    owner: dict[int, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = name
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{name}.{child.name}" if name != "<module>" else child.name
            owner[id(child)] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return owner


def _changes(node: ast.AST) -> list[tuple[str, object]]:
    """(kind, how) for each mutation of ``node``; ``how`` is applied by _apply."""
    out: list[tuple[str, object]] = []
    if isinstance(node, ast.BinOp) and type(node.op) in SWAPS:
        out.append(("arithmetic", SWAPS[type(node.op)]))
    elif isinstance(node, ast.AugAssign) and type(node.op) in SWAPS:
        out.append(("arithmetic", SWAPS[type(node.op)]))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in SWAPS:
                out.append(("comparison", (i, SWAPS[type(op)])))
    elif isinstance(node, ast.BoolOp):
        out.append(("boolean", SWAPS[type(node.op)]))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("boolean", "drop-not"))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        value = node.value
        if isinstance(value, bool):
            new: object = not value
        elif value == 0:
            new = type(value)(1)
        elif value == 1:
            new = type(value)(0)
        else:
            new = value + 1
        out.append(("constant", new))
    elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        out.append(("return", None))
    return out


def _apply(node: ast.AST, kind: str, how: object) -> ast.AST:
    """Mutate ``node`` in place; returns the node that now stands in its place."""
    if kind == "arithmetic" or (kind == "boolean" and how != "drop-not"):
        node.op = how()  # type: ignore[attr-defined, operator]
    elif kind == "comparison":
        i, op = how  # type: ignore[misc]
        node.ops[i] = op()  # type: ignore[attr-defined]
    elif kind == "constant":
        node.value = how  # type: ignore[attr-defined]
    elif kind == "return":
        node.value = ast.Constant(None)  # type: ignore[attr-defined]
    return node


def _drop_not(tree: ast.AST, target: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, field, target.operand)  # type: ignore[attr-defined]
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if item is target:
                        value[i] = target.operand  # type: ignore[attr-defined]


def mutants(module: str) -> list[Mutant]:
    source = (ROOT / module).read_text(encoding="utf-8")
    tree = ast.parse(source)
    skip, owner = _skipped_nodes(tree), _functions(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        for kind, how in _changes(node):
            before = ast.unparse(node).splitlines()[0]
            if kind == "boolean" and how == "drop-not":
                after = ast.unparse(node.operand).splitlines()[0]  # type: ignore[attr-defined]
            else:
                after = ast.unparse(_apply(copy.deepcopy(node), kind, how)).splitlines()[0]
            found.append(Mutant(module, index, kind, getattr(node, "lineno", 0), owner.get(id(node), "<module>"),
                                before[:90], after[:90]))
    return found


def mutated_source(m: Mutant) -> str:
    tree = ast.parse((ROOT / m.module).read_text(encoding="utf-8"))
    node = list(ast.walk(tree))[m.index]
    for kind, how in _changes(node):
        after = ast.unparse(node.operand) if (kind, how) == ("boolean", "drop-not") else None  # type: ignore[attr-defined]
        if kind != m.kind:
            continue
        if after is not None:
            if after.splitlines()[0][:90] == m.after:
                _drop_not(tree, node)
                return ast.unparse(tree)
            continue
        trial = _apply(copy.deepcopy(node), kind, how)
        if ast.unparse(trial).splitlines()[0][:90] == m.after:
            _apply(node, kind, how)
            return ast.unparse(tree)
    raise RuntimeError(f"cannot rebuild mutant {m.label}")


# --- running them ----------------------------------------------------------------

_TREE: Path | None = None
_TIMEOUT = 20.0
_TESTS: dict[str, list[str]] = {}


def _worker_init(timeout: float, tests: dict[str, list[str]]) -> None:
    """Each worker: its own copy of the tree, third-party packages imported once."""
    global _TREE, _TIMEOUT, _TESTS
    _TIMEOUT, _TESTS = timeout, tests
    _TREE = Path(tempfile.mkdtemp(prefix="planner-mutation-"))
    for part in ("planner", "tests", "catalog", "examples", "benchmarks", "README.md", "pyproject.toml", "references"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, _TREE / part, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        elif src.exists():
            shutil.copy2(src, _TREE / part)
    sys.dont_write_bytecode = True
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass


def _run_tests(module: str, source: str | None) -> tuple[str, float]:
    """('killed' | 'survived' | 'timeout' | 'error', seconds) for one mutant
    (source None: the unmutated baseline)."""
    assert _TREE is not None
    path = _TREE / module
    original = path.read_text(encoding="utf-8")
    if source is not None:
        path.write_text(source, encoding="utf-8")
    start = time.monotonic()
    try:
        pid = os.fork()
        if pid == 0:  # child: import planner from the mutated tree and run the tests
            try:
                os.chdir(_TREE)
                sys.path.insert(0, str(_TREE))
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                import pytest

                code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
                                    "--hypothesis-seed=0", *_TESTS[module]])
                os._exit(int(code))
            except BaseException:  # noqa: BLE001 - anything at all: the mutant broke something
                os._exit(99)
        deadline = start + _TIMEOUT
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", time.monotonic() - start
            time.sleep(0.02)
        code = os.waitstatus_to_exitcode(status)
        return ("survived" if code == 0 else "killed"), time.monotonic() - start
    finally:
        path.write_text(original, encoding="utf-8")


def _job(m: Mutant | str) -> tuple[Mutant | str, str, float]:
    if isinstance(m, str):  # a baseline run of the unmutated module
        return m, *_run_tests(m, None)
    return m, *_run_tests(m.module, mutated_source(m))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="module path (repeatable); default: all in TESTS")
    parser.add_argument("--sample", type=int, help="at most N mutants per module, drawn with a fixed seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    # A module's own tests take 1-3 s unmutated; 20 s leaves room for a loaded
    # machine while a mutant that hangs (a bisection that never ends) costs 20 s.
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per mutant; past it the mutant counts as killed")
    parser.add_argument("--tests", nargs="+", help="test files to run instead of the module's own")
    parser.add_argument("--list-survivors", action="store_true")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)

    modules = args.module or list(TESTS)
    tests = {m: [t for t in (args.tests or TESTS.get(m, ["tests"])) if (ROOT / t.split("::")[0]).exists()]
             for m in modules}
    todo: list[Mutant] = []
    total_by_module: dict[str, int] = {}
    for module in modules:
        found = mutants(module)
        total_by_module[module] = len(found)
        if args.sample and len(found) > args.sample:
            found = sorted(random.Random(args.seed).sample(found, args.sample), key=lambda m: m.index)
        todo.extend(found)
    if args.list:
        for m in todo:
            print(m.label)
        return 0

    start = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    results: dict[str, list[tuple[Mutant, str, float]]] = {m: [] for m in modules}
    with ctx.Pool(args.workers, initializer=_worker_init, initargs=(args.timeout, tests)) as pool:
        for module, outcome, seconds in pool.map(_job, modules):
            if outcome != "survived":
                print(f"baseline: the tests fail on unmutated {module} ({outcome}); fix that first", file=sys.stderr)
                return 2
        done = 0
        for m, outcome, seconds in pool.imap_unordered(_job, todo):
            results[m.module].append((m, outcome, seconds))  # type: ignore[union-attr]
            done += 1
            if done % 25 == 0:
                print(f"  {done}/{len(todo)} mutants, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - start

    print(f"mutation testing: {len(todo)} mutants, {args.workers} workers, {elapsed:.0f} s"
          f" ({'sampled ' + str(args.sample) + ' per module, seed ' + str(args.seed) if args.sample else 'every mutant'})")
    print(f"{'module':30} {'mutants':>8} {'killed':>7} {'timeout':>8} {'equiv':>6} {'survived':>9} {'kill rate':>10}")
    grand = {"n": 0, "killed": 0, "timeout": 0, "equiv": 0, "survived": 0}
    survivors: list[Mutant] = []
    equivalents: list[tuple[Mutant, str]] = []
    for module in modules:
        rows = results[module]
        killed = sum(o == "killed" for _m, o, _s in rows)
        timeout = sum(o == "timeout" for _m, o, _s in rows)
        equiv = [(m, EQUIVALENT[m.allow_key]) for m, o, _s in rows if o == "survived" and m.allow_key in EQUIVALENT]
        left = [m for m, o, _s in rows if o == "survived" and m.allow_key not in EQUIVALENT]
        judged = len(rows) - len(equiv)
        rate = (killed + timeout) / judged if judged else 1.0
        sampled = f" of {total_by_module[module]}" if len(rows) < total_by_module[module] else ""
        print(f"{module:30} {str(len(rows)) + sampled:>8} {killed:>7} {timeout:>8} {len(equiv):>6} {len(left):>9} {rate:>10.1%}")
        for key, value in (("n", judged), ("killed", killed), ("timeout", timeout), ("equiv", len(equiv)), ("survived", len(left))):
            grand[key] += value
        survivors += sorted(left, key=lambda m: m.line)
        equivalents += equiv
    rate = (grand["killed"] + grand["timeout"]) / grand["n"] if grand["n"] else 1.0
    print(f"{'overall':30} {grand['n'] + grand['equiv']:>8} {grand['killed']:>7} {grand['timeout']:>8} {grand['equiv']:>6}"
          f" {grand['survived']:>9} {rate:>10.1%}")
    print("kill rate = (killed + timed out) / (mutants - equivalent); a timed-out mutant (a hang) counts as killed")
    if equivalents:
        print(f"\nequivalent mutants (EQUIVALENT in {Path(__file__).name}):")
        for m, why in equivalents:
            print(f"  {m.label}\n      {why}")
    if args.list_survivors and survivors:
        print("\nsurvivors:")
        for m in survivors:
            print(f"  {m.label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
