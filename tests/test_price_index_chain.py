"""The chained price index on real offers: a source entering or leaving does not move it.

Why: the raw index (median of per-provider medians) jumps whenever a source enters or leaves the
market, which is what made the History page's lines jump (issue 10). The chained index measures
each day's change on matched offers only (docs/price-index.md); these tests pin that on the real
offers of the bundled replay. The *dates* are arranged here (the same real offers placed on
consecutive days, so a source enters on day 2); every price is a real recorded price, unchanged.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest

from connectors.registry import all_sources
from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS
from market.rules import FinalizedOffers
from warehouse import read
from warehouse.derived import refresh_all_price_index, refresh_price_index
from warehouse.store import Warehouse
from costmodel.offers import one_quote_per_offer
from warehouse.transforms import NO_MATCHED_OFFERS, build_index_links


def offers_as_of(offers: pl.DataFrame, day: date, source_kinds: dict[str, str]) -> pl.DataFrame:
    """The pure-polars market of a day for these unit cases (each source's newest day on or
    before it, one quote per offer); the warehouse's rule is the SQL macro of the same name."""
    window = offers.filter(pl.col("snapshot_date") <= day)
    newest = window.group_by("source").agg(pl.col("snapshot_date").max().alias("newest"))
    current = window.join(newest, on="source").filter(pl.col("snapshot_date") == pl.col("newest")).drop("newest")
    return one_quote_per_offer(current, source_kinds)

KINDS = {s.id: s.kind for s in all_sources()}
DAY1 = date(2026, 9, 1)  # arranged dates; the offers are the bundled 2026-08-22 ones
DAY2 = DAY1 + timedelta(days=1)
GONE = DAY2 + timedelta(days=31)  # past the 30-day carry-forward: day-2-only sources have left


@pytest.fixture(scope="module")
def real_offers(replayed_warehouse) -> dict[str, pl.DataFrame]:
    """The bundled replay's offers by (source, real snapshot date)."""
    frame = read.query("SELECT * FROM offers", path=replayed_warehouse).select(list(OFFER_COLUMNS))
    return {f"{s}@{d}": frame.filter((pl.col("source") == s) & (pl.col("snapshot_date") == d))
            for s, d in frame.select("source", "snapshot_date").unique().iter_rows()}


def _load(warehouse: Warehouse, days: dict[date, list[pl.DataFrame]]) -> None:
    with warehouse.writer() as w:
        for day, frames in days.items():
            for offers in frames:
                source = offers["source"][0]
                arranged = offers.with_columns(snapshot_date=pl.lit(day, dtype=pl.Date))
                w.replace_offers(day, source, FinalizedOffers(
                    source, arranged.height, arranged, pl.DataFrame(schema=QUARANTINE_COLUMNS),
                    pl.DataFrame(schema={"rule": pl.String, "rows": pl.Int64})))


def _refresh(warehouse: Warehouse, days: list[date]) -> pl.DataFrame:
    with warehouse.writer() as w:
        for day in days:
            refresh_price_index(w, day, KINDS)
    warehouse.publish()
    return read.query("SELECT * FROM price_index_daily ORDER BY gpu, pricing, snapshot_date", path=warehouse.path)


def _by_day(index: pl.DataFrame, day: date) -> pl.DataFrame:
    return index.filter(pl.col("snapshot_date") == day).drop("snapshot_date")


def test_a_source_entering_moves_the_raw_index_not_the_chained_one(tmp_path, real_offers):
    sky, azure = real_offers["skypilot@2026-08-22"], real_offers["azure@2026-08-22"]
    warehouse = Warehouse(tmp_path / "w.duckdb")
    _load(warehouse, {DAY1: [sky], DAY2: [sky, azure], GONE: [sky]})
    index = _refresh(warehouse, [DAY1, DAY2, GONE])
    one, two, three = (_by_day(index, d) for d in (DAY1, DAY2, GONE))
    both = one.join(two, on=["gpu", "pricing"], suffix="_2").filter(
        pl.col("index_usd").is_not_null() & pl.col("index_usd_2").is_not_null()
    )
    moved = both.filter((pl.col("index_usd_2") / pl.col("index_usd") - 1).abs() > 1e-9)
    # Azure's entry really moves the raw index of some GPUs (else this test proves nothing) ...
    assert moved.height >= 1, "azure's entry moved no raw index: the test lost its subject"
    assert "H100-SXM-80GB" in moved["gpu"].to_list()
    # ... and none of them moves in the chained index: every matched skypilot price is unchanged.
    for row in both.iter_rows(named=True):
        assert row["chained_index_usd"] == pytest.approx(row["index_usd"], rel=1e-12)  # the anchor
        assert row["chained_index_usd_2"] == pytest.approx(row["chained_index_usd"], rel=1e-12), row["gpu"]
        assert row["link_factor_2"] == pytest.approx(1.0, rel=1e-12) and row["chain_basis_2"] == "linked"
    # Azure leaves again (31 days on): the raw index moves back, the chained one still does not.
    after = both.join(three, on=["gpu", "pricing"], suffix="_3").filter(pl.col("index_usd_3").is_not_null())
    assert after.height >= moved.height
    for row in after.iter_rows(named=True):
        assert row["index_usd_3"] == pytest.approx(row["index_usd"], rel=1e-12)
        assert row["chained_index_usd_3"] == pytest.approx(row["chained_index_usd"], rel=1e-12)


def test_real_price_changes_move_the_chain_by_the_matched_offers_geometric_mean(real_offers):
    """Azure's westeurope list on 2026-07-15 and 2026-08-01 (real dates): per GPU, the link is
    the geometric mean over providers of each provider's geometric mean price ratio."""
    before = offers_as_of(real_offers["azure@2026-07-15"], date(2026, 7, 15), KINDS)
    after = offers_as_of(real_offers["azure@2026-08-01"], date(2026, 8, 1), KINDS)
    links = build_index_links(before, after)
    key = ["source", "provider", "region", "instance_type", "pricing", "gpu"]
    pairs = after.join(before, on=key, suffix="_before")
    changed = links.filter((pl.col("link_factor") - 1).abs() > 1e-9)
    assert changed.height >= 1, "no real price change between the two azure days"
    for row in changed.iter_rows(named=True):
        matched = pairs.filter((pl.col("gpu") == row["gpu"]) & (pl.col("pricing") == row["pricing"]))
        ratios = [a / b for a, b in zip(matched["price_usd_per_gpu_hour"], matched["price_usd_per_gpu_hour_before"])]
        assert row["matched_offers"] == len(ratios) and row["matched_providers"] == 1  # azure alone
        assert row["link_factor"] == pytest.approx(math.exp(sum(map(math.log, ratios)) / len(ratios)), rel=1e-12)


def test_each_provider_counts_once_in_the_link(real_offers):
    """Azure's real changes (2026-07-15 -> 2026-08-01) beside GCP's list of 2026-07-30, the same
    on both days (as the carry-forward has it in the replay): the GPU's link is azure's link to
    the power 1 / providers matched, however many offers each provider has."""
    gcp = real_offers["cyclenerd@2026-07-30"]
    before = offers_as_of(pl.concat([real_offers["azure@2026-07-15"], gcp]), date(2026, 8, 1), KINDS)
    after = offers_as_of(pl.concat([real_offers["azure@2026-08-01"], gcp]), date(2026, 8, 1), KINDS)
    azure_only = build_index_links(
        before.filter(pl.col("source") == "azure"), after.filter(pl.col("source") == "azure")
    ).filter((pl.col("link_factor") - 1).abs() > 1e-9)
    mixed = build_index_links(before, after).join(azure_only, on=["gpu", "pricing"], suffix="_azure")
    shared = mixed.filter(pl.col("matched_providers") > 1)
    assert shared.height >= 1, "no GPU with an azure price change is also quoted by GCP"
    for row in mixed.iter_rows(named=True):
        expected = row["link_factor_azure"] ** (1 / row["matched_providers"])
        assert row["link_factor"] == pytest.approx(expected, rel=1e-12), row["gpu"]


def test_no_matched_offer_carries_the_level_and_says_so(tmp_path, real_offers):
    """Day 1: skypilot and azure (H100 published). 31 days on only GCP's list (cyclenerd) is in
    the market: no H100 offer of day 1 is matched, so the level is carried and flagged."""
    warehouse = Warehouse(tmp_path / "w.duckdb")
    _load(warehouse, {DAY1: [real_offers["skypilot@2026-08-22"], real_offers["azure@2026-08-22"]],
                      GONE: [real_offers["cyclenerd@2026-07-30"]]})
    index = _refresh(warehouse, [DAY1, GONE])
    h100 = index.filter((pl.col("gpu") == "H100-SXM-80GB") & (pl.col("pricing") == "on_demand"))
    anchor, last = h100.row(0, named=True), h100.row(-1, named=True)
    assert anchor["snapshot_date"] == DAY1 and anchor["chain_basis"] == "anchor"
    assert last["snapshot_date"] == GONE and last["matched_offers"] == 0
    assert last["link_factor"] is None and last["link_note"] == NO_MATCHED_OFFERS
    assert last["chain_basis"] == "carried"
    assert last["chained_index_usd"] == pytest.approx(anchor["chained_index_usd"], rel=1e-12)


def test_refreshing_a_day_out_of_order_gives_the_same_chain(tmp_path, real_offers):
    """Re-running a day is idempotent and order does not matter: refreshing day 2 after day 3
    rewrites day 3's link to day 2, and the chained levels equal an in-order rebuild's."""
    days = {date(2026, 7, 15): [real_offers["azure@2026-07-15"]], date(2026, 7, 30): [real_offers["cyclenerd@2026-07-30"]],
            date(2026, 8, 1): [real_offers["azure@2026-08-01"]],
            date(2026, 8, 22): [real_offers["azure@2026-08-22"], real_offers["skypilot@2026-08-22"]]}
    shuffled, ordered = Warehouse(tmp_path / "a.duckdb"), Warehouse(tmp_path / "b.duckdb")
    _load(shuffled, days)
    _load(ordered, days)
    out_of_order = _refresh(shuffled, [date(2026, 8, 22), date(2026, 7, 15), date(2026, 8, 1), date(2026, 7, 30),
                                       date(2026, 8, 1)])
    with ordered.writer() as w:
        assert refresh_all_price_index(w, KINDS) == 4
    ordered.publish()
    in_order = read.query("SELECT * FROM price_index_daily ORDER BY gpu, pricing, snapshot_date", path=ordered.path)
    assert out_of_order.height == in_order.height > 0
    assert out_of_order["chained_index_usd"].drop_nulls().len() > 0
    assert out_of_order.equals(in_order)
