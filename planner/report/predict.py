"""Terminal layout of `planner predict` and `planner validate` results."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from planner.catalog.schema import ModelKind
from planner.model.predict import Prediction, describe_distribution
from planner.model.lengths import Samples
from planner.model.under_load import MIN_LIFETIMES
from planner.model.under_load import ServingPrediction, is_fixed, mean_lengths
from planner.model.validation import Report
from planner.report.format import TextTable, duration, gigabytes, milliseconds_fixed, number, significant
from planner.report.layout import laid_out


def prediction_renderables(p: Prediction, width: int = 120) -> list[Any]:
    """Rich renderables laid out for ``width`` columns, no number cut."""
    dep, m, t = p.deployment, p.memory, p.timing
    split = f"TP {dep.tp}, " + (f"DP {dep.dp}, " if dep.dp > 1 else "") + (f"EP {dep.ep}, " if dep.ep > 1 else "")
    where = f"{p.gpus}x {dep.gpu.id}" + (f" ({split}PP {dep.pp}, {p.replicas} replica{'s' if p.replicas > 1 else ''})" if p.gpus > 1 else "")
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
                    f"{dep.engine.name}, batch {batch}{' (largest that fits)' if p.batch_was_max else ''}"
                    f"{f', mean lengths {p.shape.input:,} in and {p.shape.output:,} out' if p.lengths_are_means else ''}: "
                    f"TTFT {duration(t.ttft_s)}, {tpot}{t.tokens_per_s * p.replicas:,.0f} output tokens/s; {fit}.")

    served: list[Any] = []
    if p.serving is not None:
        headline = _serving_headline(p, p.serving, where, fit)
        served = _serving_renderables(p.serving, width)

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

    if p.serving is not None:
        static = (f"Memory and time per forward pass are the static figures: one batch of {batch} at fixed lengths"
                  f"{' (the means of the drawn lengths)' if p.lengths_are_means else ''}, no queueing.")
    elif p.lengths_are_means:
        static = ("Lengths are a distribution without a load: every figure is at its mean lengths, rounded to "
                  "whole tokens. Add --load for percentiles over drawn lengths.")
    else:
        static = ""
    if t.tpot_s is None:  # an encoder: one forward pass, no output tokens
        shape = (f"Request shape: {p.shape.input:,} input tokens per sequence, one forward pass (an encoder "
                 f"generates no tokens). GEMMs run in {p.matmul_format}.")
    else:
        shape = (f"Request shape: {p.shape.input:,} input and {p.shape.output:,} output tokens per sequence. "
                 f"GEMMs run in {p.matmul_format}. e2e = TTFT + (output - 1) x TPOT = {duration(t.e2e_s)}.")
    notes = [
        *([static] if static else []),
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
    return [Text(headline, style="bold"), *served, *laid_out(mem, width, parts),
            *laid_out(lat, width, [f"Time: {name}" for name, _ in passes]), Text("\n".join(notes), style="dim")]


def _load_words(sv: ServingPrediction) -> str:
    return f"{sv.load.text} ({sv.load.describe()})"


def _serving_headline(p: Prediction, sv: ServingPrediction, where: str, fit: str) -> str:
    dep, s = p.deployment, sv.summary
    head = (f"{p.spec.label} on {where}, {dep.precision.id} weights, {dep.kv_precision.id} KV cache, "
            f"{dep.engine.name}, under {_load_words(sv)}: ")
    if sv.overload is not None:
        o = sv.overload
        return (head + f"overloaded: the queue grows by {number(o.queue_growth_per_s)} requests/s; the replica serves "
                f"at most about {number(o.served_per_s)} req/s (arrivals {number(o.arrivals_per_s)} req/s). "
                "Its latencies grow with the run's length, so the figures below describe this run, not a steady state; "
                f"{fit}.")
    parts = []
    if s.ttft is not None:
        parts.append(f"TTFT p50 {duration(s.ttft.p50)}, p99 {duration(s.ttft.p99)}")
    if s.tpot is not None:
        parts.append(f"TPOT p50 {duration(s.tpot.p50)}, p99 {duration(s.tpot.p99)}")
    parts.append(f"{s.tokens_per_s:,.0f} output tokens/s, {number(s.requests_per_s)} requests/s")
    return head + "; ".join(parts) + f"; {fit}."


def _serving_renderables(sv: ServingPrediction, width: int) -> list[Any]:
    s, st = sv.summary, sv.settings
    title = "Latency under load, one replica"
    lat = TextTable(title=title, title_justify="left")
    for col in ("metric", "mean", "p50", "p90", "p99"):
        lat.add_column(col, justify="left" if col == "metric" else "right", no_wrap=col != "metric")
    rows = [("TTFT", s.ttft), ("TPOT (per request)", s.tpot), ("ITL (each token gap)", s.itl),
            ("e2e", s.e2e), ("queue wait", s.queue_wait)]
    shown = [(name, x) for name, x in rows if x is not None]
    for name, x in shown:
        lat.add_row(name, duration(x.mean), duration(x.p50), duration(x.p90), duration(x.p99))

    facts = TextTable(title="Throughput and capacity", title_justify="left")
    facts.add_column("figure", justify="left")
    facts.add_column("value", justify="right", no_wrap=True)
    facts.add_row("output tokens/s", f"{s.tokens_per_s:,.0f}")
    facts.add_row("requests/s", number(s.requests_per_s))
    facts.add_row("mean requests in the system (queued or running)", number(s.mean_concurrency))
    facts.add_row("mean requests running", number(s.mean_running))
    facts.add_row("KV-cache capacity", f"{sv.served.kv_capacity:,} tokens")
    facts.add_row("preemptions (recomputed)", f"{sv.served.preemptions:,}")
    fact_names = ["output tokens/s", "requests/s", "mean in the system", "mean running", "KV-cache capacity",
                  "preemptions"]

    if isinstance(sv.lengths, Samples):
        lengths = f"drawn from {len(sv.lengths.pairs):,} (input, output) pairs of {sv.lengths.origin}"
    else:
        lengths = (f"input {describe_distribution(sv.lengths.input)}, output "
                   f"{describe_distribution(sv.lengths.output)} tokens")
    mean = mean_lengths(sv.lengths)
    cap = "only the KV cache limits running sequences" if st.max_num_seqs is None else f"max_num_seqs {st.max_num_seqs:,}"
    requests = "" if not sv.requests_defaulted else f" ({sv.requests_rule}; --requests sets it)"
    notes = [
        f"Simulated {sv.requests:,} requests{requests}, {s.requests:,} of them finished in the summary window; "
        f"seed {sv.seed}; lengths {lengths} "
        f"(means {mean.input:,} and {mean.output:,}).",
        f"Summary window {duration(sv.window.start_s)} to {duration(sv.window.end_s)} of simulated time: "
        f"{sv.window.rule}"
        + ("" if sv.window.lifetimes is None else f"; it spans {sv.window.lifetimes:,.1f} mean request lifetimes")
        + ". Percentiles are nearest-rank over requests finished in the window.",
        f"Scheduler: {cap}, {st.max_num_batched_tokens:,} tokens per step, chunked prefill "
        f"{'on' if st.chunked_prefill else 'off'}, {st.policy.value} steps, {st.admission.value} KV admission "
        f"({sv.settings_source}).",
    ]
    if sv.load.kind == "concurrency" and is_fixed(sv.lengths) and sv.load.size and sv.load.size > 1:
        notes.append("Equal lengths keep clients that start together in lockstep: they finish together and resend "
                     "together, so each TTFT waits for the whole batch's prefill. Measured clients drift apart; give "
                     "--input/--output distributions or --lengths for a spread.")
    if sv.short_window and sv.steady:
        notes.append(f"SHORT RUN: the window spans fewer than {MIN_LIFETIMES} mean request lifetimes, so the "
                     "warm-up may still show in these figures: raise --requests.")
    return [*laid_out(lat, width, [name for name, _ in shown]), *laid_out(facts, width, fact_names),
            Text("\n".join(notes), style="dim")]


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
