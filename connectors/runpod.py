"""RunPod GPU list prices from the public GraphQL API (``gpuTypes``), no key.

One POST to ``https://api.runpod.io/graphql`` asking every GPU type for its id, display name,
memory and four per-GPU hourly prices. gpuhunt sends this query without a key (see
reference/connectors.md, table A).

Pricing kinds, and why:

* ``securePrice`` (Secure Cloud, RunPod's own data centres) -> ``on_demand``;
* ``communityPrice`` (Community Cloud, third-party hosts) -> ``community``;
* ``secureSpotPrice`` -> ``spot`` (interruptible Secure Cloud);
* ``communitySpotPrice`` -> ``interruptible`` (interruptible Community Cloud), kept apart from
  ``spot`` so the two clouds are never mixed in one index.

A null price means the type is not offered that way: the row is excluded ("no-price-offered"). A zero is passed through and
quarantined by `finalize_offers` ("price of zero"): we cannot tell "not offered" from a
publishing error, so it stays visible.

These are list prices per GPU-hour, the same in every data centre, so each row is one GPU
(``gpu_count`` 1) and region ``"all"``; multi-GPU pods cost the per-GPU price times the count.
RunPod quotes credits, 1 credit = 1 USD, so the parser sets ``USD`` explicitly.
A GraphQL error comes back as HTTP 200 with ``errors[]``; the parser raises it as a ParseError.
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

GRAPHQL_URL = "https://api.runpod.io/graphql"

GPU_TYPES_QUERY = (
    "query GpuTypes { gpuTypes { id displayName memoryInGb "
    "securePrice communityPrice secureSpotPrice communitySpotPrice } }"
)

# Serialised once, byte-stable, so a recorded snapshot matches the request body exactly.
REQUEST_BODY = json.dumps({"query": GPU_TYPES_QUERY}, separators=(",", ":")).encode()

PRICE_FIELDS = {
    "securePrice": "on_demand",
    "communityPrice": "community",
    "secureSpotPrice": "spot",
    "communitySpotPrice": "interruptible",
}


class RunpodSource(Source):
    id = "runpod"
    name = "RunPod"
    kind = "direct"
    providers = ("runpod",)
    url = GRAPHQL_URL
    docs_url = "https://graphql-spec.runpod.io/"
    key_env = None
    description = (
        "RunPod per-GPU list prices from the public GraphQL gpuTypes query: Secure Cloud "
        "on-demand and spot, Community Cloud on-demand (community) and spot (interruptible)."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        ctx.say("gpuTypes")
        yield post_json(client, self.id, GRAPHQL_URL, REQUEST_BODY)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            body = json_object(self.id, raw)
            if body.get("errors"):
                messages = "; ".join(str(e.get("message", e)) for e in body["errors"])
                raise ParseError(f"runpod: GraphQL error from {raw.url}: {messages}")
            require_fields(self.id, body, ("data",), raw.url)
            require_fields(self.id, body["data"] or {}, ("gpuTypes",), f"{raw.url} data")
            for i, gpu in enumerate(body["data"]["gpuTypes"]):
                where = f"{raw.url} gpuTypes[{i}]"
                require_fields(self.id, gpu, ("id", "displayName", "memoryInGb", *PRICE_FIELDS), where)
                for field, pricing in PRICE_FIELDS.items():
                    row = {
                        "provider": "runpod",
                        "region": "all",
                        "instance_type": gpu["id"],
                        "gpu_name_raw": gpu["displayName"],
                        "vendor_gpu_id": gpu["id"],  # RunPod's id names the form: "NVIDIA A100 80GB PCIe"
                        "gpu_count": 1.0,
                        "gpu_memory_gb": gpu["memoryInGb"],
                        "memory_is_total": False,
                        "pricing": pricing,
                        "currency": "USD",
                        "spot_is_estimate": False,
                        "row_ref": f"gpuTypes[{i}].{field}",
                        **provenance(raw),
                    }
                    if gpu[field] is None:
                        rows.append({**row, "price": None, "excluded_by": "no-price-offered"})
                        continue
                    price = optional_number(gpu[field])
                    rows.append({**row, "price": price, "parse_error": None if price is not None
                                 else f"{field} is not a number ({gpu[field]!r})"})
        return offers_frame(rows, self.id)
