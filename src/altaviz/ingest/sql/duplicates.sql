-- Duplicates within one ingest request: a good row whose compressor and timestamp an earlier good row
-- already has is refused, naming that row; the first one wins.
-- Inputs: checked (judge_readings.sql's rows, reason NULL when good). Decided among otherwise-good rows
-- only: a good reading is never refused in favour of a broken copy of it. judge.py runs this only when
-- two good rows share a key (most requests have none), so a clean batch pays for no join.
WITH firsts AS (
    SELECT compressor_id, ts, min(row_number) AS first_row
    FROM checked
    WHERE reason IS NULL
    GROUP BY compressor_id, ts
)
SELECT
    c.* EXCLUDE (reason),
    CASE
        WHEN c.reason IS NOT NULL THEN c.reason
        WHEN c.row_number > f.first_row
            THEN 'duplicate of row ' || f.first_row || ' (same compressor_id and timestamp)'
    END AS reason
FROM checked AS c
LEFT JOIN firsts AS f ON f.compressor_id = c.compressor_id AND f.ts = c.ts
