import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { createWarehouse, type Warehouse } from '../../processors/warehouse/writer.js';
import { HOUR, at, batch, datasetRows, event, meeting, openCall, parquetFiles } from './warehouse-support.js';

const logger = createLogger('silent');
let dataDir: string;
let open: Warehouse[] = [];
let now = at('2024-05-02T10:30:00Z');

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'sessionflow-idle-'));
  now = at('2024-05-02T10:30:00Z');
});
afterEach(async () => {
  for (const w of open) await w.close();
  open = [];
  rmSync(dataDir, { recursive: true, force: true });
});

async function warehouse(idleHorizonMicros: number | undefined = HOUR): Promise<Warehouse> {
  const w = await createWarehouse({ dataDir, logger, idleHorizonMicros, clock: () => now });
  open.push(w);
  return w;
}

async function closeAll(): Promise<void> {
  for (const w of open) await w.close();
  open = [];
}

const statuses = async () =>
  Object.fromEntries(
    (await datasetRows(dataDir, 'SELECT session_key, status FROM session_facts ORDER BY 1')).map((r) => [
      r.session_key,
      r.status,
    ]),
  );

describe('idle sweep', () => {
  it('turns a session open past the horizon abandoned, in DuckDB and in Parquet, and touches nothing else', async () => {
    const w = await warehouse();
    await w.applyBatch(
      batch({
        events: [
          ...openCall('zoom:idle', '2024-05-02T10:00:00Z'),
          ...openCall('zoom:busy', '2024-05-02T10:20:00Z'),
          ...meeting('zoom:done', '2024-05-02'),
        ],
      }),
    );
    await w.flush();
    expect(await statuses()).toEqual({ 'zoom:busy': 'open', 'zoom:done': 'ended', 'zoom:idle': 'open' });
    const busyFile = parquetFiles(dataDir, ['session_facts']);

    // Exactly one hour after the last event is not yet past the horizon.
    now = at('2024-05-02T11:00:05Z');
    expect(await w.sweepIdle()).toEqual({ facts: [], next: undefined });

    now = at('2024-05-02T11:00:05.000001Z');
    const swept = await w.sweepIdle();
    expect(swept.next).toBeUndefined();
    expect(swept.facts.map((f) => [f.session_key, f.status, f.ended_at, f.duration_seconds])).toEqual([
      ['zoom:idle', 'abandoned', null, null],
    ]);
    await w.flush();
    expect(await statuses()).toEqual({ 'zoom:busy': 'open', 'zoom:done': 'ended', 'zoom:idle': 'abandoned' });
    expect(Object.keys(parquetFiles(dataDir, ['session_facts']))).toEqual(Object.keys(busyFile));

    // Nothing left to do: a second sweep changes nothing.
    expect(await w.sweepIdle()).toEqual({ facts: [], next: undefined });
  });

  it('reopens an abandoned session when a new event arrives, then ends it', async () => {
    const w = await warehouse();
    await w.applyBatch(batch({ events: openCall('zoom:s', '2024-05-02T10:00:00Z') }));
    now = at('2024-05-02T13:00:00Z');
    expect((await w.sweepIdle()).facts.map((f) => f.status)).toEqual(['abandoned']);

    // An old event, found late, does not make it recent: still abandoned, but counted.
    const old = await w.applyBatch(batch({ events: [event('zoom:s', 'message.sent', '2024-05-02T10:10:00Z')] }));
    expect(old.facts.map((f) => [f.status, f.messages, f.events])).toEqual([['abandoned', 1, 3]]);

    const guest = { key: 'g', role: 'guest' as const };
    const back = await w.applyBatch(
      batch({ events: [event('zoom:s', 'participant.joined', '2024-05-02T12:59:00Z', guest)] }),
    );
    expect(back.facts.map((f) => [f.status, f.last_event_at, f.participants])).toEqual([
      ['open', at('2024-05-02T12:59:00Z'), 2],
    ]);

    now = at('2024-05-02T13:10:00Z');
    expect(await w.sweepIdle()).toEqual({ facts: [], next: undefined });
    const ended = await w.applyBatch(batch({ events: [event('zoom:s', 'session.ended', '2024-05-02T13:05:00Z')] }));
    expect(ended.facts.map((f) => [f.status, f.ended_at, f.duration_seconds])).toEqual([
      ['ended', at('2024-05-02T13:05:00Z'), 3 * 3600 + 300],
    ]);
    await w.flush();
    expect(await statuses()).toEqual({ 'zoom:s': 'ended' });
    // An ended session never turns abandoned.
    now = at('2024-06-01T00:00:00Z');
    expect(await w.sweepIdle()).toEqual({ facts: [], next: undefined });
  });

  it('goes through many sessions a chunk at a time, in key order', async () => {
    const w = await warehouse();
    const keys = ['zoom:a', 'zoom:b', 'zoom:c', 'zoom:d', 'zoom:e'];
    await w.applyBatch(batch({ events: keys.flatMap((k) => openCall(k, '2024-05-02T10:00:00Z')) }));
    now = at('2024-05-03T00:00:00Z');
    const seen: string[] = [];
    let after: string | undefined;
    let calls = 0;
    do {
      const result = await w.sweepIdle({ after, limit: 2 });
      seen.push(...result.facts.map((f) => `${f.session_key}=${f.status}`));
      after = result.next;
      calls += 1;
    } while (after !== undefined);
    expect(seen).toEqual(keys.map((k) => `${k}=abandoned`));
    expect(calls).toBe(3);
  });

  it('reopens what a shorter horizon abandoned once the horizon is raised, and does nothing without a horizon', async () => {
    const w = await warehouse(HOUR);
    await w.applyBatch(batch({ events: openCall('zoom:s', '2024-05-02T10:00:00Z') }));
    now = at('2024-05-02T12:00:00Z');
    expect((await w.sweepIdle()).facts.map((f) => f.status)).toEqual(['abandoned']);
    await closeAll();

    const none = await warehouse(undefined);
    expect(await none.sweepIdle()).toEqual({ facts: [], next: undefined });
    await closeAll();

    const longer = await warehouse(24 * HOUR);
    expect((await longer.sweepIdle()).facts.map((f) => f.status)).toEqual(['open']);
    await longer.flush();
    expect(await statuses()).toEqual({ 'zoom:s': 'open' });
  });
});
