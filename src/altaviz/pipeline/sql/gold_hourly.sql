-- Per compressor and clock hour: mean/std/min/max of every sensor, readings received and expected.
-- Inputs: gold_readings, params, batch_span (first_epoch and last_epoch of all silver readings).
-- expected_readings counts the reporting slots (params.interval_seconds apart, starting at the
-- first reading of all) that fall inside the hour and inside the data's time span, so the partial
-- first and last hours of a series expect only the slots they cover.
-- The clock hour by arithmetic on the epoch: DATE_TRUNC of a TIMESTAMPTZ goes through DuckDB's calendar
-- (ICU), ten times the cost, for the same hour in UTC.
WITH span AS (
    SELECT organization, first_epoch, last_epoch FROM batch_span
),
hourly AS (
    SELECT
        organization,
        compressor_id,
        TO_TIMESTAMP(FLOOR(EPOCH(timestamp) / 3600) * 3600) AS agg_timestamp,
        AVG(vibration_mms) AS vibration_mean,
        STDDEV_SAMP(vibration_mms) AS vibration_std,
        MIN(vibration_mms) AS vibration_min,
        MAX(vibration_mms) AS vibration_max,
        AVG(discharge_temp_f) AS discharge_temp_mean,
        STDDEV_SAMP(discharge_temp_f) AS discharge_temp_std,
        MIN(discharge_temp_f) AS discharge_temp_min,
        MAX(discharge_temp_f) AS discharge_temp_max,
        AVG(suction_pressure_psi) AS suction_pressure_mean,
        STDDEV_SAMP(suction_pressure_psi) AS suction_pressure_std,
        MIN(suction_pressure_psi) AS suction_pressure_min,
        MAX(suction_pressure_psi) AS suction_pressure_max,
        AVG(discharge_pressure_psi) AS discharge_pressure_mean,
        STDDEV_SAMP(discharge_pressure_psi) AS discharge_pressure_std,
        MIN(discharge_pressure_psi) AS discharge_pressure_min,
        MAX(discharge_pressure_psi) AS discharge_pressure_max,
        AVG(horsepower_consumption) AS horsepower_mean,
        STDDEV_SAMP(horsepower_consumption) AS horsepower_std,
        MIN(horsepower_consumption) AS horsepower_min,
        MAX(horsepower_consumption) AS horsepower_max,
        AVG(gas_flow_mcf) AS gas_flow_mean,
        STDDEV_SAMP(gas_flow_mcf) AS gas_flow_std,
        MIN(gas_flow_mcf) AS gas_flow_min,
        MAX(gas_flow_mcf) AS gas_flow_max,
        AVG(pressure_differential) AS pressure_delta_mean,
        AVG(temp_rate_of_change) AS discharge_temp_rate_of_change,
        COUNT(*) AS reading_count,
        SUM(CASE WHEN vibration_mms_status IN ('warning', 'critical')
                   OR discharge_temp_f_status IN ('warning', 'critical')
                   OR discharge_pressure_psi_status IN ('warning', 'critical')
                   OR suction_pressure_psi_status IN ('warning', 'critical')
                   OR horsepower_consumption_status IN ('warning', 'critical')
                   OR gas_flow_mcf_status IN ('warning', 'critical')
                   OR pressure_differential_status IN ('warning', 'critical')
                   OR temp_rate_of_change_status IN ('warning', 'critical')
                 THEN 1 ELSE 0 END) AS violation_count
    FROM gold_readings
    GROUP BY organization, compressor_id, TO_TIMESTAMP(FLOOR(EPOCH(timestamp) / 3600) * 3600)
),
slots AS (
    SELECT
        h.*,
        GREATEST(EPOCH(h.agg_timestamp), s.first_epoch) AS slot_from,
        LEAST(EPOCH(h.agg_timestamp) + 3600, s.last_epoch + p.interval_seconds) AS slot_to,
        s.first_epoch,
        p.interval_seconds
    FROM hourly AS h
    JOIN span AS s ON s.organization = h.organization
    CROSS JOIN params AS p
)
SELECT
    organization,
    compressor_id,
    agg_timestamp,
    '1hr' AS window_type,
    vibration_mean, vibration_std, vibration_min, vibration_max,
    discharge_temp_mean, discharge_temp_std, discharge_temp_min, discharge_temp_max,
    suction_pressure_mean, suction_pressure_std, suction_pressure_min, suction_pressure_max,
    discharge_pressure_mean, discharge_pressure_std, discharge_pressure_min, discharge_pressure_max,
    horsepower_mean, horsepower_std, horsepower_min, horsepower_max,
    gas_flow_mean, gas_flow_std, gas_flow_min, gas_flow_max,
    pressure_delta_mean,
    discharge_temp_rate_of_change,
    CAST(reading_count AS INTEGER) AS reading_count,
    CAST(expected AS INTEGER) AS expected_readings,
    CAST(GREATEST(expected - reading_count, 0) AS INTEGER) AS missing_readings,
    CAST(violation_count AS INTEGER) AS violation_count
FROM (
    SELECT
        slots.*,
        GREATEST(
            CEIL((slot_to - first_epoch) / interval_seconds) - CEIL((slot_from - first_epoch) / interval_seconds),
            0
        ) AS expected
    FROM slots
) AS counted
