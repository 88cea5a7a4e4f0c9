import { appendFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { AvroCodec } from '../../lib/avro.js';
import { SessionflowError } from '../../lib/errors.js';
import type { RawWebhook } from '../../lib/canonical.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import type { Log } from '../../lib/log/types.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { topicsFor } from '../../lib/topics.js';
import { Spool } from '../../ingest/spool.js';
import { createSpoolingSink } from '../../ingest/spooling-sink.js';
import { wrap } from '../../ingest/envelope.js';
import { tempDir } from '../helpers/tmp.js';

const rec = (i: number) => ({
  topic: i % 2 ? 'a' : 'b',
  key: i % 3 ? Buffer.from(`k${i}`) : null,
  value: Buffer.from(`value-${i}`),
});

describe('spool', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir('sessionflow-spool-')));
  afterEach(() => dir.remove());

  it('gives back what was appended, in order, across a reopen, and empties once drained', async () => {
    const spool = await Spool.open(dir.path);
    await Promise.all([0, 1, 2, 3, 4].map((i) => spool.append([rec(i)])));
    await spool.append([rec(5), rec(6)]);
    expect(spool.pending).toBe(7);
    const first = await spool.peek(3);
    expect(first.records.map((r) => r.value.toString())).toEqual(['value-0', 'value-1', 'value-2']);
    expect(first.records[0]!.key).toBeNull();
    await spool.ack(first.next, 3);
    await spool.close();

    const again = await Spool.open(dir.path);
    expect(again.pending).toBe(4);
    const rest = await again.peek(100);
    expect(rest.records.map((r) => [r.topic, r.key?.toString() ?? null, r.value.toString()])).toEqual(
      [3, 4, 5, 6].map((i) => [rec(i).topic, rec(i).key?.toString() ?? null, `value-${i}`]),
    );
    await again.ack(rest.next, 4);
    expect(again.pending).toBe(0);
    expect(statSync(join(dir.path, 'spool.log')).size).toBe(0);
    await again.close();
  });

  it('cuts a torn frame left by a crash while appending', async () => {
    const spool = await Spool.open(dir.path);
    await spool.append([rec(1), rec(2)]);
    await spool.close();
    appendFileSync(join(dir.path, 'spool.log'), Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 9, 9])); // a header promising 40 bytes, then 2
    const reopened = await Spool.open(dir.path);
    expect(reopened.pending).toBe(2);
    await reopened.append([rec(3)]);
    expect((await reopened.peek(10)).records.map((r) => r.value.toString())).toEqual(['value-1', 'value-2', 'value-3']);
    await reopened.close();
  });
});

describe('spooling sink', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  beforeEach(async () => {
    dir = tempDir('sessionflow-spool-');
    transport = await openEmbeddedTransport(dir.path);
  });
  afterEach(async () => {
    await transport.close();
    dir.remove();
  });

  /**
   * The real log, behind a switch that makes publishes hang as an unreachable Kafka does, and
   * refusing any message over `maxBytes` as a topic's max.message.bytes does.
   */
  function switchable(log: Log, maxBytes = Infinity, announceLimit = false) {
    let down = false;
    const hung: Array<() => void> = [];
    const wrapped: Log = Object.create(log);
    // A log that says what its topics take, as KafkaLog reads max.message.bytes from the broker.
    if (announceLimit) wrapped.messageLimit = async () => maxBytes;
    const publish: Log['publish'] = (topic, messages) =>
      messages.some((m) => m.value.length > maxBytes)
        ? Promise.reject(new SessionflowError('BODY_TOO_LARGE', 'max.message.bytes'))
        : log.publish(topic, messages);
    wrapped.publish = (topic, messages) =>
      down
        ? new Promise((resolve, reject) => hung.push(() => publish(topic, messages).then(resolve, reject)))
        : publish(topic, messages);
    return {
      log: wrapped,
      setDown(value: boolean) {
        down = value;
        if (!down) for (const release of hung.splice(0)) release();
      },
    };
  }

  it('acknowledges within the timeout while the log is down, then republishes everything in order', async () => {
    const topics = topicsFor('spool.');
    await transport.log.createTopics(topics.specs(1));
    const codec = new AvroCodec(transport.registry);
    const target = switchable(transport.log);
    const spool = await Spool.open(join(dir.path, 'spool'));
    const sink = await createSpoolingSink(target.log, codec, topics, spool, createLogger('silent'), {
      ackTimeoutMs: 200,
    });
    const raw = (i: number): RawWebhook =>
      wrap({
        provider: 'zoom',
        source: 'webhook',
        receivedAt: Date.now() * 1000,
        dedupKey: `d${i}`,
        headers: {},
        body: Buffer.from(`{"n":${i}}`),
      });

    await sink.write(raw(0), null);
    target.setDown(true);
    const started = Date.now();
    await Promise.all([1, 2, 3].map((i) => sink.write(raw(i), 'zoom:s')));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sink.spooled).toBe(3);
    await sink.write(raw(4), null); // joins the spool behind the others
    expect(sink.spooled).toBe(4);

    target.setDown(false);
    const reader = codec.deserializer<RawWebhook>('RawWebhook');
    const bodies: string[] = [];
    const consumer = await transport.log.consume({
      group: 'check',
      topics: [topics.raw('zoom')],
      eachBatch: async (b) => {
        for (const r of b.records) bodies.push((await reader.decode(r.value)).body.toString());
      },
    });
    const deadline = Date.now() + 10_000;
    while (new Set(bodies).size < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    await sink.close();
    expect([...new Set(bodies)]).toEqual([0, 1, 2, 3, 4].map((i) => `{"n":${i}}`));
    expect(sink.spooled).toBe(0);
    await spool.close();
  });

  it('refuses a delivery larger than the topic takes (413), and sets one aside that was spooled, without blocking the others', async () => {
    const topics = topicsFor('spool.');
    await transport.log.createTopics(topics.specs(1));
    const codec = new AvroCodec(transport.registry);
    const target = switchable(transport.log, 2000);
    const spool = await Spool.open(join(dir.path, 'spool'));
    const sink = await createSpoolingSink(target.log, codec, topics, spool, createLogger('silent'), {
      ackTimeoutMs: 200,
    });
    const raw = (i: number, size = 10): RawWebhook =>
      wrap({
        provider: 'zoom',
        source: 'webhook',
        receivedAt: Date.now() * 1000,
        dedupKey: `d${i}`,
        headers: {},
        body: Buffer.from(`{"n":${i},"pad":"${'x'.repeat(size)}"}`),
      });

    await expect(sink.write(raw(0, 5000), null)).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
    expect(sink.spooled).toBe(0);

    target.setDown(true); // while down, even an oversized one is spooled: this log announces no limit, so nobody can tell yet
    await Promise.all([sink.write(raw(1), null), sink.write(raw(2, 5000), null), sink.write(raw(3), null)]);
    expect(sink.spooled).toBe(3);
    target.setDown(false);

    const reader = codec.deserializer<RawWebhook>('RawWebhook');
    const published = new Set<number>();
    const consumer = await transport.log.consume({
      group: 'check',
      topics: [topics.raw('zoom')],
      eachBatch: async (b) => {
        for (const r of b.records)
          published.add((JSON.parse((await reader.decode(r.value)).body.toString()) as { n: number }).n);
      },
    });
    const deadline = Date.now() + 10_000;
    while ((sink.spooled > 0 || !published.has(3)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    await sink.close();
    expect([...published].sort()).toEqual([1, 3]);
    expect(sink.spooled).toBe(0);
    expect(readdirSync(join(dir.path, 'spool', 'too-large'))).toHaveLength(1);
    await spool.close();
  });

  it('refuses with 413 a delivery larger than its topic takes, also while the spool holds a backlog', async () => {
    const topics = topicsFor('spool.');
    await transport.log.createTopics(topics.specs(1));
    const codec = new AvroCodec(transport.registry);
    const target = switchable(transport.log, 2000, true);
    const spool = await Spool.open(join(dir.path, 'spool'));
    const sink = await createSpoolingSink(target.log, codec, topics, spool, createLogger('silent'), {
      ackTimeoutMs: 200,
    });
    const raw = (i: number, size = 10): RawWebhook =>
      wrap({
        provider: 'zoom',
        source: 'webhook',
        receivedAt: Date.now() * 1000,
        dedupKey: `d${i}`,
        headers: {},
        body: Buffer.from(`{"n":${i},"pad":"${'x'.repeat(size)}"}`),
      });

    target.setDown(true);
    await sink.write(raw(1), null);
    expect(sink.spooled).toBe(1);
    await expect(sink.write(raw(2, 5000), null)).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
    await sink.write(raw(3), null);
    expect(sink.spooled).toBe(2);
    target.setDown(false);
    const deadline = Date.now() + 10_000;
    while (sink.spooled > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await sink.close();
    expect(sink.spooled).toBe(0);
    expect(existsSync(join(dir.path, 'spool', 'too-large'))).toBe(false);
    await spool.close();
  });

  it('sets aside each oversized delivery found in the spool under a name of its own, and counts it', async () => {
    const topics = topicsFor('spool.');
    await transport.log.createTopics(topics.specs(1));
    const codec = new AvroCodec(transport.registry);
    const target = switchable(transport.log, 2000); // the limit is only found out by publishing
    const metrics = createMetrics();
    const spool = await Spool.open(join(dir.path, 'spool'), { metrics });
    const sink = await createSpoolingSink(target.log, codec, topics, spool, createLogger('silent'), {
      ackTimeoutMs: 200,
    });
    const raw = (i: number, size = 10): RawWebhook =>
      wrap({
        provider: 'zoom',
        source: 'webhook',
        receivedAt: Date.now() * 1000,
        dedupKey: `d${i}`,
        headers: {},
        body: Buffer.from(`{"n":${i},"pad":"${'x'.repeat(size)}"}`),
      });

    target.setDown(true);
    for (const [i, size] of [
      [1, 10],
      [2, 5000],
      [3, 5000],
      [4, 5000],
      [5, 10],
    ] as const)
      await sink.write(raw(i, size), null);
    expect(sink.spooled).toBe(5);
    target.setDown(false);
    const deadline = Date.now() + 10_000;
    while (sink.spooled > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await sink.close();
    await spool.close();
    const files = readdirSync(join(dir.path, 'spool', 'too-large'));
    expect(files).toHaveLength(3);
    for (const f of files) expect(f).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}-spool\.raw\.zoom\.v1\.avro$/);
    expect((await metrics.spoolSetAside.get()).values.find((v) => v.labels.reason === 'too_large')?.value).toBe(3);
  });
});
