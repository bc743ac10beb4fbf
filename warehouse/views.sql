-- Documented, stable views: the SQL interface analysts query. Re-created when this text changes.
-- Column meanings are in README.md ("SQL").

-- History is stored as changes (warehouse/schema.py migration 5): offer_intervals holds one row
-- per offer and run of identical values over its source's snapshot days (source_snapshots);
-- observed_at and raw_response_id are per source, day and response URL (offer_observations).

-- Every offer on every snapshot day of its source: the intervals expanded, one row per
-- (snapshot_date, source, provider, region, instance_type, pricing), the columns the per-day
-- table had. Filter on snapshot_date and source to read little.
CREATE OR REPLACE VIEW offers AS
SELECT
    s.snapshot_date, i.source, i.provider, i.region, i.instance_type, i.gpu, i.gpu_name_raw,
    i.gpu_count, i.gpu_memory_gb, i.vcpus, i.ram_gb, i.pricing, i.price_usd_per_hour,
    i.price_usd_per_gpu_hour, i.currency, i.price_original, i.spot_is_estimate, i.source_url,
    coalesce(x.observed_at, b.observed_at) AS observed_at,
    coalesce(x.raw_response_id, b.raw_response_id) AS raw_response_id,
    i.identity_basis, i.identity_note, i.underlying_provider
FROM offer_intervals i
JOIN source_snapshots s
  ON s.source = i.source AND s.snapshot_date BETWEEN i.valid_from AND i.valid_to
JOIN offer_observations b
  ON b.source = i.source AND b.snapshot_date = s.snapshot_date AND b.source_url = i.source_url
LEFT JOIN offer_observation_exceptions x
  ON x.source = i.source AND x.snapshot_date = s.snapshot_date AND x.provider = i.provider
 AND x.region = i.region AND x.instance_type = i.instance_type AND x.pricing = i.pricing;

-- The days each source counts as current on `day`: its newest snapshot on or before it, kept
-- only while day - that snapshot <= the source's max age (source_cadence, mirrored from
-- connectors.registry: 3 days for a daily source, 10 for a weekly one).
CREATE OR REPLACE MACRO current_source_days(day) AS TABLE
WITH newest AS (
    SELECT source, max(snapshot_date) AS snapshot_date
    FROM source_snapshots
    WHERE snapshot_date <= CAST(day AS DATE)
    GROUP BY source
)
SELECT n.source, n.snapshot_date
FROM newest n
LEFT JOIN source_cadence c ON c.source = n.source
CROSS JOIN (SELECT max_age_days FROM source_cadence WHERE source = '*') any_source
WHERE CAST(day AS DATE) - n.snapshot_date
      <= CASE WHEN c.source IS NULL THEN any_source.max_age_days ELSE c.max_age_days END;

-- The market on day D, the one way to ask it: every source's offers from its current day
-- (current_source_days). A source older than its cadence drops out here, and so out of latest
-- offers and the index, but stays in offers_history. Same columns as latest_offers; reads the
-- intervals directly, never the expanded history.
CREATE OR REPLACE MACRO offers_as_of(day) AS TABLE
SELECT
    s.snapshot_date, i.source, i.provider, i.region, i.instance_type, i.gpu, i.gpu_name_raw,
    i.gpu_count, i.gpu_memory_gb, i.vcpus, i.ram_gb, i.pricing, i.price_usd_per_hour,
    i.price_usd_per_gpu_hour, i.currency, i.price_original, i.spot_is_estimate, i.source_url,
    coalesce(x.observed_at, b.observed_at) AS observed_at,
    coalesce(x.raw_response_id, b.raw_response_id) AS raw_response_id,
    i.identity_basis, i.identity_note, i.underlying_provider,
    i.gpu AS canonical_gpu
FROM current_source_days(day) s
JOIN offer_intervals i
  ON i.source = s.source AND s.snapshot_date BETWEEN i.valid_from AND i.valid_to
JOIN offer_observations b
  ON b.source = i.source AND b.snapshot_date = s.snapshot_date AND b.source_url = i.source_url
LEFT JOIN offer_observation_exceptions x
  ON x.source = i.source AND x.snapshot_date = s.snapshot_date AND x.provider = i.provider
 AND x.region = i.region AND x.instance_type = i.instance_type AND x.pricing = i.pricing;

-- Every source's current offers: offers_as_of the warehouse's newest snapshot date. "Now" is
-- the newest data held, not the wall clock, so a replayed warehouse is not empty.
CREATE OR REPLACE VIEW latest_offers AS
SELECT * FROM offers_as_of((SELECT max(snapshot_date) FROM source_snapshots));

-- Every offer on every day, with the previous observed price of the same offer. backfilled:
-- the day came from a public git archive (its ingest run's mode is 'backfill'). Beside the
-- offers (price_basis 'offer') it carries the market-level quotes (price_basis 'market-level
-- quote', from market_quotes): an instance-hour price of an unstated GPU count and pricing
-- kind, so gpu, gpu_count, pricing and every per-GPU column are NULL and `quotes` counts the
-- source rows that quoted the price. Filter on price_basis = 'offer' for per-GPU questions.
CREATE OR REPLACE VIEW offers_history AS
WITH offer_rows AS (
    SELECT
        o.*,
        'offer' AS price_basis,
        lag(o.price_usd_per_hour) OVER offer_days AS previous_price_usd_per_hour,
        lag(o.snapshot_date) OVER offer_days AS previous_snapshot_date,
        coalesce(r.mode = 'backfill', false) AS backfilled
    FROM offers o
    LEFT JOIN ingest_runs r ON r.snapshot_date = o.snapshot_date AND r.source = o.source
    WINDOW offer_days AS (
        PARTITION BY o.source, o.provider, o.region, o.instance_type, o.pricing
        ORDER BY o.snapshot_date
    )
), quote_rows AS (
    SELECT
        q.snapshot_date, q.source, q.provider, 'market' AS region, q.gpu_model AS instance_type,
        q.gpu_model AS gpu_name_raw, q.price_usd_per_instance_hour AS price_usd_per_hour,
        'USD' AS currency, q.price_usd_per_instance_hour AS price_original, false AS spot_is_estimate,
        q.source_url, q.observed_at, q.raw_response_id,
        'GPU count and pricing kind not stated by the source' AS identity_note,
        'market-level quote' AS price_basis, q.quotes,
        coalesce(r.mode = 'backfill', false) AS backfilled
    FROM market_quotes q
    LEFT JOIN ingest_runs r ON r.snapshot_date = q.snapshot_date AND r.source = q.source
)
SELECT * FROM offer_rows
UNION ALL BY NAME
SELECT * FROM quote_rows;

-- Per provider, GPU model and day, what a market-level source quoted per instance-hour: how
-- many rows, the cheapest, the median (each distinct price weighted by its rows) and the
-- dearest. What the History page charts for becloudready; never a per-GPU price.
CREATE OR REPLACE VIEW market_quotes_daily AS
SELECT
    snapshot_date, source, provider, gpu_model,
    count(*)::INTEGER AS quotes,
    min(q.price_usd_per_instance_hour) AS cheapest_usd_per_instance_hour,
    quantile_disc(q.price_usd_per_instance_hour, 0.5) AS median_usd_per_instance_hour,
    max(q.price_usd_per_instance_hour) AS dearest_usd_per_instance_hour,
    any_value(q.source_url) AS source_url
FROM market_quotes q, range(q.quotes) each_quote
GROUP BY snapshot_date, source, provider, gpu_model;

-- The change log of one GPU (NULL: all) between two days (NULL: open): an offer's price went
-- from x to y on changed_on, the first day of the new price's interval; previous_snapshot_date
-- is the last day the old price was seen. Read from the intervals, and only the offers with an
-- interval starting in the range are chained, so a bounded ask reads little.
CREATE OR REPLACE MACRO price_changes_in(gpu_wanted, since, until) AS TABLE
WITH candidates AS (
    SELECT DISTINCT source, provider, region, instance_type, pricing
    FROM offer_intervals
    WHERE (gpu_wanted IS NULL OR gpu = gpu_wanted)
      AND valid_from BETWEEN coalesce(CAST(since AS DATE), DATE '0001-01-01')
                         AND coalesce(CAST(until AS DATE), DATE '9999-12-31')
), chained AS (
    SELECT
        i.*,
        lag(i.price_usd_per_hour) OVER offer_runs AS previous_price_usd_per_hour,
        lag(i.valid_to) OVER offer_runs AS previous_snapshot_date
    FROM offer_intervals i
    SEMI JOIN candidates USING (source, provider, region, instance_type, pricing)
    WINDOW offer_runs AS (
        PARTITION BY i.source, i.provider, i.region, i.instance_type, i.pricing
        ORDER BY i.valid_from
    )
)
SELECT
    valid_from AS changed_on,
    previous_snapshot_date,
    source, provider, region, instance_type, gpu, gpu_count, pricing,
    previous_price_usd_per_hour AS old_price_usd_per_hour,
    price_usd_per_hour AS new_price_usd_per_hour,
    round(100 * (price_usd_per_hour / previous_price_usd_per_hour - 1), 2) AS change_pct
FROM chained
WHERE previous_price_usd_per_hour IS NOT NULL
  AND price_usd_per_hour <> previous_price_usd_per_hour
  AND (gpu_wanted IS NULL OR gpu = gpu_wanted)
  AND valid_from BETWEEN coalesce(CAST(since AS DATE), DATE '0001-01-01')
                     AND coalesce(CAST(until AS DATE), DATE '9999-12-31');

-- The whole change log (every GPU, every day). Pages ask price_changes_in for a slice.
CREATE OR REPLACE VIEW price_changes AS
SELECT * FROM price_changes_in(NULL, NULL, NULL);

-- One row per source: how its most recent run went and when it last succeeded.
CREATE OR REPLACE VIEW ingest_status AS
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY source ORDER BY snapshot_date DESC, started_at DESC) AS rn
    FROM ingest_runs
), last_ok AS (
    SELECT source, max(snapshot_date) AS last_ok_snapshot_date, max(last_success_at) AS last_success_at
    FROM ingest_runs WHERE status = 'ok' GROUP BY source
)
SELECT
    r.source,
    r.snapshot_date AS last_snapshot_date,
    r.status AS last_status,
    r.stage AS last_stage,
    r.mode AS last_mode,
    r.message AS last_message,
    r.responses AS last_responses,
    r.offers_written AS last_offers_written,
    r.quarantined AS last_quarantined,
    r.rows_read AS last_rows_read,
    r.unmapped AS last_unmapped,
    r.excluded AS last_excluded,
    r.finished_at AS last_finished_at,
    ok.last_ok_snapshot_date,
    ok.last_success_at,
    (SELECT count(*) FROM latest_offers lo WHERE lo.source = r.source) AS offers_in_latest
FROM ranked r
LEFT JOIN last_ok ok USING (source)
WHERE r.rn = 1;

-- Every parsed source row, accounted for, per source and day: rows_read = offers +
-- quarantined + unmapped + excluded (NULL counts: a run from before accounting, or a failure).
CREATE OR REPLACE VIEW source_accounting AS
SELECT
    r.snapshot_date, r.source, r.status,
    r.rows_read, r.offers_written AS offers, r.quarantined, r.unmapped, r.excluded,
    r.rows_read - r.offers_written - r.quarantined - r.unmapped - r.excluded AS unaccounted,
    (SELECT list(struct_pack(rule := e.rule, rows := e.rows) ORDER BY e.rows DESC, e.rule)
       FROM source_exclusions e WHERE e.snapshot_date = r.snapshot_date AND e.source = r.source) AS exclusions
FROM ingest_runs r;

-- Days without an observation of a backfilled source (no archive version, or one whose bytes
-- are not available, and no run of our own), as runs of missing days between two observed
-- days: shown, never interpolated (a weekly archive has a 6-day gap every week).
CREATE OR REPLACE VIEW backfill_gaps AS
WITH days AS (
    SELECT source, snapshot_date,
           lag(snapshot_date) OVER (PARTITION BY source ORDER BY snapshot_date) AS previous_day
    FROM ingest_runs
    WHERE status = 'ok' AND source IN (SELECT source FROM ingest_runs WHERE mode = 'backfill')
)
SELECT source, previous_day + 1 AS first_missing_day, snapshot_date - 1 AS last_missing_day,
       snapshot_date - previous_day - 1 AS missing_days
FROM days
WHERE snapshot_date - previous_day > 1;
