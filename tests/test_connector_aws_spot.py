"""Tests of the AWS spot source (connectors/aws_spot.py).

Why these exist: AWS publishes no keyless spot price, so this source ESTIMATES one from the
Spot Instance Advisor's typical saving (OD x (100 - s) / 100). An estimate must never pass as
a quote: every spot row must carry spot_is_estimate = True and point at the advisor response.
The tests pin the arithmetic on the real recorded p4d.24xlarge on-demand price, that only
on-demand rows (never reserved) are discounted, that only the advisor's Linux figures are used,
that odd savings end in quarantine rather than silently disappearing, clear errors for a broken
advisor document, and that fetch only downloads region files for regions with GPU entries.

The advisor fixture is hand-written in the documented shape with invented savings, and CSV
rows are generated, not market data (see tests/fixtures/aws_spot/PROVENANCE.md).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest

from benchmarks.aws_price_list import csv_body
from connectors.aws import INDEX_URL
from connectors.aws_spot import SPOT_ADVISOR_URL, AwsSpotAdvisor
from connectors.base import FetchContext, ParseError, RawResponse, SourceError, check_responses
from connectors.http import build_client
from connectors.offers import finalize_offers
from tests.test_connector_aws import OFFER_CSV_URL, OFFER_JSON_URL, P4D_EXCERPT, reserved, row

ADVISOR = Path(__file__).parent / "fixtures" / "aws_spot" / "spot_advisor_documented_shape.json"
AWS_FIXTURES = Path(__file__).parent / "fixtures" / "aws"
ADVISOR_FETCHED = datetime(2024, 5, 28, 21, 0, tzinfo=timezone.utc)
OFFER_FETCHED = datetime(2024, 5, 28, 20, 35, 22, tzinfo=timezone.utc)

SOURCE = AwsSpotAdvisor()


def advisor(body: bytes | None = None) -> RawResponse:
    return RawResponse(
        source="aws_spot", method="GET", url=SPOT_ADVISOR_URL, status=200, headers={},
        fetched_at=ADVISOR_FETCHED, body=ADVISOR.read_bytes() if body is None else body,
    )


def offer(body: bytes, url: str = OFFER_JSON_URL) -> RawResponse:
    return RawResponse(source="aws_spot", method="GET", url=url, status=200, headers={},
                       fetched_at=OFFER_FETCHED, body=body)


def test_spot_estimated_from_real_p4d_on_demand():
    adv = advisor()
    parsed = SOURCE.parse([adv, offer(P4D_EXCERPT.read_bytes())])
    assert parsed.height == 1
    spot = parsed.row(0, named=True)
    assert (spot["instance_type"], spot["region"], spot["pricing"]) == ("p4d.24xlarge", "us-east-1", "spot")
    # 32.7726 USD/h on-demand (real, 2024-05-28) x (100 - 60) / 100 (fixture saving, invented)
    assert spot["price"] == pytest.approx(32.7726 * 0.40)
    assert spot["spot_is_estimate"] is True
    assert spot["gpu_count"] == 8
    # Provenance is the advisor document: it is what makes the number a spot number.
    assert (spot["source_url"], spot["raw_response_id"], spot["observed_at"]) == (
        SPOT_ADVISOR_URL, adv.id, ADVISOR_FETCHED,
    )
    offers, quarantined = finalize_offers(parsed, "aws_spot", date(2024, 5, 28))
    assert quarantined.height == 0
    assert offers["spot_is_estimate"].to_list() == [True]
    assert offers["price_usd_per_gpu_hour"].to_list() == [pytest.approx(32.7726 * 0.40 / 8)]


def test_only_on_demand_linux_rows_with_an_advisor_entry_become_spot():
    rows = [
        row(**{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "1.006"}),
        reserved("1yr", **{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "0.6"}),
        row(**{"Instance Type": "g6.xlarge", "GPU": "1", "PricePerUnit": "0.8048"}),  # no advisor entry
        row(**{"Instance Type": "g5.xlarge", "GPU": "1", "Region Code": "eu-west-1", "PricePerUnit": "1.123"}),
    ]
    parsed = SOURCE.parse([advisor(), offer(csv_body(rows), OFFER_CSV_URL)]).sort("region")
    assert parsed.select("region", "instance_type", "pricing").rows() == [
        ("eu-west-1", "g5.xlarge", "spot"),
        ("us-east-1", "g5.xlarge", "spot"),
    ]
    assert parsed["price"].to_list() == [pytest.approx(1.123 * 0.35), pytest.approx(1.006 * 0.30)]
    assert parsed["spot_is_estimate"].all()


def test_windows_savings_are_not_used():
    data = json.loads(ADVISOR.read_text())
    del data["spot_advisor"]["us-east-1"]["Linux"]["p4d.24xlarge"]  # only the Windows figure left
    parsed = SOURCE.parse([advisor(json.dumps(data).encode()), offer(P4D_EXCERPT.read_bytes())])
    assert parsed.height == 0


@pytest.mark.parametrize(("saving", "reason"), [(100, "price of zero"), (120, "negative price")])
def test_odd_savings_are_quarantined(saving, reason):
    data = json.loads(ADVISOR.read_text())
    data["spot_advisor"]["us-east-1"]["Linux"]["p4d.24xlarge"]["s"] = saving
    parsed = SOURCE.parse([advisor(json.dumps(data).encode()), offer(P4D_EXCERPT.read_bytes())])
    offers, quarantined = finalize_offers(parsed, "aws_spot", date(2024, 5, 28))
    assert offers.height == 0
    assert quarantined["reason"].to_list() == [reason]


def test_broken_advisor_documents():
    with pytest.raises(ParseError, match="'spot_advisor'"):
        SOURCE.parse([advisor(b'{"ranges": []}')])
    data = json.loads(ADVISOR.read_text())
    del data["spot_advisor"]["eu-west-1"]["Linux"]["g5.xlarge"]["s"]
    with pytest.raises(ParseError, match="'s'"):
        SOURCE.parse([advisor(json.dumps(data).encode())])
    with pytest.raises(ParseError, match="HTML"):
        SOURCE.parse([advisor(b"<!DOCTYPE html><html>Access Denied</html>")])
    body = ADVISOR.read_bytes()
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([advisor(body[:100])])
    with pytest.raises(ParseError, match="expected one response"):
        SOURCE.parse([offer(P4D_EXCERPT.read_bytes())])


def test_bad_offer_file_fails_the_spot_parse_too():
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([advisor(), offer(csv_body([row()])[:-30], OFFER_CSV_URL)])


def test_fetch_downloads_only_regions_with_gpu_entries():
    seen: list[str] = []
    index = (AWS_FIXTURES / "index_documented_shape.json").read_bytes()
    region_index = (AWS_FIXTURES / "region_index_documented_shape.json").read_bytes()
    us_csv = OFFER_CSV_URL
    eu_csv = OFFER_CSV_URL.replace("/us-east-1/", "/eu-west-1/")
    bodies = {
        SPOT_ADVISOR_URL: ADVISOR.read_bytes(),
        INDEX_URL: index,
        "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/region_index.json": region_index,
        us_csv: csv_body([row(**{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "1.006"})]),
        eu_csv: csv_body([row(**{"Instance Type": "g5.xlarge", "GPU": "1", "PricePerUnit": "1.123",
                                 "Region Code": "eu-west-1"})]),
    }

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        body = bodies.get(str(request.url))
        return httpx.Response(200, content=body) if body is not None else httpx.Response(404)

    with build_client(httpx.MockTransport(handle), sleep=lambda s: None) as client:
        responses = list(SOURCE.fetch(client, FetchContext()))
    try:
        # ap-south-1 lists only m5.large: no GPU type, so its region file is never downloaded.
        assert seen == [SPOT_ADVISOR_URL, INDEX_URL, seen[2], eu_csv, us_csv]
        assert all(r.body_path is not None for r in responses[3:])  # region files spooled
        check_responses("aws_spot", responses)
        parsed = SOURCE.parse(responses).sort("region")
        assert parsed["price"].to_list() == [pytest.approx(1.123 * 0.35), pytest.approx(1.006 * 0.30)]
    finally:
        for response in responses:
            if response.body_path is not None:
                response.body_path.unlink(missing_ok=True)


def test_fetch_stops_when_the_advisor_fails():
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=b"InternalError")

    with build_client(httpx.MockTransport(handle), sleep=lambda s: None) as client:
        responses = list(SOURCE.fetch(client, FetchContext()))
    assert [r.url for r in responses] == [SPOT_ADVISOR_URL]
    with pytest.raises(SourceError, match="HTTP 500"):
        check_responses("aws_spot", responses)
