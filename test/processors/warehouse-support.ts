/**
 * Shared by the warehouse tests of the idle sweep, rebuild, replay and late events: a fresh
 * DATA_DIR per test, events and Zoom deliveries, and ways to look at the warehouse file and the
 * Parquet dataset.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import type { CanonicalType, RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { openDuckDB } from '../../lib/duckdb.js';
import { queryRows } from '../helpers/data.js';
import { createLogger } from '../../lib/logger.js';
import { parseIsoMicros, type Micros } from '../../lib/time.js';
import { createWarehouse, type Warehouse, type WarehouseBatch } from '../../processors/warehouse/writer.js';
import { tableDir } from '../../processors/warehouse/files.js';
export { queryDataset as datasetRows } from '../helpers/data.js';

export const at = (iso: string): number => parseIsoMicros(iso)!;
export const HOUR = 3600e6;

export function batch(parts: Partial<WarehouseBatch>): WarehouseBatch {
  return { raw: [], events: [], deadLetters: [], offsets: [], ...parts };
}

export function event(
  session: string,
  type: CanonicalType,
  time: string,
  who?: { key: string; role: 'host' | 'guest' },
): SessionEvent {
  const provider = session.split(':')[0]!;
  return {
    event_id: `${session}|${type}|${who?.key ?? '-'}|${time}`,
    ingest_id: `ing-${session}-${time}`,
    provider,
    account_id: 'acct-1',
    session_key: session,
    session_id: session.split(':')[1]!,
    session_name: null,
    channel: null,
    type,
    provider_type: type,
    provider_event_id: null,
    occurred_at: at(time),
    received_at: at(time) + 1_500_000,
    participant: who ? { key: who.key, role: who.role, provider_user_id: `u-${who.key}` } : null,
    reason: type === 'participant.left' ? 'left' : null,
    state: null,
    scope: null,
    bytes: null,
    count: null,
    score: null,
    // A key with a quote and a value with an apostrophe: they must survive DuckDB and Parquet.
    attributes: { source: 'test', 'quote"d': "it's" },
  };
}

/** A call that ended: host and guest join and leave. */
export function meeting(session: string, day: string): SessionEvent[] {
  const host = { key: `${session}-host`, role: 'host' as const };
  const guest = { key: `${session}-guest`, role: 'guest' as const };
  return [
    event(session, 'session.started', `${day}T10:00:00.000001Z`),
    event(session, 'participant.joined', `${day}T10:00:05Z`, host),
    event(session, 'participant.joined', `${day}T10:01:00Z`, guest),
    event(session, 'participant.left', `${day}T10:30:00Z`, guest),
    event(session, 'participant.left', `${day}T10:31:00Z`, host),
    event(session, 'session.ended', `${day}T10:31:30Z`),
  ];
}

/** A call still going: started, the host joined, nothing since. */
export function openCall(session: string, startIso: string): SessionEvent[] {
  const host = { key: `${session}-host`, role: 'host' as const };
  return [
    event(session, 'session.started', startIso),
    event(session, 'participant.joined', new Date(at(startIso) / 1000 + 5000).toISOString(), host),
  ];
}

// ---------------------------------------------------------------------------------------------
// Zoom deliveries from the golden fixtures, for the tests that go through the real adapter.

const FIXTURES = fileURLToPath(new URL('../fixtures/zoom/', import.meta.url));
const FIXTURE_SESSION = 'Jx0pVd0jQ7a5mKq9YQ3m2w==';
export const PII_KEY = 'warehouse-test-pii-key-0123456789';

/** The fixture body of a Zoom event, moved to another session id (and shifted in time by `shiftMs`). */
export function zoomBody(fixture: string, sessionId = FIXTURE_SESSION, shiftMs = 0): Buffer {
  const body = JSON.parse(
    readFileSync(join(FIXTURES, `${fixture}.json`), 'utf8').replaceAll(FIXTURE_SESSION, sessionId),
  ) as { event_ts: number };
  body.event_ts += shiftMs;
  return Buffer.from(JSON.stringify(body));
}

export function zoomRaw(ingestId: string, body: Buffer, receivedAt: number): RawWebhook {
  return {
    ingest_id: ingestId,
    provider: 'zoom',
    received_at: receivedAt,
    source: 'webhook',
    dedup_key: null,
    headers: { 'content-type': 'application/json' },
    content_type: 'application/json',
    body,
  };
}

export const ZOOM_CALL = [
  'session.started',
  'session.user_joined',
  'session.recording_started',
  'session.recording_stopped',
  'session.user_left',
  'session.ended',
];

// ---------------------------------------------------------------------------------------------
// Looking at what was stored.

/** Runs queries on the warehouse file (the writer must be closed). */
export async function onWarehouse<T>(
  dataDir: string,
  work: (sql: (q: string) => Promise<Record<string, unknown>[]>) => Promise<T>,
): Promise<T> {
  const db = await openDuckDB(join(dataDir, 'warehouse.duckdb'));
  const conn = await db.connect();
  try {
    return await work((q) => queryRows(conn, q));
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** Every row of a warehouse table, in a stable order, timestamps and maps as text: for equality. */
export async function tableRows(dataDir: string, table: string, orderBy: string): Promise<string[]> {
  return onWarehouse(dataDir, async (sql) =>
    (await sql(`SELECT to_json(t)::VARCHAR AS j FROM ${table} t ORDER BY ${orderBy}`)).map((r) => r.j as string),
  );
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** The files (path from the table's folder's parent → sha256 of the bytes) of some tables, the raw archive's included. */
export function parquetFiles(dataDir: string, tables: readonly string[]): Record<string, string> {
  const files: Record<string, string> = {};
  for (const table of tables) {
    const root = dirname(tableDir(dataDir, table));
    for (const file of walk(join(root, table)).sort())
      files[relative(root, file)] = createHash('sha256').update(readFileSync(file)).digest('hex');
  }
  return files;
}

/** Every row of every Parquet file of a table, per file, as JSON text. */
export async function parquetRows(dataDir: string, table: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  const root = dirname(tableDir(dataDir, table));
  const db = await openDuckDB(':memory:');
  const conn = await db.connect();
  try {
    for (const file of Object.keys(parquetFiles(dataDir, [table]))) {
      const rows = await queryRows<{ j: string }>(
        conn,
        `SELECT to_json(t)::VARCHAR AS j FROM read_parquet('${join(root, file)}', hive_partitioning = false) t`,
      );
      out[file] = rows.map((r) => r.j);
    }
  } finally {
    conn.closeSync();
    db.closeSync();
  }
  return out;
}

/**
 * A fresh DATA_DIR per test and the warehouses a test opens, closed after it. Register once per
 * file: `const fx = warehouseFixture('sessionflow-x-', clock)`, then `fx.dataDir`, `fx.open()`.
 */
export function warehouseFixture(prefix: string, clock: Micros, idleHorizonMicros: number | undefined = 24 * HOUR) {
  let dir = '';
  let opened: Warehouse[] = [];
  const closeAll = async () => {
    for (const w of opened) await w.close();
    opened = [];
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await closeAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dataDir() {
      return dir;
    },
    async open(): Promise<Warehouse> {
      const w = await createWarehouse({
        dataDir: dir,
        logger: createLogger('silent'),
        ...(idleHorizonMicros !== undefined && { idleHorizonMicros }),
        clock: () => clock,
      });
      opened.push(w);
      return w;
    },
    closeAll,
  };
}
