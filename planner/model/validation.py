"""Score the model against published measurements (`planner validate`).

Reads rows in the format of the validation CSV (source, framework, model,
gpu, n_gpus, tp, pp, weight_precision, kv_precision, batch_size, input_len,
output_len, metric, value, unit), maps each to catalog names by general
rules (never by row), predicts it, and reports per-row and per-metric error.
A row that cannot be mapped is skipped with the reason.
"""

from __future__ import annotations

import csv
import io
import re
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



def read_rows(path: str | Path) -> list[dict[str, str]]:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise InputError(f"{path}: {size:,} bytes is over the {MAX_CSV_BYTES:,}-byte limit for validation files")
        text = path.read_text(encoding="utf-8-sig")
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


def _optional_int(value: str) -> int | None:
    value = (value or "").strip()
    return int(float(value)) if value else None


def _int(value: str, default: int) -> int:
    parsed = _optional_int(value)
    return default if parsed is None else parsed


def to_case(catalog: Catalog, index: int, row: dict[str, str]) -> Case | str:
    """Map a row to a Case, or return why it cannot be mapped."""
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
        n_gpus = _int(row["n_gpus"], 1)
        tp = _int(row["tp"], 1)
        pp = _int(row["pp"], 1)
        batch = _optional_int(row["batch_size"])
        input_len = _int(row["input_len"], 0)
        output_len = _int(row["output_len"], 0)
        value = float(row["value"])
    except ValueError as exc:
        return f"unreadable number: {exc}"
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
    return f"{row.get('model', '?')} | {row.get('gpu', '?')} | {row.get('weight_precision', '?').split(' ')[0]} | {row.get('framework', '?').split(' ')[0]}"


def validate(catalog: Catalog, rows: list[dict[str, str]]) -> Report:
    report = Report()
    for index, row in enumerate(rows, start=2):  # line numbers as a spreadsheet shows them
        label, metric = _label(row), row.get("metric", "")
        try:
            case = to_case(catalog, index, row)
        except PlannerError as exc:
            case = str(exc)
        if isinstance(case, str):
            report.outcomes.append(Outcome(index, label, metric, None, None, skipped=case))
            continue
        report.outcomes.append(Outcome(index, label, metric, case.measured, predict_case(case)))
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
