-- Views over the Parquet dataset, named like the warehouse tables (sql/warehouse.sql), for
-- analysts and BI tools while the pipeline holds warehouse.duckdb (`sessionflow sql` runs on these).
-- {{dataset}} is the dataset folder, DATA_DIR/parquet, as the body of an SQL string.
--
-- Layout: <table>/provider=<provider>/date=<YYYY-MM-DD>/*.parquet. The files do not repeat the
-- partition columns; `provider` and `date` come from the folder names. `date` is the UTC date of
-- started_at (else first_event_at) for session_facts and participant_sessions, of occurred_at for
-- session_events, of received_at for dead_letters: filter on it to read fewer files.
-- No view here serves a raw body: the raw archive is in DATA_DIR/restricted (sql/restricted.sql).
-- Timestamps are stored as UTC instants (TIMESTAMPTZ); openDataset sets TimeZone to UTC.
-- When a table has no file yet, openDataset swaps its read_parquet(...) for an empty relation
-- with the same columns.

CREATE OR REPLACE VIEW session_facts AS
SELECT session_key, provider, account_id, session_id, channel, name,
       created_at, started_at, ended_at, status, duration_seconds, wait_seconds,
       participants, agents, guests, peak_concurrent, participant_seconds,
       consent, camera_allowed, microphone_allowed, geolocation_allowed,
       recordings, recording_seconds, recording_files, recording_bytes,
       shares, sharing_seconds, hold_seconds, av_seconds, wrap_up_seconds,
       media_captures, ocr_scans, files_shared, messages, forwards, alerts,
       survey_score, end_reason, events, unknown_events, first_event_at, last_event_at, updated_at,
       conversations, products_added, products_removed,
       "date"
FROM read_parquet('{{dataset}}/session_facts/*/*/*.parquet', hive_partitioning = true, union_by_name = true, hive_types = {'provider': 'VARCHAR', 'date': 'DATE'});

CREATE OR REPLACE VIEW participant_sessions AS
SELECT session_key, participant_key, role, joined_at, left_at, duration_seconds, leave_reason,
       provider, "date"
FROM read_parquet('{{dataset}}/participant_sessions/*/*/*.parquet', hive_partitioning = true, union_by_name = true, hive_types = {'provider': 'VARCHAR', 'date': 'DATE'});

CREATE OR REPLACE VIEW session_events AS
SELECT event_id, ingest_id, provider, account_id, session_key, session_id, session_name, channel,
       type, provider_type, provider_event_id, occurred_at, received_at,
       participant_key, participant_role, provider_user_id,
       reason, state, scope, bytes, count, score, attributes,
       "date"
FROM read_parquet('{{dataset}}/session_events/*/*/*.parquet', hive_partitioning = true, union_by_name = true, hive_types = {'provider': 'VARCHAR', 'date': 'DATE'});

CREATE OR REPLACE VIEW dead_letters AS
SELECT ingest_id, provider, stage, error_code, message, field_path, provider_type, received_at, failed_at,
       "date"
FROM read_parquet('{{dataset}}/dead_letters/*/*/*.parquet', hive_partitioning = true, union_by_name = true, hive_types = {'provider': 'VARCHAR', 'date': 'DATE'});
