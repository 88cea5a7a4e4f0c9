import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedLog } from '../../lib/log/embedded.js';
import type { Log } from '../../lib/log/types.js';
import { EmbeddedRegistry } from '../../lib/registry/embedded.js';
import { logContract } from './log-contract.js';
import { registryContract } from './registry-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionflow-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One folder per suite; a "new client" opens the same folder again (the one before is closed first). */
logContract('embedded (segment files)', { open: () => EmbeddedLog.open(join(dir, 'log')) });
registryContract('embedded (registry.json)', { open: () => EmbeddedRegistry.open(join(dir, 'registry')) });

/** Every record of a topic partition, read by a group of its own. */
async function readAll(log: Log, topic: string, expected: number): Promise<string[]> {
  const seen: string[] = [];
  const consumer = await log.consume({
    group: `read-${Math.random()}`,
    topics: [topic],
    eachBatch: async (b) => void seen.push(...b.records.map((r) => r.value.toString())),
  });
  const deadline = Date.now() + 5000;
  while (seen.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20)); // and nothing more comes
  await consumer.stop();
  return seen;
}

describe('embedded log retention', () => {
  it('removes old segments every group has consumed, keeps the rest, and compacts keyed topics', async () => {
    // Tiny segments: every append after the first in a segment starts a new one.
    const log = await EmbeddedLog.open(join(dir, 'retention'), { segmentBytes: 1 });
    await log.createTopics([
      { topic: 'raw', partitions: 1 },
      { topic: 'facts', partitions: 1, compacted: true },
    ]);
    await log.publish(
      'raw',
      [1, 2, 3, 4].map((i) => ({ key: null, value: Buffer.from(`r${i}`) })),
    );
    for (const [i, k] of ['a', 'b', 'a', 'a'].entries())
      await log.publish('facts', [{ key: Buffer.from(k), value: Buffer.from(`${k}${i}`) }]);
    const seen: string[] = [];
    const consumer = await log.consume({
      group: 'g',
      topics: ['raw'],
      eachBatch: async (b) => void seen.push(...b.records.map((r) => r.value.toString())),
    });
    while (seen.length < 4) await new Promise((r) => setTimeout(r, 10));
    await consumer.stop();
    await log.publish('raw', [{ key: null, value: Buffer.from('r5') }]); // not consumed yet, in a segment of its own
    const segments = (topic: string) =>
      readdirSync(join(dir, 'retention', 'topics', topic, '0')).filter((n) => n.endsWith('.log'));
    expect(segments('raw')).toHaveLength(2);

    expect(await log.prune(60_000)).toBe(2); // nothing is old yet: only the two replaced 'a' facts go
    expect(await log.prune(-1)).toBe(4); // r1..r4: consumed and past retention; r5 is unread
    expect(segments('raw')).toEqual(['00000000000000000004.log']);
    expect(await readAll(log, 'raw', 1)).toEqual(['r5']);
    expect(await readAll(log, 'facts', 2)).toEqual(['b1', 'a3']);
    expect(await log.endOffsets('raw')).toEqual(new Map([['raw:0', 5]]));
    await log.close();

    // The same after a restart: offsets go on where they were.
    const again = await EmbeddedLog.open(join(dir, 'retention'));
    expect(await again.endOffsets('raw')).toEqual(new Map([['raw:0', 5]]));
    expect(await readAll(again, 'facts', 2)).toEqual(['b1', 'a3']);
    await again.publish('raw', [{ key: null, value: Buffer.from('r6') }]);
    expect(await again.endOffsets('raw')).toEqual(new Map([['raw:0', 6]]));
    await again.close();
  });
});

describe('embedded log limits', () => {
  it("refuses a publish over the topic's maxMessageBytes as Kafka does (BODY_TOO_LARGE), and takes one within it", async () => {
    const log = await EmbeddedLog.open(join(dir, 'limits'));
    await log.createTopics([{ topic: 'small', partitions: 1, maxMessageBytes: 1000 }]);
    await expect(log.publish('small', [{ key: null, value: Buffer.alloc(1000) }])).rejects.toMatchObject({
      code: 'BODY_TOO_LARGE',
    });
    await expect(
      log.publish(
        'small',
        [1, 2, 3].map(() => ({ key: null, value: Buffer.alloc(400) })),
      ),
    ).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
    await log.publish('small', [{ key: null, value: Buffer.alloc(900) }]);
    expect(await log.endOffsets('small')).toEqual(new Map([['small:0', 1]]));
    await log.close();
  });

  it('reads batches bounded by maxBatchSize and by maxBatchBytes (the record that reaches the bound is the last)', async () => {
    const log = await EmbeddedLog.open(join(dir, 'batches'));
    await log.createTopics([{ topic: 'b', partitions: 1 }]);
    await log.publish(
      'b',
      Array.from({ length: 10 }, (_, i) => ({ key: null, value: Buffer.alloc(100, i) })),
    );
    const sizes = async (options: { maxBatchSize?: number; maxBatchBytes?: number }) => {
      const batches: number[] = [];
      const consumer = await log.consume({
        group: `g-${Math.random()}`,
        topics: ['b'],
        ...options,
        eachBatch: async (batch) => void batches.push(batch.records.length),
      });
      while (batches.reduce((a, b) => a + b, 0) < 10) await new Promise((r) => setTimeout(r, 5));
      await consumer.stop();
      return batches;
    };
    expect(await sizes({ maxBatchSize: 4 })).toEqual([4, 4, 2]);
    expect(await sizes({ maxBatchBytes: 250 })).toEqual([3, 3, 3, 1]);
    expect(await sizes({ maxBatchBytes: 50 })).toEqual(Array(10).fill(1));
    await log.close();
  });
});
