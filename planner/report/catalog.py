"""Catalog entries laid out for `planner catalog list` (one row each) and
what runs on a GPU for `planner catalog show`."""

from __future__ import annotations

from typing import Any


from planner.catalog.architecture import count_params
from planner.catalog.schema import Gpu, Instance, InstancePrice, PricingModel, Server, SupportRule
from planner.catalog.support import KV_CACHE, support
from planner.report.format import TextTable
from planner.report.layout import laid_out
from planner.catalog.load import Catalog
from planner.core.units import format_params


def catalog_rows(catalog: Catalog, section: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if section == "gpus":
        for g in catalog.gpus.values():
            offers = gpu_offers(catalog, g)
            rows.append({
                "id": g.id,
                "name": g.name,
                "memory_total_gib": g.memory_total_gib,
                "memory_bandwidth_gbs": g.memory_bandwidth_gbs,
                "bf16_tflops": g.tensor_tflops.bf16,
                "fp8_tflops": g.tensor_tflops.fp8,
                "tdp_w": g.tdp_w,
                **offers,
            })
    elif section == "providers":
        for provider in catalog.providers.values():
            rows.append({
                "id": provider.id,
                "name": provider.name,
                "kind": provider.kind,
                "default": provider.default,
                "instances": sum(i.provider == provider.id for i in catalog.instances.values()),
                "billing": provider.billing,
                "as_of": provider.as_of,
                "source": provider.source,
            })
    elif section == "instances":
        for instance in catalog.instances.values():
            on_demand = cheapest_on_demand(instance)
            rows.append({
                "id": instance.id,
                "provider": instance.provider,
                "name": instance.name,
                "gpu": instance.gpu,
                "gpus": instance.gpus,
                "on_demand_usd_per_hour": on_demand.usd_per_hour if on_demand else None,
                "on_demand_region": on_demand.region if on_demand else None,
                "on_demand_as_of": on_demand.as_of if on_demand else None,
                "other_pricing": other_pricing(instance),
                "prices_listed": len(instance.prices),
            })
    elif section == "servers":
        for server in catalog.servers.values():
            rows.append({
                "id": server.id,
                "name": server.name,
                "gpu": server.gpu,
                "gpus": server.gpus,
                "price_usd": server.price_usd,
                "as_of": server_as_of(server),
                "max_power_w": server.max_power_w,
                "includes": server.includes,
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


def catalog_renderables(catalog: Catalog, sections: list[str], width: int = 120) -> list[Any]:
    """The catalog tables laid out for ``width`` columns: labels (and headers)
    wrap at spaces, never inside a word, so no figure or id is cut; a table
    that still would not fit turns into one card per entry, titled by its id."""
    out: list[Any] = []
    for table in catalog_tables(catalog, sections):
        ids = [str(cell) for cell in table.columns[0].cells] if table.columns else []
        out.extend(laid_out(table, width, ids))
    return out


def catalog_tables(catalog: Catalog, sections: list[str]) -> list[TextTable]:
    tables = []
    for section in sections:
        table = TextTable(title=f"{section} ({len(getattr(catalog, section))})", title_justify="left")
        if section == "gpus":
            for col in ("id", "name", "memory (GiB)", "bandwidth (GB/s)", "BF16 dense (TFLOP/s)", "FP8 dense (TFLOP/s)",
                        "TDP (W)", "instances", "servers", "cheapest on-demand ($/GPU-h)"):
                table.add_column(col, justify="left" if col in ("id", "name", "cheapest on-demand ($/GPU-h)") else "right",
                                 no_wrap=col == "id")
            for g in catalog.gpus.values():
                t = g.tensor_tflops
                offers = gpu_offers(catalog, g)
                cheapest = offers["cheapest_on_demand_usd_per_gpu_hour"]
                table.add_row(
                    g.id, g.name, f"{g.memory_total_gib:g}", f"{g.memory_bandwidth_gbs:,.0f}",
                    f"{t.bf16:,.0f}" if t.bf16 else "-", f"{t.fp8:,.0f}" if t.fp8 else "-",
                    f"{g.tdp_w:,.0f}" if g.tdp_w else "-", str(offers["instances"]), str(offers["servers"]),
                    f"${cheapest:,.2f} ({offers['cheapest_on_demand_instance']})" if cheapest is not None else "-",
                )
        elif section == "providers":
            for col in ("id", "name", "kind", "default", "instances", "price includes", "as of"):
                table.add_column(col, justify="right" if col == "instances" else "left", no_wrap=col == "id")
            for provider in catalog.providers.values():
                count = sum(i.provider == provider.id for i in catalog.instances.values())
                table.add_row(provider.id, provider.name, provider.kind, "yes" if provider.default else "no", str(count),
                              provider.billing, provider.as_of)
        elif section == "instances":
            for col in ("provider", "name", "GPUs", "on-demand ($/h)", "region", "other pricing", "as of"):
                table.add_column(col, justify="right" if col == "on-demand ($/h)" else "left", no_wrap=col == "name")
            for instance in catalog.instances.values():
                on_demand = cheapest_on_demand(instance)
                table.add_row(instance.provider, instance.name, f"{instance.gpu} x {instance.gpus}",
                              f"{on_demand.usd_per_hour:,.2f}" if on_demand else "-",
                              on_demand.region if on_demand else "-", ", ".join(other_pricing(instance)) or "-",
                              on_demand.as_of if on_demand else "-")
        elif section == "servers":
            for col in ("id", "name", "GPUs", "price ($)", "as of", "max power (W)"):
                table.add_column(col, justify="right" if col in ("price ($)", "max power (W)") else "left",
                                 no_wrap=col == "id")
            for server in catalog.servers.values():
                table.add_row(server.id, server.name, f"{server.gpu} x {server.gpus}", f"{server.price_usd:,.0f}",
                              server_as_of(server), f"{server.max_power_w:,.0f}" if server.max_power_w else "-")
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


def cheapest_on_demand(instance: Instance) -> InstancePrice | None:
    """The instance's lowest on-demand price over the regions listed."""
    prices = [p for p in instance.prices if p.pricing is PricingModel.ON_DEMAND]
    return min(prices, key=lambda p: p.usd_per_hour, default=None)


def other_pricing(instance: Instance) -> list[str]:
    """The pricing models other than on-demand the instance has a price for, in the schema's order."""
    listed = {p.pricing for p in instance.prices}
    return [m.value for m in PricingModel if m in listed and m is not PricingModel.ON_DEMAND]


def server_as_of(server: Server) -> str:
    """When a server's parts were priced: one date, or each distinct one."""
    return ", ".join(dict.fromkeys(part.as_of for part in server.parts))


def gpu_offers(catalog: Catalog, gpu: Gpu) -> dict[str, Any]:
    """How the price book offers ``gpu``: the instances and servers that carry
    it, and the cheapest on-demand price per GPU-hour with the instance it
    comes from (any provider, any region listed)."""
    instances = [i for i in catalog.instances.values() if i.gpu == gpu.id]
    best: tuple[float, Instance, InstancePrice] | None = None
    for instance in instances:
        price = cheapest_on_demand(instance)
        if price is not None and (best is None or price.usd_per_hour / instance.gpus < best[0]):
            best = (price.usd_per_hour / instance.gpus, instance, price)
    provider = catalog.providers.get(best[1].provider) if best else None
    return {
        "instances": len(instances),
        "servers": sum(s.gpu == gpu.id for s in catalog.servers.values()),
        "cheapest_on_demand_usd_per_gpu_hour": round(best[0], 4) if best else None,
        "cheapest_on_demand_instance": (f"{provider.name if provider else best[1].provider} {best[1].name}"
                                        if best else None),
        "cheapest_on_demand_region": best[2].region if best else None,
        "cheapest_on_demand_as_of": best[2].as_of if best else None,
    }
