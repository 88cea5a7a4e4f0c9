/**
 * One batch, inside one DuckDB transaction (the caller opens it): archive, events, dead letters,
 * the facts of every session that got new events, the Parquet partitions to export, the
 * offsets. Everything or nothing is stored, so a redelivered batch changes nothing (DESIGN section 8).
 * Also the refold of sessions from their stored events alone (the idle sweep, the rebuild).
 */
import { INTEGER, LIST, VARCHAR, listValue, type DuckDBResultReader } from '@duckdb/node-api';
import type { DeadLetter, ParticipantSpan, SessionEvent, SessionFact } from '../../lib/canonical.js';
import { readRows, rowsOf, type DuckDBConnection, type ResultRow } from '../../lib/duckdb.js';
import { tpKey } from '../../lib/log/types.js';
import type { Logger } from '../../lib/logger.js';
import * as field from '../../lib/record.js';
import type { Micros } from '../../lib/time.js';
import { deadLetterOf } from '../dead-letters.js';
import { foldSession } from '../sessionize/index.js';
import { asStored, eventFromRow, eventRow, insertRows } from './bind.js';
import { droppedByErasure, nextBatchId, recordErasures, type ErasedKeys } from './erase.js';
import { enqueueFacts } from './outbox.js';
import type { SessionCache } from './session-cache.js';
import { DATASET_TABLES, tableSchema, type TableSchema } from './tables.js';
import type { BatchResult, WarehouseBatch } from './types.js';

/** The sessions a refold replaced, and those whose fold threw (they keep their previous facts). */
export interface RefoldResult {
  facts: SessionFact[];
  failed: string[];
}

export interface ApplyContext {
  conn: DuckDBConnection;
  tables: Map<string, TableSchema>;
  logger: Logger;
  idleHorizonMicros: number | undefined;
  /** The stored events of recently touched sessions; staged here, kept when the transaction commits. */
  cache: SessionCache;
  /**
   * Sessions with stored events and no fact (their fold threw): read at open (unfoldedSessions),
   * added to when a fold throws, never removed before the next open (one too many is only a read).
   */
  unfolded: Set<string>;
  /** What erasures keep out (erase.ts); a batch drops what they cover. */
  erased: ErasedKeys;
  /** Deliveries dropped lately as erased, whose dead letters may come in a later batch. */
  droppedDeliveries: Set<string>;
  /** PII_KEY, for the keyed hashes erasures keep of removed deliveries; without it they are not recognised again. */
  piiKey: string | undefined;
}

/** The sessions that have events but no fact: what a batch must read back although session_facts does not know them. */
export async function unfoldedSessions(conn: DuckDBConnection): Promise<Set<string>> {
  const keys = await readRows(
    conn,
    `SELECT DISTINCT e.session_key FROM session_events e
     WHERE e.session_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM session_facts f WHERE f.session_key = e.session_key)`,
    sessionKeyOf,
  );
  return new Set(keys);
}

/**
 * Of `keys`, those with events stored: the ones session_facts has (a lookup on its primary key)
 * and the unfolded ones. A batch's other sessions are new, and reading session_events for them,
 * which has no index on session_key, would scan the whole table to find nothing.
 */
async function storedSessions(ctx: ApplyContext, keys: string[]): Promise<string[]> {
  const known = new Set(
    await readRows(
      ctx.conn,
      'SELECT session_key FROM session_facts WHERE session_key IN (SELECT unnest($1))',
      sessionKeyOf,
      [listValue(keys)],
      [KEYS],
    ),
  );
  return keys.filter((key) => known.has(key) || ctx.unfolded.has(key));
}

const KEYS = LIST(VARCHAR);
const sessionKeyOf = (row: ResultRow) => row.get('session_key', field.string);

/** The first of each key, in order: a batch may repeat what a redelivery repeated. */
function distinctBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const deadLetterKey = (d: DeadLetter) => JSON.stringify([d.ingest_id, d.stage, d.error_code, d.field_path]);

export async function applyInTransaction(ctx: ApplyContext, given: WarehouseBatch, now: Micros): Promise<BatchResult> {
  const { conn, tables } = ctx;
  const batchId = await nextBatchId(conn);
  // What an erased person would bring back is dropped, and counted in the erasure record.
  const dropped = droppedByErasure(ctx.erased, ctx.piiKey, given, ctx.droppedDeliveries);
  const batch = { ...given, raw: dropped.raw, events: dropped.events, deadLetters: dropped.deadLetters };
  await recordErasures(
    ctx,
    batchId,
    [...dropped.counts].map(([provider, n]) => ({
      erasure_id: `batch-${batchId}`,
      provider,
      reason: 'redelivery',
      requested_at: null,
      erased_at: now,
      subjects: null,
      deliveries: n.deliveries,
      events: n.events,
      dead_letters: n.deadLetters,
      sessions_refolded: 0,
      sessions_removed: 0,
      partitions: 0,
      batch_id: batchId,
    })),
  );

  const raw = distinctBy(batch.raw, (r) => r.ingest_id);
  const rawStored = await returnedKeys(
    insertRows(
      conn,
      tableSchema(tables, 'raw_webhooks'),
      raw.map((r) => ({ ...r, batch_id: batchId })),
      {
        tail: 'ON CONFLICT DO NOTHING RETURNING ingest_id',
      },
    ),
    'ingest_id',
  );

  const events = distinctBy(batch.events, (e) => e.event_id);
  const eventsStored = await returnedKeys(
    insertRows(
      conn,
      tableSchema(tables, 'session_events'),
      events.map((e) => eventRow(e, batchId)),
      {
        tail: 'ON CONFLICT DO NOTHING RETURNING event_id',
      },
    ),
    'event_id',
  );
  const newEvents = events.filter((e) => eventsStored.has(e.event_id));

  const sessions = [...new Set(newEvents.flatMap((e) => (e.session_key === null ? [] : [e.session_key])))].sort();
  const { folded, failures } = await foldSessions(ctx, batchId, sessions, newEvents, now);

  // A replayed dead letter (same delivery, stage, code and field) is not stored twice.
  const deadLetters = distinctBy([...batch.deadLetters, ...failures], deadLetterKey);
  const deadStored = await returnedKeys(
    insertRows(
      conn,
      tableSchema(tables, 'dead_letters'),
      deadLetters.map((d) => ({ ...d, batch_id: batchId })),
      {
        where: `NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.ingest_id = n.ingest_id AND d.stage = n.stage
              AND d.error_code = n.error_code AND d.field_path IS NOT DISTINCT FROM n.field_path)`,
        tail: 'RETURNING provider',
      },
    ),
    'provider',
    true,
  );
  const resolved = batch.renormalized?.length
    ? await resolveDeadLetters(ctx, batch.renormalized, deadLetters)
    : new Map<string, number>();

  await replaceSessions(ctx, folded);
  const appended: Record<string, number> = {
    raw_webhooks: rawStored.size,
    session_events: eventsStored.size,
    dead_letters: deadStored.size,
  };
  for (const table of DATASET_TABLES.filter((t) => t.mode === 'append' && appended[t.name]! > 0)) {
    await conn.run(
      `INSERT OR IGNORE INTO parquet_pending SELECT DISTINCT '${table.name}', provider, part_date, batch_id
       FROM (${table.source}) WHERE batch_id = ${batchId}`,
    );
  }

  await storeOffsets(ctx, batch.offsets, now);

  await insertRows(
    conn,
    tableSchema(tables, 'warehouse_batches'),
    batchStats(batchId, now, batch, rawStored, eventsStored, deadStored, resolved),
  );

  const facts = folded.map((f) => f.fact);
  const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);
  return {
    insertedEvents: eventsStored.size,
    duplicateEvents: batch.events.length - eventsStored.size,
    touchedSessions: facts.map((f) => f.session_key),
    facts,
    insertedDeadLetters: total(deadStored),
    resolvedDeadLetters: total(resolved),
    refusedDeliveries: dropped.refused,
  };
}

/** The log positions a batch accounts for, stored in its transaction (the last one per partition wins). */
export async function storeOffsets(ctx: ApplyContext, offsets: WarehouseBatch['offsets'], now: Micros): Promise<void> {
  const latest = new Map(offsets.map((o) => [tpKey(o.topic, o.partition), o]));
  await insertRows(
    ctx.conn,
    tableSchema(ctx.tables, 'pipeline_offsets'),
    [...latest.values()].map((o) => ({
      topic: o.topic,
      partition: o.partition,
      next_offset: o.next_offset,
      updated_at: now,
    })),
    {
      tail: `ON CONFLICT (topic, "partition") DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at`,
    },
  );
}

/**
 * Folds `sessions` again from their stored events alone (no batch brings new ones) and replaces
 * their facts and spans. The caller opens the transaction. With `outbox: false` the caller puts
 * in the facts outbox only the sessions whose fact it finds changed (the rebuild).
 */
export async function refoldInTransaction(
  ctx: ApplyContext,
  sessions: string[],
  now: Micros,
  options: { outbox?: boolean } = {},
): Promise<RefoldResult> {
  // Batch ids start at 1: excluding batch 0 reads every stored event.
  const { folded } = await foldSessions(ctx, 0, sessions, [], now);
  await replaceSessions(ctx, folded, options.outbox ?? true);
  const done = new Set(folded.map((f) => f.fact.session_key));
  return { facts: folded.map((f) => f.fact), failed: sessions.filter((key) => !done.has(key)) };
}

/** A dead letter's identity as one string, built alike here and in SQL (chr(31), chr(30)). */
const KEY_SEPARATOR = '\u001f';
const NO_FIELD = '\u001e';

/**
 * A replay normalized these deliveries again from the raw archive. Their stored `normalize` dead
 * letters that the current adapters no longer produce are removed, in the transaction that stores
 * what the deliveries yield now: at every instant a delivery is in session_events or in
 * dead_letters (DESIGN section 8), and its body stays in raw_webhooks. The dead_letters partitions
 * they leave are re-derived from the table (batch_id 0, export.ts). Returns the count per provider.
 */
async function resolveDeadLetters(
  ctx: ApplyContext,
  ingestIds: readonly string[],
  current: readonly DeadLetter[],
): Promise<Map<string, number>> {
  const keep = current
    .filter((d) => d.stage === 'normalize')
    .map((d) => [d.ingest_id, d.error_code, d.field_path ?? NO_FIELD].join(KEY_SEPARATOR));
  const where = `stage = 'normalize' AND ingest_id IN (SELECT unnest($1))
    AND NOT list_contains($2, concat_ws(chr(31), ingest_id, error_code, coalesce(field_path, chr(30))))`;
  const params = [listValue([...ingestIds]), listValue(keep)];
  await ctx.conn.run(
    `INSERT OR IGNORE INTO parquet_pending SELECT DISTINCT 'dead_letters', provider, CAST(received_at AS DATE), 0
     FROM dead_letters WHERE ${where}`,
    params,
    [KEYS, KEYS],
  );
  return returnedKeys(
    ctx.conn.runAndReadAll(`DELETE FROM dead_letters WHERE ${where} RETURNING provider`, params, [KEYS, KEYS]),
    'provider',
    true,
  );
}

/** The `column` of a RETURNING result; as a multiset (counted) when `count` is set. */
async function returnedKeys(
  result: Promise<DuckDBResultReader | undefined>,
  column: string,
  count = false,
): Promise<Map<string, number>> {
  const keys = new Map<string, number>();
  const reader = await result;
  for (const key of reader ? rowsOf(reader, (row) => row.get(column, field.string)) : []) {
    keys.set(key, count ? (keys.get(key) ?? 0) + 1 : 1);
  }
  return keys;
}

interface Folded {
  fact: SessionFact;
  spans: ParticipantSpan[];
}

/**
 * Folds each session from ALL its events: those stored by earlier batches (from the session
 * cache, else read back from session_events) and this batch's new ones as they were stored (not
 * read back: the same values, without the round trip). What each session now holds is staged in
 * the cache for when the transaction commits.
 * A fold that throws is a bug, not bad data; the session keeps its previous facts and the new
 * events' deliveries get a `warehouse` dead letter, so the pipeline goes on and the failure is counted.
 */
async function foldSessions(
  ctx: ApplyContext,
  batchId: number,
  sessions: string[],
  newEvents: SessionEvent[],
  now: Micros,
) {
  const folded: Folded[] = [];
  const failures: DeadLetter[] = [];
  if (sessions.length === 0) return { folded, failures };
  const bySession = new Map<string, SessionEvent[]>();
  const missing: string[] = [];
  for (const key of sessions) {
    const cached = ctx.cache.get(key);
    if (cached) bySession.set(key, [...cached]);
    else missing.push(key);
  }
  const add = (event: SessionEvent) => {
    const list = bySession.get(event.session_key!);
    if (list) list.push(event);
    else bySession.set(event.session_key!, [event]);
  };
  // A batch reads back only sessions that have events stored; a refold (batch 0) reads them all.
  const stored = missing.length > 0 && batchId > 0 ? await storedSessions(ctx, missing) : missing;
  if (stored.length > 0) {
    const events = await readRows(
      ctx.conn,
      'SELECT * FROM session_events WHERE session_key IN (SELECT unnest($1)) AND batch_id <> $2',
      eventFromRow,
      [listValue(stored), batchId],
      [KEYS, INTEGER],
    );
    for (const event of events) add(event);
  }
  for (const event of newEvents) if (event.session_key !== null) add(asStored(event));
  for (const key of sessions) ctx.cache.stage(key, bySession.get(key) ?? []);
  for (const key of sessions) {
    try {
      folded.push(foldSession(bySession.get(key) ?? [], { idleHorizonMicros: ctx.idleHorizonMicros, nowMicros: now }));
    } catch (err) {
      ctx.unfolded.add(key);
      ctx.logger.error({ err, session_key: key }, 'could not fold session facts');
      const message = `could not fold the facts of session ${key}: ${err instanceof Error ? err.message : String(err)}`;
      const deliveries = distinctBy(
        newEvents.filter((e) => e.session_key === key),
        (e) => e.ingest_id,
      );
      for (const e of deliveries) {
        const failure = {
          code: 'WAREHOUSE_FAILED',
          message,
          field_path: null,
          provider_type: e.provider_type,
        } as const;
        failures.push(deadLetterOf(e, failure, 'warehouse', now));
      }
    }
  }
  return { folded, failures };
}

/**
 * Delete + insert the facts and spans of the folded sessions. The partitions they leave and
 * the partitions they land in are both marked for export: a session whose started_at moved to
 * another day disappears from the old day's file. Their keys go to the facts outbox in the same
 * transaction, so facts.v1 gets every committed fact even if the process dies right after.
 */
async function replaceSessions(ctx: ApplyContext, folded: Folded[], outbox = true): Promise<void> {
  if (folded.length === 0) return;
  const { conn, tables } = ctx;
  const keys = [listValue(folded.map((f) => f.fact.session_key))];
  const markPartitions = () =>
    conn.run(
      `INSERT OR IGNORE INTO parquet_pending
       SELECT DISTINCT t.table_name, f.provider, CAST(coalesce(f.started_at, f.first_event_at) AS DATE), 0
       FROM session_facts f CROSS JOIN (VALUES ('session_facts'), ('participant_sessions')) AS t(table_name)
       WHERE f.session_key IN (SELECT unnest($1))`,
      keys,
      [KEYS],
    );
  await markPartitions();
  await conn.run('DELETE FROM participant_sessions WHERE session_key IN (SELECT unnest($1))', keys, [KEYS]);
  await conn.run('DELETE FROM session_facts WHERE session_key IN (SELECT unnest($1))', keys, [KEYS]);
  await insertRows(
    conn,
    tableSchema(tables, 'session_facts'),
    folded.map((f) => ({ ...f.fact })),
  );
  await insertRows(
    conn,
    tableSchema(tables, 'participant_sessions'),
    folded.flatMap((f) => f.spans.map((s) => ({ ...s }))),
  );
  await markPartitions();
  if (outbox)
    await enqueueFacts(
      conn,
      folded.map((f) => f.fact.session_key),
    );
}

function batchStats(
  batchId: number,
  now: Micros,
  batch: WarehouseBatch,
  rawStored: Map<string, number>,
  eventsStored: Map<string, number>,
  deadStored: Map<string, number>,
  resolved: Map<string, number>,
) {
  const stats = new Map<string, Record<string, unknown>>();
  const of = (provider: string) => {
    let row = stats.get(provider);
    if (!row) {
      row = {
        batch_id: batchId,
        provider,
        applied_at: now,
        raw_webhooks: 0,
        raw_duplicates: 0,
        events: 0,
        duplicate_events: 0,
        dead_letters: 0,
      };
      stats.set(provider, row);
    }
    return row as Record<string, number>;
  };
  const stored = new Set<string>();
  for (const r of batch.raw) {
    const fresh = rawStored.has(r.ingest_id) && !stored.has(`r:${r.ingest_id}`);
    if (fresh) stored.add(`r:${r.ingest_id}`);
    of(r.provider)[fresh ? 'raw_webhooks' : 'raw_duplicates']! += 1;
  }
  // A replay derives again what is stored: not a duplicate delivery.
  const replay = batch.renormalized !== undefined;
  for (const e of batch.events) {
    const fresh = eventsStored.has(e.event_id) && !stored.has(`e:${e.event_id}`);
    if (fresh) stored.add(`e:${e.event_id}`);
    if (fresh || !replay) of(e.provider)[fresh ? 'events' : 'duplicate_events']! += 1;
  }
  // Net change, so the rows add up to what dead_letters holds.
  for (const [provider, n] of deadStored) of(provider).dead_letters! += n;
  for (const [provider, n] of resolved) of(provider).dead_letters! -= n;
  return [...stats.values()];
}
