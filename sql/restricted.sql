-- The raw archive over DATA_DIR/restricted: every delivery as it arrived, body byte for byte.
-- The bodies hold personal data (names, e-mails, phone numbers, geolocation, OCR text, survey
-- feedback), so this view is not among the analysts' views (sql/views.sql) and never goes into
-- `sessionflow sql --init-file` or `--views-db`. Operators read it for audit and for looking into
-- a dead letter: `sessionflow sql --restricted "..."` and `sessionflow audit` add it to the
-- analysts' views. The folder is open to the service's user only (mode 0700).
-- {{restricted}} is DATA_DIR/restricted, as the body of an SQL string. Layout and `date` (of
-- received_at) as in sql/views.sql.

CREATE OR REPLACE VIEW raw_webhooks AS
SELECT ingest_id, provider, received_at, source, dedup_key, headers, content_type, body,
       "date"
FROM read_parquet('{{restricted}}/raw_webhooks/*/*/*.parquet', hive_partitioning = true, union_by_name = true, hive_types = {'provider': 'VARCHAR', 'date': 'DATE'});

-- The erasure record (sql/README.md): what sessionflow erase and raw retention removed, as counts
-- and keyed hashes, never the personal value. `date` is of erased_at.
CREATE OR REPLACE VIEW erasures AS
SELECT erasure_id, provider, reason, requested_at, erased_at, subjects, deliveries, events, dead_letters,
       sessions_refolded, sessions_removed, partitions, "date"
FROM read_parquet('{{restricted}}/erasures/*/*/*.parquet', hive_partitioning = true, union_by_name = true, hive_types = {'provider': 'VARCHAR', 'date': 'DATE'});
