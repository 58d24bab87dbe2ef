-- Alert episodes (SPEC §2, §4): one row per episode of one metric on one compressor.
-- Inputs: alert_events, thresholds.
--
-- Clearing readings cut each (compressor, metric) into segments. In a segment, the first reading that
-- opens starts an episode (it began with the first reading of that violating streak); the clearing
-- reading that ends the segment returns it to normal, or it is still active. Severity is the worst
-- status seen while open, so it rises to critical when a critical limit is crossed.
WITH segmented AS (
    SELECT
        e.*,
        SUM(CASE WHEN clears THEN 1 ELSE 0 END)
            OVER (PARTITION BY organization, compressor_id, metric ORDER BY timestamp ROWS UNBOUNDED PRECEDING) AS clears_so_far
    FROM alert_events AS e
),
openings AS (
    SELECT organization, compressor_id, metric, segment, raised_at, started_at
    FROM (
        SELECT
            organization,
            compressor_id,
            metric,
            clears_so_far AS segment,
            timestamp AS raised_at,
            streak_start AS started_at,
            ROW_NUMBER() OVER (PARTITION BY organization, compressor_id, metric, clears_so_far ORDER BY timestamp) AS nth
        FROM segmented
        WHERE opens
    ) AS ranked
    WHERE nth = 1
),
episodes AS (
    SELECT o.*, c.timestamp AS cleared_at
    FROM openings AS o
    LEFT JOIN segmented AS c
        ON c.organization = o.organization AND c.compressor_id = o.compressor_id AND c.metric = o.metric AND c.clears
        AND c.clears_so_far = o.segment + 1
),
measured AS (
    SELECT
        ep.organization,
        ep.compressor_id,
        ep.metric,
        ep.started_at,
        MIN(ep.raised_at) AS raised_at,
        MIN(ep.cleared_at) AS cleared_at,
        MAX(v.timestamp) AS last_violation_at,
        MAX(CASE WHEN v.status = 'critical' THEN 2 ELSE 1 END) AS severity_rank,
        COUNT(*) AS violation_count,
        -- The worst value: highest for metrics alarmed high, lowest for those alarmed low.
        MAX(v.value * CASE WHEN t.direction = 'low' THEN -1 ELSE 1 END)
            * MAX(CASE WHEN t.direction = 'low' THEN -1 ELSE 1 END) AS peak_value,
        MAX(t.warning) AS warning,
        MAX(t.critical) AS critical
    FROM episodes AS ep
    JOIN segmented AS v
        ON v.organization = ep.organization AND v.compressor_id = ep.compressor_id AND v.metric = ep.metric
        AND NOT v.clears
        AND v.timestamp >= ep.started_at AND (ep.cleared_at IS NULL OR v.timestamp < ep.cleared_at)
    JOIN compressor_thresholds AS t
        ON t.organization = ep.organization AND t.compressor_id = ep.compressor_id AND t.metric = ep.metric
    GROUP BY ep.organization, ep.compressor_id, ep.metric, ep.started_at
)
SELECT
    organization,
    compressor_id,
    metric,
    CASE WHEN severity_rank = 2 THEN 'critical' ELSE 'warning' END AS severity,
    started_at,
    raised_at,
    last_violation_at,
    cleared_at AS returned_to_normal_at,
    cleared_at IS NULL AS is_active,
    peak_value,
    CASE WHEN severity_rank = 2 THEN critical ELSE warning END AS threshold_value,
    CAST(violation_count AS INTEGER) AS violation_count
FROM measured
