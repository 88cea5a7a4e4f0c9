import { describe, expect, it } from 'vitest';
import type { DeadLetter, RawWebhook } from '../../lib/canonical.js';
import { isSessionflowError } from '../../lib/errors.js';
import { deadLetterOf } from '../../processors/dead-letters.js';
import { normalizeRaw } from '../../processors/normalize.js';
import type { Warehouse } from '../../processors/warehouse/writer.js';
import {
  PII_KEY,
  ZOOM_CALL,
  at,
  batch,
  datasetRows,
  onWarehouse,
  parquetFiles,
  tableRows,
  warehouseFixture,
  zoomBody,
  zoomRaw,
} from './warehouse-support.js';

const CLOCK = at('2024-06-01T00:00:00Z');
const TABLES = ['session_facts', 'participant_sessions', 'session_events', 'raw_webhooks', 'dead_letters'];
const normalize = (raw: RawWebhook) => normalizeRaw(raw, PII_KEY);
const fx = warehouseFixture('sessionflow-replay-', CLOCK);
const warehouse = () => fx.open();
const closeAll = () => fx.closeAll();

/** What the pipeline does with deliveries: archive them, normalize them, store events and dead letters. */
async function ingest(w: Warehouse, raws: RawWebhook[]): Promise<void> {
  const results = raws.map((raw) => ({ raw, ...normalize(raw) }));
  await w.applyBatch(
    batch({
      raw: raws,
      events: results.flatMap((r) => r.events),
      deadLetters: results.flatMap((r) => r.failures.map((f) => deadLetterOf(r.raw, f))),
    }),
  );
}

/** Three Zoom calls on two days, a delivery that fails to normalize, and a delivery with no session. */
async function seed(): Promise<RawWebhook[]> {
  const raws: RawWebhook[] = [];
  for (const [n, day] of [
    [1, 0],
    [2, 0],
    [3, 1],
  ] as const) {
    for (const [i, type] of ZOOM_CALL.entries()) {
      raws.push(
        zoomRaw(
          `z${n}-${i}`,
          zoomBody(type, `session-${n}`, day * 86_400_000),
          at('2024-05-02T15:00:00Z') + day * 86_400e6 + n * 60e6 + i * 1e6,
        ),
      );
    }
  }
  raws.push(zoomRaw('bad-size', zoomBody('failure.file-size-text'), at('2024-05-02T16:00:00Z')));
  raws.push(zoomRaw('not-json', Buffer.from('{"event": '), at('2024-05-02T16:00:01Z')));
  const w = await warehouse();
  await ingest(w, raws.slice(0, 10));
  await ingest(w, raws.slice(10));
  await w.flush();
  await closeAll();
  return raws;
}

async function snapshot() {
  const rows: Record<string, string[]> = {};
  rows.session_facts = await tableRows(fx.dataDir, 'session_facts', 'session_key');
  rows.participant_sessions = await tableRows(
    fx.dataDir,
    'participant_sessions',
    'session_key, participant_key, joined_at',
  );
  rows.session_events = await tableRows(fx.dataDir, 'session_events', 'event_id');
  rows.raw_webhooks = await tableRows(fx.dataDir, 'raw_webhooks', 'ingest_id');
  rows.dead_letters = await tableRows(fx.dataDir, 'dead_letters', 'ingest_id, error_code');
  const counts = await onWarehouse(fx.dataDir, (sql) =>
    sql(
      `SELECT sum(events)::INT AS events, sum(duplicate_events)::INT AS duplicates, sum(dead_letters)::INT AS dead FROM warehouse_batches`,
    ),
  );
  return { rows, counts, files: parquetFiles(fx.dataDir, TABLES) };
}

describe('replay', () => {
  it('of unchanged data changes nothing: rows, counts, facts and Parquet files', async () => {
    const raws = await seed();
    const before = await snapshot();
    expect(before.rows.session_events).toHaveLength(18);
    expect(before.rows.dead_letters).toHaveLength(2);

    const progress: Array<[number, number]> = [];
    const report = await (await warehouse()).replay({
      normalize,
      chunkSize: 7,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(report).toEqual({
      total: raws.length,
      replayed: raws.length,
      insertedEvents: 0,
      insertedDeadLetters: 0,
      resolvedDeadLetters: 0,
      sessions: 0,
      exported: 0,
      interrupted: false,
      lastReceivedAt: raws.reduce((max, r) => Math.max(max, r.received_at), 0),
    });
    expect(progress).toEqual([
      [0, 20],
      [7, 20],
      [14, 20],
      [20, 20],
    ]);
    await closeAll();
    expect(await snapshot()).toEqual(before);
  });

  it('turns a dead letter whose cause is fixed into events, and resolves it in the same transaction', async () => {
    await seed();
    // The delivery an older adapter could not read: archived, dead-lettered, no event.
    const fixed = zoomRaw('fixed-1', zoomBody('session.recording_completed', 'session-1'), at('2024-05-02T17:00:00Z'));
    const old: DeadLetter = {
      ...deadLetterOf(fixed, {
        code: 'FIELD_INVALID',
        message: 'old adapter',
        field_path: 'payload.object.recording_files.0.file_size',
        provider_type: 'session.recording_completed',
      }),
      failed_at: at('2024-05-03T09:00:01Z'),
    };
    const w = await warehouse();
    await w.applyBatch(batch({ raw: [fixed], deadLetters: [old] }));
    await w.flush();
    expect(await datasetRows(fx.dataDir, `SELECT ingest_id FROM dead_letters ORDER BY 1`)).toEqual([
      { ingest_id: 'bad-size' },
      { ingest_id: 'fixed-1' },
      { ingest_id: 'not-json' },
    ]);
    expect(Object.keys(parquetFiles(fx.dataDir, ['dead_letters']))).toEqual([
      'dead_letters/provider=zoom/date=2024-05-02/b-000000000002.parquet',
      'dead_letters/provider=zoom/date=2024-05-02/b-000000000003.parquet',
    ]);
    const factBefore = (
      await datasetRows(fx.dataDir, `SELECT recording_files FROM session_facts WHERE session_key = 'zoom:session-1'`)
    )[0];
    expect(factBefore).toEqual({ recording_files: 0 });

    const report = await w.replay({ normalize, chunkSize: 5 });
    expect(report).toMatchObject({
      total: 21,
      replayed: 21,
      insertedEvents: 1,
      insertedDeadLetters: 0,
      resolvedDeadLetters: 1,
      sessions: 1,
      interrupted: false,
    });
    await closeAll();

    expect(await datasetRows(fx.dataDir, `SELECT ingest_id, error_code FROM dead_letters ORDER BY 1`)).toEqual([
      { ingest_id: 'bad-size', error_code: 'FIELD_INVALID' },
      { ingest_id: 'not-json', error_code: 'BODY_NOT_JSON' },
    ]);
    // The partition's files were written again from the table, as one file over the same batches.
    expect(Object.keys(parquetFiles(fx.dataDir, ['dead_letters']))).toEqual([
      'dead_letters/provider=zoom/date=2024-05-02/c-000000000002-000000000003.parquet',
    ]);
    expect(
      await datasetRows(fx.dataDir, `SELECT type, ingest_id FROM session_events WHERE ingest_id = 'fixed-1'`),
    ).toEqual([{ type: 'recording.completed', ingest_id: 'fixed-1' }]);
    expect(
      await datasetRows(
        fx.dataDir,
        `SELECT recording_files, events FROM session_facts WHERE session_key = 'zoom:session-1'`,
      ),
    ).toEqual([{ recording_files: 5, events: 7 }]);
    // Nothing lost: the body is archived, and the counts still add up to what the tables hold.
    await onWarehouse(fx.dataDir, async (sql) => {
      expect(await sql(`SELECT count(*)::INT AS n FROM raw_webhooks WHERE ingest_id = 'fixed-1'`)).toEqual([{ n: 1 }]);
      expect(
        await sql(
          `SELECT (SELECT sum(dead_letters) FROM warehouse_batches)::INT AS booked, (SELECT count(*) FROM dead_letters)::INT AS held`,
        ),
      ).toEqual([{ booked: 2, held: 2 }]);
      expect(
        await sql(
          `SELECT (SELECT sum(events) FROM warehouse_batches)::INT AS booked, (SELECT count(*) FROM session_events)::INT AS held`,
        ),
      ).toEqual([{ booked: 19, held: 19 }]);
    });

    // And a second replay finds nothing more to do.
    const before = await snapshot();
    expect(await (await warehouse()).replay({ normalize })).toMatchObject({
      insertedEvents: 0,
      resolvedDeadLetters: 0,
      insertedDeadLetters: 0,
    });
    await closeAll();
    expect(await snapshot()).toEqual(before);
  });

  it('replays only the provider and time range asked for', async () => {
    await seed();
    const w = await warehouse();
    expect(await w.replay({ normalize, provider: 'apizee' })).toMatchObject({ total: 0, replayed: 0 });
    const day = await w.replay({
      normalize,
      provider: 'zoom',
      from: at('2024-05-03T00:00:00Z'),
      to: at('2024-05-04T00:00:00Z'),
    });
    expect(day).toMatchObject({ total: 6, replayed: 6, insertedEvents: 0 });
    expect(
      await w.replay({ normalize, from: at('2024-05-02T16:00:00Z'), to: at('2024-05-02T16:00:01Z') }),
    ).toMatchObject({ total: 1, replayed: 1 });
  });

  it('refuses to run with another PII key, before writing anything', async () => {
    await seed();
    const before = await snapshot();
    const err = await (await warehouse())
      .replay({ normalize: (raw) => normalizeRaw(raw, 'another-pii-key-0123456789') })
      .catch((e: unknown) => e);
    expect(isSessionflowError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/PII_KEY/);
    await closeAll();
    expect(await snapshot()).toEqual(before);
  });

  it('stops between chunks when interrupted, and a rerun finishes the work', async () => {
    await seed();
    // Lose some events, as if an adapter had skipped them: the replay brings them back.
    await onWarehouse(fx.dataDir, (sql) => sql(`DELETE FROM session_events WHERE ingest_id IN ('z1-5', 'z3-5')`));
    const controller = new AbortController();
    const w = await warehouse();
    const first = await w.replay({
      normalize,
      chunkSize: 4,
      signal: controller.signal,
      onProgress: (done) => done >= 8 && controller.abort(),
    });
    expect(first).toMatchObject({
      total: 20,
      replayed: 8,
      insertedEvents: 1,
      interrupted: true,
      lastReceivedAt: at('2024-05-02T15:02:01Z'),
    });
    await closeAll();
    // The committed chunks are in; the rest waits for the rerun.
    const ended = () =>
      onWarehouse(fx.dataDir, (sql) =>
        sql(`SELECT ingest_id FROM session_events WHERE type = 'session.ended' ORDER BY 1`),
      );
    expect(await ended()).toEqual([{ ingest_id: 'z1-5' }, { ingest_id: 'z2-5' }]);
    const second = await (await warehouse()).replay({ normalize, chunkSize: 4 });
    expect(second).toMatchObject({ total: 20, replayed: 20, insertedEvents: 1, interrupted: false });
    await closeAll();
    expect(await ended()).toEqual([{ ingest_id: 'z1-5' }, { ingest_id: 'z2-5' }, { ingest_id: 'z3-5' }]);
  });
});
