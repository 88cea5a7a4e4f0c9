/**
 * The embedded log on a disk that fills, on a real tmpfs. A commit that does not fit in the WAL
 * is rolled back ("Failed to commit: Could not write file \"log.duckdb.wal\": No space left on
 * device"): the instance stays usable. A checkpoint that cannot write (DuckDB checkpoints when the
 * WAL passes checkpoint_threshold, and at close) is worse: "FATAL Error: Failed to create
 * checkpoint", and every later statement on every connection of the instance fails with
 * "database has been invalidated because of a previous fatal error". Either way the log must
 * refuse publishes while the disk is full, say it is not writable, and once space is back take
 * publishes again with offsets that go on from what the file holds; its consumers must not stop,
 * and see every message once.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckDBFile, storageFault } from '../../lib/duckdb.js';
import { isSessionflowError } from '../../lib/errors.js';
import { EmbeddedLog } from '../../lib/log/embedded.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import type { Consumer, Log, OutgoingMessage } from '../../lib/log/types.js';
import { eventually } from '../helpers/service.js';
import { mountSmallFs, type SmallFs } from '../helpers/small-fs.js';

const messages = (from: number, n: number, size = 1000): OutgoingMessage[] =>
  Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`${String(from + i).padStart(6, '0')}:${'x'.repeat(size)}`) }));

const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

/** A consumer of `raw` that records what it reads, and whether it stopped by itself. */
async function recorder(log: Log, gate?: Promise<void>, group = 'g') {
  const seen: number[] = [];
  const state: { stopped?: unknown } = {};
  const consumer: Consumer = await log.consume({
    group,
    topics: ['raw'],
    eachBatch: async (batch) => {
      await gate;
      seen.push(...batch.records.map((r) => Number(r.value.subarray(0, 6).toString())));
    },
  });
  consumer.done.then(() => (state.stopped = 'resolved'), (err: unknown) => (state.stopped = err));
  return { seen, state, consumer };
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('the embedded log on a full disk', () => {
  let fs: SmallFs;
  let transport: Transport | undefined;
  let file: DuckDBFile | undefined;
  let log: EmbeddedLog | undefined;
  beforeEach(() => {
    fs = mountSmallFs(16);
  });
  afterEach(async () => {
    await transport?.close();
    await log?.close();
    file?.closeSync();
    transport = file = log = undefined;
    fs.unmount();
  });

  it('refuses publishes while full; its consumer retries the position it could not commit instead of stopping; then goes on', async () => {
    transport = await openEmbeddedTransport(fs.path);
    await transport.log.createTopics([{ topic: 'raw', partitions: 1 }]);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // A group name of 8 kB: its position commit cannot fit in what is left of the WAL's last page.
    const group = `g-${'x'.repeat(8192)}`;
    const { seen, state } = await recorder(transport.log, gate, group);
    await transport.log.publish('raw', messages(0, 100));

    fs.fill(0);
    const refused = await refusal(transport.log.publish('raw', messages(100, 100)));
    expect(isSessionflowError(refused, 'LOG_UNAVAILABLE'), String(refused)).toBe(true);
    expect(storageFault(refused)).toBe('io');
    // The consumer handles its batch now, and cannot commit its position on the full disk.
    open();
    await new Promise((r) => setTimeout(r, 2000));
    expect(state.stopped).toBeUndefined();

    fs.free();
    await eventually(async () => ((await refusal(transport!.log.publish('raw', messages(100, 100)))) === undefined ? true : undefined), 20_000, 'a publish after the space came back');
    expect(await transport.log.endOffsets('raw')).toEqual(new Map([['raw:0', 200]]));
    await eventually(async () => (seen.length >= 200 ? true : undefined), 20_000, 'the consumer to read everything');
    expect(seen).toEqual(upTo(200));
    expect(state.stopped).toBeUndefined();
    await eventually(async () => ((await transport!.log.committedOffsets(group, 'raw')).get('raw:0') === 200 ? true : undefined), 10_000, 'the position');
  }, 60_000);

  it('opens the file again after DuckDB invalidated it, and goes on from the offsets the file holds', async () => {
    file = await DuckDBFile.open(join(fs.path, 'log.duckdb'));
    log = await EmbeddedLog.open(file);
    await log.createTopics([{ topic: 'raw', partitions: 1 }]);
    const { seen, state } = await recorder(log);
    await log.publish('raw', messages(0, 100));
    await eventually(async () => (seen.length === 100 ? true : undefined), 10_000, 'the consumer to read the first messages');

    fs.fill(0);
    // A checkpoint on the full disk, as DuckDB runs one past the WAL threshold: it invalidates the instance.
    const other = await file.connect();
    const checkpoint = await refusal(other.use((conn) => conn.run('CHECKPOINT')));
    expect(storageFault(checkpoint), String(checkpoint)).toBe('invalidated');
    const refused = await refusal(log.publish('raw', messages(100, 100)));
    expect(storageFault(refused), String(refused)).toBe('invalidated');
    expect(log.writable).toBe(false);
    await new Promise((r) => setTimeout(r, 1500));
    expect(log.writable).toBe(false);
    expect(state.stopped).toBeUndefined();

    fs.free();
    await eventually(async () => (log!.writable ? true : undefined), 20_000, 'the log to be writable again');
    await log.publish('raw', messages(100, 100));
    expect(await log.endOffsets('raw')).toEqual(new Map([['raw:0', 200]]));
    await eventually(async () => (seen.length >= 200 ? true : undefined), 20_000, 'the consumer to read what came after');
    expect(seen).toEqual(upTo(200));
    expect(state.stopped).toBeUndefined();
    expect((await log.committedOffsets('g', 'raw')).get('raw:0')).toBeGreaterThanOrEqual(100);
    other.closeSync();
  }, 60_000);
});
