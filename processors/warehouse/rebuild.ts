/**
 * `sessionflow rebuild`: every fact and span folded again from session_events, after the fold
 * changed. Chunks of sessions, each one transaction, so an interrupted rebuild leaves every session
 * either as it was or rebuilt, with the Parquet partitions it touched marked pending; running it
 * again finishes the work. Then every facts and spans partition is written again (each file
 * replaced whole, DESIGN section 7), and a partition no session lands in any more is removed.
 * The sessions whose fact came out different are put in the facts outbox with their chunk: the
 * next running warehouse publishes them to facts.v1.
 */
import { LIST, VARCHAR, listValue } from '@duckdb/node-api';
import { readRows, type ResultRow } from '../../lib/duckdb.js';
import * as field from '../../lib/record.js';
import type { Micros } from '../../lib/time.js';
import { refoldInTransaction, type ApplyContext } from './apply.js';
import { enqueueFacts } from './outbox.js';
import type { WarehouseCore } from './core.js';
import type { RebuildOptions, RebuildReport } from './types.js';

const KEYS = LIST(VARCHAR);
const sessionKeyOf = (row: ResultRow) => row.get('session_key', field.string);
const SESSION_DATE = 'CAST(coalesce(f.started_at, f.first_event_at) AS DATE)';

export async function rebuild(core: WarehouseCore, options: RebuildOptions = {}): Promise<RebuildReport> {
  const { ctx } = core;
  const chunkSize = Math.max(1, options.chunkSize ?? 1000);
  // One instant for the whole run: a session's status does not depend on which chunk it fell in.
  const now = core.clock();
  const keys = await core.serial(() =>
    readRows(
      ctx.conn,
      'SELECT DISTINCT session_key FROM session_events WHERE session_key IS NOT NULL ORDER BY session_key',
      sessionKeyOf,
    ),
  );
  const report: RebuildReport = {
    total: keys.length,
    rebuilt: 0,
    changed: 0,
    failed: [],
    orphans: 0,
    exported: 0,
    interrupted: false,
  };
  report.orphans = await core.transaction(() => removeOrphans(ctx));
  options.onProgress?.(0, keys.length);
  for (let i = 0; i < keys.length; i += chunkSize) {
    if (options.signal?.aborted) break;
    const chunk = keys.slice(i, i + chunkSize);
    const { changed, failed } = await core.transaction(() => rebuildChunk(ctx, chunk, now));
    report.rebuilt += chunk.length;
    report.changed += changed;
    report.failed.push(...failed);
    options.onProgress?.(report.rebuilt, keys.length);
  }
  report.interrupted = report.rebuilt < keys.length;
  if (report.failed.length > 0)
    ctx.logger.error(
      { sessions: report.failed.slice(0, 10), failed: report.failed.length },
      'rebuild: some folds failed; those sessions keep their facts',
    );
  // Interrupted: only what the committed chunks touched is exported; the rerun does the rest.
  if (!report.interrupted) await core.markAllRewritten();
  const run = await core.exportPending(options.onExportProgress);
  report.exported = run.exported;
  return report;
}

/**
 * One chunk: the sessions' facts and spans as stored are kept aside, the sessions are folded and
 * replaced, and the two are compared (EXCEPT ALL: equal rows, equal doubles) to count what changed.
 */
async function rebuildChunk(
  ctx: ApplyContext,
  keys: string[],
  now: Micros,
): Promise<{ changed: number; failed: string[] }> {
  const { conn } = ctx;
  const param = [listValue(keys)];
  const types = [KEYS];
  await conn.run(`CREATE TEMP TABLE IF NOT EXISTS rebuild_facts AS SELECT * FROM session_facts WHERE false`);
  await conn.run(`CREATE TEMP TABLE IF NOT EXISTS rebuild_spans AS SELECT * FROM participant_sessions WHERE false`);
  await conn.run(`DELETE FROM temp.rebuild_facts`);
  await conn.run(`DELETE FROM temp.rebuild_spans`);
  await conn.run(
    `INSERT INTO temp.rebuild_facts SELECT * FROM session_facts WHERE session_key IN (SELECT unnest($1))`,
    param,
    types,
  );
  await conn.run(
    `INSERT INTO temp.rebuild_spans SELECT * FROM participant_sessions WHERE session_key IN (SELECT unnest($1))`,
    param,
    types,
  );
  const { failed } = await refoldInTransaction(ctx, keys, now, { outbox: false });
  // Only the facts that came out different go to facts.v1 (through the outbox the next writer publishes).
  const changedFacts = await readRows(
    conn,
    `SELECT DISTINCT session_key FROM (
       SELECT * FROM session_facts WHERE session_key IN (SELECT unnest($1)) EXCEPT ALL SELECT * FROM temp.rebuild_facts)`,
    sessionKeyOf,
    param,
    types,
  );
  await enqueueFacts(conn, changedFacts);
  const [changed = 0] = await readRows(
    conn,
    `WITH f AS (SELECT * FROM session_facts WHERE session_key IN (SELECT unnest($1))),
          s AS (SELECT * FROM participant_sessions WHERE session_key IN (SELECT unnest($1)))
     SELECT count(DISTINCT session_key) AS n FROM (
       SELECT session_key FROM (SELECT * FROM f EXCEPT ALL SELECT * FROM temp.rebuild_facts)
       UNION ALL SELECT session_key FROM (SELECT * FROM temp.rebuild_facts EXCEPT ALL SELECT * FROM f)
       UNION ALL SELECT session_key FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM temp.rebuild_spans)
       UNION ALL SELECT session_key FROM (SELECT * FROM temp.rebuild_spans EXCEPT ALL SELECT * FROM s))`,
    (row) => row.get('n', field.long),
    param,
    types,
  );
  return { changed, failed };
}

/** Facts and spans of sessions with no event left (an erase removed them all), with their partitions marked. */
async function removeOrphans(ctx: ApplyContext): Promise<number> {
  const { conn } = ctx;
  const orphan = `NOT EXISTS (SELECT 1 FROM session_events e WHERE e.session_key = f.session_key)`;
  await conn.run(
    `INSERT OR IGNORE INTO parquet_pending
     SELECT DISTINCT t.table_name, f.provider, ${SESSION_DATE}, 0
     FROM session_facts f CROSS JOIN (VALUES ('session_facts'), ('participant_sessions')) AS t(table_name) WHERE ${orphan}`,
  );
  await conn.run(
    `DELETE FROM participant_sessions p WHERE NOT EXISTS (SELECT 1 FROM session_events e WHERE e.session_key = p.session_key)`,
  );
  const removed = await conn.run(`DELETE FROM session_facts f WHERE ${orphan}`);
  return Number(removed.rowsChanged);
}
