"""CloudRift GPU VMs from the public instance-type list, no key, prices in US cents.

One POST to ``https://api.cloudrift.ai/api/v1/instance-types/list`` with
``{"version": "2025-03-21", "data": {"selector": {"ByServiceAndLocation": {"services": ["vm"]}}}}``
(the request gpuhunt's CloudRift provider sends, without a key). The answer is
``data.instance_types[]``: one entry per GPU model (``brand_short``) with ``variants[]``, each a
machine size with ``gpu_count``, ``cpu_count``, ``dram``/``vram`` in bytes, ``cost_per_hour``
in US cents and ``nodes_per_dc`` {data centre: nodes}.

Rows, and why:

* one row per variant and data centre listed in ``nodes_per_dc`` (the places it can run);
* ``price`` = ``cost_per_hour / 100``: the API quotes cents; dividing here keeps the stored
  price in dollars per instance-hour like every other source, and an un-divided value would be
  caught by the absurd-price rule of `finalize_offers`;
* ``vram`` is the variant's total GPU memory, handed over as such (the resolver divides it);
* on-demand only; the payload carries no currency (cents of USD), so the parser sets ``USD``.
"""

from __future__ import annotations

import json
from typing import Iterator

import httpx
import polars as pl

from connectors.base import (
    FetchContext,
    RawResponse,
    Source,
    json_object,
    offers_frame,
    optional_number,
    provenance,
    require_fields,
)
from connectors.http import post_json

LIST_URL = "https://api.cloudrift.ai/api/v1/instance-types/list"
API_VERSION = "2025-03-21"

REQUEST = {"version": API_VERSION, "data": {"selector": {"ByServiceAndLocation": {"services": ["vm"]}}}}
# Serialised once, byte-stable, so a recorded snapshot matches the request body exactly.
REQUEST_BODY = json.dumps(REQUEST, separators=(",", ":")).encode()

GIB = 1024**3


class CloudriftSource(Source):
    id = "cloudrift"
    name = "CloudRift"
    kind = "direct"
    providers = ("cloudrift",)
    url = LIST_URL
    docs_url = "https://www.cloudrift.ai/"
    key_env = None
    description = (
        "CloudRift GPU VM sizes from the public instance-types list: on-demand price (cents "
        "converted to dollars) per size and data centre."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        ctx.say("instance types")
        yield post_json(client, self.id, LIST_URL, REQUEST_BODY)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            body = json_object(self.id, raw)
            require_fields(self.id, body, ("data",), raw.url)
            require_fields(self.id, body["data"] or {}, ("instance_types",), f"{raw.url} data")
            for i, itype in enumerate(body["data"]["instance_types"]):
                where = f"{raw.url} instance_types[{i}]"
                require_fields(self.id, itype, ("brand_short", "variants"), where)
                for j, variant in enumerate(itype["variants"]):
                    vwhere = f"{where} variants[{j}]"
                    require_fields(
                        self.id, variant, ("name", "gpu_count", "cost_per_hour", "nodes_per_dc"), vwhere
                    )
                    count = optional_number(variant["gpu_count"])
                    vram = optional_number(variant.get("vram"))
                    cents = optional_number(variant["cost_per_hour"])
                    problem = None if cents is not None or variant["cost_per_hour"] is None else (
                        f"cost_per_hour is not a number ({variant['cost_per_hour']!r})"
                    )
                    dram = optional_number(variant.get("dram"))
                    for location in variant["nodes_per_dc"]:
                        rows.append(
                            {
                                "provider": "cloudrift",
                                "region": location,
                                "instance_type": variant["name"],
                                "gpu_name_raw": itype["brand_short"],
                                "gpu_count": count,
                                "gpu_memory_gb": vram / GIB if vram else None,
                                "memory_is_total": True,  # vram is the variant's total
                                "vcpus": optional_number(variant.get("cpu_count")),
                                "ram_gb": dram / GIB if dram is not None else None,
                                "pricing": "on_demand",
                                "price": cents / 100 if cents is not None else None,
                                "parse_error": problem,
                                "currency": "USD",
                                "spot_is_estimate": False,
                                "row_ref": f"instance_types[{i}].variants[{j}] {location}",
                                **provenance(raw),
                            }
                        )
        return offers_frame(rows, self.id)
