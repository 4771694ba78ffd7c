"""Score the model against published measurements (`planner validate`).

Reads rows in the format of the validation CSV (source, framework, model,
gpu, n_gpus, tp, pp, weight_precision, kv_precision, batch_size, input_len,
output_len, metric, value, unit), maps each to catalog names by general
rules (never by row), predicts it, and reports per-row and per-metric error.
Only a regular file within MAX_CSV_BYTES is read; a file that is not CSV or
lacks a column is refused whole (InputError, exit 2). Within a good file a
row that cannot be used (one it cannot map to the catalog, too few or too many
fields, a NUL byte, counts that are not whole and bounded, a measured value
that is not finite and positive) is skipped, numbered as a spreadsheet shows
it, with the reason; the rest are still scored.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.model import perf
from planner.catalog.load import Catalog
from planner.core.errors import InputError, PlannerError
from planner.model.resolve import resolve_spec
from planner.catalog.schema import EngineFactors, ModelKind
from planner.model.workload import Deployment, ModelSpec, Shape

MAX_CSV_BYTES = 5_000_000
VALIDATION_TPOT_SAMPLES = 16  # finer than planning needs: these rows are few and the fit reads them often
REQUIRED_COLUMNS = (
    "framework", "model", "gpu", "n_gpus", "tp", "pp", "weight_precision", "kv_precision",
    "batch_size", "input_len", "output_len", "metric", "value", "unit",
)

# Which engine a framework string names: first keyword found wins.
ENGINE_KEYWORDS = (
    ("tensorrt-llm", "trtllm"),
    ("lmdeploy", "lmdeploy"),
    ("llama.cpp", "llama.cpp"),
    ("vllm", "vllm"),
    ("sglang", "sglang"),
    ("transformers", "transformers"),
    ("tensorrt", "tensorrt"),
)

# Metric -> the group its error is reported in.
METRIC_GROUPS = {
    "decode_tokens_per_s_per_user": "decode",
    "tpot_ms": "decode",
    "ttft_ms": "ttft",
    "prefill_tokens_per_s": "ttft",
    "output_tokens_per_s_total": "throughput",
    "e2e_latency_ms": "encoder",
    "memory_gb": "memory",
}


@dataclass(frozen=True)
class Case:
    """One measurement mapped onto catalog entries."""

    row: int
    spec: ModelSpec
    deployment: Deployment  # batch is per replica
    shape: Shape
    replicas: int
    metric: str
    measured: float  # in the metric's own unit, whole system
    engine: str
    batch_from_engine: bool

    @property
    def group(self) -> str:
        return METRIC_GROUPS[self.metric]


@dataclass
class Outcome:
    row: int
    label: str
    metric: str
    measured: float | None
    predicted: float | None
    skipped: str | None = None

    @property
    def error(self) -> float | None:
        if self.measured is None or self.predicted is None:
            return None
        return (self.predicted - self.measured) / self.measured


@dataclass
class Summary:
    group: str
    n: int
    median_ape: float
    bias: float  # median signed error
    within_25: float  # share of rows within 25%


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.skipped is None]

    def summaries(self) -> list[Summary]:
        groups: dict[str, list[float]] = {}
        for o in self.answered:
            error = o.error
            assert error is not None, "an answered row has a measured and a predicted figure"
            groups.setdefault(METRIC_GROUPS[o.metric], []).append(error)
        result = []
        for group in ("decode", "ttft", "throughput", "encoder", "memory"):
            errors = groups.get(group)
            if not errors:
                continue
            result.append(Summary(
                group=group,
                n=len(errors),
                median_ape=statistics.median(abs(e) for e in errors),
                bias=statistics.median(errors),
                within_25=sum(abs(e) <= 0.25 for e in errors) / len(errors),
            ))
        return result


# --- reading and mapping ---------------------------------------------------------


def bundled_measurements() -> Path | None:
    """The published measurements shipped with planner (wheel or source tree)."""
    package = Path(__file__).resolve().parent.parent  # planner/
    for candidate in (package / "_data" / "measured.csv", package.parent / "benchmarks" / "data" / "measured.csv"):
        if candidate.is_file():
            return candidate
    return None



def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_CSV_BYTES.

    The file is opened without blocking (a FIFO would otherwise wait for a
    writer) and checked with fstat on the open descriptor, so what is checked
    is what is read; a device (/dev/zero) or FIFO is refused before a byte is
    read, and at most one byte over the limit is ever read, so a file growing
    under us is still bounded.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file", hint="give a CSV file")
        if info.st_size > MAX_CSV_BYTES:
            raise InputError(f"{path}: {info.st_size:,} bytes is over the {MAX_CSV_BYTES:,}-byte limit for validation files")
        chunks, left = [], MAX_CSV_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CSV_BYTES:
        raise InputError(f"{path}: over the {MAX_CSV_BYTES:,}-byte limit for validation files")
    return data


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """The rows of a validation CSV, as text keyed by column.

    Only a regular file within MAX_CSV_BYTES is read. A file that is not CSV
    (unterminated quote, NUL byte) or lacks a required column is refused
    (InputError, exit 2); rows themselves are checked one by one in
    `to_case`, where a bad row is skipped with its reason.
    """
    path = Path(path)
    try:
        text = _read_bounded(path).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read validation file '{path}': {getattr(exc, 'strerror', None) or exc}") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(f"{path}: not a valid CSV file: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}",
                         hint="use the columns of benchmarks/data/measured.csv")
    return rows


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def map_gpu(catalog: Catalog, text: str) -> str | None:
    """'H100 SXM 80GB' -> h100-sxm; 'A100 80GB (SXM assumed)' -> a100...; by
    trying the name with and without its memory size and parenthesis."""
    bare = re.sub(r"\(.*?\)", " ", text)
    candidates = [_slug(bare)]
    no_memory = re.sub(r"\b\d+\s*gb\b", " ", bare.lower())
    candidates.append(_slug(no_memory))
    for candidate in candidates:
        found = catalog.lookup("gpus", candidate)
        if found is not None:
            return found.id
    return None


def map_precision(catalog: Catalog, text: str) -> str | None:
    """'FP16 (GGUF F16)' -> fp16, 'Q4_K_M (~4.8 ...)' -> q4_k_m, 'GPTQ-Int4' -> int4."""
    head = text.strip().split(" ")[0].split("(")[0].lower()
    for candidate in (head, *head.split("-")):
        found = catalog.lookup("precisions", candidate)
        if found is not None:
            return found.id
    return None


def map_engine(framework: str) -> str | None:
    lowered = framework.lower()
    for keyword, engine in ENGINE_KEYWORDS:
        if keyword in lowered:
            return engine
    return None


def map_model(catalog: Catalog, text: str) -> str | None:
    bare = re.sub(r"\(.*?\)", " ", text)
    found = catalog.lookup("models", _slug(bare))
    return found.id if found is not None else None


# Bounds on a row's counts: far above any published measurement, low enough
# that every product of them stays a modest finite number.
MAX_ROW_GPUS = 1 << 16
MAX_ROW_BATCH = 10**6
MAX_ROW_TOKENS = 10**7
MAX_ROW_VALUE = 1e12  # ms, tokens/s or GB: unit conversions (x n_gpus, GiB -> GB) stay finite


class _BadRow(ValueError):
    """A field of a row that cannot be used: the row is skipped with this reason."""


def _optional_count(row: dict[str, str], column: str, least: int, most: int) -> int | None:
    """A whole number in [least, most], or None when the field is blank."""
    text = row[column].strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise _BadRow(f"{column} '{_shown(text)}' is not a number") from None
    if not math.isfinite(number) or not number.is_integer() or not least <= number <= most:
        raise _BadRow(f"{column} '{_shown(text)}' is not a whole number from {least:,} to {most:,}")
    return int(number)


def _count(row: dict[str, str], column: str, default: int, least: int, most: int) -> int:
    parsed = _optional_count(row, column, least, most)
    return default if parsed is None else parsed


def _measured(row: dict[str, str]) -> float:
    text = row["value"].strip()
    try:
        value = float(text)
    except ValueError:
        raise _BadRow(f"value '{_shown(text)}' is not a number") from None
    if not (math.isfinite(value) and 0 < value <= MAX_ROW_VALUE):
        raise _BadRow(f"value '{_shown(text)}' is not a finite positive number up to {MAX_ROW_VALUE:g}")
    return value


def _shown(text: str, limit: int = 60) -> str:
    """User text inside a message: one line, and cut short."""
    text = " ".join(text.split()).replace("\0", "\\0")
    return text if len(text) <= limit else text[:limit] + "..."


def _row_problem(row: dict[Any, Any]) -> str | None:
    """Why a row as the CSV reader gave it cannot be read at all, if it cannot."""
    fields = sum(value is not None for key, value in row.items() if key is not None)
    extra = row.get(None)
    if extra:
        return f"row has {fields + len(extra)} fields, the header {fields}"
    if any(row.get(column) is None for column in REQUIRED_COLUMNS):  # a short row; trailing optional columns may be left off
        return f"row has {fields} fields, the header {len(row)}"
    if any(isinstance(value, str) and "\0" in value for value in row.values()):
        return "row holds a NUL byte"
    return None


def to_case(catalog: Catalog, index: int, row: dict[str, str]) -> Case | str:
    """Map a row to a Case, or return why it cannot be mapped.

    A row that cannot be used (too few or too many fields, a NUL byte, a count
    that is not a whole number within bounds, a measured value that is not a
    finite positive number) is never an error for the whole file: like a row
    naming something outside the catalog, its reason is returned and
    `validate` reports it as skipped.
    """
    problem = _row_problem(row)
    if problem is not None:
        return problem
    metric = row["metric"].strip()
    if metric not in METRIC_GROUPS:
        return f"metric '{metric}' is not one planner predicts"
    model_id = map_model(catalog, row["model"])
    if model_id is None:
        return f"model '{row['model']}' is not in the catalog"
    gpu_id = map_gpu(catalog, row["gpu"])
    if gpu_id is None:
        return f"GPU '{row['gpu']}' is not in the catalog"
    weight = map_precision(catalog, row["weight_precision"])
    if weight is None:
        return f"weight precision '{row['weight_precision']}' is not in the catalog"
    engine = map_engine(row["framework"])
    if engine is None:
        return f"framework '{row['framework']}' maps to no engine"
    spec = resolve_spec(catalog, model_id)
    kv = map_precision(catalog, row["kv_precision"]) if spec.model.kind is ModelKind.DECODER else None
    if kv is None or not catalog.precision(kv).kv_cache:
        kv = "fp16"
    try:
        n_gpus = _count(row, "n_gpus", 1, 1, MAX_ROW_GPUS)
        tp = _count(row, "tp", 1, 1, MAX_ROW_GPUS)
        pp = _count(row, "pp", 1, 1, MAX_ROW_GPUS)
        batch = _optional_count(row, "batch_size", 1, MAX_ROW_BATCH)
        input_len = _count(row, "input_len", 0, 0, MAX_ROW_TOKENS)
        output_len = _count(row, "output_len", 0, 0, MAX_ROW_TOKENS)
        value = _measured(row)
    except _BadRow as exc:
        return str(exc)
    if not (n_gpus and tp and pp) or n_gpus % (tp * pp):
        return f"n_gpus {n_gpus} is not a multiple of tp x pp"
    unit = row["unit"].strip()
    if metric == "output_tokens_per_s_total" and unit == "tokens/s/GPU":
        value *= n_gpus
    if metric == "memory_gb" and unit == "GiB":
        value *= 2**30 / 1e9
    replicas = n_gpus // (tp * pp)
    dep = Deployment(
        gpu=catalog.gpu(gpu_id), precision=catalog.precision(weight), kv_precision=catalog.precision(kv),
        engine=catalog.engine(engine), tp=tp, pp=pp, batch=1,
    )
    try:
        perf.check_deployment(spec.model, dep)
    except PlannerError as exc:
        return str(exc)
    shape = Shape(max(input_len, 1), output_len) if spec.model.kind is ModelKind.DECODER else Shape(max(input_len, 1), 0)
    from_engine = batch is None
    if batch is None:
        if METRIC_GROUPS[metric] == "throughput":
            batch = max(perf.max_batch(spec.model, dep, shape), 1) * replicas
        else:
            batch = replicas  # latency under light load: one sequence per replica
    per_replica = max(1, batch // replicas)
    dep = Deployment(**{**dep.__dict__, "batch": per_replica})
    return Case(index, spec, dep, shape, replicas, metric, value, engine, from_engine)


# --- predicting a case -------------------------------------------------------------


def predict_case(case: Case, factors: EngineFactors | None = None) -> float:
    """The case's metric as planner predicts it, whole system, metric's unit."""
    model, dep, shape = case.spec.model, case.deployment, case.shape
    factors = factors or dep.engine.factors_for(dep.gpu)
    if case.metric == "memory_gb":
        m = perf.memory(model, dep, shape)
        # Published peaks are allocator figures (torch max allocated): the CUDA
        # context is outside them, so it is left out of the comparison.
        return (m.total - perf.CUDA_CONTEXT_BYTES * dep.gpus) * case.replicas / 1e9
    if case.metric == "e2e_latency_ms":
        return perf.prefill(model, dep, factors, dep.batch, shape.input).total_s * 1e3
    if case.metric == "ttft_ms":
        return perf.prefill(model, dep, factors, dep.batch, shape.input).total_s * 1e3
    if case.metric == "prefill_tokens_per_s":
        t = perf.prefill(model, dep, factors, dep.batch, shape.input).total_s
        return dep.batch * shape.input * case.replicas / t
    if case.metric in ("decode_tokens_per_s_per_user", "tpot_ms"):
        # decode from the prompt's context (0 for llama-bench tg runs) over the output
        start = shape.input if shape.input > 1 else 0
        steps = max(shape.output, 1)
        passes = perf.decode_steps(model, dep, factors, dep.batch, start, steps, samples=VALIDATION_TPOT_SAMPLES)
        tpot = sum(x.total_s for x in passes) / len(passes)
        return 1.0 / tpot if case.metric.startswith("decode") else tpot * 1e3
    if case.metric == "output_tokens_per_s_total":
        timing = perf.timing(model, dep, shape, factors)
        if shape.output <= 1:
            return dep.batch * case.replicas / timing.prefill.total_s
        assert timing.tokens_per_s is not None, "a decoder's timing has a token rate"
        return timing.tokens_per_s * case.replicas
    raise AssertionError(case.metric)


def _label(row: dict[str, str]) -> str:
    model, gpu, weight, framework = (_shown(row.get(c) or "?") for c in ("model", "gpu", "weight_precision", "framework"))
    return f"{model} | {gpu} | {weight.split(' ')[0]} | {framework.split(' ')[0]}"


def validate(catalog: Catalog, rows: list[dict[str, str]]) -> Report:
    report = Report()
    for index, row in enumerate(rows, start=2):  # line numbers as a spreadsheet shows them
        label, metric = _label(row), _shown(row.get("metric") or "")
        try:
            case = to_case(catalog, index, row)
        except PlannerError as exc:
            case = str(exc)
        if isinstance(case, str):
            report.outcomes.append(Outcome(index, label, metric, None, None, skipped=case))
            continue
        predicted = predict_case(case)
        if not math.isfinite(predicted) or predicted <= 0:
            report.outcomes.append(Outcome(index, label, metric, None, None, skipped=f"predicted {predicted} is not a finite positive figure"))
            continue
        report.outcomes.append(Outcome(index, label, metric, case.measured, predicted))
    return report


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "summary": [s.__dict__ for s in report.summaries()],
        "rows": [
            {"row": o.row, "case": o.label, "metric": o.metric, "measured": o.measured, "predicted": o.predicted,
             "error_pct": None if o.error is None else round(100 * o.error, 2), "skipped": o.skipped}
            for o in report.outcomes
        ],
    }
