-- alert_events.sql as window functions, as it stood before the per-compressor step
-- (pipeline/episodes.py): the reference tests/pipeline/test_episodes.py compares that step with.
-- The readings that decide alert episodes (SPEC §2, §4), per compressor and metric:
-- every violating reading, flagged where it completes the on-delay (`opens`), and every clear reading
-- that completes the clear-delay (`clears`) after a violating reading of its metric (one before the
-- first closes nothing). Input of alerts.sql; small next to the series.
-- Inputs: metric_series, thresholds, params, violated_before (pairs with a violating reading before
-- the series: an incremental run's series starts at its look-back; empty when everything is computed).
--
-- Each reading is violating (state 1), clear (state 0: back past the warning limit by the deadband,
-- params.deadband_ratio of the limit), or neither (state 2: in the deadband, a value silver flagged
-- as a spike, or a limit the unit's operating state leaves unjudged, see below), which neither opens
-- nor clears an episode. A reading opens when it is the params.open_readings-th violating reading in a
-- row (the on-delay: a lone spike opens nothing), and clears when it is the params.clear_readings-th
-- clear reading in a row. The deadband keeps a value hovering at the limit from opening and closing
-- episodes over and over (chattering).
--
-- State-based suppression (ISA-18.2 designed suppression; README "Alerts"), on the operating state
-- gold_readings.sql reads off the data: a stopped unit's reading judges no limit (its flow, pressures
-- and horsepower are those of a machine at rest, not of a fault), and a starting unit's (the
-- params.settle_seconds after its last stopped reading) judges none of the limits a start itself
-- crosses (thresholds.start_transient: low flow, low suction pressure, the temperature rate); the
-- others (high vibration, temperature, pressures, horsepower) are judged from the first running
-- reading, as crossing them during a start is a fault. An episode open when the unit stops stays open
-- through the stop and the start: those readings neither extend nor clear it.
-- A trip: a violating reading of a limit judged during a start that the unit's stop follows (the next
-- reading is stopped) opens its episode though its streak is shorter than the on-delay: the unit
-- stopped on it. A fault that trips the unit is alerted at the trip at the latest. (Limits a start
-- crosses are left out: a unit run down before a stop passes them on its way. A reading silver flagged
-- as a spike stays unjudged: on the realistic scenario, counting those raised a glitch's alert at about
-- one stop in 160.)
WITH judged AS (
    SELECT
        s.*,
        t.direction,
        t.warning,
        t.on_delay,
        t.clear_count,
        s.operating_state = 'stopped' OR (s.operating_state = 'starting' AND t.start_transient) AS unjudged,
        COALESCE(
            NOT t.start_transient
            AND LEAD(s.operating_state) OVER (
                PARTITION BY s.organization, s.compressor_id, s.metric ORDER BY s.timestamp
            ) = 'stopped',
            FALSE
        ) AS before_stop
    FROM metric_series AS s
    JOIN compressor_thresholds AS t
        ON t.organization = s.organization AND t.compressor_id = s.compressor_id AND t.metric = s.metric
),
classified AS (
    SELECT
        j.organization,
        j.compressor_id,
        j.metric,
        j.timestamp,
        j.value,
        j.status,
        CASE
            WHEN j.unjudged THEN 2
            WHEN j.suspect THEN 2
            WHEN j.status IN ('warning', 'critical') THEN 1
            WHEN j.direction = 'high' AND j.value < j.warning * (1 - p.deadband_ratio) THEN 0
            WHEN j.direction = 'low' AND j.value > j.warning * (1 + p.deadband_ratio) THEN 0
            ELSE 2
        END AS state,
        j.before_stop,
        j.on_delay AS open_readings,
        j.clear_count AS clear_readings,
        b.compressor_id IS NOT NULL AS violated_before
    FROM judged AS j
    CROSS JOIN params AS p
    LEFT JOIN violated_before AS b
        ON b.organization = j.organization AND b.compressor_id = j.compressor_id AND b.metric = j.metric
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
),
opening AS (
    SELECT
        s.*,
        state = 1 AND (violating_streak = open_readings OR (before_stop AND violating_streak < open_readings))
            AS opens
    FROM streaks AS s
)
SELECT
    organization,
    compressor_id,
    metric,
    timestamp,
    value,
    status,
    -- on an opening reading, when its violating streak began
    CASE WHEN opens THEN streak_start END AS streak_start,
    opens,
    state = 0 AND clear_streak = clear_readings AS clears
FROM opening
WHERE state = 1 OR (state = 0 AND clear_streak = clear_readings AND (violated_so_far OR violated_before))
