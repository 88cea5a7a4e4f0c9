import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeadLetter, RawWebhook, SessionFact } from '../../lib/canonical.js';
import { openDuckDB } from '../../lib/duckdb.js';
import { queryRows } from '../helpers/data.js';
import { createLogger } from '../../lib/logger.js';
import { parseIsoMicros } from '../../lib/time.js';
import { createWarehouse, openDataset, type Warehouse } from '../../processors/warehouse/writer.js';
import { at, batch, event, meeting } from './warehouse-support.js';
import { queryDataset } from '../helpers/data.js';

const logger = createLogger('silent');
const CLOCK = parseIsoMicros('2024-06-01T00:00:00Z')!;
const TIMESTAMP_COLUMNS = ['created_at', 'started_at', 'ended_at', 'first_event_at', 'last_event_at', 'updated_at'];

let dataDir: string;
let open: Warehouse[] = [];

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'sessionflow-warehouse-'));
});
afterEach(async () => {
  for (const warehouse of open) await warehouse.close();
  open = [];
  rmSync(dataDir, { recursive: true, force: true });
});

async function warehouse(): Promise<Warehouse> {
  const w = await createWarehouse({ dataDir, logger, clock: () => CLOCK });
  open.push(w);
  return w;
}

async function closeAll(): Promise<void> {
  for (const w of open) await w.close();
  open = [];
}

function raw(id: string, provider: string, time: string, body: Buffer): RawWebhook {
  return {
    ingest_id: id,
    provider,
    received_at: at(time),
    source: 'webhook',
    dedup_key: `dedup-${id}`,
    headers: { 'content-type': 'application/json', 'x-zm-request-timestamp': '1714644000' },
    content_type: 'application/json',
    body,
  };
}

/** Facts from the warehouse file (after the writer closed), timestamps as micros. */
async function warehouseFacts(): Promise<SessionFact[]> {
  const db = await openDuckDB(join(dataDir, 'warehouse.duckdb'));
  const conn = await db.connect();
  try {
    const replace = TIMESTAMP_COLUMNS.map((c) => `epoch_us(${c}) AS ${c}`).join(', ');
    const rows = await queryRows<Record<string, unknown>>(
      conn,
      `SELECT * REPLACE (${replace}) FROM session_facts ORDER BY session_key`,
    );
    return rows.map((row) => normalize(row) as unknown as SessionFact);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

async function onWarehouse<T>(
  work: (sql: (q: string) => Promise<Record<string, unknown>[]>) => Promise<T>,
): Promise<T> {
  const db = await openDuckDB(join(dataDir, 'warehouse.duckdb'));
  const conn = await db.connect();
  try {
    return await work((q) => queryRows(conn, q));
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

const datasetRows = (sql: string) => queryDataset(dataDir, sql);

/** Facts from the Parquet dataset, timestamps as micros, without the partition column. */
async function datasetFacts(): Promise<SessionFact[]> {
  const replace = TIMESTAMP_COLUMNS.map((c) => `epoch_us(${c}) AS ${c}`).join(', ');
  const rows = await datasetRows(
    `SELECT * EXCLUDE ("date") REPLACE (${replace}) FROM session_facts ORDER BY session_key`,
  );
  return rows.map((row) => normalize(row) as unknown as SessionFact);
}

/** BIGINTs arrive as strings (JSON) or bigints (JS): make them numbers, like SessionFact's. */
function normalize(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [
      k,
      typeof v === 'bigint' || (typeof v === 'string' && /^-?\d+$/.test(v) && k !== 'session_id') ? Number(v) : v,
    ]),
  );
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const parquetFiles = (table: string) =>
  walk(join(dataDir, 'parquet', table))
    .map((f) => relative(join(dataDir, 'parquet', table), f))
    .sort();

describe('warehouse', () => {
  it('stores the facts of two sessions in DuckDB and in the Parquet dataset', async () => {
    const w = await warehouse();
    const events = [...meeting('zoom:s1', '2024-05-02'), ...meeting('zoom:s2', '2024-05-03')];
    const result = await w.applyBatch(batch({ events }));
    expect(result).toMatchObject({ insertedEvents: 12, duplicateEvents: 0, touchedSessions: ['zoom:s1', 'zoom:s2'] });
    expect(result.facts.map((f) => [f.session_key, f.status, f.participants, f.started_at])).toEqual([
      ['zoom:s1', 'ended', 2, at('2024-05-02T10:00:00.000001Z')],
      ['zoom:s2', 'ended', 2, at('2024-05-03T10:00:00.000001Z')],
    ]);
    await w.flush();

    expect(await datasetFacts()).toEqual(result.facts);
    expect(parquetFiles('session_facts')).toEqual([
      'provider=zoom/date=2024-05-02/data.parquet',
      'provider=zoom/date=2024-05-03/data.parquet',
    ]);
    const spans = await datasetRows(
      `SELECT session_key, count(*) AS n, sum(duration_seconds) AS s, any_value(provider) AS p FROM participant_sessions GROUP BY ALL ORDER BY 1`,
    );
    expect(spans).toEqual([
      { session_key: 'zoom:s1', n: 2, s: 1855 + 1740, p: 'zoom' },
      { session_key: 'zoom:s2', n: 2, s: 1855 + 1740, p: 'zoom' },
    ]);
    const stored = await datasetRows(
      `SELECT count(*) AS n, count(DISTINCT "date") AS days, any_value(attributes['quote"d']) AS a FROM session_events`,
    );
    expect(stored).toEqual([{ n: 12, days: 2, a: "it's" }]);

    await closeAll();
    expect(await warehouseFacts()).toEqual(result.facts);
  });

  it('collapses a redelivered batch: one row per event, same facts, duplicates counted', async () => {
    const w = await warehouse();
    const events = [...meeting('zoom:s1', '2024-05-02'), ...meeting('mluvii:7', '2024-05-02')];
    const first = await w.applyBatch(batch({ events }));
    await w.flush();
    const factsBefore = await datasetFacts();
    const filesBefore = parquetFiles('session_facts');

    const again = await w.applyBatch(batch({ events: [...events, events[0]!] }));
    expect(again).toMatchObject({ insertedEvents: 0, duplicateEvents: 13, touchedSessions: [], facts: [] });

    // A batch with one new event and a repeat inside the batch itself.
    const late = { ...event('zoom:s1', 'message.sent', '2024-05-02T10:10:00Z'), ingest_id: 'late' };
    const third = await w.applyBatch(batch({ events: [late, late, events[1]!] }));
    expect(third).toMatchObject({ insertedEvents: 1, duplicateEvents: 2, touchedSessions: ['zoom:s1'] });
    expect(third.facts[0]).toEqual({ ...first.facts[1], messages: 1, events: 7 });
    await w.flush();

    const factsAfter = await datasetFacts();
    expect(factsAfter[1]).toEqual(third.facts[0]);
    expect(factsAfter[0]).toEqual(factsBefore[0]); // mluvii:7, untouched
    expect(parquetFiles('session_facts')).toEqual(filesBefore);
    expect(await datasetRows('SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM session_events')).toEqual([
      { n: 13, d: 13 },
    ]);

    await closeAll();
    await onWarehouse(async (sql) => {
      expect(await sql('SELECT count(*)::INT AS n FROM session_events')).toEqual([{ n: 13 }]);
      expect(await sql('SELECT sum(events)::INT AS e, sum(duplicate_events)::INT AS d FROM warehouse_batches')).toEqual(
        [{ e: 13, d: 15 }],
      );
    });
  });

  it('stores offsets with the batch and returns them after a reopen', async () => {
    const w = await warehouse();
    expect(await w.offsets()).toEqual(new Map());
    await w.applyBatch(
      batch({
        offsets: [
          { topic: 'sessionflow.events.v1', partition: 0, next_offset: 10 },
          { topic: 'sessionflow.events.v1', partition: 1, next_offset: 4 },
        ],
      }),
    );
    await w.applyBatch(
      batch({
        events: meeting('zoom:s1', '2024-05-02'),
        offsets: [{ topic: 'sessionflow.events.v1', partition: 0, next_offset: 25 }],
      }),
    );
    const expected = new Map([
      ['sessionflow.events.v1:0', 25],
      ['sessionflow.events.v1:1', 4],
    ]);
    expect(await w.offsets()).toEqual(expected);
    await closeAll();
    expect(await (await warehouse()).offsets()).toEqual(expected);
  });

  it('moves a session to its new date partition when started_at changes day', async () => {
    const w = await warehouse();
    const guest = { key: 'g', role: 'guest' as const };
    await w.applyBatch(batch({ events: [event('zoom:late', 'participant.joined', '2024-05-03T00:10:00Z', guest)] }));
    await w.flush();
    expect(parquetFiles('session_facts')).toEqual(['provider=zoom/date=2024-05-03/data.parquet']);
    expect(parquetFiles('participant_sessions')).toEqual(['provider=zoom/date=2024-05-03/data.parquet']);

    // The session.started that arrives late puts the session on the day before.
    await w.applyBatch(batch({ events: [event('zoom:late', 'session.started', '2024-05-02T23:55:00Z')] }));
    await w.flush();
    expect(parquetFiles('session_facts')).toEqual(['provider=zoom/date=2024-05-02/data.parquet']);
    expect(parquetFiles('participant_sessions')).toEqual(['provider=zoom/date=2024-05-02/data.parquet']);
    expect(await datasetRows(`SELECT session_key, CAST("date" AS VARCHAR) AS d FROM session_facts`)).toEqual([
      { session_key: 'zoom:late', d: '2024-05-02' },
    ]);
    // Events stay where they happened.
    expect(parquetFiles('session_events').map((f) => f.split('/').slice(0, 2).join('/'))).toEqual([
      'provider=zoom/date=2024-05-02',
      'provider=zoom/date=2024-05-03',
    ]);
  });

  it('writes whole Parquet files only, with no temporary file left', async () => {
    const w = await warehouse();
    const dead: DeadLetter = {
      ingest_id: 'bad-1',
      provider: 'apizee',
      stage: 'normalize',
      error_code: 'BODY_NOT_JSON',
      message: 'body is not valid JSON',
      field_path: null,
      provider_type: null,
      received_at: at('2024-05-02T09:00:00Z'),
      failed_at: at('2024-05-02T09:00:01Z'),
    };
    await w.applyBatch(
      batch({
        raw: [
          raw('r1', 'zoom', '2024-05-02T10:00:00Z', Buffer.from('{"a":1}')),
          raw('bad-1', 'apizee', '2024-05-02T09:00:00Z', Buffer.from('not json')),
        ],
        events: meeting('zoom:s1', '2024-05-02'),
        deadLetters: [dead, dead],
      }),
    );
    await w.applyBatch(batch({ deadLetters: [dead] })); // a replayed dead letter is not stored twice
    await w.flush();
    const files = [...walk(join(dataDir, 'parquet')), ...walk(join(dataDir, 'restricted'))];
    expect(files.length).toBe(6);
    for (const file of files) {
      expect(file.endsWith('.parquet') && !file.split('/').pop()!.startsWith('.')).toBe(true);
      // Readable from its footer: the file is complete.
      const [{ rows }] = (await datasetRows(`SELECT count(*) AS rows FROM read_parquet('${file}')`)) as [
        { rows: string },
      ];
      expect(Number(rows)).toBeGreaterThan(0);
    }
    expect(await datasetRows('SELECT ingest_id, stage, CAST("date" AS VARCHAR) AS d FROM dead_letters')).toEqual([
      { ingest_id: 'bad-1', stage: 'normalize', d: '2024-05-02' },
    ]);
    // The partition columns come from the folders, not from the files.
    const schema = await datasetRows(
      `SELECT name FROM parquet_schema('${files.find((f) => f.includes('session_facts'))}')`,
    );
    expect(schema.map((r) => r.name)).not.toContain('provider');
    const types = await datasetRows(
      `SELECT column_type AS t FROM (DESCRIBE session_facts) WHERE column_name = 'started_at'`,
    );
    expect(types).toEqual([{ t: 'TIMESTAMP WITH TIME ZONE' }]);
  });

  it('exports at open what a crash left pending, and cleans interrupted files', async () => {
    const w = await warehouse();
    await w.applyBatch(
      batch({
        events: [...meeting('zoom:s1', '2024-05-02'), ...meeting('apizee:9', '2024-05-04')],
        raw: [raw('r1', 'zoom', '2024-05-02T10:00:00Z', Buffer.from('x'))],
      }),
    );
    await w.flush();
    const expected = await datasetFacts();
    await closeAll();

    // The crash: committed, but no Parquet written (bookkeeping as the batch left it), and a half-written file.
    rmSync(join(dataDir, 'parquet'), { recursive: true });
    rmSync(join(dataDir, 'restricted', 'raw_webhooks'), { recursive: true });
    await onWarehouse(async (sql) => {
      await sql(
        `INSERT INTO parquet_pending SELECT DISTINCT 'session_events', provider, CAST(occurred_at AS DATE), batch_id FROM session_events`,
      );
      await sql(
        `INSERT INTO parquet_pending SELECT DISTINCT 'raw_webhooks', provider, CAST(received_at AS DATE), batch_id FROM raw_webhooks`,
      );
      await sql(
        `INSERT INTO parquet_pending SELECT t, provider, CAST(started_at AS DATE), 0
         FROM session_facts, (VALUES ('session_facts'), ('participant_sessions')) AS v(t)`,
      );
    });
    const partial = join(dataDir, 'parquet/session_events/provider=zoom/date=2024-05-02');
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, '.b-000000000001.parquet.tmp'), 'PAR1 half');

    await warehouse();
    expect(await datasetFacts()).toEqual(expected);
    expect(await datasetRows('SELECT count(*) AS n FROM session_events')).toEqual([{ n: 12 }]);
    expect(await datasetRows('SELECT count(*) AS n FROM participant_sessions')).toEqual([{ n: 4 }]);
    expect(await queryDataset(dataDir, 'SELECT count(*) AS n FROM raw_webhooks', { restricted: true })).toEqual([
      { n: 1 },
    ]);
    expect(walk(join(dataDir, 'parquet')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await closeAll();
    await onWarehouse(async (sql) =>
      expect(await sql('SELECT count(*)::INT AS n FROM parquet_pending')).toEqual([{ n: 0 }]),
    );
  });

  it('keeps the raw archive out of the dataset BI reads, and moves there one an earlier version exported into it', async () => {
    const w = await warehouse();
    await w.applyBatch(
      batch({
        events: meeting('zoom:s1', '2024-05-02'),
        raw: [raw('r1', 'zoom', '2024-05-02T10:00:00Z', Buffer.from('{"email":"jana@example.com"}'))],
      }),
    );
    await w.flush();
    expect(existsSync(join(dataDir, 'parquet', 'raw_webhooks'))).toBe(false);
    const archive = walk(join(dataDir, 'restricted', 'raw_webhooks')).map((f) =>
      relative(join(dataDir, 'restricted'), f),
    );
    expect(archive).toEqual(['raw_webhooks/provider=zoom/date=2024-05-02/b-000000000001.parquet']);
    expect(statSync(join(dataDir, 'restricted')).mode & 0o777).toBe(0o700);
    await closeAll();

    // As an earlier version left it: the archive inside the dataset, the folder open to all.
    renameSync(join(dataDir, 'restricted', 'raw_webhooks'), join(dataDir, 'parquet', 'raw_webhooks'));
    chmodSync(join(dataDir, 'restricted'), 0o755);
    await warehouse();
    expect(existsSync(join(dataDir, 'parquet', 'raw_webhooks'))).toBe(false);
    expect(
      walk(join(dataDir, 'restricted', 'raw_webhooks')).map((f) => relative(join(dataDir, 'restricted'), f)),
    ).toEqual(archive);
    expect(statSync(join(dataDir, 'restricted')).mode & 0o777).toBe(0o700);
    expect(await queryDataset(dataDir, `SELECT decode(body) AS body FROM raw_webhooks`, { restricted: true })).toEqual([
      { body: '{"email":"jana@example.com"}' },
    ]);
    await expect(datasetRows('SELECT count(*) FROM raw_webhooks')).rejects.toThrow(/raw_webhooks does not exist/);
  });

  it('compacts an append-only partition into few files with every row', async () => {
    const w = await warehouse();
    const guest = { key: 'g', role: 'guest' as const };
    for (let i = 0; i < 20; i++) {
      const minute = String(i).padStart(2, '0');
      await w.applyBatch(batch({ events: [event('zoom:busy', 'message.sent', `2024-05-02T11:${minute}:00Z`, guest)] }));
      await w.flush(); // an export run per batch: a file per batch, as under a slow trickle of events
    }
    const files = parquetFiles('session_events');
    expect(files.length).toBeLessThanOrEqual(4);
    expect(files.at(-1)).toMatch(/c-000000000001-000000000017\.parquet$/);
    expect(await datasetRows('SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM session_events')).toEqual([
      { n: 20, d: 20 },
    ]);

    // A crash after the compacted file was renamed in, before a small file was removed: repaired at open.
    await closeAll();
    const dir = join(dataDir, 'parquet/session_events/provider=zoom/date=2024-05-02');
    copyFileSync(join(dir, 'b-000000000018.parquet'), join(dir, 'c-000000000018-000000000018.parquet'));
    copyFileSync(join(dir, 'c-000000000001-000000000017.parquet'), join(dir, 'b-000000000003.parquet'));
    await warehouse();
    expect(parquetFiles('session_events').length).toBe(files.length);
    expect(await datasetRows('SELECT count(*) AS n FROM session_events')).toEqual([{ n: 20 }]);
  });

  it('keeps raw bodies and headers byte for byte in Parquet', async () => {
    const w = await warehouse();
    const bodies = [
      Buffer.from([0, 1, 2, 255, 254, 0x80, 0x27, 0x5c, 10, 13]),
      Buffer.from('{"event":"session.started","ü":"ž"}'),
      Buffer.alloc(0),
    ];
    await w.applyBatch(batch({ raw: bodies.map((body, i) => raw(`r${i}`, 'zoom', '2024-05-02T10:00:00Z', body)) }));
    await w.applyBatch(batch({ raw: [raw('r0', 'zoom', '2024-05-02T10:00:00Z', Buffer.from('redelivered'))] }));
    await w.flush();
    const rows = await queryDataset(
      dataDir,
      `SELECT ingest_id, hex(body) AS body, headers['x-zm-request-timestamp'] AS ts FROM raw_webhooks ORDER BY ingest_id`,
      { restricted: true },
    );
    expect(rows).toEqual(
      bodies.map((body, i) => ({ ingest_id: `r${i}`, body: body.toString('hex').toUpperCase(), ts: '1714644000' })),
    );
  });
});

describe('warehouse with a fold that throws', () => {
  afterEach(() => {
    vi.doUnmock('../../processors/sessionize/index.js');
    vi.resetModules();
  });

  it('keeps the events, stores no fact, and dead-letters the deliveries with the reason', async () => {
    vi.resetModules();
    vi.doMock('../../processors/sessionize/index.js', () => ({
      foldSession: () => {
        throw new Error('fold bug');
      },
    }));
    const { createWarehouse: create } = await import('../../processors/warehouse/writer.js');
    const w = await create({ dataDir, logger, clock: () => CLOCK });
    open.push(w);
    const result = await w.applyBatch(
      batch({ events: meeting('zoom:s1', '2024-05-02'), offsets: [{ topic: 't', partition: 0, next_offset: 6 }] }),
    );
    expect(result).toMatchObject({ insertedEvents: 6, touchedSessions: [], facts: [] });
    expect(await w.offsets()).toEqual(new Map([['t:0', 6]]));
    await w.flush();
    const dead = await datasetRows(
      'SELECT count(*) AS n, any_value(stage) AS stage, any_value(error_code) AS code, any_value(message) AS m FROM dead_letters',
    );
    expect(dead).toEqual([
      {
        n: 6,
        stage: 'warehouse',
        code: 'WAREHOUSE_FAILED',
        m: 'could not fold the facts of session zoom:s1: fold bug',
      },
    ]);
    expect(await datasetRows('SELECT count(*) AS n FROM session_events')).toEqual([{ n: 6 }]);
    expect(await datasetRows('SELECT count(*) AS n FROM session_facts')).toEqual([{ n: 0 }]);

    // Once the fold works again (a fixed version, a new process), the session's next event folds all seven.
    await w.close();
    const fixed = await createWarehouse({ dataDir, logger, clock: () => CLOCK });
    open.push(fixed);
    const again = await fixed.applyBatch(
      batch({
        events: [event('zoom:s1', 'participant.joined', '2024-05-02T10:30:00Z', { key: 'late', role: 'guest' })],
      }),
    );
    expect(again.facts).toHaveLength(1);
    expect(again.facts[0]).toMatchObject({ session_key: 'zoom:s1', events: 7 });
  });
});

describe('openDataset', () => {
  it('has every view, empty and typed, before any file exists, and sees files written later', async () => {
    const dataset = await openDataset(dataDir, { restricted: true });
    try {
      const tables = ['session_facts', 'participant_sessions', 'session_events', 'raw_webhooks', 'dead_letters'];
      const describe = async () => {
        const shapes: Record<string, string[]> = {};
        for (const t of tables) shapes[t] = (await dataset.query(`DESCRIBE ${t}`)).rows.map((r) => `${r[0]} ${r[1]}`);
        return shapes;
      };
      const empty = await describe();
      for (const t of tables) expect((await dataset.query(`SELECT count(*) FROM ${t}`)).rows).toEqual([[0]]);
      expect(empty.session_facts).toContain('started_at TIMESTAMP WITH TIME ZONE');
      expect(empty.participant_sessions!.slice(-2)).toEqual(['provider VARCHAR', 'date DATE']);

      const w = await warehouse();
      await w.applyBatch(
        batch({
          events: meeting('zoom:s1', '2024-05-02'),
          raw: [raw('r1', 'zoom', '2024-05-02T10:00:00Z', Buffer.from('x'))],
          deadLetters: [
            {
              ingest_id: 'r1',
              provider: 'zoom',
              stage: 'normalize',
              error_code: 'FIELD_INVALID',
              message: 'm',
              field_path: 'payload.x',
              provider_type: 't',
              received_at: 1,
              failed_at: 2,
            },
          ],
        }),
      );
      await w.flush();
      expect((await dataset.query('SELECT count(*) FROM session_events')).rows).toEqual([[6]]);
      expect(await describe()).toEqual(empty);
    } finally {
      await dataset.close();
    }
  });
});
