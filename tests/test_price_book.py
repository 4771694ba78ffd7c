"""The shipped price book (catalog/prices.yaml) against the reference it was
filled from (references/procurement/instances.csv, tco.md, SOURCES.md)."""

import csv
import re
from pathlib import Path

import pytest

from planner.catalog.load import load_catalog
from planner.catalog.schema import PricingModel

REFERENCE = Path(__file__).resolve().parent.parent / "references" / "procurement"

PROVIDER_IDS = {"AWS": "aws", "Azure": "azure", "GCP": "gcp", "CoreWeave": "coreweave", "Lambda": "lambda",
                "RunPod": "runpod"}

# Rows of instances.csv the price book leaves out on purpose; the reason is
# written at the top of catalog/prices.yaml.
LEFT_OUT = {
    ("AWS", "inf2.xlarge"), ("AWS", "inf2.8xlarge"), ("AWS", "inf2.24xlarge"), ("AWS", "inf2.48xlarge"),
    ("Azure", "Standard_NC6s_v3"),
    ("RunPod", "serverless flex worker: H100 PRO"), ("RunPod", "serverless flex worker: H200 PRO"),
    ("RunPod", "serverless flex worker: B200"), ("RunPod", "serverless flex worker: 4090 PRO"),
    ("RunPod", "serverless flex worker: A100"), ("RunPod", "serverless flex worker: L40/L40S/6000 Ada PRO"),
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def rows():
    with open(REFERENCE / "instances.csv", newline="") as handle:
        return {(row["provider"], row["instance_type"]): row for row in csv.DictReader(handle)}


def _by_key(catalog):
    return {(instance.provider, instance.name): instance for instance in catalog.instances.values()}


def _on_demand(instance):
    return [price for price in instance.prices if price.pricing is PricingModel.ON_DEMAND]


def test_providers_are_the_six_of_the_reference(catalog, rows):
    assert {row["provider"] for row in rows.values()} == set(PROVIDER_IDS)
    assert set(catalog.providers) == set(PROVIDER_IDS.values())
    kinds = {provider.id: provider.kind for provider in catalog.providers.values()}
    assert kinds == {"aws": "hyperscaler", "azure": "hyperscaler", "gcp": "hyperscaler",
                     "coreweave": "gpu-cloud", "lambda": "gpu-cloud", "runpod": "marketplace"}
    # a plan signed off by a team rents from providers with an SLA; RunPod only on request
    assert {provider.id for provider in catalog.providers.values() if provider.default} == {
        "aws", "azure", "gcp", "coreweave", "lambda"}


def test_every_reference_row_is_in_the_book_or_left_out_on_purpose(catalog, rows):
    in_book = {(provider, name) for provider, name in _by_key(catalog)}
    expected = {(PROVIDER_IDS[provider], name) for provider, name in rows if (provider, name) not in LEFT_OUT}
    assert in_book == expected
    assert LEFT_OUT <= set(rows)  # the list names real rows


def test_on_demand_prices_and_gpu_counts_equal_the_reference_exactly(catalog, rows):
    """Tolerance: exact. The book copies instances.csv; any difference is a
    transcription error."""
    book = _by_key(catalog)
    checked = 0
    for (provider, name), row in rows.items():
        if (provider, name) in LEFT_OUT:
            continue
        instance = book[(PROVIDER_IDS[provider], name)]
        assert instance.gpus == int(row["gpu_count"]), name
        assert instance.source == row["spec_source"], name
        assert instance.vcpus == (int(row["vcpus"]) if row["vcpus"] else None), name
        assert instance.ram_gb == (float(row["ram_gb"]) if row["ram_gb"] else None), name
        on_demand = _on_demand(instance)
        if not row["on_demand_usd_per_hour"]:
            assert on_demand == [], name
            continue
        assert len(on_demand) == 1, name
        price = on_demand[0]
        assert price.usd_per_hour == float(row["on_demand_usd_per_hour"]), name
        # the source's wording about the region is kept whole, split into the
        # region and its note ("us-east-1 (Lambda region; ...)")
        written = price.region + (f" ({price.region_note})" if price.region_note else "")
        assert written == row["price_region"], name
        assert price.source == row["price_source"], name
        checked += 1
    assert checked == 93


def test_price_dates_follow_the_reference(catalog, rows):
    """A dated source keeps its date; an undated snapshot carries the year it
    was read and says so."""
    book = _by_key(catalog)
    for (provider, name), row in rows.items():
        if (provider, name) in LEFT_OUT or not row["on_demand_usd_per_hour"]:
            continue
        price = _on_demand(book[(PROVIDER_IDS[provider], name)])[0]
        stated = re.match(r"^(\d{4}-\d{2}(?:-\d{2})?)", row["price_date"])
        if stated:
            assert price.as_of == stated.group(1), name
        else:
            assert price.as_of == "2026", name
            assert "as_of is when it was read" in (price.note or ""), name


def test_instances_and_servers_name_catalog_gpus(catalog):
    for instance in catalog.instances.values():
        assert instance.gpu in catalog.gpus, instance.id
    for server in catalog.servers.values():
        assert server.gpu in catalog.gpus, server.id


def test_instances_name_known_providers_once(catalog):
    seen = set()
    for instance in catalog.instances.values():
        assert instance.provider in catalog.providers, instance.id
        key = (instance.provider, instance.name)
        assert key not in seen, key
        seen.add(key)


def test_instance_ids_are_provider_and_name(catalog):
    for instance in catalog.instances.values():
        name = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9._-]", "-", instance.name.lower())).strip("-")
        assert instance.id == f"{instance.provider}-{name}"


def test_every_price_has_a_date_and_a_source(catalog):
    for instance in catalog.instances.values():
        for price in instance.prices:
            assert price.as_of and price.source.strip(), instance.id
    for server in catalog.servers.values():
        for part in server.parts:
            assert part.as_of and part.source.strip(), server.id
        if server.max_power_w is not None:
            assert server.power_source, server.id


def test_instances_without_a_price_say_so(catalog):
    unpriced = {instance.id for instance in catalog.instances.values() if not instance.prices}
    assert unpriced == {"aws-p5e.48xlarge", "azure-standard_nd96isr_h200_v5", "azure-standard_nd96isr_mi300x_v5"}
    for instance_id in unpriced:
        assert "no price found" in catalog.instances[instance_id].notes.lower()


def test_commitments_cost_less_than_on_demand_in_the_same_region(catalog):
    """A 1-year reservation or a spot price above the on-demand price of the
    same region would be a transcription error (AWS reservations and spot are
    discounts on on-demand)."""
    compared = 0
    for instance in catalog.instances.values():
        on_demand = {price.region: price.usd_per_hour for price in _on_demand(instance)}
        for price in instance.prices:
            if price.pricing is PricingModel.ON_DEMAND:
                continue
            region = price.region.split(" (")[0]  # a spot zone belongs to its region
            if region in on_demand:
                assert price.usd_per_hour < on_demand[region], (instance.id, price.pricing, price.region)
                compared += 1
    assert compared >= 30


def test_reserved_prices_name_their_commitment(catalog):
    for instance in catalog.instances.values():
        for price in instance.prices:
            if price.pricing in (PricingModel.RESERVED_1Y, PricingModel.RESERVED_3Y):
                assert price.note and "Reserved Instance" in price.note, instance.id
            if price.pricing is PricingModel.SPOT:
                assert price.note and "interruptible" in price.note, instance.id


def test_server_prices_are_their_parts(catalog):
    for server in catalog.servers.values():
        assert server.price_usd == sum(part.quantity * part.unit_usd for part in server.parts)


# Published figures (references/procurement/tco.md sections 3 and 5), exact:
# DGX H100 ~$270,000 (T11, May 2023), max input 10.2 kW (T22); DGX A100
# ~$200,000 (T12, May 2020), 6.5 kW (T23); GB200 NVL72 ~$3M for 72 GPUs (T13).
@pytest.mark.parametrize("server_id, price_usd, gpus, max_power_w", [
    ("dgx-h100", 270_000, 8, 10_200),
    ("dgx-a100", 200_000, 8, 6_500),
    ("gb200-nvl72", 3_000_000, 72, None),
])
def test_servers_carry_the_published_figures(catalog, server_id, price_usd, gpus, max_power_w):
    server = catalog.servers[server_id]
    assert server.price_usd == price_usd
    assert server.gpus == gpus
    assert server.max_power_w == max_power_w


def test_reference_copies_name_the_consumer_licence_clause():
    sources = (REFERENCE / "SOURCES.md").read_text()
    section = sources.split("## Consumer GPU licence terms", 1)[1]
    assert "No Datacenter Deployment" in section
    assert "nvidia.com" in section
