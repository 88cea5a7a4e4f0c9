-- Participants and peak concurrency per provider
-- Question: how many people take part in a session, how many are there at once at the busiest
-- moment, how often do they drop and rejoin, and how long does one stay?
-- Period: the last 30 days (UTC), or --days N, or --from/--to (UTC dates, both included).
-- Sessions count on the UTC date they started.
-- A span is one join paired with that participant's next leave; a rejoin is every span of a
-- participant after their first in the same session.
WITH sessions AS (
  SELECT provider,
         count(*)                             AS sessions,
         sum(participants)                    AS participants,
         round(avg(participants), 1)          AS avg_participants,
         sum(agents)                          AS agents,
         sum(guests)                          AS guests,
         round(avg(peak_concurrent), 1)       AS avg_peak_concurrent,
         max(peak_concurrent)                 AS max_peak_concurrent,
         round(sum(participant_seconds) / 3600, 2) AS participant_hours
  FROM session_facts
  WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 30) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
  GROUP BY provider
), spans AS (
  SELECT provider,
         count(*)                                                      AS spans,
         count(*) - count(DISTINCT (session_key, participant_key))     AS rejoins,
         round(median(duration_seconds) / 60, 1)                       AS median_span_minutes
  FROM participant_sessions
  WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 30) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
  GROUP BY provider
)
SELECT s.provider, s.sessions, s.participants, s.avg_participants, s.agents, s.guests,
       s.avg_peak_concurrent, s.max_peak_concurrent,
       coalesce(p.spans, 0) AS spans, coalesce(p.rejoins, 0) AS rejoins, p.median_span_minutes,
       s.participant_hours
FROM sessions s LEFT JOIN spans p USING (provider)
ORDER BY s.provider;
