"""Vast.ai marketplace offers from the public offer search, no key, one row per offer.

One POST to ``https://console.vast.ai/api/v0/bundles/`` with a JSON filter: verified, rentable,
not rented, on-demand, cheapest first, up to ``LIMIT`` offers (gpuhunt sends the same kind of
query without a key; field names from https://docs.vast.ai/api-reference/search/search-offers).
The answer is ``offers[]``; there is no pagination. If the marketplace ever holds more matching
offers than ``LIMIT`` we see the cheapest ``LIMIT`` of them.

Why one row per offer: Vast is a marketplace of independent hosts. Prices for the same GPU
differ by host, location and reliability, and that spread is the information; a catalog that
keeps one price per GPU (as SkyPilot's does) hides it. So:

* ``instance_type`` = ``vast-<offer id>-<n>x-<gpu name>``: the offer id (stable while the host
  lists the machine) plus the GPU configuration, readable in a table;
* ``region`` = ``geolocation`` as Vast spells it (``"Michigan, US"``, ``"FR"``); empty if absent;
* ``marketplace`` = ``dph_total``, the hourly price the renter pays for the machine with the
  search's default storage allocation (``dph_base`` is the machine alone and leaves storage
  out, so it understates the cost of a usable instance);
* ``interruptible`` = ``min_bid``, the lowest bid that currently wins the machine, where present.

``gpu_ram`` is per GPU in MiB (stored as GiB). Vast charges in USD and the payload carries no
currency, so the parser sets ``USD`` explicitly. Bad prices are not filtered here;
`finalize_offers` quarantines them.
"""

from __future__ import annotations

import json
from typing import Iterator

import httpx
import polars as pl

from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    json_object,
    offers_frame,
    optional_number,
    provenance,
    require_fields,
)
from connectors.http import post_json

BUNDLES_URL = "https://console.vast.ai/api/v0/bundles/"
LIMIT = 10_000

SEARCH = {
    "verified": {"eq": True},
    "rentable": {"eq": True},
    "rented": {"eq": False},
    "type": "on-demand",
    "order": [["dph_total", "asc"]],
    "limit": LIMIT,
}
# Serialised once, byte-stable, so a recorded snapshot matches the request body exactly.
REQUEST_BODY = json.dumps(SEARCH, separators=(",", ":")).encode()


def _ram_share_gb(offer: dict) -> float | None:
    """The offer's share of host RAM: ``cpu_ram`` (MiB) is the whole machine's, and an offer
    gets it in proportion to its ``cpu_cores_effective`` out of ``cpu_cores``."""
    ram, cores, effective = offer.get("cpu_ram"), offer.get("cpu_cores"), offer.get("cpu_cores_effective")
    if ram is None:
        return None
    share = effective / cores if cores and effective is not None else 1.0
    return ram * share / 1024


def _price(value, field: str) -> dict:
    """The price columns of a row: a value that is not a number quarantines the row."""
    price = optional_number(value)
    return {"price": price, "parse_error": None if price is not None or value is None
            else f"{field} is not a number ({value!r})"}


class VastSource(Source):
    id = "vastai"
    name = "Vast.ai"
    kind = "direct"
    providers = ("vastai",)
    url = BUNDLES_URL
    docs_url = "https://docs.vast.ai/api-reference/search/search-offers"
    key_env = None
    description = (
        "Vast.ai marketplace: every verified rentable offer (one row each, keeping the price "
        "spread), hourly dph_total as marketplace and min_bid as interruptible."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        ctx.say("offer search")
        yield post_json(client, self.id, BUNDLES_URL, REQUEST_BODY)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            body = json_object(self.id, raw)
            require_fields(self.id, body, ("offers",), raw.url)
            if not isinstance(body["offers"], list):
                raise ParseError(f"vastai: 'offers' in {raw.url} is not a list")
            for i, offer in enumerate(body["offers"]):
                where = f"{raw.url} offers[{i}]"
                require_fields(self.id, offer, ("id", "gpu_name", "num_gpus", "dph_total"), where)
                gpu_name = str(offer["gpu_name"])
                count = offer["num_gpus"]
                gpu_ram = offer.get("gpu_ram")
                base = {
                    "provider": "vastai",
                    "region": offer.get("geolocation") or "",
                    "instance_type": f"vast-{offer['id']}-{count}x-{gpu_name.replace(' ', '_')}",
                    "gpu_name_raw": gpu_name,
                    "gpu_count": optional_number(count),
                    "gpu_memory_gb": gpu_ram / 1024 if isinstance(gpu_ram, (int, float)) else None,
                    "memory_is_total": False,  # gpu_ram is per GPU (Vast's search docs)
                    "vcpus": optional_number(offer.get("cpu_cores_effective")),
                    "ram_gb": _ram_share_gb(offer),
                    "currency": "USD",
                    "spot_is_estimate": False,
                    "row_ref": f"offers[{i}]",
                    **provenance(raw),
                }
                rows.append({**base, **_price(offer["dph_total"], "dph_total"), "pricing": "marketplace"})
                if offer.get("min_bid") is not None:
                    rows.append({**base, **_price(offer["min_bid"], "min_bid"), "pricing": "interruptible",
                                 "row_ref": f"offers[{i}].min_bid"})
        return offers_frame(rows, self.id)
