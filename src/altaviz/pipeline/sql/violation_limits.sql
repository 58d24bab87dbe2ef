-- The per-compressor constants of gold's per-compressor step (pipeline/rolling.py, its hourly
-- aggregates' violation counts), one row per compressor: per metric <m>, <m>_limit, the value from
-- which a reading of the metric violates (its status, gold_readings.sql, is 'warning' or 'critical':
-- at or past the warning or the critical limit, whichever is nearer; NULL without either; past is
-- below for suction pressure and gas flow, above for the others, as gold_readings.sql states them).
-- A scratch step before gold's step: the engine hands the step these columns with each
-- compressor's readings after its sort (TransformEngine.map_compressors' `constants`), as it does the
-- compressor's keys.
-- Inputs: compressor_thresholds.
SELECT
    organization,
    compressor_id,
    MAX(CASE WHEN metric = 'vibration_mms' THEN LEAST(warning, critical) END) AS vibration_mms_limit,
    MAX(CASE WHEN metric = 'discharge_temp_f' THEN LEAST(warning, critical) END) AS discharge_temp_f_limit,
    MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN LEAST(warning, critical) END)
        AS discharge_pressure_psi_limit,
    MAX(CASE WHEN metric = 'suction_pressure_psi' THEN GREATEST(warning, critical) END)
        AS suction_pressure_psi_limit,
    MAX(CASE WHEN metric = 'horsepower_consumption' THEN LEAST(warning, critical) END)
        AS horsepower_consumption_limit,
    MAX(CASE WHEN metric = 'gas_flow_mcf' THEN GREATEST(warning, critical) END) AS gas_flow_mcf_limit,
    MAX(CASE WHEN metric = 'pressure_differential' THEN LEAST(warning, critical) END)
        AS pressure_differential_limit,
    MAX(CASE WHEN metric = 'temp_rate_of_change' THEN LEAST(warning, critical) END) AS temp_rate_of_change_limit
FROM compressor_thresholds
GROUP BY organization, compressor_id
