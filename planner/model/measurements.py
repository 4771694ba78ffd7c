"""Read a user's own serving benchmark results (`planner calibrate`).

Four formats, told apart by content, not by file name:

* ``vllm bench serve --save-result`` JSON: one object with ``mean_ttft_ms``
  and/or ``mean_tpot_ms``, ``completed``, ``total_input_tokens``,
  ``total_output_tokens``, ``max_concurrency``, ``request_rate`` and
  ``model_id`` (vllm/benchmarks/serve.py builds the object: the metrics dict
  of ``benchmark()``, to which ``main`` adds the run's settings).
* GenAI-Perf ``profile_export_genai_perf.json`` / AIPerf
  ``profile_export_aiperf.json``: one object whose metrics are objects of
  statistics (``avg``, ``p50``, ``p99``, ``unit``): ``time_to_first_token``,
  ``inter_token_latency`` (per request, (latency - TTFT) / (output - 1): the
  same quantity as vLLM's TPOT), ``request_throughput``,
  ``input_sequence_length``, ``output_sequence_length``; the concurrency is
  in ``input_config`` (``concurrency``, or AIPerf's ``loadgen.concurrency``).
* ``llama-bench -o json``: a list of test records with ``n_prompt``,
  ``n_gen`` and ``avg_ts`` (tokens/s): a ``pp`` test (n_gen 0) times the
  prefill of n_prompt tokens, a ``tg`` test (n_prompt 0) n_gen decode
  steps from an empty context, both at batch 1.
* The CSV columns of benchmarks/data/measured.csv (``planner validate``):
  its ``ttft_ms``, ``tpot_ms`` and ``decode_tokens_per_s_per_user`` rows, a
  static batch of ``batch_size``.

What a file does not say (GPU, engine, TP, precision, and for some formats
the model, lengths or concurrency) comes from the command's flags; a value
the file gives wins over none, a flag over the file. A file this module
cannot read, or a run missing what it needs, is an InputError naming the
file, the problem and the fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from planner.catalog.load import Catalog
from planner.core.errors import InputError, PlannerError
from planner.model import perf
from planner.model.calibrate import Observation
from planner.model.predict import default_kv_precision
from planner.model.resolve import resolve_spec
from planner.model.validation import _read_bounded, map_engine, map_gpu, map_model, map_precision, read_rows
from planner.model.workload import Deployment

FORMATS = ("vLLM bench serve --save-result JSON, GenAI-Perf or AIPerf profile_export JSON, "
           "llama-bench -o json, or the measured.csv columns")


@dataclass(frozen=True)
class Run:
    """One measured run as a file gives it; None where the file is silent."""

    source: str  # "file" or "file:row"
    format: str
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    concurrency: int | None = None
    input_len: int | None = None
    output_len: int | None = None
    burst: bool = False  # a static batch of ``concurrency`` requests, not a closed loop
    requests: int | None = None  # requests the run sent (a closed loop's length), where the file says
    model: str | None = None
    gpu: str | None = None
    engine: str | None = None
    tp: int | None = None
    precision: str | None = None


@dataclass(frozen=True)
class Given:
    """What the flags say; None where not given."""

    model: str | None = None
    gpu: str | None = None
    engine: str | None = None
    tp: int | None = None
    precision: str | None = None
    input_len: int | None = None
    output_len: int | None = None
    concurrency: int | None = None


# --- reading ------------------------------------------------------------------------


def read_runs(path: str | Path) -> list[Run]:
    """The runs in one file, whatever its format (see the module note)."""
    path = Path(path)
    try:
        raw = _read_bounded(path)
    except OSError as exc:
        raise InputError(f"cannot read '{path}': {exc.strerror or exc}", hint="give a benchmark result file") from None
    text = raw.decode("utf-8-sig", errors="replace").strip()
    if text.startswith("{") or text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})",
                             hint=f"give one of: {FORMATS}") from None
        return _from_json(path, data)
    if text.splitlines() and "metric" in text.splitlines()[0] and "framework" in text.splitlines()[0]:
        return _from_csv(path)
    raise InputError(f"{path}: not a benchmark result planner reads", hint=f"give one of: {FORMATS}")


def _from_json(path: Path, data: Any) -> list[Run]:
    if isinstance(data, dict) and ("mean_ttft_ms" in data or "mean_tpot_ms" in data):
        return [_vllm(path, data)]
    if isinstance(data, dict) and isinstance(data.get("time_to_first_token"), dict):
        return [_genai_perf(path, data)]
    if isinstance(data, list) and data and all(isinstance(r, dict) and "avg_ts" in r for r in data):
        return [_llama_bench(path, i, r) for i, r in enumerate(data, start=1)]
    raise InputError(f"{path}: JSON in no format planner reads (no mean_ttft_ms, time_to_first_token or avg_ts)",
                     hint=f"give one of: {FORMATS}")


def _number(path: Path | str, data: dict[str, Any], key: str, *, positive: bool = True) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (positive and value <= 0):
        raise InputError(f"{path}: '{key}' is {json.dumps(value)[:40]}, not a finite positive number",
                         hint="give the file as the benchmark wrote it")
    return float(value)


def _count(value: float | None) -> int | None:
    return None if value is None else max(1, round(value))


def _vllm(path: Path, data: dict[str, Any]) -> Run:
    completed = _number(path, data, "completed")
    concurrency = data.get("max_concurrency")
    rate = data.get("request_rate")
    burst = False
    if concurrency is None:
        # no client limit: every request is sent at the request rate; only
        # "inf" (all at once) is a load planner can replay (a static burst)
        if rate not in (None, "inf", float("inf")):
            raise InputError(f"{path}: an open-loop run (request_rate {rate}) has no fixed concurrency to calibrate on",
                             hint="rerun vllm bench serve with --max-concurrency N, or give --concurrency")
        concurrency, burst = (completed if rate is not None else None), rate is not None
    elif isinstance(concurrency, bool) or not isinstance(concurrency, (int, float)) or concurrency < 1:
        raise InputError(f"{path}: 'max_concurrency' is {concurrency!r}, not a count", hint="give the file as vllm wrote it")
    per = completed or 0
    input_total = _number(path, data, "total_input_tokens")
    output_total = _number(path, data, "total_output_tokens")
    return Run(
        source=str(path), format="vllm bench serve",
        ttft_ms=_number(path, data, "mean_ttft_ms"), tpot_ms=_number(path, data, "mean_tpot_ms"),
        concurrency=_count(concurrency), burst=burst, requests=_count(completed),
        input_len=_count(input_total / per) if input_total and per else None,
        output_len=_count(output_total / per) if output_total and per else None,
        model=data.get("model_id") if isinstance(data.get("model_id"), str) else None,
    )


def _stat(path: Path, data: dict[str, Any], key: str) -> float | None:
    """The ``avg`` of a GenAI-Perf / AIPerf metric object, in its unit (ms for times)."""
    metric = data.get(key)
    if metric is None:
        return None
    if not isinstance(metric, dict):
        raise InputError(f"{path}: '{key}' is not an object of statistics", hint="give the file as GenAI-Perf or AIPerf wrote it")
    value = _number(f"{path}: {key}", metric, "avg")
    unit = metric.get("unit")
    if value is not None and unit in ("s", "sec"):
        value *= 1e3
    elif value is not None and unit == "us":
        value /= 1e3
    elif value is not None and unit == "ns":
        value /= 1e6
    return value


def _genai_perf(path: Path, data: dict[str, Any]) -> Run:
    found = data.get("input_config")
    config: dict[str, Any] = found if isinstance(found, dict) else {}
    concurrency = config.get("concurrency")
    loadgen = config.get("loadgen")
    if concurrency is None and isinstance(loadgen, dict):
        concurrency = loadgen.get("concurrency")
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, (int, float)) or concurrency < 1):
        concurrency = None
    model = config.get("model")
    if isinstance(model, list):
        model = model[0] if model else None
    return Run(
        source=str(path), format="GenAI-Perf / AIPerf",
        ttft_ms=_stat(path, data, "time_to_first_token"), tpot_ms=_stat(path, data, "inter_token_latency"),
        concurrency=_count(concurrency),
        input_len=_count(_plain_stat(path, data, "input_sequence_length")),
        output_len=_count(_plain_stat(path, data, "output_sequence_length")),
        model=model if isinstance(model, str) else None,
    )


def _plain_stat(path: Path, data: dict[str, Any], key: str) -> float | None:
    metric = data.get(key)
    return _number(f"{path}: {key}", metric, "avg") if isinstance(metric, dict) else None


def _llama_bench(path: Path, index: int, record: dict[str, Any]) -> Run:
    where = f"{path}: record {index}"
    n_prompt = record.get("n_prompt") or 0
    n_gen = record.get("n_gen") or 0
    rate = _number(where, record, "avg_ts")
    if not isinstance(n_prompt, int) or not isinstance(n_gen, int) or n_prompt < 0 or n_gen < 0:
        raise InputError(f"{where}: n_prompt and n_gen must be token counts", hint="give the file as llama-bench -o json wrote it")
    if (n_prompt > 0) == (n_gen > 0):
        raise InputError(f"{where}: a test with both n_prompt {n_prompt} and n_gen {n_gen} (or neither) mixes prefill and decode",
                         hint="run llama-bench with separate -p and -n tests (its default pp512 and tg128)")
    if rate is None:
        raise InputError(f"{where}: no avg_ts", hint="give the file as llama-bench -o json wrote it")
    # model_type reads "llama 8B Q4_K - Medium" or "llama 8B F16": the weight type follows the size
    model_type = record.get("model_type")
    words = model_type.split() if isinstance(model_type, str) else []
    precision = {"f16": "fp16", "f32": "fp32"}.get(words[2].lower(), words[2].lower()) if len(words) > 2 else None
    if n_gen == 0:  # pp: n_prompt tokens prefilled at avg_ts tokens/s, one token out
        return Run(f"{path}:{index}", "llama-bench", ttft_ms=n_prompt / rate * 1e3, concurrency=1, burst=True,
                   input_len=n_prompt, output_len=1, engine="llama.cpp", precision=precision)
    return Run(f"{path}:{index}", "llama-bench", tpot_ms=1e3 / rate, concurrency=1, burst=True,
               input_len=1, output_len=n_gen + 1, engine="llama.cpp", precision=precision)


def _from_csv(path: Path) -> list[Run]:
    runs = []
    for index, row in enumerate(read_rows(path), start=2):
        metric = (row.get("metric") or "").strip()
        if metric not in ("ttft_ms", "tpot_ms", "decode_tokens_per_s_per_user"):
            continue
        where = f"{path}:{index}"
        try:
            value = float(row["value"])
            batch = int(float(row["batch_size"] or 1))
            input_len = int(float(row["input_len"] or 1))
            output_len = int(float(row["output_len"] or 1))
            tp = int(float(row["tp"] or 1))
        except ValueError:
            raise InputError(f"{where}: value, batch_size, input_len, output_len and tp must be numbers",
                             hint="use the columns of benchmarks/data/measured.csv") from None
        if not (math.isfinite(value) and value > 0 and batch >= 1):
            raise InputError(f"{where}: value {row['value']} is not a finite positive number", hint="fix the row")
        ttft = value if metric == "ttft_ms" else None
        tpot = value if metric == "tpot_ms" else (1e3 / value if metric == "decode_tokens_per_s_per_user" else None)
        runs.append(Run(where, "measured.csv", ttft_ms=ttft, tpot_ms=tpot, concurrency=batch, burst=True,
                        input_len=max(1, input_len), output_len=max(1, output_len) + (1 if tpot else 0),
                        model=row.get("model"), gpu=row.get("gpu"), engine=map_engine(row.get("framework") or ""),
                        tp=tp, precision=row.get("weight_precision")))
    if not runs:
        raise InputError(f"{path}: no ttft_ms, tpot_ms or decode_tokens_per_s_per_user rows",
                         hint="calibrate reads latency rows; throughput rows are for planner validate")
    return runs


# --- mapping onto the catalog ----------------------------------------------------------


def observation(catalog: Catalog, run: Run, given: Given) -> Observation:
    """The run as an Observation, flags over the file's own values."""
    run = replace(run, **{k: v for k, v in given.__dict__.items() if v is not None})

    def need(value: Any, what: str, flag: str) -> Any:
        if value is None:
            raise InputError(f"{run.source}: the file does not say the {what}", hint=f"give {flag}")
        return value

    if run.ttft_ms is None and run.tpot_ms is None:
        raise InputError(f"{run.source}: no mean TTFT or TPOT in the file", hint="run the benchmark with streaming on")
    model_text = need(run.model, "model", "--model")
    gpu_text = need(run.gpu, "GPU", "--gpu")
    engine_text = need(run.engine, "engine", "--engine")
    model_id = map_model(catalog, model_text) or _model_id(catalog, model_text)
    if model_id is None:
        raise InputError(f"{run.source}: model '{model_text}' is not in the catalog",
                         hint="give --model with a catalog id (planner catalog list models)")
    gpu_id = map_gpu(catalog, gpu_text)
    if gpu_id is None:
        raise InputError(f"{run.source}: GPU '{gpu_text}' is not in the catalog", hint="give --gpu with a catalog id")
    engine = catalog.lookup("engines", engine_text) or catalog.lookup("engines", map_engine(engine_text) or "")
    if engine is None:
        raise InputError(f"{run.source}: engine '{engine_text}' is not in the catalog", hint="give --engine vllm, sglang, trtllm ...")
    spec = resolve_spec(catalog, model_id)
    weights_text = run.precision or (spec.model.precision_native if hasattr(spec.model, "precision_native") else None) or "bf16"
    weights = map_precision(catalog, str(weights_text))
    if weights is None:
        raise InputError(f"{run.source}: precision '{weights_text}' is not in the catalog", hint="give --precision bf16, fp8 ...")
    problem = None
    for kv in (default_kv_precision(catalog, weights), "fp16"):  # llama.cpp keeps its cache in f16, not bf16
        dep = Deployment(gpu=catalog.gpu(gpu_id), precision=catalog.precision(weights), kv_precision=catalog.precision(kv),
                         engine=engine, tp=run.tp or 1, batch=1)
        try:
            perf.check_deployment(spec.model, dep)
            problem = None
            break
        except PlannerError as exc:
            problem = problem or exc.message
    if problem is not None:
        raise InputError(f"{run.source}: {problem}", hint="give --tp, --gpu or --precision the run used")
    return Observation(
        label=run.source, model=spec.model, deployment=dep,
        input_len=need(run.input_len, "input length", "--input-len"),
        output_len=need(run.output_len, "output length", "--output-len"),
        concurrency=need(run.concurrency, "concurrency", "--concurrency"),
        ttft_s=None if run.ttft_ms is None else run.ttft_ms / 1e3,
        tpot_s=None if run.tpot_ms is None else run.tpot_ms / 1e3,
        burst=run.burst,
        # the run's own length: a closed loop's first wave weighs 1 / (requests per client) of its mean TTFT
        requests=run.requests if run.requests and not run.burst and run.requests >= (run.concurrency or 1) else None,
    )


def _model_id(catalog: Catalog, text: str) -> str | None:
    """A Hugging Face id ('meta-llama/Llama-3.1-8B-Instruct') by the models' hf_ids."""
    lowered = text.strip().lower()
    for model in catalog.models.values():
        if any(hf.lower() == lowered for hf in model.hf_ids):
            return model.id
    return None

