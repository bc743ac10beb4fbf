"""Lambda Cloud: on-demand prices of every instance type from Lambda's own API.

Endpoint: ``GET https://cloud.lambdalabs.com/api/v1/instance-types`` with the API key from
``LAMBDA_API_KEY``. Lambda's OpenAPI spec (v1.5.3, https://cloud.lambdalabs.com/api/v1/docs)
allows ``Authorization: Bearer <key>`` or HTTP Basic with the key as user name; we send the
Bearer header, which `connectors.http` never archives (only response headers are stored, and
``authorization`` is dropped from those too). One response, no pagination.

Shape (spec ``InstanceTypeGetListResponse``)::

    {"data": {"<name>": {"instance_type": {"name", "description", "gpu_description",
                                           "price_cents_per_hour", "specs": {"vcpus",
                                           "memory_gib", "storage_gib", "gpus"}},
                         "regions_with_capacity_available": [{"name", "description"}]}}}

Parsing rules.
* Price = ``price_cents_per_hour`` / 100, in USD ("Price of the instance type, in US cents per
  hour"). The spec's own example quotes it as a string ('80'), so strings are accepted.
* GPU count = ``specs.gpus``. The spec's example omits it, so when it is absent the count is
  read from the instance name (``gpu_8x_h100_sxm5`` -> 8), the way SkyPilot's fetcher does;
  with neither, a ParseError names ``specs.gpus``.
* GPU name = ``gpu_description`` when present, else ``description`` without its ``Nx ``
  prefix; memory per GPU = the "(NN GB" figure in that text, if any.
* Region. ``regions_with_capacity_available`` lists where the type can be launched *right
  now*; the price is the same everywhere. One row per listed region. A type with no capacity
  anywhere at fetch time still has a list price: it gets ONE row with region "" (meaning "no
  region had capacity"), so the price history does not lose a day whenever a type sells out.
"""

from __future__ import annotations

import re
from typing import Iterator

import httpx
import polars as pl

from connectors import http
from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    number,
    offers_frame,
    optional_number,
    provenance,
    require_fields,
)

API_URL = "https://cloud.lambdalabs.com/api/v1/instance-types"

_COUNT_IN_NAME = re.compile(r"^gpu_(\d+)x_")
_COUNT_PREFIX = re.compile(r"^\s*\d+\s*x\s+", re.IGNORECASE)
_MEMORY = re.compile(r"\((\d+(?:\.\d+)?)\s*GB", re.IGNORECASE)



class LambdaCloud(Source):
    id = "lambda_cloud"
    name = "Lambda Cloud API"
    kind = "direct"
    providers = ("lambda",)
    url = API_URL
    docs_url = "https://cloud.lambdalabs.com/api/v1/docs"
    key_env = "LAMBDA_API_KEY"
    description = "Lambda's instance-types endpoint: on-demand price, specs and regions with capacity."

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        # No key means a replay (a live run without LAMBDA_API_KEY is skipped before fetch).
        headers = {"authorization": f"Bearer {ctx.api_key}"} if ctx.api_key else {}
        yield http.get(client, self.id, API_URL, headers=headers)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            body = raw.json()
            if not isinstance(body, dict):
                raise ParseError(f"{self.id}: {raw.url} did not return a JSON object")
            require_fields(self.id, body, ("data",), f"the response of {raw.url}")
            if not isinstance(body["data"], dict):
                raise ParseError(f"{self.id}: 'data' is not an object in {raw.url}")
            for key, entry in body["data"].items():
                where = f"data[{key!r}] of {raw.url}"
                require_fields(self.id, entry, ("instance_type", "regions_with_capacity_available"), where)
                itype = entry["instance_type"]
                require_fields(
                    self.id, itype, ("name", "description", "price_cents_per_hour", "specs"),
                    f"{where}.instance_type",
                )
                name = itype["name"]
                specs = itype["specs"] or {}
                if specs.get("gpus") is not None:
                    gpus = number(self.id, specs["gpus"], "specs.gpus", where)
                else:
                    match = _COUNT_IN_NAME.match(name)
                    if not match:
                        raise ParseError(
                            f"{self.id}: required field 'specs.gpus' missing in {where} and the "
                            f"name {name!r} does not carry a count; the source may have changed its format"
                        )
                    gpus = float(match.group(1))
                gpu_text = itype.get("gpu_description") or _COUNT_PREFIX.sub("", itype["description"])
                memory = _MEMORY.search(gpu_text)
                regions = entry["regions_with_capacity_available"] or []
                for index, region in enumerate(regions):
                    require_fields(self.id, region, ("name",), f"{where}.regions_with_capacity_available[{index}]")
                region_names = [r["name"] for r in regions] or [""]
                cents = optional_number(itype["price_cents_per_hour"])
                problem = None if cents is not None else (
                    f"price_cents_per_hour is not a number ({itype['price_cents_per_hour']!r})"
                )
                for region in region_names:
                    rows.append(
                        {
                            "provider": "lambda",
                            "region": region,
                            "instance_type": name,
                            "gpu_name_raw": gpu_text if gpus else None,
                            "gpu_count": gpus,
                            "gpu_memory_gb": float(memory.group(1)) if memory and gpus else None,
                            "memory_is_total": False,  # "1x A100 (40 GB PCIe)": the card's memory
                            "vcpus": optional_number(specs.get("vcpus")),
                            "ram_gb": optional_number(specs.get("memory_gib")),
                            "pricing": "on_demand",
                            "price": cents / 100 if cents is not None else None,
                            "parse_error": problem,
                            "currency": "USD",
                            "spot_is_estimate": False,
                            "row_ref": f"data[{key!r}]",
                            **provenance(raw),
                        }
                    )
        return offers_frame(rows, self.id)
