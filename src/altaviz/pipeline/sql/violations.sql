-- One row per reading and metric beyond its warning or critical threshold, with the unit's operating
-- state at that reading (gold_readings.sql): a violation of a stopped or starting unit is kept here,
-- as what the value was, though alert_events.sql does not count it (state-based suppression).
-- Inputs: gold_readings, compressor_thresholds.
-- The readings with any violation are read once (few: most readings violate nothing), then each
-- metric's violations taken from them.
WITH violating AS (
    SELECT
        organization,
        compressor_id,
        timestamp,
        operating_state,
        vibration_mms,
        vibration_mms_status,
        discharge_temp_f,
        discharge_temp_f_status,
        discharge_pressure_psi,
        discharge_pressure_psi_status,
        suction_pressure_psi,
        suction_pressure_psi_status,
        horsepower_consumption,
        horsepower_consumption_status,
        gas_flow_mcf,
        gas_flow_mcf_status,
        pressure_differential,
        pressure_differential_status,
        temp_rate_of_change,
        temp_rate_of_change_status
    FROM gold_readings
    WHERE vibration_mms_status IN ('warning', 'critical')
        OR discharge_temp_f_status IN ('warning', 'critical')
        OR discharge_pressure_psi_status IN ('warning', 'critical')
        OR suction_pressure_psi_status IN ('warning', 'critical')
        OR horsepower_consumption_status IN ('warning', 'critical')
        OR gas_flow_mcf_status IN ('warning', 'critical')
        OR pressure_differential_status IN ('warning', 'critical')
        OR temp_rate_of_change_status IN ('warning', 'critical')
)
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'vibration_mms' AS metric,
    v.vibration_mms AS value,
    v.vibration_mms_status AS severity,
    CASE WHEN v.vibration_mms_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'vibration_mms'
WHERE v.vibration_mms_status IN ('warning', 'critical')
UNION ALL
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'discharge_temp_f' AS metric,
    v.discharge_temp_f AS value,
    v.discharge_temp_f_status AS severity,
    CASE WHEN v.discharge_temp_f_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'discharge_temp_f'
WHERE v.discharge_temp_f_status IN ('warning', 'critical')
UNION ALL
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'discharge_pressure_psi' AS metric,
    v.discharge_pressure_psi AS value,
    v.discharge_pressure_psi_status AS severity,
    CASE WHEN v.discharge_pressure_psi_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'discharge_pressure_psi'
WHERE v.discharge_pressure_psi_status IN ('warning', 'critical')
UNION ALL
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'suction_pressure_psi' AS metric,
    v.suction_pressure_psi AS value,
    v.suction_pressure_psi_status AS severity,
    CASE WHEN v.suction_pressure_psi_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'suction_pressure_psi'
WHERE v.suction_pressure_psi_status IN ('warning', 'critical')
UNION ALL
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'horsepower_consumption' AS metric,
    v.horsepower_consumption AS value,
    v.horsepower_consumption_status AS severity,
    CASE WHEN v.horsepower_consumption_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'horsepower_consumption'
WHERE v.horsepower_consumption_status IN ('warning', 'critical')
UNION ALL
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'gas_flow_mcf' AS metric,
    v.gas_flow_mcf AS value,
    v.gas_flow_mcf_status AS severity,
    CASE WHEN v.gas_flow_mcf_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'gas_flow_mcf'
WHERE v.gas_flow_mcf_status IN ('warning', 'critical')
UNION ALL
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'pressure_differential' AS metric,
    v.pressure_differential AS value,
    v.pressure_differential_status AS severity,
    CASE WHEN v.pressure_differential_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'pressure_differential'
WHERE v.pressure_differential_status IN ('warning', 'critical')
UNION ALL
SELECT
    v.organization,
    v.compressor_id,
    v.timestamp,
    'temp_rate_of_change' AS metric,
    v.temp_rate_of_change AS value,
    v.temp_rate_of_change_status AS severity,
    CASE WHEN v.temp_rate_of_change_status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    v.operating_state
FROM violating AS v
JOIN compressor_thresholds AS t
    ON t.organization = v.organization AND t.compressor_id = v.compressor_id AND t.metric = 'temp_rate_of_change'
WHERE v.temp_rate_of_change_status IN ('warning', 'critical')
