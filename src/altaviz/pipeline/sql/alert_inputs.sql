-- Every reading of metric_series judged for alert episodes (SPEC §2, §4): the input of the
-- per-compressor step that finds the episodes' opening and clearing readings (pipeline/episodes.py,
-- read back by alert_events.sql). A view: row by row, no window.
-- Inputs: metric_series, compressor_thresholds, params, violated_before (pairs with a violating
-- reading before the series: an incremental run's series starts at its look-back; empty when
-- everything is computed).
--
-- Each reading is violating (state 1), clear (state 0: back past the warning limit by the deadband,
-- params.deadband_ratio of the limit), or neither (state 2: in the deadband, a value silver flagged
-- as a spike, or a limit the unit's operating state leaves unjudged, see below), which neither opens
-- nor clears an episode. The deadband keeps a value hovering at the limit from opening and closing
-- episodes over and over (chattering).
--
-- State-based suppression (ISA-18.2 designed suppression; README "Alerts"), on the operating state
-- gold_readings.sql reads off the data: a stopped unit's reading judges no limit (its flow, pressures
-- and horsepower are those of a machine at rest, not of a fault), and a starting unit's (the
-- params.settle_seconds after its last stopped reading) judges none of the limits a start itself
-- crosses (thresholds.start_transient: low flow, low suction pressure, the temperature rate); the
-- others (high vibration, temperature, pressures, horsepower) are judged from the first running
-- reading, as crossing them during a start is a fault. `stopped` (the reading's unit is stopped) and
-- `start_transient` let the step see a trip (pipeline/episodes.py).
SELECT
    s.organization,
    s.compressor_id,
    s.metric,
    s.timestamp,
    s.value,
    s.status,
    CASE
        WHEN s.operating_state = 'stopped' OR (s.operating_state = 'starting' AND t.start_transient) THEN 2
        WHEN s.suspect THEN 2
        WHEN s.status IN ('warning', 'critical') THEN 1
        WHEN t.direction = 'high' AND s.value < t.warning * (1 - p.deadband_ratio) THEN 0
        WHEN t.direction = 'low' AND s.value > t.warning * (1 + p.deadband_ratio) THEN 0
        ELSE 2
    END AS state,
    s.operating_state = 'stopped' AS stopped,
    t.start_transient,
    t.on_delay AS open_readings,
    t.clear_count AS clear_readings,
    b.compressor_id IS NOT NULL AS violated_before
FROM metric_series AS s
JOIN compressor_thresholds AS t
    ON t.organization = s.organization AND t.compressor_id = s.compressor_id AND t.metric = s.metric
CROSS JOIN params AS p
LEFT JOIN violated_before AS b
    ON b.organization = s.organization AND b.compressor_id = s.compressor_id AND b.metric = s.metric
