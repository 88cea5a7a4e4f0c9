-- The warehouse: DATA_DIR/warehouse.duckdb, written by one process (the warehouse stage).
-- Every timestamp is a TIMESTAMP holding UTC (DuckDB's TIMESTAMP has no zone: read it as UTC);
-- every duration is a DOUBLE in seconds. Column meanings are the `doc`s of schemas/*.avsc and
-- DESIGN section 6. The Parquet dataset (DATA_DIR/parquet/<table>/provider=<p>/date=<d>/) holds
-- the same tables minus the writer's bookkeeping columns, read through sql/views.sql.
-- Idempotent: the warehouse runs this file at every open.

-- One row per session (SessionFact): a pure function of all the session's events, recomputed
-- for every session a batch brings new events to.
CREATE TABLE IF NOT EXISTS session_facts (
  session_key          VARCHAR NOT NULL PRIMARY KEY,
  provider             VARCHAR NOT NULL,
  account_id           VARCHAR,
  session_id           VARCHAR,
  channel              VARCHAR,
  name                 VARCHAR,
  created_at           TIMESTAMP,
  started_at           TIMESTAMP,
  ended_at             TIMESTAMP,
  status               VARCHAR NOT NULL,
  duration_seconds     DOUBLE,
  wait_seconds         DOUBLE,
  participants         BIGINT NOT NULL,
  agents               BIGINT NOT NULL,
  guests               BIGINT NOT NULL,
  peak_concurrent      BIGINT NOT NULL,
  participant_seconds  DOUBLE NOT NULL,
  consent              VARCHAR NOT NULL,
  camera_allowed       BOOLEAN,
  microphone_allowed   BOOLEAN,
  geolocation_allowed  BOOLEAN,
  recordings           BIGINT NOT NULL,
  recording_seconds    DOUBLE NOT NULL,
  recording_files      BIGINT NOT NULL,
  recording_bytes      BIGINT NOT NULL,
  shares               BIGINT NOT NULL,
  sharing_seconds      DOUBLE NOT NULL,
  hold_seconds         DOUBLE NOT NULL,
  av_seconds           DOUBLE NOT NULL,
  wrap_up_seconds      DOUBLE,
  media_captures       BIGINT NOT NULL,
  ocr_scans            BIGINT NOT NULL,
  files_shared         BIGINT NOT NULL,
  messages             BIGINT NOT NULL,
  forwards             BIGINT NOT NULL,
  alerts               BIGINT NOT NULL,
  survey_score         DOUBLE,
  end_reason           VARCHAR,
  events               BIGINT NOT NULL,
  unknown_events       BIGINT NOT NULL,
  first_event_at       TIMESTAMP NOT NULL,
  last_event_at        TIMESTAMP NOT NULL,
  updated_at           TIMESTAMP NOT NULL,
  conversations        BIGINT NOT NULL DEFAULT 0,
  products_added       BIGINT NOT NULL DEFAULT 0,
  products_removed     BIGINT NOT NULL DEFAULT 0
);
-- Columns added after the first release: a warehouse made before them gets them here.
ALTER TABLE session_facts ADD COLUMN IF NOT EXISTS conversations BIGINT DEFAULT 0;
ALTER TABLE session_facts ADD COLUMN IF NOT EXISTS products_added BIGINT DEFAULT 0;
ALTER TABLE session_facts ADD COLUMN IF NOT EXISTS products_removed BIGINT DEFAULT 0;

-- One row per participant span: a join paired with the participant's next leave
-- (DESIGN section 6). Replaced together with the session's fact.
CREATE TABLE IF NOT EXISTS participant_sessions (
  session_key       VARCHAR NOT NULL,
  participant_key   VARCHAR NOT NULL,
  role              VARCHAR,
  joined_at         TIMESTAMP NOT NULL,
  left_at           TIMESTAMP,
  duration_seconds  DOUBLE,
  leave_reason      VARCHAR
);

-- The canonical events (SessionEvent), one row per event_id: a redelivery collapses onto the
-- first row stored. The participant record is flattened into participant_*.
-- batch_id: the warehouse batch that stored the row (lineage, and which Parquet file holds it).
CREATE TABLE IF NOT EXISTS session_events (
  event_id           VARCHAR NOT NULL PRIMARY KEY,
  ingest_id          VARCHAR NOT NULL,
  provider           VARCHAR NOT NULL,
  account_id         VARCHAR,
  session_key        VARCHAR,
  session_id         VARCHAR,
  session_name       VARCHAR,
  channel            VARCHAR,
  type               VARCHAR NOT NULL,
  provider_type      VARCHAR NOT NULL,
  provider_event_id  VARCHAR,
  occurred_at        TIMESTAMP NOT NULL,
  received_at        TIMESTAMP NOT NULL,
  participant_key    VARCHAR,
  participant_role   VARCHAR,
  provider_user_id   VARCHAR,
  reason             VARCHAR,
  state              VARCHAR,
  scope              VARCHAR,
  bytes              BIGINT,
  count              BIGINT,
  score              DOUBLE,
  attributes         MAP(VARCHAR, VARCHAR) NOT NULL,
  batch_id           BIGINT NOT NULL
);

-- The raw archive (RawWebhook): every delivery as it arrived, body byte for byte.
CREATE TABLE IF NOT EXISTS raw_webhooks (
  ingest_id     VARCHAR NOT NULL PRIMARY KEY,
  provider      VARCHAR NOT NULL,
  received_at   TIMESTAMP NOT NULL,
  source        VARCHAR NOT NULL,
  dedup_key     VARCHAR,
  headers       MAP(VARCHAR, VARCHAR) NOT NULL,
  content_type  VARCHAR,
  body          BLOB NOT NULL,
  batch_id      BIGINT NOT NULL
);

-- Deliveries (or parts of them) that could not become canonical events, with why (DeadLetter).
-- A replayed dead letter identical in (ingest_id, stage, error_code, field_path) is not stored twice.
CREATE TABLE IF NOT EXISTS dead_letters (
  ingest_id      VARCHAR NOT NULL,
  provider       VARCHAR NOT NULL,
  stage          VARCHAR NOT NULL,
  error_code     VARCHAR NOT NULL,
  message        VARCHAR NOT NULL,
  field_path     VARCHAR,
  provider_type  VARCHAR,
  received_at    TIMESTAMP NOT NULL,
  failed_at      TIMESTAMP NOT NULL,
  batch_id       BIGINT NOT NULL
);

-- The writer's consumer positions: the next offset to read per topic partition, stored in the
-- same transaction as the rows they account for (effectively once, DESIGN section 8).
CREATE TABLE IF NOT EXISTS pipeline_offsets (
  topic        VARCHAR NOT NULL,
  "partition"  INTEGER NOT NULL,
  next_offset  BIGINT NOT NULL,
  updated_at   TIMESTAMP NOT NULL,
  PRIMARY KEY (topic, "partition")
);

-- One row per batch and provider: what the batch stored and what collapsed as duplicates,
-- the counts `sessionflow audit` adds up (accepted = canonical + dead letters + duplicates).
CREATE SEQUENCE IF NOT EXISTS warehouse_batch_ids START 1;
CREATE TABLE IF NOT EXISTS warehouse_batches (
  batch_id           BIGINT NOT NULL,
  provider           VARCHAR NOT NULL,
  applied_at         TIMESTAMP NOT NULL,
  raw_webhooks       BIGINT NOT NULL,
  raw_duplicates     BIGINT NOT NULL,
  events             BIGINT NOT NULL,
  duplicate_events   BIGINT NOT NULL,
  dead_letters       BIGINT NOT NULL,
  PRIMARY KEY (batch_id, provider)
);

-- Parquet partitions still to write, inserted in the batch's own transaction and deleted once
-- the file is in place, so a crash or a failed write between commit and export is repaired at
-- the next open. batch_id 0: rewrite the whole partition (session_facts, participant_sessions);
-- otherwise add that batch's rows as one more file (append-only tables).
CREATE TABLE IF NOT EXISTS parquet_pending (
  table_name  VARCHAR NOT NULL,
  provider    VARCHAR NOT NULL,
  "date"      DATE NOT NULL,
  batch_id    BIGINT NOT NULL,
  PRIMARY KEY (table_name, provider, "date", batch_id)
);

-- The facts still to publish to facts.v1 (the outbox): a session's key is put here in the
-- transaction that changes its fact (batch, idle sweep, rebuild, replay), and removed once the
-- log has acknowledged that fact. facts.v1 is compacted (the latest fact per session wins), so
-- one row per session is enough: the publisher reads the fact as session_facts holds it then.
-- seq tells a row that changed while its fact was being published from one that did not.
CREATE SEQUENCE IF NOT EXISTS facts_outbox_seq START 1;
CREATE TABLE IF NOT EXISTS facts_outbox (
  session_key  VARCHAR NOT NULL PRIMARY KEY,
  seq          BIGINT NOT NULL
);

-- The erasure record (DESIGN section 9): what `sessionflow erase`, raw retention and the refusal of
-- erased deliveries removed, when, and how many rows and Parquet partitions, one row per provider
-- (provider `none` when an erase found nothing). It never holds a personal value: `subjects` lists
-- keyed hashes (HMAC-SHA256 with PII_KEY) of what was asked, such as `email:<hash>`.
-- reason: erase (sessionflow erase), retention (RAW_RETENTION_DAYS removed bodies), redelivery
-- (a delivery or event of an erased person arrived again and was dropped).
CREATE TABLE IF NOT EXISTS erasures (
  erasure_id         VARCHAR NOT NULL,
  provider           VARCHAR NOT NULL,
  reason             VARCHAR NOT NULL,
  requested_at       TIMESTAMP,
  erased_at          TIMESTAMP NOT NULL,
  subjects           VARCHAR,
  deliveries         BIGINT NOT NULL,
  events             BIGINT NOT NULL,
  dead_letters       BIGINT NOT NULL,
  sessions_refolded  BIGINT NOT NULL,
  sessions_removed   BIGINT NOT NULL,
  partitions         BIGINT NOT NULL,
  batch_id           BIGINT NOT NULL
);

-- What an erasure keeps so that the person does not come back: a later event of an erased
-- session, participant, or participant in a session (pair: session_key, chr(31), participant_key) is
-- dropped, and so is a later delivery whose body or dedup key hashes (HMAC with PII_KEY) to one
-- erased (kind body, dedup). No personal value: keys are pseudonyms, the rest keyed hashes.
CREATE TABLE IF NOT EXISTS erased_keys (
  kind        VARCHAR NOT NULL,
  "key"       VARCHAR NOT NULL,
  erasure_id  VARCHAR NOT NULL,
  PRIMARY KEY (kind, "key")
);
