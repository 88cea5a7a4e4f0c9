-- Consent and device permissions per provider
-- Question: what share of sessions gave consent, refused it, or were never asked; and where the
-- camera, microphone or location was asked for, how often was it allowed?
-- Period: the last 30 days (UTC), or --days N, or --from/--to (UTC dates, both included).
-- Sessions count on the UTC date they started.
-- Shares are percentages of the provider's sessions. consent is the latest session-scope decision;
-- unknown means no decision was recorded (never asked, or the provider does not send one).
-- *_asked counts the sessions where that permission was decided at all; *_allowed_pct is the share
-- of those that allowed it (null when none was asked).
SELECT
  provider,
  count(*)                                                                        AS sessions,
  round(100.0 * count(*) FILTER (WHERE consent = 'accepted') / nullif(count(*), 0), 1)       AS accepted_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'declined') / nullif(count(*), 0), 1)       AS declined_pct,
  round(100.0 * count(*) FILTER (WHERE consent = 'unknown') / nullif(count(*), 0), 1)        AS unknown_pct,
  count(camera_allowed)                                                           AS camera_asked,
  round(100.0 * count(*) FILTER (WHERE camera_allowed) / nullif(count(camera_allowed), 0), 1) AS camera_allowed_pct,
  count(microphone_allowed)                                                       AS microphone_asked,
  round(100.0 * count(*) FILTER (WHERE microphone_allowed) / nullif(count(microphone_allowed), 0), 1) AS microphone_allowed_pct,
  count(geolocation_allowed)                                                      AS geolocation_asked,
  round(100.0 * count(*) FILTER (WHERE geolocation_allowed) / nullif(count(geolocation_allowed), 0), 1) AS geolocation_allowed_pct
FROM session_facts
WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 30) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
GROUP BY provider
ORDER BY provider;
