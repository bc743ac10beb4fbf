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
CHAIN_LINK_COLUMNS = ["previous_index_date", "matched_offers", "matched_providers", "link_factor", "link_note"]
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


# -- the interval layout answers exactly what the per-day layout answered ---------------------
#
# The reference below is today's per-day layout, kept here: one full row per offer and day in a
# plain `offers` table (replace = delete the day, insert its rows), cost metrics built per day,
# and the views' SQL as it was. Both are fed the same real offers (the bundled snapshot's, read
# from the replayed warehouse) and day sequences made from them: price changes, gaps, re-runs,
# a re-parse of a middle day, a day removed, a day inserted between two others.

KEY = ["snapshot_date", "source", "provider", "region", "instance_type", "pricing"]

PER_DAY_VIEWS = """
CREATE TABLE source_cadence AS SELECT * FROM wanted_cadence;
CREATE MACRO offers_as_of(day) AS TABLE
WITH newest AS (
    SELECT source, max(snapshot_date) AS snapshot_date
    FROM (SELECT DISTINCT source, snapshot_date FROM offers)
    WHERE snapshot_date <= CAST(day AS DATE) GROUP BY source
), current_days AS (
    SELECT n.source, n.snapshot_date FROM newest n
    LEFT JOIN source_cadence c ON c.source = n.source
    CROSS JOIN (SELECT max_age_days FROM source_cadence WHERE source = '*') any_source
    WHERE CAST(day AS DATE) - n.snapshot_date
          <= CASE WHEN c.source IS NULL THEN any_source.max_age_days ELSE c.max_age_days END
)
SELECT o.*, o.gpu AS canonical_gpu FROM offers o JOIN current_days USING (source, snapshot_date);
CREATE VIEW latest_offers AS SELECT * FROM offers_as_of((SELECT max(snapshot_date) FROM offers));
CREATE VIEW offers_history AS
SELECT o.*,
    lag(o.price_usd_per_hour) OVER offer_days AS previous_price_usd_per_hour,
    lag(o.snapshot_date) OVER offer_days AS previous_snapshot_date,
    false AS backfilled  -- the data compared here is never a backfill
FROM offers o
WINDOW offer_days AS (PARTITION BY o.source, o.provider, o.region, o.instance_type, o.pricing ORDER BY o.snapshot_date);
CREATE VIEW price_changes AS
SELECT snapshot_date AS changed_on, previous_snapshot_date,
    source, provider, region, instance_type, gpu, gpu_count, pricing,
    previous_price_usd_per_hour AS old_price_usd_per_hour, price_usd_per_hour AS new_price_usd_per_hour,
    round(100 * (price_usd_per_hour / previous_price_usd_per_hour - 1), 2) AS change_pct
FROM offers_history
WHERE previous_price_usd_per_hour IS NOT NULL AND price_usd_per_hour <> previous_price_usd_per_hour;
CREATE VIEW gpu_cost_metrics AS
WITH latest AS (
    SELECT DISTINCT source, snapshot_date FROM latest_offers
), headline AS (
    SELECT m.*,
           row_number() OVER (
               PARTITION BY m.snapshot_date, m.source, m.provider, m.region, m.instance_type, m.pricing
               ORDER BY CASE m.precision WHEN 'bf16' THEN 0 ELSE 1 END
           ) AS rn
    FROM cost_metrics m
    JOIN latest USING (source, snapshot_date)
    WHERE m.precision IN ('bf16', 'fp16')
)
SELECT
    h.snapshot_date, h.source, h.provider, h.region, h.instance_type, h.pricing, h.gpu,
    h.gpu_count, h.precision, h.price_usd_per_hour, h.price_usd_per_gpu_hour, h.dense_tflops,
    h.utilisation, h.scaling_efficiency, h.effective_tflops, h.usd_per_effective_tflop_hour,
    h.usd_per_exaflop, h.usd_per_gb_hour,
    s.vendor, s.form_factor, s.interconnect, coalesce(o.gpu_memory_gb, s.memory_gb) AS gpu_memory_gb,
    s.launch_date, h.source_url, o.observed_at
FROM headline h
LEFT JOIN gpu_specs s USING (gpu)
LEFT JOIN offers o USING (snapshot_date, source, provider, region, instance_type, pricing)
WHERE h.rn = 1
  AND h.effective_tflops IS NOT NULL
  AND h.usd_per_effective_tflop_hour IS NOT NULL;
"""

COMPARED = {
    "offers": KEY,
    "offers_history": KEY,
    "price_changes": ["changed_on", "source", "provider", "region", "instance_type", "pricing"],
    "latest_offers": KEY,
    "cost_metrics": [*KEY, "precision"],
    "price_index": ["snapshot_date", "gpu", "pricing"],
    "gpu_cost_metrics": KEY,
}


class PerDayLayout:
    """Today's layout, for comparison: a full copy of every offer on every day."""

    def __init__(self, specs: pl.DataFrame, assumptions: pl.DataFrame) -> None:
        import duckdb

        from connectors.registry import DAILY_MAX_AGE_DAYS, all_sources, max_age_days
        from warehouse.schema import ANY_SOURCE, MIGRATIONS

        self.con = duckdb.connect()
        for ddl in MIGRATIONS[:4]:
            self.con.execute(ddl)
        cadence = pl.DataFrame(
            [(s.id, s.kind, max_age_days(s)) for s in all_sources()] + [(ANY_SOURCE, None, DAILY_MAX_AGE_DAYS)],
            schema={"source": pl.String, "kind": pl.String, "max_age_days": pl.Int32}, orient="row",
        )
        self.con.register("wanted_cadence", cadence)
        self.con.register("specs", specs)
        self.con.execute("INSERT INTO gpu_specs BY NAME SELECT * FROM specs")
        self.con.execute(PER_DAY_VIEWS)
        self.specs, self.assumptions = specs, assumptions

    def replace(self, day: date, source: str, offers: pl.DataFrame) -> None:
        from warehouse.transforms import build_cost_metrics

        self.con.execute("DELETE FROM offers WHERE snapshot_date = ? AND source = ?", [day, source])
        self.con.register("incoming", offers)
        self.con.execute("INSERT INTO offers BY NAME SELECT * FROM incoming")
        self.con.unregister("incoming")
        day_offers = self.con.sql("SELECT * FROM offers WHERE snapshot_date = $d", params={"d": day}).pl()
        self.con.execute("DELETE FROM cost_metrics WHERE snapshot_date = ?", [day])
        self.con.register("incoming", build_cost_metrics(day_offers, self.specs, self.assumptions))
        self.con.execute("INSERT INTO cost_metrics BY NAME SELECT * FROM incoming")
        self.con.unregister("incoming")

    def index(self, day: date) -> pl.DataFrame:
        from costmodel.offers import one_quote_per_offer
        from warehouse.transforms import build_price_index

        current = self.con.sql("SELECT * EXCLUDE (canonical_gpu) FROM offers_as_of($d)", params={"d": day}).pl()
        return build_price_index(one_quote_per_offer(current, KINDS), day)

    def answers(self, days: list[date]) -> dict[str, pl.DataFrame]:
        found = {name: self.con.sql(f"SELECT * FROM {name}").pl() for name in COMPARED if name != "price_index"}
        found["price_index"] = pl.concat([self.index(d) for d in days]).drop(CHAIN_LINK_COLUMNS, strict=False)
        return found


def runs_of_identical_offers(per_day: PerDayLayout) -> int:
    """How many intervals the per-day rows imply: runs of an offer with identical values on
    consecutive snapshot days of its source (what a minimal interval table holds)."""
    from warehouse.store import OFFER_KEY_COLUMNS, OFFER_VALUE_COLUMNS

    offers = per_day.con.sql("SELECT * FROM offers").pl()
    day_no = (offers.select("source", "snapshot_date").unique().sort("snapshot_date")
              .with_columns(day_no=pl.int_range(pl.len()).over("source")))
    same = [*OFFER_KEY_COLUMNS, *OFFER_VALUE_COLUMNS]
    runs = (offers.join(day_no, on=["source", "snapshot_date"]).sort("snapshot_date")
            .with_columns(run=pl.col("day_no") - pl.int_range(pl.len()).over(same)))
    return runs.select(*same, "run").unique().height


def interval_answers(warehouse: Warehouse, days: list[date]) -> dict[str, pl.DataFrame]:
    with warehouse.writer() as w:
        for day in days:
            refresh_price_index(w, day, KINDS)
        found = {name: w.con.sql(f"SELECT * FROM {name}").pl() for name in COMPARED}
        # offers_history also carries market-level quotes (migration 7), which the per-day
        # layout never had: its offers are the rows with price_basis 'offer'.
        found["offers_history"] = w.con.sql(
            "SELECT * EXCLUDE (price_basis, quotes) FROM offers_history WHERE price_basis = 'offer'").pl()
    # The chain links (migration 6) compare a day with the one before; the per-day reference
    # builds the index's own columns, and tests/test_price_index_chain.py tests the links.
    found["price_index"] = found["price_index"].drop(CHAIN_LINK_COLUMNS)
    return found


def assert_same_answers(intervals: dict[str, pl.DataFrame], per_day: dict[str, pl.DataFrame]) -> None:
    for name, key in COMPARED.items():
        got, want = intervals[name], per_day[name]
        assert got.columns == want.columns, f"{name}: columns differ"
        assert want.height > 0, f"{name}: the reference is empty, the comparison would prove nothing"
        got, want = got.sort(key), want.sort(key)
        assert got.equals(want), (
            f"{name}: {got.join(want, on=got.columns, how='anti', nulls_equal=True).height} row(s) only in the "
            f"interval layout, {want.join(got, on=got.columns, how='anti', nulls_equal=True).height} only per day"
        )


@pytest.fixture(scope="module")
def real_days(replayed_warehouse) -> dict[tuple[str, date], pl.DataFrame]:
    """Every (source, day) of real offers the bundled snapshot lands."""
    from market.offer import OFFER_COLUMNS

    offers = read.query("SELECT * FROM offers", path=replayed_warehouse).select(list(OFFER_COLUMNS))
    return {(s, d): part for (s, d), part in offers.partition_by(["source", "snapshot_date"], as_dict=True).items()}


@pytest.fixture(scope="module")
def reference_tables(replayed_warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (read.query("SELECT * FROM gpu_specs", path=replayed_warehouse),
            read.query("SELECT * FROM assumptions", path=replayed_warehouse))


def both_layouts(tmp_path, reference_tables, steps) -> tuple[Warehouse, PerDayLayout]:
    """Feed both layouts the same (day, source, offers) steps, refreshing cost metrics after
    each as the daily job does."""
    from warehouse.derived import refresh_cost_metrics
    from warehouse.specs import load_reference_tables

    specs, assumptions = reference_tables
    warehouse, per_day = Warehouse(tmp_path / "w.duckdb"), PerDayLayout(specs, assumptions)
    with warehouse.writer() as w:
        load_reference_tables(w)
        for day, source, offers in steps:
            w.replace_offers(day, source, finalized(source, offers.to_dicts()))
            refresh_cost_metrics(w, day)
            per_day.replace(day, source, offers)
    return warehouse, per_day


def on_day(offers: pl.DataFrame, day: date) -> pl.DataFrame:
    """Real offers re-dated to another snapshot day (as if that day's fetch returned them)."""
    fetched = datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc)
    return offers.with_columns(snapshot_date=pl.lit(day), observed_at=pl.lit(fetched).cast(offers["observed_at"].dtype))


def repriced(offers: pl.DataFrame, every: int, factor: float) -> pl.DataFrame:
    """Every `every`-th offer's price times `factor` (a synthetic price change on real rows)."""
    hit = (pl.int_range(pl.len()) % every) == 0
    return offers.with_columns(
        price_usd_per_hour=pl.when(hit).then(pl.col("price_usd_per_hour") * factor).otherwise(pl.col("price_usd_per_hour")),
        price_usd_per_gpu_hour=pl.when(hit).then(pl.col("price_usd_per_gpu_hour") * factor)
        .otherwise(pl.col("price_usd_per_gpu_hour")),
    )


def without_some(offers: pl.DataFrame, every: int) -> pl.DataFrame:
    return offers.filter((pl.int_range(pl.len()) % every) != 1)


def snapshot_days(per_day: PerDayLayout) -> list[date]:
    return [r[0] for r in per_day.con.sql("SELECT DISTINCT snapshot_date FROM offers ORDER BY 1").fetchall()]


def test_the_bundled_replay_gives_the_same_answers_in_both_layouts(tmp_path, real_days, reference_tables):
    steps = [(d, s, offers) for (s, d), offers in sorted(real_days.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
    warehouse, per_day = both_layouts(tmp_path, reference_tables, steps)
    days = snapshot_days(per_day)
    assert_same_answers(interval_answers(warehouse, days), per_day.answers(days))
    with warehouse.writer() as w:
        assert w.con.sql("SELECT count(*) FROM offer_intervals").fetchall()[0][0] == runs_of_identical_offers(per_day)


def test_changes_gaps_reruns_and_a_middle_reparse_give_the_same_answers(tmp_path, real_days, reference_tables):
    sky = real_days[("skypilot", date(2026, 8, 22))]
    azure = real_days[("azure", date(2026, 8, 22))]
    d = [date(2026, 9, n) for n in range(1, 11)]
    # a few rows fetched later than the rest of their response: the exceptions table's case
    late = on_day(sky, d[3]).with_columns(
        observed_at=pl.when(pl.int_range(pl.len()) % 50 == 0)
        .then(pl.col("observed_at") + pl.duration(hours=1)).otherwise(pl.col("observed_at"))
    )
    steps = [
        (d[0], "skypilot", on_day(sky, d[0])),
        (d[0], "azure", on_day(azure, d[0])),
        (d[1], "skypilot", on_day(repriced(sky, 30, 1.1), d[1])),         # 3% of prices change
        (d[2], "skypilot", on_day(without_some(repriced(sky, 30, 1.1), 20), d[2])),  # 5% missing: a gap
        (d[3], "skypilot", late),                                         # back, old prices again
        (d[3], "azure", on_day(repriced(azure, 10, 0.9), d[3])),
        (d[5], "skypilot", on_day(repriced(sky, 7, 1.05), d[5])),
        (d[5], "skypilot", on_day(repriced(sky, 7, 1.05), d[5])),         # re-run, same rows
        (d[2], "skypilot", on_day(repriced(sky, 30, 1.1), d[2])),         # re-parse a middle day: gap filled
        (d[3], "skypilot", on_day(repriced(sky, 13, 1.2), d[3])),         # re-parse: a middle split
        (d[1], "skypilot", on_day(sky.head(0), d[1])),                    # a day left with no offers
        (d[4], "skypilot", on_day(sky, d[4])),                            # a day between two others
        (d[9], "skypilot", on_day(sky, d[9])),                            # azure is 6 days old now
    ]
    warehouse, per_day = both_layouts(tmp_path, reference_tables, steps)
    days = snapshot_days(per_day)
    assert_same_answers(interval_answers(warehouse, days), per_day.answers(days))
    with warehouse.writer() as w:
        assert w.con.sql("SELECT count(*) FROM offer_intervals").fetchall()[0][0] == runs_of_identical_offers(per_day)
    with warehouse.writer() as w:  # and no interval is cut where nothing changed
        assert w.con.sql("SELECT count(*) FROM offer_intervals").fetchall()[0][0] == runs_of_identical_offers(per_day)
    warehouse.publish()
    latest_sources = set(read.query("SELECT DISTINCT source FROM latest_offers", path=warehouse.path)["source"])
    assert latest_sources == {"skypilot"}


def test_rerunning_every_day_changes_no_interval(tmp_path, real_days, reference_tables):
    sky = real_days[("skypilot", date(2026, 8, 22))]
    d = [date(2026, 9, n) for n in range(1, 6)]
    versions = [sky, repriced(sky, 30, 1.1), without_some(sky, 20), sky, repriced(sky, 9, 0.8)]
    steps = [(day, "skypilot", on_day(v, day)) for day, v in zip(d, versions)]
    warehouse, _ = both_layouts(tmp_path, reference_tables, steps)
    tables = ("offer_intervals", "cost_metric_intervals", "source_snapshots", "offer_observations")

    def state() -> dict[str, pl.DataFrame]:
        with warehouse.writer() as w:
            return {t: w.con.sql(f"SELECT * FROM {t} ORDER BY ALL").pl() for t in tables}

    before = state()
    assert before["offer_intervals"].height < sky.height * len(d)  # intervals, not day copies
    from warehouse.derived import refresh_cost_metrics

    with warehouse.writer() as w:
        for day, source, offers in [*steps[2:], *steps[:2]]:  # middle days first
            w.replace_offers(day, source, finalized(source, offers.to_dicts()))
            refresh_cost_metrics(w, day)
    after = state()
    for t in tables:
        drop = ["interval_id"] if "interval_id" in after[t].columns else []
        assert after[t].drop(drop).sort(pl.all()).equals(before[t].drop(drop).sort(pl.all())), t


def test_a_per_day_warehouse_migrates_to_the_same_answers(tmp_path, real_days, reference_tables):
    import duckdb

    from warehouse.schema import MIGRATIONS, migrate
    from warehouse.specs import load_reference_tables

    specs, assumptions = reference_tables
    per_day = PerDayLayout(specs, assumptions)
    sky = real_days[("skypilot", date(2026, 8, 22))]
    d = [date(2026, 9, n) for n in range(1, 5)]
    for day, version in zip(d, [sky, repriced(sky, 30, 1.1), without_some(sky, 20), sky]):
        per_day.replace(day, "skypilot", on_day(version, day))
    for (source, day), offers in real_days.items():
        per_day.replace(day, source, offers)
    # a warehouse at schema 4 (the per-day tables), holding the same rows
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
    for number, ddl in enumerate(MIGRATIONS[:4], start=1):
        con.execute(ddl)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
    for table in ("offers", "cost_metrics"):
        con.register("rows", per_day.con.sql(f"SELECT * FROM {table}").pl())
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM rows")
        con.unregister("rows")
    assert migrate(con) == len(MIGRATIONS)
    con.close()
    warehouse = Warehouse(path)
    with warehouse.writer() as w:
        load_reference_tables(w)
    days = snapshot_days(per_day)
    assert_same_answers(interval_answers(warehouse, days), per_day.answers(days))
    with warehouse.writer() as w:
        assert w.con.sql("SELECT count(*) FROM offer_intervals").fetchall()[0][0] == runs_of_identical_offers(per_day)


def test_the_history_reads_are_bounded_and_say_how_much_matched(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    days = [TODAY - timedelta(days=n) for n in range(4, -1, -1)]
    with warehouse.writer() as w:
        for n, day in enumerate(days):  # three offers, each repriced every day: 3 x 4 changes
            rows = [hand_made_row("lambda", day, "lambda", 2.0 + n + k, instance_type=f"gpu.{k}x") for k in range(3)]
            w.replace_offers(day, "lambda", finalized("lambda", rows))
    warehouse.publish()
    page, total = read.change_log(limit=5, path=warehouse.path)
    assert (page.height, total) == (5, 12)
    assert page["changed_on"].to_list() == [TODAY] * 3 + [days[3]] * 2  # newest first
    recent, total = read.change_log(since=days[3], path=warehouse.path)
    assert (recent.height, total) == (6, 6)
    none, total = read.change_log(gpu="no-such-gpu", path=warehouse.path)
    assert (none.height, total) == (0, 0)
    one, total = read.change_log(gpu="H100-SXM-80GB", until=days[1], path=warehouse.path)
    assert (one.height, total) == (3, 3) and set(one["changed_on"]) == {days[1]}
    runs = read.offer_price_history("lambda", "lambda", "r1", "gpu.0x", "on_demand", since=days[2], path=warehouse.path)
    assert runs.select("valid_from", "price_usd_per_hour").rows() == [(days[2], 4.0), (days[3], 5.0), (days[4], 6.0)]
    catalog = read.offer_catalog("H100-SXM-80GB", warehouse.path)
    assert catalog.select("instance_type", "days", "moved").sort("instance_type").rows() == [
        ("gpu.0x", 5, True), ("gpu.1x", 5, True), ("gpu.2x", 5, True)]
    assert read.snapshot_days(warehouse.path) == days[::-1]
