/**
 * The idle sweep: a session's status depends on the clock as well as on its events (`abandoned`
 * is open past the idle horizon, DESIGN section 6), and a batch folds only the sessions it brings
 * events to. So the writer looks, at open and every few minutes, for sessions whose stored status
 * the clock has overtaken, and folds them again.
 */
import { readRows } from '../../lib/duckdb.js';
import * as field from '../../lib/record.js';
import { refoldInTransaction } from './apply.js';
import type { WarehouseCore } from './core.js';
import type { SweepResult } from './types.js';

export async function sweepIdle(
  core: WarehouseCore,
  options: { after?: string; limit?: number } = {},
): Promise<SweepResult> {
  const horizon = core.ctx.idleHorizonMicros;
  if (horizon === undefined) return { facts: [], next: undefined };
  const limit = options.limit ?? 1000;
  return core.transaction(async () => {
    const now = core.clock();
    // The fold's rule, in SQL: abandoned when now - last_event_at > horizon. The second half
    // reopens what a shorter horizon abandoned, when IDLE_HORIZON_HOURS was raised.
    const keys = await readRows(
      core.ctx.conn,
      `SELECT session_key FROM session_facts
       WHERE ((status = 'open' AND last_event_at < make_timestamp(CAST($1 AS BIGINT)))
           OR (status = 'abandoned' AND last_event_at >= make_timestamp(CAST($1 AS BIGINT))))
         AND session_key > $2
       ORDER BY session_key LIMIT $3`,
      (row) => row.get('session_key', field.string),
      [BigInt(Math.round(now - horizon)), options.after ?? '', limit],
    );
    if (keys.length === 0) return { facts: [], next: undefined };
    const { facts, failed } = await refoldInTransaction(core.ctx, keys, now);
    if (failed.length > 0)
      core.ctx.logger.error(
        { sessions: failed.slice(0, 10), failed: failed.length },
        'idle sweep: some folds failed; those sessions keep their facts',
      );
    return { facts, next: keys.length === limit ? keys.at(-1) : undefined };
  });
}
