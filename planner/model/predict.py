"""`predict`: one deployment's memory and speed, resolved from catalog names.

Ties the request (model name or count, GPU, precisions, parallelism, batch)
to the pure model in perf.py, and lays the answer out as the stable JSON
contract `planner predict --format json` prints.

Lengths may be a distribution or a file of samples (lengths.py): the static
figures (memory, one batch's TTFT and TPOT) are then computed at the mean
lengths, rounded to whole tokens, and the answer says so. With a load
(traffic.LoadForm) the replica is also simulated under it (under_load.py)
and the answer carries percentiles under ``serving``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.model import perf
from planner.catalog.load import Catalog
from planner.model.resolve import resolve_spec
from planner.core.errors import Field, InputError
from planner.catalog.schema import EngineFactors, ModelKind
from planner.model.lengths import Fixed, LengthSource, Lengths, Lognormal, Samples, Uniform
from planner.model.serving import Percentiles
from planner.model.traffic import LoadForm
from planner.model.under_load import ServingPrediction, is_fixed, longest_lengths, mean_lengths, serve
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
    lengths: LengthSource | None = None  # a distribution or samples; None: every request has ``shape``'s lengths
    serving: ServingPrediction | None = None  # with a load: the simulated replica

    @property
    def lengths_are_means(self) -> bool:
        """The static figures are at the mean of drawn lengths, not at lengths every request has."""
        return self.lengths is not None and not is_fixed(self.lengths)

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
    dp: int = 1,
    ep: int = 1,
    batch: int | str = 1,
    input_tokens: int = DEFAULT_INPUT_TOKENS,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
    engine: str = DEFAULT_ENGINE,
    memory_utilization: float | None = None,
    max_batch: int | None = None,
    rope_scaling: bool = False,
    spec: ModelSpec | None = None,
    lengths: LengthSource | None = None,
    load: LoadForm | None = None,
    requests: int | None = None,
    seed: int = 0,
) -> Prediction:
    """Predict one deployment. ``gpus`` is the total (default tp x dp x pp);
    ``batch`` is the deployment's total concurrent sequences, or "max".

    ``lengths`` (a distribution or samples) replaces ``input_tokens`` and
    ``output_tokens``: the static figures are at its mean lengths. ``load``
    also simulates one replica under it with ``requests`` requests (default:
    the load's own, ``LoadForm.default_requests``) drawn with ``seed``."""
    if lengths is not None:
        shape_mean = mean_lengths(lengths)
        input_tokens, output_tokens = shape_mean.input, shape_mean.output
    if load is None and requests is not None:
        raise InputError([Field("requests"), " needs a load to simulate"], field="requests",
                         hint="add --load burst:N, concurrency:N or rate:N/s")
    parallelism = Parallelism.for_gpus(gpus, tp, pp, dp, ep)
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
        dp=dp,
        ep=ep,
        batch=1,
        memory_utilization=memory_utilization,
    )
    perf.check_deployment(spec.model, dep)
    shape = Shape(input_tokens, output_tokens)
    if spec.model.kind is ModelKind.ENCODER:
        shape = Shape(input_tokens, 0)
    check_context(spec, shape, rope_scaling)
    longest = None if lengths is None else longest_lengths(lengths)
    if longest is not None and spec.model.kind is not ModelKind.ENCODER:
        check_context(spec, longest, rope_scaling)  # the longest request the lengths can draw
    if load is not None and replicas > 1:
        raise InputError([Field("replicas"), f" is {replicas}: a load is simulated on one replica"], field="replicas",
                         hint="give --gpus equal to --tp x --dp x --pp and the share of the load one replica gets "
                              "(a load balancer splits it)")
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
    serving = None
    if load is not None:
        drawn = lengths if lengths is not None else Lengths(*_fixed_pair(input_tokens, output_tokens))
        serving = serve(spec.model, dep, load, drawn, requests=requests, seed=seed, max_num_seqs=max_batch,
                        factors=factors)
        if longest is None:  # an unbounded distribution: check what it drew
            top = max(zip(serving.served.input, serving.served.output), key=sum)
            check_context(spec, Shape(*top), rope_scaling)
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
        lengths=lengths,
        serving=serving,
    )


def _fixed_pair(input_tokens: int, output_tokens: int) -> tuple[Fixed, Fixed]:
    return Fixed(input_tokens), Fixed(output_tokens)


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
        "dp": dep.dp,
        "ep": dep.ep,
        "moe_tp": dep.moe_tp,
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
        **({"lengths": lengths_dict(p.lengths)} if p.lengths is not None and p.serving is None else {}),
        **({"serving": serving_dict(p.serving)} if p.serving is not None else {}),
    }


def describe_distribution(d: Fixed | Uniform | Lognormal) -> str:
    """A distribution as --input/--output take it (lengths.parse_distribution)."""
    if isinstance(d, Fixed):
        return str(d.tokens)
    if isinstance(d, Uniform):
        return f"uniform:low={d.low},high={d.high}"
    most = "" if d.most is None else f",max={d.most}"
    return f"lognormal:mean={d.mean_tokens:g},p99={d.p99_tokens:g}{most}"


def lengths_dict(lengths: LengthSource) -> dict[str, Any]:
    """Where the lengths come from, and the means the static figures use."""
    mean = mean_lengths(lengths)
    if isinstance(lengths, Samples):
        origin: dict[str, Any] = {"file": lengths.origin, "pairs": len(lengths.pairs)}
    else:
        origin = {"input": describe_distribution(lengths.input), "output": describe_distribution(lengths.output)}
    return {**origin, "mean_input": mean.input, "mean_output": mean.output}


def _percentiles_ms(x: Percentiles | None) -> dict[str, float | None] | None:
    if x is None:
        return None
    return {"mean": _ms(x.mean), "p50": _ms(x.p50), "p90": _ms(x.p90), "p99": _ms(x.p99)}


def load_dict(load: LoadForm) -> dict[str, Any]:
    base: dict[str, Any] = {"form": load.kind, "as_given": load.text}
    if load.kind == "rate":
        return {**base, "rate_per_s": load.rate, "burstiness": load.cv}
    return {**base, ("requests" if load.kind == "burst" else "concurrency"): load.size}


def serving_dict(sv: ServingPrediction) -> dict[str, Any]:
    """The ``serving`` object of the JSON contract (times in ms)."""
    s, st = sv.summary, sv.settings
    return {
        "load": load_dict(sv.load),
        "lengths": lengths_dict(sv.lengths),
        "requests": sv.requests,
        "requests_default": sv.requests_defaulted,
        "requests_rule": sv.requests_rule,
        "seed": sv.seed,
        "window": {"start_s": round(sv.window.start_s, 6), "end_s": round(sv.window.end_s, 6),
                   "rule": sv.window.rule, "requests": s.requests,
                   "lifetimes": None if sv.window.lifetimes is None else round(sv.window.lifetimes, 3),
                   "short": sv.short_window},
        "scheduler": {"max_num_seqs": st.max_num_seqs, "max_num_batched_tokens": st.max_num_batched_tokens,
                      "chunked_prefill": st.chunked_prefill, "policy": st.policy.value,
                      "admission": st.admission.value, "source": sv.settings_source},
        "kv_capacity_tokens": sv.served.kv_capacity,
        "preemptions": sv.served.preemptions,
        "steady": sv.steady,
        "overload": None if sv.overload is None else {
            "arrivals_per_s": round(sv.overload.arrivals_per_s, 4),
            "served_per_s": round(sv.overload.served_per_s, 4),
            "queue_growth_per_s": round(sv.overload.queue_growth_per_s, 4),
        },
        "ttft_ms": _percentiles_ms(s.ttft),
        "tpot_ms": _percentiles_ms(s.tpot),
        "itl_ms": _percentiles_ms(s.itl),
        "e2e_ms": _percentiles_ms(s.e2e),
        "queue_wait_ms": _percentiles_ms(s.queue_wait),
        "requests_per_s": round(s.requests_per_s, 4),
        "output_tokens_per_s": round(s.tokens_per_s, 3),
        "mean_in_system": round(s.mean_concurrency, 4),
        "mean_running": round(s.mean_running, 4),
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
