-- Last 7 days by provider
-- Question: over the last 7 days, how long did sessions last per provider, how many were
-- recorded, and what share gave consent? One row per provider and a last row for all of them.
-- Period: always the last 7 UTC dates, today included, whatever --days says. A session counts on
-- the UTC date it started. Durations in minutes over the sessions that have one (not open or
-- abandoned); shares are percentages of all the sessions in the row.
SELECT
  coalesce(provider, 'all providers')                                       AS provider,
  count(*)                                                                  AS sessions,
  count(*) FILTER (WHERE duration_seconds IS NOT NULL)                      AS finished,
  count(*) FILTER (WHERE status IN ('open', 'abandoned'))                   AS open_or_abandoned,
  round(median(duration_seconds) / 60, 1)                                   AS median_minutes,
  round(quantile_cont(duration_seconds, 0.9) / 60, 1)                       AS p90_minutes,
  round(sum(duration_seconds) / 3600, 2)                                    AS total_hours,
  count(*) FILTER (WHERE recordings > 0)                                    AS recorded,
  round(100.0 * count(*) FILTER (WHERE recordings > 0) / count(*), 1)       AS recorded_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'accepted') / count(*), 1) AS consent_accepted_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'declined') / count(*), 1) AS consent_declined_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'unknown') / count(*), 1)  AS consent_unknown_pct
FROM session_facts
WHERE "date" > CAST(timezone('UTC', now()) AS DATE) - 7
GROUP BY ROLLUP (provider)
ORDER BY grouping(provider), provider;
