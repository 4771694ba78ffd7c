"""Regenerate (or check) the example outputs from their scenario files.

    python examples/regenerate.py           # rewrite every example's outputs
    python examples/regenerate.py --check   # exit 1 if any output drifted

Each examples/*/scenario.txt line is `OUTPUT: planner arguments`; the command
runs from the repository root (so `fit --scenario examples/fleet-*.yaml`
names its file as the README does) with a 120-column terminal and no colour
and writes OUTPUT beside the scenario (Markdown reports also write their SVG charts beside). Chart SVG is
drawn by matplotlib, whose exact markup changes between its releases, so
--check compares the text around the charts and only checks that each chart
is there.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.cli import main as planner_main  # noqa: E402

EXAMPLES = ROOT / "examples"
SVG = re.compile(r"<svg.*?</svg>", re.DOTALL)
GENERATED_EPOCH = "1767225600"  # 2026-01-01T00:00:00Z


def scenarios() -> list[Path]:
    return sorted(p.parent for p in EXAMPLES.glob("*/scenario.txt"))


def commands(scenario: Path) -> list[tuple[str, list[str]]]:
    result = []
    for raw in (scenario / "scenario.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        output, _, args = line.partition(":")
        result.append((output.strip(), shlex.split(args)))
    return result


def run(args: list[str]) -> None:
    os.environ["TERMINAL_WIDTH"] = "120"
    os.environ["NO_COLOR"] = "1"
    os.environ["SOURCE_DATE_EPOCH"] = GENERATED_EPOCH  # the date CSV files carry, fixed so outputs do not drift daily
    os.chdir(ROOT)  # files a scenario names are relative to the repository root; outputs are absolute paths
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        try:
            planner_main(args)
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"planner {shlex.join(args)} failed: {err.getvalue().strip()}") from None


def generate(scenario: Path, into: Path) -> list[Path]:
    written = []
    for output, args in commands(scenario):
        run(args + ["-o", str(into / output)])
        written.append(into / output)
    return sorted(p for p in into.iterdir() if p.is_file())


# A fleet answer says how long it took to find (wall time, different every run).
SOLVE_TIME = re.compile(r"(the whole plan took )[\d,.]+( s)|(\"solve_s\": )[\d.]+")


def comparable(path: Path) -> str:
    text = SOLVE_TIME.sub(lambda m: (m.group(1) or m.group(3)) + "(time)" + (m.group(2) or ""),
                          path.read_text(encoding="utf-8"))
    if path.suffix in (".html", ".svg"):
        return SVG.sub("<svg>(chart)</svg>", text)
    return text


def solve_each_fleet_once() -> None:
    """A fleet scenario takes up to a minute to solve and each is rendered in
    several formats: within this run, the same scenario is solved once and
    every format is rendered from that answer (the CLI imports fit_fleet from
    planner.plan.fleet when it runs, so the module's function is wrapped)."""
    import planner.plan.fleet as fleet

    solve = fleet.fit_fleet
    answers: dict[str, object] = {}

    def once(catalog, scenario, **options):
        key = repr((scenario, sorted(options.items())))
        if key not in answers:
            answers[key] = solve(catalog, scenario, **options)
        return answers[key]

    fleet.fit_fleet = once  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of rewriting")
    args = parser.parse_args()
    solve_each_fleet_once()
    drift = []
    for scenario in scenarios():
        if not args.check:
            for old in scenario.iterdir():
                if old.name != "scenario.txt":
                    old.unlink()
            for path in generate(scenario, scenario):
                print(f"wrote {path.relative_to(ROOT)}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            fresh = {p.name: p for p in generate(scenario, Path(tmp))}
            committed = {p.name: p for p in scenario.iterdir() if p.name != "scenario.txt"}
            for name in sorted(set(fresh) | set(committed)):
                if name not in fresh or name not in committed:
                    drift.append(f"{scenario.name}/{name}: {'missing' if name not in committed else 'no longer produced'}")
                elif comparable(fresh[name]) != comparable(committed[name]):
                    drift.append(f"{scenario.name}/{name}: differs")
                elif name.endswith(".svg") and "<svg" not in fresh[name].read_text(encoding="utf-8"):
                    drift.append(f"{scenario.name}/{name}: no chart")
    for line in drift:
        print(line, file=sys.stderr)
    if args.check and not drift:
        print("examples match a fresh run")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
