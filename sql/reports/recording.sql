-- Recording usage per provider
-- Question: what share of sessions were recorded, for how long, and how many files and bytes
-- did the recordings produce?
-- Period: the last 30 days (UTC), or --days N, or --from/--to (UTC dates, both included).
-- Sessions count on the UTC date they started.
-- A session is recorded when a recording started in it. recording_seconds is the time actually
-- recorded (pauses excluded); files and bytes are those the provider reported as completed.
SELECT
  provider,
  count(*)                                                                  AS sessions,
  count(*) FILTER (WHERE recordings > 0)                                    AS recorded_sessions,
  round(100.0 * count(*) FILTER (WHERE recordings > 0) / nullif(count(*), 0), 1)       AS recorded_pct,
  sum(recordings)                                                           AS recordings,
  sum(recording_seconds)                                                    AS recording_seconds,
  round(avg(recording_seconds) FILTER (WHERE recordings > 0) / 60, 1)       AS avg_minutes_per_recorded_session,
  sum(recording_files)                                                      AS recording_files,
  sum(recording_bytes)                                                      AS recording_bytes
FROM session_facts
WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 30) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
GROUP BY provider
ORDER BY provider;
