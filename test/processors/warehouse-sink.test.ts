/** The warehouse stage's batching: what bounds a batch besides its linger time; which failures it retries. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { SessionflowError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import type { Registry } from '../../lib/registry/types.js';
import { createMetrics } from '../../lib/metrics.js';
import { nowMicros } from '../../lib/time.js';
import { topicsFor, valueSubject } from '../../lib/topics.js';
import { wrap } from '../../ingest/envelope.js';
import { startWarehouseSink } from '../../processors/warehouse/stage.js';
import type { WarehouseWriter } from '../../processors/warehouse/types.js';
import { createWarehouse, type Warehouse } from '../../processors/warehouse/writer.js';
import { queryDataset } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { event } from './warehouse-support.js';

const topics = topicsFor('sessionflow.');

describe('warehouse batches', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let warehouse: Warehouse;
  beforeEach(async () => {
    dir = tempDir('sessionflow-sink-');
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    warehouse = await createWarehouse({
      dataDir: dir.path,
      logger: createLogger('silent'),
      idleHorizonMicros: 24 * 3600e6,
    });
  });
  afterEach(async () => {
    await warehouse.close();
    await transport.close();
    dir.remove();
  });

  it('are written once the records waiting reach maxBytes, long before the record count or the linger time', async () => {
    const codec = new AvroCodec(transport.registry);
    const writer = await codec.serializer<RawWebhook>(valueSubject(topics.raw('zoom')), 'RawWebhook');
    const body = Buffer.from(JSON.stringify({ event: 'session.started', padding: 'x'.repeat(20_000) }));
    const messages = Array.from({ length: 10 }, () => ({
      key: null,
      value: writer.encode(
        wrap({ provider: 'zoom', source: 'webhook', receivedAt: nowMicros(), dedupKey: null, headers: {}, body }),
      ),
    }));
    await transport.log.publish(topics.raw('zoom'), messages);
    const metrics = createMetrics();
    const sink = await startWarehouseSink({
      log: transport.log,
      codec,
      topics,
      warehouse,
      logger: createLogger('silent'),
      metrics,
      lingerMs: 60_000,
      maxRecords: 10_000,
      maxBytes: 50_000,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (((await warehouse.offsets()).get(`${topics.raw('zoom')}:0`) ?? 0) < 9 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      // Three records of 20 kB pass 50,000 bytes: batches of three, the tenth left to the linger.
      expect((await warehouse.offsets()).get(`${topics.raw('zoom')}:0`)).toBe(9);
      expect((await metrics.warehouseBatches.get()).values[0]!.value).toBe(3);
    } finally {
      await sink.stop();
    }
  });

  it('lose no record when a batch is written while the next records are still being decoded (a slow registry)', async () => {
    // The registry answers each schema lookup after 50 ms, as one across a network may: the
    // linger (1 ms) ends while the events are being decoded, and the raw records go first.
    const registry = transport.registry;
    const slow: Registry = {
      register: (subject, schema) => registry.register(subject, schema),
      lookup: async (id) => {
        await new Promise((r) => setTimeout(r, 50));
        return registry.lookup(id);
      },
      close: () => registry.close(),
    };
    const codec = new AvroCodec(slow);
    const rawWriter = await codec.serializer<RawWebhook>(valueSubject(topics.raw('zoom')), 'RawWebhook');
    const eventWriter = await codec.serializer<SessionEvent>(valueSubject(topics.events), 'SessionEvent');
    const body = Buffer.from(JSON.stringify({ event: 'session.started' }));
    await transport.log.publish(topics.raw('zoom'), [
      {
        key: null,
        value: rawWriter.encode(
          wrap({ provider: 'zoom', source: 'webhook', receivedAt: nowMicros(), dedupKey: null, headers: {}, body }),
        ),
      },
    ]);
    const events = ['10:00:00', '10:00:05', '10:00:10'].map((t, i) =>
      event(
        'zoom:s1',
        i === 0 ? 'session.started' : 'participant.joined',
        `2024-05-02T${t}Z`,
        i === 0 ? undefined : { key: `p${i}`, role: 'guest' },
      ),
    );
    await transport.log.publish(
      topics.events,
      events.map((e) => ({ key: null, value: eventWriter.encode(e) })),
    );
    const sink = await startWarehouseSink({
      log: transport.log,
      codec,
      topics,
      warehouse,
      logger: createLogger('silent'),
      metrics: createMetrics(),
      lingerMs: 1,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (((await warehouse.offsets()).get(`${topics.events}:0`) ?? 0) < 3 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect((await warehouse.offsets()).get(`${topics.events}:0`)).toBe(3);
    } finally {
      await sink.stop();
    }
    await warehouse.flush();
    expect(await queryDataset(dir.path, 'SELECT count(*) AS n FROM session_events')).toEqual([{ n: 3 }]);
    expect(await queryDataset(dir.path, 'SELECT count(*) AS n FROM raw_webhooks', { restricted: true })).toEqual([
      { n: 1 },
    ]);
  });

  /** The warehouse, its first applyBatch calls failing with `failures` (one each), and how many calls there were. */
  function refusing(failures: SessionflowError[]): { writer: WarehouseWriter; calls: () => number } {
    let calls = 0;
    const applyBatch: WarehouseWriter['applyBatch'] = async (batch) => {
      calls += 1;
      const failure = failures.shift();
      if (failure) throw failure;
      return warehouse.applyBatch(batch);
    };
    const writer = new Proxy(warehouse, {
      get: (target, name) => {
        if (name === 'applyBatch') return applyBatch;
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return { writer, calls: () => calls };
  }

  /** The stage over `writer`, after one raw delivery was published. */
  async function oneDelivery(writer: WarehouseWriter) {
    const codec = new AvroCodec(transport.registry);
    const rawWriter = await codec.serializer<RawWebhook>(valueSubject(topics.raw('zoom')), 'RawWebhook');
    const body = Buffer.from(JSON.stringify({ event: 'session.started' }));
    const raw = wrap({
      provider: 'zoom',
      source: 'webhook',
      receivedAt: nowMicros(),
      dedupKey: null,
      headers: {},
      body,
    });
    await transport.log.publish(topics.raw('zoom'), [{ key: null, value: rawWriter.encode(raw) }]);
    const logger = createLogger('silent');
    return startWarehouseSink({
      log: transport.log,
      codec,
      topics,
      warehouse: writer,
      logger,
      metrics: createMetrics(),
    });
  }

  it('retries a batch while its failure is retriable (the disk refuses writes), then stores it', async () => {
    const full = () => new SessionflowError('STORAGE_UNAVAILABLE', 'No space left on device');
    const { writer, calls } = refusing([full(), full()]);
    const sink = await oneDelivery(writer);
    try {
      const deadline = Date.now() + 10_000;
      while (!(await warehouse.offsets()).has(`${topics.raw('zoom')}:0`) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect((await warehouse.offsets()).get(`${topics.raw('zoom')}:0`)).toBe(1);
      expect(calls()).toBe(3);
    } finally {
      await sink.stop();
    }
  });

  it('does not retry a batch whose failure is not retriable: the stage stops with it and nothing is stored', async () => {
    const { writer, calls } = refusing([new SessionflowError('WAREHOUSE_FAILED', 'a constraint failed')]);
    const sink = await oneDelivery(writer);
    await expect(sink.done).rejects.toMatchObject({ code: 'WAREHOUSE_FAILED', retriable: false });
    await new Promise((r) => setTimeout(r, 300)); // longer than the first backoff: no retry came
    expect(calls()).toBe(1);
    expect(await warehouse.offsets()).toEqual(new Map());
    await expect(sink.stop()).rejects.toMatchObject({ code: 'WAREHOUSE_FAILED' });
  });
});
