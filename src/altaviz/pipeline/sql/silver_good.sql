-- The good readings of silver_classified (no reason to quarantine them), with params.spike_ratio: the
-- input of silver's per-compressor step (pipeline/flags.py: quality flags in one pass over each
-- compressor's readings in time order), read back by silver_readings.sql. A view: the columns silver
-- keeps, which go through the step's sort.
-- Inputs: silver_classified, params.
SELECT
    g.organization,
    g.compressor_id,
    g.timestamp,
    g.vibration_mms,
    g.discharge_temp_f,
    g.suction_pressure_psi,
    g.discharge_pressure_psi,
    g.horsepower_consumption,
    g.gas_flow_mcf,
    g.operating_hours,
    g._source_file,
    g._loaded_at,
    p.spike_ratio
FROM silver_classified AS g
CROSS JOIN params AS p
WHERE g.reason IS NULL
