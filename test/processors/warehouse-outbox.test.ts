/**
 * facts.v1 from the facts outbox: a session's key goes into warehouse.duckdb's outbox in the
 * transaction that changes its fact, and leaves it only once the log acknowledged the fact. A
 * publish that fails after the commit (the log refuses it) and a stop meanwhile lose nothing from
 * facts.v1: the next writer publishes what the outbox kept.
 */
import { describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import type { SessionEvent, SessionFact } from '../../lib/canonical.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { topicsFor, valueSubject } from '../../lib/topics.js';
import { startWarehouseSink } from '../../processors/warehouse/stage.js';
import { createWarehouse, type Warehouse } from '../../processors/warehouse/writer.js';
import { eventually } from '../helpers/service.js';
import { HOUR, at, batch, event, meeting, onWarehouse, openCall, warehouseFixture } from './warehouse-support.js';

const CLOCK = at('2024-06-01T00:00:00Z');
const fx = warehouseFixture('sessionflow-outbox-', CLOCK);
const logger = createLogger('silent');
const byKey = (facts: SessionFact[]) => [...facts].sort((a, b) => a.session_key.localeCompare(b.session_key));

describe('the facts outbox of the warehouse', () => {
  it('holds the latest fact of each session a commit changed, until it is published', async () => {
    const w = await fx.open();
    const first = await w.applyBatch(
      batch({ events: [...meeting('zoom:a', '2024-05-02'), ...openCall('zoom:b', '2024-05-31T20:00:00Z')] }),
    );
    expect(await w.outboxSize()).toBe(2);
    const read = await w.pendingFacts();
    expect(byKey(read.facts)).toEqual(first.facts);

    // zoom:b changes while its first fact is being published: that row stays for the new fact.
    const second = await w.applyBatch(batch({ events: [event('zoom:b', 'message.sent', '2024-05-31T21:00:00Z')] }));
    expect(await w.factsPublished(read.marks)).toBe(1);
    const again = await w.pendingFacts();
    expect(again.facts).toEqual(second.facts);
    expect(again.facts[0]!.messages).toBe(1);
    await w.factsPublished(again.marks);
    expect(await w.outboxSize()).toBe(0);

    // A redelivery changes no fact and puts nothing in the outbox.
    await w.applyBatch(batch({ events: meeting('zoom:a', '2024-05-02') }));
    expect(await w.outboxSize()).toBe(0);
  });

  it('gets the facts the idle sweep, a replay and a rebuild changed, in their own transactions', async () => {
    const opened: Warehouse[] = [];
    const open = async (clock: number, idleHorizonMicros = 24 * HOUR) => {
      const w = await createWarehouse({ dataDir: fx.dataDir, logger, idleHorizonMicros, clock: () => clock });
      opened.push(w);
      return w;
    };
    try {
      const w = await open(CLOCK);
      await w.applyBatch(
        batch({ events: [...meeting('zoom:a', '2024-05-02'), ...openCall('zoom:idle', '2024-05-31T20:00:00Z')] }),
      );
      await w.factsPublished((await w.pendingFacts()).marks);
      await w.close();

      // Two days later the open call is past the idle horizon.
      const later = await open(CLOCK + 48 * HOUR);
      const swept = await later.sweepIdle();
      expect(swept.facts.map((f) => [f.session_key, f.status])).toEqual([['zoom:idle', 'abandoned']]);
      const pending = await later.pendingFacts();
      expect(pending.facts).toEqual(swept.facts);
      await later.factsPublished(pending.marks);

      // Nothing changed: a rebuild folds every session again and publishes none.
      const unchanged = await later.rebuild();
      expect(unchanged.changed).toBe(0);
      expect(await later.outboxSize()).toBe(0);
      await later.close();

      // A rebuild under a longer idle horizon reopens zoom:idle: only that fact goes to the outbox,
      // and stays there for the next running warehouse.
      const longer = await open(CLOCK + 48 * HOUR, 100 * 24 * HOUR);
      expect((await longer.rebuild()).changed).toBe(1);
      await longer.close();
      await onWarehouse(fx.dataDir, async (sql) =>
        expect(await sql('SELECT session_key FROM facts_outbox')).toEqual([{ session_key: 'zoom:idle' }]),
      );

      const next = await open(CLOCK + 48 * HOUR, 100 * 24 * HOUR);
      const left = await next.pendingFacts();
      expect(left.facts.map((f) => [f.session_key, f.status])).toEqual([['zoom:idle', 'open']]);
      await next.factsPublished(left.marks);

      // A replay that brings new events (a delivery whose events never reached the warehouse).
      const raw = {
        ingest_id: 'r-late',
        provider: 'zoom',
        received_at: at('2024-05-02T12:00:00Z'),
        source: 'webhook' as const,
        dedup_key: null,
        headers: {},
        content_type: 'application/json',
        body: Buffer.from('{}'),
      };
      await next.applyBatch(batch({ raw: [raw] }));
      const replayed = await next.replay({
        normalize: () => ({ events: [event('zoom:a', 'message.sent', '2024-05-02T10:10:00Z')], failures: [] }),
      });
      expect(replayed.sessions).toBe(1);
      expect((await next.pendingFacts()).facts.map((f) => [f.session_key, f.messages])).toEqual([['zoom:a', 1]]);
    } finally {
      for (const w of opened) await w.close();
    }
  });
});

/** Every message of facts.v1 so far, decoded, in log order per partition. */
async function readFacts(transport: Transport, topic: string): Promise<SessionFact[]> {
  const codec = new AvroCodec(transport.registry);
  const reader = codec.deserializer<SessionFact>('SessionFact');
  const ends = await transport.log.endOffsets(topic);
  const want = [...ends.values()].reduce((a, b) => a + b, 0);
  const facts: SessionFact[] = [];
  let seen = 0;
  const consumer = await transport.log.consume({
    group: `reader-${Math.random().toString(36).slice(2)}`,
    topics: [topic],
    eachBatch: async (b) => {
      for (const record of b.records) facts.push(await reader.decode(record.value));
      seen += b.records.length;
    },
  });
  await eventually(async () => (seen >= want ? true : undefined), 10_000, `${want} messages of ${topic}`);
  await consumer.stop();
  return facts;
}

/** The latest fact per session, as a compacted topic keeps it. */
const latest = (facts: SessionFact[]) => new Map(facts.map((f) => [f.session_key, f]));

describe('the warehouse stage publishing from the outbox', () => {
  it('keeps the facts the log refused after the commit, and the next start publishes the latest of every session', async () => {
    const topics = topicsFor('sessionflow.');
    let transport = await openEmbeddedTransport(fx.dataDir);
    // facts.v1 is missing: the log refuses every facts publish (LOG_UNAVAILABLE) while events flow.
    await transport.log.createTopics(topics.specs(2).filter((spec) => spec.topic !== topics.facts));
    const codec = new AvroCodec(transport.registry);
    const eventWriter = await codec.serializer<SessionEvent>(valueSubject(topics.events), 'SessionEvent');
    const publish = (events: SessionEvent[]) =>
      transport.log.publish(
        topics.events,
        events.map((e) => ({ key: Buffer.from(e.session_key!), value: eventWriter.encode(e) })),
      );
    const sessions = Array.from({ length: 30 }, (_, i) => `zoom:s${i}`);

    let warehouse = await createWarehouse({ dataDir: fx.dataDir, logger, clock: () => CLOCK });
    // One warehouse batch takes them all: committed, then the facts publish is refused.
    let sink = await startWarehouseSink({
      log: transport.log,
      codec,
      topics,
      warehouse,
      logger,
      metrics: createMetrics(),
      lingerMs: 500,
      factsGraceMs: 500,
    });
    await publish([
      ...sessions.flatMap((s) => meeting(s, '2024-05-02')),
      event('zoom:s3', 'message.sent', '2024-05-02T10:20:00Z'),
    ]);
    const stored = 6 * sessions.length + 1;
    const committed = async () =>
      [...(await warehouse.offsets())]
        .filter(([k]) => k.startsWith(`${topics.events}:`))
        .reduce((sum, [, n]) => sum + n, 0);
    await eventually(async () => ((await committed()) === stored ? true : undefined), 15_000, 'the events committed');
    await sink.stop();
    await warehouse.close();
    await transport.close();
    await onWarehouse(fx.dataDir, async (sql) =>
      expect(await sql('SELECT count(*)::INT AS n FROM facts_outbox')).toEqual([{ n: sessions.length }]),
    );

    // The log takes facts again; a new writer starts on the same DATA_DIR.
    transport = await openEmbeddedTransport(fx.dataDir);
    await transport.log.createTopics(topics.specs(2));
    warehouse = await createWarehouse({ dataDir: fx.dataDir, logger, clock: () => CLOCK });
    sink = await startWarehouseSink({
      log: transport.log,
      codec: new AvroCodec(transport.registry),
      topics,
      warehouse,
      logger,
      metrics: createMetrics(),
      lingerMs: 20,
    });
    await eventually(
      async () => ((await warehouse.outboxSize()) === 0 ? true : undefined),
      15_000,
      'the outbox published',
    );
    const published = latest(await readFacts(transport, topics.facts));
    expect([...published.keys()].sort()).toEqual([...sessions].sort());
    expect(published.get('zoom:s3')).toMatchObject({ messages: 1, events: 7, status: 'ended' });
    for (const key of sessions) expect(published.get(key)!.status).toBe('ended');
    await sink.stop();
    await warehouse.close();
    await transport.close();
  });
});
