/**
 * The facts outbox (sql/warehouse.sql `facts_outbox`): which sessions' facts facts.v1 has not
 * acknowledged yet. A session's key goes in with the transaction that changes its fact, so a
 * crash or a log outage after the commit leaves the key there, and the next publisher sends the
 * fact. One row per session (facts.v1 is compacted: the latest fact wins), so the outbox never
 * holds more rows than session_facts; the fact itself is read from session_facts when published.
 */
import { BIGINT, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import { SESSION_FACT_FIELDS } from '../../lib/canonical.js';
import { readRows, type DuckDBConnection } from '../../lib/duckdb.js';
import * as field from '../../lib/record.js';
import type { OutboxChunk, OutboxMark } from './types.js';

const KEYS = LIST(VARCHAR);

/** Puts `keys` in the outbox, each with a new seq (a row already there is marked changed again). Inside the transaction. */
export async function enqueueFacts(conn: DuckDBConnection, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  await conn.run(
    `INSERT INTO facts_outbox SELECT k, nextval('facts_outbox_seq') FROM (SELECT DISTINCT unnest($1) AS k)
     ON CONFLICT (session_key) DO UPDATE SET seq = excluded.seq`,
    [listValue([...keys])],
    [KEYS],
  );
}

/**
 * Up to `limit` outbox rows, oldest change first, with their facts as session_facts holds them
 * now. Rows whose session has no fact any more (a rebuild removed it) are dropped here.
 */
export async function readOutbox(conn: DuckDBConnection, limit: number): Promise<OutboxChunk> {
  await conn.run(
    `DELETE FROM facts_outbox o WHERE NOT EXISTS (SELECT 1 FROM session_facts f WHERE f.session_key = o.session_key)`,
  );
  const rows = await readRows(
    conn,
    `SELECT o.seq AS outbox_seq, f.* FROM facts_outbox o JOIN session_facts f USING (session_key)
     ORDER BY o.seq LIMIT ${Math.max(1, Math.floor(limit))}`,
    (row) => ({ fact: row.record(SESSION_FACT_FIELDS), seq: row.get('outbox_seq', field.long) }),
  );
  return {
    facts: rows.map((row) => row.fact),
    marks: rows.map((row) => ({ sessionKey: row.fact.session_key, seq: row.seq })),
  };
}

/** Removes the rows whose fact the log acknowledged; a row changed since it was read (another seq) stays. */
export async function removeFromOutbox(conn: DuckDBConnection, marks: readonly OutboxMark[]): Promise<number> {
  if (marks.length === 0) return 0;
  const result = await conn.run(
    `DELETE FROM facts_outbox o USING (SELECT unnest($1) AS k, unnest($2) AS s) p WHERE o.session_key = p.k AND o.seq = p.s`,
    [listValue(marks.map((m) => m.sessionKey)), listValue(marks.map((m) => BigInt(m.seq)))],
    [KEYS, LIST(BIGINT)],
  );
  return Number(result.rowsChanged);
}

/** Rows in the outbox. */
export async function outboxSize(conn: DuckDBConnection): Promise<number> {
  const [size = 0] = await readRows(conn, 'SELECT count(*) AS n FROM facts_outbox', (row) => row.get('n', field.long));
  return size;
}
