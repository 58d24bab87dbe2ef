-- One row per reading and metric beyond its warning or critical threshold.
-- Inputs: metric_series, thresholds.
SELECT
    s.organization,
    s.compressor_id,
    s.timestamp,
    s.metric,
    s.value,
    s.status AS severity,
    CASE WHEN s.status = 'critical' THEN t.critical ELSE t.warning END AS threshold_value
FROM metric_series AS s
JOIN compressor_thresholds AS t
    ON t.organization = s.organization AND t.compressor_id = s.compressor_id AND t.metric = s.metric
WHERE s.status IN ('warning', 'critical')
