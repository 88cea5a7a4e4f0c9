/**
 * The warehouse on a disk that fills, on a real tmpfs. DuckDB commits to its WAL and, once the
 * WAL is past checkpoint_threshold (16 MB), checkpoints at the next commit: on a full disk that
 * checkpoint cannot write, and DuckDB invalidates the instance ("FATAL Error: Failed to create
 * checkpoint ... No space left on device"; every later statement: "database has been invalidated
 * because of a previous fatal error"). The warehouse must open the file again and go on from what
 * it holds, and an export that could not write must leave no file behind and be retried.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RawWebhook } from '../../lib/canonical.js';
import { storageFault } from '../../lib/duckdb.js';
import { isSessionflowError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { createWarehouse, type Warehouse } from '../../processors/warehouse/writer.js';
import { queryDataset } from '../helpers/data.js';
import { eventually } from '../helpers/service.js';
import { mountSmallFs, type SmallFs } from '../helpers/small-fs.js';
import { at, batch, meeting, zoomRaw } from './warehouse-support.js';

const DAY = '2024-05-01';
const logger = createLogger('silent');

/**
 * `n` archived deliveries of about 10 kB each: enough of them fill the WAL up to its checkpoint
 * threshold. `random` bodies do not compress: their Parquet files take about as much room as the WAL.
 */
function raws(from: number, n: number, random = false): RawWebhook[] {
  return Array.from({ length: n }, (_, i) => {
    const pad = random ? randomBytes(7_500).toString('base64') : 'x'.repeat(10_000);
    return zoomRaw(
      `ing-${String(from + i).padStart(6, '0')}`,
      Buffer.from(JSON.stringify({ n: from + i, pad })),
      at(`${DAY}T09:00:00Z`) + (from + i),
    );
  });
}

const offsets = (next: number) => [{ topic: 'raw.zoom.v1', partition: 0, next_offset: next }];

function files(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** The files of the dataset and of the raw archive beside it. */
const exported = (dataDir: string): string[] =>
  ['parquet', 'restricted'].flatMap((root) => files(join(dataDir, root)).map((f) => join(root, f)));

describe('the warehouse on a full disk', () => {
  let fs: SmallFs;
  let w: Warehouse | undefined;
  beforeEach(() => {
    fs = mountSmallFs(64);
  });
  afterEach(async () => {
    await w?.close();
    w = undefined;
    fs.unmount();
  });

  it('opens the file again after DuckDB invalidated it, keeps every committed batch, and stores the refused one once space is back', async () => {
    w = await createWarehouse({ dataDir: fs.path, logger, clock: () => at('2024-05-02T00:00:00Z') });
    // Just under the 16 MB threshold: the next commit that does not fit in the WAL checkpoints.
    await w.applyBatch(batch({ raw: raws(0, 1450), events: meeting('zoom:a', DAY), offsets: offsets(1450) }));
    await w.flush();

    fs.fill(0);
    const second = batch({ raw: raws(1450, 250), events: meeting('zoom:b', DAY), offsets: offsets(1700) });
    const err = await w.applyBatch(second).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSessionflowError(err, 'STORAGE_UNAVAILABLE'), String(err)).toBe(true);
    expect(storageFault(err)).toBe('invalidated');
    expect(w.writable).toBe(false);
    // Still full: the retry is refused again (now on the file opened again), nothing half-stored.
    const again = await w.applyBatch(second).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSessionflowError(again, 'STORAGE_UNAVAILABLE'), String(again)).toBe(true);

    fs.free();
    const result = await w.applyBatch(second);
    expect(result.insertedEvents).toBe(meeting('zoom:b', DAY).length);
    expect(w.writable).toBe(true);
    expect(await w.offsets()).toEqual(new Map([['raw.zoom.v1:0', 1700]]));

    // The Parquet export catches up by itself (no new batch needed), and no temporary file is left.
    await eventually(
      async () => {
        const [raw] = await queryDataset(
          fs.path,
          'select count(*) as n, count(distinct ingest_id) as ids from raw_webhooks',
          { restricted: true },
        );
        const facts = await queryDataset(fs.path, `select session_key from session_facts order by 1`);
        return Number(raw!.n) === 1700 && Number(raw!.ids) === 1700 && facts.length === 2 ? true : undefined;
      },
      20_000,
      'the dataset with both batches',
    );
    expect(exported(fs.path).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);

  it('retries an export the full disk refused, without leaving a temporary or partial file', async () => {
    w = await createWarehouse({ dataDir: fs.path, logger, clock: () => at('2024-05-02T00:00:00Z') });
    await w.applyBatch(batch({ events: meeting('zoom:a', DAY), offsets: offsets(1) }));
    await w.flush();
    const before = exported(fs.path);

    // Room for the commit (about 3 MB of WAL), not for the Parquet files it asks for too.
    fs.fill(4 * 1024 * 1024);
    await w.applyBatch(batch({ raw: raws(0, 300, true), events: meeting('zoom:b', DAY), offsets: offsets(301) }));
    await w.flush();
    const during = exported(fs.path);
    expect(during.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The raw_webhooks file of the batch could not be written: it is not there, whole or in part.
    const parquet = (list: string[]) => list.filter((f) => f.endsWith('.parquet') && f.includes('raw_webhooks'));
    expect(parquet(before)).toEqual([]);
    expect(parquet(during)).toEqual([]);

    fs.free();
    await eventually(
      async () => {
        const [raw] = await queryDataset(fs.path, 'select count(*) as n from raw_webhooks', { restricted: true });
        const facts = await queryDataset(fs.path, `select session_key from session_facts order by 1`);
        return Number(raw!.n) === 300 && facts.length === 2 ? true : undefined;
      },
      20_000,
      'the export after space came back',
    );
    expect(exported(fs.path).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);
});
