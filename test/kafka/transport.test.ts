/**
 * The Kafka transport against a real Apache Kafka broker and a real Confluent-compatible
 * registry (Apicurio), found or started by stack-setup.ts: the shared contract suites, then what
 * only Kafka has (partitions shared in a group, Java key placement, compaction, seek over a
 * committed offset, grouped sends).
 */
import { randomUUID } from 'node:crypto';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { KafkaLog } from '../../lib/log/kafka.js';
import type { Log, LogRecord, TopicPartition } from '../../lib/log/types.js';
import { createLogger } from '../../lib/logger.js';
import { ConfluentRegistry } from '../../lib/registry/confluent.js';
import { logContract } from '../lib/log-contract.js';
import { registryContract } from '../lib/registry-contract.js';
import type { KafkaStack } from './stack-setup.js';

const stack: KafkaStack = inject('kafkaStack');
const ci = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const unavailable = 'unavailable' in stack ? stack.unavailable : undefined;
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'error');

/** The stack, or (in CI) a failure that says why there is none. */
function need(): { brokers: string[]; registryUrl: string } {
  if ('unavailable' in stack) throw new Error(`no Kafka test stack: ${stack.unavailable}`);
  return stack;
}

let clients = 0;
const openLog = () => KafkaLog.connect({ brokers: need().brokers, clientId: `sessionflow-test-${++clients}`, logger });
const unique = (what: string) => `kafka.${what}.${randomUUID().slice(0, 8)}`;
const text = (b: Buffer | null) => (b ? b.toString('utf8') : null);

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A group member that records what it is given and, through `seek`, what it is assigned. */
async function member(log: Log, group: string, topic: string, seekTo?: number, seekDelayMs = 0) {
  const seen: LogRecord[] = [];
  let assigned: TopicPartition[] = [];
  const consumer = await log.consume({
    group,
    topics: [topic],
    seek: async (tps) => {
      assigned = tps;
      await new Promise((resolve) => setTimeout(resolve, seekDelayMs));
      return new Map(seekTo === undefined ? [] : tps.map((tp) => [`${tp.topic}:${tp.partition}`, seekTo]));
    },
    eachBatch: async (batch) => {
      seen.push(...batch.records);
    },
  });
  return { seen, consumer, assigned: () => assigned.map((tp) => tp.partition).sort() };
}

if (unavailable && !ci) {
  it.skip(`Kafka transport (skipped: ${unavailable})`, () => undefined);
} else {
  logContract('kafka', { open: openLog });
  registryContract('confluent-compatible (Apicurio)', {
    open: async () => new ConfluentRegistry({ url: need().registryUrl }),
  });

  describe('Kafka only', () => {
    const open: Log[] = [];
    let admin: Promise<Admin> | undefined;
    const client = async () => {
      const log = await openLog();
      open.push(log);
      return log;
    };
    /** A plain kafkajs admin, to look at the broker's side (made on first use, so every test fails alone without a stack). */
    const kafkaAdmin = () =>
      (admin ??= (async () => {
        const a = new Kafka({
          clientId: 'sessionflow-test-admin',
          brokers: need().brokers,
          logLevel: logLevel.NOTHING,
        }).admin();
        await a.connect();
        return a;
      })());
    afterEach(async () => {
      for (const log of open.splice(0)) await log.close();
    });
    afterAll(async () => {
      await (await admin?.catch(() => undefined))?.disconnect();
    });

    it('shares the partitions of a topic between two members of a group, each message seen once', async () => {
      const [a, b] = [await client(), await client()];
      const topic = unique('shared');
      const group = unique('group');
      await a.createTopics([{ topic, partitions: 4 }]);
      const one = await member(a, group, topic);
      const two = await member(b, group, topic);
      await eventually(
        () =>
          new Set([...one.assigned(), ...two.assigned()]).size === 4 &&
          one.assigned().length === 2 &&
          two.assigned().length === 2,
        'two partitions each',
      );

      await a.publish(
        topic,
        Array.from({ length: 200 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) })),
      );
      await eventually(() => one.seen.length + two.seen.length >= 200, 'all 200 messages');
      await new Promise((resolve) => setTimeout(resolve, 500)); // room for a duplicate to show up
      await Promise.all([one.consumer.stop(), two.consumer.stop()]);

      const values = [...one.seen, ...two.seen].map((r) => text(r.value));
      expect(values).toHaveLength(200);
      expect(new Set(values).size).toBe(200);
      expect(one.seen.length).toBeGreaterThan(0);
      expect(two.seen.length).toBeGreaterThan(0);
      for (const m of [one, two]) for (const r of m.seen) expect(m.assigned()).toContain(r.partition);
    });

    it('moves the partitions of a stopped member to the one that stays, from its committed position', async () => {
      const [a, b] = [await client(), await client()];
      const topic = unique('handover');
      const group = unique('group');
      await a.createTopics([{ topic, partitions: 4 }]);
      const stays = await member(a, group, topic);
      const leaves = await member(b, group, topic);
      await eventually(() => stays.assigned().length === 2 && leaves.assigned().length === 2, 'two partitions each');
      await a.publish(
        topic,
        Array.from({ length: 100 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`first${i}`) })),
      );
      const committed = async () => [...(await a.committedOffsets(group, topic)).values()].reduce((x, y) => x + y, 0);
      await eventually(async () => (await committed()) === 100, 'the first 100 committed');
      await leaves.consumer.stop();
      await eventually(() => stays.assigned().length === 4, 'all four partitions on the member that stays');

      await a.publish(
        topic,
        Array.from({ length: 100 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`second${i}`) })),
      );
      await eventually(
        () => stays.seen.filter((r) => text(r.value)!.startsWith('second')).length >= 100,
        'the second 100 on the member that stays',
      );
      await stays.consumer.stop();
      const values = [...stays.seen, ...leaves.seen].map((r) => text(r.value));
      expect(new Set(values).size).toBe(values.length);
      expect(values).toHaveLength(200);
      expect(new Set(stays.seen.filter((r) => text(r.value)!.startsWith('second')).map((r) => r.partition))).toEqual(
        new Set([0, 1, 2, 3]),
      );
    });

    it.each([
      { before: 10, after: 0, seek: 3, why: 'behind the committed offset' },
      { before: 3, after: 7, seek: 7, why: 'ahead of the committed offset' },
      { before: 3, after: 7, seek: 7, delay: 1_500, why: 'ahead of the committed offset, with a slow seek' },
    ])('starts exactly where seek says, $why', async ({ before, after, seek, delay }) => {
      const log = await client();
      const topic = unique('seek');
      const group = unique('group');
      const publish = (from: number, n: number) =>
        log.publish(
          topic,
          Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`s${from + i}`) })),
        );
      await log.createTopics([{ topic, partitions: 1 }]);
      await publish(0, before);
      const first = await member(log, group, topic);
      await eventually(() => first.seen.length >= before, `${before} records`);
      await first.consumer.stop();
      expect((await log.committedOffsets(group, topic)).get(`${topic}:0`)).toBe(before);
      await publish(before, after);

      const m = await member(log, group, topic, seek, delay);
      await eventually(() => m.seen.length >= 10 - seek, `${10 - seek} records`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await m.consumer.stop();
      expect(m.seen.map((r) => r.offset)).toEqual(Array.from({ length: 10 - seek }, (_, i) => seek + i));
      expect((await log.committedOffsets(group, topic)).get(`${topic}:0`)).toBe(10);
    });

    it('puts keys on the partitions the Java client puts them (murmur2)', async () => {
      // Expected partitions computed with org.apache.kafka.common.utils.Utils.murmur2 (kafka-clients 4.1.2), 4 partitions.
      const expected: Record<string, number> = {
        'session-1': 0,
        'session-2': 3,
        'session-3': 2,
        'session-4': 2,
        'session-5': 1,
        'zoom:abc': 1,
        'apizee:42': 0,
        'mluvii:7': 2,
      };
      const log = await client();
      const topic = unique('murmur');
      await log.createTopics([{ topic, partitions: 4 }]);
      await log.publish(
        topic,
        Object.keys(expected).map((k) => ({ key: Buffer.from(k), value: Buffer.from('x') })),
      );
      const m = await member(log, unique('group'), topic);
      await eventually(() => m.seen.length >= 8, 'eight records');
      await m.consumer.stop();
      expect(Object.fromEntries(m.seen.map((r) => [text(r.key), r.partition]))).toEqual(expected);
    });

    it('creates compacted topics with cleanup.policy=compact, and accepts topics that exist', async () => {
      const log = await client();
      const [compacted, plain] = [unique('compacted'), unique('plain')];
      const specs = [
        { topic: compacted, partitions: 1, compacted: true },
        { topic: plain, partitions: 2 },
      ];
      await log.createTopics(specs);
      await log.createTopics(specs);
      const { resources } = await (await kafkaAdmin()).describeConfigs({
        includeSynonyms: false,
        resources: [compacted, plain].map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configNames: ['cleanup.policy'],
        })),
      });
      const policy = (name: string) =>
        resources.find((r) => r.resourceName === name)?.configEntries.find((e) => e.configName === 'cleanup.policy')
          ?.configValue;
      expect(policy(compacted)).toBe('compact');
      expect(policy(plain)).toBe('delete');
      expect((await log.endOffsets(plain)).size).toBe(2);
    });

    it("keeps grouped sends under a topic's max.message.bytes: small publishes never share a refusal, a larger one is refused alone", async () => {
      const log = await client();
      const topic = unique('maxbytes');
      await log.createTopics([{ topic, partitions: 2, maxMessageBytes: 20_000 }]);
      await log.publish(topic, [{ key: null, value: Buffer.alloc(100, 'w') }]); // metadata and producer id warm
      const small = Array.from({ length: 300 }, (_, i) =>
        log.publish(topic, [{ key: Buffer.from(`session-${i % 7}`), value: Buffer.alloc(1_000, 's') }]),
      );
      const large = log.publish(topic, [{ key: null, value: Buffer.alloc(30_000, 'L') }]);
      const many = log.publish(
        topic,
        Array.from({ length: 100 }, () => ({ key: null, value: Buffer.alloc(1_000, 'm') })),
      ); // one publish, 100 KB
      const [smallOutcomes, largeOutcome, manyOutcome] = await Promise.all([
        Promise.allSettled(small),
        large.then(
          () => undefined,
          (err: unknown) => err,
        ),
        many.then(
          () => 'ok',
          (err: unknown) => err,
        ),
      ]);
      const refused = smallOutcomes.filter((o) => o.status === 'rejected');
      const total = [...(await log.endOffsets(topic)).values()].reduce((x, y) => x + y, 0);
      console.log(
        `[kafka max.message.bytes 20000] 300 concurrent publishes of 1 KB: ${300 - refused.length} acknowledged, ${refused.length} refused; one publish of 100 x 1 KB: ${manyOutcome === 'ok' ? 'acknowledged' : String(manyOutcome)}; one of 30 KB: ${(largeOutcome as { code?: string })?.code}; stored ${total - 1} of 400 expected`,
      );
      expect(refused).toEqual([]);
      expect(manyOutcome).toBe('ok');
      expect(largeOutcome).toMatchObject({ code: 'BODY_TOO_LARGE' });
      expect(total).toBe(1 + 300 + 100);
    });

    it('reads max.message.bytes again when the topic was altered to less: grouped small publishes are retried, never refused as too large', async () => {
      const log = await client();
      const topic = unique('altered');
      await log.createTopics([{ topic, partitions: 1, maxMessageBytes: 200_000 }]);
      await log.publish(topic, [{ key: null, value: Buffer.alloc(100, 'w') }]); // reads the limit: 200,000
      await (await kafkaAdmin()).alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: topic,
            configEntries: [{ name: 'max.message.bytes', value: '5000' }],
          },
        ],
      });
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // the broker applies a topic's new config within moments
      const publish = () => log.publish(topic, [{ key: null, value: Buffer.alloc(1_000, 's') }]);
      const first = await Promise.allSettled(Array.from({ length: 50 }, publish));
      const failed = first
        .filter((o): o is PromiseRejectedResult => o.status === 'rejected')
        .map((o) => o.reason as { code?: string });
      const retried = await Promise.allSettled(failed.map(publish));
      const total = [...(await log.endOffsets(topic)).values()].reduce((x, y) => x + y, 0);
      console.log(
        `[kafka max.message.bytes lowered to 5000] 50 concurrent publishes of 1 KB: ${50 - failed.length} acknowledged, ${failed.length} failed (${[...new Set(failed.map((f) => f.code))].join(', ') || 'none'}); retried: ${retried.filter((o) => o.status === 'fulfilled').length} acknowledged; stored ${total - 1}`,
      );
      expect(failed.filter((f) => f.code === 'BODY_TOO_LARGE')).toEqual([]);
      expect(retried.filter((o) => o.status === 'rejected')).toEqual([]);
      expect(total).toBe(1 + 50);
    });

    it("creates topics with replication factor 1 on a single broker, with the broker's min.insync.replicas", async () => {
      const log = await KafkaLog.connect({
        brokers: need().brokers,
        clientId: `sessionflow-test-${++clients}`,
        logger,
        replicationFactor: 1,
      });
      open.push(log);
      const topic = unique('rf1');
      await log.createTopics([{ topic, partitions: 1 }]);
      await log.publish(topic, [{ key: null, value: Buffer.from('x') }]);
      const { resources } = await (await kafkaAdmin()).describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }],
      });
      expect(resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue).toBe('1');
      expect((await log.endOffsets(topic)).get(`${topic}:0`)).toBe(1);
    });

    it('groups concurrent publishes into few produce requests', async () => {
      const log = await client();
      const topic = unique('throughput');
      await log.createTopics([{ topic, partitions: 3 }]);
      const body = Buffer.alloc(300, 'x');
      await log.publish(topic, [{ key: null, value: body }]); // metadata and producer id warm
      const sendsBefore = (log as KafkaLog).stats.sends;

      const n = 2_000;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          log.publish(topic, [{ key: Buffer.from(`session-${i % 97}`), value: body }]),
        ),
      );
      const concurrentMs = performance.now() - t0;
      const sends = (log as KafkaLog).stats.sends - sendsBefore;

      const m = 200;
      const t1 = performance.now();
      for (let i = 0; i < m; i++) await log.publish(topic, [{ key: null, value: body }]);
      const sequentialMs = performance.now() - t1;

      const total = [...(await log.endOffsets(topic)).values()].reduce((x, y) => x + y, 0);
      expect(total).toBe(1 + n + m);
      expect(sends).toBeLessThan(n / 10);
      console.log(
        `[kafka publish] ${n} concurrent single-message publishes (300 B): ${concurrentMs.toFixed(0)} ms, ` +
          `${Math.round((n / concurrentMs) * 1000)} publishes/s in ${sends} sends; ` +
          `${m} sequential publishes: ${Math.round((m / sequentialMs) * 1000)} publishes/s (${(sequentialMs / m).toFixed(1)} ms each)`,
      );
    });
  });
}
