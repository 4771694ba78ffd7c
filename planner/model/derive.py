"""An approximate architecture for a bare parameter count ("13B").

Depth and width are interpolated, in log-parameters, between the two
catalog dense decoders that bracket the count; attention layout, vocabulary
and context come from the nearer one; the FFN width is then solved so the
parameter count matches exactly. Every result built on it is marked
approximate.
"""

from __future__ import annotations

import math

from planner.catalog.architecture import count_params
from planner.catalog.load import Catalog
from planner.core.errors import InputError
from planner.catalog.schema import Model, ModelKind
from planner.core.units import format_params


def _reference_models(catalog: Catalog) -> list[tuple[int, Model]]:
    dense = [
        (count_params(m).total, m)
        for m in catalog.models.values()
        # plain dense decoders only: a layout with sliding-window or
        # linear-attention layers does not carry over to another depth
        if m.kind is ModelKind.DECODER and m.moe is None and m.mla is None
        and m.sliding_window is None and m.linear_attention is None
    ]
    if len(dense) < 2:
        raise InputError("the catalog needs at least two dense decoder models to derive an architecture from a count")
    return sorted(dense, key=lambda pair: pair[0])


def derive_architecture(catalog: Catalog, parameters: int) -> Model:
    refs = _reference_models(catalog)
    below = [pair for pair in refs if pair[0] <= parameters]
    above = [pair for pair in refs if pair[0] >= parameters]
    lo = below[-1] if below else refs[0]
    hi = above[0] if above else refs[-1]
    if lo[0] == hi[0]:  # exact match, or outside the catalog's range: extrapolate from the end pair
        lo, hi = (refs[0], refs[1]) if not below else (refs[-2], refs[-1]) if not above else (lo, hi)
    span = math.log(hi[0]) - math.log(lo[0])
    t = (math.log(parameters) - math.log(lo[0])) / span if span else 0.0
    lo_m, hi_m = lo[1], hi[1]
    nearer = hi_m if t >= 0.5 else lo_m

    layers = max(1, round(lo_m.layers + t * (hi_m.layers - lo_m.layers)))
    head_dim = nearer.head_dim
    hidden = math.exp(math.log(lo_m.hidden_size) + t * (math.log(hi_m.hidden_size) - math.log(lo_m.hidden_size)))
    heads = max(1, round(hidden / head_dim))
    hidden = heads * head_dim
    group = max(1, nearer.heads // nearer.kv_heads)
    while heads % group:
        group -= 1
    kv_heads = heads // group

    draft = nearer.model_copy(
        update={
            "id": f"derived-{format_params(parameters).lower()}",
            "aliases": [],
            "hf_ids": [],  # a derived architecture is no published repository
            "name": f"architecture derived for {format_params(parameters)} parameters",
            "layers": layers,
            "hidden_size": hidden,
            "heads": heads,
            "kv_heads": kv_heads,
            "head_dim": head_dim,
            "params_published": float(parameters),
            "notes": f"interpolated between {lo_m.id} and {hi_m.id}; layout of {nearer.id}",
        }
    )
    # Solve the FFN width so that the total matches the asked count.
    counts = count_params(draft.model_copy(update={"ffn_size": 1}))
    per_unit = layers * (3 if draft.ffn_gated else 2) * hidden
    fixed = counts.total - counts.ffn
    ffn = max(1, round((parameters - fixed) / per_unit))
    return draft.model_copy(update={"ffn_size": ffn})
