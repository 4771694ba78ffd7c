"""Every deployment shape worth considering, scored by the performance model.

A shape is GPU type x GPUs per replica (tensor parallelism within a node,
times pipeline stages: for each TP degree, the shallowest pipeline that fits
memory and a couple deeper)
x weight precision x KV-cache precision. Each shape gets the largest batch
per replica that fits memory and meets every latency target, and with it
its throughput. Shapes that cannot work are kept with the first constraint
they broke, so `fit --explain` can say why: `evaluate` answers a
`ScoredShape` or a `RejectedShape`, both a `DeploymentShape` with what was
found.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum

from planner.model import perf
from planner.catalog.load import Catalog
from planner.core.errors import PlannerError
from planner.core.numbers import durations_against
from planner.catalog.schema import Engine, EngineFactors, Gpu, ModelKind, Precision
from planner.catalog.support import KV_CACHE, support
from planner.model.closed_loop import ClosedLoop
from planner.model.lengths import LengthSource, fixed
from planner.model.quality import QualityFigure, quality_loss
from planner.model.serving import SchedulerSettings, for_ranks, scheduler_for
from planner.model.steady import SteadyState
from planner.model.workload import Deployment, ModelSpec, Shape
from planner.plan.question import DEFAULT_MAX_QUALITY_LOSS, Targets

# Weight formats never worth proposing unless asked for by name: FP32 is
# dominated by BF16/FP16 (same quality, twice the bytes); TF32 is a compute
# mode, not a storage format.
NOT_PROPOSED = ("fp32", "tf32")
MAX_PIPELINE_STAGES = 16  # a search bound, not a hardware fact: 16 nodes per replica
# Pipeline depths tried beyond the shallowest that fits memory, per TP degree:
# a search bound. Each extra stage leaves more memory for the KV cache, but
# past a couple of stages the pipeline bubble and the extra GPUs rarely pay.
EXTRA_PIPELINE_STAGES = 2
PREFILL, DECODE = "prefill", "decode"  # the roles of a disaggregated pool's workers


@dataclass(frozen=True)
class DeploymentShape:
    """One way to lay out a replica: GPU type, weight and KV-cache precision,
    tensor x pipeline parallelism, and for a mixture of experts attention
    data parallelism and expert parallelism (``dp`` ranks of ``tp`` GPUs per
    stage, experts split ``ep`` ways: planner/model/experts.py). Per-replica
    prices are None where the catalog has none."""

    gpu: Gpu
    precision: Precision
    kv_precision: Precision
    tp: int
    pp: int
    dp: int = field(default=1, kw_only=True)
    ep: int = field(default=1, kw_only=True)
    # "" for a replica that serves whole requests; PREFILL or DECODE for a
    # worker of a disaggregated pool (planner/plan/disaggregation.py)
    role: str = field(default="", kw_only=True)

    @property
    def gpus(self) -> int:
        return self.tp * self.dp * self.pp

    @property
    def stage_gpus(self) -> int:
        return self.tp * self.dp

    def expert_split(self, spaced: bool = True) -> str:
        """What follows "TP n" for a mixture of experts laid out with
        attention DP or EP: " DP 8 EP 8" (spaced) or " DP8 EP8"; "" when
        neither is used."""
        gap = " " if spaced else ""
        return (f" DP{gap}{self.dp}" if self.dp > 1 else "") + (f" EP{gap}{self.ep}" if self.ep > 1 else "")

    @property
    def key(self) -> str:
        split = (f" dp{self.dp}" if self.dp > 1 else "") + (f" ep{self.ep}" if self.ep > 1 else "")
        role = f" {self.role}" if self.role else ""
        return f"{self.gpu.id} tp{self.tp}{split} pp{self.pp} {self.precision.id} kv={self.kv_precision.id}{role}"

    @property
    def power_w(self) -> float | None:
        """The GPUs' TDP, W (the host's power is the offer's: planner/plan/offers.py)."""
        return None if self.gpu.tdp_w is None else self.gpu.tdp_w * self.gpus


@dataclass(frozen=True)
class ScoredShape(DeploymentShape):
    """A shape that works: the largest batch per replica that fits memory and
    meets every latency target, and what one replica achieves at it."""

    batch: int
    prediction: perf.Timing  # at `batch`
    memory: perf.Memory  # at `batch`
    throughput: float  # in the target's unit (tokens/s, req/s, samples/s)
    tokens_per_s: float
    factors: EngineFactors = field(repr=False)


class Constraint(Enum):
    """What a rejected shape broke first."""

    RUNNABLE = "runnable"  # the GPU, engine or model cannot run the shape at all
    MEMORY = "memory"  # even one sequence does not fit
    LATENCY = "latency"  # a latency target is missed even at batch 1


@dataclass(frozen=True)
class RejectedShape(DeploymentShape):
    """A shape that cannot work, and the first constraint it broke."""

    reason: str
    constraint: Constraint
    # On a latency miss, the timing at batch 1 (the shape at its fastest), so
    # an empty answer can say how close the fastest shape came.
    batch_one_timing: perf.Timing | None = None


Candidate = ScoredShape | RejectedShape


def tensor_parallel_degrees(spec: ModelSpec, per_node: int) -> list[int]:
    """Powers of two up to a node's GPUs that divide the attention heads."""
    degrees, tp = [], 1
    while tp <= per_node:
        if spec.model.heads % tp == 0:
            degrees.append(tp)
        tp *= 2
    return degrees


def _meets_latency(spec: ModelSpec, timing: perf.Timing | ClosedLoop, targets: Targets) -> str | None:
    """The first latency target ``timing`` misses, or None."""
    if targets.latency_s is not None:
        value = timing.e2e_s if spec.model.kind is ModelKind.ENCODER else timing.tpot_s
        name = "latency" if spec.model.kind is ModelKind.ENCODER else "TPOT"
        if value is not None and value > targets.latency_s:
            return "{} {} > {}".format(name, *durations_against(value, targets.latency_s))
    if targets.ttft_s is not None and timing.ttft_s > targets.ttft_s:
        return "TTFT {} > {}".format(*durations_against(timing.ttft_s, targets.ttft_s))
    if targets.e2e_s is not None and timing.e2e_s > targets.e2e_s:
        return "e2e {} > {}".format(*durations_against(timing.e2e_s, targets.e2e_s))
    return None


def _throughput(spec: ModelSpec, timing: perf.Timing, shape: Shape, kind: str) -> float:
    if spec.model.kind is ModelKind.ENCODER:
        return timing.samples_per_s or 0.0
    tokens = timing.tokens_per_s or 0.0
    return tokens / max(shape.output, 1) if kind == "requests" else tokens


@dataclass(frozen=True)
class Serving:
    """How requests reach a replica, for scoring decoders under continuous
    batching: their lengths and the scheduler's knobs (None: the engine's)."""

    lengths: LengthSource
    settings: SchedulerSettings | None = None


def evaluate(
    spec: ModelSpec,
    shape: Shape,
    targets: Targets,
    candidate: DeploymentShape,
    engine: Engine,
    memory_utilization: float | None = None,
    serving: Serving | None = None,
) -> Candidate:
    """Score one shape: the largest batch (for a decoder, the concurrency the
    replica runs in steady state) that fits and meets the latency targets.

    Decoders are scored at their continuous-batching steady state
    (planner/model/steady.py): the throughput, TTFT, TPOT and e2e of one
    schedule, so requests in flight = request rate x e2e. Encoders run
    static batches (perf.timing)."""
    gpu, precision, kv_precision, tp, pp = candidate.gpu, candidate.precision, candidate.kv_precision, candidate.tp, candidate.pp
    dp, ep = candidate.dp, candidate.ep

    def reject(reason: str, constraint: Constraint, batch_one_timing: perf.Timing | None = None) -> RejectedShape:
        return RejectedShape(gpu, precision, kv_precision, tp, pp, reason, constraint, batch_one_timing, dp=dp, ep=ep)

    dep = Deployment(gpu=gpu, precision=precision, kv_precision=kv_precision, engine=engine, tp=tp, pp=pp,
                     batch=1, memory_utilization=memory_utilization, dp=dp, ep=ep)
    model = spec.model
    try:
        perf.check_deployment(model, dep)
    except PlannerError as exc:
        return reject(exc.message, Constraint.RUNNABLE)
    one = perf.memory(model, dep, shape, 1)
    if not one.fits:
        if one.weights_per_gpu > one.capacity_per_gpu:
            why = f"weights {one.weights_per_gpu / 1e9:.1f} GB > {one.capacity_per_gpu / 1e9:.1f} GB usable per GPU"
        else:
            why = f"one sequence needs {one.per_gpu / 1e9:.1f} GB > {one.capacity_per_gpu / 1e9:.1f} GB usable per GPU"
        return reject(why, Constraint.MEMORY)
    factors = engine.factors_for(gpu)
    kind = targets.throughput.kind if targets.throughput else "tokens"
    if model.kind is ModelKind.ENCODER:
        return _static(spec, shape, targets, candidate, dep, factors, kind, reject)
    serving = serving or Serving(fixed(shape.input, max(shape.output, 1)))
    settings = for_ranks(serving.settings, dp) if serving.settings else scheduler_for(engine, dp)
    try:
        steady = SteadyState(model, dep, serving.lengths, settings, factors)
    except PlannerError as exc:  # no room for a KV cache beside the scheduler's largest step
        return reject(exc.message, Constraint.MEMORY)
    most = min(steady.most, perf.max_batch(model, dep, shape, cap=settings.max_num_seqs or perf.UNCAPPED_BATCH_SEARCH))
    if most < 1:
        return reject("one request does not fit the KV cache beside the largest step", Constraint.MEMORY)
    miss = _meets_latency(spec, steady.at(1), targets)
    if miss:
        return reject(miss + " even at batch 1", Constraint.LATENCY, batch_one_timing=steady.timing(1, shape))
    # latency grows with concurrency: the largest that still meets it
    best = _largest_meeting(spec, targets, steady, most)
    state = steady.at(best)
    return ScoredShape(
        gpu, precision, kv_precision, tp, pp,
        batch=best,
        prediction=steady.timing(best, shape),
        memory=perf.memory(model, dep, shape, best),
        throughput=state.requests_per_s if kind == "requests" else state.tokens_per_s,
        tokens_per_s=state.tokens_per_s,
        factors=factors,
        dp=dp,
        ep=ep,
    )


def _slack(spec: ModelSpec, s: ClosedLoop, targets: Targets) -> float:
    """How far the figures are inside the targets: the smallest of
    1 - value / target (negative when one is missed)."""
    slack = math.inf
    for target, value in ((targets.latency_s, s.tpot_s), (targets.ttft_s, s.ttft_s), (targets.e2e_s, s.e2e_s)):
        if target is not None and value is not None:
            slack = min(slack, 1 - value / target)
    return slack


def _largest_meeting(spec: ModelSpec, targets: Targets, steady: SteadyState, most: int) -> int:
    """The largest concurrency in [1, most] whose figures meet the targets,
    concurrency 1 meeting them. Latency grows with concurrency, near linearly,
    so the search interpolates the slack between a concurrency that meets
    the targets and one that misses (regula falsi), with a bisection step
    whenever interpolation stalls; the answer is the bisection's."""
    if _meets_latency(spec, steady.at(most), targets) is None:
        return most
    lo, hi = 1, most  # lo meets, hi misses
    slack_lo, slack_hi = _slack(spec, steady.at(lo), targets), _slack(spec, steady.at(hi), targets)
    interpolate = True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if interpolate and slack_lo - slack_hi > 0:
            guess = lo + slack_lo * (hi - lo) / (slack_lo - slack_hi)
            mid = min(hi - 1, max(lo + 1, int(guess)))
        state = steady.at(mid)
        if _meets_latency(spec, state, targets) is None:
            moved_far = mid - lo > (hi - lo) // 4
            lo, slack_lo = mid, _slack(spec, state, targets)
        else:
            moved_far = hi - mid > (hi - lo) // 4
            hi, slack_hi = mid, _slack(spec, state, targets)
        interpolate = not interpolate or moved_far  # a short step: bisect next
    return lo


def _static(spec: ModelSpec, shape: Shape, targets: Targets, candidate: DeploymentShape, dep: Deployment,
            factors: EngineFactors, kind: str, reject: Callable[..., RejectedShape]) -> Candidate:
    """An encoder: static batches; the largest that meets the targets."""
    model = spec.model
    most = perf.max_batch(model, dep, shape)

    def timing_at(batch: int) -> perf.Timing:
        return perf.timing(model, dep, shape, factors, batch)

    first = timing_at(1)
    miss = _meets_latency(spec, first, targets)
    if miss:
        return reject(miss + " even at batch 1", Constraint.LATENCY, first)
    # latency grows with batch: bisect for the largest batch that still meets it
    best_timing = first
    top = timing_at(most)
    if _meets_latency(spec, top, targets) is None:
        best_batch, best_timing = most, top
    else:
        lo, hi = 1, most - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            t = timing_at(mid)
            if _meets_latency(spec, t, targets) is None:
                lo, best_timing = mid, t
            else:
                hi = mid - 1
        best_batch = lo  # best_timing was set whenever lo moved
    return ScoredShape(
        candidate.gpu, candidate.precision, candidate.kv_precision, candidate.tp, candidate.pp,
        batch=best_batch,
        prediction=best_timing,
        memory=perf.memory(model, dep, shape, best_batch),
        throughput=_throughput(spec, best_timing, shape, kind),
        tokens_per_s=best_timing.tokens_per_s or 0.0,
        factors=factors,
        dp=candidate.dp,
        ep=candidate.ep,
    )


def _quality_excluded(quality: QualityFigure, max_loss: float, named: bool) -> str | None:
    """Why ``quality`` rules its format out under ``--max-quality-loss``, with
    the figure and its source; None if it passes. A format of unknown quality
    on this model passes only when the user named it."""
    if quality.loss_pct is None:
        if named:
            return None
        return (f"quality unknown on this model ({quality.metric}); name it with "
                f"{'--kv-precision' if quality.part == 'kv_cache' else '--precision'} to plan with it anyway")
    if quality.loss_pct > max_loss:
        return (f"published quality loss {quality.loss_pct:g}% > {max_loss:g}% allowed (--max-quality-loss); "
                f"{quality.label}: {quality.metric}; source: {quality.source}")
    return None


def _precision_allowed(p: Precision, engine: Engine, max_loss: float, named: bool,
                       quality: QualityFigure) -> str | None:
    """Why weight format ``p`` is not considered, or None; ``quality`` is its
    figure on the model asked about (planner/model/quality.py)."""
    if not p.weight_format:
        return "a compute mode, not a weight format"
    if not named and p.id in NOT_PROPOSED:
        return "dominated by 16-bit formats (ask for it with --precision)"
    if engine.id not in p.engines:
        return f"{engine.name} does not serve {p.id}"
    return _quality_excluded(quality, max_loss, named)


def enumerate_candidates(
    catalog: Catalog,
    spec: ModelSpec,
    shape: Shape,
    targets: Targets,
    engine: Engine,
    *,
    gpus: list[Gpu] | None = None,
    precisions: list[Precision] | None = None,
    kv_precisions: list[Precision] | None = None,
    max_quality_loss: float = DEFAULT_MAX_QUALITY_LOSS,
    gpus_per_node: int | None = None,
    memory_utilization: float | None = None,
    unit_gpus: dict[str, int] | None = None,
    serving: Serving | None = None,
) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """All shapes, scored. Returns (candidates, ruled_out) where ruled_out
    holds (what, why) for formats dropped before scoring. ``unit_gpus``
    bounds tensor parallelism per GPU type by the largest unit a plan can
    get of it (instance, server or owned node); without it, the node size."""
    ruled_out: list[tuple[str, str]] = []
    named_precisions = precisions is not None
    weight_options = []
    # Quality is the model's own: the figure for this model, weights and KV
    # cache apart, chosen by the rule in planner/model/quality.py.
    weight_quality: dict[str, QualityFigure] = {}
    for p in precisions or list(catalog.precisions.values()):
        weight_quality[p.id] = quality_loss(catalog, spec.model, p, "weights")
        why = _precision_allowed(p, engine, max_quality_loss, named_precisions, weight_quality[p.id])
        if why:
            ruled_out.append((p.id, why))
        else:
            weight_options.append(p)
    named_kv = kv_precisions is not None
    kv_options: list[Precision] = []
    kv_quality: dict[str, QualityFigure] = {}
    for k in kv_precisions or [catalog.precision(f) for f in engine.kv_cache_formats]:
        kv_quality[k.id] = quality_loss(catalog, spec.model, k, "kv_cache")
        if not k.kv_cache:
            ruled_out.append((f"KV {k.id}", "not a KV-cache format"))
        elif k.id not in engine.kv_cache_formats:
            ruled_out.append((f"KV {k.id}", f"{engine.name} cannot store its KV cache in {k.id}"))
        elif not named_kv and (why := _quality_excluded(kv_quality[k.id], max_quality_loss, False)) is not None:
            # a KV format the user named is kept whatever its loss, as before
            ruled_out.append((f"KV {k.id}", why))
        else:
            kv_options.append(k)

    candidates: list[Candidate] = []
    for gpu in gpus or list(catalog.gpus.values()):
        per_node = (unit_gpus or {}).get(gpu.id) or gpu.gpus_per_node
        if gpus_per_node is not None:
            per_node = min(per_node, gpus_per_node)
        seen: set[tuple] = set()
        # What the engine can run on this GPU, by the format support matrix;
        # each refusal names its rule (fit --explain, the candidates CSV).
        gpu_kv: list[Precision] = []
        kv_refused: list[tuple[str, str]] = []  # listed after the weight formats: those usually decide
        kv_bits_seen: set[float] = set()
        for kv in kv_options:
            kv_support = support(gpu, kv, engine, KV_CACHE)
            if not kv_support.runs:
                kv_refused.append((f"{gpu.id} KV {kv.id}", kv_support.rule))
            elif perf.kv_bits(kv) not in kv_bits_seen:  # fp16 and bf16 caches are the same bytes: one shape
                kv_bits_seen.add(perf.kv_bits(kv))
                gpu_kv.append(kv)
        for precision in weight_options:
            fmt = perf.matmul_format(gpu, precision, engine)
            if fmt is None:  # the matrix's answer again, for the rule that refused it
                ruled_out.append((f"{gpu.id} {precision.id}", support(gpu, precision, engine).rule))
                continue
            # Formats that run identically here (same bytes, same GEMM rate, same
            # quality) are one shape: keep the first (bf16 over fp16 where equal).
            signature = (precision.bits_per_weight, precision.embeddings_bits, fmt[1], weight_quality[precision.id].rank_pct)
            if signature in seen:
                continue
            seen.add(signature)
            for kv in gpu_kv:
                if _known_loss(weight_quality[precision.id], kv_quality[kv.id]) > max_quality_loss and not named_kv:
                    continue  # the two published losses together exceed the limit
                for tp in tensor_parallel_degrees(spec, per_node):
                    candidates.extend(_pipeline_depths(
                        spec, shape, targets, engine, memory_utilization, DeploymentShape(gpu, precision, kv, tp, 1),
                        serving))
                for stage in expert_parallel_degrees(spec, gpu, per_node):
                    # attention DP ranks of tp GPUs each over the stage, experts split over all of it
                    # (the wide-EP layout; tp 1 is SGLang's and TensorRT-LLM's usual attention DP)
                    for tp in tensor_parallel_degrees(spec, min(per_node, stage // 2)):
                        candidates.append(evaluate(spec, shape, targets,
                                                   DeploymentShape(gpu, precision, kv, tp, 1, dp=stage // tp, ep=stage),
                                                   engine, memory_utilization, serving))
        ruled_out.extend(kv_refused)
    return candidates, ruled_out


def _pipeline_depths(spec: ModelSpec, shape: Shape, targets: Targets, engine: Engine,
                     memory_utilization: float | None, first: DeploymentShape,
                     serving: Serving | None = None) -> list[Candidate]:
    """``first`` (one pipeline stage) and deeper pipelines at its TP degree,
    each scored: stages are added one at a time up to the shallowest depth
    that fits memory, then EXTRA_PIPELINE_STAGES more, within
    MAX_PIPELINE_STAGES and the layer count.

    A deeper pipeline holds fewer layers per GPU, leaving memory for a larger
    batch, so TP 4 x PP 3 can serve more per GPU (or per dollar) than TP 8 x
    PP 2; which wins depends on the figures and prices, so each is scored and
    the dominance pruning in `fit` drops the useless ones. A shape that
    cannot run at all ends the search: more stages do not mend a missing
    GPU-to-GPU link or a TP degree that does not divide the heads.
    """
    deepest = min(MAX_PIPELINE_STAGES, spec.model.layers)
    found: list[Candidate] = []
    fitted_at: int | None = None
    pp = 1
    while pp <= deepest and (fitted_at is None or pp <= fitted_at + EXTRA_PIPELINE_STAGES):
        layout = replace(first, pp=pp)
        cand = evaluate(spec, shape, targets, layout, engine, memory_utilization, serving)
        found.append(cand)
        if isinstance(cand, RejectedShape) and cand.constraint is Constraint.RUNNABLE:
            break
        if fitted_at is None and not _too_big(cand):
            fitted_at = pp
        pp += 1
    return found


# Stages of an expert-parallel layout wider than a node: a search bound, not
# a hardware fact (public wide-EP deployments of DeepSeek-V3 run 16 to 96+ GPUs).
MAX_EXPERT_PARALLEL_NODES = 4


def expert_parallel_degrees(spec: ModelSpec, gpu: Gpu, per_node: int) -> list[int]:
    """Attention-DP x expert-parallel stage sizes to score for a mixture of
    experts: powers of two from 2 that divide its routed experts, within the
    node (``per_node``: the largest unit a plan can get), or, where the
    catalog gives the GPU's scale-out network and whole nodes can be had,
    up to MAX_EXPERT_PARALLEL_NODES of them. Empty for a dense model."""
    moe = spec.model.moe
    if moe is None or spec.approximate:
        return []
    reach = per_node
    if gpu.scale_out_gbs is not None and per_node >= gpu.fast_domain:
        reach = per_node * MAX_EXPERT_PARALLEL_NODES
    out, g = [], 2
    while g <= reach:
        if moe.experts % g == 0:
            out.append(g)
        g *= 2
    return out


def _known_loss(*figures: QualityFigure) -> float:
    """The published losses added (an unknown one was named by the user and counts nothing here)."""
    return sum(f.loss_pct for f in figures if f.loss_pct is not None)


def _too_big(c: Candidate) -> bool:
    return isinstance(c, RejectedShape) and c.constraint is Constraint.MEMORY
