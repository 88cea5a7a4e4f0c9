import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import { parseConfig } from '../../lib/config.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { projectRoot } from '../../lib/paths.js';
import { topicsFor } from '../../lib/topics.js';
import { buildApp } from '../../ingest/app.js';
import { createApizeeReceiver } from '../../ingest/providers/apizee.js';
import { createLogRawSink, type RawSink } from '../../ingest/raw-sink.js';
import { slidingWindowBudget } from '../../ingest/pull/apizee-budget.js';
import { apizeeApiOptions, apizeeReconcileOptions } from '../../ingest/pull/apizee-options.js';
import {
  APIZEE_STATE_FILE,
  createApizeeReconciler,
  nextDue,
  type ApizeeReconcileOptions,
  type ApizeeReconciler,
} from '../../ingest/pull/apizee-reconcile.js';
import { isLogLocked, lockedLogMessage } from '../../bin/commands/backfill.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeApizee, PASSWORD, TOKEN, USERNAME, type WebhookBody } from './apizee-fake.js';

const topics = topicsFor('test.');
const SECRET = 'apizee-shared-secret-1';
const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2025, 5, 10, 18, 0, 0);

const event = (ticketId: number, objectId: number): WebhookBody => ({
  event: 'create',
  time: 1749581000 + objectId,
  object: 'conversationevent',
  objectId,
  props: { eventType: 'media.pictureTaken', eventCode: 31, conversationId: 548, ticketId, mediaId: objectId },
});

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('when a ticket is due again', () => {
  const I = 15 * MIN;
  const L = 24 * HOUR;
  it.each([
    ['never fetched: at once', { seenAt: T0, reconciledAt: null }, T0],
    ['a webhook since the last fetch: at once', { seenAt: T0, reconciledAt: T0 - MIN }, T0],
    ['fetched right after: one interval later', { seenAt: T0, reconciledAt: T0 + MIN }, T0 + MIN + I],
    ['quiet 15 min at its fetch: 15 min later', { seenAt: T0, reconciledAt: T0 + I }, T0 + 2 * I],
    ['quiet 2 h at its fetch: 2 h later', { seenAt: T0, reconciledAt: T0 + 2 * HOUR }, T0 + 4 * HOUR],
    ['quiet 16 h: the final fetch at the lookback', { seenAt: T0, reconciledAt: T0 + 16 * HOUR }, T0 + L],
  ] as const)('%s', (_name, tracked, due) => expect(nextDue(tracked, I, L)).toBe(due));
});

describe('apizee periodic reconciliation', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  let fake: FakeApizee;
  let base: string;
  let clock: { ms: number };
  let reconcilers: ApizeeReconciler[];

  beforeEach(async () => {
    dir = tempDir();
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics(topics.specs(1));
    fake = new FakeApizee();
    base = await fake.listen();
    clock = { ms: T0 };
    reconcilers = [];
  });
  afterEach(async () => {
    for (const r of reconcilers) await r.stop();
    await fake.close();
    await transport.close();
    dir.remove();
  });

  const stateDir = () => join(dir.path, 'pull', 'apizee');
  const stateFile = () => join(stateDir(), APIZEE_STATE_FILE);

  async function reconciler(
    over: Partial<ApizeeReconcileOptions> = {},
    realClock = false,
  ): Promise<{ r: ApizeeReconciler; sink: RawSink }> {
    const sink = await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics);
    const r = createApizeeReconciler(
      {
        apiBaseUrl: base,
        token: TOKEN,
        stateDir: stateDir(),
        intervalMs: 15 * MIN,
        lookbackMs: 24 * HOUR,
        saveDelayMs: 10,
        backoff: { initialMs: 20, maxMs: 100, attempts: 2 },
        ...over,
      },
      {
        sink,
        logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
        budget: slidingWindowBudget({ perWindow: 1000, windowMs: 60_000 }),
        ...(realClock ? {} : { nowMs: () => clock.ms }),
      },
    );
    reconcilers.push(r);
    return { r, sink: r.observe(sink) };
  }

  /** Delivers the webhook of `body` through the real receiver and the observed sink. */
  async function deliver(sink: RawSink, body: WebhookBody): Promise<void> {
    const app = buildApp({
      receivers: [createApizeeReceiver([SECRET])],
      sink,
      logger: createLogger('silent'),
      metrics: createMetrics(),
      bodyLimitBytes: 65536,
      ready: () => true,
    });
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/apizee',
      headers: { 'content-type': 'application/json', 'x-webhook-secret': SECRET },
      payload: JSON.stringify(body),
    });
    expect(response.statusCode).toBe(200);
    await app.close();
  }

  const fetched = () => fake.requests.map((r) => r.ticketId);

  it('fetches the tickets its webhooks name, again after doubling quiet spells, a last time at the lookback, then forgets them', async () => {
    fake.add('361', event(361, 1), event(361, 2));
    const { r, sink } = await reconciler();
    expect(await r.runOnce()).toEqual({ due: 0, reconciled: 0, events: 0, failed: 0 });
    await deliver(sink, event(361, 1)); // the second event's webhook was lost

    expect(await r.runOnce()).toEqual({ due: 1, reconciled: 1, events: 2, failed: 0 });
    expect((await r.runOnce()).due).toBe(0); // nothing new, not quiet long enough
    const at: number[] = [];
    for (let minutes = 5; minutes <= 25 * 60; minutes += 5) {
      clock.ms = T0 + minutes * MIN;
      if ((await r.runOnce()).due > 0) at.push(minutes);
    }
    expect(at).toEqual([15, 30, 60, 120, 240, 480, 960, 1440]);
    expect(fetched()).toEqual(Array(9).fill('361'));
    expect(JSON.parse(readFileSync(stateFile(), 'utf8'))).toEqual({ tickets: {} });
  });

  it('a new webhook makes its ticket due at once; a 404 ticket is let go; the tickets survive a restart', async () => {
    fake.add('361', event(361, 1));
    const first = await reconciler();
    await deliver(first.sink, event(361, 1));
    await deliver(first.sink, event(999, 7)); // a ticket the API does not know (deleted since)
    expect(await first.r.runOnce()).toMatchObject({ due: 2, reconciled: 1, failed: 1 });
    expect(fake.requests.map((q) => [q.ticketId, q.status])).toEqual([
      ['361', 200],
      ['999', 404],
    ]);

    clock.ms += MIN;
    await deliver(first.sink, event(361, 1));
    expect(await first.r.runOnce()).toMatchObject({ due: 1, reconciled: 1 });
    await first.r.stop();
    const stored = JSON.parse(readFileSync(stateFile(), 'utf8')) as {
      tickets: Record<string, { seenAt: number; reconciledAt: number }>;
    };
    expect(stored.tickets).toEqual({ '361': { seenAt: T0 + MIN, reconciledAt: T0 + MIN } });

    const second = await reconciler();
    clock.ms = T0 + MIN + 15 * MIN;
    expect(await second.r.runOnce()).toMatchObject({ due: 1, reconciled: 1 });
    expect(fetched()).toEqual(['361', '999', '361', '361']);
  });

  it('a refused token ends the run and keeps every ticket for the next', async () => {
    const { r, sink } = await reconciler({ token: 'expired' });
    await deliver(sink, event(361, 1));
    await deliver(sink, event(362, 2));
    expect(await r.runOnce()).toMatchObject({ due: 2, reconciled: 0, failed: 1 });
    expect(fake.requests).toHaveLength(1);
    expect((await r.runOnce()).due).toBe(2);
  });

  it("with the user's credentials, gets its token itself, keeps it across runs, renews it before it expires and after a 401", async () => {
    fake.expiresIn = 3600;
    fake.add('361', event(361, 1));
    fake.add('362', event(362, 2));
    const { r, sink } = await reconciler({ token: undefined, credentials: { username: USERNAME, password: PASSWORD } });
    expect(await r.runOnce()).toMatchObject({ due: 0 });
    expect(fake.tokenRequests).toHaveLength(0); // no ticket, no token
    await deliver(sink, event(361, 1));
    await deliver(sink, event(362, 2));
    expect(await r.runOnce()).toMatchObject({ due: 2, reconciled: 2, failed: 0 });
    expect(fake.tokenRequests).toHaveLength(1);
    clock.ms = T0 + 15 * MIN;
    expect(await r.runOnce()).toMatchObject({ due: 2, reconciled: 2 });
    expect(fake.tokenRequests).toHaveLength(1);
    fake.expiresIn = 86400; // the next token lives a day
    clock.ms = T0 + 60 * MIN; // past 48 minutes of the hour: a new token first
    expect(await r.runOnce()).toMatchObject({ due: 2, reconciled: 2 });
    expect(fake.tokenRequests).toHaveLength(2);
    fake.expireTokens();
    clock.ms = T0 + 120 * MIN;
    expect(await r.runOnce()).toMatchObject({ due: 2, reconciled: 2, failed: 0 });
    expect(fake.tokenRequests).toHaveLength(3);
    expect(fake.requests.map((q) => q.status)).toEqual([200, 200, 200, 200, 200, 200, 401, 200, 200]);
  });

  it('refused credentials end the run and keep every ticket; the next run asks for a token again', async () => {
    const { r, sink } = await reconciler({ token: undefined, credentials: { username: USERNAME, password: 'wrong' } });
    await deliver(sink, event(361, 1));
    await deliver(sink, event(362, 2));
    expect(await r.runOnce()).toMatchObject({ due: 2, reconciled: 0, failed: 1 });
    expect((await r.runOnce()).due).toBe(2);
    expect(fake.tokenRequests.map((q) => q.status)).toEqual([401, 401]);
    expect(fake.requests).toHaveLength(0);
  });

  it('runs on its own once started, and stop() saves the tickets file', async () => {
    fake.add('361', event(361, 1));
    const { r, sink } = await reconciler({ intervalMs: 100 }, true);
    r.start();
    await deliver(sink, event(361, 1));
    await waitFor(() => fake.requests.length >= 1, 'a reconciliation of ticket 361');
    await r.stop();
    const requests = fake.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(fake.requests.length).toBe(requests);
    expect(Object.keys((JSON.parse(readFileSync(stateFile(), 'utf8')) as { tickets: object }).tickets)).toEqual([
      '361',
    ]);
  });
});

describe('apizee configuration', () => {
  it('APIZEE_API_TOKEN turns the REST client and the periodic job on, with the documented defaults', () => {
    const config = parseConfig({ DATA_DIR: '/tmp/sf', APIZEE_API_TOKEN: 'tok' });
    expect(config.apizeeApi).toEqual({
      url: 'https://cloud.apizee.com',
      auth: 'fixed',
      requestsPerMinute: 10,
      pageLimit: 100,
      reconcileIntervalMinutes: 15,
      reconcileLookbackHours: 24,
    });
    expect(apizeeApiOptions(config)).toEqual({
      apiBaseUrl: 'https://cloud.apizee.com',
      token: 'tok',
      requestsPerMinute: 10,
      pageLimit: 100,
    });
    expect(apizeeReconcileOptions(config)).toMatchObject({
      stateDir: '/tmp/sf/pull/apizee',
      intervalMs: 15 * MIN,
      lookbackMs: 24 * HOUR,
    });
    expect(JSON.stringify(parseConfig({ APIZEE_API_TOKEN: 'tok' }).apizeeApi)).not.toContain('tok');
  });

  it('APIZEE_API_USERNAME and APIZEE_API_PASSWORD turn them on too, the client getting its own tokens', () => {
    const config = parseConfig({
      DATA_DIR: '/tmp/sf',
      APIZEE_API_USERNAME: ` ${USERNAME} `,
      APIZEE_API_PASSWORD: ` ${PASSWORD}`,
    });
    expect(config.apizeeApi).toMatchObject({
      url: 'https://cloud.apizee.com',
      auth: 'credentials',
      reconcileIntervalMinutes: 15,
    });
    // The username is trimmed; the password is taken as it is written (a space may be part of it).
    expect(apizeeApiOptions(config)).toEqual({
      apiBaseUrl: 'https://cloud.apizee.com',
      credentials: { username: USERNAME, password: ` ${PASSWORD}` },
      requestsPerMinute: 10,
      pageLimit: 100,
    });
    expect(apizeeReconcileOptions(config)).toMatchObject({ credentials: { username: USERNAME }, intervalMs: 15 * MIN });
    expect(JSON.stringify(config.apizeeApi)).not.toContain(PASSWORD);
  });

  it.each([
    [
      'a username without a password',
      { APIZEE_API_USERNAME: USERNAME },
      /APIZEE_API_PASSWORD: APIZEE_API_USERNAME and APIZEE_API_PASSWORD go together/,
    ],
    [
      'a password without a username',
      { APIZEE_API_PASSWORD: PASSWORD },
      /APIZEE_API_USERNAME: APIZEE_API_USERNAME and APIZEE_API_PASSWORD go together/,
    ],
    [
      'a blank password',
      { APIZEE_API_USERNAME: USERNAME, APIZEE_API_PASSWORD: '   ' },
      /APIZEE_API_PASSWORD: APIZEE_API_USERNAME and APIZEE_API_PASSWORD go together/,
    ],
    [
      'a token beside the credentials',
      { APIZEE_API_TOKEN: 'tok', APIZEE_API_USERNAME: USERNAME, APIZEE_API_PASSWORD: PASSWORD },
      /APIZEE_API_TOKEN: set APIZEE_API_TOKEN or APIZEE_API_USERNAME and APIZEE_API_PASSWORD, not both/,
    ],
  ])('refuses %s (CONFIG_INVALID), naming the variable and never the password', (_name, env, message) => {
    let error: unknown;
    try {
      parseConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(PASSWORD);
  });

  it('no token: neither; interval 0: the client without the job; bad values are refused', () => {
    expect(apizeeApiOptions(parseConfig({}))).toBeUndefined();
    const noJob = parseConfig({ APIZEE_API_TOKEN: 'tok', APIZEE_API_RECONCILE_INTERVAL_MINUTES: '0' });
    expect(apizeeApiOptions(noJob)).toBeDefined();
    expect(apizeeReconcileOptions(noJob)).toBeUndefined();
    expect(() => parseConfig({ APIZEE_API_REQUESTS_PER_MINUTE: '0' })).toThrow(/APIZEE_API_REQUESTS_PER_MINUTE/);
    expect(() => parseConfig({ APIZEE_API_URL: 'cloud.apizee.com' })).toThrow(/APIZEE_API_URL/);
  });

  it('every APIZEE_API_ variable is in .env.example and the README', () => {
    const example = readFileSync(join(projectRoot(), '.env.example'), 'utf8');
    const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
    for (const name of [
      'APIZEE_API_URL',
      'APIZEE_API_TOKEN',
      'APIZEE_API_USERNAME',
      'APIZEE_API_PASSWORD',
      'APIZEE_API_REQUESTS_PER_MINUTE',
      'APIZEE_API_PAGE_LIMIT',
      'APIZEE_API_RECONCILE_INTERVAL_MINUTES',
      'APIZEE_API_RECONCILE_LOOKBACK_HOURS',
    ]) {
      expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
      expect(readme).toContain(name);
    }
  });
});

describe('backfill while the service holds the embedded log', () => {
  let dir: ReturnType<typeof tempDir>;
  let holder: ChildProcess | undefined;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    if (holder && holder.exitCode === null) {
      const exited = new Promise((resolve) => holder!.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
    }
    dir.remove();
  });

  it('recognises that another process has the embedded log open, and says what to do', async () => {
    const lock = join(dir.path, 'log', 'LOCK');
    // A real second process holding the log: the built code, as `sessionflow run` would.
    const open = join(projectRoot(), 'dist/lib/log/open.js');
    const script = `import(${JSON.stringify(open)}).then(async ({ openEmbeddedTransport }) => { await openEmbeddedTransport(${JSON.stringify(dir.path)}); process.stdout.write('held\\n'); setInterval(() => {}, 1000); })`;
    holder = spawn(process.execPath, ['-e', script], { cwd: projectRoot(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    holder.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor(() => out.includes('held') && existsSync(lock), 'another process to hold the log', 20_000);

    const err = await openEmbeddedTransport(dir.path).then(
      (t) => t.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'IN_USE', retriable: true, holder: holder.pid });
    expect(isLogLocked(err)).toBe(true);
    expect(isLogLocked(new Error('IO Error: No space left on device'))).toBe(false);
    const text = lockedLogMessage(dir.path, err);
    expect(text).toContain(`${join(dir.path, 'log')} is in use by another process (PID ${holder.pid})`);
    expect(text).toMatch(/Stop the service, run the backfill, then start the service again/);

    // Once the holder is gone (kill -9 leaves its LOCK behind), the log opens again.
    const exited = new Promise((resolve) => holder!.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    holder = undefined;
    expect(existsSync(lock)).toBe(true);
    const transport = await openEmbeddedTransport(dir.path);
    await transport.close();
  });
});

describe('run with APIZEE_API_TOKEN, or APIZEE_API_USERNAME and APIZEE_API_PASSWORD, set', () => {
  it.each([
    ['a token', { APIZEE_API_TOKEN: TOKEN }, 0],
    ["the user's credentials", { APIZEE_API_USERNAME: USERNAME, APIZEE_API_PASSWORD: PASSWORD }, 1],
  ])(
    'with %s, reconciles the ticket a webhook named, through the running pipeline',
    async (_name, auth, tokenRequests) => {
      const dir = tempDir();
      const fake = new FakeApizee();
      const base = await fake.listen();
      fake.add('361', event(361, 1), event(361, 2));
      const { startPipeline } = await import('../../bin/pipeline.js');
      const config = parseConfig({
        NODE_ENV: 'test',
        DATA_DIR: dir.path,
        PORT: '0',
        HOST: '127.0.0.1',
        TOPIC_PARTITIONS: '1',
        LOG_LEVEL: 'silent',
        APIZEE_WEBHOOK_SECRET: SECRET,
        PII_KEY: 'test-pii-key-0123456789',
        APIZEE_API_URL: base,
        ...auth,
        APIZEE_API_RECONCILE_INTERVAL_MINUTES: '0.005',
      });
      const pipeline = await startPipeline(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'));
      try {
        const response = await fetch(`${pipeline.url}/webhooks/apizee`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-webhook-secret': SECRET },
          body: JSON.stringify(event(361, 1)),
        });
        expect(response.status).toBe(200);
        await waitFor(
          () => fake.requests.some((r) => r.ticketId === '361' && r.status === 200),
          'the reconciliation of ticket 361',
        );
        await pipeline.stop();
        const stored = JSON.parse(readFileSync(join(dir.path, 'pull', 'apizee', APIZEE_STATE_FILE), 'utf8')) as {
          tickets: object;
        };
        expect(Object.keys(stored.tickets)).toEqual(['361']);
        expect(fake.tokenRequests).toHaveLength(tokenRequests);
      } finally {
        await pipeline.stop();
        await fake.close();
        dir.remove();
      }
    },
  );
});
