/**
 * The storage baseline: a bare DuckDB Appender loop (@duckdb/node-api) appending canonical event
 * rows into one table of a DuckDB file, then closing the appender and checkpointing. No dedup,
 * no facts, no Parquet, no log: what storing the same rows costs at the least.
 *
 *   node dist/bench/appender.js '<AppenderSpec as JSON>'   → an AppenderResult as JSON on stdout
 *
 * The rows are made before the clock starts, from the same delivery stream as the load
 * (bench/stream.ts) through the product's receivers and adapters (bench/canonical.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, timestampTZValue } from '@duckdb/node-api';
import type { SessionEvent } from '../lib/canonical.js';
import { createCanonicalizer } from './canonical.js';
import { DeliveryStream, type Credentials, type MixOptions } from './stream.js';

export interface AppenderSpec {
  events: number;
  credentials: Credentials;
  piiKey: string;
  mix: MixOptions;
}

export interface AppenderResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

const DDL = `CREATE TABLE session_events (
  event_id VARCHAR, ingest_id VARCHAR, provider VARCHAR, account_id VARCHAR, session_key VARCHAR, session_id VARCHAR,
  session_name VARCHAR, channel VARCHAR, type VARCHAR, provider_type VARCHAR, provider_event_id VARCHAR,
  occurred_at TIMESTAMPTZ, received_at TIMESTAMPTZ, participant_key VARCHAR, participant_role VARCHAR, provider_user_id VARCHAR,
  reason VARCHAR, state VARCHAR, scope VARCHAR, bytes BIGINT, count BIGINT, score DOUBLE, attributes VARCHAR)`;

export async function appenderBaseline(spec: AppenderSpec): Promise<AppenderResult> {
  const canonical = createCanonicalizer(spec.credentials, spec.piiKey);
  const stream = new DeliveryStream(spec.mix);
  const rows: SessionEvent[] = [];
  for (let guard = 0; rows.length < spec.events && guard < spec.events * 2; guard++) {
    const d = stream.next();
    rows.push(...canonical.toRows(d.provider, d.body, Date.now() * 1000).events);
  }
  rows.length = Math.min(rows.length, spec.events);

  const dir = mkdtempSync(join(tmpdir(), 'sessionflow-bench-appender-'));
  const db = await DuckDBInstance.create(join(dir, 'baseline.duckdb'));
  const conn = await db.connect();
  try {
    await conn.run(DDL);
    const started = performance.now();
    const appender = await conn.createAppender('session_events');
    const text = (v: string | null) => (v === null ? appender.appendNull() : appender.appendVarchar(v));
    const int = (v: number | null) =>
      v === null ? appender.appendNull() : appender.appendBigInt(BigInt(Math.round(v)));
    for (const e of rows) {
      text(e.event_id);
      text(e.ingest_id);
      text(e.provider);
      text(e.account_id);
      text(e.session_key);
      text(e.session_id);
      text(e.session_name);
      text(e.channel);
      text(e.type);
      text(e.provider_type);
      text(e.provider_event_id);
      appender.appendTimestampTZ(timestampTZValue(BigInt(e.occurred_at)));
      appender.appendTimestampTZ(timestampTZValue(BigInt(e.received_at)));
      text(e.participant?.key ?? null);
      text(e.participant?.role ?? null);
      text(e.participant?.provider_user_id ?? null);
      text(e.reason);
      text(e.state);
      text(e.scope);
      int(e.bytes);
      int(e.count);
      if (e.score === null) appender.appendNull();
      else appender.appendDouble(e.score);
      text(JSON.stringify(e.attributes));
      appender.endRow();
    }
    appender.closeSync();
    await conn.run('CHECKPOINT');
    const seconds = (performance.now() - started) / 1000;
    return { events: rows.length, seconds, eventsPerSecond: rows.length / seconds };
  } finally {
    conn.closeSync();
    db.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('appender.js') && process.argv[2]) {
  const result = await appenderBaseline(JSON.parse(process.argv[2]) as AppenderSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
