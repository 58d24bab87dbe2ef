-- Every row of one ingest request with the reason it is refused, or NULL when it is accepted.
-- Inputs: request_rows (judge.py: row_number from 1, row_problem set by the parser, compressor_id as
-- text, timestamp_raw as sent, ts parsed to TIMESTAMPTZ or NULL, ts_blank, each sensor and
-- operating_hours as sent (<name>_raw) and as a number (<name>, NULL when not a number));
-- registered (compressor_id, archived: the organization's fleet, usable when not archived and its id
-- passes the id rules); parameters $future_limit,
-- $history_start, $history_days, $id_pattern, $hours_max and each sensor's physical limits
-- $<sensor>_min/$<sensor>_max (altaviz.fleet.sensors: the same limits the silver layer applies).
-- Rules, first failing one named: a row the parser could not read; the compressor id (missing, the one
-- id rule of altaviz.fleet.identifiers, registered and not archived); the timestamp (missing, RFC 3339
-- with an offset or epoch milliseconds, at most 10 minutes ahead, within the plan's history); each
-- sensor (a number when given, within physical limits, not NaN); at least one sensor; operating hours.
-- Duplicates (same compressor and timestamp) are decided afterwards among the rows this leaves good
-- (duplicates.sql, run only when judge.py finds two good rows with one key).
-- What was sent is turned into text only in the reasons of refused rows: formatting every number of
-- an accepted batch as text cost more than all the checks together.
SELECT
    r.row_number,
    r.compressor_id,
    r.timestamp_raw,
    r.ts,
    r.vibration_mms, r.vibration_mms_raw,
    r.discharge_temp_f, r.discharge_temp_f_raw,
    r.suction_pressure_psi, r.suction_pressure_psi_raw,
    r.discharge_pressure_psi, r.discharge_pressure_psi_raw,
    r.horsepower_consumption, r.horsepower_consumption_raw,
    r.gas_flow_mcf, r.gas_flow_mcf_raw,
    r.operating_hours, r.operating_hours_raw,
    CASE
        WHEN r.row_problem IS NOT NULL THEN r.row_problem
        -- The id rules are checked once per registered compressor (g.usable), per row only for the rows
        -- whose id is not a usable registered one: the same reasons, without a regular expression per row.
        WHEN g.usable IS DISTINCT FROM true THEN CASE
            WHEN r.compressor_id IS NULL OR r.compressor_id = '' THEN 'missing compressor_id'
            WHEN length(r.compressor_id) > 64
                THEN 'compressor_id is ' || length(r.compressor_id) || ' characters long; the limit is 64'
            WHEN NOT regexp_full_match(r.compressor_id, $id_pattern)
                THEN 'compressor_id ' || r.compressor_id || ' has characters outside letters, digits and -_.:/'
            WHEN g.compressor_id IS NULL
                THEN 'unknown compressor: ' || r.compressor_id
                    || ' is not registered in this organization''s fleet (register it first)'
            ELSE 'archived compressor: ' || r.compressor_id || ' is archived; restore it to send readings'
        END
        WHEN r.timestamp_raw IS NULL OR r.ts_blank THEN 'missing timestamp'
        WHEN r.ts IS NULL
            THEN 'invalid timestamp ' || CAST(r.timestamp_raw AS VARCHAR)
                || ': use RFC 3339 with an offset (2026-01-31T08:00:00Z) or epoch milliseconds'
        WHEN r.ts > $future_limit
            THEN 'timestamp ' || strftime(r.ts, '%Y-%m-%dT%H:%M:%SZ')
                || ' is more than 10 minutes in the future (check the clock and the time zone)'
        WHEN r.ts < $history_start
            THEN 'timestamp ' || strftime(r.ts, '%Y-%m-%dT%H:%M:%SZ')
                || ' is older than the plan''s history window of ' || $history_days || ' days'
                || CASE WHEN regexp_full_match(CAST(r.timestamp_raw AS VARCHAR), '-?[0-9]{1,11}(\.0+)?')
                    THEN ' (numeric timestamps are epoch milliseconds, not seconds)' ELSE '' END
        WHEN r.vibration_mms_raw IS NOT NULL AND r.vibration_mms IS NULL
            THEN 'vibration_mms is not a number: ' || CAST(r.vibration_mms_raw AS VARCHAR)
        WHEN isnan(r.vibration_mms) OR r.vibration_mms < $vibration_mms_min
            OR r.vibration_mms > $vibration_mms_max
            THEN 'vibration_mms ' || CAST(r.vibration_mms_raw AS VARCHAR) || ' is physically impossible (outside '
                || $vibration_mms_min || ' to ' || $vibration_mms_max || ' mm/s)'
        WHEN r.discharge_temp_f_raw IS NOT NULL AND r.discharge_temp_f IS NULL
            THEN 'discharge_temp_f is not a number: ' || CAST(r.discharge_temp_f_raw AS VARCHAR)
        WHEN isnan(r.discharge_temp_f) OR r.discharge_temp_f < $discharge_temp_f_min
            OR r.discharge_temp_f > $discharge_temp_f_max
            THEN 'discharge_temp_f ' || CAST(r.discharge_temp_f_raw AS VARCHAR) || ' is physically impossible (outside '
                || $discharge_temp_f_min || ' to ' || $discharge_temp_f_max || ' °F)'
        WHEN r.suction_pressure_psi_raw IS NOT NULL AND r.suction_pressure_psi IS NULL
            THEN 'suction_pressure_psi is not a number: ' || CAST(r.suction_pressure_psi_raw AS VARCHAR)
        WHEN isnan(r.suction_pressure_psi) OR r.suction_pressure_psi < $suction_pressure_psi_min
            OR r.suction_pressure_psi > $suction_pressure_psi_max
            THEN 'suction_pressure_psi ' || CAST(r.suction_pressure_psi_raw AS VARCHAR)
                || ' is physically impossible (outside '
                || $suction_pressure_psi_min || ' to ' || $suction_pressure_psi_max || ' PSI)'
        WHEN r.discharge_pressure_psi_raw IS NOT NULL AND r.discharge_pressure_psi IS NULL
            THEN 'discharge_pressure_psi is not a number: ' || CAST(r.discharge_pressure_psi_raw AS VARCHAR)
        WHEN isnan(r.discharge_pressure_psi) OR r.discharge_pressure_psi < $discharge_pressure_psi_min
            OR r.discharge_pressure_psi > $discharge_pressure_psi_max
            THEN 'discharge_pressure_psi ' || CAST(r.discharge_pressure_psi_raw AS VARCHAR)
                || ' is physically impossible (outside '
                || $discharge_pressure_psi_min || ' to ' || $discharge_pressure_psi_max || ' PSI)'
        WHEN r.horsepower_consumption_raw IS NOT NULL AND r.horsepower_consumption IS NULL
            THEN 'horsepower_consumption is not a number: ' || CAST(r.horsepower_consumption_raw AS VARCHAR)
        WHEN isnan(r.horsepower_consumption) OR r.horsepower_consumption < $horsepower_consumption_min
            OR r.horsepower_consumption > $horsepower_consumption_max
            THEN 'horsepower_consumption ' || CAST(r.horsepower_consumption_raw AS VARCHAR)
                || ' is physically impossible (outside '
                || $horsepower_consumption_min || ' to ' || $horsepower_consumption_max || ' HP)'
        WHEN r.gas_flow_mcf_raw IS NOT NULL AND r.gas_flow_mcf IS NULL
            THEN 'gas_flow_mcf is not a number: ' || CAST(r.gas_flow_mcf_raw AS VARCHAR)
        WHEN isnan(r.gas_flow_mcf) OR r.gas_flow_mcf < $gas_flow_mcf_min OR r.gas_flow_mcf > $gas_flow_mcf_max
            THEN 'gas_flow_mcf ' || CAST(r.gas_flow_mcf_raw AS VARCHAR) || ' is physically impossible (outside '
                || $gas_flow_mcf_min || ' to ' || $gas_flow_mcf_max || ' Mcf/day)'
        WHEN r.vibration_mms IS NULL AND r.discharge_temp_f IS NULL AND r.suction_pressure_psi IS NULL
            AND r.discharge_pressure_psi IS NULL AND r.horsepower_consumption IS NULL
            AND r.gas_flow_mcf IS NULL
            THEN 'no sensor value: a reading needs at least one of the six sensors'
        WHEN r.operating_hours_raw IS NOT NULL AND r.operating_hours IS NULL
            THEN 'operating_hours is not a number: ' || CAST(r.operating_hours_raw AS VARCHAR)
        WHEN isnan(r.operating_hours) OR r.operating_hours < 0 OR r.operating_hours > $hours_max
            THEN 'operating_hours ' || CAST(r.operating_hours_raw AS VARCHAR) || ' is impossible (outside 0 to '
                || $hours_max || ')'
    END AS reason
FROM request_rows AS r
LEFT JOIN (
    SELECT
        compressor_id,
        NOT archived AND length(compressor_id) BETWEEN 1 AND 64 AND regexp_full_match(compressor_id, $id_pattern)
            AS usable
    FROM registered
) AS g ON g.compressor_id = r.compressor_id
