"""SkyPilot's public catalog: one ``vms.csv`` per cloud, refreshed by SkyPilot's own fetchers.

URL per cloud: ``https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/
catalogs/v8/<cloud>/vms.csv`` (no key). Each offer keeps ``provider`` = the real cloud and
``source`` = "skypilot". Shadeform is itself a marketplace: its rows are attributed to the
underlying cloud named by the ``InstanceType`` prefix (``massedcompute_A6000x8`` ->
massedcompute, ``lambdalabs_...`` -> lambda); the CSV has no separate column for it.

The files differ by cloud and by schema version (v5..v8), so everything is read BY HEADER
NAME, and every quirk listed in ``../shared/data/MANIFEST.md`` ("Known data quirks") is
handled here:

* CRLF (python csv writer) vs LF (pandas) line endings, a UTF-8 BOM, non-ASCII regions
  (Vast: "Hafnarfjarðarkaupstaður, IS, EU").
* ``GpuInfo``: a Python-repr dict (most clouds), JSON with CSV-doubled quotes (verda), keys
  lower-cased (do), a bare GPU name (paperspace, runpod), ``null`` manufacturer (hyperstack),
  ``Count`` as a string (cudo). Keys are matched case-insensitively.
* ``MemoryInfo.SizeInMiB`` is per GPU in MiB, except: shadeform writes GB in it; Vast writes
  the TOTAL over all GPUs of the offer (2x H200 = 287542) so it is divided by the count; and
  any value under 1024 "MiB" (no GPU has less than 1 GiB) is read as GB.
* Float artefacts (``0.36979999999999996``) are kept as parsed; an empty ``Price`` with a
  ``SpotPrice`` (verda) gives only a spot offer; ``SpotPrice`` 0.00 (vast: no spot market in
  the catalog) gives no spot offer.

Pricing: ``Price`` -> on_demand, ``SpotPrice`` > 0 -> spot. Vast is a marketplace of hosts
(the catalog keeps the cheapest live offer per GPU configuration and location), so its
``Price`` rows are "marketplace" and a positive ``SpotPrice`` would be "interruptible",
never presented as a provider's list price.

Rows without an accelerator (CPU instances) are skipped. A cloud whose catalog is missing
(HTTP 404, or absent from a replayed snapshot) is skipped with a progress message; the
source fails only when no cloud's file could be read.
"""

from __future__ import annotations

import ast
import csv
import io
import json
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
    SourceError,
    offers_frame,
    provenance,
    require_columns,
)
from connectors.snapshot import NotRecorded
from market.providers import canonical_provider

CATALOG_BASE = "https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs"
SCHEMA_VERSION = "v8"

# SkyPilot's cloud directories that list GPU instances (catalogs/v8/common/accelerators.csv
# "Clouds", plus verda and shadeform which it lists under their own names).
CLOUDS = (
    "aws", "azure", "gcp", "oci", "lambda", "runpod", "vast", "verda", "nebius", "hyperstack",
    "cudo", "fluidstack", "paperspace", "do", "shadeform", "ibm", "primeintellect", "seeweb",
    "hyperbolic", "scp",
)

REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")

_URL_CLOUD = re.compile(r"/catalogs/(v\d+)/([^/]+)/vms\.csv$")


def catalog_url(cloud: str, version: str = SCHEMA_VERSION) -> str:
    return f"{CATALOG_BASE}/{version}/{cloud}/vms.csv"


def cloud_of(url: str) -> str:
    match = _URL_CLOUD.search(url.split("?", 1)[0])
    if not match:
        raise ParseError(f"skypilot: {url} is not a SkyPilot catalog vms.csv URL")
    return match.group(2)


def _lower_keys(value):
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def parse_gpu_info(text: str | None) -> dict | None:
    """GpuInfo in any of its spellings -> {'name', 'count', 'memory', 'total'} (raw numbers)."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    if not text.startswith("{"):
        return {"name": text, "count": None, "memory": None, "total": None}  # bare name
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # Python repr; hyperstack writes JSON's `null` inside it.
        try:
            data = ast.literal_eval(re.sub(r"\bnull\b", "None", text))
        except (ValueError, SyntaxError) as exc:
            raise ParseError(f"skypilot: GpuInfo is neither JSON nor a Python literal: {text[:80]!r}") from exc
    data = _lower_keys(data)
    gpus = data.get("gpus") or [{}]
    first = gpus[0] if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict) else {}
    memory = (first.get("memoryinfo") or {}).get("sizeinmib")
    total = data.get("totalgpumemoryinmib", first.get("totalgpumemoryinmib"))
    return {"name": first.get("name"), "count": first.get("count"), "memory": memory, "total": total}


def _float(value: str | None, column: str, where: str) -> float | None:
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise ParseError(f"skypilot: column {column!r} is not a number ({value!r}) in {where}") from exc


def memory_per_gpu_gb(cloud: str, info: dict | None, count: float | None) -> float | None:
    if not info or info.get("memory") in (None, ""):
        return None
    size = float(info["memory"])
    if size <= 0:
        return None
    if cloud == "shadeform" or size < 1024:
        return size  # already GB (shadeform writes GB in the MiB field)
    if cloud == "vast" and count:
        size = size / count  # vast writes the offer's total
    return round(size / 1024, 2)


# SkyPilot's accelerator names drop the form factor where a cloud sells both. The instance
# type or the cloud's own convention says which card it is, and the card changes the price
# class and the spec sheet (PCIe: lower TDP and bandwidth, no NVSwitch).
PCIE_WHEN_BARE = {
    "runpod": {"A100-80GB", "H100"},  # RunPod lists the SXM parts as A100-80GB-SXM / H100-SXM
}
PCIE_IN_INSTANCE = re.compile(r"(?<![a-z])pcie?(?![a-z])", re.IGNORECASE)  # a100-pci_, A100_PCIE
LAMBDA_PCIE_INSTANCES = {"gpu_1x_a100"}  # Lambda: "1x A100 (40 GB PCIe)"; the 8x is SXM4


def form_factor_hint(cloud: str, accelerator: str, instance_type: str) -> str:
    """The accelerator name, with "-PCIE" added where the instance or the cloud says PCIe."""
    if any(tag in accelerator.upper() for tag in ("PCIE", "SXM", "NVL")):
        return accelerator
    if (
        accelerator in PCIE_WHEN_BARE.get(cloud, set())
        or PCIE_IN_INSTANCE.search(instance_type)
        or (cloud == "lambda" and instance_type in LAMBDA_PCIE_INSTANCES)
    ):
        return f"{accelerator}-PCIE"
    return accelerator


class SkyPilotCatalog(Source):
    id = "skypilot"
    name = "SkyPilot catalog"
    kind = "aggregator"
    providers = tuple(
        sorted({canonical_provider(c) for c in CLOUDS if c != "shadeform"}
               | {"crusoe", "denvr", "excesssupply", "massedcompute", "scaleway", "vultr"})
    )
    url = f"{CATALOG_BASE}/{SCHEMA_VERSION}/"
    docs_url = "https://github.com/skypilot-org/skypilot-catalog"
    key_env = None
    description = (
        "SkyPilot's public per-cloud VM catalogs (derived from each provider's API): on-demand "
        "and spot prices for ~20 GPU clouds, including marketplaces (Vast, Shadeform)."
    )

    def __init__(self, clouds: tuple[str, ...] = CLOUDS) -> None:
        self.clouds = clouds

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        read = 0
        for cloud in self.clouds:
            url = catalog_url(cloud)
            try:
                raw = http.get(client, self.id, url)
            except NotRecorded:
                ctx.say(f"{cloud}: not in this snapshot; skipped")
                continue
            if raw.status == 404:
                ctx.warn(f"{cloud}: no catalog at {url} (HTTP 404); skipped")
                continue
            if 200 <= raw.status < 300:
                read += 1
            ctx.say(f"{cloud}: {raw.size:,} bytes")
            yield raw  # other errors are yielded and rejected by check_responses
        if read == 0:
            raise SourceError(
                f"{self.id}: no cloud catalog could be read (tried {', '.join(self.clouds)})"
            )

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            rows.extend(self._parse_file(raw))
        return offers_frame(rows, self.id)

    def _parse_file(self, raw: RawResponse) -> list[dict]:
        cloud = cloud_of(raw.url)
        text = raw.read().decode("utf-8-sig", errors="strict") if raw.size else ""
        head = text[:200].lstrip().lower()
        if head.startswith("<!doctype html") or head.startswith("<html"):
            raise ParseError(f"{self.id}: {raw.url} returned an HTML page instead of a CSV")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = list(reader.fieldnames or [])
        require_columns(self.id, columns, REQUIRED_COLUMNS, raw.url)
        prov = provenance(raw)
        rows: list[dict] = []
        for line, rec in enumerate(reader, start=2):
            where = f"{raw.url} line {line}"
            if None in rec:  # more cells than headers: a broken or truncated line
                raise ParseError(f"{self.id}: {where} has more cells than the header")
            accel = (rec.get("AcceleratorName") or "").strip()
            count = _float(rec.get("AcceleratorCount"), "AcceleratorCount", where)
            if not accel or not count:
                continue  # a CPU instance
            info = parse_gpu_info(rec.get("GpuInfo"))
            instance = rec["InstanceType"].strip()
            provider = canonical_provider(cloud)
            if cloud == "shadeform":
                provider = canonical_provider(instance.split("_", 1)[0]) if "_" in instance else "shadeform"
            base = {
                "provider": provider,
                "region": (rec.get("Region") or "").strip(),
                "instance_type": instance,
                "gpu_name_raw": form_factor_hint(cloud, accel, instance),
                "gpu_count": count,
                "gpu_memory_gb": memory_per_gpu_gb(cloud, info, count),
                "vcpus": _float(rec.get("vCPUs"), "vCPUs", where),
                "ram_gb": _float(rec.get("MemoryGiB"), "MemoryGiB", where),
                "currency": "USD",  # SkyPilot catalogs are USD (no currency column)
                "spot_is_estimate": False,
                **prov,
            }
            price = _float(rec.get("Price"), "Price", where)
            spot = _float(rec.get("SpotPrice"), "SpotPrice", where)
            marketplace = cloud == "vast"
            if price is not None or spot is None:
                # An empty Price with no SpotPrice either is kept (null price): quarantined
                # downstream as "no price", never silently dropped.
                rows.append({**base, "pricing": "marketplace" if marketplace else "on_demand", "price": price})
            if spot is not None and spot > 0:
                rows.append({**base, "pricing": "interruptible" if marketplace else "spot", "price": spot})
        return rows
