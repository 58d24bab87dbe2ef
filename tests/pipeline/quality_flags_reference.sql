-- silver_readings.sql as window functions, as it stood before the per-compressor step
-- (pipeline/flags.py): the reference tests/pipeline/test_episodes.py compares that step with.
-- Good readings, with quality flags. Nothing here deletes or blanks a value: a spike or a stuck
-- sensor is flagged for whoever reads it, and real degradation passes through untouched.
-- Input: silver_classified, params.
-- spike:<sensor>  the value is more than params.spike_ratio away from at least 3 of its 4 nearest
--                 readings (2 before, 2 after), or from all of them where fewer exist: one or two
--                 readings out of line with their neighbourhood (a glitch). A real change, gradual
--                 or a lasting step, has neighbours on its own side and is never flagged.
-- stuck:<sensor>  the same value for 12 consecutive readings (two hours of 10-minute data); healthy
--                 sensor noise never repeats a 2-decimal value that often.
WITH neighbours AS (
    SELECT
        g.*,
        p.spike_ratio,
        LAG(vibration_mms, 2) OVER w AS vib_b2, LAG(vibration_mms) OVER w AS vib_b1,
        LEAD(vibration_mms) OVER w AS vib_a1, LEAD(vibration_mms, 2) OVER w AS vib_a2,
        LAG(discharge_temp_f, 2) OVER w AS temp_b2, LAG(discharge_temp_f) OVER w AS temp_b1,
        LEAD(discharge_temp_f) OVER w AS temp_a1, LEAD(discharge_temp_f, 2) OVER w AS temp_a2,
        LAG(suction_pressure_psi, 2) OVER w AS suc_b2, LAG(suction_pressure_psi) OVER w AS suc_b1,
        LEAD(suction_pressure_psi) OVER w AS suc_a1, LEAD(suction_pressure_psi, 2) OVER w AS suc_a2,
        LAG(discharge_pressure_psi, 2) OVER w AS dis_b2, LAG(discharge_pressure_psi) OVER w AS dis_b1,
        LEAD(discharge_pressure_psi) OVER w AS dis_a1, LEAD(discharge_pressure_psi, 2) OVER w AS dis_a2,
        LAG(horsepower_consumption, 2) OVER w AS hp_b2, LAG(horsepower_consumption) OVER w AS hp_b1,
        LEAD(horsepower_consumption) OVER w AS hp_a1, LEAD(horsepower_consumption, 2) OVER w AS hp_a2,
        LAG(gas_flow_mcf, 2) OVER w AS flow_b2, LAG(gas_flow_mcf) OVER w AS flow_b1,
        LEAD(gas_flow_mcf) OVER w AS flow_a1, LEAD(gas_flow_mcf, 2) OVER w AS flow_a2,
        MIN(vibration_mms) OVER r AS vib_min, MAX(vibration_mms) OVER r AS vib_max,
        MIN(discharge_temp_f) OVER r AS temp_min, MAX(discharge_temp_f) OVER r AS temp_max,
        MIN(suction_pressure_psi) OVER r AS suc_min, MAX(suction_pressure_psi) OVER r AS suc_max,
        MIN(discharge_pressure_psi) OVER r AS dis_min, MAX(discharge_pressure_psi) OVER r AS dis_max,
        MIN(horsepower_consumption) OVER r AS hp_min, MAX(horsepower_consumption) OVER r AS hp_max,
        MIN(gas_flow_mcf) OVER r AS flow_min, MAX(gas_flow_mcf) OVER r AS flow_max,
        COUNT(*) OVER r AS run_rows
    FROM silver_classified AS g
    CROSS JOIN params AS p
    WHERE g.reason IS NULL
    WINDOW
        w AS (PARTITION BY organization, compressor_id ORDER BY timestamp),
        r AS (PARTITION BY organization, compressor_id ORDER BY timestamp ROWS BETWEEN 11 PRECEDING AND CURRENT ROW)
),
votes AS (
    SELECT
        n.*,
        CASE WHEN ABS(vibration_mms - vib_b2) > spike_ratio * ABS(vib_b2) THEN 1 ELSE 0 END
            + CASE WHEN ABS(vibration_mms - vib_b1) > spike_ratio * ABS(vib_b1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(vibration_mms - vib_a1) > spike_ratio * ABS(vib_a1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(vibration_mms - vib_a2) > spike_ratio * ABS(vib_a2) THEN 1 ELSE 0 END
            AS vib_disagree,
        CASE WHEN vib_b2 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN vib_b1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN vib_a1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN vib_a2 IS NOT NULL THEN 1 ELSE 0 END
            AS vib_known,
        CASE WHEN ABS(discharge_temp_f - temp_b2) > spike_ratio * ABS(temp_b2) THEN 1 ELSE 0 END
            + CASE WHEN ABS(discharge_temp_f - temp_b1) > spike_ratio * ABS(temp_b1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(discharge_temp_f - temp_a1) > spike_ratio * ABS(temp_a1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(discharge_temp_f - temp_a2) > spike_ratio * ABS(temp_a2) THEN 1 ELSE 0 END
            AS temp_disagree,
        CASE WHEN temp_b2 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN temp_b1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN temp_a1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN temp_a2 IS NOT NULL THEN 1 ELSE 0 END
            AS temp_known,
        CASE WHEN ABS(suction_pressure_psi - suc_b2) > spike_ratio * ABS(suc_b2) THEN 1 ELSE 0 END
            + CASE WHEN ABS(suction_pressure_psi - suc_b1) > spike_ratio * ABS(suc_b1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(suction_pressure_psi - suc_a1) > spike_ratio * ABS(suc_a1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(suction_pressure_psi - suc_a2) > spike_ratio * ABS(suc_a2) THEN 1 ELSE 0 END
            AS suc_disagree,
        CASE WHEN suc_b2 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN suc_b1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN suc_a1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN suc_a2 IS NOT NULL THEN 1 ELSE 0 END
            AS suc_known,
        CASE WHEN ABS(discharge_pressure_psi - dis_b2) > spike_ratio * ABS(dis_b2) THEN 1 ELSE 0 END
            + CASE WHEN ABS(discharge_pressure_psi - dis_b1) > spike_ratio * ABS(dis_b1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(discharge_pressure_psi - dis_a1) > spike_ratio * ABS(dis_a1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(discharge_pressure_psi - dis_a2) > spike_ratio * ABS(dis_a2) THEN 1 ELSE 0 END
            AS dis_disagree,
        CASE WHEN dis_b2 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN dis_b1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN dis_a1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN dis_a2 IS NOT NULL THEN 1 ELSE 0 END
            AS dis_known,
        CASE WHEN ABS(horsepower_consumption - hp_b2) > spike_ratio * ABS(hp_b2) THEN 1 ELSE 0 END
            + CASE WHEN ABS(horsepower_consumption - hp_b1) > spike_ratio * ABS(hp_b1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(horsepower_consumption - hp_a1) > spike_ratio * ABS(hp_a1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(horsepower_consumption - hp_a2) > spike_ratio * ABS(hp_a2) THEN 1 ELSE 0 END
            AS hp_disagree,
        CASE WHEN hp_b2 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN hp_b1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN hp_a1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN hp_a2 IS NOT NULL THEN 1 ELSE 0 END
            AS hp_known,
        CASE WHEN ABS(gas_flow_mcf - flow_b2) > spike_ratio * ABS(flow_b2) THEN 1 ELSE 0 END
            + CASE WHEN ABS(gas_flow_mcf - flow_b1) > spike_ratio * ABS(flow_b1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(gas_flow_mcf - flow_a1) > spike_ratio * ABS(flow_a1) THEN 1 ELSE 0 END
            + CASE WHEN ABS(gas_flow_mcf - flow_a2) > spike_ratio * ABS(flow_a2) THEN 1 ELSE 0 END
            AS flow_disagree,
        CASE WHEN flow_b2 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN flow_b1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN flow_a1 IS NOT NULL THEN 1 ELSE 0 END
            + CASE WHEN flow_a2 IS NOT NULL THEN 1 ELSE 0 END AS flow_known
    FROM neighbours AS n
)
SELECT
    organization,
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
        CASE WHEN vib_disagree >= 3 OR (vib_known >= 2 AND vib_disagree = vib_known)
            THEN 'spike:vibration_mms' END,
        CASE WHEN temp_disagree >= 3 OR (temp_known >= 2 AND temp_disagree = temp_known)
            THEN 'spike:discharge_temp_f' END,
        CASE WHEN suc_disagree >= 3 OR (suc_known >= 2 AND suc_disagree = suc_known)
            THEN 'spike:suction_pressure_psi' END,
        CASE WHEN dis_disagree >= 3 OR (dis_known >= 2 AND dis_disagree = dis_known)
            THEN 'spike:discharge_pressure_psi' END,
        CASE WHEN hp_disagree >= 3 OR (hp_known >= 2 AND hp_disagree = hp_known)
            THEN 'spike:horsepower_consumption' END,
        CASE WHEN flow_disagree >= 3 OR (flow_known >= 2 AND flow_disagree = flow_known)
            THEN 'spike:gas_flow_mcf' END,
        CASE WHEN run_rows = 12 AND vib_min = vib_max THEN 'stuck:vibration_mms' END,
        CASE WHEN run_rows = 12 AND temp_min = temp_max THEN 'stuck:discharge_temp_f' END,
        CASE WHEN run_rows = 12 AND suc_min = suc_max THEN 'stuck:suction_pressure_psi' END,
        CASE WHEN run_rows = 12 AND dis_min = dis_max THEN 'stuck:discharge_pressure_psi' END,
        CASE WHEN run_rows = 12 AND hp_min = hp_max THEN 'stuck:horsepower_consumption' END,
        CASE WHEN run_rows = 12 AND flow_min = flow_max THEN 'stuck:gas_flow_mcf' END
    ), '') AS quality_flags
FROM votes
