"""AWS EC2 on-demand and reserved GPU prices from the public bulk Price List (no key).

Fetch follows the documented chain of the Price List Bulk API
(https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-the-aws-price-list-bulk-api-fetching-price-list-files-manually.html):

    /offers/v1.0/aws/index.json             offers.AmazonEC2.currentRegionIndexUrl
    -> .../AmazonEC2/current/region_index.json   regions[code].currentVersionUrl
    -> .../AmazonEC2/<version>/<region>/index.csv   (the same path as the .json, ending .csv)

Region files are hundreds of megabytes, so each is spooled to disk, never held in memory, and
the regions are downloaded a few at a time (the HTTP policy's per-host limit), each response
handed on (and so archived) as soon as it is complete.

Which rows of an offer file are read, which are offers and which rule excludes the rest:
connectors/aws_price_list.py, which also reads the files (a region CSV streamed from the
archive, a few GPU lines picked by substring before any CSV parsing; the JSON form in memory).
This module hands each row's evidence - the instance type, and the file's GPU count and GPU
memory - to ``market.identity.resolve``, which decides the GPU through the instance table
market/data/instances/aws.csv (the price list itself names no GPU).

Spot prices, ESTIMATED. Quoted spot prices (DescribeSpotPriceHistory) need IAM credentials.
Without them, the public document behind https://aws.amazon.com/ec2/spot/instance-advisor/
(``SPOT_ADVISOR_URL``) gives, per region, OS and instance type, the typical saving of spot over
on-demand in percent (``spot_advisor[region]["Linux"][type] = {"s": saving %, "r": bucket}``).
As ec2instances.info does when it has no price history, every on-demand offer (Linux, by the
rules of connectors/aws_price_list.py) that has an advisor entry also gives a spot row

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

import logging
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import polars as pl

from connectors import http
from connectors.aws_price_list import (
    DISCLAIMER_LINES,
    GPU_INSTANCE_REGEX,
    OPERATING_SYSTEM,
    REQUIRED_COLUMNS,
    RESERVED_PRICING,
    read_offer_records,
)
from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    SourceError,
    json_object,
    offers_frame,
    provenance,
    require_fields,
)
from market.offer import PARSED_OFFER_SCHEMA

__all__ = ["AwsPriceList", "DISCLAIMER_LINES", "GPU_INSTANCE_REGEX", "INDEX_URL", "REQUIRED_COLUMNS",
           "SPOT_ADVISOR_URL"]

log = logging.getLogger("gpu_prices.connectors.aws")

INDEX_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/index.json"
SPOT_ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
ADVISOR_OS = OPERATING_SYSTEM  # the advisor's savings for the rows that are offers
# A region CSV is ~0.1-0.7 GB today; the cap guards against a runaway body, not a real file.
MAX_OFFER_FILE_BYTES = 8 * 1024**3


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
        frames: list[pl.DataFrame] = []
        for raw in responses:
            if raw is advisor or is_index_response(raw):
                continue
            offer_rows = parse_offer_file(raw, self.id)
            frames.append(offer_rows)
            if savings:
                frames.append(spot_rows(offer_rows, savings, spot_base))
        if not frames:
            return offers_frame([], self.id)
        return pl.concat(frames)


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


def spot_rows(offer_rows: pl.DataFrame, savings: dict[tuple[str, str], float], advisor_provenance: dict) -> pl.DataFrame:
    """Estimated spot rows from the on-demand offers that have an advisor saving (a type
    without one has no spot market in that region)."""
    table = pl.DataFrame(
        [(region, instance_type, saving) for (region, instance_type), saving in savings.items()],
        schema={"region": pl.String, "instance_type": pl.String, "_saving": pl.Float64}, orient="row",
    )
    on_demand = offer_rows.filter((pl.col("pricing") == "on_demand") & pl.col("excluded_by").is_null())
    spot = on_demand.join(table, on=["region", "instance_type"], how="inner", maintain_order="left")
    # od x (100 - s) / 100 in Python, as the rows published before: polars divides by a
    # constant through its reciprocal, one rounding off in the last digit.
    prices = [None if od is None else od * (100.0 - saving) / 100.0
              for od, saving in zip(spot["price"], spot["_saving"])]
    return spot.with_columns(
        pricing=pl.lit("spot"),
        # An odd saving (>100, <0) gives an odd price; finalize_offers quarantines it
        # with a reason instead of us hiding it here.
        price=pl.Series(prices, dtype=pl.Float64),
        spot_is_estimate=pl.lit(True),
        row_ref=pl.format("spot_advisor.{}.{}.{}", "region", pl.lit(ADVISOR_OS), "instance_type"),
        **_provenance_columns(advisor_provenance),
    ).drop("_saving")


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


def _number(column: str) -> pl.Expr:
    """'1152 GiB' -> 1152.0, '96' -> 96.0, 'NA'/''/absent -> null."""
    return (
        pl.col(column).str.replace_all(",", "", literal=True)
        .str.extract(r"^\s*([0-9]+(?:\.[0-9]+)?)", 1).cast(pl.Float64)
    )


def _provenance_columns(base: dict) -> dict[str, pl.Expr]:
    return {name: pl.lit(value, dtype=PARSED_OFFER_SCHEMA[name]) for name, value in base.items()}


def parse_offer_file(raw: RawResponse, source_id: str) -> pl.DataFrame:
    """Rows (PARSED_OFFER_SCHEMA) from one region offer file, CSV or JSON: every row read,
    offers and excluded rows alike, each with the file's evidence of its accelerator."""
    records = read_offer_records(raw, source_id)
    file_count = _number("gpu")
    columns = {
        "provider": pl.lit("aws"),
        "region": pl.col("region"),
        "instance_type": pl.col("instance_type"),
        "gpu_name_raw": pl.lit(None),  # the price list names no GPU; the instance table does
        "gpu_count": pl.when(file_count > 0).then(file_count),  # "0" and "NA" say nothing
        "gpu_memory_gb": _number("gpu_memory"),  # per GPU or the total: the file does not say
        "vcpus": _number("vcpu"),
        "ram_gb": _number("memory"),
        "pricing": pl.when(pl.col("term") == "OnDemand").then(pl.lit("on_demand"))
        .otherwise(pl.col("lease").replace_strict(RESERVED_PRICING, default=None)),
        # Unreadable -> null, quarantined as "no price" downstream, not dropped here.
        "price": pl.col("price").str.strip_chars().cast(pl.Float64, strict=False),
        "currency": pl.col("currency"),
        "spot_is_estimate": pl.lit(False),
        **_provenance_columns(provenance(raw)),
        "excluded_by": pl.col("excluded_by"),
        "row_ref": pl.col("row_ref"),
    }
    return records.select(
        (columns[name] if name in columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in PARSED_OFFER_SCHEMA.items()
    )
