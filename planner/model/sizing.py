"""How big is a model of P parameters at each precision, and what does one
forward pass cost per token? The seed article's first question.

Size S = P x b, with b the effective bytes per parameter of the storage
format (scales and zero points included). Sizes are decimal: 1 GB = 10^9
bytes, as the seed article converts (10B at FP32 = 40 GB); GiB (2^30) is
given beside it because GPU memory is often labelled in GiB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner.catalog.schema import ModelKind, Precision
from planner.model import perf
from planner.model.resolve import ModelRef
from planner.model.workload import ModelSpec, Shape, check_context


@dataclass(frozen=True)
class SizeRow:
    precision: str
    name: str
    bits_per_weight: float
    bytes_per_parameter: float
    size_bytes: float
    # bits the served model keeps its token embedding and output head in, where
    # the format leaves them unquantised (precisions.yaml embeddings_bits);
    # fit and predict count them so, this row's size does not
    embeddings_bits: float | None = None

    @property
    def size_gb(self) -> float:
        return self.size_bytes / 1e9

    @property
    def size_gib(self) -> float:
        return self.size_bytes / 2**30


@dataclass(frozen=True)
class KvRow:
    """The KV cache of one sequence of ``context`` tokens in one cache format."""

    precisions: tuple[str, ...]  # formats of the same width (fp16 and bf16 are the same bytes)
    bits_per_element: float
    size_bytes: float

    @property
    def size_gb(self) -> float:
        return self.size_bytes / 1e9

    @property
    def size_gib(self) -> float:
        return self.size_bytes / 2**30


@dataclass(frozen=True)
class SizeTable:
    model: ModelRef
    rows: list[SizeRow]
    forward_flops_per_token: float  # 2 FLOPs (multiply + add) per GEMM parameter
    flops_exact: bool
    context: int | None = None  # tokens per sequence the KV rows are for
    kv_rows: tuple[KvRow, ...] = ()


def kv_table(ref: ModelRef, kv_formats: list[Precision], context: int, rope_scaling: bool = False) -> tuple[KvRow, ...]:
    """KV-cache bytes of one sequence of ``context`` tokens, per cache width.

    Needs the architecture (a bare count has none: no rows). The context must
    fit the model's window (check_context). Sliding-window layers hold at most
    their window and linear-attention layers a fixed state
    (perf.kv_elements_per_sequence, perf.linear_state_bytes_per_sequence).
    """
    if ref.model is None or ref.model.kind is ModelKind.ENCODER:
        return ()
    check_context(ModelSpec(ref.model, approximate=False, label=ref.label), Shape(context, 0), rope_scaling)
    elements = perf.kv_elements_per_sequence(ref.model, context)
    state = perf.linear_state_bytes_per_sequence(ref.model)
    by_width: dict[float, list[str]] = {}
    for fmt in kv_formats:
        if fmt.kv_cache and fmt.kv_bits is not None:
            by_width.setdefault(fmt.kv_bits, []).append(fmt.id)
    return tuple(KvRow(tuple(ids), bits, elements * bits / 8 + state)
                 for bits, ids in sorted(by_width.items(), reverse=True))


def size_table(ref: ModelRef, precisions: list[Precision], *, context: int | None = None,
               kv_formats: Sequence[Precision] = (), rope_scaling: bool = False) -> SizeTable:
    rows = [
        SizeRow(
            precision=p.id,
            name=p.name,
            bits_per_weight=p.bits_per_weight,
            bytes_per_parameter=p.bytes_per_weight,
            size_bytes=ref.parameters * p.bytes_per_weight,
            embeddings_bits=p.embeddings_bits if p.embeddings_bits not in (None, p.bits_per_weight) else None,
        )
        for p in precisions
    ]
    # A forward pass costs 2 FLOPs per parameter that takes part in a matrix
    # multiply (Kaplan et al. 2020, "Scaling Laws", C_forward ~ 2N): exact
    # from the architecture (active experts, no embedding gather), else 2 x P.
    if ref.matmul_parameters is not None:
        flops, exact = 2.0 * ref.matmul_parameters, True
    else:
        flops, exact = 2.0 * ref.parameters, False
    kv_rows = kv_table(ref, list(kv_formats), context, rope_scaling) if context is not None else ()
    return SizeTable(ref, rows, flops, exact, context, kv_rows)
