"""Tests of the AWS bulk price-list source (connectors/aws.py), spot estimates included.

Why these exist: the AWS price list is the largest and oddest input we read. One region file
is hundreds of megabytes of mostly irrelevant rows (CPU types, Windows, dedicated hosts,
partial-upfront reservations, capacity-reservation accounting rows, Capacity Blocks at 0.00),
so a wrong filter silently publishes a wrong price rather than failing. These tests pin:
the real recorded JSON offer excerpt (p4d.24xlarge, 2024-05-28) parses to 32.7726 USD/h for
8 GPUs; every row of a GPU type that is not an offer is handed over with its exclusion rule
(so rows read = offers + quarantined + unmapped + excluded) and the offers are exactly the ones
we mean; the GPU identity comes from market/data/instances/aws.csv through market.identity
(issue 11/12: the connector's own family table is gone), and a type the table cannot size
stays visible as unmapped or quarantined; clear errors for truncated bodies, HTML pages and a
renamed column; bad prices and non-USD rows reach quarantine instead of `offers`; and the
fetch chain advisor -> index -> region index -> spooled CSV.

AWS publishes no keyless spot price, so the same source ESTIMATES one from the Spot Instance
Advisor's typical saving (OD x (100 - s) / 100). An estimate must never pass as a quote: every
spot row carries spot_is_estimate = True and points at the advisor response. The spot tests pin
the arithmetic on the real p4d.24xlarge on-demand price, that only on-demand rows (never
reserved) are discounted, that only the advisor's Linux figures are used, that odd savings end
in quarantine, clear errors for a broken advisor document, and - the design decision - that a
failed or unusable advisor is skipped with a reason so the on-demand and reserved rows survive.

Issue 12 made the CSV parse stream from the compressed archive and pick lines by substring
before any CSV parsing, and the region downloads concurrent. Because a wrong line pick loses
offers silently, the parse is compared row by row with the output of the parser from before
(golden files: same offers and prices; identities compared as resolved, old table against the
instance table), and with a full parse of every row under other column orders and quoting; a
cut or damaged archive file (zstd or the old gzip) and a cut CSV fail with a reason naming the
file, and the day's earlier rows stay; old .gz archive bodies still read; downloads overlap
within the per-host limit, each is handed over (archived) as it arrives, and a failure stops
the downloads not yet started without leaving spooled files behind.

CSV rows below are GENERATED in the real 91-column layout (benchmarks/aws_price_list.py), and
the advisor fixture is hand-written with invented savings: neither is market data; see
tests/fixtures/aws/PROVENANCE.md.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import shutil
import threading
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest

from benchmarks.aws_price_list import HEADER, csv_body
from connectors import aws_csv_scan, aws_price_list
from connectors.aws import INDEX_URL, SPOT_ADVISOR_URL, AwsPriceList
from connectors.aws_price_list import DISCLAIMER_LINES, GPU_INSTANCE_REGEX, REQUIRED_COLUMNS
from connectors.base import FetchContext, ParseError, RawResponse, SourceError, check_responses
from connectors.http import build_client
from market.instances import instance_table
from market.rules import EXCLUSION_RULES, finalize_offers

FIXTURES = Path(__file__).parent / "fixtures" / "aws"
P4D_EXCERPT = FIXTURES / "aws_pricelist_offer_AmazonEC2_us-east-1_p4d_excerpt.json"
ADVISOR = FIXTURES / "spot_advisor_documented_shape.json"
ADVISOR_FETCHED = datetime(2024, 5, 28, 21, 0, tzinfo=timezone.utc)
OFFER_JSON_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/20240528203522/us-east-1/index.json"
OFFER_CSV_URL = OFFER_JSON_URL[: -len(".json")] + ".csv"
RECORDED = datetime(2024, 5, 28, 20, 35, 22, tzinfo=timezone.utc)

SOURCE = AwsPriceList()


def raw(body: bytes, url: str = OFFER_CSV_URL, *, path: Path | None = None, status: int = 200,
        fetched_at: datetime = RECORDED) -> RawResponse:
    return RawResponse(
        source="aws", method="GET", url=url, status=status, headers={}, fetched_at=fetched_at,
        body=None if path else body, body_path=path,
    )


def advisor(body: bytes | None = None) -> RawResponse:
    return raw(ADVISOR.read_bytes() if body is None else body, SPOT_ADVISOR_URL, fetched_at=ADVISOR_FETCHED)


def advisor_with(change) -> RawResponse:
    """The advisor fixture after `change(data)` edited its parsed JSON."""
    data = json.loads(ADVISOR.read_text())
    change(data)
    return advisor(json.dumps(data).encode())


def spot_only(parsed):
    return parsed.filter(parsed["pricing"] == "spot")


def offers_only(parsed):
    """The rows the parser hands over as offers (the others carry their exclusion rule)."""
    return parsed.filter(parsed["excluded_by"].is_null())


def identities(parsed, day: date = date(2025, 9, 12)) -> list[tuple]:
    """(instance type, canonical GPU, count, memory per GPU) of the offers, as resolved."""
    offers = finalize_offers(parsed, "aws", day).offers
    return sorted(set(offers.select("instance_type", "gpu", "gpu_count", "gpu_memory_gb").rows()))


def row(**overrides: str) -> dict:
    """A GPU on-demand offer row that passes every filter; tests change one thing at a time."""
    base = {
        "SKU": "GENSKU0000000001", "OfferTermCode": "JRTCKXETXF", "RateCode": "GENSKU0000000001.JRTCKXETXF.6YS6EN2CT7",
        "TermType": "OnDemand", "PriceDescription": "generated row", "EffectiveDate": "2025-09-01",
        "StartingRange": "0", "EndingRange": "Inf", "Unit": "Hrs", "PricePerUnit": "10.0000000000",
        "Currency": "USD", "Product Family": "Compute Instance", "serviceCode": "AmazonEC2",
        "Location": "US East (N. Virginia)", "Location Type": "AWS Region", "Instance Type": "p5.48xlarge",
        "Instance Family": "GPU instance", "vCPU": "192", "Memory": "2048 GiB", "Tenancy": "Shared",
        "Operating System": "Linux", "License Model": "No License required", "usageType": "BoxUsage:p5.48xlarge",
        "operation": "RunInstances", "CapacityStatus": "Used", "GPU": "8", "GPU Memory": "NA",
        "MarketOption": "OnDemand", "Pre Installed S/W": "NA", "Region Code": "us-east-1",
    }
    base.update(overrides)
    return base


def reserved(lease: str, option: str = "No Upfront", klass: str = "standard", **overrides: str) -> dict:
    return row(TermType="Reserved", LeaseContractLength=lease, PurchaseOption=option, OfferingClass=klass,
               OfferTermCode="GENTERM001", **overrides)


# -- the real recorded excerpt ---------------------------------------------------------------


def test_real_json_excerpt_p4d_on_demand():
    parsed = SOURCE.parse([raw(P4D_EXCERPT.read_bytes(), OFFER_JSON_URL)])
    # The Capacity Block product (marketoption CapacityBlock, 0.00) is read and excluded by rule.
    assert parsed.height == 2
    assert parsed["excluded_by"].to_list() == [None, "not-a-list-price"]
    assert parsed["row_ref"].to_list() == ["RateCode H7NGEAC6UEHNTKSJ.JRTCKXETXF.6YS6EN2CT7",
                                           "RateCode YSXJGN78QTXNVGDQ.JRTCKXETXF.6YS6EN2CT7"]
    offer = parsed.row(0, named=True)
    assert offer["instance_type"] == "p4d.24xlarge"
    assert offer["region"] == "us-east-1"
    assert offer["pricing"] == "on_demand"
    assert offer["price"] == pytest.approx(32.7726)
    assert offer["currency"] == "USD"
    assert offer["gpu_count"] == 8  # the file's "gpu" attribute, handed on as evidence
    assert (offer["gpu_name_raw"], offer["gpu_memory_gb"]) == (None, None)  # the file names no GPU
    assert (offer["vcpus"], offer["ram_gb"]) == (96, 1152)
    assert offer["observed_at"] == RECORDED
    assert offer["source_url"] == OFFER_JSON_URL

    result = finalize_offers(parsed, "aws", date(2024, 5, 28))
    offers, quarantined = result.offers, result.quarantined
    assert quarantined.height == 0
    assert result.accounting() == {"rows_read": 2, "offers": 1, "quarantined": 0, "unmapped": 0, "excluded": 1}
    assert offers["price_usd_per_gpu_hour"].to_list() == [pytest.approx(32.7726 / 8)]
    # The identity is the instance table's (market/data/instances/aws.csv), not the parser's.
    assert offers.select("gpu", "gpu_count", "gpu_memory_gb", "identity_basis").row(0) == (
        "A100-SXM-40GB", 8, 40, "instance table")


def test_json_missing_attribute_names_it():
    data = json.loads(P4D_EXCERPT.read_text())
    del data["products"]["H7NGEAC6UEHNTKSJ"]["attributes"]["tenancy"]
    with pytest.raises(ParseError, match="'tenancy'"):
        SOURCE.parse([raw(json.dumps(data).encode(), OFFER_JSON_URL)])


def test_json_truncated_and_html():
    body = P4D_EXCERPT.read_bytes()
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([raw(body[: len(body) // 2], OFFER_JSON_URL)])
    with pytest.raises(ParseError, match="HTML"):
        SOURCE.parse([raw(b"<!DOCTYPE html><html><body>Access Denied</body></html>", OFFER_JSON_URL)])


# -- CSV filters -------------------------------------------------------------------------------


def test_csv_keeps_on_demand_and_standard_no_upfront_reserved_only():
    rows = [
        row(),
        reserved("1yr", PricePerUnit="6.0"),
        reserved("3yr", PricePerUnit="4.0"),
        # everything below is read and excluded, each by its rule
        reserved("1yr", "Partial Upfront", PricePerUnit="3.0"),
        reserved("1yr", "Partial Upfront", Unit="Quantity", PricePerUnit="26280", StartingRange="", EndingRange=""),
        reserved("3yr", "All Upfront", PricePerUnit="0.0"),
        reserved("1yr", klass="convertible", PricePerUnit="6.5"),
        row(**{"Operating System": "Windows", "PricePerUnit": "12.0"}),
        row(**{"Operating System": "RHEL", "PricePerUnit": "10.5"}),
        row(Tenancy="Dedicated", PricePerUnit="11.0"),
        row(Tenancy="Host", PricePerUnit="0.0"),
        row(CapacityStatus="UnusedCapacityReservation", PricePerUnit="10.0"),
        row(CapacityStatus="AllocatedCapacityReservation", PricePerUnit="0.0"),
        row(**{"Pre Installed S/W": "SQL Std", "PricePerUnit": "14.0"}),
        row(MarketOption="CapacityBlock", PricePerUnit="0.0"),
        row(**{"Product Family": "Dedicated Host", "PricePerUnit": "99.0"}),
        row(TermType="Spot"),
        # ... and a CPU type is not read at all (the line scan skips it unparsed)
        row(**{"Instance Type": "m5.large", "GPU": "", "PricePerUnit": "0.096"}),
    ]
    parsed = SOURCE.parse([raw(csv_body(rows))])
    assert parsed["excluded_by"].to_list() == [
        None, None, None,
        "untracked-term", "untracked-term", "untracked-term", "untracked-term",
        "windows-licence", "licensed-software", "dedicated-tenancy", "dedicated-tenancy",
        "not-a-list-price", "not-a-list-price", "licensed-software", "not-a-list-price",
        "dedicated-tenancy", "untracked-term",
    ]
    got = sorted(zip(offers_only(parsed)["pricing"], offers_only(parsed)["price"]))
    assert got == [("on_demand", 10.0), ("reserved_1y", 6.0), ("reserved_3y", 4.0)]
    assert set(parsed["gpu_name_raw"]) == {None}  # evidence only: the instance table names the GPU
    assert identities(parsed) == [("p5.48xlarge", "H100-SXM-80GB", 8.0, 80.0)]
    result = finalize_offers(parsed, "aws", date(2025, 9, 12))
    assert result.accounting() == {"rows_read": 17, "offers": 3, "quarantined": 0, "unmapped": 0, "excluded": 14}
    assert dict(result.exclusions.rows()) == {"untracked-term": 5, "windows-licence": 1, "licensed-software": 2,
                                              "dedicated-tenancy": 3, "not-a-list-price": 3}


def test_csv_empty_pre_installed_software_counts_as_none():
    parsed = SOURCE.parse([raw(csv_body([row(**{"Pre Installed S/W": ""})]))])
    assert parsed.height == 1


def test_csv_accelerator_families_and_count_from_file():
    rows = [
        row(**{"Instance Type": "g5.12xlarge", "GPU": "4"}),
        row(**{"Instance Type": "trn1.32xlarge", "GPU": "", "Instance Family": "Machine Learning ASIC Instances"}),
        row(**{"Instance Type": "inf2.48xlarge", "GPU": "0"}),
        row(**{"Instance Type": "g6f.large", "GPU": "1"}),
    ]
    parsed = SOURCE.parse([raw(csv_body(rows))]).sort("instance_type")
    # The file's counts are handed on as they are ("0" and "" say nothing) ...
    assert parsed.select("instance_type", "gpu_count").rows() == [
        ("g5.12xlarge", 4.0), ("g6f.large", 1.0), ("inf2.48xlarge", None), ("trn1.32xlarge", None),
    ]
    # ... and the instance table decides: a fractional L4 stays a fraction, whatever the file says.
    assert identities(parsed) == [
        ("g5.12xlarge", "A10G-24GB", 4.0, 24.0),
        ("g6f.large", "L4-24GB", 0.125, 24.0),
        ("inf2.48xlarge", "INFERENTIA2-32GB", 12.0, 32.0),
        ("trn1.32xlarge", "TRAINIUM-32GB", 16.0, 32.0),
    ]


def test_csv_from_gzipped_archive_body(tmp_path):
    # The warehouse stores bodies gzipped; parse must read them (streamed, not inflated in RAM).
    stored = tmp_path / "body.gz"
    stored.write_bytes(gzip.compress(csv_body([row(), reserved("3yr", PricePerUnit="4.0")])))
    parsed = SOURCE.parse([raw(b"", path=stored)])
    assert sorted(parsed["pricing"]) == ["on_demand", "reserved_3y"]


# -- identity: the instance table decides ----------------------------------------------------
#
# The parser used to carry its own family -> GPU table; it now hands over the instance type and
# the file's count, and market.identity.resolve looks the type up in market/data/instances/aws.csv.
# These are the cases the old table pinned, as the resolver now answers them (canonical ids).


@pytest.mark.parametrize(
    ("instance_type", "file_count", "expected"),
    [
        ("p5.48xlarge", None, ("H100-SXM-80GB", 8, 80)),
        ("p5e.48xlarge", None, ("H200-SXM-141GB", 8, 141)),
        ("p5en.48xlarge", None, ("H200-SXM-141GB", 8, 141)),
        ("p4d.24xlarge", None, ("A100-SXM-40GB", 8, 40)),
        ("p4de.24xlarge", None, ("A100-SXM-80GB", 8, 80)),
        ("p3.2xlarge", None, ("V100-SXM-16GB", 1, 16)),
        ("p3.16xlarge", None, ("V100-SXM-16GB", 8, 16)),
        ("p3dn.24xlarge", None, ("V100-SXM-32GB", 8, 32)),
        ("g6.xlarge", None, ("L4-24GB", 1, 24)),
        ("g6e.48xlarge", None, ("L40S-48GB", 8, 48)),
        ("g5.48xlarge", None, ("A10G-24GB", 8, 24)),
        ("g5g.16xlarge", None, ("T4-16GB", 2, 16)),  # NVIDIA T4G: the T4 chip on Graviton hosts
        ("g4dn.12xlarge", None, ("T4-16GB", 4, 16)),
        ("g4ad.16xlarge", None, ("RADEON-PRO-V520-8GB", 4, 8)),
        ("g6f.large", 1, ("L4-24GB", 0.125, 24)),  # fractional: the table wins over the file
        ("gr6f.4xlarge", None, ("L4-24GB", 0.5, 24)),
        ("p6-b200.48xlarge", None, ("B200-180GB", 8, 180)),
        ("p6e-gb200.36xlarge", None, ("GB200-186GB", 4, 186)),  # the old table knew no memory
        ("trn1.32xlarge", None, ("TRAINIUM-32GB", 16, 32)),
        ("trn2.48xlarge", None, ("TRAINIUM2-96GB", 16, 96)),
        ("inf1.24xlarge", None, ("INFERENTIA-8GB", 16, 8)),
        ("inf2.xlarge", None, ("INFERENTIA2-32GB", 1, 32)),
        ("dl1.24xlarge", None, ("GAUDI-32GB", 8, 32)),
        ("g3.16xlarge", None, ("M60-8GB", 4, 8)),
        ("g2.8xlarge", None, ("K520-4GB", 4, 4)),
        ("cg1.4xlarge", None, ("M2050-3GB", 2, 3)),  # in the table, and now read too
        ("g5.12xlarge", 4, ("A10G-24GB", 4, 24)),
        ("p5.48xlarge", 12, ("H100-SXM-80GB", 8, 80)),  # a count the table contradicts is corrected
        ("g7e.2xlarge", 1, ("RTXPRO6000-96GB", 1, 96)),  # a family row: the count is the file's
    ],
)
def test_identity_comes_from_the_instance_table(instance_type, file_count, expected):
    parsed = SOURCE.parse([raw(csv_body([row(**{"Instance Type": instance_type, "GPU": str(file_count or "")})]))])
    assert identities(parsed) == [(instance_type, *map(lambda v: v if isinstance(v, str) else float(v), expected))]
    note = finalize_offers(parsed, "aws", date(2025, 9, 12)).offers["identity_note"].item()
    assert note.startswith("instance table: aws ")


@pytest.mark.parametrize(
    ("instance_type", "file_count", "outcome", "reason"),
    [
        ("p9.48xlarge", 8, "unmapped", "no canonical GPU for p9.48xlarge"),  # a family we do not know yet
        ("dl2q.24xlarge", 8, "unmapped", "no canonical GPU for dl2q.24xlarge"),  # Qualcomm AI 100: not tracked
        ("dl2q.24xlarge", None, "unmapped", "no canonical GPU for dl2q.24xlarge"),  # no count: still not CPU-only
        ("g7e.2xlarge", None, "quarantined", "GPU count unknown"),  # neither table nor file gives a count
    ],
)
def test_a_gpu_type_the_table_cannot_size_stays_visible(instance_type, file_count, outcome, reason):
    parsed = SOURCE.parse([raw(csv_body([row(**{"Instance Type": instance_type, "GPU": str(file_count or "")})]))])
    result = finalize_offers(parsed, "aws", date(2025, 9, 12))
    assert result.offers.height == 0
    assert result.quarantined.select("outcome").item() == outcome
    assert result.quarantined["reason"].item().startswith(reason)


def test_every_instance_table_row_is_read_and_cpu_types_are_not():
    pattern = re.compile(GPU_INSTANCE_REGEX)
    table = instance_table().filter(provider="aws")["instance_type"].to_list()
    assert len(table) > 50 and [t for t in table if not pattern.match(t)] == []
    for cpu in ("m5.large", "c7g.xlarge", "r6i.2xlarge", "t3.micro", "x2idn.metal", "f1.2xlarge", "vt1.3xlarge"):
        assert not pattern.match(cpu)


def test_every_exclusion_is_a_named_rule():
    rules = {"dedicated-tenancy", "untracked-term", "windows-licence", "licensed-software", "not-a-list-price"}
    assert rules <= set(EXCLUSION_RULES)
    source = Path(aws_price_list.__file__).read_text()
    assert {r for r in EXCLUSION_RULES if f'"{r}"' in source} == rules


# -- bad input ---------------------------------------------------------------------------------


def test_csv_truncated_mid_row():
    body = csv_body([row(), row(**{"Instance Type": "g5.xlarge"})])
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([raw(body[:-40])])


def test_csv_truncated_before_header():
    body = csv_body([row()])
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([raw(b"\n".join(body.split(b"\n")[:3]) + b"\n")])


def test_csv_html_and_empty_bodies():
    with pytest.raises(ParseError, match="HTML"):
        SOURCE.parse([raw(b"<html><head><title>503 Service Unavailable</title></head></html>")])
    with pytest.raises(ParseError, match="empty body"):
        SOURCE.parse([raw(b"")])
    with pytest.raises(ParseError, match="neither a price-list CSV"):
        SOURCE.parse([raw(b"SKU,Price\n1,2\n")])


@pytest.mark.parametrize("column", ["Tenancy", "PricePerUnit", "Region Code"])
def test_csv_missing_column_is_named(column):
    body = csv_body([row()]).decode()
    lines = body.split("\n")
    # Rename the column in the header only: as if AWS renamed it.
    lines[5] = lines[5].replace(f'"{column}"', '"Renamed"')
    with pytest.raises(ParseError, match=repr(column)):
        SOURCE.parse([raw("\n".join(lines).encode())])
    assert column in REQUIRED_COLUMNS


def test_bad_prices_are_quarantined_not_dropped():
    rows = [
        row(**{"Instance Type": "p5.48xlarge", "PricePerUnit": "0.0000000000"}),
        row(**{"Instance Type": "p4d.24xlarge", "PricePerUnit": "-1.0"}),
        row(**{"Instance Type": "p4de.24xlarge", "PricePerUnit": "3277.26"}),  # x100: absurd
        row(**{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "n/a"}),
        row(**{"Instance Type": "g6.xlarge", "GPU": "1", "PricePerUnit": "0.8048"}),
    ]
    parsed = SOURCE.parse([raw(csv_body(rows))])
    assert parsed.height == 5
    result = finalize_offers(parsed, "aws", date(2025, 9, 12))
    offers, quarantined = result.offers, result.quarantined
    assert offers["instance_type"].to_list() == ["g6.xlarge"]
    reasons = dict(zip(quarantined["instance_type"], quarantined["reason"]))
    assert reasons["p5.48xlarge"] == "price of zero"
    assert reasons["p4d.24xlarge"] == "negative price"
    assert reasons["p4de.24xlarge"].startswith("absurd price")
    assert reasons["g5.xlarge"] == "no price"


def test_non_usd_currency_is_quarantined():
    parsed = SOURCE.parse([raw(csv_body([row(Currency="CNY", PricePerUnit="230.0")]))])
    assert parsed["currency"].to_list() == ["CNY"]
    result = finalize_offers(parsed, "aws", date(2025, 9, 12))
    offers, quarantined = result.offers, result.quarantined
    assert offers.height == 0
    assert quarantined["reason"].to_list() == ["currency CNY has no recorded USD rate"]


# -- spot, estimated from the advisor ---------------------------------------------------------


def test_spot_estimated_from_real_p4d_on_demand():
    adv = advisor()
    parsed = SOURCE.parse([adv, raw(P4D_EXCERPT.read_bytes(), OFFER_JSON_URL)])
    # The Capacity Block row (excluded, 0.00) gives no estimate: only offers are discounted.
    assert sorted(offers_only(parsed)["pricing"]) == ["on_demand", "spot"]
    assert parsed.height == 3
    spot = spot_only(parsed).row(0, named=True)
    assert (spot["instance_type"], spot["region"]) == ("p4d.24xlarge", "us-east-1")
    # 32.7726 USD/h on-demand (real, 2024-05-28) x (100 - 60) / 100 (fixture saving, invented)
    assert spot["price"] == pytest.approx(32.7726 * 0.40)
    assert spot["spot_is_estimate"] is True
    assert spot["gpu_count"] == 8
    # Provenance is the advisor document: it is what makes the number a spot number.
    assert (spot["source_url"], spot["raw_response_id"], spot["observed_at"]) == (
        SPOT_ADVISOR_URL, adv.id, ADVISOR_FETCHED,
    )
    on_demand = parsed.filter(parsed["pricing"] == "on_demand").row(0, named=True)
    assert (on_demand["spot_is_estimate"], on_demand["source_url"]) == (False, OFFER_JSON_URL)

    result = finalize_offers(parsed, "aws", date(2024, 5, 28))
    offers, quarantined = result.offers, result.quarantined
    assert quarantined.height == 0
    spot_offer = offers.filter(offers["pricing"] == "spot")
    assert spot_offer["spot_is_estimate"].to_list() == [True]
    assert spot_offer["price_usd_per_gpu_hour"].to_list() == [pytest.approx(32.7726 * 0.40 / 8)]


def test_only_on_demand_linux_rows_with_an_advisor_entry_become_spot():
    rows = [
        row(**{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "1.006"}),
        reserved("1yr", **{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "0.6"}),
        row(**{"Instance Type": "g6.xlarge", "GPU": "1", "PricePerUnit": "0.8048"}),  # no advisor entry
        row(**{"Instance Type": "g5.xlarge", "GPU": "1", "Region Code": "eu-west-1", "PricePerUnit": "1.123"}),
    ]
    parsed = SOURCE.parse([advisor(), raw(csv_body(rows))])
    assert parsed.height == 4 + 2  # every offer row, plus two estimates
    spot = spot_only(parsed).sort("region")
    assert spot.select("region", "instance_type").rows() == [("eu-west-1", "g5.xlarge"), ("us-east-1", "g5.xlarge")]
    assert spot["price"].to_list() == [pytest.approx(1.123 * 0.35), pytest.approx(1.006 * 0.30)]
    assert spot["spot_is_estimate"].all()
    assert not parsed.filter(parsed["pricing"] != "spot")["spot_is_estimate"].any()


def test_windows_savings_are_not_used():
    # Only the Windows figure is left for p4d: no spot row, the on-demand row stays.
    adv = advisor_with(lambda d: d["spot_advisor"]["us-east-1"]["Linux"].pop("p4d.24xlarge"))
    parsed = SOURCE.parse([adv, raw(P4D_EXCERPT.read_bytes(), OFFER_JSON_URL)])
    assert offers_only(parsed)["pricing"].to_list() == ["on_demand"]


def test_no_advisor_response_means_no_spot_rows_and_nothing_else_lost():
    parsed = SOURCE.parse([raw(csv_body([row(**{"Instance Type": "g5.xlarge", "GPU": "1"}),
                                         reserved("1yr", **{"Instance Type": "g5.xlarge", "GPU": "1"})]))])
    assert sorted(parsed["pricing"]) == ["on_demand", "reserved_1y"]


@pytest.mark.parametrize(("saving", "reason"), [(100, "price of zero"), (120, "negative price")])
def test_odd_savings_are_quarantined(saving, reason):
    def odd(data):
        data["spot_advisor"]["us-east-1"]["Linux"]["p4d.24xlarge"]["s"] = saving

    parsed = SOURCE.parse([advisor_with(odd), raw(P4D_EXCERPT.read_bytes(), OFFER_JSON_URL)])
    result = finalize_offers(parsed, "aws", date(2024, 5, 28))
    offers, quarantined = result.offers, result.quarantined
    assert offers["pricing"].to_list() == ["on_demand"]
    assert quarantined["pricing"].to_list() == ["spot"]
    assert quarantined["reason"].to_list() == [reason]


def test_broken_advisor_documents():
    # A yielded advisor is read strictly (fetch only yields one that reads; see the fetch tests).
    with pytest.raises(ParseError, match="'spot_advisor'"):
        SOURCE.parse([advisor(b'{"ranges": []}')])
    with pytest.raises(ParseError, match="'s'"):
        SOURCE.parse([advisor_with(lambda d: d["spot_advisor"]["eu-west-1"]["Linux"]["g5.xlarge"].pop("s"))])
    with pytest.raises(ParseError, match="not an object"):
        SOURCE.parse([advisor_with(lambda d: d["spot_advisor"].__setitem__("eu-west-1", ["Linux"]))])
    with pytest.raises(ParseError, match="HTML"):
        SOURCE.parse([advisor(b"<!DOCTYPE html><html>Access Denied</html>")])
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([advisor(ADVISOR.read_bytes()[:100])])
    with pytest.raises(ParseError, match="at most one response"):
        SOURCE.parse([advisor(), advisor(), raw(P4D_EXCERPT.read_bytes(), OFFER_JSON_URL)])


# -- fetch chain -------------------------------------------------------------------------------


def _handler(offer_bodies: dict[str, tuple[int, bytes]], seen: list[str], advisor: httpx.Response | None = None):
    """Serves the documented index files and `offer_bodies`; the advisor only when given."""
    index = (FIXTURES / "index_documented_shape.json").read_bytes()
    region_index = (FIXTURES / "region_index_documented_shape.json").read_bytes()

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        seen.append(url)
        if url == SPOT_ADVISOR_URL and advisor is not None:
            return advisor
        if url == INDEX_URL:
            return httpx.Response(200, content=index, headers={"content-type": "application/json"})
        if url.endswith("/AmazonEC2/current/region_index.json"):
            return httpx.Response(200, content=region_index, headers={"content-type": "application/json"})
        if url in offer_bodies:
            status, body = offer_bodies[url]
            return httpx.Response(status, content=body, headers={"content-type": "text/csv"})
        return httpx.Response(404, content=b"<Error><Code>NoSuchKey</Code></Error>")

    return handle


def _fetch(source, handler, said: list[str] | None = None) -> list[RawResponse]:
    client = build_client(httpx.MockTransport(handler), sleep=lambda s: None)
    with client:
        return list(source.fetch(client, FetchContext(progress=said.append if said is not None else None)))


def _cleanup(responses: list[RawResponse]) -> None:
    for response in responses:
        if response.body_path is not None:
            response.body_path.unlink(missing_ok=True)


REGION_INDEX_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/region_index.json"
EU_CSV_URL = OFFER_CSV_URL.replace("/us-east-1/", "/eu-west-1/")


def test_fetch_chain_spools_the_region_csv_and_parses():
    seen: list[str] = []
    body = csv_body([row(), reserved("1yr", PricePerUnit="6.0")])
    responses = _fetch(AwsPriceList(regions=("us-east-1",)), _handler({OFFER_CSV_URL: (200, body)}, seen))
    try:
        # The advisor is asked first; this handler answers it 404, so it is not yielded.
        assert seen == [SPOT_ADVISOR_URL, INDEX_URL, REGION_INDEX_URL, OFFER_CSV_URL]
        assert [r.url for r in responses] == [INDEX_URL, REGION_INDEX_URL, OFFER_CSV_URL]
        offer_file = responses[-1]
        assert offer_file.body is None and offer_file.body_path is not None  # spooled to disk
        assert offer_file.body_path.read_bytes() == body
        check_responses("aws", responses)
        parsed = SOURCE.parse(responses)  # the two index responses are skipped, not parsed
        assert sorted(parsed["pricing"]) == ["on_demand", "reserved_1y"]
        assert set(parsed["source_url"]) == {OFFER_CSV_URL}
    finally:
        _cleanup(responses)


def test_fetch_all_regions_and_a_failing_region_is_yielded_then_rejected():
    seen: list[str] = []
    handler = _handler({OFFER_CSV_URL: (200, csv_body([row()])), EU_CSV_URL: (503, b"Slow Down")}, seen)
    responses = _fetch(AwsPriceList(), handler)
    try:
        assert [r.status for r in responses[:2]] == [200, 200]  # the two index files, in order
        assert {r.url: r.status for r in responses[2:]} == {EU_CSV_URL: 503, OFFER_CSV_URL: 200}
        assert seen.count(EU_CSV_URL) == 5  # the HTTP policy retried 4 times, then gave the error back
        with pytest.raises(SourceError, match="HTTP 503"):
            check_responses("aws", responses)
    finally:
        _cleanup(responses)


def test_fetch_stops_after_a_failed_index_and_rejects_unknown_region():
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=b"<html>Forbidden</html>")

    responses = _fetch(AwsPriceList(), down)
    assert [r.status for r in responses] == [403]
    with pytest.raises(SourceError, match="HTTP 403"):
        check_responses("aws", responses)

    with pytest.raises(ParseError, match="'ap-nowhere-1' is not in"):
        _fetch(AwsPriceList(regions=("ap-nowhere-1",)), _handler({}, []))


def _two_regions() -> dict[str, tuple[int, bytes]]:
    g5 = {"Instance Type": "g5.xlarge", "GPU": "1"}
    return {
        OFFER_CSV_URL: (200, csv_body([row(**g5, PricePerUnit="1.006"),
                                       reserved("1yr", **g5, PricePerUnit="0.6")])),
        EU_CSV_URL: (200, csv_body([row(**g5, PricePerUnit="1.123", **{"Region Code": "eu-west-1"})])),
    }


def test_fetch_gets_the_advisor_once_then_every_region_and_parses_spot():
    seen: list[str] = []
    said: list[str] = []
    served = httpx.Response(200, content=ADVISOR.read_bytes(), headers={"content-type": "application/json"})
    responses = _fetch(AwsPriceList(), _handler(_two_regions(), seen, served), said)
    try:
        # One advisor GET, then the price-list chain; every region file is downloaded once
        # (the region files concurrently, so in either order).
        assert seen[:3] == [SPOT_ADVISOR_URL, INDEX_URL, REGION_INDEX_URL]
        assert sorted(seen[3:]) == sorted([EU_CSV_URL, OFFER_CSV_URL])
        assert [r.url for r in responses[:3]] == seen[:3]
        assert sorted(r.url for r in responses[3:]) == sorted(seen[3:])
        assert responses[0].body is not None  # the advisor is small: kept in memory
        assert all(r.body_path is not None for r in responses[3:])  # region files spooled
        assert any("spot advisor:" in line for line in said)
        check_responses("aws", responses)
        parsed = SOURCE.parse(responses)
        assert sorted(parsed["pricing"]) == ["on_demand", "on_demand", "reserved_1y", "spot", "spot"]
        spot = spot_only(parsed).sort("region")
        assert spot["price"].to_list() == [pytest.approx(1.123 * 0.35), pytest.approx(1.006 * 0.30)]
        assert set(spot["source_url"]) == {SPOT_ADVISOR_URL}
        assert set(spot["raw_response_id"]) == {responses[0].id}
    finally:
        _cleanup(responses)


def _connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("advisor_answer", "why"),
    [
        (httpx.Response(500, content=b"InternalError"), "HTTP 500"),
        (httpx.Response(403, content=b"<Error><Code>AccessDenied</Code></Error>"), "HTTP 403"),
        (httpx.Response(200, content=b"<!DOCTYPE html><html>maintenance</html>"), "HTML"),
        (httpx.Response(200, content=ADVISOR.read_bytes()[:100]), "truncated"),
        (httpx.Response(200, content=b'{"ranges": []}'), "'spot_advisor'"),
        (httpx.Response(200, content=b'{"spot_advisor": {"us-east-1": {"Linux": ["p4d.24xlarge"]}}}'), "not an object"),
        (_connect_error, "ConnectError"),
    ],
    ids=["500", "403", "html", "truncated", "no-spot_advisor", "wrong-shape", "connect-error"],
)
def test_a_failed_advisor_is_skipped_with_a_reason_and_on_demand_survives(advisor_answer, why):
    # The design decision: the advisor is optional. Yielding its failure would make
    # check_responses reject the whole fetch, on-demand and reserved prices included.
    seen: list[str] = []
    said: list[str] = []
    base = _handler(_two_regions(), seen)

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == SPOT_ADVISOR_URL:
            seen.append(str(request.url))
            return advisor_answer(request) if callable(advisor_answer) else advisor_answer
        return base(request)

    responses = _fetch(AwsPriceList(), handle, said)
    try:
        assert SPOT_ADVISOR_URL not in [r.url for r in responses]
        assert seen.count(SPOT_ADVISOR_URL) == (5 if why in ("HTTP 500", "ConnectError") else 1)  # retried
        skipped = [line for line in said if "spot advisor skipped" in line]
        assert len(skipped) == 1 and why in skipped[0], said
        check_responses("aws", responses)
        parsed = SOURCE.parse(responses)
        assert sorted(parsed["pricing"]) == ["on_demand", "on_demand", "reserved_1y"]
    finally:
        _cleanup(responses)


def test_header_constant_is_the_real_91_column_layout():
    # The generated fixtures are only as good as this header; guard against edits.
    assert len(HEADER) == 91 and HEADER[:4] == ["SKU", "OfferTermCode", "RateCode", "TermType"]
    assert set(REQUIRED_COLUMNS) <= set(HEADER)


@pytest.mark.parametrize("advisor_up", [True, False], ids=["advisor", "advisor-down"])
def test_ingest_archives_the_spooled_file_and_parses_it_back_from_the_store(tmp_path, advisor_up):
    # End to end through pipelines.ingest: the spooled temp file is moved into the (zstd)
    # raw store, and parse reads it back from there; the spot rows trace to the archived
    # advisor, and without an advisor the day still lands its on-demand and reserved rows.
    from pipelines.ingest import parse_source
    from tests.connector_checks import DAY, live_fetch

    seen: list[str] = []
    body = csv_body([row(), reserved("3yr", PricePerUnit="4.0"),
                     row(**{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "1.006"})])
    served = httpx.Response(200, content=ADVISOR.read_bytes()) if advisor_up else httpx.Response(503)
    source = AwsPriceList(regions=("us-east-1",))
    outcome, archived = live_fetch(source, _handler({OFFER_CSV_URL: (200, body)}, seen, served), tmp_path)
    assert outcome.status == "fetched", outcome
    urls = [a["url"] for a in archived]
    assert urls[-1] == OFFER_CSV_URL
    assert (SPOT_ADVISOR_URL in urls) is advisor_up
    assert all(a["body_file"].endswith(".zst") for a in archived)

    from warehouse.store import Warehouse

    warehouse = Warehouse(tmp_path / "gpu_prices.duckdb")
    result = parse_source(warehouse, source, DAY)
    assert (result.status, result.offers) == ("ok", 4 if advisor_up else 3), result
    with warehouse.writer() as w:
        untraced = w.con.sql(
            """SELECT o.pricing FROM offers o WHERE NOT EXISTS (
                   SELECT 1 FROM raw_responses r WHERE r.id = o.raw_response_id AND r.url = o.source_url)"""
        ).fetchall()
        spot = w.con.sql("SELECT source_url, spot_is_estimate FROM offers WHERE pricing = 'spot'").fetchall()
    assert untraced == []
    assert spot == ([(SPOT_ADVISOR_URL, True)] if advisor_up else [])


# -- the streaming parse gives what the parser before issue 12 gave ----------------------------
#
# tests/fixtures/aws/parse_before_issue12_*.csv are the output of connectors/aws.py at commit
# ed497d8 (a polars scan of the whole file; archived bodies gunzipped to a temporary file first)
# on the real JSON excerpt and on a generated region CSV, plain and as an old .gz archive body.

BEFORE = json.loads((FIXTURES / "parse_before_issue12.json").read_text())


@pytest.fixture(scope="module")
def generated_csv(tmp_path_factory) -> Path:
    """The generated region CSV the golden output was made from, rebuilt and checked."""
    from benchmarks.aws_price_list import write_price_list

    spec = BEFORE["generated"]
    path = tmp_path_factory.mktemp("aws-generated") / "generated.csv"
    write_price_list(path, spec["rows"], seed=spec["seed"], gpu_share=spec["gpu_share"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == spec["sha256"], (
        "benchmarks/aws_price_list.py now writes a different file for the golden's settings; "
        "the golden output cannot be compared (see tests/fixtures/aws/PROVENANCE.md)"
    )
    return path


# Identity columns: the old parser wrote its own table's GPU name, count and memory; the parser
# now hands on the file's evidence and the instance table decides. They are compared as
# resolved identities (canonical GPU, count, memory per GPU), old against new, and every offer
# whose identity changed must be listed here with why. On these inputs none did.
IDENTITY_COLUMNS = ("gpu_name_raw", "gpu_count", "gpu_memory_gb")
IDENTITY_CHANGES: dict[str, str] = {}  # instance type -> why its identity changed


def _identity(evidence) -> tuple:
    from market.identity import resolve

    found = resolve(evidence)
    return found.gpu, found.gpu_count, found.gpu_memory_gb


def _same_rows_as_before(parsed, case: str) -> None:
    import polars as pl

    from market.identity import Evidence

    expected = pl.read_csv(FIXTURES / f"parse_before_issue12_{case}.csv", infer_schema=False)
    offers = offers_only(parsed)
    # Columns added to the parsed schema since (issue 8's evidence columns) are compared apart:
    # the AWS parser fills only where each row is in the file.
    added = [c for c in offers.columns if c not in expected.columns]
    refs = offers["row_ref"]
    assert (refs.str.starts_with("RateCode ") | refs.str.starts_with("spot_advisor.")).all()
    assert all(offers[c].null_count() == offers.height for c in added if c != "row_ref"), added
    same = [c for c in expected.columns if c not in IDENTITY_COLUMNS]
    got = offers.select(same).write_csv().splitlines()
    theirs = expected.select(same).write_csv().splitlines()
    assert got[0] == theirs[0]  # the columns
    for number, (mine, before) in enumerate(zip(got[1:], theirs[1:]), 1):
        assert mine == before, f"row {number} differs from the parser before issue 12"
    assert len(got) == len(theirs) == BEFORE["cases"][case] + 1

    changed = {}
    number = lambda v: None if v in (None, "") else float(v)  # noqa: E731
    for old, new in zip(expected.iter_rows(named=True), offers.iter_rows(named=True)):
        before = _identity(Evidence("aws", gpu_name_raw=old["gpu_name_raw"], gpu_count=number(old["gpu_count"]),
                                    memory_gb=number(old["gpu_memory_gb"]), memory_is_total=False))
        now = _identity(Evidence("aws", instance_type=new["instance_type"], gpu_count=new["gpu_count"],
                                 memory_gb=new["gpu_memory_gb"]))
        assert before[0] is not None  # the old name resolves: a comparison with something to lose
        if before != now:
            changed[new["instance_type"]] = (before, now)
    assert set(changed) == set(IDENTITY_CHANGES), changed


def _archived(tmp_path: Path, plain: Path, url: str = OFFER_CSV_URL) -> RawResponse:
    """`plain` stored the way ingest stores it, and loaded back the way parse_source loads it."""
    from warehouse.store import Warehouse

    warehouse = Warehouse(tmp_path / "gpu_prices.duckdb")
    spooled = tmp_path / "download.body"
    shutil.copyfile(plain, spooled)
    response = raw(b"", url, path=spooled)
    warehouse.store_body(response)
    with warehouse.writer() as w:
        ids = [w.archive(response, date(2024, 5, 28))]
        (loaded,) = w.raw_responses(date(2024, 5, 28), ids)
    assert loaded.body_path.suffix == ".zst" and not spooled.exists()
    return loaded


def test_real_json_excerpt_parses_as_before():
    _same_rows_as_before(SOURCE.parse([advisor(), raw(P4D_EXCERPT.read_bytes(), OFFER_JSON_URL)]), "json_excerpt")


def test_generated_csv_from_the_zstd_archive_parses_as_before(generated_csv, tmp_path):
    _same_rows_as_before(SOURCE.parse([advisor(), _archived(tmp_path, generated_csv)]), "generated_csv")


def test_generated_csv_plain_spooled_body_parses_as_before(generated_csv):
    _same_rows_as_before(SOURCE.parse([advisor(), raw(b"", path=generated_csv)]), "generated_csv")


def test_old_gzip_archive_body_parses_as_before(generated_csv, tmp_path):
    old_body = tmp_path / "old.gz"
    old_body.write_bytes(gzip.compress(generated_csv.read_bytes(), 6))
    _same_rows_as_before(SOURCE.parse([raw(b"", path=old_body)]), "generated_csv_gzip_archive")


# -- the line pick keeps every offer, whatever the layout --------------------------------------


def _full_scan(plain: Path):
    """Oracle: the records of a full polars parse of every row, no line pick (the old way)."""
    import polars as pl

    with plain.open(encoding="utf-8") as stream:
        header = next(csv.reader(stream.readlines()[DISCLAIMER_LINES:DISCLAIMER_LINES + 1]))
    frame = pl.read_csv(plain, skip_rows=DISCLAIMER_LINES, infer_schema=False)
    gpu_rows = frame.filter(pl.col("Instance Type").str.contains(GPU_INSTANCE_REGEX).fill_null(False))
    return aws_price_list._records(gpu_rows, header)


def _rewrite(source: Path, target: Path, columns: list[str], quote_style: str) -> None:
    """`source`'s rows under a different column order / quoting, same disclaimer lines."""
    import polars as pl

    lines = source.read_bytes().split(b"\n", DISCLAIMER_LINES)
    frame = pl.read_csv(source, skip_rows=DISCLAIMER_LINES, infer_schema=False).select(columns)
    target.write_bytes(b"\n".join(lines[:DISCLAIMER_LINES]) + b"\n"
                       + frame.write_csv(quote_style=quote_style).encode())


LAYOUTS = {
    "as published": None,
    # SKU not first: no per-SKU memory, the GPU test runs on every line
    "SKU last": lambda h: [c for c in h if c != "SKU"] + ["SKU"],
    # Operating System first (it used to be delimited on both sides by the scan)
    "OS first": lambda h: ["Operating System"] + [c for c in h if c != "Operating System"],
    "Instance Type first": lambda h: ["Instance Type"] + [c for c in h if c != "Instance Type"],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("quote_style", ["always", "necessary"])
def test_line_pick_keeps_exactly_the_rows_of_a_full_parse(generated_csv, tmp_path, layout, quote_style):
    head = tmp_path / "head.csv"
    head.write_bytes(b"".join(generated_csv.open("rb").readlines()[:25_000]))
    plain = tmp_path / "layout.csv"
    _rewrite(head, plain, (LAYOUTS[layout] or list)(HEADER), quote_style)
    expected = _full_scan(plain)
    assert expected.height > 100  # a test with something to lose
    assert expected["excluded_by"].null_count() > 50  # offers and excluded rows alike
    got = aws_price_list._csv_records(raw(b"", path=plain), "aws")
    assert got.to_dicts() == expected.to_dicts()


@pytest.mark.parametrize("block_bytes", [1, 97, 4096])
def test_lines_split_across_read_blocks_are_whole(generated_csv, tmp_path, monkeypatch, block_bytes):
    # Every block boundary falls mid-line somewhere: the carried line must be joined, once.
    head = b"".join(generated_csv.open("rb").readlines()[:4000])
    plain = tmp_path / "head.csv"
    plain.write_bytes(head)
    expected = _full_scan(plain).to_dicts()
    assert len(expected) > 10
    monkeypatch.setattr(aws_csv_scan, "READ_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(aws_price_list, "CANDIDATE_BATCH_BYTES", 10_000)  # several polars batches too
    assert aws_price_list._csv_records(raw(b"", path=plain), "aws").to_dicts() == expected


def test_a_kept_row_with_missing_fields_is_an_error_not_a_padded_offer():
    # polars pads a short row with nulls; an offer row must have every field of the header.
    body = csv_body([row(), row(**{"Instance Type": "g5.xlarge", "GPU": "1"})]).decode()
    lines = body.split("\n")
    lines[-2] = lines[-2].rsplit(",", 3)[0]  # the last row loses its last three fields
    with pytest.raises(ParseError, match=r"has 88 fields where the header has 91"):
        SOURCE.parse([raw("\n".join(lines).encode())])


def test_a_gpu_row_with_an_unbalanced_quote_fails_the_file_with_its_url():
    # A quote left open would join the rows after it into one field: never read as offers.
    body = csv_body([row(), row(**{"Instance Type": "g5.xlarge", "GPU": "1"}),
                     row(**{"Instance Type": "g6.xlarge", "GPU": "1"})]).decode()
    lines = body.split("\n")
    lines[-3] = lines[-3].replace('"generated row"', '"generated row', 1)
    with pytest.raises(ParseError, match=re.escape(OFFER_CSV_URL)):
        SOURCE.parse([raw("\n".join(lines).encode())])


# The field count of a read row is taken in polars (aws_price_list._field_counts), not by
# csv.reader per line: these pin that it counts as csv.reader does, quoting oddities included.
FIELD_COUNT_LINES = [
    '"a","b",c', '"a,b","c"', '"","",,', '"a""b","c,""d"', '"""",x', '"""a,","b"""', "a,,b,",
    '"x,y,z"', '"a","b,c","d,e",f', '"",",",""', '"1,152 GiB","",""""',
]


def test_field_counts_are_csv_readers():
    import polars as pl

    expected = [len(next(csv.reader([line]))) for line in FIELD_COUNT_LINES]
    assert len(set(expected)) > 2  # lines that differ, so a constant count fails
    assert aws_price_list._field_counts(pl.Series(FIELD_COUNT_LINES)).to_list() == expected


def _quote_every_field(body: bytes) -> bytes:
    """`body` with empty fields written "" as AWS writes them, not left empty."""
    head, _, rows = body.decode().partition('"OfferCode","AmazonEC2"\n')
    quoted = [",".join('"' + field.replace('"', '""') + '"' for field in fields)
              for fields in csv.reader(rows.splitlines())]
    return (head + '"OfferCode","AmazonEC2"\n' + "\n".join(quoted) + "\n").encode()


def test_rows_with_quoted_empty_fields_and_commas_in_values_are_offers():
    rows = [row(), row(**{"Instance Type": "g5.xlarge", "GPU": "1", "Memory": "1,152 GiB"}),
            reserved("1yr", **{"Instance Type": "g5.xlarge", "GPU": "1", "Processor Features": 'a, "b"'})]
    plain = SOURCE.parse([raw(csv_body(rows))])
    quoted_body = _quote_every_field(csv_body(rows))
    assert b'"",""' in quoted_body and b'"1,152 GiB"' in quoted_body
    quoted = SOURCE.parse([raw(quoted_body)])
    assert offers_only(quoted).height == 3  # the p5 and both g5 rows
    same = ["instance_type", "pricing", "price", "gpu_count", "vcpus", "ram_gb", "excluded_by"]
    assert quoted.select(same).to_dicts() == plain.select(same).to_dicts()


def test_a_gpu_row_with_a_field_too_many_is_an_error():
    body = csv_body([row(), row(**{"Instance Type": "g5.xlarge", "GPU": "1"})]).decode()
    lines = body.split("\n")
    lines[-2] += ',"extra"'
    with pytest.raises(ParseError, match=r"92 fields where the header has 91|not a readable price-list CSV"):
        SOURCE.parse([raw("\n".join(lines).encode())])


# -- the scan's SKU runs (connectors/aws_csv_scan.py) ------------------------------------------


def _runs_body(runs: list[tuple[str, str, int]], *, crlf: bool = False) -> bytes:
    """A body of SKU runs, each (SKU, instance type, rows), every row of a run in a row."""
    rows = [row(SKU=sku, RateCode=f"{sku}.TERM{i:04d}.6YS6EN2CT7", PricePerUnit=f"{i + 1}.0000000000",
                **{"Instance Type": itype, "GPU": "1"})
            for sku, itype, count in runs for i in range(count)]
    body = csv_body(rows)
    return body.replace(b"\n", b"\r\n") if crlf else body


RUNS = [("CPUSKU0000000001", "m5.large", 5), ("GPUSKU0000000001", "p5.48xlarge", 30),
        ("CPUSKU0000000002", "c5.xlarge", 1), ("GPUSKU0000000002", "g6.xlarge", 1),
        ("GPUSKU0000000003", "trn1.2xlarge", 7), ("CPUSKU0000000003", "m7i.large", 40),
        ("GPUSKU0000000004", "inf2.xlarge", 3), ("CPUSKU0000000004", "r5.large", 2)]


@pytest.mark.parametrize("block_bytes", [700, 1500, 5000, 1 << 20])
def test_sku_runs_straddling_read_blocks_keep_exactly_the_gpu_rows(tmp_path, monkeypatch, block_bytes):
    # Block boundaries inside GPU and CPU runs: the rows of a full parse, no more, no fewer.
    plain = tmp_path / "runs.csv"
    plain.write_bytes(_runs_body(RUNS))
    expected = _full_scan(plain).to_dicts()
    assert len(expected) == 30 + 1 + 7 + 3
    monkeypatch.setattr(aws_csv_scan, "READ_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(aws_price_list, "CANDIDATE_BATCH_BYTES", 3000)
    assert aws_price_list._csv_records(raw(plain.read_bytes()), "aws").to_dicts() == expected


def test_a_cpu_run_ends_where_the_next_sku_starts():
    # The scan's spans: a run ends at the first line of another SKU; the GPU run after a long CPU run
    # (and the CPU run after it) must start and end at their own lines.
    body = _runs_body(RUNS)
    lines = body.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: DISCLAIMER_LINES + 1])
    header = next(csv.reader([lines[DISCLAIMER_LINES].decode()]))
    scan = aws_csv_scan.CandidateLines(aws_price_list.GPU_FAMILY_PATTERN, header, lines[DISCLAIMER_LINES],
                                       "Instance Type")
    picked = b"".join(body[a:b] for a, b in scan.scan(body, start, len(body)))
    gpu_lines = [line for line in lines[DISCLAIMER_LINES + 1:] if b"GPUSKU" in line[:8]]
    assert picked == b"".join(gpu_lines)


# A SKU's rows split by another SKU's row: a layout AWS has not been seen to write, but one the
# scan must not read wrong (a search for the run's last row lands past the odd row, which the
# first awsperf scan then skipped untested; these tests failed on it).
INTERLEAVED = [("CPUSKU0000000001", "m5.large", 3), ("GPUSKU0000000001", "p5.48xlarge", 1),
               ("CPUSKU0000000001", "m5.large", 4), ("GPUSKU0000000002", "g6.xlarge", 2),
               ("CPUSKU0000000002", "c5.xlarge", 1), ("GPUSKU0000000002", "g6.xlarge", 1),
               ("CPUSKU0000000003", "r5.large", 2)]


def _picked_lines(body: bytes) -> bytes:
    """The lines the scan hands on, from one block holding the whole body."""
    lines = body.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: DISCLAIMER_LINES + 1])
    header = next(csv.reader([lines[DISCLAIMER_LINES].decode()]))
    scan = aws_csv_scan.CandidateLines(aws_price_list.GPU_FAMILY_PATTERN, header, lines[DISCLAIMER_LINES],
                                       "Instance Type")
    return b"".join(body[a:b] for a, b in scan.scan(body, start, len(body)))


def _assert_reads_every_gpu_row(plain: Path, gpu_rows: int) -> None:
    expected = _full_scan(plain).to_dicts()
    assert len(expected) == gpu_rows
    assert aws_price_list._csv_records(raw(plain.read_bytes()), "aws").to_dicts() == expected
    result = finalize_offers(SOURCE.parse([raw(plain.read_bytes())]), "aws", date(2025, 9, 12))
    counts = result.accounting()
    assert counts["rows_read"] == gpu_rows and result.unaccounted == 0, counts


@pytest.mark.parametrize("crlf", [False, True])
def test_a_gpu_row_between_two_rows_of_a_cpu_sku_is_read(tmp_path, crlf):
    body = _runs_body(INTERLEAVED, crlf=crlf)
    lines = body.splitlines(keepends=True)[DISCLAIMER_LINES + 1:]
    assert _picked_lines(body) == b"".join(line for line in lines if line.startswith(b'"GPUSKU'))
    plain = tmp_path / "interleaved.csv"
    plain.write_bytes(body)
    _assert_reads_every_gpu_row(plain, 1 + 2 + 1)


def _one_gpu_row_in_a_cpu_run(position: int, rows: int = 40) -> bytes:
    return _runs_body([("CPUSKU0000000001", "m5.large", position), ("GPUSKU0000000001", "p5.48xlarge", 1),
                       ("CPUSKU0000000001", "m5.large", rows - position)])


@pytest.mark.parametrize("position", [1, 2, 3, 4, 8, 23, 24, 25, 39])
def test_a_gpu_row_in_a_cpu_run_is_read_wherever_it_lies(tmp_path, position):
    # Early, late, the last line but one, and around 24 and 48 lines (where the first scan's
    # search window for a run's end stopped and doubled).
    plain = tmp_path / "interleaved.csv"
    plain.write_bytes(_one_gpu_row_in_a_cpu_run(position))
    _assert_reads_every_gpu_row(plain, 1)


@pytest.mark.parametrize("shift", [-445, -444, -443, -1, 0, 1, 440, 441, 442, 881, 882, 883])
@pytest.mark.parametrize("position", [1, 5, 30])
def test_a_gpu_row_in_a_cpu_run_is_read_next_to_a_read_block_boundary(tmp_path, monkeypatch, position, shift):
    # The first read block stops `shift` bytes after the end of the GPU row (444 bytes; a CPU
    # row is 441): inside the CPU row before it, at either edge of the GPU row, inside it, and
    # just before, at and after the end of each of the two CPU rows after it.
    body = _one_gpu_row_in_a_cpu_run(position)
    gpu_end = body.index(b"\n", body.index(b'\n"GPUSKU') + 1) + 1
    assert body[gpu_end - 444 - 1 : gpu_end - 444].endswith(b"\n") and len(body[gpu_end:].split(b"\n")[0]) == 440
    plain = tmp_path / "interleaved.csv"
    plain.write_bytes(body)
    monkeypatch.setattr(aws_csv_scan, "READ_BLOCK_BYTES", gpu_end + shift)
    monkeypatch.setattr(aws_price_list, "CANDIDATE_BATCH_BYTES", 3000)
    _assert_reads_every_gpu_row(plain, 1)


def test_a_sku_field_with_a_comma_is_no_run_of_one_sku():
    # The scan takes a SKU as the bytes up to the first comma: '"CPU,' is not a whole field, and
    # the rows after it may be another SKU's (here a GPU's) though they start the same.
    body = _runs_body([("CPU,SKU0000000001", "m5.large", 3), ("CPU,SKU0000000002", "p5.48xlarge", 2),
                       ("CPU,SKU0000000001", "m5.large", 2)])
    lines = body.splitlines(keepends=True)[DISCLAIMER_LINES + 1:]
    assert _picked_lines(body) == b"".join(line for line in lines if line.startswith(b'"CPU,SKU0000000002"'))


@pytest.mark.parametrize("crlf", [False, True])
def test_crlf_bodies_read_the_same_rows(crlf):
    rows = [row(), row(**{"Instance Type": "g5.xlarge", "GPU": "1", "Memory": "1,152 GiB"})]
    lf = aws_price_list._csv_records(raw(csv_body(rows)), "aws")
    body = csv_body(rows).replace(b"\n", b"\r\n") if crlf else csv_body(rows)
    assert aws_price_list._csv_records(raw(body), "aws").to_dicts() == lf.to_dicts()
    runs = aws_price_list._csv_records(raw(_runs_body(RUNS, crlf=crlf)), "aws")
    assert runs.height == 41 and runs.to_dicts() == aws_price_list._csv_records(raw(_runs_body(RUNS)), "aws").to_dicts()


def test_plain_rows_pattern_passes_only_lines_the_checks_cannot_fail():
    import polars as pl

    reader = aws_price_list._CandidateReader(["a", "b", "c"], "aws")

    def plain(text: str) -> bool:
        return pl.Series([text]).str.contains(reader.plain_rows)[0]

    assert plain('"x","y","z"\n"1",,""\n') and plain('"x","y","z"\r\n') and plain("")
    for odd in ['"x,1","y","z"\n', '"x""q","y","z"\n', '"x","y"\n', '"x","y","z","w"\n',
                '"x","y","z\n', '"x","y","z"', 'x"q,y,z\n']:
        assert not plain(odd), odd


def test_a_body_cut_mid_row_fails_with_small_read_blocks(monkeypatch):
    monkeypatch.setattr(aws_csv_scan, "READ_BLOCK_BYTES", 64)
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([raw(_runs_body(RUNS)[:-40])])


def test_read_ahead_hands_on_a_stream_error_and_stops_its_thread():
    import io

    class Failing(io.RawIOBase):
        calls = 0

        def readable(self):
            return True

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 2:
                raise ParseError("aws: the archived body is damaged")
            return b"x\n" * 10

    reader = aws_csv_scan.read_ahead(Failing(), 20)
    with pytest.raises(ParseError, match="damaged"), reader as chunks:
        assert next(chunks) == b"x\n" * 10
        list(chunks)
    assert not reader._thread.is_alive()
    early = aws_csv_scan.read_ahead(io.BytesIO(b"y\n" * 100_000), 10)
    with early as chunks:
        next(chunks)  # then leave with the thread blocked on a full queue
    assert not early._thread.is_alive()


# -- damaged archive files and cut bodies fail the file with a reason ---------------------------


def _stored_then_cut(tmp_path: Path, body: bytes, keep: float) -> RawResponse:
    archived = _archived_bytes(tmp_path, body)
    data = archived.body_path.read_bytes()
    archived.body_path.write_bytes(data[: int(len(data) * keep)])
    return archived


def _archived_bytes(tmp_path: Path, body: bytes) -> RawResponse:
    plain = tmp_path / "body.csv"
    plain.write_bytes(body)
    return _archived(tmp_path, plain)


def test_a_cut_zstd_archive_file_fails_with_a_reason(generated_csv, tmp_path):
    cut = _stored_then_cut(tmp_path, generated_csv.read_bytes(), keep=0.6)
    with pytest.raises(ParseError, match=r"archived body .*\.zst ends before the end of its compressed stream") as err:
        SOURCE.parse([cut])
    assert OFFER_CSV_URL in str(err.value)


def test_a_cut_zstd_archive_file_fails_even_when_only_the_checksum_is_lost(tmp_path):
    # zstandard's own stream reader returns a shortened body here without a word.
    cut = _archived_bytes(tmp_path, csv_body([row()] * 50))
    data = cut.body_path.read_bytes()
    cut.body_path.write_bytes(data[:-2])
    with pytest.raises(ParseError, match="ends before the end of its compressed stream"):
        SOURCE.parse([cut])


def test_a_damaged_zstd_archive_file_fails_with_a_reason(tmp_path):
    damaged = _archived_bytes(tmp_path, csv_body([row()] * 200))
    data = bytearray(damaged.body_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.body_path.write_bytes(bytes(data))
    with pytest.raises(ParseError, match="does not decompress"):
        SOURCE.parse([damaged])


def test_a_cut_old_gzip_archive_file_fails_with_a_reason(generated_csv, tmp_path):
    old_body = tmp_path / "old.gz"
    old_body.write_bytes(gzip.compress(generated_csv.read_bytes(), 6)[:-5000])
    with pytest.raises(ParseError, match=r"archived body old\.gz ends before the end of its compressed stream"):
        SOURCE.parse([raw(b"", path=old_body)])


def test_a_cut_csv_inside_a_whole_archive_file_fails_with_a_reason(tmp_path):
    body = csv_body([row(), row(**{"Instance Type": "g5.xlarge", "GPU": "1"})])
    archived = _archived_bytes(tmp_path, body[:-40])
    with pytest.raises(ParseError, match="does not end with a complete row; the body is truncated"):
        SOURCE.parse([archived])


def test_ingest_records_a_cut_region_file_and_keeps_the_earlier_good_rows(tmp_path):
    # parse_source on a day whose archived region file was cut: the run is failed with the
    # reason naming the file, and the day's offers from the earlier good parse stay.
    from pipelines.ingest import parse_source
    from tests.connector_checks import DAY, live_fetch
    from warehouse.store import Warehouse

    body = csv_body([row(), reserved("3yr", PricePerUnit="4.0")])
    source = AwsPriceList(regions=("us-east-1",))
    outcome, archived = live_fetch(source, _handler({OFFER_CSV_URL: (200, body)}, []), tmp_path)
    assert outcome.status == "fetched"
    warehouse = Warehouse(tmp_path / "gpu_prices.duckdb")
    assert parse_source(warehouse, source, DAY).offers == 2
    stored = warehouse.raw_dir / next(a["body_file"] for a in archived if a["url"] == OFFER_CSV_URL)
    stored.write_bytes(stored.read_bytes()[:-3])

    again = parse_source(warehouse, source, DAY, reparse=True)
    assert again.status == "failed"
    assert "ends before the end of its compressed stream" in again.message and OFFER_CSV_URL in again.message
    with warehouse.writer() as w:
        assert w.con.execute("SELECT count(*) FROM offers WHERE source = 'aws'").fetchall() == [(2,)]
        assert w.run_state(DAY, "aws")["message"] == again.message


def test_old_gzip_bodies_in_the_archive_still_read_and_are_not_rewritten(tmp_path):
    # A warehouse archived before zstd: raw/ab/<sha256>.gz, and a raw_responses row naming it.
    from warehouse.store import Warehouse

    body = csv_body([row(), reserved("1yr", PricePerUnit="6.0")])
    warehouse = Warehouse(tmp_path / "gpu_prices.duckdb")
    response = raw(body)
    legacy = warehouse.raw_dir / response.sha256[:2] / f"{response.sha256}.gz"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(gzip.compress(body))
    assert warehouse.store_body(response) == legacy  # same bytes, same entry: no .zst beside it
    assert sorted(p.name for p in legacy.parent.iterdir()) == [legacy.name]
    with warehouse.writer() as w:
        ids = [w.archive(response, date(2024, 5, 28))]
        (loaded,) = w.raw_responses(date(2024, 5, 28), ids)
    assert loaded.body_path == legacy and loaded.read() == body and loaded.size == len(body)
    assert sorted(SOURCE.parse([loaded])["pricing"]) == ["on_demand", "reserved_1y"]


def test_archive_records_the_body_size_not_the_compressed_size(tmp_path):
    archived = _archived_bytes(tmp_path, csv_body([row()] * 100))
    from warehouse.store import Warehouse

    with Warehouse(tmp_path / "gpu_prices.duckdb").writer() as w:
        ((size,),) = w.con.execute("SELECT size_bytes FROM raw_responses").fetchall()
    assert size == len(csv_body([row()] * 100)) > archived.body_path.stat().st_size


# -- region files downloaded concurrently, each archived as it arrives -------------------------


def _regions_index(codes: list[str]) -> bytes:
    """The documented region index shape with these regions (hand-made, as the fixture)."""
    listing = {code: {"regionCode": code, "currentVersionUrl": f"/offers/v1.0/aws/AmazonEC2/20240528203522/{code}/index.json"}
               for code in codes}
    return json.dumps({"formatVersion": "v1.0", "regions": listing}).encode()


def _region_url(code: str) -> str:
    return OFFER_CSV_URL.replace("/us-east-1/", f"/{code}/")


class _Gate:
    """Counts downloads in flight; holds them until `until` are in flight at once (or 5 s)."""

    def __init__(self, until: int) -> None:
        self.lock = threading.Lock()
        self.in_flight = self.most = 0
        self.until = until
        self.release = threading.Event()

    def __enter__(self):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            if self.in_flight >= self.until:
                self.release.set()

    def __exit__(self, *exc):
        with self.lock:
            self.in_flight -= 1


def _region_handler(codes: list[str], gate: _Gate | None = None, wait_for: dict[str, threading.Event] | None = None,
                    fail: set[str] = frozenset(), seen: list[str] | None = None):
    """Serves a region index of `codes` and a one-offer CSV per region. Regions in `wait_for`
    are held until their event is set; those in `fail` reset the connection, every attempt."""
    base = _handler({}, [])

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if seen is not None:
            seen.append(url)
        if url.endswith("/AmazonEC2/current/region_index.json"):
            return httpx.Response(200, content=_regions_index(codes))
        for code in codes:
            if url == _region_url(code):
                if wait_for and code in wait_for:
                    assert wait_for[code].wait(10), f"{code} was never released"
                if code in fail:
                    raise httpx.ConnectError("connection reset", request=request)
                if gate is not None:
                    with gate:
                        gate.release.wait(5)
                return httpx.Response(200, content=csv_body([row(**{"Region Code": code})]))
        return base(request)

    return handle


def _client(handler, per_host: int = 4) -> httpx.Client:
    from connectors.http import HttpPolicy

    return build_client(httpx.MockTransport(handler), policy=HttpPolicy(per_host_concurrency=per_host),
                        sleep=lambda s: None)


def test_region_files_download_concurrently_within_the_per_host_limit():
    codes = [f"ap-test-{i}" for i in range(6)]
    gate = _Gate(until=3)  # held until three are under way at once: never, if downloads were serial
    with _client(_region_handler(codes, gate), per_host=3) as client:
        responses = list(AwsPriceList().fetch(client, FetchContext()))
    try:
        assert gate.most == 3  # concurrent, and never more than the policy allows one host
        assert sorted(r.url for r in responses[2:]) == sorted(_region_url(c) for c in codes)
        parsed = SOURCE.parse(responses)
        assert sorted(parsed["region"]) == sorted(codes)
    finally:
        _cleanup(responses)


def test_each_region_file_is_handed_over_as_it_arrives():
    # eu-slow-1 is held until the test has received the other file: the fetch must hand each
    # file to the caller (who archives it) as soon as it is complete, not at the end.
    release = threading.Event()
    codes = ["eu-slow-1", "us-fast-1"]
    with _client(_region_handler(codes, wait_for={"eu-slow-1": release})) as client:
        fetch = AwsPriceList().fetch(client, FetchContext())
        received = [next(fetch), next(fetch), next(fetch)]  # index, region index, first region file
        assert received[-1].url == _region_url("us-fast-1") and not release.is_set()
        release.set()
        received += list(fetch)
    try:
        assert received[-1].url == _region_url("eu-slow-1")
    finally:
        _cleanup(received)


def test_a_failed_download_archives_those_under_way_then_fails_the_fetch(tmp_path, monkeypatch):
    # eu-broken-1 fails once the two others are under way: they finish and are archived, and
    # the fetch is recorded failed with the error.
    from tests import connector_checks

    monkeypatch.setattr(connector_checks, "client", lambda handler: _client(handler, per_host=3))
    codes = ["ap-ok-1", "eu-broken-1", "us-ok-2"]
    others = {_region_url("ap-ok-1"), _region_url("us-ok-2")}
    started: set[str] = set()
    others_started = threading.Event()

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) in others:
            started.add(str(request.url))
            if started == others:
                others_started.set()
        return inner(request)

    inner = _region_handler(codes, wait_for={"eu-broken-1": others_started}, fail={"eu-broken-1"})
    outcome, archived = connector_checks.live_fetch(AwsPriceList(), handle, tmp_path)
    assert outcome.status == "failed" and "ConnectError" in outcome.message, outcome
    urls = {a["url"] for a in archived}
    assert _region_url("eu-broken-1") not in urls
    assert others <= urls


def test_a_failed_download_stops_the_downloads_not_yet_started(tmp_path, monkeypatch):
    # One download at a time: after the first region fails, the others are never requested.
    from tests import connector_checks

    monkeypatch.setattr(connector_checks, "client", lambda handler: _client(handler, per_host=1))
    codes = ["ap-broken-1", "eu-later-1", "us-later-2"]
    seen: list[str] = []
    outcome, archived = connector_checks.live_fetch(AwsPriceList(), _region_handler(codes, fail={"ap-broken-1"}, seen=seen),
                                                    tmp_path)
    assert outcome.status == "failed" and "ConnectError" in outcome.message
    assert seen.count(_region_url("ap-broken-1")) == 5  # the policy's retries, unchanged
    assert _region_url("eu-later-1") not in seen and _region_url("us-later-2") not in seen
    assert not any(a["url"].endswith("/index.csv") for a in archived)


def test_a_caller_that_stops_early_leaves_no_spooled_files(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    codes = [f"ap-test-{i}" for i in range(5)]
    with _client(_region_handler(codes)) as client:
        fetch = AwsPriceList().fetch(client, FetchContext())
        first = [next(fetch) for _ in range(3)]
        fetch.close()  # e.g. archiving the first file failed
    _cleanup(first)
    assert list(tmp_path.glob("aws-*.body")) == []


def test_unknown_region_is_refused_before_any_download():
    seen: list[str] = []
    with pytest.raises(ParseError, match="'ap-nowhere-1' is not in"):
        _fetch(AwsPriceList(regions=("us-east-1", "ap-nowhere-1")), _handler({}, seen))
    assert OFFER_CSV_URL not in seen
