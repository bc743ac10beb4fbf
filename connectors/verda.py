"""Verda (formerly DataCrunch): instance types, on-demand and spot prices, and availability.

Endpoints (Verda public API v1, base ``https://api.verda.com/v1``; the old
``api.datacrunch.io`` host serves the same API):

    POST /oauth2/token                      client credentials -> bearer access token
    GET  /instance-types                    every type with price_per_hour / spot_price
    GET  /instance-availability?is_spot=false   [{location_code, availabilities: [type]}]

Credentials: ``VERDA_CLIENT_ID`` and ``VERDA_CLIENT_SECRET``. ``key_env`` is the secret, so a
live run without it is "skipped: no key"; a missing client id is a clear MissingKey error.
Without the secret (a replay) there is no token exchange: the two GETs are asked unauthenticated
and answered from the snapshot.

Secrets. The token exchange is made with `connectors.http.post` but its RawResponse is NOT
yielded: its request body carries the client secret and its response body the access token,
and everything yielded is archived. The two GETs carry the token only in the Authorization
request header, which is never archived. Caveat: `connectors.snapshot.RecordingTransport`
(``--record``) writes every exchange that passes through the client, so a recorded Verda
snapshot would hold the token response (a short-lived access token); do not publish such a
recording until that transport skips or redacts token exchanges.

Parsing rules (by field name; prices come back as strings, e.g. ``"3.95"``).
* One on_demand row (``price_per_hour``) and, when ``spot_price`` is present, one spot row
  per location whose ``availabilities`` list the type. Verda prices are the same in every
  location; availability is capacity at fetch time. A type available nowhere still has a
  list price: it gets one row per kind with region "" (no location had capacity). Spot rows
  use the on-demand availability (spot capacity per location is not fetched).
* GPU count = ``gpu.number_of_gpus``; name = ``gpu.description`` without its ``Nx `` prefix;
  ``gpu_memory.size_in_gigabytes`` is the instance's total, handed over as such (the resolver
  divides it). CPU-only types (0 GPUs) are excluded by `finalize_offers` ("cpu-only"). A price
  that is not a number quarantines its row.
* currency = the type's ``currency`` (``"usd"``), else USD.
* Both responses are required; a fetch that got instance types but no availability stopped
  early and is a ParseError.
"""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import urlsplit

import httpx
import polars as pl

from connectors import http
from connectors.base import (
    FetchContext,
    MissingKey,
    ParseError,
    RawResponse,
    Source,
    SourceError,
    offers_frame,
    optional_number,
    provenance,
    require_fields,
)

API_BASE = "https://api.verda.com/v1"
TOKEN_URL = f"{API_BASE}/oauth2/token"
TYPES_URL = f"{API_BASE}/instance-types"
AVAILABILITY_URL = f"{API_BASE}/instance-availability"
CLIENT_ID_ENV = "VERDA_CLIENT_ID"

_COUNT_PREFIX = re.compile(r"^\s*\d+\s*x\s+", re.IGNORECASE)



class VerdaCloud(Source):
    id = "verda"
    name = "Verda (DataCrunch) API"
    kind = "direct"
    providers = ("verda",)
    url = TYPES_URL
    docs_url = "https://api.datacrunch.io/v1/docs"  # the API reference from before the rename
    key_env = "VERDA_CLIENT_SECRET"
    extra_key_envs = (CLIENT_ID_ENV,)
    description = "Verda's instance types (on-demand and spot prices) placed in the locations with capacity."

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        if not ctx.api_key:
            # No secret means a replay (a live run without it is skipped before fetch): the
            # recorded GETs are answered without a token exchange.
            yield http.get(client, self.id, TYPES_URL)
            yield http.get(client, self.id, AVAILABILITY_URL, params={"is_spot": "false"})
            return
        client_id = ctx.secrets.get(CLIENT_ID_ENV)
        if not client_id:
            raise MissingKey(f"{self.id}: set {CLIENT_ID_ENV} too ({self.key_env} is set); both are Verda API client credentials")
        token_raw = http.post(
            client, self.id, TOKEN_URL,
            json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": ctx.api_key},
        )
        if not 200 <= token_raw.status < 300:
            # The body is not quoted: an OAuth error page may echo the request.
            raise SourceError(f"{self.id}: the token request failed with HTTP {token_raw.status} ({TOKEN_URL})")
        token_body = token_raw.json()
        token = token_body.get("access_token") if isinstance(token_body, dict) else None
        if not token:
            raise SourceError(f"{self.id}: the token response of {TOKEN_URL} has no 'access_token'")
        auth = {"authorization": f"Bearer {token}"}
        yield http.get(client, self.id, TYPES_URL, headers=auth)
        yield http.get(client, self.id, AVAILABILITY_URL, params={"is_spot": "false"}, headers=auth)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        types_raw = next((r for r in responses if urlsplit(r.url).path.endswith("/instance-types")), None)
        avail_raw = next((r for r in responses if urlsplit(r.url).path.endswith("/instance-availability")), None)
        if types_raw is None or avail_raw is None:
            missing = "instance-types" if types_raw is None else "instance-availability"
            raise ParseError(f"{self.id}: no {missing} response among {len(responses)}; the fetch stopped early")

        locations: dict[str, list[str]] = {}
        availability = avail_raw.json()
        if not isinstance(availability, list):
            raise ParseError(f"{self.id}: {avail_raw.url} is not a list of locations")
        for index, location in enumerate(availability):
            where = f"[{index}] of {avail_raw.url}"
            require_fields(self.id, location, ("location_code", "availabilities"), where)
            for type_name in location["availabilities"] or []:
                locations.setdefault(type_name, []).append(location["location_code"])

        types = types_raw.json()
        if not isinstance(types, list):
            raise ParseError(f"{self.id}: {types_raw.url} is not a list of instance types")
        rows: list[dict] = []
        for index, itype in enumerate(types):
            where = f"[{index}] of {types_raw.url}"
            require_fields(self.id, itype, ("instance_type", "price_per_hour", "gpu", "cpu", "memory"), where)
            name = itype["instance_type"]
            where = f"instance type {name!r} in {types_raw.url}"
            require_fields(self.id, itype["gpu"], ("number_of_gpus",), f"{where}.gpu")
            gpus = optional_number(itype["gpu"]["number_of_gpus"])
            gpu_text = _COUNT_PREFIX.sub("", itype["gpu"].get("description") or "") or None
            common = {
                "provider": "verda",
                "instance_type": name,
                "gpu_name_raw": gpu_text if gpus else None,
                "gpu_count": gpus,
                # The instance's total GPU memory; the resolver divides it by the count.
                "gpu_memory_gb": optional_number((itype.get("gpu_memory") or {}).get("size_in_gigabytes")),
                "memory_is_total": True,
                "vcpus": optional_number(itype["cpu"].get("number_of_cores")),
                "ram_gb": optional_number(itype["memory"].get("size_in_gigabytes")),
                "currency": str(itype.get("currency") or "USD").upper(),
                "spot_is_estimate": False,
                "row_ref": f"[{index}] {name}",
                **provenance(types_raw),
            }
            prices = [("on_demand", "price_per_hour")]
            if itype.get("spot_price") not in (None, ""):
                prices.append(("spot", "spot_price"))
            for region in locations.get(name) or [""]:
                for pricing, field in prices:
                    price = optional_number(itype[field])
                    rows.append({**common, "region": region, "pricing": pricing, "price": price,
                                 "parse_error": None if price is not None else f"{field} is not a number ({itype[field]!r})"})
        return offers_frame(rows, self.id)
