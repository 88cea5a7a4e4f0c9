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
import { openDuckDB, queryRows, type DuckDBConnection } from '../duckdb.js';
import { SessionflowError } from '../errors.js';
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
        (await queryRows<{ name: string }>(conn, `SELECT table_name AS name FROM information_schema.tables`)).map(
          (r) => r.name,
        ),
      );
      const log = await EmbeddedLog.open(building, options);
      try {
        if (tables.has('log_topics')) copied = await copyLog(conn, log, tables);
      } finally {
        await log.close();
      }
      const schemas = tables.has('registry_schemas')
        ? await queryRows<StoredSchema>(
            conn,
            'SELECT id, subject, version, schema FROM registry_schemas ORDER BY id, subject, version',
          )
        : [];
      await EmbeddedRegistry.write(
        building,
        schemas.map((s) => ({ id: Number(s.id), subject: s.subject, version: Number(s.version), schema: s.schema })),
      );
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
  const topics = await queryRows<{ topic: string; partitions: number; compacted: boolean }>(
    conn,
    'SELECT topic, partitions, compacted FROM log_topics ORDER BY topic',
  );
  await log.createTopics(
    topics.map((t) => ({ topic: t.topic, partitions: Number(t.partitions), compacted: t.compacted })),
  );
  let messages = 0;
  for (const t of topics) {
    for (let partition = 0; partition < Number(t.partitions); partition++) {
      for (let from = 0n; ; ) {
        const rows = await queryRows<{ offset: bigint; key: Uint8Array | null; value: Uint8Array; ts: bigint }>(
          conn,
          `SELECT "offset", "key", "value", ts FROM log_messages WHERE topic = $1 AND "partition" = $2 AND "offset" >= $3 ORDER BY "offset" LIMIT ${PAGE}`,
          [t.topic, partition, from],
        );
        if (rows.length === 0) break;
        await log.importRecords(
          t.topic,
          partition,
          rows.map((r) => ({
            offset: Number(r.offset),
            timestamp: Number(r.ts),
            key: r.key ? Buffer.from(r.key) : null,
            value: Buffer.from(r.value),
          })),
        );
        messages += rows.length;
        from = rows.at(-1)!.offset + 1n;
      }
    }
  }
  if (tables.has('log_positions')) {
    const positions = await queryRows<{ grp: string; topic: string; partition: number; next_offset: bigint }>(
      conn,
      'SELECT grp, topic, "partition", next_offset FROM log_positions',
    );
    for (const p of positions) await log.commitPosition(p.grp, p.topic, Number(p.partition), Number(p.next_offset));
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
