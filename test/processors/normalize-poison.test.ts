/**
 * The normalize stage against poison: records that once stopped it for good (an Avro encode
 * throwing on a time past the year 2255, a schema id the registry does not know) become dead
 * letters, and the records after them in the same batch still become events.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import type { DeadLetter, RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { SessionflowError } from '../../lib/errors.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import type { Consumer, Log, OutgoingMessage } from '../../lib/log/types.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { nowMicros } from '../../lib/time.js';
import { topicsFor, valueSubject } from '../../lib/topics.js';
import { wrap } from '../../ingest/envelope.js';
import { normalizeRaw, publishEach, startNormalizer } from '../../processors/normalize.js';
import { startWarehouseSink } from '../../processors/warehouse/stage.js';
import { createWarehouse } from '../../processors/warehouse/writer.js';
import { queryDataset } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../../lib/paths.js';

const fixture = (provider: string, name: string) =>
  JSON.parse(readFileSync(join(projectRoot(), 'test/fixtures', provider, `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
const topics = topicsFor('sessionflow.');

function raw(provider: string, body: unknown): RawWebhook {
  return wrap({
    provider,
    source: 'webhook',
    receivedAt: nowMicros(),
    dedupKey: null,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(body)),
  });
}

describe('normalize against poison', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let codec: AvroCodec;
  let normalizer: Consumer | undefined;
  beforeEach(async () => {
    dir = tempDir('sessionflow-poison-');
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    codec = new AvroCodec(transport.registry);
  });
  afterEach(async () => {
    await normalizer?.stop();
    await transport.close();
    dir.remove();
  });

  /** Everything on a topic so far, decoded, once there are at least `count` (or after 10 s). */
  let reads = 0;
  async function readAll<T>(topic: string, name: 'SessionEvent' | 'DeadLetter', count: number): Promise<T[]> {
    const reader = codec.deserializer<T>(name);
    const seen: T[] = [];
    const consumer = await transport.log.consume({
      group: `read-${reads++}`,
      topics: [topic],
      eachBatch: async (b) => void seen.push(...(await Promise.all(b.records.map((r) => reader.decode(r.value))))),
    });
    const deadline = Date.now() + 10_000;
    while (seen.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await consumer.stop();
    return seen;
  }

  it('dead-letters times outside the accepted range and unknown schema ids, and goes on with the rest of the batch', async () => {
    const rawWriter = (provider: string) =>
      codec.serializer<RawWebhook>(valueSubject(topics.raw(provider)), 'RawWebhook');
    const publishRaw = async (provider: string, body: unknown) => {
      const envelope = raw(provider, body);
      await transport.log.publish(topics.raw(provider), [
        { key: null, value: (await rawWriter(provider)).encode(envelope) },
      ]);
      return envelope.ingest_id;
    };
    // Without the payload's start_time, Zoom's session.started takes its time from event_ts.
    const { start_time: _, ...zoomObject } = (
      fixture('zoom', 'session.started').payload as { object: Record<string, unknown> }
    ).object;
    const zoomStarted = {
      ...fixture('zoom', 'session.started'),
      payload: { ...(fixture('zoom', 'session.started').payload as object), object: zoomObject },
    };
    const mluviiStarted = fixture('mluvii', 'SessionStarted');
    const apizeeConsent = fixture('apizee', 'consent.accepted');
    // The three poison deliveries, each correctly shaped, then a good one behind each.
    const year2500 = await publishRaw('zoom', { ...zoomStarted, event_ts: Date.UTC(2500, 0, 1) });
    const goodZoom = await publishRaw('zoom', zoomStarted);
    const year9999 = await publishRaw('mluvii', {
      ...mluviiStarted,
      data: { ...(mluviiStarted.data as object), started: '9999-12-31T23:59:59.999999+02:00' },
    });
    const goodMluvii = await publishRaw('mluvii', mluviiStarted);
    const apizee9e12 = await publishRaw('apizee', { ...apizeeConsent, time: 9e12 });
    // A record whose wire header names schema id 987654, which no registry here has.
    const unknownSchema = Buffer.concat([Buffer.from([0, 0, 0x0f, 0x12, 0x06]), Buffer.from('not a record')]);
    await transport.log.publish(topics.raw('apizee'), [{ key: null, value: unknownSchema }]);
    const goodApizee = await publishRaw('apizee', apizeeConsent);

    normalizer = await startNormalizer({
      log: transport.log,
      codec,
      topics,
      piiKey: 'k',
      sessionNames: 'hash',
      logger: createLogger('silent'),
      metrics: createMetrics(),
    });
    const letters = await readAll<DeadLetter>(topics.deadLetters, 'DeadLetter', 4);
    const events = await readAll<SessionEvent>(topics.events, 'SessionEvent', 3);

    const byId = new Map(letters.map((l) => [l.ingest_id, l]));
    expect(byId.get(year2500)).toMatchObject({
      stage: 'normalize',
      error_code: 'FIELD_INVALID',
      field_path: 'event_ts',
    });
    expect(byId.get(year2500)!.message).toContain('2500-01-01T00:00:00.000Z is outside the accepted range');
    expect(byId.get(year9999)).toMatchObject({
      stage: 'normalize',
      error_code: 'FIELD_INVALID',
      field_path: 'data.started',
    });
    expect(byId.get(apizee9e12)).toMatchObject({ stage: 'normalize', error_code: 'FIELD_INVALID', field_path: 'time' });
    expect(letters.find((l) => l.error_code === 'SCHEMA_NOT_FOUND')).toMatchObject({
      stage: 'decode',
      provider: 'apizee',
      ingest_id: 'sessionflow.raw.apizee.v1:0:1',
    });
    expect(letters).toHaveLength(4);
    expect(new Set(events.map((e) => e.ingest_id))).toEqual(new Set([goodZoom, goodMluvii, goodApizee]));

    // The stage is still running: a delivery after the poison is normalized too.
    const later = await publishRaw('zoom', { ...zoomStarted, event_ts: Date.UTC(2024, 4, 2, 14, 0, 6) });
    const more = await readAll<SessionEvent>(topics.events, 'SessionEvent', 4);
    expect(more.map((e) => e.ingest_id)).toContain(later);
  });
});

describe('publishEach', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  beforeEach(async () => {
    dir = tempDir('sessionflow-poison-');
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics([{ topic: 't', partitions: 1 }]);
  });
  afterEach(async () => {
    await transport.close();
    dir.remove();
  });

  /** The real log, refusing as Kafka does a send whose bytes together exceed `limit`. */
  const limited = (log: Log, limit: number) => (messages: OutgoingMessage[]) =>
    messages.reduce((sum, m) => sum + m.value.length, 0) > limit
      ? Promise.reject(new SessionflowError('BODY_TOO_LARGE', 'over max.message.bytes'))
      : log.publish('t', messages);

  it('splits a send the log refuses as too large, in order, and returns only what it refuses alone', async () => {
    const items = Array.from({ length: 40 }, (_, i) => ({
      i,
      message: { key: null, value: Buffer.alloc(i === 17 ? 300 : 10, i) },
    }));
    const refused = await publishEach(items, limited(transport.log, 100));
    expect(refused.map((r) => r.i)).toEqual([17]);
    const stored: number[] = [];
    const consumer = await transport.log.consume({
      group: 'g',
      topics: ['t'],
      eachBatch: async (b) => void stored.push(...b.records.map((r) => r.value[0]!)),
    });
    while (stored.length < 39) await new Promise((r) => setTimeout(r, 10));
    await consumer.stop();
    expect(stored).toEqual(items.filter((x) => x.i !== 17).map((x) => x.i));
  });

  it('throws any other error', async () => {
    const items = [{ message: { key: null, value: Buffer.from('x') } }];
    await expect(publishEach(items, () => Promise.reject(new SessionflowError('LOG_UNAVAILABLE')))).rejects.toThrow(
      'the log is unavailable',
    );
  });
});

describe('the warehouse stage against poison', () => {
  it('keeps a record naming an unknown schema id as a dead letter, and stores the records after it', async () => {
    const dir = tempDir('sessionflow-poison-');
    const transport = await openEmbeddedTransport(dir.path);
    const logger = createLogger('silent');
    const warehouse = await createWarehouse({ dataDir: dir.path, logger, idleHorizonMicros: 24 * 3600e6 });
    try {
      await transport.log.createTopics(topics.specs(1));
      const codec = new AvroCodec(transport.registry);
      const events = await codec.serializer<SessionEvent>(valueSubject(topics.events), 'SessionEvent');
      const good = normalizeRaw(raw('zoom', fixture('zoom', 'session.started')), 'k').events;
      await transport.log.publish(topics.events, [
        { key: null, value: Buffer.concat([Buffer.from([0, 0, 0x0f, 0x12, 0x06]), Buffer.from('not a record')]) },
        ...good.map((e) => ({ key: Buffer.from(e.session_key!), value: events.encode(e) })),
      ]);
      const sink = await startWarehouseSink({
        log: transport.log,
        codec,
        topics,
        warehouse,
        logger,
        metrics: createMetrics(),
        lingerMs: 10,
      });
      const deadline = Date.now() + 10_000;
      while ((await warehouse.offsets()).get(`${topics.events}:0`) !== 1 + good.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      await sink.stop();
      await warehouse.flush();
      expect(await queryDataset(dir.path, `select stage, error_code, ingest_id from dead_letters`)).toEqual([
        { stage: 'warehouse', error_code: 'SCHEMA_NOT_FOUND', ingest_id: `${topics.events}:0:0` },
      ]);
      expect(await queryDataset(dir.path, `select event_id from session_events`)).toEqual(
        good.map((e) => ({ event_id: e.event_id })),
      );
    } finally {
      await warehouse.close();
      await transport.close();
      dir.remove();
    }
  });
});
