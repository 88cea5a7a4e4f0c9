/**
 * `GET /v2/system/events` of the Jifeline Partner API: "Retrieve a list of events that have
 * happened in the system", `after_id` (documented as a uuid, takes the event's ULID) and `limit`
 * (0..1000, default 25); the answer is `{"query": {...}, "result": [Event, ...]}`, ULIDs ascending.
 *
 * One call is one page. A refused token (401) is renewed and the request made once more; a 429 is
 * waited out as its Retry-After or X-RateLimit-Reset says, then made again. Anything else that is
 * not a 200 throws: a 5xx or no answer PROVIDER_API_UNAVAILABLE, for the caller's backoff
 * (lib/retry.ts), any other answer PROVIDER_API_REFUSED, which the caller does not retry.
 */
import { SessionflowError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { sleep } from '../../lib/retry.js';
import { jifelineHttpError, jifelineUnreachable, type TokenSource } from './jifeline-auth.js';
import { rateLimitDelayMs } from './rate-limit.js';

export interface EventsApiOptions {
  apiBaseUrl: string;
  /** Sent as x-api-key when set (older Partner API credentials come with one). */
  apiKey: string | undefined;
  requestTimeoutMs: number;
  /** Longest wait a 429 may ask for; a longer one is cut to this. */
  maxRateLimitWaitMs: number;
}

export interface EventsApi {
  /**
   * One page after `afterId` (from the start when null). `signal` cuts a 429 wait short; the request
   * itself is never aborted by it, so a stop waits for the request in hand.
   */
  page(afterId: string | null, limit: number, signal: AbortSignal): Promise<unknown[]>;
}

export function eventsApi(
  options: EventsApiOptions,
  deps: { tokens: TokenSource; logger: Logger; fetch?: typeof fetch },
): EventsApi {
  const doFetch = deps.fetch ?? fetch;
  const endpoint = `${options.apiBaseUrl.replace(/\/+$/, '')}/v2/system/events`;

  return {
    async page(afterId, limit, signal) {
      const url = new URL(endpoint);
      if (afterId !== null) url.searchParams.set('after_id', afterId);
      url.searchParams.set('limit', String(limit));
      for (let refused = 0; ; ) {
        const token = await deps.tokens.token();
        const response = await doFetch(url, {
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(options.apiKey === undefined ? {} : { 'x-api-key': options.apiKey }),
          },
          signal: AbortSignal.timeout(options.requestTimeoutMs),
        }).catch((cause: unknown) => {
          throw jifelineUnreachable('events', cause);
        });
        if (response.status === 401) {
          await response.body?.cancel();
          deps.tokens.invalidate(token);
          if (refused++ === 0) {
            deps.logger.info('access token refused; renewing it');
            continue;
          }
          throw jifelineHttpError('events', 401);
        }
        if (response.status === 429) {
          await response.body?.cancel();
          const wait = rateLimitDelayMs(response.headers, Date.now());
          if (wait === undefined) throw jifelineHttpError('events', 429);
          const waitMs = Math.min(wait, options.maxRateLimitWaitMs);
          deps.logger.warn({ waitMs }, 'rate limited; waiting as asked');
          await sleep(waitMs, signal);
          continue;
        }
        if (!response.ok) {
          await response.body?.cancel();
          throw jifelineHttpError('events', response.status);
        }
        const body = (await response.json().catch(() => ({}))) as { result?: unknown };
        if (!Array.isArray(body.result))
          throw new SessionflowError('PROVIDER_API_REFUSED', 'Jifeline events endpoint answered without a result list');
        return body.result as unknown[];
      }
    },
  };
}
