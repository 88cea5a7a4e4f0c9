/** The tables of the embedded log before it moved to segment files (DATA_DIR/log.duckdb), as it created them: for the migration tests. */
export const OLD_LOG_DDL = [
  `CREATE TABLE log_topics (topic VARCHAR PRIMARY KEY, partitions INTEGER NOT NULL, compacted BOOLEAN NOT NULL)`,
  `CREATE TABLE log_messages (topic VARCHAR NOT NULL, "partition" INTEGER NOT NULL, "offset" BIGINT NOT NULL, "key" BLOB, "value" BLOB NOT NULL, ts BIGINT NOT NULL)`,
  `CREATE TABLE log_positions (grp VARCHAR NOT NULL, topic VARCHAR NOT NULL, "partition" INTEGER NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (grp, topic, "partition"))`,
  `CREATE TABLE registry_schemas (id INTEGER NOT NULL, subject VARCHAR NOT NULL, version INTEGER NOT NULL, schema VARCHAR NOT NULL, PRIMARY KEY (subject, version))`,
];
