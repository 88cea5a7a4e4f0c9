/**
 * The Apizee REST API, as much of it as reconciliation needs: `GET /api/v3/tickets/{ticketId}/events`
 * ("Get an event list for a ticket": 200, 403 Forbidden, 404 Not found), with the bearer token of
 * an Apizee user ("Please fill in the field with the token obtained after authentication using the
 * /token method"): a fixed one, or one got and renewed from the user's credentials (apizee-auth.ts).
 *
 * - Every request takes a slot of the process's budget first (apizee-budget.ts: 10 per rolling
 *   minute by default, the limit of one Apizee user across all endpoints).
 * - A 429 holds the whole budget until its Retry-After or X-RateLimit-Reset (rate-limit.ts), then
 *   the request is made again.
 * - A 5xx, a timeout or a refused connection is retried with backoff (lib/retry.ts), a bounded
 *   number of times.
 * - A 401 with a token from the credentials: the token is renewed and the request made once more.
 * - 401 (token refused), 403 (no permission on the ticket), 404 (no such ticket) and any other 4xx
 *   are not retried: they throw an ApizeeApiError that says which. So do refused credentials.
 *
 * The reference documents no paging for the events list; Apizee's other lists (tickets, medias)
 * take `limit` (default 10) and `offset`. So pages of `limit` are asked for with `offset`, and the
 * next page is fetched while the answer says more exist (a total) or, without one, while a page
 * comes back full. A page that brings no event not seen yet ends it (an API that ignores offset).
 *
 * Logs carry statuses, counts and ticket ids; never a token, the password or a body.
 */
import { SessionflowError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { retry } from '../../lib/retry.js';
import {
  ApizeeTokenError,
  fixedToken,
  passwordGrant,
  type ApizeeCredentials,
  type ApizeeTokens,
  type TokenAnswer,
} from './apizee-auth.js';
import type { RequestBudget } from './apizee-budget.js';
import { eventsOf, itemId, totalOf } from './apizee-event.js';
import { rateLimitDelayMs } from './rate-limit.js';

export type ApizeeFailure = 'unauthorized' | 'forbidden' | 'not_found' | 'client_error' | 'server_error' | 'bad_answer';

/**
 * An answer the client did not want; never carries the body (it may echo personal data). A 5xx or
 * no answer (`server_error`) is PROVIDER_API_UNAVAILABLE, worth asking again later; any other is a
 * refusal, PROVIDER_API_REFUSED. `apizeeStatus`: Apizee's HTTP status, when it answered.
 */
export class ApizeeApiError extends SessionflowError {
  constructor(
    readonly failure: ApizeeFailure,
    readonly ticketId: string,
    readonly apizeeStatus: number | undefined,
    readonly detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(failure === 'server_error' ? 'PROVIDER_API_UNAVAILABLE' : 'PROVIDER_API_REFUSED', detail, options);
    this.name = 'ApizeeApiError';
  }

  /** A token refused is refused for every ticket: a run stops at it. */
  get stopsRun(): boolean {
    return this.failure === 'unauthorized';
  }
}

const REFUSED: Record<ApizeeTokens['kind'], string> = {
  fixed:
    'Apizee refused APIZEE_API_TOKEN (HTTP 401): it is wrong, expired or revoked; get a new one with POST /api/v3/token, ' +
    'or set APIZEE_API_USERNAME and APIZEE_API_PASSWORD instead to have it got and renewed (see .env.example)',
  credentials:
    'Apizee refused the token it had just given APIZEE_API_USERNAME (HTTP 401, twice): the user lacks API access, or was disabled meanwhile',
};

function apiError(status: number, ticketId: string, auth: ApizeeTokens['kind']): ApizeeApiError {
  switch (status) {
    case 401:
      return new ApizeeApiError('unauthorized', ticketId, status, REFUSED[auth]);
    case 403:
      return new ApizeeApiError(
        'forbidden',
        ticketId,
        status,
        `Apizee answered 403 Forbidden for ticket ${ticketId}: the token's user lacks the role permissions to read this ticket's events`,
      );
    case 404:
      return new ApizeeApiError(
        'not_found',
        ticketId,
        status,
        `ticket ${ticketId} not found (HTTP 404): no such ticket for this Apizee account, or it was deleted`,
      );
    default:
      return status >= 500
        ? new ApizeeApiError('server_error', ticketId, status, `Apizee answered HTTP ${status} for ticket ${ticketId}`)
        : new ApizeeApiError(
            'client_error',
            ticketId,
            status,
            `Apizee answered HTTP ${status} for ticket ${ticketId}; not retried`,
          );
  }
}

export interface ApizeeApiOptions {
  /** e.g. https://cloud.apizee.com */
  baseUrl: string;
  /** A fixed bearer token, or the user's credentials to get tokens with (POST /api/v3/token). */
  auth: { token: string } | { credentials: ApizeeCredentials };
  /** Credentials: share of a token's life after which it is replaced (default 0.8). */
  tokenRefreshRatio?: number;
  /** Events asked for per request (`limit`). */
  pageLimit: number;
  requestTimeoutMs: number;
  /** Longest wait a 429 may ask for; a longer one is cut to this. */
  maxRateLimitWaitMs: number;
  /** Wait after a 429 that names no time (a full window). */
  rateLimitFallbackMs: number;
  /** Backoff on 5xx and network errors: first and largest delay, and attempts in all. */
  backoff: { initialMs: number; maxMs: number; attempts: number };
}

export interface ApizeeApi {
  /** Every event of the ticket, all pages, in the API's order. Throws ApizeeApiError (or the abort reason). */
  ticketEvents(ticketId: string, signal: AbortSignal): Promise<unknown[]>;
}

export interface ApizeeApiDeps {
  budget: RequestBudget;
  logger: Logger;
  fetch?: typeof fetch;
  nowMs?: () => number;
}

interface Page {
  items: unknown[];
  total: number | undefined;
}

interface Answer extends TokenAnswer {
  headers: Headers;
}

export function createApizeeApi(options: ApizeeApiOptions, deps: ApizeeApiDeps): ApizeeApi {
  const doFetch = deps.fetch ?? fetch;
  const nowMs = deps.nowMs ?? Date.now;
  const base = options.baseUrl.replace(/\/+$/, '');
  const limit = Math.max(1, Math.trunc(options.pageLimit));

  /**
   * One request through the budget, its answer read (the JSON body of a 2xx); a 429 is waited out
   * and the request made again. Throws for the retry loop when Apizee cannot be reached. The token
   * request comes through here too: Apizee's limit counts every endpoint. `url` is never logged.
   */
  async function exchange(
    url: URL,
    init: { method: 'GET' | 'POST'; token?: string },
    signal: AbortSignal,
    ticketId: string | undefined,
  ): Promise<Answer> {
    for (;;) {
      const release = await deps.budget.take(signal);
      let response: Response;
      let body: unknown;
      try {
        response = await doFetch(url, {
          method: init.method,
          headers: {
            accept: 'application/json',
            ...(init.token !== undefined && { authorization: `Bearer ${init.token}` }),
          },
          signal: AbortSignal.any([signal, AbortSignal.timeout(options.requestTimeoutMs)]),
        });
        if (response.status < 200 || response.status >= 300 || response.status === 204) await response.body?.cancel();
        else body = await response.json().catch(() => undefined);
      } catch (cause) {
        if (signal.aborted) throw signal.reason;
        // No answer (a refused connection, a timeout): retried.
        const reason = cause instanceof Error ? cause.message : String(cause);
        const about = ticketId === undefined ? '' : ` for ticket ${ticketId}`;
        throw new ApizeeApiError(
          'server_error',
          ticketId ?? '',
          undefined,
          `Apizee could not be reached${about}: ${reason}`,
          {
            cause,
          },
        );
      } finally {
        release();
      }
      if (response.status === 429) {
        const asked = rateLimitDelayMs(response.headers, nowMs());
        const waitMs = Math.min(asked ?? options.rateLimitFallbackMs, options.maxRateLimitWaitMs);
        deps.budget.holdUntil(nowMs() + waitMs);
        deps.logger.warn(
          { ticketId, waitMs, told: asked !== undefined },
          'apizee rate limit reached (429); waiting as asked',
        );
        continue; // the budget's next slot comes after the hold
      }
      return { status: response.status, headers: response.headers, body };
    }
  }

  const tokens: ApizeeTokens =
    'token' in options.auth
      ? fixedToken(options.auth.token)
      : passwordGrant(
          {
            tokenUrl: `${base}/api/v3/token`,
            credentials: options.auth.credentials,
            refreshRatio: options.tokenRefreshRatio ?? 0.8,
          },
          { post: (url, signal) => exchange(url, { method: 'POST' }, signal, undefined), logger: deps.logger, nowMs },
        );

  /** The token for a request of `ticketId`: refused credentials end the retries, an Apizee failure is retried. */
  async function tokenFor(ticketId: string, signal: AbortSignal): Promise<string> {
    try {
      return await tokens.token(signal);
    } catch (err) {
      if (!(err instanceof ApizeeTokenError)) throw err;
      throw new ApizeeApiError(err.retriable ? 'server_error' : 'unauthorized', ticketId, err.apizeeStatus, err.detail);
    }
  }

  /** One page: a token, the request; a token refused is renewed once when it can be. Throws for the retry loop. */
  async function once(url: URL, ticketId: string, signal: AbortSignal): Promise<Page> {
    for (let renewed = false; ; renewed = true) {
      const token = await tokenFor(ticketId, signal);
      const answer = await exchange(url, { method: 'GET', token }, signal, ticketId);
      if (answer.status === 401 && !renewed && tokens.refused(token)) {
        deps.logger.warn({ ticketId }, 'apizee refused the access token (HTTP 401); renewing it and asking once more');
        continue;
      }
      if (answer.status === 204) return { items: [], total: undefined };
      // A 5xx is retried (PROVIDER_API_UNAVAILABLE); any other answer but a 200 is not.
      if (answer.status !== 200) throw apiError(answer.status, ticketId, tokens.kind);
      const items = eventsOf(answer.body);
      if (items === undefined)
        throw new ApizeeApiError(
          'bad_answer',
          ticketId,
          200,
          `Apizee answered ticket ${ticketId}'s events without an event list`,
        );
      return { items, total: totalOf(answer.body, answer.headers) };
    }
  }

  function page(ticketId: string, offset: number, signal: AbortSignal): Promise<Page> {
    const url = new URL(`${base}/api/v3/tickets/${encodeURIComponent(ticketId)}/events`);
    url.searchParams.set('limit', String(limit));
    url.searchParams.set('offset', String(offset));
    return retry(() => once(url, ticketId, signal), {
      ...options.backoff,
      signal,
      onRetry: (err, attempt, delayMs) =>
        deps.logger.warn(
          { ticketId, attempt, delayMs, err: err instanceof Error ? err.message : String(err) },
          'apizee request failed; backing off',
        ),
    }).catch((err: unknown) => {
      if (signal.aborted) throw err;
      if (err instanceof ApizeeApiError) {
        if (!err.retriable) throw err;
        throw new ApizeeApiError(
          err.failure,
          ticketId,
          err.apizeeStatus,
          `${err.detail} (${options.backoff.attempts} attempts)`,
          { cause: err.cause },
        );
      }
      const reason = err instanceof Error ? err.message : String(err);
      throw new ApizeeApiError(
        'server_error',
        ticketId,
        undefined,
        `Apizee could not be reached for ticket ${ticketId}: ${reason}`,
        { cause: err },
      );
    });
  }

  return {
    async ticketEvents(ticketId, signal) {
      const seen = new Set<string>();
      const events: unknown[] = [];
      for (let offset = 0; ; ) {
        const { items, total } = await page(ticketId, offset, signal);
        let fresh = 0;
        for (const item of items) {
          const id = itemId(item);
          if (id !== null && seen.has(id)) continue;
          if (id !== null) seen.add(id);
          events.push(item);
          fresh++;
        }
        offset += items.length;
        const more = total !== undefined ? offset < total : items.length >= limit;
        deps.logger.debug({ ticketId, events: items.length, fresh, offset, total }, 'apizee events page');
        if (!more || fresh === 0) return events;
      }
    },
  };
}
