-- The station ambient proxy's hourly input (altaviz.health.ambient, run by pipeline/health.py): per
-- compressor and clock hour (epoch hours), its silver readings' count, their median discharge
-- temperature and their lowest flow, a value silver flagged (spike or stuck) left out as the health
-- model's own input leaves it out (health_input.sql).
-- Inputs: health_ambient_silver (silver readings), health_members (organization, compressor_id, member:
-- its index; the compressors of the stations the pass needs, all of a station's, not only those with
-- new readings). Out: member, hour, readings, temp, flow, by member and hour.
-- Why: the proxy is a median over a station's compressors of each one's hourly deviation from its own
-- first two days; these rows are all it needs (a sixth of the readings). A median, not a mean: it is
-- exact whatever order the readings are summed in (a run that recomputes an hour gets the same value),
-- and a spike silver did not flag cannot move it.
SELECT
    m.member,
    CAST(FLOOR(EPOCH(s.timestamp) / 3600) AS BIGINT) AS hour,
    COUNT(*) AS readings,
    MEDIAN(CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:discharge_temp_f%' THEN NULL
        ELSE s.discharge_temp_f END) AS temp,
    MIN(CASE WHEN COALESCE(s.quality_flags, '') LIKE '%:gas_flow_mcf%' THEN NULL ELSE s.gas_flow_mcf END)
        AS flow
FROM health_ambient_silver AS s
JOIN health_members AS m ON m.organization = s.organization AND m.compressor_id = s.compressor_id
GROUP BY 1, 2
ORDER BY 1, 2
