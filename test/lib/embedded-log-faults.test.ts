/**
 * The embedded log under real faults: a full disk (a small tmpfs filled by the test), segment
 * files torn or damaged by the test, and a log left by an older version (log.duckdb).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import { openDuckDB } from '../../lib/duckdb.js';
import { EmbeddedLog } from '../../lib/log/embedded.js';
import { FRAME_HEADER } from '../../lib/log/frame.js';
import { openEmbeddedTransport } from '../../lib/log/open.js';
import type { Log, LogRecord } from '../../lib/log/types.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { topicsFor } from '../../lib/topics.js';
import { buildApp } from '../../ingest/app.js';
import { createZoomReceiver, zoomSignature } from '../../ingest/providers/zoom.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { mountSmallFs, type SmallFs } from '../helpers/small-fs.js';
import { tempDir } from '../helpers/tmp.js';
import { OLD_LOG_DDL } from '../helpers/old-log.js';

/** Every record of a topic, read by a group of its own, once `expected` have come (and a moment more). */
async function readAll(log: Log, topic: string, expected: number): Promise<LogRecord[]> {
  const seen: LogRecord[] = [];
  const consumer = await log.consume({
    group: `read-${Math.random()}`,
    topics: [topic],
    eachBatch: async (b) => void seen.push(...b.records),
  });
  const deadline = Date.now() + 5000;
  while (seen.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 30));
  await consumer.stop();
  return seen.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
const values = (records: LogRecord[]) => records.map((r) => r.value.toString());
const segmentsOf = (logDir: string, topic: string, partition = 0) =>
  readdirSync(join(logDir, 'topics', topic, String(partition)))
    .filter((n) => n.endsWith('.log'))
    .map((n) => join(logDir, 'topics', topic, String(partition), n));

describe('embedded log on a full disk', () => {
  let fs: SmallFs;
  beforeEach(() => {
    fs = mountSmallFs(8);
  });
  afterEach(() => {
    fs.free();
    fs.unmount();
  });

  it('refuses appends while the disk is full (cut back to the last good frame) and takes them again once there is room, without a restart', async () => {
    const dir = join(fs.path, 'log');
    const log = await EmbeddedLog.open(dir);
    await log.createTopics([{ topic: 'raw', partitions: 1 }]);
    await log.publish('raw', [{ key: null, value: Buffer.from('before') }]);
    const [segment] = segmentsOf(dir, 'raw');
    const good = statSync(segment!).size;

    fs.fill(1024);
    // The write comes back short (part of it fit), then ENOSPC.
    const big = Buffer.alloc(256 * 1024, 0x61);
    await expect(log.publish('raw', [{ key: null, value: big }])).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
    expect(statSync(segment!).size).toBe(good);
    await expect(log.publish('raw', [{ key: null, value: big }])).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
    expect(statSync(segment!).size).toBe(good);

    fs.free();
    await log.publish('raw', [{ key: null, value: Buffer.from('after') }]);
    expect(values(await readAll(log, 'raw', 2))).toEqual(['before', 'after']);
    expect(await log.endOffsets('raw')).toEqual(new Map([['raw:0', 2]]));
    await log.close();

    const again = await EmbeddedLog.open(dir);
    expect((await readAll(again, 'raw', 2)).map((r) => [r.offset, r.value.toString()])).toEqual([
      [0, 'before'],
      [1, 'after'],
    ]);
    await again.close();
  });

  it('answers 503 over HTTP while the disk is full and 200 again once it is freed', async () => {
    const transport = await openEmbeddedTransport(fs.path);
    const topics = topicsFor('test.');
    await transport.log.createTopics(topics.specs(1));
    const now = Date.now();
    const app: FastifyInstance = buildApp({
      receivers: [createZoomReceiver(['disk-full-secret'])],
      sink: await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics),
      logger: createLogger('silent'),
      metrics: createMetrics(),
      bodyLimitBytes: 256 * 1024,
      ready: () => true,
      clock: () => now * 1000,
    });
    const post = (n: number, padding: number) => {
      const body = JSON.stringify({
        event: 'session.started',
        event_ts: now + n,
        payload: {
          account_id: 'a',
          object: {
            id: `s${n}`,
            session_id: `s${n}==`,
            session_name: 'x'.repeat(padding),
            start_time: '2026-11-21T10:00:00Z',
          },
        },
      });
      const timestamp = String(Math.floor(now / 1000));
      return app.inject({
        method: 'POST',
        url: '/webhooks/zoom',
        payload: body,
        headers: {
          'content-type': 'application/json',
          'x-zm-request-timestamp': timestamp,
          'x-zm-signature': zoomSignature('disk-full-secret', timestamp, body),
        },
      });
    };
    try {
      expect((await post(1, 10)).statusCode).toBe(200);
      fs.fill(1024);
      const full = await post(2, 128 * 1024);
      expect(full.statusCode).toBe(503);
      expect(full.json()).toMatchObject({ error: 'NOT_READY' });
      fs.free();
      expect((await post(3, 128 * 1024)).statusCode).toBe(200);
      expect(await transport.log.endOffsets(topics.raw('zoom'))).toEqual(new Map([[`${topics.raw('zoom')}:0`, 2]]));
    } finally {
      await app.close();
      await transport.close();
    }
  });
});

describe('embedded log opened after damage', () => {
  let dir: ReturnType<typeof tempDir>;
  const warnings: Array<Record<string, unknown>> = [];
  const logger = { warn: (fields: object) => void warnings.push(fields as Record<string, unknown>) };
  beforeEach(() => {
    dir = tempDir('sessionflow-damage-');
    warnings.length = 0;
  });
  afterEach(() => dir.remove());
  /** Ten-byte values without a key: each frame is FRAME_HEADER + 10 bytes. */
  const FRAME = FRAME_HEADER + 10;
  const value = (i: number) => Buffer.from(`value-${String(i).padStart(4, '0')}`);

  async function written(count: number, options: { segmentBytes?: number } = {}): Promise<string> {
    const logDir = join(dir.path, 'log');
    const log = await EmbeddedLog.open(logDir, options);
    await log.createTopics([{ topic: 't', partitions: 1 }]);
    for (let i = 0; i < count; i++) await log.publish('t', [{ key: null, value: value(i) }]);
    await log.close();
    return logDir;
  }

  it('cuts a torn tail of the last segment (an append a crash interrupted) and appends after the last good frame', async () => {
    const logDir = await written(3);
    const [segment] = segmentsOf(logDir, 't');
    const good = readFileSync(segment!);
    appendFileSync(segment!, good.subarray(0, FRAME - 7)); // most of a fourth frame

    const log = await EmbeddedLog.open(logDir, { logger });
    expect(statSync(segment!).size).toBe(good.length);
    expect(warnings).toEqual([expect.objectContaining({ cutBytes: FRAME - 7, regions: 0 })]);
    expect(await log.endOffsets('t')).toEqual(new Map([['t:0', 3]]));
    await log.publish('t', [{ key: null, value: value(3) }]);
    expect((await readAll(log, 't', 4)).map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    await log.close();
  });

  it('sets a bad frame in the middle aside and keeps the acknowledged frames after it readable', async () => {
    const logDir = await written(5);
    const [segment] = segmentsOf(logDir, 't');
    const bytes = readFileSync(segment!);
    bytes[2 * FRAME + FRAME_HEADER + 3]! ^= 0xff; // a flipped byte in the value of offset 2
    writeFileSync(segment!, bytes);

    const log = await EmbeddedLog.open(logDir, { logger });
    const records = await readAll(log, 't', 4);
    expect(records.map((r) => [r.offset, r.value.toString()])).toEqual(
      [0, 1, 3, 4].map((i) => [i, value(i).toString()]),
    );
    expect(warnings).toEqual([expect.objectContaining({ regions: 1, asideBytes: FRAME, cutBytes: 0 })]);
    const aside = readdirSync(join(logDir, 'corrupt'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(logDir, 'corrupt', aside[0]!))).toEqual(bytes.subarray(2 * FRAME, 3 * FRAME));
    expect(await log.endOffsets('t')).toEqual(new Map([['t:0', 5]]));
    await log.close();

    // Set aside once: the segment no longer holds it, so the next open finds nothing wrong.
    const again = await EmbeddedLog.open(logDir, { logger });
    expect(warnings).toHaveLength(1);
    expect(values(await readAll(again, 't', 4))).toEqual([0, 1, 3, 4].map((i) => value(i).toString()));
    await again.close();
  });

  it('never cuts a damaged closed segment: its bad frame is set aside, the segments after it stay', async () => {
    const logDir = await written(3, { segmentBytes: 1 }); // one frame per segment
    const [first] = segmentsOf(logDir, 't').sort();
    const bytes = readFileSync(first!);
    bytes.fill(0, 0, 8); // its length and CRC gone
    writeFileSync(first!, bytes);

    const log = await EmbeddedLog.open(logDir, { logger });
    expect(warnings).toEqual([expect.objectContaining({ regions: 1, asideBytes: FRAME })]);
    expect((await readAll(log, 't', 2)).map((r) => r.offset)).toEqual([1, 2]);
    expect(await log.endOffsets('t')).toEqual(new Map([['t:0', 3]]));
    await log.close();
  });
});

describe('an embedded log of an older version (log.duckdb)', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir('sessionflow-upgrade-');
  });
  afterEach(() => dir.remove());

  it('is migrated once at open: topics, messages with their offsets, group positions and schema ids', async () => {
    const db = await openDuckDB(join(dir.path, 'log.duckdb'));
    const conn = await db.connect();
    // The tables of the earlier embedded log, as it created them.
    for (const statement of OLD_LOG_DDL) await conn.run(statement);
    await conn.run(`INSERT INTO log_topics VALUES ('raw', 2, false), ('facts', 1, true)`);
    // raw:0 had offsets 0..1 pruned by retention; raw:1 is whole; facts:0 was compacted.
    await conn.run(`INSERT INTO log_messages VALUES
      ('raw', 0, 2, NULL, 'r2'::BLOB, 1700000000002), ('raw', 0, 3, 'k'::BLOB, 'r3'::BLOB, 1700000000003),
      ('raw', 1, 0, NULL, 'q0'::BLOB, 1700000000010), ('raw', 1, 1, NULL, 'q1'::BLOB, 1700000000011), ('raw', 1, 2, NULL, 'q2'::BLOB, 1700000000012),
      ('facts', 0, 4, 'a'::BLOB, 'a4'::BLOB, 1700000000020)`);
    await conn.run(`INSERT INTO log_positions VALUES ('normalize', 'raw', 0, 3), ('normalize', 'raw', 1, 1)`);
    await conn.run(
      `INSERT INTO registry_schemas VALUES (7, 'raw-value', 1, '{"type":"string"}'), (9, 'raw-value', 2, '{"type":["null","string"]}')`,
    );
    conn.closeSync();
    db.closeSync();

    const transport = await openEmbeddedTransport(dir.path);
    try {
      expect(existsSync(join(dir.path, 'log.duckdb'))).toBe(false);
      expect(existsSync(join(dir.path, 'log.duckdb.migrated'))).toBe(true);
      const { log, registry } = transport;
      expect(await log.endOffsets('raw')).toEqual(
        new Map([
          ['raw:0', 4],
          ['raw:1', 3],
        ]),
      );
      expect(await log.endOffsets('facts')).toEqual(new Map([['facts:0', 5]]));
      expect(await log.committedOffsets('normalize', 'raw')).toEqual(
        new Map([
          ['raw:0', 3],
          ['raw:1', 1],
        ]),
      );
      expect(await registry.lookup(7)).toBe('{"type":"string"}');
      expect(await registry.lookup(9)).toBe('{"type":["null","string"]}');
      expect(await registry.register('other-value', { type: 'long' })).toBe(10);

      const all = await readAll(log, 'raw', 5);
      expect(
        all.map((r) => [r.partition, r.offset, r.key?.toString() ?? null, r.value.toString(), r.timestamp]),
      ).toEqual([
        [0, 2, null, 'r2', 1700000000002],
        [0, 3, 'k', 'r3', 1700000000003],
        [1, 0, null, 'q0', 1700000000010],
        [1, 1, null, 'q1', 1700000000011],
        [1, 2, null, 'q2', 1700000000012],
      ]);
      // The group goes on where it was: only what it had not consumed.
      const unconsumed: string[] = [];
      const consumer = await log.consume({
        group: 'normalize',
        topics: ['raw'],
        eachBatch: async (b) => void unconsumed.push(...b.records.map((r) => r.value.toString())),
      });
      while (unconsumed.length < 3) await new Promise((r) => setTimeout(r, 5));
      await consumer.stop();
      expect(unconsumed.sort()).toEqual(['q1', 'q2', 'r3']);
      expect(JSON.parse(readFileSync(join(dir.path, 'log', 'topics', 'facts', 'topic.json'), 'utf8'))).toMatchObject({
        partitions: 1,
        compacted: true,
      });
      await log.publish('raw', [{ key: null, value: Buffer.from('new') }]);
    } finally {
      await transport.close();
    }

    // Once: the next open finds the new log and nothing to migrate.
    const again = await openEmbeddedTransport(dir.path);
    const ends = await again.log.endOffsets('raw');
    expect((ends.get('raw:0') ?? 0) + (ends.get('raw:1') ?? 0)).toBe(8);
    await again.close();
  });
});
