-- Sessions by provider: durations, recording, consent
-- Question: over the period (the last 7 days unless told otherwise), how long did sessions last
-- per provider, how many were recorded, and what share gave consent? One row per provider and a last row for all of them.
-- Period: the last 7 UTC dates, today included, unless --days N or --from/--to (UTC dates, both
-- included) say another, as in the HTML report, whose period it follows. A session counts on
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
  round(100.0 * count(*) FILTER (WHERE recordings > 0) / nullif(count(*), 0), 1)       AS recorded_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'accepted') / nullif(count(*), 0), 1) AS consent_accepted_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'declined') / nullif(count(*), 0), 1) AS consent_declined_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'unknown') / nullif(count(*), 0), 1)  AS consent_unknown_pct
FROM session_facts
WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 7) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
GROUP BY ROLLUP (provider)
ORDER BY grouping(provider), provider;
