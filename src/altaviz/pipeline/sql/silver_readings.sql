-- Good readings, with quality flags. Nothing here deletes or blanks a value: a spike or a stuck
-- sensor is flagged for whoever reads it, and real degradation passes through untouched.
-- Input: silver_classified, params.
-- spike:<sensor>  the value is more than params.spike_ratio away from the median of the five readings
--                 around it: one or two readings out of line with their neighbourhood (a glitch),
--                 while a real change, gradual or a lasting step, moves the median with it.
-- stuck:<sensor>  the same value for 12 consecutive readings (two hours of 10-minute data); healthy
--                 sensor noise never repeats a 2-decimal value that often.
WITH good AS (
    SELECT
        g.*,
        p.spike_ratio,
        MEDIAN(vibration_mms) OVER m AS med_vib,
        MEDIAN(discharge_temp_f) OVER m AS med_temp,
        MEDIAN(suction_pressure_psi) OVER m AS med_suc,
        MEDIAN(discharge_pressure_psi) OVER m AS med_dis,
        MEDIAN(horsepower_consumption) OVER m AS med_hp,
        MEDIAN(gas_flow_mcf) OVER m AS med_flow,
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
        m AS (PARTITION BY compressor_id ORDER BY timestamp ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING),
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
        CASE WHEN ABS(vibration_mms - med_vib) > spike_ratio * ABS(med_vib) THEN 'spike:vibration_mms' END,
        CASE WHEN ABS(discharge_temp_f - med_temp) > spike_ratio * ABS(med_temp) THEN 'spike:discharge_temp_f' END,
        CASE WHEN ABS(suction_pressure_psi - med_suc) > spike_ratio * ABS(med_suc)
            THEN 'spike:suction_pressure_psi' END,
        CASE WHEN ABS(discharge_pressure_psi - med_dis) > spike_ratio * ABS(med_dis)
            THEN 'spike:discharge_pressure_psi' END,
        CASE WHEN ABS(horsepower_consumption - med_hp) > spike_ratio * ABS(med_hp)
            THEN 'spike:horsepower_consumption' END,
        CASE WHEN ABS(gas_flow_mcf - med_flow) > spike_ratio * ABS(med_flow) THEN 'spike:gas_flow_mcf' END,
        CASE WHEN run_rows = 12 AND min_vib = max_vib THEN 'stuck:vibration_mms' END,
        CASE WHEN run_rows = 12 AND min_temp = max_temp THEN 'stuck:discharge_temp_f' END,
        CASE WHEN run_rows = 12 AND min_suc = max_suc THEN 'stuck:suction_pressure_psi' END,
        CASE WHEN run_rows = 12 AND min_dis = max_dis THEN 'stuck:discharge_pressure_psi' END,
        CASE WHEN run_rows = 12 AND min_hp = max_hp THEN 'stuck:horsepower_consumption' END,
        CASE WHEN run_rows = 12 AND min_flow = max_flow THEN 'stuck:gas_flow_mcf' END
    ), '') AS quality_flags
FROM good
