-- Survey scores per provider
-- Question: how satisfied were the people who answered the end-of-session survey, and how many
-- answered at all?
-- Period: the last 30 days (UTC), or --days N, or --from/--to (UTC dates, both included).
-- Sessions count on the UTC date they started.
-- The scale is 1..3 (1 Not satisfied, 2 Satisfied, 3 Very satisfied). A session's survey_score is
-- the mean of its answers; mean_score weighs every answered session once. The three counts put
-- each answered session under its score rounded to the nearest point (1.5 counts as 2).
SELECT
  provider,
  count(*)                                                                  AS sessions,
  count(survey_score)                                                       AS answered,
  round(100.0 * count(survey_score) / nullif(count(*), 0), 1)                          AS answered_pct,
  round(avg(survey_score), 2)                                               AS mean_score,
  count(*) FILTER (WHERE round(survey_score) = 1)                           AS not_satisfied,
  count(*) FILTER (WHERE round(survey_score) = 2)                           AS satisfied,
  count(*) FILTER (WHERE round(survey_score) = 3)                           AS very_satisfied
FROM session_facts
WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 30) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
GROUP BY provider
ORDER BY provider;
