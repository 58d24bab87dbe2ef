-- The readings that decide alert episodes (SPEC §2, §4), per compressor and metric: every violating
-- reading, flagged where it completes the on-delay (`opens`), and every clear reading that completes
-- the clear-delay (`clears`) after a violating reading of its metric (one before the first closes
-- nothing). Input of alerts.sql; small next to the series.
-- Input: alert_streaks, the per-compressor step (pipeline/episodes.py) over alert_inputs.sql, which
-- judges each reading (violating, clear or neither) and states the rules; the step counts the streaks
-- in one pass over each compressor's series, ordered by time.
SELECT organization, compressor_id, metric, timestamp, value, status, streak_start, opens, clears
FROM alert_streaks
