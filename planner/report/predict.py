"""Terminal layout of `planner predict` and `planner validate` results."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from planner.catalog.schema import ModelKind
from planner.model.predict import Prediction
from planner.model.validation import Report
from planner.report.format import TextTable, duration, gigabytes, milliseconds_fixed, significant
from planner.report.layout import laid_out


def prediction_renderables(p: Prediction, width: int = 120) -> list[Any]:
    """Rich renderables laid out for ``width`` columns, no number cut."""
    dep, m, t = p.deployment, p.memory, p.timing
    where = f"{p.gpus}x {dep.gpu.id}" + (f" (TP {dep.tp}, PP {dep.pp}, {p.replicas} replica{'s' if p.replicas > 1 else ''})" if p.gpus > 1 else "")
    batch = dep.batch * p.replicas
    fit = (f"fits: {gigabytes(m.per_gpu)} of {gigabytes(m.capacity_per_gpu)} usable per GPU"
           if p.fits else f"DOES NOT FIT: {p.fit_reason}")
    if p.spec.model.kind is ModelKind.ENCODER:
        headline = (f"{p.spec.label} on {where}, {dep.precision.id}, {dep.engine.name}: "
                    f"{duration(t.e2e_s)} per forward pass of {batch} x {p.shape.input} tokens, "
                    f"{t.samples_per_s * p.replicas:,.1f} samples/s; {fit}.")
    else:
        tpot = f"TPOT {duration(t.tpot_s)}, " if t.tpot_s is not None else ""
        headline = (f"{p.spec.label} on {where}, {dep.precision.id} weights, {dep.kv_precision.id} KV cache, "
                    f"{dep.engine.name}, batch {batch}{' (largest that fits)' if p.batch_was_max else ''}: "
                    f"TTFT {duration(t.ttft_s)}, {tpot}{t.tokens_per_s * p.replicas:,.0f} output tokens/s; {fit}.")

    mem = TextTable(title="Memory, one replica", title_justify="left")
    for col in ("part", "replica total", "per GPU (max)"):
        mem.add_column(col, justify="left" if col == "part" else "right", no_wrap=col != "part")
    mem.add_row("weights", gigabytes(m.weights), gigabytes(m.weights_per_gpu))
    mem.add_row("KV cache", gigabytes(m.kv_cache), gigabytes(m.kv_cache_per_gpu))
    mem.add_row("activations", gigabytes(m.activations), gigabytes(m.activations_per_gpu))
    mem.add_row("runtime (CUDA context, workspace)", gigabytes(m.runtime), gigabytes(m.runtime_per_gpu))
    mem.add_row("total", gigabytes(m.total), gigabytes(m.per_gpu))
    mem.add_row(f"usable capacity ({dep.utilization:.0%} of {dep.gpu.memory_total_gib:g} GiB)", "",
                gigabytes(m.capacity_per_gpu))

    lat = TextTable(title="Time per forward pass", title_justify="left")
    for col in ("pass", "memory", "compute", "communication", "fixed", "total", "bound by"):
        lat.add_column(col, justify="left" if col in ("pass", "bound by") else "right", no_wrap=col != "pass")
    passes = [("prefill (first token)", t.prefill)]
    if t.decode is not None:
        passes.append((f"decode step (mid-output, batch {dep.batch})", t.decode))
    for name, x in passes:
        lat.add_row(name, milliseconds_fixed(x.memory_s), milliseconds_fixed(x.compute_s), milliseconds_fixed(x.communication_s), milliseconds_fixed(x.overhead_s), milliseconds_fixed(x.total_s), x.bound)

    if t.tpot_s is None:  # an encoder: one forward pass, no output tokens
        shape = (f"Request shape: {p.shape.input:,} input tokens per sequence, one forward pass (an encoder "
                 f"generates no tokens). GEMMs run in {p.matmul_format}.")
    else:
        shape = (f"Request shape: {p.shape.input:,} input and {p.shape.output:,} output tokens per sequence. "
                 f"GEMMs run in {p.matmul_format}. e2e = TTFT + (output - 1) x TPOT = {duration(t.e2e_s)}.")
    notes = [
        shape,
        f"Efficiency factors for {dep.engine.id} on {dep.gpu.memory_class.upper()} GPUs are fitted: bandwidth "
        f"{p.factors.bandwidth:.0%}, compute {p.factors.compute:.0%} of peak ({dep.engine.fitted_on}).",
    ]
    if p.spec.note:
        notes.append(f"Model: {p.spec.note}.")
    if p.spec.approximate:
        notes.append(f"APPROXIMATE: no catalog model is named, so the architecture is derived for the count "
                     f"({p.spec.model.notes}).")
    parts = [f"Memory: {row}" for row in ("weights", "KV cache", "activations", "runtime", "total", "usable capacity")]
    return [Text(headline, style="bold"), *laid_out(mem, width, parts),
            *laid_out(lat, width, [f"Time: {name}" for name, _ in passes]), Text("\n".join(notes), style="dim")]


def validation_renderables(report: Report, show_rows: bool = True, width: int = 120) -> list[Any]:
    out: list[Any] = []
    if show_rows:
        rows = TextTable(title="Per measurement", title_justify="left")
        for col in ("row", "case", "metric", "measured", "predicted", "error"):
            number = col in ("row", "measured", "predicted", "error")
            # "error" holds a skipped row's reason too: it wraps, and a percentage is one word
            rows.add_column(col, justify="right" if number else "left", no_wrap=col in ("row", "measured", "predicted"))
        for o in report.outcomes:
            if o.skipped or o.measured is None or o.predicted is None:
                rows.add_row(str(o.row), o.label, o.metric, "", "", f"skipped: {o.skipped}")
            else:
                error = (o.predicted - o.measured) / o.measured  # Outcome.error, narrowed for the type checker
                rows.add_row(str(o.row), o.label, o.metric, significant(o.measured, 4), significant(o.predicted, 4),
                             f"{100 * error:+.1f}%")
        out.extend(laid_out(rows, width, [f"Row {o.row}" for o in report.outcomes]))
    summary = TextTable(title="Error by metric", title_justify="left")
    for col in ("metric group", "rows", "median |error|", "bias (median)", "within 25%"):
        summary.add_column(col, justify="left" if col == "metric group" else "right", no_wrap=col != "metric group")
    for s in report.summaries():
        summary.add_row(s.group, str(s.n), f"{100 * s.median_ape:.1f}%", f"{100 * s.bias:+.1f}%", f"{100 * s.within_25:.0f}%")
    out.extend(laid_out(summary, width, [s.group for s in report.summaries()]))
    skipped = len(report.outcomes) - len(report.answered)
    out.append(Text(f"{len(report.answered)} rows answered, {skipped} skipped (reason given per row). "
                    "Memory rows compare allocator peaks, so the CUDA context is left out of the prediction.", style="dim"))
    return out
