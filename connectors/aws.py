"""AWS EC2 on-demand and reserved GPU prices from the public bulk Price List (no key).

Fetch follows the documented chain of the Price List Bulk API
(https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-the-aws-price-list-bulk-api-fetching-price-list-files-manually.html):

    /offers/v1.0/aws/index.json             offers.AmazonEC2.currentRegionIndexUrl
    -> .../AmazonEC2/current/region_index.json   regions[code].currentVersionUrl
    -> .../AmazonEC2/<version>/<region>/index.csv   (the same path as the .json, ending .csv)

Region files are hundreds of megabytes, so each is spooled to disk, never held in memory.

Parse reads each region CSV with a polars streaming scan (every column as text, filter, then
project), so memory stays flat however large the file is; see benchmarks/aws_price_list.py.
The JSON form of an offer file (``products`` + ``terms.OnDemand/Reserved``) is parsed too, in
memory: it is what the recorded real fixture is, and what the AWS docs show.

Which rows are offers (the documented columns of the offer file):

* TermType ``OnDemand``, or ``Reserved`` with LeaseContractLength 1yr/3yr, OfferingClass
  ``standard`` and PurchaseOption ``No Upfront``. No Upfront is the only purchase option whose
  hourly rate is the whole price; Partial/All Upfront split the price into an upfront fee and
  an hourly rate, and folding them back together would be our arithmetic, not AWS's quote.
  Convertible reservations are a different product (exchangeable) and are left out.
* Tenancy ``Shared``, Operating System ``Linux``, Pre Installed S/W ``NA``/empty (no SQL
  Server), CapacityStatus ``Used`` (not the capacity-reservation accounting rows),
  MarketOption ``OnDemand`` when the column exists (drops Capacity Blocks, which the file
  lists at 0.00), Unit ``Hrs``, Product Family ``Compute Instance*`` when present.
* Instance types of the GPU / accelerator families (p, g, gr, trn, inf, dl) - see
  ``GPU_FAMILIES``. Currency is NOT filtered: a non-USD row is quarantined downstream.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import polars as pl

from connectors import http
from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    offers_frame,
    provenance,
    require_columns,
    require_fields,
)

INDEX_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/index.json"
# A region CSV is ~0.1-0.7 GB today; the cap guards against a runaway body, not a real file.
MAX_OFFER_FILE_BYTES = 8 * 1024**3
DISCLAIMER_LINES = 5  # FormatVersion, Disclaimer, Publication Date, Version, OfferCode

# Instance types we read: GPU and ML-accelerator families. Everything else is CPU.
GPU_INSTANCE_REGEX = r"^(?:p\d|g\d|gr\d|trn\d|inf\d|dl\d)"


@dataclass(frozen=True)
class GpuFamily:
    """What an instance family carries: the accelerator, its memory and the count per size."""

    gpu: str  # gpu_name_raw as we spell it; the price list itself names no GPU
    memory_gb: float | None  # per accelerator, the card's memory; None when not sure
    counts: dict[str, float] = field(default_factory=dict)  # size -> accelerators per instance
    fractional: bool = False  # a share of one GPU: our table wins over the file's count


_ONE_TO_16 = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1}
_NVIDIA_G = {**_ONE_TO_16, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}

# Family (the part of the instance type before the dot) -> accelerator. Sources: the AWS
# accelerated-computing instance pages (https://aws.amazon.com/ec2/instance-types/#Accelerated_Computing)
# and the mappings in connectors.md section C (SkyPilot's p3dn/p4de/p5e/g6f patches,
# ec2instances.info's gpu_data.go). Trainium/Inferentia/Gaudi/AI100 counts are chips
# (devices), not NeuronCores. The file's own GPU column wins where it has a positive number,
# except for fractional families.
GPU_FAMILIES: dict[str, GpuFamily] = {
    # NVIDIA data-centre
    "p2": GpuFamily("K80", 12, {"xlarge": 1, "8xlarge": 8, "16xlarge": 16}),
    "p3": GpuFamily("V100", 16, {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8}),
    "p3dn": GpuFamily("V100", 32, {"24xlarge": 8}),
    "p4d": GpuFamily("A100", 40, {"24xlarge": 8}),
    "p4de": GpuFamily("A100", 80, {"24xlarge": 8}),
    "p5": GpuFamily("H100 SXM", 80, {"48xlarge": 8, "4xlarge": 1}),
    "p5e": GpuFamily("H200", 141, {"48xlarge": 8}),
    "p5en": GpuFamily("H200", 141, {"48xlarge": 8}),
    "p6-b200": GpuFamily("B200", 180, {"48xlarge": 8}),
    "p6-b300": GpuFamily("B300", None, {"48xlarge": 8}),
    "p6e-gb200": GpuFamily("GB200", None, {"36xlarge": 4}),
    # NVIDIA graphics / inference
    "g2": GpuFamily("K520", 4, {"2xlarge": 1, "8xlarge": 4}),
    "g3": GpuFamily("M60", 8, {"4xlarge": 1, "8xlarge": 2, "16xlarge": 4}),
    "g3s": GpuFamily("M60", 8, {"xlarge": 1}),
    "g4dn": GpuFamily("T4", 16, {**_ONE_TO_16, "12xlarge": 4, "metal": 8}),
    "g5": GpuFamily("A10G", 24, _NVIDIA_G),
    "g5g": GpuFamily("T4G", 16, {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 2, "metal": 2}),
    "g6": GpuFamily("L4", 24, _NVIDIA_G),
    "gr6": GpuFamily("L4", 24, {"4xlarge": 1, "8xlarge": 1}),
    "g6e": GpuFamily("L40S", 48, _NVIDIA_G),
    "g6f": GpuFamily("L4", 24, {"large": 0.125, "xlarge": 0.125, "2xlarge": 0.25, "4xlarge": 0.5}, fractional=True),
    "gr6f": GpuFamily("L4", 24, {"4xlarge": 0.5}, fractional=True),
    "g7e": GpuFamily("RTX PRO 6000 Blackwell Server", 96),  # count from the file only
    # AMD
    "g4ad": GpuFamily("Radeon Pro V520", 8, {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 2, "16xlarge": 4}),
    # ML accelerators
    "trn1": GpuFamily("Trainium", 32, {"2xlarge": 1, "32xlarge": 16}),
    "trn1n": GpuFamily("Trainium", 32, {"32xlarge": 16}),
    "trn2": GpuFamily("Trainium2", 96, {"48xlarge": 16}),
    "trn2u": GpuFamily("Trainium2", 96, {"48xlarge": 16}),
    "inf1": GpuFamily("Inferentia", 8, {"xlarge": 1, "2xlarge": 1, "6xlarge": 4, "24xlarge": 16}),
    "inf2": GpuFamily("Inferentia2", 32, {"xlarge": 1, "8xlarge": 1, "24xlarge": 6, "48xlarge": 12}),
    "dl1": GpuFamily("Gaudi", 32, {"24xlarge": 8}),
    "dl2q": GpuFamily("Qualcomm AI100", 16, {"24xlarge": 8}),
}

# CSV column names (the offer file header) that the parser relies on ...
COL_TERM, COL_UNIT, COL_PRICE, COL_CURRENCY = "TermType", "Unit", "PricePerUnit", "Currency"
COL_LEASE, COL_OPTION, COL_CLASS = "LeaseContractLength", "PurchaseOption", "OfferingClass"
COL_TYPE, COL_TENANCY, COL_OS = "Instance Type", "Tenancy", "Operating System"
COL_CAPACITY, COL_SOFTWARE, COL_REGION = "CapacityStatus", "Pre Installed S/W", "Region Code"
REQUIRED_COLUMNS = (
    COL_TERM, COL_UNIT, COL_PRICE, COL_CURRENCY, COL_LEASE, COL_OPTION, COL_CLASS,
    COL_TYPE, COL_TENANCY, COL_OS, COL_CAPACITY, COL_SOFTWARE, COL_REGION,
)
# ... and the ones it uses when present (older or trimmed files may lack them).
COL_MARKET, COL_FAMILY, COL_GPU = "MarketOption", "Product Family", "GPU"
COL_VCPU, COL_MEMORY = "vCPU", "Memory"

# The same attributes in the JSON offer file (products[sku].attributes).
JSON_ATTRIBUTES = ("instanceType", "tenancy", "operatingSystem", "capacitystatus", "preInstalledSw", "regionCode")

RESERVED_PRICING = {"1yr": "reserved_1y", "3yr": "reserved_3y"}


def instance_family(instance_type: str) -> tuple[str, str]:
    family, _, size = instance_type.partition(".")
    return family, size


def gpu_for(instance_type: str, file_count: float | None) -> tuple[str | None, float | None, float | None]:
    """(gpu_name_raw, gpu_count, gpu_memory_gb) for an instance type.

    The count comes from the file's GPU column when it is a positive number, else from our
    table; fractional families always use the table (the file cannot say 1/8 of a GPU).
    An unknown GPU-looking family keeps the file's count and no name, so it stays visible.
    """
    family, size = instance_family(instance_type)
    spec = GPU_FAMILIES.get(family)
    if spec is None:
        return None, file_count if file_count and file_count > 0 else None, None
    table_count = spec.counts.get(size)
    if spec.fractional:
        count = table_count
    else:
        count = file_count if file_count and file_count > 0 else table_count
    return spec.gpu, count, spec.memory_gb


def _number(text: object) -> float | None:
    """'1152 GiB' -> 1152.0, '96' -> 96.0, 'NA'/'' -> None."""
    if text is None:
        return None
    match = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", str(text).replace(",", ""))
    return float(match.group(1)) if match else None


def _price(text: object) -> float | None:
    try:
        return float(str(text))
    except (TypeError, ValueError):
        return None  # quarantined as "no price" downstream, not dropped here


class AwsPriceList(Source):
    id = "aws"
    name = "AWS Price List (bulk, EC2)"
    kind = "direct"
    providers = ("aws",)
    url = INDEX_URL
    docs_url = "https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-ppslong.html"
    key_env = None
    description = (
        "EC2 on-demand and 1y/3y standard No Upfront reserved prices of GPU and ML-accelerator "
        "instances (Linux, shared tenancy), from the public bulk price list, one CSV per region."
    )

    def __init__(self, regions: tuple[str, ...] | None = None) -> None:
        # None = every region in the region index; a tuple limits the fetch (dev runs, tests).
        self.regions = regions

    # -- fetch -----------------------------------------------------------------------------

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        yield from fetch_offer_files(client, self.id, ctx, self.regions)

    # -- parse -----------------------------------------------------------------------------

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            if is_index_response(raw):
                continue
            rows.extend(parse_offer_file(raw, self.id))
        return offers_frame(rows, self.id)


# -- the fetch chain, shared with the spot source --------------------------------------------


def is_index_response(raw: RawResponse) -> bool:
    """The service index and region index files: navigation, not prices."""
    path = urlsplit(raw.url).path
    return path.endswith("/region_index.json") or path == urlsplit(INDEX_URL).path


def fetch_offer_files(
    client: httpx.Client,
    source_id: str,
    ctx: FetchContext,
    regions: tuple[str, ...] | None,
    *,
    skip_unknown_regions: bool = False,
) -> Iterator[RawResponse]:
    """index.json -> region_index.json -> each region's offer CSV (spooled to disk).

    `regions` None means every region of the region index. A region the index does not list
    is an error, unless `skip_unknown_regions` (the spot source asks for the regions another
    document names, and a region AWS prices nowhere is no reason to fail).
    """
    index = http.get(client, source_id, INDEX_URL)
    yield index
    if not 200 <= index.status < 300:
        return  # archived, then rejected by check_responses
    offers = index.json()
    require_fields(source_id, offers, ("offers",), INDEX_URL)
    require_fields(source_id, offers["offers"], ("AmazonEC2",), f"{INDEX_URL} offers")
    ec2 = offers["offers"]["AmazonEC2"]
    require_fields(source_id, ec2, ("currentRegionIndexUrl",), f"{INDEX_URL} offers.AmazonEC2")
    region_index_url = urljoin(INDEX_URL, ec2["currentRegionIndexUrl"])

    region_index = http.get(client, source_id, region_index_url)
    yield region_index
    if not 200 <= region_index.status < 300:
        return
    listing = region_index.json()
    require_fields(source_id, listing, ("regions",), region_index_url)
    wanted = sorted(listing["regions"]) if regions is None else list(regions)
    for code in wanted:
        if code not in listing["regions"]:
            if skip_unknown_regions:
                ctx.say(f"{code}: not in the region index, skipped")
                continue
            raise ParseError(f"{source_id}: region {code!r} is not in {region_index_url}")
        entry = listing["regions"][code]
        require_fields(source_id, entry, ("currentVersionUrl",), f"{region_index_url} regions.{code}")
        version_url = urljoin(region_index_url, entry["currentVersionUrl"])
        if not version_url.endswith(".json"):
            raise ParseError(f"{source_id}: {region_index_url} regions.{code} points at {version_url}, not a .json offer file")
        csv_url = version_url[: -len(".json")] + ".csv"
        ctx.say(f"{code}: downloading {csv_url}")
        yield http.get(client, source_id, csv_url, spool_to_disk=True, max_body_bytes=MAX_OFFER_FILE_BYTES)


# -- parsing one offer file -----------------------------------------------------------------


def _sniff(raw: RawResponse, source_id: str) -> str:
    """'csv' or 'json', or a ParseError saying what came instead."""
    with raw.open() as stream:
        head = stream.read(512)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise ParseError(f"{source_id}: {raw.url} returned an empty body")
    lowered = text[:80].lower()
    if lowered.startswith(b"<!doctype html") or lowered.startswith(b"<html") or lowered.startswith(b"<"):
        raise ParseError(f"{source_id}: {raw.url} returned an HTML/XML page instead of a price list ({raw.size} bytes)")
    if text.startswith(b"{"):
        return "json"
    if text.startswith(b'"FormatVersion"') or text.startswith(b"FormatVersion"):
        return "csv"
    raise ParseError(
        f"{source_id}: {raw.url} is neither a price-list CSV (first line \"FormatVersion\",...) nor "
        f"JSON; it starts {text[:60]!r}"
    )


def parse_offer_file(raw: RawResponse, source_id: str) -> list[dict]:
    """Offer rows (PARSED_OFFER_SCHEMA keys) from one region offer file, CSV or JSON."""
    kind = _sniff(raw, source_id)
    records = _csv_records(raw, source_id) if kind == "csv" else _json_records(raw, source_id)
    base = provenance(raw)
    rows = []
    for rec in records:
        instance_type = rec["instance_type"]
        gpu, count, memory = gpu_for(instance_type, _number(rec.get("gpu")))
        if rec["term"] == "OnDemand":
            pricing = "on_demand"
        else:
            pricing = RESERVED_PRICING[rec["lease"]]
        rows.append(
            {
                "provider": "aws",
                "region": rec["region"],
                "instance_type": instance_type,
                "gpu_name_raw": gpu,
                "gpu_count": count,
                "gpu_memory_gb": memory,
                "vcpus": _number(rec.get("vcpu")),
                "ram_gb": _number(rec.get("memory")),
                "pricing": pricing,
                "price": _price(rec["price"]),
                "currency": rec["currency"],
                "spot_is_estimate": False,
                **base,
            }
        )
    return rows


@contextmanager
def _plain_csv_source(raw: RawResponse) -> Iterator[Path | IO[bytes]]:
    """Something polars can scan without loading the whole body: the file, or a plain copy.

    A spooled body is scanned in place. An archived body is gzipped; polars would inflate a
    .gz fully in memory, so it is streamed to a temporary plain file first.
    """
    if raw.body_path is not None and raw.body_path.suffix != ".gz":
        yield raw.body_path
        return
    if raw.body is not None:
        yield io.BytesIO(raw.body)
        return
    with tempfile.NamedTemporaryFile(prefix="aws-offer-", suffix=".csv") as plain:
        with gzip.open(raw.body_path, "rb") as src:  # type: ignore[arg-type]
            shutil.copyfileobj(src, plain, 1 << 22)
        plain.flush()
        yield Path(plain.name)


def _csv_header(raw: RawResponse, source_id: str) -> list[str]:
    with raw.open() as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        lines = [text.readline() for _ in range(DISCLAIMER_LINES + 1)]
    if not lines[-1].strip():
        raise ParseError(
            f"{source_id}: {raw.url} ends before its header line (line {DISCLAIMER_LINES + 1}); "
            "the body is truncated"
        )
    return next(csv.reader([lines[-1]]))


def _ends_with_newline(source: Path | IO[bytes]) -> bool:
    if isinstance(source, Path):
        with source.open("rb") as stream:
            return _ends_with_newline(stream)
    source.seek(0, 2)
    if source.tell() == 0:
        return False
    source.seek(-1, 2)
    ends = source.read(1) == b"\n"
    source.seek(0)
    return ends


def _csv_records(raw: RawResponse, source_id: str) -> list[dict]:
    header = _csv_header(raw, source_id)
    require_columns(source_id, header, REQUIRED_COLUMNS, f"{raw.url} (line {DISCLAIMER_LINES + 1})")

    c = pl.col
    reserved = (
        (c(COL_TERM) == "Reserved")
        & c(COL_LEASE).is_in(list(RESERVED_PRICING))
        & (c(COL_OPTION) == "No Upfront")
        & (c(COL_CLASS) == "standard")
    )
    keep = (
        ((c(COL_TERM) == "OnDemand") | reserved)
        & (c(COL_UNIT) == "Hrs")
        & (c(COL_TENANCY) == "Shared")
        & (c(COL_OS) == "Linux")
        & (c(COL_CAPACITY) == "Used")
        & (c(COL_SOFTWARE).is_null() | (c(COL_SOFTWARE) == "NA"))
        & c(COL_TYPE).str.contains(GPU_INSTANCE_REGEX)
    )
    if COL_MARKET in header:
        keep = keep & (c(COL_MARKET) == "OnDemand")
    if COL_FAMILY in header:
        keep = keep & c(COL_FAMILY).str.starts_with("Compute Instance")
    wanted = {
        "instance_type": COL_TYPE, "region": COL_REGION, "term": COL_TERM, "lease": COL_LEASE,
        "price": COL_PRICE, "currency": COL_CURRENCY,
    }
    for key, column in (("gpu", COL_GPU), ("vcpu", COL_VCPU), ("memory", COL_MEMORY)):
        if column in header:
            wanted[key] = column
    with _plain_csv_source(raw) as source:
        if not _ends_with_newline(source):
            # AWS ends every row with a newline; a body that stops mid-row was cut off.
            raise ParseError(f"{source_id}: {raw.url} does not end with a complete row; the body is truncated")
        try:
            frame = (
                pl.scan_csv(
                    source,
                    skip_rows=DISCLAIMER_LINES,
                    infer_schema=False,  # every column as text: no inference pass, no surprises
                    raise_if_empty=False,
                )
                .filter(keep)
                .select([c(column).alias(key) for key, column in wanted.items()])
                .collect(engine="streaming")
            )
        except pl.exceptions.PolarsError as exc:
            raise ParseError(f"{source_id}: {raw.url} is not a readable price-list CSV: {exc}") from exc
    return frame.to_dicts()


def _json_records(raw: RawResponse, source_id: str) -> list[dict]:
    offer = raw.json()
    where = raw.url
    require_fields(source_id, offer, ("products", "terms"), where)
    gpu_type = re.compile(GPU_INSTANCE_REGEX)
    products: dict[str, dict] = {}
    for sku, product in offer["products"].items():
        if not str(product.get("productFamily", "Compute Instance")).startswith("Compute Instance"):
            continue
        require_fields(source_id, product, ("attributes",), f"{where} products.{sku}")
        attrs = product["attributes"]
        require_fields(source_id, attrs, JSON_ATTRIBUTES, f"{where} products.{sku}.attributes")
        if not (
            gpu_type.match(attrs["instanceType"])
            and attrs["tenancy"] == "Shared"
            and attrs["operatingSystem"] == "Linux"
            and attrs["capacitystatus"] == "Used"
            and attrs["preInstalledSw"] in ("NA", "")
            and attrs.get("marketoption", "OnDemand") == "OnDemand"
        ):
            continue
        products[sku] = attrs

    records = []
    terms = offer["terms"]
    for term_type in ("OnDemand", "Reserved"):
        for sku, offers in terms.get(term_type, {}).items():
            attrs = products.get(sku)
            if attrs is None:
                continue
            for code, term in offers.items():
                lease = None
                if term_type == "Reserved":
                    term_attrs = term.get("termAttributes", {})
                    require_fields(source_id, term_attrs, ("LeaseContractLength", "PurchaseOption", "OfferingClass"),
                                   f"{where} terms.Reserved.{sku}.{code}.termAttributes")
                    lease = term_attrs["LeaseContractLength"]
                    if not (lease in RESERVED_PRICING and term_attrs["PurchaseOption"] == "No Upfront"
                            and term_attrs["OfferingClass"] == "standard"):
                        continue
                require_fields(source_id, term, ("priceDimensions",), f"{where} terms.{term_type}.{sku}.{code}")
                for rate, dimension in term["priceDimensions"].items():
                    require_fields(source_id, dimension, ("unit", "pricePerUnit"), f"{where} priceDimensions {rate}")
                    if dimension["unit"] != "Hrs":
                        continue
                    for currency, value in dimension["pricePerUnit"].items():
                        records.append(
                            {
                                "instance_type": attrs["instanceType"], "region": attrs["regionCode"],
                                "term": term_type, "lease": lease, "price": value, "currency": currency,
                                "gpu": attrs.get("gpu"), "vcpu": attrs.get("vcpu"), "memory": attrs.get("memory"),
                            }
                        )
    return records
