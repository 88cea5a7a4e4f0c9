/**
 * The embedded log of earlier versions was a DuckDB file, DATA_DIR/log.duckdb, with these tables:
 *
 *   log_topics (topic, partitions, compacted)
 *   log_messages (topic, partition, offset, key, value, ts)
 *   log_positions (grp, topic, partition, next_offset)
 *   registry_schemas (id, subject, version, schema)
 *
 * At the first open by this version its topics, messages (with their offsets and timestamps),
 * group positions and schemas (with their ids) are copied once into a new log built beside it
 * (DATA_DIR/log.migrating, renamed to DATA_DIR/log when complete), then the file is renamed
 * log.duckdb.migrated. A crash part way leaves log.migrating, which the next open starts over.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomicSync } from '../atomic-file.js';
import { openDuckDB, readRows, type DuckDBConnection } from '../duckdb.js';
import { SessionflowError } from '../errors.js';
import * as field from '../record.js';
import { EmbeddedRegistry, type StoredSchema } from '../registry/embedded.js';
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded.js';

export const MIGRATED_MARK = 'migrated.json';
const PAGE = 5000;

/**
 * Migrates DATA_DIR/log.duckdb into `logDir` when it is there. Returns what was copied, or
 * undefined when there was nothing to migrate.
 */
export async function migrateDuckDbLog(
  dataDir: string,
  logDir: string,
  options: EmbeddedLogOptions = {},
): Promise<{ messages: number; topics: number } | undefined> {
  const file = join(dataDir, 'log.duckdb');
  if (!existsSync(file)) return undefined;
  if (existsSync(join(logDir, MIGRATED_MARK))) {
    markMigrated(dataDir); // copied before; the rename did not happen
    return undefined;
  }
  if (existsSync(join(logDir, 'topics'))) {
    throw new SessionflowError(
      'CONFIG_INVALID',
      `${file} and ${logDir} both hold a log: move one of them away (log.duckdb is migrated into an empty DATA_DIR/log)`,
    );
  }
  const building = `${logDir}.migrating`;
  rmSync(building, { recursive: true, force: true });
  const db = await openDuckDB(file);
  let copied = { messages: 0, topics: 0 };
  try {
    const conn = await db.connect();
    try {
      const tables = new Set(
        await readRows(conn, 'SELECT table_name AS name FROM information_schema.tables', (row) =>
          row.get('name', field.string),
        ),
      );
      const log = await EmbeddedLog.open(building, options);
      try {
        if (tables.has('log_topics')) copied = await copyLog(conn, log, tables);
      } finally {
        await log.close();
      }
      const schemas = tables.has('registry_schemas')
        ? await readRows(
            conn,
            'SELECT id, subject, version, schema FROM registry_schemas ORDER BY id, subject, version',
            (row): StoredSchema => ({
              id: row.get('id', field.long),
              subject: row.get('subject', field.string),
              version: row.get('version', field.long),
              schema: row.get('schema', field.string),
            }),
          )
        : [];
      await EmbeddedRegistry.write(building, schemas);
    } finally {
      conn.closeSync();
    }
  } finally {
    db.closeSync();
  }
  writeFileAtomicSync(
    join(building, MIGRATED_MARK),
    JSON.stringify({ from: 'log.duckdb', at: new Date().toISOString(), ...copied }),
  );
  renameSync(building, logDir);
  fsyncDir(dataDir);
  markMigrated(dataDir);
  return copied;
}

type Conn = DuckDBConnection;

async function copyLog(
  conn: Conn,
  log: EmbeddedLog,
  tables: Set<string>,
): Promise<{ messages: number; topics: number }> {
  const topics = await readRows(conn, 'SELECT topic, partitions, compacted FROM log_topics ORDER BY topic', (row) => ({
    topic: row.get('topic', field.string),
    partitions: row.get('partitions', field.long),
    compacted: row.get('compacted', field.boolean),
  }));
  await log.createTopics(topics);
  let messages = 0;
  for (const t of topics) {
    for (let partition = 0; partition < t.partitions; partition++) {
      for (let from = 0n; ; ) {
        const records = await readRows(
          conn,
          'SELECT "offset", "key", "value", ts FROM log_messages ' +
            `WHERE topic = $1 AND "partition" = $2 AND "offset" >= $3 ORDER BY "offset" LIMIT ${PAGE}`,
          (row) => ({
            offset: row.get('offset', field.long),
            timestamp: row.get('ts', field.long),
            key: row.get('key', field.nullable(field.bytes)),
            value: row.get('value', field.bytes),
          }),
          [t.topic, partition, from],
        );
        if (records.length === 0) break;
        await log.importRecords(t.topic, partition, records);
        messages += records.length;
        from = BigInt(records.at(-1)!.offset) + 1n;
      }
    }
  }
  if (tables.has('log_positions')) {
    const positions = await readRows(conn, 'SELECT grp, topic, "partition", next_offset FROM log_positions', (row) => ({
      group: row.get('grp', field.string),
      topic: row.get('topic', field.string),
      partition: row.get('partition', field.long),
      next: row.get('next_offset', field.long),
    }));
    for (const p of positions) await log.commitPosition(p.group, p.topic, p.partition, p.next);
  }
  return { messages, topics: topics.length };
}

function markMigrated(dataDir: string): void {
  for (const suffix of ['', '.wal']) {
    const from = join(dataDir, `log.duckdb${suffix}`);
    if (existsSync(from)) renameSync(from, join(dataDir, `log.duckdb.migrated${suffix}`));
  }
  fsyncDir(dataDir);
}
