-- The health step's rows as they came out of it (altaviz.pipeline.health.HealthStep over
-- health_input, whole compressors at a time: DuckDB streams them, Spark runs mapInArrow): hourly
-- health, predictions, early-warning episodes and states, told apart by `kind`; written once, then
-- split into the gold/health* tables.
-- Input: health_step (bound by TransformEngine.map_compressors).
SELECT * FROM health_step
