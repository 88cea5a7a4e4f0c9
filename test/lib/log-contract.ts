/**
 * The contract every Log implementation keeps. Run by embedded-log.test.ts and by the Kafka
 * suite unchanged: `open()` gives a new client onto the same underlying store.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Log, LogRecord, MessageBatch } from '../../lib/log/types.js';

export interface LogHarness {
  open(): Promise<Log>;
}

function collect(log: Log, group: string, topics: string[], extra: Partial<Parameters<Log['consume']>[0]> = {}) {
  const seen: LogRecord[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const consumer = log.consume({
    group,
    topics,
    ...extra,
    eachBatch: async (batch: MessageBatch) => {
      if (extra.eachBatch) await extra.eachBatch(batch);
      seen.push(...batch.records);
      for (const w of waiters) if (seen.length >= w.n) w.resolve();
    },
  });
  const until = (n: number, ms = 15_000) =>
    new Promise<void>((resolve, reject) => {
      if (seen.length >= n) return resolve();
      const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of ${n} records`)), ms);
      waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  return { seen, consumer, until };
}

const text = (b: Buffer | null) => (b ? b.toString('utf8') : null);

export function logContract(name: string, harness: LogHarness): void {
  describe(`Log contract: ${name}`, () => {
    const open: Log[] = [];
    const client = async () => {
      const log = await harness.open();
      open.push(log);
      return log;
    };
    afterEach(async () => {
      for (const log of open.splice(0)) await log.close();
    });
    const unique = (what: string) => `contract.${what}.${randomUUID().slice(0, 8)}`;

    it('delivers messages with the same key in publish order, with their key and value', async () => {
      const log = await client();
      const topic = unique('order');
      await log.createTopics([{ topic, partitions: 3 }]);
      for (let i = 0; i < 20; i++) {
        await log.publish(topic, [{ key: Buffer.from(`k${i % 2}`), value: Buffer.from(`v${i}`) }]);
      }
      const { seen, consumer, until } = collect(log, unique('group'), [topic]);
      const c = await consumer;
      await until(20);
      await c.stop();
      for (const k of ['k0', 'k1']) {
        const values = seen.filter((r) => text(r.key) === k).map((r) => text(r.value));
        expect(values).toEqual(Array.from({ length: 10 }, (_, j) => `v${j * 2 + (k === 'k1' ? 1 : 0)}`));
      }
      const perPartition = new Map<number, number[]>();
      for (const r of seen) perPartition.set(r.partition, [...(perPartition.get(r.partition) ?? []), r.offset]);
      for (const offsets of perPartition.values()) expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    });

    it('publishes many concurrent batches without losing or duplicating any', async () => {
      const log = await client();
      const topic = unique('concurrent');
      await log.createTopics([{ topic, partitions: 2 }]);
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          log.publish(topic, [
            { key: null, value: Buffer.from(`m${i}`) },
            { key: null, value: Buffer.from(`n${i}`) },
          ]),
        ),
      );
      const { seen, consumer, until } = collect(log, unique('group'), [topic]);
      const c = await consumer;
      await until(100);
      await c.stop();
      expect(new Set(seen.map((r) => text(r.value))).size).toBe(100);
      const ends = await log.endOffsets(topic);
      expect([...ends.values()].reduce((a, b) => a + b, 0)).toBe(100);
    });

    it('resumes a group after its committed position, in a new client', async () => {
      const topic = unique('resume');
      const group = unique('group');
      const first = await client();
      await first.createTopics([{ topic, partitions: 1 }]);
      await first.publish(
        topic,
        [1, 2, 3].map((i) => ({ key: null, value: Buffer.from(`a${i}`) })),
      );
      const one = collect(first, group, [topic]);
      const c1 = await one.consumer;
      await one.until(3);
      await c1.stop();
      expect((await first.committedOffsets(group, topic)).get(`${topic}:0`)).toBe(3);
      await first.publish(topic, [{ key: null, value: Buffer.from('b1') }]);
      await first.close();
      open.splice(open.indexOf(first), 1);

      const second = await client();
      const two = collect(second, group, [topic]);
      const c2 = await two.consumer;
      await two.until(1);
      await c2.stop();
      expect(two.seen.map((r) => text(r.value))).toEqual(['b1']);
    });

    it('starts where seek says for the partitions it returns', async () => {
      const log = await client();
      const topic = unique('seek');
      await log.createTopics([{ topic, partitions: 1 }]);
      await log.publish(
        topic,
        [0, 1, 2, 3, 4].map((i) => ({ key: null, value: Buffer.from(`s${i}`) })),
      );
      const { seen, consumer, until } = collect(log, unique('group'), [topic], {
        seek: async (assigned) => new Map(assigned.map((tp) => [`${tp.topic}:${tp.partition}`, 3])),
      });
      const c = await consumer;
      await until(2);
      await c.stop();
      expect(seen.map((r) => text(r.value))).toEqual(['s3', 's4']);
    });

    it('does not move the position past a batch whose handler failed, and reports the error', async () => {
      const log = await client();
      const topic = unique('fail');
      const group = unique('group');
      await log.createTopics([{ topic, partitions: 1 }]);
      await log.publish(topic, [{ key: null, value: Buffer.from('x') }]);
      const consumer = await log.consume({
        group,
        topics: [topic],
        eachBatch: async () => {
          throw new Error('warehouse down');
        },
      });
      await expect(consumer.done).rejects.toThrow('warehouse down');
      expect((await log.committedOffsets(group, topic)).get(`${topic}:0`) ?? 0).toBe(0);
    });

    it('lets a second client in beside the first when it says it is shared, and refuses it when not', async () => {
      const log = await client();
      const topic = unique('shared');
      await log.createTopics([{ topic, partitions: 1 }]);
      await log.publish(topic, [{ key: null, value: Buffer.from('both') }]);
      if (!log.capabilities.shared) {
        const second = await harness.open().catch((err: unknown) => err);
        if (!(second instanceof Error)) await (second as Log).close();
        expect(second).toBeInstanceOf(Error);
        return;
      }
      const { seen, consumer, until } = collect(await client(), unique('group'), [topic]);
      const c = await consumer;
      await until(1);
      await c.stop();
      expect(seen.map((r) => text(r.value))).toEqual(['both']);
    });

    it('delivers a message published after the consumer started', async () => {
      const log = await client();
      const topic = unique('live');
      await log.createTopics([{ topic, partitions: 1 }]);
      const { seen, consumer, until } = collect(log, unique('group'), [topic]);
      const c = await consumer;
      await log.publish(topic, [{ key: Buffer.from('k'), value: Buffer.from('late') }]);
      await until(1);
      await c.stop();
      expect(text(seen[0]!.value)).toBe('late');
    });
  });
}
