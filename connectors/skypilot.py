"""SkyPilot's public catalog: one ``vms.csv`` per cloud, refreshed by SkyPilot's own fetchers.

URL per cloud: ``https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/
catalogs/<version>/<cloud>/vms.csv`` (no key), each cloud from the newest schema directory
that holds it (`CATALOG_VERSIONS`: most clouds live in v8; Azure, DigitalOcean, Fluidstack and
Paperspace only in v6; IBM and SCP only in v5). ``provider`` = the real cloud and ``source`` =
"skypilot". Three catalogs are resellers (`RESELLERS`): their rows are offers of the reseller
(``provider`` = shadeform / primeintellect / spheron, what you pay) and ``underlying_provider``
names the cloud behind it, from the ``InstanceType`` prefix (``massedcompute_A6000x8``,
``lambdalabs__8xH100_80GB__...``) or spheron's ``Provider`` column.

The files differ by cloud and by schema version (v5..v8), so everything is read BY HEADER
NAME, and every quirk listed in ``../shared/data/MANIFEST.md`` ("Known data quirks") is
handled here:

* CRLF (python csv writer) vs LF (pandas) line endings, a UTF-8 BOM, non-ASCII regions
  (Vast: "Hafnarfjarðarkaupstaður, IS, EU").
* ``GpuInfo``: a Python-repr dict (most clouds), JSON with CSV-doubled quotes (verda), keys
  lower-cased (do), a bare GPU name (paperspace, runpod), ``null`` manufacturer (hyperstack),
  ``Count`` as a string (cudo). Keys are matched case-insensitively.
* ``MemoryInfo.SizeInMiB`` is handed to the resolver as evidence in GB with its basis: the
  TOTAL of the offer's GPUs for Vast (2x H200 = 287542); otherwise UNKNOWN, because newer
  catalogs of several clouds (verda, primeintellect) write the instance total in the per-GPU
  field, and ``market.identity.resolve`` reads it whichever way fits the GPU. Shadeform writes
  GB in the MiB field, and any value under 1024 "MiB" (no GPU has less than 1 GiB) is GB.
* ``UpstreamCloudId`` (verda, primeintellect) is the cloud's own instance id: handed over as
  ``vendor_gpu_id`` (it says PCIE where SkyPilot's name does not); where there is none, a
  GpuInfo name that differs from the AcceleratorName is handed over instead.
* GCP (and any catalog that does it) lists accelerators on rows of their own with an EMPTY
  ``InstanceType`` (the GPU is attached to a host type chosen separately): the offer's
  instance type is then SkyPilot's accelerator spec ``<AcceleratorName>:<count>`` (``A100:8``,
  ``tpu-v5p-1280:1``), so different accelerators and counts stay different offers. The GPU
  host rows (``a2-highgpu-1g`` with no accelerator: the host's price without its GPU) are
  excluded by the rule "host-price-only", CPU rows by "cpu-only" (in `finalize_offers`).
* Float artefacts (``0.36979999999999996``) are kept as parsed; an empty ``Price`` with a
  ``SpotPrice`` (verda) gives only a spot offer; ``SpotPrice`` 0.00 (vast: no spot market in
  the catalog) gives no spot offer.

Pricing: ``Price`` -> on_demand, ``SpotPrice`` > 0 -> spot. Vast is a marketplace of hosts
(the catalog keeps the cheapest live offer per GPU configuration and location), so its
``Price`` rows are "marketplace" and a positive ``SpotPrice`` would be "interruptible",
never presented as a provider's list price. An empty ``Region`` with an ``AvailabilityZone``
(IBM) takes the zone as its location, so two zones never merge into one "" region.

Failure isolation: a cell that is not a number (``N/A`` as a price) quarantines its row with
the reason; a line with more cells than the header quarantines that line; a file that cannot
be read at all (HTML, a missing column) fails only that cloud, named in the run's message;
the source fails only when no cloud's file could be read. A cloud whose catalog is missing
(HTTP 404, or absent from a replayed snapshot) is skipped with a progress message.
"""

from __future__ import annotations

import ast
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
    parse_each,
    provenance,
)
from connectors.bodies import CsvRecord, csv_records
from connectors.snapshot import NotRecorded
from market.instances import instance_facts
from market.providers import canonical_provider

CATALOG_BASE = "https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs"

# Every cloud directory with a vms.csv this parser reads, at the newest schema version that
# holds it (skypilot-org/skypilot-catalog, catalogs/v5..v8). Kubernetes and Slurm are left out:
# their catalogs describe the user's own clusters, not a market.
CATALOG_VERSIONS: dict[str, str] = {
    **{c: "v8" for c in (
        "aws", "cudo", "daytona", "gcp", "hyperbolic", "hyperstack", "jarvislabs", "lambda", "lium",
        "mithril", "nebius", "oci", "primeintellect", "runpod", "seeweb", "shadeform", "spheron",
        "vast", "verda", "yotta",
    )},
    **{c: "v6" for c in ("azure", "do", "fluidstack", "paperspace", "scaleway")},
    **{c: "v5" for c in ("ibm", "scp")},
}
CLOUDS = tuple(CATALOG_VERSIONS)
SCHEMA_VERSION = "v8"  # the newest schema directory; the default for a cloud not listed above

# Resellers: how a row names the cloud behind it.
RESELLER_PREFIX = {"shadeform": "_", "primeintellect": "__"}  # InstanceType "<cloud><sep>..."
RESELLER_COLUMN = {"spheron": "Provider"}
RESELLERS = frozenset(RESELLER_PREFIX) | frozenset(RESELLER_COLUMN)
MEMORY_IS_TOTAL = frozenset({"vast"})  # SkyPilot's Vast fetcher writes the offer's total
MARKETPLACES = frozenset({"vast"})
# Catalogs that price a GPU host without its GPU (the accelerator on a row of its own): GCP,
# where a2/a3/g2 hosts and their attached GPUs are separate SKUs.
HOST_PRICED_APART = frozenset({"gcp"})

REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")

_URL_CLOUD = re.compile(r"/catalogs/(v\d+)/([^/]+)/vms\.csv$")


def catalog_url(cloud: str, version: str | None = None) -> str:
    return f"{CATALOG_BASE}/{version or CATALOG_VERSIONS.get(cloud, SCHEMA_VERSION)}/{cloud}/vms.csv"


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


class _BadCell(ValueError):
    """A cell that is not what its column promises; its row is quarantined, not the file."""


def _float(value: str | None, column: str) -> float | None:
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise _BadCell(f"column {column!r} is not a number ({value!r})") from exc


def memory_gb(cloud: str, info: dict | None) -> float | None:
    """MemoryInfo.SizeInMiB in GB, as written (its basis is decided by the resolver)."""
    if not info or info.get("memory") in (None, ""):
        return None
    try:
        size = float(info["memory"])
    except (TypeError, ValueError):
        return None
    if size <= 0:
        return None
    if cloud == "shadeform" or size < 1024:
        return size  # already GB (shadeform writes GB in the MiB field)
    return round(size / 1024, 3)


def underlying_of(cloud: str, instance: str, rec: dict) -> str | None:
    if cloud in RESELLER_PREFIX:
        sep = RESELLER_PREFIX[cloud]
        return canonical_provider(instance.split(sep, 1)[0]) if sep in instance else None
    if cloud in RESELLER_COLUMN:
        value = (rec.get(RESELLER_COLUMN[cloud]) or "").strip()
        return canonical_provider(value) if value else None
    return None


class SkyPilotCatalog(Source):
    id = "skypilot"
    name = "SkyPilot catalog"
    kind = "aggregator"
    providers = tuple(sorted({canonical_provider(c) for c in CLOUDS}))
    url = f"{CATALOG_BASE}/"
    docs_url = "https://github.com/skypilot-org/skypilot-catalog"
    key_env = None
    description = (
        "SkyPilot's public per-cloud VM catalogs (derived from each provider's API): on-demand "
        "and spot prices for ~25 GPU clouds, including marketplaces and resellers (Vast, "
        "Shadeform, Prime Intellect, Spheron)."
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
        return self.parse_isolated(responses)[0]

    def parse_isolated(self, responses: list[RawResponse]) -> tuple[pl.DataFrame, list[str]]:
        rows, failures = parse_each(self.id, responses, self._parse_file, name=cloud_of)
        return offers_frame(rows, self.id), failures

    def _parse_file(self, raw: RawResponse) -> list[dict]:
        cloud = cloud_of(raw.url)
        _, records = csv_records(raw, REQUIRED_COLUMNS)  # a cut file fails here, never half-lands
        prov = provenance(raw)
        rows: list[dict] = []
        for record in records:
            rows.extend(self._line_rows(cloud, record, prov))
        return rows

    def _line_rows(self, cloud: str, record: CsvRecord, prov: dict) -> list[dict]:
        rec, ref = record.cells, f"line {record.line}"
        # A line with too few or too many cells is broken: its cells are unreliable.
        problems: list[str] = [record.problem] if record.problem else []

        def number(column: str) -> float | None:
            try:
                return _float(rec.get(column), column)
            except _BadCell as exc:
                problems.append(str(exc))
                return None

        accel = (rec.get("AcceleratorName") or "").strip()
        count = number("AcceleratorCount")
        instance = (rec.get("InstanceType") or "").strip()
        try:
            info = parse_gpu_info(rec.get("GpuInfo"))
        except ParseError as exc:
            problems.append(str(exc).removeprefix("skypilot: "))
            info = None
        if not instance and accel:
            instance = f"{accel}:{count:g}" if count else accel  # an accelerator row (GCP)
        region = (rec.get("Region") or "").strip() or (rec.get("AvailabilityZone") or "").strip()
        upstream = (rec.get("UpstreamCloudId") or "").strip() or None
        info_name = (info or {}).get("name")
        vendor_id = upstream or (str(info_name) if info_name and str(info_name) != accel else None)
        provider = canonical_provider(cloud)
        base = {
            "provider": provider,
            "underlying_provider": underlying_of(cloud, instance, rec),
            "region": region,
            "instance_type": instance,
            "gpu_name_raw": accel or None,
            "gpu_count": count,
            "gpu_memory_gb": memory_gb(cloud, info),
            "memory_is_total": True if cloud in MEMORY_IS_TOTAL else None,
            "vendor_gpu_id": vendor_id,
            "vcpus": number("vCPUs"),
            "ram_gb": number("MemoryGiB"),
            "currency": "USD",  # SkyPilot catalogs are USD (no currency column)
            "spot_is_estimate": False,
            "row_ref": ref,
            **prov,
        }
        price = number("Price")
        spot = number("SpotPrice")
        marketplace = cloud in MARKETPLACES
        kind, spot_kind = ("marketplace", "interruptible") if marketplace else ("on_demand", "spot")
        if problems:
            return [{**base, "pricing": kind, "price": price, "parse_error": "; ".join(problems)}]
        if cloud in HOST_PRICED_APART and not accel and not count:
            facts = instance_facts(provider, instance)
            if facts is not None and facts.gpu is not None:
                # SkyPilot's GCP catalog prices a GPU host without its GPU (the accelerator has a
                # row of its own): not an offer of that GPU machine.
                return [{**base, "pricing": kind, "price": price, "excluded_by": "host-price-only"}]
        rows: list[dict] = []
        if price is not None or spot is None:
            # An empty Price with no SpotPrice either is kept (null price): quarantined
            # downstream as "no price", never silently dropped.
            rows.append({**base, "pricing": kind, "price": price})
        if spot is not None and spot > 0:
            rows.append({**base, "pricing": spot_kind, "price": spot})
        elif not rows:
            rows.append({**base, "pricing": spot_kind, "price": spot})  # SpotPrice 0, no Price
        return rows
