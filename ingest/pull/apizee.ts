/**
 * Apizee reconciliation through REST. Apizee documents no webhook retries (shared/providers/
 * README.md): a delivery that failed is lost, and the ticket's timeline, `GET
 * /api/v3/tickets/{ticketId}/events`, is the only way to get it back.
 *
 * For each ticket: every event of its timeline (all pages), each rebuilt into the body its
 * `conversationevent.create` webhook carries (apizee-event.ts) and written through the RawSink as
 * its own RawWebhook, source `backfill`, dedup key the objectId like the webhook's. An event both
 * delivered and backfilled is stored twice in raw (the archive keeps what arrived) and is one event
 * downstream: same dedup key, same event_id. So a backfill can be stopped and run again at will.
 *
 * Used by `sessionflow backfill apizee --ticket N` and by the periodic job (apizee-reconcile.ts).
 */
import { SessionflowError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { nowMicros, type Micros } from '../../lib/time.js';
import { wrap } from '../envelope.js';
import type { RawSink } from '../raw-sink.js';
import { ApizeeApiError, createApizeeApi, type ApizeeApi } from './apizee-api.js';
import type { ApizeeCredentials } from './apizee-auth.js';
import { sharedBudget, type RequestBudget } from './apizee-budget.js';
import { restDelivery } from './apizee-event.js';

const PROVIDER = 'apizee';

export interface ApizeeApiClientOptions {
  /** e.g. https://cloud.apizee.com */
  apiBaseUrl: string;
  /** A fixed bearer token of an Apizee user (APIZEE_API_TOKEN, got by hand from POST /api/v3/token); or */
  token?: string;
  /** the user's credentials: tokens are got from POST /api/v3/token and renewed (apizee-auth.ts). Exactly one of the two. */
  credentials?: ApizeeCredentials;
  /** Credentials: share of a token's life after which it is replaced (default 0.8). */
  tokenRefreshRatio?: number;
  /** Requests per window for this user, all callers in the process together (default 10). */
  requestsPerMinute?: number;
  /** The budget's window (default 60 s; shorter in tests). */
  windowMs?: number;
  /** Events per request (default 100). */
  pageLimit?: number;
  requestTimeoutMs?: number;
  /** Longest wait a 429 may ask for (default 15 min). */
  maxRateLimitWaitMs?: number;
  /** Backoff on 5xx and network errors (default 1 s, 30 s, 5 attempts). */
  backoff?: { initialMs?: number; maxMs?: number; attempts?: number };
}

export interface ApizeeClientDeps {
  logger: Logger;
  fetch?: typeof fetch;
  nowMs?: () => number;
  /** By default the process's budget for this user (apizee-budget.ts). */
  budget?: RequestBudget;
}

/** The REST client with the options' defaults, drawing on the process's budget for the user. */
export function apizeeApiFor(options: ApizeeApiClientOptions, deps: ApizeeClientDeps): ApizeeApi {
  const { token, credentials } = options;
  if ((token === undefined) === (credentials === undefined))
    throw new SessionflowError(
      'CONFIG_INVALID',
      'the Apizee REST client takes a token or credentials, exactly one of them',
    );
  const windowMs = options.windowMs ?? 60_000;
  // The limit is the user's: the token stands for it, or its name at that API.
  const user = token ?? `${options.apiBaseUrl}\n${credentials!.username}`;
  const budget = deps.budget ?? sharedBudget(user, { perWindow: options.requestsPerMinute ?? 10, windowMs });
  return createApizeeApi(
    {
      baseUrl: options.apiBaseUrl,
      auth: token !== undefined ? { token } : { credentials: credentials! },
      ...(options.tokenRefreshRatio !== undefined && { tokenRefreshRatio: options.tokenRefreshRatio }),
      pageLimit: options.pageLimit ?? 100,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxRateLimitWaitMs: options.maxRateLimitWaitMs ?? 15 * 60_000,
      rateLimitFallbackMs: windowMs,
      backoff: {
        initialMs: options.backoff?.initialMs ?? 1000,
        maxMs: options.backoff?.maxMs ?? 30_000,
        attempts: options.backoff?.attempts ?? 5,
      },
    },
    { budget, logger: deps.logger, ...(deps.fetch && { fetch: deps.fetch }), ...(deps.nowMs && { nowMs: deps.nowMs }) },
  );
}

export interface TicketOutcome {
  ticketId: string;
  /** Events written (durable) for the ticket. */
  events: number;
  /** Why the ticket could not be read; absent when it was. */
  error?: ApizeeApiError;
}

export interface BackfillProgress {
  ticketsDone: number;
  ticketsTotal: number;
  eventsWritten: number;
  failed: number;
  last: TicketOutcome;
}

export interface ApizeeBackfill {
  /**
   * Reads every event of the ticket and writes each through the sink; resolves with the number
   * written once all are durable. Throws ApizeeApiError when the API refuses, the sink's error
   * when a write fails, the abort reason when stopped before the writes began.
   */
  ticket(ticketId: string, signal?: AbortSignal): Promise<number>;
  /**
   * The tickets one after another. A ticket that fails is reported and the next one goes on,
   * except a refused token (401), which ends the run; a stop ends it after the ticket in hand.
   */
  tickets(
    ticketIds: readonly string[],
    options?: { signal?: AbortSignal; onTicket?: (progress: BackfillProgress) => void },
  ): Promise<TicketOutcome[]>;
}

export interface ApizeeBackfillDeps extends ApizeeClientDeps {
  sink: RawSink;
  clock?: () => Micros;
}

/** GET /api/v3/tickets/{ticketId}/events takes an integer ticket id. */
export const isTicketId = (text: string): boolean => /^\d{1,18}$/.test(text.trim());

export function createApizeeBackfill(options: ApizeeApiClientOptions, deps: ApizeeBackfillDeps): ApizeeBackfill {
  const log = deps.logger.child({ provider: PROVIDER });
  const api = apizeeApiFor(options, { ...deps, logger: log });
  const clock = deps.clock ?? nowMicros;

  async function ticket(ticketId: string, signal: AbortSignal = new AbortController().signal): Promise<number> {
    const id = ticketId.trim();
    if (!isTicketId(id))
      throw new ApizeeApiError('client_error', id, undefined, `"${id}" is not an Apizee ticket id (a number)`);
    const deliveries = (await api.ticketEvents(id, signal)).map((item) => restDelivery(item, id));
    const receivedAt = clock();
    // Written together (the log groups them into one commit), in timeline order.
    await Promise.all(
      deliveries.map((delivery) =>
        deps.sink.write(
          wrap({
            provider: PROVIDER,
            source: 'backfill',
            receivedAt,
            dedupKey: delivery.dedupKey,
            headers: { 'content-type': 'application/json' },
            body: delivery.body,
          }),
          delivery.sessionKey,
        ),
      ),
    );
    const unkeyed = deliveries.filter((d) => d.dedupKey === null).length;
    if (unkeyed > 0)
      log.warn({ ticketId: id, unkeyed }, 'events without an id stored; the adapter will dead-letter them');
    log.info({ ticketId: id, events: deliveries.length }, 'apizee ticket backfilled');
    return deliveries.length;
  }

  return {
    ticket,
    async tickets(ticketIds, { signal, onTicket } = {}) {
      const outcomes: TicketOutcome[] = [];
      let eventsWritten = 0;
      for (const ticketId of ticketIds) {
        if (signal?.aborted) break;
        let outcome: TicketOutcome;
        try {
          outcome = { ticketId, events: await ticket(ticketId, signal) };
        } catch (err) {
          if (signal?.aborted && !(err instanceof ApizeeApiError)) break;
          if (!(err instanceof ApizeeApiError)) throw err; // the sink failed: an infrastructure error
          outcome = { ticketId, events: 0, error: err };
          log.warn({ ticketId, failure: err.failure, status: err.apizeeStatus }, err.message);
        }
        outcomes.push(outcome);
        eventsWritten += outcome.events;
        onTicket?.({
          ticketsDone: outcomes.length,
          ticketsTotal: ticketIds.length,
          eventsWritten,
          failed: outcomes.filter((o) => o.error).length,
          last: outcome,
        });
        if (outcome.error?.stopsRun) break;
      }
      return outcomes;
    },
  };
}
