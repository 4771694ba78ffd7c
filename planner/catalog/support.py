"""What runs where: the one answer to "can this engine run this format on this GPU, and how?".

The answer comes from the format support matrix (catalog/support.yaml, the
``support`` section): rules, each sourced from an engine's own documentation,
that say which GPUs run a weight or KV-cache format natively, which run it
through a dequantising (weight-only) kernel and at which matrix rate, and
which cannot. Everything that needs the answer asks `support`: the
performance model, candidate enumeration, and `planner catalog show`.

Before the matrix, two engine-level gates apply: the engine must serve the
weight format at all (the precision's ``engines``) and must offer the KV-cache
format (the engine's ``kv_cache_formats``). Within the matrix the last rule
that matches decides. Where no rule covers the (GPU, engine, format), the
answer is "cannot run": a GPU nobody has checked (an overlay GPU of an
unknown family, an NVIDIA GPU without a compute capability) runs nothing
until a rule says it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from planner.catalog.schema import Engine, Gpu, Precision, SupportRule

NATIVE = "native"
WEIGHT_ONLY = "weight-only"
UNSUPPORTED = "unsupported"
WEIGHTS = "weights"
KV_CACHE = "kv-cache"

# The stated rule for what no rule covers (catalog/support.yaml says the same).
NO_RULE = "no support rule covers it, and planner assumes nothing runs where no rule says so"


@dataclass(frozen=True)
class Support:
    """How one engine runs one format on one GPU.

    ``mode`` is native, weight-only or unsupported; ``compute`` is the matrix
    format the GEMMs run in (None for KV-cache formats and where nothing
    runs); ``rule`` says what decided, with its source, in one line.
    """

    mode: str
    compute: str | None
    rule: str
    rule_id: str | None = None

    @property
    def runs(self) -> bool:
        return self.mode != UNSUPPORTED

    @property
    def label(self) -> str:
        """Short text for tables: native, weight-only (fp16 rate), no."""
        if self.mode == WEIGHT_ONLY:
            return f"weight-only ({self.compute} rate)"
        return "no" if self.mode == UNSUPPORTED else self.mode


def gemm_rate(gpu: Gpu, fmt: str) -> float | None:
    """Peak dense FLOP/s of ``gpu`` for GEMMs in ``fmt``, None if the catalog
    gives none. 16-bit activations run in whichever 16-bit format the GPU
    lists (Gaudi 2 lists BF16 only, Apple GPUs FP16 only); whether a 16-bit
    WEIGHT format runs there at all is the matrix's call, not this one's."""
    rate = gpu.tensor_flops(fmt)
    if rate is None and fmt in ("fp16", "bf16"):
        rate = gpu.tensor_flops("bf16" if fmt == "fp16" else "fp16")
    return rate


def attach_rules(engines: Mapping[str, Engine], rules: Iterable[SupportRule]) -> None:
    """Give each engine the rules that name it, in catalog order (the loader
    calls this once per validated catalog)."""
    ordered = list(rules)
    for engine in engines.values():
        engine._support_rules = tuple(rule for rule in ordered if engine.id in rule.engines)


def hardware(gpu: Gpu) -> str:
    """How the matrix sees a GPU: its compute capability, or its family."""
    if gpu.compute_capability:
        return f"compute capability {gpu.compute_capability}"
    return f"family {gpu.family}"


def deciding_rule(gpu: Gpu, fmt: str, engine: Engine, use: str = WEIGHTS) -> SupportRule | None:
    """The last of the engine's rules that covers ``fmt`` for ``use`` on ``gpu``."""
    found = None
    for rule in engine._support_rules:
        if rule.use == use and fmt in rule.formats and rule.selects(gpu):
            found = rule
    return found


def cite(rule: SupportRule) -> str:
    return f"support rule '{rule.id}' ({rule.source}; as of {rule.as_of})"


def support(gpu: Gpu, precision: Precision, engine: Engine, use: str = WEIGHTS) -> Support:
    """How ``engine`` runs ``precision`` on ``gpu``, as weights or as the KV cache."""
    run = f"run {precision.id} weights" if use == WEIGHTS else f"keep its KV cache in {precision.id}"
    if use == WEIGHTS and engine.id not in precision.engines:
        return Support(UNSUPPORTED, None, f"{engine.name} does not serve {precision.id} (precisions.yaml, engines)")
    if use == KV_CACHE and not precision.kv_cache:
        return Support(UNSUPPORTED, None, f"{precision.id} is not a KV-cache format")
    if use == KV_CACHE and precision.id not in engine.kv_cache_formats:
        return Support(UNSUPPORTED, None, f"{engine.name} cannot store its KV cache in {precision.id}")
    rule = deciding_rule(gpu, precision.id, engine, use)
    if rule is None:
        return Support(UNSUPPORTED, None,
                       f"{engine.name} is not known to {run} on {gpu.id} ({hardware(gpu)}): {NO_RULE} "
                       f"(add one to the support section of a --catalog overlay)")
    if rule.mode == UNSUPPORTED:
        return Support(UNSUPPORTED, None, f"{engine.name} cannot {run} on {gpu.id} ({hardware(gpu)}): {cite(rule)}",
                       rule.id)
    if use == KV_CACHE:
        return Support(rule.mode, None, cite(rule), rule.id)
    compute = precision.compute if rule.mode == NATIVE else rule.compute
    assert compute is not None  # the schema requires compute on weight-only rules
    if gemm_rate(gpu, compute) is None:
        return Support(UNSUPPORTED, None,
                       f"{engine.name} cannot {run} on {gpu.id}: {cite(rule)} runs them at the {compute} rate, but "
                       f"the catalog gives {gpu.id} no {compute} rate", rule.id)
    return Support(rule.mode, compute, cite(rule), rule.id)
