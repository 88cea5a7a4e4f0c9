/**
 * The ingest service: verify, wrap, write, answer. `buildApp` is kept apart from the code that
 * listens, so tests call `app.inject()`.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { isSessionflowError, SessionflowError, type ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { providerLabel, type Metrics } from '../lib/metrics.js';
import { nowMicros, type Micros } from '../lib/time.js';
import { wrap } from './envelope.js';
import type { Receiver } from './providers/types.js';
import type { RawSink } from './raw-sink.js';
import { registerOpenApi } from './openapi.js';

export interface AppDeps {
  receivers: readonly Receiver[];
  sink: RawSink;
  logger: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** The Apizee shared-secret header's name, for the OpenAPI document. */
  apizeeHeader?: string;
  /** Ready when the pipeline can take deliveries (log open, workers running). */
  ready: () => boolean;
  clock?: () => Micros;
}

/** Fastify's own codes for what its body parser refuses, mapped onto ours. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
};

export function buildApp(deps: AppDeps): FastifyInstance {
  const clock = deps.clock ?? nowMicros;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    return503OnClosing: true,
    // Two info lines per webhook cost the ingest a tenth of its time under load and say nothing
    // the metrics do not: each request is logged at debug (below), refusals and failures at warn/error.
    logController: new LogController({ disableRequestLogging: true }),
  });

  // The raw body, byte for byte: signatures are computed over it and the archive keeps it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError, request, reply) => {
    // From the closed list only: the path is the sender's to choose (see providerLabel).
    const provider = providerLabel((request.params as { provider?: string } | undefined)?.provider);
    const fastifyCode: ErrorCode | undefined = FASTIFY_CODES[error.code];
    const known = isSessionflowError(error) ? error : fastifyCode && new SessionflowError(fastifyCode);
    // Only a code with an HTTP status is answered as itself (the OpenAPI document lists exactly
    // those); any other failure here is a bug of ours: INTERNAL, its cause in the log only.
    const answer = known?.status !== undefined ? known : new SessionflowError('INTERNAL', undefined, { cause: error });
    const status = answer.status ?? 500;
    deps.metrics.ingestRejected.inc({ provider, code: answer.code });
    if (status >= 500) request.log.error({ err: error }, known ? 'delivery not stored' : 'request failed');
    return reply.code(status).send({ error: answer.code, message: answer.message });
  });
  app.setNotFoundHandler((request) => {
    throw new SessionflowError('NOT_FOUND', `${request.method} ${request.url.split('?')[0]}`);
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      { method: request.method, url: request.routeOptions.url, statusCode: reply.statusCode, ms: reply.elapsedTime },
      'request completed',
    );
    const provider = (request.params as { provider?: string } | undefined)?.provider;
    if (provider && request.routeOptions.url === '/webhooks/:provider') {
      deps.metrics.ingestRequests.inc({ provider: providerLabel(provider), status: String(reply.statusCode) });
    }
  });

  registerOpenApi(app, {
    providers: deps.receivers.map((r) => r.provider),
    ...(deps.apizeeHeader && { apizeeHeader: deps.apizeeHeader }),
  });
  // In a plugin registered after @fastify/swagger, whose onRoute hook must see the routes.
  app.register(async (scope) => routes(scope, deps, clock));
  return app;
}

function routes(app: FastifyInstance, deps: AppDeps, clock: () => Micros): void {
  const receivers = new Map(deps.receivers.map((r) => [r.provider, r]));

  app.post<{ Params: { provider: string } }>('/webhooks/:provider', async (request, reply) => {
    const receiver = receivers.get(request.params.provider);
    if (!receiver) throw new SessionflowError('NOT_FOUND', `no webhook route for ${request.params.provider}`);
    const body = request.body;
    if (!Buffer.isBuffer(body)) throw new SessionflowError('UNSUPPORTED_MEDIA_TYPE');
    const receivedAt = clock();
    const verified = receiver.verify({ headers: request.headers, body }, receivedAt);
    if (verified.reply) return reply.code(200).send(verified.reply);
    if (!deps.ready()) throw new SessionflowError('NOT_READY');
    const raw = wrap({
      provider: receiver.provider,
      source: 'webhook',
      receivedAt,
      dedupKey: verified.dedupKey,
      headers: request.headers,
      body,
    });
    const stop = deps.metrics.ingestAckSeconds.startTimer({ provider: receiver.provider });
    try {
      await deps.sink.write(raw, verified.sessionKey);
    } catch (cause) {
      // Too large for the log (a raw topic's max.message.bytes below BODY_LIMIT_BYTES): a 413 the
      // provider will not retry in vain; anything else is the log being unavailable.
      if (isSessionflowError(cause, 'BODY_TOO_LARGE')) throw cause;
      throw new SessionflowError('NOT_READY', 'the delivery could not be stored', { cause });
    } finally {
      stop();
    }
    return reply.code(200).send({ ingest_id: raw.ingest_id });
  });

  app.get('/health/live', async () => ({ status: 'live' }));
  app.get('/health/ready', async (_request, reply) =>
    deps.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' }),
  );
  app.get('/metrics', async (_request, reply) =>
    reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );
}
