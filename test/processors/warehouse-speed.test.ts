/**
 * What lets the writer keep up (DESIGN section 7): the events of recently touched sessions kept
 * in memory instead of read back per batch, and a dataset that stays a few files per partition
 * without the whole day being rewritten again and again. Each must leave the facts and rows
 * exactly as the plain way would.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDuckDB } from '../../lib/duckdb.js';
import { queryRows } from '../helpers/data.js';
import { createLogger } from '../../lib/logger.js';
import type { SessionEvent } from '../../lib/canonical.js';
import { createWarehouse, type Warehouse } from '../../processors/warehouse/writer.js';
import { listDataFiles } from '../../processors/warehouse/files.js';
import { queryDataset } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { at, batch, event } from './warehouse-support.js';

const logger = createLogger('silent');
const CLOCK = at('2024-06-01T00:00:00Z');

/** Sessions whose events come over many batches, in an order that interleaves them. */
function trickle(sessions: number, perSession: number): SessionEvent[][] {
  const batches: SessionEvent[][] = [];
  for (let round = 0; round < perSession; round++) {
    const list: SessionEvent[] = [];
    for (let s = 0; s < sessions; s++) {
      const who = { key: `p${(round + s) % 3}`, role: round % 4 === 0 ? ('host' as const) : ('guest' as const) };
      const second = String(round % 60).padStart(2, '0');
      const minute = String(Math.floor(round / 60)).padStart(2, '0');
      const type = round === 0 ? 'session.started' : round % 2 ? 'participant.joined' : 'participant.left';
      list.push(event(`zoom:s${s}`, type, `2024-05-02T10:${minute}:${second}Z`, round === 0 ? undefined : who));
    }
    batches.push(list);
  }
  return batches;
}

async function factsOf(dataDir: string): Promise<Record<string, unknown>[]> {
  const db = await openDuckDB(join(dataDir, 'warehouse.duckdb'));
  const conn = await db.connect();
  try {
    return await queryRows<Record<string, unknown>>(
      conn,
      `SELECT * EXCLUDE (updated_at) FROM session_facts ORDER BY session_key`,
    );
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('the session cache', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) dir.remove();
  });

  it('folds to the same facts whether every session is kept, some are evicted, or none is kept', {
    timeout: 90_000,
  }, async () => {
    const rounds = trickle(20, 8);
    const facts: Array<Record<string, unknown>[]> = [];
    for (const cacheBytes of [256 * 1024 * 1024, 40_000, 0]) {
      const dir = tempDir('sessionflow-cache-');
      dirs.push(dir);
      const w = await createWarehouse({ dataDir: dir.path, logger, clock: () => CLOCK, sessionCacheBytes: cacheBytes });
      // A redelivered round among them: duplicates must not reach a cached session twice.
      for (const events of [...rounds.slice(0, 4), rounds[2]!, ...rounds.slice(4)])
        await w.applyBatch(batch({ events }));
      await w.close();
      facts.push(await factsOf(dir.path));
    }
    expect(facts[0]).toHaveLength(20);
    expect(facts[0]!.map((f) => Number(f.events))).toEqual(Array(20).fill(8));
    expect(facts[1]).toEqual(facts[0]);
    expect(facts[2]).toEqual(facts[0]);
  });

  it('forgets what a rolled-back batch staged', async () => {
    const dir = tempDir('sessionflow-cache-');
    dirs.push(dir);
    const w = await createWarehouse({ dataDir: dir.path, logger, clock: () => CLOCK });
    const [first, second] = trickle(1, 2);
    await w.applyBatch(batch({ events: first! }));
    // A batch that fails inside its transaction (an offset that does not fit its column) stores nothing...
    await expect(
      w.applyBatch(batch({ events: second!, offsets: [{ topic: 't', partition: 2 ** 40, next_offset: 1 }] })),
    ).rejects.toThrow();
    // ...so its event is new when it comes again, and the fact counts it once.
    const result = await w.applyBatch(batch({ events: second! }));
    expect(result.insertedEvents).toBe(1);
    await w.close();
    expect((await factsOf(dir.path))[0]).toMatchObject({ session_key: 'zoom:s0', events: 2n });
  });
});

describe('the Parquet export', () => {
  let dir: ReturnType<typeof tempDir>;
  let w: Warehouse;
  beforeEach(async () => {
    dir = tempDir('sessionflow-export-');
    w = await createWarehouse({ dataDir: dir.path, logger, clock: () => CLOCK, exportIntervalMs: 60_000 });
  });
  afterEach(async () => {
    await w.close();
    dir.remove();
  });

  const eventsDir = () => join(dir.path, 'parquet/session_events/provider=zoom/date=2024-05-02');

  it('writes the batches committed since the last run as one file per partition', async () => {
    for (const events of trickle(5, 6)) await w.applyBatch(batch({ events }));
    await w.flush();
    // The first batch after a quiet spell is exported at once; the next five wait for the interval and share a file.
    expect((await listDataFiles(eventsDir())).map((f) => f.name)).toEqual([
      'b-000000000001.parquet',
      'c-000000000002-000000000006.parquet',
    ]);
    expect(await queryDataset(dir.path, 'SELECT count(*) AS n FROM session_events')).toEqual([{ n: 30 }]);
  });

  it('writes the facts first, then the spans, then the events and raw archive', async () => {
    await w.applyBatch(batch({ events: trickle(5, 6).flat() }));
    await w.flush();
    const written = (table: string, file: string) =>
      statSync(join(dir.path, `parquet/${table}/provider=zoom/date=2024-05-02`, file)).mtimeMs;
    const [events] = await listDataFiles(eventsDir());
    expect(written('session_facts', 'data.parquet')).toBeLessThanOrEqual(
      written('participant_sessions', 'data.parquet'),
    );
    expect(written('participant_sessions', 'data.parquet')).toBeLessThanOrEqual(
      written('session_events', events!.name),
    );
  });

  it('keeps a partition to a few files without rewriting its large old file', { timeout: 90_000 }, async () => {
    const rounds = trickle(3000, 1).concat(trickle(2, 45).slice(1)); // one big first run, then a long trickle
    await w.applyBatch(batch({ events: rounds[0]! }));
    await w.flush();
    const [big] = await listDataFiles(eventsDir());
    const bigFile = statSync(join(eventsDir(), big!.name));
    for (const events of rounds.slice(1)) {
      await w.applyBatch(batch({ events: events.map((e) => ({ ...e, event_id: `${e.event_id}-t` })) }));
      await w.flush();
      expect((await listDataFiles(eventsDir())).length).toBeLessThanOrEqual(17);
    }
    const files = await listDataFiles(eventsDir());
    expect(files[0]!.name).toBe(big!.name);
    expect(statSync(join(eventsDir(), big!.name)).ino).toBe(bigFile.ino);
    expect(files.length).toBeLessThanOrEqual(17);
    expect(
      await queryDataset(dir.path, 'SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM session_events'),
    ).toEqual([{ n: 3000 + 44 * 2, d: 3000 + 44 * 2 }]);
  });
});
