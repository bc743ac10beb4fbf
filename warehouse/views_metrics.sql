-- Views over the derived metrics. Documented in README.md ("SQL").

-- One row per offer, day and precision (the columns of the per-day table it replaced): an
-- interval's metrics (cost_metric_intervals) on each snapshot day the interval covers.
CREATE OR REPLACE VIEW cost_metrics AS
SELECT
    s.snapshot_date, i.source, i.provider, i.region, i.instance_type, i.pricing, i.gpu, i.gpu_count,
    m.precision, i.price_usd_per_hour, i.price_usd_per_gpu_hour, m.dense_tflops, m.utilisation,
    m.scaling_efficiency, m.effective_tflops, m.usd_per_effective_tflop_hour, m.usd_per_exaflop,
    m.usd_per_gb_hour, i.source_url
FROM cost_metric_intervals m
JOIN offer_intervals i USING (interval_id)
JOIN source_snapshots s
  ON s.source = i.source AND s.snapshot_date BETWEEN i.valid_from AND i.valid_to;

-- cost_metrics of the offers current on `day` (offers_as_of's rule), read from the intervals.
CREATE OR REPLACE MACRO cost_metrics_as_of(day) AS TABLE
SELECT
    s.snapshot_date, i.source, i.provider, i.region, i.instance_type, i.pricing, i.gpu, i.gpu_count,
    m.precision, i.price_usd_per_hour, i.price_usd_per_gpu_hour, m.dense_tflops, m.utilisation,
    m.scaling_efficiency, m.effective_tflops, m.usd_per_effective_tflop_hour, m.usd_per_exaflop,
    m.usd_per_gb_hour, i.source_url
FROM current_source_days(day) s
JOIN offer_intervals i
  ON i.source = s.source AND s.snapshot_date BETWEEN i.valid_from AND i.valid_to
JOIN cost_metric_intervals m ON m.interval_id = i.interval_id;

-- Headline cost per effective TFLOP for every latest offer: bf16 (fp16 on GPUs without bf16),
-- the precision of mixed-precision training. Every metric column is filled. Picked per current
-- interval (a number, not six key columns), so a year at 50k offers/day stays under 100 ms.
CREATE OR REPLACE VIEW gpu_cost_metrics AS
WITH current_intervals AS (
    SELECT s.snapshot_date, i.*
    FROM current_source_days((SELECT max(snapshot_date) FROM source_snapshots)) s
    JOIN offer_intervals i
      ON i.source = s.source AND s.snapshot_date BETWEEN i.valid_from AND i.valid_to
), headline AS (
    SELECT m.*,
           row_number() OVER (
               PARTITION BY m.interval_id ORDER BY CASE m.precision WHEN 'bf16' THEN 0 ELSE 1 END
           ) AS rn
    FROM cost_metric_intervals m
    SEMI JOIN current_intervals c ON c.interval_id = m.interval_id
    WHERE m.precision IN ('bf16', 'fp16')
)
SELECT
    c.snapshot_date, c.source, c.provider, c.region, c.instance_type, c.pricing, c.gpu,
    c.gpu_count, h.precision, c.price_usd_per_hour, c.price_usd_per_gpu_hour, h.dense_tflops,
    h.utilisation, h.scaling_efficiency, h.effective_tflops, h.usd_per_effective_tflop_hour,
    h.usd_per_exaflop, h.usd_per_gb_hour,
    s.vendor, s.form_factor, s.interconnect, coalesce(c.gpu_memory_gb, s.memory_gb) AS gpu_memory_gb,
    s.launch_date, c.source_url, coalesce(x.observed_at, b.observed_at) AS observed_at
FROM headline h
JOIN current_intervals c ON c.interval_id = h.interval_id
LEFT JOIN gpu_specs s ON s.gpu = c.gpu
-- the observation facts as offers_as_of reads them, without expanding the intervals again
LEFT JOIN offer_observations b
  ON b.source = c.source AND b.snapshot_date = c.snapshot_date AND b.source_url = c.source_url
LEFT JOIN offer_observation_exceptions x
  ON x.source = c.source AND x.snapshot_date = c.snapshot_date AND x.provider = c.provider
 AND x.region = c.region AND x.instance_type = c.instance_type AND x.pricing = c.pricing
WHERE h.rn = 1
  AND h.effective_tflops IS NOT NULL
  AND h.usd_per_effective_tflop_hour IS NOT NULL;

-- The same for every precision a GPU has a dense figure for (fp8, fp4, tf32, fp32 too).
CREATE OR REPLACE VIEW gpu_cost_metrics_by_precision AS
SELECT * FROM cost_metrics_as_of((SELECT max(snapshot_date) FROM source_snapshots));

-- The daily price index (USD per GPU-hour), docs/price-index.md. index_usd (the raw index, the
-- median of per-provider medians) is NULL when withheld; the reason says why. chained_index_usd
-- multiplies the stored matched-offer links (link_factor) and is anchored so that it equals
-- index_usd on the first day index_usd is published (chain_anchor_date). After the anchor a
-- missing link carries the level forward; before it, levels are divided back from the anchor
-- only while every link on the way is a real one (a broken link ends the backcast). A GPU never
-- published has no chained level. chain_basis says which case a row is. The chain is built
-- over all days before any WHERE on dates applies: a date-bounded query sees the same levels.
CREATE OR REPLACE VIEW price_index_daily AS
WITH stepped AS (
    SELECT *,
           sum(coalesce(ln(link_factor), 0)) OVER upto AS log_level,
           count(*) FILTER (WHERE link_factor IS NULL) OVER upto AS breaks
    FROM price_index
    WINDOW upto AS (PARTITION BY gpu, pricing ORDER BY snapshot_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), anchored AS (
    SELECT *,
           first_value(CASE WHEN index_usd IS NOT NULL THEN snapshot_date END IGNORE NULLS) OVER whole
               AS chain_anchor_date,
           first_value(CASE WHEN index_usd IS NOT NULL THEN ln(index_usd) - log_level END IGNORE NULLS) OVER whole
               AS log_anchor,
           first_value(CASE WHEN index_usd IS NOT NULL THEN breaks END IGNORE NULLS) OVER whole AS anchor_breaks
    FROM stepped
    WINDOW whole AS (
        PARTITION BY gpu, pricing ORDER BY snapshot_date ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    )
), based AS (
    SELECT *,
           CASE
               WHEN chain_anchor_date IS NULL THEN NULL
               WHEN snapshot_date = chain_anchor_date THEN 'anchor'
               WHEN snapshot_date > chain_anchor_date AND link_factor IS NULL THEN 'carried'
               WHEN snapshot_date > chain_anchor_date THEN 'linked'
               WHEN breaks = anchor_breaks THEN 'backcast'
           END AS chain_basis
    FROM anchored
)
SELECT
    snapshot_date, gpu, pricing, offers, providers, min_usd, p10_usd, median_usd, p90_usd,
    index_usd, withheld_reason,
    CASE WHEN chain_basis IS NOT NULL THEN exp(log_anchor + log_level) END AS chained_index_usd,
    chain_basis, chain_anchor_date, previous_index_date, matched_offers, matched_providers,
    link_factor, link_note
FROM based;

-- The cheapest latest offer per GPU and pricing kind, by price per GPU-hour.
CREATE OR REPLACE VIEW cheapest_offers AS
SELECT * EXCLUDE (rn)
FROM (
    SELECT
        o.gpu, o.pricing, o.provider, o.source, o.region, o.instance_type, o.gpu_count,
        o.price_usd_per_hour, o.price_usd_per_gpu_hour,
        m.usd_per_effective_tflop_hour, m.effective_tflops,
        o.snapshot_date, o.observed_at, o.source_url,
        row_number() OVER (PARTITION BY o.gpu, o.pricing ORDER BY o.price_usd_per_gpu_hour, o.provider, o.region, o.instance_type, o.source) AS rn
    FROM latest_offers o
    LEFT JOIN gpu_cost_metrics m USING (snapshot_date, source, provider, region, instance_type, pricing)
    WHERE o.gpu IS NOT NULL
)
WHERE rn = 1;

-- Two sources quoting the same provider, instance type, region and pricing kind on the same
-- day, more than 5% apart (e.g. an aggregator's catalog against the provider's own list).
CREATE OR REPLACE VIEW source_disagreements AS
SELECT
    a.snapshot_date, a.provider, a.region, a.instance_type, a.pricing, a.gpu,
    a.source AS source_a, a.price_usd_per_hour AS price_a_usd_per_hour,
    b.source AS source_b, b.price_usd_per_hour AS price_b_usd_per_hour,
    round(100 * abs(a.price_usd_per_hour - b.price_usd_per_hour)
          / least(a.price_usd_per_hour, b.price_usd_per_hour), 2) AS diff_pct,
    a.source_url AS source_a_url, b.source_url AS source_b_url
FROM offers a
JOIN offers b
  ON a.snapshot_date = b.snapshot_date AND a.provider = b.provider AND a.region = b.region
 AND a.instance_type = b.instance_type AND a.pricing = b.pricing AND a.source < b.source
WHERE abs(a.price_usd_per_hour - b.price_usd_per_hour)
      > 0.05 * least(a.price_usd_per_hour, b.price_usd_per_hour);
