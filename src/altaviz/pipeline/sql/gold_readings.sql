-- Per-reading features: time-based rolling windows, smoothed temperature rate of change, pressure
-- differential, per-metric status and time features. One row per silver reading, none dropped.
-- Rolling windows: mean, std and max of vibration (the first sign of mechanical failure) and the mean
-- of discharge temperature and pressure, each over 1 h, 4 h and 24 h. Every windowed aggregate costs
-- a pass over the fleet's readings, so the set is kept to what alerting and the dashboard read.
-- Inputs: silver_readings (one row per organization, compressor and timestamp), compressor_thresholds
-- (the limits that apply to each compressor and metric), params, evaluation (evaluate_from: the first reading whose features are needed;
-- NULL for all).
--
-- Rolling windows are RANGE frames on the timestamp ending at CURRENT ROW (the frame DuckDB runs
-- fast): "1 hour" means every reading in [t - 1 h, t], whatever the interval or gaps.
-- The rate of change compares the mean temperature of the last hour [t - 1 h, t] with that of the hour
-- before [t - 2 h, t - 1 h), divided by the time between the two windows' mean timestamps (1 h on
-- regular data): smoothed, so sensor noise and single spikes do not read as a temperature ramp. It is
-- NULL until both windows hold params.rate_min_readings readings.
WITH limits AS (
    SELECT
        organization,
        compressor_id,
        MAX(CASE WHEN metric = 'vibration_mms' THEN warning END) AS vib_warn,
        MAX(CASE WHEN metric = 'vibration_mms' THEN critical END) AS vib_crit,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN warning END) AS temp_warn,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN critical END) AS temp_crit,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN warning END) AS dis_warn,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN critical END) AS dis_crit,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN warning END) AS suc_warn,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN critical END) AS suc_crit,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN warning END) AS hp_warn,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN critical END) AS hp_crit,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN warning END) AS flow_warn,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN critical END) AS flow_crit,
        MAX(CASE WHEN metric = 'pressure_differential' THEN warning END) AS dp_warn,
        MAX(CASE WHEN metric = 'pressure_differential' THEN critical END) AS dp_crit,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN warning END) AS rate_warn,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN critical END) AS rate_crit
    FROM compressor_thresholds
    GROUP BY organization, compressor_id
),
-- Two ways to the same windows. A full run (evaluation.evaluate_from NULL) computes them with window
-- functions over every reading. An incremental run needs them only for the readings from evaluate_from,
-- a few percent of the day of context the 24-hour windows read, and window functions would compute
-- every reading of that context: it joins each evaluated reading with its compressor's readings of the
-- 24 hours (see day_joined) and of the 4 hours (for the short windows) up to it and aggregates those.
every_reading AS (
    SELECT s.*
    FROM silver_readings AS s
    CROSS JOIN evaluation AS e
    WHERE e.evaluate_from IS NULL
),
windowed AS (
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
    FROM every_reading AS s
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
evaluated AS (
    SELECT s.*
    FROM silver_readings AS s
    CROSS JOIN evaluation AS e
    WHERE s.timestamp >= e.evaluate_from
),
context AS (
    SELECT s.organization, s.compressor_id, s.timestamp, s.vibration_mms, s.discharge_temp_f, s.discharge_pressure_psi
    FROM silver_readings AS s
    CROSS JOIN evaluation AS e
    WHERE s.timestamp >= e.evaluate_from - INTERVAL 24 HOUR
),
-- The 24-hour windows of a compressor's evaluated readings all hold its readings from 24 hours before
-- the last of them up to the first (the core): the core is aggregated once per compressor, each
-- evaluated reading joins only the readings of its window outside the core, and the two parts are
-- combined (the variance by Chan's formula: both parts' sums of squared deviations, plus the shift
-- between their means). Spans of a few hours keep the part outside the core small.
evaluated_span AS (
    SELECT organization, compressor_id, MAX(timestamp) - INTERVAL 24 HOUR AS core_from
    FROM evaluated
    GROUP BY organization, compressor_id
),
outside_core AS (
    SELECT c.*
    FROM context AS c
    JOIN evaluated_span AS s ON s.organization = c.organization AND s.compressor_id = c.compressor_id
    CROSS JOIN evaluation AS e
    WHERE c.timestamp < s.core_from OR c.timestamp >= e.evaluate_from
),
-- The readings each part aggregates: a compressor's core, and each evaluated reading's rest.
day_pieces AS (
    SELECT
        c.organization,
        c.compressor_id,
        TRUE AS is_core,
        s.core_from AS evaluated_at,
        c.vibration_mms,
        c.discharge_temp_f,
        c.discharge_pressure_psi
    FROM context AS c
    JOIN evaluated_span AS s ON s.organization = c.organization AND s.compressor_id = c.compressor_id
    CROSS JOIN evaluation AS e
    WHERE c.timestamp >= s.core_from AND c.timestamp < e.evaluate_from
    UNION ALL
    SELECT r.organization, r.compressor_id, FALSE, r.timestamp, c.vibration_mms, c.discharge_temp_f, c.discharge_pressure_psi
    FROM evaluated AS r
    JOIN outside_core AS c
        ON c.organization = r.organization AND c.compressor_id = r.compressor_id
        AND c.timestamp BETWEEN r.timestamp - INTERVAL 24 HOUR AND r.timestamp
),
day_sums AS (
    SELECT
        organization,
        compressor_id,
        is_core,
        evaluated_at,
        COUNT(vibration_mms) AS vib_n,
        SUM(vibration_mms) AS vib_sum,
        VAR_SAMP(vibration_mms) AS vib_var,
        MAX(vibration_mms) AS vib_max,
        COUNT(discharge_temp_f) AS temp_n,
        SUM(discharge_temp_f) AS temp_sum,
        COUNT(discharge_pressure_psi) AS pressure_n,
        SUM(discharge_pressure_psi) AS pressure_sum
    FROM day_pieces
    GROUP BY organization, compressor_id, is_core, evaluated_at
),
day_parts AS (
    SELECT
        d.organization,
        d.compressor_id,
        d.evaluated_at AS timestamp,
        COALESCE(k.vib_n, 0) AS core_n,
        d.vib_n AS rest_n,
        COALESCE(k.vib_n, 0) + d.vib_n AS vib_n,
        COALESCE(k.vib_sum, 0) + COALESCE(d.vib_sum, 0) AS vib_sum,
        COALESCE(k.vib_var * (k.vib_n - 1), 0) + COALESCE(d.vib_var * (d.vib_n - 1), 0) AS vib_m2_within,
        k.vib_sum / NULLIF(k.vib_n, 0) - d.vib_sum / NULLIF(d.vib_n, 0) AS vib_mean_shift,
        GREATEST(k.vib_max, d.vib_max) AS vib_max,
        (COALESCE(k.temp_sum, 0) + COALESCE(d.temp_sum, 0))
            / NULLIF(COALESCE(k.temp_n, 0) + d.temp_n, 0) AS temp_24hr_mean,
        (COALESCE(k.pressure_sum, 0) + COALESCE(d.pressure_sum, 0))
            / NULLIF(COALESCE(k.pressure_n, 0) + d.pressure_n, 0) AS pressure_24hr_mean
    FROM day_sums AS d
    LEFT JOIN day_sums AS k
        ON k.organization = d.organization AND k.compressor_id = d.compressor_id AND k.is_core
    WHERE NOT d.is_core
),
day_joined AS (
    SELECT
        organization,
        compressor_id,
        timestamp,
        vib_sum / NULLIF(vib_n, 0) AS vibration_24hr_mean,
        CASE WHEN vib_n >= 2 THEN SQRT(GREATEST(
            vib_m2_within + COALESCE(vib_mean_shift * vib_mean_shift * core_n * rest_n / vib_n, 0), 0
        ) / (vib_n - 1)) END AS vibration_24hr_std,
        vib_max AS vibration_24hr_max,
        temp_24hr_mean,
        pressure_24hr_mean
    FROM day_parts
),
-- The readings of the last 4 hours, marked with the shorter windows they fall in.
short_context AS (
    SELECT
        r.organization,
        r.compressor_id,
        r.timestamp,
        c.timestamp AS context_timestamp,
        c.vibration_mms,
        c.discharge_temp_f,
        c.discharge_pressure_psi,
        c.timestamp >= r.timestamp - INTERVAL 1 HOUR AS in_1hr,
        c.timestamp >= r.timestamp - INTERVAL 2 HOUR AS in_2hr
    FROM evaluated AS r
    JOIN context AS c
        ON c.organization = r.organization AND c.compressor_id = r.compressor_id
        AND c.timestamp BETWEEN r.timestamp - INTERVAL 4 HOUR AND r.timestamp
),
short_joined AS (
    SELECT
        organization,
        compressor_id,
        timestamp,
        AVG(CASE WHEN in_1hr THEN vibration_mms END) AS vibration_1hr_mean,
        STDDEV_SAMP(CASE WHEN in_1hr THEN vibration_mms END) AS vibration_1hr_std,
        MAX(CASE WHEN in_1hr THEN vibration_mms END) AS vibration_1hr_max,
        AVG(vibration_mms) AS vibration_4hr_mean,
        STDDEV_SAMP(vibration_mms) AS vibration_4hr_std,
        MAX(vibration_mms) AS vibration_4hr_max,
        AVG(CASE WHEN in_1hr THEN discharge_temp_f END) AS temp_1hr_mean,
        COUNT(CASE WHEN in_1hr THEN discharge_temp_f END) AS temp_1hr_count,
        SUM(CASE WHEN in_1hr AND discharge_temp_f IS NOT NULL THEN EPOCH(context_timestamp) END)
            AS temp_1hr_epoch_sum,
        SUM(CASE WHEN in_2hr THEN discharge_temp_f END) AS temp_2hr_sum,
        COUNT(CASE WHEN in_2hr THEN discharge_temp_f END) AS temp_2hr_count,
        SUM(CASE WHEN in_2hr AND discharge_temp_f IS NOT NULL THEN EPOCH(context_timestamp) END)
            AS temp_2hr_epoch_sum,
        AVG(discharge_temp_f) AS temp_4hr_mean,
        AVG(CASE WHEN in_1hr THEN discharge_pressure_psi END) AS pressure_1hr_mean,
        AVG(discharge_pressure_psi) AS pressure_4hr_mean
    FROM short_context
    GROUP BY organization, compressor_id, timestamp
),
rolling AS (
    SELECT * FROM windowed
    UNION ALL
    SELECT
        r.*,
        d.vibration_24hr_mean, d.vibration_24hr_std, d.vibration_24hr_max,
        d.temp_24hr_mean, d.pressure_24hr_mean,
        w.vibration_1hr_mean, w.vibration_1hr_std, w.vibration_1hr_max,
        w.vibration_4hr_mean, w.vibration_4hr_std, w.vibration_4hr_max,
        w.temp_1hr_mean, w.temp_1hr_count, w.temp_1hr_epoch_sum,
        w.temp_2hr_sum, w.temp_2hr_count, w.temp_2hr_epoch_sum,
        w.temp_4hr_mean, w.pressure_1hr_mean, w.pressure_4hr_mean
    FROM evaluated AS r
    JOIN day_joined AS d
        ON d.organization = r.organization AND d.compressor_id = r.compressor_id AND d.timestamp = r.timestamp
    JOIN short_joined AS w
        ON w.organization = r.organization AND w.compressor_id = r.compressor_id AND w.timestamp = r.timestamp
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
    FROM rolling AS r
),
features AS (
    SELECT
        h.*,
        discharge_pressure_psi - suction_pressure_psi AS pressure_differential,
        CASE
            WHEN temp_1hr_count >= p.rate_min_readings AND temp_prev_count >= p.rate_min_readings
                AND temp_window_gap_seconds > 0
                THEN (temp_1hr_mean - temp_prev_mean) * 3600 / temp_window_gap_seconds
        END AS temp_rate_of_change,
        CAST(FLOOR(EPOCH(timestamp) / 86400) AS BIGINT) AS epoch_day
    FROM previous_hour AS h
    CROSS JOIN params AS p
)
SELECT
    f.organization,
    f.compressor_id,
    f.timestamp,
    f.vibration_mms,
    f.discharge_temp_f,
    f.suction_pressure_psi,
    f.discharge_pressure_psi,
    f.horsepower_consumption,
    f.gas_flow_mcf,
    f.operating_hours,
    f.quality_flags,
    f.vibration_1hr_mean, f.vibration_1hr_std, f.vibration_1hr_max,
    f.vibration_4hr_mean, f.vibration_4hr_std, f.vibration_4hr_max,
    f.vibration_24hr_mean, f.vibration_24hr_std, f.vibration_24hr_max,
    f.temp_1hr_mean, f.temp_4hr_mean, f.temp_24hr_mean,
    f.pressure_1hr_mean, f.pressure_4hr_mean, f.pressure_24hr_mean,
    f.pressure_differential,
    f.temp_rate_of_change,
    CASE WHEN f.vibration_mms >= l.vib_crit THEN 'critical' WHEN f.vibration_mms >= l.vib_warn THEN 'warning'
         WHEN f.vibration_mms IS NOT NULL THEN 'normal' END AS vibration_mms_status,
    CASE WHEN f.discharge_temp_f >= l.temp_crit THEN 'critical'
         WHEN f.discharge_temp_f >= l.temp_warn THEN 'warning'
         WHEN f.discharge_temp_f IS NOT NULL THEN 'normal' END AS discharge_temp_f_status,
    CASE WHEN f.discharge_pressure_psi >= l.dis_crit THEN 'critical'
         WHEN f.discharge_pressure_psi >= l.dis_warn THEN 'warning'
         WHEN f.discharge_pressure_psi IS NOT NULL THEN 'normal' END AS discharge_pressure_psi_status,
    CASE WHEN f.suction_pressure_psi <= l.suc_crit THEN 'critical'
         WHEN f.suction_pressure_psi <= l.suc_warn THEN 'warning'
         WHEN f.suction_pressure_psi IS NOT NULL THEN 'normal' END AS suction_pressure_psi_status,
    CASE WHEN f.horsepower_consumption >= l.hp_crit THEN 'critical'
         WHEN f.horsepower_consumption >= l.hp_warn THEN 'warning'
         WHEN f.horsepower_consumption IS NOT NULL THEN 'normal' END AS horsepower_consumption_status,
    CASE WHEN f.gas_flow_mcf <= l.flow_crit THEN 'critical' WHEN f.gas_flow_mcf <= l.flow_warn THEN 'warning'
         WHEN f.gas_flow_mcf IS NOT NULL THEN 'normal' END AS gas_flow_mcf_status,
    CASE WHEN f.pressure_differential >= l.dp_crit THEN 'critical'
         WHEN f.pressure_differential >= l.dp_warn THEN 'warning'
         WHEN f.pressure_differential IS NOT NULL THEN 'normal' END AS pressure_differential_status,
    CASE WHEN f.temp_rate_of_change >= l.rate_crit THEN 'critical'
         WHEN f.temp_rate_of_change >= l.rate_warn THEN 'warning'
         WHEN f.temp_rate_of_change IS NOT NULL THEN 'normal' END AS temp_rate_of_change_status,
    CAST(FLOOR((EPOCH(f.timestamp) - f.epoch_day * 86400) / 3600) AS INTEGER) AS hour_of_day,
    -- ISO weekday (1 = Monday .. 7 = Sunday) by arithmetic: 1970-01-01 was a Thursday. Engine weekday
    -- functions disagree on where the week starts.
    CAST(MOD(f.epoch_day + 3, 7) + 1 AS INTEGER) AS day_of_week,
    MOD(f.epoch_day + 3, 7) >= 5 AS is_weekend,
    CAST(f.timestamp AS DATE) AS reading_date
FROM features AS f
LEFT JOIN limits AS l ON l.organization = f.organization AND l.compressor_id = f.compressor_id
