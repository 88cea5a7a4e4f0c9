import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { createWarehouse } from '../../processors/warehouse/writer.js';
import { inUseMessage, isLocked } from '../../processors/warehouse/standby.js';
import {
  at,
  batch,
  datasetRows,
  event,
  meeting,
  onWarehouse,
  openCall,
  parquetFiles,
  parquetRows,
  tableRows,
  warehouseFixture,
} from './warehouse-support.js';

const logger = createLogger('silent');
const CLOCK = at('2024-06-01T00:00:00Z');
const DATASET = ['session_facts', 'participant_sessions'];
const fx = warehouseFixture('sessionflow-rebuild-', CLOCK);
const warehouse = () => fx.open();
const closeAll = () => fx.closeAll();

/** Seven sessions over three days and two providers, one still open (abandoned by the clock), one never started. */
async function seed(): Promise<void> {
  const w = await warehouse();
  const guest = { key: 'g', role: 'guest' as const };
  await w.applyBatch(
    batch({
      events: [
        ...meeting('zoom:a', '2024-05-02'),
        ...meeting('zoom:b', '2024-05-02'),
        ...meeting('mluvii:c', '2024-05-03'),
      ],
    }),
  );
  await w.applyBatch(
    batch({ events: [...meeting('zoom:d', '2024-05-04'), ...openCall('zoom:e', '2024-05-04T09:00:00Z')] }),
  );
  await w.applyBatch(
    batch({
      events: [
        ...meeting('mluvii:f', '2024-05-04'),
        event('zoom:g', 'participant.joined', '2024-05-03T23:59:00Z', guest),
      ],
    }),
  );
  await w.flush();
  await closeAll();
}

async function snapshot() {
  return {
    facts: await tableRows(fx.dataDir, 'session_facts', 'session_key'),
    spans: await tableRows(fx.dataDir, 'participant_sessions', 'session_key, participant_key, joined_at'),
    files: parquetFiles(fx.dataDir, DATASET),
    factRows: await parquetRows(fx.dataDir, 'session_facts'),
    spanRows: await parquetRows(fx.dataDir, 'participant_sessions'),
  };
}

/** The Parquet dataset says what the warehouse says. */
async function expectDatasetMatchesWarehouse(): Promise<void> {
  const fromWarehouse = await onWarehouse(fx.dataDir, (sql) =>
    sql(`SELECT session_key, status, participants, events FROM session_facts ORDER BY 1`),
  );
  const fromDataset = await datasetRows(
    fx.dataDir,
    `SELECT session_key, status, participants, events FROM session_facts ORDER BY 1`,
  );
  expect(
    fromDataset.map((r) => ({
      ...r,
      participants: BigInt(r.participants as number),
      events: BigInt(r.events as number),
    })),
  ).toEqual(fromWarehouse);
}

describe('rebuild', () => {
  it('on an unchanged warehouse leaves session_facts, the spans and the Parquet files identical', async () => {
    await seed();
    const before = await snapshot();
    expect(Object.keys(before.factRows)).toEqual([
      'session_facts/provider=mluvii/date=2024-05-03/data.parquet',
      'session_facts/provider=mluvii/date=2024-05-04/data.parquet',
      'session_facts/provider=zoom/date=2024-05-02/data.parquet',
      'session_facts/provider=zoom/date=2024-05-03/data.parquet',
      'session_facts/provider=zoom/date=2024-05-04/data.parquet',
    ]);
    const w = await warehouse();
    const progress: Array<[number, number]> = [];
    const report = await w.rebuild({ chunkSize: 3, onProgress: (done, total) => progress.push([done, total]) });
    expect(report).toEqual({
      total: 7,
      rebuilt: 7,
      changed: 0,
      failed: [],
      orphans: 0,
      exported: report.exported,
      interrupted: false,
    });
    expect(report.exported).toBe(Object.keys(before.files).length);
    expect(progress).toEqual([
      [0, 7],
      [3, 7],
      [6, 7],
      [7, 7],
    ]);
    await closeAll();
    expect(await snapshot()).toEqual(before);
  });

  it('restores facts and spans changed behind its back, removes stale partitions and facts without events', async () => {
    await seed();
    const before = await snapshot();
    await onWarehouse(fx.dataDir, async (sql) => {
      await sql(`UPDATE session_facts SET participants = 99, status = 'closed' WHERE session_key = 'zoom:a'`);
      await sql(`DELETE FROM participant_sessions WHERE session_key = 'mluvii:c'`);
      // A fact whose events are gone (as after an erase), on a day of its own.
      await sql(
        `INSERT INTO session_facts SELECT * REPLACE ('zoom:gone' AS session_key, TIMESTAMP '2024-04-01 10:00:00' AS started_at) FROM session_facts WHERE session_key = 'zoom:b'`,
      );
    });
    // A partition file no session lands in (left by an older version).
    const stale = join(fx.dataDir, 'parquet/session_facts/provider=zoom/date=2024-04-30');
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'data.parquet'), 'not parquet');

    const w = await warehouse();
    await w.flush();
    const report = await w.rebuild({ chunkSize: 2 });
    expect(report).toMatchObject({ total: 7, rebuilt: 7, changed: 2, failed: [], orphans: 1, interrupted: false });
    await closeAll();
    expect(await snapshot()).toEqual(before);
    expect(existsSync(stale)).toBe(false);
  });

  it('stops between chunks when interrupted, consistent, and a rerun completes', async () => {
    await seed();
    const before = await snapshot();
    await onWarehouse(fx.dataDir, (sql) => sql(`UPDATE session_facts SET messages = 42`));

    const controller = new AbortController();
    const w = await warehouse();
    const first = await w.rebuild({
      chunkSize: 3,
      signal: controller.signal,
      onProgress: (done) => done >= 3 && controller.abort(),
    });
    expect(first).toMatchObject({ total: 7, rebuilt: 3, changed: 3, interrupted: true });
    await closeAll();
    // Committed chunks are rebuilt and exported; the rest is as it was, and the dataset agrees.
    const messages = await onWarehouse(fx.dataDir, (sql) =>
      sql(`SELECT session_key, messages::INT AS m FROM session_facts ORDER BY 1`),
    );
    expect(messages.map((r) => r.m)).toEqual([0, 0, 0, 42, 42, 42, 42]);
    await expectDatasetMatchesWarehouse();

    const second = await (await warehouse()).rebuild({ chunkSize: 3 });
    expect(second).toMatchObject({ total: 7, rebuilt: 7, changed: 4, interrupted: false });
    await closeAll();
    expect(await snapshot()).toEqual(before);
  });

  it('says to stop the writer first when another process holds the warehouse', async () => {
    await seed();
    const duckdb = createRequire(import.meta.url).resolve('@duckdb/node-api');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `
      // The instance is kept referenced: a collected instance closes its file and lets go of the lock.
      const { DuckDBInstance } = require(${JSON.stringify(duckdb)});
      DuckDBInstance.create(${JSON.stringify(join(fx.dataDir, 'warehouse.duckdb'))}).then((db) => { globalThis.held = db; console.log('holding'); setInterval(() => {}, 1000); });
    `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('holding') && resolve());
        holder.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      const err = await createWarehouse({ dataDir: fx.dataDir, logger }).then(
        (w) => w.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'IN_USE', retriable: true, holder: holder.pid });
      expect(isLocked(err)).toBe(true);
      expect(inUseMessage(err, fx.dataDir)).toBe(
        `${join(fx.dataDir, 'warehouse.duckdb')} is open in another process (PID ${holder.pid}): stop sessionflow run/warehouse first, then run this command again`,
      );
      expect(inUseMessage(new Error('disk full'), fx.dataDir)).toBeUndefined();
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
