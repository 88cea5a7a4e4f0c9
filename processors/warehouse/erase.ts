/**
 * Erasure in the warehouse (DESIGN section 9), in one transaction with the request's offset.
 *
 * Who is erased:
 * - `--session`: every event of the session, its fact and spans, and every delivery that gave one.
 * - `--participant`: every event of the participant key, in any session, and the deliveries that gave them.
 * - `--email`, `--phone`: every delivery whose body names the value (lib/erasure.ts PersonMatcher:
 *   any spelling JSON allows, phone numbers with or without country code). The participants that
 *   those deliveries' events name are the person in those sessions: their events there are erased.
 *   Events of those deliveries that name no participant (a session start) hold nothing of anyone
 *   and stay, so the session keeps its times.
 *
 * Raw archive: a delivery that names the person, or gave an event about them, is removed whole,
 * not redacted. A body names a
 * person in many fields (name, address, geolocation, free text, OCR) and a request gives one value;
 * redacting that value would leave the rest of them. Replay cannot bring the delivery back, and
 * what it gave other people is kept in session_events.
 *
 * Sessions that lost events are folded again from what is left; a session left with no event is
 * removed. Every Parquet partition that held a removed row is marked to be written again whole
 * (export.ts, batch 0), and the writer exports before it answers. What keeps the person from
 * coming back is stored in erased_keys (see `droppedByErasure`).
 */
import { LIST, VARCHAR, listValue } from '@duckdb/node-api';
import { RAW_WEBHOOK_FIELDS, type DeadLetter, type RawWebhook, type SessionEvent } from '../../lib/canonical.js';
import { PersonMatcher, deliveryHash, type ErasureSubjects } from '../../lib/erasure.js';
import { readRows, type DuckDBConnection, type ResultRow } from '../../lib/duckdb.js';
import * as field from '../../lib/record.js';
import type { Micros } from '../../lib/time.js';
import { refoldInTransaction, storeOffsets, type ApplyContext } from './apply.js';
import { insertRows } from './bind.js';
import { tableSchema } from './tables.js';
import type { WarehouseBatch } from './types.js';

const KEYS = LIST(VARCHAR);
const keys = (values: Iterable<string>) => listValue([...values]);
const sessionKeyOf = (row: ResultRow) => row.get('session_key', field.string);
const providerOf = (row: ResultRow) => row.get('provider', field.string);
const ingestIdOf = (row: ResultRow) => row.get('ingest_id', field.string);

/** The keys that keep erased people out, in memory (loaded at open, added to when an erasure commits). */
export interface ErasedKeys {
  participants: Set<string>;
  sessions: Set<string>;
  /** `${session_key}\u001f${participant_key}` */
  pairs: Set<string>;
  bodies: Set<string>;
  dedups: Set<string>;
}

const ERASED_KINDS = ['participant', 'session', 'pair', 'body', 'dedup'] as const;
type ErasedKind = (typeof ERASED_KINDS)[number];
const SET_OF: Record<ErasedKind, keyof ErasedKeys> = {
  participant: 'participants',
  session: 'sessions',
  pair: 'pairs',
  body: 'bodies',
  dedup: 'dedups',
};

export const pairKey = (session: string, participant: string): string => `${session}\u001f${participant}`;

export function noErasedKeys(): ErasedKeys {
  return { participants: new Set(), sessions: new Set(), pairs: new Set(), bodies: new Set(), dedups: new Set() };
}

export async function loadErasedKeys(conn: DuckDBConnection): Promise<ErasedKeys> {
  const erased = noErasedKeys();
  const rows = await readRows(conn, 'SELECT kind, "key" FROM erased_keys', (row) => ({
    kind: row.get('kind', field.oneOf(ERASED_KINDS)),
    key: row.get('key', field.string),
  }));
  for (const row of rows) erased[SET_OF[row.kind]].add(row.key);
  return erased;
}

const anyErased = (erased: ErasedKeys) => Object.values(erased).some((set: Set<string>) => set.size > 0);

/** What one erasure request asks, opened (the subjects in clear, in this process only). */
export interface ErasureOrder {
  requestId: string;
  requestedAt: Micros;
  dryRun: boolean;
  subjects: ErasureSubjects;
  /** The keyed hashes of the subjects, for the record. */
  subjectHashes: string[];
  /** The erasures topic's position past this request, stored with what it erased. */
  offsets: WarehouseBatch['offsets'];
}

/** What an erasure removed (or, for a dry run, would remove). No personal value. */
export interface ErasureResult {
  request_id: string;
  dry_run: boolean;
  deliveries: number;
  events: number;
  dead_letters: number;
  sessions_refolded: number;
  sessions_removed: number;
  /** Parquet partitions written again (or removed) without the person. */
  partitions: number;
  providers: string[];
  /** The ingest_ids of the deliveries removed: the log removes its copies of them too. */
  ingestIds: string[];
  /** Participants erased in each session (pairKey), and whole participants and sessions: the log's events go too. */
  pairs: string[];
  participants: string[];
  sessions: string[];
}

type Counts = Map<string, number>;
const add = (counts: Counts, provider: string, n = 1) => counts.set(provider, (counts.get(provider) ?? 0) + n);

/**
 * Erases inside the transaction the caller opened. `piiKey` makes the keyed hashes of the removed
 * deliveries' bodies and dedup keys. Returns the result and the keys to add to `ctx.erased` once
 * the transaction has committed.
 */
export async function eraseInTransaction(
  ctx: ApplyContext,
  order: ErasureOrder,
  piiKey: string,
  now: Micros,
): Promise<{ result: ErasureResult; erased: ErasedKeys }> {
  const { conn } = ctx;
  const { subjects } = order;
  const matched = await deliveriesNaming(conn, new PersonMatcher(subjects));
  const matchedIds = keys(matched);
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE erase_pairs AS
     SELECT DISTINCT session_key, participant_key FROM session_events
     WHERE ingest_id IN (SELECT unnest($1)) AND session_key IS NOT NULL AND participant_key IS NOT NULL`,
    [matchedIds],
    [KEYS],
  );
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE erase_events AS
     SELECT e.event_id, e.ingest_id, e.session_key, e.provider, CAST(e.occurred_at AS DATE) AS part_date FROM session_events e
     WHERE e.session_key IN (SELECT unnest($1)) OR e.participant_key IN (SELECT unnest($2))
        OR EXISTS (SELECT 1 FROM temp.erase_pairs p WHERE p.session_key = e.session_key AND p.participant_key = e.participant_key)`,
    [keys(subjects.sessions), keys(subjects.participants)],
    [KEYS, KEYS],
  );
  // The deliveries that name them, and those that gave an event about them: removed whole.
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE erase_deliveries AS
     SELECT DISTINCT ingest_id FROM (SELECT unnest($1) AS ingest_id UNION ALL SELECT ingest_id FROM temp.erase_events)`,
    [matchedIds],
    [KEYS],
  );

  // Sessions that lose events: removed when nothing is left (or when asked), else folded again.
  const touched = await readRows(
    conn,
    `SELECT t.session_key, (SELECT count(*) FROM session_events e WHERE e.session_key = t.session_key
                              AND e.event_id NOT IN (SELECT event_id FROM temp.erase_events)) AS "left"
     FROM (SELECT DISTINCT session_key FROM temp.erase_events WHERE session_key IS NOT NULL) t`,
    (row) => ({ session_key: sessionKeyOf(row), left: row.get('left', field.long) }),
  );
  const removed = new Set(
    touched.filter((t) => t.left === 0 || subjects.sessions.includes(t.session_key)).map((t) => t.session_key),
  );
  for (const key of subjects.sessions) removed.add(key);
  const refold = touched
    .map((t) => t.session_key)
    .filter((key) => !removed.has(key))
    .sort();
  const factProviders = new Map(
    await readRows(
      conn,
      'SELECT session_key, provider FROM session_facts WHERE session_key IN (SELECT unnest($1))',
      (row) => [sessionKeyOf(row), providerOf(row)] as const,
      [keys([...removed, ...refold])],
      [KEYS],
    ),
  );

  const partitions = await markPartitions(conn, [...removed, ...refold]);

  const events: Counts = new Map();
  const deadLetters: Counts = new Map();
  const deliveries: Counts = new Map();
  const erased = noErasedKeys();
  for (const name of await readRows(
    conn,
    'DELETE FROM session_events WHERE event_id IN (SELECT event_id FROM temp.erase_events) RETURNING provider',
    providerOf,
  ))
    add(events, name);
  for (const name of await readRows(
    conn,
    'DELETE FROM dead_letters WHERE ingest_id IN (SELECT ingest_id FROM temp.erase_deliveries) RETURNING provider',
    providerOf,
  ))
    add(deadLetters, name);
  const ingestIds: string[] = [];
  for (const row of await readRows(
    conn,
    `DELETE FROM raw_webhooks WHERE ingest_id IN (SELECT ingest_id FROM temp.erase_deliveries)
     RETURNING ingest_id, provider, dedup_key, body`,
    (row) => ({
      ingest_id: ingestIdOf(row),
      provider: providerOf(row),
      dedup_key: row.get('dedup_key', RAW_WEBHOOK_FIELDS.dedup_key),
      body: row.get('body', RAW_WEBHOOK_FIELDS.body),
    }),
  )) {
    add(deliveries, row.provider);
    ingestIds.push(row.ingest_id);
    erased.bodies.add(deliveryHash(piiKey, 'body', row.provider, row.body));
    if (row.dedup_key !== null) erased.dedups.add(deliveryHash(piiKey, 'dedup', row.provider, row.dedup_key));
  }
  // Deliveries whose raw row never reached the warehouse still have ingest_ids on events.
  for (const id of await readRows(conn, 'SELECT ingest_id FROM temp.erase_deliveries', ingestIdOf))
    if (!ingestIds.includes(id)) ingestIds.push(id);

  const gone = keys(removed);
  await conn.run('DELETE FROM participant_sessions WHERE session_key IN (SELECT unnest($1))', [gone], [KEYS]);
  await conn.run('DELETE FROM session_facts WHERE session_key IN (SELECT unnest($1))', [gone], [KEYS]);
  await conn.run('DELETE FROM facts_outbox WHERE session_key IN (SELECT unnest($1))', [gone], [KEYS]);
  ctx.cache.forget([...removed, ...refold]);
  const { failed } = await refoldInTransaction(ctx, refold, now);
  if (failed.length > 0)
    ctx.logger.error({ sessions: failed.length }, 'erase: sessions whose fold threw keep their previous facts');

  for (const key of subjects.participants) erased.participants.add(key);
  for (const key of subjects.sessions) erased.sessions.add(key);
  for (const pair of await readRows(conn, 'SELECT session_key, participant_key FROM temp.erase_pairs', (row) =>
    pairKey(sessionKeyOf(row), row.get('participant_key', field.string)),
  ))
    erased.pairs.add(pair);
  const refolded: Counts = new Map();
  const removedBy: Counts = new Map();
  for (const key of refold) add(refolded, factProviders.get(key) ?? 'none');
  for (const key of removed) if (factProviders.has(key)) add(removedBy, factProviders.get(key)!);

  const providers = [
    ...new Set([
      ...deliveries.keys(),
      ...events.keys(),
      ...deadLetters.keys(),
      ...refolded.keys(),
      ...removedBy.keys(),
    ]),
  ].sort();
  const total = (counts: Counts) => [...counts.values()].reduce((a, b) => a + b, 0);
  const result: ErasureResult = {
    request_id: order.requestId,
    dry_run: order.dryRun,
    deliveries: total(deliveries),
    events: total(events),
    dead_letters: total(deadLetters),
    sessions_refolded: refold.length,
    sessions_removed: [...removed].filter((key) => factProviders.has(key)).length,
    partitions,
    providers,
    ingestIds,
    pairs: [...erased.pairs],
    participants: subjects.participants,
    sessions: subjects.sessions,
  };
  if (order.dryRun) return { result, erased: noErasedKeys() };

  const batchId = await nextBatchId(conn);
  await recordErasures(
    ctx,
    batchId,
    (providers.length > 0 ? providers : ['none']).map((provider) => ({
      erasure_id: order.requestId,
      provider,
      reason: 'erase',
      requested_at: order.requestedAt,
      erased_at: now,
      subjects: order.subjectHashes.join(','),
      deliveries: deliveries.get(provider) ?? 0,
      events: events.get(provider) ?? 0,
      dead_letters: deadLetters.get(provider) ?? 0,
      sessions_refolded: refolded.get(provider) ?? 0,
      sessions_removed: removedBy.get(provider) ?? 0,
      partitions: provider === (providers[0] ?? 'none') ? partitions : 0,
      batch_id: batchId,
    })),
  );
  await insertRows(
    conn,
    tableSchema(ctx.tables, 'erased_keys'),
    ERASED_KINDS.flatMap((kind) =>
      [...erased[SET_OF[kind]]].map((key) => ({ kind, key, erasure_id: order.requestId })),
    ),
    { tail: 'ON CONFLICT DO NOTHING' },
  );
  await storeOffsets(ctx, order.offsets, now);
  return { result, erased };
}

/** Marks for a rewrite every partition holding a row the erasure removes or changes; returns how many. */
async function markPartitions(conn: DuckDBConnection, sessions: string[]): Promise<number> {
  const marks = `
    SELECT 'session_events' AS table_name, provider, part_date FROM temp.erase_events
    UNION SELECT 'raw_webhooks', provider, CAST(received_at AS DATE) FROM raw_webhooks WHERE ingest_id IN (SELECT ingest_id FROM temp.erase_deliveries)
    UNION SELECT 'dead_letters', provider, CAST(received_at AS DATE) FROM dead_letters WHERE ingest_id IN (SELECT ingest_id FROM temp.erase_deliveries)
    UNION SELECT t.table_name, f.provider, CAST(coalesce(f.started_at, f.first_event_at) AS DATE)
          FROM session_facts f CROSS JOIN (VALUES ('session_facts'), ('participant_sessions')) AS t(table_name)
          WHERE f.session_key IN (SELECT unnest($1))`;
  const [count = 0] = await readRows(
    conn,
    `SELECT count(*) AS n FROM (${marks})`,
    (row) => row.get('n', field.long),
    [keys(sessions)],
    [KEYS],
  );
  await conn.run(
    `INSERT OR IGNORE INTO parquet_pending SELECT table_name, provider, part_date, 0 FROM (${marks})`,
    [keys(sessions)],
    [KEYS],
  );
  return count;
}

export async function nextBatchId(conn: DuckDBConnection): Promise<number> {
  const [id] = await readRows(conn, `SELECT nextval('warehouse_batch_ids') AS id`, (row) => row.get('id', field.long));
  return id!;
}

/** Adds erasure record rows (one batch id) and marks their Parquet partitions. */
export async function recordErasures(
  ctx: ApplyContext,
  batchId: number,
  rows: Record<string, unknown>[],
): Promise<void> {
  if (rows.length === 0) return;
  await insertRows(ctx.conn, tableSchema(ctx.tables, 'erasures'), rows);
  await ctx.conn.run(
    `INSERT OR IGNORE INTO parquet_pending SELECT DISTINCT 'erasures', provider, CAST(erased_at AS DATE), batch_id FROM erasures WHERE batch_id = ${batchId}`,
  );
}

/** The ingest_ids of stored deliveries whose body names one of the e-mails or phone numbers, read a chunk at a time. */
async function deliveriesNaming(conn: DuckDBConnection, matcher: PersonMatcher): Promise<string[]> {
  const found: string[] = [];
  if (matcher.empty) return found;
  for (let after = ''; ; ) {
    const rows = await readRows(
      conn,
      'SELECT ingest_id, body FROM raw_webhooks WHERE ingest_id > $1 ORDER BY ingest_id LIMIT 2000',
      (row) => ({ ingest_id: ingestIdOf(row), body: row.get('body', RAW_WEBHOOK_FIELDS.body) }),
      [after],
    );
    if (rows.length === 0) return found;
    for (const row of rows) if (matcher.matches(row.body)) found.push(row.ingest_id);
    after = rows.at(-1)!.ingest_id;
  }
}

/** What a batch leaves out because an erasure covers it, and how much of it, per provider. */
export interface Dropped {
  raw: RawWebhook[];
  events: SessionEvent[];
  deadLetters: DeadLetter[];
  counts: Map<string, { deliveries: number; events: number; deadLetters: number }>;
  /** The ingest_ids of the deliveries dropped: the log's copies are erased too. */
  refused: string[];
}

/**
 * A batch without what erased people would bring back: a delivery whose body or dedup key hashes
 * to an erased one (a provider's retry, a backfill, a replay of a spool), an event of an erased
 * session, participant or participant-in-session, and the dead letters of a delivery dropped here.
 * `recent` remembers the deliveries dropped lately, whose dead letters may come in a later batch.
 */
export function droppedByErasure(
  erased: ErasedKeys,
  piiKey: string | undefined,
  batch: WarehouseBatch,
  recent: Set<string>,
): Dropped {
  const counts: Dropped['counts'] = new Map();
  const of = (provider: string) =>
    counts.get(provider) ?? counts.set(provider, { deliveries: 0, events: 0, deadLetters: 0 }).get(provider)!;
  const refused: string[] = [];
  if (!anyErased(erased))
    return { raw: batch.raw, events: batch.events, deadLetters: batch.deadLetters, counts, refused };
  const raw = batch.raw.filter((r) => {
    const hit =
      piiKey !== undefined &&
      (erased.bodies.has(deliveryHash(piiKey, 'body', r.provider, r.body)) ||
        (r.dedup_key !== null && erased.dedups.has(deliveryHash(piiKey, 'dedup', r.provider, r.dedup_key))));
    if (hit) {
      of(r.provider).deliveries += 1;
      refused.push(r.ingest_id);
      if (recent.size > 100_000) recent.clear();
      recent.add(r.ingest_id);
    }
    return !hit;
  });
  const events = batch.events.filter((e) => {
    const p = e.participant?.key;
    const hit =
      recent.has(e.ingest_id) && p !== undefined
        ? true
        : (e.session_key !== null && erased.sessions.has(e.session_key)) ||
          (p !== undefined &&
            (erased.participants.has(p) || (e.session_key !== null && erased.pairs.has(pairKey(e.session_key, p)))));
    if (hit) of(e.provider).events += 1;
    return !hit;
  });
  const deadLetters = batch.deadLetters.filter((d) => {
    const hit = recent.has(d.ingest_id);
    if (hit) of(d.provider).deadLetters += 1;
    return !hit;
  });
  return { raw, events, deadLetters, counts, refused };
}
