-- What quality.sql needs of each compressor's classified readings, one row per organization and
-- compressor_id (NULL for the readings without one) of this input: a full run's chunk of the fleet
-- holds all readings of its compressors, so quality.sql reads these rows of every chunk instead of
-- every classified reading again. Per compressor:
--   bronze_rows, silver_rows, invalid_rows, newest_epoch  over its usable readings (all but those
--                 held back by the plan limit: not a data-quality problem), as quality.sql counts them
--   interval_seconds  its reporting interval detected from its good readings: the median spacing, when
--                 it has at least params.min_interval_spacings of them (monitored compressors only:
--                 registered and covered by the plan)
--   as_of, first_good, last_good  its latest load and its first and last good reading, of which
--                 quality.sql takes each organization's batch (over every reading, usable or not)
-- Inputs: silver_classified, compressors, plan_compressors, params.
WITH monitored AS (
    SELECT c.organization, c.compressor_id
    FROM compressors AS c
    JOIN plan_compressors AS pc ON pc.organization = c.organization AND pc.compressor_id = c.compressor_id
),
-- The spacing window partitions by a number per monitored compressor (its rank), not by the two text
-- keys: the same partitions, for about three quarters of the CPU (the window's partitioning and sort
-- compare one integer a row instead of two strings).
-- (COMPRESSOR_RANKS: engine.compressor_ranks' query, put in by engine.load_sql)
compressor_rank AS (COMPRESSOR_RANKS(monitored)),
spacing AS (
    SELECT
        r.compressor_rank,
        EPOCH(g.timestamp) - EPOCH(LAG(g.timestamp) OVER w) AS gap
    FROM silver_classified AS g
    JOIN compressor_rank AS r ON r.organization = g.organization AND r.compressor_id = g.compressor_id
    WHERE g.reason IS NULL
    WINDOW w AS (PARTITION BY r.compressor_rank ORDER BY g.timestamp)
),
detected AS (
    SELECT r.organization, r.compressor_id, d.interval_seconds
    FROM (
        SELECT s.compressor_rank, ROUND(MEDIAN(s.gap)) AS interval_seconds
        FROM spacing AS s
        CROSS JOIN params AS p
        WHERE s.gap > 0
        GROUP BY s.compressor_rank, p.min_interval_spacings
        HAVING COUNT(*) >= p.min_interval_spacings
    ) AS d
    JOIN compressor_rank AS r ON r.compressor_rank = d.compressor_rank
),
counts AS (
    SELECT
        organization,
        compressor_id,
        CAST(SUM(CASE WHEN reason IS NULL OR reason NOT LIKE 'plan limit%' THEN 1 ELSE 0 END) AS BIGINT)
            AS bronze_rows,
        CAST(SUM(CASE WHEN reason IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS silver_rows,
        CAST(SUM(CASE WHEN reason IS NOT NULL AND reason NOT LIKE 'plan limit%' AND reason NOT LIKE 'duplicate%'
                 AND reason NOT LIKE 'future%' AND reason NOT LIKE 'late%' AND reason NOT LIKE 'too old%'
                 THEN 1 ELSE 0 END) AS BIGINT) AS invalid_rows,
        MAX(CASE WHEN reason IS NULL THEN EPOCH(timestamp) END) AS newest_epoch,
        MAX(_loaded_at) AS as_of,
        MIN(CASE WHEN reason IS NULL THEN timestamp END) AS first_good,
        MAX(CASE WHEN reason IS NULL THEN timestamp END) AS last_good
    FROM silver_classified
    GROUP BY organization, compressor_id
)
SELECT
    c.organization,
    c.compressor_id,
    c.bronze_rows,
    c.silver_rows,
    c.invalid_rows,
    c.newest_epoch,
    d.interval_seconds,
    c.as_of,
    c.first_good,
    c.last_good
FROM counts AS c
LEFT JOIN detected AS d ON d.organization = c.organization AND d.compressor_id = c.compressor_id
