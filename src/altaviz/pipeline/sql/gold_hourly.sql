-- Per compressor and clock hour: mean/std/min/max of every sensor, readings received and expected.
-- Inputs: hourly_readings (per compressor and clock hour of its readings, from gold's per-compressor
-- step, pipeline/hourly.py: the count, mean, std, min and max of every sensor, the means of the
-- pressure differential and the temperature rate of change, the readings received and those with a
-- status of 'warning' or 'critical' of any metric), params, batch_span (first_epoch and last_epoch of
-- all silver readings).
-- expected_readings counts the reporting slots (params.interval_seconds apart, starting at the
-- first reading of all) that fall inside the hour and inside the data's time span, so the partial
-- first and last hours of a series expect only the slots they cover.
-- The step aggregates each hour as it computes the readings (they come sorted: an hour is a run of
-- them), where a GROUP BY here read every gold reading back and hashed it (hourly.py).
WITH span AS (
    SELECT organization, first_epoch, last_epoch FROM batch_span
),
slots AS (
    SELECT
        h.*,
        GREATEST(EPOCH(h.agg_timestamp), s.first_epoch) AS slot_from,
        LEAST(EPOCH(h.agg_timestamp) + 3600, s.last_epoch + p.interval_seconds) AS slot_to,
        s.first_epoch,
        p.interval_seconds
    FROM hourly_readings AS h
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
