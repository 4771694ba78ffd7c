"""`planner calibrate`: a user's own benchmark results -> a catalog overlay of
fitted engine factors, with the error before and after.

The command parses flags and files, calls planner/model/calibrate.py (the
fit) and planner/model/measurements.py (the readers), and writes the overlay
atomically (planner.report.output.write_files); nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from planner.catalog.load import Catalog
from planner.catalog.schema import EngineFactors
from planner.cli.app import CatalogOption, _catalog, _Command, app
from planner.core.errors import InputError
from planner.model import calibrate as fitting
from planner.model.calibrate import Observation
from planner.model.measurements import Given, observation, read_runs
from planner.report.output import write_files

# Held-out error is reported when at least this many runs remain to fit on.
MIN_HELD_OUT = 4


@app.command("calibrate", cls=_Command)
def calibrate_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Benchmark results: vllm bench serve --save-result JSON, "
                                                "GenAI-Perf / AIPerf profile_export JSON, llama-bench -o json, or measured.csv rows.")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output-file", metavar="FILE",
                                                   help="Write the overlay here (atomically) instead of printing it.")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", metavar="ENGINE", help="Engine the runs used (vllm, sglang, trtllm, ...).")] = None,
    gpu: Annotated[Optional[str], typer.Option("--gpu", metavar="GPU", help="GPU the runs used (catalog id: h100-sxm).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", metavar="MODEL", help="Model the runs served (catalog or Hugging Face id).")] = None,
    tp: Annotated[Optional[int], typer.Option("--tp", metavar="N", min=1, max=64, help="Tensor-parallel GPUs per replica.")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", metavar="P", help="Weight precision (bf16, fp8, ...).")] = None,
    input_len: Annotated[Optional[int], typer.Option("--input-len", metavar="TOKENS", min=1, help="Input tokens per request, where the file does not say.")] = None,
    output_len: Annotated[Optional[int], typer.Option("--output-len", metavar="TOKENS", min=1, help="Output tokens per request, where the file does not say.")] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", metavar="N", min=1, help="Client concurrency, where the file does not say.")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Fit an engine's efficiency factors to your own benchmark runs and write
    them as a catalog overlay, with the model's error before and after.

    The runs must share one engine; the overlay sets that engine's factors for
    the GPU families measured. Use it with --catalog on predict and fit
    (planner predict llama-3.1-8b --gpu h100-sxm --catalog my-vllm.yaml).

    Examples:

    \b
      planner calibrate c8.json c32.json --engine vllm --gpu h100-sxm -o my-vllm.yaml
      planner calibrate genai-perf.json --engine vllm --gpu h100-sxm --tp 1
    """
    cat = _catalog(catalog)
    given = Given(model=model, gpu=gpu, engine=engine, tp=tp, precision=precision, input_len=input_len,
                  output_len=output_len, concurrency=concurrency)
    observations: list[Observation] = []
    counts: dict[str, int] = {}
    for path in files:
        runs = read_runs(path)
        counts[str(path)] = len(runs)
        observations.extend(observation(cat, run, given) for run in runs)
    text = overlay_text(cat, observations, counts)
    if output is None:
        print(text, end="")
    else:
        write_files({output: text})
        print(f"planner: wrote {output}", file=sys.stderr)


def overlay_text(cat: Catalog, observations: list[Observation], counts: dict[str, int]) -> str:
    engines = sorted({o.deployment.engine.id for o in observations})
    if len(engines) != 1:
        raise InputError(f"the runs use {len(engines)} engines ({', '.join(engines)}); calibrate fits one at a time",
                         hint="give the files of one engine, or --engine")
    engine = cat.engine(engines[0])
    families = sorted({o.deployment.gpu.family for o in observations})
    base = engine.factors_for(observations[0].deployment.gpu)
    before = fitting.errors([(o, fitting.safe_predict(o, base)) for o in observations])
    fitted = fitting.fit(observations, base)
    factors = fitting.with_params(base, fitted.params)
    after = fitting.errors([(o, fitting.safe_predict(o, factors)) for o in observations])
    held: dict[str, fitting.Error] = {}
    if len(observations) >= MIN_HELD_OUT + 1:
        held = fitting.errors(fitting.k_fold(observations, base, folds=min(5, len(observations)),
                                             surrogate=fitted.surrogate))
    from planner.report.csv import generated_date  # here, not at import: it loads the solver (startup stays light)

    today = generated_date().isoformat()  # SOURCE_DATE_EPOCH's date when set: the same files give the same overlay
    files = ", ".join(f"{name} ({n} run{'s' if n != 1 else ''})" for name, n in counts.items())

    def say(errors: dict[str, fitting.Error]) -> str:
        return ", ".join(f"{m.upper()} {e.median_abs_pct:.1f}%" for m, e in sorted(errors.items(), reverse=True)) or "none"

    error = f"median |error| before {say(before)}; after {say(after)}"
    if held:
        error += f"; held out (k-fold) {say(held)}"
    fitted_on = f"planner calibrate on {today}: {files}; {error}"
    lines = [
        "# Catalog overlay written by `planner calibrate`: FITTED efficiency factors for",
        f"# {engine.id} on {', '.join(families)} GPUs, from the user's own measurements.",
        f"# fitted_on: {files}, {today}",
        f"# {error} (mean TTFT, mean TPOT)",
        f"# fitted: {', '.join(fitted.free) or 'nothing (no run moved a factor)'}; the rest are the catalog's.",
        "# Use: planner predict ... --catalog THIS_FILE",
        "engines:",
        f"  - id: {engine.id}",
        f"    fitted_on: \"{_quoted(fitted_on)}\"",
        "    factors:",
    ]
    values = ", ".join(f"{name}: {_rounded(getattr(factors, name))}" for name in EngineFactors.model_fields
                       if name in fitted.params)
    for family in families:
        lines.append(f"      {family}: {{{values}}}" if values else f"      {family}: {{}}")
    return "\n".join(lines) + "\n"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
