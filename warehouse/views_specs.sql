-- Views over the spec sheet, aliases and external specs. Re-created when this text changes.

-- Curated figures that a specs source (e.g. Epoch AI) contradicts by more than 10 %, using
-- each source's latest snapshot. rel_diff is relative to the curated value. The curated table
-- is never changed by this: a person checks the datasheet and edits market/data/gpu_specs.csv.
CREATE OR REPLACE VIEW spec_disagreements AS
WITH curated AS (
    UNPIVOT (
        SELECT gpu, source_url AS curated_source_url,
               memory_gb, memory_bandwidth_tbs, fp64_tflops, fp32_tflops, tf32_tflops,
               bf16_tflops, fp16_tflops, fp8_tflops, fp4_tflops, int8_tops, tdp_w,
               interconnect_gbs
        FROM gpu_specs
    )
    ON memory_gb, memory_bandwidth_tbs, fp64_tflops, fp32_tflops, tf32_tflops, bf16_tflops,
       fp16_tflops, fp8_tflops, fp4_tflops, int8_tops, tdp_w, interconnect_gbs
    INTO NAME metric VALUE curated_value
), latest AS (
    SELECT e.*
    FROM external_specs e
    JOIN (SELECT source, max(snapshot_date) AS snapshot_date FROM external_specs GROUP BY source) l
      USING (source, snapshot_date)
    WHERE e.gpu IS NOT NULL AND e.value IS NOT NULL AND isfinite(e.value)
)
SELECT
    l.gpu,
    l.metric,
    c.curated_value,
    l.value AS external_value,
    abs(l.value - c.curated_value) / abs(c.curated_value) AS rel_diff,
    l.source AS external_source,
    l.name_raw,
    l.source_url,
    c.curated_source_url,
    l.snapshot_date AS external_snapshot_date
FROM latest l
JOIN curated c ON c.gpu = l.gpu AND c.metric = l.metric
WHERE c.curated_value IS NOT NULL
  AND c.curated_value <> 0
  AND abs(l.value - c.curated_value) > 0.10 * abs(c.curated_value);

-- GPU names that map to no canonical GPU: never dropped (their rows are kept in
-- quarantined_offers with outcome 'unmapped'), listed here to be added to market/gpu_names.py or
-- an instance table. One row per raw name (the instance type when the source names no GPU).
CREATE OR REPLACE VIEW unmapped_gpus AS
SELECT
    coalesce(gpu_name_raw, instance_type) AS gpu_name_raw,
    count(*) AS offers,
    count(DISTINCT snapshot_date) AS days,
    list(DISTINCT source ORDER BY source) AS sources,
    list(DISTINCT provider ORDER BY provider) AS providers,
    min(snapshot_date) AS first_seen,
    max(snapshot_date) AS last_seen
FROM (
    SELECT snapshot_date, source, provider, gpu_name_raw, instance_type FROM quarantined_offers
    WHERE outcome = 'unmapped'
    UNION ALL
    SELECT snapshot_date, source, provider, gpu_name_raw, instance_type FROM offers WHERE gpu IS NULL
)
GROUP BY 1
ORDER BY offers DESC, gpu_name_raw;

-- Canonical GPUs that offers use but the spec sheet lacks: their offers get no cost metrics.
CREATE OR REPLACE VIEW gpus_without_specs AS
SELECT
    o.gpu,
    count(*) AS offers,
    list(DISTINCT o.gpu_name_raw ORDER BY o.gpu_name_raw) AS names,
    list(DISTINCT o.source ORDER BY o.source) AS sources,
    min(o.snapshot_date) AS first_seen,
    max(o.snapshot_date) AS last_seen
FROM offers o
LEFT JOIN gpu_specs s USING (gpu)
WHERE o.gpu IS NOT NULL AND s.gpu IS NULL
GROUP BY o.gpu
ORDER BY offers DESC, o.gpu;
