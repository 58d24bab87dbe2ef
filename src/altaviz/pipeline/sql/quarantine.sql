-- Readings set aside, each with its reason and lineage. bronze = silver + quarantine, always.
-- Input: silver_classified.
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
    _source_row,
    _loaded_at,
    reason
FROM silver_classified
WHERE reason IS NOT NULL
