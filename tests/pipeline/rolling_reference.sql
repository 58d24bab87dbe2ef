-- The definition of gold's rolling windows and temperature rate of change as SQL window functions:
-- gold_readings.sql's formulation before the per-compressor step (pipeline/rolling.py) replaced it.
-- Kept as the reference the one-pass kernel is tested against (test_rolling.py) and measured against
-- (bench/bench_full_run.py), not as a production path. Input: readings (organization, compressor_id,
-- timestamp, vibration_mms, discharge_temp_f, discharge_pressure_psi); $min_readings: the readings
-- each of the rate's two hours needs (params.rate_min_readings).
WITH windowed AS (
    SELECT
        s.*,
        AVG(vibration_mms) OVER h24 AS vibration_24hr_mean,
        STDDEV_SAMP(vibration_mms) OVER h24 AS vibration_24hr_std,
        MAX(vibration_mms) OVER h24 AS vibration_24hr_max,
        AVG(discharge_temp_f) OVER h24 AS temp_24hr_mean,
        AVG(discharge_pressure_psi) OVER h24 AS pressure_24hr_mean,
        AVG(vibration_mms) OVER h1 AS vibration_1hr_mean,
        STDDEV_SAMP(vibration_mms) OVER h1 AS vibration_1hr_std,
        MAX(vibration_mms) OVER h1 AS vibration_1hr_max,
        AVG(vibration_mms) OVER h4 AS vibration_4hr_mean,
        STDDEV_SAMP(vibration_mms) OVER h4 AS vibration_4hr_std,
        MAX(vibration_mms) OVER h4 AS vibration_4hr_max,
        AVG(discharge_temp_f) OVER h1 AS temp_1hr_mean,
        COUNT(discharge_temp_f) OVER h1 AS temp_1hr_count,
        SUM(CASE WHEN discharge_temp_f IS NOT NULL THEN EPOCH(timestamp) END) OVER h1 AS temp_1hr_epoch_sum,
        SUM(discharge_temp_f) OVER h2 AS temp_2hr_sum,
        COUNT(discharge_temp_f) OVER h2 AS temp_2hr_count,
        SUM(CASE WHEN discharge_temp_f IS NOT NULL THEN EPOCH(timestamp) END) OVER h2 AS temp_2hr_epoch_sum,
        AVG(discharge_temp_f) OVER h4 AS temp_4hr_mean,
        AVG(discharge_pressure_psi) OVER h1 AS pressure_1hr_mean,
        AVG(discharge_pressure_psi) OVER h4 AS pressure_4hr_mean
    FROM readings AS s
    WINDOW
        h1 AS (PARTITION BY organization, compressor_id ORDER BY timestamp
               RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND CURRENT ROW),
        h2 AS (PARTITION BY organization, compressor_id ORDER BY timestamp
               RANGE BETWEEN INTERVAL 2 HOUR PRECEDING AND CURRENT ROW),
        h4 AS (PARTITION BY organization, compressor_id ORDER BY timestamp
               RANGE BETWEEN INTERVAL 4 HOUR PRECEDING AND CURRENT ROW),
        h24 AS (PARTITION BY organization, compressor_id ORDER BY timestamp
                RANGE BETWEEN INTERVAL 24 HOUR PRECEDING AND CURRENT ROW)
),
previous_hour AS (
    SELECT
        r.*,
        temp_2hr_count - temp_1hr_count AS temp_prev_count,
        (temp_2hr_sum - temp_1hr_mean * temp_1hr_count) / NULLIF(temp_2hr_count - temp_1hr_count, 0)
            AS temp_prev_mean,
        temp_1hr_epoch_sum / NULLIF(temp_1hr_count, 0)
            - (temp_2hr_epoch_sum - temp_1hr_epoch_sum) / NULLIF(temp_2hr_count - temp_1hr_count, 0)
            AS temp_window_gap_seconds
    FROM windowed AS r
)
SELECT
    *,
    CASE
        WHEN temp_1hr_count >= $min_readings AND temp_prev_count >= $min_readings
            AND temp_window_gap_seconds > 0
            THEN (temp_1hr_mean - temp_prev_mean) * 3600 / temp_window_gap_seconds
    END AS temp_rate_of_change
FROM previous_hour
ORDER BY organization, compressor_id, timestamp
