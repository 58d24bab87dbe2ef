-- The per-compressor constants of the alert step (pipeline/episodes.py), one row per compressor: per
-- metric <m>, <m>_open and <m>_clear, the compressor's on-delay and clear count for it, <m>_transient,
-- whether a start crosses the limit (thresholds.start_transient), and <m>_before, whether the pair
-- violated before the series (an incremental run's series starts at its look-back).
-- A scratch step before the alert step, whose rows (alert_inputs.sql) carry only what changes from
-- reading to reading through the step's sort: the engine hands the step these columns with each
-- compressor's readings after the sort (TransformEngine.map_compressors' `constants`), as it does the
-- compressor's keys (4.3 M gold readings: the sort 5.1-5.3 CPU s against 6.4-7.4 with them).
-- Inputs: compressor_thresholds, violated_before (pairs with a violating reading before the series;
-- empty when everything is computed).
WITH limits AS (
    SELECT
        organization,
        compressor_id,
        MAX(CASE WHEN metric = 'vibration_mms' THEN CAST(on_delay AS SMALLINT) END) AS vibration_mms_open,
        MAX(CASE WHEN metric = 'vibration_mms' THEN CAST(clear_count AS SMALLINT) END) AS vibration_mms_clear,
        BOOL_OR(CASE WHEN metric = 'vibration_mms' THEN start_transient END) AS vibration_mms_transient,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN CAST(on_delay AS SMALLINT) END) AS discharge_temp_f_open,
        MAX(CASE WHEN metric = 'discharge_temp_f' THEN CAST(clear_count AS SMALLINT) END) AS discharge_temp_f_clear,
        BOOL_OR(CASE WHEN metric = 'discharge_temp_f' THEN start_transient END) AS discharge_temp_f_transient,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN CAST(on_delay AS SMALLINT) END) AS discharge_pressure_psi_open,
        MAX(CASE WHEN metric = 'discharge_pressure_psi' THEN CAST(clear_count AS SMALLINT) END) AS discharge_pressure_psi_clear,
        BOOL_OR(CASE WHEN metric = 'discharge_pressure_psi' THEN start_transient END) AS discharge_pressure_psi_transient,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN CAST(on_delay AS SMALLINT) END) AS suction_pressure_psi_open,
        MAX(CASE WHEN metric = 'suction_pressure_psi' THEN CAST(clear_count AS SMALLINT) END) AS suction_pressure_psi_clear,
        BOOL_OR(CASE WHEN metric = 'suction_pressure_psi' THEN start_transient END) AS suction_pressure_psi_transient,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN CAST(on_delay AS SMALLINT) END) AS horsepower_consumption_open,
        MAX(CASE WHEN metric = 'horsepower_consumption' THEN CAST(clear_count AS SMALLINT) END) AS horsepower_consumption_clear,
        BOOL_OR(CASE WHEN metric = 'horsepower_consumption' THEN start_transient END) AS horsepower_consumption_transient,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN CAST(on_delay AS SMALLINT) END) AS gas_flow_mcf_open,
        MAX(CASE WHEN metric = 'gas_flow_mcf' THEN CAST(clear_count AS SMALLINT) END) AS gas_flow_mcf_clear,
        BOOL_OR(CASE WHEN metric = 'gas_flow_mcf' THEN start_transient END) AS gas_flow_mcf_transient,
        MAX(CASE WHEN metric = 'pressure_differential' THEN CAST(on_delay AS SMALLINT) END) AS pressure_differential_open,
        MAX(CASE WHEN metric = 'pressure_differential' THEN CAST(clear_count AS SMALLINT) END) AS pressure_differential_clear,
        BOOL_OR(CASE WHEN metric = 'pressure_differential' THEN start_transient END) AS pressure_differential_transient,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN CAST(on_delay AS SMALLINT) END) AS temp_rate_of_change_open,
        MAX(CASE WHEN metric = 'temp_rate_of_change' THEN CAST(clear_count AS SMALLINT) END) AS temp_rate_of_change_clear,
        BOOL_OR(CASE WHEN metric = 'temp_rate_of_change' THEN start_transient END) AS temp_rate_of_change_transient
    FROM compressor_thresholds
    GROUP BY organization, compressor_id
),
before AS (
    SELECT
        organization,
        compressor_id,
        BOOL_OR(metric = 'vibration_mms') AS vibration_mms_before,
        BOOL_OR(metric = 'discharge_temp_f') AS discharge_temp_f_before,
        BOOL_OR(metric = 'discharge_pressure_psi') AS discharge_pressure_psi_before,
        BOOL_OR(metric = 'suction_pressure_psi') AS suction_pressure_psi_before,
        BOOL_OR(metric = 'horsepower_consumption') AS horsepower_consumption_before,
        BOOL_OR(metric = 'gas_flow_mcf') AS gas_flow_mcf_before,
        BOOL_OR(metric = 'pressure_differential') AS pressure_differential_before,
        BOOL_OR(metric = 'temp_rate_of_change') AS temp_rate_of_change_before
    FROM violated_before
    GROUP BY organization, compressor_id
)
SELECT
    l.organization,
    l.compressor_id,
    l.vibration_mms_open,
    l.vibration_mms_clear,
    l.vibration_mms_transient,
    COALESCE(b.vibration_mms_before, FALSE) AS vibration_mms_before,
    l.discharge_temp_f_open,
    l.discharge_temp_f_clear,
    l.discharge_temp_f_transient,
    COALESCE(b.discharge_temp_f_before, FALSE) AS discharge_temp_f_before,
    l.discharge_pressure_psi_open,
    l.discharge_pressure_psi_clear,
    l.discharge_pressure_psi_transient,
    COALESCE(b.discharge_pressure_psi_before, FALSE) AS discharge_pressure_psi_before,
    l.suction_pressure_psi_open,
    l.suction_pressure_psi_clear,
    l.suction_pressure_psi_transient,
    COALESCE(b.suction_pressure_psi_before, FALSE) AS suction_pressure_psi_before,
    l.horsepower_consumption_open,
    l.horsepower_consumption_clear,
    l.horsepower_consumption_transient,
    COALESCE(b.horsepower_consumption_before, FALSE) AS horsepower_consumption_before,
    l.gas_flow_mcf_open,
    l.gas_flow_mcf_clear,
    l.gas_flow_mcf_transient,
    COALESCE(b.gas_flow_mcf_before, FALSE) AS gas_flow_mcf_before,
    l.pressure_differential_open,
    l.pressure_differential_clear,
    l.pressure_differential_transient,
    COALESCE(b.pressure_differential_before, FALSE) AS pressure_differential_before,
    l.temp_rate_of_change_open,
    l.temp_rate_of_change_clear,
    l.temp_rate_of_change_transient,
    COALESCE(b.temp_rate_of_change_before, FALSE) AS temp_rate_of_change_before
FROM limits AS l
LEFT JOIN before AS b ON b.organization = l.organization AND b.compressor_id = l.compressor_id
