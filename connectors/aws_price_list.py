"""The EC2 offer file of the AWS Price List: which of its rows we read, and reading them fast.

``read_offer_records(raw, source_id)`` gives one record per row we read, CSV (a region file,
streamed from the archive) or JSON (the form the AWS docs show, and our recorded fixture),
each with ``excluded_by``: null for an offer, else the rule of ``market.rules.EXCLUSION_RULES``
that keeps it out. connectors/aws.py turns records into the source's rows.

Which rows are READ: those whose Instance Type is of a GPU or ML-accelerator family (p, g,
gr, cg, trn, inf, dl, then the generation digit: ``GPU_INSTANCE_REGEX``). The rest of a region
file - CPU, FPGA and video types, storage, transfer, about 95% of its bytes - is skipped
unparsed by the line scan (connectors/aws_csv_scan.py); counting it would cost the full parse the scan exists to
avoid. Which GPU a read row carries is not decided here: the row hands on its instance type
and the file's GPU count and memory, and ``market.identity.resolve`` decides through
market/data/instances/aws.csv.

Which read rows are OFFERS (the documented columns of the offer file), and the rule of the rest,
first match wins (``exclusion_rule``):

* Product Family ``Dedicated Host``, or Tenancy other than ``Shared``: ``dedicated-tenancy``;
  another non-``Compute Instance*`` product family: ``untracked-term`` (a billing item);
* Operating System ``Windows``: ``windows-licence``; another OS than ``Linux`` (RHEL, SUSE,
  Ubuntu Pro, ...) or Pre Installed S/W other than ``NA``/empty (SQL Server):
  ``licensed-software``;
* CapacityStatus other than ``Used`` (the capacity-reservation accounting rows) or MarketOption
  other than ``OnDemand`` (Capacity Blocks, which the file lists at 0.00): ``not-a-list-price``;
* TermType other than ``OnDemand`` and ``Reserved`` 1yr/3yr ``standard`` ``No Upfront``, or a
  Unit other than ``Hrs``: ``untracked-term``. No Upfront is the only purchase option whose
  hourly rate is the whole price; Partial/All Upfront split it into an upfront fee and an
  hourly rate, and folding them together would be our arithmetic, not AWS's quote.
  Convertible reservations are a different (exchangeable) product.

Currency is NOT filtered: a non-USD row is quarantined downstream.
"""

from __future__ import annotations

import csv
import re
from functools import reduce
from typing import Collection

import polars as pl

from connectors.aws_csv_scan import CandidateLines, header_lines, line_blocks, open_body, read_ahead
from connectors.base import ParseError, RawResponse, require_columns, require_fields

OPERATING_SYSTEM = "Linux"  # the only operating system whose prices are offers (see above)
DISCLAIMER_LINES = 5  # FormatVersion, Disclaimer, Publication Date, Version, OfferCode

# Then the generation digit: p5, trn2, ... (cg1: the first GPU type, now retired). Wider than
# the instance table on purpose: a new family (p9) is read, and shows up unmapped, not lost.
GPU_FAMILY_PREFIXES = ("p", "g", "gr", "cg", "trn", "inf", "dl")
GPU_FAMILY_PATTERN = "(?:" + "|".join(rf"{prefix}\d" for prefix in GPU_FAMILY_PREFIXES) + ")"
GPU_INSTANCE_REGEX = "^" + GPU_FAMILY_PATTERN

# CSV column names (the offer file header) that the reader relies on ...
COL_TERM, COL_UNIT, COL_PRICE, COL_CURRENCY = "TermType", "Unit", "PricePerUnit", "Currency"
COL_LEASE, COL_OPTION, COL_CLASS = "LeaseContractLength", "PurchaseOption", "OfferingClass"
COL_TYPE, COL_TENANCY, COL_OS = "Instance Type", "Tenancy", "Operating System"
COL_CAPACITY, COL_SOFTWARE, COL_REGION = "CapacityStatus", "Pre Installed S/W", "Region Code"
REQUIRED_COLUMNS = (
    COL_TERM, COL_UNIT, COL_PRICE, COL_CURRENCY, COL_LEASE, COL_OPTION, COL_CLASS,
    COL_TYPE, COL_TENANCY, COL_OS, COL_CAPACITY, COL_SOFTWARE, COL_REGION,
)
# ... and the ones it uses when present (older or trimmed files may lack them).
COL_MARKET, COL_FAMILY, COL_GPU, COL_GPU_MEMORY = "MarketOption", "Product Family", "GPU", "GPU Memory"
COL_VCPU, COL_MEMORY, COL_RATE = "vCPU", "Memory", "RateCode"

# The same product attributes in the JSON offer file (products[sku].attributes) -> CSV column.
JSON_COLUMNS = {
    "instanceType": COL_TYPE, "tenancy": COL_TENANCY, "operatingSystem": COL_OS,
    "capacitystatus": COL_CAPACITY, "preInstalledSw": COL_SOFTWARE, "regionCode": COL_REGION,
    "marketoption": COL_MARKET, "gpu": COL_GPU, "gpuMemory": COL_GPU_MEMORY, "vcpu": COL_VCPU,
    "memory": COL_MEMORY,
}
JSON_ATTRIBUTES = ("instanceType", "tenancy", "operatingSystem", "capacitystatus", "preInstalledSw", "regionCode")

RESERVED_PRICING = {"1yr": "reserved_1y", "3yr": "reserved_3y"}

# Record key -> CSV column: what connectors/aws.py builds a row from.
RECORD_COLUMNS = {
    "instance_type": COL_TYPE, "region": COL_REGION, "term": COL_TERM, "lease": COL_LEASE,
    "price": COL_PRICE, "currency": COL_CURRENCY,
}
OPTIONAL_RECORD_COLUMNS = {"gpu": COL_GPU, "gpu_memory": COL_GPU_MEMORY, "vcpu": COL_VCPU, "memory": COL_MEMORY}


def exclusion_rule(columns: Collection[str]) -> pl.Expr:
    """The EXCLUSION_RULES key of a read row, null for an offer (the rules in the docstring).

    A missing or null cell fails its test, as it did when this was a filter: nothing unread
    becomes an offer."""
    c = pl.col

    def is_(column: str, *values: str) -> pl.Expr:
        return c(column).is_in(values).fill_null(False)

    reserved_as_quoted = (
        is_(COL_TERM, "Reserved") & is_(COL_LEASE, *RESERVED_PRICING)
        & is_(COL_OPTION, "No Upfront") & is_(COL_CLASS, "standard")
    )
    checks: list[tuple[pl.Expr, str]] = []
    if COL_FAMILY in columns:
        checks += [(is_(COL_FAMILY, "Dedicated Host"), "dedicated-tenancy"),
                   (~c(COL_FAMILY).str.starts_with("Compute Instance").fill_null(False), "untracked-term")]
    checks += [
        (~is_(COL_TENANCY, "Shared"), "dedicated-tenancy"),
        (is_(COL_OS, "Windows"), "windows-licence"),
        (~is_(COL_OS, OPERATING_SYSTEM), "licensed-software"),
        (~(c(COL_SOFTWARE).is_null() | is_(COL_SOFTWARE, "NA", "")), "licensed-software"),
        (~is_(COL_CAPACITY, "Used"), "not-a-list-price"),
    ]
    if COL_MARKET in columns:
        checks.append((~is_(COL_MARKET, "OnDemand"), "not-a-list-price"))
    checks += [(~(is_(COL_TERM, "OnDemand") | reserved_as_quoted), "untracked-term"),
               (~is_(COL_UNIT, "Hrs"), "untracked-term")]
    (first, rule), *rest = checks
    chain = reduce(lambda expr, check: expr.when(check[0]).then(pl.lit(check[1])), rest,
                   pl.when(first).then(pl.lit(rule)))
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _record_exprs(columns: Collection[str]) -> list[pl.Expr]:
    """The read rows of a frame in CSV column names, as records with their rule."""
    return [
        *[pl.col(column).alias(key) for key, column in RECORD_COLUMNS.items()],
        *[(pl.col(column) if column in columns else pl.lit(None, pl.String)).alias(key)
          for key, column in OPTIONAL_RECORD_COLUMNS.items()],
        exclusion_rule(columns).alias("excluded_by"),
        (pl.format("RateCode {}", pl.col(COL_RATE)) if COL_RATE in columns else pl.lit(None, pl.String)).alias("row_ref"),
    ]


def _records(frame: pl.DataFrame, columns: Collection[str]) -> pl.DataFrame:
    return frame.select(_record_exprs(columns))


def read_offer_records(raw: RawResponse, source_id: str) -> pl.DataFrame:
    """One record per read row of a region offer file, CSV or JSON (see the module docstring)."""
    if _sniff(raw, source_id) == "csv":
        return _csv_records(raw, source_id)
    return _json_records(raw, source_id)


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



# -- the CSV: candidate lines (connectors/aws_csv_scan.py), then polars on them -----------------

CANDIDATE_BATCH_BYTES = 1 << 20  # candidate lines parsed with polars at a time
_GPU_TYPE = re.compile(GPU_INSTANCE_REGEX)


# A comma after an odd number of quotes: inside a quoted field (once the "" escapes are gone).
_COMMA_IN_QUOTES = r'^(?:[^"]*"[^"]*")*[^"]*"[^"]*,'


def _field_counts(lines: pl.Series) -> pl.Series:
    """The CSV fields of each line (quotes balanced), as csv.reader counts them. Without its ""
    pairs (escaped quotes, empty quoted fields) a line with no comma inside quotes has one field
    more than commas; the rest (a comma in a value: rare) have their quoted parts cut first."""
    plain = lines.str.replace_all('""', "", literal=True)
    counts = plain.str.count_matches(",", literal=True) + 1
    quoted_commas = plain.str.contains(_COMMA_IN_QUOTES).arg_true()
    if quoted_commas.len():
        unquoted = plain.gather(quoted_commas).str.replace_all(r'"[^"]*"', "")
        counts = counts.scatter(quoted_commas, unquoted.str.count_matches(",", literal=True) + 1)
    return counts


class _CandidateReader:
    """The records of the GPU rows among candidate lines, a batch at a time (``body``: the
    header line, then theirs), parsed by polars under the file's header.

    polars pads a short row with nulls and cuts a long one without a word, so every row read
    must have exactly the header's fields, and every candidate line close its quotes (an open
    one joins the lines after it). Both checks are polars over the batch: csv.reader per line
    cost more than the parse itself once every row of a GPU type was read; they run only on a
    batch with a line out of the plain layout (``plain_rows``). The expressions are built once
    per file, not per batch (building them cost as much as running them)."""

    def __init__(self, header: list[str], label: str) -> None:
        self.header, self.label = header, label
        self.rule = exclusion_rule(header)
        wanted = {*RECORD_COLUMNS.values(), *OPTIONAL_RECORD_COLUMNS.values(), COL_RATE,
                  *self.rule.meta.root_names()}
        self.needed = sorted(wanted & set(header), key=header.index)
        self.records = _record_exprs(header)
        self.is_gpu = pl.col(COL_TYPE).str.contains(GPU_INSTANCE_REGEX).fill_null(False)
        # Every line of the batch has exactly the header's fields, each quoted without a quote
        # or comma inside, or unquoted without either: the checks below cannot fail. One regex
        # over the batch, ~5x cheaper than splitting it into lines for them.
        field = r'(?:"[^",\n]*"|[^",\n]*)'
        self.plain_rows = rf"\A(?:{field}(?:,{field}){{{len(header) - 1}}}\r?\n)*\z"

    def __call__(self, body: bytes) -> pl.DataFrame:
        label, header = self.label, self.header
        try:
            rows = pl.Series([body[body.index(b"\n") + 1:]]).cast(pl.String)
            if rows.str.contains(self.plain_rows)[0]:  # the common case: no per-line checks
                return self._records(self._parse(body))
            text = rows.str.split("\n").explode().slice(0, body.count(b"\n") - 1)
            if (open_quote := (text.str.count_matches('"', literal=True) % 2 == 1).arg_true()).len():
                raise ParseError(f"{label}: a line has an unbalanced quote ({text[open_quote[0]][:120]!r}...); "
                                 "a field's quotes are unbalanced, the file is damaged")
            frame = self._parse(body)
        except pl.exceptions.PolarsError as exc:
            raise ParseError(f"{label} is not a readable price-list CSV: {exc}") from exc
        widths = _field_counts(text.gather(frame["_line"]))
        wrong = (widths != len(header)).arg_true()
        if wrong.len():
            index = frame["_line"][wrong[0]]
            raise ParseError(
                f"{label}: a GPU row has {widths[wrong[0]]} fields where the header has {len(header)} "
                f"({text[index][:120]!r}...); the file is damaged or changed its layout"
            )
        return self._records(frame)

    def _records(self, frame: pl.DataFrame) -> pl.DataFrame:
        # Per batch: the rule columns kept until the end grew peak memory; and shrunk, else each
        # batch's string columns keep the capacity polars' reader gave them (-25 MiB at 4x).
        return frame.select(self.records).shrink_to_fit()

    def _parse(self, body: bytes) -> pl.DataFrame:
        return (
            pl.read_csv(body, columns=self.needed, raise_if_empty=False,
                        infer_schema=False)  # every column as text: no inference pass, no surprises
            .with_row_index("_line")
            .filter(self.is_gpu)
        )


def _csv_records(raw: RawResponse, source_id: str) -> pl.DataFrame:
    """The records of a price-list CSV body, streamed (connectors/aws_csv_scan.py)."""
    label = f"{source_id}: {raw.url}"
    frames: list[pl.DataFrame] = []
    with open_body(raw) as stream, read_ahead(stream) as chunks:
        head, rest = header_lines(line_blocks(chunks, label), DISCLAIMER_LINES + 1, label)
        header_line = head[-1]
        header = next(csv.reader([header_line.decode("utf-8")]))
        require_columns(source_id, header, REQUIRED_COLUMNS, f"{raw.url} (line {DISCLAIMER_LINES + 1})")
        candidates = CandidateLines(GPU_FAMILY_PATTERN, header, header_line, COL_TYPE)
        read = _CandidateReader(header, label)
        batch = bytearray(header_line)
        for block, lo, hi in rest:
            view = memoryview(block)
            for start, end in candidates.scan(block, lo, hi):
                batch += view[start:end]
            if len(batch) >= CANDIDATE_BATCH_BYTES:
                frames.append(read(bytes(batch)))
                batch = bytearray(header_line)
        if len(batch) > len(header_line) or not frames:
            frames.append(read(bytes(batch)))
    return pl.concat(frames)


def _json_records(raw: RawResponse, source_id: str) -> pl.DataFrame:
    """The records of a JSON offer file: its products x terms, in the CSV's column names, so one
    ``exclusion_rule`` judges both forms."""
    offer = raw.json()
    where = raw.url
    require_fields(source_id, offer, ("products", "terms"), where)
    products: dict[str, dict] = {}
    for sku, product in offer["products"].items():
        family = str(product.get("productFamily", "Compute Instance"))
        attrs = product.get("attributes") or {}
        if family.startswith("Compute Instance"):
            require_fields(source_id, product, ("attributes",), f"{where} products.{sku}")
            require_fields(source_id, attrs, JSON_ATTRIBUTES, f"{where} products.{sku}.attributes")
        if _GPU_TYPE.match(str(attrs.get("instanceType", ""))):
            products[sku] = {COL_FAMILY: family, COL_MARKET: "OnDemand",
                             **{column: attrs.get(key) for key, column in JSON_COLUMNS.items() if key in attrs}}

    rows = []
    for term_type in ("OnDemand", "Reserved"):
        for sku, offers in offer["terms"].get(term_type, {}).items():
            product = products.get(sku)
            if product is None:
                continue
            for code, term in offers.items():
                term_attrs = term.get("termAttributes", {})
                if term_type == "Reserved":
                    require_fields(source_id, term_attrs, (COL_LEASE, COL_OPTION, COL_CLASS),
                                   f"{where} terms.Reserved.{sku}.{code}.termAttributes")
                require_fields(source_id, term, ("priceDimensions",), f"{where} terms.{term_type}.{sku}.{code}")
                for rate, dimension in term["priceDimensions"].items():
                    require_fields(source_id, dimension, ("unit", "pricePerUnit"), f"{where} priceDimensions {rate}")
                    for currency, value in dimension["pricePerUnit"].items():
                        rows.append({**product, COL_TERM: term_type, COL_UNIT: dimension["unit"],
                                     COL_PRICE: value, COL_CURRENCY: currency, COL_RATE: rate,
                                     **{k: term_attrs.get(k) for k in (COL_LEASE, COL_OPTION, COL_CLASS)}})
    columns = {*REQUIRED_COLUMNS, COL_FAMILY, COL_MARKET, COL_RATE, *JSON_COLUMNS.values()}
    frame = pl.DataFrame(rows, schema={column: pl.String for column in sorted(columns)})
    return _records(frame, columns)
