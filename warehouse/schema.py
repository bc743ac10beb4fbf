"""DuckDB schema: numbered migrations for tables, plus views re-created when they change.

Tables change only through a new entry in MIGRATIONS (never by editing an applied one); the
`schema_version` table records which have run. Views live in `views.sql` and `views_*.sql`;
the writer re-creates them when their text or the schema version differs from what the file
records in `view_definitions`, so improving a view needs no migration and an unchanged
warehouse opens without re-defining anything.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import duckdb

MIGRATIONS: list[str] = [
    # 1: the spine
    """
    CREATE TABLE raw_responses (
        id VARCHAR NOT NULL,            -- RawResponse.id: same request + same bytes, same id
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        url VARCHAR NOT NULL,           -- secrets redacted
        status INTEGER NOT NULL,
        fetched_at TIMESTAMPTZ NOT NULL,
        content_type VARCHAR,
        sha256 VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        body_file VARCHAR NOT NULL,     -- gzip file in the content store beside the database
        request_body VARCHAR,
        archived_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (snapshot_date, id)
    );
    CREATE TABLE ingest_runs (
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        status VARCHAR NOT NULL,        -- ok | failed | skipped | running
        stage VARCHAR,                  -- fetch | parse | write, where it stopped
        mode VARCHAR,                   -- live | replay | record
        run_id VARCHAR,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        responses INTEGER,
        offers_written INTEGER,
        quarantined INTEGER,
        message VARCHAR,                -- the failure reason, or why it was skipped
        good_raw_ids VARCHAR[],         -- responses of the latest successful fetch (re-parse input)
        last_success_at TIMESTAMPTZ,
        PRIMARY KEY (snapshot_date, source)
    );
    CREATE TABLE offers (
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        provider VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        instance_type VARCHAR NOT NULL,
        gpu VARCHAR,
        gpu_name_raw VARCHAR,
        gpu_count DOUBLE,
        gpu_memory_gb DOUBLE,
        vcpus DOUBLE,
        ram_gb DOUBLE,
        pricing VARCHAR NOT NULL,
        price_usd_per_hour DOUBLE NOT NULL,
        price_usd_per_gpu_hour DOUBLE NOT NULL,
        currency VARCHAR NOT NULL,
        price_original DOUBLE NOT NULL,
        spot_is_estimate BOOLEAN NOT NULL,
        source_url VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        raw_response_id VARCHAR NOT NULL,
        PRIMARY KEY (snapshot_date, source, provider, region, instance_type, pricing)
    );
    CREATE TABLE quarantined_offers AS SELECT *, ''::VARCHAR AS reason FROM offers LIMIT 0;
    """,
    # 2: specs, names, assumptions, and the derived metrics
    """
    CREATE TABLE gpu_specs (
        gpu VARCHAR PRIMARY KEY,        -- canonical id, e.g. H100-SXM-80GB
        vendor VARCHAR NOT NULL,
        name VARCHAR NOT NULL,          -- display name
        architecture VARCHAR,
        form_factor VARCHAR,            -- SXM | PCIe | NVL | OAM | TPU | ...
        memory_gb DOUBLE,
        memory_bandwidth_tbs DOUBLE,
        fp64_tflops DOUBLE,             -- every *_tflops column is DENSE (no sparsity)
        fp32_tflops DOUBLE,
        tf32_tflops DOUBLE,
        bf16_tflops DOUBLE,
        fp16_tflops DOUBLE,
        fp8_tflops DOUBLE,
        fp4_tflops DOUBLE,
        int8_tops DOUBLE,
        tdp_w DOUBLE,
        interconnect VARCHAR,           -- nvlink | nvswitch | pcie | infinity-fabric | ici | ...
        interconnect_gbs DOUBLE,        -- per-GPU bandwidth of that link, GB/s
        launch_date DATE,
        source_url VARCHAR NOT NULL,
        notes VARCHAR,
        loaded_at TIMESTAMPTZ
    );
    CREATE TABLE gpu_aliases (
        alias VARCHAR PRIMARY KEY,      -- normalised name as seen in the wild
        gpu VARCHAR,                    -- canonical id; NULL = seen but unmapped
        seen_in VARCHAR,                -- where the alias comes from (source id or 'curated')
        first_seen DATE,
        last_seen DATE
    );
    CREATE TABLE external_specs (     -- a specs source's figures (e.g. Epoch AI), as published
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        gpu VARCHAR,                    -- canonical id when the name maps
        name_raw VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,        -- column name in gpu_specs, e.g. bf16_tflops
        value DOUBLE,
        source_url VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ,
        raw_response_id VARCHAR,
        PRIMARY KEY (snapshot_date, source, name_raw, metric)
    );
    CREATE TABLE assumptions (        -- utilisation (MFU) and scaling efficiency, overridable
        kind VARCHAR NOT NULL,          -- utilisation | scaling
        gpu_class VARCHAR NOT NULL,     -- datacenter | workstation | consumer | tpu | '*'
        precision VARCHAR NOT NULL,     -- bf16 | fp8 | ... | '*'
        interconnect VARCHAR NOT NULL,  -- nvlink | pcie | ... | '*'
        min_gpus DOUBLE NOT NULL,
        max_gpus DOUBLE NOT NULL,
        value DOUBLE NOT NULL,
        source_url VARCHAR NOT NULL,
        note VARCHAR,
        overridden BOOLEAN DEFAULT false,
        PRIMARY KEY (kind, gpu_class, precision, interconnect, min_gpus)
    );
    CREATE TABLE cost_metrics (       -- one row per offer, day and precision
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        provider VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        instance_type VARCHAR NOT NULL,
        pricing VARCHAR NOT NULL,
        gpu VARCHAR NOT NULL,
        gpu_count DOUBLE,
        precision VARCHAR NOT NULL,
        price_usd_per_hour DOUBLE,
        price_usd_per_gpu_hour DOUBLE,
        dense_tflops DOUBLE,
        utilisation DOUBLE,
        scaling_efficiency DOUBLE,
        effective_tflops DOUBLE,        -- per GPU
        usd_per_effective_tflop_hour DOUBLE,
        usd_per_exaflop DOUBLE,         -- dollars per 1e18 useful FLOPs
        usd_per_gb_hour DOUBLE,         -- per GB of accelerator memory per hour
        source_url VARCHAR,
        PRIMARY KEY (snapshot_date, source, provider, region, instance_type, pricing, precision)
    );
    CREATE TABLE price_index (
        snapshot_date DATE NOT NULL,
        gpu VARCHAR NOT NULL,
        pricing VARCHAR NOT NULL,
        offers INTEGER NOT NULL,
        providers INTEGER NOT NULL,
        min_usd DOUBLE,
        p10_usd DOUBLE,
        median_usd DOUBLE,
        p90_usd DOUBLE,
        index_usd DOUBLE,               -- median of per-provider medians; NULL when withheld
        withheld_reason VARCHAR,
        PRIMARY KEY (snapshot_date, gpu, pricing)
    );
    """,
    # 3: the assumption table keyed by GPU generation, precision and model size, each row citing
    # the published run it comes from (costmodel.assumptions). The old rows (GPU class x
    # interconnect x GPU count) have no meaning in the new shape, overrides included, so the
    # table is rebuilt; the next reference load fills the curated defaults.
    """
    DROP TABLE assumptions;
    CREATE TABLE assumptions (
        kind VARCHAR NOT NULL,          -- training_mfu | mfu_scale_per_doubling | serve_*
        generation VARCHAR NOT NULL,    -- gpu_specs.architecture lower-cased, or '*'
        precision VARCHAR NOT NULL,     -- bf16 | fp16 | fp8 | ... | '*'
        model_params DOUBLE,            -- active parameters of the run a training_mfu row measured
        measured_gpus DOUBLE,           -- GPUs that run used; extrapolation starts beyond it
        value DOUBLE NOT NULL,          -- a fraction, or the factor on a borrowed value
        same_as_generation VARCHAR,     -- borrowing rows: whose value they take
        same_as_precision VARCHAR,
        source_run VARCHAR,
        source_url VARCHAR NOT NULL,
        note VARCHAR,
        overridden BOOLEAN DEFAULT false
    );
    """,
    # 4: GPU identity on every offer, and every source row accounted for
    """
    ALTER TABLE offers ADD COLUMN identity_basis VARCHAR;       -- instance table | row evidence | name default
    ALTER TABLE offers ADD COLUMN identity_note VARCHAR;        -- how we know the GPU; what was corrected
    ALTER TABLE offers ADD COLUMN underlying_provider VARCHAR;  -- resellers: the cloud behind the offer
    ALTER TABLE quarantined_offers ADD COLUMN identity_basis VARCHAR;
    ALTER TABLE quarantined_offers ADD COLUMN identity_note VARCHAR;
    ALTER TABLE quarantined_offers ADD COLUMN underlying_provider VARCHAR;
    ALTER TABLE quarantined_offers ADD COLUMN outcome VARCHAR DEFAULT 'quarantined';  -- quarantined | unmapped
    ALTER TABLE quarantined_offers ADD COLUMN row_ref VARCHAR;  -- where in the response the row was
    ALTER TABLE ingest_runs ADD COLUMN rows_read INTEGER;       -- = offers_written + quarantined + unmapped + excluded
    ALTER TABLE ingest_runs ADD COLUMN unmapped INTEGER;
    ALTER TABLE ingest_runs ADD COLUMN excluded INTEGER;
    CREATE TABLE source_exclusions (  -- parsed rows that are not offers, per named rule (market.rules)
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        rule VARCHAR NOT NULL,
        rows INTEGER NOT NULL,
        PRIMARY KEY (snapshot_date, source, rule)
    );
    """,
    # 5: history stored as changes. An offer seen on consecutive snapshots of its source with
    # identical values is one row of offer_intervals (valid_from..valid_to, both snapshot days of
    # that source, inclusive); a change or a gap closes it. The per-day observation facts
    # (observed_at, raw_response_id) are per source, day and response URL in offer_observations,
    # with the rare row that differs from its URL's in offer_observation_exceptions. Cost metrics
    # are per interval (they depend only on the interval's values). `offers` and `cost_metrics`
    # become views with today's columns (views.sql); existing rows are converted here.
    """
    CREATE SEQUENCE offer_interval_ids;
    CREATE TABLE source_snapshots (     -- the days a source landed offers
        source VARCHAR NOT NULL,
        snapshot_date DATE NOT NULL
    );
    CREATE TABLE offer_observations (
        source VARCHAR NOT NULL,
        snapshot_date DATE NOT NULL,
        source_url VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        raw_response_id VARCHAR NOT NULL
    );
    CREATE TABLE offer_observation_exceptions (
        source VARCHAR NOT NULL,
        snapshot_date DATE NOT NULL,
        provider VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        instance_type VARCHAR NOT NULL,
        pricing VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        raw_response_id VARCHAR NOT NULL
    );
    CREATE TABLE offer_intervals (
        interval_id BIGINT NOT NULL,
        source VARCHAR NOT NULL,
        provider VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        instance_type VARCHAR NOT NULL,
        pricing VARCHAR NOT NULL,
        valid_from DATE NOT NULL,
        valid_to DATE NOT NULL,
        gpu VARCHAR,
        gpu_name_raw VARCHAR,
        gpu_count DOUBLE,
        gpu_memory_gb DOUBLE,
        vcpus DOUBLE,
        ram_gb DOUBLE,
        price_usd_per_hour DOUBLE NOT NULL,
        price_usd_per_gpu_hour DOUBLE NOT NULL,
        currency VARCHAR NOT NULL,
        price_original DOUBLE NOT NULL,
        spot_is_estimate BOOLEAN NOT NULL,
        source_url VARCHAR NOT NULL,
        identity_basis VARCHAR,
        identity_note VARCHAR,
        underlying_provider VARCHAR
    );
    CREATE TABLE cost_metric_intervals (
        interval_id BIGINT NOT NULL,
        precision VARCHAR NOT NULL,
        dense_tflops DOUBLE,
        utilisation DOUBLE,
        scaling_efficiency DOUBLE,
        effective_tflops DOUBLE,
        usd_per_effective_tflop_hour DOUBLE,
        usd_per_exaflop DOUBLE,
        usd_per_gb_hour DOUBLE
    );

    INSERT INTO source_snapshots SELECT DISTINCT source, snapshot_date FROM offers;
    INSERT INTO offer_observations
    SELECT source, snapshot_date, source_url, observed_at, raw_response_id
    FROM (SELECT source, snapshot_date, source_url, observed_at, raw_response_id, count(*) AS n
          FROM offers GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY source, snapshot_date, source_url
                               ORDER BY n DESC, raw_response_id, observed_at) = 1;
    INSERT INTO offer_observation_exceptions
    SELECT o.source, o.snapshot_date, o.provider, o.region, o.instance_type, o.pricing, o.observed_at, o.raw_response_id
    FROM offers o
    JOIN offer_observations b USING (source, snapshot_date, source_url)
    WHERE o.observed_at <> b.observed_at OR o.raw_response_id <> b.raw_response_id;

    INSERT INTO offer_intervals
    WITH days AS (
        SELECT source, snapshot_date, row_number() OVER (PARTITION BY source ORDER BY snapshot_date) AS day_no
        FROM source_snapshots
    ), islands AS (
        SELECT o.*, d.day_no - row_number() OVER (
            PARTITION BY o.source, o.provider, o.region, o.instance_type, o.pricing, o.gpu, o.gpu_name_raw,
                         o.gpu_count, o.gpu_memory_gb, o.vcpus, o.ram_gb, o.price_usd_per_hour,
                         o.price_usd_per_gpu_hour, o.currency, o.price_original, o.spot_is_estimate,
                         o.source_url, o.identity_basis, o.identity_note, o.underlying_provider
            ORDER BY o.snapshot_date) AS island
        FROM offers o JOIN days d USING (source, snapshot_date)
    )
    SELECT nextval('offer_interval_ids'), source, provider, region, instance_type, pricing,
           valid_from, valid_to, gpu, gpu_name_raw, gpu_count, gpu_memory_gb, vcpus, ram_gb,
           price_usd_per_hour, price_usd_per_gpu_hour, currency, price_original, spot_is_estimate,
           source_url, identity_basis, identity_note, underlying_provider
    FROM (
        SELECT island, source, provider, region, instance_type, pricing, gpu, gpu_name_raw, gpu_count,
               gpu_memory_gb, vcpus, ram_gb, price_usd_per_hour, price_usd_per_gpu_hour, currency,
               price_original, spot_is_estimate, source_url, identity_basis, identity_note,
               underlying_provider, min(snapshot_date) AS valid_from, max(snapshot_date) AS valid_to
        FROM islands GROUP BY ALL
    );

    -- an interval's metrics are those of its last day (a day's metrics follow the specs and
    -- assumptions of when they were computed; refresh_all_cost_metrics recomputes them all)
    INSERT INTO cost_metric_intervals
    SELECT i.interval_id, m.precision, m.dense_tflops, m.utilisation, m.scaling_efficiency,
           m.effective_tflops, m.usd_per_effective_tflop_hour, m.usd_per_exaflop, m.usd_per_gb_hour
    FROM cost_metrics m
    JOIN offer_intervals i
      ON i.source = m.source AND i.provider = m.provider AND i.region = m.region
     AND i.instance_type = m.instance_type AND i.pricing = m.pricing AND i.valid_to = m.snapshot_date;

    DROP TABLE cost_metrics;
    DROP TABLE offers;
    """,
    # 6: the chained price index's step per day. The level
    # itself is multiplied out on read (view price_index_daily), so refreshing one day
    # rewrites only that day's link and the next index day's, never the whole history.
    """
    ALTER TABLE price_index ADD COLUMN previous_index_date DATE;  -- the index day this one is linked to
    ALTER TABLE price_index ADD COLUMN matched_offers INTEGER;    -- offers in both days' markets
    ALTER TABLE price_index ADD COLUMN matched_providers INTEGER;
    ALTER TABLE price_index ADD COLUMN link_factor DOUBLE;        -- matched-offer price change; NULL: none matched
    ALTER TABLE price_index ADD COLUMN link_note VARCHAR;         -- why there is no link
    """,
    # 7: market-level quotes (market.offer.MARKET_QUOTE_COLUMNS): a source's instance-hour
    # prices of an unstated GPU count and pricing kind (becloudready), kept beside the offers
    # instead of in quarantine. One row per distinct price a provider quoted for a model that day.
    # Rows an earlier version quarantined for that reason are moved here by re-running the
    # backfill (`gpu-prices backfill becloudready --offline`), which replaces each day whole.
    """
    CREATE TABLE market_quotes (
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        provider VARCHAR NOT NULL,
        gpu_model VARCHAR NOT NULL,
        price_usd_per_instance_hour DOUBLE NOT NULL,
        quotes INTEGER NOT NULL,                -- source rows that quoted this price
        source_url VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ,
        raw_response_id VARCHAR
    );
    """,
    # 8: the reference runs priced at each period's market (warehouse/reference_history.py), kept
    # so the History page reads them instead of planning hundreds of markets on a page load. One
    # row per step (week | month), pricing asked (on_demand | spot | any), run, period and GPU
    # generation with a plan; the columns after `period` are costmodel.reference_runs.ROW_SCHEMA's.
    """
    CREATE TABLE reference_run_history (
        step VARCHAR NOT NULL,
        pricing_asked VARCHAR NOT NULL,
        period DATE NOT NULL,
        as_of DATE NOT NULL,
        run VARCHAR NOT NULL,
        generation VARCHAR NOT NULL,
        vendor VARCHAR,
        gpu VARCHAR,
        provider VARCHAR,
        instance_type VARCHAR,
        region VARCHAR,
        pricing VARCHAR,
        interruptible BOOLEAN,
        nodes BIGINT,
        gpus_per_node BIGINT,
        gpus BIGINT,
        days DOUBLE,
        mfu_used DOUBLE,
        total_cost_usd DOUBLE,
        usd_per_month DOUBLE,
        usd_per_million_tokens DOUBLE,
        price_usd_per_hour DOUBLE,
        price_usd_per_gpu_hour DOUBLE,
        snapshot_date DATE,
        source VARCHAR,
        source_url VARCHAR,
        warnings VARCHAR
    );
    CREATE TABLE reference_run_periods (  -- the periods priced (with or without a plan), per step and pricing
        step VARCHAR NOT NULL,
        pricing_asked VARCHAR NOT NULL,
        period DATE NOT NULL,
        as_of DATE NOT NULL,
        priced_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (step, pricing_asked, period)
    );
    """,
]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
    )
    row = con.sql("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()
    return int(row[0][0])


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations, then define the views if they changed. Returns the schema version."""
    version = current_version(con)
    for number, ddl in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(ddl)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = number
    sync_source_cadence(con)  # before the views: offers_as_of reads it
    define_views(con, version)
    return version


# The source a warehouse row names but the registry does not know (a test's or a retired
# source) gets the daily cadence; `offers_as_of` reads this row for it.
ANY_SOURCE = "*"


def sync_source_cadence(con: duckdb.DuckDBPyConnection) -> bool:
    """Mirror the registry's per-source cadence (connectors.registry.max_age_days) into the
    `source_cadence` table the SQL as-of rule reads. Like view_definitions it is a copy of code,
    not a fact, so it is rewritten (only when it differs) instead of migrated. Returns whether
    it wrote."""
    from connectors.registry import DAILY_MAX_AGE_DAYS, all_sources, max_age_days

    con.execute(
        "CREATE TABLE IF NOT EXISTS source_cadence "
        "(source VARCHAR PRIMARY KEY, kind VARCHAR, max_age_days INTEGER)"
    )
    wanted = sorted(
        [(s.id, s.kind, max_age_days(s)) for s in all_sources()] + [(ANY_SOURCE, None, DAILY_MAX_AGE_DAYS)],
        key=lambda r: r[0],
    )
    if con.sql("SELECT source, kind, max_age_days FROM source_cadence ORDER BY source").fetchall() == wanted:
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM source_cadence")
        con.executemany("INSERT INTO source_cadence VALUES (?, ?, ?)", wanted)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return True


def views_fingerprint(version: int) -> str:
    """What the views are made of: their SQL and the tables' version they were written for."""
    digest = hashlib.sha256(f"schema {version}\n".encode())
    for sql_file in view_files():
        digest.update(sql_file.name.encode() + b"\0" + sql_file.read_bytes() + b"\0")
    return digest.hexdigest()


def define_views(con: duckdb.DuckDBPyConnection, version: int) -> bool:
    """Re-create every view unless the file already holds these very definitions. Returns
    whether it re-created them."""
    con.execute("CREATE TABLE IF NOT EXISTS view_definitions (fingerprint VARCHAR NOT NULL, defined_at TIMESTAMPTZ)")
    fingerprint = views_fingerprint(version)
    if con.sql("SELECT fingerprint FROM view_definitions").fetchall() == [(fingerprint,)]:
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        for sql_file in view_files():
            con.execute(sql_file.read_text())
        con.execute("DELETE FROM view_definitions")
        con.execute("INSERT INTO view_definitions VALUES (?, now())", [fingerprint])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return True


def view_files() -> list:
    """views.sql first, then views_*.sql in name order (later files may use earlier views)."""
    folder = resources.files("warehouse")
    extra = sorted(
        (f for f in folder.iterdir() if f.name.startswith("views_") and f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    return [folder.joinpath("views.sql"), *extra]
