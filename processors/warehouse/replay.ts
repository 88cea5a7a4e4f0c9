/**
 * `sessionflow replay`: the raw archive (raw_webhooks) normalized again with the current adapters
 * and stored like any batch, in chunks of deliveries, each one transaction. Events collapse onto
 * the rows they already have (event_id), so replaying unchanged data changes nothing; what an
 * adapter fix now reads becomes events, and the dead letters it no longer produces are resolved in
 * the same transaction (apply.ts). Rerunning after an interrupt repeats only what is idempotent.
 * The facts it changes go to the facts outbox like a batch's: the next running warehouse
 * publishes them to facts.v1.
 */
import { LIST, VARCHAR, listValue } from '@duckdb/node-api';
import { RAW_WEBHOOK_FIELDS, type DeadLetter, type RawWebhook, type SessionEvent } from '../../lib/canonical.js';
import { readRows, type DuckDBValue, type ResultRow } from '../../lib/duckdb.js';
import { SessionflowError } from '../../lib/errors.js';
import * as field from '../../lib/record.js';
import type { Micros } from '../../lib/time.js';
import { deadLetterOf } from '../dead-letters.js';
import { applyInTransaction } from './apply.js';
import type { WarehouseCore } from './core.js';
import type { ReplayOptions, ReplayReport, ReplaySelection } from './types.js';

/** Deliveries with participant events checked before the run: do they give the stored event_ids back? */
const PROBE = 20;

export async function replay(core: WarehouseCore, options: ReplayOptions): Promise<ReplayReport> {
  const { ctx } = core;
  const chunkSize = Math.max(1, options.chunkSize ?? 1000);
  // One instant for the whole run (folds, failed_at, bookkeeping).
  const now = core.clock();
  const selection = where(options);
  const [total = 0] = await core.serial(() =>
    readRows(
      ctx.conn,
      `SELECT count(*) AS n FROM raw_webhooks WHERE ${selection.sql}`,
      (row) => row.get('n', field.long),
      selection.params,
    ),
  );
  const report: ReplayReport = {
    total,
    replayed: 0,
    insertedEvents: 0,
    insertedDeadLetters: 0,
    resolvedDeadLetters: 0,
    sessions: 0,
    exported: 0,
    interrupted: false,
    lastReceivedAt: undefined,
  };
  await core.serial(() => checkReproduces(core, options, selection));
  options.onProgress?.(0, report.total);
  const sessions = new Set<string>(); // a session's deliveries can fall in several chunks
  let after: Position | undefined;
  while (!options.signal?.aborted) {
    const raws = await core.serial(() => page(core, where(options, after), chunkSize));
    if (raws.length === 0) break;
    const batch = normalizeAll(raws, options, now);
    const result = await core.transaction(() => applyInTransaction(ctx, batch, now));
    report.replayed += raws.length;
    report.insertedEvents += result.insertedEvents;
    report.insertedDeadLetters += result.insertedDeadLetters;
    report.resolvedDeadLetters += result.resolvedDeadLetters;
    for (const key of result.touchedSessions) sessions.add(key);
    report.sessions = sessions.size;
    const last = raws.at(-1)!;
    after = { receivedAt: last.received_at, ingestId: last.ingest_id };
    report.lastReceivedAt = last.received_at;
    options.onProgress?.(report.replayed, report.total);
  }
  report.interrupted = Boolean(options.signal?.aborted) && report.replayed < report.total;
  report.exported = (await core.exportPending(options.onExportProgress)).exported;
  return report;
}

/** Where a run is in the archive's order (received_at, ingest_id). */
interface Position {
  receivedAt: Micros;
  ingestId: string;
}

/**
 * The next deliveries in archive order: their keys first (narrow columns, and received_at's zone
 * maps skip what is behind), then their bodies by primary key.
 */
async function page(core: WarehouseCore, selection: Where, limit: number): Promise<RawWebhook[]> {
  const keys = await readRows(
    core.ctx.conn,
    `SELECT ingest_id FROM raw_webhooks WHERE ${selection.sql} ORDER BY received_at, ingest_id LIMIT ${limit}`,
    ingestIdOf,
    selection.params,
  );
  if (keys.length === 0) return [];
  return readRows(
    core.ctx.conn,
    'SELECT * FROM raw_webhooks WHERE ingest_id IN (SELECT unnest($1)) ORDER BY received_at, ingest_id',
    rawWebhookOf,
    [listValue(keys)],
    [LIST(VARCHAR)],
  );
}

const ingestIdOf = (row: ResultRow) => row.get('ingest_id', field.string);
const rawWebhookOf = (row: ResultRow) => row.record(RAW_WEBHOOK_FIELDS);

/** One batch: what the current adapters make of these deliveries; no raw (archived already), no offsets. */
function normalizeAll(raws: RawWebhook[], options: ReplayOptions, now: Micros) {
  const events: SessionEvent[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const raw of raws) {
    const result = options.normalize(raw);
    events.push(...result.events);
    for (const failure of result.failures) deadLetters.push({ ...deadLetterOf(raw, failure), failed_at: now });
  }
  return { raw: [], events, deadLetters, offsets: [], renormalized: raws.map((r) => r.ingest_id) };
}

interface Where {
  sql: string;
  params: DuckDBValue[];
}

/** The selection as a WHERE clause on raw_webhooks, from `after` on when given. */
function where(selection: ReplaySelection, after?: Position): Where {
  const clauses = ['true'];
  const params: DuckDBValue[] = [];
  const param = (value: DuckDBValue) => `$${params.push(value)}`;
  const timestamp = (micros: Micros) => `make_timestamp(CAST(${param(BigInt(Math.round(micros)))} AS BIGINT))`;
  if (selection.provider !== undefined) clauses.push(`provider = ${param(selection.provider)}`);
  if (selection.from !== undefined) clauses.push(`received_at >= ${timestamp(selection.from)}`);
  if (selection.to !== undefined) clauses.push(`received_at < ${timestamp(selection.to)}`);
  if (after !== undefined) {
    const at = timestamp(after.receivedAt);
    clauses.push(`received_at >= ${at} AND (received_at > ${at} OR ingest_id > ${param(after.ingestId)})`);
  }
  return { sql: clauses.join(' AND '), params };
}

/**
 * Participant keys are keyed with PII_KEY and are part of event_id: with another key, a replay
 * would store every participant event a second time under new ids. A few archived deliveries that
 * have participant events are normalized first; if none gives back any of its stored event_ids,
 * the replay stops before writing anything.
 */
async function checkReproduces(
  core: WarehouseCore,
  normalize: Pick<ReplayOptions, 'normalize'>,
  selection: Where,
): Promise<void> {
  const probes = await readRows(
    core.ctx.conn,
    `SELECT * FROM raw_webhooks r WHERE ${selection.sql}
       AND EXISTS (SELECT 1 FROM session_events e WHERE e.ingest_id = r.ingest_id AND e.participant_key IS NOT NULL)
     ORDER BY received_at DESC, ingest_id LIMIT ${PROBE}`,
    rawWebhookOf,
    selection.params,
  );
  if (probes.length === 0) return;
  const stored = new Set(
    await readRows(
      core.ctx.conn,
      `SELECT event_id FROM session_events
       WHERE participant_key IS NOT NULL AND ingest_id IN (${probes.map((_, i) => `$${i + 1}`).join(', ')})`,
      (row) => row.get('event_id', field.string),
      probes.map((r) => r.ingest_id),
    ),
  );
  const reproduced = probes.some((raw) => normalize.normalize(raw).events.some((e) => stored.has(e.event_id)));
  if (!reproduced) {
    throw new SessionflowError(
      'CONFIG_INVALID',
      `the current adapters give none of the stored event_ids back for ${probes.length} archived deliveries with participants: ` +
        'PII_KEY is probably not the key the pipeline used (participant keys and event_ids depend on it); set it and replay again',
    );
  }
}
