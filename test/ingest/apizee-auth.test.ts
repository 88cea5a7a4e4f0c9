/**
 * Apizee tokens from the user's credentials, against a local Apizee API (apizee-fake.ts): the token
 * is asked for once (POST /api/v3/token, its parameters in the query as Apizee documents them),
 * shared by every request, renewed at 80% of its expires_in before Apizee refuses it, and at once
 * on a 401 (the request asked once more); refused credentials end the run; the password and the
 * tokens never reach the log. A fixed APIZEE_API_TOKEN works as before, with no token request.
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { createLogger } from '../../lib/logger.js';
import { topicsFor } from '../../lib/topics.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { createApizeeBackfill, type ApizeeApiClientOptions, type ApizeeBackfill } from '../../ingest/pull/apizee.js';
import { slidingWindowBudget } from '../../ingest/pull/apizee-budget.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeApizee, PASSWORD, TOKEN, USERNAME, type WebhookBody } from './apizee-fake.js';

const topics = topicsFor('test.');
const MIN = 60_000;
const T0 = Date.UTC(2025, 5, 10, 18, 0, 0);

function timeline(ticketId: number, n: number, firstId = ticketId * 100): WebhookBody[] {
  return Array.from({ length: n }, (_, i) => ({
    event: 'create',
    time: 1749581000 + i,
    object: 'conversationevent',
    objectId: firstId + i,
    props: { eventType: 'media.pictureTaken', eventCode: 31, conversationId: 548, ticketId, mediaId: 342000 + i },
  }));
}

function capture(): { stream: Writable; text(): string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  return { stream, text: () => out };
}

describe('apizee tokens from APIZEE_API_USERNAME and APIZEE_API_PASSWORD', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let fake: FakeApizee;
  let base: string;
  let clock: { ms: number };
  let log: ReturnType<typeof capture>;

  beforeEach(async () => {
    dir = tempDir();
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    fake = new FakeApizee();
    base = await fake.listen();
    clock = { ms: T0 };
    log = capture();
    for (const t of [361, 362, 363]) fake.add(String(t), ...timeline(t, 12));
  });
  afterEach(async () => {
    await fake.close();
    await transport.close();
    dir.remove();
  });

  async function backfill(over: Partial<ApizeeApiClientOptions> = {}): Promise<ApizeeBackfill> {
    return createApizeeBackfill(
      {
        apiBaseUrl: base,
        credentials: { username: USERNAME, password: PASSWORD },
        pageLimit: 10,
        requestTimeoutMs: 5000,
        backoff: { initialMs: 20, maxMs: 100, attempts: 3 },
        ...over,
      },
      {
        sink: await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics),
        logger: createLogger('trace', log.stream),
        budget: slidingWindowBudget({ perWindow: 1000, windowMs: 60_000 }),
        nowMs: () => clock.ms,
      },
    );
  }

  /** Everything the client logged, once pino has written it. */
  async function logged(): Promise<string> {
    await new Promise((resolve) => setImmediate(resolve));
    return log.text();
  }

  it('asks POST /api/v3/token once (grant_type=password, username, password in the query) and every request carries that token', async () => {
    const b = await backfill();
    // Two tickets at once: one token request between them.
    expect(await Promise.all([b.ticket('361'), b.ticket('362')])).toEqual([12, 12]);
    expect(await b.ticket('363')).toBe(12);
    expect(fake.tokenRequests).toHaveLength(1);
    expect(fake.tokenRequests[0]).toMatchObject({
      query: { grant_type: 'password', username: USERNAME, password: PASSWORD },
      status: 200,
    });
    const [token] = fake.issued;
    expect(fake.requests.map((r) => [r.status, r.token])).toEqual(Array(6).fill([200, token]));
  });

  it('renews the token once 80% of its expires_in has passed, before Apizee refuses it', async () => {
    fake.expiresIn = 3600;
    const b = await backfill();
    await b.ticket('361');
    clock.ms = T0 + 47 * MIN; // 78% of an hour: the token in hand still serves
    await b.ticket('362');
    expect(fake.tokenRequests).toHaveLength(1);
    clock.ms = T0 + 48 * MIN; // 80%
    await b.ticket('363');
    expect(fake.tokenRequests).toHaveLength(2);
    const [first, second] = fake.issued;
    expect(fake.requests.map((r) => r.token)).toEqual([first, first, first, first, second, second]);
    expect(fake.requests.every((r) => r.status === 200)).toBe(true); // renewed before any 401

    // A token of Apizee's documented day is renewed after 19.2 h.
    fake.expiresIn = 86400;
    clock.ms += 48 * MIN;
    await b.ticket('361');
    expect(fake.tokenRequests).toHaveLength(3);
    clock.ms += 19 * 60 * MIN;
    await b.ticket('362');
    expect(fake.tokenRequests).toHaveLength(3);
    clock.ms += 12 * MIN;
    await b.ticket('363');
    expect(fake.tokenRequests).toHaveLength(4);
    expect(fake.requests.every((r) => r.status === 200)).toBe(true);
  });

  it('renews the token at once when Apizee refuses it (401) and asks the same page once more', async () => {
    const b = await backfill();
    await b.ticket('361');
    fake.expireTokens(); // revoked, or expired earlier than it said
    expect(await b.ticket('362')).toBe(12);
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200, 401, 200, 200]);
    expect(fake.tokenRequests).toHaveLength(2);
    const [first, second] = fake.issued;
    expect(fake.requests.map((r) => r.token)).toEqual([first, first, first, second, second]);
  });

  /** A 401 that ends the run: a refusal (not retriable) with Apizee's status. */
  const REFUSED_401 = {
    failure: 'unauthorized',
    apizeeStatus: 401,
    stopsRun: true,
    code: 'PROVIDER_API_REFUSED',
    retriable: false,
  };

  it('a fresh token refused too ends the run: one more try only, a message that names the user settings', async () => {
    const b = await backfill();
    fake.refuseEveryToken = true;
    const outcomes = await b.tickets(['361', '362']);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.error).toMatchObject(REFUSED_401);
    expect(outcomes[0]!.error!.message).toMatch(/APIZEE_API_USERNAME/);
    expect(fake.requests.map((r) => r.status)).toEqual([401, 401]);
    expect(fake.tokenRequests).toHaveLength(2);
  });

  it('refused credentials end the run at the token request, which is not retried; a token endpoint that fails is retried', async () => {
    const wrong = await backfill({ credentials: { username: USERNAME, password: 'not the password' } });
    const outcomes = await wrong.tickets(['361', '362']);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.error).toMatchObject(REFUSED_401);
    expect(outcomes[0]!.error!.message).toMatch(/APIZEE_API_USERNAME and APIZEE_API_PASSWORD.*HTTP 401/);
    expect(fake.tokenRequests.map((r) => r.status)).toEqual([401]);
    expect(fake.requests).toHaveLength(0);

    fake.tokenScript.push({ status: 503 });
    expect(await (await backfill()).ticket('361')).toBe(12);
    expect(fake.tokenRequests.map((r) => r.status)).toEqual([401, 503, 200]);
  });

  it('never logs the password or a token, whatever happens', async () => {
    fake.expiresIn = 3600;
    const b = await backfill();
    await b.ticket('361');
    clock.ms = T0 + 50 * MIN;
    await b.ticket('362'); // renewed before expiry
    fake.expireTokens();
    await b.ticket('363'); // renewed on a 401
    fake.tokenScript.push({ status: 500 });
    fake.expireTokens();
    await b.ticket('361'); // a token request that failed, then one that worked
    await (await backfill({ credentials: { username: USERNAME, password: `${PASSWORD}-wrong` } })).tickets(['361']);

    const text = await logged();
    expect(text).toContain('apizee access token obtained');
    expect(text).toContain('"level":20'); // debug lines were written: the search covers them
    expect(fake.issued).toHaveLength(4);
    const secrets = [
      PASSWORD,
      `${PASSWORD}-wrong`,
      encodeURIComponent(PASSWORD),
      new URLSearchParams({ password: PASSWORD }).toString(),
      ...fake.issued,
    ];
    expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
  });
});

describe('a fixed APIZEE_API_TOKEN', () => {
  it('is used as it is: no token request, and a 401 is not asked again', async () => {
    const fake = new FakeApizee();
    const base = await fake.listen();
    const dir = tempDir();
    const transport = await openEmbeddedTransport(dir.path);
    try {
      await transport.log.createTopics(topics.specs(1));
      fake.add('361', ...timeline(361, 3));
      const make = async (token: string) =>
        createApizeeBackfill(
          { apiBaseUrl: base, token, pageLimit: 10, backoff: { initialMs: 20, maxMs: 100, attempts: 3 } },
          {
            sink: await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics),
            logger: createLogger('silent'),
            budget: slidingWindowBudget({ perWindow: 1000, windowMs: 60_000 }),
          },
        );
      expect(await (await make(TOKEN)).ticket('361')).toBe(3);
      const [outcome] = await (await make('expired')).tickets(['361']);
      expect(outcome!.error!.message).toMatch(/refused APIZEE_API_TOKEN \(HTTP 401\)/);
      expect(fake.requests.map((r) => [r.status, r.token])).toEqual([
        [200, TOKEN],
        [401, 'expired'],
      ]);
      expect(fake.tokenRequests).toEqual([]);
    } finally {
      await transport.close();
      await fake.close();
      dir.remove();
    }
  });

  it('goes alone: a client takes a token or credentials, exactly one of them', () => {
    const deps = { sink: { write: async () => undefined }, logger: createLogger('silent') };
    expect(() => createApizeeBackfill({ apiBaseUrl: 'http://127.0.0.1:1' }, deps)).toThrow(/a token or credentials/);
    expect(() =>
      createApizeeBackfill(
        { apiBaseUrl: 'http://127.0.0.1:1', token: TOKEN, credentials: { username: USERNAME, password: PASSWORD } },
        deps,
      ),
    ).toThrow(/a token or credentials/);
  });
});
