/**
 * Raw retention (RAW_RETENTION_DAYS, DESIGN section 9): the bodies of deliveries received before
 * the cutoff leave the raw archive and its restricted Parquet files. Events, facts and dead
 * letters stay: they hold no body. What went is recorded in the erasure record (reason
 * `retention`), so audit still balances.
 */
import { readRows } from '../../lib/duckdb.js';
import * as field from '../../lib/record.js';
import type { Micros } from '../../lib/time.js';
import type { ApplyContext } from './apply.js';
import { nextBatchId, recordErasures } from './erase.js';

/** Deliveries removed per provider. Inside the transaction the caller opened. */
export async function expireRawInTransaction(
  ctx: ApplyContext,
  cutoff: Micros,
  now: Micros,
): Promise<Map<string, number>> {
  const { conn } = ctx;
  const where = `received_at < make_timestamp(${Math.floor(cutoff)}::BIGINT)`;
  await conn.run(
    `INSERT OR IGNORE INTO parquet_pending SELECT DISTINCT 'raw_webhooks', provider, CAST(received_at AS DATE), 0 FROM raw_webhooks WHERE ${where}`,
  );
  const removed = new Map<string, number>();
  for (const provider of await readRows(conn, `DELETE FROM raw_webhooks WHERE ${where} RETURNING provider`, (row) =>
    row.get('provider', field.string),
  )) {
    removed.set(provider, (removed.get(provider) ?? 0) + 1);
  }
  if (removed.size === 0) return removed;
  const batchId = await nextBatchId(conn);
  await recordErasures(
    ctx,
    batchId,
    [...removed].map(([provider, deliveries]) => ({
      erasure_id: `retention-${batchId}`,
      provider,
      reason: 'retention',
      requested_at: null,
      erased_at: now,
      subjects: null,
      deliveries,
      events: 0,
      dead_letters: 0,
      sessions_refolded: 0,
      sessions_removed: 0,
      partitions: 0,
      batch_id: batchId,
    })),
  );
  return removed;
}
