"""Disaggregated serving: prompts prefilled on one pool of GPUs, tokens
generated on another.

A request's prompt is prefilled by a prefill worker; its KV cache then
moves to a decode worker, which generates the remaining tokens (Zhong et
al. 2024, DistServe, arXiv:2401.09670; Patel et al. 2024, Splitwise,
arXiv:2311.18677). Each pool has its own GPU type, parallelism (TP, attention
DP, EP), precision and number of workers: "xPyD" is x prefill workers and y
decode workers.

For a closed loop of N clients (each sends its next request when the last
one ends):
- TPOT is the decode pool's step at its batch, N spread over the decode
  workers, with no prompt in any step: what disaggregation buys.
- TTFT = wait for a prefill worker + the pass that prefills the prompt +
  the KV transfer. Requests reach
  the prefill pool at N / (TTFT + (output - 1) x TPOT) per second. A worker
  prefills the prompts waiting for it together, up to its token budget
  (k prompts in one pass of s_k seconds), so it serves k / s_k prompts per
  second at most; at load rho of that, the pass a prompt rides grows from
  one prompt's (s_1) toward s_k, s_1 + rho (s_k - s_1), and the wait is
  M/D/1's with the batch pass as the service, rho s_k / (2 (1 - rho))
  (Kleinrock, Queueing Systems vol. 1, Pollaczek-Khinchine with zero
  service variance). TTFT and the arrival rate depend on each other: the
  fixed point is found by iteration. A pool that cannot keep up caps the
  loop: each client's cycle is then N / (workers x k / s_k).
- In step (``in_step``): a closed loop of identical requests (fixed input
  and output lengths, as benchmarks send) stays in step on a disaggregated
  deployment. The decode pool steps its sequences together, so they finish
  on the same step and the N clients send again at once: each cycle the
  prefill pool gets a burst of N prompts, served k at a time by each
  worker, and the mean prompt waits for half the passes:
  s_k x (P + 1) / 2 with P = ceil(N / (workers x k)) passes per worker.
- The KV transfer moves the prompt's cache once, the unique bytes (MLA's
  latent once, not once per tensor-parallel rank), from every prefill GPU
  to the decode pool in parallel: over NVLink when both pools are GPUs of
  one fast domain that holds them both (an NVL72 rack), else over the
  scale-out network (``Gpu.scale_out_gbs``), each GPU sending its share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.catalog.schema import EngineFactors, Model, ModelKind
from planner.core.errors import InputError
from planner.model import perf
from planner.model.serving import scheduler_for
from planner.model.workload import Deployment, Shape

FIXED_POINT_ROUNDS = 50  # iterations of TTFT <-> arrival rate; converges in a handful


@dataclass(frozen=True)
class Pools:
    """A disaggregated deployment: ``prefill_workers`` replicas of ``prefill``
    and ``decode_workers`` replicas of ``decode`` (each Deployment one worker;
    its batch is ignored)."""

    prefill: Deployment
    decode: Deployment
    prefill_workers: int = 1
    decode_workers: int = 1

    @property
    def gpus(self) -> int:
        return self.prefill_workers * self.prefill.gpus + self.decode_workers * self.decode.gpus

    @property
    def ratio(self) -> str:
        """xPyD: prefill workers, decode workers."""
        return f"{self.prefill_workers}P{self.decode_workers}D"


@dataclass(frozen=True)
class DisaggregatedTiming:
    """Mean figures of a closed loop on a disaggregated deployment, seconds."""

    ttft_s: float
    tpot_s: float
    prefill_s: float  # one prompt on one prefill worker
    transfer_s: float  # one prompt's KV cache, prefill pool to decode pool
    # mean wait for a prefill worker, with what riding a pass of several
    # prompts adds over one prompt's prefill (in step: the passes before its own)
    queue_s: float
    decode_batch: int  # sequences per decode worker
    prefill_utilization: float  # busy share of each prefill worker
    tokens_per_s: float  # output tokens/s, whole deployment
    decode_fits: bool  # the decode workers' KV caches hold the batch


def check_pools(model: Model, pools: Pools) -> None:
    if model.kind is ModelKind.ENCODER:
        raise InputError(f"{model.id} is an encoder: it has no decode phase to serve apart",
                         hint="leave --disaggregated out for encoders")
    for name in ("prefill_workers", "decode_workers"):
        value = getattr(pools, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name.replace('_', ' ')} {value} must be a whole number of at least 1")
    if pools.prefill.kv_precision.kv_bits != pools.decode.kv_precision.kv_bits:
        raise InputError("the prefill and decode pools must keep the KV cache in the same format: it moves between them as is",
                         hint="give both pools the same --kv-precision")
    perf.check_deployment(model, pools.prefill)
    perf.check_deployment(model, pools.decode)


def kv_transfer_bytes(model: Model, kv: Deployment, prompt: int) -> float:
    """Unique KV-cache bytes of one prompt: all layers, no tensor-parallel
    copies (``kv`` gives the cache's format)."""
    elements = perf.kv_elements_per_sequence(model, prompt, tp=1)
    return elements * perf.kv_bits(kv.kv_precision) / 8 + perf.linear_state_bytes_per_sequence(model, tp=1)


def transfer_link_gbs(pools: Pools) -> tuple[float, str]:
    """(bidirectional GB/s per sending GPU, the link's name) between the pools."""
    p, d = pools.prefill.gpu, pools.decode.gpu
    if p.id == d.id and pools.gpus <= p.fast_domain and p.interconnect_gbs is not None:
        return p.interconnect_gbs, f"the fast link of one {p.fast_domain}-GPU domain ({p.interconnect_gbs:g} GB/s per GPU)"
    figures = [g.scale_out_gbs for g in (p, d)]
    if any(f is None for f in figures):
        missing = p.id if p.scale_out_gbs is None else d.id
        raise InputError(f"the catalog has no scale-out network figure for {missing}, so the KV transfer between the "
                         f"pools cannot be priced", hint="put both pools on GPUs whose catalog entry gives scale_out_gbs")
    slowest = float(min(f for f in figures if f is not None))
    return slowest, f"the scale-out network ({slowest:g} GB/s per GPU)"


def transfer_s(model: Model, pools: Pools, prompt: int, factors: EngineFactors) -> float:
    """One prompt's KV cache from a prefill worker to a decode worker: the
    engine's fitted fixed collective latency, plus the unique bytes over the
    sending GPUs' links in parallel (half the bidirectional figure each). A
    prompt's cache sits on one attention-DP rank (tp x pp GPUs) at each end."""
    gbs, _name = transfer_link_gbs(pools)
    senders = min(pools.prefill.tp * pools.prefill.pp, pools.decode.tp * pools.decode.pp)
    return kv_move_s(model, pools.prefill, prompt, gbs, senders, factors)


def kv_move_s(model: Model, kv: Deployment, prompt: int, gbs: float, senders: int, factors: EngineFactors) -> float:
    """One prompt's KV cache (in ``kv``'s format) over ``senders`` GPUs'
    links of ``gbs`` bidirectional GB/s each, half of it each way, after
    the engine's fitted fixed collective latency."""
    return factors.allreduce_us * 1e-6 + kv_transfer_bytes(model, kv, prompt) / (senders * gbs * 1e9 / 2)


def closed_loop(model: Model, pools: Pools, shape: Shape, clients: int,
                prefill_factors: EngineFactors, decode_factors: EngineFactors, in_step: bool = False) -> DisaggregatedTiming:
    """Mean TTFT and TPOT of ``clients`` closed-loop clients, arriving as a
    Poisson stream or ``in_step`` (module docstring)."""
    check_pools(model, pools)
    if clients < 1:
        raise InputError(f"clients {clients} must be at least 1")
    batch = math.ceil(clients / pools.decode_workers)
    steps = max(shape.output - 1, 1)
    passes = perf.decode_steps(model, pools.decode, decode_factors, batch, shape.input, steps)
    tpot = sum(x.total_s for x in passes) / len(passes)
    fits = perf.max_batch(model, pools.decode, shape, cap=perf.UNCAPPED_BATCH_SEARCH) >= batch
    budget = scheduler_for(pools.prefill.engine, pools.prefill.dp).max_num_batched_tokens
    together = max(1, min(budget // shape.input, clients))  # prompts one prefill pass takes
    one = perf.prefill(model, pools.prefill, prefill_factors, 1, shape.input).total_s
    full = perf.prefill(model, pools.prefill, prefill_factors, together, shape.input).total_s if together > 1 else one
    capacity = together / full  # prompts per second per prefill worker
    transfer = transfer_s(model, pools, shape.input, prefill_factors)
    decoding = (shape.output - 1) * tpot
    if in_step:
        per_worker = math.ceil(clients / pools.prefill_workers)
        passes = math.ceil(per_worker / together)
        last = per_worker - (passes - 1) * together  # prompts in the last, partial pass
        if passes == 1:
            prefilling = perf.prefill(model, pools.prefill, prefill_factors, last, shape.input).total_s
        else:
            # prompts of pass j end after j passes: the mean over prompts
            tail = perf.prefill(model, pools.prefill, prefill_factors, last, shape.input).total_s
            ends = [j * full for j in range(1, passes)]
            prefilling = (sum(ends) * together + ((passes - 1) * full + tail) * last) / per_worker
        ttft = prefilling + transfer
        rho = min(1.0, passes * full / (ttft + decoding))
        return DisaggregatedTiming(ttft, tpot, one, transfer, prefilling - one, batch, rho,
                                   clients * shape.output / (ttft + decoding), fits)
    ttft, rho, queue = one + transfer, 0.0, 0.0
    for _ in range(FIXED_POINT_ROUNDS):
        rho = clients / (ttft + decoding) / pools.prefill_workers / capacity
        if rho >= 1:
            # the pool cannot keep up: the loop settles where every worker is
            # always busy, each client's cycle the pool's time for N prompts
            rho = 1.0
            ttft = max(clients / (pools.prefill_workers * capacity) - decoding, full + transfer)
            queue = ttft - full - transfer
            break
        queue = rho * full / (2 * (1 - rho))
        following = queue + one + rho * (full - one) + transfer
        if abs(following - ttft) <= 1e-9 * ttft:
            ttft = following
            break
        ttft = following
    tokens_per_s = clients * shape.output / (ttft + decoding)
    return DisaggregatedTiming(ttft, tpot, one, transfer, ttft - one - transfer, batch, rho, tokens_per_s, fits)
