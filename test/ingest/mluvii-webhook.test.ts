import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AvroCodec } from '../../lib/avro.js';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { parseConfig } from '../../lib/config.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { resolveSecrets } from '../../lib/secrets.js';
import { topicsFor } from '../../lib/topics.js';
import { buildApp } from '../../ingest/app.js';
import {
  createMluviiReceiver,
  mluviiAuthorization,
  mluviiDedupKey,
  mluviiSessionKey,
  readBasicAuth,
  readMluviiBody,
  type MluviiCredentials,
} from '../../ingest/providers/mluvii.js';
import { createMluviiRedeliveries, REDELIVERY_WINDOW_MICROS } from '../../ingest/providers/mluvii-redeliveries.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { mluviiAdapter } from '../../processors/adapters/mluvii/index.js';
import { tempDir } from '../helpers/tmp.js';

const USER = 'sessionflow';
const PASSWORD = 'n3w-Pa55:with-colon';
const OLD_PASSWORD = 'old-password-0';
const NOW_MS = Date.UTC(2026, 10, 21, 10, 0, 0);
const topics = topicsFor('test.');
const FIXTURES = fileURLToPath(new URL('../fixtures/mluvii/', import.meta.url));

const onHold = JSON.stringify({
  eventType: 'SessionActivityOnHold',
  data: {
    sessionId: 7383730,
    activityId: 50898864,
    time: '2024-05-06T15:05:29.719899+02:00',
    type: 'OnHold',
    client: 'User',
    userId: 2710,
    text: null,
  },
});

const headers = (authorization?: string): Record<string, string> => ({
  'content-type': 'application/json',
  'user-agent': 'mluvii-webhooks',
  ...(authorization === undefined ? {} : { authorization }),
});

async function appWith(
  credentials: MluviiCredentials | undefined,
  transport: Transport,
  clock = () => NOW_MS * 1000,
): Promise<FastifyInstance> {
  return buildApp({
    receivers: [createMluviiReceiver(credentials)],
    sink: await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics),
    logger: createLogger('silent'),
    metrics: createMetrics(),
    bodyLimitBytes: 64 * 1024,
    ready: () => true,
    clock,
  });
}

describe('POST /webhooks/mluvii', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let app: FastifyInstance;
  /** When the ingest receives the next request. */
  let now = NOW_MS * 1000;

  beforeEach(async () => {
    dir = tempDir();
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    now = NOW_MS * 1000;
    app = await appWith({ user: USER, passwords: [PASSWORD, OLD_PASSWORD] }, transport, () => now);
  });
  afterEach(async () => {
    await app.close();
    await transport.close();
    dir.remove();
  });

  /** What the raw topic holds: the RawWebhooks and their message keys. */
  async function stored(): Promise<Array<{ raw: RawWebhook; key: string | null }>> {
    const reader = new AvroCodec(transport.registry).deserializer<RawWebhook>('RawWebhook');
    const out: Array<{ raw: RawWebhook; key: string | null }> = [];
    const end = (await transport.log.endOffsets(topics.raw('mluvii'))).get(`${topics.raw('mluvii')}:0`) ?? 0;
    if (end === 0) return out;
    const consumer = await transport.log.consume({
      group: 'check',
      topics: [topics.raw('mluvii')],
      eachBatch: async (batch) => {
        for (const r of batch.records)
          out.push({ raw: await reader.decode(r.value), key: r.key?.toString('utf8') ?? null });
      },
    });
    while (out.length < end) await new Promise((r) => setTimeout(r, 10));
    await consumer.stop();
    return out;
  }

  const post = (payload: string, authorization?: string) =>
    app.inject({ method: 'POST', url: '/webhooks/mluvii', headers: headers(authorization), payload });

  it('stores a delivery with the right credentials byte for byte, keyed by its session, without the Authorization header', async () => {
    const body = onHold.replace('{', '{ ');
    const response = await post(body, mluviiAuthorization(USER, PASSWORD));
    expect(response.statusCode).toBe(200);
    const [entry] = await stored();
    expect(entry!.raw.ingest_id).toBe(response.json().ingest_id);
    expect(entry!.raw.body.toString('utf8')).toBe(body);
    expect(entry!.raw).toMatchObject({ provider: 'mluvii', source: 'webhook', content_type: 'application/json' });
    expect(entry!.raw.dedup_key).toMatch(/^[0-9a-f]{32}$/);
    expect(entry!.key).toBe('mluvii:7383730');
    expect(entry!.raw.headers.authorization).toBeUndefined();
    expect(JSON.stringify(entry!.raw.headers)).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    expect(entry!.raw.headers['user-agent']).toBe('mluvii-webhooks');
  });

  it('accepts the previous password during rotation', async () => {
    expect((await post(onHold, mluviiAuthorization(USER, OLD_PASSWORD))).statusCode).toBe(200);
  });

  it('gives a redelivery the same dedup key and a new ingest id', async () => {
    const a = await post(onHold, mluviiAuthorization(USER, PASSWORD));
    const b = await post(onHold, mluviiAuthorization(USER, OLD_PASSWORD));
    expect(a.json().ingest_id).not.toBe(b.json().ingest_id);
    const [x, y] = await stored();
    expect(x!.raw.dedup_key).toBe(y!.raw.dedup_key);
  });

  /**
   * Posts each body `seconds` after NOW, then normalizes what was stored and keeps the first event
   * of each event_id, as session_events does.
   */
  async function deliver(
    ...deliveries: Array<[seconds: number, body: object]>
  ): Promise<{ raws: RawWebhook[]; events: SessionEvent[] }> {
    for (const [seconds, body] of deliveries) {
      now = NOW_MS * 1000 + seconds * 1_000_000;
      expect((await post(JSON.stringify(body), mluviiAuthorization(USER, PASSWORD))).statusCode).toBe(200);
    }
    const raws = (await stored()).map((entry) => entry.raw);
    const events = new Map<string, SessionEvent>();
    for (const raw of raws)
      for (const e of mluviiAdapter.normalize(raw, { piiKey: 'k' }).events)
        if (!events.has(e.event_id)) events.set(e.event_id, e);
    return { raws, events: [...events.values()] };
  }

  describe('a body with no activityId and no time: a retry collapses, a genuine repeat is kept', () => {
    const status = (value: string) => ({
      eventType: 'UserStatusChanged',
      data: { userId: 2710, status: value, availabilityStatus: value, availabilityStatusReason: null },
    });
    const latest = (events: SessionEvent[]) => events.reduce((a, b) => (b.occurred_at > a.occurred_at ? b : a));

    it('UserStatusChanged AWAY → ONLINE → AWAY is three events and the operator is AWAY; mluvii retrying the first AWAY adds none', async () => {
      const { raws, events } = await deliver(
        [0, status('AWAY')],
        [20, status('AWAY')],
        [60, status('ONLINE')],
        [120, status('AWAY')],
      );
      expect(latest(events).state).toBe('AWAY');
      expect(events.map((e) => e.state)).toEqual(['AWAY', 'ONLINE', 'AWAY']);
      expect(raws[1]!.dedup_key).toBe(raws[0]!.dedup_key);
      expect(raws[3]!.dedup_key).not.toBe(raws[0]!.dedup_key);
    });

    it.each([
      'SessionCallParamsUpdated',
      'EmailThreadParamsUpdated',
      'GuestIdentityUpdated',
      'ApplicationSettingChanged',
    ])(
      '%s: the same body retried twice is one event; sent again past 5 minutes from the first, another',
      async (type) => {
        const body = JSON.parse(readFileSync(join(FIXTURES, `${type}.json`), 'utf8')) as object;
        const { raws, events } = await deliver([0, body], [30, body], [299, body], [301, body]);
        expect(events).toHaveLength(2);
        const [first, ...others] = raws.map((r) => r.dedup_key);
        expect(others.map((key) => key === first)).toEqual([true, true, false]);
      },
    );

    it('SessionCallParamsUpdated: a change after another event of the session is a repeat, even at once', async () => {
      const params = { eventType: 'SessionCallParamsUpdated', data: { id: 7383730, tenantId: 62 } };
      const { events } = await deliver([0, params], [1, JSON.parse(onHold) as object], [2, params], [3, params]);
      expect(events.map((e) => e.type)).toEqual(['session.updated', 'hold.started', 'session.updated']);
    });

    it("keeps each entity apart: one operator going AWAY does not make another one's AWAY a retry", async () => {
      const other = { ...status('AWAY'), data: { ...status('AWAY').data, userId: 4301 } };
      const { events } = await deliver([0, status('AWAY')], [1, other], [2, status('AWAY')]);
      expect(events.map((e) => e.participant?.provider_user_id)).toEqual(['2710', '4301']);
    });

    it('a session created once is one event however mluvii sends it again', async () => {
      const created = JSON.parse(readFileSync(join(FIXTURES, 'SessionCreated.json'), 'utf8')) as object;
      const { events } = await deliver([0, created], [1, JSON.parse(onHold) as object], [3600, created]);
      expect(events.map((e) => e.type)).toEqual(['session.created', 'hold.started']);
    });
  });

  it.each([
    ['a wrong password', mluviiAuthorization(USER, 'n3w-Pa55'), 'AUTH_INVALID'],
    ['a wrong user', mluviiAuthorization('mluvii', PASSWORD), 'AUTH_INVALID'],
    ['the user with a trailing space', mluviiAuthorization(`${USER} `, PASSWORD), 'AUTH_INVALID'],
    ['an empty password', mluviiAuthorization(USER, ''), 'AUTH_INVALID'],
    ['a bearer token', 'Bearer c2Vzc2lvbmZsb3c6eA==', 'AUTH_MISSING'],
    ['a Basic header that is not base64', 'Basic !!not-base64!!', 'AUTH_MISSING'],
    ['a Basic header without a colon', `Basic ${Buffer.from(USER).toString('base64')}`, 'AUTH_MISSING'],
    ['a Basic header with no token', 'Basic ', 'AUTH_MISSING'],
    ['no Authorization header', undefined, 'AUTH_MISSING'],
  ])('refuses %s with 401 and stores nothing', async (_name, authorization, code) => {
    const response = await post(onHold, authorization);
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toBe(code);
    expect(await stored()).toHaveLength(0);
  });

  it('answers 401 SECRET_NOT_CONFIGURED in production when no credentials are configured', async () => {
    const config = parseConfig({
      NODE_ENV: 'production',
      DATA_DIR: dir.path,
      PII_KEY: 'k'.repeat(32),
      MLUVII_WEBHOOK_PASSWORD: 'only-a-password',
    });
    const secrets = resolveSecrets(config);
    expect(secrets.mluvii).toBeUndefined();
    const production = await appWith(secrets.mluvii, transport);
    const response = await production.inject({
      method: 'POST',
      url: '/webhooks/mluvii',
      headers: headers(mluviiAuthorization(USER, PASSWORD)),
      payload: onHold,
    });
    await production.close();
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toBe('SECRET_NOT_CONFIGURED');
    expect(await stored()).toHaveLength(0);
  });

  it('stores a body it cannot read (normalize dead-letters it), with no dedup or session key', async () => {
    const response = await post('{"eventType": ', mluviiAuthorization(USER, PASSWORD));
    expect(response.statusCode).toBe(200);
    const [entry] = await stored();
    expect(entry).toMatchObject({ key: null, raw: { dedup_key: null } });
  });
});

describe('mluvii receiver: which deliveries are retries', () => {
  const S = 1_000_000;
  const timeless = (stream: string, payload: string) => ({ stream, payload, timeless: true });

  it('gives the same bytes with nothing between the key of the first attempt within 5 minutes of it, a new key after', () => {
    const memory = createMluviiRedeliveries();
    const first = memory.keyOf(timeless('user:2710', 'away'), 0);
    expect(memory.keyOf(timeless('user:2710', 'away'), 299 * S)).toBe(first);
    expect(memory.keyOf(timeless('user:2710', 'away'), 301 * S)).not.toBe(first);
    expect(REDELIVERY_WINDOW_MICROS).toBe(300 * S);
  });

  it('keys a body with an activity or a time by it alone, and counts it as what came between', () => {
    const memory = createMluviiRedeliveries();
    const params = memory.keyOf(timeless('mluvii:1', 'params'), 0);
    expect(memory.keyOf({ stream: 'mluvii:1', payload: 'activity-50898864', timeless: false }, 1)).toBe(
      'activity-50898864',
    );
    expect(memory.keyOf(timeless('mluvii:1', 'params'), 2)).not.toBe(params);
  });

  it('forgets entities past the window or past its size: their retries are kept as events, never taken for others', () => {
    const memory = createMluviiRedeliveries({ maxStreams: 2 });
    const a = memory.keyOf(timeless('user:1', 'away'), 0);
    memory.keyOf(timeless('user:2', 'away'), 1);
    memory.keyOf(timeless('user:3', 'away'), 2);
    expect(memory.size).toBe(2);
    expect(memory.keyOf(timeless('user:1', 'away'), 3)).not.toBe(a);
    memory.keyOf(timeless('user:4', 'away'), 400 * S);
    expect(memory.size).toBe(1);
  });
});

describe('mluvii receiver: reading credentials and keys', () => {
  it.each([
    ['Basic c2Vzc2lvbmZsb3c6cDpx', { user: 'sessionflow', password: 'p:q' }],
    ['basic   c2Vzc2lvbmZsb3c6cDpx  ', { user: 'sessionflow', password: 'p:q' }],
    ['Basic OnA=', { user: '', password: 'p' }],
    ['Basic c2Vzc2lvbmZsb3c', undefined],
    ['Digest c2Vzc2lvbmZsb3c6cDpx', undefined],
    [undefined, undefined],
  ])('readBasicAuth(%j) = %j', (value, expected) => expect(readBasicAuth(value)).toEqual(expected));

  const fixtures = readdirSync(FIXTURES).filter((f) => !f.startsWith('failure.') && !f.endsWith('.expected.json'));

  it.each(fixtures)('%s: the message key is the session key the adapter gives its events', (file) => {
    const bytes = readFileSync(join(FIXTURES, file));
    const body = readMluviiBody(bytes);
    const raw = {
      ingest_id: '01HWZ5Q6T3J8M2N4P6R8S0V2X4',
      provider: 'mluvii',
      received_at: NOW_MS * 1000,
      source: 'webhook' as const,
      dedup_key: null,
      headers: {},
      content_type: null,
      body: bytes,
    };
    const [event] = mluviiAdapter.normalize(raw, { piiKey: 'k' }).events;
    expect(mluviiSessionKey(body)).toBe(event!.session_key);
    expect(mluviiDedupKey(body, bytes)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keys an activity by its activityId, and a body with no time by its bytes as well', () => {
    const activity = JSON.parse(onHold) as { data: Record<string, unknown> };
    const sameActivity = { ...activity, data: { ...activity.data, time: '2024-05-06T15:05:30+02:00' } };
    const key = (body: object) => mluviiDedupKey(body, Buffer.from(JSON.stringify(body)));
    expect(key(sameActivity)).toBe(key(activity));
    const setting = (name: string) => ({
      eventType: 'ApplicationSettingChanged',
      data: { name, companyId: 1, departmentId: 62 },
    });
    expect(key(setting('recordSession'))).not.toBe(key(setting('guestPreview')));
    expect(key(setting('recordSession'))).toBe(key(setting('recordSession')));
    const joined = (userId: number) => ({
      eventType: 'SessionOperatorJoined',
      data: { id: 7371450, userId, time: '2024-05-02T16:05:24.454661+02:00' },
    });
    expect(key(joined(4))).not.toBe(key(joined(5)));
  });
});
