-- The readings that decide alert episodes (SPEC §2, §4), per compressor and metric: every violating
-- reading, flagged where it completes the on-delay (`opens`), and every clear reading that completes
-- the clear-delay (`clears`) after a violating reading of its metric (one before the first closes
-- nothing). Input of alerts.sql; small next to the series.
-- Inputs: alert_streaks, the per-compressor step (pipeline/episodes.py) over alert_inputs.sql, which
-- judges each reading (violating, clear or neither) and states the rules; the step counts the streaks
-- in one pass over each compressor's series, ordered by time. gold_readings: each kept reading's value
-- and status of its metric (one gold row per compressor and timestamp). The step's rows, few, are the
-- join's build side (written second: a statement reading a stream keeps its joins as written).
SELECT
    s.organization,
    s.compressor_id,
    s.metric,
    s.timestamp,
    CASE s.metric
        WHEN 'vibration_mms' THEN g.vibration_mms
        WHEN 'discharge_temp_f' THEN g.discharge_temp_f
        WHEN 'discharge_pressure_psi' THEN g.discharge_pressure_psi
        WHEN 'suction_pressure_psi' THEN g.suction_pressure_psi
        WHEN 'horsepower_consumption' THEN g.horsepower_consumption
        WHEN 'gas_flow_mcf' THEN g.gas_flow_mcf
        WHEN 'pressure_differential' THEN g.pressure_differential
        WHEN 'temp_rate_of_change' THEN g.temp_rate_of_change
    END AS value,
    CASE s.metric
        WHEN 'vibration_mms' THEN g.vibration_mms_status
        WHEN 'discharge_temp_f' THEN g.discharge_temp_f_status
        WHEN 'discharge_pressure_psi' THEN g.discharge_pressure_psi_status
        WHEN 'suction_pressure_psi' THEN g.suction_pressure_psi_status
        WHEN 'horsepower_consumption' THEN g.horsepower_consumption_status
        WHEN 'gas_flow_mcf' THEN g.gas_flow_mcf_status
        WHEN 'pressure_differential' THEN g.pressure_differential_status
        WHEN 'temp_rate_of_change' THEN g.temp_rate_of_change_status
    END AS status,
    s.streak_start,
    s.opens,
    s.clears
FROM gold_readings AS g
JOIN alert_streaks AS s
    ON s.organization = g.organization AND s.compressor_id = g.compressor_id AND s.timestamp = g.timestamp
