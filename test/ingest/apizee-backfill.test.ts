import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import type { RawWebhook } from '../../lib/canonical.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { ERRORS } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { projectRoot } from '../../lib/paths.js';
import { topicsFor } from '../../lib/topics.js';
import { buildApp } from '../../ingest/app.js';
import { wrap } from '../../ingest/envelope.js';
import { apizeeDedupKey, apizeeSessionKey, createApizeeReceiver } from '../../ingest/providers/apizee.js';
import { createLogRawSink, type RawSink } from '../../ingest/raw-sink.js';
import { createApizeeBackfill, type ApizeeApiClientOptions, type ApizeeBackfill } from '../../ingest/pull/apizee.js';
import { ApizeeApiError } from '../../ingest/pull/apizee-api.js';
import { slidingWindowBudget, type RequestBudget } from '../../ingest/pull/apizee-budget.js';
import { restDelivery, unixSeconds, webhookBody } from '../../ingest/pull/apizee-event.js';
import { apizeeAdapter } from '../../processors/adapters/apizee/index.js';
import { normalizeRaw } from '../../processors/normalize.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeApizee, flatRecord, TOKEN, type FakeOptions, type WebhookBody } from './apizee-fake.js';

const topics = topicsFor('test.');
const TOPIC = topics.raw('apizee');
const PII_KEY = 'test-pii-key-0123456789';
const SECRET = 'apizee-shared-secret-1';
const FIXTURES = join(projectRoot(), 'test/fixtures/apizee');

/** Every documented event type's webhook body (the golden fixtures, failures left out). */
const documented: Array<[string, WebhookBody]> = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json') && !f.startsWith('failure.'))
  .sort()
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as WebhookBody]);
const fixture = (type: string) => documented.find(([name]) => name === type)![1];

/** A timeline of `n` events of ticket `ticketId`, ids from `firstId`. */
function timeline(ticketId: number, n: number, firstId = 5000): WebhookBody[] {
  return Array.from({ length: n }, (_, i) => ({
    event: 'create',
    time: 1749581000 + i,
    object: 'conversationevent',
    objectId: firstId + i,
    props: { eventType: 'media.pictureTaken', eventCode: 31, conversationId: 548, ticketId, mediaId: 342000 + i },
  }));
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('apizee REST items become the webhook body', () => {
  it.each(documented)(
    '%s: flat REST record → same dedup key, session key and canonical events as the webhook',
    (_name, body) => {
      const delivered = wrap({
        provider: 'apizee',
        source: 'webhook',
        receivedAt: 1_749_585_600_000_000,
        dedupKey: apizeeDedupKey(body),
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(body)),
      });
      for (const item of [flatRecord(body), body]) {
        const d = restDelivery(item, '361');
        expect(d.dedupKey).toBe(String(body.objectId));
        expect(d.dedupKey).toBe(apizeeDedupKey(body));
        expect(d.sessionKey).toBe(apizeeSessionKey(body));
        expect(JSON.parse(d.body.toString('utf8'))).toEqual(body); // exactly the webhook's body
        const backfilled = wrap({
          provider: 'apizee',
          source: 'backfill',
          receivedAt: 1_749_590_000_000_000,
          dedupKey: d.dedupKey,
          headers: { 'content-type': 'application/json' },
          body: d.body,
        });
        const [a, b] = [
          apizeeAdapter.normalize(delivered, { piiKey: PII_KEY }),
          apizeeAdapter.normalize(backfilled, { piiKey: PII_KEY }),
        ];
        expect(a.failures).toEqual([]);
        expect(b.failures).toEqual([]);
        expect(a.events.length).toBeGreaterThan(0);
        const same = (r: typeof a) => r.events.map(({ ingest_id: _i, received_at: _r, ...rest }) => rest);
        expect(same(b)).toEqual(same(a));
        expect(b.events.map((e) => e.event_id)).toEqual(a.events.map((e) => e.event_id));
      }
    },
  );

  it.each([
    [1749581447, 1749581447],
    [1749581447000, 1749581447],
    ['1749581447', 1749581447],
    ['2025-06-10T18:50:47+00:00', 1749581447],
    ['2025-06-10T20:50:47+02:00', 1749581447],
    ['2025-06-10T18:50:47.900Z', 1749581447],
    ['soon', undefined],
    [0, undefined],
    [null, undefined],
  ] as const)('time %j → %j Unix seconds', (value, expected) => expect(unixSeconds(value)).toBe(expected));

  it('an item without an id is still stored (the adapter dead-letters it, naming the field), keyed by nothing', () => {
    const d = restDelivery({ eventType: 'media.OCRDone', created: '2025-06-10T18:50:47+00:00', text: 'x' }, '361');
    expect(d.dedupKey).toBeNull();
    expect(d.sessionKey).toBe('apizee:361');
    const raw = wrap({
      provider: 'apizee',
      source: 'backfill',
      receivedAt: 1,
      dedupKey: null,
      headers: {},
      body: d.body,
    });
    expect(apizeeAdapter.normalize(raw, { piiKey: PII_KEY }).failures.map((f) => f.field_path)).toEqual(['objectId']);
  });

  it('string ids and codes of a REST record are sent as the webhook sends them (numbers)', () => {
    expect(
      webhookBody(
        { id: '1266', eventType: 'media.OCRDone', eventCode: '41', conversationId: '548', time: 1749581447, text: 't' },
        '361',
      ),
    ).toEqual({
      event: 'create',
      time: 1749581447,
      object: 'conversationevent',
      objectId: 1266,
      props: { eventType: 'media.OCRDone', eventCode: 41, conversationId: 548, ticketId: 361, text: 't' },
    });
  });
});

describe('apizee backfill against a local Apizee API', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let fake: FakeApizee;
  let base: string;
  let groups = 0;

  async function start(options: FakeOptions = {}): Promise<void> {
    fake = new FakeApizee(options);
    base = await fake.listen();
  }

  beforeEach(async () => {
    dir = tempDir();
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
  });
  afterEach(async () => {
    await fake?.close();
    await transport.close();
    dir.remove();
  });

  const sink = () => createLogRawSink(transport.log, new AvroCodec(transport.registry), topics);

  async function backfill(
    over: Partial<ApizeeApiClientOptions> = {},
    deps: { budget?: RequestBudget; sink?: RawSink } = {},
  ): Promise<ApizeeBackfill> {
    return createApizeeBackfill(
      {
        apiBaseUrl: base,
        token: TOKEN,
        pageLimit: 10,
        requestTimeoutMs: 5000,
        backoff: { initialMs: 20, maxMs: 100, attempts: 3 },
        ...over,
      },
      {
        sink: deps.sink ?? (await sink()),
        logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
        budget: deps.budget ?? slidingWindowBudget({ perWindow: 1000, windowMs: 60_000 }),
      },
    );
  }

  async function stored(): Promise<Array<{ raw: RawWebhook; key: string | null }>> {
    const reader = new AvroCodec(transport.registry).deserializer<RawWebhook>('RawWebhook');
    const end = (await transport.log.endOffsets(TOPIC)).get(`${TOPIC}:0`) ?? 0;
    if (end === 0) return [];
    const out: Array<{ raw: RawWebhook; key: string | null }> = [];
    const consumer = await transport.log.consume({
      group: `check-${++groups}`,
      topics: [TOPIC],
      eachBatch: async (batch) => {
        for (const record of batch.records)
          out.push({ raw: await reader.decode(record.value), key: record.key?.toString() ?? null });
      },
    });
    await waitFor(() => out.length >= end, 'the raw topic');
    await consumer.stop();
    return out;
  }

  it('reads every page (limit/offset) and stores each event as its own webhook-shaped RawWebhook, source backfill', async () => {
    await start();
    const events = timeline(361, 25);
    fake.add('361', ...events);
    const written = await (await backfill()).ticket('361');
    expect(written).toBe(25);
    expect(fake.requests.map((r) => [r.offset, r.limit, r.status])).toEqual([
      [0, 10, 200],
      [10, 10, 200],
      [20, 10, 200],
    ]);
    const rows = await stored();
    expect(rows.map((r) => JSON.parse(r.raw.body.toString('utf8')))).toEqual(events);
    for (const [i, row] of rows.entries()) {
      expect(row.raw).toMatchObject({
        provider: 'apizee',
        source: 'backfill',
        dedup_key: String(events[i]!.objectId),
        content_type: 'application/json',
      });
      expect(row.key).toBe('apizee:361');
    }
  });

  it('follows a total when the answer gives one, and stops when a page brings nothing new (offset ignored)', async () => {
    await start({ envelope: 'data', shape: 'webhook' });
    fake.add('361', ...timeline(361, 20));
    expect(await (await backfill()).ticket('361')).toBe(20);
    expect(fake.requests.map((r) => r.offset)).toEqual([0, 10]); // total 20: no third, empty page
    await fake.close();

    await start({ ignoreOffset: true });
    fake.add('362', ...timeline(362, 10, 6000));
    expect(await (await backfill()).ticket('362')).toBe(10);
    expect(fake.requests.map((r) => r.offset)).toEqual([0, 10]); // the same page again: done, nothing stored twice
    expect(await stored()).toHaveLength(30);
  });

  it('keeps to the budget: never more than 10 requests in a rolling window, shared by every caller in the process', async () => {
    const windowMs = 400;
    await start({ limit: { perWindow: 10, windowMs } }); // the fake answers 429 past 10 a window
    for (const t of ['401', '402', '403', '404']) fake.add(t, ...timeline(Number(t), 35, Number(t) * 100)); // 4 pages each
    const budget = slidingWindowBudget({ perWindow: 10, windowMs });
    const [a, b] = [await backfill({}, { budget }), await backfill({}, { budget })];
    const started = Date.now();
    const results = await Promise.all([a.tickets(['401', '402']), b.tickets(['403', '404'])]);
    expect(results.flat().map((o) => [o.ticketId, o.events, o.error?.message])).toEqual([
      ['401', 35, undefined],
      ['402', 35, undefined],
      ['403', 35, undefined],
      ['404', 35, undefined],
    ]);
    const at = fake.requests.map((r) => r.at);
    expect(at).toHaveLength(16);
    expect(fake.rateLimited).toBe(0);
    for (let i = 10; i < at.length; i++) expect(at[i]! - at[i - 10]!).toBeGreaterThanOrEqual(windowMs);
    expect(Date.now() - started).toBeGreaterThanOrEqual(windowMs); // 16 requests: a second window was needed
  });

  it('waits out a 429 until its X-RateLimit-Reset (and a Retry-After), then goes on', async () => {
    await start();
    fake.add('361', ...timeline(361, 3));
    let resetAt = Math.floor(Date.now() / 1000) + 1;
    if (resetAt * 1000 - Date.now() < 300) resetAt++;
    fake.script.push({ status: 429, headers: { 'x-ratelimit-reset': String(resetAt) } });
    expect(await (await backfill()).ticket('361')).toBe(3);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 200]);
    expect(fake.requests[1]!.at).toBeGreaterThanOrEqual(resetAt * 1000 - 5);

    fake.script.push({ status: 429, headers: { 'retry-after': '0.3' } });
    const before = Date.now();
    expect(await (await backfill()).ticket('361')).toBe(3);
    expect(fake.requests.slice(2).map((r) => r.status)).toEqual([429, 200]);
    expect(fake.requests[3]!.at - before).toBeGreaterThanOrEqual(295);
  });

  it('a 429 holds every caller of the budget, not just the one refused', async () => {
    await start();
    fake.add('361', ...timeline(361, 1));
    fake.add('362', ...timeline(362, 1, 6000));
    fake.script.push({ status: 429, headers: { 'retry-after': '0.4' } });
    const inner = slidingWindowBudget({ perWindow: 100, windowMs: 60_000 });
    let held = false;
    const budget: RequestBudget = {
      take: (signal) => inner.take(signal),
      holdUntil: (ms) => {
        held = true;
        return inner.holdUntil(ms);
      },
    };
    const first = (await backfill({}, { budget })).ticket('361');
    await waitFor(() => held, 'the 429 to reach the budget');
    const refusedAt = fake.requests[0]!.at;
    await Promise.all([first, (await backfill({}, { budget })).ticket('362')]);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 200, 200]);
    for (const r of fake.requests.slice(1)) expect(r.at - refusedAt).toBeGreaterThanOrEqual(390);
  });

  it('retries a transient 5xx with backoff, and reports one that persists', async () => {
    await start();
    fake.add('361', ...timeline(361, 2));
    fake.script.push({ status: 500 }, { status: 503 });
    expect(await (await backfill()).ticket('361')).toBe(2);
    expect(fake.requests.map((r) => r.status)).toEqual([500, 503, 200]);

    fake.script.push({ status: 500 }, { status: 500 }, { status: 500 });
    const [outcome] = await (await backfill()).tickets(['361']);
    expect(outcome!.error).toBeInstanceOf(ApizeeApiError);
    expect(outcome!.error!.failure).toBe('server_error');
    expect(outcome!.error).toMatchObject({ code: 'PROVIDER_API_UNAVAILABLE', retriable: true, apizeeStatus: 500 });
    expect(outcome!.error!.message).toBe(
      `${ERRORS.PROVIDER_API_UNAVAILABLE.message}: Apizee answered HTTP 500 for ticket 361 (3 attempts)`,
    );
    expect(fake.requests).toHaveLength(6);
  });

  it('reports a 404 ticket without retrying it, a 403 as a permission problem, and goes on with the next ticket', async () => {
    await start();
    fake.add('361', ...timeline(361, 2));
    fake.add('363', ...timeline(363, 1, 7000));
    fake.forbidden.add('363');
    const seen: number[] = [];
    const outcomes = await (await backfill()).tickets(['999', '363', '361'], {
      onTicket: (p) => seen.push(p.ticketsDone),
    });
    expect(outcomes.map((o) => [o.ticketId, o.events, o.error?.failure ?? null])).toEqual([
      ['999', 0, 'not_found'],
      ['363', 0, 'forbidden'],
      ['361', 2, null],
    ]);
    expect(outcomes[0]!.error).toMatchObject({ code: 'PROVIDER_API_REFUSED', retriable: false, apizeeStatus: 404 });
    expect(outcomes[0]!.error!.message).toBe(
      `${ERRORS.PROVIDER_API_REFUSED.message}: ticket 999 not found (HTTP 404): no such ticket for this Apizee account, or it was deleted`,
    );
    expect(outcomes[1]!.error!.message).toMatch(
      /403 Forbidden for ticket 363: the token's user lacks the role permissions/,
    );
    expect(fake.requests.map((r) => [r.ticketId, r.status])).toEqual([
      ['999', 404],
      ['363', 403],
      ['361', 200],
    ]); // each once
    expect(seen).toEqual([1, 2, 3]);
    expect((await stored()).map((r) => r.raw.dedup_key)).toEqual(['5000', '5001']);
  });

  it('a refused token (401) ends the run with a message that names APIZEE_API_TOKEN', async () => {
    await start();
    fake.add('361', ...timeline(361, 1));
    const outcomes = await (await backfill({ token: 'expired' })).tickets(['361', '362']);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.error!.failure).toBe('unauthorized');
    expect(outcomes[0]!.error!.message).toMatch(/refused APIZEE_API_TOKEN \(HTTP 401\).*POST \/api\/v3\/token/);
    expect(fake.requests).toHaveLength(1);
  });

  it('stops after the ticket in hand when asked, and a second run stores the rest (duplicates keep their key)', async () => {
    await start();
    for (const t of ['361', '362', '363']) fake.add(t, ...timeline(Number(t), 2, Number(t) * 10));
    const stop = new AbortController();
    const first = await (await backfill()).tickets(['361', '362', '363'], {
      signal: stop.signal,
      onTicket: () => stop.abort(),
    });
    expect(first.map((o) => o.ticketId)).toEqual(['361']);
    const again = await (await backfill()).tickets(['361', '362', '363']);
    expect(again.map((o) => o.events)).toEqual([2, 2, 2]);
    const keys = (await stored()).map((r) => r.raw.dedup_key);
    expect(keys).toEqual(['3610', '3611', '3610', '3611', '3620', '3621', '3630', '3631']);
  });

  it('an event seen both ways is one event: webhook and backfill through the real embedded log, then normalize', async () => {
    await start();
    const ocr = fixture('media.OCRDone');
    const left = fixture('session.userLeft');
    fake.add('361', ocr, left);
    const rawSink = await sink();
    const app = buildApp({
      receivers: [createApizeeReceiver([SECRET])],
      sink: rawSink,
      logger: createLogger('silent'),
      metrics: createMetrics(),
      bodyLimitBytes: 64 * 1024,
      ready: () => true,
    });
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: { 'content-type': 'application/json', 'x-webhook-secret': SECRET },
      payload: JSON.stringify(ocr),
    });
    expect(response.statusCode).toBe(200);
    await app.close();
    expect(await (await backfill({}, { sink: rawSink })).ticket('361')).toBe(2);

    const rows = await stored();
    expect(rows.map((r) => [r.raw.source, r.raw.dedup_key, r.key])).toEqual([
      ['webhook', '1266', 'apizee:361'],
      ['backfill', '1266', 'apizee:361'],
      ['backfill', '1270', 'apizee:361'],
    ]);
    const results = rows.map((r) => normalizeRaw(r.raw, PII_KEY));
    expect(results.flatMap((r) => r.failures)).toEqual([]);
    const [webhook, backfilled, other] = results.map((r) => r.events.map((e) => e.event_id));
    expect(webhook!.length).toBeGreaterThan(0);
    expect(backfilled).toEqual(webhook);
    const distinct = new Set(results.flatMap((r) => r.events.map((e) => e.event_id)));
    expect(distinct.size).toBe(webhook!.length + other!.length); // three raws, two events' worth downstream
  });
});
