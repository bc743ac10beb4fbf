"""AWS EC2 spot prices of GPU instances, ESTIMATED from the Spot Instance Advisor (no key).

Quoted spot prices (DescribeSpotPriceHistory) need IAM credentials. Without them, the public
document behind https://aws.amazon.com/ec2/spot/instance-advisor/ gives, per region, OS and
instance type, the typical saving of spot over on-demand in percent
(``spot_advisor[region]["Linux"][type] = {"s": saving %, "r": interruption bucket}``).
As ec2instances.info does when it has no price history, spot is then estimated as

    spot = on_demand x (100 - s) / 100        and marked spot_is_estimate = True.

Where the on-demand price comes from: this source fetches it itself, through the same bulk
price-list chain as ``connectors.aws`` (index.json -> region_index.json -> region CSV), for the
regions the advisor lists GPU types in. That keeps ``parse`` pure - it sees only this source's
own responses - at the cost of downloading the region files a second time on a day both AWS
sources run. The small per-region JSON the AWS website reads
(``b0.p.awsstatic.com/.../ec2-ondemand-without-sec-sel/...``) would be lighter, but it is
undocumented and no catalog we know relies on it (reference/connectors.md section B), so it
is not used.

Provenance: a spot row points at the advisor response (source_url, raw_response_id,
observed_at): that document is what makes it a spot number. Its on-demand base is the
``aws`` source's on-demand row for the same region and instance type on the same day.
"""

from __future__ import annotations

import re
from typing import Iterator
from urllib.parse import urlsplit

import httpx
import polars as pl

from connectors import http
from connectors.aws import (
    GPU_INSTANCE_REGEX,
    fetch_offer_files,
    is_index_response,
    parse_offer_file,
)
from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    offers_frame,
    provenance,
    require_fields,
)

SPOT_ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
ADVISOR_OS = "Linux"  # the on-demand side is Linux too (connectors.aws filters)
_GPU_TYPE = re.compile(GPU_INSTANCE_REGEX)


def _is_advisor(raw: RawResponse) -> bool:
    return urlsplit(raw.url).path == urlsplit(SPOT_ADVISOR_URL).path


def _gpu_types(types: dict) -> list[str]:
    return [t for t in types if _GPU_TYPE.match(t)]


def savings_table(raw: RawResponse, source_id: str) -> dict[tuple[str, str], float]:
    """(region, instance type) -> saving in percent, for Linux GPU types of the advisor file."""
    data = raw.json()
    require_fields(source_id, data, ("spot_advisor",), raw.url)
    if not isinstance(data["spot_advisor"], dict):
        raise ParseError(f"{source_id}: {raw.url} spot_advisor is not an object; the format changed")
    table: dict[tuple[str, str], float] = {}
    for region, by_os in data["spot_advisor"].items():
        types = (by_os or {}).get(ADVISOR_OS) or {}
        for instance_type in _gpu_types(types):
            entry = types[instance_type]
            require_fields(source_id, entry, ("s",), f"{raw.url} spot_advisor.{region}.{ADVISOR_OS}.{instance_type}")
            try:
                table[(region, instance_type)] = float(entry["s"])
            except (TypeError, ValueError) as exc:
                raise ParseError(
                    f"{source_id}: {raw.url} saving {entry['s']!r} for {region} {instance_type} is not a number"
                ) from exc
    return table


class AwsSpotAdvisor(Source):
    id = "aws_spot"
    name = "AWS Spot Instance Advisor (spot estimated from savings %)"
    kind = "direct"
    providers = ("aws",)
    url = SPOT_ADVISOR_URL
    docs_url = "https://aws.amazon.com/ec2/spot/instance-advisor/"
    key_env = None
    description = (
        "Estimated EC2 spot prices of GPU instances (Linux): on-demand from the bulk price list "
        "times (100 - typical saving %) from the Spot Instance Advisor. Marked spot_is_estimate."
    )

    def __init__(self, regions: tuple[str, ...] | None = None) -> None:
        self.regions = regions

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        advisor = http.get(client, self.id, SPOT_ADVISOR_URL)
        yield advisor
        if not 200 <= advisor.status < 300:
            return  # archived, then rejected by check_responses
        savings = savings_table(advisor, self.id)
        regions = sorted({region for region, _ in savings})
        if self.regions is not None:
            regions = [r for r in regions if r in self.regions]
        if not regions:
            return  # the advisor lists no GPU type: nothing to price, parse yields no rows
        yield from fetch_offer_files(client, self.id, ctx, tuple(regions), skip_unknown_regions=True)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        advisors = [raw for raw in responses if _is_advisor(raw)]
        if len(advisors) != 1:
            raise ParseError(
                f"{self.id}: expected one response from {SPOT_ADVISOR_URL}, got {len(advisors)}"
            )
        advisor = advisors[0]
        savings = savings_table(advisor, self.id)
        base = provenance(advisor)
        rows = []
        for raw in responses:
            if raw is advisor or is_index_response(raw):
                continue
            for row in parse_offer_file(raw, self.id):
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
                        # An odd saving (>100, <0) gives an odd price; finalize_offers
                        # quarantines it with a reason instead of us hiding it here.
                        "price": None if od is None else od * (100.0 - saving) / 100.0,
                        "spot_is_estimate": True,
                        **base,
                    }
                )
        return offers_frame(rows, self.id)
