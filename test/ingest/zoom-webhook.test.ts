import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AvroCodec } from '../../lib/avro.js';
import type { RawWebhook } from '../../lib/canonical.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { topicsFor } from '../../lib/topics.js';
import { buildApp } from '../../ingest/app.js';
import { createZoomReceiver, zoomEncryptedToken, zoomSignature } from '../../ingest/providers/zoom.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = 'zoom-secret-token-1';
const OLD_SECRET = 'zoom-secret-token-0';
const NOW_MS = Date.UTC(2026, 10, 21, 10, 0, 0);
const topics = topicsFor('test.');

function signed(body: string, options: { secret?: string; timestamp?: string } = {}) {
  const timestamp = options.timestamp ?? String(Math.floor(NOW_MS / 1000));
  return {
    'content-type': 'application/json',
    'x-zm-request-timestamp': timestamp,
    'x-zm-signature': zoomSignature(options.secret ?? SECRET, timestamp, body),
  };
}

const joined = JSON.stringify({
  event: 'session.user_joined',
  event_ts: NOW_MS,
  payload: {
    account_id: 'acc1',
    object: {
      id: 's1',
      session_id: 's1==',
      session_name: 'n',
      user: { id: '1', name: 'Ana', join_time: '2026-11-21T10:00:00Z', participant_uuid: 'u1' },
    },
  },
});

describe('POST /webhooks/zoom', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let app: FastifyInstance;
  let metrics: ReturnType<typeof createMetrics>;

  beforeEach(async () => {
    dir = tempDir();
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    metrics = createMetrics();
    app = buildApp({
      receivers: [createZoomReceiver([SECRET, OLD_SECRET])],
      sink: await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics),
      logger: createLogger('silent'),
      metrics,
      bodyLimitBytes: 64 * 1024,
      ready: () => true,
      clock: () => NOW_MS * 1000,
    });
  });
  afterEach(async () => {
    await app.close();
    await transport.close();
    dir.remove();
  });

  async function stored(): Promise<RawWebhook[]> {
    const codec = new AvroCodec(transport.registry);
    const reader = codec.deserializer<RawWebhook>('RawWebhook');
    const out: RawWebhook[] = [];
    const end = (await transport.log.endOffsets(topics.raw('zoom'))).get(`${topics.raw('zoom')}:0`) ?? 0;
    if (end === 0) return out;
    const consumer = await transport.log.consume({
      group: 'check',
      topics: [topics.raw('zoom')],
      eachBatch: async (batch) => {
        for (const r of batch.records) out.push(await reader.decode(r.value));
      },
    });
    while (out.length < end) await new Promise((r) => setTimeout(r, 10));
    await consumer.stop();
    return out;
  }

  it('stores a signed delivery byte for byte and answers 200 with its ingest id', async () => {
    const body = joined.replace('{', '{ '); // not re-serialised JSON: the signature covers these exact bytes
    const response = await app.inject({ method: 'POST', url: '/webhooks/zoom', headers: signed(body), payload: body });
    expect(response.statusCode).toBe(200);
    const { ingest_id } = response.json();
    const [raw] = await stored();
    expect(raw!.ingest_id).toBe(ingest_id);
    expect(raw!.body.toString('utf8')).toBe(body);
    expect(raw!.provider).toBe('zoom');
    expect(raw!.source).toBe('webhook');
    expect(raw!.dedup_key).toMatch(/^[0-9a-f]{32}$/);
    expect(raw!.headers['x-zm-signature']).toBeUndefined();
    expect(raw!.headers['x-zm-request-timestamp']).toBe(String(Math.floor(NOW_MS / 1000)));
  });

  it('accepts the previous secret during rotation', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/zoom',
      headers: signed(joined, { secret: OLD_SECRET }),
      payload: joined,
    });
    expect(response.statusCode).toBe(200);
  });

  it('gives a redelivery the same dedup key and a new ingest id', async () => {
    const a = await app.inject({ method: 'POST', url: '/webhooks/zoom', headers: signed(joined), payload: joined });
    const b = await app.inject({ method: 'POST', url: '/webhooks/zoom', headers: signed(joined), payload: joined });
    expect(a.json().ingest_id).not.toBe(b.json().ingest_id);
    const [x, y] = await stored();
    expect(x!.dedup_key).toBe(y!.dedup_key);
  });

  it.each([
    [
      'a wrong signature',
      { 'x-zm-signature': zoomSignature('not-the-secret', String(Math.floor(NOW_MS / 1000)), joined) },
      'AUTH_INVALID',
    ],
    ['a wrong-length signature', { 'x-zm-signature': 'v0=abc' }, 'AUTH_INVALID'],
    [
      'a signature over other bytes',
      { 'x-zm-signature': zoomSignature(SECRET, String(Math.floor(NOW_MS / 1000)), `${joined} `) },
      'AUTH_INVALID',
    ],
    ['no signature', { 'x-zm-signature': undefined }, 'AUTH_MISSING'],
    [
      'a timestamp 91 minutes old (seconds)',
      signed(joined, { timestamp: String(Math.floor(NOW_MS / 1000) - 91 * 60) }),
      'TIMESTAMP_STALE',
    ],
    [
      'a timestamp 6 minutes ahead (milliseconds)',
      signed(joined, { timestamp: String(NOW_MS + 360_000) }),
      'TIMESTAMP_STALE',
    ],
    ['a timestamp that is not a number', { 'x-zm-request-timestamp': 'yesterday' }, 'AUTH_INVALID'],
  ])('refuses %s with 401 and stores nothing', async (_name, override, code) => {
    const headers: Record<string, string | undefined> = { ...signed(joined), ...override };
    for (const key of Object.keys(headers)) if (headers[key] === undefined) delete headers[key];
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/zoom',
      headers: headers as Record<string, string>,
      payload: joined,
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toBe(code);
    expect(await stored()).toHaveLength(0);
  });

  it("accepts Zoom's last retry, 60 minutes later, when it carries the original timestamp (within ZOOM_TIMESTAMP_TOLERANCE_MINUTES, 90 by default)", async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/zoom',
      headers: signed(joined, { timestamp: String(NOW_MS - 60 * 60_000 - 5_000) }),
      payload: joined,
    });
    expect(response.statusCode).toBe(200);
    expect(await stored()).toHaveLength(1);
  });

  it('takes the window from the setting: older than it is refused, within it accepted; never more than 5 minutes ahead', () => {
    const receiver = createZoomReceiver([SECRET], { toleranceMinutes: 10 });
    const verify = (timestamp: string) => () =>
      receiver.verify({ headers: signed(joined, { timestamp }), body: Buffer.from(joined) }, NOW_MS * 1000);
    expect(verify(String(NOW_MS - 9 * 60_000))).not.toThrow();
    expect(verify(String(NOW_MS - 11 * 60_000))).toThrow(/outside the accepted window/);
    expect(verify(String(NOW_MS + 4 * 60_000))).not.toThrow();
    expect(verify(String(NOW_MS + 6 * 60_000))).toThrow(/outside the accepted window/);
  });

  it('accepts a timestamp in milliseconds within 5 minutes', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/zoom',
      headers: signed(joined, { timestamp: String(NOW_MS - 240_000) }),
      payload: joined,
    });
    expect(response.statusCode).toBe(200);
  });

  it('answers endpoint.url_validation as Zoom documents and stores nothing', async () => {
    const body = JSON.stringify({
      event: 'endpoint.url_validation',
      payload: { plainToken: 'qgg8vlvZRS6UYooatFL8Aw' },
      event_ts: NOW_MS,
    });
    const response = await app.inject({ method: 'POST', url: '/webhooks/zoom', headers: signed(body), payload: body });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      plainToken: 'qgg8vlvZRS6UYooatFL8Aw',
      encryptedToken: zoomEncryptedToken(SECRET, 'qgg8vlvZRS6UYooatFL8Aw'),
    });
    expect(zoomEncryptedToken(SECRET, 'qgg8vlvZRS6UYooatFL8Aw')).toMatch(/^[0-9a-f]{64}$/);
    expect(await stored()).toHaveLength(0);
  });

  it('refuses an unsigned url_validation', async () => {
    const body = JSON.stringify({ event: 'endpoint.url_validation', payload: { plainToken: 'x' }, event_ts: NOW_MS });
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/zoom',
      headers: { 'content-type': 'application/json' },
      payload: body,
    });
    expect(response.statusCode).toBe(401);
  });

  it('answers 413 for a body over the limit and counts it', async () => {
    const body = JSON.stringify({ event: 'session.alert', pad: 'x'.repeat(70 * 1024) });
    const response = await app.inject({ method: 'POST', url: '/webhooks/zoom', headers: signed(body), payload: body });
    expect(response.statusCode).toBe(413);
    expect(response.json().error).toBe('BODY_TOO_LARGE');
    expect(await metrics.registry.getSingleMetricAsString('sessionflow_ingest_rejected_total')).toContain(
      'code="BODY_TOO_LARGE"',
    );
  });

  it('answers 415 for a body that is not JSON by content type', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/zoom',
      headers: { ...signed(joined), 'content-type': 'text/plain' },
      payload: joined,
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().error).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 404 for a provider it does not know', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/nope',
      headers: signed(joined),
      payload: joined,
    });
    expect(response.statusCode).toBe(404);
  });

  it('answers the health checks and serves metrics', async () => {
    expect((await app.inject('/health/live')).statusCode).toBe(200);
    expect((await app.inject('/health/ready')).statusCode).toBe(200);
    await app.inject({ method: 'POST', url: '/webhooks/zoom', headers: signed(joined), payload: joined });
    const m = await app.inject('/metrics');
    expect(m.body).toContain('sessionflow_ingest_requests_total{provider="zoom",status="200"} 1');
  });
});
