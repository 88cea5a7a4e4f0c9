-- Dead letters by reason
-- Question: which deliveries could not be turned into events, from which provider, at which
-- stage and why, how many, and when did the latest one arrive?
-- Period: the last 30 days (UTC), or --days N, or --from/--to (UTC dates, both included), by the
-- UTC date the delivery was received.
-- stage: decode (our envelope unreadable), normalize (the provider body did not fit), warehouse.
-- error_code: see "Error codes" in the README. Each dead letter keeps its ingest_id: the delivery
-- itself is in the restricted raw archive, for operators:
-- sessionflow sql --restricted "SELECT decode(body) FROM raw_webhooks WHERE ingest_id = '...'".
SELECT
  provider,
  stage,
  error_code,
  count(*)                                  AS dead_letters,
  max(received_at)                          AS latest_received_at,
  arg_max(field_path, received_at)          AS latest_field_path,
  arg_max(message, received_at)             AS latest_message,
  arg_max(ingest_id, received_at)           AS latest_ingest_id
FROM dead_letters
WHERE "date" BETWEEN coalesce(getvariable('from_date'), CAST(timezone('UTC', now()) AS DATE) - coalesce(getvariable('days'), 30) + 1)
      AND coalesce(getvariable('to_date'), CAST(timezone('UTC', now()) AS DATE))
GROUP BY provider, stage, error_code
ORDER BY dead_letters DESC, provider, stage, error_code;
