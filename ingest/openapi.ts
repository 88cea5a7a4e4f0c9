/**
 * OpenAPI for the ingest (DESIGN section 10, STYLE point 11): @fastify/swagger builds the
 * document from the registered routes; @fastify/swagger-ui serves it at /docs (its assets ship
 * in the package: nothing is fetched at run time), the document itself at /docs/json and
 * /docs/yaml.
 *
 * The routes carry no Fastify schema: the schemas below reach only the document, through the
 * `transform` hook, so Fastify never validates, parses or re-serialises a webhook (the raw
 * body must stay byte for byte for the signature) nor an answer.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { ERRORS, type ErrorCode } from '../lib/errors.js';
import { APIZEE_DEFAULT_HEADER } from './providers/apizee.js';

export const DOCS_PREFIX = '/docs';

/**
 * Every status the webhook route can answer with an error body, and the codes behind it: the
 * codes of lib/errors.ts with a status, no other (app.ts answers anything else as INTERNAL).
 */
export function webhookErrorCodes(): Map<number, ErrorCode[]> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const [code, spec] of Object.entries(ERRORS) as [ErrorCode, (typeof ERRORS)[ErrorCode]][])
    if ('status' in spec) byStatus.set(spec.status, [...(byStatus.get(spec.status) ?? []), code]);
  return new Map([...byStatus].sort(([a], [b]) => a - b));
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Malformed request',
  401: 'Not authenticated',
  404: 'No such provider',
  413: 'Body too large',
  415: 'Not application/json',
  500: 'Internal error',
  503: 'Not stored now; the provider retries',
};

function errorResponse(status: number, codes: readonly ErrorCode[]): object {
  const lines = codes.map((code) => `- \`${code}\`: ${ERRORS[code].message}`);
  return {
    description: `${REASONS[status] ?? 'Error'}. \`error\` is one of:\n${lines.join('\n')}`,
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string', enum: [...codes], description: 'error code (README "Error codes", lib/errors.ts)' },
      message: { type: 'string' },
    },
  };
}

const PROVIDER_BODIES: Readonly<Record<string, object>> = {
  zoom: {
    title: 'zoom',
    type: 'object',
    description:
      'Zoom Video SDK webhook (shared/providers/zoom-video-sdk-webhooks.md). Signed: x-zm-signature = ' +
      '"v0=" + hex(HMAC-SHA256(secret token, "v0:" + x-zm-request-timestamp + ":" + raw body)). ' +
      '`endpoint.url_validation` is answered with {plainToken, encryptedToken} and not stored.',
    properties: {
      event: { type: 'string', example: 'session.user_joined' },
      event_ts: { type: 'integer', description: 'epoch milliseconds' },
      payload: { type: 'object', additionalProperties: true },
    },
    additionalProperties: true,
  },
  apizee: {
    title: 'apizee',
    type: 'object',
    description:
      'Apizee webhook, one ticket-timeline event per request (shared/providers/apizee-session-events.md, ' +
      '"Listen to webhook callbacks"). Not signed: authenticated by the shared secret header.',
    properties: {
      event: { type: 'string', example: 'create' },
      time: { type: 'integer', description: 'epoch seconds' },
      object: { type: 'string', example: 'conversationevent' },
      objectId: { type: 'integer' },
      props: { type: 'object', additionalProperties: true },
    },
    additionalProperties: true,
  },
  mluvii: {
    title: 'mluvii',
    type: 'object',
    description:
      'mluvii webhook, one event per request (shared/providers/mluvii-webhooks.md). Not signed: ' +
      'authenticated by the basic-auth credentials put in the callback URL.',
    properties: {
      eventType: { type: 'string' },
      data: { type: 'object', additionalProperties: true },
    },
    additionalProperties: true,
  },
};

const SECURITY_SCHEMES = (apizeeHeader: string) => ({
  zoomSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'x-zm-signature',
    description:
      'Zoom: "v0=" + hex(HMAC-SHA256(ZOOM_WEBHOOK_SECRET_TOKEN, "v0:" + timestamp + ":" + raw body)); sent with x-zm-request-timestamp',
  },
  zoomTimestamp: {
    type: 'apiKey',
    in: 'header',
    name: 'x-zm-request-timestamp',
    description:
      'Zoom: epoch seconds or milliseconds of the request; refused beyond 5 minutes from our clock (TIMESTAMP_STALE)',
  },
  apizeeSecret: {
    type: 'apiKey',
    in: 'header',
    name: apizeeHeader,
    description: `Apizee: APIZEE_WEBHOOK_SECRET in the header named by APIZEE_WEBHOOK_HEADER (default ${APIZEE_DEFAULT_HEADER})`,
  },
  mluviiBasic: {
    type: 'http',
    scheme: 'basic',
    description: 'mluvii: MLUVII_WEBHOOK_USER and MLUVII_WEBHOOK_PASSWORD, from the user:pass@ in the callback URL',
  },
});

/** One alternative per provider: Zoom needs both headers. */
const PROVIDER_SECURITY: Readonly<Record<string, Record<string, string[]>>> = {
  zoom: { zoomSignature: [], zoomTimestamp: [] },
  apizee: { apizeeSecret: [] },
  mluvii: { mluviiBasic: [] },
};

const HEALTH_BODY = { type: 'object', properties: { status: { type: 'string' } } };

function routeSchemas(providers: readonly string[]): Record<string, FastifySchema> {
  const bodies = providers.map((p) => PROVIDER_BODIES[p] ?? { title: p, type: 'object', additionalProperties: true });
  const errors = Object.fromEntries(
    [...webhookErrorCodes()].map(([status, codes]) => [status, errorResponse(status, codes)]),
  );
  return {
    'POST /webhooks/:provider': {
      tags: ['webhooks'],
      summary: 'Receive one provider webhook',
      description:
        'Authenticates the request as the provider requires, then stores the raw body byte for byte ' +
        '(signatures are computed over it) and answers once it is in the log. The body must be ' +
        '`application/json`; it is not parsed or validated here (a body the normalizer cannot read ' +
        'becomes a dead letter later). Each provider authenticates with its own scheme: Zoom both ' +
        'zoomSignature and zoomTimestamp, Apizee apizeeSecret, mluvii mluviiBasic. Errors answer ' +
        '`{"error": "<code>", "message": "..."}`; the codes by status:\n' +
        [...webhookErrorCodes()].map(([status, codes]) => `- ${status}: ${codes.join(', ')}`).join('\n'),
      params: {
        type: 'object',
        required: ['provider'],
        properties: {
          provider: { type: 'string', enum: [...providers], description: 'the provider sending the webhook' },
        },
      },
      body: { description: "the provider's own JSON, one object per provider (see each description)", oneOf: bodies },
      security: providers.flatMap((p) => (PROVIDER_SECURITY[p] ? [PROVIDER_SECURITY[p]] : [])),
      response: {
        200: {
          description:
            'Stored (`ingest_id`), or a Zoom `endpoint.url_validation` answered (`plainToken`, `encryptedToken`)',
          oneOf: [
            {
              title: 'stored',
              type: 'object',
              required: ['ingest_id'],
              properties: { ingest_id: { type: 'string', description: 'ULID of the stored delivery' } },
            },
            {
              title: 'zoom url_validation',
              type: 'object',
              required: ['plainToken', 'encryptedToken'],
              properties: {
                plainToken: { type: 'string' },
                encryptedToken: { type: 'string', description: 'hex(HMAC-SHA256(secret token, plainToken))' },
              },
            },
          ],
        },
        ...errors,
      },
    },
    'GET /health/live': {
      tags: ['health'],
      summary: 'Liveness',
      response: { 200: { description: 'The process is up', ...HEALTH_BODY } },
    },
    'GET /health/ready': {
      tags: ['health'],
      summary: 'Readiness: the pipeline can take deliveries',
      response: {
        200: { description: 'Ready (`{"status": "ready"}`)', ...HEALTH_BODY },
        503: {
          description: 'Not ready (`{"status": "not ready"}`): starting, draining or the log is unavailable',
          ...HEALTH_BODY,
        },
      },
    },
    'GET /metrics': {
      tags: ['metrics'],
      summary: 'Prometheus metrics',
      produces: ['text/plain'],
      response: { 200: { description: 'Prometheus text exposition format', type: 'string' } },
    },
  };
}

export interface OpenApiOptions {
  /** Providers with a receiver: the values of `{provider}`. */
  providers: readonly string[];
  /** The header Apizee's secret travels in (APIZEE_WEBHOOK_HEADER). */
  apizeeHeader?: string;
}

/** Registers the document and the UI; call before the routes are declared (swagger collects them on onRoute). */
export function registerOpenApi(app: FastifyInstance, options: OpenApiOptions): void {
  const schemas = routeSchemas(options.providers);
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'sessionflow ingest',
        version: '0.1.0',
        description: 'Receives session-platform webhooks (Zoom Video SDK, Apizee, mluvii) and stores them raw.',
      },
      tags: [{ name: 'webhooks' }, { name: 'health' }, { name: 'metrics' }],
      components: { securitySchemes: SECURITY_SCHEMES(options.apizeeHeader ?? APIZEE_DEFAULT_HEADER) as never },
    },
    transform: ({ schema, url, route }) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const documented = methods.map((m) => schemas[`${m} ${url}`]).find((s) => s !== undefined);
      return { schema: documented ?? schema, url };
    },
  });
  app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}
