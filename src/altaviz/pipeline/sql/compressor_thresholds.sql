-- The alarm limits that apply to each compressor and metric (SPEC §2, §8): the defaults, or the
-- organization's effective values where its registry overrides them (compressor > model >
-- organization > defaults, resolved by altaviz.registry.thresholds before the run).
-- Inputs: compressors (organization, compressor_id), thresholds (the defaults per metric: direction,
-- warning, critical, on_delay, clear_count, start_transient), threshold_overrides (complete effective
-- rows of the compressors whose values differ from the defaults; usually few or none).
-- An override row is taken whole, so an override that removes a critical level (NULL) stays NULL.
-- Direction and start_transient (whether a start takes the metric past its limit) are physics: always
-- the defaults'.
SELECT
    c.organization,
    c.compressor_id,
    t.metric,
    t.direction,
    CASE WHEN o.metric IS NULL THEN t.warning ELSE o.warning END AS warning,
    CASE WHEN o.metric IS NULL THEN t.critical ELSE o.critical END AS critical,
    CAST(CASE WHEN o.metric IS NULL THEN t.on_delay ELSE o.on_delay END AS BIGINT) AS on_delay,
    CAST(CASE WHEN o.metric IS NULL THEN t.clear_count ELSE o.clear_count END AS BIGINT) AS clear_count,
    t.start_transient
FROM (SELECT DISTINCT organization, compressor_id FROM compressors) AS c
CROSS JOIN thresholds AS t
LEFT JOIN threshold_overrides AS o
    ON o.organization = c.organization AND o.compressor_id = c.compressor_id AND o.metric = t.metric
