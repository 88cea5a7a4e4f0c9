import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { monotonicFactory } from 'ulidx';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import { SessionflowError } from '../../lib/errors.js';
import type { RawWebhook } from '../../lib/canonical.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { createLogger } from '../../lib/logger.js';
import { topicsFor } from '../../lib/topics.js';
import { createLogRawSink, type RawSink } from '../../ingest/raw-sink.js';
import {
  CURSOR_FILE,
  createJifelinePuller,
  JIFELINE_SUBSCRIBED_TYPES,
  type JifelinePuller,
  type JifelinePullOptions,
} from '../../ingest/pull/jifeline.js';
import { reconnectDelayMs } from '../../ingest/pull/jifeline-ws.js';
import { rateLimitDelayMs } from '../../ingest/pull/rate-limit.js';
import { jifelineAdapter, JIFELINE_EVENT_TYPES } from '../../processors/adapters/jifeline/index.js';
import { tempDir } from '../helpers/tmp.js';
import { CLIENT, FakeJifeline, type FakeEvent } from './jifeline-fake.js';

const topics = topicsFor('test.');
const TOPIC = topics.raw('jifeline');
const nextUlid = monotonicFactory();
const TICKETS = ['4f0c2a52-8d7e-4b59-9a0e-6b1f6f0d2c11', '9b7e3c1d-2f4a-4e6b-8c0d-1a2b3c4d5e6f'];

let n = 0;
function event(type = 'tickets.ticket.created'): FakeEvent {
  n++;
  return {
    id: nextUlid(Date.UTC(2024, 4, 2, 8) + n * 1000),
    type,
    occurred_at: new Date(Date.UTC(2024, 4, 2, 8) + n * 1000).toISOString(),
    payload: {
      ticket: { id: TICKETS[n % 2]!, ticket_number: 72456000 + n },
      customer: { id: '160c0c4b-9966-4dc1-a916-8407eb10d74e', name: 'Autoservis Jana Novakova' },
    },
  };
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Stored {
  raw: RawWebhook;
  key: string | null;
  /** Which way it came: a websocket frame has an action. */
  path: 'rest' | 'websocket';
  id: string;
}

describe('Jifeline puller against a local Partner API', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let fake: FakeJifeline;
  let base: string;
  let pullers: JifelinePuller[];
  let groups = 0;

  beforeEach(async () => {
    dir = tempDir();
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    fake = new FakeJifeline();
    base = await fake.listen();
    pullers = [];
  });
  afterEach(async () => {
    for (const puller of pullers) await puller.stop();
    await fake.close();
    await transport.close();
    dir.remove();
  });

  const stateDir = () => join(dir.path, 'pull', 'jifeline');
  const cursor = () =>
    existsSync(join(stateDir(), CURSOR_FILE)) ? readFileSync(join(stateDir(), CURSOR_FILE), 'utf8').trim() : null;

  async function puller(
    over: Partial<JifelinePullOptions> = {},
    wrapSink: (sink: RawSink) => RawSink = (sink) => sink,
  ): Promise<JifelinePuller> {
    const sink = wrapSink(await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics));
    const p = createJifelinePuller(
      {
        apiBaseUrl: base,
        tokenUrl: `${base}/oauth2/token`,
        clientId: CLIENT.id,
        clientSecret: CLIENT.secret,
        stateDir: stateDir(),
        pageLimit: 2,
        pollIntervalMs: 60_000,
        backoff: { initialMs: 20, maxMs: 100 },
        requestTimeoutMs: 5000,
        ...over,
      },
      { sink, logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') },
    );
    pullers.push(p);
    return p;
  }

  async function stored(): Promise<Stored[]> {
    const reader = new AvroCodec(transport.registry).deserializer<RawWebhook>('RawWebhook');
    const end = (await transport.log.endOffsets(TOPIC)).get(`${TOPIC}:0`) ?? 0;
    if (end === 0) return [];
    const out: Stored[] = [];
    const consumer = await transport.log.consume({
      group: `check-${++groups}`,
      topics: [TOPIC],
      eachBatch: async (batch) => {
        for (const record of batch.records) {
          const raw = await reader.decode(record.value);
          const body = JSON.parse(raw.body.toString('utf8')) as { action?: string; id?: string; event_id?: string };
          out.push({
            raw,
            key: record.key?.toString() ?? null,
            path: body.action ? 'websocket' : 'rest',
            id: body.event_id ?? body.id ?? '',
          });
        }
      },
    });
    await waitFor(() => out.length >= end, 'the raw topic');
    await consumer.stop();
    return out;
  }

  const ids = async (path: Stored['path']) => (await stored()).filter((s) => s.path === path).map((s) => s.id);

  it('pages from the cursor, stores every event once and in order, and moves the cursor only past stored pages', async () => {
    const first = [event(), event(), event(), event(), event()];
    fake.add(...first);
    const p = await puller({ pollIntervalMs: 100 });
    p.start();
    await waitFor(() => cursor() === first[4]!.id, 'the cursor at the fifth event');
    expect(fake.requests.slice(0, 3).map((r) => [r.afterId, r.limit])).toEqual([
      [null, 2],
      [first[1]!.id, 2],
      [first[3]!.id, 2],
    ]);

    const rows = await stored();
    expect(rows.map((r) => r.id)).toEqual(first.map((e) => e.id));
    for (const [i, row] of rows.entries()) {
      expect(row.raw).toMatchObject({
        provider: 'jifeline',
        source: 'poll',
        dedup_key: first[i]!.id,
        content_type: 'application/json',
      });
      expect(row.key).toBe(`jifeline:${first[i]!.payload.ticket.id}`);
      expect(JSON.parse(row.raw.body.toString('utf8'))).toEqual(first[i]);
    }

    const later = [event('tickets.ticket.closed'), event('tickets.ticket.product_added')];
    fake.add(...later);
    await waitFor(() => cursor() === later[1]!.id, 'the cursor at the seventh event');
    expect(await ids('rest')).toEqual([...first, ...later].map((e) => e.id));
    expect(readdirSync(stateDir())).toEqual([CURSOR_FILE]);
    await p.stop();

    const requests = fake.requests.length;
    await (await puller()).pollOnce();
    expect(fake.requests[requests]?.afterId).toBe(later[1]!.id); // a new process resumes from the stored cursor
    expect(await ids('rest')).toHaveLength(7);
  });

  it('renews the token at 80% of expires_in, and at once when the API refuses it', async () => {
    fake.expiresIn = 1;
    fake.add(event());
    const p = await puller({ pollIntervalMs: 100 });
    p.start();
    await waitFor(() => fake.tokenRequests >= 2 && fake.requests.length >= 12, 'a renewal before expiry');
    expect(fake.requests.filter((r) => r.status !== 200)).toEqual([]);

    fake.expiresIn = 3600;
    const renewals = fake.tokenRequests;
    await waitFor(() => fake.tokenRequests > renewals, 'a token that stays valid');
    const before = { tokens: fake.tokenRequests, requests: fake.requests.length };
    fake.revoke(fake.lastToken);
    fake.add(event());
    await waitFor(
      () => fake.requests.slice(before.requests).some((r) => r.status === 200 && r.afterId !== null),
      'a poll after the revocation',
    );
    const after = fake.requests.slice(before.requests);
    const refused = after.findIndex((r) => r.status === 401);
    expect(after.filter((r) => r.status === 401)).toHaveLength(1);
    expect(after[refused + 1]?.status).toBe(200);
    expect(fake.tokenRequests).toBe(before.tokens + 1);
    await waitFor(async () => (await ids('rest')).length === 2, 'both events');
    expect(new Set(await ids('rest')).size).toBe(2);
  });

  it('backs off after a 500 and waits out a 429 until its X-RateLimit-Reset', async () => {
    const all = [event(), event(), event()];
    fake.add(...all);
    let resetAt = Math.floor(Date.now() / 1000) + 1;
    if (resetAt * 1000 - Date.now() < 300) resetAt++; // a wait well past the backoff's 100 ms
    fake.script.push({ status: 500 }, { status: 429, headers: { 'x-ratelimit-reset': String(resetAt) } });
    const p = await puller();
    p.start();
    await waitFor(() => cursor() === all[2]!.id, 'the cursor at the last event');
    expect(fake.requests.slice(0, 3).map((r) => r.status)).toEqual([500, 429, 200]);
    expect(fake.requests[2]!.at).toBeGreaterThanOrEqual(resetAt * 1000 - 5);
    expect(await ids('rest')).toEqual(all.map((e) => e.id));
  });

  it('does not retry a refusal (a 403): the poll ends with it, and the next poll asks again', async () => {
    const all = [event(), event()];
    fake.add(...all);
    fake.script.push({ status: 403 });
    const p = await puller({ pageLimit: 10, pollIntervalMs: 400 });
    p.start();
    await waitFor(() => cursor() === all[1]!.id, 'the cursor at the last event');
    expect(fake.requests.map((r) => r.status)).toEqual([403, 200]);
    // The poll interval, not the backoff of a retriable failure (20 to 100 ms).
    expect(fake.requests[1]!.at - fake.requests[0]!.at).toBeGreaterThanOrEqual(390);
    expect(await ids('rest')).toEqual(all.map((e) => e.id));
  });

  it('stores websocket events as they come, reconnects after a drop, and the poller fills the gap', async () => {
    const start = [event(), event(), event()];
    fake.add(...start);
    const p = await puller({
      websocketUrl: `${base.replace('http', 'ws')}/wssprd`,
      reconnect: { immediate: 3, intervalMs: 200 },
    });
    p.start();
    await waitFor(
      () => cursor() === start[2]!.id && fake.openSubscriptions()[0]?.size === JIFELINE_SUBSCRIBED_TYPES.length,
      'the subscriptions',
    );
    expect([...fake.subscriptions[0]!].sort()).toEqual([...JIFELINE_EVENT_TYPES.keys()].sort());

    const live = event('tickets.ticket.product_added');
    fake.add(live);
    expect(fake.push(live)).toBe(1);
    await waitFor(async () => (await ids('websocket')).includes(live.id), 'the pushed event');

    fake.revoke(fake.lastToken); // the first reconnection is refused (401 on the upgrade): a new token, then in
    fake.dropSockets();
    const missed = [event('tickets.ticket.product_removed'), event('tickets.ticket.closed')];
    fake.add(...missed); // sent while the socket was down: the socket does not replay them
    await waitFor(() => cursor() === missed[1]!.id, 'the poller to fill the gap');
    await waitFor(() => fake.openSubscriptions().length === 1, 'the reconnection');
    expect(fake.connections).toBe(2);
    expect(fake.tokenRequests).toBe(2);

    const rows = await stored();
    expect(rows.filter((r) => r.path === 'rest').map((r) => r.id)).toEqual(
      [...start, live, ...missed].map((e) => e.id),
    );
    expect(rows.filter((r) => r.path === 'websocket').map((r) => r.id)).toEqual([live.id]);
    const both = rows.filter((r) => r.id === live.id);
    expect(both.map((r) => [r.raw.dedup_key, r.key])).toEqual([
      [live.id, `jifeline:${live.payload.ticket.id}`],
      [live.id, `jifeline:${live.payload.ticket.id}`],
    ]);
    const normalized = both.map((r) => jifelineAdapter.normalize(r.raw, { piiKey: 'test-pii-key' }));
    expect(normalized.map((result) => result.failures)).toEqual([[], []]);
    expect(normalized[0]!.events[0]!.event_id).toBe(normalized[1]!.events[0]!.event_id);
    expect(JSON.stringify(normalized)).not.toContain('Novakova');
  });

  it('drops a websocket frame over maxFrameBytes (closing that connection) instead of buffering it, and the poller brings its event', async () => {
    const start = event();
    fake.add(start);
    const p = await puller({
      websocketUrl: `${base.replace('http', 'ws')}/wssprd`,
      reconnect: { immediate: 3, intervalMs: 200 },
      maxFrameBytes: 4096,
    });
    p.start();
    await waitFor(
      () => cursor() === start.id && fake.openSubscriptions()[0]?.size === JIFELINE_SUBSCRIBED_TYPES.length,
      'the subscriptions',
    );
    const large: FakeEvent = {
      ...event(),
      payload: { ticket: { id: TICKETS[0]! }, customer: { id: 'c1', name: 'x'.repeat(8_000) } },
    };
    fake.add(large);
    expect(fake.push(large)).toBe(1);
    await waitFor(
      () =>
        fake.connections === 2 &&
        fake.openSubscriptions().length === 1 &&
        fake.openSubscriptions()[0]!.size === JIFELINE_SUBSCRIBED_TYPES.length,
      'a new connection, subscribed, after the one the frame closed',
    );
    const small = event('tickets.ticket.closed');
    fake.add(small);
    expect(fake.push(small)).toBe(1);
    await waitFor(async () => (await ids('websocket')).includes(small.id), 'the next small frame over the websocket');
    await waitFor(async () => (await ids('rest')).includes(large.id), 'the poller to bring the large event');
    expect(await ids('websocket')).not.toContain(large.id);
  });

  it('moves the cursor only past events the sink has made durable, writing a failed page again', async () => {
    const all = [event(), event(), event(), event()];
    fake.add(...all);
    const ahead: string[] = [];
    let failures = 1;
    let writes = 0;
    const p = await puller({ pollIntervalMs: 100 }, (sink) => ({
      async write(raw, key) {
        const at = cursor();
        if (at !== null && raw.dedup_key !== null && at >= raw.dedup_key) ahead.push(raw.dedup_key);
        if (++writes === 4 && failures-- > 0) throw new SessionflowError('LOG_UNAVAILABLE', 'a test failure');
        await sink.write(raw, key);
      },
    }));
    p.start();
    await waitFor(() => cursor() === all[3]!.id, 'the cursor at the last event');
    expect(ahead).toEqual([]);
    const stored = await ids('rest');
    expect(new Set(stored)).toEqual(new Set(all.map((e) => e.id)));
    expect(stored.filter((id) => id === all[2]!.id)).toHaveLength(2); // the page of the failed write went again
  });

  it('stop() waits for the request in hand: its page is stored and the cursor moved, and no request follows', async () => {
    const all = [event(), event()];
    fake.add(...all);
    fake.delayMs = 300;
    const p = await puller({ pageLimit: 10 });
    p.start();
    await waitFor(() => fake.tokenRequests === 1, 'the first request');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await p.stop();
    expect(cursor()).toBe(all[1]!.id);
    expect(await ids('rest')).toEqual(all.map((e) => e.id));
    const requests = fake.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fake.requests.length).toBe(requests);
  });
});

describe('websocket reconnection schedule', () => {
  it.each([
    [1, 0],
    [3, 0],
    [4, 5000],
    [9, 5000],
  ] as const)('after %j failures in a row: %j ms', (failures, expected) =>
    expect(reconnectDelayMs(failures, { immediateReconnects: 3, reconnectIntervalMs: 5000 })).toBe(expected),
  );
});

describe('rateLimitDelayMs', () => {
  const now = Date.UTC(2024, 4, 2, 8);
  it.each([
    [{ 'retry-after': '2' }, 2000],
    [{ 'retry-after': 'Thu, 02 May 2024 08:00:30 GMT' }, 30_000],
    [{ 'x-ratelimit-reset': String(now / 1000 + 5) }, 5000],
    [{ 'x-ratelimit-reset': String(now + 1500) }, 1500],
    [{ 'x-ratelimit-reset': '42' }, 42_000],
    [{ 'x-ratelimit-reset': String(now / 1000 - 5) }, 0],
    [{ 'retry-after': '1', 'x-ratelimit-reset': '42' }, 1000],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
  ] as const)('%j → %j ms', (headers, expected) => expect(rateLimitDelayMs(new Headers(headers), now)).toBe(expected));
});
