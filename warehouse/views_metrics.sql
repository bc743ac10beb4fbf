-- Views over the derived metrics. Documented in README.md ("SQL").

-- Headline cost per effective TFLOP for every latest offer: bf16 (fp16 on GPUs without bf16),
-- the precision of mixed-precision training. Every metric column is filled.
CREATE OR REPLACE VIEW gpu_cost_metrics AS
WITH latest AS (
    SELECT source, max(snapshot_date) AS snapshot_date FROM offers GROUP BY source
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

-- The same for every precision a GPU has a dense figure for (fp8, fp4, tf32, fp32 too).
CREATE OR REPLACE VIEW gpu_cost_metrics_by_precision AS
SELECT m.*
FROM cost_metrics m
JOIN (SELECT source, max(snapshot_date) AS snapshot_date FROM offers GROUP BY source) latest
  USING (source, snapshot_date);

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
        row_number() OVER (PARTITION BY o.gpu, o.pricing ORDER BY o.price_usd_per_gpu_hour, o.provider) AS rn
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
