-- Alert episodes (SPEC §2, §4): one row per episode of one metric on one compressor.
-- Inputs: metric_series, thresholds, params.
--
-- Each reading of a (compressor, metric) series is violating (state 1), clear (state 0: back past
-- the warning limit by the deadband, params.deadband_ratio of the limit), or neither (state 2: in the
-- deadband, or a value silver flagged as a spike, which neither opens nor clears an episode). The series is split into runs of equal state.
-- An episode opens at the params.open_readings-th reading of the first violating run that long (the
-- on-delay: a lone spike opens nothing), stays open through everything short of a clearing run, and
-- returns to normal at the params.clear_readings-th reading of a clear run that long. Such a clearing
-- run also starts the next segment, where the next episode may open. The deadband keeps a value
-- hovering at the limit from opening and closing episodes over and over (chattering).
WITH ordered AS (
    SELECT
        s.*,
        CASE
            WHEN s.suspect THEN 2
            WHEN s.status IN ('warning', 'critical') THEN 1
            WHEN t.direction = 'high' AND s.value < t.warning * (1 - p.deadband_ratio) THEN 0
            WHEN t.direction = 'low' AND s.value > t.warning * (1 + p.deadband_ratio) THEN 0
            ELSE 2
        END AS state,
        ROW_NUMBER() OVER (PARTITION BY s.compressor_id, s.metric ORDER BY s.timestamp) AS seq
    FROM metric_series AS s
    JOIN thresholds AS t ON t.metric = s.metric
    CROSS JOIN params AS p
),
runs AS (
    SELECT
        o.*,
        seq - ROW_NUMBER() OVER (PARTITION BY compressor_id, metric, state ORDER BY timestamp) AS run_key
    FROM ordered AS o
),
positioned AS (
    SELECT
        r.*,
        COUNT(*) OVER (PARTITION BY compressor_id, metric, state, run_key) AS run_length,
        ROW_NUMBER() OVER (PARTITION BY compressor_id, metric, state, run_key ORDER BY timestamp)
            AS run_position,
        MIN(timestamp) OVER (PARTITION BY compressor_id, metric, state, run_key) AS run_start,
        p.open_readings,
        p.clear_readings
    FROM runs AS r
    CROSS JOIN params AS p
),
segmented AS (
    SELECT
        x.*,
        SUM(CASE WHEN state = 0 AND run_length >= clear_readings AND run_position = 1 THEN 1 ELSE 0 END)
            OVER (PARTITION BY compressor_id, metric ORDER BY timestamp ROWS UNBOUNDED PRECEDING) AS segment
    FROM positioned AS x
),
openings AS (
    -- The first reading in each segment that completes the on-delay, and where its run began.
    SELECT compressor_id, metric, segment, MIN(timestamp) AS raised_at, MIN(run_start) AS started_at
    FROM (
        SELECT
            compressor_id, metric, segment, timestamp, run_start,
            ROW_NUMBER() OVER (PARTITION BY compressor_id, metric, segment ORDER BY timestamp) AS nth
        FROM segmented
        WHERE state = 1 AND run_position = open_readings
    ) AS first_open
    WHERE nth = 1
    GROUP BY compressor_id, metric, segment
),
clearings AS (
    -- Where each segment's leading clearing run reached params.clear_readings clear readings: that
    -- is when the previous segment's episode returned to normal.
    SELECT compressor_id, metric, segment, MIN(timestamp) AS cleared_at
    FROM segmented
    WHERE state = 0 AND run_length >= clear_readings AND run_position = clear_readings
    GROUP BY compressor_id, metric, segment
),
episode_readings AS (
    SELECT
        s.compressor_id,
        s.metric,
        s.segment,
        s.timestamp,
        s.value,
        s.status,
        CASE WHEN s.state = 1 THEN 1 ELSE 0 END AS violating,
        o.started_at,
        o.raised_at
    FROM segmented AS s
    JOIN openings AS o
        ON o.compressor_id = s.compressor_id AND o.metric = s.metric AND o.segment = s.segment
    WHERE s.timestamp >= o.started_at
),
episodes AS (
    SELECT
        e.compressor_id,
        e.metric,
        e.segment,
        MIN(e.started_at) AS started_at,
        MIN(e.raised_at) AS raised_at,
        MAX(CASE WHEN e.violating = 1 THEN e.timestamp END) AS last_violation_at,
        MAX(CASE WHEN e.status = 'critical' THEN 2 WHEN e.status = 'warning' THEN 1 ELSE 0 END) AS severity_rank,
        SUM(e.violating) AS violation_count,
        -- The worst value: highest for metrics alarmed high, lowest for those alarmed low.
        MAX(CASE WHEN e.violating = 1 THEN e.value * CASE WHEN t.direction = 'low' THEN -1 ELSE 1 END END)
            * MAX(CASE WHEN t.direction = 'low' THEN -1 ELSE 1 END) AS peak_value,
        MAX(t.warning) AS warning,
        MAX(t.critical) AS critical
    FROM episode_readings AS e
    JOIN thresholds AS t ON t.metric = e.metric
    GROUP BY e.compressor_id, e.metric, e.segment
)
SELECT
    ep.compressor_id,
    ep.metric,
    CASE WHEN ep.severity_rank = 2 THEN 'critical' ELSE 'warning' END AS severity,
    ep.started_at,
    ep.raised_at,
    ep.last_violation_at,
    c.cleared_at AS returned_to_normal_at,
    c.cleared_at IS NULL AS is_active,
    ep.peak_value,
    CASE WHEN ep.severity_rank = 2 THEN ep.critical ELSE ep.warning END AS threshold_value,
    CAST(ep.violation_count AS INTEGER) AS violation_count
FROM episodes AS ep
LEFT JOIN clearings AS c
    ON c.compressor_id = ep.compressor_id AND c.metric = ep.metric AND c.segment = ep.segment + 1
