-- The good readings of silver_classified (no reason to quarantine them), with params.spike_ratio: the
-- input of silver's per-compressor step (pipeline/flags.py: quality flags in one pass over each
-- compressor's readings in time order), read back by silver_readings.sql. A view.
-- Inputs: silver_classified, params.
SELECT g.*, p.spike_ratio
FROM silver_classified AS g
CROSS JOIN params AS p
WHERE g.reason IS NULL
