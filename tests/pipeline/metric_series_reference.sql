-- metric_series.sql as it stood before the alert step and violations.sql read gold's readings directly
-- (the eight metrics side by side, alert_inputs.sql): the long form the references
-- (alert_events_reference.sql, violations_reference.sql) read in tests/pipeline/test_episodes.py.
-- Long form (compressor, timestamp, metric, value, status, suspect, operating_state) of every metric
-- that has at least one violation on that compressor: the input of violations and alert episodes. Pairs
-- that never left normal are left out, which keeps this small on a healthy fleet. `suspect` marks a
-- value resting on a reading silver flagged as a spike; `operating_state` is the reading's
-- (gold_readings.sql: running, starting or stopped).
-- Inputs: gold_readings, prior_violations (compressor and metric pairs violated in readings an earlier
-- run processed; empty when everything is recomputed).
WITH violated AS (
    SELECT
        organization,
        compressor_id,
        MAX(vib) AS vib, MAX(temp) AS temp, MAX(dis) AS dis, MAX(suc) AS suc,
        MAX(hp) AS hp, MAX(flow) AS flow, MAX(dp) AS dp, MAX(rate) AS rate
    FROM (
        SELECT
            organization,
            compressor_id,
            CASE WHEN vibration_mms_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS vib,
            CASE WHEN discharge_temp_f_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS temp,
            CASE WHEN discharge_pressure_psi_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS dis,
            CASE WHEN suction_pressure_psi_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS suc,
            CASE WHEN horsepower_consumption_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS hp,
            CASE WHEN gas_flow_mcf_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS flow,
            CASE WHEN pressure_differential_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS dp,
            CASE WHEN temp_rate_of_change_status IN ('warning', 'critical') THEN 1 ELSE 0 END AS rate
        FROM gold_readings
        UNION ALL
        SELECT
            organization,
            compressor_id,
            CASE WHEN metric = 'vibration_mms' THEN 1 ELSE 0 END,
            CASE WHEN metric = 'discharge_temp_f' THEN 1 ELSE 0 END,
            CASE WHEN metric = 'discharge_pressure_psi' THEN 1 ELSE 0 END,
            CASE WHEN metric = 'suction_pressure_psi' THEN 1 ELSE 0 END,
            CASE WHEN metric = 'horsepower_consumption' THEN 1 ELSE 0 END,
            CASE WHEN metric = 'gas_flow_mcf' THEN 1 ELSE 0 END,
            CASE WHEN metric = 'pressure_differential' THEN 1 ELSE 0 END,
            CASE WHEN metric = 'temp_rate_of_change' THEN 1 ELSE 0 END
        FROM prior_violations
    ) AS marks
    GROUP BY organization, compressor_id
),
flagged AS (
    SELECT g.*, v.vib, v.temp, v.dis, v.suc, v.hp, v.flow, v.dp, v.rate
    FROM gold_readings AS g
    JOIN violated AS v ON v.organization = g.organization AND v.compressor_id = g.compressor_id
    WHERE v.vib + v.temp + v.dis + v.suc + v.hp + v.flow + v.dp + v.rate > 0
)
SELECT organization, compressor_id, timestamp, 'vibration_mms' AS metric, vibration_mms AS value,
       vibration_mms_status AS status,
       COALESCE(quality_flags LIKE '%spike:vibration_mms%', FALSE) AS suspect,
       operating_state
FROM flagged WHERE vib = 1 AND vibration_mms_status IS NOT NULL
UNION ALL
SELECT organization, compressor_id, timestamp, 'discharge_temp_f', discharge_temp_f, discharge_temp_f_status,
       COALESCE(quality_flags LIKE '%spike:discharge_temp_f%', FALSE),
       operating_state
FROM flagged WHERE temp = 1 AND discharge_temp_f_status IS NOT NULL
UNION ALL
SELECT organization, compressor_id, timestamp, 'discharge_pressure_psi', discharge_pressure_psi, discharge_pressure_psi_status,
       COALESCE(quality_flags LIKE '%spike:discharge_pressure_psi%', FALSE),
       operating_state
FROM flagged WHERE dis = 1 AND discharge_pressure_psi_status IS NOT NULL
UNION ALL
SELECT organization, compressor_id, timestamp, 'suction_pressure_psi', suction_pressure_psi, suction_pressure_psi_status,
       COALESCE(quality_flags LIKE '%spike:suction_pressure_psi%', FALSE),
       operating_state
FROM flagged WHERE suc = 1 AND suction_pressure_psi_status IS NOT NULL
UNION ALL
SELECT organization, compressor_id, timestamp, 'horsepower_consumption', horsepower_consumption,
       horsepower_consumption_status,
       COALESCE(quality_flags LIKE '%spike:horsepower_consumption%', FALSE),
       operating_state
FROM flagged WHERE hp = 1 AND horsepower_consumption_status IS NOT NULL
UNION ALL
SELECT organization, compressor_id, timestamp, 'gas_flow_mcf', gas_flow_mcf, gas_flow_mcf_status,
       COALESCE(quality_flags LIKE '%spike:gas_flow_mcf%', FALSE),
       operating_state
FROM flagged WHERE flow = 1 AND gas_flow_mcf_status IS NOT NULL
UNION ALL
SELECT organization, compressor_id, timestamp, 'pressure_differential', pressure_differential, pressure_differential_status,
       COALESCE(quality_flags LIKE '%spike:discharge_pressure_psi%'
                OR quality_flags LIKE '%spike:suction_pressure_psi%', FALSE),
       operating_state
FROM flagged WHERE dp = 1 AND pressure_differential_status IS NOT NULL
UNION ALL
SELECT organization, compressor_id, timestamp, 'temp_rate_of_change', temp_rate_of_change, temp_rate_of_change_status,
       FALSE,
       operating_state
FROM flagged WHERE rate = 1 AND temp_rate_of_change_status IS NOT NULL
