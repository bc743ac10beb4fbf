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
* GPU model and count come from `AZURE_GPU_SIZES` below, keyed by a normalised size name so
  that the spellings the API uses for one size (``Standard_ND96amsr_A100_v4``,
  ``ND96amsA100v4``, ``NC4as T4 v3`` ...) all resolve. Unknown N-series sizes keep
  ``gpu_name_raw`` = their family (from productName) and a null ``gpu_count`` (so
  `finalize_offers` drops them rather than guess a per-GPU price).

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
    number,
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


# --- size -> GPU table ----------------------------------------------------------------------
# (gpu_name_raw, memory per GPU in GB or None, {size name: GPU count}). Counts and memory are
# from the Microsoft Learn size pages of each series (learn.microsoft.com/azure/
# virtual-machines/sizes/gpu-accelerated/<series>), cross-checked with the GPU counts in
# microsoft/ga4gh-tes BatchSupportedVmSizeInformation (../shared/data/azure/microsoft-ga4gh-
# tes), which rounds fractional GPUs up to 1. Fractional counts are the share of one GPU a
# partitioned size gets; memory stays the whole card's so the GPU is identified correctly.
# Extra names are the meter spellings seen in the Retail Prices data (no "Standard_", no
# underscores, sometimes a letter dropped: "ND96amsA100v4", "NG8adsV620", "NC36dsxlRTX6kv6").
_FAMILIES: list[tuple[str, float | None, dict[str, float]]] = [
    # NC (v1, "NC Promo"): half a K80 board per "GPU".
    ("K80", 12, {"NC6": 1, "NC12": 2, "NC24": 4, "NC24r": 4,
                 "NC6_Promo": 1, "NC12_Promo": 2, "NC24_Promo": 4, "NC24r_Promo": 4}),
    # NV (v1, "NV Promo") and NVv3: Tesla M60 (8 GB per GPU).
    ("M60", 8, {"NV6": 1, "NV12": 2, "NV24": 4, "NV6_Promo": 1, "NV12_Promo": 2, "NV24_Promo": 4,
                "NV12s_v3": 1, "NV24s_v3": 2, "NV48s_v3": 4}),
    # NCv2: P100; NDv1: P40.
    ("P100-16GB", 16, {"NC6s_v2": 1, "NC12s_v2": 2, "NC24s_v2": 4, "NC24rs_v2": 4}),
    ("P40", 24, {"ND6s": 1, "ND12s": 2, "ND24s": 4, "ND24rs": 4}),
    # NCv3: V100 16 GB PCIe cards; NDv2: 8x V100 32 GB SXM2 (NVLink).
    ("V100-PCIE-16GB", 16, {"NC6s_v3": 1, "NC12s_v3": 2, "NC24s_v3": 4, "NC24rs_v3": 4}),
    ("V100-32GB", 32, {"ND40rs_v2": 8}),
    # NCasT4_v3.
    ("T4", 16, {"NC4as_T4_v3": 1, "NC8as_T4_v3": 1, "NC16as_T4_v3": 1, "NC64as_T4_v3": 4}),
    # NCads_A10_v4 (partitioned A10: 1/3, 1/2, 1) and NVadsA10_v5 (1/6 .. 2).
    ("A10", 24, {"NC8ads_A10_v4": 1 / 3, "NC16ads_A10_v4": 1 / 2, "NC32ads_A10_v4": 1,
                 "NV6ads_A10_v5": 1 / 6, "NV12ads_A10_v5": 1 / 3, "NV18ads_A10_v5": 1 / 2,
                 "NV36ads_A10_v5": 1, "NV36adms_A10_v5": 1, "NV72ads_A10_v5": 2}),
    # NC_A100_v4 (PCIe 80 GB) and NDm_A100_v4 (SXM 80 GB).
    ("A100-PCIE-80GB", 80, {"NC24ads_A100_v4": 1, "NC48ads_A100_v4": 2, "NC96ads_A100_v4": 4}),
    ("A100-SXM-80GB", 80, {"ND96amsr_A100_v4": 8, "ND96amsA100v4": 8}),
    # ND_A100_v4 (SXM 40 GB); the meters spell it ND96asr_A100_v4 / ND96asrA100v4_NU.
    ("A100-40GB", 40, {"ND96asr_v4": 8, "ND96asr_A100_v4": 8, "ND96asrA100v4_NU": 8}),
    # NCads_H100_v5 and NCCads_H100_v5 (confidential): H100 NVL 94 GB.
    ("H100-NVL-94GB", 94, {"NC40ads_H100_v5": 1, "NC80adis_H100_v5": 2, "NCC40ads_H100_v5": 1}),
    # ND_H100_v5: 8x H100 SXM 80 GB. "is" (no InfiniBand "r") has its own, lower price.
    # ND96isnIB / ND96isfl are meters of the NDsH100v5 / NDsfH100v5 products, priced exactly as
    # ND96is_H100_v5 in the recorded data; same 8-GPU H100 node (inferred from the family).
    ("H100-SXM-80GB", 80, {"ND96isr_H100_v5": 8, "ND96is_H100_v5": 8,
                           "ND96isnIBH100v5": 8, "ND96isflH100v5": 8}),
    # ND_H200_v5.
    ("H200-141GB", 141, {"ND96isr_H200_v5": 8, "ND96is_H200_v5": 8}),
    # ND_MI300X_v5.
    ("MI300X", 192, {"ND96isr_MI300X_v5": 8, "ND96is_MI300X_v5": 8}),
    # ND_GB200_v6 / ND_GB300_v6: 4 Blackwell GPUs per VM (one GB200/GB300 compute tray).
    ("GB200", None, {"ND128isr_NDR_GB200_v6": 4, "ND128isr_GB200_v6": 4}),
    ("GB300", None, {"ND128isr_GB300_v6": 4}),
    # NVv4: partitioned Radeon Instinct MI25 (1/8 .. 1).
    ("MI25", 16, {"NV4as_v4": 1 / 8, "NV8as_v4": 1 / 4, "NV16as_v4": 1 / 2, "NV32as_v4": 1}),
    # NGads_V620: partitioned Radeon PRO V620 (1/4 .. 1).
    ("V620", 32, {"NG8ads_V620_v1": 1 / 4, "NG16ads_V620_v1": 1 / 2, "NG32ads_V620_v1": 1,
                  "NG32adms_V620_v1": 1, "NG8adsV620": 1 / 4, "NG16adsV620": 1 / 2,
                  "NG32adsV620": 1, "NG32admsV620": 1}),
    # NVads_V710_v5: partitioned Radeon PRO V710 (1/6 .. 1).
    ("V710", 28, {"NV4ads_V710_v5": 1 / 6, "NV8ads_V710_v5": 1 / 3, "NV12ads_V710_v5": 1 / 2,
                  "NV24ads_V710_v5": 1, "NV28adms_V710_v5": 1}),
    # NC_RTXPRO6000BSE_v6: RTX PRO 6000 Blackwell Server Edition, 96 GB; a host has 1-2 GPUs
    # (Learn series page). 24/36 vCPU sizes get 1/4, 72 get 1/2, 144 one GPU, 288 two
    # (documented quantities). 132 and 264 are priced exactly as 144 and 2x132 in the recorded
    # data -> 1 and 2; 324 is the largest size of a 2-GPU host -> 2 (inferred, not documented).
    ("RTX-PRO-6000-96GB", 96, {
        "NC24lds_xl_RTXPRO6000BSE_v6": 1 / 4,
        "NC36ds_xl_RTXPRO6000BSE_v6": 1 / 4, "NC36lds_xl_RTXPRO6000BSE_v6": 1 / 4,
        "NC72ds_xl_RTXPRO6000BSE_v6": 1 / 2, "NC72lds_xl_RTXPRO6000BSE_v6": 1 / 2,
        "NC132ds_xl_RTXPRO6000BSE_v6": 1, "NC132lds_xl_RTXPRO6000BSE_v6": 1,
        "NC144ds_xl_RTXPRO6000BSE_v6": 1, "NC144lds_xl_RTXPRO6000BSE_v6": 1,
        "NC264ds_xl_RTXPRO6000BSE_v6": 2, "NC264lds_xl_RTXPRO6000BSE_v6": 2,
        "NC288ds_xl_RTXPRO6000BSE_v6": 2, "NC288lds_xl_RTXPRO6000BSE_v6": 2,
        "NC324ds_xl_RTXPRO6000BSE_v6": 2, "NC324lds_xl_RTXPRO6000BSE_v6": 2,
    }),
]


def _build_table() -> dict[str, tuple[str, float | None, float]]:
    table: dict[str, tuple[str, float | None, float]] = {}
    for gpu, memory, sizes in _FAMILIES:
        for size, count in sizes.items():
            keys = {normalise_size(size)}
            # Meter spellings drop "_Promo" into " Promo" products, shorten RTXPRO6000BSE to
            # RTX6k and drop the V620 "_v1": index those forms too.
            key = normalise_size(size)
            keys.add(key.replace("rtxpro6000bse", "rtx6k"))
            if key.endswith("v620v1"):
                keys.add(key[: -len("v1")])
            for k in keys:
                table[k] = (gpu, memory, float(count))
    return table


AZURE_GPU_SIZES = _build_table()

_PRICE_SUFFIX = re.compile(r"\s+(spot|low priority)\s*$", re.IGNORECASE)
_WINDOWS = re.compile(r"\bWin(dows)?\b")
_VCPUS = re.compile(r"^N[A-Z]*?(\d+)", re.IGNORECASE)
_NON_GPU_PREFIXES = ("np",)  # NP series: Xilinx FPGAs, not GPUs


def base_size(name: str) -> str:
    """The size name without the Spot / Low Priority suffix the meters add."""
    return _PRICE_SUFFIX.sub("", name.strip())


def lookup_gpu(*names: str | None) -> tuple[str, float | None, float] | None:
    for name in names:
        if name:
            hit = AZURE_GPU_SIZES.get(normalise_size(base_size(name)))
            if hit:
                return hit
    return None


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
                rows.extend(self._item_rows(item, f"item {i} of {where}", billing_currency, prov))
        return offers_frame(rows, self.id)

    def _item_rows(self, item: dict, where: str, billing_currency: str | None, prov: dict) -> list[dict]:
        if not isinstance(item, dict):
            raise ParseError(f"azure: {where} is not an object")
        require_fields(self.id, item, REQUIRED_ITEM_FIELDS, where)
        if _WINDOWS.search(item["productName"]):
            return []
        arm_sku = item.get("armSkuName") or ""
        size = arm_sku or base_size(item["skuName"])
        key = normalise_size(size)
        if not key.startswith("n") or key.startswith(_NON_GPU_PREFIXES):
            return []  # not a GPU size (the filter should not return these; be safe)
        hit = lookup_gpu(arm_sku, item["skuName"], item["meterName"])
        if hit:
            gpu_name, memory, count = hit
        else:
            gpu_name, memory, count = _family(item["productName"]), None, None

        kind = item["type"]
        sku_meter = f"{item['skuName']} {item['meterName']}".lower()
        base = {
            "provider": "azure",
            "region": item["armRegionName"],
            "instance_type": size,
            "gpu_name_raw": gpu_name,
            "gpu_count": count,
            "gpu_memory_gb": memory,
            "vcpus": _vcpus(size),
            "ram_gb": None,
            "currency": item.get("currencyCode") or billing_currency or "USD",
            "spot_is_estimate": False,
            **prov,
        }
        price = number(self.id, item["unitPrice"], "unitPrice", where)
        rows: list[dict] = []
        if kind == "Reservation":
            term = item.get("reservationTerm")
            if term is None:
                require_fields(self.id, item, ("reservationTerm",), where)
            if term in HOURS_PER_TERM:
                rows.append({**base, "pricing": RESERVED_KIND[term], "price": price / HOURS_PER_TERM[term]})
            return rows  # 5-year and other terms are not tracked
        if kind != "Consumption":
            return rows  # DevTestConsumption: not a public list price
        if item["unitOfMeasure"] != "1 Hour":
            return rows
        if "spot" in sku_meter:
            pricing = "spot"
        elif "low priority" in sku_meter:
            pricing = "low_priority"
        else:
            pricing = "on_demand"
        rows.append({**base, "pricing": pricing, "price": price})
        for plan in item.get("savingsPlan") or []:
            if not isinstance(plan, dict):
                raise ParseError(f"azure: a savingsPlan entry is not an object in {where}")
            require_fields(self.id, plan, ("term", "unitPrice"), f"savingsPlan of {where}")
            if plan["term"] in SAVINGS_KIND:
                rows.append({
                    **base,
                    "pricing": SAVINGS_KIND[plan["term"]],
                    "price": number(self.id, plan["unitPrice"], "savingsPlan.unitPrice", where),
                })
        return rows
