-- Every silver reading with is_stopped: whether the unit was at rest when it was taken (ISA-18.2
-- state-based alarm suppression, README "Alerts"): the horsepower and the gas flow (those the reading
-- has) both below params.stopped_share of the compressor's warning limits for them. A stopped unit
-- reads its meters' zero offsets; a running one, even misfiring or unloaded, is far above.
-- Inputs: silver_readings, compressor_thresholds (the limits of each compressor and metric), params.
-- A view, read by gold's per-compressor step (rolling.append_gold_pass), which adds each reading's
-- latest stopped reading so far; gold_readings.sql turns both into the operating state. Only the
-- columns gold keeps go through the step's sort (not the lineage and operating hours).
WITH limits AS (
    SELECT
        organization,
        compressor_id,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN warning END) AS hp_warn,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN warning END) AS flow_warn
    FROM compressor_thresholds
    GROUP BY organization, compressor_id
)
SELECT
    r.organization,
    r.compressor_id,
    r.timestamp,
    r.vibration_mms,
    r.discharge_temp_f,
    r.suction_pressure_psi,
    r.discharge_pressure_psi,
    r.horsepower_consumption,
    r.gas_flow_mcf,
    r.quality_flags,
    (r.horsepower_consumption IS NOT NULL OR r.gas_flow_mcf IS NOT NULL)
        AND COALESCE(r.horsepower_consumption < p.stopped_share * l.hp_warn, TRUE)
        AND COALESCE(r.gas_flow_mcf < p.stopped_share * l.flow_warn, TRUE) AS is_stopped
FROM silver_readings AS r
CROSS JOIN params AS p
LEFT JOIN limits AS l ON l.organization = r.organization AND l.compressor_id = r.compressor_id
