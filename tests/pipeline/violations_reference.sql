-- violations.sql as it stood before it read gold's readings directly: over the long form
-- (metric_series_reference.sql), the reference tests/pipeline/test_episodes.py compares it with.
-- One row per reading and metric beyond its warning or critical threshold, with the unit's operating
-- state at that reading (gold_readings.sql): a violation of a stopped or starting unit is kept here,
-- as what the value was, though alert_events.sql does not count it (state-based suppression).
-- Inputs: metric_series, thresholds.
SELECT
    s.organization,
    s.compressor_id,
    s.timestamp,
    s.metric,
    s.value,
    s.status AS severity,
    CASE WHEN s.status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value,
    s.operating_state
FROM metric_series AS s
JOIN compressor_thresholds AS t
    ON t.organization = s.organization AND t.compressor_id = s.compressor_id AND t.metric = s.metric
WHERE s.status IN ('warning', 'critical')
