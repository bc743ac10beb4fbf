-- Documented, stable views: the SQL interface analysts query. Re-created when this text changes.
-- Column meanings are in README.md ("SQL").

-- The market on day D, the one way to ask it: for each source, its newest snapshot on or
-- before D, kept only while D - that snapshot <= the source's max age (source_cadence, mirrored
-- from connectors.registry: 3 days for a daily source, 10 for a weekly one). An older source
-- drops out here (and so out of latest offers and the index) but stays in offers_history.
-- Same columns as latest_offers.
CREATE OR REPLACE MACRO offers_as_of(day) AS TABLE
WITH newest AS (
    SELECT source, max(snapshot_date) AS snapshot_date
    FROM (SELECT DISTINCT source, snapshot_date FROM offers)
    WHERE snapshot_date <= CAST(day AS DATE)
    GROUP BY source
), current_days AS (
    SELECT n.source, n.snapshot_date
    FROM newest n
    LEFT JOIN source_cadence c ON c.source = n.source
    CROSS JOIN (SELECT max_age_days FROM source_cadence WHERE source = '*') any_source
    WHERE CAST(day AS DATE) - n.snapshot_date
          <= CASE WHEN c.source IS NULL THEN any_source.max_age_days ELSE c.max_age_days END
)
SELECT o.*, o.gpu AS canonical_gpu
FROM offers o
JOIN current_days USING (source, snapshot_date);

-- Every source's current offers: offers_as_of the warehouse's newest snapshot date. "Now" is
-- the newest data held, not the wall clock, so a replayed warehouse is not empty.
CREATE OR REPLACE VIEW latest_offers AS
SELECT * FROM offers_as_of((SELECT max(snapshot_date) FROM offers));

-- Every offer on every day, with the previous observed price of the same offer. backfilled:
-- the day came from a public git archive (its ingest run's mode is 'backfill').
CREATE OR REPLACE VIEW offers_history AS
SELECT
    o.*,
    lag(o.price_usd_per_hour) OVER offer_days AS previous_price_usd_per_hour,
    lag(o.snapshot_date) OVER offer_days AS previous_snapshot_date,
    coalesce(r.mode = 'backfill', false) AS backfilled
FROM offers o
LEFT JOIN ingest_runs r ON r.snapshot_date = o.snapshot_date AND r.source = o.source
WINDOW offer_days AS (
    PARTITION BY o.source, o.provider, o.region, o.instance_type, o.pricing
    ORDER BY o.snapshot_date
);

-- The change log: an offer's price went from x to y on date d.
CREATE OR REPLACE VIEW price_changes AS
SELECT
    snapshot_date AS changed_on,
    previous_snapshot_date,
    source, provider, region, instance_type, gpu, gpu_count, pricing,
    previous_price_usd_per_hour AS old_price_usd_per_hour,
    price_usd_per_hour AS new_price_usd_per_hour,
    round(100 * (price_usd_per_hour / previous_price_usd_per_hour - 1), 2) AS change_pct
FROM offers_history
WHERE previous_price_usd_per_hour IS NOT NULL
  AND price_usd_per_hour <> previous_price_usd_per_hour;

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
