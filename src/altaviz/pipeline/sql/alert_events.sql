-- The readings that decide alert episodes (SPEC §2, §4), per compressor and metric:
-- every violating reading, flagged where it completes the on-delay (`opens`), and every clear reading
-- that completes the clear-delay (`clears`) after a violating reading of its metric (one before the
-- first closes nothing). Input of alerts.sql; small next to the series.
-- Inputs: metric_series, thresholds, params, violated_before (pairs with a violating reading before
-- the series: an incremental run's series starts at its look-back; empty when everything is computed).
--
-- Each reading is violating (state 1), clear (state 0: back past the warning limit by the deadband,
-- params.deadband_ratio of the limit), or neither (state 2: in the deadband, or a value silver flagged
-- as a spike, which neither opens nor clears an episode). A reading opens when it is the
-- params.open_readings-th violating reading in a row (the on-delay: a lone spike opens nothing), and
-- clears when it is the params.clear_readings-th clear reading in a row. The deadband keeps a value
-- hovering at the limit from opening and closing episodes over and over (chattering).
WITH classified AS (
    SELECT
        s.organization,
        s.compressor_id,
        s.metric,
        s.timestamp,
        s.value,
        s.status,
        CASE
            WHEN s.suspect THEN 2
            WHEN s.status IN ('warning', 'critical') THEN 1
            WHEN t.direction = 'high' AND s.value < t.warning * (1 - p.deadband_ratio) THEN 0
            WHEN t.direction = 'low' AND s.value > t.warning * (1 + p.deadband_ratio) THEN 0
            ELSE 2
        END AS state,
        t.on_delay AS open_readings,
        t.clear_count AS clear_readings,
        b.compressor_id IS NOT NULL AS violated_before
    FROM metric_series AS s
    JOIN compressor_thresholds AS t
        ON t.organization = s.organization AND t.compressor_id = s.compressor_id AND t.metric = s.metric
    CROSS JOIN params AS p
    LEFT JOIN violated_before AS b
        ON b.organization = s.organization AND b.compressor_id = s.compressor_id AND b.metric = s.metric
),
numbered AS (
    SELECT
        c.*,
        ROW_NUMBER() OVER w AS seq,
        LAG(state) OVER w AS previous_state
    FROM classified AS c
    WINDOW w AS (PARTITION BY organization, compressor_id, metric ORDER BY timestamp)
),
streaks AS (
    SELECT
        n.*,
        seq - COALESCE(MAX(CASE WHEN state <> 1 THEN seq END) OVER so_far, 0) AS violating_streak,
        seq - COALESCE(MAX(CASE WHEN state <> 0 THEN seq END) OVER so_far, 0) AS clear_streak,
        MAX(CASE WHEN state = 1 AND (previous_state IS NULL OR previous_state <> 1) THEN timestamp END)
            OVER so_far AS streak_start,
        MAX(CASE WHEN state = 1 THEN 1 ELSE 0 END) OVER so_far = 1 AS violated_so_far
    FROM numbered AS n
    WINDOW so_far AS (PARTITION BY organization, compressor_id, metric ORDER BY timestamp ROWS UNBOUNDED PRECEDING)
)
SELECT
    organization,
    compressor_id,
    metric,
    timestamp,
    value,
    status,
    -- on an opening reading, when its violating streak began (its reading on-delay back)
    CASE WHEN state = 1 AND violating_streak = open_readings THEN streak_start END AS streak_start,
    state = 1 AND violating_streak = open_readings AS opens,
    state = 0 AND clear_streak = clear_readings AS clears
FROM streaks
WHERE state = 1 OR (state = 0 AND clear_streak = clear_readings AND (violated_so_far OR violated_before))
