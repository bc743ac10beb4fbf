"""DigitalOcean: GPU Droplet sizes and their hourly prices from the sizes endpoint.

Endpoint: ``GET https://api.digitalocean.com/v2/sizes?per_page=200`` with
``Authorization: Bearer $DIGITALOCEAN_TOKEN`` (a read-only personal access token is enough).
Pagination follows ``links.pages.next`` (an absolute URL) until it is absent; 200 is the
API's largest page size. The token travels only in the request header, never archived.

Parsing rules (by field name; shape as in gpuhunt's DigitalOcean provider and its test
payload).
* Price = ``price_hourly`` in USD (the API quotes USD only and has no currency field).
* GPU: ``gpu_info.count``; name = ``gpu_info.model`` as written (``nvidia_h100``,
  ``amd_mi300x``); ``gpu_info.vram`` is the instance total in GiB, handed over as such (the resolver
  divides it by the count). Sizes without ``gpu_info`` are CPU Droplets: excluded as
  "cpu-only" by `finalize_offers`.
* ``memory`` is MiB -> GB (/1024). ``vcpus`` as is.
* One row per slug in ``regions``. A size listed with no region still has a list price: one
  row with region "" (no region offered it at fetch time).
* A page whose ``links.pages.next`` has no later response means the pagination stopped
  early: ParseError.
"""

from __future__ import annotations

from typing import Iterator

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
    optional_number,
    provenance,
    require_fields,
)
from connectors.http import canonical_url

FIRST_PAGE_URL = "https://api.digitalocean.com/v2/sizes?per_page=200"
MAX_PAGES = 100  # a few hundred sizes: 2-3 pages


def _next_link(body: dict) -> str:
    links = body.get("links")
    pages = links.get("pages") if isinstance(links, dict) else None
    return (pages.get("next") or "") if isinstance(pages, dict) else ""



class DigitalOceanSizes(Source):
    id = "digitalocean"
    name = "DigitalOcean sizes API"
    kind = "direct"
    providers = ("digitalocean",)
    url = FIRST_PAGE_URL
    docs_url = "https://docs.digitalocean.com/reference/api/digitalocean/#tag/Sizes"
    key_env = "DIGITALOCEAN_TOKEN"
    description = "DigitalOcean /v2/sizes: GPU Droplet sizes with gpu_info and hourly price, per region."

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        # No token means a replay (a live run without DIGITALOCEAN_TOKEN is skipped before fetch).
        auth = {"authorization": f"Bearer {ctx.api_key}"} if ctx.api_key else {}
        url = FIRST_PAGE_URL
        for page in range(1, MAX_PAGES + 1):
            raw = http.get(client, self.id, url, headers=auth)
            yield raw
            if not 200 <= raw.status < 300:
                return  # archived, then rejected by check_responses with the status
            body = raw.json()
            url = _next_link(body) if isinstance(body, dict) else ""
            ctx.say(f"page {page}: {len(body.get('sizes') or []) if isinstance(body, dict) else 0} sizes")
            if not url:
                return
        raise SourceError(f"{self.id}: more than {MAX_PAGES} pages; raise MAX_PAGES if that is real")

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        fetched = {canonical_url(raw.url) for raw in responses}
        rows: list[dict] = []
        for raw in responses:
            body = raw.json()
            if not isinstance(body, dict):
                raise ParseError(f"{self.id}: {raw.url} did not return a JSON object")
            require_fields(self.id, body, ("sizes",), f"the page {raw.url}")
            following = _next_link(body)
            if following and canonical_url(following) not in fetched:
                raise ParseError(
                    f"{self.id}: pagination stopped early: {raw.url} links to {following} "
                    "but no response for that page was recorded"
                )
            for index, size in enumerate(body["sizes"]):
                where = f"sizes[{index}] of {raw.url}"
                require_fields(self.id, size, ("slug", "price_hourly", "vcpus", "memory", "regions"), where)
                where = f"size {size['slug']!r} in {raw.url}"
                gpu_info = size.get("gpu_info")
                gpu_count = gpu_memory = gpu_name = None
                if gpu_info:
                    require_fields(self.id, gpu_info, ("count", "model"), f"{where}.gpu_info")
                    gpu_count = optional_number(gpu_info["count"])
                    gpu_name = str(gpu_info["model"])
                    gpu_memory = optional_number((gpu_info.get("vram") or {}).get("amount"))  # the total
                price = optional_number(size["price_hourly"])
                problem = None if price is not None else f"price_hourly is not a number ({size['price_hourly']!r})"
                for region in size["regions"] or [""]:
                    rows.append(
                        {
                            "provider": "digitalocean",
                            "region": region,
                            "instance_type": size["slug"],
                            "gpu_name_raw": gpu_name,
                            "gpu_count": gpu_count,
                            "gpu_memory_gb": gpu_memory,
                            "memory_is_total": True,  # gpu_info.vram is the size's total
                            "parse_error": problem,
                            "row_ref": f"sizes[{index}] {size['slug']}",
                            "vcpus": optional_number(size["vcpus"]),
                            "ram_gb": (optional_number(size["memory"]) or 0) / 1024 or None,
                            "pricing": "on_demand",
                            "price": price,
                            "currency": "USD",
                            "spot_is_estimate": False,
                            **provenance(raw),
                        }
                    )
        return offers_frame(rows, self.id)
