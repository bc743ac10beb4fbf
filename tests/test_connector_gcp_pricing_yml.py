"""Cyclenerd pricing.yml connector (source "cyclenerd", provider "gcp"): it turns monthly
commitment prices back into hourly ones and reads four real dated files that also ship in the
bundled demo snapshot, so a wrong constant or key would mis-state years of GCP history. These
tests parse the real files with exact prices, replay the bundled snapshot directories, and
check the failure modes CONTRIBUTING asks for."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml

from connectors import http
from connectors.base import FetchContext, ParseError
from connectors.gcp_pricing_yml import HOURS_PER_MONTH, PRICING_URL, CyclenerdGcpPricing
from connectors.snapshot import ReplayTransport, Snapshot
from tests.connector_checks import finalize, live_fetch, raw

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "gcp" / "cyclenerd-pricing"
BUNDLED = Path(__file__).resolve().parents[1] / "snapshots" / "bundled"
DATES = {
    "2022-06-30": "pricing_gpu-machine-types_2022-06-30_4fdece4.yml",
    "2023-06-29": "pricing_gpu-machine-types_2023-06-29_70c4022.yml",
    "2024-06-27": "pricing_gpu-machine-types_2024-06-27_235ab75.yml",
    "2026-07-30": "pricing_gpu-machine-types_2026-07-30_fd66b26.yml",
}
SOURCE = CyclenerdGcpPricing()


def body(day: str) -> bytes:
    return (BUNDLED / day / "responses" / "cyclenerd" / DATES[day]).read_bytes()


def parse(data: bytes) -> pl.DataFrame:
    return SOURCE.parse([raw("cyclenerd", PRICING_URL, data, content_type="text/plain; charset=utf-8")])


def edited(day: str, edit) -> bytes:
    document = yaml.safe_load(body(day))
    edit(document)
    return yaml.safe_dump(document).encode()


def price(frame: pl.DataFrame, instance_type: str, region: str, pricing: str) -> float:
    return frame.filter(instance_type=instance_type, region=region, pricing=pricing)["price"].item()


def test_hours_per_month_is_cyclenerds_constant():
    # Cyclenerd writes month = hour x 730; every recorded region row agrees.
    for day in DATES:
        document = yaml.safe_load(body(day))
        for spec in document["compute"]["instance"].values():
            for cost in spec["cost"].values():
                assert cost["month"] / cost["hour"] == pytest.approx(HOURS_PER_MONTH, rel=1e-12)


def test_2023_file_parses_with_exact_prices():
    frame = parse(body("2023-06-29"))
    # 17 GPU machine types; every region row has hour, hour_spot, month_1y and month_3y.
    assert frame.height == 663 * 4
    assert price(frame, "a2-highgpu-1g", "us-central1", "on_demand") == 3.673385
    assert price(frame, "a2-highgpu-1g", "us-central1", "spot") == 1.21219
    assert price(frame, "a2-highgpu-1g", "us-central1", "reserved_1y") == pytest.approx(1689.3711392 / 730)
    assert price(frame, "a2-highgpu-1g", "us-central1", "reserved_3y") == pytest.approx(938.56707798 / 730)
    row = frame.filter(instance_type="a2-ultragpu-8g", region="us-central1", pricing="on_demand").to_dicts()[0]
    assert (row["provider"], row["gpu_name_raw"], row["gpu_count"], row["vcpus"], row["ram_gb"]) == (
        "gcp", "a100-80gb", 8.0, 96.0, 1360.0,
    )
    assert set(frame["currency"]) == {"USD"}
    offers, quarantined = finalize(frame, SOURCE.id)
    assert offers.height == frame.height and quarantined.height == 0
    ultra = offers.filter(instance_type="a2-ultragpu-8g", region="us-central1", pricing="on_demand").to_dicts()[0]
    assert (ultra["gpu"], ultra["gpu_memory_gb"], ultra["identity_basis"]) == ("A100-SXM-80GB", 80.0, "instance table")


def test_2022_file_has_no_spot_and_2026_has_fractional_gpus():
    old = parse(body("2022-06-30"))
    assert sorted(set(old["pricing"])) == ["on_demand", "reserved_1y", "reserved_3y"]
    new = parse(body("2026-07-30"))
    g4 = new.filter(instance_type="g4-standard-6", pricing="on_demand")
    assert set(g4["gpu_count"]) == {0.125} and set(g4["gpu_name_raw"]) == {"rtx6000"}
    # a2-ultragpu lost its commitment prices by 2026: no reserved rows, not zero ones.
    assert new.filter(instance_type="a2-ultragpu-1g", pricing="reserved_1y").height == 0


@pytest.mark.parametrize("day", sorted(DATES))
def test_bundled_snapshot_days_replay_through_the_connector(day):
    snapshot = Snapshot(BUNDLED / day)
    assert snapshot.snapshot_date.isoformat() == day
    entry = next(e for e in snapshot.entries if e.source == "cyclenerd")
    assert entry.url == PRICING_URL and entry.status == 200 and entry.fetched_at.startswith(day)
    assert entry.extra["note"].startswith("subset of pricing.yml: GPU machine types only, re-serialized, values unchanged")
    if SHARED.is_dir():  # ../shared sits beside the checkout in CI; a bare clone may lack it
        assert body(day) == (SHARED / DATES[day]).read_bytes()  # byte copy of the shared file
    with http.build_client(ReplayTransport(snapshot)) as c:
        responses = list(SOURCE.fetch(c, FetchContext()))
    assert [r.url for r in responses] == [PRICING_URL]
    assert responses[0].fetched_at.date().isoformat() == day
    offers, quarantined = finalize(SOURCE.parse(responses), SOURCE.id)
    assert offers.height > 0 and quarantined.height == 0


def test_truncated_file_is_a_parse_error():
    data = body("2024-06-27")
    with pytest.raises(ParseError, match="truncated"):
        parse(data[: len(data) // 3] + b"\n  bad: [unclosed")


def test_file_cut_before_the_prices_is_a_parse_error():
    data = body("2024-06-27")
    with pytest.raises(ParseError, match="'compute'"):
        parse(data[: data.index(b"\ncompute:") + 1])


def test_html_page_is_a_parse_error():
    with pytest.raises(ParseError, match="HTML page instead of YAML"):
        parse(b"<!DOCTYPE html>\n<html><body>404: Not Found</body></html>")


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["compute"].pop("instance"), "'instance'"),
        (lambda d: d["compute"]["instance"]["a2-highgpu-1g"].pop("cost"), "'cost'"),
        (lambda d: d["compute"]["instance"]["a2-highgpu-1g"]["cost"]["us-central1"].pop("hour"), "'hour'"),
    ],
)
def test_missing_required_field_is_named(edit, field):
    with pytest.raises(ParseError, match=field):
        parse(edited("2024-06-27", edit))


@pytest.mark.parametrize("value, reason", [(0, "price of zero"), (-1.5, "negative price"), (99_999.0, "absurd price")])
def test_bad_prices_are_quarantined(value, reason):
    def edit(document):
        document["compute"]["instance"]["a2-highgpu-1g"]["cost"]["us-central1"]["hour"] = value

    offers, quarantined = finalize(parse(edited("2024-06-27", edit)), SOURCE.id)
    assert quarantined.height == 1
    bad = quarantined.to_dicts()[0]
    assert (bad["instance_type"], bad["region"], bad["pricing"]) == ("a2-highgpu-1g", "us-central1", "on_demand")
    assert bad["reason"].startswith(reason)
    assert offers.filter(instance_type="a2-highgpu-1g", region="us-central1").height == 3  # spot, 1y, 3y


def test_non_usd_is_quarantined():
    # pricing.yml has no currency field (Cyclenerd reads the catalog in USD), so the parser
    # always says USD; this checks that a non-USD row would be quarantined, not mixed in.
    offers, quarantined = finalize(parse(body("2022-06-30")).with_columns(currency=pl.lit("EUR")), SOURCE.id)
    assert offers.height == 0 and set(quarantined["reason"]) == {"currency EUR has no recorded USD rate"}


def test_an_error_response_fails_the_fetch(tmp_path):
    # One file, no pagination: the early stop this source can have is the one response failing.
    outcome, archived = live_fetch(SOURCE, lambda r: httpx.Response(503, text="upstream down"), tmp_path)
    assert outcome.status == "failed" and "HTTP 503" in outcome.message
    assert len(archived) == 1


def test_no_key_is_needed(tmp_path):
    served = body("2026-07-30")
    outcome, archived = live_fetch(SOURCE, lambda r: httpx.Response(200, content=served), tmp_path)
    assert SOURCE.key_env is None
    assert outcome.status == "fetched" and [a["url"] for a in archived] == [PRICING_URL]


def test_manifests_keep_other_sources_entries():
    # The dated directories may be shared with other sources: ours is one entry among them.
    for day in DATES:
        manifest = json.loads((BUNDLED / day / "manifest.json").read_text())
        assert sum(1 for e in manifest["entries"] if e["source"] == "cyclenerd") == 1
