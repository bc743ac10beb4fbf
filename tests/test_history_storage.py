"""History, as of a day: `offers_as_of(day)` is the one way to ask what the market looked like,
and a source that stopped reporting must not pass as current.

Why: old OCI prices from 2024 used to feed today's latest offers and the price index, because
"latest" meant each source's newest day however old. The as-of rule applies each source's
cadence (connectors.registry); these tests pin it on the SQL views and on the index, which
reads the same macro. Rows here are hand-made (labelled so in the code), shaped like real ones.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS
from market.rules import FinalizedOffers
from warehouse import read
from warehouse.derived import refresh_price_index
from warehouse.store import Warehouse

TODAY = date(2026, 8, 22)
KINDS = {"azure": "direct", "lambda": "direct", "oci": "direct", "skypilot": "aggregator", "cyclenerd": "aggregator"}


def hand_made_row(source: str, day: date, provider: str, price: float, instance_type: str = "gpu.1x") -> dict:
    """A hand-made offer row (not real data; never leaves this test)."""
    return {
        "snapshot_date": day, "source": source, "provider": provider, "region": "r1",
        "instance_type": instance_type, "gpu": "H100-SXM-80GB", "gpu_name_raw": "H100", "gpu_count": 1.0,
        "gpu_memory_gb": 80.0, "vcpus": None, "ram_gb": None, "pricing": "on_demand",
        "price_usd_per_hour": price, "price_usd_per_gpu_hour": price, "currency": "USD",
        "price_original": price, "spot_is_estimate": False, "source_url": f"https://example.test/{source}",
        "observed_at": datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc), "raw_response_id": f"{source}-{day}",
    }


def finalized(source: str, rows: list[dict]) -> FinalizedOffers:
    return FinalizedOffers(source, len(rows), pl.DataFrame(rows, schema=OFFER_COLUMNS),
                           pl.DataFrame(schema=QUARANTINE_COLUMNS),
                           pl.DataFrame(schema={"rule": pl.String, "rows": pl.Int64}))


@pytest.fixture
def market_with_a_stale_source(tmp_path) -> Warehouse:
    """azure and lambda report today; skypilot 3 days ago (within a daily cadence); cyclenerd
    8 days ago (within its weekly cadence); oci last reported in 2024, like the real OCI file."""
    warehouse = Warehouse(tmp_path / "w.duckdb")
    landed = [
        ("oci", date(2024, 5, 1), "oci", 9.0),
        ("skypilot", TODAY - timedelta(days=3), "vast", 3.0),
        ("skypilot", TODAY - timedelta(days=4), "vast", 3.5),
        ("cyclenerd", TODAY - timedelta(days=8), "gcp", 5.0),
        ("azure", TODAY, "azure", 4.0),
        ("lambda", TODAY, "lambda", 2.0),
    ]
    with warehouse.writer() as w:
        for source, day, provider, price in landed:
            w.replace_offers(day, source, finalized(source, [hand_made_row(source, day, provider, price)]))
        refresh_price_index(w, TODAY, KINDS)
    warehouse.publish()
    return warehouse


def test_a_source_last_seen_in_2024_drops_out_of_latest_offers_but_stays_in_history(market_with_a_stale_source):
    path = market_with_a_stale_source.path
    latest = read.query("SELECT source, snapshot_date FROM latest_offers ORDER BY source", path=path)
    assert latest.to_dicts() == [
        {"source": "azure", "snapshot_date": TODAY},
        {"source": "cyclenerd", "snapshot_date": TODAY - timedelta(days=8)},
        {"source": "lambda", "snapshot_date": TODAY},
        {"source": "skypilot", "snapshot_date": TODAY - timedelta(days=3)},
    ]
    history = read.query("SELECT snapshot_date, price_usd_per_hour FROM offers_history WHERE source = 'oci'", path=path)
    assert history.to_dicts() == [{"snapshot_date": date(2024, 5, 1), "price_usd_per_hour": 9.0}]


def test_the_price_index_uses_the_same_rule(market_with_a_stale_source):
    index = read.query("SELECT offers, providers, min_usd FROM price_index WHERE snapshot_date = $d",
                       {"d": TODAY}, path=market_with_a_stale_source.path).row(0, named=True)
    # azure, lambda, vast (skypilot) and gcp (cyclenerd); oci's 9.0 from 2024 is not there
    assert index == {"offers": 4, "providers": 4, "min_usd": 2.0}


def test_offers_as_of_a_past_day_sees_the_market_of_that_day(market_with_a_stale_source):
    path = market_with_a_stale_source.path
    on = read.query("SELECT source, price_usd_per_hour FROM offers_as_of(DATE '2024-05-03')", path=path)
    assert on.to_dicts() == [{"source": "oci", "price_usd_per_hour": 9.0}]
    assert read.query("SELECT * FROM offers_as_of(DATE '2024-05-05')", path=path).is_empty()  # 4 days > 3
    skypilot = read.query(
        "SELECT snapshot_date, price_usd_per_hour FROM offers_as_of($d) WHERE source = 'skypilot'",
        {"d": TODAY - timedelta(days=4)}, path=path,
    )
    assert skypilot.to_dicts() == [{"snapshot_date": TODAY - timedelta(days=4), "price_usd_per_hour": 3.5}]


def test_offers_as_of_has_the_columns_of_latest_offers(market_with_a_stale_source):
    path = market_with_a_stale_source.path
    as_of = read.query("SELECT * FROM offers_as_of($d)", {"d": TODAY}, path=path)
    latest = read.query("SELECT * FROM latest_offers", path=path)
    assert as_of.columns == latest.columns and as_of.columns[-1] == "canonical_gpu"
    assert as_of.sort("source").equals(latest.sort("source"))


def test_a_direct_quote_beats_the_aggregator_copy_in_the_index(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with warehouse.writer() as w:
        w.replace_offers(TODAY, "azure", finalized("azure", [hand_made_row("azure", TODAY, "azure", 4.0)]))
        w.replace_offers(TODAY, "skypilot", finalized("skypilot", [hand_made_row("skypilot", TODAY, "azure", 5.0)]))
        index = refresh_price_index(w, TODAY, KINDS)
    assert index.select("offers", "min_usd").row(0) == (1, 4.0)
