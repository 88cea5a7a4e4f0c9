import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ERRORS, SessionflowError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { buildApp } from '../../ingest/app.js';
import { createApizeeReceiver } from '../../ingest/providers/apizee.js';
import { createMluviiReceiver } from '../../ingest/providers/mluvii.js';
import type { Receiver } from '../../ingest/providers/types.js';
import { createZoomReceiver } from '../../ingest/providers/zoom.js';

interface Operation {
  description?: string;
  parameters?: { in: string; name: string; schema?: { enum?: string[] } }[];
  requestBody?: { content: Record<string, { schema: { oneOf?: { title?: string; description?: string }[] } }> };
  responses: Record<
    string,
    { description: string; content?: Record<string, { schema: { properties?: { error?: { enum?: string[] } } } }> }
  >;
  security?: Record<string, string[]>[];
}
interface Spec {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }> };
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** The ingest with these receivers and a sink that is never to be reached. */
const ingestWith = (receivers: Receiver[]) =>
  buildApp({
    receivers,
    sink: { write: () => Promise.reject(new Error('no writes here')) },
    logger: createLogger('silent'),
    metrics: createMetrics(),
    bodyLimitBytes: 1024,
    ready: () => true,
  });

describe('OpenAPI at /docs', () => {
  let app: FastifyInstance;
  let spec: Spec;

  beforeAll(async () => {
    app = ingestWith([
      createZoomReceiver(['z']),
      createApizeeReceiver(['a']),
      createMluviiReceiver({ user: 'u', passwords: ['p'] }),
    ]);
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    spec = res.json<Spec>();
  });
  afterAll(async () => {
    await app.close();
  });

  it('is an OpenAPI 3 document with every route', () => {
    expect(spec.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(spec.info.title).toBeTruthy();
    expect(spec.info.version).toBeTruthy();
    expect(Object.keys(spec.paths).sort()).toEqual([
      '/health/live',
      '/health/ready',
      '/metrics',
      '/webhooks/{provider}',
    ]);
    expect(Object.keys(spec.paths['/webhooks/{provider}']!)).toEqual(['post']);
    for (const path of ['/health/live', '/health/ready', '/metrics'])
      expect(Object.keys(spec.paths[path]!)).toEqual(['get']);
    // What a validator checks first: methods, a described response each, path parameters declared,
    // security naming declared schemes, no dangling $ref.
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect(HTTP_METHODS.has(method)).toBe(true);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const r of Object.values(op.responses)) expect(typeof r.description).toBe('string');
        for (const name of path.match(/\{(\w+)\}/g) ?? []) {
          expect(op.parameters?.some((p) => p.in === 'path' && `{${p.name}}` === name)).toBe(true);
        }
        for (const requirement of op.security ?? []) {
          for (const scheme of Object.keys(requirement)) expect(spec.components.securitySchemes[scheme]).toBeDefined();
        }
      }
    }
    const text = JSON.stringify(spec);
    for (const [, ref] of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      const target = ref!
        .split('/')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], spec);
      expect(target, ref).toBeDefined();
    }
  });

  it('documents the webhook route: providers, raw JSON bodies, answers and every HTTP error code', () => {
    const op = spec.paths['/webhooks/{provider}']!.post!;
    expect(op.parameters?.find((p) => p.name === 'provider')?.schema?.enum).toEqual(['zoom', 'apizee', 'mluvii']);
    const bodies = op.requestBody?.content['application/json']?.schema.oneOf ?? [];
    expect(bodies.map((b) => b.title)).toEqual(['zoom', 'apizee', 'mluvii']);
    for (const b of bodies) expect(b.description).toMatch(/shared\/providers\/.+\.md/);

    const ok = JSON.stringify(op.responses['200']);
    for (const field of ['ingest_id', 'plainToken', 'encryptedToken']) expect(ok).toContain(field);

    for (const [code, spec_] of Object.entries(ERRORS)) {
      if (!('status' in spec_)) continue;
      const response = op.responses[String(spec_.status)];
      expect(response, `${code} (${spec_.status})`).toBeDefined();
      expect(response!.description).toContain(code);
      expect(response!.content?.['application/json']?.schema.properties?.error?.enum).toContain(code);
      expect(op.description).toContain(code);
    }
    for (const status of ['401', '413', '415', '503']) expect(op.responses[status]).toBeDefined();
  });

  it('lists in the error enums exactly the codes of lib/errors.ts with an HTTP status, each under its status', () => {
    const op = spec.paths['/webhooks/{provider}']!.post!;
    const documented = Object.entries(op.responses)
      .filter(([status]) => status !== '200')
      .map(([status, response]) => [status, response.content?.['application/json']?.schema.properties?.error?.enum]);
    const inList = new Map<string, string[]>();
    for (const [code, spec_] of Object.entries(ERRORS))
      if ('status' in spec_) inList.set(String(spec_.status), [...(inList.get(String(spec_.status)) ?? []), code]);
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(inList));
    expect([...inList.values()].flat()).toEqual(expect.arrayContaining(['NOT_FOUND', 'INTERNAL']));
  });

  it('answers a failure whose code has no HTTP status, or no code at all, as INTERNAL: no code outside the document', async () => {
    for (const thrown of [new SessionflowError('LOG_UNAVAILABLE', 'a broker is down'), new Error('a bug')]) {
      const failing = ingestWith([
        {
          provider: 'zoom',
          verify: () => {
            throw thrown;
          },
        },
      ]);
      const res = await failing.inject({
        method: 'POST',
        url: '/webhooks/zoom',
        headers: { 'content-type': 'application/json' },
        payload: '{}',
      });
      await failing.close();
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: 'INTERNAL', message: ERRORS.INTERNAL.message });
    }
    const elsewhere = await app.inject({ method: 'GET', url: '/nowhere?x=1' });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.json()).toEqual({ error: 'NOT_FOUND', message: expect.stringContaining('GET /nowhere') });
  });

  it('declares how each provider authenticates', () => {
    const schemes = spec.components.securitySchemes;
    expect(schemes.zoomSignature).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-zm-signature' });
    expect(schemes.zoomTimestamp).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-zm-request-timestamp' });
    expect(schemes.apizeeSecret).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-webhook-secret' });
    expect(schemes.mluviiBasic).toMatchObject({ type: 'http', scheme: 'basic' });
    expect(spec.paths['/webhooks/{provider}']!.post!.security).toEqual([
      { zoomSignature: [], zoomTimestamp: [] },
      { apizeeSecret: [] },
      { mluviiBasic: [] },
    ]);
  });

  it('serves the UI at /docs and the document as YAML too, from the package alone', async () => {
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
    // Every asset the page loads is served by us: nothing from another host.
    expect(ui.body).not.toMatch(/(src|href)="https?:/);
    const init = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain('validatorUrl: null');
    const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    const yaml = await app.inject({ method: 'GET', url: '/docs/yaml' });
    expect(yaml.statusCode).toBe(200);
    expect(yaml.body).toMatch(/^openapi: 3\./m);
  });

  it('leaves the webhook body unvalidated: a body matching no provider shape still reaches the receiver', async () => {
    // Not a Zoom envelope and no credentials: the receiver (not a schema) answers, 401 AUTH_MISSING.
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/zoom',
      headers: { 'content-type': 'application/json' },
      payload: '[1,2]',
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'AUTH_MISSING', message: expect.any(String) });
    const unknown = await app.inject({
      method: 'POST',
      url: '/webhooks/nobody',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'NOT_FOUND' });
  });
});
