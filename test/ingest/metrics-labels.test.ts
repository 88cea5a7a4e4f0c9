/**
 * Metric labels come from the closed provider list (lib/canonical.ts PROVIDERS) or `unknown`:
 * a label taken from the request path would let anyone, without a credential, add a permanent
 * Prometheus series per request and grow memory and /metrics without limit.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { PROVIDERS } from '../../lib/canonical.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { buildApp } from '../../ingest/app.js';
import { createZoomReceiver } from '../../ingest/providers/zoom.js';
import type { RawSink } from '../../ingest/raw-sink.js';

const LIMIT = 1024;
const ALLOWED = new Set<string>([...PROVIDERS, 'unknown']);

/** Every provider="..." label value in a Prometheus text exposition. */
function providerLabels(text: string): Set<string> {
  return new Set([...text.matchAll(/provider="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!));
}

/** Path segments a stranger may send: anything URL-safe, some of them near the real names. */
const segment = fc
  .oneof(
    fc.stringMatching(/^[A-Za-z0-9._~-]{1,40}$/),
    fc.constantFrom('ZOOM', 'zoom2', 'apizee ', 'none', 'unknown', '__proto__', 'constructor', '..', 'metrics'),
  )
  .map((s) => encodeURIComponent(s));

describe('ingest metrics labels', () => {
  let app: FastifyInstance;
  let metrics: ReturnType<typeof createMetrics>;
  const sink: RawSink = { write: async () => {} } as unknown as RawSink;

  beforeEach(() => {
    metrics = createMetrics();
    app = buildApp({
      receivers: [createZoomReceiver(['zoom-secret'])],
      sink,
      logger: createLogger('silent'),
      metrics,
      bodyLimitBytes: LIMIT,
      ready: () => true,
    });
  });
  afterEach(async () => {
    await app.close();
  });

  const post = (url: string, payload: string, contentType = 'application/json') =>
    app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });

  it('labels requests to any other path, and their 413 and 415 answers, only as unknown', async () => {
    await fc.assert(
      fc.asyncProperty(segment, fc.constantFrom('ok', 'large', 'text'), async (name, kind) => {
        const url = `/webhooks/${name}`;
        const response =
          kind === 'large'
            ? await post(url, JSON.stringify({ pad: 'x'.repeat(LIMIT * 2) }))
            : kind === 'text'
              ? await post(url, '{}', 'text/plain')
              : await post(url, '{}');
        expect(response.statusCode).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: 200 },
    );
    // The known route still counts under its own name.
    expect((await post('/webhooks/zoom', '{}')).statusCode).toBe(401);
    const text = (await app.inject('/metrics')).body;
    const labels = providerLabels(text);
    for (const label of labels) expect(ALLOWED, `label provider="${label}"`).toContain(label);
    expect(labels).toContain('unknown');
    expect(labels).toContain('zoom');
    expect(text).toMatch(/sessionflow_ingest_rejected_total\{provider="unknown",code="BODY_TOO_LARGE"\} \d+/);
    expect(text).toMatch(/sessionflow_ingest_rejected_total\{provider="unknown",code="UNSUPPORTED_MEDIA_TYPE"\} \d+/);
  });

  it('keeps /metrics the same size however many distinct paths are posted to', async () => {
    const burst = async (from: number) => {
      for (let i = from; i < from + 150; i++) {
        await post(`/webhooks/p${i}`, '{}');
        await post(`/webhooks/q${i}`, JSON.stringify({ pad: 'x'.repeat(LIMIT * 2) }));
        await post(`/webhooks/r${i}`, '{}', 'text/plain');
      }
    };
    await burst(0);
    const first = (await app.inject('/metrics')).body;
    await burst(1000);
    const second = (await app.inject('/metrics')).body;
    // Only counter values change (a digit or two more), never the number of series.
    // (The process metrics beside them, such as GC timings, vary on their own: compare the ingest's lines only.)
    const ingest = (text: string) => text.split('\n').filter((line) => line.startsWith('sessionflow_ingest_'));
    expect(ingest(second).length).toBe(ingest(first).length);
    expect(ingest(second).join('\n').length).toBeLessThan(ingest(first).join('\n').length + 200);
  });
});
