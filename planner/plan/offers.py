"""What a plan can add, each at its price: instances to rent, servers to buy,
and GPUs the user already owns.

An offer is one unit of hardware: a cloud instance at one published price
(a provider, a pricing model, a region), a server priced part by part, or a
node of owned GPUs. A tensor-parallel group never spans units (it needs the
GPUs' own link); pipeline stages may span units of one type over their
network. Which offers a question sees:

- ``--objective hourly`` rents: instances of the allowed providers (the
  providers marked ``default`` when none is named) with a price of the
  asked pricing model (on-demand unless told), in the asked region or, with
  none asked, the cheapest region listed.
- ``--objective capex`` and ``tco`` buy servers; TCO adds what they cost to
  run over the years (energy and colocation).
- Owned GPUs (``--owned``) are sunk: no rent, no purchase; TCO still counts
  what they cost to run.

A GPU with no offer under these rules is not planned at all (never priced
at $0), and the reason is kept for ``fit --explain`` and for an empty answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from planner.catalog.load import Catalog
from planner.catalog.schema import Gpu, Instance, InstancePrice, PricingModel, Provider, Server
from planner.core.units import HOURS_PER_YEAR
from planner.plan.question import Economics, Objective, Question


class Acquisition(StrEnum):
    """How a plan gets a unit of hardware."""

    RENT = "rent"
    BUY = "buy"
    OWNED = "owned"


@dataclass(frozen=True)
class Offer:
    """One unit a plan can add, with its price per unit.

    ``hourly_usd`` is the rent per unit (0 for owned and bought units: no
    rent is paid), ``capex_usd`` the purchase price (0 for rented and owned
    units), ``power_w`` what one unit draws at the wall before PUE: the
    system's published maximum input where the server has one, else the GPUs'
    TDP only (``power_basis`` says which).
    """

    key: str  # unique among offers
    acquisition: Acquisition
    gpu: Gpu
    gpus: int  # GPUs in one unit
    label: str  # as a buyer reads it: "AWS p5.48xlarge", "NVIDIA DGX H100", "owned h100-sxm"
    hourly_usd: float
    capex_usd: float
    power_w: float | None
    power_basis: str
    provider: Provider | None = None
    instance: Instance | None = None
    price: InstancePrice | None = None
    server: Server | None = None

    @property
    def pool(self) -> str:
        """What caps how many of these a plan may use: owned GPUs of a type
        are their own pool; rented and bought GPUs share the type's
        (``--available``)."""
        return f"owned:{self.gpu.id}" if self.acquisition is Acquisition.OWNED else self.gpu.id

    def cost(self, economics: Economics) -> float | None:
        """The objective's cost of one unit, USD (per hour for hourly)."""
        if economics.objective is Objective.HOURLY:
            return self.hourly_usd
        if economics.objective is Objective.CAPEX:
            return self.capex_usd
        return None if self.power_w is None else self.capex_usd + running_usd(self.power_w, economics)


def energy_usd(power_w: float, economics: Economics) -> float:
    """What drawing ``power_w`` costs over the years at the power price, with
    the site's PUE (a year is 8,760 h)."""
    kwh = power_w / 1000 * economics.pue * economics.years * HOURS_PER_YEAR
    return kwh * economics.power_usd_per_kwh


def colocation_usd(power_w: float, economics: Economics) -> float:
    """Space, power and cooling capacity for ``power_w`` over the years, at the
    colocation rate per kW-month."""
    return power_w / 1000 * economics.colo_usd_per_kw_month * 12 * economics.years


def running_usd(power_w: float, economics: Economics) -> float:
    """What a unit drawing ``power_w`` costs to run over the years: energy plus colocation."""
    return energy_usd(power_w, economics) + colocation_usd(power_w, economics)


def _power(gpu: Gpu, gpus: int, server: Server | None = None) -> tuple[float | None, str]:
    if server is not None and server.max_power_w is not None:
        return server.max_power_w, f"system maximum input power ({server.power_source})"
    if gpu.tdp_w is None:
        return None, "no power figure (the GPU has no TDP in the catalog)"
    return gpu.tdp_w * gpus, "GPU TDP only; the host's power is not counted"


def _providers(catalog: Catalog, q: Question) -> list[Provider]:
    if not q.providers:
        return [p for p in catalog.providers.values() if p.default]
    return [catalog.provider(name) for name in q.providers]


def _price(instance: Instance, pricing: PricingModel, region: str | None) -> InstancePrice | None:
    """The instance's price for ``pricing`` in ``region`` (any region when
    None: the cheapest listed)."""
    prices = [p for p in instance.prices if p.pricing is pricing
              and (region is None or p.region.lower().startswith(region.lower()))]
    return min(prices, key=lambda p: p.usd_per_hour, default=None)


def rentals(catalog: Catalog, q: Question, gpus: Iterable[Gpu]) -> tuple[list[Offer], list[tuple[str, str]]]:
    """Instances that may be rented for ``gpus``, cheapest per GPU type and
    instance size, and (GPU, why) for each GPU with none."""
    providers = {p.id: p for p in _providers(catalog, q)}
    pricing = q.pricing
    best: dict[tuple[str, int], Offer] = {}
    listed: set[str] = set()  # GPU types with an instance at an allowed provider, priced or not
    wanted = {g.id: g for g in gpus}
    for instance in catalog.instances.values():
        gpu = wanted.get(instance.gpu)
        if gpu is None or instance.provider not in providers:
            continue
        listed.add(gpu.id)
        price = _price(instance, pricing, q.region)
        if price is None:
            continue
        power, basis = _power(gpu, instance.gpus)
        provider = providers[instance.provider]
        offer = Offer(
            key=f"rent {instance.id} {pricing.value} {price.region}", acquisition=Acquisition.RENT, gpu=gpu,
            gpus=instance.gpus, label=f"{provider.name} {instance.name}", hourly_usd=price.usd_per_hour, capex_usd=0.0,
            power_w=power, power_basis=basis, provider=provider, instance=instance, price=price,
        )
        size = (gpu.id, instance.gpus)
        # the cheapest of a size only: two 8-GPU instances of one type serve alike
        if size not in best or offer.hourly_usd < best[size].hourly_usd:
            best[size] = offer
    offered = {gpu_id for gpu_id, _ in best}
    where = ", ".join(sorted(providers)) or "no provider"
    in_region = f" in region {q.region}" if q.region else ""
    missing = []
    for gpu in wanted.values():
        if gpu.id in offered:
            continue
        if gpu.id in listed:
            missing.append((gpu.id, f"no {pricing.value} price{in_region} for its instances at {where} "
                                    "(try another --pricing or --region)"))
        else:
            missing.append((gpu.id, f"no instance of it in the price book at {where} (try --provider, "
                                    "or add an instance with --catalog)"))
    return sorted(best.values(), key=lambda o: o.key), missing


def purchases(catalog: Catalog, q: Question, gpus: Iterable[Gpu]) -> tuple[list[Offer], list[tuple[str, str]]]:
    """Servers that may be bought for ``gpus``, cheapest per GPU type and size."""
    best: dict[tuple[str, int], Offer] = {}
    wanted = {g.id: g for g in gpus}
    tco = q.economics.objective is Objective.TCO
    no_power: set[str] = set()
    for server in catalog.servers.values():
        gpu = wanted.get(server.gpu)
        if gpu is None:
            continue
        power, basis = _power(gpu, server.gpus, server)
        if tco and power is None:
            no_power.add(gpu.id)
            continue
        offer = Offer(
            key=f"buy {server.id}", acquisition=Acquisition.BUY, gpu=gpu, gpus=server.gpus, label=server.name,
            hourly_usd=0.0, capex_usd=server.price_usd, power_w=power, power_basis=basis, server=server,
        )
        size = (gpu.id, server.gpus)
        if size not in best or offer.capex_usd < best[size].capex_usd:
            best[size] = offer
    offered = {gpu_id for gpu_id, _ in best}
    missing = []
    for gpu in wanted.values():
        if gpu.id in offered:
            continue
        if gpu.id in no_power:
            missing.append((gpu.id, "no power figure for its servers, so its energy cost is unknown"))
        else:
            missing.append((gpu.id, "no server with it in the price book to buy (add one with --catalog, "
                                    "or rent with --objective hourly)"))
    return sorted(best.values(), key=lambda o: o.key), missing


def owned(catalog: Catalog, counts: Mapping[str, int], gpus_per_node: int | None) -> list[Offer]:
    """A node of each owned GPU type (the catalog's node size, or
    ``--gpus-per-node``); how many GPUs in all is the pool's cap."""
    offers = []
    for gpu_id, count in sorted(counts.items()):
        if count <= 0:
            continue
        gpu = catalog.gpu(gpu_id)
        node = min(gpus_per_node or gpu.gpus_per_node, count)
        power, basis = _power(gpu, node)
        offers.append(Offer(
            key=f"owned {gpu.id}", acquisition=Acquisition.OWNED, gpu=gpu, gpus=node, label=f"owned {gpu.id}",
            hourly_usd=0.0, capex_usd=0.0, power_w=power, power_basis=basis,
        ))
    return offers


def offers_for(catalog: Catalog, q: Question, gpus: Iterable[Gpu]) -> tuple[list[Offer], list[tuple[str, str]]]:
    """Every offer the question allows for ``gpus``, owned first, and (GPU,
    why) for each GPU that can be neither used from what is owned nor
    rented or bought."""
    gpus = list(gpus)
    mine = owned(catalog, q.owned or {}, q.gpus_per_node)
    if q.economics.objective is Objective.HOURLY:
        market, missing = rentals(catalog, q, gpus)
    else:
        market, missing = purchases(catalog, q, gpus)
    if q.available:  # a type excluded from the market (=0) is not a market offer
        excluded = {gpu.id for gpu in gpus if q.available.get(gpu.id) == 0}
        market = [o for o in market if o.gpu.id not in excluded]
        missing = [(gpu_id, why) for gpu_id, why in missing if gpu_id not in excluded]
        missing += [(gpu_id, "excluded: available count 0") for gpu_id in sorted(excluded)]
    owned_ids = {o.gpu.id for o in mine}
    missing = [(gpu_id, why) for gpu_id, why in missing if gpu_id not in owned_ids]
    return mine + market, missing
