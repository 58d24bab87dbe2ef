-- Every bronze reading with the reason it cannot be used, or NULL when it is good.
-- Inputs: bronze_readings, compressors (fleet metadata), plan_compressors (the compressors the
-- organization's plan covers), params (one row), prior_watermarks (the newest reading of each
-- compressor processed by earlier runs; empty when everything is recomputed).
-- A reading stamped more than params.max_age_seconds before its load is too old (a sensor clock reset to
-- 1970 would otherwise stretch the batch's expected span over decades).
-- The first failing check names the reason; duplicates are decided among otherwise-good rows only,
-- so a good reading is never discarded in favour of a broken copy of it: the earliest copy (by load,
-- source file and row) is kept. Only the keys that repeat are ranked (a window over every reading
-- was most of this step's cost, and repeats are rare).
-- A reading is late when it is more than params.late_seconds older than the newest reading of its
-- compressor loaded before it (by an earlier load, here or in prior_watermarks): its 24-hour windows
-- were computed and published long ago, so it is set aside rather than silently rewriting history.
-- The id rule is checked once per distinct id (valid_ids), and only for ids the fleet does not
-- register: its pattern is a column of params, not a literal, so the engine compiles it for every row
-- it is applied to (about 80 µs each on DuckDB: 0.4 CPU s an hour at 4,700 compressors), and a
-- registered id already passed the same rule when its fleet file landed (landing.check_identifiers).
-- The chunk's readings are held once (`checked`, every column); lateness and duplicates read it through
-- small per-load and per-key relations (a copy of every column per derived step was a third of the cost).
WITH valid_ids AS (
    SELECT
        i.compressor_id,
        CASE WHEN r.compressor_id IS NOT NULL THEN TRUE
            ELSE regexp_matches(i.compressor_id, p.compressor_id_regex) END AS valid
    FROM (SELECT DISTINCT compressor_id FROM bronze_readings WHERE compressor_id IS NOT NULL) AS i
    LEFT JOIN (SELECT DISTINCT compressor_id FROM compressors) AS r ON r.compressor_id = i.compressor_id
    CROSS JOIN params AS p
),
checked AS (
    SELECT
        b.*,
        CASE
            WHEN b._refused IS NOT NULL THEN 'refused at ingest: ' || b._refused
            WHEN b.compressor_id IS NULL OR b.timestamp IS NULL
                THEN 'missing key: compressor_id or timestamp is null'
            WHEN NOT v.valid
                THEN 'invalid compressor id: not 1-64 characters of letters, digits and -_.:/'
            WHEN c.compressor_id IS NULL THEN 'unknown compressor: not registered in the organization''s fleet'
            WHEN pc.compressor_id IS NULL
                THEN 'plan limit: the organization''s plan covers fewer compressors; upgrade to load it'
            WHEN b.vibration_mms IS NULL AND b.discharge_temp_f IS NULL AND b.suction_pressure_psi IS NULL
                AND b.discharge_pressure_psi IS NULL AND b.horsepower_consumption IS NULL
                AND b.gas_flow_mcf IS NULL
                THEN 'all sensors null'
            WHEN EPOCH(b.timestamp) > EPOCH(b._loaded_at) + p.future_tolerance_seconds
                THEN 'future timestamp: later than the time the row was loaded'
            WHEN EPOCH(b.timestamp) < EPOCH(b._loaded_at) - p.max_age_seconds
                THEN 'too old: stamped more than PIPELINE_MAX_READING_AGE_DAYS before the time the row was loaded'
            WHEN b.vibration_mms < p.vibration_mms_min OR b.vibration_mms > p.vibration_mms_max
                OR ISNAN(b.vibration_mms)
                THEN 'impossible value: vibration_mms'
            WHEN b.discharge_temp_f < p.discharge_temp_f_min OR b.discharge_temp_f > p.discharge_temp_f_max
                OR ISNAN(b.discharge_temp_f)
                THEN 'impossible value: discharge_temp_f'
            WHEN b.suction_pressure_psi < p.suction_pressure_psi_min
                OR b.suction_pressure_psi > p.suction_pressure_psi_max OR ISNAN(b.suction_pressure_psi)
                THEN 'impossible value: suction_pressure_psi'
            WHEN b.discharge_pressure_psi < p.discharge_pressure_psi_min
                OR b.discharge_pressure_psi > p.discharge_pressure_psi_max OR ISNAN(b.discharge_pressure_psi)
                THEN 'impossible value: discharge_pressure_psi'
            WHEN b.horsepower_consumption < p.horsepower_consumption_min
                OR b.horsepower_consumption > p.horsepower_consumption_max OR ISNAN(b.horsepower_consumption)
                THEN 'impossible value: horsepower_consumption'
            WHEN b.gas_flow_mcf < p.gas_flow_mcf_min OR b.gas_flow_mcf > p.gas_flow_mcf_max
                OR ISNAN(b.gas_flow_mcf)
                THEN 'impossible value: gas_flow_mcf'
            WHEN b.operating_hours < p.operating_hours_min OR b.operating_hours > p.operating_hours_max
                OR ISNAN(b.operating_hours)
                THEN 'impossible value: operating_hours'
        END AS basic_reason
    FROM bronze_readings AS b
    CROSS JOIN params AS p
    LEFT JOIN valid_ids AS v ON v.compressor_id = b.compressor_id
    LEFT JOIN compressors AS c ON c.organization = b.organization AND c.compressor_id = b.compressor_id
    LEFT JOIN plan_compressors AS pc ON pc.organization = b.organization AND pc.compressor_id = b.compressor_id
),
loads AS (
    SELECT organization, compressor_id, _loaded_at, MAX(timestamp) AS newest
    FROM checked
    WHERE basic_reason IS NULL
    GROUP BY organization, compressor_id, _loaded_at
),
earlier_loads AS (
    SELECT
        organization,
        compressor_id,
        _loaded_at,
        MAX(newest) OVER (
            PARTITION BY organization, compressor_id ORDER BY _loaded_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS newest_before
    FROM loads
),
-- The newest reading each good reading is checked against for lateness, per compressor and load: a
-- row per load, joined once per reading (the arithmetic is the same as per reading).
late_limits AS (
    SELECT
        e.organization,
        e.compressor_id,
        e._loaded_at,
        EPOCH(GREATEST(e.newest_before, w.newest)) - p.late_seconds AS late_before_epoch
    FROM earlier_loads AS e
    CROSS JOIN params AS p
    LEFT JOIN prior_watermarks AS w ON w.organization = e.organization AND w.compressor_id = e.compressor_id
),
-- The readings' one copy is `checked` (every column of the chunk); the rest reads it. Duplicates:
-- the keys whose hash repeats among the readings that passed the basic checks (a group by one
-- integer, half the CPU of grouping every reading by its three keys; equal keys have equal hashes,
-- and a late reading only adds candidates), then among those few readings (`candidates`, with their
-- check reason) the keys more than one good reading has (`repeated`): only their readings are ranked.
repeated_hash AS (
    SELECT HASH(organization, compressor_id, timestamp) AS key_hash
    FROM checked
    WHERE basic_reason IS NULL
    GROUP BY HASH(organization, compressor_id, timestamp)
    HAVING COUNT(*) > 1
),
candidates AS (
    SELECT
        k.*,
        CASE
            WHEN EPOCH(k.timestamp) < l.late_before_epoch
                THEN 'late: more than 24 hours older than readings already processed for this compressor'
        END AS check_reason
    FROM checked AS k
    LEFT JOIN late_limits AS l
        ON l.organization = k.organization AND l.compressor_id = k.compressor_id AND l._loaded_at = k._loaded_at
    WHERE k.basic_reason IS NULL
        AND HASH(k.organization, k.compressor_id, k.timestamp) IN (SELECT key_hash FROM repeated_hash)
),
repeated AS (
    SELECT organization, compressor_id, timestamp
    FROM candidates
    WHERE check_reason IS NULL
    GROUP BY organization, compressor_id, timestamp
    HAVING COUNT(*) > 1
),
judged AS (
    SELECT
        k.*,
        CASE
            WHEN k.basic_reason IS NOT NULL THEN k.basic_reason
            WHEN EPOCH(k.timestamp) < l.late_before_epoch
                THEN 'late: more than 24 hours older than readings already processed for this compressor'
        END AS check_reason,
        r.organization IS NOT NULL AS key_repeated
    FROM checked AS k
    LEFT JOIN late_limits AS l
        ON l.organization = k.organization AND l.compressor_id = k.compressor_id AND l._loaded_at = k._loaded_at
    LEFT JOIN repeated AS r
        ON r.organization = k.organization AND r.compressor_id = k.compressor_id AND r.timestamp = k.timestamp
)
-- a good reading of a repeated key is ranked among the others (all in `candidates`); the rest stand
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
    check_reason AS reason
FROM judged
WHERE NOT (check_reason IS NULL AND key_repeated)
UNION ALL
SELECT
    c.organization,
    c.compressor_id,
    c.timestamp,
    c.vibration_mms,
    c.discharge_temp_f,
    c.suction_pressure_psi,
    c.discharge_pressure_psi,
    c.horsepower_consumption,
    c.gas_flow_mcf,
    c.operating_hours,
    c._source_file,
    c._source_row,
    c._loaded_at,
    CASE
        WHEN ROW_NUMBER() OVER (
            PARTITION BY c.organization, c.compressor_id, c.timestamp
            ORDER BY c._loaded_at, c._source_file, c._source_row
        ) > 1 THEN 'duplicate: same compressor and timestamp as an earlier reading'
    END AS reason
FROM candidates AS c
JOIN repeated AS r
    ON r.organization = c.organization AND r.compressor_id = c.compressor_id AND r.timestamp = c.timestamp
WHERE c.check_reason IS NULL
