"""Why: the Azure connector is half of the demo's spine. These tests pin what it reads from the
real recorded Retail Prices records (bundled snapshot), the Azure instance table
(market/data/instances/azure.csv) against every GPU VM size in the recorded data, that every
item is accounted for (an offer, or excluded by a named rule), its pricing rules (spot / low priority / reservation per-hour
conversion / savings plans / Windows excluded), and that bad input (HTML, truncated body,
a field gone, early-stopping pagination, bad prices) fails or is quarantined with a clear
message instead of landing as a wrong price.
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import polars as pl
import pytest

from connectors.azure import AzureRetailPrices, base_size, first_page_url, normalise_size
from connectors.base import FetchContext, ParseError, RawResponse, SourceError, check_responses
from connectors.http import build_client
from market.rules import finalize_offers
from connectors.snapshot import NotRecorded, ReplayTransport
from market.instances import instance_facts

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "snapshots" / "bundled"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "azure"
DAY = date(2026, 8, 22)


def replay(snapshot: str) -> list[RawResponse]:
    client = build_client(ReplayTransport(BUNDLED / snapshot), sleep=lambda s: None)
    return list(AzureRetailPrices().fetch(client, FetchContext()))


def mock_client(pages: dict[str, dict | bytes]) -> httpx.Client:
    """Serve `pages` keyed by `$skip` (0 = first page); other URLs -> 404."""

    def handler(request: httpx.Request) -> httpx.Response:
        skip = request.url.params.get("$skip", "0")
        body = pages.get(skip)
        if body is None:
            return httpx.Response(404, text="not found")
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    return build_client(httpx.MockTransport(handler), sleep=lambda s: None)


def envelope(items: list[dict], next_link: str | None = None) -> dict:
    return {
        "BillingCurrency": "USD",
        "CustomerEntityId": "Default",
        "CustomerEntityType": "Retail",
        "Items": items,
        "NextPageLink": next_link,
        "Count": len(items),
    }


def offers_of(frame: pl.DataFrame) -> pl.DataFrame:
    return finalize_offers(frame, "azure", DAY).offers


def lookup_gpu(size: str) -> tuple[str, float] | None:
    """(gpu, count) of a size in the Azure instance table, by any of its spellings."""
    facts = instance_facts("azure", base_size(size))
    return (facts.gpu, facts.gpu_count) if facts else None


def real_item(sku: str = "NC40adsH100v5") -> dict:
    """One real westeurope record from the bundled snapshot (Linux, consumption)."""
    for page in sorted((BUNDLED / "2026-08-22" / "responses" / "azure").glob("page*.json")):
        for item in json.loads(page.read_text())["Items"]:
            if item["skuName"] == sku and "Windows" not in item["productName"]:
                return copy.deepcopy(item)
    raise AssertionError(sku)


# --- the real recorded data -------------------------------------------------------------------


def test_bundled_snapshot_replays_every_page_with_its_real_date():
    raws = replay("2026-08-22")
    assert len(raws) == 6  # 346 westeurope items in 4 pages + 154 francecentral in 2
    check_responses("azure", raws)
    assert {r.fetched_at.date() for r in raws[:4]} == {date(2026, 8, 20)}
    assert {r.fetched_at.date() for r in raws[4:]} == {date(2026, 8, 22)}
    frame = AzureRetailPrices().parse(raws)
    # 500 records, every one a row; the Windows ones (productName "... Windows" / "... Srs Win")
    # are excluded by name, never silently dropped.
    assert frame.height == 500
    assert dict(frame.group_by("excluded_by").len().rows()) == {None: 250, "windows-licence": 250}
    frame = frame.filter(pl.col("excluded_by").is_null())
    assert set(frame["region"]) == {"westeurope", "francecentral"}
    assert set(frame["pricing"]) == {"on_demand", "spot", "low_priority"}
    assert set(frame["currency"]) == {"USD"}
    by_day = frame.group_by("region").agg(pl.col("observed_at").unique())
    observed = dict(zip(by_day["region"], by_day["observed_at"].to_list()))
    assert [d.date() for d in observed["westeurope"]] == [date(2026, 8, 20)]
    assert [d.date() for d in observed["francecentral"]] == [date(2026, 8, 22)]


def test_known_real_prices_and_gpu_mapping():
    frame = AzureRetailPrices().parse(replay("2026-08-22"))
    offers = offers_of(frame)

    def one(region, instance, pricing):
        rows = offers.filter(
            (pl.col("region") == region) & (pl.col("instance_type") == instance) & (pl.col("pricing") == pricing)
        )
        assert rows.height >= 1, (region, instance, pricing)
        return rows.row(0, named=True)

    h100 = one("westeurope", "NC40adsH100v5", "on_demand")
    assert (h100["price_usd_per_hour"], h100["gpu"], h100["gpu_count"], h100["gpu_memory_gb"]) == (
        9.08, "H100-NVL-94GB", 1.0, 94.0
    )
    assert h100["identity_basis"] == "instance table" and h100["vcpus"] == 40.0
    assert one("westeurope", "NC40adsH100v5", "spot")["price_usd_per_hour"] == 5.23008
    assert one("westeurope", "NC40adsH100v5", "low_priority")["price_usd_per_hour"] == 1.816
    a10 = one("westeurope", "Standard_NV6ads_A10_v5", "on_demand")
    assert a10["gpu_count"] == pytest.approx(1 / 6) and a10["gpu"] == "A10-24GB"
    assert "fractional" in a10["identity_note"]
    h200 = one("francecentral", "ND96isrH200v5", "on_demand")
    assert (h200["price_usd_per_hour"], h200["gpu_count"], h200["gpu"]) == (106.0, 8.0, "H200-SXM-141GB")
    mi300 = one("francecentral", "ND96isrMI300Xv5", "on_demand")
    assert (mi300["price_usd_per_hour"], mi300["gpu_count"], mi300["gpu"]) == (60.0, 8.0, "MI300X-192GB")
    a100 = one("westeurope", "Standard_ND96amsr_A100_v4", "on_demand")
    assert (a100["price_usd_per_hour"], a100["gpu"], a100["gpu_count"]) == (40.962, "A100-SXM-80GB", 8.0)
    assert one("westeurope", "ND96asr_A100_v4", "on_demand")["gpu"] == "A100-SXM-40GB"
    # NC A100 v4 is a PCIe card, never the SXM module (issue 8, item 3).
    assert set(offers.filter(pl.col("instance_type").str.contains("ads_A100_v4|adsA100v4"))["gpu"]) <= {"A100-PCIE-80GB"}
    # The radar kept one savingsPlanPrice whose term it did not record: not turned into offers.
    assert not frame["pricing"].str.starts_with("savings_plan").any()


def test_every_bundled_day_parses_and_finalizes():
    for snapshot in ("2026-07-15", "2026-08-01", "2026-08-22"):
        result = finalize_offers(AzureRetailPrices().parse(replay(snapshot)), "azure", DAY)
        assert result.offers.height > 150 and result.quarantined_count == 0, snapshot
        # NDmr40s v2 (the "NDSv2" product) is on no Learn size page: kept as unmapped, not guessed.
        assert result.unmapped_count == 3 and result.unaccounted == 0, snapshot


def test_spot_prices_moved_between_real_observations():
    """MANIFEST: 44 westeurope Spot GPU prices changed between 07-15 and 08-20."""
    keys = ["instance_type", "pricing"]
    old = AzureRetailPrices().parse(replay("2026-07-15")).filter(pl.col("excluded_by").is_null()).select(*keys, old="price")
    new = AzureRetailPrices().parse(replay("2026-08-22")).filter(
        (pl.col("region") == "westeurope") & pl.col("excluded_by").is_null()
    )
    joined = new.join(old.unique(subset=keys), on=keys).filter(pl.col("price") != pl.col("old"))
    # Mostly spot; one real on-demand change too (NC144dsxlRTX6kv6 7.87 -> 9.129).
    assert joined.filter(pl.col("pricing") == "spot").height >= 20
    assert joined.filter(pl.col("pricing") != "spot")["instance_type"].to_list() == ["NC144dsxlRTX6kv6"]


# --- the size -> GPU table --------------------------------------------------------------------

# VmSize -> GpusAvailable from ../shared/data/azure/microsoft-ga4gh-tes (2024-10-04 and
# 2025-03-04 files, GPU records). That table rounds partitioned GPUs up to 1, so only whole
# counts are compared. NP* are FPGA sizes (Xilinx U250) listed there with "GPUs".
GA4GH_SIZES = {
    "Standard_NC12s_v3": 2, "Standard_NC16as_T4_v3": 1, "Standard_NC24ads_A100_v4": 1,
    "Standard_NC24rs_v3": 4, "Standard_NC24s_v3": 4, "Standard_NC40ads_H100_v5": 1,
    "Standard_NC48ads_A100_v4": 2, "Standard_NC4as_T4_v3": 1, "Standard_NC64as_T4_v3": 4,
    "Standard_NC6s_v3": 1, "Standard_NC80adis_H100_v5": 2, "Standard_NC8as_T4_v3": 1,
    "Standard_NC96ads_A100_v4": 4, "Standard_ND96amsr_A100_v4": 8, "Standard_NV12ads_A10_v5": 1,
    "Standard_NV12s_v3": 1, "Standard_NV16as_v4": 1, "Standard_NV18ads_A10_v5": 1,
    "Standard_NV24s_v3": 2, "Standard_NV32as_v4": 1, "Standard_NV36adms_A10_v5": 1,
    "Standard_NV36ads_A10_v5": 1, "Standard_NV48s_v3": 4, "Standard_NV4as_v4": 1,
    "Standard_NV6ads_A10_v5": 1, "Standard_NV72ads_A10_v5": 2, "Standard_NV8as_v4": 1,
}


def test_table_agrees_with_microsoft_gpu_counts():
    for size, gpus in GA4GH_SIZES.items():
        hit = lookup_gpu(size)
        assert hit is not None, size
        count = hit[1]
        if count >= 1 and count == int(count):
            assert count == gpus, size
        else:
            assert gpus == 1, size  # partitioned sizes are reported as 1 there


def _radar_sizes() -> set[str]:
    sizes = set()
    for path in BUNDLED.glob("*/responses/azure/page*.json"):
        for item in json.loads(path.read_text())["Items"]:
            sizes.add(base_size(item["skuName"]))
    return sizes


def test_table_covers_every_gpu_size_in_the_recorded_data():
    unknown = sorted(s for s in _radar_sizes() if lookup_gpu(s) is None)
    # NDmr40s v2 ("NDSv2" product) is not documented anywhere we could check: left unmapped
    # (kept in quarantined_offers as "unmapped") rather than guessed.
    assert unknown == ["NDmr40s v2"]


def test_reference_sizes_are_in_the_table():
    expected = {
        "Standard_ND96asr_v4": ("A100-SXM-40GB", 8), "Standard_NC24ads_A100_v4": ("A100-PCIE-80GB", 1),
        "Standard_NC40ads_H100_v5": ("H100-NVL-94GB", 1), "Standard_ND96isr_H100_v5": ("H100-SXM-80GB", 8),
        "Standard_ND96isr_H200_v5": ("H200-SXM-141GB", 8), "Standard_NV36ads_A10_v5": ("A10-24GB", 1),
        "Standard_ND40rs_v2": ("V100-SXM-32GB", 8), "Standard_ND96isr_MI300X_v5": ("MI300X-192GB", 8),
        "Standard_NG32ads_V620_v1": ("RADEON-PRO-V620-32GB", 1), "Standard_NCC40ads_H100_v5": ("H100-NVL-94GB", 1),
        "Standard_ND128isr_NDR_GB200_v6": ("GB200-186GB", 4), "Standard_NV4as_v4": ("MI25-16GB", 0.125),
        "Standard_NC36ds_xl_RTXPRO6000BSE_v6": ("RTXPRO6000-96GB", 0.25),
    }
    for size, (gpu, count) in expected.items():
        assert lookup_gpu(size) == (gpu, count), size
    fractions = [lookup_gpu(f"Standard_NV{n}ads_A10_v5")[1] for n in (6, 12, 18, 36, 72)]
    assert fractions == pytest.approx([1 / 6, 1 / 3, 1 / 2, 1, 2])


def test_name_spellings_resolve_to_one_size():
    assert normalise_size("Standard_NC4as_T4_v3") == normalise_size("NC4as T4 v3")
    assert lookup_gpu("ND96amsA100v4") == lookup_gpu("Standard_ND96amsr_A100_v4")
    assert lookup_gpu("NC36dsxlRTX6kv6") == lookup_gpu("Standard_NC36ds_xl_RTXPRO6000BSE_v6")
    assert lookup_gpu("NG8adsV620 Spot") == lookup_gpu("Standard_NG8ads_V620_v1")
    assert base_size("NC24s v3 Low Priority") == "NC24s v3"


def test_a_size_the_table_does_not_know_is_never_silently_dropped():
    """Issue 8, item 5: a new ND H100 v5 variant and an unknown RTX PRO size are quarantined or
    kept as unmapped with the reason; nothing disappears."""
    new_nd = {**real_item(), "skuName": "ND96isrf H100 v5", "meterName": "ND96isrf H100 v5",
              "productName": "Virtual Machines NDisrfH100v5 Series"}
    new_rtx = {**real_item(), "skuName": "NC48ds xl RTXPRO6000BSE v6", "meterName": "NC48ds xl RTXPRO6000BSE v6",
               "productName": "Virtual Machines NCdsxlRTXPRO6000BSEv6 Series"}
    mystery = {**real_item(), "skuName": "NX8 Zeta v1", "meterName": "NX8 Zeta v1",
               "productName": "Virtual Machines NXZetav1 Series"}
    client = mock_client({"0": envelope([new_nd, new_rtx, mystery])})
    result = finalize_offers(AzureRetailPrices().parse(list(AzureRetailPrices().fetch(client, FetchContext()))), "azure", DAY)
    assert result.rows_read == 3 and result.unaccounted == 0 and result.offers.height == 0
    rows = {r["instance_type"]: r for r in result.quarantined.iter_rows(named=True)}
    assert rows["ND96isrf H100 v5"]["gpu"] == "H100-SXM-80GB" and "count unknown" in rows["ND96isrf H100 v5"]["reason"]
    assert rows["NC48ds xl RTXPRO6000BSE v6"]["gpu"] == "RTXPRO6000-96GB"
    assert rows["NX8 Zeta v1"]["outcome"] == "unmapped"


# --- pricing rules on API-shaped items (hand-made variants of one real record) ----------------


def test_reservations_are_divided_by_the_term_hours_and_savings_plans_are_hourly():
    """Hand-made: a real record with type/term/prices set by hand; numbers test arithmetic only."""
    base = real_item()
    base["armSkuName"] = "Standard_NC40ads_H100_v5"
    one_year = {**base, "type": "Reservation", "reservationTerm": "1 Year", "unitPrice": 8760.0 * 5}
    three_year = {**base, "type": "Reservation", "reservationTerm": "3 Years", "unitPrice": 26280.0 * 3}
    five_year = {**base, "type": "Reservation", "reservationTerm": "5 Years", "unitPrice": 1.0}
    with_plan = {**base, "savingsPlan": [
        {"unitPrice": 7.5, "retailPrice": 7.5, "term": "1 Year"},
        {"unitPrice": 5.0, "retailPrice": 5.0, "term": "3 Years"},
    ]}
    dev_test = {**base, "type": "DevTestConsumption"}
    client = mock_client({"0": envelope([one_year, three_year, five_year, with_plan, dev_test])})
    frame = AzureRetailPrices().parse(list(AzureRetailPrices().fetch(client, FetchContext())))
    assert sorted(frame["excluded_by"].drop_nulls()) == ["not-a-list-price", "untracked-term"]
    frame = frame.filter(pl.col("excluded_by").is_null())
    prices = dict(zip(frame["pricing"], frame["price"]))
    assert prices == {
        "reserved_1y": pytest.approx(5.0),
        "reserved_3y": pytest.approx(3.0),
        "on_demand": 9.08,
        "savings_plan_1y": 7.5,
        "savings_plan_3y": 5.0,
    }
    assert set(frame["instance_type"]) == {"Standard_NC40ads_H100_v5"}


def test_windows_non_hourly_and_non_gpu_items_are_skipped():
    linux = real_item()
    windows = {**linux, "productName": "Virtual Machines NCCadsv5 Srs Win"}
    monthly = {**linux, "unitOfMeasure": "1/Month"}
    fpga = {**linux, "skuName": "NP10s", "meterName": "NP10s", "productName": "Virtual Machines NP Series"}
    cpu = {**linux, "skuName": "Standard_D4s_v5", "meterName": "D4s v5", "productName": "Virtual Machines Dsv5 Series"}
    client = mock_client({"0": envelope([linux, windows, monthly, fpga, cpu])})
    frame = AzureRetailPrices().parse(list(AzureRetailPrices().fetch(client, FetchContext())))
    assert frame["excluded_by"].to_list() == [None, "windows-licence", "untracked-term", "not-a-gpu", "cpu-only"]
    kept = frame.filter(pl.col("excluded_by").is_null())
    assert kept.height == 1 and kept["instance_type"][0] == "NC40adsH100v5"


def test_currency_falls_back_to_the_envelope_then_usd():
    item = real_item()
    page = envelope([item])
    page["BillingCurrency"] = "EUR"
    frame = AzureRetailPrices().parse(list(AzureRetailPrices().fetch(mock_client({"0": page}), FetchContext())))
    assert frame["currency"][0] == "EUR"
    item["currencyCode"] = "GBP"
    frame = AzureRetailPrices().parse(
        list(AzureRetailPrices().fetch(mock_client({"0": envelope([item])}), FetchContext()))
    )
    assert frame["currency"][0] == "GBP"


def test_zero_negative_absurd_and_non_usd_prices_are_quarantined_not_dropped():
    """Hand-made prices on a real record: the parser passes them on, finalize quarantines them."""
    rows = []
    for sku, price, currency in [("NC40adsH100v5", 0.0, "USD"), ("NC80adisH100v5", -1.0, "USD"),
                                 ("NC8as T4 v3", 5000.0, "USD"), ("NC4as T4 v3", 0.5, "EUR")]:
        item = real_item(sku)
        item["unitPrice"] = price
        item["currencyCode"] = currency
        rows.append(item)
    frame = AzureRetailPrices().parse(
        list(AzureRetailPrices().fetch(mock_client({"0": envelope(rows)}), FetchContext()))
    )
    result = finalize_offers(frame, "azure", DAY)
    assert result.offers.height == 0
    reasons = sorted(result.quarantined["reason"])
    assert reasons[0].startswith("absurd price")
    assert "currency EUR has no recorded USD rate" in reasons
    assert "negative price" in reasons and "price of zero" in reasons


# --- fetch: pagination -------------------------------------------------------------------------


def test_pagination_follows_next_page_link_until_null():
    item = real_item()
    second = first_page_url() + "&$skip=1"
    client = mock_client({"0": envelope([item], second), "1": envelope([item])})
    messages: list[str] = []
    raws = list(AzureRetailPrices().fetch(client, FetchContext(progress=messages.append)))
    assert len(raws) == 2 and "%24skip=1" in raws[1].url.replace("$", "%24")
    assert len(messages) == 2


def test_pagination_that_stops_early_fails_clearly():
    item = real_item()
    # The next page is not in the snapshot: the replay refuses, naming the URL.
    client = mock_client({"0": envelope([item], first_page_url() + "&$skip=1")})
    raws = list(AzureRetailPrices().fetch(client, FetchContext()))
    with pytest.raises(SourceError, match="HTTP 404"):
        check_responses("azure", raws)
    # A chain cut short without an error (only the first page archived) is caught by parse.
    with pytest.raises(ParseError, match="pagination stopped early"):
        AzureRetailPrices().parse(raws[:1])


def test_replay_of_a_missing_page_raises_not_recorded(tmp_path):
    snap = tmp_path / "snap"
    (snap / "responses" / "azure").mkdir(parents=True)
    page = BUNDLED / "2026-08-22" / "responses" / "azure" / "page001.json"
    (snap / "responses" / "azure" / "p1.json").write_bytes(page.read_bytes())
    manifest = json.loads((BUNDLED / "2026-08-22" / "manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["file"].endswith("page001.json"))
    entry["file"] = "responses/azure/p1.json"
    (snap / "manifest.json").write_text(json.dumps({"snapshot_date": "2026-08-22", "description": "t",
                                                    "entries": [entry]}))
    client = build_client(ReplayTransport(snap), sleep=lambda s: None)
    with pytest.raises(NotRecorded, match=r"skip=100"):
        list(AzureRetailPrices().fetch(client, FetchContext()))


def test_a_next_page_link_loop_is_refused():
    item = real_item()
    client = mock_client({"0": envelope([item], first_page_url())})
    with pytest.raises(SourceError, match="loops back"):
        list(AzureRetailPrices().fetch(client, FetchContext()))


# --- bad bodies --------------------------------------------------------------------------------


def _raw(body: bytes) -> RawResponse:
    return RawResponse(source="azure", method="GET", url=first_page_url(), status=200,
                       headers={}, fetched_at=datetime(2026, 8, 22, tzinfo=timezone.utc), body=body)


def test_html_instead_of_json():
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        AzureRetailPrices().parse([_raw(b"<!DOCTYPE html><html><body>Service Unavailable</body></html>")])


def test_truncated_body():
    body = (BUNDLED / "2026-08-22" / "responses" / "azure" / "page006.json").read_bytes()
    with pytest.raises(ParseError, match="may be truncated"):
        AzureRetailPrices().parse([_raw(body[: len(body) // 2])])


@pytest.mark.parametrize("field", ["unitPrice", "armRegionName", "skuName", "type", "productName"])
def test_a_required_field_gone_is_named(field):
    item = real_item()
    del item[field]
    with pytest.raises(ParseError, match=repr(field)):
        AzureRetailPrices().parse([_raw(json.dumps(envelope([item])).encode())])


def test_envelope_without_items_or_with_a_wrong_count():
    with pytest.raises(ParseError, match="'Items'"):
        AzureRetailPrices().parse([_raw(b'{"NextPageLink": null}')])
    page = envelope([real_item()])
    page["Count"] = 100
    with pytest.raises(ParseError, match="incomplete"):
        AzureRetailPrices().parse([_raw(json.dumps(page).encode())])


def test_recorded_radar_file_matches_the_bundled_pages():
    """The fixture copy and the enveloped pages hold the same records (nothing invented)."""
    radar = json.loads((FIXTURES / "vm-francecentral_gpu_2026-08-22_cf741f2.json").read_text())
    items = []
    for name in ("page005.json", "page006.json"):
        items += json.loads((BUNDLED / "2026-08-22" / "responses" / "azure" / name).read_text())["Items"]
    assert len(items) == len(radar)
    for (key, record), item in zip(radar.items(), items):
        assert {k: item[k] for k in record} == record
        assert key == f"{item['skuId']}|{item['meterId']}|{item['type']}|"
