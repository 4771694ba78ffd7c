"""`predict`: one deployment's memory and speed, resolved from catalog names.

Ties the request (model name or count, GPU, precisions, parallelism, batch)
to the pure model in perf.py, and lays the answer out as the stable JSON
contract `planner predict --format json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.model import perf
from planner.catalog.load import Catalog
from planner.model.resolve import resolve_spec
from planner.core.errors import Field, InputError
from planner.catalog.schema import EngineFactors, ModelKind
from planner.model.workload import (
    DEFAULT_ENGINE,
    DEFAULT_INPUT_TOKENS,
    DEFAULT_OUTPUT_TOKENS,
    MAX_BATCH,
    Deployment,
    ModelSpec,
    Parallelism,
    Shape,
    check_context,
)


def default_kv_precision(catalog: Catalog, weight_precision: str) -> str:
    """The engines' default: the KV cache in the model's 16/32-bit activation
    dtype (vLLM --kv-cache-dtype auto); quantised weights keep a 16-bit cache.
    An FP8 or other quantised cache is opt-in (--kv-precision)."""
    precision = catalog.precision(weight_precision)
    if precision.kv_cache and precision.family == "float" and precision.bits_per_weight >= 16:
        return precision.id
    return "fp16"


@dataclass(frozen=True)
class Prediction:
    spec: ModelSpec
    deployment: Deployment
    shape: Shape
    gpus: int
    replicas: int
    memory: perf.Memory
    timing: perf.Timing
    factors: EngineFactors
    batch_was_max: bool
    matmul_format: str

    @property
    def fits(self) -> bool:
        return self.memory.fits

    @property
    def fit_reason(self) -> str | None:
        if self.fits:
            return None
        m = self.memory
        return (
            f"needs {m.per_gpu / 1e9:.1f} GB per GPU (weights {m.weights_per_gpu / 1e9:.1f}, KV cache "
            f"{m.kv_cache_per_gpu / 1e9:.1f}) > {m.capacity_per_gpu / 1e9:.1f} GB usable"
        )


def predict(
    catalog: Catalog,
    model: str,
    gpu: str,
    *,
    precision: str,
    kv_precision: str | None = None,
    gpus: int | None = None,
    tp: int = 1,
    pp: int = 1,
    batch: int | str = 1,
    input_tokens: int = DEFAULT_INPUT_TOKENS,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
    engine: str = DEFAULT_ENGINE,
    memory_utilization: float | None = None,
    max_batch: int | None = None,
    rope_scaling: bool = False,
    spec: ModelSpec | None = None,
) -> Prediction:
    """Predict one deployment. ``gpus`` is the total (default tp x pp);
    ``batch`` is the deployment's total concurrent sequences, or "max"."""
    parallelism = Parallelism.for_gpus(gpus, tp, pp)
    if memory_utilization is not None and not 0 < memory_utilization <= 1:
        raise InputError([Field("memory_utilization"), f" {memory_utilization} must be in (0, 1]"], field="memory_utilization")
    if max_batch is not None and not 1 <= max_batch <= MAX_BATCH:
        raise InputError([Field("max_batch"), f" {max_batch} must be between 1 and {MAX_BATCH:,}"], field="max_batch")
    spec = spec or resolve_spec(catalog, model)
    gpus, replicas = parallelism.gpus, parallelism.replicas
    kv_name = kv_precision or default_kv_precision(catalog, precision)
    engine_entry = catalog.engine(engine)
    if max_batch is not None:
        engine_entry = engine_entry.model_copy(update={"max_batch": max_batch})
    dep = Deployment(
        gpu=catalog.gpu(gpu),
        precision=catalog.precision(precision),
        kv_precision=catalog.precision(kv_name),
        engine=engine_entry,
        tp=tp,
        pp=pp,
        batch=1,
        memory_utilization=memory_utilization,
    )
    perf.check_deployment(spec.model, dep)
    shape = Shape(input_tokens, output_tokens)
    if spec.model.kind is ModelKind.ENCODER:
        shape = Shape(input_tokens, 0)
    check_context(spec, shape, rope_scaling)
    batch_was_max = batch == "max"
    if batch_was_max:
        per_replica_batch = max(perf.max_batch(spec.model, dep, shape), 1)
    else:
        total = int(batch)
        if total < 1:
            raise InputError([Field("batch"), " must be at least 1, or 'max'"], field="batch")
        if total % replicas:
            raise InputError([Field("batch"), f" {total} does not split evenly over {replicas} replicas"], field="batch")
        per_replica_batch = total // replicas
    dep = Deployment(**{**dep.__dict__, "batch": per_replica_batch})
    factors = engine_entry.factors_for(dep.gpu)
    fmt, _rate = perf.deployment_matmul_format(dep)
    return Prediction(
        spec=spec,
        deployment=dep,
        shape=shape,
        gpus=gpus,
        replicas=replicas,
        memory=perf.memory(spec.model, dep, shape),
        timing=perf.timing(spec.model, dep, shape, factors),
        factors=factors,
        batch_was_max=batch_was_max,
        matmul_format=fmt,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 4)


def _gb(n_bytes: float) -> float:
    return round(n_bytes / 1e9, 4)


def prediction_dict(p: Prediction) -> dict[str, Any]:
    """The JSON contract of `planner predict` (keys are stable)."""
    dep, m, t = p.deployment, p.memory, p.timing
    total_tokens = None if t.tokens_per_s is None else round(t.tokens_per_s * p.replicas, 3)
    return {
        "model": p.spec.label,
        "architecture": p.spec.model.id,
        "approximate": p.spec.approximate,
        **({"resolved": p.spec.note} if p.spec.note else {}),
        **({"warnings": list(p.spec.warnings)} if p.spec.warnings else {}),
        "gpu": dep.gpu.id,
        "gpus": p.gpus,
        "tp": dep.tp,
        "pp": dep.pp,
        "replicas": p.replicas,
        "precision": dep.precision.id,
        "kv_precision": dep.kv_precision.id,
        "matmul_format": p.matmul_format,
        "engine": dep.engine.id,
        "batch": dep.batch * p.replicas,
        "batch_per_replica": dep.batch,
        "batch_is_max": p.batch_was_max,
        "input": p.shape.input,
        "output": p.shape.output,
        "fits": p.fits,
        "fit_reason": p.fit_reason,
        "ttft_ms": _ms(t.ttft_s),
        "tpot_ms": _ms(t.tpot_s),
        "e2e_ms": _ms(t.e2e_s),
        "output_tokens_per_s": total_tokens,
        "samples_per_s": None if t.samples_per_s is None else round(t.samples_per_s * p.replicas, 3),
        "bound": t.bound,
        "memory_gb": {
            "weights": _gb(m.weights),
            "kv_cache": _gb(m.kv_cache),
            "activations": _gb(m.activations),
            "runtime": _gb(m.runtime),
            "total": _gb(m.total),
            "per_gpu": _gb(m.per_gpu),
            "capacity_per_gpu": _gb(m.capacity_per_gpu),
        },
        "breakdown_ms": {
            "prefill": _pass_dict(t.prefill),
            "decode_step": None if t.decode is None else _pass_dict(t.decode),
        },
        "factors": p.factors.model_dump(),
    }


def _pass_dict(x: perf.PassTime) -> dict[str, Any]:
    return {
        "memory": _ms(x.memory_s),
        "compute": _ms(x.compute_s),
        "communication": _ms(x.communication_s),
        "overhead": _ms(x.overhead_s),
        "total": _ms(x.total_s),
        "bound": x.bound,
    }
