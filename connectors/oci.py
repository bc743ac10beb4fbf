"""Oracle Cloud (OCI) GPU shapes: Oracle's public price list joined with a shape -> part map.

Two GETs, no key:

* the price list, ``https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/?currencyCode=USD``
  (Oracle's Cost Estimator API: one document, ``items[]`` of parts with
  ``currencyCodeLocalizations[].prices[]``);
* the shape -> part-number map that opencost maintains for its Oracle pricing
  (``pkg/cloud/oracle/partnumbers/shape_part_numbers.json``, Apache-2.0): for every shape the
  part numbers of its OCPU, Memory, GPU and Disk meters.

Why this map and not Oracle's own cost-estimator ``shapes.json``: the map is the one whose
recorded body we hold (the bundled 2024-01-19 snapshot replays it); ``shapes.json`` would also
give ``gpuQty`` and newer shapes (H200, B200, MI300X) but we have no real recorded copy to test
a parser against. Switching is a change of ``SHAPES_URL`` plus a parser for that format.

How a price is built, and why:

* A GPU shape is a map entry with a non-empty ``GPU`` part. Its OCPU and Memory parts are empty
  in the data: OCI bills GPU shapes per GPU-hour with CPU, memory and local NVMe included.
  Should the map ever list an OCPU/Memory part for a GPU shape we stop with a ParseError
  rather than publish a price missing components.
* Price per instance-hour = the GPU part's PAY_AS_YOU_GO value (per GPU-hour) x GPU count.
* The GPU count is the trailing number of the shape name (``BM.GPU.H100.8`` -> 8,
  ``VM.GPU.A10.1`` -> 1), OCI's naming convention for GPU shapes; which GPU a shape carries
  is the OCI instance table's (``market/data/instances/oci.csv``), read by
  ``market.identity``. A shape that breaks the naming is quarantined with the reason; CPU
  shapes are excluded ("cpu-only").
* Region is ``"all"``: OCI list prices are the same in every commercial region, so one row per
  shape stands for all of them.
* Only on-demand is read. OCI preemptible capacity is a fixed 50 % discount; we do not derive
  it here.
* A GPU shape whose part has no price in the list (a shape newer than the list) gets a row
  with no price, which `finalize_offers` quarantines as "no price", so the gap stays visible.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import httpx
import polars as pl

from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    offers_frame,
    provenance,
    require_fields,
)
from connectors.http import get

PRICES_URL = "https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/?currencyCode=USD"
SHAPES_URL = (
    "https://raw.githubusercontent.com/opencost/opencost/develop/"
    "pkg/cloud/oracle/partnumbers/shape_part_numbers.json"
)

_SHAPE_RE = re.compile(r"^(?:BM|VM)\.(?P<token>GPU\d*(?:\.[A-Za-z0-9-]+)?)\.(?P<count>\d+)$")


def shape_gpu_count(shape: str) -> float | None:
    """The GPU count OCI's naming puts at the end of a GPU shape (``BM.GPU.H100.8`` -> 8)."""
    match = _SHAPE_RE.match(shape)
    return float(match["count"]) if match else None


def _part_price(part: dict, where: str) -> tuple[float | None, str | None]:
    """(price per unit, currency) of one price-list part; USD when the part carries it."""
    require_fields("oci", part, ("currencyCodeLocalizations",), where)
    localizations = part["currencyCodeLocalizations"] or []
    if not localizations:
        return None, None
    chosen = next((loc for loc in localizations if loc.get("currencyCode") == "USD"), localizations[0])
    require_fields("oci", chosen, ("currencyCode", "prices"), f"{where} currencyCodeLocalizations")
    payg = [p for p in chosen["prices"] or [] if p.get("model") == "PAY_AS_YOU_GO"]
    if not payg:
        return None, chosen["currencyCode"]
    if len(payg) > 1:
        # Tiered (rangeMin/rangeMax) prices exist for storage and networking parts; a tiered GPU
        # part would need a rule we do not have.
        raise ParseError(f"oci: {where} has {len(payg)} PAY_AS_YOU_GO tiers; expected one per GPU part")
    require_fields("oci", payg[0], ("value",), f"{where} prices[0]")
    value = payg[0]["value"]
    return (float(value) if value is not None else None), chosen["currencyCode"]


class OciSource(Source):
    id = "oci"
    name = "Oracle Cloud (OCI)"
    kind = "direct"
    providers = ("oci",)
    url = PRICES_URL
    docs_url = "https://docs.oracle.com/en-us/iaas/Content/Billing/Concepts/pricing.htm"
    key_env = None
    description = (
        "OCI GPU shapes, on-demand: Oracle's public Cost Estimator price list (per GPU-hour, "
        "CPU and memory included) x the GPU count, joined to shapes through opencost's "
        "shape -> part-number map. Same price in every region (region 'all')."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        ctx.say("price list")
        yield get(client, self.id, PRICES_URL)
        ctx.say("shape -> part-number map")
        yield get(client, self.id, SHAPES_URL)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        prices_raw = next((r for r in responses if "cetools" in r.url), None)
        shapes_raw = next((r for r in responses if "shape_part_numbers" in r.url), None)
        if prices_raw is None or shapes_raw is None:
            missing = "price list" if prices_raw is None else "shape map"
            raise ParseError(f"oci: the fetch has no {missing} response")

        prices_doc: Any = prices_raw.json()
        if not isinstance(prices_doc, dict):
            raise ParseError(f"oci: {prices_raw.url} is not a JSON object")
        require_fields(self.id, prices_doc, ("items",), f"{prices_raw.url}")
        parts: dict[str, dict] = {}
        for i, item in enumerate(prices_doc["items"]):
            require_fields(self.id, item, ("partNumber",), f"{prices_raw.url} items[{i}]")
            parts[item["partNumber"]] = item

        shapes: Any = shapes_raw.json()
        if not isinstance(shapes, dict):
            raise ParseError(f"oci: {shapes_raw.url} is not a JSON object of shape -> parts")

        rows: list[dict] = []
        for shape, meters in shapes.items():
            where = f"{shapes_raw.url} entry {shape!r}"
            require_fields(self.id, meters, ("GPU", "OCPU", "Memory"), where)
            gpu_part = meters["GPU"]
            base = {
                "provider": "oci",
                "region": "all",
                "instance_type": shape,
                "pricing": "on_demand",
                "currency": "USD",
                "spot_is_estimate": False,
                "row_ref": f"shape {shape}",
                **provenance(prices_raw),
            }
            if not gpu_part:
                rows.append({**base, "price": None, "excluded_by": "cpu-only"})
                continue
            if meters["OCPU"] or meters["Memory"]:
                raise ParseError(
                    f"oci: GPU shape {shape!r} now lists OCPU/Memory parts "
                    f"({meters['OCPU']!r}, {meters['Memory']!r}); its price is no longer GPU part "
                    "x count alone"
                )
            count = shape_gpu_count(shape)
            if count is None:
                rows.append({**base, "price": None, "parse_error": (
                    f"GPU shape {shape!r} does not follow the <BM|VM>.GPU...<count> naming; "
                    "cannot tell its GPU count")})
                continue
            per_gpu, currency = (None, "USD")
            if gpu_part in parts:
                per_gpu, currency = _part_price(parts[gpu_part], f"price list part {gpu_part}")
            rows.append({
                **base,
                # OCI names no GPU: the shape is the evidence (market/data/instances/oci.csv).
                "gpu_count": count,
                "vendor_gpu_id": gpu_part,
                "price": per_gpu * count if per_gpu is not None else None,
                "currency": currency or "USD",
            })
        return offers_frame(rows, self.id)
