-- Data-quality checks of this input, per compressor and for the fleet (SPEC §3):
--   freshness     minutes between the latest load and the newest reading; passes within the SLA
--   completeness  readings received / readings expected over the batch's time span, at each
--                 compressor's own reporting interval: the median spacing of its good readings in
--                 this input (gaps and stray duplicates do not move a median), or
--                 params.interval_seconds (PIPELINE_INTERVAL_MINUTES) when it has fewer than
--                 params.min_interval_spacings of them. A fleet reporting every 15 minutes is complete
--                 under the default of 10, not two thirds complete.
--   consistency   share of rows that pass the schema, type and range checks
--   accuracy      share of rows kept (silver / bronze)
-- Only the compressors the organization's plan covers are checked (readings held back by the plan
-- limit are not a data-quality problem).
-- Everything is per organization: the fleet scope is each organization's fleet, and only the
-- organizations with readings in this input are checked (the others' last rows stand).
-- Inputs: quality_counts (each compressor's counts, detected interval and span: quality_counts.sql,
-- by chunk of the fleet in a full run), compressors, plan_compressors, params.
WITH monitored AS (
    SELECT c.organization, c.compressor_id
    FROM compressors AS c
    JOIN plan_compressors AS pc ON pc.organization = c.organization AND pc.compressor_id = c.compressor_id
    WHERE c.organization IN (SELECT organization FROM quality_counts)
),
detected AS (
    SELECT organization, compressor_id, interval_seconds FROM quality_counts WHERE interval_seconds IS NOT NULL
),
batch AS (
    SELECT
        organization,
        EPOCH(MAX(as_of)) AS as_of_epoch,
        MAX(as_of) AS as_of,
        EPOCH(MIN(first_good)) AS first_epoch,
        EPOCH(MAX(last_good)) AS last_epoch
    FROM quality_counts
    GROUP BY organization
),
-- the counts of each compressor with usable readings (those without a compressor id together), for
-- the compressors' rows and, summed, the fleet's
counts AS (
    SELECT organization, compressor_id, bronze_rows, silver_rows, invalid_rows, newest_epoch
    FROM quality_counts
    WHERE bronze_rows > 0
),
per_compressor AS (
    SELECT
        c.organization,
        c.compressor_id AS scope,
        c.compressor_id,
        COALESCE(s.bronze_rows, 0) AS bronze_rows,
        COALESCE(s.silver_rows, 0) AS silver_rows,
        COALESCE(s.invalid_rows, 0) AS invalid_rows,
        s.newest_epoch
    FROM monitored AS c
    LEFT JOIN counts AS s ON s.organization = c.organization AND s.compressor_id = c.compressor_id
),
fleet AS (
    SELECT
        u.organization,
        'fleet' AS scope,
        CAST(NULL AS VARCHAR) AS compressor_id,
        SUM(u.bronze_rows) AS bronze_rows,
        SUM(u.silver_rows) AS silver_rows,
        SUM(u.invalid_rows) AS invalid_rows,
        -- The fleet is as fresh as its stalest compressor.
        MIN(pc.newest_epoch) AS newest_epoch
    FROM counts AS u
    LEFT JOIN (SELECT organization, MIN(newest_epoch) AS newest_epoch FROM per_compressor GROUP BY 1) AS pc
        ON pc.organization = u.organization
    GROUP BY u.organization
),
expected AS (
    SELECT
        c.organization,
        c.compressor_id,
        CASE WHEN b.last_epoch IS NULL THEN 0
             ELSE FLOOR((b.last_epoch - b.first_epoch) / COALESCE(d.interval_seconds, p.interval_seconds)) + 1
        END AS expected_rows
    FROM monitored AS c
    JOIN batch AS b ON b.organization = c.organization
    LEFT JOIN detected AS d ON d.organization = c.organization AND d.compressor_id = c.compressor_id
    CROSS JOIN params AS p
),
counted AS (
    SELECT
        u.*,
        b.as_of,
        CASE WHEN u.scope = 'fleet' THEN COALESCE(m.expected_rows, 0) ELSE COALESCE(e.expected_rows, 0) END
            AS expected_rows,
        (b.as_of_epoch - u.newest_epoch) / 60.0 AS lag_minutes,
        p.freshness_sla_minutes,
        p.completeness_pass,
        p.consistency_pass,
        p.accuracy_pass
    FROM (SELECT * FROM per_compressor UNION ALL SELECT * FROM fleet) AS u
    JOIN batch AS b ON b.organization = u.organization
    LEFT JOIN (SELECT organization, SUM(expected_rows) AS expected_rows FROM expected GROUP BY 1) AS m
        ON m.organization = u.organization
    LEFT JOIN expected AS e ON e.organization = u.organization AND e.compressor_id = u.compressor_id
    CROSS JOIN params AS p
)
SELECT
    organization,
    scope,
    compressor_id,
    as_of,
    CAST(bronze_rows AS BIGINT) AS bronze_rows,
    CAST(silver_rows AS BIGINT) AS silver_rows,
    CAST(invalid_rows AS BIGINT) AS invalid_rows,
    CAST(expected_rows AS BIGINT) AS expected_rows,
    lag_minutes AS freshness,
    lag_minutes IS NOT NULL AND lag_minutes <= freshness_sla_minutes AS freshness_passed,
    CASE WHEN expected_rows > 0 THEN LEAST(silver_rows / expected_rows, 1.0) END AS completeness,
    expected_rows > 0 AND silver_rows >= completeness_pass * expected_rows AS completeness_passed,
    CASE WHEN bronze_rows > 0 THEN 1.0 - invalid_rows / bronze_rows END AS consistency,
    bronze_rows > 0 AND invalid_rows <= (1.0 - consistency_pass) * bronze_rows AS consistency_passed,
    CASE WHEN bronze_rows > 0 THEN silver_rows / bronze_rows END AS accuracy,
    bronze_rows > 0 AND silver_rows >= accuracy_pass * bronze_rows AS accuracy_passed
FROM counted
