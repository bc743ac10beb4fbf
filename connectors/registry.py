"""Every source, registered once. A new provider is one module, one fixture and one line here."""

from __future__ import annotations

from connectors.archive import Archive, ArchiveFile
from connectors.aws import AwsPriceList
from connectors.azure import AzureRetailPrices
from connectors.azure_pricing_radar import REGIONS as RADAR_REGIONS
from connectors.azure_pricing_radar import AzurePricingRadar, region_path
from connectors.base import Source
from connectors.becloudready import BecloudreadyGpuPrices
from connectors.cloudrift import CloudriftSource
from connectors.digitalocean import DigitalOceanSizes
from connectors.epoch_ai import EpochAIHardware
from connectors.gcp import GcpBillingCatalog
from connectors.gcp_pricing_yml import CyclenerdGcpPricing
from connectors.gpuhunt import GpuhuntCatalogs
from connectors.lambda_cloud import LambdaCloud
from connectors.oci import OciSource
from connectors.runpod import RunpodSource
from connectors.skypilot import SkyPilotCatalog
from connectors.vast import VastSource
from connectors.verda import VerdaCloud
from connectors.vultr import VultrSource

# One line per source. Keep the list sorted by id within each kind.
SOURCES: list[Source] = [
    AwsPriceList(),
    AzureRetailPrices(),
    CloudriftSource(),
    DigitalOceanSizes(),
    GcpBillingCatalog(),
    LambdaCloud(),
    OciSource(),
    RunpodSource(),
    VastSource(),
    VerdaCloud(),
    VultrSource(),
    CyclenerdGcpPricing(),
    GpuhuntCatalogs(),
    SkyPilotCatalog(),
    EpochAIHardware(),
]


# How old a source's newest snapshot may be and still describe the market on a day
# (`offers_as_of(day)` in warehouse/views.sql): a few days for a daily source, so one missed run
# does not empty it, and longer for a source that publishes weekly. Older, it drops out of
# "latest" offers and the price index; it stays in history. Specs sources carry no offers.
DAILY_MAX_AGE_DAYS = 3
MAX_AGE_DAYS: dict[str, int] = {
    "cyclenerd": 10,  # Cyclenerd rebuilds pricing.yml about weekly
}


def max_age_days(source: Source) -> int | None:
    """Days a source's newest snapshot stays current; None for specs sources (no offers)."""
    if source.kind == "specs":
        return None
    return MAX_AGE_DAYS.get(source.id, DAILY_MAX_AGE_DAYS)


def all_sources() -> list[Source]:
    return list(SOURCES)


def get_source(source_id: str) -> Source:
    for source in SOURCES:
        if source.id == source_id:
            return source
    known = ", ".join(s.id for s in SOURCES)
    raise KeyError(f"unknown source {source_id!r}; known sources: {known}")


def price_sources() -> list[Source]:
    return [s for s in SOURCES if s.kind in ("direct", "aggregator")]


# Public git archives a backfill reads (`gpu-prices backfill SOURCE`): the source that parses
# a version, and where the versions are. Named after the tracker; offline copies live in
# snapshots/archives/<source id>/. Not in SOURCES: the daily job does not fetch them.
ARCHIVES: dict[str, tuple[Source, Archive]] = {
    "cyclenerd": (CyclenerdGcpPricing(), Archive(
        "cyclenerd", "Apache-2.0",
        (ArchiveFile("Cyclenerd/google-cloud-pricing-cost-calculator", "pricing.yml", "", "application/yaml"),),
        "Google Cloud GPU machine types, weekly since 2022-02")),
    "becloudready": (BecloudreadyGpuPrices(), Archive(
        "becloudready", "Apache-2.0",
        (ArchiveFile("becloudready/gpu-price", "gpu_prices.json", "", "application/json"),),
        "gpuhunt prices per GPU model and provider, daily 2024-09 to 2025-04")),
    "azure-pricing-radar": (AzurePricingRadar(), Archive(
        "azure-pricing-radar", "MIT",
        tuple(ArchiveFile("andy-diericks/azure-pricing-radar", region_path(r), r, "application/json")
              for r in RADAR_REGIONS),
        "Azure Retail Prices of N-series VMs in five European regions, ~6-hourly since 2026-07")),
}


def get_archive(source_id: str) -> tuple[Source, Archive]:
    try:
        return ARCHIVES[source_id]
    except KeyError:
        raise KeyError(f"no archive for {source_id!r}; archives: {', '.join(ARCHIVES)}") from None


def source_kinds() -> dict[str, str]:
    """Source id -> direct | aggregator | specs, for every source a warehouse row can name: the
    registry's and the archives' (what `costmodel.offers.one_quote_per_offer` needs)."""
    return {s.id: s.kind for s in all_sources()} | {sid: src.kind for sid, (src, _) in ARCHIVES.items()}
