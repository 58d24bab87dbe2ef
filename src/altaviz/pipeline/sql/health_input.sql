-- The health step's input (altaviz.pipeline.health): each compressor's good readings, a value flagged
-- by silver (spike or stuck) as NULL, from where its health continues (health_start.start_at; all of
-- them for a compressor without a row there). The step sorts by organization, compressor, time.
-- Input: health_silver (silver readings), health_start (organization, compressor_id, start_at).
SELECT
    s.organization,
    s.compressor_id,
    s.timestamp,
    CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:vibration_mms%' THEN NULL ELSE s.vibration_mms END
        AS vibration_mms,
    CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:discharge_temp_f%' THEN NULL ELSE s.discharge_temp_f END
        AS discharge_temp_f,
    CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:suction_pressure_psi%' THEN NULL
        ELSE s.suction_pressure_psi END AS suction_pressure_psi,
    CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:discharge_pressure_psi%' THEN NULL
        ELSE s.discharge_pressure_psi END AS discharge_pressure_psi,
    CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:horsepower_consumption%' THEN NULL
        ELSE s.horsepower_consumption END AS horsepower_consumption,
    CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:gas_flow_mcf%' THEN NULL ELSE s.gas_flow_mcf END
        AS gas_flow_mcf
FROM health_silver AS s
LEFT JOIN health_start AS h
    ON h.organization = s.organization AND h.compressor_id = s.compressor_id
WHERE h.start_at IS NULL OR s.timestamp >= h.start_at
