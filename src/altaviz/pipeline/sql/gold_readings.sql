-- Per-reading gold: what a later step reads of each reading, and nothing more (README, "The lake"):
-- the sensor values and quality flags, the pressure differential, the smoothed temperature rate of
-- change, the status of each of the eight threshold metrics and the unit's operating state. Read by
-- gold_hourly, violations, alert_inputs (alert episodes) and the dashboard's recent readings; one row
-- per silver reading, none dropped. The other per-reading features of SPEC §3 (the 1/4/24-hour rolling windows, hour of day, day
-- of week, weekend flag) are derived where needed (pipeline/features.py), not stored.
-- Inputs: rated_readings (silver_readings with is_stopped, stopped_readings.sql, and what gold's
-- per-compressor step, pipeline/rolling.py, computes in one pass over each compressor's readings:
-- temp_rate_of_change, the mean temperature of the last hour [t - 1 h, t] against that of the hour
-- before [t - 2 h, t - 1 h), per hour between the two windows' mean timestamps, NULL until both hold
-- params.rate_min_readings readings; and last_stopped, the time of the compressor's latest stopped
-- reading up to this one, NULL before its first), compressor_thresholds (the limits that apply to each
-- compressor and metric), evaluation (evaluate_from: the first reading whose row is wanted, the
-- readings before it being context of the rate and of the operating state; NULL for all), params
-- (settle_seconds).
--
-- operating_state, known from the readings themselves (ISA-18.2 state-based alarm suppression, README
-- "Alerts"): 'stopped' when the reading is (stopped_readings.sql); 'starting' for
-- params.settle_seconds after the unit's last stopped reading (its start's transient); else 'running'.
-- The statuses stay those of the values: alert_events.sql decides what a state leaves unjudged.
--
-- The statuses and states are the values of `vocabulary`, typed as the ENUMs DuckDB writes them as
-- (stages.STATUSES, OPERATING_STATES: engine.copy_parquet), so that each is one from the CASE on and
-- no text is cast for the write: writing 4.3 M readings cost about 1 CPU s less. Spark has no ENUM:
-- its SQL casts them to STRING (engine.spark_sql).
WITH vocabulary AS (
    SELECT
        CAST('normal' AS ENUM('normal', 'warning', 'critical')) AS normal,
        CAST('warning' AS ENUM('normal', 'warning', 'critical')) AS warning,
        CAST('critical' AS ENUM('normal', 'warning', 'critical')) AS critical,
        CAST('running' AS ENUM('running', 'starting', 'stopped')) AS running,
        CAST('starting' AS ENUM('running', 'starting', 'stopped')) AS starting,
        CAST('stopped' AS ENUM('running', 'starting', 'stopped')) AS stopped
),
limits AS (
    SELECT
        organization,
        compressor_id,
        MAX(CASE WHEN metric = 'vibration_mms' THEN warning END) AS vib_warn,
        MAX(CASE WHEN metric = 'vibration_mms' THEN critical END) AS vib_crit,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN warning END) AS temp_warn,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN critical END) AS temp_crit,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN warning END) AS dis_warn,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN critical END) AS dis_crit,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN warning END) AS suc_warn,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN critical END) AS suc_crit,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN warning END) AS hp_warn,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN critical END) AS hp_crit,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN warning END) AS flow_warn,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN critical END) AS flow_crit,
        MAX(CASE WHEN metric = 'pressure_differential' THEN warning END) AS dp_warn,
        MAX(CASE WHEN metric = 'pressure_differential' THEN critical END) AS dp_crit,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN warning END) AS rate_warn,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN critical END) AS rate_crit
    FROM compressor_thresholds
    GROUP BY organization, compressor_id
),
features AS (
    SELECT
        s.*,
        discharge_pressure_psi - suction_pressure_psi AS pressure_differential,
        CASE
            WHEN is_stopped THEN v.stopped
            WHEN EPOCH(s.timestamp) - EPOCH(s.last_stopped) < p.settle_seconds THEN v.starting
            ELSE v.running
        END AS operating_state
    FROM rated_readings AS s
    CROSS JOIN params AS p
    CROSS JOIN vocabulary AS v
    CROSS JOIN evaluation AS e
    WHERE e.evaluate_from IS NULL OR s.timestamp >= e.evaluate_from
)
SELECT
    f.organization,
    f.compressor_id,
    f.timestamp,
    f.vibration_mms,
    f.discharge_temp_f,
    f.suction_pressure_psi,
    f.discharge_pressure_psi,
    f.horsepower_consumption,
    f.gas_flow_mcf,
    f.quality_flags,
    f.pressure_differential,
    f.temp_rate_of_change,
    f.operating_state,
    CASE WHEN f.vibration_mms >= l.vib_crit THEN v.critical WHEN f.vibration_mms >= l.vib_warn THEN v.warning
         WHEN f.vibration_mms IS NOT NULL THEN v.normal END AS vibration_mms_status,
    CASE WHEN f.discharge_temp_f >= l.temp_crit THEN v.critical
         WHEN f.discharge_temp_f >= l.temp_warn THEN v.warning
         WHEN f.discharge_temp_f IS NOT NULL THEN v.normal END AS discharge_temp_f_status,
    CASE WHEN f.discharge_pressure_psi >= l.dis_crit THEN v.critical
         WHEN f.discharge_pressure_psi >= l.dis_warn THEN v.warning
         WHEN f.discharge_pressure_psi IS NOT NULL THEN v.normal END AS discharge_pressure_psi_status,
    CASE WHEN f.suction_pressure_psi <= l.suc_crit THEN v.critical
         WHEN f.suction_pressure_psi <= l.suc_warn THEN v.warning
         WHEN f.suction_pressure_psi IS NOT NULL THEN v.normal END AS suction_pressure_psi_status,
    CASE WHEN f.horsepower_consumption >= l.hp_crit THEN v.critical
         WHEN f.horsepower_consumption >= l.hp_warn THEN v.warning
         WHEN f.horsepower_consumption IS NOT NULL THEN v.normal END AS horsepower_consumption_status,
    CASE WHEN f.gas_flow_mcf <= l.flow_crit THEN v.critical WHEN f.gas_flow_mcf <= l.flow_warn THEN v.warning
         WHEN f.gas_flow_mcf IS NOT NULL THEN v.normal END AS gas_flow_mcf_status,
    CASE WHEN f.pressure_differential >= l.dp_crit THEN v.critical
         WHEN f.pressure_differential >= l.dp_warn THEN v.warning
         WHEN f.pressure_differential IS NOT NULL THEN v.normal END AS pressure_differential_status,
    CASE WHEN f.temp_rate_of_change >= l.rate_crit THEN v.critical
         WHEN f.temp_rate_of_change >= l.rate_warn THEN v.warning
         WHEN f.temp_rate_of_change IS NOT NULL THEN v.normal END AS temp_rate_of_change_status
FROM features AS f
LEFT JOIN limits AS l ON l.organization = f.organization AND l.compressor_id = f.compressor_id
CROSS JOIN vocabulary AS v
