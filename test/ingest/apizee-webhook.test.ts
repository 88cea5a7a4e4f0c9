import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AvroCodec } from '../../lib/avro.js';
import type { RawWebhook } from '../../lib/canonical.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { topicsFor } from '../../lib/topics.js';
import { buildApp } from '../../ingest/app.js';
import { apizeeDedupKey, apizeeSessionKey, createApizeeReceiver } from '../../ingest/providers/apizee.js';
import { keptHeaders } from '../../ingest/envelope.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = 'apizee-shared-secret-1';
const OLD_SECRET = 'apizee-shared-secret-0';
const NOW_MS = Date.UTC(2025, 5, 10, 19, 0, 0);
const topics = topicsFor('test.');

// The reference's example payload (apizee-session-events.md), its comments removed.
const ocrDone = JSON.stringify({
  event: 'create',
  time: 1749581447,
  object: 'conversationevent',
  objectId: 1266,
  props: {
    eventType: 'media.OCRDone',
    eventCode: 41,
    conversationId: 548,
    ticketId: 361,
    text: 'text captured by OCR',
  },
});

const withSecret = (secret: string | undefined, name = 'x-webhook-secret'): Record<string, string> => ({
  'content-type': 'application/json',
  'user-agent': 'Apizee-Webhook/1.0',
  ...(secret === undefined ? {} : { [name]: secret }),
});

describe('POST /webhooks/apizee', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let apps: FastifyInstance[];

  async function app(
    secrets: readonly string[] = [SECRET, OLD_SECRET],
    headerName = 'x-webhook-secret',
  ): Promise<FastifyInstance> {
    const built = buildApp({
      receivers: [createApizeeReceiver(secrets, headerName)],
      sink: await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics),
      logger: createLogger('silent'),
      metrics: createMetrics(),
      bodyLimitBytes: 64 * 1024,
      ready: () => true,
      clock: () => NOW_MS * 1000,
    });
    apps.push(built);
    return built;
  }

  beforeEach(async () => {
    dir = tempDir();
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    apps = [];
  });
  afterEach(async () => {
    for (const a of apps) await a.close();
    await transport.close();
    dir.remove();
  });

  async function stored(): Promise<Array<{ raw: RawWebhook; key: string | null }>> {
    const reader = new AvroCodec(transport.registry).deserializer<RawWebhook>('RawWebhook');
    const out: Array<{ raw: RawWebhook; key: string | null }> = [];
    const end = (await transport.log.endOffsets(topics.raw('apizee'))).get(`${topics.raw('apizee')}:0`) ?? 0;
    if (end === 0) return out;
    const consumer = await transport.log.consume({
      group: 'check',
      topics: [topics.raw('apizee')],
      eachBatch: async (batch) => {
        for (const r of batch.records)
          out.push({ raw: await reader.decode(r.value), key: r.key?.toString('utf8') ?? null });
      },
    });
    while (out.length < end) await new Promise((r) => setTimeout(r, 10));
    await consumer.stop();
    return out;
  }

  it('stores a delivery with the right secret byte for byte, keyed by ticket, deduplicated by objectId, without the secret', async () => {
    const body = ocrDone.replace('{', '{ \n'); // not re-serialised JSON: the archive keeps these exact bytes
    const response = await (await app()).inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(SECRET),
      payload: body,
    });
    expect(response.statusCode).toBe(200);
    const [entry] = await stored();
    expect(entry!.raw.ingest_id).toBe(response.json().ingest_id);
    expect(entry!.raw.body.toString('utf8')).toBe(body);
    expect(entry!.raw).toMatchObject({
      provider: 'apizee',
      source: 'webhook',
      dedup_key: '1266',
      content_type: 'application/json',
    });
    expect(entry!.key).toBe('apizee:361');
    expect(entry!.raw.headers['x-webhook-secret']).toBeUndefined();
    expect(entry!.raw.headers['user-agent']).toBe('Apizee-Webhook/1.0');
    expect(JSON.stringify(entry!.raw.headers)).not.toContain(SECRET);
  });

  it('accepts the previous secret during rotation', async () => {
    const response = await (await app()).inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(OLD_SECRET),
      payload: ocrDone,
    });
    expect(response.statusCode).toBe(200);
  });

  it('gives a redelivery the same dedup key and a new ingest id', async () => {
    const a = await app();
    const first = await a.inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(SECRET),
      payload: ocrDone,
    });
    const second = await a.inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(SECRET),
      payload: ocrDone,
    });
    expect(first.json().ingest_id).not.toBe(second.json().ingest_id);
    const [x, y] = await stored();
    expect([x!.raw.dedup_key, y!.raw.dedup_key]).toEqual(['1266', '1266']);
  });

  it.each([
    ['a wrong secret', withSecret('apizee-shared-secret-9'), 'AUTH_INVALID'],
    ['a wrong-length secret', withSecret('short'), 'AUTH_INVALID'],
    ['a secret with a prefix of the right one', withSecret(`${SECRET}-and-more`), 'AUTH_INVALID'],
    ['an empty secret header', withSecret(''), 'AUTH_MISSING'],
    ['no secret header', withSecret(undefined), 'AUTH_MISSING'],
    ['the secret in another header', withSecret(SECRET, 'authorization'), 'AUTH_MISSING'],
  ])('refuses %s with 401 and stores nothing', async (_name, headers, code) => {
    const response = await (await app()).inject({ method: 'POST', url: '/webhooks/apizee', headers, payload: ocrDone });
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toBe(code);
    expect(await stored()).toHaveLength(0);
  });

  it('answers SECRET_NOT_CONFIGURED (401) when no secret is configured', async () => {
    const response = await (await app([])).inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(SECRET),
      payload: ocrDone,
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toBe('SECRET_NOT_CONFIGURED');
    expect(await stored()).toHaveLength(0);
  });

  it('reads the secret from a custom header name (any case) and keeps that header out of the archive', async () => {
    const a = await app([SECRET], 'X-Apizee-Token');
    const wrongHeader = await a.inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(SECRET),
      payload: ocrDone,
    });
    expect(wrongHeader.json().error).toBe('AUTH_MISSING');
    const response = await a.inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(SECRET, 'X-Apizee-Token'),
      payload: ocrDone,
    });
    expect(response.statusCode).toBe(200);
    const [entry] = await stored();
    expect(entry!.raw.headers['x-apizee-token']).toBeUndefined();
    expect(JSON.stringify(entry!.raw.headers)).not.toContain(SECRET);
  });

  it('stores a body it cannot read (the adapter dead-letters it), with no dedup or message key', async () => {
    const body = '{"event":"create","objectId":';
    const response = await (await app()).inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: withSecret(SECRET),
      payload: body,
    });
    expect(response.statusCode).toBe(200);
    const [entry] = await stored();
    expect(entry!.raw.body.toString('utf8')).toBe(body);
    expect(entry!.raw.dedup_key).toBeNull();
    expect(entry!.key).toBeNull();
  });

  it('the archive allow-list never keeps the default secret header', () => {
    expect(keptHeaders({ 'x-webhook-secret': SECRET, 'content-type': 'application/json' })).toEqual({
      'content-type': 'application/json',
    });
  });
});

describe('apizee dedup and session keys', () => {
  it.each([
    [{ objectId: 1266, object: 'conversationevent' }, '1266'],
    [{ objectId: '1266' }, '1266'],
    [{ objectId: 361, object: 'ticket' }, 'ticket:361'],
    [{ objectId: '' }, null],
    [{ objectId: { id: 1 } }, null],
    [{}, null],
    [undefined, null],
  ])('apizeeDedupKey(%j) = %j', (body, expected) => expect(apizeeDedupKey(body)).toBe(expected));

  it.each([
    [{ props: { ticketId: 361 } }, 'apizee:361'],
    [{ props: { ticketId: '361' } }, 'apizee:361'],
    [{ props: { ticketId: null } }, null],
    [{ props: null }, null],
    [{}, null],
    [undefined, null],
  ])('apizeeSessionKey(%j) = %j', (body, expected) => expect(apizeeSessionKey(body)).toBe(expected));
});
