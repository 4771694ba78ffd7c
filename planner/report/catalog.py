"""Catalog entries laid out for `planner catalog list` (one row each) and
what runs on a GPU for `planner catalog show`."""

from __future__ import annotations

from typing import Any


from planner.catalog.architecture import count_params
from planner.catalog.schema import Gpu, SupportRule
from planner.catalog.support import KV_CACHE, support
from planner.report.format import TextTable
from planner.catalog.load import Catalog
from planner.core.units import format_params


def catalog_rows(catalog: Catalog, section: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if section == "gpus":
        for g in catalog.gpus.values():
            cloud, buy = g.prices.cloud_usd_per_gpu_hour, g.prices.purchase_usd
            rows.append({
                "id": g.id,
                "name": g.name,
                "memory_total_gib": g.memory_total_gib,
                "memory_bandwidth_gbs": g.memory_bandwidth_gbs,
                "bf16_tflops": g.tensor_tflops.bf16,
                "fp8_tflops": g.tensor_tflops.fp8,
                "tdp_w": g.tdp_w,
                "cloud_usd_per_gpu_hour": cloud.value if cloud else None,
                "purchase_usd": buy.value if buy else None,
            })
    elif section == "precisions":
        for p in catalog.precisions.values():
            rows.append({
                "id": p.id,
                "name": p.name,
                "bits_per_weight": p.bits_per_weight,
                "compute": p.compute,
                "kv_cache": p.kv_cache,
                "quality_loss_pct": p.quality.loss_pct,
            })
    elif section == "engines":
        for e in catalog.engines.values():
            f = e.factors["default"]
            rows.append({
                "id": e.id,
                "name": e.name,
                "memory_utilization": e.memory_utilization,
                "max_batch": e.max_batch,
                "kv_cache_formats": e.kv_cache_formats,
                "bandwidth_share": f.bandwidth,
                "compute_share": f.compute,
                "fitted_on": e.fitted_on,
            })
    elif section == "support":
        for r in catalog.support.values():
            rows.append({
                "id": r.id,
                "engines": r.engines,
                "formats": r.formats,
                "use": r.use,
                "hardware": rule_hardware(r),
                "mode": r.mode,
                "compute": r.compute,
                "as_of": r.as_of,
            })
    elif section == "models":
        for m in catalog.models.values():
            counts = count_params(m)
            rows.append({
                "id": m.id,
                "name": m.name,
                "kind": m.kind,
                "parameters": counts.total,
                "active_parameters": counts.active,
                "layers": m.layers,
                "hidden_size": m.hidden_size,
                "heads": m.heads,
                "kv_heads": m.kv_heads,
                "max_context": m.max_context,
            })
    return rows


def catalog_tables(catalog: Catalog, sections: list[str]) -> list[TextTable]:
    tables = []
    for section in sections:
        table = TextTable(title=f"{section} ({len(getattr(catalog, section))})", title_justify="left")
        if section == "gpus":
            for col in ("id", "name", "memory (GiB)", "bandwidth (GB/s)", "BF16 dense (TFLOP/s)", "FP8 dense (TFLOP/s)",
                        "TDP (W)", "cloud ($/GPU-h)", "purchase ($)"):
                table.add_column(col, justify="left" if col in ("id", "name") else "right", no_wrap=col == "id")
            for g in catalog.gpus.values():
                t = g.tensor_tflops
                cloud, buy = g.prices.cloud_usd_per_gpu_hour, g.prices.purchase_usd
                table.add_row(
                    g.id, g.name, f"{g.memory_total_gib:g}", f"{g.memory_bandwidth_gbs:,.0f}",
                    f"{t.bf16:,.0f}" if t.bf16 else "-", f"{t.fp8:,.0f}" if t.fp8 else "-",
                    f"{g.tdp_w:,.0f}" if g.tdp_w else "-",
                    f"{cloud.value:,.2f}" if cloud else "-", f"{buy.value:,.0f}" if buy else "-",
                )
        elif section == "precisions":
            for col in ("id", "name", "bits/weight", "GEMMs in", "KV cache", "quality loss"):
                table.add_column(col, justify="left" if col in ("id", "name", "GEMMs in") else "right", no_wrap=col == "id")
            for p in catalog.precisions.values():
                table.add_row(p.id, p.name, f"{p.bits_per_weight:g}", p.compute, "yes" if p.kv_cache else "no",
                              f"{p.quality.loss_pct:g}%")
        elif section == "engines":
            for col in ("id", "name", "memory use", "max batch", "KV formats", "bandwidth share", "16-bit compute share"):
                table.add_column(col, justify="left" if col in ("id", "name", "KV formats") else "right", no_wrap=col == "id")
            for e in catalog.engines.values():
                f = e.factors["default"]
                table.add_row(e.id, e.name, f"{e.memory_utilization:.0%}", str(e.max_batch or "-"),
                              ", ".join(e.kv_cache_formats), f"{f.bandwidth:.0%}", f"{f.compute:.0%}")
        elif section == "support":
            for col in ("id", "engines", "formats", "use", "hardware", "mode"):
                table.add_column(col, justify="left", no_wrap=col == "id")
            for r in catalog.support.values():
                mode = f"{r.mode} ({r.compute})" if r.compute else r.mode
                table.add_row(r.id, ", ".join(r.engines), ", ".join(r.formats), r.use, rule_hardware(r), mode)
        else:
            for col in ("id", "name", "kind", "parameters", "layers", "hidden", "heads/kv", "context"):
                table.add_column(col, justify="left" if col in ("id", "name", "kind") else "right", no_wrap=col == "id")
            for m in catalog.models.values():
                counts = count_params(m)
                params = format_params(round(counts.total, -6) or counts.total)
                if counts.active != counts.total:
                    params += f" ({format_params(round(counts.active, -6))} active)"
                table.add_row(m.id, m.name, m.kind, params, str(m.layers), str(m.hidden_size),
                              f"{m.heads}/{m.kv_heads}", f"{m.max_context:,}")
        tables.append(table)
    return tables


def gpu_support(catalog: Catalog, gpu: Gpu) -> dict[str, dict[str, dict[str, str]]]:
    """What runs on ``gpu``, per engine: each weight format the engine serves and
    each KV-cache format it offers, as native, weight-only (its GEMM rate) or no
    (the format support matrix, catalog/support.yaml)."""
    runs: dict[str, dict[str, dict[str, str]]] = {}
    for engine in catalog.engines.values():
        weights = {p.id: support(gpu, p, engine).label for p in catalog.precisions.values()
                   if p.weight_format and engine.id in p.engines}
        kv = {f: support(gpu, catalog.precisions[f], engine, KV_CACHE).label for f in engine.kv_cache_formats
              if f in catalog.precisions}
        runs[engine.id] = {"weights": weights, "kv_cache": kv}
    return runs


def rule_hardware(rule: SupportRule) -> str:
    """The GPUs a support rule selects, as short text: "cc 7.5-8.6, cdna3" (cc:
    NVIDIA compute capability; "cc 8.0+" has no upper end)."""
    parts = []
    cc = rule.compute_capability
    if cc is not None:
        if cc.min == cc.max:
            parts.append(f"cc {cc.min}")
        elif cc.max is None:
            parts.append(f"cc {cc.min}+")
        elif cc.min is None:
            parts.append(f"cc up to {cc.max}")
        else:
            parts.append(f"cc {cc.min}-{cc.max}")
    parts += rule.families + rule.gpus
    return ", ".join(parts)
