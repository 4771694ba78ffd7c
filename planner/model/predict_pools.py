"""`predict --disaggregated`: one deployment served with prefill and decode apart.

Each pool is given as ``key=value`` pairs (``gpu=h100,tp=8,ep=8,workers=2``).
A pool that leaves out its GPU or precision takes the command's --gpu and
--precision; one that names none of tp, dp, ep and pp takes the command's
--tp, --dp, --ep and --pp, and one that names any of them has 1 for the
others (``dp=8,ep=8`` is eight attention-DP ranks of one GPU each). The answer is the closed loop of ``batch``
clients on the pools (planner/model/disaggregated.py), with each pool's
memory per GPU, and the JSON contract's ``disaggregated`` object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.catalog.load import Catalog
from planner.core.errors import Field, InputError
from planner.model import disaggregated, perf
from planner.model.predict import default_kv_precision
from planner.model.resolve import resolve_spec
from planner.model.workload import (
    MAX_BATCH, MAX_PARALLEL_DEGREE, Deployment, ModelSpec, Shape, check_context,
)

POOL_KEYS = ("gpu", "precision", "tp", "dp", "ep", "pp", "workers")
COUNT_KEYS = ("tp", "dp", "ep", "pp", "workers")
MAX_WORKERS = 100_000  # a bound on input, not a hardware fact


def parse_pool(text: str | None, flag: str) -> dict[str, str | int]:
    """``gpu=h100,tp=8,workers=2`` -> {"gpu": "h100", "tp": 8, "workers": 2}."""
    if text is None or not text.strip():
        return {}
    out: dict[str, str | int] = {}
    for part in text.split(","):
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not key or not value:
            raise InputError(f"{flag} '{text}': '{part.strip()}' is not key=value",
                             hint=f"e.g. {flag} gpu=h100,tp=8,ep=8,workers=2 (keys: {', '.join(POOL_KEYS)})")
        if key not in POOL_KEYS:
            raise InputError(f"{flag}: unknown key '{key}'", hint=f"use {', '.join(POOL_KEYS)}")
        if key in out:
            raise InputError(f"{flag}: '{key}' is given twice")
        if key in COUNT_KEYS:
            most = MAX_WORKERS if key == "workers" else MAX_PARALLEL_DEGREE
            if not value.isdigit() or not 1 <= int(value) <= most:
                raise InputError(f"{flag}: {key}={value} must be a whole number from 1 to {most:,}")
            out[key] = int(value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class PoolsPrediction:
    spec: ModelSpec
    pools: disaggregated.Pools
    shape: Shape
    clients: int
    timing: disaggregated.DisaggregatedTiming
    prefill_memory: perf.Memory
    decode_memory: perf.Memory
    link: str  # what carries the KV cache between the pools

    @property
    def fits(self) -> bool:
        return self.prefill_memory.fits and self.decode_memory.fits and self.timing.decode_fits


def predict_pools(
    catalog: Catalog,
    model: str,
    gpu: str,
    *,
    precision: str,
    kv_precision: str | None,
    engine: str,
    tp: int,
    dp: int,
    ep: int,
    pp: int,
    batch: int,
    input_tokens: int,
    output_tokens: int,
    prefill: dict[str, str | int],
    decode: dict[str, str | int],
    memory_utilization: float | None = None,
    rope_scaling: bool = False,
) -> PoolsPrediction:
    """The closed loop of ``batch`` clients on the two pools."""
    if not 1 <= batch <= MAX_BATCH:
        raise InputError([Field("batch"), f" {batch} must be between 1 and {MAX_BATCH:,} (the clients in the loop)"],
                         field="batch")
    spec = resolve_spec(catalog, model)
    shape = Shape(input_tokens, output_tokens)
    check_context(spec, shape, rope_scaling)
    base: dict[str, str | int] = {"gpu": gpu, "precision": precision, "tp": tp, "dp": dp, "ep": ep, "pp": pp, "workers": 1}
    engine_entry = catalog.engine(engine)

    def deployment(given: dict[str, str | int]) -> tuple[Deployment, int]:
        layout = {"tp": 1, "dp": 1, "ep": 1, "pp": 1} if any(k in given for k in ("tp", "dp", "ep", "pp")) else {}
        merged = {**base, **layout, **given}
        weights = str(merged["precision"])
        kv = kv_precision or default_kv_precision(catalog, weights)
        return Deployment(
            gpu=catalog.gpu(str(merged["gpu"])), precision=catalog.precision(weights), kv_precision=catalog.precision(kv),
            engine=engine_entry, tp=int(merged["tp"]), pp=int(merged["pp"]), dp=int(merged["dp"]), ep=int(merged["ep"]),
            batch=1, memory_utilization=memory_utilization,
        ), int(merged["workers"])

    prefill_dep, prefill_workers = deployment(prefill)
    decode_dep, decode_workers = deployment(decode)
    pools = disaggregated.Pools(prefill_dep, decode_dep, prefill_workers, decode_workers)
    model_arch = spec.model
    timing = disaggregated.closed_loop(model_arch, pools, shape, batch, engine_entry.factors_for(prefill_dep.gpu),
                                       engine_entry.factors_for(decode_dep.gpu))
    _gbs, link = disaggregated.transfer_link_gbs(pools)
    return PoolsPrediction(
        spec=spec, pools=pools, shape=shape, clients=batch, timing=timing,
        prefill_memory=perf.memory(model_arch, prefill_dep, shape, 1),
        decode_memory=perf.memory(model_arch, decode_dep, shape, timing.decode_batch),
        link=link,
    )


def _pool_dict(dep: Deployment, workers: int, memory: perf.Memory) -> dict[str, Any]:
    return {
        "gpu": dep.gpu.id, "workers": workers, "gpus_per_worker": dep.gpus, "tp": dep.tp, "dp": dep.dp, "ep": dep.ep,
        "pp": dep.pp, "precision": dep.precision.id, "kv_precision": dep.kv_precision.id,
        "memory_per_gpu_gb": round(memory.per_gpu / 1e9, 4), "capacity_per_gpu_gb": round(memory.capacity_per_gpu / 1e9, 4),
        "fits": memory.fits,
    }


def pools_dict(p: PoolsPrediction) -> dict[str, Any]:
    """The JSON contract of `planner predict --disaggregated` (times in ms)."""
    t, pools = p.timing, p.pools
    ms = lambda s: round(s * 1e3, 4)  # noqa: E731
    return {
        "model": p.spec.label,
        "architecture": p.spec.model.id,
        "approximate": p.spec.approximate,
        "engine": pools.prefill.engine.id,
        "disaggregated": True,
        "ratio": pools.ratio,
        "gpus": pools.gpus,
        "clients": p.clients,
        "input": p.shape.input,
        "output": p.shape.output,
        "prefill_pool": _pool_dict(pools.prefill, pools.prefill_workers, p.prefill_memory),
        "decode_pool": {**_pool_dict(pools.decode, pools.decode_workers, p.decode_memory),
                        "batch_per_worker": t.decode_batch, "kv_cache_holds_batch": t.decode_fits},
        "kv_transfer": {"link": p.link, "bytes_per_request": round(
            disaggregated.kv_transfer_bytes(p.spec.model, pools.prefill, p.shape.input)), "ms": ms(t.transfer_s)},
        "fits": p.fits,
        "ttft_ms": ms(t.ttft_s),
        "ttft_parts_ms": {"prefill_wait": ms(t.queue_s), "prefill": ms(t.prefill_s), "kv_transfer": ms(t.transfer_s)},
        "tpot_ms": ms(t.tpot_s),
        "e2e_ms": ms(t.ttft_s + (p.shape.output - 1) * t.tpot_s),
        "output_tokens_per_s": round(t.tokens_per_s, 3),
        "prefill_utilization": round(t.prefill_utilization, 4),
    }


def pools_lines(p: PoolsPrediction) -> list[str]:
    """The answer in a few lines, for the terminal."""
    t, pools = p.timing, p.pools

    def pool(dep: Deployment, workers: int, memory: perf.Memory) -> str:
        split = f"TP {dep.tp}" + (f", DP {dep.dp}" if dep.dp > 1 else "") + (f", EP {dep.ep}" if dep.ep > 1 else "")
        split += f", PP {dep.pp}" if dep.pp > 1 else ""
        return (f"{workers} x {dep.gpus} {dep.gpu.id} ({split}, {dep.precision.id}): "
                f"{memory.per_gpu / 1e9:.1f} of {memory.capacity_per_gpu / 1e9:.1f} GB per GPU")

    return [
        f"{p.spec.label}, prefill and decode apart ({pools.ratio}, {pools.gpus} GPUs), {p.clients} clients, "
        f"{p.shape.input} input and {p.shape.output} output tokens: TTFT {t.ttft_s * 1e3:,.1f} ms, TPOT "
        f"{t.tpot_s * 1e3:,.1f} ms, {t.tokens_per_s:,.0f} output tokens/s" + ("" if p.fits else " - does NOT fit"),
        f"  prefill pool: {pool(pools.prefill, pools.prefill_workers, p.prefill_memory)}; busy {100 * t.prefill_utilization:.0f}%",
        f"  decode pool:  {pool(pools.decode, pools.decode_workers, p.decode_memory)}; {t.decode_batch} sequences per worker"
        + ("" if t.decode_fits else " (more than its KV cache holds)"),
        f"  TTFT = wait {t.queue_s * 1e3:,.1f} ms + prefill {t.prefill_s * 1e3:,.1f} ms + KV transfer "
        f"{t.transfer_s * 1e3:,.2f} ms ({disaggregated.kv_transfer_bytes(p.spec.model, pools.prefill, p.shape.input) / 1e6:,.1f} MB "
        f"over {p.link}); TPOT is the decode pool's step, no prompt in it",
    ]
