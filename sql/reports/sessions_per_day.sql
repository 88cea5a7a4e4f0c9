-- Sessions and durations per provider and day
-- Question: how many sessions did each provider have per day, how long did they last, and how
-- many ended versus are still open or were abandoned?
-- Period: the last 30 days (UTC dates, today included); `sessionflow sql --report sessions_per_day --days 7`
-- sets another (it runs SET VARIABLE days = 7), and --from/--to a range (variables from_date, to_date). A session counts on the UTC date it started.
-- Durations are in minutes, over the sessions that have one (ended, closed or cancelled).
SELECT
  "date"                                                  AS day,
  provider,
  count(*)                                                AS sessions,
  count(*) FILTER (WHERE status = 'ended')                AS ended,
  count(*) FILTER (WHERE status IN ('closed', 'cancelled')) AS closed_or_cancelled,
  count(*) FILTER (WHERE status = 'open')                 AS open,
  count(*) FILTER (WHERE status = 'abandoned')            AS abandoned,
  round(median(duration_seconds) / 60, 1)                 AS median_minutes,
  round(quantile_cont(duration_seconds, 0.9) / 60, 1)     AS p90_minutes,
  round(sum(duration_seconds) / 3600, 2)                  AS total_hours
FROM session_facts
WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 30) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
GROUP BY "date", provider
ORDER BY day, provider;
