-- Good readings, with quality flags. Nothing here deletes or blanks a value: a spike or a stuck
-- sensor is flagged for whoever reads it, and real degradation passes through untouched.
-- Input: flagged_readings, silver's per-compressor step (pipeline/flags.py, which states the rules:
-- spike:<sensor>, a value out of line with at least 3 of its 4 nearest readings by params.spike_ratio;
-- stuck:<sensor>, the same value for 12 consecutive readings) over silver_good.sql.
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
    quality_flags
FROM flagged_readings
