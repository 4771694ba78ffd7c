"""The command line: parse -> call the library -> render. Nothing else.

Errors the user can cause are PlannerError subclasses; ``main`` prints them
as one line on stderr and exits with their documented code (see errors.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from planner import __version__
from planner.catalog import Catalog, load_catalog, validate_file
from planner.errors import EXIT_INTERNAL, CatalogError, InputError, PlannerError
from planner.report import size_dict, size_renderables, to_json
from planner.sizing import resolve_model, size_table
from planner.units import parse_count

app = typer.Typer(
    name="planner",
    help="Find the cheapest accelerators and quantisation that run a model within a latency or throughput target.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
catalog_app = typer.Typer(help="Inspect and check the catalog of GPUs, precisions and models.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _console() -> Console:
    width = os.environ.get("TERMINAL_WIDTH") or os.environ.get("COLUMNS")
    return Console(width=int(width) if width and width.isdigit() else None, soft_wrap=False)


def _print(*renderables: Any) -> None:
    console = _console()
    for item in renderables:
        console.print(item)


CatalogOption = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--catalog",
        help="YAML file overlaid on the built-in catalog (override a price, add a GPU or model). Repeatable.",
        metavar="FILE",
    ),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output format: table or json.", metavar="FORMAT")]


def _catalog(files: Optional[list[Path]]) -> Catalog:
    return load_catalog(files or [])


def _check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    value = fmt.strip().lower()
    if value not in allowed:
        raise InputError(f"unknown format '{fmt}'", hint="expected " + ", ".join(allowed))
    return value


def _version(value: bool) -> None:
    if value:
        print(f"planner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Find the cheapest accelerators and quantisation that run a model within a target.

    Examples:

      planner size 13B

      planner catalog list gpus
    """


@app.command()
def size(
    model: Annotated[str, typer.Argument(help="A catalog model id (llama-2-13b) or a parameter count (13B, 110M, 7e9).")],
    precision: Annotated[
        Optional[list[str]], typer.Option("--precision", "-p", help="Show only this precision. Repeatable.")
    ] = None,
    fmt: FormatOption = "table",
    catalog: CatalogOption = None,
) -> None:
    """How big a model is at each precision, and its FLOPs per token.

    Examples:

      planner size 13B

      planner size 110M --precision fp32

      planner size llama-2-13b --format json
    """
    fmt = _check_format(fmt, ("table", "json"))
    cat = _catalog(catalog)
    ref = resolve_model(cat, model)
    if precision:
        chosen = [cat.precision(p) for p in precision]
    else:
        chosen = [p for p in cat.precisions.values()]
    table = size_table(ref, chosen)
    if fmt == "json":
        print(to_json(size_dict(table)))
    else:
        _print(*size_renderables(table))


# --- predict and validate ----------------------------------------------


def _batch(text: str) -> int | str:
    if text.strip().lower() == "max":
        return "max"
    return parse_count(text, "batch", maximum=10**6)


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="A catalog model id (llama-2-7b) or a parameter count (13B).")],
    gpu: Annotated[str, typer.Option("--gpu", help="GPU id or alias (see `planner catalog list gpus`).")],
    precision: Annotated[str, typer.Option("--precision", "-p", help="Weight precision.")] = "bf16",
    kv_precision: Annotated[
        Optional[str], typer.Option("--kv-precision", help="KV-cache precision (default: 16-bit, or fp32 for fp32 weights).")
    ] = None,
    gpus: Annotated[Optional[int], typer.Option("--gpus", help="GPUs in the deployment (default tp x pp); replicas = gpus / (tp x pp).")] = None,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel degree per replica.")] = 1,
    pp: Annotated[int, typer.Option("--pp", help="Pipeline-parallel degree per replica.")] = 1,
    batch: Annotated[str, typer.Option("--batch", help="Concurrent sequences in the whole deployment, or 'max' (largest that fits).")] = "1",
    input_tokens: Annotated[str, typer.Option("--input", help="Prompt tokens per sequence.")] = "512",
    output_tokens: Annotated[str, typer.Option("--output", help="Generated tokens per sequence.")] = "256",
    engine: Annotated[str, typer.Option("--engine", help="vllm, trtllm, sglang, llama.cpp, transformers, lmdeploy or tensorrt.")] = "vllm",
    memory_utilization: Annotated[
        Optional[float], typer.Option("--memory-utilization", help="Share of GPU memory the engine may use (default: the engine's, 0.9 for vLLM).")
    ] = None,
    fmt: FormatOption = "table",
    catalog: CatalogOption = None,
) -> None:
    """Predict memory, TTFT, TPOT and throughput of one deployment.

    Examples:

      planner predict llama-2-7b --gpu a100-sxm-80gb --precision fp16 --batch 1 --input 128 --output 128

      planner predict llama-3.1-70b --gpu h100 --gpus 8 --tp 4 --precision fp8 --batch max --format json

      planner predict 13B --gpu l40s --precision int4
    """
    from planner.predict import predict as run_predict, prediction_dict
    from planner.report_predict import prediction_renderables

    fmt = _check_format(fmt, ("table", "json"))
    cat = _catalog(catalog)
    result = run_predict(
        cat, model, gpu, precision=precision, kv_precision=kv_precision, gpus=gpus, tp=tp, pp=pp,
        batch=_batch(batch), input_tokens=parse_count(input_tokens, "input length"),
        output_tokens=parse_count(output_tokens, "output length"), engine=engine, memory_utilization=memory_utilization,
    )
    if fmt == "json":
        print(to_json(prediction_dict(result)))
    else:
        _print(*prediction_renderables(result))


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="CSV of published measurements, in the columns of the validation set.")],
    summary_only: Annotated[bool, typer.Option("--summary", help="Print only the per-metric summary.")] = False,
    fmt: FormatOption = "table",
    catalog: CatalogOption = None,
) -> None:
    """Predict every measurement in a CSV and report the errors.

    Examples:

      planner validate benchmarks/data/measured.csv

      planner validate benchmarks/data/measured.csv --summary --format json
    """
    from planner.report_predict import validation_renderables
    from planner.validation import read_rows, report_dict, validate

    fmt = _check_format(fmt, ("table", "json"))
    cat = _catalog(catalog)
    report = validate(cat, read_rows(file))
    if fmt == "json":
        data = report_dict(report)
        if summary_only:
            data.pop("rows")
        print(to_json(data))
    else:
        _print(*validation_renderables(report, show_rows=not summary_only))


# --- catalog ------------------------------------------------------------

_SECTIONS = ("gpus", "precisions", "models")


@catalog_app.command("list")
def catalog_list(
    section: Annotated[Optional[str], typer.Argument(help="gpus, precisions or models (default: all three).")] = None,
    fmt: FormatOption = "table",
    catalog: CatalogOption = None,
) -> None:
    """List catalog entries.

    Examples:

      planner catalog list gpus

      planner catalog list models --format json
    """
    from planner.catalog_view import catalog_rows, catalog_tables

    fmt = _check_format(fmt, ("table", "json"))
    if section is not None and section not in _SECTIONS:
        raise InputError(f"unknown catalog section '{section}'", hint="expected gpus, precisions or models")
    cat = _catalog(catalog)
    sections = [section] if section else list(_SECTIONS)
    if fmt == "json":
        print(to_json({s: catalog_rows(cat, s) for s in sections}))
    else:
        _print(*catalog_tables(cat, sections))


@catalog_app.command("show")
def catalog_show(
    entry: Annotated[str, typer.Argument(help="Id or alias of a GPU, precision or model.")],
    catalog: CatalogOption = None,
) -> None:
    """Show one catalog entry with every figure and its source.

    Examples:

      planner catalog show h100-sxm

      planner catalog show int4
    """
    cat = _catalog(catalog)
    found = cat.find(entry)
    if found is None:
        raise InputError(f"no catalog entry '{entry}'", hint="see `planner catalog list`")
    section, item = found
    print(to_json({"section": section, **item.model_dump(mode="json", exclude_none=True)}))


@catalog_app.command("validate")
def catalog_validate(
    file: Annotated[Path, typer.Argument(help="A catalog YAML file, checked as an overlay on the built-in catalog.")],
) -> None:
    """Check a catalog file: exit 0 when valid, else print every problem, one a line.

    Examples:

      planner catalog validate my-prices.yaml
    """
    problems = validate_file(file)
    if problems:
        raise CatalogError(f"{file}: {len(problems)} problem(s)", problems)
    print(f"{file}: valid")


# --- entry point --------------------------------------------------------


def _fail(message: str, code: int) -> None:
    print(f"planner: error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: no traceback ever reaches the user."""
    try:
        # typer handles its own usage errors (exit 2) and --help in standalone mode
        app(args=argv, prog_name="planner")
    except CatalogError as exc:
        if len(exc.problems) > 1 or exc.problems[0] != exc.message:
            for line in exc.problems:
                print(f"planner: catalog: {line}", file=sys.stderr)
        _fail(str(exc), exc.exit_code)
    except PlannerError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("PLANNER_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set PLANNER_DEBUG=1 for a traceback, and please report it)", EXIT_INTERNAL)
