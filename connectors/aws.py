"""AWS EC2 on-demand and reserved GPU prices from the public bulk Price List (no key).

Fetch follows the documented chain of the Price List Bulk API
(https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-the-aws-price-list-bulk-api-fetching-price-list-files-manually.html):

    /offers/v1.0/aws/index.json             offers.AmazonEC2.currentRegionIndexUrl
    -> .../AmazonEC2/current/region_index.json   regions[code].currentVersionUrl
    -> .../AmazonEC2/<version>/<region>/index.csv   (the same path as the .json, ending .csv)

Region files are hundreds of megabytes, so each is spooled to disk, never held in memory, and
the regions are downloaded a few at a time (the HTTP policy's per-host limit), each response
handed on (and so archived) as soon as it is complete.

Parse streams each region CSV from the archive, inflating it in a reader thread and picking the
few GPU lines by substring before any CSV parsing, so it costs about one pass over the bytes
and memory stays flat however large the file is; see "the CSV scan" below and
benchmarks/aws_price_list.py for the measurements.
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

Spot prices, ESTIMATED. Quoted spot prices (DescribeSpotPriceHistory) need IAM credentials.
Without them, the public document behind https://aws.amazon.com/ec2/spot/instance-advisor/
(``SPOT_ADVISOR_URL``) gives, per region, OS and instance type, the typical saving of spot over
on-demand in percent (``spot_advisor[region]["Linux"][type] = {"s": saving %, "r": bucket}``).
As ec2instances.info does when it has no price history, every Linux on-demand row of the region
files that has an advisor entry also gives a spot row

    spot = on_demand x (100 - s) / 100        marked spot_is_estimate = True,

whose provenance (source_url, raw_response_id, observed_at) is the advisor response: that
document is what makes it a spot number; its on-demand base is the on-demand row of the same
fetch. The estimate lives in this source (it used to be a separate ``aws_spot`` source) so the
region files, hundreds of megabytes each, are downloaded once a day, not twice.

The advisor is OPTIONAL. Fetch GETs it once, before the price-list chain. When it fails (a
transport error, a non-2xx status after the HTTP policy's retries, or a 2xx body that is not
an advisor document) it is not yielded and ``ctx.say`` (and the log) says why: a yielded
non-2xx response would make ``check_responses`` reject the whole fetch, and the on-demand and
reserved prices must not be lost because the estimate's input is missing. That day then has
no AWS spot rows. Parse gives spot rows only when one advisor response is present; an advisor
that is present is read strictly (a ParseError names what is wrong).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
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
    SourceError,
    json_object,
    offers_frame,
    provenance,
    require_columns,
    require_fields,
)

log = logging.getLogger("gpu_prices.connectors.aws")

INDEX_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/index.json"
SPOT_ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
OPERATING_SYSTEM = "Linux"  # the only operating system whose prices we read (see the filters above)
ADVISOR_OS = OPERATING_SYSTEM  # the advisor's savings for the same rows
# A region CSV is ~0.1-0.7 GB today; the cap guards against a runaway body, not a real file.
MAX_OFFER_FILE_BYTES = 8 * 1024**3
DISCLAIMER_LINES = 5  # FormatVersion, Disclaimer, Publication Date, Version, OfferCode

# Instance types we read: GPU and ML-accelerator families. Everything else is CPU.
GPU_FAMILY_PREFIXES = ("p", "g", "gr", "trn", "inf", "dl")  # then the generation digit: p5, trn2, ...
GPU_FAMILY_PATTERN = "(?:" + "|".join(rf"{prefix}\d" for prefix in GPU_FAMILY_PREFIXES) + ")"
GPU_INSTANCE_REGEX = "^" + GPU_FAMILY_PATTERN


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
    name = "AWS Price List (bulk, EC2) + Spot Instance Advisor"
    kind = "direct"
    providers = ("aws",)
    url = INDEX_URL
    docs_url = "https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-ppslong.html"
    key_env = None
    description = (
        "EC2 on-demand and 1y/3y standard No Upfront reserved prices of GPU and ML-accelerator "
        "instances (Linux, shared tenancy), from the public bulk price list, one CSV per region; "
        "plus spot prices ESTIMATED as on-demand x (100 - typical saving %) from the Spot "
        "Instance Advisor (marked spot_is_estimate; none that day if the advisor is unavailable)."
    )

    def __init__(self, regions: tuple[str, ...] | None = None) -> None:
        # None = every region in the region index; a tuple limits the fetch (dev runs, tests).
        self.regions = regions

    # -- fetch -----------------------------------------------------------------------------

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        advisor = fetch_advisor(client, self.id, ctx)
        if advisor is not None:
            yield advisor
        yield from fetch_offer_files(client, self.id, ctx, self.regions)

    # -- parse -----------------------------------------------------------------------------

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        advisors = [raw for raw in responses if is_advisor_response(raw)]
        if len(advisors) > 1:
            raise ParseError(f"{self.id}: expected at most one response from {SPOT_ADVISOR_URL}, got {len(advisors)}")
        advisor = advisors[0] if advisors else None
        savings = savings_table(advisor, self.id) if advisor is not None else {}
        spot_base = provenance(advisor) if advisor is not None else {}
        rows: list[dict] = []
        for raw in responses:
            if raw is advisor or is_index_response(raw):
                continue
            offer_rows = parse_offer_file(raw, self.id)
            rows.extend(offer_rows)
            if savings:
                rows.extend(spot_rows(offer_rows, savings, spot_base))
        return offers_frame(rows, self.id)


# -- spot, estimated from the Spot Instance Advisor ------------------------------------------

_GPU_TYPE = re.compile(GPU_INSTANCE_REGEX)


def is_advisor_response(raw: RawResponse) -> bool:
    parts, advisor = urlsplit(raw.url), urlsplit(SPOT_ADVISOR_URL)
    return (parts.hostname, parts.path) == (advisor.hostname, advisor.path)


def fetch_advisor(client: httpx.Client, source_id: str, ctx: FetchContext) -> RawResponse | None:
    """The advisor response, or None (said and logged) when it cannot give spot estimates.

    Optional on purpose: a yielded failure would make check_responses reject the whole fetch,
    and with it the day's on-demand and reserved prices.
    """
    def skip(why: str) -> None:
        message = f"spot advisor skipped, no spot estimates this run: {why}"
        ctx.warn(message)
        log.warning("%s: %s", source_id, message)

    try:
        advisor = http.get(client, source_id, SPOT_ADVISOR_URL)
    except (httpx.TransportError, SourceError) as exc:
        skip(f"{type(exc).__name__}: {exc}")
        return None
    if not 200 <= advisor.status < 300:
        snippet = advisor.read()[:200].decode("utf-8", "replace").strip().replace("\n", " ")
        skip(f"HTTP {advisor.status} from {advisor.url}: {snippet!r}")
        return None
    try:
        savings = savings_table(advisor, source_id)
    except ParseError as exc:
        skip(str(exc))
        return None
    ctx.say(f"spot advisor: {len(savings)} GPU (region, instance type) savings")
    return advisor


def savings_table(raw: RawResponse, source_id: str) -> dict[tuple[str, str], float]:
    """(region, instance type) -> saving in percent, for the Linux GPU types of the advisor file."""
    data = json_object(source_id, raw)
    require_fields(source_id, data, ("spot_advisor",), raw.url)

    def an_object(value: object, where: str) -> dict:
        # Every shape surprise must be a ParseError: fetch_advisor skips on exactly that.
        if not isinstance(value, dict):
            raise ParseError(f"{source_id}: {raw.url} {where} is not an object; the format changed")
        return value

    table: dict[tuple[str, str], float] = {}
    for region, by_os in an_object(data["spot_advisor"], "spot_advisor").items():
        types = an_object(by_os or {}, f"spot_advisor.{region}").get(ADVISOR_OS) or {}
        an_object(types, f"spot_advisor.{region}.{ADVISOR_OS}")
        for instance_type in (t for t in types if _GPU_TYPE.match(t)):
            entry = an_object(types[instance_type], f"spot_advisor.{region}.{ADVISOR_OS}.{instance_type}")
            require_fields(source_id, entry, ("s",), f"{raw.url} spot_advisor.{region}.{ADVISOR_OS}.{instance_type}")
            try:
                table[(region, instance_type)] = float(entry["s"])
            except (TypeError, ValueError) as exc:
                raise ParseError(
                    f"{source_id}: {raw.url} saving {entry['s']!r} for {region} {instance_type} is not a number"
                ) from exc
    return table


def spot_rows(offer_rows: list[dict], savings: dict[tuple[str, str], float], advisor_provenance: dict) -> list[dict]:
    """Estimated spot rows from the on-demand rows that have an advisor saving."""
    rows = []
    for row in offer_rows:
        if row["pricing"] != "on_demand":
            continue
        saving = savings.get((row["region"], row["instance_type"]))
        if saving is None:
            continue  # no spot market for this type in this region
        od = row["price"]
        rows.append(
            {
                **row,
                "pricing": "spot",
                # An odd saving (>100, <0) gives an odd price; finalize_offers quarantines it
                # with a reason instead of us hiding it here.
                "price": None if od is None else od * (100.0 - saving) / 100.0,
                "spot_is_estimate": True,
                **advisor_provenance,
            }
        )
    return rows


# -- the price-list fetch chain ----------------------------------------------------------------


def is_index_response(raw: RawResponse) -> bool:
    """The service index and region index files: navigation, not prices."""
    path = urlsplit(raw.url).path
    return path.endswith("/region_index.json") or path == urlsplit(INDEX_URL).path


def fetch_offer_files(
    client: httpx.Client,
    source_id: str,
    ctx: FetchContext,
    regions: tuple[str, ...] | None,
) -> Iterator[RawResponse]:
    """index.json -> region_index.json -> each region's offer CSV (spooled to disk).

    `regions` None means every region of the region index; a region the index does not list
    is an error, raised before any region file is downloaded.
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
    files = []
    for code in wanted:
        if code not in listing["regions"]:
            raise ParseError(f"{source_id}: region {code!r} is not in {region_index_url}")
        entry = listing["regions"][code]
        require_fields(source_id, entry, ("currentVersionUrl",), f"{region_index_url} regions.{code}")
        version_url = urljoin(region_index_url, entry["currentVersionUrl"])
        if not version_url.endswith(".json"):
            raise ParseError(f"{source_id}: {region_index_url} regions.{code} points at {version_url}, not a .json offer file")
        files.append((code, version_url[: -len(".json")] + ".csv"))
    yield from download_region_files(client, source_id, ctx, files)


def download_region_files(
    client: httpx.Client, source_id: str, ctx: FetchContext, files: list[tuple[str, str]]
) -> Iterator[RawResponse]:
    """The (region, url) files, downloaded concurrently, each yielded the moment it is complete.

    At most the HTTP policy's per-host limit run at once (they share one host; the transport
    enforces the same limit), with its retries. Yielding each file as it completes keeps the
    archive-first guarantee: the caller archives it before anything else happens. A download
    that raises (a transport error after the retries, the size cap) stops the downloads not yet
    started; those under way finish and are yielded, then the first error is raised. A non-2xx
    response is yielded like any other and rejected by check_responses. When the caller stops
    early, spooled files it never received are deleted.
    """
    if not files:
        return
    workers = min(len(files), http.per_host_limit(client))
    ctx.say(f"downloading {len(files)} region file(s), {workers} at a time")
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{source_id}-region")
    futures = {
        pool.submit(http.get, client, source_id, url, spool_to_disk=True, max_body_bytes=MAX_OFFER_FILE_BYTES): code
        for code, url in files
    }
    failure: BaseException | None = None
    handed_over: set[Future] = set()
    try:
        for done, future in enumerate(as_completed(futures), 1):
            code = futures[future]
            if future.cancelled():
                continue
            try:
                raw = future.result()
            except Exception as exc:  # noqa: BLE001 - raised below, once the others are archived
                ctx.say(f"{code}: download failed ({type(exc).__name__}: {exc}); not starting the rest")
                if failure is None:
                    failure = exc
                    for pending in futures:
                        pending.cancel()
                continue
            handed_over.add(future)
            ctx.say(f"{code}: {raw.size / 1e6:,.0f} MB, HTTP {raw.status} "
                    f"({done}/{len(files)}, {time.monotonic() - started:,.0f} s)")
            yield raw
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for future in futures:
            if future in handed_over or future.cancelled() or future.exception() is not None:
                continue
            body_path = future.result().body_path
            if body_path is not None:
                body_path.unlink(missing_ok=True)  # downloaded, never archived: the caller stopped
    if failure is not None:
        raise failure


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


# -- the CSV scan: streamed from the archive, lines picked before CSV parsing ------------------
#
# A region file is hundreds of megabytes; its GPU offers are a few thousand lines. Parsing all
# 91 columns of every line (what polars, pandas or DuckDB would do) costs far more than
# inflating the file, so the scan works on raw lines, as gpuhunt does with substring tests:
#
# 1. The archived body is inflated as it is read (connectors.base.ArchivedBody), in blocks of
#    whole lines: memory is a block or two, whatever the file size. (Inflating in a reader
#    thread was tried and measured no faster, within the noise of a shared machine: the scan
#    below holds the GIL through C calls that do not release it, so the reader waits out the
#    interpreter's switch interval each time it needs the GIL back.)
# 2. A line is a candidate when it holds the Operating System field Linux (``,"Linux",`` - AWS
#    quotes every value) and a field starting with a GPU family (``,"p5``, ``,"trn1``, ...).
#    Both are attributes of the product, and a SKU is one product whose every row repeats its
#    attributes (the CSV is the product x term join of the JSON offer file), so the test runs
#    once per run of a SKU, on its first row; AWS writes a product's rows one after another,
#    so the other rows only check that they start with the same SKU (one C call a line, after
#    the newline search).
# 3. Candidate lines, in batches, go through polars' CSV reader under the header of the file,
#    and the exact offer filter (``_offer_filter``) keeps the offers.
#
# Step 2 keeps a superset of what step 3 keeps, so the offers are exactly those of a full
# parse (tests/test_connector_aws.py compares both on generated files, column orders included).
# Where the file breaks the assumptions (the header is not quoted, SKU is not the first column,
# the Operating System or Instance Type column is first, or OS last), the scan drops the
# shortcut they allow: a looser substring or pattern, or the GPU test on every Linux line.
# Slower, never different.

READ_BLOCK_BYTES = 2 << 20  # at most this many inflated bytes scanned at a time
CANDIDATE_BATCH_BYTES = 2 << 20  # candidate lines parsed with polars at a time


def _line_blocks(stream: IO[bytes], label: str) -> Iterator[tuple[bytes, int, int]]:
    """``(block, lo, hi)`` with ``block[lo:hi]`` whole lines, in file order, read as they are needed.

    A body whose last line has no newline raises ParseError at the end: AWS ends every row with
    one, so a body that stops mid-row was cut off. A damaged archive file raises ParseError (see
    connectors.base.ArchivedBody) at the block where it is found.
    """
    carry = b""  # the start of a line whose end is in the next block
    read = getattr(stream, "read1", stream.read)  # whatever the stream has ready: no copy to fill a size
    while data := read(READ_BLOCK_BYTES):
        first = data.find(b"\n")
        if first < 0:
            carry += data
            continue
        lo = 0
        if carry:
            joined = carry + data[: first + 1]
            yield joined, 0, len(joined)
            lo, carry = first + 1, b""
        hi = data.rfind(b"\n") + 1
        if hi > lo:
            yield data, lo, hi
        carry = data[hi:]
    if carry:
        raise ParseError(f"{label} does not end with a complete row; the body is truncated")


def _header_lines(
    blocks: Iterator[tuple[bytes, int, int]], label: str
) -> tuple[list[bytes], Iterator[tuple[bytes, int, int]]]:
    """The disclaimer lines and the header line, and the blocks after them."""
    lines: list[bytes] = []
    for block, lo, hi in blocks:
        while len(lines) <= DISCLAIMER_LINES and lo < hi:
            end = block.index(b"\n", lo, hi) + 1
            lines.append(block[lo:end])
            lo = end
        if len(lines) > DISCLAIMER_LINES:
            return lines, itertools.chain([(block, lo, hi)], blocks)
    raise ParseError(
        f"{label} ends before its header line (line {DISCLAIMER_LINES + 1}); the body is truncated"
    )


class _CandidateLines:
    """Finds, in blocks of raw lines, the lines that may be GPU offers (see the comment above)."""

    def __init__(self, header: list[str], header_line: bytes) -> None:
        # Delimited forms (a literal start: fast to search) where the layout guarantees them.
        quoted = header_line.startswith(b'"')
        os_at, type_at = header.index(COL_OS), header.index(COL_TYPE)
        if quoted and 0 < os_at < len(header) - 1:
            self.needle = f',"{OPERATING_SYSTEM}",'.encode()
        else:
            self.needle = OPERATING_SYSTEM.encode()
        if quoted and type_at > 0:
            self.names_gpu_type = self._names_quoted_gpu_type
        else:
            any_field = re.compile(rb'(?:^|,)"?' + GPU_FAMILY_PATTERN.encode(), re.MULTILINE)
            self.names_gpu_type = lambda block, start, end: any_field.search(block, start, end) is not None
        self.sku_first = header[0] == "SKU"

    # ',"p', ',"g' (which covers ',"gr'), ...: the starts of a quoted field naming a GPU family.
    _FIELD_STARTS = tuple(
        f',"{prefix}'.encode() for prefix in GPU_FAMILY_PREFIXES
        if not any(prefix != other and prefix.startswith(other) for other in GPU_FAMILY_PREFIXES)
    )
    _FAMILY = re.compile(GPU_FAMILY_PATTERN.encode())

    def _names_quoted_gpu_type(self, block: bytes, start: int, end: int) -> bool:
        """Whether block[start:end] has a field ``"<GPU family><digit>...``: substring searches,
        and the regex only where one hits, many times faster than a regex over the line."""
        find, family = block.find, self._FAMILY.match
        for field_start in self._FIELD_STARTS:
            at = find(field_start, start, end)
            while at >= 0:
                if family(block, at + 2):
                    return True
                at = find(field_start, at + 3, end)
        return False

    def scan(self, block: bytes, lo: int, hi: int) -> list[bytes]:
        """The candidate lines of ``block[lo:hi]`` (whole lines), in order."""
        if self.sku_first:
            return self._scan_sku_runs(block, lo, hi)
        return self._scan_linux_lines(block, lo, hi)

    def _scan_sku_runs(self, block: bytes, lo: int, hi: int) -> list[bytes]:
        """The hot loop when SKU is the first column: line by line (memchr), the product's test -
        Linux, and a GPU type - on the first line of each run of its SKU; the lines after it in
        the run only check that they start with the same SKU field. (A SKU whose rows were not
        together would be tested at each run: slower, the same lines.)"""
        find, startswith, needle, names_gpu_type = block.find, block.startswith, self.needle, self.names_gpu_type
        found = []
        start, sku, keep = lo, b"\n", False  # b"\n" starts no line: the first line reads its SKU
        while start < hi:
            end = find(b"\n", start, hi) + 1  # every line of the range ends with one
            if not startswith(sku, start):
                sku = block[start : find(b",", start, end) + 1]  # the SKU field and its comma
                keep = find(needle, start, end) >= 0 and names_gpu_type(block, start, end)
            if keep:
                found.append(block[start:end])
            start = end
        return found

    def _scan_linux_lines(self, block: bytes, lo: int, hi: int) -> list[bytes]:
        """Without SKU first: the Linux lines by substring search, each tested for a GPU type."""
        find, rfind, needle, step = block.find, block.rfind, self.needle, len(self.needle)
        names_gpu_type = self.names_gpu_type
        found = []
        pos, last_start = lo, -1
        while (hit := find(needle, pos, hi)) >= 0:
            pos = hit + step
            start = rfind(b"\n", lo, hit) + 1 or lo
            end = find(b"\n", hit, hi) + 1  # every line of the range ends with one
            if start != last_start and names_gpu_type(block, start, end):  # a line is taken once
                last_start = start
                found.append(block[start:end])
        return found


def _offer_filter(header: list[str]) -> pl.Expr:
    """The rows of a price-list CSV that are offers (the rules in the module docstring)."""
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
        & (c(COL_OS) == OPERATING_SYSTEM)
        & (c(COL_CAPACITY) == "Used")
        & (c(COL_SOFTWARE).is_null() | (c(COL_SOFTWARE) == "NA"))
        & c(COL_TYPE).str.contains(GPU_INSTANCE_REGEX)
    )
    if COL_MARKET in header:
        keep = keep & (c(COL_MARKET) == "OnDemand")
    if COL_FAMILY in header:
        keep = keep & c(COL_FAMILY).str.starts_with("Compute Instance")
    return keep


def _record_columns(header: list[str]) -> dict[str, str]:
    """Record key -> CSV column, for the columns an offer row is built from."""
    wanted = {
        "instance_type": COL_TYPE, "region": COL_REGION, "term": COL_TERM, "lease": COL_LEASE,
        "price": COL_PRICE, "currency": COL_CURRENCY,
    }
    for key, column in (("gpu", COL_GPU), ("vcpu", COL_VCPU), ("memory", COL_MEMORY)):
        if column in header:
            wanted[key] = column
    return wanted


def _offers_of(lines: list[bytes], header: list[str], header_line: bytes, label: str) -> pl.DataFrame:
    """The offer records among candidate lines, parsed by polars under the file's header.

    polars pads a short row with nulls and cuts a long one without a word, so every row that
    is kept is checked to have exactly the header's fields (a cheap check: offers are few).
    """
    wanted = _record_columns(header)
    keep = _offer_filter(header)
    needed = sorted(set(wanted.values()) | set(keep.meta.root_names()), key=header.index)
    try:
        frame = (
            pl.read_csv(
                io.BytesIO(header_line + b"".join(lines)),
                columns=needed,
                infer_schema=False,  # every column as text: no inference pass, no surprises
                raise_if_empty=False,
            )
            .with_row_index("_line")
            .filter(keep)
        )
    except pl.exceptions.PolarsError as exc:
        raise ParseError(f"{label} is not a readable price-list CSV: {exc}") from exc
    for index in frame["_line"]:
        fields = next(csv.reader([lines[index].decode("utf-8")]))
        if len(fields) != len(header):
            raise ParseError(
                f"{label}: an offer row has {len(fields)} fields where the header has {len(header)} "
                f"({lines[index][:120]!r}...); the file is damaged or changed its layout"
            )
    return frame.select([pl.col(column).alias(key) for key, column in wanted.items()])


def _csv_records(raw: RawResponse, source_id: str) -> list[dict]:
    """The offer records of a price-list CSV body, streamed (see the comment above)."""
    label = f"{source_id}: {raw.url}"
    frames: list[pl.DataFrame] = []
    with raw.open() as stream:
        head, rest = _header_lines(_line_blocks(stream, label), label)
        header_line = head[-1]
        header = next(csv.reader([header_line.decode("utf-8")]))
        require_columns(source_id, header, REQUIRED_COLUMNS, f"{raw.url} (line {DISCLAIMER_LINES + 1})")
        candidates = _CandidateLines(header, header_line)
        batch: list[bytes] = []
        batch_bytes = 0
        for block, lo, hi in rest:
            found = candidates.scan(block, lo, hi)
            batch.extend(found)
            batch_bytes += sum(map(len, found))
            if batch_bytes >= CANDIDATE_BATCH_BYTES:
                frames.append(_offers_of(batch, header, header_line, label))
                batch, batch_bytes = [], 0
        if batch or not frames:
            frames.append(_offers_of(batch, header, header_line, label))
    return pl.concat(frames).to_dicts()


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
            and attrs["operatingSystem"] == OPERATING_SYSTEM
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
