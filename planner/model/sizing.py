"""How big is a model of P parameters at each precision, and what does one
forward pass cost per token? The seed article's first question.

Size S = P x b, with b the effective bytes per parameter of the storage
format (scales and zero points included). Sizes are decimal: 1 GB = 10^9
bytes, as the seed article converts (10B at FP32 = 40 GB); GiB (2^30) is
given beside it because GPU memory is often labelled in GiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.schema import Precision
from planner.model.resolve import ModelRef


@dataclass(frozen=True)
class SizeRow:
    precision: str
    name: str
    bits_per_weight: float
    bytes_per_parameter: float
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


def size_table(ref: ModelRef, precisions: list[Precision]) -> SizeTable:
    rows = [
        SizeRow(
            precision=p.id,
            name=p.name,
            bits_per_weight=p.bits_per_weight,
            bytes_per_parameter=p.bytes_per_weight,
            size_bytes=ref.parameters * p.bytes_per_weight,
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
    return SizeTable(ref, rows, flops, exact)
