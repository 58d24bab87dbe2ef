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
-- Inputs: gold_readings, compressor_thresholds, params.
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
WITH limits AS (
    SELECT
        organization,
        compressor_id,
        MAX(CASE WHEN metric = 'vibration_mms' THEN direction END) AS vibration_mms_direction,
        MAX(CASE WHEN metric = 'vibration_mms' THEN warning END) AS vibration_mms_warning,
        MAX(CASE WHEN metric = 'vibration_mms' THEN CAST(on_delay AS SMALLINT) END) AS vibration_mms_open,
        BOOL_OR(CASE WHEN metric = 'vibration_mms' THEN start_transient END) AS vibration_mms_transient,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN direction END) AS discharge_temp_f_direction,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN warning END) AS discharge_temp_f_warning,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN CAST(on_delay AS SMALLINT) END) AS discharge_temp_f_open,
        BOOL_OR(CASE WHEN metric = 'discharge_temp_f' THEN start_transient END) AS discharge_temp_f_transient,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN direction END) AS discharge_pressure_psi_direction,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN warning END) AS discharge_pressure_psi_warning,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN CAST(on_delay AS SMALLINT) END) AS discharge_pressure_psi_open,
        BOOL_OR(CASE WHEN metric = 'discharge_pressure_psi' THEN start_transient END) AS discharge_pressure_psi_transient,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN direction END) AS suction_pressure_psi_direction,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN warning END) AS suction_pressure_psi_warning,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN CAST(on_delay AS SMALLINT) END) AS suction_pressure_psi_open,
        BOOL_OR(CASE WHEN metric = 'suction_pressure_psi' THEN start_transient END) AS suction_pressure_psi_transient,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN direction END) AS horsepower_consumption_direction,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN warning END) AS horsepower_consumption_warning,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN CAST(on_delay AS SMALLINT) END) AS horsepower_consumption_open,
        BOOL_OR(CASE WHEN metric = 'horsepower_consumption' THEN start_transient END) AS horsepower_consumption_transient,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN direction END) AS gas_flow_mcf_direction,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN warning END) AS gas_flow_mcf_warning,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN CAST(on_delay AS SMALLINT) END) AS gas_flow_mcf_open,
        BOOL_OR(CASE WHEN metric = 'gas_flow_mcf' THEN start_transient END) AS gas_flow_mcf_transient,
        MAX(CASE WHEN metric = 'pressure_differential' THEN direction END) AS pressure_differential_direction,
        MAX(CASE WHEN metric = 'pressure_differential' THEN warning END) AS pressure_differential_warning,
        MAX(CASE WHEN metric = 'pressure_differential' THEN CAST(on_delay AS SMALLINT) END) AS pressure_differential_open,
        BOOL_OR(CASE WHEN metric = 'pressure_differential' THEN start_transient END) AS pressure_differential_transient,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN direction END) AS temp_rate_of_change_direction,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN warning END) AS temp_rate_of_change_warning,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN CAST(on_delay AS SMALLINT) END) AS temp_rate_of_change_open,
        BOOL_OR(CASE WHEN metric = 'temp_rate_of_change' THEN start_transient END) AS temp_rate_of_change_transient
    FROM compressor_thresholds
    GROUP BY organization, compressor_id
)
SELECT
    g.organization,
    g.compressor_id,
    g.timestamp,
    g.operating_state = 'stopped' AS stopped,
    CASE
        WHEN g.vibration_mms_status IS NULL OR l.vibration_mms_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.vibration_mms_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:vibration_mms%', FALSE) THEN 2
        WHEN g.vibration_mms_status IN ('warning', 'critical') THEN 1
        WHEN l.vibration_mms_direction = 'high' AND g.vibration_mms < l.vibration_mms_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.vibration_mms_direction = 'low' AND g.vibration_mms > l.vibration_mms_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS vibration_mms_state,
    CASE
        WHEN g.discharge_temp_f_status IS NULL OR l.discharge_temp_f_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.discharge_temp_f_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:discharge_temp_f%', FALSE) THEN 2
        WHEN g.discharge_temp_f_status IN ('warning', 'critical') THEN 1
        WHEN l.discharge_temp_f_direction = 'high' AND g.discharge_temp_f < l.discharge_temp_f_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.discharge_temp_f_direction = 'low' AND g.discharge_temp_f > l.discharge_temp_f_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS discharge_temp_f_state,
    CASE
        WHEN g.discharge_pressure_psi_status IS NULL OR l.discharge_pressure_psi_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.discharge_pressure_psi_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:discharge_pressure_psi%', FALSE) THEN 2
        WHEN g.discharge_pressure_psi_status IN ('warning', 'critical') THEN 1
        WHEN l.discharge_pressure_psi_direction = 'high' AND g.discharge_pressure_psi < l.discharge_pressure_psi_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.discharge_pressure_psi_direction = 'low' AND g.discharge_pressure_psi > l.discharge_pressure_psi_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS discharge_pressure_psi_state,
    CASE
        WHEN g.suction_pressure_psi_status IS NULL OR l.suction_pressure_psi_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.suction_pressure_psi_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:suction_pressure_psi%', FALSE) THEN 2
        WHEN g.suction_pressure_psi_status IN ('warning', 'critical') THEN 1
        WHEN l.suction_pressure_psi_direction = 'high' AND g.suction_pressure_psi < l.suction_pressure_psi_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.suction_pressure_psi_direction = 'low' AND g.suction_pressure_psi > l.suction_pressure_psi_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS suction_pressure_psi_state,
    CASE
        WHEN g.horsepower_consumption_status IS NULL OR l.horsepower_consumption_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.horsepower_consumption_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:horsepower_consumption%', FALSE) THEN 2
        WHEN g.horsepower_consumption_status IN ('warning', 'critical') THEN 1
        WHEN l.horsepower_consumption_direction = 'high' AND g.horsepower_consumption < l.horsepower_consumption_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.horsepower_consumption_direction = 'low' AND g.horsepower_consumption > l.horsepower_consumption_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS horsepower_consumption_state,
    CASE
        WHEN g.gas_flow_mcf_status IS NULL OR l.gas_flow_mcf_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.gas_flow_mcf_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:gas_flow_mcf%', FALSE) THEN 2
        WHEN g.gas_flow_mcf_status IN ('warning', 'critical') THEN 1
        WHEN l.gas_flow_mcf_direction = 'high' AND g.gas_flow_mcf < l.gas_flow_mcf_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.gas_flow_mcf_direction = 'low' AND g.gas_flow_mcf > l.gas_flow_mcf_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS gas_flow_mcf_state,
    CASE
        WHEN g.pressure_differential_status IS NULL OR l.pressure_differential_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.pressure_differential_transient) THEN 2
        WHEN COALESCE(g.quality_flags LIKE '%spike:discharge_pressure_psi%'
                 OR g.quality_flags LIKE '%spike:suction_pressure_psi%', FALSE) THEN 2
        WHEN g.pressure_differential_status IN ('warning', 'critical') THEN 1
        WHEN l.pressure_differential_direction = 'high' AND g.pressure_differential < l.pressure_differential_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.pressure_differential_direction = 'low' AND g.pressure_differential > l.pressure_differential_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS pressure_differential_state,
    CASE
        WHEN g.temp_rate_of_change_status IS NULL OR l.temp_rate_of_change_open IS NULL THEN NULL
        WHEN g.operating_state = 'stopped' OR (g.operating_state = 'starting' AND l.temp_rate_of_change_transient) THEN 2
        WHEN FALSE THEN 2
        WHEN g.temp_rate_of_change_status IN ('warning', 'critical') THEN 1
        WHEN l.temp_rate_of_change_direction = 'high' AND g.temp_rate_of_change < l.temp_rate_of_change_warning * (1 - p.deadband_ratio) THEN 0
        WHEN l.temp_rate_of_change_direction = 'low' AND g.temp_rate_of_change > l.temp_rate_of_change_warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END::TINYINT AS temp_rate_of_change_state
FROM gold_readings AS g
JOIN limits AS l ON l.organization = g.organization AND l.compressor_id = g.compressor_id
CROSS JOIN params AS p
