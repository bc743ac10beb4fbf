"""Google Cloud: GPU machine-type prices assembled from the Cloud Billing Catalog API.

Endpoint: ``GET https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus
?key=API_KEY&pageSize=5000`` (6F81-5844-456A is Compute Engine), following
``nextPageToken`` until it is empty. A plain API key is enough (Google's catalog-api how-to;
``../shared/reference/connectors.md`` section B). The key travels in the ``key=`` query
parameter, which `connectors.http.redact_url` replaces by ``***`` before any URL is archived,
logged or recorded.

Why assembly. The Catalog API has no price per machine type: an ``a2-highgpu-1g`` costs
12 x (A2 core SKU) + 85 GiB x (A2 RAM SKU) + 1 x (A100 GPU SKU) per hour. The shapes below
(vCPU, GiB, GPU model and count) are those of Cyclenerd's ``pricing.yml`` (the file read by
`connectors.gcp_pricing_yml`), and the SKU description patterns follow Cyclenerd's
``build/mapping.csv`` (``../shared/data/gcp/cyclenerd-pricing/sku_description_mapping.csv``).
Checked: the recorded 2023 page gives 2.933908 + 12 x 0.031611 + 85 x 0.004237 = 3.673385 USD
for a2-highgpu-1g in us-central1, exactly Cyclenerd's ``hour`` for that machine and region.
Local SSD bundled with a2-ultragpu / a3 machines is not priced (it is a separate SKU and
the machine price on Google's pricing page excludes it too).

Parsing rules.
* A SKU's role comes from ``category.resourceGroup`` (CPU / RAM / GPU) and its pricing kind
  from ``category.usageType``: OnDemand -> on_demand, Preemptible (the "Spot Preemptible"
  SKUs) -> spot, Commit1Yr / Commit3Yr (the "Commitment v1: ..." SKUs) -> reserved_1y /
  reserved_3y. Other usage types are skipped.
* The machine family (A2, A3, G2, G4) and the GPU model come from the description, anchored
  like Cyclenerd's patterns, so DWS / "Mega" / "80GB" variants never match the wrong key.
* One SKU applies to every region in ``serviceRegions``.
* Price = ``units + nanos / 1e9`` of the tier starting at 0 of the latest ``pricingInfo``.
  proto3 JSON omits zero fields, so a missing ``units`` or ``nanos`` is 0.
  ``currencyCode`` is passed through (a key billed in another currency gets other-currency
  prices, which `finalize_offers` quarantines). If the components of one machine disagree on
  currency, the row's currency names both (e.g. ``IDR+USD``) so it is quarantined, not summed.
* Every row is traced to the GPU SKU's page (its ``source_url`` / ``raw_response_id``).
* A page that announces a ``nextPageToken`` with no later response for that token means the
  pagination stopped early: ParseError.
"""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

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
from market.instances import instance_facts

SERVICE_ID = "6F81-5844-456A"  # Compute Engine
API_URL = f"https://cloudbilling.googleapis.com/v1/services/{SERVICE_ID}/skus"
PAGE_SIZE = 5000
MAX_PAGES = 200  # Compute Engine has a few tens of thousands of SKUs: < 20 pages
REDACTED = "***"  # what connectors.http.redact_url puts in place of the key

USAGE_KIND = {
    "OnDemand": "on_demand",
    "Preemptible": "spot",
    "Commit1Yr": "reserved_1y",
    "Commit3Yr": "reserved_3y",
}

# GPU key -> the GPU's name exactly as the SKU descriptions spell it (to find its SKUs; which
# GPU that is, and how many a machine has, is the GCP instance table's: market/data/instances).
GPU_MODELS: dict[str, str] = {
    "a100": "Nvidia Tesla A100",
    "a100-80gb": "Nvidia Tesla A100 80GB",
    "h100-80gb": "Nvidia H100 80GB",
    "h100-80gb-mega": "Nvidia H100 80GB Mega",
    "l4": "Nvidia L4",
    "rtx6000": "RTX 6000 96GB",
}

# On-demand "<name> GPU running in ...", spot "<name> GPU attached to Spot Preemptible VMs
# running in ...", commitments "Commitment v1: <name> GPU running in ... for 1 Year".
# The name must be followed by " GPU " / " running" / " in " so that "Nvidia Tesla A100"
# never matches "Nvidia Tesla A100 80GB ..." and "Nvidia H100 80GB" never matches "... Mega".
_GPU_PATTERNS = [
    (key, re.compile(rf"^(?:Commitment v1: )?{re.escape(name)}(?: GPU)? (?:running|attached to Spot|in )"))
    for key, name in GPU_MODELS.items()
]
# "A2 Instance Core running in ...", "Spot Preemptible A2 Instance Ram running in ...",
# "Commitment v1: A2 Cpu in ... for 1 Year". The trailing "running in" / "in" keeps DWS and
# other parenthesised variants ("A3 Instance Core (DWS ...)") out.
_FAMILY_PATTERN = re.compile(
    r"^(?:Spot Preemptible |Commitment v1: )?(?P<family>A2|A3|G2|G4) (?:Instance )?(?:Core|Cpu|Ram) (?:running )?in "
)

# Machine type -> (family, vCPUs, RAM GiB, GPU key): the shape a price is assembled from, as in
# Cyclenerd's pricing.yml (2026-07-30). The GPU count comes from the GCP instance table.
MACHINE_TYPES: dict[str, tuple[str, float, float, str]] = {
    **{f"a2-highgpu-{n}g": ("A2", 12 * n, 85 * n, "a100") for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("A2", 96, 1360, "a100"),
    **{f"a2-ultragpu-{n}g": ("A2", 12 * n, 170 * n, "a100-80gb") for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": ("A3", 26 * n, 234 * n, "h100-80gb") for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": ("A3", 208, 1872, "h100-80gb-mega"),
    **{f"g2-standard-{v}": ("G2", v, 4 * v, "l4") for v in (4, 8, 12, 16, 24, 32, 48, 96)},
    "g4-standard-6": ("G4", 6, 22, "rtx6000"),
    "g4-standard-12": ("G4", 12, 45, "rtx6000"),
    "g4-standard-24": ("G4", 24, 90, "rtx6000"),
    "g4-standard-48": ("G4", 48, 180, "rtx6000"),
    "g4-standard-96": ("G4", 96, 360, "rtx6000"),
    "g4-standard-192": ("G4", 192, 720, "rtx6000"),
    "g4-standard-384": ("G4", 384, 1440, "rtx6000"),
}


def gpu_count(instance_type: str) -> float:
    """Accelerators per machine, from the instance table (a ParseError if it is missing there)."""
    facts = instance_facts("gcp", instance_type)
    if facts is None or facts.gpu_count is None:
        raise ParseError(f"gcp: {instance_type} has no GPU count in market/data/instances/gcp.csv")
    return facts.gpu_count


# Expected usage units per role; anything else is a unit change we must not sum blindly.
_UNITS = {"CPU": "h", "RAM": "GiBy.h", "GPU": "h"}


def _page_token(url: str) -> str:
    values = parse_qs(urlsplit(url).query).get("pageToken")
    return values[0] if values else ""


def _sku_price(sku: dict, where: str, source_id: str) -> tuple[float, str, str]:
    """(price per usage unit, currency, usage unit) of the latest pricingInfo, tier from 0."""
    infos = sku["pricingInfo"]
    if not isinstance(infos, list) or not infos:
        raise ParseError(f"{source_id}: 'pricingInfo' is empty in {where}")
    info = infos[-1]  # the API lists pricing info in chronological order
    require_fields(source_id, info, ("pricingExpression",), f"{where}.pricingInfo")
    expression = info["pricingExpression"]
    require_fields(source_id, expression, ("usageUnit", "tieredRates"), f"{where}.pricingExpression")
    tiers = expression["tieredRates"]
    if not isinstance(tiers, list) or not tiers:
        raise ParseError(f"{source_id}: 'tieredRates' is empty in {where}")
    tier = next((t for t in tiers if float(t.get("startUsageAmount", 0) or 0) == 0), tiers[0])
    require_fields(source_id, tier, ("unitPrice",), f"{where}.tieredRates")
    unit_price = tier["unitPrice"]
    require_fields(source_id, unit_price, ("currencyCode",), f"{where}.unitPrice")
    try:
        price = float(unit_price.get("units", 0) or 0) + float(unit_price.get("nanos", 0) or 0) / 1e9
    except (TypeError, ValueError) as exc:
        raise ParseError(f"{source_id}: unreadable unitPrice {unit_price!r} in {where}") from exc
    return price, str(unit_price["currencyCode"]), str(expression["usageUnit"])


def _classify(sku: dict) -> tuple[str, str] | None:
    """(role, family or GPU key) of a SKU we use, or None."""
    role = sku["category"]["resourceGroup"]
    description = sku["description"]
    if role in ("CPU", "RAM"):
        match = _FAMILY_PATTERN.match(description)
        return (role, match.group("family")) if match else None
    if role == "GPU":
        for key, pattern in _GPU_PATTERNS:
            if pattern.match(description):
                return ("GPU", key)
    return None


class GcpBillingCatalog(Source):
    id = "gcp"
    name = "Google Cloud (Cloud Billing Catalog API)"
    kind = "direct"
    providers = ("gcp",)
    url = API_URL
    docs_url = "https://cloud.google.com/billing/docs/how-to/get-pricing-information-api"
    key_env = "GCP_API_KEY"
    description = (
        "Compute Engine SKUs from the Cloud Billing Catalog API, assembled into GPU machine-type "
        "prices (core + RAM + GPU) for on-demand, spot and 1y/3y commitments, per region."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        # Without a key we can only be replaying (a live run without GCP_API_KEY is skipped
        # before fetch): recorded URLs carry key=***, so ask for exactly that.
        key = ctx.api_key or REDACTED
        token = ""
        for page in range(1, MAX_PAGES + 1):
            params = {"key": key, "pageSize": str(PAGE_SIZE)}
            if token:
                params["pageToken"] = token
            raw = http.get(client, self.id, API_URL, params=params)
            yield raw
            if not 200 <= raw.status < 300:
                return  # archived, then rejected by check_responses with the status
            body = raw.json()
            token = body.get("nextPageToken", "") if isinstance(body, dict) else ""
            ctx.say(f"page {page}: {len(body.get('skus', [])) if isinstance(body, dict) else 0} SKUs")
            if not token:
                return
        raise SourceError(f"{self.id}: more than {MAX_PAGES} pages; raise MAX_PAGES if that is real")

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        requested_tokens = {_page_token(raw.url) for raw in responses}
        # (kind, role, family-or-gpu, region) -> (price, currency, raw); first SKU wins.
        rates: dict[tuple[str, str, str, str], tuple[float, str, RawResponse]] = {}
        for raw in responses:
            page = raw.json()
            if not isinstance(page, dict):
                raise ParseError(f"{self.id}: {raw.url} is not a SKU page (top level is not an object)")
            require_fields(self.id, page, ("skus",), f"the page {raw.url}")
            announced = page.get("nextPageToken") or ""
            if announced and announced not in requested_tokens:
                raise ParseError(
                    f"{self.id}: pagination stopped early: {raw.url} announces nextPageToken "
                    f"{announced[:24]}... but no response for that page was recorded"
                )
            for index, sku in enumerate(page["skus"]):
                where = f"skus[{index}] of {raw.url}"
                require_fields(self.id, sku, ("description", "category"), where)
                require_fields(self.id, sku["category"], ("resourceGroup", "usageType"), f"{where}.category")
                kind = USAGE_KIND.get(sku["category"]["usageType"])
                role_key = _classify(sku)
                if kind is None or role_key is None:
                    continue
                where = f"SKU {sku.get('skuId', '?')} ({sku['description']!r}) in {raw.url}"
                require_fields(self.id, sku, ("serviceRegions", "pricingInfo"), where)
                price, currency, unit = _sku_price(sku, where, self.id)
                role, key = role_key
                if unit != _UNITS[role]:
                    raise ParseError(
                        f"{self.id}: {where} is priced per {unit!r}, expected {_UNITS[role]!r}"
                    )
                for region in sku["serviceRegions"]:
                    rates.setdefault((kind, role, key, region), (price, currency, raw))

        regions_by_kind: dict[str, set[str]] = {}
        for kind, role, _, region in rates:
            if role == "GPU":
                regions_by_kind.setdefault(kind, set()).add(region)

        rows: list[dict] = []
        for instance_type, (family, vcpus, ram_gib, gpu_key) in MACHINE_TYPES.items():
            count = gpu_count(instance_type)
            for kind, regions in regions_by_kind.items():
                for region in sorted(regions):
                    gpu = rates.get((kind, "GPU", gpu_key, region))
                    core = rates.get((kind, "CPU", family, region))
                    ram = rates.get((kind, "RAM", family, region))
                    if gpu is None:
                        continue  # this GPU is not sold this way in this region: no offer to make
                    row = {
                        "provider": "gcp",
                        "region": region,
                        "instance_type": instance_type,
                        "gpu_name_raw": GPU_MODELS[gpu_key],
                        "gpu_count": count,
                        "vcpus": float(vcpus),
                        "ram_gb": float(ram_gib),
                        "pricing": kind,
                        "spot_is_estimate": False,
                        "row_ref": f"{instance_type} {kind} {region}",
                        **provenance(gpu[2]),
                    }
                    missing = [name for name, part in (("core", core), ("RAM", ram)) if part is None]
                    if missing:
                        # The GPU is priced here but the machine's other parts are not: say so.
                        rows.append({**row, "price": None, "currency": gpu[1].upper(), "parse_error":
                                     f"no {family} {' or '.join(missing)} SKU for {kind} in {region}: "
                                     "the machine price cannot be assembled"})
                        continue
                    currencies = sorted({gpu[1].upper(), core[1].upper(), ram[1].upper()})
                    rows.append({
                        **row,
                        "price": vcpus * core[0] + ram_gib * ram[0] + count * gpu[0],
                        "currency": "+".join(currencies),
                    })
        return offers_frame(rows, self.id)

