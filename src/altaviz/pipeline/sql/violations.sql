-- One row per reading and metric beyond its warning or critical threshold, with the unit's operating
-- state at that reading (gold_readings.sql): a violation of a stopped or starting unit is kept here,
-- as what the value was, though alert_events.sql does not count it (state-based suppression).
-- Inputs: gold_readings, compressor_thresholds.
-- The readings with any violation are read once (few: most readings violate nothing), then each
-- metric's violations taken from them (joined with the compressor's eight thresholds, one row per
-- metric).
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
),
-- each violating reading with its compressor's thresholds (one row per metric), the metric's value
judged AS (
    SELECT
        v.organization,
        v.compressor_id,
        v.timestamp,
        t.metric,
        CASE t.metric
            WHEN 'vibration_mms' THEN v.vibration_mms
            WHEN 'discharge_temp_f' THEN v.discharge_temp_f
            WHEN 'discharge_pressure_psi' THEN v.discharge_pressure_psi
            WHEN 'suction_pressure_psi' THEN v.suction_pressure_psi
            WHEN 'horsepower_consumption' THEN v.horsepower_consumption
            WHEN 'gas_flow_mcf' THEN v.gas_flow_mcf
            WHEN 'pressure_differential' THEN v.pressure_differential
            WHEN 'temp_rate_of_change' THEN v.temp_rate_of_change
        END AS value,
        CASE t.metric
            WHEN 'vibration_mms' THEN v.vibration_mms_status
            WHEN 'discharge_temp_f' THEN v.discharge_temp_f_status
            WHEN 'discharge_pressure_psi' THEN v.discharge_pressure_psi_status
            WHEN 'suction_pressure_psi' THEN v.suction_pressure_psi_status
            WHEN 'horsepower_consumption' THEN v.horsepower_consumption_status
            WHEN 'gas_flow_mcf' THEN v.gas_flow_mcf_status
            WHEN 'pressure_differential' THEN v.pressure_differential_status
            WHEN 'temp_rate_of_change' THEN v.temp_rate_of_change_status
        END AS severity,
        t.warning,
        t.critical,
        v.operating_state
    FROM violating AS v
    JOIN compressor_thresholds AS t
        ON t.organization = v.organization AND t.compressor_id = v.compressor_id
)
SELECT
    organization,
    compressor_id,
    timestamp,
    metric,
    value,
    severity,
    CASE WHEN severity = 'critical' THEN critical ELSE warning END AS threshold_value,
    operating_state
FROM judged
WHERE severity IN ('warning', 'critical')
