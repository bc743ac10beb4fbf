"""Azure Retail Prices API: every GPU VM size, every region, in one paginated chain.

Endpoint: ``GET https://prices.azure.com/api/retail/prices`` (no key). Docs relied on:
https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices
(envelope ``BillingCurrency/CustomerEntityId/CustomerEntityType/Items/NextPageLink/Count``,
item fields, ``api-version=2023-01-01-preview`` adding the ``savingsPlan`` array) and the
notes in ``../shared/reference/connectors.md`` section B.

Query choice. Azure GPU VMs are all N-series, and every N-series size's ARM name starts with
``Standard_N``. So one chain,

    $filter=serviceName eq 'Virtual Machines' and startswith(armSkuName, 'Standard_N')

covers every GPU family in every region (consumption, spot, low priority, reservations and,
with the preview api-version, savings plans) without one request per region or family.
``startswith`` on ``armSkuName`` is the OData function public Retail-Prices clients use for
exactly this (the API has no "GPU" category field). The preview api-version makes filter
values case-sensitive, which is why 'Virtual Machines' and 'Standard_N' are spelled as the
API spells them. The few non-GPU N sizes (NP: Xilinx FPGAs) are dropped in `parse`.
Pagination follows ``NextPageLink`` until it is null or empty.

Parsing rules.
* Windows is excluded: ``productName`` containing "Windows" (or the abbreviated " Win" seen
  in e.g. "Virtual Machines NCCadsv5 Srs Win").
* ``type`` Consumption: "Spot" in skuName/meterName -> spot, "Low Priority" -> low_priority,
  otherwise on_demand; only ``unitOfMeasure`` "1 Hour" is taken. DevTestConsumption is
  skipped (not a public price).
* ``type`` Reservation: ``unitPrice`` is the price of the WHOLE term, so it is divided by
  8760 h ("1 Year") or 26280 h ("3 Years"); other terms are skipped. Source: the Retail Prices
  doc's reservation sample (a "1 Year" item whose unitPrice is the term total) and other
  public Retail-Prices clients doing the same division; the recorded radar data have no
  reservation items, so this could not be checked against our own bytes.
* ``savingsPlan`` (preview api-version): ``[{term, unitPrice, retailPrice}]`` with hourly
  prices -> savings_plan_1y / savings_plan_3y.
* currency: ``currencyCode``, else the envelope's ``BillingCurrency``, else USD (the API's
  default currency).
* GPU: the parser hands the size (``instance_type``) and the family from productName
  (``gpu_name_raw``, e.g. ``NCadsH100v5``) as evidence; the Retail Prices API says nothing
  about GPU count or memory. ``market.identity`` decides from the Azure instance table
  (``market/data/instances/azure.csv``, every documented size and the meter spellings the API
  uses for them). A size the table does not know yet is never dropped: its GPU is read from the
  size name where possible and it is quarantined ("GPU count unknown"), or kept as unmapped.
* Every item is accounted for: rows that are not offers carry the exclusion rule
  (``windows-licence``, ``not-a-gpu`` for NP FPGA sizes, ``not-a-list-price`` for
  DevTestConsumption, ``untracked-term`` for 5-year reservations and non-hourly units).

Tolerated omissions. The bundled snapshot replays records kept by azure-pricing-radar, which
stored only armRegionName/meterName/productName/retailPrice/skuName/unitOfMeasure/unitPrice
(+ savingsPlanPrice) per item; the snapshot builder restores ``type``/``meterId``/``skuId``
from the radar's record key. So this parser tolerates exactly: no ``currencyCode`` (USD),
no ``armSkuName`` (the instance type is then the skuName without its Spot / Low Priority
suffix), and no ``reservationTerm`` on Consumption items. Everything else it relies on is
required and a missing field is a ParseError naming it. The radar's single
``savingsPlanPrice`` number (term not recorded) is ignored.
"""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import quote

import httpx
import polars as pl

from connectors import http
from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    SourceError,
    offers_frame,
    provenance,
    require_fields,
)

API_URL = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"
GPU_FILTER = "serviceName eq 'Virtual Machines' and startswith(armSkuName, 'Standard_N')"
MAX_PAGES = 5_000  # ~100 items a page; the whole N-series is a few hundred pages

HOURS_PER_TERM = {"1 Year": 8760.0, "3 Years": 26280.0}
RESERVED_KIND = {"1 Year": "reserved_1y", "3 Years": "reserved_3y"}
SAVINGS_KIND = {"1 Year": "savings_plan_1y", "3 Years": "savings_plan_3y"}

REQUIRED_ITEM_FIELDS = (
    "armRegionName",
    "meterName",
    "productName",
    "skuName",
    "type",
    "unitOfMeasure",
    "unitPrice",
)


def first_page_url(api_url: str = API_URL) -> str:
    return f"{api_url}?api-version={API_VERSION}&$filter=" + quote(GPU_FILTER, safe="'(),")


def normalise_size(name: str) -> str:
    """`Standard_ND96amsr_A100_v4`, `ND96amsr A100 v4` -> `nd96amsra100v4`."""
    key = name.strip().lower()
    if key.startswith("standard_"):
        key = key[len("standard_"):]
    return re.sub(r"[^a-z0-9]", "", key)


_PRICE_SUFFIX = re.compile(r"\s+(spot|low priority)\s*$", re.IGNORECASE)
_WINDOWS = re.compile(r"\bWin(dows)?\b")
_VCPUS = re.compile(r"^N[A-Z]*?(\d+)", re.IGNORECASE)
_NON_GPU_PREFIXES = ("np",)  # NP series: Xilinx FPGAs, not GPUs


def base_size(name: str) -> str:
    """The size name without the Spot / Low Priority suffix the meters add."""
    return _PRICE_SUFFIX.sub("", name.strip())


def _family(product_name: str) -> str:
    """'Virtual Machines NDsrH200v5 Series Linux' -> 'NDsrH200v5' (for unknown sizes)."""
    rest = re.sub(r"^Virtual Machines\s+", "", product_name)
    rest = re.sub(r"\s+(Series|Srs)\b.*$", "", rest)
    return rest.strip() or product_name


def _vcpus(size: str) -> float | None:
    # Azure size names carry the vCPU count right after the family letters (ND96 -> 96).
    match = _VCPUS.match(normalise_size(size))
    return float(match.group(1)) if match else None



class AzureRetailPrices(Source):
    id = "azure"
    name = "Azure Retail Prices"
    kind = "direct"
    providers = ("azure",)
    url = API_URL
    docs_url = "https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices"
    key_env = None
    description = (
        "Microsoft's public retail price list: every N-series (GPU) VM size in every region; "
        "on-demand, spot, low priority, 1/3-year reservations and savings plans."
    )

    def __init__(self, api_url: str = API_URL) -> None:
        self.api_url = api_url  # tests point it at a local server

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        url: str | None = first_page_url(self.api_url)
        seen: set[str] = set()
        pages = 0
        while url:
            if url in seen:
                raise SourceError(f"{self.id}: NextPageLink loops back to {http.redact_url(url)}")
            if pages >= MAX_PAGES:
                raise SourceError(f"{self.id}: more than {MAX_PAGES} pages; stopping (filter too broad?)")
            seen.add(url)
            raw = http.get(client, self.id, url)
            yield raw
            pages += 1
            if not 200 <= raw.status < 300:
                return  # archived, then rejected by check_responses
            try:
                data = raw.json()
            except ParseError:
                return  # the parse step reports it, with the bytes archived
            url = data.get("NextPageLink") if isinstance(data, dict) else None
            ctx.say(f"page {pages}: {len(data.get('Items') or []) if isinstance(data, dict) else 0} items")

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for n, raw in enumerate(responses):
            data = raw.json()
            where = f"the page {raw.url}"
            if not isinstance(data, dict):
                raise ParseError(f"{self.id}: {raw.url} is not a Retail Prices page (a {type(data).__name__})")
            require_fields(self.id, data, ("Items", "NextPageLink"), where)
            items = data["Items"]
            if not isinstance(items, list):
                raise ParseError(f"{self.id}: 'Items' is not a list in {where}")
            if "Count" in data and data["Count"] != len(items):
                raise ParseError(
                    f"{self.id}: {where} says Count={data['Count']} but holds {len(items)} items; "
                    "the page is incomplete"
                )
            if n == len(responses) - 1 and data["NextPageLink"]:
                raise ParseError(
                    f"{self.id}: pagination stopped early: the last page fetched ({raw.url}) still "
                    f"links to {data['NextPageLink']}"
                )
            billing_currency = data.get("BillingCurrency")
            prov = provenance(raw)
            for i, item in enumerate(items):
                rows.extend(self._item_rows(item, f"item {i} of {where}", billing_currency, prov, f"Items[{i}]"))
        return offers_frame(rows, self.id)

    def _item_rows(self, item: dict, where: str, billing_currency: str | None, prov: dict, ref: str) -> list[dict]:
        if not isinstance(item, dict):
            raise ParseError(f"azure: {where} is not an object")
        require_fields(self.id, item, REQUIRED_ITEM_FIELDS, where)
        arm_sku = item.get("armSkuName") or ""
        size = arm_sku or base_size(item["skuName"])
        kind = item["type"]
        sku_meter = f"{item['skuName']} {item['meterName']}".lower()
        base = {
            "provider": "azure",
            "region": item["armRegionName"],
            "instance_type": size,
            "gpu_name_raw": _family(item["productName"]),
            "vendor_gpu_id": base_size(item["meterName"]),  # the meter's spelling of the size
            "vcpus": _vcpus(size),
            "ram_gb": None,
            "currency": item.get("currencyCode") or billing_currency or "USD",
            "spot_is_estimate": False,
            "row_ref": ref,
            **prov,
        }
        try:
            price = float(item["unitPrice"])
        except (TypeError, ValueError):
            return [{**base, "pricing": "on_demand", "price": None,
                     "parse_error": f"unitPrice is not a number ({item['unitPrice']!r})"}]
        key = normalise_size(size)

        def excluded(rule: str) -> list[dict]:
            return [{**base, "pricing": "on_demand", "price": price, "excluded_by": rule}]

        if not key.startswith("n"):
            return excluded("cpu-only")  # not an N-series size (the filter should not return these)
        if key.startswith(_NON_GPU_PREFIXES):
            return excluded("not-a-gpu")  # NP: Xilinx FPGAs
        if _WINDOWS.search(item["productName"]):
            return excluded("windows-licence")
        if kind == "Reservation":
            term = item.get("reservationTerm")
            if term is None:
                require_fields(self.id, item, ("reservationTerm",), where)
            if term not in HOURS_PER_TERM:
                return excluded("untracked-term")  # 5-year and other terms are not tracked
            return [{**base, "pricing": RESERVED_KIND[term], "price": price / HOURS_PER_TERM[term]}]
        if kind != "Consumption":
            return excluded("not-a-list-price")  # DevTestConsumption
        if item["unitOfMeasure"] != "1 Hour":
            return excluded("untracked-term")
        if "spot" in sku_meter:
            pricing = "spot"
        elif "low priority" in sku_meter:
            pricing = "low_priority"
        else:
            pricing = "on_demand"
        rows = [{**base, "pricing": pricing, "price": price}]
        for n, plan in enumerate(item.get("savingsPlan") or []):
            if not isinstance(plan, dict):
                raise ParseError(f"azure: a savingsPlan entry is not an object in {where}")
            require_fields(self.id, plan, ("term", "unitPrice"), f"savingsPlan of {where}")
            plan_ref = f"{ref} savingsPlan[{n}]"
            if plan["term"] not in SAVINGS_KIND:
                rows.append({**base, "pricing": "on_demand", "price": None, "row_ref": plan_ref,
                             "excluded_by": "untracked-term"})
                continue
            try:
                plan_price = float(plan["unitPrice"])
                problem = None
            except (TypeError, ValueError):
                plan_price, problem = None, f"savingsPlan.unitPrice is not a number ({plan['unitPrice']!r})"
            rows.append({**base, "pricing": SAVINGS_KIND[plan["term"]], "price": plan_price,
                         "row_ref": plan_ref, "parse_error": problem})
        return rows
