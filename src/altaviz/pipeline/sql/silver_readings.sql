-- Good readings, with quality flags. Nothing here deletes or blanks a value: an isolated spike or a
-- stuck sensor is flagged for whoever reads it, and real degradation passes through untouched.
-- Input: silver_classified, params.
-- spike:<sensor>  the value jumps away from both neighbours, in the same direction, while the
--                 neighbours agree with each other (one reading, not a trend).
-- stuck:<sensor>  the same value for 12 consecutive readings (two hours of 10-minute data); healthy
--                 sensor noise never repeats a 2-decimal value that often.
WITH good AS (
    SELECT
        g.*,
        p.spike_ratio,
        LAG(vibration_mms) OVER w AS prev_vib, LEAD(vibration_mms) OVER w AS next_vib,
        LAG(discharge_temp_f) OVER w AS prev_temp, LEAD(discharge_temp_f) OVER w AS next_temp,
        LAG(suction_pressure_psi) OVER w AS prev_suc, LEAD(suction_pressure_psi) OVER w AS next_suc,
        LAG(discharge_pressure_psi) OVER w AS prev_dis, LEAD(discharge_pressure_psi) OVER w AS next_dis,
        LAG(horsepower_consumption) OVER w AS prev_hp, LEAD(horsepower_consumption) OVER w AS next_hp,
        LAG(gas_flow_mcf) OVER w AS prev_flow, LEAD(gas_flow_mcf) OVER w AS next_flow,
        MIN(vibration_mms) OVER r AS min_vib, MAX(vibration_mms) OVER r AS max_vib,
        MIN(discharge_temp_f) OVER r AS min_temp, MAX(discharge_temp_f) OVER r AS max_temp,
        MIN(suction_pressure_psi) OVER r AS min_suc, MAX(suction_pressure_psi) OVER r AS max_suc,
        MIN(discharge_pressure_psi) OVER r AS min_dis, MAX(discharge_pressure_psi) OVER r AS max_dis,
        MIN(horsepower_consumption) OVER r AS min_hp, MAX(horsepower_consumption) OVER r AS max_hp,
        MIN(gas_flow_mcf) OVER r AS min_flow, MAX(gas_flow_mcf) OVER r AS max_flow,
        COUNT(*) OVER r AS run_rows
    FROM silver_classified AS g
    CROSS JOIN params AS p
    WHERE g.reason IS NULL
    WINDOW
        w AS (PARTITION BY compressor_id ORDER BY timestamp),
        r AS (PARTITION BY compressor_id ORDER BY timestamp ROWS BETWEEN 11 PRECEDING AND CURRENT ROW)
)
SELECT
    compressor_id,
    timestamp,
    vibration_mms,
    discharge_temp_f,
    suction_pressure_psi,
    discharge_pressure_psi,
    horsepower_consumption,
    gas_flow_mcf,
    operating_hours,
    _source_file,
    _loaded_at,
    NULLIF(CONCAT_WS(',',
        CASE WHEN ABS(vibration_mms - prev_vib) > spike_ratio * ABS(prev_vib)
            AND ABS(vibration_mms - next_vib) > spike_ratio * ABS(next_vib)
            AND (vibration_mms - prev_vib) * (vibration_mms - next_vib) > 0
            AND ABS(prev_vib - next_vib) <= spike_ratio * ABS(vibration_mms) / 2
            THEN 'spike:vibration_mms' END,
        CASE WHEN ABS(discharge_temp_f - prev_temp) > spike_ratio * ABS(prev_temp)
            AND ABS(discharge_temp_f - next_temp) > spike_ratio * ABS(next_temp)
            AND (discharge_temp_f - prev_temp) * (discharge_temp_f - next_temp) > 0
            AND ABS(prev_temp - next_temp) <= spike_ratio * ABS(discharge_temp_f) / 2
            THEN 'spike:discharge_temp_f' END,
        CASE WHEN ABS(suction_pressure_psi - prev_suc) > spike_ratio * ABS(prev_suc)
            AND ABS(suction_pressure_psi - next_suc) > spike_ratio * ABS(next_suc)
            AND (suction_pressure_psi - prev_suc) * (suction_pressure_psi - next_suc) > 0
            AND ABS(prev_suc - next_suc) <= spike_ratio * ABS(suction_pressure_psi) / 2
            THEN 'spike:suction_pressure_psi' END,
        CASE WHEN ABS(discharge_pressure_psi - prev_dis) > spike_ratio * ABS(prev_dis)
            AND ABS(discharge_pressure_psi - next_dis) > spike_ratio * ABS(next_dis)
            AND (discharge_pressure_psi - prev_dis) * (discharge_pressure_psi - next_dis) > 0
            AND ABS(prev_dis - next_dis) <= spike_ratio * ABS(discharge_pressure_psi) / 2
            THEN 'spike:discharge_pressure_psi' END,
        CASE WHEN ABS(horsepower_consumption - prev_hp) > spike_ratio * ABS(prev_hp)
            AND ABS(horsepower_consumption - next_hp) > spike_ratio * ABS(next_hp)
            AND (horsepower_consumption - prev_hp) * (horsepower_consumption - next_hp) > 0
            AND ABS(prev_hp - next_hp) <= spike_ratio * ABS(horsepower_consumption) / 2
            THEN 'spike:horsepower_consumption' END,
        CASE WHEN ABS(gas_flow_mcf - prev_flow) > spike_ratio * ABS(prev_flow)
            AND ABS(gas_flow_mcf - next_flow) > spike_ratio * ABS(next_flow)
            AND (gas_flow_mcf - prev_flow) * (gas_flow_mcf - next_flow) > 0
            AND ABS(prev_flow - next_flow) <= spike_ratio * ABS(gas_flow_mcf) / 2
            THEN 'spike:gas_flow_mcf' END,
        CASE WHEN run_rows = 12 AND min_vib = max_vib THEN 'stuck:vibration_mms' END,
        CASE WHEN run_rows = 12 AND min_temp = max_temp THEN 'stuck:discharge_temp_f' END,
        CASE WHEN run_rows = 12 AND min_suc = max_suc THEN 'stuck:suction_pressure_psi' END,
        CASE WHEN run_rows = 12 AND min_dis = max_dis THEN 'stuck:discharge_pressure_psi' END,
        CASE WHEN run_rows = 12 AND min_hp = max_hp THEN 'stuck:horsepower_consumption' END,
        CASE WHEN run_rows = 12 AND min_flow = max_flow THEN 'stuck:gas_flow_mcf' END
    ), '') AS quality_flags
FROM good
