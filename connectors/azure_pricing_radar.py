"""azure-pricing-radar: Azure Retail Prices records a public tracker commits every ~6 hours.

Files: ``data/latest/vm-<region>.json`` in https://github.com/andy-diericks/azure-pricing-radar
(MIT), one per region; the backfill reads five European regions' git history (see
``snapshots/archives/azure-pricing-radar``). Live, `fetch` reads the same files at HEAD.

Shape: a JSON object keyed ``"<skuId>|<meterId>|<type>|<reservationTerm>"`` whose values are
Retail Prices API items trimmed by the radar (armRegionName, meterName, productName,
retailPrice, skuName, unitOfMeasure, unitPrice, savingsPlanPrice). Parsing restores
``type``, ``meterId``, ``skuId`` and ``reservationTerm`` from the key and hands each item to
the azure connector's own item rules (`connectors.azure.AzureRetailPrices`: Windows, spot,
low priority, reservations, units, identity evidence), so both sources read an item the same
way. The items have no ``currencyCode``: the Retail Prices API's default, USD, as for the
azure source. An empty object (the radar's belgium file holds ``{}``) is a version with no rows.
"""

from __future__ import annotations

from typing import Iterator

import httpx
import polars as pl

from connectors import http
from connectors.azure import AzureRetailPrices
from connectors.base import FetchContext, ParseError, RawResponse, json_object, offers_frame, parse_each, provenance

REPO = "andy-diericks/azure-pricing-radar"
REGIONS = ("belgium", "eu-west", "francecentral", "northeurope", "swedencentral")


def region_path(region: str) -> str:
    return f"data/latest/vm-{region}.json"


def latest_url(region: str) -> str:
    return f"https://raw.githubusercontent.com/{REPO}/HEAD/{region_path(region)}"


def radar_item(key: str, record: dict) -> dict:
    """A radar record as a Retail Prices item: the fields its key holds put back."""
    sku_id, meter_id, kind, term = (key.split("|") + ["", "", "", ""])[:4]
    item = {**record, "type": kind, "meterId": meter_id, "skuId": sku_id, "productId": sku_id.split("/", 1)[0]}
    if term:
        item["reservationTerm"] = term
    return item


class AzurePricingRadar(AzureRetailPrices):
    id = "azure-pricing-radar"
    name = "azure-pricing-radar (Azure Retail Prices, committed to git)"
    kind = "aggregator"
    providers = ("azure",)
    url = f"https://github.com/{REPO}"
    docs_url = f"https://github.com/{REPO}"
    key_env = None
    description = (
        "A public tracker's ~6-hourly commits of Azure Retail Prices records for N-series VMs in "
        "five European regions (belgium, eu-west, francecentral, northeurope, swedencentral)."
    )

    def __init__(self, regions: tuple[str, ...] = REGIONS) -> None:
        super().__init__()
        self.regions = regions

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        for region in self.regions:
            yield http.get(client, self.id, latest_url(region))

    def _file_rows(self, raw: RawResponse) -> list[dict]:
        records = json_object(self.id, raw)
        prov = provenance(raw)
        rows: list[dict] = []
        for key, record in records.items():
            if not isinstance(record, dict):
                raise ParseError(f"{self.id}: record {key!r} of {raw.url} is not an object")
            rows.extend(self._item_rows(radar_item(key, record), f"record {key!r} of {raw.url}", "USD", prov, key))
        return rows

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            rows.extend(self._file_rows(raw))
        return offers_frame(rows, self.id)

    def parse_isolated(self, responses: list[RawResponse]) -> tuple[pl.DataFrame, list[str]]:
        """One region's unreadable file fails alone; the other regions still land."""
        rows, failures = parse_each(self.id, responses, self._file_rows)
        return offers_frame(rows, self.id), failures
