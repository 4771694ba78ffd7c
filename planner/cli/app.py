"""The command line: parse -> call the library -> render. Nothing else.

Errors the user can cause are PlannerError subclasses; ``main`` prints them
as one line on stderr and exits with their documented code (see planner/core/errors.py).
A malformed command line is reported the same way (exit 2), and a reader that
closes the pipe early ends planner quietly with exit 0.
"""

from __future__ import annotations

import itertools
import os
import shlex
from contextvars import ContextVar
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
try:  # typer 0.29 vendors click (no `click` package is installed): its exceptions live here
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # a typer that depends on the click package instead
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[no-redef]
from typer.core import TyperCommand, TyperGroup

from planner import __version__
from planner.catalog.load import Catalog, load_catalog, overlay_changes, validate_file
from planner.report.output import write_files
from planner.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CatalogError,
    InputError,
    NoPlanError,
    PlannerError,
    one_line,
)
from planner.report.layout import render_plain
from planner.report.size import size_dict, size_renderables, to_json
from planner.model.resolve import resolve_model
from planner.model.sizing import size_table
from planner.core.units import parse_count
from planner.cli import complete
from planner.plan import question


class _PipeClosed(Exception):
    """The reader of stdout went away (`planner ... | head -1`).

    Raised in place of BrokenPipeError, which click would turn into exit 1
    before `main` sees it.
    """


class _Group(TyperGroup):
    # --help and --version print while the context is made; commands while invoked.
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError as exc:
            raise _PipeClosed() from exc

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _PipeClosed() from exc


class _Command(TyperCommand):
    """Help in click's own conventions, which typer 0.29 changed: a required
    argument is `MODEL` in the usage line (not `{MODEL}`) and its name alone in
    the Arguments list (not `MODEL <str>`), since every argument declares a
    metavar that already says what it takes."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((param.metavar or (param.name or "").upper(), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


app = typer.Typer(
    cls=_Group,
    name="planner",  # its help is `_root`'s docstring
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
catalog_app = typer.Typer(
    help="""Inspect and check the catalog of GPUs, precisions and models.

    Examples:

    \b
      planner catalog list gpus
      planner catalog show h100-sxm
      planner catalog validate my-prices.yaml
    """,
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")


# The run's one terminal console: made on first use, forgotten when `main` returns.
_RUN_CONSOLE: ContextVar[Console | None] = ContextVar("planner_console", default=None)


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's own handling exits 1; planner's closed pipe is exit 0 (see `_run`)
        self.quiet = True
        raise _PipeClosed()


def _console() -> Console:
    console = _RUN_CONSOLE.get()
    if console is None:
        width = os.environ.get("TERMINAL_WIDTH") or os.environ.get("COLUMNS")
        # markup and emoji codes off: strings printed here hold catalog text,
        # shown as typed ("[/bold]" is a GPU name, not a closing tag)
        console = _Console(width=int(width) if width and width.isdigit() else None, soft_wrap=False, markup=False,
                          emoji=False)
        _RUN_CONSOLE.set(console)
    return console


def _layout_width() -> int:
    """Columns to lay tables out in: the terminal's; for a pipe, TERMINAL_WIDTH
    or COLUMNS where set, else TEXT_WIDTH (rich's 80 would wrap what a file need not)."""
    console = _console()
    if console.is_terminal:
        return console.width
    width = os.environ.get("TERMINAL_WIDTH") or os.environ.get("COLUMNS")
    return int(width) if width and width.isdigit() and int(width) > 0 else TEXT_WIDTH


def _print(*renderables: Any) -> None:
    """To the terminal through rich; to a pipe as plain text, prose unwrapped
    and no trailing spaces (render_plain)."""
    console = _console()
    if not console.is_terminal:
        sys.stdout.write(render_plain(renderables, _layout_width()))
        return
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
MODEL_HELP = ("A catalog model id (llama-3.1-8b), a Hugging Face id (meta-llama/Llama-3.1-8B-Instruct), "
              "a config.json or model directory, or a parameter count (13B).")
ModelArgument = Annotated[
    str,
    typer.Argument(
        help=MODEL_HELP,
        metavar="MODEL",
        autocompletion=complete.models,
    ),
]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table or json.", metavar="FORMAT", autocompletion=complete.output_format)
]


def _output_path(value: Optional[Path]) -> Optional[Path]:
    """`-o -` is standard output: the same as no -o."""
    return None if value is not None and str(value) == "-" else value


OutputOption = Annotated[
    Optional[Path],
    typer.Option(
        "-o", "--output-file", callback=_output_path, metavar="FILE",
        help="Write to this regular file (atomically: all or nothing; a symbolic link is followed) "
        "instead of the terminal; '-' is standard output.",
    ),
]
TEXT_WIDTH = 120  # columns of table output written to a file

# The library names the field at fault (economics.years); each command shows
# the flag that sets it (--years). One table per command, since predict's
# --gpus (a count) is not fit's --gpu (the allowed types).
FLAGS: dict[str, dict[str, str]] = {
    "size": {"input_tokens": "--context", "output_tokens": "--context", "rope_scaling": "--rope-scaling"},
    "fit": {
        "model": "MODEL",
        "targets.latency_s": "--latency",
        "targets.ttft_s": "--ttft",
        "targets.e2e_s": "--e2e",
        "targets.throughput": "--throughput",
        "targets.latency_statistic": "--latency",
        "targets.ttft_statistic": "--ttft",
        "targets.e2e_statistic": "--e2e",
        "input_tokens": "--input",
        "output_tokens": "--output",
        "rope_scaling": "--rope-scaling",
        "engine": "--engine",
        "gpus": "--gpu",
        "segments": "--segment",
        "precisions": "--precision",
        "kv_precisions": "--kv-precision",
        "max_quality_loss": "--max-quality-loss",
        "available": "--available",
        "owned": "--owned",
        "providers": "--provider",
        "pricing": "--pricing",
        "region": "--region",
        "redundancy": "--redundancy",
        "zones": "--zones",
        "budget": "--budget",
        "max_gpus": "--max-gpus",
        "max_power_w": "--max-power",
        "gpus_per_node": "--gpus-per-node",
        "memory_utilization": "--memory-utilization",
        "max_batch": "--max-batch",
        "headroom": "--headroom",
        "burstiness": "--burstiness",
        "economics.objective": "--objective",
        "economics.years": "--years",
        "economics.power_usd_per_kwh": "--power-price",
        "economics.pue": "--pue",
        "economics.colo_usd_per_kw_month": "--colo-price",
        "top": "--top",
    },
    "predict": {
        "model": "MODEL",
        "gpus": "--gpus",
        "tp": "--tp",
        "pp": "--pp",
        "dp": "--dp",
        "ep": "--ep",
        "replicas": "--gpus / (--tp x --dp x --pp)",
        "batch": "--batch",
        "memory_utilization": "--memory-utilization",
        "max_batch": "--max-batch",
        "input_tokens": "--input",
        "output_tokens": "--output",
        "rope_scaling": "--rope-scaling",
        "requests": "--requests",
        "load": "--load",
    },
}


def _flags(argv: list[str]) -> dict[str, str]:
    """The flag table of the command in ``argv`` (its first word that is not an option)."""
    command = next((arg for arg in argv if not arg.startswith("-")), "")
    return FLAGS.get(command, {})


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
    """Find the cheapest accelerators and quantisation that run a model within a latency or throughput target.

    Tab completion of commands, options and catalog ids in bash, zsh or fish:
    run this once in that shell, then open a new one (--show-completion prints
    the script instead):

    \b
      planner --install-completion

    Examples:

    \b
      planner fit 13B --latency 100ms
      planner predict 13B --gpu l40s --precision int4
      planner size 13B
      planner catalog list gpus
    """


@app.command(cls=_Command)
def size(
    model: ModelArgument,
    precision: Annotated[
        Optional[list[str]], typer.Option("--precision", "-p", metavar="PRECISION", autocompletion=complete.precision, help="Show only this precision. Repeatable.")
    ] = None,
    context: Annotated[
        Optional[str], typer.Option("--context", metavar="TOKENS", help="Also size the KV cache of one sequence of this many tokens (input + output).")
    ] = None,
    rope_scaling: Annotated[
        bool, typer.Option("--rope-scaling", help="Allow the longer context the model card documents with RoPE scaling.")
    ] = False,
    fmt: FormatOption = "table",
    catalog: CatalogOption = None,
) -> None:
    """How big a model is at each precision, and its FLOPs per token.

    Examples:

    \b
      planner size 13B
      planner size 110M --precision fp32
      planner size 13B --precision fp8 --precision int4
      planner size llama-2-13b --format json
      planner size llama-3.1-8b --context 128k
      planner size meta-llama/Llama-3.1-8B-Instruct
      planner size ./Llama-3.1-8B/config.json
      planner size ./Llama-3.1-8B  # a directory holding config.json
    """
    fmt = _check_format(fmt, ("table", "json"))
    cat = _catalog(catalog)
    ref = resolve_model(cat, model)
    _warn(ref.warnings)
    if precision:
        chosen = [cat.precision(p) for p in precision]
    else:
        chosen = [p for p in cat.precisions.values()]
    kv_formats = [p for p in cat.precisions.values() if p.kv_cache]
    tokens = None if context is None else parse_count(_given(context, "--context", optional=False), "context length")
    table = size_table(ref, chosen, context=tokens, kv_formats=kv_formats, rope_scaling=rope_scaling)
    if fmt == "json":
        print(to_json(size_dict(table)))
    else:
        _print(*size_renderables(table, width=_layout_width()))


# --- fit -----------------------------------------------------------------


def _given(value: Optional[str], flag: str, *, optional: bool = True) -> Optional[str]:
    """A value as given: None when the flag is absent, an error when it is
    present but blank (an empty value must not silently drop a constraint)."""
    if value is not None and not value.strip():
        raise InputError(f"{flag} is empty", hint=f"give a value or leave {flag} out" if optional else "give a value")
    return value


def _split(values: Optional[list[str]], flag: str) -> tuple[str, ...] | None:
    """Repeatable options that also take comma-separated lists: None when the
    flag is absent, an error when it is given with nothing but separators."""
    if values is None:
        return None
    items = tuple(v.strip() for value in values for v in value.split(",") if v.strip())
    if not items:
        raise InputError(f"{flag} is empty", hint=f"give a value or leave {flag} out")
    return items


OptionalModelArgument = Annotated[
    Optional[str],
    typer.Argument(
        help=MODEL_HELP + " Not with --scenario.",
        metavar="MODEL",
        autocompletion=complete.models,
        show_default=False,
    ),
]
# What `fit --scenario` takes besides the file: the rest of the question is in the file.
SCENARIO_FLAGS = ("scenario", "fmt", "output", "catalog")


@app.command(cls=_Command)
def fit(
    ctx: typer.Context,
    model: OptionalModelArgument = None,
    latency: Annotated[Optional[str], typer.Option("--latency", metavar="[STAT:]DURATION", help="Per-token decode latency (TPOT) for decoders, at a percentile over requests (default p99; p50, p90, p99 or mean): 100ms, p90:40ms. One forward pass for encoders.")] = None,
    ttft: Annotated[Optional[str], typer.Option("--ttft", metavar="[STAT:]DURATION", help="Time to first token, queueing included, at a percentile (default p99): 500ms, p90:300ms.")] = None,
    e2e: Annotated[Optional[str], typer.Option("--e2e", metavar="[STAT:]DURATION", help="End-to-end request latency at a percentile (default p99): 10s, p50:8s.")] = None,
    throughput: Annotated[Optional[str], typer.Option("--throughput", metavar="RATE", help="Throughput to serve: '5000 tok/s', '20 req/s' or '300 samples/s'.")] = None,
    input_tokens: Annotated[str, typer.Option("--input", metavar="TOKENS", help="Prompt tokens per request.")] = str(question.DEFAULT_INPUT_TOKENS),
    output_tokens: Annotated[str, typer.Option("--output", metavar="TOKENS", help="Generated tokens per request.")] = str(question.DEFAULT_OUTPUT_TOKENS),
    rope_scaling: Annotated[
        bool, typer.Option("--rope-scaling", help="Allow the longer context the model card documents with RoPE scaling (YaRN); the engine must be started with it.")
    ] = False,
    engine: Annotated[str, typer.Option("--engine", metavar="ENGINE", autocompletion=complete.engine, help="vllm, trtllm, sglang, llama.cpp, transformers, lmdeploy or tensorrt.")] = question.DEFAULT_ENGINE,
    gpu: Annotated[Optional[list[str]], typer.Option("--gpu", metavar="GPU[,GPU...]", autocompletion=complete.gpus, help="Allowed GPU types (repeatable or comma-separated; default all).")] = None,
    segment: Annotated[Optional[list[str]], typer.Option("--segment", metavar="SEGMENT[,...]", autocompletion=complete.segments, help="Allowed GPU segments: datacenter, workstation, consumer (repeatable or comma-separated; default datacenter and workstation, or the GPUs named with --gpu).")] = None,
    precision: Annotated[Optional[list[str]], typer.Option("--precision", "-p", metavar="PRECISION[,...]", autocompletion=complete.precisions, help="Allowed weight precisions (default all within the quality limit).")] = None,
    kv_precision: Annotated[Optional[list[str]], typer.Option("--kv-precision", metavar="PRECISION[,...]", autocompletion=complete.kv_precisions, help="Allowed KV-cache precisions (default the engine's).")] = None,
    max_quality_loss: Annotated[str, typer.Option("--max-quality-loss", metavar="PERCENT", help="Largest published quality loss allowed, percent.")] = f"{question.DEFAULT_MAX_QUALITY_LOSS:g}",
    owned: Annotated[Optional[str], typer.Option("--owned", metavar="GPU=COUNT[,...]|FILE", help="GPUs already owned: h100-sxm=8 or a YAML file. Sunk: used before anything is rented or bought, no rent or purchase counted (tco counts their energy).")] = None,
    available: Annotated[Optional[str], typer.Option("--available", "--inventory", metavar="GPU=COUNT[,...]|FILE", help="Most GPUs that may be rented or bought per type: h100-sxm=16,a100-sxm-80gb=64 or a YAML file; unlisted types are unlimited, =0 excludes a type.")] = None,
    provider: Annotated[Optional[list[str]], typer.Option("--provider", metavar="PROVIDER[,...]", autocompletion=complete.providers, help="Providers to rent from (repeatable or comma-separated; default: aws, azure, gcp, coreweave, lambda). See planner catalog list providers.")] = None,
    pricing: Annotated[str, typer.Option("--pricing", metavar="PRICING", autocompletion=complete.pricing, help="on-demand, spot, reserved-1y or reserved-3y: which published price rents are counted at.")] = "on-demand",
    region: Annotated[Optional[str], typer.Option("--region", metavar="REGION", help="Rent in this region (or a region prefix such as us-east); default: the cheapest region listed.")] = None,
    redundancy: Annotated[Optional[str], typer.Option("--redundancy", metavar="N+K", help="N+1 (or N+k): the plan still serves its throughput with any k instances, servers or owned replicas down.")] = None,
    zones: Annotated[int, typer.Option("--zones", metavar="N", help="Spread the plan over N zones (instances dealt round-robin); with N > 1 it still serves its throughput with any one zone down.")] = 1,
    budget: Annotated[Optional[str], typer.Option("--budget", metavar="AMOUNT", help="Spending limit: rent '$200/h', '$150k/month' or '$1.8M/year'; or capital '$2M' with --objective capex or tco.")] = None,
    max_gpus: Annotated[Optional[int], typer.Option("--max-gpus", metavar="N", help="Most GPUs in the whole plan.")] = None,
    max_power: Annotated[Optional[str], typer.Option("--max-power", metavar="POWER", help="Most GPU power (TDP) in the plan, e.g. 20kW.")] = None,
    gpus_per_node: Annotated[Optional[int], typer.Option("--gpus-per-node", metavar="N", help="GPUs per server, the limit for tensor parallelism (default: each GPU's).")] = None,
    objective: Annotated[str, typer.Option("--objective", metavar="OBJECTIVE", autocompletion=complete.objective, help="hourly (rent instances, $/h), capex (buy servers) or tco (buy servers, plus energy over --years).")] = question.Objective.HOURLY.value,
    years: Annotated[float, typer.Option("--years", metavar="YEARS", help="Years of operation for --objective tco.")] = question.DEFAULT_YEARS,
    power_price: Annotated[str, typer.Option("--power-price", metavar="PRICE", help="Electricity price for tco, e.g. '$0.12/kWh'.")] = f"${question.DEFAULT_POWER_USD_PER_KWH:g}/kWh",
    pue: Annotated[float, typer.Option("--pue", metavar="RATIO", help="Power usage effectiveness of the data centre, for tco.")] = question.DEFAULT_PUE,
    colo_price: Annotated[str, typer.Option("--colo-price", metavar="PRICE", help="Colocation per kW of server power per month, for tco (default: CBRE's 2024 North America asking rate); 0 for a data centre already paid for.")] = f"${question.DEFAULT_COLO_USD_PER_KW_MONTH:g}/kW-month",
    memory_utilization: Annotated[Optional[float], typer.Option("--memory-utilization", metavar="SHARE", help="Share of GPU memory the engine may use (default: the engine's).")] = None,
    max_batch: Annotated[Optional[int], typer.Option("--max-batch", metavar="N", help="Most concurrent sequences per replica, per attention-DP rank for a DP x EP shape (default: the engine scheduler's).")] = None,
    headroom: Annotated[Optional[str], typer.Option("--headroom", metavar="PERCENT", help="Share of each replica's simulated capacity kept free (default 10%: the measured leave-one-GPU-out error of throughput, rounded up): 20%.")] = None,
    burstiness: Annotated[float, typer.Option("--burstiness", metavar="CV", help="Coefficient of variation of the gaps between requests: 1 is Poisson (default), 2 burstier, 0.5 smoother.")] = 1.0,
    explain: Annotated[bool, typer.Option("--explain", help="List every GPU type and precision ruled out, and why.")] = False,
    top: Annotated[int, typer.Option("--top", metavar="N", help="Also show the next best plans, N in all.")] = 1,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, csv, markdown or html.", metavar="FORMAT", autocompletion=complete.fit_format)] = "table",
    output: OutputOption = None,
    csv_kind: Annotated[str, typer.Option("--csv-kind", metavar="KIND", autocompletion=complete.csv_kind, help="csv content: bom (bill of materials) or candidates (every shape considered).")] = "bom",
    scenario: Annotated[Optional[Path], typer.Option("--scenario", metavar="FILE", help="A fleet: a YAML file of workloads (model, load over the day, lengths, targets) and the limits they share, planned together (README: Fleets). Takes the place of MODEL and the question's flags; --format, -o and --catalog still apply.")] = None,
    catalog: CatalogOption = None,
) -> None:
    """The cheapest hardware and quantisation that meets the targets.

    Examples:

    \b
      planner fit 13B --latency 100ms
      planner fit 13B --latency 100ms --segment datacenter --top 3
      planner fit llama-3.1-70b --throughput '5000 tok/s' --latency 50ms --owned h100-sxm=8 --available h100-sxm=16,a100-sxm-80gb=64
      planner fit llama-3.1-8b --throughput '2000 tok/s' --latency 50ms --provider aws --pricing reserved-1y --redundancy N+1
      planner fit llama-3.1-70b --throughput '20000 tok/s' --latency 50ms --provider aws,gcp --region us-east --zones 2 --budget '$200k/month'
      planner fit llama-3.1-8b --ttft 300ms --latency 40ms --objective tco --colo-price '$150/kW-month' --power-price '$0.12/kWh' --years 3
      planner fit mixtral-8x7b --throughput '10 req/s' --e2e 20s --gpu h100-sxm,l40s --precision fp8,int4
      planner fit llama-3.1-8b --throughput '20 req/s' --ttft p99:300ms --latency p90:30ms --headroom 20% --burstiness 2
      planner fit bert-base --latency 1ms --input 128 --engine tensorrt
      planner fit llama-3.1-8b --ttft 300ms --explain
      planner fit 13B --latency 1ms  # exit 4: no plan, and the fastest there is
      planner fit 13B --latency 100ms --format csv -o plan.csv
      planner fit 13B --latency 100ms --format html -o review.html
      planner fit --scenario examples/fleet-readme.yaml
      planner fit --scenario examples/fleet-readme.yaml --format csv -o fleet-bom.csv
    """
    if scenario is not None:
        _fit_scenario(ctx, scenario, fmt, output, catalog)
        return
    if model is None:  # a usage error, as click words a missing argument
        raise UsageError("Missing argument 'MODEL' or option '--scenario'", ctx=ctx)
    from planner.plan.fit import fit as run_fit
    from planner.plan.question import (
        Economics,
        Question,
        Targets,
        parse_colo_price,
        parse_energy_price,
        parse_inventory,
        parse_objective,
        parse_percent,
        parse_redundancy,
    )
    from planner.report.fit import fit_dict, fit_renderables
    from planner.core.units import parse_money, parse_power, parse_rate
    from planner.model.slo import DEFAULT_PERCENTILE, parse_target

    fmt = _check_format(fmt, ("table", "json", "csv", "markdown", "html"))
    if csv_kind not in ("bom", "candidates"):
        raise InputError(f"unknown --csv-kind '{csv_kind}'", hint="expected bom or candidates")
    latency, ttft, e2e = _given(latency, "--latency"), _given(ttft, "--ttft"), _given(e2e, "--e2e")
    throughput, available, owned = _given(throughput, "--throughput"), _given(available, "--available"), _given(owned, "--owned")
    region, redundancy = _given(region, "--region"), _given(redundancy, "--redundancy")
    budget, max_power = _given(budget, "--budget"), _given(max_power, "--max-power")
    stat_latency, latency_s = (DEFAULT_PERCENTILE, None) if latency is None else parse_target(latency, "--latency")
    stat_ttft, ttft_s = (DEFAULT_PERCENTILE, None) if ttft is None else parse_target(ttft, "--ttft")
    stat_e2e, e2e_s = (DEFAULT_PERCENTILE, None) if e2e is None else parse_target(e2e, "--e2e")
    targets = Targets(
        latency_s=latency_s, ttft_s=ttft_s, e2e_s=e2e_s,
        throughput=None if throughput is None else parse_rate(throughput),
        latency_statistic=stat_latency, ttft_statistic=stat_ttft, e2e_statistic=stat_e2e,
    )
    question = Question(
        model=model,
        targets=targets,
        input_tokens=parse_count(input_tokens, "input length"),
        output_tokens=parse_count(output_tokens, "output length"),
        rope_scaling=rope_scaling,
        engine=engine,
        gpus=_split(gpu, "--gpu"),
        segments=_split(segment, "--segment"),
        precisions=_split(precision, "--precision"),
        kv_precisions=_split(kv_precision, "--kv-precision"),
        max_quality_loss=parse_percent(max_quality_loss),
        available=None if available is None else parse_inventory(available, "--available"),
        owned=None if owned is None else parse_inventory(owned, "--owned"),
        providers=_split(provider, "--provider"),
        pricing=pricing,
        region=region,
        redundancy=0 if redundancy is None else parse_redundancy(redundancy),
        zones=zones,
        budget=None if budget is None else parse_money(budget),
        max_gpus=max_gpus,
        max_power_w=None if max_power is None else parse_power(max_power),
        gpus_per_node=gpus_per_node,
        memory_utilization=memory_utilization,
        max_batch=max_batch,
        headroom=None if headroom is None else parse_percent(headroom, "headroom", "--headroom 10%") / 100,
        burstiness=burstiness,
        economics=Economics(objective=parse_objective(objective), years=years, power_usd_per_kwh=parse_energy_price(power_price), pue=pue,
                            colo_usd_per_kw_month=parse_colo_price(colo_price)),
        top=top,
        asked="planner " + shlex.join(_without_output(ctx.obj["argv"])) if ctx.obj else None,
    )
    cat = _catalog(catalog)
    try:
        result = run_fit(cat, question)
        _warn(result.spec.warnings)
    except NoPlanError as exc:
        if fmt == "json":  # a machine reader still gets an object with the status
            reason = exc.render_message(FLAGS["fit"])
            _emit(to_json({"status": "infeasible", "reason": reason, "model": model}) + "\n", output)
        raise
    if fmt == "json":
        _emit(to_json(fit_dict(result, explain)) + "\n", output)
    elif fmt == "csv":
        from planner.report.csv import bom_csv, candidates_csv

        _emit(bom_csv(result) if csv_kind == "bom" else candidates_csv(result), output)
    elif fmt in ("markdown", "html"):
        _emit_review(cat, result, fmt, output)
    elif output is not None:
        _emit(_render_text(fit_renderables(result, explain, width=TEXT_WIDTH)), output)
    else:
        _print(*fit_renderables(result, explain, width=_layout_width()))


def _fit_scenario(ctx: typer.Context, path: Path, fmt: str, output: Optional[Path],
                  catalog: Optional[list[Path]]) -> None:
    """`fit --scenario FILE`: the fleet the file describes, planned together."""
    for param in ctx.command.params:
        if param.name in SCENARIO_FLAGS or param.name is None:
            continue
        source = ctx.get_parameter_source(param.name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            flag = "MODEL" if param.param_type_name == "argument" else max(param.opts, key=len)
            raise InputError(f"{flag} cannot be given with --scenario",
                             hint="put it in the scenario file (per workload, or under shared:), "
                                  "or drop --scenario to plan one model")
    fmt = _check_format(fmt, ("table", "json", "csv", "markdown", "html"))
    from planner.plan.fleet import fit_fleet
    from planner.plan.scenario import load_scenario
    from planner.report.fleet import fleet_dict, fleet_renderables

    cat = _catalog(catalog)
    fleet = load_scenario(path)
    try:
        result = fit_fleet(cat, fleet)
    except NoPlanError as exc:
        if fmt == "json":  # a machine reader still gets an object with the status
            reason = exc.render_message(FLAGS["fit"])
            _emit(to_json({"status": "infeasible", "reason": reason, "scenario": str(path)}) + "\n", output)
        raise
    if fmt == "json":
        _emit(to_json(fleet_dict(result)) + "\n", output)
    elif fmt == "csv":
        from planner.report.fleet_csv import fleet_bom_csv

        _emit(fleet_bom_csv(result), output)
    elif fmt in ("markdown", "html"):
        from planner.report.fleet_review import build_fleet_review

        _write_review(build_fleet_review(result), fmt, output)
    elif output is not None:
        _emit(_render_text(fleet_renderables(result, width=TEXT_WIDTH)), output)
    else:
        _print(*fleet_renderables(result, width=_layout_width()))


def _without_output(argv: list[str]) -> list[str]:
    """The command as asked, less where its output went."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-o", "--output-file"):
            skip = True
        elif not arg.startswith("--output-file="):
            kept.append(arg)
    return kept


def _emit_review(cat: Catalog, result: Any, fmt: str, output: Optional[Path]) -> None:
    from planner.report.review import build_review

    _write_review(build_review(cat, result), fmt, output)


def _write_review(review: Any, fmt: str, output: Optional[Path]) -> None:
    """A review as HTML, or as Markdown with its charts as SVG files beside it."""
    from planner.report.html import render_html
    from planner.report.markdown import render_markdown

    if fmt == "html":
        _emit(render_html(review), output)
        return
    if output is None:
        print(render_markdown(review), end="")
        return
    charts = {name: f"{output.stem}-{name}.svg" for name in review.charts}
    files: dict[Path, str | bytes] = {output: render_markdown(review, charts)}
    files.update({output.with_name(filename): review.charts[name] for name, filename in charts.items()})
    write_files(files)
    print(f"planner: wrote {', '.join(str(p) for p in files)}", file=sys.stderr)


def _emit(text: str, output: Optional[Path]) -> None:
    """Print, or write atomically to ``output``."""
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        write_files({output: text})
        print(f"planner: wrote {output}", file=sys.stderr)


def _render_text(renderables: list[Any], width: int = 0) -> str:
    """Rich renderables as plain text (no colour, prose unwrapped), for files and golden tests."""
    return render_plain(renderables, width or TEXT_WIDTH)


# --- predict and validate ----------------------------------------------


def _batch(text: str) -> int | str:
    if text.strip().lower() == "max":
        return "max"
    return parse_count(text, "batch", maximum=10**6)


@app.command(cls=_Command)
def predict(
    model: ModelArgument,
    gpu: Annotated[str, typer.Option("--gpu", metavar="GPU", autocompletion=complete.gpu, help="GPU id or alias (see `planner catalog list gpus`).")],
    precision: Annotated[str, typer.Option("--precision", "-p", metavar="PRECISION", autocompletion=complete.precision, help="Weight precision.")] = "bf16",
    kv_precision: Annotated[
        Optional[str], typer.Option("--kv-precision", metavar="PRECISION", autocompletion=complete.kv_precision, help="KV-cache precision (default: 16-bit, or fp32 for fp32 weights).")
    ] = None,
    gpus: Annotated[Optional[int], typer.Option("--gpus", metavar="N", help="GPUs in the deployment (default tp x dp x pp); replicas = gpus / (tp x dp x pp).")] = None,
    tp: Annotated[int, typer.Option("--tp", metavar="N", help="Tensor-parallel degree per replica (per attention-DP rank with --dp).")] = 1,
    pp: Annotated[int, typer.Option("--pp", metavar="N", help="Pipeline-parallel degree per replica.")] = 1,
    dp: Annotated[int, typer.Option("--dp", metavar="N", help="Mixtures of experts: attention data-parallel ranks per replica, each with its own requests and KV cache; all tp x dp GPUs share the experts.")] = 1,
    ep: Annotated[int, typer.Option("--ep", metavar="N", help="Mixtures of experts: expert-parallel groups the routed experts are split into (a divisor of tp x dp; each expert sharded tp x dp / ep ways).")] = 1,
    batch: Annotated[str, typer.Option("--batch", metavar="N|max", help="Concurrent sequences in the whole deployment, or 'max' (largest that fits).")] = "1",
    input_tokens: Annotated[
        Optional[str], typer.Option("--input", metavar="TOKENS|DIST", autocompletion=complete.length_form, help="Prompt tokens per sequence (default 512), or a distribution: 'lognormal:mean=1024,p99=4096[,max=8192]', 'uniform:low=100,high=2000'. Without --load a distribution's mean is used.")
    ] = None,
    output_tokens: Annotated[
        Optional[str], typer.Option("--output", metavar="TOKENS|DIST", autocompletion=complete.length_form, help="Generated tokens per sequence (default 256), or a distribution as for --input.")
    ] = None,
    lengths_file: Annotated[
        Optional[Path], typer.Option("--lengths", metavar="FILE", help="CSV (columns input,output) or JSONL ({\"input\": 512, \"output\": 128} per line) of request lengths, drawn at random; instead of --input and --output.")
    ] = None,
    load: Annotated[
        Optional[str], typer.Option("--load", metavar="FORM", autocompletion=complete.load_form, help="Simulate one replica under a load and report percentiles: burst:16 (16 requests at once), concurrency:64 (64 clients, closed loop) or rate:5/s (Poisson arrivals; also rate:300/min).")
    ] = None,
    burstiness: Annotated[
        Optional[str], typer.Option("--burstiness", metavar="CV", help="With --load rate:...: coefficient of variation of the gaps between arrivals (gamma); 1 is Poisson (default), 2 burstier, 0.5 smoother.")
    ] = None,
    requests: Annotated[
        Optional[str], typer.Option("--requests", metavar="N", help="Requests to simulate with --load (default: a burst's size; else 2,000, or 20 per client, raised until the summary window spans 15 mean request lifetimes, at most 50,000).")
    ] = None,
    seed: Annotated[str, typer.Option("--seed", metavar="N", help="Seed for drawn lengths and arrivals with --load: the same seed gives the same answer.")] = "0",
    rope_scaling: Annotated[
        bool, typer.Option("--rope-scaling", help="Allow the longer context the model card documents with RoPE scaling (YaRN); the engine must be started with it.")
    ] = False,
    engine: Annotated[str, typer.Option("--engine", metavar="ENGINE", autocompletion=complete.engine, help="vllm, trtllm, sglang, llama.cpp, transformers, lmdeploy or tensorrt.")] = question.DEFAULT_ENGINE,
    memory_utilization: Annotated[
        Optional[float], typer.Option("--memory-utilization", metavar="SHARE", help="Share of GPU memory the engine may use (default: the engine's, 0.9 for vLLM).")
    ] = None,
    max_batch: Annotated[Optional[int], typer.Option("--max-batch", metavar="N", help="Cap for --batch max, per replica (per attention-DP rank with --dp; default: the engine's); with --load, the scheduler's max_num_seqs.")] = None,
    disaggregated_: Annotated[bool, typer.Option("--disaggregated", help="Prefill and decode on separate pools of workers: --batch clients in a closed loop; TTFT = wait + prefill + KV transfer, TPOT from the decode pool.")] = False,
    prefill_pool: Annotated[Optional[str], typer.Option("--prefill-pool", metavar="KEY=VALUE,...", help="With --disaggregated: the prefill pool, e.g. gpu=h100,tp=8,workers=2 (keys gpu, precision, tp, dp, ep, pp, workers; others from --gpu, --tp ...).")] = None,
    decode_pool: Annotated[Optional[str], typer.Option("--decode-pool", metavar="KEY=VALUE,...", help="With --disaggregated: the decode pool, e.g. dp=8,ep=8,workers=3.")] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Predict memory, TTFT, TPOT and throughput of one deployment; with --load, percentiles under a load.

    Examples:

    \b
      planner predict 13B --gpu l40s --precision int4
      planner predict llama-2-7b --gpu a100-sxm-80gb --precision fp16 --batch 1 --input 128 --output 128
      planner predict llama-3.1-70b --gpu h100 --gpus 8 --tp 4 --precision fp8 --batch max --format json
      planner predict llama-3.1-8b --gpu l40s --kv-precision fp8 --batch 32 --engine sglang
      planner predict deepseek-v3 --gpu h200 --precision fp8 --dp 8 --ep 8 --batch max --engine sglang
      planner predict deepseek-v3 --gpu h200 --precision fp8 --tp 8 --batch 256 --input 8192 --output 1024 --disaggregated --prefill-pool workers=2 --decode-pool dp=8,ep=8
      planner predict llama-3.1-8b --gpu h100 --precision fp8 --load concurrency:64
      planner predict llama-3.1-8b --gpu h100 --precision fp8 --load rate:5/s --input lognormal:mean=1024,p99=4096 --output lognormal:mean=256,p99=1024
      planner predict llama-3.1-8b --gpu h100 --load rate:300/min --burstiness 2 --requests 5000 --seed 1 --format json
      planner predict llama-3.1-8b --gpu h100 --load burst:16 --input uniform:low=100,high=2000
    """
    from planner.cli.load_options import lengths_option, load_option, requests_option, seed_option
    from planner.model.predict import predict as run_predict, prediction_dict
    from planner.report.predict import prediction_renderables

    fmt = _check_format(fmt, ("table", "json"))
    for value, flag in ((gpu, "--gpu"), (precision, "--precision"), (engine, "--engine")):
        _given(value, flag, optional=False)
    kv_precision = _given(kv_precision, "--kv-precision")
    input_n, output_n, lengths = lengths_option(_given(input_tokens, "--input"), _given(output_tokens, "--output"),
                                                lengths_file)
    load_form = load_option(_given(load, "--load"), _given(burstiness, "--burstiness"))
    simulated = requests_option(_given(requests, "--requests"))
    cat = _catalog(catalog)
    if disaggregated_ or prefill_pool is not None or decode_pool is not None:
        _predict_disaggregated(cat, model, gpu, precision, kv_precision, engine, tp, dp, ep, pp, gpus, batch, input_n,
                               output_n, lengths, load_form, prefill_pool, decode_pool, memory_utilization,
                               rope_scaling, disaggregated_, fmt, output, max_batch=max_batch, requests=simulated)
        return
    result = run_predict(
        cat, model, gpu, precision=precision, kv_precision=kv_precision, gpus=gpus, tp=tp, pp=pp, dp=dp, ep=ep,
        batch=_batch(batch), input_tokens=input_n, output_tokens=output_n, engine=engine,
        memory_utilization=memory_utilization, max_batch=max_batch, rope_scaling=rope_scaling,
        lengths=lengths, load=load_form, requests=simulated, seed=seed_option(seed),
    )
    _warn(result.spec.warnings)
    if fmt == "json":
        _emit(to_json(prediction_dict(result)) + "\n", output)
    elif output is not None:
        _emit(_render_text(prediction_renderables(result, width=TEXT_WIDTH)), output)
    else:
        _print(*prediction_renderables(result, width=_layout_width()))


def _predict_disaggregated(cat, model, gpu, precision, kv_precision, engine, tp, dp, ep, pp, gpus, batch, input_n,
                           output_n, lengths, load_form, prefill_pool, decode_pool, memory_utilization, rope_scaling,
                           asked, fmt, output, *, max_batch=None, requests=None) -> None:
    """`predict --disaggregated`: the two pools' closed loop (planner/model/predict_pools.py)."""
    from planner.model.predict_pools import parse_pool, pools_dict, pools_lines, predict_pools
    from planner.model.workload import DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS

    if not asked:
        raise InputError("--prefill-pool and --decode-pool describe the pools of --disaggregated", hint="add --disaggregated")
    for value, flag in ((gpus, "--gpus"), (lengths, "--input/--output distributions or --lengths"), (load_form, "--load"),
                        (max_batch, "--max-batch"), (requests, "--requests")):
        if value is not None:
            raise InputError(f"{flag} does not apply with --disaggregated",
                             hint="give the pools' workers with --prefill-pool/--decode-pool workers=N, and the clients with --batch N")
    clients = _batch(batch)
    if clients == "max":
        raise InputError("--batch max does not apply with --disaggregated", hint="give the clients in the loop: --batch 64")
    result = predict_pools(
        cat, model, gpu, precision=precision, kv_precision=kv_precision, engine=engine, tp=tp, dp=dp, ep=ep, pp=pp,
        batch=int(clients), input_tokens=input_n or DEFAULT_INPUT_TOKENS, output_tokens=output_n or DEFAULT_OUTPUT_TOKENS,
        prefill=parse_pool(prefill_pool, "--prefill-pool"), decode=parse_pool(decode_pool, "--decode-pool"),
        memory_utilization=memory_utilization, rope_scaling=rope_scaling,
    )
    if fmt == "json":
        _emit(to_json(pools_dict(result)) + "\n", output)
    else:
        _emit("\n".join(pools_lines(result)) + "\n", output)


@app.command("capacity", cls=_Command)
def capacity_command(
    model: ModelArgument,
    gpu: Annotated[str, typer.Option("--gpu", metavar="GPU", autocompletion=complete.gpu, help="GPU id or alias (see `planner catalog list gpus`).")],
    precision: Annotated[str, typer.Option("--precision", "-p", metavar="PRECISION", autocompletion=complete.precision, help="Weight precision.")] = "bf16",
    kv_precision: Annotated[
        Optional[str], typer.Option("--kv-precision", metavar="PRECISION", autocompletion=complete.kv_precision, help="KV-cache precision (default: 16-bit).")
    ] = None,
    gpus: Annotated[Optional[int], typer.Option("--gpus", metavar="N", help="GPUs in the deployment (default tp x pp); replicas = gpus / (tp x pp) share the load evenly.")] = None,
    tp: Annotated[int, typer.Option("--tp", metavar="N", help="Tensor-parallel degree per replica.")] = 1,
    pp: Annotated[int, typer.Option("--pp", metavar="N", help="Pipeline-parallel degree per replica.")] = 1,
    latency: Annotated[Optional[str], typer.Option("--latency", "--tpot", metavar="[STAT:]DURATION", help="TPOT target at a percentile over requests (default p99): 200ms, p90:50ms.")] = None,
    ttft: Annotated[Optional[str], typer.Option("--ttft", metavar="[STAT:]DURATION", help="TTFT target, queueing included (default p99): 2s.")] = None,
    e2e: Annotated[Optional[str], typer.Option("--e2e", metavar="[STAT:]DURATION", help="End-to-end target (default p99): 30s.")] = None,
    input_tokens: Annotated[str, typer.Option("--input", metavar="TOKENS|DIST", help="Prompt tokens per request: a count, or 'lognormal:mean=1024,p99=4096[,max=8192]', 'uniform:low=100,high=2000'.")] = "512",
    output_tokens: Annotated[str, typer.Option("--output", metavar="TOKENS|DIST", help="Generated tokens per request: a count or a distribution, as --input.")] = "256",
    lengths_file: Annotated[Optional[Path], typer.Option("--lengths", metavar="FILE", help="CSV or JSONL of (input, output) lengths per request, sampled instead of --input/--output.")] = None,
    burstiness: Annotated[float, typer.Option("--burstiness", metavar="CV", help="Coefficient of variation of the gaps between requests: 1 is Poisson (default).")] = 1.0,
    requests: Annotated[int, typer.Option("--requests", metavar="N", help="Requests simulated per trial rate (default 2,000, as fit's capacity search).")] = 2000,
    engine: Annotated[str, typer.Option("--engine", metavar="ENGINE", autocompletion=complete.engine, help="vllm, trtllm, sglang, ...")] = question.DEFAULT_ENGINE,
    memory_utilization: Annotated[
        Optional[float], typer.Option("--memory-utilization", metavar="SHARE", help="Share of GPU memory the engine may use (default: the engine's).")
    ] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    catalog: CatalogOption = None,
) -> None:
    """The highest request rate a deployment serves within percentile latency targets.

    Simulates the engine's continuous batching at trial arrival rates and
    reports the highest that meets every target, the requests in flight at
    it (Little's law), and the latency percentiles there.

    Examples:

    \b
      planner capacity llama-3.1-70b --gpu h100 --gpus 8 --tp 8 --precision fp8 --ttft p99:2s --tpot p99:200ms
      planner capacity llama-3.1-8b --gpu l40s --ttft 500ms --latency p90:40ms --input lognormal:mean=1024,p99=4096
      planner capacity llama-3.1-8b --gpu a100-sxm-80gb --ttft 1s --burstiness 2 --format json
    """
    from planner.model import capacity as cap_model
    from planner.model.lengths import Lengths, Samples, parse_distribution, read_lengths
    from planner.model.predict import predict as run_predict
    from planner.model.slo import Metric, Slo, parse_target
    from planner.model.traffic import Open
    from planner.report.capacity import CapacityAnswer, capacity_dict, capacity_renderables

    fmt = _check_format(fmt, ("table", "json"))
    for value, flag in ((gpu, "--gpu"), (precision, "--precision"), (engine, "--engine")):
        _given(value, flag, optional=False)
    slos = []
    for text, flag, metric in ((latency, "--latency", Metric.TPOT), (ttft, "--ttft", Metric.TTFT), (e2e, "--e2e", Metric.E2E)):
        text = _given(text, flag)
        if text is not None:
            statistic, seconds = parse_target(text, flag)
            slos.append(Slo(metric, seconds, statistic))
    if not slos:
        raise InputError("capacity needs at least one latency target", hint="e.g. --ttft p99:2s --tpot p99:200ms")
    Open(1.0, max(1, requests), burstiness)  # the same checks as a run: one-line errors for a bad cv or count
    if requests < 50:
        raise InputError(f"--requests {requests} is too few to judge a p99", hint="give at least 50 (default 2,000)")
    lengths: Lengths | Samples
    if lengths_file is not None:
        lengths = read_lengths(lengths_file)
        in_label, out_label = f"{lengths_file.name} (sampled)", f"{lengths_file.name} (sampled)"
    else:
        lengths = Lengths(parse_distribution(input_tokens), parse_distribution(output_tokens))
        in_label, out_label = input_tokens.strip(), output_tokens.strip()
    from planner.model.closed_loop import length_moments
    means = length_moments(lengths)
    cat = _catalog(catalog)
    kv_precision = _given(kv_precision, "--kv-precision")
    prediction = run_predict(
        cat, model, gpu, precision=precision, kv_precision=kv_precision, gpus=gpus, tp=tp, pp=pp, batch=1,
        input_tokens=max(1, round(means.input)), output_tokens=max(1, round(means.output)), engine=engine,
        memory_utilization=memory_utilization,
    )
    _warn(prediction.spec.warnings)
    found = cap_model.capacity(prediction.spec.model, prediction.deployment, lengths, tuple(slos), requests=requests,
                               cv=burstiness)
    answer = CapacityAnswer(prediction, found, tuple(slos), burstiness, in_label, out_label)
    if fmt == "json":
        _emit(to_json(capacity_dict(answer)) + "\n", output)
    elif output is not None:
        _emit(_render_text(capacity_renderables(answer, width=TEXT_WIDTH)), output)
    else:
        _print(*capacity_renderables(answer, width=_layout_width()))


@app.command("validate", cls=_Command)
def validate_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV of published measurements, in the columns of the validation set.")],
    summary_only: Annotated[bool, typer.Option("--summary", help="Print only the per-metric summary.")] = False,
    fmt: FormatOption = "table",
    catalog: CatalogOption = None,
) -> None:
    """Predict every measurement in a CSV and report the errors.

    Examples:

    \b
      planner validate benchmarks/data/measured.csv
      planner validate benchmarks/data/measured.csv --summary --format json
    """
    from planner.report.predict import validation_renderables
    from planner.model.validation import read_rows, report_dict, validate

    fmt = _check_format(fmt, ("table", "json"))
    cat = _catalog(catalog)
    report = validate(cat, read_rows(file))
    if fmt == "json":
        data = report_dict(report)
        if summary_only:
            data.pop("rows")
        print(to_json(data))
    else:
        _print(*validation_renderables(report, show_rows=not summary_only, width=_layout_width()))


# --- catalog ------------------------------------------------------------

_SECTIONS = ("gpus", "precisions", "models", "engines", "support", "providers", "instances", "servers")
_SECTION_WORDS = "gpus, precisions, models, engines, support, providers, instances or servers"


@catalog_app.command("list", cls=_Command)
def catalog_list(
    section: Annotated[Optional[str], typer.Argument(metavar="SECTION", autocompletion=complete.section, help=f"{_SECTION_WORDS} (default: all).")] = None,
    fmt: FormatOption = "table",
    catalog: CatalogOption = None,
) -> None:
    """List catalog entries.

    Examples:

    \b
      planner catalog list
      planner catalog list gpus
      planner catalog list models --format json
      planner catalog list instances
    """
    from planner.report.catalog import catalog_renderables, catalog_rows

    fmt = _check_format(fmt, ("table", "json"))
    if section is not None and section not in _SECTIONS:
        raise InputError(f"unknown catalog section '{section}'", hint=f"expected {_SECTION_WORDS}")
    cat = _catalog(catalog)
    sections = [section] if section else list(_SECTIONS)
    if fmt == "json":
        print(to_json({s: catalog_rows(cat, s) for s in sections}))
    else:
        _print(*catalog_renderables(cat, sections, width=_layout_width()))


@catalog_app.command("show", cls=_Command)
def catalog_show(
    entry: Annotated[str, typer.Argument(metavar="ENTRY", autocompletion=complete.entry, help="Id or alias of a GPU, precision or model.")],
    catalog: CatalogOption = None,
) -> None:
    """Show one catalog entry with every figure and its source; for a GPU, also
    what runs there: per engine, each weight and KV-cache format as native,
    weight-only (the rate its GEMMs run at) or no (catalog/support.yaml).

    Examples:

    \b
      planner catalog show h100-sxm
      planner catalog show int4
      planner catalog show llama-3.1-70b
    """
    from planner.report.catalog import gpu_offers, gpu_support

    cat = _catalog(catalog)
    found = cat.find(entry)
    if found is None:
        raise InputError(f"no catalog entry '{entry}'", hint="see `planner catalog list`")
    section, item = found
    shown = {"section": section, **item.model_dump(mode="json", exclude_none=True)}
    if section == "gpus":
        shown.pop("prices", None)  # prices live in the price book: where the GPU is offered, below
        shown["offers"] = gpu_offers(cat, item)
        shown["runs"] = gpu_support(cat, item)
    print(to_json(shown))


@catalog_app.command("validate", cls=_Command)
def catalog_validate(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A catalog YAML file, checked as an overlay on the built-in catalog.")],
) -> None:
    """Check a catalog file: exit 0 when valid, else print every problem, one a line.

    Examples:

    \b
      planner catalog validate my-prices.yaml
    """
    problems = validate_file(file)
    if problems:
        raise CatalogError(f"{file}: {len(problems)} problem(s)", problems)
    # Still exit 0 when the file changes nothing: it is valid, and an overlay
    # emptied on purpose should not fail a CI job; the line says so instead.
    added, changed = overlay_changes(file)
    if not added and not changed:
        print(f"{file}: valid, but adds or changes nothing (no entries, or only what the built-in catalog already says)")
    else:
        print(f"{file}: valid (adds {len(added)} and changes {len(changed)} catalog entries)")


# --- entry point --------------------------------------------------------


def _say(text: str) -> None:
    """One message on stderr; if its reader has gone too, the exit code alone tells."""
    try:
        print(text, file=sys.stderr)
    except BrokenPipeError:
        _to_devnull(sys.stderr)


def _warn(warnings: tuple[str, ...]) -> None:
    """Warnings about the model read (a parsed config's count against its
    checkpoint's), one line each on stderr, ahead of the answer."""
    for line in warnings:
        _say(f"planner: warning: {one_line(line)}")


def _fail(message: str, code: int) -> None:
    _say(f"planner: error: {message}")
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: no traceback ever reaches the user."""
    args = list(sys.argv[1:] if argv is None else argv)
    run = _RUN_CONSOLE.set(None)
    try:
        _run(args)
    finally:
        _RUN_CONSOLE.reset(run)


def _command_path(args: list[str]) -> str:
    """`planner catalog list` for the command the words of ``args`` name, as far as they name one."""
    words, command = ["planner"], typer.main.get_command(app)
    for arg in args:
        commands = getattr(command, "commands", {})
        if arg not in commands:
            break
        words.append(arg)
        command = commands[arg]
    return " ".join(words)


def _pipe_closed() -> None:
    """Leave quietly with exit 0: the reader took what it wanted."""
    _to_devnull(sys.stdout)
    sys.exit(EXIT_OK)


def _to_devnull(stream: Any) -> None:
    """Point a stream's descriptor at /dev/null, so the interpreter's last flush meets no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):  # not a file (tests capture it)
        pass


_COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")  # the shells typer writes completion scripts for


def _check_completion_shell(args: list[str]) -> None:
    """`--install-completion` and `--show-completion` write for the shell
    planner runs in; where there is none, or one typer has no script for, say
    so in one line (typer itself prints its own words and exits 1, planner's
    code for a bug)."""
    root_options = set(itertools.takewhile(lambda arg: arg.startswith("-"), args))
    if not {"--install-completion", "--show-completion"} & root_options:
        return
    import shellingham  # type: ignore[import-untyped]

    try:
        shell, _ = shellingham.detect_shell()
    except shellingham.ShellDetectionFailure:
        shell = None
    if shell not in _COMPLETION_SHELLS:
        problem = "cannot tell which shell planner runs in" if shell is None else f"no completion for the shell '{shell}'"
        raise InputError(problem, hint="run it from bash, zsh, fish or PowerShell, e.g. bash -ic 'planner --install-completion'")


def _run(args: list[str]) -> None:
    try:
        _check_completion_shell(args)
        # Not standalone: usage errors, --help and --version come back here, so
        # they are reported in planner's one-line form and a closed pipe is not exit 1.
        code = app(args=args, prog_name="planner", obj={"argv": args}, standalone_mode=False)
        if code == 130:  # click turns an interrupt into this exit code
            _fail("interrupted", 130)
        if isinstance(code, int) and code:
            sys.exit(code)
    except NoArgsIsHelpError as exc:  # `planner` or `planner catalog` alone: the help, as a usage error
        _say(exc.format_message())
        sys.exit(EXIT_BAD_INPUT)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else _command_path(args)
        message = " ".join(exc.format_message().split()).rstrip(".")
        _fail(f"{message} (see {command} --help)", EXIT_BAD_INPUT)
    except typer.Abort:
        _fail("interrupted", 130)
    except _PipeClosed:
        _pipe_closed()
    except CatalogError as exc:
        if len(exc.problems) > 1 or exc.problems[0] != exc.message:
            for line in exc.problems:
                _say(f"planner: catalog: {line}")
        _fail(str(exc), exc.exit_code)
    except PlannerError as exc:
        _fail(exc.render(_flags(args)), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        _pipe_closed()
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("PLANNER_DEBUG"):
            raise
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 200 else detail[:200] + "..."
        _fail(f"internal error: {type(exc).__name__}: {detail} (set PLANNER_DEBUG=1 for a traceback, and please report it)",
              EXIT_INTERNAL)


from planner.cli import calibrate as _calibrate  # noqa: E402,F401  (registers `planner calibrate`; it imports app)
