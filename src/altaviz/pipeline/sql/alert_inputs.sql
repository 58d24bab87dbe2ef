-- Every gold reading judged for alert episodes (SPEC §2, §4), all eight metrics side by side: the input of
-- the per-compressor step that finds the episodes' opening and clearing readings (pipeline/episodes.py,
-- read back by alert_events.sql), which takes each compressor's readings in time order and each metric's
-- series out of them. A view: row by row, no window. (It replaced a long form of one row per reading and
-- metric, written and sorted by metric: about 2.4 rows per reading, twice the cost of sorting these.)
-- Only what the step judges by goes through its sort: the values and statuses of the few readings it
-- keeps are read back from gold_readings by alert_events.sql (a third of the sort's cost, the join
-- less than half of that).
-- What is the same for all of a compressor's readings (on-delays, clear counts, start transients, earlier
-- violations) does not go through the sort either: the engine hands it to the step with each
-- compressor's readings from alert_limits.sql, as it does the compressor's keys.
-- Inputs: gold_readings, compressor_thresholds, params, violated_before (pairs with a violating reading
-- before the series; empty when everything is computed).
--
-- Per metric <m> (its value column and <m>_status, gold_readings.sql): <m>_state, NULL where the
-- reading has no status of the metric (not in its series) or the compressor no limits for it; else
-- violating (1), clear (0: back past the warning limit by the deadband, params.deadband_ratio of the
-- limit), or neither (2: in the deadband, a value silver flagged as a spike — `suspect` —, or a limit the
-- unit's operating state leaves unjudged, see below), which neither opens nor clears an episode. The
-- deadband keeps a value hovering at the limit from opening and closing episodes over and over
-- (chattering).
--
-- State-based suppression (ISA-18.2 designed suppression; README "Alerts"), on the operating state
-- gold_readings.sql reads off the data: a stopped unit's reading judges no limit (its flow, pressures
-- and horsepower are those of a machine at rest, not of a fault), and a starting unit's (the
-- params.settle_seconds after its last stopped reading) judges none of the limits a start itself
-- crosses (start_transient: low flow, low suction pressure, the temperature rate); the others (high
-- vibration, temperature, pressures, horsepower) are judged from the first running reading, as
-- crossing them during a start is a fault. `stopped` (the reading's unit is stopped) and
-- <m>_transient (alert_limits.sql) let the step see a trip (pipeline/episodes.py).
--
-- What does not change from reading to reading is stated once: per compressor and metric (`limits`)
-- the clear bound, <m>_clear_below (warning × (1 − deadband), alarmed high) or <m>_clear_above
-- (warning × (1 + deadband), alarmed low), the other NULL; per reading (`judged`) its operating state's
-- two tests. The same values as the direction compared and the bound multiplied per reading and
-- metric, for fewer operations per reading (4.3 M readings: 1.4-1.6 against 1.6-2.4 CPU s). A status
-- other than normal is a violation (statuses are normal, warning or critical: gold_readings.sql).
WITH limits AS (
    SELECT
        organization,
        compressor_id,
        MAX(CASE WHEN metric = 'vibration_mms' THEN CAST(on_delay AS SMALLINT) END) AS vibration_mms_open,
        BOOL_OR(CASE WHEN metric = 'vibration_mms' THEN start_transient END) AS vibration_mms_transient,
        MAX(CASE WHEN metric = 'vibration_mms' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS vibration_mms_clear_below,
        MAX(CASE WHEN metric = 'vibration_mms' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS vibration_mms_clear_above,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN CAST(on_delay AS SMALLINT) END) AS discharge_temp_f_open,
        BOOL_OR(CASE WHEN metric = 'discharge_temp_f' THEN start_transient END) AS discharge_temp_f_transient,
        MAX(CASE WHEN metric = 'discharge_temp_f' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS discharge_temp_f_clear_below,
        MAX(CASE WHEN metric = 'discharge_temp_f' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS discharge_temp_f_clear_above,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN CAST(on_delay AS SMALLINT) END) AS discharge_pressure_psi_open,
        BOOL_OR(CASE WHEN metric = 'discharge_pressure_psi' THEN start_transient END) AS discharge_pressure_psi_transient,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS discharge_pressure_psi_clear_below,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS discharge_pressure_psi_clear_above,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN CAST(on_delay AS SMALLINT) END) AS suction_pressure_psi_open,
        BOOL_OR(CASE WHEN metric = 'suction_pressure_psi' THEN start_transient END) AS suction_pressure_psi_transient,
        MAX(CASE WHEN metric = 'suction_pressure_psi' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS suction_pressure_psi_clear_below,
        MAX(CASE WHEN metric = 'suction_pressure_psi' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS suction_pressure_psi_clear_above,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN CAST(on_delay AS SMALLINT) END) AS horsepower_consumption_open,
        BOOL_OR(CASE WHEN metric = 'horsepower_consumption' THEN start_transient END) AS horsepower_consumption_transient,
        MAX(CASE WHEN metric = 'horsepower_consumption' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS horsepower_consumption_clear_below,
        MAX(CASE WHEN metric = 'horsepower_consumption' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS horsepower_consumption_clear_above,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN CAST(on_delay AS SMALLINT) END) AS gas_flow_mcf_open,
        BOOL_OR(CASE WHEN metric = 'gas_flow_mcf' THEN start_transient END) AS gas_flow_mcf_transient,
        MAX(CASE WHEN metric = 'gas_flow_mcf' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS gas_flow_mcf_clear_below,
        MAX(CASE WHEN metric = 'gas_flow_mcf' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS gas_flow_mcf_clear_above,
        MAX(CASE WHEN metric = 'pressure_differential' THEN CAST(on_delay AS SMALLINT) END) AS pressure_differential_open,
        BOOL_OR(CASE WHEN metric = 'pressure_differential' THEN start_transient END) AS pressure_differential_transient,
        MAX(CASE WHEN metric = 'pressure_differential' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS pressure_differential_clear_below,
        MAX(CASE WHEN metric = 'pressure_differential' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS pressure_differential_clear_above,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN CAST(on_delay AS SMALLINT) END) AS temp_rate_of_change_open,
        BOOL_OR(CASE WHEN metric = 'temp_rate_of_change' THEN start_transient END) AS temp_rate_of_change_transient,
        MAX(CASE WHEN metric = 'temp_rate_of_change' AND direction = 'high' THEN warning * (1 - p.deadband_ratio) END) AS temp_rate_of_change_clear_below,
        MAX(CASE WHEN metric = 'temp_rate_of_change' AND direction = 'low' THEN warning * (1 + p.deadband_ratio) END) AS temp_rate_of_change_clear_above
    FROM compressor_thresholds
    CROSS JOIN params AS p
    GROUP BY organization, compressor_id
),
-- The compressors with a violating reading (state 1 below) of some metric, or a pair that violated
-- before the series: the step keeps nothing of another compressor's readings (a metric's series of a
-- compressor with neither keeps nothing: pipeline/episodes.py), so only theirs go through its sort
-- (a 1,000 × 30-day default run: 42 % of the readings). The test is the state's CASE below reduced to
-- its 1, over the few readings with a status other than normal.
alerting AS (
    SELECT g.organization, g.compressor_id
    FROM (
        SELECT
            *,
            operating_state = 'stopped' AS stopped,
            operating_state = 'starting' AS starting
        FROM gold_readings
        WHERE vibration_mms_status <> 'normal'
            OR discharge_temp_f_status <> 'normal'
            OR discharge_pressure_psi_status <> 'normal'
            OR suction_pressure_psi_status <> 'normal'
            OR horsepower_consumption_status <> 'normal'
            OR gas_flow_mcf_status <> 'normal'
            OR pressure_differential_status <> 'normal'
            OR temp_rate_of_change_status <> 'normal'
    ) AS g
    JOIN limits AS l ON l.organization = g.organization AND l.compressor_id = g.compressor_id
    WHERE NOT g.stopped AND (
        (g.vibration_mms_status <> 'normal' AND l.vibration_mms_open IS NOT NULL AND NOT COALESCE(g.starting AND l.vibration_mms_transient, FALSE)
            AND NOT COALESCE(g.quality_flags LIKE '%spike:vibration_mms%', FALSE))
        OR (g.discharge_temp_f_status <> 'normal' AND l.discharge_temp_f_open IS NOT NULL AND NOT COALESCE(g.starting AND l.discharge_temp_f_transient, FALSE)
            AND NOT COALESCE(g.quality_flags LIKE '%spike:discharge_temp_f%', FALSE))
        OR (g.discharge_pressure_psi_status <> 'normal' AND l.discharge_pressure_psi_open IS NOT NULL AND NOT COALESCE(g.starting AND l.discharge_pressure_psi_transient, FALSE)
            AND NOT COALESCE(g.quality_flags LIKE '%spike:discharge_pressure_psi%', FALSE))
        OR (g.suction_pressure_psi_status <> 'normal' AND l.suction_pressure_psi_open IS NOT NULL AND NOT COALESCE(g.starting AND l.suction_pressure_psi_transient, FALSE)
            AND NOT COALESCE(g.quality_flags LIKE '%spike:suction_pressure_psi%', FALSE))
        OR (g.horsepower_consumption_status <> 'normal' AND l.horsepower_consumption_open IS NOT NULL AND NOT COALESCE(g.starting AND l.horsepower_consumption_transient, FALSE)
            AND NOT COALESCE(g.quality_flags LIKE '%spike:horsepower_consumption%', FALSE))
        OR (g.gas_flow_mcf_status <> 'normal' AND l.gas_flow_mcf_open IS NOT NULL AND NOT COALESCE(g.starting AND l.gas_flow_mcf_transient, FALSE)
            AND NOT COALESCE(g.quality_flags LIKE '%spike:gas_flow_mcf%', FALSE))
        OR (g.pressure_differential_status <> 'normal' AND l.pressure_differential_open IS NOT NULL AND NOT COALESCE(g.starting AND l.pressure_differential_transient, FALSE)
            AND NOT COALESCE(g.quality_flags LIKE '%spike:discharge_pressure_psi%' OR g.quality_flags LIKE '%spike:suction_pressure_psi%', FALSE))
        OR (g.temp_rate_of_change_status <> 'normal' AND l.temp_rate_of_change_open IS NOT NULL AND NOT COALESCE(g.starting AND l.temp_rate_of_change_transient, FALSE))
    )
    UNION
    SELECT organization, compressor_id FROM violated_before
),
judged AS (
    SELECT
        *,
        operating_state = 'stopped' AS stopped,
        operating_state = 'starting' AS starting
    FROM gold_readings
)
SELECT
    g.organization,
    g.compressor_id,
    g.timestamp,
    g.stopped,
    CASE
        WHEN g.vibration_mms_status IS NULL OR l.vibration_mms_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.vibration_mms_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:vibration_mms%', FALSE) THEN 2
        WHEN g.vibration_mms_status <> 'normal' THEN 1
        WHEN g.vibration_mms < l.vibration_mms_clear_below OR g.vibration_mms > l.vibration_mms_clear_above THEN 0
        ELSE 2
    END::TINYINT AS vibration_mms_state,
    CASE
        WHEN g.discharge_temp_f_status IS NULL OR l.discharge_temp_f_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.discharge_temp_f_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:discharge_temp_f%', FALSE) THEN 2
        WHEN g.discharge_temp_f_status <> 'normal' THEN 1
        WHEN g.discharge_temp_f < l.discharge_temp_f_clear_below OR g.discharge_temp_f > l.discharge_temp_f_clear_above THEN 0
        ELSE 2
    END::TINYINT AS discharge_temp_f_state,
    CASE
        WHEN g.discharge_pressure_psi_status IS NULL OR l.discharge_pressure_psi_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.discharge_pressure_psi_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:discharge_pressure_psi%', FALSE) THEN 2
        WHEN g.discharge_pressure_psi_status <> 'normal' THEN 1
        WHEN g.discharge_pressure_psi < l.discharge_pressure_psi_clear_below OR g.discharge_pressure_psi > l.discharge_pressure_psi_clear_above THEN 0
        ELSE 2
    END::TINYINT AS discharge_pressure_psi_state,
    CASE
        WHEN g.suction_pressure_psi_status IS NULL OR l.suction_pressure_psi_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.suction_pressure_psi_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:suction_pressure_psi%', FALSE) THEN 2
        WHEN g.suction_pressure_psi_status <> 'normal' THEN 1
        WHEN g.suction_pressure_psi < l.suction_pressure_psi_clear_below OR g.suction_pressure_psi > l.suction_pressure_psi_clear_above THEN 0
        ELSE 2
    END::TINYINT AS suction_pressure_psi_state,
    CASE
        WHEN g.horsepower_consumption_status IS NULL OR l.horsepower_consumption_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.horsepower_consumption_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:horsepower_consumption%', FALSE) THEN 2
        WHEN g.horsepower_consumption_status <> 'normal' THEN 1
        WHEN g.horsepower_consumption < l.horsepower_consumption_clear_below OR g.horsepower_consumption > l.horsepower_consumption_clear_above THEN 0
        ELSE 2
    END::TINYINT AS horsepower_consumption_state,
    CASE
        WHEN g.gas_flow_mcf_status IS NULL OR l.gas_flow_mcf_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.gas_flow_mcf_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:gas_flow_mcf%', FALSE) THEN 2
        WHEN g.gas_flow_mcf_status <> 'normal' THEN 1
        WHEN g.gas_flow_mcf < l.gas_flow_mcf_clear_below OR g.gas_flow_mcf > l.gas_flow_mcf_clear_above THEN 0
        ELSE 2
    END::TINYINT AS gas_flow_mcf_state,
    CASE
        WHEN g.pressure_differential_status IS NULL OR l.pressure_differential_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.pressure_differential_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:discharge_pressure_psi%' OR g.quality_flags LIKE '%spike:suction_pressure_psi%', FALSE) THEN 2
        WHEN g.pressure_differential_status <> 'normal' THEN 1
        WHEN g.pressure_differential < l.pressure_differential_clear_below OR g.pressure_differential > l.pressure_differential_clear_above THEN 0
        ELSE 2
    END::TINYINT AS pressure_differential_state,
    CASE
        WHEN g.temp_rate_of_change_status IS NULL OR l.temp_rate_of_change_open IS NULL THEN NULL
        WHEN g.stopped OR (g.starting AND l.temp_rate_of_change_transient) THEN 2
        WHEN g.temp_rate_of_change_status <> 'normal' THEN 1
        WHEN g.temp_rate_of_change < l.temp_rate_of_change_clear_below OR g.temp_rate_of_change > l.temp_rate_of_change_clear_above THEN 0
        ELSE 2
    END::TINYINT AS temp_rate_of_change_state
FROM judged AS g
JOIN limits AS l ON l.organization = g.organization AND l.compressor_id = g.compressor_id
JOIN alerting AS a ON a.organization = g.organization AND a.compressor_id = g.compressor_id
